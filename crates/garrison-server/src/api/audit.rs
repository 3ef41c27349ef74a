//! The audit log: its entries (filtered, paged by sequence number) and a check of its hash
//! chain.

use super::{ApiError, ApiQuery, Console, ErrorResponses, Principal};
use axum::Json;
use axum::extract::State;
use garrison_model::access::Role;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which entries.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// The first sequence number to read (default 1).
    #[param(minimum = 0, maximum = 1_000_000_000_000_000_u64)]
    pub from: Option<u64>,
    /// At most this many entries (1 to 1,000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only entries by this actor (`user:alice`, `triage/1`).
    pub actor: Option<String>,
    /// Only entries of this action (`response_approved`).
    pub action: Option<String>,
    /// Only entries about this subject (an incident id, an action key).
    pub subject: Option<String>,
}

/// One entry of the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    /// The previous entry's hash (hex).
    pub prev_hash: String,
    /// This entry's hash (hex).
    pub hash: String,
}

/// A page of the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
    /// Where the next page starts, when there may be more.
    pub next: Option<u64>,
}

/// What checking the chain found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditVerification {
    pub intact: bool,
    /// Entries checked before the first violation (all of them when intact).
    pub checked: u64,
    /// `seq:hash` of the last entry, to keep elsewhere and compare later.
    pub head: Option<String>,
    /// The first thing wrong with the chain.
    pub violation: Option<String>,
}

/// The highest sequence number asked for (the store's are signed 64-bit integers).
const MAX_SEQ: u64 = 1_000_000_000_000_000;

/// Entries scanned per store read while filtering.
const SCAN: usize = 1000;

/// Audit log entries in order.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "list_audit_entries",
    tag = "audit",
    params(AuditFilter),
    responses((status = 200, description = "A page of the audit log", body = AuditPage), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn entries(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> Result<Json<AuditPage>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| audit_page(console, &filter).map(Json))
        .await
}

/// The entries `filter` asks for (shared with the console's pages).
pub(crate) fn audit_page(console: &Console, filter: &AuditFilter) -> Result<AuditPage, ApiError> {
    let limit = filter.limit.unwrap_or(100) as usize;
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be from 1 to 1000"));
    }
    if filter.from.is_some_and(|from| from > MAX_SEQ) {
        return Err(ApiError::invalid(format!("from must be at most {MAX_SEQ}")));
    }
    let wanted = |value: &str, filter: &Option<String>| {
        filter
            .as_deref()
            .is_none_or(|wanted| wanted.is_empty() || wanted == value)
    };
    let mut entries = Vec::new();
    let mut from = filter.from.unwrap_or(1);
    loop {
        let page = console.store.audit_entries(from, SCAN)?;
        let full = page.len() == SCAN;
        for entry in page {
            from = entry.seq + 1;
            if wanted(&entry.actor, &filter.actor)
                && wanted(&entry.action, &filter.action)
                && wanted(&entry.subject, &filter.subject)
            {
                entries.push(AuditEntryView {
                    seq: entry.seq,
                    at: entry.at,
                    actor: entry.actor,
                    action: entry.action,
                    subject: entry.subject,
                    detail: entry.detail,
                    prev_hash: hex::encode(&entry.prev_hash),
                    hash: hex::encode(&entry.hash),
                });
                if entries.len() == limit {
                    return Ok(AuditPage {
                        entries,
                        next: Some(from),
                    });
                }
            }
        }
        if !full {
            return Ok(AuditPage {
                entries,
                next: None,
            });
        }
    }
}

/// Checks the whole hash chain and the stored head.
#[utoipa::path(
    get,
    path = "/api/v1/audit/verify",
    operation_id = "verify_audit",
    tag = "audit",
    responses((status = 200, description = "The check's result", body = AuditVerification), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn verify(
    State(console): State<Arc<Console>>,
    principal: Principal,
) -> Result<Json<AuditVerification>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| verification(console).map(Json))
        .await
}

/// The chain checked whole (shared with the console's pages).
pub(crate) fn verification(console: &Console) -> Result<AuditVerification, ApiError> {
    let report = console.store.verify_audit(None)?;
    Ok(AuditVerification {
        intact: report.violation.is_none(),
        checked: report.checked,
        head: report.head.map(|head| head.to_text()),
        violation: report.violation.map(|violation| violation.to_string()),
    })
}
