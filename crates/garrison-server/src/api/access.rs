//! Administration of who may come in: users and API tokens (never their secrets). Making
//! users and tokens stays on the command line, where a password is typed, not sent.

use super::{ApiError, ApiPath, Console, ErrorResponses, Principal};
use axum::Json;
use axum::extract::State;
use garrison_model::Timestamp;
use garrison_model::access::Role;
use garrison_store::{AuditAction, AuditRecord};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub name: String,
    pub role: Role,
    pub created: Timestamp,
    pub disabled: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub user: String,
    pub role: Role,
    pub label: Option<String>,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
    pub revoked: Option<Timestamp>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// Every user.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    operation_id = "list_users",
    tag = "access",
    responses((status = 200, description = "The users", body = UserList), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn users(
    State(console): State<Arc<Console>>,
    principal: Principal,
) -> Result<Json<UserList>, ApiError> {
    principal.require(Role::Admin)?;
    console
        .blocking(|console| {
            let users = console
                .store
                .users()?
                .into_iter()
                .map(|user| UserView {
                    name: user.name,
                    role: user.role,
                    created: user.created,
                    disabled: user.disabled,
                })
                .collect();
            Ok(Json(UserList { users }))
        })
        .await
}

fn view(token: garrison_store::TokenRecord) -> TokenView {
    TokenView {
        id: token.id,
        user: token.user,
        role: token.role,
        label: token.label,
        created: token.created,
        expires: token.expires,
        revoked: token.revoked,
    }
}

/// Every API token, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    operation_id = "list_tokens",
    tag = "access",
    responses((status = 200, description = "The tokens", body = TokenList), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn tokens(
    State(console): State<Arc<Console>>,
    principal: Principal,
) -> Result<Json<TokenList>, ApiError> {
    principal.require(Role::Admin)?;
    console
        .blocking(|console| {
            let tokens = console.store.tokens()?.into_iter().map(view).collect();
            Ok(Json(TokenList { tokens }))
        })
        .await
}

/// Revokes an API token: it is refused from now on.
#[utoipa::path(
    post,
    path = "/api/v1/tokens/{id}/revoke",
    operation_id = "revoke_token",
    tag = "access",
    params(("id" = String, Path, description = "The token's id (its public part)")),
    responses((status = 200, description = "Revoked", body = TokenView), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn revoke_token(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenView>, ApiError> {
    principal.require(Role::Admin)?;
    console
        .blocking(move |console| {
            let audit = AuditRecord {
                actor: principal.actor(),
                action: AuditAction::AccessChanged,
                subject: format!("token:{id}"),
                detail: format!("token {id} revoked"),
            };
            if !console.store.revoke_token(&id, Timestamp::now(), &audit)? {
                return Err(match console.store.token(&id)? {
                    Some(_) => ApiError::conflict(format!("token {id} was revoked already")),
                    None => ApiError::not_found(format!("no token {id}")),
                });
            }
            let token = console
                .store
                .token(&id)?
                .ok_or_else(|| ApiError::not_found(format!("no token {id}")))?;
            Ok(Json(view(token)))
        })
        .await
}
