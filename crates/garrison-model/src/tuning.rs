//! How people tune detection: a rule switched off (its matches raise no alerts) or back on,
//! by whom, when and why.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// The last word on whether a rule raises alerts. Rules nobody switched are on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleSwitch {
    /// The rule's id (its Sigma `id`, or the name derived from its path).
    pub rule_id: String,
    pub enabled: bool,
    /// Why, in the words of whoever switched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who switched it (a user, `token:NAME`).
    pub by: String,
    pub at: Timestamp,
}
