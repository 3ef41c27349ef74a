//! Analysts' verdicts on incidents and alerts: what people concluded, kept so that scoring
//! learns from it.

use crate::{AlertId, IncidentId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an analyst concluded.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AnalystVerdict {
    /// Malicious: the detection was right and it matters.
    TruePositive,
    /// The detection was right, but the activity was allowed (an administrator's scan).
    BenignTruePositive,
    /// The detection was wrong.
    FalsePositive,
}

impl AnalystVerdict {
    pub const ALL: [AnalystVerdict; 3] = [
        AnalystVerdict::TruePositive,
        AnalystVerdict::BenignTruePositive,
        AnalystVerdict::FalsePositive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnalystVerdict::TruePositive => "true_positive",
            AnalystVerdict::BenignTruePositive => "benign_true_positive",
            AnalystVerdict::FalsePositive => "false_positive",
        }
    }

    /// `tp`, `btp`, `fp` or the full names.
    pub fn parse(text: &str) -> Option<AnalystVerdict> {
        match text {
            "tp" | "true_positive" => Some(AnalystVerdict::TruePositive),
            "btp" | "benign_true_positive" => Some(AnalystVerdict::BenignTruePositive),
            "fp" | "false_positive" => Some(AnalystVerdict::FalsePositive),
            _ => None,
        }
    }

    /// Whether it calls for a response: only a true positive does.
    pub fn malicious(self) -> bool {
        self == AnalystVerdict::TruePositive
    }
}

impl fmt::Display for AnalystVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verdict is about.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum VerdictSubject {
    Incident(IncidentId),
    Alert(AlertId),
}

impl fmt::Display for VerdictSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerdictSubject::Incident(id) => write!(f, "incident {id}"),
            VerdictSubject::Alert(id) => write!(f, "alert {id}"),
        }
    }
}

/// A rule on a host: what precision is estimated for.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct RulePattern {
    pub rule_id: String,
    /// Lower-cased; `None` when the alerts named no host.
    pub host: Option<String>,
}

/// One verdict, with the alerts it judged (each by its rule and host), so that what it
/// teaches survives the incident itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerdictRecord {
    pub subject: VerdictSubject,
    pub verdict: AnalystVerdict,
    /// Who: `user:NAME`.
    pub by: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The distinct alerts judged, one entry per alert.
    pub alerts: Vec<(AlertId, RulePattern)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_parse_in_short_and_long_form() {
        for verdict in AnalystVerdict::ALL {
            assert_eq!(AnalystVerdict::parse(verdict.as_str()), Some(verdict));
        }
        assert_eq!(
            AnalystVerdict::parse("fp"),
            Some(AnalystVerdict::FalsePositive)
        );
        assert_eq!(AnalystVerdict::parse("maybe"), None);
        assert!(AnalystVerdict::TruePositive.malicious());
        assert!(!AnalystVerdict::BenignTruePositive.malicious());
        let subject = VerdictSubject::Incident(IncidentId("inc-1".into()));
        assert_eq!(
            serde_json::to_string(&subject).unwrap(),
            r#"{"kind":"incident","id":"inc-1"}"#
        );
    }
}
