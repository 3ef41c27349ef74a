//! The record being normalized, with a note of which of its fields the OCSF view represents.
//!
//! Mappers [`Source::take`] the fields they represent fully and [`Source::peek`] those they
//! only use in part; whatever was not taken is returned by [`Source::unmapped`], so no field of
//! the source is lost in the normalized view.

use garrison_model::Event;
use garrison_model::fields::parse_integer;
use garrison_model::ocsf::Unmapped;

pub(crate) struct Source<'e> {
    pub event: &'e Event,
    taken: Vec<bool>,
}

/// Windows writes `-` for "no value" in many Security event fields.
fn meaningful(value: &str) -> Option<&str> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed == "-" {
        None
    } else {
        Some(value)
    }
}

impl<'e> Source<'e> {
    pub fn new(event: &'e Event) -> Source<'e> {
        Source {
            event,
            taken: vec![false; event.fields.len()],
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.event
            .fields
            .iter()
            .position(|field| field.name == name)
    }

    /// The first value of `name`, without marking it represented; `None` when it is absent,
    /// empty or `-`.
    pub fn peek(&self, name: &str) -> Option<&'e str> {
        let event: &'e Event = self.event;
        event.fields.value(name).and_then(meaningful)
    }

    /// Whether `name` has a meaningful value.
    pub fn has(&self, name: &str) -> bool {
        self.peek(name).is_some()
    }

    /// The first value of `name`, marked as represented in the OCSF view.
    pub fn take(&mut self, name: &str) -> Option<&'e str> {
        let index = self.position(name)?;
        self.taken[index] = true;
        meaningful(self.event.fields.at(index).value)
    }

    /// The first value of `name` as an integer (decimal or `0x` hexadecimal); the field is
    /// marked represented only when it parses.
    pub fn take_integer(&mut self, name: &str) -> Option<i64> {
        let value = parse_integer(self.peek(name)?)?;
        self.take(name);
        Some(value)
    }

    /// Marks `name` represented (its meaning is carried by the class or activity).
    pub fn consume(&mut self, name: &str) {
        self.take(name);
    }

    /// Every field not taken, by its own name; a repeated name gets `[n]` appended.
    pub fn unmapped(&self) -> Unmapped {
        let mut unmapped = Unmapped::new();
        for (index, field) in self.event.fields.iter().enumerate() {
            if self.taken[index] {
                continue;
            }
            let mut key = field.name.to_string();
            let mut repeat = 1;
            while unmapped.contains_key(&key) {
                key = format!("{}[{}]", field.name, repeat);
                repeat += 1;
            }
            unmapped.insert(key, field.value.to_string());
        }
        unmapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::test_support::windows_event;

    #[test]
    fn untaken_fields_stay_unmapped_and_repeats_are_numbered() {
        let event = windows_event(
            "Security",
            4688,
            &[
                ("NewProcessId", "0x1a4"),
                ("Data", "one"),
                ("Data", "two"),
                ("IpAddress", "-"),
            ],
        );
        let mut source = Source::new(&event);
        assert_eq!(source.take_integer("NewProcessId"), Some(0x1a4));
        assert_eq!(source.take("IpAddress"), None, "dash means no value");
        assert_eq!(source.peek("Missing"), None);
        let unmapped = source.unmapped();
        assert_eq!(unmapped.get("Data").map(String::as_str), Some("one"));
        assert_eq!(unmapped.get("Data[1]").map(String::as_str), Some("two"));
        assert!(!unmapped.contains_key("NewProcessId"));
        assert!(!unmapped.contains_key("IpAddress"));
        assert_eq!(unmapped.get("EventID").map(String::as_str), Some("4688"));
    }

    #[test]
    fn integer_that_does_not_parse_stays_unmapped() {
        let event = windows_event("Security", 4689, &[("Status", "n/a")]);
        let mut source = Source::new(&event);
        assert_eq!(source.take_integer("Status"), None);
        assert_eq!(
            source.unmapped().get("Status").map(String::as_str),
            Some("n/a")
        );
    }
}
