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

    /// The first field named `name` (for the Microsoft cloud logs, whatever its case).
    fn position(&self, name: &str) -> Option<usize> {
        let fields = &self.event.fields;
        if self.event.format.folds_field_names() {
            fields
                .iter()
                .position(|field| field.name.eq_ignore_ascii_case(name))
        } else {
            fields.iter().position(|field| field.name == name)
        }
    }

    /// The first value of `name`, without marking it represented; `None` when it is absent,
    /// empty or `-`.
    pub fn peek(&self, name: &str) -> Option<&'e str> {
        let event: &'e Event = self.event;
        let index = self.position(name)?;
        meaningful(event.fields.at(index).value)
    }

    /// Every value of `name` in order (array elements flattened under one name), marked as
    /// represented; empty values included, so that parallel arrays stay aligned.
    pub fn take_all(&mut self, name: &str) -> Vec<&'e str> {
        let event: &'e Event = self.event;
        let fold = event.format.folds_field_names();
        let mut values = Vec::new();
        for (index, field) in event.fields.iter().enumerate() {
            let same = if fold {
                field.name.eq_ignore_ascii_case(name)
            } else {
                field.name == name
            };
            if same {
                self.taken[index] = true;
                values.push(event.fields.at(index).value);
            }
        }
        values
    }

    /// The first of `names` that has a meaningful value, taken.
    pub fn take_first(&mut self, names: &[&str]) -> Option<&'e str> {
        let name = names.iter().find(|name| self.has(name))?;
        self.take(name)
    }

    /// Marks every field whose name starts with `prefix` represented.
    pub fn consume_prefix(&mut self, prefix: &str) {
        let fold = self.event.format.folds_field_names();
        for (index, field) in self.event.fields.iter().enumerate() {
            let matches = field.name.len() >= prefix.len()
                && field.name.is_char_boundary(prefix.len())
                && if fold {
                    field.name[..prefix.len()].eq_ignore_ascii_case(prefix)
                } else {
                    field.name.starts_with(prefix)
                };
            if matches {
                self.taken[index] = true;
            }
        }
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
