//! Working an incident: its status and assignee, and comments, each change audited under the
//! person's name.

use super::incidents::incident;
use super::{ApiError, ApiJson, ApiPath, Console, ErrorResponses, Principal};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use garrison_model::Timestamp;
use garrison_model::access::Role;
use garrison_model::case::{Case, CaseStatus, Comment};
use garrison_store::{AuditAction, AuditRecord};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What to change about an incident's case (neither: nothing changes).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseChange {
    pub status: Option<CaseStatus>,
    /// A user's name; empty to take it from whoever has it.
    #[schema(max_length = 64)]
    pub assignee: Option<String>,
}

/// A comment to write.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// 1 to 4,000 characters, not only spaces.
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    pub text: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommentList {
    pub comments: Vec<Comment>,
}

/// Applies `change` to incident `id`'s case as `principal` (shared with the console's pages).
pub(crate) fn change_case(
    console: &Console,
    principal: &Principal,
    id: &str,
    change: CaseChange,
) -> Result<Case, ApiError> {
    principal.require(Role::Analyst)?;
    let incident = incident(console, id)?;
    let mut case = console.store.case(id)?.unwrap_or(Case {
        incident: incident.id.clone(),
        status: CaseStatus::Open,
        assignee: None,
        updated_by: String::new(),
        updated: Timestamp::now(),
    });
    if change.status.is_none() && change.assignee.is_none() {
        return Ok(case);
    }
    let mut said = Vec::new();
    if let Some(status) = change.status {
        said.push(format!("status {} -> {status}", case.status));
        case.status = status;
    }
    if let Some(assignee) = change.assignee {
        let assignee = assignee.trim().to_owned();
        if assignee.is_empty() {
            said.push("unassigned".into());
            case.assignee = None;
        } else {
            let user = console
                .store
                .user(&assignee)?
                .filter(|user| !user.disabled)
                .ok_or_else(|| ApiError::conflict(format!("no user {assignee} in force")))?;
            said.push(format!("assigned to {}", user.name));
            case.assignee = Some(user.name);
        }
    }
    case.updated_by = principal.actor();
    case.updated = Timestamp::now();
    let audit = AuditRecord {
        actor: principal.actor(),
        action: AuditAction::IncidentUpdated,
        subject: incident.id.to_string(),
        detail: said.join("; "),
    };
    console.store.put_case(&case, &audit)?;
    Ok(case)
}

/// Writes `text` on incident `id` as `principal` (shared with the console's pages).
pub(crate) fn comment(
    console: &Console,
    principal: &Principal,
    id: &str,
    text: &str,
) -> Result<Comment, ApiError> {
    principal.require(Role::Analyst)?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 4000 {
        return Err(ApiError::invalid("a comment is 1 to 4,000 characters"));
    }
    let incident = incident(console, id)?;
    let comment = Comment {
        incident: incident.id.clone(),
        by: principal.actor(),
        at: Timestamp::now(),
        text: text.to_owned(),
    };
    let audit = AuditRecord {
        actor: principal.actor(),
        action: AuditAction::CommentAdded,
        subject: incident.id.to_string(),
        detail: format!("{} characters", text.chars().count()),
    };
    console.store.add_comment(&comment, &audit)?;
    Ok(comment)
}

/// Changes where work on an incident stands, or who has it.
#[utoipa::path(
    patch,
    path = "/api/v1/incidents/{id}",
    operation_id = "change_case",
    tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    request_body = CaseChange,
    responses((status = 200, description = "The case now", body = Case), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn change(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<CaseChange>,
) -> Result<Json<Case>, ApiError> {
    principal.require(Role::Analyst)?;
    console
        .blocking(move |console| change_case(console, &principal, &id, change).map(Json))
        .await
}

/// The comments on an incident, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/comments",
    operation_id = "list_comments",
    tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    responses((status = 200, description = "The comments", body = CommentList), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn comments(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CommentList>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| {
            let incident = incident(console, &id)?;
            Ok(Json(CommentList {
                comments: console.store.comments(&incident.id.0)?,
            }))
        })
        .await
}

/// Writes a comment on an incident.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/comments",
    operation_id = "add_comment",
    tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    request_body = NewComment,
    responses((status = 201, description = "The comment", body = Comment), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn add_comment(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(new): ApiJson<NewComment>,
) -> Result<(StatusCode, Json<Comment>), ApiError> {
    principal.require(Role::Analyst)?;
    console
        .blocking(move |console| {
            comment(console, &principal, &id, &new.text).map(|c| (StatusCode::CREATED, Json(c)))
        })
        .await
}
