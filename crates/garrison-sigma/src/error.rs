//! Why a rule could not be loaded or compiled.

use std::fmt;

/// The class of a rule failure, for summaries ("12 rules failed: 9 regex, 3 logsource").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleErrorKind {
    /// The file is not valid YAML.
    Yaml,
    /// A required attribute is missing or has the wrong shape.
    Schema,
    /// The condition does not parse or names unknown searches.
    Condition,
    /// A modifier chain is invalid or does not fit its values.
    Modifier,
    /// A regular expression does not compile.
    Regex,
    /// A placeholder has no value configured.
    Placeholder,
    /// The log source has no mapping to the events this engine reads.
    LogSource,
    /// A correlation refers to rules that are not loaded, or is malformed.
    Correlation,
}

impl RuleErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleErrorKind::Yaml => "yaml",
            RuleErrorKind::Schema => "schema",
            RuleErrorKind::Condition => "condition",
            RuleErrorKind::Modifier => "modifier",
            RuleErrorKind::Regex => "regex",
            RuleErrorKind::Placeholder => "placeholder",
            RuleErrorKind::LogSource => "logsource",
            RuleErrorKind::Correlation => "correlation",
        }
    }
}

/// A rule that was not loaded, and why. Never silent: every such rule is reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    pub path: String,
    pub id: Option<String>,
    pub title: Option<String>,
    pub kind: RuleErrorKind,
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(title) = &self.title {
            write!(f, " ({title})")?;
        }
        write!(f, ": {} error: {}", self.kind.as_str(), self.reason)
    }
}
