//! Signing in through the OpenID Connect provider: `/login/oidc` sends the browser there with
//! a fresh state (also kept in a short-lived cookie, `SameSite=Lax` so that it comes back with
//! the provider's redirect), and `/login/oidc/callback` takes the answer, starts the session
//! and continues from a page of this site (a `SameSite=Strict` session cookie is not sent
//! along a redirect chain that began on the provider's site). Every refusal is audited.

use super::pages::{continue_to, page, problem};
use super::session::{self, local_path};
use crate::api::Console;
use crate::oidc::{OidcError, STATE_COOKIE};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use garrison_model::Timestamp;
use serde::Deserialize;
use std::sync::Arc;

fn state_cookie(value: &str, max_age: u32) -> String {
    format!(
        "{STATE_COOKIE}={value}; Path=/login/oidc; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}"
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct Begin {
    next: Option<String>,
}

pub(super) async fn begin(
    State(console): State<Arc<Console>>,
    Query(begin): Query<Begin>,
) -> Response {
    let Some(oidc) = console.oidc.clone() else {
        return problem(StatusCode::NOT_FOUND, "Single sign-on is not set up here.");
    };
    match oidc.begin(&local_path(begin.next.as_deref())).await {
        Ok(begun) => {
            let mut response = Redirect::to(&begun.location).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&state_cookie(&begun.state, 600)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => {
            tracing::warn!("garrison serve: single sign-on: {error}");
            problem(
                StatusCode::BAD_GATEWAY,
                "The sign-in provider cannot be reached; try again shortly.",
            )
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Answer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub(super) async fn callback(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(answer): Query<Answer>,
) -> Response {
    let Some(oidc) = console.oidc.clone() else {
        return problem(StatusCode::NOT_FOUND, "Single sign-on is not set up here.");
    };
    let outcome = match (answer.error, answer.state, answer.code) {
        (Some(error), _, _) => Err(OidcError::Refused(
            error.chars().take(100).collect::<String>(),
        )),
        (None, Some(state), Some(code)) => {
            let cookie = session::cookie(&headers, STATE_COOKIE);
            oidc.finish(&state, cookie.as_deref(), &code).await
        }
        _ => Err(OidcError::UnknownState),
    };
    let refuse = |console: Arc<Console>,
                  detail: String,
                  status: StatusCode,
                  message: &'static str| async move {
        let _ = console
            .blocking(move |console| {
                console.refuse_sign_in(
                    "oidc",
                    &format!("single sign-on: {detail}"),
                    Timestamp::now(),
                )
            })
            .await;
        problem(status, message)
    };
    let (identity, next) = match outcome {
        Ok(found) => found,
        Err(OidcError::Provider(detail)) => {
            tracing::warn!("garrison serve: single sign-on: {detail}");
            return refuse(
                console,
                detail,
                StatusCode::BAD_GATEWAY,
                "The sign-in provider cannot be reached; try again shortly.",
            )
            .await;
        }
        Err(error) => {
            return refuse(
                console,
                error.to_string(),
                StatusCode::UNAUTHORIZED,
                "Single sign-on did not let you in; start again from the sign-in page.",
            )
            .await;
        }
    };
    let signed_in = console
        .blocking(move |console| console.sign_in_identity(&identity, Timestamp::now()))
        .await;
    match signed_in {
        Ok(secret) => {
            let mut response = page(continue_to(&next));
            for value in [session::session_cookie(&secret), state_cookie("", 0)] {
                if let Ok(cookie) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                }
            }
            response
        }
        Err(error) if error.code() == "forbidden" => problem(
            StatusCode::FORBIDDEN,
            "Single sign-on vouched for you, but this console does not let you in.",
        ),
        Err(error) => super::failed(error),
    }
}
