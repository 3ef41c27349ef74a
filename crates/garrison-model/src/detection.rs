//! A rule hit: which rule, on which record, with which field values.

use crate::{EvidenceRef, Level, Timestamp};
use std::sync::Arc;

/// Whether a rule matches single events or correlates other rules' matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Detection,
    Correlation,
}

/// What a detection says about the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// The rule's `id` (a UUID for SigmaHQ rules), or a name derived from its path when absent.
    pub id: String,
    pub title: String,
    pub level: Level,
    pub tags: Vec<String>,
    pub status: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    /// The file the rule was read from (`bundled:` prefix for the built-in pack).
    pub path: String,
    pub kind: RuleKind,
}

impl RuleInfo {
    /// ATT&CK technique ids among the tags (`attack.t1003.001` -> `T1003.001`), in tag order.
    pub fn attack_techniques(&self) -> Vec<String> {
        attack_techniques(&self.tags).collect()
    }
}

/// ATT&CK technique ids among Sigma tags (`attack.t1003.001` -> `T1003.001`).
pub fn attack_techniques(tags: &[String]) -> impl Iterator<Item = String> + '_ {
    tags.iter()
        .filter_map(|tag| tag.strip_prefix("attack."))
        .filter(|rest| {
            rest.len() >= 5
                && rest.as_bytes()[0].eq_ignore_ascii_case(&b't')
                && rest.as_bytes()[1].is_ascii_digit()
        })
        .map(|rest| rest.to_ascii_uppercase())
}

/// For a correlation detection: the group it fired for and the events that made it fire.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationContext {
    /// `group-by` field names and the shared values.
    pub group: Vec<(String, String)>,
    /// The count that met the condition (events, distinct values or distinct rules).
    pub count: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// The events that took part, oldest first.
    pub events: Vec<EvidenceRef>,
}

/// One rule hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub rule: Arc<RuleInfo>,
    pub timestamp: Option<Timestamp>,
    /// The matching record; for correlations, the record that completed the correlation.
    pub evidence: EvidenceRef,
    pub computer: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
    /// The event's values of the fields the rule looked at (in the event's own field names).
    pub fields: Vec<(String, String)>,
    pub correlation: Option<CorrelationContext>,
}

impl Detection {
    pub fn level(&self) -> Level {
        self.rule.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_techniques_from_tags() {
        let rule = RuleInfo {
            id: "x".into(),
            title: "x".into(),
            level: Level::High,
            tags: vec![
                "attack.credential-access".into(),
                "attack.t1003.001".into(),
                "attack.T1059".into(),
                "cve.2021-1675".into(),
            ],
            status: None,
            description: None,
            author: None,
            references: vec![],
            falsepositives: vec![],
            path: "x.yml".into(),
            kind: RuleKind::Detection,
        };
        assert_eq!(rule.attack_techniques(), ["T1003.001", "T1059"]);
    }
}
