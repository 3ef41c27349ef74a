//! Flattens one JSON document into [`Fields`] in a single pass, without building a tree.
//!
//! Nested keys are named by a [`Naming`] rule: dotted paths for generic JSON, the Sigma
//! conventions for Windows events rendered as JSON (`Event.System.Provider.#attributes.Name` is
//! `Provider_Name`, `Event.EventData.Image` is `Image`). Arrays give one field per element under
//! the same name.

use garrison_model::{Fields, ValueKind};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// How nested keys become field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `a.b.c`.
    Dotted,
    /// A Windows event as `evtx_dump` renders it: `{"Event": {"System": .., "EventData": ..}}`.
    WindowsEvent,
}

/// Flattens `bytes` (one JSON object) into `fields`.
pub fn flatten_json(
    bytes: &[u8],
    naming: Naming,
    fields: &mut Fields,
) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut state = State {
        fields,
        path: Vec::with_capacity(8),
        name: String::with_capacity(64),
        naming,
    };
    deserializer.deserialize_any(Node {
        state: &mut state,
        top: true,
    })?;
    deserializer.end()
}

struct State<'f, 'de> {
    fields: &'f mut Fields,
    path: Vec<Cow<'de, str>>,
    name: String,
    naming: Naming,
}

impl State<'_, '_> {
    /// Computes the field name of the current path into `self.name`; false to drop the value.
    fn compute_name(&mut self) -> bool {
        self.name.clear();
        match self.naming {
            Naming::Dotted => {
                for (index, segment) in self.path.iter().enumerate() {
                    if index > 0 {
                        self.name.push('.');
                    }
                    self.name.push_str(segment);
                }
                !self.name.is_empty()
            }
            Naming::WindowsEvent => windows_event_name(&self.path, &mut self.name),
        }
    }

    fn leaf(&mut self, kind: ValueKind, write: impl FnOnce(&mut String)) {
        // Empty System elements (`"Correlation": null`) say nothing.
        if kind == ValueKind::Null
            && self.naming == Naming::WindowsEvent
            && self.path.get(1).is_some_and(|section| section == "System")
        {
            return;
        }
        if self.compute_name() {
            self.fields.push_with(&self.name, kind, write);
        }
    }
}

/// Sigma's names for a Windows event's JSON rendering (see the module docs).
fn windows_event_name(path: &[Cow<'_, str>], name: &mut String) -> bool {
    let segments: Vec<&str> = path
        .iter()
        .map(|segment| segment.as_ref())
        .filter(|segment| *segment != "#text")
        .collect();
    let (section, rest) = match segments.as_slice() {
        ["Event", section, rest @ ..] => (*section, rest),
        _ => return false,
    };
    match (section, rest) {
        (_, []) => false,
        ("#attributes", _) => false,
        ("System", [element]) => {
            name.push_str(element);
            true
        }
        ("System", [element, "#attributes", attribute]) => {
            // `EventID` with a `Qualifiers` attribute keeps its plain name for the value.
            name.push_str(element);
            name.push('_');
            name.push_str(attribute);
            true
        }
        ("System", _) => false,
        ("EventData", ["#attributes", ..]) => false,
        ("EventData", [field, ..]) => {
            // Sigma strips spaces from names such as Defender's "Threat Name".
            name.extend(field.chars().filter(|c| !c.is_whitespace()));
            keep_system_names_apart("EventData", name);
            true
        }
        ("UserData", [_element]) => false,
        ("UserData", [_element, fields @ ..]) => {
            // Attributes of UserData elements are XML namespace declarations.
            if fields.contains(&"#attributes") {
                return false;
            }
            for (index, field) in fields.iter().enumerate() {
                if index > 0 {
                    name.push('_');
                }
                name.extend(field.chars().filter(|c| !c.is_whitespace()));
            }
            keep_system_names_apart("UserData", name);
            !name.is_empty()
        }
        (section, rest) => {
            name.push_str(section);
            for segment in rest {
                name.push('_');
                name.push_str(segment);
            }
            true
        }
    }
}

/// Names of the `<System>` fields (see `garrison_model::event::windows`).
const SYSTEM_NAMES: &[&str] = &[
    "EventID",
    "EventID_Qualifiers",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "EventRecordID",
    "Channel",
    "Computer",
    "Provider_Name",
    "Provider_Guid",
    "Provider_EventSourceName",
    "TimeCreated_SystemTime",
    "Execution_ProcessID",
    "Execution_ThreadID",
    "Security_UserID",
    "Correlation_ActivityID",
    "Correlation_RelatedActivityID",
];

/// An EventData or UserData field named like a System field (event 104 names the cleared log
/// `Channel`) is prefixed with its section, so `Channel` always means the event's own channel.
pub(crate) fn keep_system_names_apart(section: &str, name: &mut String) {
    if SYSTEM_NAMES.contains(&name.as_str()) {
        name.insert(0, '_');
        name.insert_str(0, section);
    }
}

struct Node<'s, 'f, 'de> {
    state: &'s mut State<'f, 'de>,
    top: bool,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        self.scalar(ValueKind::Boolean, |out| {
            out.push_str(if value { "true" } else { "false" })
        })
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        self.scalar(ValueKind::Integer, |out| {
            use std::fmt::Write;
            let _ = write!(out, "{value}");
        })
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        self.scalar(ValueKind::Integer, |out| {
            use std::fmt::Write;
            let _ = write!(out, "{value}");
        })
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        self.scalar(ValueKind::Float, |out| {
            use std::fmt::Write;
            let _ = write!(out, "{value}");
        })
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.scalar(ValueKind::Text, |out| out.push_str(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(ValueKind::Null, |_| {})
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.top {
            return Err(de::Error::custom("expected a JSON object, found an array"));
        }
        while seq
            .next_element_seed(Node {
                state: self.state,
                top: false,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Key)? {
            self.state.path.push(key);
            let result = map.next_value_seed(Node {
                state: self.state,
                top: false,
            });
            self.state.path.pop();
            result?;
        }
        Ok(())
    }
}

impl Node<'_, '_, '_> {
    fn scalar<E: de::Error>(
        self,
        kind: ValueKind,
        write: impl FnOnce(&mut String),
    ) -> Result<(), E> {
        if self.top {
            return Err(E::custom("expected a JSON object, found a plain value"));
        }
        self.state.leaf(kind, write);
        Ok(())
    }
}

/// A map key, borrowed from the input when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(text: &str, naming: Naming) -> Vec<(String, String)> {
        let mut fields = Fields::new();
        flatten_json(text.as_bytes(), naming, &mut fields).unwrap();
        fields
            .iter()
            .map(|field| (field.name.to_string(), field.value.to_string()))
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn dotted_names_and_arrays() {
        assert_eq!(
            flat(
                r#"{"a": {"b": 1, "c": [true, "x\ty"]}, "d": null, "e": 1.5}"#,
                Naming::Dotted
            ),
            pairs(&[
                ("a.b", "1"),
                ("a.c", "true"),
                ("a.c", "x\ty"),
                ("d", ""),
                ("e", "1.5")
            ])
        );
    }

    #[test]
    fn windows_event_names_follow_sigma() {
        let text = r##"{"Event": {"#attributes": {"xmlns": "x"}, "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770}"}},
            "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
            "TimeCreated": {"#attributes": {"SystemTime": "2019-01-01T00:00:00Z"}},
            "Channel": "System", "Correlation": null, "Security": {"#attributes": {"UserID": "S-1-5-18"}}},
          "EventData": {"Image": "C:\\a.exe", "Threat Name": "Evil", "Data": {"#text": ["one", "two"]}},
          "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "y"}, "SubjectUserName": "bob", "Channel": "Security"}}}}"##;
        assert_eq!(
            flat(text, Naming::WindowsEvent),
            pairs(&[
                ("Provider_Name", "Microsoft-Windows-Sysmon"),
                ("Provider_Guid", "{5770}"),
                ("EventID_Qualifiers", "16384"),
                ("EventID", "7045"),
                ("TimeCreated_SystemTime", "2019-01-01T00:00:00Z"),
                ("Channel", "System"),
                ("Security_UserID", "S-1-5-18"),
                ("Image", "C:\\a.exe"),
                ("ThreatName", "Evil"),
                ("Data", "one"),
                ("Data", "two"),
                ("SubjectUserName", "bob"),
                ("UserData_Channel", "Security"),
            ])
        );
    }

    #[test]
    fn non_objects_and_bad_json_are_errors() {
        let mut fields = Fields::new();
        assert!(flatten_json(b"[1, 2]", Naming::Dotted, &mut fields).is_err());
        assert!(flatten_json(b"42", Naming::Dotted, &mut fields).is_err());
        assert!(flatten_json(b"{\"a\": ", Naming::Dotted, &mut fields).is_err());
        assert!(flatten_json(b"{\"a\": 1} trailing", Naming::Dotted, &mut fields).is_err());
    }
}
