//! The prefilter: literals a rule cannot match without, found for all candidate rules with one
//! multi-pattern scan per field of the event's folded values.
//!
//! Literals belong to the field their predicate reads (`\cmd.exe` in `Image`, not anywhere), so
//! each field is scanned only for its own literals; keyword literals are searched in every value.
//!
//! A rule's requirement is a conjunction of literal sets: "one of these, and one of those"
//! (`Image` ends with `\cmd.exe` *and* the command line contains `rmdir`). Asking for several
//! sets keeps rules built on a common literal (`\cmd.exe`) from being evaluated on every cmd.exe
//! event.

use crate::event_view::EventView;
use crate::expr::{Expr, FieldId, Target, Test};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use rustc_hash::FxHashMap;

/// Shortest ASCII literal worth scanning for.
const MIN_LITERAL: usize = 3;
/// Shortest non-ASCII literal (one Cyrillic letter is two bytes and rare in Windows logs).
const MIN_NON_ASCII_LITERAL: usize = 2;
/// Most literal sets one rule asks for (one bit each in the per-event mask).
const MAX_SETS: usize = 4;

/// What a rule variant needs before its expression is worth evaluating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing known: always evaluate.
    None,
    /// For every set, at least one of its literals (ids in the table) occurs in the folded values.
    AllOf(Box<[Box<[u32]>]>),
    /// The expression can never match.
    Never,
}

/// A literal and the field it must occur in (`None`: any value, for keyword searches).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Literal {
    pub field: Option<FieldId>,
    pub bytes: Vec<u8>,
}

/// Literals one of which must occur.
pub type LiteralSet = Vec<Literal>;

/// Sets that must all be satisfied; empty means "can never match".
pub type Conjunction = Vec<LiteralSet>;

/// How much a set narrows: its shortest literal, fewer literals better.
fn score(set: &LiteralSet) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = set
        .iter()
        .map(|literal| literal.bytes.len())
        .min()
        .unwrap_or(usize::MAX);
    (shortest, std::cmp::Reverse(set.len()))
}

fn usable(field: Option<FieldId>, literals: Vec<Vec<u8>>) -> Option<LiteralSet> {
    literals
        .into_iter()
        .map(|bytes| {
            let minimum = if bytes.is_ascii() {
                MIN_LITERAL
            } else {
                MIN_NON_ASCII_LITERAL
            };
            (bytes.len() >= minimum && !bytes.contains(&0)).then(|| Literal {
                field,
                bytes: shorten(bytes),
            })
        })
        .collect()
}

/// Longest literal kept: any piece of a literal is as necessary as the whole, and short
/// literals keep the automata small enough to stay in cache.
const MAX_LITERAL: usize = 16;

/// The last `MAX_LITERAL` bytes (file names and extensions, the distinctive end of most
/// values), cut at a character boundary.
fn shorten(bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() <= MAX_LITERAL {
        return bytes;
    }
    let mut start = bytes.len() - MAX_LITERAL;
    // Do not start inside a UTF-8 sequence.
    while start < bytes.len() && (bytes[start] & 0xC0) == 0x80 {
        start += 1;
    }
    bytes[start..].to_vec()
}

fn best(sets: Conjunction) -> Option<LiteralSet> {
    sets.into_iter().max_by_key(score)
}

/// What the expression needs: `None` when nothing can be told, `Some(vec![])` when it never
/// matches, otherwise sets that must all be satisfied.
pub fn necessary_literals(expr: &Expr, skip_field: Option<FieldId>) -> Option<Conjunction> {
    match expr {
        Expr::Const(false) => Some(Vec::new()),
        Expr::Const(true) | Expr::Not(_) => None,
        Expr::Pred(predicate) => {
            let field = match predicate.target {
                Target::Field(field) if Some(field) == skip_field => return None,
                Target::Field(field) => Some(field),
                Target::Keywords => None,
            };
            let Test::Values {
                matchers,
                all,
                negate: false,
            } = &predicate.test
            else {
                return None;
            };
            if *all {
                let mut sets: Conjunction = matchers
                    .iter()
                    .filter_map(|matcher| usable(field, matcher.required_literals()?))
                    .collect();
                if sets.is_empty() {
                    return None;
                }
                sets.sort_by_key(|set| std::cmp::Reverse(score(set)));
                sets.truncate(MAX_SETS);
                Some(sets)
            } else {
                let mut union = Vec::new();
                for matcher in matchers.iter() {
                    union.extend(usable(field, matcher.required_literals()?)?);
                }
                Some(vec![union])
            }
        }
        Expr::And(items) => {
            let mut sets: Conjunction = Vec::new();
            for item in items.iter() {
                match necessary_literals(item, skip_field) {
                    Some(item_sets) if item_sets.is_empty() => return Some(Vec::new()),
                    Some(item_sets) => sets.extend(item_sets),
                    None => {}
                }
            }
            if sets.is_empty() {
                return None;
            }
            sets.sort_by_key(|set| std::cmp::Reverse(score(set)));
            sets.dedup();
            sets.truncate(MAX_SETS);
            Some(sets)
        }
        Expr::Or(items) | Expr::AtLeast(_, items) => {
            // One branch must match: the union of each branch's best set.
            let mut union: LiteralSet = Vec::new();
            let mut any_branch = false;
            for item in items.iter() {
                let sets = necessary_literals(item, skip_field)?;
                if sets.is_empty() {
                    // This branch can never match; it adds nothing.
                    continue;
                }
                any_branch = true;
                for literal in best(sets).expect("not empty") {
                    if !union.contains(&literal) {
                        union.push(literal);
                    }
                }
            }
            Some(if any_branch { vec![union] } else { Vec::new() })
        }
    }
}

/// Every distinct literal of a rule set, by id.
#[derive(Debug, Default)]
pub struct LiteralTable {
    ids: FxHashMap<Literal, u32>,
    literals: Vec<Literal>,
}

impl LiteralTable {
    /// The requirement for `needs` (from [`necessary_literals`]), with its literals interned.
    pub fn requirement(&mut self, needs: Option<Conjunction>) -> Requirement {
        match needs {
            None => Requirement::None,
            Some(sets) if sets.is_empty() => Requirement::Never,
            Some(sets) => Requirement::AllOf(
                sets.into_iter()
                    .map(|set| {
                        set.into_iter()
                            .map(|literal| self.intern(literal))
                            .collect()
                    })
                    .collect(),
            ),
        }
    }

    fn intern(&mut self, literal: Literal) -> u32 {
        if let Some(&id) = self.ids.get(&literal) {
            return id;
        }
        let id = self.literals.len() as u32;
        self.ids.insert(literal.clone(), id);
        self.literals.push(literal);
        id
    }

    pub fn len(&self) -> usize {
        self.literals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.literals.is_empty()
    }
}

/// Which candidate (by position in its bucket) a literal helps, and which of its sets.
#[derive(Debug, Clone, Copy)]
struct User {
    position: u32,
    bit: u8,
}

/// Per candidate of a bucket, for the current event: which of its literal sets are satisfied.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mark {
    generation: u32,
    sets: u8,
}

/// An automaton over some literals, with the bucket-wide ids of its patterns.
#[derive(Debug)]
struct FieldScan {
    automaton: AhoCorasick,
    /// Per pattern of this automaton: the bucket-wide pattern id (for `seen`) and its users.
    patterns: Vec<u32>,
}

/// The prefilter of one candidate list: per field, an automaton over the literals its rules need
/// there, and for each literal the candidates (and sets) it satisfies. Every value of an event
/// is scanned at most once.
#[derive(Debug)]
pub struct BucketPrefilter {
    /// Per field id: index into `scans`, or `NO_SCAN`.
    scan_of_field: Box<[u16]>,
    scans: Vec<FieldScan>,
    /// Keyword literals, searched in every value: a fast gate first (they rarely occur), then
    /// the full scan.
    keywords: Option<KeywordScan>,
    /// Per bucket-wide pattern: the candidates (and sets) it satisfies.
    users: Vec<Box<[User]>>,
    /// Per candidate: the mask of all its sets (0 when it has no literal requirement).
    full: Box<[u8]>,
}

const NO_SCAN: u16 = u16::MAX;

/// Keyword literals: `gate` answers "does any occur at all" with a SIMD prefilter; only then
/// does `scan` find which.
#[derive(Debug)]
struct KeywordScan {
    gate: AhoCorasick,
    scan: FieldScan,
}

impl BucketPrefilter {
    /// Builds the prefilter for candidates whose requirements are `requirements` (by position).
    pub fn build<'a>(
        requirements: impl Iterator<Item = &'a Requirement>,
        table: &LiteralTable,
        field_count: usize,
    ) -> BucketPrefilter {
        // One bucket-wide pattern per distinct literal, with its users.
        let mut pattern_of: FxHashMap<u32, u32> = FxHashMap::default();
        let mut literal_of_pattern: Vec<u32> = Vec::new();
        let mut users: Vec<Vec<User>> = Vec::new();
        let mut full = Vec::new();
        for (position, requirement) in requirements.enumerate() {
            let Requirement::AllOf(sets) = requirement else {
                full.push(0);
                continue;
            };
            full.push(((1u16 << sets.len()) - 1) as u8);
            for (bit, set) in sets.iter().enumerate() {
                for &id in set.iter() {
                    let pattern = *pattern_of.entry(id).or_insert_with(|| {
                        literal_of_pattern.push(id);
                        users.push(Vec::new());
                        (users.len() - 1) as u32
                    });
                    users[pattern as usize].push(User {
                        position: position as u32,
                        bit: 1 << bit,
                    });
                }
            }
        }
        // Patterns by field; keyword patterns (no field) get their own gated scan.
        let mut keyword_patterns = Vec::new();
        let mut by_field: FxHashMap<FieldId, Vec<u32>> = FxHashMap::default();
        for (pattern, &id) in literal_of_pattern.iter().enumerate() {
            match table.literals[id as usize].field {
                None => keyword_patterns.push(pattern as u32),
                Some(field) => by_field.entry(field).or_default().push(pattern as u32),
            }
        }
        let literals_of = |patterns: &[u32]| -> Vec<&[u8]> {
            patterns
                .iter()
                .map(|&p| {
                    table.literals[literal_of_pattern[p as usize] as usize]
                        .bytes
                        .as_slice()
                })
                .collect()
        };
        let build = |patterns: Vec<u32>| -> FieldScan {
            let literals = literals_of(&patterns);
            FieldScan {
                // A contiguous NFA: a DFA searches a little faster but takes far longer to
                // build, and buckets are built while hunting.
                automaton: AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .build(&literals)
                    .expect("literal patterns always build"),
                patterns,
            }
        };
        let mut scan_of_field = vec![NO_SCAN; field_count];
        let mut fields: Vec<(FieldId, Vec<u32>)> = by_field.into_iter().collect();
        fields.sort_unstable_by_key(|(field, _)| *field);
        let mut scans = Vec::with_capacity(fields.len());
        for (field, patterns) in fields {
            if let Some(slot) = scan_of_field.get_mut(field as usize) {
                *slot = scans.len() as u16;
                scans.push(build(patterns));
            }
        }
        let keywords = (!keyword_patterns.is_empty()).then(|| {
            let literals = literals_of(&keyword_patterns);
            KeywordScan {
                gate: AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .prefilter(true)
                    .build(&literals)
                    .expect("literal patterns always build"),
                scan: build(keyword_patterns),
            }
        });
        BucketPrefilter {
            scan_of_field: scan_of_field.into_boxed_slice(),
            scans,
            keywords,
            users: users.into_iter().map(Vec::into_boxed_slice).collect(),
            full: full.into_boxed_slice(),
        }
    }

    pub fn pattern_count(&self) -> usize {
        self.users.len()
    }

    /// Scans the event and records, for the event of `generation`, which literal sets of which
    /// candidates are satisfied; appends to `passed` every candidate (by position) all of whose
    /// sets are. `seen` (per pattern) and `marks` (per candidate) are scratch at least
    /// [`Self::pattern_count`] and the bucket's candidate count long; `cache` remembers what
    /// recently seen values contain (telemetry repeats image paths, hashes and users).
    pub fn scan(
        &self,
        view: &EventView<'_>,
        scratch: &mut ScanScratch<'_>,
        generation: u32,
        passed: &mut Vec<u32>,
    ) {
        let ScanScratch { seen, marks, cache } = scratch;
        let mut mark = |pattern: usize| {
            if seen[pattern] == generation {
                return;
            }
            seen[pattern] = generation;
            for user in self.users[pattern].iter() {
                let mark = &mut marks[user.position as usize];
                if mark.generation != generation {
                    *mark = Mark {
                        generation,
                        sets: 0,
                    };
                }
                if mark.sets & user.bit == 0 {
                    mark.sets |= user.bit;
                    if mark.sets == self.full[user.position as usize] {
                        passed.push(user.position);
                    }
                }
            }
        };
        for (field, folded) in view.entries() {
            let Some(&index) = self.scan_of_field.get(field as usize) else {
                continue;
            };
            if index == NO_SCAN {
                continue;
            }
            let scan = &self.scans[index as usize];
            // The automaton's address identifies it for as long as the rule set lives.
            let key = (scan as *const FieldScan as usize, hash_text(folded));
            if let Some(known) = cache.entries.get(&key)
                && *known.value == *folded
            {
                known
                    .patterns
                    .iter()
                    .for_each(|&pattern| mark(pattern as usize));
                continue;
            }
            let mut found: Vec<u32> = Vec::new();
            for hit in scan.automaton.find_overlapping_iter(folded) {
                let pattern = scan.patterns[hit.pattern().as_usize()];
                if !found.contains(&pattern) {
                    found.push(pattern);
                }
                mark(pattern as usize);
            }
            cache.remember(key, folded, found);
        }
        if let Some(keywords) = &self.keywords {
            // Values are NUL-separated and literals hold no NUL, so one pass over all of them
            // finds exactly the keywords some value contains.
            let text = view.folded_text();
            if keywords.gate.is_match(text) {
                for hit in keywords.scan.automaton.find_overlapping_iter(text) {
                    mark(keywords.scan.patterns[hit.pattern().as_usize()] as usize);
                }
            }
        }
    }
}

/// The per-thread scratch a scan writes to.
pub struct ScanScratch<'a> {
    pub seen: &'a mut [u32],
    pub marks: &'a mut [Mark],
    pub cache: &'a mut ScanCache,
}

fn hash_text(text: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(text)
}

/// Which patterns recently scanned values contain, per field automaton.
#[derive(Debug, Default)]
pub struct ScanCache {
    entries: FxHashMap<(usize, u64), CachedScan>,
}

#[derive(Debug)]
struct CachedScan {
    value: Box<str>,
    patterns: Box<[u32]>,
}

/// Values remembered per thread before the cache starts over.
const CACHE_ENTRIES: usize = 8192;
/// Longest value remembered: long values (command lines, scripts) rarely repeat.
const CACHE_VALUE_BYTES: usize = 256;

impl ScanCache {
    fn remember(&mut self, key: (usize, u64), value: &str, patterns: Vec<u32>) {
        if value.len() > CACHE_VALUE_BYTES {
            return;
        }
        if self.entries.len() >= CACHE_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(
            key,
            CachedScan {
                value: value.into(),
                patterns: patterns.into_boxed_slice(),
            },
        );
    }
}
