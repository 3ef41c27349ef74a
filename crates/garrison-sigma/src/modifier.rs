//! Value modifiers (`field|contains|all`), parsed from detection keys.

use std::fmt;

/// One value modifier of the Sigma specification (v2.1 appendix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Exists,
    Cased,
    Neq,
    Windash,
    Re,
    /// `re` sub-modifier `i`: case-insensitive regular expression.
    ReIgnoreCase,
    /// `re` sub-modifier `m`: `^`/`$` match at line boundaries.
    ReMultiLine,
    /// `re` sub-modifier `s`: `.` matches newlines.
    ReDotAll,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16,
    Cidr,
    Lt,
    Lte,
    Gt,
    Gte,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Expand,
    FieldRef,
}

impl Modifier {
    pub fn parse(name: &str) -> Option<Modifier> {
        Some(match name {
            "contains" => Modifier::Contains,
            "startswith" => Modifier::StartsWith,
            "endswith" => Modifier::EndsWith,
            "all" => Modifier::All,
            "exists" => Modifier::Exists,
            "cased" => Modifier::Cased,
            "neq" => Modifier::Neq,
            "windash" => Modifier::Windash,
            "re" => Modifier::Re,
            "i" => Modifier::ReIgnoreCase,
            "m" => Modifier::ReMultiLine,
            "s" => Modifier::ReDotAll,
            "base64" => Modifier::Base64,
            "base64offset" => Modifier::Base64Offset,
            "utf16le" | "wide" => Modifier::Utf16Le,
            "utf16be" => Modifier::Utf16Be,
            "utf16" => Modifier::Utf16,
            "cidr" => Modifier::Cidr,
            "lt" => Modifier::Lt,
            "lte" => Modifier::Lte,
            "gt" => Modifier::Gt,
            "gte" => Modifier::Gte,
            "minute" => Modifier::Minute,
            "hour" => Modifier::Hour,
            "day" => Modifier::Day,
            "week" => Modifier::Week,
            "month" => Modifier::Month,
            "year" => Modifier::Year,
            "expand" => Modifier::Expand,
            "fieldref" => Modifier::FieldRef,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Modifier::Contains => "contains",
            Modifier::StartsWith => "startswith",
            Modifier::EndsWith => "endswith",
            Modifier::All => "all",
            Modifier::Exists => "exists",
            Modifier::Cased => "cased",
            Modifier::Neq => "neq",
            Modifier::Windash => "windash",
            Modifier::Re => "re",
            Modifier::ReIgnoreCase => "i",
            Modifier::ReMultiLine => "m",
            Modifier::ReDotAll => "s",
            Modifier::Base64 => "base64",
            Modifier::Base64Offset => "base64offset",
            Modifier::Utf16Le => "utf16le",
            Modifier::Utf16Be => "utf16be",
            Modifier::Utf16 => "utf16",
            Modifier::Cidr => "cidr",
            Modifier::Lt => "lt",
            Modifier::Lte => "lte",
            Modifier::Gt => "gt",
            Modifier::Gte => "gte",
            Modifier::Minute => "minute",
            Modifier::Hour => "hour",
            Modifier::Day => "day",
            Modifier::Week => "week",
            Modifier::Month => "month",
            Modifier::Year => "year",
            Modifier::Expand => "expand",
            Modifier::FieldRef => "fieldref",
        }
    }
}

impl fmt::Display for Modifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A detection key split into its field name (absent for keyword lists) and modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldKey {
    pub field: Option<String>,
    pub modifiers: Vec<Modifier>,
}

/// Splits `Field|mod|mod`; an unknown modifier is an error naming it.
pub fn parse_field_key(key: &str) -> Result<FieldKey, String> {
    let mut pieces = key.split('|');
    let field = pieces.next().unwrap_or_default().trim();
    let mut modifiers = Vec::new();
    for piece in pieces {
        let name = piece.trim();
        match Modifier::parse(name) {
            Some(modifier) => modifiers.push(modifier),
            None => return Err(format!("unknown value modifier {name:?} in {key:?}")),
        }
    }
    Ok(FieldKey {
        field: (!field.is_empty()).then(|| field.to_string()),
        modifiers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_field_and_modifiers() {
        let key = parse_field_key("CommandLine|contains|all").unwrap();
        assert_eq!(key.field.as_deref(), Some("CommandLine"));
        assert_eq!(key.modifiers, [Modifier::Contains, Modifier::All]);
        let key = parse_field_key("|all").unwrap();
        assert_eq!(key.field, None);
        assert_eq!(key.modifiers, [Modifier::All]);
        let key = parse_field_key("x|wide|base64offset|contains").unwrap();
        assert_eq!(
            key.modifiers,
            [
                Modifier::Utf16Le,
                Modifier::Base64Offset,
                Modifier::Contains
            ]
        );
        let error = parse_field_key("x|containz").unwrap_err();
        assert!(error.contains("containz"), "{error}");
    }

    #[test]
    fn every_modifier_name_round_trips() {
        for name in [
            "contains",
            "startswith",
            "endswith",
            "all",
            "exists",
            "cased",
            "neq",
            "windash",
            "re",
            "i",
            "m",
            "s",
            "base64",
            "base64offset",
            "utf16le",
            "utf16be",
            "utf16",
            "cidr",
            "lt",
            "lte",
            "gt",
            "gte",
            "minute",
            "hour",
            "day",
            "week",
            "month",
            "year",
            "expand",
            "fieldref",
        ] {
            assert_eq!(Modifier::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(Modifier::parse("wide"), Some(Modifier::Utf16Le));
    }
}
