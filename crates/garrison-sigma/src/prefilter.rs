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
use std::sync::{Arc, Mutex, OnceLock};

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
            // One branch must match, and it satisfies every set it needs: so for each choice of
            // one set per branch, one literal of their union occurs ("A and B, or C" needs "A or
            // C" and "B or C"). The best few choices are kept.
            let mut unions: Conjunction = Vec::new();
            let mut any_branch = false;
            for item in items.iter() {
                let mut sets = necessary_literals(item, skip_field)?;
                if sets.is_empty() {
                    // This branch can never match; it adds nothing.
                    continue;
                }
                sets.sort_by_key(|set| std::cmp::Reverse(score(set)));
                sets.truncate(MAX_SETS);
                if !any_branch {
                    any_branch = true;
                    unions = sets;
                    continue;
                }
                let mut joined: Conjunction = Vec::new();
                for union in &unions {
                    for set in &sets {
                        let mut both = union.clone();
                        for literal in set {
                            if !both.contains(literal) {
                                both.push(literal.clone());
                            }
                        }
                        joined.push(both);
                    }
                }
                joined.sort_by_key(|set| std::cmp::Reverse(score(set)));
                joined.dedup();
                joined.truncate(MAX_SETS);
                unions = joined;
            }
            Some(if any_branch { unions } else { Vec::new() })
        }
    }
}

/// Every distinct literal of a rule set, by id, and per field an automaton over all of that
/// field's literals. The automata are built on first use and shared by every bucket: the same
/// `CommandLine` literals serve Sysmon 1 and Security 4688 events, and a value seen in one
/// bucket is not scanned again in another.
#[derive(Debug, Default)]
pub struct LiteralTable {
    ids: FxHashMap<Literal, u32>,
    literals: Vec<Literal>,
    /// Per field id: the literal ids of that field (set by [`LiteralTable::freeze`]).
    of_field: Vec<Box<[u32]>>,
    keyword_literals: Box<[u32]>,
    scans: Box<[OnceLock<FieldScan>]>,
    keywords: OnceLock<KeywordScan>,
    /// Automata over part of a field's (or the keyword) literals, by their sorted ids: buckets
    /// asking for the same literals (the same any-channel rules) share one.
    subsets: Mutex<FxHashMap<Box<[u32]>, Arc<FieldScan>>>,
    keyword_subsets: Mutex<FxHashMap<Box<[u32]>, Arc<KeywordScan>>>,
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

    /// Groups the literals by field once every requirement is interned; `field_count` is the
    /// size of the rule set's field table.
    pub fn freeze(&mut self, field_count: usize) {
        let mut of_field: Vec<Vec<u32>> = vec![Vec::new(); field_count];
        let mut keywords = Vec::new();
        for (id, literal) in self.literals.iter().enumerate() {
            match literal.field {
                None => keywords.push(id as u32),
                Some(field) => {
                    if let Some(list) = of_field.get_mut(field as usize) {
                        list.push(id as u32);
                    }
                }
            }
        }
        self.of_field = of_field.into_iter().map(Vec::into_boxed_slice).collect();
        self.keyword_literals = keywords.into_boxed_slice();
        self.scans = (0..field_count).map(|_| OnceLock::new()).collect();
        self.keywords = OnceLock::new();
    }

    pub fn len(&self) -> usize {
        self.literals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.literals.is_empty()
    }

    fn automaton(&self, ids: &[u32], kind: MatchKind, prefilter: bool) -> AhoCorasick {
        let literals: Vec<&[u8]> = ids
            .iter()
            .map(|&id| self.literals[id as usize].bytes.as_slice())
            .collect();
        // A contiguous NFA: a DFA searches a little faster but takes far longer to build, and
        // automata are built while hunting.
        AhoCorasickBuilder::new()
            .match_kind(kind)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .prefilter(prefilter)
            .build(&literals)
            .expect("literal patterns always build")
    }

    fn field_scan_of(&self, ids: &[u32]) -> FieldScan {
        FieldScan {
            automaton: self.automaton(ids, MatchKind::Standard, true),
        }
    }

    fn keyword_scan_of(&self, ids: &[u32]) -> KeywordScan {
        KeywordScan {
            gate: self.automaton(ids, MatchKind::LeftmostFirst, true),
            scan: self.field_scan_of(ids),
        }
    }

    /// The automaton over `ids` (sorted), shared with any bucket asking for the same.
    fn subset_scan(&self, ids: Box<[u32]>) -> Arc<FieldScan> {
        shared_build(&self.subsets, ids, |ids| self.field_scan_of(ids))
    }

    fn keyword_subset_scan(&self, ids: Box<[u32]>) -> Arc<KeywordScan> {
        shared_build(&self.keyword_subsets, ids, |ids| self.keyword_scan_of(ids))
    }

    /// Pieces of work [`LiteralTable::prebuild`] can do ahead of hunting: the keyword automata
    /// and each field's shared automaton.
    pub fn prebuild_parts(&self) -> usize {
        1 + self.of_field.len()
    }

    /// Builds part `part` of the shared automata now instead of on first use (callers spread
    /// the parts over their threads while loading rules).
    pub fn prebuild(&self, part: usize) {
        match part {
            0 if !self.keyword_literals.is_empty() => {
                self.keyword_scan();
            }
            0 => {}
            field => {
                let field = (field - 1) as FieldId;
                if self
                    .of_field
                    .get(field as usize)
                    .is_some_and(|ids| !ids.is_empty())
                {
                    self.field_scan(field);
                }
            }
        }
    }

    /// The automaton over all of `field`'s literals (built by the first thread to ask).
    fn field_scan(&self, field: FieldId) -> &FieldScan {
        self.scans[field as usize]
            .get_or_init(|| self.field_scan_of(&self.of_field[field as usize]))
    }

    /// The automata over all keyword literals.
    fn keyword_scan(&self) -> &KeywordScan {
        self.keywords
            .get_or_init(|| self.keyword_scan_of(&self.keyword_literals))
    }
}

/// The value for `ids` in `cache`, built (outside the lock) when missing.
fn shared_build<T>(
    cache: &Mutex<FxHashMap<Box<[u32]>, Arc<T>>>,
    ids: Box<[u32]>,
    build: impl FnOnce(&[u32]) -> T,
) -> Arc<T> {
    if let Some(found) = cache.lock().expect("automaton cache").get(&ids) {
        return found.clone();
    }
    let built = Arc::new(build(&ids));
    cache
        .lock()
        .expect("automaton cache")
        .entry(ids)
        .or_insert(built)
        .clone()
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

/// An automaton over some literals of one field (pattern `i` is the `i`th literal id of the
/// list it was built from).
#[derive(Debug)]
struct FieldScan {
    automaton: AhoCorasick,
}

/// Keyword literals, searched in every value: `gate` answers "does any occur at all" with a
/// SIMD prefilter (they rarely do); only then does `scan` find which.
#[derive(Debug)]
struct KeywordScan {
    gate: AhoCorasick,
    scan: FieldScan,
}

/// The prefilter of one candidate list: per field, the automaton to scan its values with, and
/// for each literal the candidates (and sets) it satisfies. Every value of an event is scanned
/// at most once.
#[derive(Debug)]
pub struct BucketPrefilter {
    /// Per field id: index into `scans`, or `NO_SCAN`.
    scan_of_field: Box<[u16]>,
    scans: Vec<Scan>,
    /// The keyword literals some candidates need, if any, with the slot of each pattern.
    keywords: Option<(Keywords, Box<[u32]>)>,
    /// Per slot: the candidates (and sets) it satisfies.
    users: Vec<Box<[User]>>,
    /// Per candidate: the mask of all its sets (0 when it has no literal requirement).
    full: Box<[u8]>,
}

const NO_SCAN: u16 = u16::MAX;

/// Slot of an automaton pattern this bucket has no use for.
const NO_SLOT: u32 = u32::MAX;

/// A bucket's automaton for one field, and the bucket's slot for each of its patterns.
#[derive(Debug)]
struct Scan {
    automaton: Automaton,
    slots: Box<[u32]>,
}

/// The rule set's shared automaton when the bucket needs most of the field's literals (process
/// creation rules in Sysmon 1 and Security 4688 buckets), its own when it needs a few (a small
/// automaton scans far faster, with a SIMD prefilter).
#[derive(Debug)]
enum Automaton {
    Shared(FieldId),
    Own(Arc<FieldScan>),
}

/// A bucket's keyword automata, shared or its own as for fields.
#[derive(Debug)]
enum Keywords {
    Shared,
    Own(Arc<KeywordScan>),
}

/// Share of a field's literals from which a bucket scans with the shared automaton.
const SHARED_FROM_PERCENT: usize = 50;

fn shared(needed: usize, all: usize) -> bool {
    needed * 100 >= all * SHARED_FROM_PERCENT
}

impl BucketPrefilter {
    /// Builds the prefilter for candidates whose requirements are `requirements` (by position).
    pub fn build<'a>(
        requirements: impl Iterator<Item = &'a Requirement>,
        table: &LiteralTable,
        field_count: usize,
    ) -> BucketPrefilter {
        let mut slot_of_literal: FxHashMap<u32, u32> = FxHashMap::default();
        let mut users: Vec<Vec<User>> = Vec::new();
        let mut full = Vec::new();
        let mut by_field: FxHashMap<FieldId, Vec<u32>> = FxHashMap::default();
        let mut keyword_ids: Vec<u32> = Vec::new();
        for (position, requirement) in requirements.enumerate() {
            let Requirement::AllOf(sets) = requirement else {
                full.push(0);
                continue;
            };
            full.push(((1u16 << sets.len()) - 1) as u8);
            for (bit, set) in sets.iter().enumerate() {
                for &id in set.iter() {
                    let slot = *slot_of_literal.entry(id).or_insert_with(|| {
                        match table.literals[id as usize].field {
                            None => keyword_ids.push(id),
                            Some(field) => by_field.entry(field).or_default().push(id),
                        }
                        users.push(Vec::new());
                        (users.len() - 1) as u32
                    });
                    users[slot as usize].push(User {
                        position: position as u32,
                        bit: 1 << bit,
                    });
                }
            }
        }
        // Per pattern of an automaton over `ids`: this bucket's slot for it.
        let slots_of = |ids: &[u32]| -> Box<[u32]> {
            ids.iter()
                .map(|id| slot_of_literal.get(id).copied().unwrap_or(NO_SLOT))
                .collect()
        };
        let mut scan_of_field = vec![NO_SCAN; field_count];
        let mut fields: Vec<(FieldId, Vec<u32>)> = by_field.into_iter().collect();
        fields.sort_unstable_by_key(|(field, _)| *field);
        let mut scans = Vec::with_capacity(fields.len());
        for (field, mut ids) in fields {
            let Some(slot) = scan_of_field.get_mut(field as usize) else {
                continue;
            };
            *slot = scans.len() as u16;
            let all = &table.of_field[field as usize];
            scans.push(if shared(ids.len(), all.len()) {
                Scan {
                    automaton: Automaton::Shared(field),
                    slots: slots_of(all),
                }
            } else {
                ids.sort_unstable();
                Scan {
                    slots: slots_of(&ids),
                    automaton: Automaton::Own(table.subset_scan(ids.into_boxed_slice())),
                }
            });
        }
        let keywords = (!keyword_ids.is_empty()).then(|| {
            let all = &table.keyword_literals;
            if shared(keyword_ids.len(), all.len()) {
                (Keywords::Shared, slots_of(all))
            } else {
                keyword_ids.sort_unstable();
                let slots = slots_of(&keyword_ids);
                let scan = table.keyword_subset_scan(keyword_ids.into_boxed_slice());
                (Keywords::Own(scan), slots)
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
    /// sets are. `seen` (per slot) and `marks` (per candidate) are scratch at least
    /// [`Self::pattern_count`] and the bucket's candidate count long; `cache` remembers what
    /// recently seen values contain (telemetry repeats image paths, hashes and users).
    pub fn scan(
        &self,
        table: &LiteralTable,
        view: &EventView<'_>,
        scratch: &mut ScanScratch<'_>,
        generation: u32,
        passed: &mut Vec<u32>,
    ) {
        let ScanScratch {
            seen,
            marks,
            cache,
            found,
        } = scratch;
        let mut mark = |slot: u32| {
            if slot == NO_SLOT || seen[slot as usize] == generation {
                return;
            }
            seen[slot as usize] = generation;
            for user in self.users[slot as usize].iter() {
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
            let Some(bucket_scan) = self.scans.get(index as usize) else {
                continue;
            };
            let scan = match &bucket_scan.automaton {
                Automaton::Own(scan) => &**scan,
                Automaton::Shared(field) => table.field_scan(*field),
            };
            let slots = &bucket_scan.slots;
            // The automaton's address identifies it for as long as the rule set lives.
            let automaton = scan as *const FieldScan as usize;
            // A value too long to keep (a script block) is not hashed: the cache neither
            // answers for it nor keeps it.
            let hash = match ScanCache::table_for(folded.len()) {
                Some(_) => hash_text(folded),
                None => 0,
            };
            if let Some(patterns) = cache.get(automaton, hash, folded) {
                patterns
                    .iter()
                    .for_each(|&pattern| mark(slots[pattern as usize]));
                continue;
            }
            found.clear();
            for hit in scan.automaton.find_overlapping_iter(folded) {
                let pattern = hit.pattern().as_u32();
                if !found.contains(&pattern) {
                    found.push(pattern);
                }
                mark(slots[pattern as usize]);
            }
            cache.remember(automaton, hash, folded, found);
        }
        if let Some((keywords, slots)) = &self.keywords {
            // Values are NUL-separated and literals hold no NUL, so one pass over all of them
            // finds exactly the keywords some value contains.
            let keywords = match keywords {
                Keywords::Shared => table.keyword_scan(),
                Keywords::Own(scan) => scan,
            };
            let text = view.folded_text();
            if keywords.gate.is_match(text) {
                for hit in keywords.scan.automaton.find_overlapping_iter(text) {
                    mark(slots[hit.pattern().as_usize()]);
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
    /// Patterns found in the value being scanned.
    pub found: &'a mut Vec<u32>,
}

fn hash_text(text: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(text)
}

/// Which patterns recently scanned values contain, per field automaton: direct-mapped tables
/// whose slots keep their buffers, so that remembering a value allocates nothing once a table
/// is warm, and a newer value simply takes an older one's slot. Short values (paths, users,
/// hashes) have many slots; long ones (command lines, which repeat as the parent of every
/// child a process starts) a few large ones.
#[derive(Debug, Default)]
pub struct ScanCache {
    short: Vec<CacheSlot>,
    long: Vec<CacheSlot>,
}

#[derive(Debug, Default)]
struct CacheSlot {
    automaton: usize,
    hash: u64,
    value: String,
    /// Patterns (of `automaton`) the value contains.
    patterns: Vec<u32>,
}

/// Slots per thread for short values (a power of two).
const SHORT_SLOTS: usize = 8192;
/// Longest short value.
const SHORT_VALUE_BYTES: usize = 256;
/// Slots per thread for long values (a power of two).
const LONG_SLOTS: usize = 256;
/// Longest value remembered: at most `LONG_SLOTS` times this per thread.
const LONG_VALUE_BYTES: usize = 16 * 1024;

impl ScanCache {
    fn slot(automaton: usize, hash: u64, slots: usize) -> usize {
        // Fold the automaton in: the same value is scanned by several automata.
        let mixed = hash ^ (automaton as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 32) as usize & (slots - 1)
    }

    /// Which table keeps values of `length` bytes (`true`: the long one) and its slot count;
    /// `None` when too long to keep.
    fn table_for(length: usize) -> Option<(bool, usize)> {
        if length <= SHORT_VALUE_BYTES {
            Some((false, SHORT_SLOTS))
        } else if length <= LONG_VALUE_BYTES {
            Some((true, LONG_SLOTS))
        } else {
            None
        }
    }

    fn get(&self, automaton: usize, hash: u64, value: &str) -> Option<&[u32]> {
        let (long, slots) = Self::table_for(value.len())?;
        let table = if long { &self.long } else { &self.short };
        let slot = table.get(Self::slot(automaton, hash, slots))?;
        (slot.hash == hash && slot.automaton == automaton && slot.value == value)
            .then_some(slot.patterns.as_slice())
    }

    fn remember(&mut self, automaton: usize, hash: u64, value: &str, patterns: &[u32]) {
        let Some((long, slots)) = Self::table_for(value.len()) else {
            return;
        };
        let table = if long {
            &mut self.long
        } else {
            &mut self.short
        };
        if table.is_empty() {
            table.resize_with(slots, CacheSlot::default);
        }
        let slot = &mut table[Self::slot(automaton, hash, slots)];
        slot.automaton = automaton;
        slot.hash = hash;
        slot.value.clear();
        slot.value.push_str(value);
        slot.patterns.clear();
        slot.patterns.extend_from_slice(patterns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Predicate;
    use crate::matcher::{Matcher, RegexMatcher};

    /// `field` matches the regex `pattern` (whose literal is the pattern itself).
    fn has(field: FieldId, pattern: &str) -> Expr {
        let regex = RegexMatcher::new(pattern, Default::default()).expect("valid");
        Expr::Pred(Box::new(Predicate {
            target: Target::Field(field),
            test: Test::Values {
                matchers: Box::new([Matcher::Regex(Box::new(regex))]),
                all: false,
                negate: false,
            },
        }))
    }

    fn texts(set: &LiteralSet) -> Vec<(Option<FieldId>, &str)> {
        set.iter()
            .map(|literal| {
                let text = std::str::from_utf8(&literal.bytes).expect("utf-8");
                (literal.field, text)
            })
            .collect()
    }

    #[test]
    fn an_alternative_needs_each_of_a_branch_sets_or_the_other_branch() {
        // (Image has "windows" and CommandLine has "system32") or CommandLine has "traversal".
        let expr = Expr::Or(Box::new([
            Expr::And(Box::new([has(0, "windows"), has(1, "system32")])),
            has(1, "traversal"),
        ]));
        let sets = necessary_literals(&expr, None).expect("literals");
        let sets: Vec<_> = sets.iter().map(texts).collect();
        assert_eq!(
            sets,
            vec![
                vec![(Some(1), "system32"), (Some(1), "traversal")],
                vec![(Some(0), "windows"), (Some(1), "traversal")],
            ]
        );
        // A branch that never matches adds nothing; none that can match is "never".
        let never = Expr::Or(Box::new([Expr::Const(false), has(1, "traversal")]));
        assert_eq!(
            necessary_literals(&never, None).map(|sets| sets.len()),
            Some(1)
        );
        let none = Expr::Or(Box::new([Expr::Const(false), Expr::Const(false)]));
        assert_eq!(necessary_literals(&none, None), Some(Vec::new()));
        // A branch needing nothing known makes the alternative need nothing known.
        let open = Expr::Or(Box::new([Expr::Const(true), has(1, "traversal")]));
        assert_eq!(necessary_literals(&open, None), None);
    }

    #[test]
    fn the_scan_cache_keeps_short_and_long_values_but_not_huge_ones() {
        let mut cache = ScanCache::default();
        let short = "c:\\windows\\system32\\cmd.exe";
        let long = format!("powershell -enc {}", "a".repeat(2000));
        let huge = "b".repeat(LONG_VALUE_BYTES + 1);
        for (value, patterns) in [(short, &[1, 2][..]), (&long, &[3]), (&huge, &[4])] {
            cache.remember(7, hash_text(value), value, patterns);
        }
        assert_eq!(cache.get(7, hash_text(short), short), Some(&[1, 2][..]));
        assert_eq!(cache.get(7, hash_text(&long), &long), Some(&[3][..]));
        assert_eq!(cache.get(7, hash_text(&huge), &huge), None);
        // Another automaton, or another value with the same hash, is not answered for.
        assert_eq!(cache.get(8, hash_text(&long), &long), None);
        let other = format!("powershell -enc {}", "c".repeat(2000));
        assert_eq!(cache.get(7, hash_text(&long), &other), None);
        assert_eq!(cache.long.len(), LONG_SLOTS);
        assert_eq!(cache.short.len(), SHORT_SLOTS);
    }
}
