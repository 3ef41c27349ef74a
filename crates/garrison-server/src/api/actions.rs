//! Response actions: the approvals queue and what responders decide about an action. The
//! responder the server runs with does the deciding (compare-and-set in the store, audited
//! as the person asking); the response agent carries approved actions out on its next tick.

use super::{ApiError, ApiJson, ApiPath, ApiQuery, Console, ErrorResponses, Principal};
use axum::Json;
use axum::extract::State;
use garrison_agents::respond::Answer;
use garrison_model::Timestamp;
use garrison_model::access::Role;
use garrison_model::action::{ActionRecord, ActionState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which actions.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionFilter {
    /// Only actions in this state (`awaiting_approval` is the approvals inbox).
    pub state: Option<ActionState>,
    /// At most this many (1 to 500, default 100), highest priority first.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionList {
    pub actions: Vec<ActionRecord>,
}

/// Why a responder rejects an action.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// For the record (1 to 2,000 characters, not only spaces).
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub reason: String,
}

/// The target a responder puts in place of an action's (the same kind of thing: another host,
/// another user, ...).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifyRequest {
    /// The new target's value (1 to 512 characters, not only spaces).
    #[schema(min_length = 1, max_length = 512, pattern = "\\S")]
    pub value: String,
}

/// An action replaced: the original (rejected) and what replaced it, as the rules of
/// engagement decided on the new target (approved by the responder unless denied).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModifyOutcome {
    pub original: ActionOutcome,
    pub replacement: ActionRecord,
}

/// Where an action stands after a decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionOutcome {
    pub key: String,
    pub state: ActionState,
}

/// Response actions, highest priority first.
#[utoipa::path(
    get,
    path = "/api/v1/actions",
    operation_id = "list_actions",
    tag = "actions",
    params(ActionFilter),
    responses((status = 200, description = "The actions", body = ActionList), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn list(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<ActionFilter>,
) -> Result<Json<ActionList>, ApiError> {
    principal.require(Role::Viewer)?;
    let limit = filter.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit must be from 1 to 500"));
    }
    console
        .blocking(move |console| {
            let states: Vec<ActionState> = filter.state.into_iter().collect();
            let actions = console.store.actions(&states, limit as usize)?;
            Ok(Json(ActionList { actions }))
        })
        .await
}

/// One action, with its policy decision and outcome.
#[utoipa::path(
    get,
    path = "/api/v1/actions/{key}",
    operation_id = "get_action",
    tag = "actions",
    params(("key" = String, Path, description = "The action's idempotency key")),
    responses((status = 200, description = "The action", body = ActionRecord), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn detail(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<ActionRecord>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| {
            console
                .store
                .action(&key)?
                .map(Json)
                .ok_or_else(|| ApiError::not_found(format!("no action {key}")))
        })
        .await
}

fn outcome(key: String, answer: Answer) -> Result<ActionOutcome, ApiError> {
    match answer {
        Answer::Done(state) => Ok(ActionOutcome { key, state }),
        Answer::NotApplicable(state) => Err(ApiError::conflict(format!(
            "action {key} is {state}: nothing to decide"
        ))),
        Answer::NoSuchAction => Err(ApiError::not_found(format!("no action {key}"))),
        Answer::Refused(reason) => Err(ApiError::conflict(reason)),
    }
}

/// Approves (no reason) or rejects (why) action `key` as `principal` (shared with the
/// console's pages).
pub(crate) fn decide(
    console: &Console,
    principal: &Principal,
    key: &str,
    reject: Option<&str>,
) -> Result<ActionOutcome, ApiError> {
    principal.require(Role::Responder)?;
    let responder = console.responder()?.acting_as(principal.actor());
    let answer = match reject {
        None => responder.approve(key, Timestamp::now())?,
        Some(reason) => {
            let reason = reason.trim();
            if reason.is_empty() || reason.chars().count() > 2000 {
                return Err(ApiError::invalid(
                    "the reason must be 1 to 2,000 characters",
                ));
            }
            responder.reject(key, reason, Timestamp::now())?
        }
    };
    outcome(key.to_owned(), answer)
}

/// Replaces action `key`'s target with `value` as `principal` (shared with the console's pages).
pub(crate) fn modify(
    console: &Console,
    principal: &Principal,
    key: &str,
    value: &str,
) -> Result<ModifyOutcome, ApiError> {
    principal.require(Role::Responder)?;
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 512 {
        return Err(ApiError::invalid("the new target is 1 to 512 characters"));
    }
    let record = console
        .store
        .action(key)?
        .ok_or_else(|| ApiError::not_found(format!("no action {key}")))?;
    let incident = super::incidents::incident(console, &record.incident.0)?;
    let target = garrison_model::action::Target {
        kind: record.target.kind,
        value: value.to_owned(),
    };
    let responder = console.responder()?.acting_as(principal.actor());
    let (answer, replacement) = responder.modify(key, target, &incident, Timestamp::now())?;
    let original = outcome(key.to_owned(), answer)?;
    let replacement =
        replacement.ok_or_else(|| ApiError::conflict(format!("action {key} was not replaced")))?;
    Ok(ModifyOutcome {
        original,
        replacement,
    })
}

/// Replaces the target of an action awaiting approval: the original is rejected, and the
/// rules of engagement decide on the new target (approved by the responder unless denied).
#[utoipa::path(
    post,
    path = "/api/v1/actions/{key}/modify",
    operation_id = "modify_action",
    tag = "actions",
    params(("key" = String, Path, description = "The action's idempotency key")),
    request_body = ModifyRequest,
    responses((status = 200, description = "Replaced", body = ModifyOutcome), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn modify_action(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
    ApiJson(request): ApiJson<ModifyRequest>,
) -> Result<Json<ModifyOutcome>, ApiError> {
    principal.require(Role::Responder)?;
    console
        .blocking(move |console| modify(console, &principal, &key, &request.value).map(Json))
        .await
}

/// Approves an action awaiting approval; the response agent carries it out.
#[utoipa::path(
    post,
    path = "/api/v1/actions/{key}/approve",
    operation_id = "approve_action",
    tag = "actions",
    params(("key" = String, Path, description = "The action's idempotency key")),
    responses((status = 200, description = "Approved", body = ActionOutcome), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn approve(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<ActionOutcome>, ApiError> {
    principal.require(Role::Responder)?;
    console
        .blocking(move |console| decide(console, &principal, &key, None).map(Json))
        .await
}

/// Rejects an action awaiting approval.
#[utoipa::path(
    post,
    path = "/api/v1/actions/{key}/reject",
    operation_id = "reject_action",
    tag = "actions",
    params(("key" = String, Path, description = "The action's idempotency key")),
    request_body = RejectRequest,
    responses((status = 200, description = "Rejected", body = ActionOutcome), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn reject(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(key): ApiPath<String>,
    ApiJson(request): ApiJson<RejectRequest>,
) -> Result<Json<ActionOutcome>, ApiError> {
    principal.require(Role::Responder)?;
    console
        .blocking(move |console| decide(console, &principal, &key, Some(&request.reason)).map(Json))
        .await
}
