//! Typed Sigma documents: detection rules and correlation rules, as written (before compiling).

use crate::condition::Condition;
use crate::modifier::Modifier;
use crate::value::SigmaValue;
use garrison_model::Level;

/// The rule's `logsource`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
    pub definition: Option<String>,
}

/// Descriptive fields shared by detection and correlation rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleMeta {
    pub id: Option<String>,
    /// `name`, the handle correlation rules may use to refer to this rule.
    pub name: Option<String>,
    pub title: String,
    pub status: Option<String>,
    pub level: Option<Level>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub modified: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub fields: Vec<String>,
}

/// One `field|modifiers: values` item of a search (field absent for keyword items).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchItem {
    pub field: Option<String>,
    pub modifiers: Vec<Modifier>,
    pub values: Vec<SigmaValue>,
}

/// A named search of the `detection` section.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    /// A map: every item must match.
    AllOf(Vec<SearchItem>),
    /// A list of maps: any must match.
    AnyOf(Vec<Search>),
    /// A list of plain values: keywords searched in the whole event, any must match.
    Keywords(SearchItem),
}

/// A detection rule.
#[derive(Debug, Clone, PartialEq)]
pub struct SigmaRule {
    pub meta: RuleMeta,
    pub logsource: LogSource,
    pub searches: Vec<(String, Search)>,
    /// Several conditions are alternatives (OR).
    pub conditions: Vec<Condition>,
    pub path: String,
}

/// The four correlation types of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

impl CorrelationType {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// The count condition of a correlation; all given bounds must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountCondition {
    pub gt: Option<u64>,
    pub gte: Option<u64>,
    pub lt: Option<u64>,
    pub lte: Option<u64>,
    pub eq: Option<u64>,
    /// The field whose distinct values `value_count` counts.
    pub field: Option<String>,
}

impl CountCondition {
    pub fn holds(&self, count: u64) -> bool {
        self.gt.is_none_or(|bound| count > bound)
            && self.gte.is_none_or(|bound| count >= bound)
            && self.lt.is_none_or(|bound| count < bound)
            && self.lte.is_none_or(|bound| count <= bound)
            && self.eq.is_none_or(|bound| count == bound)
    }

    /// True when the condition has an upper bound only, so it can be judged only once a time
    /// window has closed ("fewer than N events in an hour").
    pub fn is_upper_bound_only(&self) -> bool {
        self.gt.is_none()
            && self.gte.is_none()
            && self.eq.is_none()
            && (self.lt.is_some() || self.lte.is_some())
    }
}

/// `aliases`: one group-by name standing for a different field in each referenced rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldAlias {
    pub alias: String,
    /// (rule name or id, field name in that rule's events).
    pub fields: Vec<(String, String)>,
}

/// A correlation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationRule {
    pub meta: RuleMeta,
    pub kind: CorrelationType,
    /// Referenced rules, by `id` or `name`.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_seconds: u64,
    /// Absent for `temporal`/`temporal_ordered`, which then need every referenced rule.
    pub condition: Option<CountCondition>,
    pub aliases: Vec<FieldAlias>,
    /// Whether the referenced rules also report their own matches.
    pub generate: bool,
    pub path: String,
}

/// One document of a rule file.
#[derive(Debug, Clone, PartialEq)]
pub enum SigmaDocument {
    Rule(Box<SigmaRule>),
    Correlation(Box<CorrelationRule>),
}
