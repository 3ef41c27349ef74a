//! Literals a regex cannot match without, for the prefilter.
//!
//! Prefixes and suffixes come from `regex-syntax`'s extractor. Many rule regexes start and end
//! with classes (`\.exe["']?\s+[^"]{0,64}werfaultsecure\.exe["']?\s+\d{2,10}`) and so have
//! neither; their inner literal runs (`werfaultsecure.exe`) are just as necessary. Every match of
//! the regex contains one of the returned literals, folded the way event values are folded.

use crate::pattern::fold_case;
use regex_syntax::hir::{Class, Hir, HirKind};

/// Shortest literal worth returning (the prefilter's own minimum for ASCII).
const MIN_USEFUL: usize = 3;

/// Literals every match contains, folded: the best of the prefixes, the suffixes and the inner
/// runs; `None` when none of them has literals of useful length.
pub(crate) fn regex_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut best = inner(hir).filter(|set| shortest(set) >= MIN_USEFUL);
    for kind in [
        regex_syntax::hir::literal::ExtractKind::Prefix,
        regex_syntax::hir::literal::ExtractKind::Suffix,
    ] {
        if let Some(set) = extracted(hir, kind)
            && shortest(&set) >= MIN_USEFUL
            && best.as_ref().is_none_or(|current| better(&set, current))
        {
            best = Some(set);
        }
    }
    best
}

fn extracted(hir: &Hir, kind: regex_syntax::hir::literal::ExtractKind) -> Option<Vec<Vec<u8>>> {
    let mut extractor = regex_syntax::hir::literal::Extractor::new();
    extractor.kind(kind);
    let mut sequence = extractor.extract(hir);
    sequence.optimize_for_prefix_by_preference();
    let literals = sequence.literals()?;
    if literals.is_empty() {
        return None;
    }
    let mut folded: Vec<Vec<u8>> = Vec::new();
    for literal in literals {
        let literal = fold(literal.as_bytes())?;
        if !folded.contains(&literal) {
            folded.push(literal);
        }
    }
    Some(folded)
}

fn shortest(set: &[Vec<u8>]) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

/// A set narrows more when its shortest literal is longer, then when it has fewer literals.
fn better(candidate: &[Vec<u8>], current: &[Vec<u8>]) -> bool {
    (shortest(candidate), std::cmp::Reverse(candidate.len()))
        > (shortest(current), std::cmp::Reverse(current.len()))
}

fn fold(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    Some(fold_case(text).into_owned().into_bytes())
}

/// The one string `hir` matches, folded, when it matches exactly one up to case (`(?i)exe` is
/// `exe`); zero-width assertions match the empty string.
fn exact(hir: &Hir) -> Option<Vec<u8>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(Vec::new()),
        HirKind::Literal(literal) => fold(&literal.0),
        HirKind::Class(class) => one_char(class).map(|c| c.to_string().into_bytes()),
        HirKind::Capture(capture) => exact(&capture.sub),
        HirKind::Concat(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(exact(item)?);
            }
            Some(out)
        }
        HirKind::Repetition(repetition) if Some(repetition.min) == repetition.max => {
            let once = exact(&repetition.sub)?;
            let times = usize::try_from(repetition.min).ok()?;
            (once.len().saturating_mul(times) <= 64).then(|| once.repeat(times))
        }
        _ => None,
    }
}

/// The folded character a class stands for when it is one ASCII character or one ASCII letter
/// in both cases. Wider classes (`(?i)k` with Unicode also holds the Kelvin sign, which folds
/// to itself) stand for no single folded character.
fn one_char(class: &Class) -> Option<char> {
    let mut chars: Vec<char> = Vec::new();
    match class {
        Class::Unicode(class) => {
            for range in class.iter() {
                if u32::from(range.end()) - u32::from(range.start()) > 1 {
                    return None;
                }
                chars.extend(range.start()..=range.end());
            }
        }
        Class::Bytes(class) => {
            for range in class.iter() {
                if range.end() - range.start() > 1 {
                    return None;
                }
                chars.extend((range.start()..=range.end()).map(char::from));
            }
        }
    }
    match chars.as_slice() {
        [c] if c.is_ascii() => Some(c.to_ascii_lowercase()),
        [a, b] if a.is_ascii_alphabetic() && a.to_ascii_lowercase() == *b => Some(*b),
        _ => None,
    }
}

/// Literals one of which every match contains, from inside the pattern: the longest runs of
/// exact pieces of a concatenation, what a part every match goes through needs, and for an
/// alternation what each branch needs.
fn inner(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    if let Some(whole) = exact(hir) {
        return (!whole.is_empty()).then(|| vec![whole]);
    }
    match hir.kind() {
        HirKind::Capture(capture) => inner(&capture.sub),
        HirKind::Repetition(repetition) if repetition.min >= 1 => inner(&repetition.sub),
        HirKind::Alternation(branches) => {
            let mut union: Vec<Vec<u8>> = Vec::new();
            for branch in branches {
                for literal in inner(branch)? {
                    if !union.contains(&literal) {
                        union.push(literal);
                    }
                }
            }
            Some(union)
        }
        HirKind::Concat(items) => {
            let mut best: Option<Vec<Vec<u8>>> = None;
            let mut offer = |set: Vec<Vec<u8>>| {
                if best.as_ref().is_none_or(|current| better(&set, current)) {
                    best = Some(set);
                }
            };
            let mut run: Vec<u8> = Vec::new();
            for item in items {
                if let Some(piece) = exact(item) {
                    run.extend(piece);
                    continue;
                }
                if !run.is_empty() {
                    offer(vec![std::mem::take(&mut run)]);
                }
                if let Some(set) = inner(item) {
                    offer(set);
                }
            }
            if !run.is_empty() {
                offer(vec![run]);
            }
            best
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literals(pattern: &str, ignore_case: bool) -> Option<Vec<String>> {
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(ignore_case)
            .unicode(false)
            .utf8(false)
            .build()
            .parse(pattern)
            .expect("valid");
        regex_literals(&hir).map(|set| {
            set.into_iter()
                .map(|literal| String::from_utf8(literal).expect("utf-8"))
                .collect()
        })
    }

    #[test]
    fn inner_runs_are_found_where_prefixes_and_suffixes_are_classes() {
        assert_eq!(
            literals(
                r#"(?i)\.exe["']?\s+[^"]{0,64}werfaultsecure\.exe["']?\s+\d{2,10}"#,
                false
            ),
            Some(vec!["werfaultsecure.exe".to_string()])
        );
        // A group every match goes through, and an alternation inside it.
        assert_eq!(
            literals(r"\s+(?:-enc|/encodedcommand)\s+[a-z0-9+/]{20,}", true),
            Some(vec!["-enc".to_string(), "/encodedcommand".to_string()])
        );
        // Anchors and exact repetitions join the run; a case-sensitive literal is folded.
        assert_eq!(
            literals(r"\d+\bMimi(?:katz)(?:ab){2}x?\d", false),
            Some(vec!["mimikatzabab".to_string()])
        );
    }

    #[test]
    fn optional_parts_and_short_or_unbounded_literals_require_nothing() {
        // Optional groups are not necessary.
        assert_eq!(literals(r"\d+(?:werfault)?\s+\d", false), None);
        // One branch with nothing to require makes the alternation require nothing.
        assert_eq!(literals(r"\s(?:powershell|\d+)\s", false), None);
        // Shorter than the prefilter's minimum.
        assert_eq!(literals(r"\w+`\w+`", false), None);
    }

    #[test]
    fn unicode_case_classes_are_not_taken_for_one_letter() {
        // With Unicode, (?i)k also matches the Kelvin sign, whose folded form is not `k`.
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(true)
            .build()
            .parse(r"\d+kkk\d+")
            .expect("valid");
        assert_eq!(inner(&hir), None);
        assert_eq!(exact(&hir), None);
    }
}
