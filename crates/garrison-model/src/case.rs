//! How people work an incident: where it stands (open, in progress, resolved, closed), who has
//! it, and what they wrote about it.

use crate::{IncidentId, Timestamp};
use serde::{Deserialize, Serialize};

/// Where work on an incident stands.
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
pub enum CaseStatus {
    /// Nobody has finished with it (the state of every incident nobody touched).
    Open,
    InProgress,
    /// Dealt with: contained, cleaned up, or judged.
    Resolved,
    /// Nothing more will be done.
    Closed,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 4] = [
        CaseStatus::Open,
        CaseStatus::InProgress,
        CaseStatus::Resolved,
        CaseStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::InProgress => "in_progress",
            CaseStatus::Resolved => "resolved",
            CaseStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<CaseStatus> {
        CaseStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

impl std::fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where work on one incident stands and who has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Case {
    pub incident: IncidentId,
    pub status: CaseStatus,
    /// The user who has it.
    pub assignee: Option<String>,
    /// Who changed it last (`user:NAME`), and when.
    pub updated_by: String,
    pub updated: Timestamp,
}

/// A note someone wrote on an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Comment {
    pub incident: IncidentId,
    /// `user:NAME`.
    pub by: String,
    pub at: Timestamp,
    pub text: String,
}
