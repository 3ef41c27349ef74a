//! The prefilter: literals a rule cannot match without, found for all candidate rules in one
//! multi-pattern scan of the event's folded values.

use crate::expr::{Expr, FieldId, Target, Test};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::FxHashMap;

/// Shortest literal worth scanning for.
const MIN_LITERAL: usize = 3;

/// What a rule variant needs before its expression is worth evaluating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing known: always evaluate.
    None,
    /// At least one of these literals (ids in the prefilter) occurs in the folded values.
    AnyLiteral(Box<[u32]>),
    /// The expression can never match.
    Never,
}

/// A set of literals, one of which must occur.
type LiteralSet = Vec<Vec<u8>>;

fn score(set: &LiteralSet) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = set.iter().map(Vec::len).min().unwrap_or(usize::MAX);
    (shortest, std::cmp::Reverse(set.len()))
}

/// Literals the expression needs (`None` when it needs none that we can tell).
pub fn necessary_literals(expr: &Expr, skip_field: Option<FieldId>) -> Option<LiteralSet> {
    match expr {
        Expr::Const(false) => Some(Vec::new()),
        Expr::Const(true) | Expr::Not(_) => None,
        Expr::Pred(predicate) => {
            if let Target::Field(field) = predicate.target
                && Some(field) == skip_field
            {
                return None;
            }
            let Test::Values {
                matchers,
                all,
                negate: false,
            } = &predicate.test
            else {
                return None;
            };
            let usable = |literals: Vec<Vec<u8>>| -> Option<Vec<Vec<u8>>> {
                literals
                    .into_iter()
                    .map(|literal| {
                        (literal.len() >= MIN_LITERAL && !literal.contains(&0)).then_some(literal)
                    })
                    .collect()
            };
            if *all {
                matchers
                    .iter()
                    .filter_map(|matcher| usable(matcher.required_literals()?))
                    .max_by_key(score)
            } else {
                let mut union = Vec::new();
                for matcher in matchers.iter() {
                    union.extend(usable(matcher.required_literals()?)?);
                }
                Some(union)
            }
        }
        Expr::And(items) => items
            .iter()
            .filter_map(|item| necessary_literals(item, skip_field))
            .max_by_key(score),
        Expr::Or(items) | Expr::AtLeast(_, items) => {
            let mut union = Vec::new();
            for item in items.iter() {
                for literal in necessary_literals(item, skip_field)? {
                    if !union.contains(&literal) {
                        union.push(literal);
                    }
                }
            }
            Some(union)
        }
    }
}

/// Every distinct literal of a rule set, by id.
#[derive(Debug, Default)]
pub struct LiteralTable {
    ids: FxHashMap<Vec<u8>, u32>,
    literals: Vec<Vec<u8>>,
}

impl LiteralTable {
    /// What `expr` needs before it is worth evaluating, with its literals interned.
    pub fn requirement(&mut self, expr: &Expr, skip_field: Option<FieldId>) -> Requirement {
        match necessary_literals(expr, skip_field) {
            None => Requirement::None,
            Some(set) if set.is_empty() => Requirement::Never,
            Some(set) => Requirement::AnyLiteral(
                set.into_iter()
                    .map(|literal| self.intern(literal))
                    .collect(),
            ),
        }
    }

    fn intern(&mut self, literal: Vec<u8>) -> u32 {
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

/// The prefilter of one candidate list: an automaton over the literals its rules need, and
/// for each literal the candidates that need it.
#[derive(Debug)]
pub struct BucketPrefilter {
    automaton: Option<AhoCorasick>,
    users: Vec<Box<[u32]>>,
}

impl BucketPrefilter {
    /// Builds the prefilter for candidates whose requirements are `requirements` (by position).
    pub fn build<'a>(
        requirements: impl Iterator<Item = &'a Requirement>,
        table: &LiteralTable,
    ) -> BucketPrefilter {
        let mut patterns: FxHashMap<u32, u32> = FxHashMap::default();
        let mut users: Vec<Vec<u32>> = Vec::new();
        let mut literals: Vec<&[u8]> = Vec::new();
        for (position, requirement) in requirements.enumerate() {
            if let Requirement::AnyLiteral(ids) = requirement {
                for &id in ids.iter() {
                    let pattern = *patterns.entry(id).or_insert_with(|| {
                        literals.push(&table.literals[id as usize]);
                        users.push(Vec::new());
                        (literals.len() - 1) as u32
                    });
                    users[pattern as usize].push(position as u32);
                }
            }
        }
        let automaton = (!literals.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(&literals)
                .expect("literal patterns always build")
        });
        BucketPrefilter {
            automaton,
            users: users.into_iter().map(Vec::into_boxed_slice).collect(),
        }
    }

    pub fn pattern_count(&self) -> usize {
        self.users.len()
    }

    /// Scans `text`; marks `passed[position] = generation` for every candidate one of whose
    /// literals occurs. `seen` is per-pattern scratch of at least [`Self::pattern_count`].
    pub fn scan(&self, text: &str, seen: &mut [u32], passed: &mut [u32], generation: u32) {
        let Some(automaton) = &self.automaton else {
            return;
        };
        for found in automaton.find_overlapping_iter(text) {
            let pattern = found.pattern().as_usize();
            if seen[pattern] != generation {
                seen[pattern] = generation;
                for &position in self.users[pattern].iter() {
                    passed[position as usize] = generation;
                }
            }
        }
    }
}
