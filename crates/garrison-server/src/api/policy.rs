//! The rules of engagement: the Cedar policy and the response settings in force, and a dry
//! run of what they would decide about an incident, with nothing recorded.

use super::{ApiError, ApiJson, Console, ErrorResponses, Principal};
use axum::Json;
use axum::extract::State;
use garrison_model::access::Role;
use garrison_model::action::{ActionKind, ActionRecord, Autonomy, Target};
use garrison_model::{Level, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A playbook: what it calls for, and when.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlaybookView {
    pub name: String,
    /// Incidents showing one of these ATT&CK tactics (any when empty).
    pub tactics: Vec<String>,
    pub min_severity: Level,
    pub min_confidence: f64,
    pub escalated_only: bool,
    pub actions: Vec<ActionKind>,
}

/// A connector, without where it points or its credential.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectorView {
    pub name: String,
    /// `edr`, `okta`, `blocklist`, `webhook`, ...
    pub kind: String,
    pub actions: Vec<ActionKind>,
    /// Describes requests, sends nothing.
    pub dry_run: bool,
}

/// A period during which nothing is done alone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Freeze {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// The rules of engagement in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// The policy file, or `shipped` for the policy Garrison ships.
    pub source: String,
    /// Policies in the set.
    pub policies: usize,
    /// The Cedar text.
    pub text: String,
    /// How far Garrison may go alone, per action kind.
    pub autonomy: Vec<KindAutonomy>,
    /// Targets never acted on without a person, whatever the policy says.
    pub protected: Vec<Target>,
    /// Whether the kill switch holds every automatic action back.
    pub kill_switch: bool,
    /// The time zone business hours are counted in.
    pub time_zone: String,
    /// Weekdays counted as business days (1 Monday .. 7 Sunday).
    pub business_days: Vec<u8>,
    /// Business hours, from (inclusive) to (exclusive).
    pub business_hours: [u8; 2],
    pub change_freezes: Vec<Freeze>,
    /// Awaiting approvals expire after this many seconds.
    pub approval_expiry_seconds: u64,
    /// At most this many targets per action kind per incident.
    pub max_targets: usize,
    pub playbooks: Vec<PlaybookView>,
    pub connectors: Vec<ConnectorView>,
}

/// One action kind's autonomy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KindAutonomy {
    pub action: ActionKind,
    pub autonomy: Autonomy,
}

/// What to decide about: an incident, and one action on one target or (none given) whatever
/// the playbooks call for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyCheck {
    #[schema(min_length = 1, max_length = 200)]
    pub incident: String,
    pub action: Option<OneAction>,
    /// Decide as if verification never came back (default false).
    pub unverified: Option<bool>,
}

/// One action and its target, of the kind the action is done to (a host for `isolate_host`,
/// a user for `disable_user`, ...).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OneAction {
    pub kind: ActionKind,
    /// The target's name: 1 to 1,000 characters, not only spaces.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub target: String,
}

/// What would be decided, recorded nowhere.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyDecisions {
    pub incident: String,
    /// One per action: its state, the policy's verdict, the autonomy and every reason.
    pub decisions: Vec<ActionRecord>,
}

/// The rules of engagement as the console's responder holds them (shared with the pages).
pub(crate) fn policy_view(console: &Console) -> Result<PolicyView, ApiError> {
    let responder = console.responder()?;
    let config = responder.config();
    let policy = responder.policy();
    Ok(PolicyView {
        source: config
            .policy
            .as_ref()
            .map_or_else(|| "shipped".to_owned(), |path| path.display().to_string()),
        policies: policy.len(),
        text: policy.text().to_owned(),
        autonomy: ActionKind::ALL
            .into_iter()
            .map(|action| KindAutonomy {
                action,
                autonomy: config.autonomy_of(action),
            })
            .collect(),
        protected: config.protected.clone(),
        kill_switch: console.store.kill_switch()?,
        time_zone: config
            .time_zone
            .iana_name()
            .unwrap_or("UTC offset")
            .to_owned(),
        business_days: config.business_days.clone(),
        business_hours: [config.business_hours.0, config.business_hours.1],
        change_freezes: config
            .change_freezes
            .iter()
            .map(|&(from, to)| Freeze { from, to })
            .collect(),
        approval_expiry_seconds: config.approval_expiry.as_secs(),
        max_targets: config.max_targets,
        playbooks: config
            .playbooks
            .iter()
            .map(|playbook| PlaybookView {
                name: playbook.name.clone(),
                tactics: playbook.tactics.clone(),
                min_severity: playbook.min_severity,
                min_confidence: playbook.min_confidence,
                escalated_only: playbook.escalated_only,
                actions: playbook.actions.clone(),
            })
            .collect(),
        connectors: config
            .connectors
            .iter()
            .map(|connector| ConnectorView {
                name: connector.name.clone(),
                kind: connector.kind.as_str().to_owned(),
                actions: connector.actions.clone(),
                dry_run: connector.dry_run,
            })
            .collect(),
    })
}

/// What the rules of engagement would decide about `check` now (shared with the pages).
pub(crate) fn dry_run(console: &Console, check: PolicyCheck) -> Result<PolicyDecisions, ApiError> {
    let responder = console.responder()?;
    let incident = super::incidents::incident(console, &check.incident)?;
    let stalled = check.unverified.unwrap_or(false);
    let now = Timestamp::now();
    let decisions = match check.action {
        Some(OneAction { kind, target }) => {
            let value = target.trim();
            if value.is_empty() || value.chars().count() > 1000 {
                return Err(ApiError::invalid("a target is 1 to 1,000 characters"));
            }
            let target = Target {
                kind: kind.target_kind(),
                value: value.to_owned(),
            };
            vec![responder.assess(&incident, stalled, kind, target, now)?]
        }
        None => responder.dry_run(&incident, stalled, now)?,
    };
    Ok(PolicyDecisions {
        incident: incident.id.0,
        decisions,
    })
}

/// The rules of engagement in force: the Cedar policy, autonomy per action kind, protected
/// targets, business hours and change freezes, playbooks and connectors (no credentials).
#[utoipa::path(
    get,
    path = "/api/v1/policy",
    operation_id = "get_policy",
    tag = "policy",
    responses((status = 200, description = "The rules of engagement", body = PolicyView), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn view(
    State(console): State<Arc<Console>>,
    principal: Principal,
) -> Result<Json<PolicyView>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(|console| policy_view(console).map(Json))
        .await
}

/// What the rules of engagement would decide about an incident now: one action on one target,
/// or whatever the playbooks call for. A dry run: nothing is recorded or carried out.
#[utoipa::path(
    post,
    path = "/api/v1/policy/check",
    operation_id = "check_policy",
    tag = "policy",
    request_body = PolicyCheck,
    responses((status = 200, description = "The decisions, recorded nowhere", body = PolicyDecisions), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn check(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiJson(check): ApiJson<PolicyCheck>,
) -> Result<Json<PolicyDecisions>, ApiError> {
    principal.require(Role::Analyst)?;
    console
        .blocking(move |console| dry_run(console, check).map(Json))
        .await
}
