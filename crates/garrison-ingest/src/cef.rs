//! ArcSight Common Event Format (CEF) and IBM QRadar Log Event Extended Format (LEEF), as
//! security products send them over syslog or write them to files, one event per line:
//!
//! ```text
//! CEF:0|Vendor|Product|1.0|100|Worm stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=a b\=c
//! LEEF:2.0|Vendor|Product|1.0|4625|^|src=10.0.0.1^usrName=bob^sev=7
//! ```
//!
//! The header becomes `cef.*` (or `leef.*`) fields and each extension key its own field
//! (escapes undone; a CEF custom field `cs1=value` with `cs1Label=name` is also `name`).

use garrison_model::{Fields, ValueKind};

/// CEF header names, after `CEF:`.
const CEF_HEADER: [&str; 7] = [
    "cef.version",
    "cef.device_vendor",
    "cef.device_product",
    "cef.device_version",
    "cef.signature_id",
    "cef.name",
    "cef.severity",
];

/// LEEF header names, after `LEEF:`.
const LEEF_HEADER: [&str; 5] = [
    "leef.version",
    "leef.vendor",
    "leef.product",
    "leef.product_version",
    "leef.event_id",
];

/// What kind of line `text` is, if either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cef,
    Leef,
}

/// The kind of a message that starts with a CEF or LEEF header.
pub fn kind_of(text: &str) -> Option<Kind> {
    let text = text.trim_start();
    if text.starts_with("CEF:") {
        Some(Kind::Cef)
    } else if text.starts_with("LEEF:") {
        Some(Kind::Leef)
    } else {
        None
    }
}

/// Splits `text` at unescaped `|` into at most `parts` pieces (the last takes the rest).
fn split_header(text: &str, parts: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(parts);
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if out.len() + 1 == parts {
            current.push(c);
            current.extend(chars.by_ref());
            break;
        }
        match c {
            '\\' => match chars.next() {
                Some(next @ ('|' | '\\')) => current.push(next),
                Some(other) => {
                    current.push('\\');
                    current.push(other);
                }
                None => current.push('\\'),
            },
            '|' => out.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    out.push(current);
    out
}

/// Parses a CEF or LEEF message into `fields` (added to those there). False when the header
/// is incomplete.
pub fn parse(text: &str, fields: &mut Fields) -> bool {
    let text = text.trim();
    match kind_of(text) {
        Some(Kind::Cef) => parse_cef(&text[4..], fields),
        Some(Kind::Leef) => parse_leef(&text[5..], fields),
        None => false,
    }
}

fn parse_cef(text: &str, fields: &mut Fields) -> bool {
    let parts = split_header(text, 8);
    if parts.len() < 7 {
        return false;
    }
    for (name, value) in CEF_HEADER.iter().zip(&parts) {
        fields.push(name, value.trim(), ValueKind::Text);
    }
    if let Some(extension) = parts.get(7) {
        let pairs = cef_extension(extension);
        for (key, value) in &pairs {
            fields.push(key, value, ValueKind::Text);
        }
        // Custom fields under their labels: `cs1Label=Policy cs1=Block` is also `Policy`.
        for (key, label) in &pairs {
            if let Some(slot) = key.strip_suffix("Label")
                && let Some((_, value)) = pairs.iter().find(|(k, _)| k == slot)
                && !label.is_empty()
            {
                fields.push(label, value, ValueKind::Text);
            }
        }
    }
    true
}

/// CEF's extension: `key=value` pairs separated by spaces, values may hold spaces; a key is
/// a run of letters, digits, `_` and `.` followed by an unescaped `=`.
fn cef_extension(text: &str) -> Vec<(String, String)> {
    let bytes = text.as_bytes();
    // Positions of `key=` starts: after a space (or at 0), a key, then an unescaped `=`.
    let mut starts: Vec<(usize, usize)> = Vec::new(); // (key start, '=' position)
    let mut index = 0;
    while index < bytes.len() {
        if index == 0 || bytes[index - 1] == b' ' {
            let mut end = index;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'_' | b'.'))
            {
                end += 1;
            }
            if end > index && bytes.get(end) == Some(&b'=') {
                starts.push((index, end));
                index = end + 1;
                continue;
            }
        }
        index += 1;
    }
    let mut pairs = Vec::with_capacity(starts.len());
    for (position, &(key_start, equals)) in starts.iter().enumerate() {
        let value_end = starts
            .get(position + 1)
            .map_or(text.len(), |(next, _)| *next);
        let raw = text[equals + 1..value_end].trim_end();
        pairs.push((text[key_start..equals].to_string(), unescape_cef(raw)));
    }
    pairs
}

fn unescape_cef(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn parse_leef(text: &str, fields: &mut Fields) -> bool {
    let version = text.split('|').next().unwrap_or_default();
    // LEEF 2.0 names its attribute delimiter as a sixth header field (`^`, `0x09`, `x09`).
    let parts = split_header(text, if version.starts_with('2') { 7 } else { 6 });
    if parts.len() < 5 {
        return false;
    }
    for (name, value) in LEEF_HEADER.iter().zip(&parts) {
        fields.push(name, value.trim(), ValueKind::Text);
    }
    let (delimiter, attributes) = if version.starts_with('2') && parts.len() == 7 {
        (leef_delimiter(&parts[5]), parts[6].as_str())
    } else {
        ('\t', parts.get(5).map_or("", String::as_str))
    };
    for pair in attributes.split(delimiter) {
        if let Some((key, value)) = pair.split_once('=')
            && !key.trim().is_empty()
        {
            fields.push(key.trim(), value, ValueKind::Text);
        }
    }
    true
}

fn leef_delimiter(text: &str) -> char {
    let text = text.trim();
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("x"))
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .and_then(char::from_u32);
    hex.or_else(|| text.chars().next()).unwrap_or('\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Fields {
        let mut fields = Fields::new();
        assert!(parse(text, &mut fields), "{text}");
        fields
    }

    #[test]
    fn cef_header_and_extension() {
        let fields = parsed(
            r"CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=Detected a threat. No action\=needed cs1Label=Policy cs1=Block all act=blocked\|dropped",
        );
        assert_eq!(fields.value("cef.device_vendor"), Some("Security"));
        assert_eq!(fields.value("cef.signature_id"), Some("100"));
        assert_eq!(fields.value("cef.name"), Some("worm successfully stopped"));
        assert_eq!(fields.value("cef.severity"), Some("10"));
        assert_eq!(fields.value("src"), Some("10.0.0.1"));
        assert_eq!(fields.value("spt"), Some("1232"));
        assert_eq!(
            fields.value("msg"),
            Some("Detected a threat. No action=needed")
        );
        assert_eq!(fields.value("Policy"), Some("Block all"));
        assert_eq!(fields.value("act"), Some("blocked|dropped"));
    }

    #[test]
    fn escaped_pipes_stay_in_header_fields() {
        let fields = parsed(r"CEF:0|Vendor\|Inc|Prod|1|sig|Name with \\ backslash|Low|");
        assert_eq!(fields.value("cef.device_vendor"), Some("Vendor|Inc"));
        assert_eq!(fields.value("cef.name"), Some("Name with \\ backslash"));
        assert_eq!(fields.value("cef.severity"), Some("Low"));
    }

    #[test]
    fn leef_one_and_two() {
        let fields = parsed(
            "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tusrName=joe.black",
        );
        assert_eq!(fields.value("leef.event_id"), Some("15345"));
        assert_eq!(fields.value("usrName"), Some("joe.black"));
        assert_eq!(fields.value("sev"), Some("5"));
        let fields =
            parsed("LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5");
        assert_eq!(fields.value("dst"), Some("10.0.0.5"));
        let fields = parsed("LEEF:2.0|V|P|1|E|0x7c|src=1.2.3.4|sev=9");
        assert_eq!(fields.value("sev"), Some("9"));
        assert!(!parse("LEEF:1.0|only|three", &mut Fields::new()));
    }
}
