//! Value matchers: what one rule value becomes after its modifiers, and how it tests one event
//! value.

use crate::event_view::EventView;
use crate::expr::FieldId;
use crate::pattern::{StrPattern, fold_case};
pub use crate::value_sets::{AffixSet, ContainsSet, ExactSet};
use std::net::IpAddr;

/// Numeric comparison of the `lt`/`lte`/`gt`/`gte` modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
}

impl Comparison {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Comparison::Lt => left < right,
            Comparison::Lte => left <= right,
            Comparison::Gt => left > right,
            Comparison::Gte => left >= right,
            Comparison::Eq => left == right,
        }
    }
}

/// The part of a date the time modifiers extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// How a `fieldref` compares the two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefMode {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

/// A regular expression and the literals any match must contain (for the prefilter).
///
/// The pattern's syntax is checked when the rule is compiled; the automaton is built on first
/// use, since most regexes of a large rule set are never reached (the prefilter and the index
/// skip them) and building them all would dominate load time.
///
/// Perl classes (`\w`, `\d`, `\s`, `\b`) are ASCII, as in PCRE without UCP, the dialect Sigma's
/// regexes are written for; `(?i)` folds ASCII letters. Only a pattern that needs Unicode (a
/// non-ASCII letter, a `\p{..}` class) is compiled with Unicode semantics. ASCII classes keep
/// the automata a tenth of the size and as fast to build.
#[derive(Debug, Clone)]
pub struct RegexMatcher {
    source: Box<str>,
    flags: RegexFlags,
    unicode: bool,
    compiled: std::sync::OnceLock<Option<regex::bytes::Regex>>,
    pub literals: Option<Vec<Vec<u8>>>,
}

/// The `re` sub-modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegexFlags {
    pub ignore_case: bool,
    pub multi_line: bool,
    pub dot_all: bool,
}

/// Largest compiled regex accepted; rule regexes are far smaller.
const REGEX_SIZE_LIMIT: usize = 1 << 26;

impl RegexMatcher {
    /// Checks `source` and extracts its literals; the automaton is built on first use.
    pub fn new(source: &str, flags: RegexFlags) -> Result<RegexMatcher, String> {
        let parse = |unicode: bool| {
            regex_syntax::ParserBuilder::new()
                .case_insensitive(flags.ignore_case)
                .multi_line(flags.multi_line)
                .dot_matches_new_line(flags.dot_all)
                .unicode(unicode)
                .utf8(unicode)
                .build()
                .parse(source)
                .map_err(|error| format!("regex {source:?}: {error}"))
        };
        let ascii = if source.is_ascii() {
            parse(false).ok()
        } else {
            None
        };
        let unicode = ascii.is_none();
        let hir = match ascii {
            Some(hir) => hir,
            None => parse(true)?,
        };
        Ok(RegexMatcher {
            source: source.into(),
            flags,
            unicode,
            compiled: std::sync::OnceLock::new(),
            literals: crate::regex_literals::regex_literals(&hir),
        })
    }

    fn regex(&self) -> Option<&regex::bytes::Regex> {
        self.compiled
            .get_or_init(|| {
                regex::bytes::RegexBuilder::new(&self.source)
                    .case_insensitive(self.flags.ignore_case)
                    .multi_line(self.flags.multi_line)
                    .dot_matches_new_line(self.flags.dot_all)
                    .unicode(self.unicode)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    #[inline]
    pub fn is_match(&self, text: &str) -> bool {
        self.regex()
            .is_some_and(|regex| regex.is_match(text.as_bytes()))
    }

    /// True when the automaton was built and failed (too large): the regex then never matches.
    pub fn failed_to_build(&self) -> bool {
        matches!(self.compiled.get(), Some(None))
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// One compiled rule value.
#[derive(Debug, Clone)]
pub enum Matcher {
    Str(StrPattern),
    AnyContains(Box<ContainsSet>),
    AnyExact(Box<ExactSet>),
    AnyAffix(Box<AffixSet>),
    Regex(Box<RegexMatcher>),
    Cidr(ipnet::IpNet),
    Compare(Comparison, f64),
    Time(TimePart, Comparison, f64),
    FieldRef {
        other: FieldId,
        mode: RefMode,
        cased: bool,
    },
}

impl Matcher {
    /// Tests one value of the event (original text and its case-folded form).
    #[inline]
    pub fn matches(&self, original: &str, folded: &str, view: &EventView<'_>) -> bool {
        match self {
            Matcher::Str(pattern) => pattern.matches(original, folded),
            Matcher::AnyContains(set) => set.is_match(if set.cased { original } else { folded }),
            Matcher::AnyExact(set) => {
                set.values
                    .contains(if set.cased { original } else { folded })
            }
            Matcher::AnyAffix(set) => set.is_match(if set.cased { original } else { folded }),
            Matcher::Regex(regex) => regex.is_match(original),
            Matcher::Cidr(network) => parse_ip(original).is_some_and(|ip| network.contains(&ip)),
            Matcher::Compare(comparison, bound) => {
                parse_number(original).is_some_and(|value| comparison.holds(value, *bound))
            }
            Matcher::Time(part, comparison, bound) => time_part(original, *part)
                .is_some_and(|value| comparison.holds(value as f64, *bound)),
            Matcher::FieldRef { other, mode, cased } => {
                view.values(*other).any(|(other_original, other_folded)| {
                    let (left, right) = if *cased {
                        (original, other_original)
                    } else {
                        (folded, other_folded)
                    };
                    match mode {
                        RefMode::Equals => left == right,
                        RefMode::Contains => left.contains(right),
                        RefMode::StartsWith => left.starts_with(right),
                        RefMode::EndsWith => left.ends_with(right),
                    }
                })
            }
        }
    }

    /// Keyword search: does any value of the event match?
    pub fn matches_any_value(&self, view: &EventView<'_>) -> bool {
        match self {
            // A substring cannot span values (they are NUL separated), so one search over the
            // whole buffer answers for every value at once.
            Matcher::Str(pattern) if pattern.is_substring() => {
                let text = if pattern.cased {
                    view.original_text()
                } else {
                    view.folded_text()
                };
                pattern.matches(text, text)
            }
            Matcher::AnyContains(set) => set.is_match(if set.cased {
                view.original_text()
            } else {
                view.folded_text()
            }),
            _ => view
                .all_values()
                .any(|(original, folded)| self.matches(original, folded, view)),
        }
    }

    /// The values when this matcher is case-insensitive exact matching (`EventID: 4624`).
    pub fn exact_texts(&self) -> Option<Vec<&str>> {
        match self {
            Matcher::Str(pattern) => pattern.exact_text().map(|text| vec![text]),
            Matcher::AnyExact(set) if !set.cased => Some(set.values.iter().map(|v| &**v).collect()),
            _ => None,
        }
    }

    /// Literals one of which any match contains, case-folded, for the prefilter; `None` when
    /// unknown.
    pub fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        let fold = |bytes: &[u8]| -> Option<Vec<u8>> {
            let text = std::str::from_utf8(bytes).ok()?;
            Some(fold_case(text).into_owned().into_bytes())
        };
        match self {
            Matcher::Str(pattern) => Some(vec![fold(pattern.required_literal()?)?]),
            Matcher::AnyContains(set) => set.needles.iter().map(|needle| fold(needle)).collect(),
            Matcher::AnyExact(set) => set
                .values
                .iter()
                .map(|value| fold(value.as_bytes()))
                .collect(),
            Matcher::AnyAffix(set) => set.needles.iter().map(|needle| fold(needle)).collect(),
            Matcher::Regex(regex) => regex.literals.clone(),
            _ => None,
        }
    }

    /// Groups many `contains`, exact, `startswith` or `endswith` values into one set matcher
    /// each; other matchers are kept as they are. Only for "any of" lists.
    pub fn group(matchers: Vec<Matcher>) -> Vec<Matcher> {
        const GROUP_AT: usize = 4;
        let mut contains: [Vec<Vec<u8>>; 2] = Default::default();
        let mut exact: [Vec<Box<str>>; 2] = Default::default();
        // By [at_end][cased]: the matchers, grouped only when there are enough of them.
        let mut affixes: [[Vec<Matcher>; 2]; 2] = Default::default();
        let mut rest = Vec::new();
        for matcher in matchers {
            match &matcher {
                Matcher::Str(pattern) if pattern.prefix_needle().is_some() => {
                    affixes[0][pattern.cased as usize].push(matcher);
                }
                Matcher::Str(pattern) if pattern.suffix_needle().is_some() => {
                    affixes[1][pattern.cased as usize].push(matcher);
                }
                Matcher::Str(pattern) if pattern.contains_needle().is_some() => {
                    contains[pattern.cased as usize]
                        .push(pattern.contains_needle().expect("checked").to_vec());
                }
                Matcher::Str(pattern) if pattern.exact_text().is_some() => {
                    exact[0].push(pattern.exact_text().expect("checked").into());
                }
                _ => rest.push(matcher),
            }
        }
        let mut out = Vec::new();
        for (cased, needles) in contains.into_iter().enumerate() {
            if needles.len() >= GROUP_AT {
                out.push(Matcher::AnyContains(Box::new(ContainsSet::new(
                    needles,
                    cased == 1,
                ))));
            } else {
                for needle in needles {
                    let text = String::from_utf8(needle).expect("needles come from strings");
                    let mut string = crate::value::SigmaString::literal(&text);
                    string.prepend_any();
                    string.append_any();
                    out.push(Matcher::Str(
                        StrPattern::new(&string, cased == 1).expect("plain contains compiles"),
                    ));
                }
            }
        }
        for values in exact.into_iter().take(1) {
            if values.len() >= GROUP_AT {
                out.push(Matcher::AnyExact(Box::new(ExactSet::new(values))));
            } else {
                for value in values {
                    out.push(Matcher::Str(
                        StrPattern::new(&crate::value::SigmaString::literal(&value), false)
                            .expect("plain value compiles"),
                    ));
                }
            }
        }
        for (at_end, by_case) in affixes.into_iter().enumerate() {
            for (cased, group) in by_case.into_iter().enumerate() {
                if group.len() < GROUP_AT {
                    out.extend(group);
                    continue;
                }
                let needles = group
                    .iter()
                    .filter_map(|matcher| match matcher {
                        Matcher::Str(pattern) => pattern
                            .prefix_needle()
                            .or_else(|| pattern.suffix_needle())
                            .map(str::to_string),
                        _ => None,
                    })
                    .collect();
                out.push(Matcher::AnyAffix(Box::new(AffixSet::new(
                    needles,
                    at_end == 1,
                    cased == 1,
                ))));
            }
        }
        out.extend(rest);
        out
    }

    /// Rough cost rank used to order conjunctions: cheap tests first.
    pub fn cost(&self) -> u32 {
        match self {
            Matcher::Str(_) | Matcher::Compare(..) | Matcher::AnyExact(_) => 1,
            Matcher::AnyAffix(_) => 1,
            Matcher::AnyContains(_) => 2,
            Matcher::Cidr(_) | Matcher::FieldRef { .. } => 2,
            Matcher::Time(..) => 3,
            Matcher::Regex(_) => 8,
        }
    }
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    let ip: IpAddr = text.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|value| value as f64);
    }
    text.parse().ok()
}

fn time_part(text: &str, part: TimePart) -> Option<i64> {
    let text = text.trim();
    let datetime: jiff::civil::DateTime = match text.parse::<jiff::Timestamp>() {
        Ok(timestamp) => timestamp.to_zoned(jiff::tz::TimeZone::UTC).datetime(),
        Err(_) => text.replacen(' ', "T", 1).parse().ok()?,
    };
    Some(match part {
        TimePart::Minute => datetime.minute() as i64,
        TimePart::Hour => datetime.hour() as i64,
        TimePart::Day => datetime.day() as i64,
        TimePart::Week => datetime.date().iso_week_date().week() as i64,
        TimePart::Month => datetime.month() as i64,
        TimePart::Year => datetime.year() as i64,
    })
}

/// Sigma's `windash`: every `-`, `/`, en dash, em dash and horizontal bar in `text` may be any of
/// the five. Returns every spelling (the original included).
pub fn windash_variants(text: &str) -> Result<Vec<String>, String> {
    const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let positions = text.chars().filter(|c| DASHES.contains(c)).count();
    if positions > 4 {
        return Err(format!(
            "windash on {text:?} would create {} spellings; split the value",
            5usize.pow(positions as u32)
        ));
    }
    let mut variants = vec![String::with_capacity(text.len())];
    for c in text.chars() {
        if DASHES.contains(&c) {
            variants = variants
                .into_iter()
                .flat_map(|prefix| {
                    DASHES.iter().map(move |dash| {
                        let mut next = prefix.clone();
                        next.push(*dash);
                        next
                    })
                })
                .collect();
        } else {
            variants.iter_mut().for_each(|variant| variant.push(c));
        }
    }
    Ok(variants)
}

/// Sigma's `base64offset`: the three base64 spellings of `bytes` at offsets 0, 1 and 2 of an
/// encoded stream, without the characters that depend on neighbouring bytes.
pub fn base64_offset_variants(bytes: &[u8]) -> Vec<String> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    (0..3)
        .map(|shift| {
            let mut shifted = vec![b' '; shift];
            shifted.extend_from_slice(bytes);
            let encoded = engine.encode(&shifted);
            let start = [0, 2, 3][shift];
            let end_trim = [0, 3, 2][(bytes.len() + shift) % 3];
            encoded[start..encoded.len() - end_trim].to_string()
        })
        .filter(|variant| !variant.is_empty())
        .collect()
}

/// Plain base64 of `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// UTF-16 encodings of the `utf16le`/`wide`, `utf16be` and `utf16` (with byte order mark)
/// modifiers.
pub fn utf16_bytes(text: &str, big_endian: bool, byte_order_mark: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2 + 2);
    if byte_order_mark {
        out.extend_from_slice(if big_endian {
            &[0xFE, 0xFF]
        } else {
            &[0xFF, 0xFE]
        });
    }
    for unit in text.encode_utf16() {
        out.extend_from_slice(&if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    out
}

/// Case-folds when the comparison is case-insensitive.
pub fn fold_if(text: &str, cased: bool) -> String {
    if cased {
        text.to_string()
    } else {
        fold_case(text).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windash_spells_every_dash() {
        let variants = windash_variants(" -enc ").unwrap();
        assert_eq!(variants.len(), 5);
        assert!(variants.contains(&" /enc ".to_string()));
        assert!(variants.contains(&" \u{2013}enc ".to_string()));
        assert_eq!(windash_variants("-a /b").unwrap().len(), 25);
        assert_eq!(windash_variants("plain").unwrap(), ["plain"]);
        assert!(windash_variants("-----").is_err());
    }

    #[test]
    fn base64_offsets_are_found_in_encoded_text() {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let needle = b"Invoke-Mimikatz";
        let variants = base64_offset_variants(needle);
        assert_eq!(variants.len(), 3);
        for prefix in ["", "a", "ab", "abc", "abcd"] {
            for suffix in ["", "x", "xy"] {
                let mut payload = prefix.as_bytes().to_vec();
                payload.extend_from_slice(needle);
                payload.extend_from_slice(suffix.as_bytes());
                let encoded = engine.encode(&payload);
                assert!(
                    variants
                        .iter()
                        .any(|variant| encoded.contains(variant.as_str())),
                    "prefix {prefix:?} suffix {suffix:?}: {encoded} has none of {variants:?}"
                );
            }
        }
        // Known values from the specification's example ("/bin/bash").
        assert_eq!(
            base64_offset_variants(b"/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn regexes_are_checked_early_and_built_late() {
        assert!(RegexMatcher::new("(unclosed", RegexFlags::default()).is_err());
        let regex = RegexMatcher::new("Invoke-\\w+", RegexFlags::default()).unwrap();
        assert!(!regex.failed_to_build());
        assert!(regex.is_match("x Invoke-Mimikatz"));
        // Valid syntax, but far too large to build: it never matches, and says so.
        let huge = RegexMatcher::new("(?:\\p{L}{100}){500}", RegexFlags::default()).unwrap();
        assert!(!huge.is_match("word"));
        assert!(huge.failed_to_build());
    }

    #[test]
    fn perl_classes_are_ascii_unless_the_pattern_needs_unicode() {
        let word = RegexMatcher::new("^\\w+$", RegexFlags::default()).unwrap();
        assert!(word.is_match("Invoke_Mimikatz2"));
        assert!(!word.is_match("café"), "\\w is ASCII, as in PCRE");
        let any = RegexMatcher::new("^c.f.$", RegexFlags::default()).unwrap();
        assert!(any.is_match("cafe"));
        let ignore_case = RegexFlags {
            ignore_case: true,
            ..RegexFlags::default()
        };
        let ascii = RegexMatcher::new("mimikatz", ignore_case).unwrap();
        assert!(ascii.is_match("x MimiKatz.exe"));
        // Non-ASCII letters in the pattern: Unicode semantics, case folding included.
        let cyrillic = RegexMatcher::new("привет\\s\\w+", ignore_case).unwrap();
        assert!(cyrillic.is_match("ПРИВЕТ мир"));
        let letters = RegexMatcher::new("^\\p{L}+$", RegexFlags::default()).unwrap();
        assert!(letters.is_match("café"));
    }

    #[test]
    fn utf16_encodings() {
        assert_eq!(utf16_bytes("cmd", false, false), b"c\0m\0d\0");
        assert_eq!(utf16_bytes("cmd", true, false), b"\0c\0m\0d");
        assert_eq!(utf16_bytes("cmd", false, true), b"\xFF\xFEc\0m\0d\0");
    }

    #[test]
    fn ips_numbers_and_times_parse() {
        assert_eq!(
            parse_ip("::ffff:10.0.0.1"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(parse_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_number("0x10"), Some(16.0));
        assert_eq!(parse_number("2.5"), Some(2.5));
        assert_eq!(
            time_part("2020-08-07 14:32:22.692", TimePart::Hour),
            Some(14)
        );
        assert_eq!(time_part("2020-08-07T14:32:22Z", TimePart::Month), Some(8));
        assert_eq!(time_part("2021-01-04T00:00:00Z", TimePart::Week), Some(1));
        assert_eq!(time_part("not a date", TimePart::Year), None);
    }
}
