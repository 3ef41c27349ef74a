//! Garrison's Sigma engine: parse Sigma rules completely, compile them once, and evaluate them
//! fast against events, then run correlation rules over the matches.
//!
//! Pipeline: [`parse`] (YAML to typed [`rule`]s) -> [`compile`] (typed rule to [`expr::Expr`] per
//! log source target, see [`windows`]) -> [`RuleSet`] (linked, indexed by channel and event id,
//! with a multi-pattern [`prefilter`]) -> [`RuleSet::evaluate`] per event -> [`RuleSet::correlate`]
//! over the kept [`Sighting`]s. Pure and synchronous: callers bring the threads.

pub mod compile;
pub mod condition;
pub mod correlation;
pub mod error;
pub mod event_view;
pub mod expr;
mod index;
pub mod matcher;
mod meeting;
pub mod modifier;
pub mod parse;
pub mod pattern;
pub mod prefilter;
mod regex_literals;
pub mod rule;
pub mod ruleset;
pub mod value;
mod value_sets;
pub mod windows;
mod yaml;

pub use correlation::Sighting;
pub use error::{RuleError, RuleErrorKind};
pub use parse::parse_placeholders;
pub use ruleset::{
    CompileOptions, CompiledFile, RuleMatch, RuleSet, RuleSetStats, RuleSource, Scratch,
    compile_file,
};
