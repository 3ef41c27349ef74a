//! Incidents: the queue (sorted by criticality, filtered, paged), one incident with its
//! actions, acknowledgement and verdicts, the evidence it cites, and what analysts do to it
//! (take it on, record a verdict).

use super::{ApiError, ApiJson, ApiPath, ApiQuery, Console, ErrorResponses, Principal};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use garrison_model::access::Role;
use garrison_model::action::ActionRecord;
use garrison_model::feedback::{AnalystVerdict, VerdictRecord, VerdictSubject};
use garrison_model::queue::{IncidentQuery, IncidentSummary};
use garrison_model::{EvidenceId, EvidenceRef, Incident, IncidentId, Level, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most incidents one page holds.
pub const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 50;
pub(crate) const MAX_OFFSET: u64 = 1_000_000_000;

/// Which incidents, and which page of them.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentFilter {
    /// Only incidents at least this severe.
    pub min_severity: Option<Level>,
    /// Only escalated (true) or only not escalated (false) incidents.
    pub escalated: Option<bool>,
    /// Only incidents naming this host (case-insensitive).
    pub host: Option<String>,
    /// Only incidents naming this user (case-insensitive).
    pub user: Option<String>,
    /// Only incidents whose title or hypothesis holds this text (case-insensitive).
    pub q: Option<String>,
    /// Also incidents merged into others (left out by default).
    pub superseded: Option<bool>,
    /// Only incidents whose work stands here.
    pub status: Option<garrison_model::case::CaseStatus>,
    /// Only incidents this user has.
    pub assignee: Option<String>,
    /// Incidents per page (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Incidents to skip, in queue order (at most 1,000,000,000).
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
}

/// A page of the queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentPage {
    pub incidents: Vec<IncidentSummary>,
    /// Incidents matching the filter, on every page.
    pub total: u64,
    pub offset: u64,
    pub limit: u32,
}

/// Who took an incident on, and when.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Acknowledgement {
    pub by: String,
    pub at: Timestamp,
}

/// One incident and everything decided about it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    pub incident: Incident,
    /// Response actions proposed for it, oldest first, with their policy decisions.
    pub actions: Vec<ActionRecord>,
    pub acknowledged: Option<Acknowledgement>,
    /// Analysts' verdicts on it, oldest first (the last one stands).
    pub verdicts: Vec<VerdictRecord>,
    /// Where work on it stands and who has it (none while nobody touched it: open).
    pub case: Option<garrison_model::case::Case>,
    /// What people wrote on it, oldest first.
    pub comments: Vec<garrison_model::case::Comment>,
}

/// One named value of a stored record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// A stored record, as evidence: where it came from and what it holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvidenceRecord {
    pub id: EvidenceId,
    pub timestamp: Option<Timestamp>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
    /// The original record's place: file or stream, archive member, record id, byte offset.
    pub source: EvidenceRef,
    /// Its fields, in the record's order.
    pub fields: Vec<Field>,
}

/// An analyst's verdict on an incident (on every alert it holds).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictRequest {
    pub verdict: AnalystVerdict,
    /// Why, for the record (at most 2,000 characters).
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// The incident queue, most critical first.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    operation_id = "list_incidents",
    tag = "incidents",
    params(IncidentFilter),
    responses((status = 200, description = "A page of the queue", body = IncidentPage), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn list(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<IncidentFilter>,
) -> Result<Json<IncidentPage>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| queue_page(console, filter).map(Json))
        .await
}

/// The page of the queue `filter` asks for (shared with the console's pages).
pub(crate) fn queue_page(
    console: &Console,
    filter: IncidentFilter,
) -> Result<IncidentPage, ApiError> {
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be from 1 to {MAX_PAGE}"
        )));
    }
    let offset = filter.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::invalid(format!(
            "offset must be at most {MAX_OFFSET}"
        )));
    }
    let blank = |text: Option<String>| text.filter(|text| !text.trim().is_empty());
    let query = IncidentQuery {
        min_severity: filter.min_severity,
        escalated: filter.escalated,
        host: blank(filter.host),
        user: blank(filter.user),
        text: blank(filter.q),
        superseded: filter.superseded.unwrap_or(false),
        status: filter.status,
        assignee: blank(filter.assignee),
        offset,
        limit,
    };
    let (incidents, total) = console.store.incident_queue(&query)?;
    Ok(IncidentPage {
        incidents,
        total,
        offset,
        limit,
    })
}

pub(crate) fn incident(console: &Console, id: &str) -> Result<Incident, ApiError> {
    console
        .store
        .incident(&IncidentId(id.to_owned()))?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))
}

pub(crate) fn detail_of(console: &Console, id: &str) -> Result<IncidentDetail, ApiError> {
    let incident = incident(console, id)?;
    let actions = console.store.incident_actions(id)?;
    let acknowledged = console
        .store
        .acknowledgement(id)?
        .map(|(by, at)| Acknowledgement { by, at });
    let verdicts = console
        .store
        .verdicts()?
        .into_iter()
        .filter(
            |record| matches!(&record.subject, VerdictSubject::Incident(of) if *of == incident.id),
        )
        .collect();
    let case = console.store.case(id)?;
    let comments = console.store.comments(id)?;
    Ok(IncidentDetail {
        incident,
        actions,
        acknowledged,
        verdicts,
        case,
        comments,
    })
}

/// One incident: its reasoning, evidence, timeline, process tree, verification, actions and
/// verdicts.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    operation_id = "get_incident",
    tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    responses((status = 200, description = "The incident", body = IncidentDetail), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn detail(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| detail_of(console, &id).map(Json))
        .await
}

/// A stored record cited as evidence.
#[utoipa::path(
    get,
    path = "/api/v1/evidence/{id}",
    operation_id = "get_evidence",
    tag = "incidents",
    params(("id" = String, Path, description = "The evidence id (ev- and 16 hex digits)", pattern = "^ev-[0-9a-f]{16}$")),
    responses((status = 200, description = "The record", body = EvidenceRecord), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn evidence(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EvidenceRecord>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| evidence_record(console, &id).map(Json))
        .await
}

/// The stored record behind evidence id `id` (its text form; shared with the console's pages).
pub(crate) fn evidence_record(console: &Console, id: &str) -> Result<EvidenceRecord, ApiError> {
    let id = EvidenceId::try_from(id.to_owned()).map_err(ApiError::invalid)?;
    let event = console
        .store
        .event(id)?
        .ok_or_else(|| ApiError::not_found(format!("no evidence {id}")))?;
    Ok(record_of(event))
}

/// A stored event as evidence.
pub(crate) fn record_of(event: garrison_store::StoredEvent) -> EvidenceRecord {
    EvidenceRecord {
        id: event.id,
        timestamp: event.timestamp,
        host: event.host,
        user: event.user,
        channel: event.channel,
        event_id: event.event_id,
        source: event.source,
        fields: event
            .fields
            .into_iter()
            .map(|(name, value)| Field { name, value })
            .collect(),
    }
}

/// Records an analyst's verdict on an incident; triage learns from it.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/verdict",
    operation_id = "record_verdict",
    tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    request_body = VerdictRequest,
    responses((status = 201, description = "The verdict, recorded", body = VerdictRecord), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn verdict(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<VerdictRequest>,
) -> Result<(StatusCode, Json<VerdictRecord>), ApiError> {
    principal.require(Role::Analyst)?;
    console
        .blocking(move |console| {
            record_verdict(console, &principal, &id, request)
                .map(|record| (StatusCode::CREATED, Json(record)))
        })
        .await
}

/// Records `principal`'s verdict on incident `id` (shared with the console's pages).
pub(crate) fn record_verdict(
    console: &Console,
    principal: &Principal,
    id: &str,
    request: VerdictRequest,
) -> Result<VerdictRecord, ApiError> {
    principal.require(Role::Analyst)?;
    if request
        .note
        .as_ref()
        .is_some_and(|note| note.chars().count() > 2000)
    {
        return Err(ApiError::invalid(
            "the note is longer than 2,000 characters",
        ));
    }
    let incident = incident(console, id)?;
    let note = request.note.filter(|note| !note.trim().is_empty());
    let (record, audit) = garrison_agents::feedback::incident_verdict(
        &incident,
        console.store.as_ref(),
        request.verdict,
        principal.actor(),
        note,
        Timestamp::now(),
    )?;
    console.store.record_verdict(&record, &audit)?;
    Ok(record)
}

/// Takes an incident on: its scheduled escalations are cancelled.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/acknowledge",
    operation_id = "acknowledge_incident",
    tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    responses((status = 200, description = "Taken on", body = Acknowledgement), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn acknowledge(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Acknowledgement>, ApiError> {
    principal.require(Role::Analyst)?;
    console
        .blocking(move |console| acknowledge_incident(console, &principal, &id).map(Json))
        .await
}

/// Takes incident `id` on as `principal` (shared with the console's pages).
pub(crate) fn acknowledge_incident(
    console: &Console,
    principal: &Principal,
    id: &str,
) -> Result<Acknowledgement, ApiError> {
    principal.require(Role::Analyst)?;
    let incident = incident(console, id)?;
    let responder = console.responder()?.acting_as(principal.actor());
    let now = Timestamp::now();
    match responder.acknowledge(&incident.id, now)? {
        garrison_agents::respond::Answer::Refused(reason) => Err(ApiError::conflict(reason)),
        _ => Ok(Acknowledgement {
            by: principal.actor(),
            at: now,
        }),
    }
}
