//! Who is asking: the bearer token of a request, checked against the store (its digest, its
//! revocation and expiry, its user), and the role it holds: the lower of the token's and its
//! user's, so lowering a user's role lowers their tokens'.

use super::{ApiError, Console};
use crate::auth::{parse_token, secret_matches};
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use garrison_model::Timestamp;
use garrison_model::access::Role;
use serde::Serialize;
use std::sync::Arc;

/// The authenticated caller.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    /// The id of the token presented (its public part); none for a console session.
    pub token: Option<String>,
}

impl Principal {
    /// Refuses unless the caller's role allows `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::forbidden(needed, self.role))
        }
    }

    /// The caller as the audit log and the records name them.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user)
    }
}

/// The same answer for an unknown token and a wrong secret: a prober learns nothing.
fn not_valid() -> ApiError {
    ApiError::invalid_token("the token is not valid")
}

impl Console {
    /// The principal behind token `id` with `secret`, at `now`.
    pub fn authenticate(
        &self,
        id: &str,
        secret: &str,
        now: Timestamp,
    ) -> Result<Principal, ApiError> {
        let token = self.store.token(id)?.ok_or_else(not_valid)?;
        if !secret_matches(&token.digest, secret) {
            return Err(not_valid());
        }
        if token.revoked.is_some() {
            return Err(ApiError::invalid_token("the token was revoked"));
        }
        if token.expires.is_some_and(|expires| expires <= now) {
            return Err(ApiError::invalid_token("the token has expired"));
        }
        let user = self
            .store
            .user(&token.user)?
            .filter(|user| !user.disabled)
            .ok_or_else(|| ApiError::invalid_token("the token's user is disabled"))?;
        Ok(Principal {
            user: user.name,
            role: token.role.min(user.role),
            token: Some(token.id),
        })
    }
}

impl FromRequestParts<Arc<Console>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Principal, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(ApiError::unauthenticated)?;
        let presented = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, credentials) = value.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| credentials.trim())
            })
            .ok_or_else(|| ApiError::invalid_token("expected Authorization: Bearer gar_…"))?;
        let (id, secret) = parse_token(presented).ok_or_else(not_valid)?;
        let (id, secret) = (id.to_owned(), secret.to_owned());
        console
            .blocking(move |console| console.authenticate(&id, &secret, Timestamp::now()))
            .await
    }
}

/// The caller's identity and role.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "whoami",
    tag = "access",
    responses((status = 200, description = "The caller", body = Principal), super::ErrorResponses),
    security(("bearer" = []))
)]
pub async fn me(
    State(_console): State<Arc<Console>>,
    principal: Principal,
) -> Result<axum::Json<Principal>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(axum::Json(principal))
}
