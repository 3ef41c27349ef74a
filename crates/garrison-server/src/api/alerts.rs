//! Alerts across incidents: by rule, level and time, newest first, a page at a time, each
//! with the incident holding it.

use super::{ApiError, ApiQuery, Console, ErrorResponses, Principal};
use axum::Json;
use axum::extract::State;
use garrison_model::access::Role;
use garrison_model::queue::IncidentAlert;
use garrison_model::{Level, Timestamp};
use garrison_store::AlertQuery;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which alerts, and which page of them.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertFilter {
    /// Only alerts of this rule (its id).
    pub rule: Option<String>,
    /// Only alerts of this incident.
    pub incident: Option<String>,
    /// Only alerts at least this severe.
    pub min_level: Option<Level>,
    /// Only alerts at or before this time.
    pub until: Option<Timestamp>,
    /// Also alerts of incidents merged into others (the merger holds them too).
    pub superseded: Option<bool>,
    /// Where the previous page ended (its `next`).
    #[param(pattern = "^-?[0-9]{1,18}\\.[0-9]{1,18}$")]
    pub after: Option<String>,
    /// Alerts per page (1 to 500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A page of alerts, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertList {
    pub alerts: Vec<IncidentAlert>,
    /// Give this as `after` for the next (older) page; none when this page is the last.
    pub next: Option<String>,
}

/// The alerts `filter` asks for (shared with the console's pages).
pub(crate) fn alert_list(console: &Console, filter: AlertFilter) -> Result<AlertList, ApiError> {
    let (after, limit) = super::evidence::page_of(filter.after.as_deref(), filter.limit, 100)?;
    let blank = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
    let page = console.store.alerts(&AlertQuery {
        rule_id: blank(filter.rule),
        incident: blank(filter.incident),
        min_level: filter.min_level,
        until: filter.until,
        after,
        superseded: filter.superseded.unwrap_or(false),
        limit: limit as usize,
    })?;
    Ok(AlertList {
        alerts: page.alerts,
        next: page.next.map(|cursor| cursor.to_string()),
    })
}

/// Alerts across incidents, newest first: by rule, incident, level and time.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    operation_id = "list_alerts",
    tag = "incidents",
    params(AlertFilter),
    responses((status = 200, description = "A page of alerts", body = AlertList), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn list(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<AlertFilter>,
) -> Result<Json<AlertList>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| alert_list(console, filter).map(Json))
        .await
}
