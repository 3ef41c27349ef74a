//! Behind the evidence: the original record read again from where it was taken (EVTX
//! rendered as XML, a JSON or text line byte for byte) and its OCSF form; and entities, what
//! else a host or a user did: the incidents naming them and their stored events.

use super::incidents::{EvidenceRecord, evidence_record, record_of};
use super::{ApiError, ApiPath, ApiQuery, Console, ErrorResponses, Principal};
use axum::Json;
use axum::extract::State;
use garrison_ingest::raw::{RawRecord, decode_again, read_raw_record};
use garrison_model::access::Role;
use garrison_model::queue::{IncidentQuery, IncidentSummary};
use garrison_model::{EvidenceId, EvidenceRef, Timestamp};
use garrison_store::{ActivityCursor, Subject};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most of an original record shown (a longer one is cut, and says so).
const MAX_RAW_BYTES: usize = 1 << 20;
/// Incidents shown with an entity (the most critical first).
const ENTITY_INCIDENTS: u32 = 20;

/// The original record as it was taken.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RawText {
    /// `evtx_xml` (an EVTX record rendered as the XML Windows shows), `json` or `line`.
    pub format: String,
    /// The record (invalid UTF-8 replaced).
    pub text: String,
    /// Whether `text` was cut at 1 MiB.
    pub truncated: bool,
}

/// One piece of evidence as taken and as normalized.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OriginalRecord {
    pub id: EvidenceId,
    /// Where the original is.
    pub source: EvidenceRef,
    /// The original record; none when it cannot be read again (`raw_error` says why).
    pub raw: Option<RawText>,
    pub raw_error: Option<String>,
    /// The record in OCSF: its class when one applies, else a Base Event keeping every field;
    /// none when it cannot be decoded again (`ocsf_error` says why).
    #[schema(value_type = Option<Object>)]
    pub ocsf: Option<serde_json::Value>,
    /// The OCSF `class_uid` (0: Base Event).
    pub ocsf_class_uid: Option<u32>,
    pub ocsf_error: Option<String>,
}

/// The original and OCSF forms of evidence `id`.
fn original_record(console: &Console, id: &str) -> Result<OriginalRecord, ApiError> {
    let record = evidence_record(console, id)?;
    Ok(original_of(record.id, record.source))
}

/// The original and OCSF forms of the record `source` points to (shared with the console's
/// evidence page, which has the stored record already).
pub(crate) fn original_of(id: EvidenceId, source: EvidenceRef) -> OriginalRecord {
    let (raw, raw_error) = match read_raw_record(&source) {
        Ok(raw) => {
            let (format, bytes) = match raw {
                RawRecord::EvtxXml(xml) => ("evtx_xml", xml.into_bytes()),
                RawRecord::Json(bytes) => ("json", bytes),
                RawRecord::Line(bytes) => ("line", bytes),
            };
            let truncated = bytes.len() > MAX_RAW_BYTES;
            let shown = &bytes[..bytes.len().min(MAX_RAW_BYTES)];
            (
                Some(RawText {
                    format: format.into(),
                    text: String::from_utf8_lossy(shown).into_owned(),
                    truncated,
                }),
                None,
            )
        }
        Err(error) => (None, Some(error.to_string())),
    };
    let (ocsf, ocsf_class_uid, ocsf_error) = match decode_again(&source) {
        Ok(event) => {
            let normalized = garrison_ingest::normalize::normalize_or_base(&event);
            let class_uid = normalized.class().class_uid();
            match serde_json::to_value(&normalized) {
                Ok(value) => (Some(value), Some(class_uid), None),
                Err(error) => (None, None, Some(error.to_string())),
            }
        }
        Err(error) => (None, None, Some(error.to_string())),
    };
    OriginalRecord {
        id,
        source,
        raw,
        raw_error,
        ocsf,
        ocsf_class_uid,
        ocsf_error,
    }
}

/// The original record behind evidence, read again from where it was taken, and its OCSF
/// form.
#[utoipa::path(
    get,
    path = "/api/v1/evidence/{id}/original",
    operation_id = "get_original_record",
    tag = "incidents",
    params(("id" = String, Path, description = "The evidence id (ev- and 16 hex digits)", pattern = "^ev-[0-9a-f]{16}$")),
    responses((status = 200, description = "The original and normalized record", body = OriginalRecord), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn original(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OriginalRecord>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| original_record(console, &id).map(Json))
        .await
}

/// A host or a user.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Host,
    User,
}

/// Which of an entity's events.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityFilter {
    /// Only events at or before this time (default: all).
    pub until: Option<Timestamp>,
    /// Where the previous page ended (its `next`).
    #[param(pattern = "^-?[0-9]{1,18}\\.[0-9]{1,18}$")]
    pub after: Option<String>,
    /// Events per page (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// What else a host or a user did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntityActivity {
    pub kind: SubjectKind,
    pub name: String,
    /// The most critical incidents naming it (at most 20).
    pub incidents: Vec<IncidentSummary>,
    /// Incidents naming it, in all.
    pub incidents_total: u64,
    /// Its stored events, newest first.
    pub events: Vec<EvidenceRecord>,
    /// Give this as `after` for the next (older) page; none when this page is the last.
    pub next: Option<String>,
}

/// Where a keyset page starts (`after`, a cursor this server gave out) and how long it is
/// (`limit`, 1 to 500, else `default`).
pub(crate) fn page_of(
    after: Option<&str>,
    limit: Option<u32>,
    default: u32,
) -> Result<(Option<ActivityCursor>, u32), ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=super::incidents::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit is 1 to 500"));
    }
    let after = after
        .map(str::parse::<ActivityCursor>)
        .transpose()
        .map_err(ApiError::invalid)?;
    Ok((after, limit))
}

/// `kind` `name`'s incidents and events (shared with the console's pages).
pub(crate) fn entity_activity(
    console: &Console,
    kind: SubjectKind,
    name: &str,
    filter: ActivityFilter,
) -> Result<EntityActivity, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 512 {
        return Err(ApiError::invalid("a name is 1 to 512 characters"));
    }
    let (after, limit) = page_of(filter.after.as_deref(), filter.limit, 50)?;
    let mut query = IncidentQuery {
        limit: ENTITY_INCIDENTS,
        ..IncidentQuery::default()
    };
    let subject = match kind {
        SubjectKind::Host => {
            query.host = Some(name.to_owned());
            Subject::Host
        }
        SubjectKind::User => {
            query.user = Some(name.to_owned());
            Subject::User
        }
    };
    let (incidents, incidents_total) = console.store.incident_queue(&query)?;
    let activity = console.store.activity(
        subject,
        name,
        filter.until.unwrap_or(Timestamp::MAX),
        after,
        limit as usize,
    )?;
    Ok(EntityActivity {
        kind,
        name: name.to_owned(),
        incidents,
        incidents_total,
        events: activity.events.into_iter().map(record_of).collect(),
        next: activity.next.map(|cursor| cursor.to_string()),
    })
}

/// What else a host or a user did: the incidents naming it and its stored events, newest
/// first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/entities/{kind}/{name}",
    operation_id = "get_entity_activity",
    tag = "incidents",
    params(
        ("kind" = SubjectKind, Path, description = "host or user"),
        ("name" = String, Path, description = "The host's or user's name (case-insensitive)"),
        ActivityFilter
    ),
    responses((status = 200, description = "Its incidents and events", body = EntityActivity), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn entity(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath((kind, name)): ApiPath<(SubjectKind, String)>,
    ApiQuery(filter): ApiQuery<ActivityFilter>,
) -> Result<Json<EntityActivity>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| entity_activity(console, kind, &name, filter).map(Json))
        .await
}
