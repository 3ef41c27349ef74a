//! Sets of rule values of one field tested at once: many `contains` values by one search, many
//! exact, `startswith` or `endswith` values by hash lookups.

/// Many `contains` values of one field, searched for at once. The searcher is built on first
/// use: most rules of a large set never reach evaluation, and building thousands of automata
/// up front would dominate load time.
#[derive(Debug, Clone)]
pub struct ContainsSet {
    searcher: std::sync::OnceLock<Searcher>,
    pub(crate) needles: Vec<Vec<u8>>,
    pub(crate) cased: bool,
}

/// How a [`ContainsSet`] searches.
#[derive(Debug, Clone)]
enum Searcher {
    Automaton(aho_corasick::AhoCorasick),
    /// Thousands of long needles (hash lists): an automaton over them takes far longer to build
    /// than the few values it is ever run on take to search this way.
    Prefixes(PrefixIndex),
}

/// From this many needles, all at least [`PREFIX`] bytes long, a set is searched by prefix.
const PREFIX_INDEX_FROM: usize = 512;

impl ContainsSet {
    pub(crate) fn new(needles: Vec<Vec<u8>>, cased: bool) -> ContainsSet {
        ContainsSet {
            searcher: std::sync::OnceLock::new(),
            needles,
            cased,
        }
    }

    #[inline]
    pub(crate) fn is_match(&self, haystack: &str) -> bool {
        match self.searcher.get_or_init(|| self.build()) {
            Searcher::Automaton(automaton) => automaton.is_match(haystack),
            Searcher::Prefixes(index) => index.is_match(haystack.as_bytes()),
        }
    }

    fn build(&self) -> Searcher {
        if self.needles.len() >= PREFIX_INDEX_FROM
            && let Some(index) = PrefixIndex::new(&self.needles)
        {
            return Searcher::Prefixes(index);
        }
        // Large sets with short needles build much faster as a non-contiguous NFA.
        let kind = if self.needles.len() >= PREFIX_INDEX_FROM {
            aho_corasick::AhoCorasickKind::NoncontiguousNFA
        } else {
            aho_corasick::AhoCorasickKind::ContiguousNFA
        };
        aho_corasick::AhoCorasick::builder()
            .kind(Some(kind))
            .prefilter(true)
            .build(&self.needles)
            .map(Searcher::Automaton)
            .expect("literal needles always build")
    }
}

/// Bytes of a needle's prefix used as its key.
const PREFIX: usize = 8;

/// Needles by their first [`PREFIX`] bytes: every haystack position is looked up once, and
/// only needles sharing the prefix there are compared.
#[derive(Debug, Clone)]
struct PrefixIndex {
    by_prefix: rustc_hash::FxHashMap<u64, Vec<Box<[u8]>>>,
}

impl PrefixIndex {
    /// `None` when a needle is shorter than the prefix.
    fn new(needles: &[Vec<u8>]) -> Option<PrefixIndex> {
        let mut by_prefix: rustc_hash::FxHashMap<u64, Vec<Box<[u8]>>> =
            rustc_hash::FxHashMap::default();
        for needle in needles {
            by_prefix
                .entry(prefix_key(needle)?)
                .or_default()
                .push(needle.as_slice().into());
        }
        Some(PrefixIndex { by_prefix })
    }

    fn is_match(&self, haystack: &[u8]) -> bool {
        (0..haystack.len().saturating_sub(PREFIX - 1)).any(|start| {
            let rest = &haystack[start..];
            prefix_key(rest)
                .and_then(|key| self.by_prefix.get(&key))
                .is_some_and(|needles| needles.iter().any(|needle| rest.starts_with(needle)))
        })
    }
}

fn prefix_key(bytes: &[u8]) -> Option<u64> {
    let prefix: [u8; PREFIX] = bytes.get(..PREFIX)?.try_into().ok()?;
    Some(u64::from_le_bytes(prefix))
}

/// Many exact values of one field, looked up at once.
#[derive(Debug, Clone)]
pub struct ExactSet {
    pub(crate) values: rustc_hash::FxHashSet<Box<str>>,
    pub(crate) cased: bool,
}

impl ExactSet {
    /// Case-insensitive: `values` are folded.
    pub(crate) fn new(values: impl IntoIterator<Item = Box<str>>) -> ExactSet {
        ExactSet {
            values: values.into_iter().collect(),
            cased: false,
        }
    }
}

/// Many `startswith` (or many `endswith`) values of one field: one hash lookup per distinct
/// value length instead of one comparison per value (hundreds of DLL names in one rule).
#[derive(Debug, Clone)]
pub struct AffixSet {
    at_end: bool,
    pub(crate) cased: bool,
    /// The distinct needle lengths, shortest first.
    lengths: Box<[usize]>,
    pub(crate) needles: rustc_hash::FxHashSet<Box<[u8]>>,
}

impl AffixSet {
    pub(crate) fn new(needles: Vec<String>, at_end: bool, cased: bool) -> AffixSet {
        let mut lengths: Vec<usize> = needles.iter().map(String::len).collect();
        lengths.sort_unstable();
        lengths.dedup();
        AffixSet {
            at_end,
            cased,
            lengths: lengths.into_boxed_slice(),
            needles: needles
                .into_iter()
                .map(|needle| needle.into_bytes().into_boxed_slice())
                .collect(),
        }
    }

    #[inline]
    pub(crate) fn is_match(&self, haystack: &str) -> bool {
        let bytes = haystack.as_bytes();
        self.lengths
            .iter()
            .take_while(|&&length| length <= bytes.len())
            .any(|&length| {
                let part = if self.at_end {
                    &bytes[bytes.len() - length..]
                } else {
                    &bytes[..length]
                };
                self.needles.contains(part)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Matcher;
    use crate::pattern::{StrPattern, fold_case};

    proptest::proptest! {
        #[test]
        fn large_contains_sets_match_like_contains(
            needles in proptest::collection::vec("[a-c0-2=]{8,12}", PREFIX_INDEX_FROM..PREFIX_INDEX_FROM + 40),
            haystack in "[a-c0-2=,]{0,60}",
            pick in 0usize..PREFIX_INDEX_FROM,
            at in 0usize..60,
        ) {
            // Sometimes plant a needle so that matches happen, not only misses.
            let mut haystack = haystack;
            if at % 3 == 0 {
                let cut = at.min(haystack.len());
                haystack.insert_str(cut, &needles[pick]);
            }
            let set = ContainsSet::new(needles.iter().map(|n| n.as_bytes().to_vec()).collect(), true);
            let expected = needles.iter().any(|needle| haystack.contains(needle.as_str()));
            proptest::prop_assert!(matches!(set.build(), Searcher::Prefixes(_)));
            proptest::prop_assert_eq!(set.is_match(&haystack), expected);
        }
    }

    #[test]
    fn short_needles_keep_the_automaton() {
        let mut needles: Vec<Vec<u8>> = (0..PREFIX_INDEX_FROM)
            .map(|i| format!("sha1={i:08}").into_bytes())
            .collect();
        needles.push(b"md5".to_vec());
        let set = ContainsSet::new(needles, false);
        assert!(matches!(set.build(), Searcher::Automaton(_)));
        assert!(set.is_match("hashes: md5=00,sha1=1"));
        assert!(set.is_match("x,sha1=00000511,y"));
        assert!(!set.is_match("sha1=00000512"));
    }

    /// Matches `value` with the grouped form of `patterns` (Sigma strings, one value list).
    fn grouped(patterns: &[&str], cased: bool) -> Vec<Matcher> {
        let matchers = patterns
            .iter()
            .map(|pattern| {
                let string = crate::value::SigmaString::parse(pattern);
                Matcher::Str(StrPattern::new(&string, cased).expect("compiles"))
            })
            .collect();
        Matcher::group(matchers)
    }

    fn any_matches(matchers: &[Matcher], value: &str) -> bool {
        let folded = fold_case(value);
        let fields = garrison_model::Fields::default();
        let mut buffers = crate::event_view::ViewBuffers::new(0);
        let view = buffers.prepare(&fields, &Default::default(), false);
        matchers
            .iter()
            .any(|matcher| matcher.matches(value, &folded, &view))
    }

    #[test]
    fn many_startswith_or_endswith_values_are_looked_up_by_length() {
        let suffixes = [
            "*\\version.dll",
            "*\\wldp.dll",
            "*\\d3d10_1.dll",
            "*\\mi.dll",
        ];
        let matchers = grouped(&suffixes, false);
        assert!(matches!(matchers.as_slice(), [Matcher::AnyAffix(_)]));
        assert!(any_matches(&matchers, "C:\\Temp\\VERSION.dll"));
        assert!(any_matches(&matchers, "\\mi.dll"));
        assert!(!any_matches(&matchers, "C:\\Temp\\xmi.dll"));
        assert!(
            !any_matches(&matchers, "mi.dll"),
            "shorter than every needle"
        );
        assert!(!any_matches(&matchers, "C:\\Temp\\version.dll.bak"));
        let literals = matchers[0].required_literals().expect("literals");
        assert_eq!(literals.len(), 4);
        assert!(literals.contains(&b"\\d3d10_1.dll".to_vec()));

        // Prefixes, cased: a different case does not match; a mixed list groups each kind.
        let prefixes = ["C:\\Windows*", "C:\\Temp*", "C:\\PerfLogs*", "D:*"];
        let matchers = grouped(&prefixes, true);
        assert!(matches!(matchers.as_slice(), [Matcher::AnyAffix(_)]));
        assert!(any_matches(&matchers, "C:\\Temp\\a.exe"));
        assert!(!any_matches(&matchers, "c:\\temp\\a.exe"));
        assert!(!any_matches(&matchers, "E:\\Temp\\a.exe"));
        let mixed = grouped(&["a*", "b*", "*c", "*d"], false);
        assert_eq!(
            mixed.len(),
            4,
            "fewer than four of a kind stay single patterns"
        );
        assert!(any_matches(&mixed, "xxd"));
        assert!(!any_matches(&mixed, "xxa"));
    }
}
