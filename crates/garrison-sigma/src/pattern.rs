//! Compiled string patterns: exact, prefix, suffix, substring and wildcard matching, with
//! Sigma's default case-insensitivity done by folding both sides once.

use crate::value::{SigmaString, StringPart};
use memchr::memmem;
use std::borrow::Cow;

/// Lower-cases text for case-insensitive matching: ASCII fast path, Unicode otherwise.
///
/// Folding is done character by character (no context-dependent rules such as the final
/// sigma), so a substring of a text folds to a substring of the folded text: what the
/// prefilter's literal scan relies on.
pub fn fold_case(text: &str) -> Cow<'_, str> {
    if text.is_ascii() && !text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    fold_case_into(text, &mut out);
    Cow::Owned(out)
}

/// Appends the folded form of `text` to `out`.
pub fn fold_case_into(text: &str, out: &mut String) {
    // ASCII runs are copied and lowered in bulk, other characters one by one.
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..ascii]);
        // Only ASCII bytes were pushed, so lowering them in place keeps the string valid.
        out[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_lowercase());
            rest = chars.as_str();
        }
    }
}

/// A substring searcher built on first use: building one costs more than most rules are ever
/// evaluated, and a large rule set has tens of thousands.
#[derive(Debug, Clone)]
pub(crate) struct LazyFinder {
    needle: Box<[u8]>,
    finder: std::sync::OnceLock<memmem::Finder<'static>>,
}

impl LazyFinder {
    fn new(needle: Vec<u8>) -> LazyFinder {
        LazyFinder {
            needle: needle.into_boxed_slice(),
            finder: std::sync::OnceLock::new(),
        }
    }

    #[inline]
    fn find(&self, haystack: &[u8]) -> bool {
        self.finder
            .get_or_init(|| memmem::Finder::new(&self.needle).into_owned())
            .find(haystack)
            .is_some()
    }
}

#[derive(Debug, Clone)]
enum Kind {
    /// `*`: any value.
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    /// The searcher is built on first use (see [`LazyFinder`]).
    Contains(Box<LazyFinder>),
    /// Literal segments separated by `*`; the first is anchored at the start unless the
    /// pattern starts with `*`, the last at the end unless it ends with `*`.
    Segments {
        anchored_start: bool,
        anchored_end: bool,
        first: Box<str>,
        middle: Vec<memmem::Finder<'static>>,
        last: Box<str>,
    },
    /// Patterns with `?` run as a regular expression; `literal` is their longest literal part.
    Regex {
        regex: regex::Regex,
        literal: Box<str>,
    },
}

/// A compiled Sigma string pattern.
#[derive(Debug, Clone)]
pub struct StrPattern {
    kind: Kind,
    /// Case-sensitive (`cased` modifier, or encoded values such as base64).
    pub cased: bool,
}

impl StrPattern {
    /// Compiles a Sigma string (placeholders must have been expanded).
    pub fn new(string: &SigmaString, cased: bool) -> Result<StrPattern, String> {
        let fold = |text: &str| -> String {
            if cased {
                text.to_string()
            } else {
                fold_case(text).into_owned()
            }
        };
        let parts = &string.parts;
        if parts
            .iter()
            .any(|part| matches!(part, StringPart::Placeholder(_)))
        {
            return Err("unexpanded placeholder".to_string());
        }
        let kind = if parts.contains(&StringPart::OneChar) {
            // Leading and trailing `*` become an unanchored search, which the regex engine
            // starts from its literals instead of trying every position.
            let inner = {
                let start = parts
                    .iter()
                    .position(|part| *part != StringPart::AnyChars)
                    .unwrap_or(parts.len());
                let end = parts
                    .iter()
                    .rposition(|part| *part != StringPart::AnyChars)
                    .map_or(start, |last| last + 1);
                &parts[start..end.max(start)]
            };
            let mut source = String::from("(?s)");
            if !string.starts_with_any() {
                source.push('^');
            }
            let mut literal = String::new();
            for part in inner {
                match part {
                    StringPart::Literal(text) => {
                        let text = fold(text);
                        source.push_str(&regex::escape(&text));
                        if text.len() > literal.len() {
                            literal = text;
                        }
                    }
                    StringPart::AnyChars => source.push_str(".*"),
                    StringPart::OneChar => source.push('.'),
                    StringPart::Placeholder(_) => unreachable!("checked above"),
                }
            }
            if !string.ends_with_any() {
                source.push('$');
            }
            Kind::Regex {
                regex: regex::Regex::new(&source).map_err(|error| error.to_string())?,
                literal: literal.into(),
            }
        } else {
            let literals: Vec<&str> = parts
                .iter()
                .filter_map(|part| match part {
                    StringPart::Literal(text) => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            let starts_any = string.starts_with_any();
            let ends_any = string.ends_with_any();
            match (literals.len(), starts_any, ends_any) {
                (0, false, false) => Kind::Exact("".into()),
                (0, _, _) => Kind::Any,
                (1, false, false) => Kind::Exact(fold(literals[0]).into()),
                (1, false, true) => Kind::Prefix(fold(literals[0]).into()),
                (1, true, false) => Kind::Suffix(fold(literals[0]).into()),
                (1, true, true) => {
                    Kind::Contains(Box::new(LazyFinder::new(fold(literals[0]).into_bytes())))
                }
                _ => {
                    let mut folded: Vec<String> = literals.iter().map(|text| fold(text)).collect();
                    let (first, last) = match (starts_any, ends_any) {
                        (false, false) => {
                            let last = folded.pop().expect("two or more");
                            (folded.remove(0), last)
                        }
                        (false, true) => (folded.remove(0), String::new()),
                        (true, false) => (String::new(), folded.pop().expect("two or more")),
                        (true, true) => (String::new(), String::new()),
                    };
                    Kind::Segments {
                        anchored_start: !starts_any,
                        anchored_end: !ends_any,
                        first: first.into(),
                        middle: folded
                            .iter()
                            .map(|text| memmem::Finder::new(text.as_bytes()).into_owned())
                            .collect(),
                        last: last.into(),
                    }
                }
            }
        };
        Ok(StrPattern { kind, cased })
    }

    /// Matches `original` (when cased) or `folded` (its case-folded form).
    #[inline]
    pub fn matches(&self, original: &str, folded: &str) -> bool {
        let haystack = if self.cased { original } else { folded };
        match &self.kind {
            Kind::Any => true,
            Kind::Exact(needle) => haystack == &**needle,
            Kind::Prefix(needle) => haystack.starts_with(&**needle),
            Kind::Suffix(needle) => haystack.ends_with(&**needle),
            Kind::Contains(finder) => finder.find(haystack.as_bytes()),
            Kind::Segments {
                anchored_start,
                anchored_end,
                first,
                middle,
                last,
            } => {
                let mut rest = haystack.as_bytes();
                if *anchored_start {
                    match rest.strip_prefix(first.as_bytes()) {
                        Some(after) => rest = after,
                        None => return false,
                    }
                }
                let tail_needed = if *anchored_end { last.len() } else { 0 };
                if rest.len() < tail_needed {
                    return false;
                }
                let (mut body, tail) = rest.split_at(rest.len() - tail_needed);
                if *anchored_end && tail != last.as_bytes() {
                    return false;
                }
                for finder in middle {
                    match finder.find(body) {
                        Some(position) => body = &body[position + finder.needle().len()..],
                        None => return false,
                    }
                }
                true
            }
            Kind::Regex { regex, .. } => regex.is_match(haystack),
        }
    }

    /// The longest literal every match must contain (folded unless cased), for prefiltering.
    pub fn required_literal(&self) -> Option<&[u8]> {
        let candidate: &[u8] = match &self.kind {
            Kind::Any => return None,
            Kind::Regex { literal, .. } => literal.as_bytes(),
            Kind::Exact(needle) | Kind::Prefix(needle) | Kind::Suffix(needle) => needle.as_bytes(),
            Kind::Contains(finder) => &finder.needle,
            Kind::Segments {
                first,
                middle,
                last,
                ..
            } => middle
                .iter()
                .map(|finder| finder.needle())
                .chain([first.as_bytes(), last.as_bytes()])
                .max_by_key(|needle| needle.len())
                .unwrap_or_default(),
        };
        (!candidate.is_empty()).then_some(candidate)
    }

    /// The needle of a case-insensitive exact match.
    pub fn exact_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Exact(needle) if !self.cased => Some(needle),
            _ => None,
        }
    }

    /// The needle of a `contains` pattern.
    pub fn contains_needle(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Contains(finder) => Some(&finder.needle),
            _ => None,
        }
    }

    /// The needle of a `startswith` pattern.
    pub fn prefix_needle(&self) -> Option<&str> {
        match &self.kind {
            Kind::Prefix(needle) => Some(needle),
            _ => None,
        }
    }

    /// The needle of an `endswith` pattern.
    pub fn suffix_needle(&self) -> Option<&str> {
        match &self.kind {
            Kind::Suffix(needle) => Some(needle),
            _ => None,
        }
    }

    /// True for `contains`-style patterns that can run over all of an event's values at once.
    pub fn is_substring(&self) -> bool {
        matches!(self.kind, Kind::Contains(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_lowers_ascii_runs_and_other_letters() {
        let mut out = String::from("kept:");
        fold_case_into("C:\\Users\\ÄRGER\\Иван\u{212A}EY.EXE", &mut out);
        assert_eq!(out, "kept:c:\\users\\ärger\\иванkey.exe");
        assert_eq!(fold_case("ÉTÉ"), "été");
        assert!(matches!(fold_case("already lower"), Cow::Borrowed(_)));
    }

    fn check(pattern: &str, cased: bool, value: &str, expected: bool) {
        let compiled = StrPattern::new(&SigmaString::parse(pattern), cased).unwrap();
        let folded = fold_case(value);
        assert_eq!(
            compiled.matches(value, &folded),
            expected,
            "pattern {pattern:?} (cased {cased}) on {value:?}"
        );
    }

    #[test]
    fn wildcards_and_case() {
        let cases = [
            ("cmd.exe", "CMD.EXE", true),
            ("cmd.exe", "xcmd.exe", false),
            ("*\\cmd.exe", "C:\\Windows\\System32\\CMD.exe", true),
            // A backslash before a wildcard must itself be escaped.
            ("C:\\Windows\\\\*", "c:\\windows\\x", true),
            ("C:\\Windows\\*", "c:\\windows*", true),
            ("C:\\Windows\\*", "c:\\windows\\x", false),
            ("*mimikatz*", "run MimiKatz now", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXcYYb", false),
            ("a*b*c", "abc", true),
            ("a*bc*bc", "abc", false),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b*", "xxbxxaxx", false),
            ("prog?.exe", "progA.exe", true),
            ("prog?.exe", "progAB.exe", false),
            ("prog?.exe", "progé.exe", true),
            ("*ÄRGER*", "viel ärger hier", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "aXb", false),
            ("*>?%TEMP%\\\\*", "echo x >\"%temp%\\out.txt", true),
            ("*>?%TEMP%\\\\*", "echo x >>%temp%\\out.txt", true),
            ("*>?%TEMP%\\\\*", "echo x > %temp%\\out.txt", true),
            ("*>?%TEMP%\\\\*", "echo x >  %temp%\\out.txt", false),
            ("*>?%TEMP%\\", "x >\"%temp%\\", true),
            ("*>?%TEMP%\\", "x >\"%temp%\\y", false),
            ("?:\\\\*", "c:\\x", true),
            ("?:\\\\*", "xc:\\x", false),
            ("*a?\nb*", "xa\n\nbx", true),
        ];
        for (pattern, value, expected) in cases {
            check(pattern, false, value, expected);
        }
    }

    #[test]
    fn cased_patterns_respect_case() {
        check("*Invoke-*", true, "invoke-x", false);
        check("*Invoke-*", true, "Invoke-x", true);
        check("*Invoke-*", false, "invoke-x", true);
    }

    #[test]
    fn required_literals() {
        let pattern = StrPattern::new(&SigmaString::parse("*\\AppData\\\\*.exe"), false).unwrap();
        assert_eq!(pattern.required_literal(), Some(&b"\\appdata\\"[..]));
        let pattern = StrPattern::new(&SigmaString::parse("*"), false).unwrap();
        assert_eq!(pattern.required_literal(), None);
        let pattern = StrPattern::new(&SigmaString::parse("*>?C:\\Users\\Public\\\\*"), false);
        assert_eq!(
            pattern.unwrap().required_literal(),
            Some(&b"c:\\users\\public\\"[..])
        );
    }
}
