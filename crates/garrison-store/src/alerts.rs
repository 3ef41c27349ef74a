//! Alerts across incidents: each incident's alerts kept in rows of their own beside it
//! (replaced with every version stored), so alerts are listed by rule, level and time, newest
//! first, a page at a time, without reading incidents.

use crate::activity::ActivityCursor;
use crate::records::nanos;
use crate::{PostgresStore, SqliteStore, StoreError};
use garrison_model::incident::AlertSummary;
use garrison_model::queue::IncidentAlert;
use garrison_model::{Incident, IncidentId, Level, Timestamp};
use rusqlite::params;

/// Which alerts, and which page of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertQuery {
    pub rule_id: Option<String>,
    pub incident: Option<String>,
    pub min_level: Option<Level>,
    /// Only alerts at or before this time.
    pub until: Option<Timestamp>,
    /// Where the previous page ended.
    pub after: Option<ActivityCursor>,
    /// Also alerts of incidents merged into others (their alerts are the merger's too).
    pub superseded: bool,
    pub limit: usize,
}

/// A page of alerts, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPage {
    pub alerts: Vec<IncidentAlert>,
    pub next: Option<ActivityCursor>,
}

/// Alerts across incidents.
pub trait AlertStore: Send + Sync {
    fn alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError>;
}

/// Where untimed alerts sort: last, at a time whose cursor has at most 18 digits, like every
/// other (no telemetry is from before 1938).
const UNTIMED: i64 = -999_999_999_999_999_999;

/// An alert's place in time.
fn at(alert: &AlertSummary) -> i64 {
    nanos(alert.timestamp).map_or(UNTIMED, |at| at.max(UNTIMED))
}

fn encode(alert: &AlertSummary) -> Result<String, StoreError> {
    serde_json::to_string(alert).map_err(|error| StoreError::Corrupt {
        what: format!("cannot encode alert {}: {error}", alert.id),
    })
}

fn decode(incident: String, body: &str) -> Result<IncidentAlert, StoreError> {
    let alert = serde_json::from_str(body).map_err(|error| StoreError::Corrupt {
        what: format!("an alert of {incident} does not read back: {error}"),
    })?;
    Ok(IncidentAlert {
        incident: IncidentId(incident),
        alert,
    })
}

/// Replaces `incident`'s alert rows (SQLite), in the caller's transaction.
pub(crate) fn index_sqlite(
    connection: &rusqlite::Connection,
    incident: &Incident,
) -> Result<(), StoreError> {
    connection.execute(
        "DELETE FROM incident_alerts WHERE incident = ?1",
        [&incident.id.0],
    )?;
    let mut insert = connection.prepare_cached(
        "INSERT OR IGNORE INTO incident_alerts
             (incident, alert, rule_id, level, at_ns, superseded, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let superseded = i64::from(incident.superseded_by.is_some());
    for alert in &incident.alerts {
        insert.execute(params![
            incident.id.0,
            alert.id.to_string(),
            alert.rule_id,
            alert.level as i64,
            at(alert),
            superseded,
            encode(alert)?
        ])?;
    }
    Ok(())
}

/// Replaces `incident`'s alert rows (PostgreSQL), in the caller's transaction.
pub(crate) fn index_postgres(
    client: &mut impl postgres::GenericClient,
    statements: &mut crate::postgres::Statements,
    incident: &Incident,
) -> Result<(), StoreError> {
    use crate::postgres::text;
    let delete = statements.get(client, "DELETE FROM incident_alerts WHERE incident = $1")?;
    client.execute(&delete, &[&text(&incident.id.0)])?;
    let superseded = i64::from(incident.superseded_by.is_some());
    // One statement for all the alerts: an incident of thousands of alerts stored version
    // after version would otherwise cost a round trip per alert per version.
    let mut ids = Vec::with_capacity(incident.alerts.len());
    let mut rules = Vec::with_capacity(incident.alerts.len());
    let mut levels = Vec::with_capacity(incident.alerts.len());
    let mut times = Vec::with_capacity(incident.alerts.len());
    let mut bodies = Vec::with_capacity(incident.alerts.len());
    for alert in &incident.alerts {
        ids.push(alert.id.to_string());
        rules.push(text(&alert.rule_id).into_owned());
        levels.push(alert.level as i64);
        times.push(at(alert));
        bodies.push(text(&encode(alert)?).into_owned());
    }
    let insert = statements.get(
        client,
        "INSERT INTO incident_alerts (incident, alert, rule_id, level, at_ns, superseded, body)
         SELECT $1, alert, rule_id, level, at_ns, $2, body
         FROM UNNEST($3::text[], $4::text[], $5::int8[], $6::int8[], $7::text[])
             AS given (alert, rule_id, level, at_ns, body)
         ON CONFLICT DO NOTHING",
    )?;
    client.execute(
        &insert,
        &[
            &text(&incident.id.0),
            &superseded,
            &ids,
            &rules,
            &levels,
            &times,
            &bodies,
        ],
    )?;
    Ok(())
}

/// The `WHERE` clause of `query` with `placeholder(n)` for the n-th parameter (from 1), and
/// the parameters as text or numbers.
fn filter(query: &AlertQuery, placeholder: impl Fn(usize) -> String) -> (String, Vec<Param>) {
    let mut clauses = Vec::new();
    if !query.superseded {
        clauses.push("a.superseded = 0".to_string());
    }
    let mut params = Vec::new();
    let mut add = |clause: &dyn Fn(&str) -> String, param: Param| {
        params.push(param);
        clauses.push(clause(&placeholder(params.len())));
    };
    if let Some(rule) = &query.rule_id {
        add(&|p| format!("a.rule_id = {p}"), Param::Text(rule.clone()));
    }
    if let Some(incident) = &query.incident {
        add(
            &|p| format!("a.incident = {p}"),
            Param::Text(incident.clone()),
        );
    }
    if let Some(level) = query.min_level {
        add(&|p| format!("a.level >= {p}"), Param::Int(level as i64));
    }
    let (at_ns, tie) = ActivityCursor::start(query.after, query.until);
    params.push(Param::Int(at_ns));
    params.push(Param::Int(tie));
    clauses.push(format!(
        "(a.at_ns, a.seq) < ({}, {})",
        placeholder(params.len() - 1),
        placeholder(params.len())
    ));
    (clauses.join(" AND "), params)
}

enum Param {
    Int(i64),
    Text(String),
}

fn page(rows: Vec<(IncidentAlert, ActivityCursor)>, limit: usize) -> AlertPage {
    let (alerts, next) = crate::activity::keyset_page(rows, limit);
    AlertPage { alerts, next }
}

impl AlertStore for SqliteStore {
    fn alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError> {
        let (clause, params) = filter(query, |n| format!("?{n}"));
        let sql = format!(
            "SELECT a.incident, a.body, a.at_ns, a.seq FROM incident_alerts a
             WHERE {clause} ORDER BY a.at_ns DESC, a.seq DESC LIMIT {}",
            query.limit + 1
        );
        let connection = self.connection();
        let mut statement = connection.prepare_cached(&sql)?;
        let values: Vec<rusqlite::types::Value> = params
            .into_iter()
            .map(|param| match param {
                Param::Int(n) => rusqlite::types::Value::Integer(n),
                Param::Text(text) => rusqlite::types::Value::Text(text),
            })
            .collect();
        let rows = statement.query_map(rusqlite::params_from_iter(values), |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        let mut found = Vec::new();
        for row in rows {
            let (incident, body, at_ns, seq) = row?;
            found.push((decode(incident, &body)?, ActivityCursor { at_ns, tie: seq }));
        }
        Ok(page(found, query.limit))
    }
}

impl AlertStore for PostgresStore {
    fn alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError> {
        let (clause, params) = filter(query, |n| format!("${n}"));
        let sql = format!(
            "SELECT a.incident, a.body, a.at_ns, a.seq FROM incident_alerts a
             WHERE {clause} ORDER BY a.at_ns DESC, a.seq DESC LIMIT {}",
            query.limit + 1
        );
        let values: Vec<Box<dyn postgres::types::ToSql + Sync>> = params
            .into_iter()
            .map(|param| -> Box<dyn postgres::types::ToSql + Sync> {
                match param {
                    Param::Int(n) => Box::new(n),
                    Param::Text(text) => Box::new(crate::postgres::text(&text).into_owned()),
                }
            })
            .collect();
        self.with_client(|client| {
            let references: Vec<&(dyn postgres::types::ToSql + Sync)> =
                values.iter().map(|value| value.as_ref()).collect();
            let rows = client.query(&sql, &references)?;
            let found = rows
                .iter()
                .map(|row| {
                    Ok((
                        decode(row.get(0), row.get(1))?,
                        ActivityCursor {
                            at_ns: row.get(2),
                            tie: row.get(3),
                        },
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(page(found, query.limit))
        })
    }
}
