//! Sigma values: plain strings with `*`/`?` wildcards and backslash escapes, numbers, booleans, null.

use std::fmt;

/// One piece of a Sigma string after escape processing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StringPart {
    Literal(String),
    /// `*`: any number of characters.
    AnyChars,
    /// `?`: exactly one character.
    OneChar,
    /// `%name%` when the `expand` modifier applies.
    Placeholder(String),
}

/// A Sigma string: literals and wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SigmaString {
    pub parts: Vec<StringPart>,
}

impl SigmaString {
    /// Parses a plain rule value, following the specification's escaping: a backslash before `*`,
    /// `?` or another backslash makes that character literal; any other backslash is literal.
    pub fn parse(text: &str) -> SigmaString {
        let mut out = SigmaString::default();
        let bytes = text.as_bytes();
        // Copy runs of plain text in one go; only `*`, `?` and `\` need a look.
        let mut run_start = 0;
        let mut index = 0;
        while index < bytes.len() {
            match bytes[index] {
                b'\\' => {
                    out.push_literal(&text[run_start..index]);
                    match bytes.get(index + 1) {
                        Some(b'*' | b'?' | b'\\') => {
                            out.push_literal(&text[index + 1..index + 2]);
                            index += 2;
                        }
                        _ => {
                            out.push_literal("\\");
                            index += 1;
                        }
                    }
                    run_start = index;
                }
                b'*' | b'?' => {
                    out.push_literal(&text[run_start..index]);
                    out.push_wildcard(if bytes[index] == b'*' {
                        StringPart::AnyChars
                    } else {
                        StringPart::OneChar
                    });
                    index += 1;
                    run_start = index;
                }
                _ => index += 1,
            }
        }
        out.push_literal(&text[run_start..]);
        out
    }

    /// A string made of one literal, wildcards not interpreted.
    pub fn literal(text: &str) -> SigmaString {
        let mut out = SigmaString::default();
        if !text.is_empty() {
            out.parts.push(StringPart::Literal(text.to_string()));
        }
        out
    }

    fn push_char(&mut self, c: char) {
        if let Some(StringPart::Literal(text)) = self.parts.last_mut() {
            text.push(c);
        } else {
            self.parts.push(StringPart::Literal(c.to_string()));
        }
    }

    pub fn push_literal(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(StringPart::Literal(last)) = self.parts.last_mut() {
            last.push_str(text);
        } else {
            self.parts.push(StringPart::Literal(text.to_string()));
        }
    }

    fn push_wildcard(&mut self, part: StringPart) {
        // `**` is the same as `*`.
        if part == StringPart::AnyChars && self.parts.last() == Some(&StringPart::AnyChars) {
            return;
        }
        self.parts.push(part);
    }

    pub fn has_wildcards(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, StringPart::AnyChars | StringPart::OneChar))
    }

    pub fn has_placeholders(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, StringPart::Placeholder(_)))
    }

    /// The text when the string is one literal (or empty).
    pub fn as_plain(&self) -> Option<String> {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                StringPart::Literal(literal) => text.push_str(literal),
                _ => return None,
            }
        }
        Some(text)
    }

    pub fn starts_with_any(&self) -> bool {
        self.parts.first() == Some(&StringPart::AnyChars)
    }

    pub fn ends_with_any(&self) -> bool {
        self.parts.last() == Some(&StringPart::AnyChars)
    }

    pub fn prepend_any(&mut self) {
        if !self.starts_with_any() {
            self.parts.insert(0, StringPart::AnyChars);
        }
    }

    pub fn append_any(&mut self) {
        if !self.ends_with_any() {
            self.parts.push(StringPart::AnyChars);
        }
    }

    /// Parses a value under the `expand` modifier: like [`SigmaString::parse`], and `%name%`
    /// becomes a placeholder; `\%` is a literal percent sign.
    pub fn parse_with_placeholders(text: &str) -> SigmaString {
        let mut out = SigmaString::default();
        let chars: Vec<char> = text.chars().collect();
        let mut index = 0;
        while index < chars.len() {
            let c = chars[index];
            index += 1;
            match c {
                '\\' => match chars.get(index) {
                    Some(&next @ ('*' | '?' | '\\' | '%')) => {
                        index += 1;
                        out.push_char(next);
                    }
                    _ => out.push_char('\\'),
                },
                '*' => out.push_wildcard(StringPart::AnyChars),
                '?' => out.push_wildcard(StringPart::OneChar),
                '%' => {
                    let end = chars[index..]
                        .iter()
                        .position(|&c| c == '%' || c.is_whitespace())
                        .filter(|&offset| offset > 0 && chars[index + offset] == '%');
                    match end {
                        Some(offset) => {
                            let name: String = chars[index..index + offset].iter().collect();
                            out.parts.push(StringPart::Placeholder(name));
                            index += offset + 1;
                        }
                        None => out.push_char('%'),
                    }
                }
                c => out.push_char(c),
            }
        }
        out
    }
}

impl fmt::Display for SigmaString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                StringPart::Literal(text) => {
                    for c in text.chars() {
                        if matches!(c, '*' | '?' | '\\') {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                }
                StringPart::AnyChars => f.write_str("*")?,
                StringPart::OneChar => f.write_str("?")?,
                StringPart::Placeholder(name) => write!(f, "%{name}%")?,
            }
        }
        Ok(())
    }
}

/// A value in a detection, as written in the rule.
#[derive(Debug, Clone, PartialEq)]
pub enum SigmaValue {
    /// A string; `raw` keeps the unparsed text for modifiers that reinterpret it (`re`, `expand`).
    String {
        raw: String,
        parsed: SigmaString,
    },
    Integer(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl SigmaValue {
    pub fn string(raw: &str) -> SigmaValue {
        SigmaValue::String {
            raw: raw.to_string(),
            parsed: SigmaString::parse(raw),
        }
    }

    /// The value as text the way it would appear in a log: numbers in decimal, booleans as
    /// `true`/`false`.
    pub fn raw_text(&self) -> Option<String> {
        match self {
            SigmaValue::String { raw, .. } => Some(raw.clone()),
            SigmaValue::Integer(value) => Some(value.to_string()),
            SigmaValue::Float(value) => Some(value.to_string()),
            SigmaValue::Bool(value) => Some(value.to_string()),
            SigmaValue::Null => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SigmaValue::Integer(value) => Some(*value as f64),
            SigmaValue::Float(value) => Some(*value),
            SigmaValue::String { raw, .. } => raw.trim().parse().ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StringPart::*;

    fn lit(text: &str) -> StringPart {
        Literal(text.to_string())
    }

    #[test]
    fn escaping_follows_the_specification() {
        let cases: &[(&str, Vec<StringPart>)] = &[
            ("abc", vec![lit("abc")]),
            (
                "a*b?c",
                vec![lit("a"), AnyChars, lit("b"), OneChar, lit("c")],
            ),
            (r"a\*b", vec![lit("a*b")]),
            (r"a\?b", vec![lit("a?b")]),
            // Backslash then wildcard: escaped backslash + wildcard.
            (r"C:\Windows\\*", vec![lit(r"C:\Windows\"), AnyChars]),
            // Plain backslashes stay.
            (r"C:\Windows\System32", vec![lit(r"C:\Windows\System32")]),
            // Three backslashes then star: backslash and star, both literal.
            (r"a\\\*", vec![lit(r"a\*")]),
            // Four backslashes: two literal backslashes.
            (r"a\\\\b", vec![lit(r"a\\b")]),
            ("**x", vec![AnyChars, lit("x")]),
            ("", vec![]),
            (r"ends\", vec![lit(r"ends\")]),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &SigmaString::parse(input).parts,
                expected,
                "input {input:?}"
            );
        }
    }

    /// The specification's escaping, one character at a time: the reference `parse` must agree
    /// with.
    fn reference_parse(text: &str) -> SigmaString {
        let mut out = SigmaString::default();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        out.push_literal(&next.to_string());
                    }
                    _ => out.push_literal("\\"),
                },
                '*' => out.push_wildcard(AnyChars),
                '?' => out.push_wildcard(OneChar),
                c => out.push_literal(&c.to_string()),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn parse_agrees_with_the_reference(text in "[a\\\\*?é ]{0,12}") {
            proptest::prop_assert_eq!(SigmaString::parse(&text), reference_parse(&text));
        }
    }

    #[test]
    fn display_round_trips() {
        for input in ["a*b", r"x\*y", "?z", r"C:\\*"] {
            let parsed = SigmaString::parse(input);
            assert_eq!(SigmaString::parse(&parsed.to_string()), parsed);
        }
    }

    #[test]
    fn placeholders_only_with_expand() {
        let plain = SigmaString::parse("%Servers%");
        assert_eq!(plain.parts, vec![lit("%Servers%")]);
        let expanded = SigmaString::parse_with_placeholders(r"\%plain%name%*");
        assert_eq!(
            expanded.parts,
            vec![lit("%plain"), Placeholder("name".into()), AnyChars]
        );
        let escaped = SigmaString::parse_with_placeholders(r"a\\*%x%");
        assert_eq!(
            escaped.parts,
            vec![lit(r"a\"), AnyChars, Placeholder("x".into())]
        );
    }
}
