//! The compiled form of a rule's detection: a boolean expression over field predicates, and its
//! evaluation against one prepared event.

use crate::event_view::EventView;
use crate::matcher::Matcher;

/// Index of a field name in the rule set's field table.
pub type FieldId = u32;

/// What a predicate looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Field(FieldId),
    /// Keyword search: every value of the event.
    Keywords,
}

/// What a predicate checks.
#[derive(Debug, Clone)]
pub enum Test {
    /// `field|exists: true/false`.
    Exists(bool),
    /// `field: null`: absent, null or empty.
    Null,
    /// Values: any (or with `all`, every) matcher matches some value of the field; with `neq`
    /// the field exists and no matcher matches.
    Values {
        matchers: Box<[Matcher]>,
        all: bool,
        negate: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Predicate {
    pub target: Target,
    pub test: Test,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Expr {
    And(Box<[Expr]>),
    Or(Box<[Expr]>),
    Not(Box<Expr>),
    /// At least `n` of the children (`2 of selection_*`).
    AtLeast(usize, Box<[Expr]>),
    Pred(Box<Predicate>),
    Const(bool),
}

impl Expr {
    pub fn eval(&self, view: &EventView<'_>) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|item| item.eval(view)),
            Expr::Or(items) => items.iter().any(|item| item.eval(view)),
            Expr::Not(inner) => !inner.eval(view),
            Expr::AtLeast(needed, items) => {
                let mut found = 0;
                for item in items.iter() {
                    if item.eval(view) {
                        found += 1;
                        if found >= *needed {
                            return true;
                        }
                    }
                }
                false
            }
            Expr::Pred(predicate) => predicate.eval(view),
            Expr::Const(value) => *value,
        }
    }

    /// Calls `visit` on every predicate.
    pub fn for_each_predicate<'a>(&'a self, visit: &mut impl FnMut(&'a Predicate)) {
        match self {
            Expr::And(items) | Expr::Or(items) | Expr::AtLeast(_, items) => {
                for item in items.iter() {
                    item.for_each_predicate(visit);
                }
            }
            Expr::Not(inner) => inner.for_each_predicate(visit),
            Expr::Pred(predicate) => visit(predicate),
            Expr::Const(_) => {}
        }
    }

    /// Calls `visit` on every predicate, mutably.
    pub fn for_each_predicate_mut(&mut self, visit: &mut impl FnMut(&mut Predicate)) {
        match self {
            Expr::And(items) | Expr::Or(items) | Expr::AtLeast(_, items) => {
                for item in items.iter_mut() {
                    item.for_each_predicate_mut(visit);
                }
            }
            Expr::Not(inner) => inner.for_each_predicate_mut(visit),
            Expr::Pred(predicate) => visit(predicate),
            Expr::Const(_) => {}
        }
    }

    /// Folds constants away (`x and false` is `false`, ...).
    pub fn simplify(self) -> Expr {
        match self {
            Expr::And(items) => {
                let mut kept = Vec::with_capacity(items.len());
                for item in items.into_vec() {
                    match item.simplify() {
                        Expr::Const(true) => {}
                        Expr::Const(false) => return Expr::Const(false),
                        other => kept.push(other),
                    }
                }
                match kept.len() {
                    0 => Expr::Const(true),
                    1 => kept.pop().expect("one item"),
                    _ => Expr::And(kept.into_boxed_slice()),
                }
            }
            Expr::Or(items) => {
                let mut kept = Vec::with_capacity(items.len());
                for item in items.into_vec() {
                    match item.simplify() {
                        Expr::Const(false) => {}
                        Expr::Const(true) => return Expr::Const(true),
                        other => kept.push(other),
                    }
                }
                match kept.len() {
                    0 => Expr::Const(false),
                    1 => kept.pop().expect("one item"),
                    _ => Expr::Or(kept.into_boxed_slice()),
                }
            }
            Expr::Not(inner) => match inner.simplify() {
                Expr::Const(value) => Expr::Const(!value),
                other => Expr::Not(Box::new(other)),
            },
            Expr::AtLeast(needed, items) => {
                let mut known_true = 0;
                let mut kept = Vec::with_capacity(items.len());
                for item in items.into_vec() {
                    match item.simplify() {
                        Expr::Const(true) => known_true += 1,
                        Expr::Const(false) => {}
                        other => kept.push(other),
                    }
                }
                let needed = needed.saturating_sub(known_true);
                if needed == 0 {
                    Expr::Const(true)
                } else if needed > kept.len() {
                    Expr::Const(false)
                } else if needed == 1 {
                    Expr::Or(kept.into_boxed_slice()).simplify()
                } else if needed == kept.len() {
                    Expr::And(kept.into_boxed_slice()).simplify()
                } else {
                    Expr::AtLeast(needed, kept.into_boxed_slice())
                }
            }
            other => other,
        }
    }

    /// Event ids this expression can match: `None` when any, `Some(ids)` when it needs `EventID`
    /// to be one of `ids`.
    pub fn required_values(&self, field: FieldId) -> Option<Vec<String>> {
        match self {
            Expr::Pred(predicate) => match (&predicate.target, &predicate.test) {
                (
                    Target::Field(id),
                    Test::Values {
                        matchers,
                        all: false,
                        negate: false,
                    },
                ) if *id == field => {
                    let mut values = Vec::new();
                    for matcher in matchers.iter() {
                        values.extend(matcher.exact_texts()?.into_iter().map(str::to_string));
                    }
                    Some(values)
                }
                _ => None,
            },
            Expr::And(items) => {
                let mut result: Option<Vec<String>> = None;
                for item in items.iter() {
                    if let Some(values) = item.required_values(field) {
                        result = Some(match result {
                            None => values,
                            Some(previous) => previous
                                .into_iter()
                                .filter(|value| values.contains(value))
                                .collect(),
                        });
                    }
                }
                result
            }
            Expr::Or(items) | Expr::AtLeast(1, items) => {
                let mut union = Vec::new();
                for item in items.iter() {
                    for value in item.required_values(field)? {
                        if !union.contains(&value) {
                            union.push(value);
                        }
                    }
                }
                Some(union)
            }
            Expr::Const(false) => Some(Vec::new()),
            Expr::AtLeast(..) | Expr::Not(_) | Expr::Const(true) => None,
        }
    }
}

impl Predicate {
    #[inline]
    pub fn eval(&self, view: &EventView<'_>) -> bool {
        match &self.target {
            Target::Field(field) => match &self.test {
                Test::Exists(expected) => view.has(*field) == *expected,
                Test::Null => view.values(*field).all(|(original, _)| original.is_empty()),
                Test::Values {
                    matchers,
                    all,
                    negate,
                } => {
                    let any_value_matches = |matcher: &Matcher| {
                        view.values(*field)
                            .any(|(original, folded)| matcher.matches(original, folded, view))
                    };
                    if *negate {
                        view.has(*field) && !matchers.iter().any(any_value_matches)
                    } else if *all {
                        matchers.iter().all(any_value_matches)
                    } else {
                        matchers.iter().any(any_value_matches)
                    }
                }
            },
            Target::Keywords => match &self.test {
                Test::Values {
                    matchers,
                    all,
                    negate,
                } => {
                    let found = |matcher: &Matcher| matcher.matches_any_value(view);
                    let result = if *all {
                        matchers.iter().all(found)
                    } else {
                        matchers.iter().any(found)
                    };
                    result != *negate
                }
                Test::Exists(_) | Test::Null => false,
            },
        }
    }
}
