//! Response actions: what the response agent may do about an incident, where each proposal
//! stands, and what came of it. The vocabulary only: deciding (policy) and doing (connectors)
//! live elsewhere.

use crate::{IncidentId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an action does.
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
pub enum ActionKind {
    IsolateHost,
    KillProcess,
    QuarantineFile,
    DisableUser,
    SuspendUser,
    RevokeSessions,
    ResetCredentials,
    BlockIp,
    BlockDomain,
    BlockUrl,
    OpenTicket,
    Notify,
}

impl ActionKind {
    pub const ALL: [ActionKind; 12] = [
        ActionKind::IsolateHost,
        ActionKind::KillProcess,
        ActionKind::QuarantineFile,
        ActionKind::DisableUser,
        ActionKind::SuspendUser,
        ActionKind::RevokeSessions,
        ActionKind::ResetCredentials,
        ActionKind::BlockIp,
        ActionKind::BlockDomain,
        ActionKind::BlockUrl,
        ActionKind::OpenTicket,
        ActionKind::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::IsolateHost => "isolate_host",
            ActionKind::KillProcess => "kill_process",
            ActionKind::QuarantineFile => "quarantine_file",
            ActionKind::DisableUser => "disable_user",
            ActionKind::SuspendUser => "suspend_user",
            ActionKind::RevokeSessions => "revoke_sessions",
            ActionKind::ResetCredentials => "reset_credentials",
            ActionKind::BlockIp => "block_ip",
            ActionKind::BlockDomain => "block_domain",
            ActionKind::BlockUrl => "block_url",
            ActionKind::OpenTicket => "open_ticket",
            ActionKind::Notify => "notify",
        }
    }

    pub fn parse(text: &str) -> Option<ActionKind> {
        ActionKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// The kind of thing the action is done to.
    pub fn target_kind(self) -> TargetKind {
        match self {
            ActionKind::IsolateHost => TargetKind::Host,
            ActionKind::KillProcess => TargetKind::Process,
            ActionKind::QuarantineFile => TargetKind::File,
            ActionKind::DisableUser
            | ActionKind::SuspendUser
            | ActionKind::RevokeSessions
            | ActionKind::ResetCredentials => TargetKind::User,
            ActionKind::BlockIp => TargetKind::Ip,
            ActionKind::BlockDomain => TargetKind::Domain,
            ActionKind::BlockUrl => TargetKind::Url,
            ActionKind::OpenTicket | ActionKind::Notify => TargetKind::Incident,
        }
    }

    /// Whether the action can be undone, and what undoes it.
    pub fn rollback(self) -> Option<&'static str> {
        match self {
            ActionKind::IsolateHost => Some("release the host from isolation"),
            ActionKind::DisableUser => Some("enable the user"),
            ActionKind::SuspendUser => Some("unsuspend the user"),
            ActionKind::BlockIp | ActionKind::BlockDomain | ActionKind::BlockUrl => {
                Some("remove the block")
            }
            ActionKind::QuarantineFile => Some("restore the file"),
            ActionKind::KillProcess
            | ActionKind::RevokeSessions
            | ActionKind::ResetCredentials
            | ActionKind::OpenTicket
            | ActionKind::Notify => None,
        }
    }

    /// True when doing it twice has the effect of doing it once (it sets a state: isolated,
    /// suspended, blocked, sessions revoked), so sending it again after a crash is safe.
    /// Tickets and notifications are not: a second one is a second ticket.
    pub fn sets_state(self) -> bool {
        !matches!(
            self,
            ActionKind::OpenTicket | ActionKind::Notify | ActionKind::ResetCredentials
        )
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of thing an action is done to.
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
pub enum TargetKind {
    Host,
    User,
    Process,
    File,
    Ip,
    Domain,
    Url,
    /// Tickets and notifications are about the incident itself.
    Incident,
    /// People on call: an escalation notifies a team (a tier).
    Team,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Host => "host",
            TargetKind::User => "user",
            TargetKind::Process => "process",
            TargetKind::File => "file",
            TargetKind::Ip => "ip",
            TargetKind::Domain => "domain",
            TargetKind::Url => "url",
            TargetKind::Incident => "incident",
            TargetKind::Team => "team",
        }
    }
}

/// What an action is done to: a host name, a user, an address, a process (`host:pid` or
/// `host:image`), a file (`host:path` or a hash), or the incident.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct Target {
    pub kind: TargetKind,
    pub value: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.value)
    }
}

/// How much an action kind may do without a person, as the organisation configured it.
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
pub enum Autonomy {
    /// Named in the report as a recommendation; never queued or carried out.
    ReportOnly,
    /// Queued for a person to carry out themselves; Garrison never calls a connector.
    Propose,
    /// Carried out by Garrison once a responder approves it.
    ActWithApproval,
    /// Carried out by Garrison when the policy allows it alone, and people are told after.
    ActThenNotify,
}

impl Autonomy {
    pub fn as_str(self) -> &'static str {
        match self {
            Autonomy::ReportOnly => "report_only",
            Autonomy::Propose => "propose",
            Autonomy::ActWithApproval => "act_with_approval",
            Autonomy::ActThenNotify => "act_then_notify",
        }
    }
}

/// What the rules of engagement say about one proposed action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyVerdict {
    Allow,
    NeedsApproval,
    Deny,
}

impl PolicyVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyVerdict::Allow => "allow",
            PolicyVerdict::NeedsApproval => "needs_approval",
            PolicyVerdict::Deny => "deny",
        }
    }
}

/// Where a proposed action stands.
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
pub enum ActionState {
    /// Recommended in the report only.
    ReportOnly,
    /// An escalation due at `expires_at` unless the incident is acknowledged first.
    Scheduled,
    /// An escalation the incident's acknowledgement made unnecessary.
    Cancelled,
    /// Queued for a person to carry out outside Garrison.
    Proposed,
    /// The policy forbids it.
    Denied,
    /// Waiting in the approvals queue.
    AwaitingApproval,
    /// Approved, or allowed alone by the policy: to be carried out.
    Approved,
    Rejected,
    /// Nobody answered before its expiry.
    Expired,
    /// Handed to its connector; the audit entry saying so is written.
    Executing,
    Succeeded,
    /// Failed for good (or after its bounded retries).
    Failed,
    /// The connector may or may not have done it (a timeout after sending): never retried
    /// automatically; a person checks.
    Unknown,
    RolledBack,
}

impl ActionState {
    pub const ALL: [ActionState; 14] = [
        ActionState::ReportOnly,
        ActionState::Scheduled,
        ActionState::Cancelled,
        ActionState::Proposed,
        ActionState::Denied,
        ActionState::AwaitingApproval,
        ActionState::Approved,
        ActionState::Rejected,
        ActionState::Expired,
        ActionState::Executing,
        ActionState::Succeeded,
        ActionState::Failed,
        ActionState::Unknown,
        ActionState::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::ReportOnly => "report_only",
            ActionState::Scheduled => "scheduled",
            ActionState::Cancelled => "cancelled",
            ActionState::Proposed => "proposed",
            ActionState::Denied => "denied",
            ActionState::AwaitingApproval => "awaiting_approval",
            ActionState::Approved => "approved",
            ActionState::Rejected => "rejected",
            ActionState::Expired => "expired",
            ActionState::Executing => "executing",
            ActionState::Succeeded => "succeeded",
            ActionState::Failed => "failed",
            ActionState::Unknown => "unknown",
            ActionState::RolledBack => "rolled_back",
        }
    }

    pub fn parse(text: &str) -> Option<ActionState> {
        ActionState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

impl fmt::Display for ActionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One proposed action and everything that happened to it. Its `key` is its idempotency key:
/// derived from the incident, the kind and the target, so every version of an incident
/// proposes the same action under the same key, and connectors receive it to recognise a
/// repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionRecord {
    pub key: String,
    pub incident: IncidentId,
    /// The incident version that proposed it.
    pub incident_version: u64,
    pub kind: ActionKind,
    pub target: Target,
    pub state: ActionState,
    pub verdict: PolicyVerdict,
    pub autonomy: Autonomy,
    /// Why: the playbook step, the policies that decided, caps applied (kill switch,
    /// protected list).
    pub reasons: Vec<String>,
    /// Order of the approvals queue: asset criticality × confidence × ATT&CK stage, 0 to 100.
    pub priority: u32,
    pub proposed_at: Timestamp,
    pub updated_at: Timestamp,
    /// When an awaiting approval expires, or a scheduled escalation is due.
    pub expires_at: Option<Timestamp>,
    pub assignee: Option<String>,
    /// Who approved, rejected or rolled it back.
    pub decided_by: Option<String>,
    /// Calls made to the connector.
    pub attempts: u32,
    /// What the connector answered, or why it failed (never a secret).
    pub outcome: Option<String>,
    /// The connector that must carry it out (an escalation tier's); any that carries out its
    /// kind when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
}

impl ActionRecord {
    /// The idempotency key of `kind` on `target` for `incident`.
    pub fn key_for(incident: &IncidentId, kind: ActionKind, target: &Target) -> String {
        // FNV-1a over the parts: stable across runs, processes and platforms.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [
            incident.0.as_str(),
            kind.as_str(),
            target.kind.as_str(),
            &target.value.to_lowercase(),
        ] {
            for byte in part.bytes().chain([0xff]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("act-{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_keys_are_stable_per_incident_kind_and_target() {
        for kind in ActionKind::ALL {
            assert_eq!(ActionKind::parse(kind.as_str()), Some(kind));
        }
        for state in ActionState::ALL {
            assert_eq!(ActionState::parse(state.as_str()), Some(state));
        }
        let incident = IncidentId("inc-1".into());
        let host = |name: &str| Target {
            kind: TargetKind::Host,
            value: name.into(),
        };
        let key = ActionRecord::key_for(&incident, ActionKind::IsolateHost, &host("WS01"));
        assert_eq!(
            key,
            ActionRecord::key_for(&incident, ActionKind::IsolateHost, &host("ws01"))
        );
        assert_ne!(
            key,
            ActionRecord::key_for(&incident, ActionKind::IsolateHost, &host("ws02"))
        );
        assert_ne!(
            key,
            ActionRecord::key_for(
                &IncidentId("inc-2".into()),
                ActionKind::IsolateHost,
                &host("ws01")
            )
        );
        assert!(key.starts_with("act-") && key.len() == 20);
    }
}
