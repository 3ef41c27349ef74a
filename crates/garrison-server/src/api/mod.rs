//! The console's REST API, under `/api/v1`: incidents, evidence, response actions, verdicts,
//! the audit log and who may come in, for analysts' tools and the web console.
//!
//! Every route but the OpenAPI document and the health checks needs a bearer token
//! ([`Principal`]) and checks its role itself, first thing. The OpenAPI document is generated
//! from the handlers' annotations ([`ApiDoc`]). Store calls block, so handlers run them on
//! Tokio's blocking threads ([`Console::blocking`]).

mod access;
pub(crate) mod actions;
pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod cases;
mod error;
pub mod events;
pub(crate) mod evidence;
pub mod health;
pub(crate) mod incidents;
pub(crate) mod policy;
mod principal;
pub(crate) mod rules;

pub use axum::Router;
pub use error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody, ErrorDetail, ErrorResponses};
pub use principal::Principal;

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use garrison_agents::respond::Responder;
use garrison_store::Store;
use serde::Serialize;
use std::sync::Arc;
use utoipa::OpenApi;

/// What the API and the console's pages serve from.
pub struct Console {
    pub store: Arc<dyn Store>,
    /// Decides on response actions as the person asking; none when the server runs without
    /// response configuration (approvals then answer 503).
    pub responder: Option<Responder>,
    pub(crate) sign_ins: crate::console::session::SignInBrake,
    /// The Argon2id hash checked when someone signs in with an unknown name, so that the time
    /// a refusal takes says nothing about which names exist.
    pub(crate) decoy_hash: String,
    /// What the process reports about its agents, queues and counters (none: empty).
    pub(crate) health: Option<Arc<dyn health::Health>>,
    pub(crate) started: std::time::Instant,
    /// Incident versions announced to watchers.
    pub(crate) feed: events::Feed,
    /// The detection rules the server runs and their switches (none: rule routes answer 503).
    pub(crate) rules: Option<Arc<crate::rules::RuleBook>>,
    /// What analysts' verdicts say of each rule (none: no precision shown).
    pub(crate) precision: Option<Arc<garrison_agents::feedback::LivePrecision>>,
    /// Single sign-on (none: local users only).
    pub(crate) oidc: Option<Arc<crate::oidc::Oidc>>,
    /// Readings of the agents' counters, for their rates.
    pub(crate) throughput: health::Throughput,
}

impl Console {
    pub fn new(
        store: Arc<dyn Store>,
        responder: Option<Responder>,
    ) -> Result<Console, crate::auth::CredentialError> {
        let (decoy, _) = crate::auth::new_secret()?;
        Ok(Console {
            store,
            responder,
            sign_ins: Default::default(),
            decoy_hash: crate::auth::hash_password(&decoy)?,
            health: None,
            started: std::time::Instant::now(),
            feed: events::Feed::default(),
            rules: None,
            precision: None,
            oidc: None,
            throughput: Default::default(),
        })
    }

    /// Where incident versions are announced to watchers.
    pub fn feed(&self) -> &events::Feed {
        &self.feed
    }

    /// The same console announcing what `feed` carries on `/api/v1/events`.
    pub fn with_feed(mut self, feed: events::Feed) -> Console {
        self.feed = feed;
        self
    }

    /// The same console showing and switching `rules`, with the precision analysts' verdicts
    /// give them.
    pub fn with_rules(
        mut self,
        rules: Arc<crate::rules::RuleBook>,
        precision: Option<Arc<garrison_agents::feedback::LivePrecision>>,
    ) -> Console {
        self.rules = Some(rules);
        self.precision = precision;
        self
    }

    /// The same console letting people sign in through `oidc` too.
    pub fn with_oidc(mut self, oidc: Arc<crate::oidc::Oidc>) -> Console {
        self.oidc = Some(oidc);
        self
    }

    /// The rules it shows (none: the server runs without).
    pub fn rules(&self) -> Option<&Arc<crate::rules::RuleBook>> {
        self.rules.as_ref()
    }

    /// The same console reporting `health` on `/api/v1/agents` and `/metrics`.
    pub fn with_health(mut self, health: Arc<dyn health::Health>) -> Console {
        self.health = Some(health);
        self
    }

    /// Runs `work` on a blocking thread (store calls block) and hands its answer back.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Console>,
        work: impl FnOnce(&Console) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let console = self.clone();
        tokio::task::spawn_blocking(move || work(&console))
            .await
            .map_err(ApiError::internal)?
    }

    fn responder(&self) -> Result<&Responder, ApiError> {
        self.responder
            .as_ref()
            .ok_or_else(|| ApiError::unavailable("this server runs without a response agent"))
    }
}

/// The API's routes.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(principal::me))
        .route("/api/v1/incidents", get(incidents::list))
        .route(
            "/api/v1/incidents/{id}",
            get(incidents::detail).patch(cases::change),
        )
        .route(
            "/api/v1/incidents/{id}/comments",
            get(cases::comments).post(cases::add_comment),
        )
        .route("/api/v1/incidents/{id}/verdict", post(incidents::verdict))
        .route(
            "/api/v1/incidents/{id}/acknowledge",
            post(incidents::acknowledge),
        )
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/evidence/{id}", get(incidents::evidence))
        .route("/api/v1/evidence/{id}/original", get(evidence::original))
        .route("/api/v1/entities/{kind}/{name}", get(evidence::entity))
        .route("/api/v1/actions", get(actions::list))
        .route("/api/v1/actions/{key}", get(actions::detail))
        .route("/api/v1/actions/{key}/approve", post(actions::approve))
        .route("/api/v1/actions/{key}/reject", post(actions::reject))
        .route("/api/v1/actions/{key}/modify", post(actions::modify_action))
        .route("/api/v1/rules", get(rules::list))
        .route(
            "/api/v1/rules/{id}",
            get(rules::detail).patch(rules::change),
        )
        .route("/api/v1/policy", get(policy::view))
        .route("/api/v1/policy/check", post(policy::check))
        .route("/api/v1/audit", get(audit::entries))
        .route("/api/v1/audit/verify", get(audit::verify))
        .route("/api/v1/users", get(access::users))
        .route("/api/v1/tokens", get(access::tokens))
        .route("/api/v1/tokens/{id}/revoke", post(access::revoke_token))
        .route("/api/v1/events", get(events::events))
        .route("/api/v1/agents", get(health::agents))
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(liveness))
        .route("/readyz", get(readiness))
        .fallback(not_found)
        .with_state(console)
}

/// Calls `router` in-process, without a socket (for benchmarks) with `headers`: the status
/// and the body.
pub async fn call_local(
    router: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), String> {
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(axum::body::Body::empty())
        .map_err(|error| error.to_string())?;
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|error| error.to_string())?;
    Ok((status, body.to_vec()))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Whether the process serves.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok`.
    pub status: String,
}

/// The process is up (no credentials needed).
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health",
    tag = "operations",
    responses((status = 200, description = "Up", body = Status))
)]
pub async fn liveness() -> Json<Status> {
    Json(Status {
        status: "ok".into(),
    })
}

/// The process can serve requests: its store answers (no credentials needed).
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "ready",
    tag = "operations",
    responses((status = 200, description = "Ready", body = Status), (status = 503, description = "The store does not answer", body = ErrorBody))
)]
pub async fn readiness(State(console): State<Arc<Console>>) -> Result<Json<Status>, ApiError> {
    console
        .blocking(|console| {
            console.store.audit_head()?;
            Ok(Json(Status {
                status: "ok".into(),
            }))
        })
        .await
}

/// The API's description, OpenAPI 3.1 (no credentials needed).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi_document",
    tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Declares the bearer scheme every protected route names.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("gar_ID_SECRET")
                    .description(Some(
                        "An API token from `garrison token create` (hashed at rest, revocable)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document, generated from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Garrison API",
        description = "Incidents, evidence, response actions, verdicts and the audit log of a Garrison deployment.",
        version = "1"
    ),
    paths(
        openapi,
        liveness,
        readiness,
        principal::me,
        incidents::list,
        incidents::detail,
        incidents::verdict,
        incidents::acknowledge,
        alerts::list,
        incidents::evidence,
        evidence::original,
        evidence::entity,
        cases::change,
        cases::comments,
        cases::add_comment,
        actions::list,
        actions::detail,
        actions::approve,
        actions::reject,
        actions::modify_action,
        rules::list,
        rules::detail,
        rules::change,
        policy::view,
        policy::check,
        audit::entries,
        audit::verify,
        access::users,
        access::tokens,
        access::revoke_token,
        health::agents,
        health::metrics,
        events::events,
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "incidents", description = "The queue, incidents, their evidence and verdicts"),
        (name = "actions", description = "Response actions and approvals"),
        (name = "rules", description = "Detection rules: switches and precision"),
        (name = "policy", description = "The rules of engagement, and dry runs of their decisions"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "access", description = "Who is asking; users and tokens (admin)"),
        (name = "operations", description = "Health and this document"),
    )
)]
pub struct ApiDoc;
