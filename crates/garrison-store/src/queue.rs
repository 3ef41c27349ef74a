//! The incident queue: columns kept beside each incident row (its queue key and summary), so
//! the queue is filtered, ordered and paged by the database without reading incidents. Rows
//! written before the columns existed are filled in when the store opens.

use crate::StoreError;
use garrison_model::Incident;
use garrison_model::case::CaseStatus;
use garrison_model::queue::{IncidentQuery, IncidentSummary, QueueKey};

/// What an incident row keeps for the queue.
pub(crate) struct QueueColumns {
    pub escalated: i64,
    pub severity: i64,
    pub confidence: f64,
    pub last_ns: Option<i64>,
    pub superseded: i64,
    pub hosts: String,
    pub users: String,
    pub search: String,
    pub summary: String,
}

pub(crate) fn columns(incident: &Incident) -> Result<QueueColumns, StoreError> {
    let key = QueueKey::of(incident);
    let summary =
        serde_json::to_string(&incident.summary()).map_err(|error| StoreError::Corrupt {
            what: format!("cannot encode the summary of {}: {error}", incident.id),
        })?;
    Ok(QueueColumns {
        escalated: i64::from(key.escalated),
        severity: key.severity as i64,
        confidence: key.confidence,
        last_ns: crate::records::nanos(key.last_seen),
        superseded: i64::from(key.superseded),
        hosts: key.hosts,
        users: key.users,
        search: key.text,
        summary,
    })
}

/// A parameter of the queue's query.
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// The query's `WHERE` clause and parameters; `placeholder(n)` writes the n-th (from 1) and
/// `holds(column, placeholder)` a test that the column's text holds the parameter's.
pub(crate) fn filter(
    query: &IncidentQuery,
    placeholder: impl Fn(usize) -> String,
    holds: impl Fn(&str, &str) -> String,
) -> (String, Vec<Param>) {
    let mut clauses = vec!["incidents.summary IS NOT NULL".to_string()];
    if !query.superseded {
        clauses.push("superseded = 0".into());
    }
    let mut params = Vec::new();
    let mut add = |clause: &dyn Fn(&str) -> String, param: Param| {
        params.push(param);
        clauses.push(clause(&placeholder(params.len())));
    };
    if let Some(level) = query.min_severity {
        add(&|p| format!("severity >= {p}"), Param::Int(level as i64));
    }
    if let Some(escalated) = query.escalated {
        add(
            &|p| format!("escalated = {p}"),
            Param::Int(i64::from(escalated)),
        );
    }
    if let Some(host) = query.host_key() {
        add(&|p| holds("hosts", p), Param::Text(host));
    }
    if let Some(user) = query.user_key() {
        add(&|p| holds("users", p), Param::Text(user));
    }
    if let Some(text) = query.text_key() {
        add(&|p| holds("search", p), Param::Text(text));
    }
    if let Some(status) = query.status {
        add(
            &|p| format!("COALESCE(cases.status, 'open') = {p}"),
            Param::Text(status.as_str().to_owned()),
        );
    }
    if let Some(assignee) = &query.assignee {
        add(
            &|p| format!("cases.assignee = {p}"),
            Param::Text(assignee.clone()),
        );
    }
    (clauses.join(" AND "), params)
}

/// The rows the queue reads: incidents with their cases.
pub(crate) const FROM: &str = "incidents LEFT JOIN cases ON cases.incident = incidents.id";

/// The queue's order.
pub(crate) const ORDER: &str =
    "escalated DESC, severity DESC, confidence DESC, last_ns DESC NULLS LAST, id";

/// A queue row's summary, with its case's status and assignee.
pub(crate) fn decode_summary(
    id: &str,
    summary: &str,
    status: Option<&str>,
    assignee: Option<String>,
) -> Result<IncidentSummary, StoreError> {
    let mut summary: IncidentSummary =
        serde_json::from_str(summary).map_err(|error| StoreError::Corrupt {
            what: format!("the queue summary of incident {id}: {error}"),
        })?;
    summary.status = status
        .map(|status| {
            CaseStatus::parse(status).ok_or_else(|| StoreError::Corrupt {
                what: format!("incident {id}: unknown case status {status:?}"),
            })
        })
        .transpose()?
        .unwrap_or(CaseStatus::Open);
    summary.assignee = assignee;
    Ok(summary)
}

pub(crate) fn decode_incident(id: &str, body: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(body).map_err(|error| StoreError::Corrupt {
        what: format!("incident {id}: {error}"),
    })
}
