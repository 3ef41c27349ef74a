//! Flat named fields of one record, stored in two contiguous buffers.
//!
//! Every value of a record sits in one `String` (each followed by a NUL separator) and every name
//! in another, so a record costs three allocations however many fields it has, and a matcher can
//! scan all values of a record in one pass (the Sigma prefilter does). Names may repeat: a field
//! with several values (a JSON array, repeated `<Data>` elements) is several entries with the same
//! name, and matching treats them as "any of".

use std::fmt;
use std::ops::Range;

/// The type a value had in its source, kept so output can render it faithfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Text,
    Integer,
    Float,
    Boolean,
    /// An explicit null in the source; its text is empty.
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    name_start: u32,
    name_len: u32,
    value_start: u32,
    value_len: u32,
    kind: ValueKind,
}

/// One field seen through [`Fields::iter`] or [`Fields::get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub kind: ValueKind,
}

impl Field<'_> {
    /// The value as an integer, if it is one (decimal, or hexadecimal with a `0x` prefix).
    pub fn as_i64(&self) -> Option<i64> {
        parse_integer(self.value)
    }
}

/// Parses decimal or `0x`-prefixed hexadecimal integers, as Windows logs write them.
pub fn parse_integer(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|v| v as i64);
    }
    text.parse::<i64>().ok()
}

/// The fields of one record. See the module documentation for the layout.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields {
    values: String,
    names: String,
    entries: Vec<Entry>,
}

const SEPARATOR: char = '\0';

impl Fields {
    pub fn new() -> Fields {
        Fields::default()
    }

    /// Room for `fields` fields of about `bytes` bytes of values in all.
    pub fn with_capacity(fields: usize, bytes: usize) -> Fields {
        Fields {
            values: String::with_capacity(bytes + fields),
            names: String::with_capacity(fields * 12),
            entries: Vec::with_capacity(fields),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends a field.
    pub fn push(&mut self, name: &str, value: &str, kind: ValueKind) {
        self.push_with(name, kind, |buffer| buffer.push_str(value));
    }

    /// Appends a field whose value `write` appends to the given buffer; lets decoders write
    /// unescaped or formatted text without a temporary string.
    pub fn push_with(&mut self, name: &str, kind: ValueKind, write: impl FnOnce(&mut String)) {
        let value_start = self.values.len();
        write(&mut self.values);
        let value_len = self.values.len() - value_start;
        self.values.push(SEPARATOR);
        let name_start = self.names.len();
        self.names.push_str(name);
        self.names.push(SEPARATOR);
        self.entries.push(Entry {
            name_start: name_start as u32,
            name_len: name.len() as u32,
            value_start: value_start as u32,
            value_len: value_len as u32,
            kind,
        });
    }

    /// Removes every field.
    pub fn clear(&mut self) {
        self.values.clear();
        self.names.clear();
        self.entries.clear();
    }

    fn field_at(&self, entry: &Entry) -> Field<'_> {
        Field {
            name: &self.names
                [entry.name_start as usize..(entry.name_start + entry.name_len) as usize],
            value: &self.values
                [entry.value_start as usize..(entry.value_start + entry.value_len) as usize],
            kind: entry.kind,
        }
    }

    /// The field at position `index`, in insertion order.
    pub fn at(&self, index: usize) -> Field<'_> {
        self.field_at(&self.entries[index])
    }

    /// Byte range of the value at `index` within [`Fields::values_text`].
    pub fn value_range(&self, index: usize) -> Range<usize> {
        let entry = &self.entries[index];
        entry.value_start as usize..(entry.value_start + entry.value_len) as usize
    }

    /// All fields in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Field<'_>> + '_ {
        self.entries.iter().map(|entry| self.field_at(entry))
    }

    /// The first field named `name` (exact, case-sensitive).
    pub fn get(&self, name: &str) -> Option<Field<'_>> {
        // Lengths first: most names differ in length, and no slice is made for them.
        self.entries
            .iter()
            .find(|entry| {
                entry.name_len as usize == name.len()
                    && self.names.as_bytes()[entry.name_start as usize..][..name.len()]
                        == *name.as_bytes()
            })
            .map(|entry| self.field_at(entry))
    }

    /// The value of the first field named `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).map(|field| field.value)
    }

    /// Every field named `name`.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Field<'a>> + 'a {
        self.iter().filter(move |field| field.name == name)
    }

    /// All values, each followed by a NUL byte, in insertion order.
    pub fn values_text(&self) -> &str {
        &self.values
    }

    /// Every name, in order, separated by NUL: equal for two records exactly when they have the
    /// same names in the same order.
    pub fn names_signature(&self) -> &str {
        &self.names
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|field| (field.name, field.value)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn push_get_and_repeat_names() {
        let mut fields = Fields::new();
        fields.push("EventID", "4688", ValueKind::Integer);
        fields.push("Data", "one", ValueKind::Text);
        fields.push("Data", "two", ValueKind::Text);
        assert_eq!(fields.len(), 3);
        assert_eq!(fields.value("EventID"), Some("4688"));
        assert_eq!(fields.get("EventID").unwrap().as_i64(), Some(4688));
        let data: Vec<_> = fields.get_all("Data").map(|f| f.value).collect();
        assert_eq!(data, ["one", "two"]);
        assert_eq!(fields.values_text(), "4688\0one\0two\0");
        assert_eq!(&fields.values_text()[fields.value_range(2)], "two");
    }

    #[test]
    fn name_signatures_tell_layouts_apart() {
        let build = |names: &[&str]| {
            let mut fields = Fields::new();
            for name in names {
                fields.push(name, "v", ValueKind::Text);
            }
            fields
        };
        assert_eq!(
            build(&["A", "BC"]).names_signature(),
            build(&["A", "BC"]).names_signature()
        );
        assert_ne!(
            build(&["A", "BC"]).names_signature(),
            build(&["AB", "C"]).names_signature()
        );
        assert_ne!(
            build(&["A", "B"]).names_signature(),
            build(&["B", "A"]).names_signature()
        );
    }

    #[test]
    fn integers_decimal_and_hex() {
        assert_eq!(parse_integer("0x1410"), Some(0x1410));
        assert_eq!(parse_integer(" 42 "), Some(42));
        assert_eq!(parse_integer("-3"), Some(-3));
        assert_eq!(parse_integer("4a"), None);
    }

    proptest! {
        #[test]
        fn every_pushed_field_reads_back(pairs in proptest::collection::vec(("[A-Za-z_]{1,8}", "\\PC{0,16}"), 0..20)) {
            let mut fields = Fields::new();
            for (name, value) in &pairs {
                fields.push(name, value, ValueKind::Text);
            }
            prop_assert_eq!(fields.len(), pairs.len());
            for (index, (name, value)) in pairs.iter().enumerate() {
                let field = fields.at(index);
                prop_assert_eq!(field.name, name.as_str());
                prop_assert_eq!(field.value, value.as_str());
            }
        }
    }
}
