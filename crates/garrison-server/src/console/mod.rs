//! The analysts' console: server-rendered pages over the same store and responder as the API
//! (the queue, an incident with its reasoning and evidence, approvals, the audit log), for
//! people signed in with a password ([`session`]). Reading needs a session; every form post
//! also needs the session's CSRF token and a same-origin request; every handler checks the
//! role, as the API's do (it calls the same functions). Every answer carries a strict content
//! security policy: scripts and styles from this site only (one small script: the queue's
//! notice of incident updates), no framing.

mod pages;
pub mod session;
mod sso;
mod tuning;

use crate::api::{ApiError, Console, Principal, actions, audit, incidents};
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use garrison_model::Timestamp;
use garrison_model::access::Role;
use garrison_model::action::ActionState;
use pages::{QueueForm, page, problem};
use serde::Deserialize;
use session::Signed;
use std::sync::Arc;

const STYLESHEET: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

/// The whole console: the pages and the API, each request logged (`access_log`).
pub fn router(console: Arc<Console>) -> Router {
    pages_router()
        .with_state(console.clone())
        .merge(crate::api::router(console))
        .layer(axum::middleware::from_fn(access_log))
}

/// One event per request, target `garrison_server::access`: method, path (never the query,
/// which holds what people searched for), status and the time to the answer's head.
async fn access_log(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    tracing::info!(
        target: "garrison_server::access",
        method = %method,
        path = %path,
        status,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "{method} {path} {status}"
    );
    response
}

fn pages_router() -> Router<Arc<Console>> {
    Router::new()
        .route("/", get(queue))
        .route("/login", get(login_page).post(login))
        .route("/login/oidc", get(sso::begin))
        .route("/login/oidc/callback", get(sso::callback))
        .route("/logout", post(logout))
        .route("/incidents/{id}", get(incident))
        .route("/incidents/{id}/verdict", post(verdict))
        .route("/incidents/{id}/acknowledge", post(acknowledge))
        .route("/incidents/{id}/case", post(change_case))
        .route("/incidents/{id}/comments", post(add_comment))
        .route("/evidence/{id}", get(evidence))
        .route("/approvals", get(approvals))
        .route("/actions/{key}/approve", post(approve))
        .route("/actions/{key}/reject", post(reject))
        .route("/actions/{key}/modify", post(modify))
        .route("/rules", get(tuning::rules))
        .route("/rules/{id}/switch", post(tuning::switch))
        .route("/policy", get(tuning::policy))
        .route("/entities/{kind}/{name}", get(tuning::entity))
        .route("/audit", get(audit_log))
        .route("/agents", get(agents))
        .route("/events", get(live))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .layer(axum::middleware::map_response(protect))
}

/// Headers every console answer carries.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// Incident updates for the signed-in person's pages (server-sent events).
async fn live(State(console): State<Arc<Console>>, signed: Signed) -> Response {
    if let Err(error) = signed.principal.require(Role::Viewer) {
        return failed(error);
    }
    crate::api::events::stream(&console.feed).into_response()
}

/// An API error as a page.
fn failed(error: ApiError) -> Response {
    let message = match error.code() {
        "forbidden" => "Your role does not allow this.",
        "not_found" => "There is no such thing here.",
        "conflict" => "This was decided already, or cannot be done in its present state.",
        "invalid_request" => "The form was not filled in as it needs to be.",
        "unavailable" | "busy" => "The server cannot do this now; try again shortly.",
        _ => "The server failed to do this; its log has the cause.",
    };
    problem(error.status(), message)
}

/// Runs `work` on a blocking thread, its error as a page.
async fn run<T: Send + 'static>(
    console: &Arc<Console>,
    work: impl FnOnce(&Console) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Response> {
    console.blocking(work).await.map_err(failed)
}

/// A page for `signed`: refused below the viewer role; otherwise `work` runs on a blocking
/// thread and `render` draws what it found.
async fn show<T: Send + 'static>(
    console: &Arc<Console>,
    signed: &Signed,
    work: impl FnOnce(&Console) -> Result<T, ApiError> + Send + 'static,
    render: impl FnOnce(&Signed, T) -> maud::Markup,
) -> Response {
    if let Err(error) = signed.principal.require(Role::Viewer) {
        return failed(error);
    }
    match run(console, work).await {
        Ok(found) => page(render(signed, found)),
        Err(response) => response,
    }
}

/// A form post of `signed`'s: refused without the session's token or from another site;
/// otherwise `work` runs as the signed-in person and the browser goes back to `back`.
async fn post_form<T: Send + 'static>(
    console: &Arc<Console>,
    signed: &Signed,
    headers: &HeaderMap,
    csrf: &str,
    back: String,
    work: impl FnOnce(&Console, &Principal) -> Result<T, ApiError> + Send + 'static,
) -> Response {
    if let Some(refused) = signed.refusal(headers, csrf) {
        return refused;
    }
    let principal = signed.principal.clone();
    match run(console, move |console| work(console, &principal)).await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(response) => response,
    }
}

async fn queue(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(form): Query<QueueForm>,
) -> Response {
    let filter = incidents::IncidentFilter {
        min_severity: form
            .min_severity
            .as_deref()
            .and_then(|level| level.parse().ok()),
        escalated: form
            .escalated
            .as_deref()
            .and_then(|value| value.parse().ok()),
        host: form.host.clone(),
        user: form.user.clone(),
        q: form.q.clone(),
        superseded: None,
        status: form
            .status
            .as_deref()
            .and_then(garrison_model::case::CaseStatus::parse),
        assignee: form.assignee.clone(),
        limit: Some(50),
        offset: form.offset,
    };
    show(
        &console,
        &signed,
        move |console| incidents::queue_page(console, filter),
        |signed, found| pages::queue(signed, &form, &found),
    )
    .await
}

#[derive(Debug, Deserialize)]
struct Next {
    next: Option<String>,
}

async fn login_page(State(console): State<Arc<Console>>, Query(next): Query<Next>) -> Response {
    page(pages::login(
        &session::local_path(next.next.as_deref()),
        None,
        console.oidc.is_some(),
    ))
}

#[derive(Deserialize)]
struct SignInForm {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = session::local_path(form.next.as_deref());
    if !session::same_origin(&headers) {
        return problem(
            StatusCode::FORBIDDEN,
            "This sign-in did not come from this console.",
        );
    }
    let signed_in = console
        .blocking(move |console| console.sign_in(&form.user, &form.password, Timestamp::now()))
        .await;
    match signed_in {
        Ok(secret) => {
            let mut response = Redirect::to(&next).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&session::session_cookie(&secret)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) if error.code() == "invalid_token" => (
            StatusCode::UNAUTHORIZED,
            page(pages::login(
                &next,
                Some("The name or the password is wrong."),
                console.oidc.is_some(),
            )),
        )
            .into_response(),
        Err(error) => failed(error),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
    back: Option<String>,
}

async fn logout(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = signed.refusal(&headers, &form.csrf) {
        return refused;
    }
    match run(&console, move |console| {
        console.sign_out(&signed, Timestamp::now())
    })
    .await
    {
        Ok(()) => {
            let mut response = Redirect::to("/login").into_response();
            if let Ok(cookie) = HeaderValue::from_str(&session::cleared_cookie()) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(response) => response,
    }
}

async fn incident(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    show(
        &console,
        &signed,
        move |console| incidents::detail_of(console, &id),
        |signed, detail| pages::incident(signed, &detail),
    )
    .await
}

async fn evidence(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    show(
        &console,
        &signed,
        move |console| {
            let record = incidents::evidence_record(console, &id)?;
            let original = crate::api::evidence::original_of(record.id, record.source.clone());
            Ok((record, original))
        },
        |signed, (record, original)| pages::evidence(signed, &record, &original),
    )
    .await
}

#[derive(Deserialize)]
struct VerdictForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    verdict: String,
    note: Option<String>,
}

async fn verdict(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<VerdictForm>,
) -> Response {
    let Some(verdict) = garrison_model::feedback::AnalystVerdict::parse(&form.verdict) else {
        return match signed.refusal(&headers, &form.csrf) {
            Some(refused) => refused,
            None => failed(ApiError::invalid("unknown verdict")),
        };
    };
    let request = incidents::VerdictRequest {
        verdict,
        note: form.note,
    };
    let back = format!("/incidents/{id}");
    post_form(
        &console,
        &signed,
        &headers,
        &form.csrf,
        back,
        move |console, principal| incidents::record_verdict(console, principal, &id, request),
    )
    .await
}

async fn acknowledge(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let back = format!("/incidents/{id}");
    post_form(
        &console,
        &signed,
        &headers,
        &form.csrf,
        back,
        move |console, principal| incidents::acknowledge_incident(console, principal, &id),
    )
    .await
}

#[derive(Deserialize)]
struct CaseForm {
    #[serde(default)]
    csrf: String,
    status: Option<String>,
    assignee: Option<String>,
}

async fn change_case(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CaseForm>,
) -> Response {
    let status = form.status.filter(|status| !status.is_empty());
    let back = format!("/incidents/{id}");
    post_form(
        &console,
        &signed,
        &headers,
        &form.csrf,
        back,
        move |console, principal| {
            let status = status
                .map(|text| {
                    garrison_model::case::CaseStatus::parse(&text)
                        .ok_or_else(|| ApiError::invalid("unknown status"))
                })
                .transpose()?;
            let change = crate::api::cases::CaseChange {
                status,
                assignee: form.assignee,
            };
            crate::api::cases::change_case(console, principal, &id, change)
        },
    )
    .await
}

#[derive(Deserialize)]
struct CommentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

async fn add_comment(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Response {
    let back = format!("/incidents/{id}");
    post_form(
        &console,
        &signed,
        &headers,
        &form.csrf,
        back,
        move |console, principal| crate::api::cases::comment(console, principal, &id, &form.text),
    )
    .await
}

async fn approvals(State(console): State<Arc<Console>>, signed: Signed) -> Response {
    show(
        &console,
        &signed,
        |console| {
            Ok(console
                .store
                .actions(&[ActionState::AwaitingApproval], 500)?)
        },
        |signed, actions| pages::approvals(signed, &actions),
    )
    .await
}

#[derive(Deserialize)]
struct RejectForm {
    #[serde(default)]
    csrf: String,
    back: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn approve(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(key): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    decide(console, signed, headers, key, form.csrf, form.back, None).await
}

async fn reject(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(key): Path<String>,
    Form(form): Form<RejectForm>,
) -> Response {
    decide(
        console,
        signed,
        headers,
        key,
        form.csrf,
        form.back,
        Some(form.reason),
    )
    .await
}

#[derive(Deserialize)]
struct ModifyForm {
    #[serde(default)]
    csrf: String,
    back: Option<String>,
    #[serde(default)]
    value: String,
}

async fn modify(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(key): Path<String>,
    Form(form): Form<ModifyForm>,
) -> Response {
    let back = session::local_path(form.back.as_deref());
    post_form(
        &console,
        &signed,
        &headers,
        &form.csrf,
        back,
        move |console, principal| actions::modify(console, principal, &key, &form.value),
    )
    .await
}

async fn decide(
    console: Arc<Console>,
    signed: Signed,
    headers: HeaderMap,
    key: String,
    csrf: String,
    back: Option<String>,
    reason: Option<String>,
) -> Response {
    let back = session::local_path(back.as_deref());
    post_form(
        &console,
        &signed,
        &headers,
        &csrf,
        back,
        move |console, principal| actions::decide(console, principal, &key, reason.as_deref()),
    )
    .await
}

async fn agents(State(console): State<Arc<Console>>, signed: Signed) -> Response {
    show(
        &console,
        &signed,
        |console| Ok(console.agents_report()),
        |signed, report| pages::agents(signed, &report),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
struct AuditForm {
    from: Option<u64>,
    actor: Option<String>,
    action: Option<String>,
    subject: Option<String>,
}

/// Entries per audit page.
const AUDIT_PAGE: u64 = 100;

async fn audit_log(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(form): Query<AuditForm>,
) -> Response {
    let filtered = [&form.actor, &form.action, &form.subject]
        .iter()
        .any(|value| value.as_deref().is_some_and(|value| !value.is_empty()));
    // The filters, kept in the link to the next page.
    let kept: String = [
        ("actor", &form.actor),
        ("action", &form.action),
        ("subject", &form.subject),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        value
            .as_deref()
            .filter(|value| !value.is_empty())
            .map(|value| format!("&{name}={}", crate::url::query_value(value)))
    })
    .collect();
    show(
        &console,
        &signed,
        move |console| {
            // Unfiltered, the newest page first; filtered, the matches from the start.
            let from = match (form.from, filtered) {
                (Some(from), _) => from,
                (None, true) => 1,
                (None, false) => console
                    .store
                    .audit_head()?
                    .map_or(1, |head| head.seq.saturating_sub(AUDIT_PAGE - 1).max(1)),
            };
            let filter = audit::AuditFilter {
                from: Some(from),
                limit: Some(AUDIT_PAGE as u32),
                actor: form.actor,
                action: form.action,
                subject: form.subject,
            };
            let mut page = audit::audit_page(console, &filter)?;
            let verification = audit::verification(console)?;
            let older = (!filtered && from > 1)
                .then(|| format!("/audit?from={}", from.saturating_sub(AUDIT_PAGE).max(1)));
            let next = if filtered {
                page.next.map(|next| format!("/audit?from={next}{kept}"))
            } else {
                page.entries.reverse();
                older
            };
            Ok((page, verification, next))
        },
        |signed, (found, verification, next)| pages::audit(signed, &found, &verification, next),
    )
    .await
}
