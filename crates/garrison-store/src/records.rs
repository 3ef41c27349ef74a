//! Evidence (the stored events agents cite and pivot through) and incidents: the traits agents
//! use, and their SQLite implementation.

use crate::{SqliteStore, StoreError};
use garrison_model::queue::{IncidentQuery, IncidentSummary};
use garrison_model::{EvidenceId, EvidenceRef, Incident, IncidentId, Timestamp};
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

/// An event kept as evidence: where it came from, when, on which host, by which user, and its
/// fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: EvidenceId,
    pub timestamp: Option<Timestamp>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
    pub source: EvidenceRef,
    pub fields: Vec<(String, String)>,
    /// The process the event was written by or about (`guid:…`, `pid:host:n`), when known:
    /// indexed, so investigations walk process trees without scanning.
    pub process_key: Option<String>,
    /// For a process start: its parent's key.
    pub parent_key: Option<String>,
    /// The logon session the event belongs to (`host:logon id`), when known: indexed, so an
    /// investigation finds how a session began.
    pub session_key: Option<String>,
    /// The network address this event shows its own host using (an outbound connection's
    /// source), when known: indexed, so an address seen by a network sensor resolves to a host.
    pub host_address: Option<String>,
    /// What a DHCP server's record says about an address (kept in the lease index when the
    /// event is stored; not read back with the event).
    pub lease: Option<Lease>,
}

/// A DHCP server's word on who holds an address: leased to `host` from the event's time until
/// `until` (open-ended when the log does not say), or, when `released`, given back at the
/// event's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: String,
    pub host: Option<String>,
    pub until: Option<Timestamp>,
    pub released: bool,
}

impl StoredEvent {
    /// The first value of `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

/// An event and its fields as the store keeps them (from [`encode_fields`]).
pub type Encoded<'a> = (&'a StoredEvent, &'a str);

/// An event's fields as the store keeps them: a JSON array of `[name, value]` pairs.
pub fn encode_fields(fields: &[(String, String)]) -> String {
    // Pairs of strings always encode: serde_json fails only on maps with non-string keys and on
    // types whose own serialization fails.
    serde_json::to_string(fields).expect("string pairs encode as JSON")
}

/// Where agents find evidence.
pub trait EvidenceStore: Send + Sync {
    /// Stores events not stored yet (by id); returns how many were new.
    fn put_events(&self, events: &[StoredEvent]) -> Result<usize, StoreError> {
        let fields: Vec<String> = events
            .iter()
            .map(|event| encode_fields(&event.fields))
            .collect();
        let encoded: Vec<Encoded<'_>> = events
            .iter()
            .zip(fields.iter().map(String::as_str))
            .collect();
        self.put_encoded(&encoded)
    }
    /// As [`EvidenceStore::put_events`], with each event's fields already encoded (by
    /// [`encode_fields`]); the events' own `fields` are not read. A single writer stores what
    /// several threads decoded: they encode, so it only writes.
    fn put_encoded(&self, events: &[Encoded<'_>]) -> Result<usize, StoreError>;
    fn event(&self, id: EvidenceId) -> Result<Option<StoredEvent>, StoreError>;
    /// The stored events among `ids`, each once, in no particular order (those not stored are
    /// left out): one round trip to a shared store instead of one per record.
    fn events(&self, ids: &[EvidenceId]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.extend(self.event(id)?);
        }
        Ok(found)
    }
    /// Events of `host` from `from` to `to` inclusive, oldest first, at most `limit`; only
    /// those with one of `event_ids` unless it is empty.
    fn events_on_host(
        &self,
        host: &str,
        from: Timestamp,
        to: Timestamp,
        event_ids: &[u32],
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    fn event_count(&self) -> Result<u64, StoreError>;
    /// The record of the start of process `key` (a record with a parent key).
    fn process_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError>;
    /// Records of processes started by process `key`, oldest first, at most `limit`.
    fn process_children(&self, key: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    /// The logon (Security 4624) that began session `key`, the latest when ids were reused.
    fn session_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError>;
    /// The host that held `address` at `at`: the one a DHCP lease covering `at` names (a lease
    /// that started within `window` before it), else the host seen using the address nearest
    /// to `at`, within `window` either side.
    fn host_with_address(
        &self,
        address: &str,
        at: Timestamp,
        window: jiff::SignedDuration,
    ) -> Result<Option<String>, StoreError>;
}

/// Where incidents are kept, newest version of each.
pub trait IncidentStore: Send + Sync {
    /// Stores `incident` unless a version at least as new is stored; true when stored.
    fn put_incident(&self, incident: &Incident) -> Result<bool, StoreError>;
    fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError>;
    /// Every incident, oldest activity first.
    fn incidents(&self) -> Result<Vec<Incident>, StoreError>;
    /// A page of the incident queue (summaries in queue order: escalated first, then the
    /// most severe, the most confident, the most recent) and how many incidents match in all.
    fn incident_queue(
        &self,
        query: &IncidentQuery,
    ) -> Result<(Vec<IncidentSummary>, u64), StoreError>;
}

pub(crate) fn nanos(timestamp: Option<Timestamp>) -> Option<i64> {
    timestamp.and_then(|t| i64::try_from(t.as_nanosecond()).ok())
}

pub(crate) fn from_nanos(value: Option<i64>) -> Option<Timestamp> {
    value.and_then(|n| Timestamp::from_nanosecond(i128::from(n)).ok())
}

pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into() }
}

pub(crate) fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredEvent, String)> {
    let member: Option<String> = row.get(8)?;
    Ok((
        StoredEvent {
            id: EvidenceId(row.get::<_, i64>(0)? as u64),
            timestamp: from_nanos(row.get(1)?),
            host: row.get(2)?,
            user: row.get(3)?,
            channel: row.get(4)?,
            event_id: row.get::<_, Option<i64>>(5)?.map(|id| id as u32),
            source: EvidenceRef {
                path: Arc::from(row.get::<_, String>(7)?),
                member: member.map(Arc::from),
                record_id: row.get::<_, i64>(9)? as u64,
                offset: row.get::<_, i64>(10)? as u64,
            },
            fields: Vec::new(),
            process_key: row.get(11)?,
            parent_key: row.get(12)?,
            session_key: row.get(13)?,
            host_address: row.get(14)?,
            lease: None,
        },
        row.get(6)?,
    ))
}

pub(crate) fn with_fields(
    (mut event, fields): (StoredEvent, String),
) -> Result<StoredEvent, StoreError> {
    event.fields = serde_json::from_str(&fields)
        .map_err(|error| corrupt(format!("fields of {}: {error}", event.id)))?;
    Ok(event)
}

pub(crate) const EVENT_COLUMNS: &str = "id, at_ns, host, user, channel, event_id, fields, path, member, \
     record_id, offset, process_key, parent_key, session_key, host_address";

impl EvidenceStore for SqliteStore {
    fn put_encoded(&self, events: &[Encoded<'_>]) -> Result<usize, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let mut inserted = 0;
        {
            let mut statement = transaction.prepare_cached(
                "INSERT OR IGNORE INTO evidence
                 (id, at_ns, host, user, channel, event_id, fields, path, member, record_id, offset,
                  process_key, parent_key, session_key, host_address)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            for &(event, fields) in events {
                inserted += statement.execute(params![
                    event.id.0 as i64,
                    nanos(event.timestamp),
                    event.host,
                    event.user,
                    event.channel,
                    event.event_id.map(i64::from),
                    fields,
                    &*event.source.path,
                    event.source.member.as_deref(),
                    event.source.record_id as i64,
                    event.source.offset as i64,
                    event.process_key,
                    event.parent_key,
                    event.session_key,
                    event.host_address,
                ])?;
            }
            let mut lease = transaction.prepare_cached(
                "INSERT OR IGNORE INTO leases (evidence, address, host, start_ns, end_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut release = transaction.prepare_cached(
                "UPDATE leases SET end_ns = ?2
                 WHERE address = ?1 AND start_ns <= ?2 AND (end_ns IS NULL OR end_ns > ?2)",
            )?;
            for &(event, _) in events {
                let (Some(given), Some(at)) = (&event.lease, nanos(event.timestamp)) else {
                    continue;
                };
                if given.released {
                    release.execute(params![given.address, at])?;
                } else if let Some(host) = &given.host {
                    lease.execute(params![
                        event.id.0 as i64,
                        given.address,
                        host,
                        at,
                        nanos(given.until)
                    ])?;
                }
            }
        }
        transaction.commit()?;
        Ok(inserted)
    }

    fn event(&self, id: EvidenceId) -> Result<Option<StoredEvent>, StoreError> {
        let connection = self.connection();
        let row = connection
            .query_row(
                &format!("SELECT {EVENT_COLUMNS} FROM evidence WHERE id = ?1"),
                [id.0 as i64],
                event_row,
            )
            .optional()?;
        row.map(with_fields).transpose()
    }

    fn events_on_host(
        &self,
        host: &str,
        from: Timestamp,
        to: Timestamp,
        event_ids: &[u32],
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let connection = self.connection();
        let mut events = Vec::new();
        let mut query = |event_id: Option<u32>| -> Result<(), StoreError> {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM evidence
                 WHERE host = ?1 COLLATE NOCASE AND at_ns BETWEEN ?2 AND ?3
                   AND (?4 IS NULL OR event_id = ?4)
                 ORDER BY at_ns, id LIMIT ?5"
            ))?;
            let rows = statement.query_map(
                params![
                    host,
                    nanos(Some(from)),
                    nanos(Some(to)),
                    event_id.map(i64::from),
                    limit as i64
                ],
                event_row,
            )?;
            for row in rows {
                events.push(with_fields(row?)?);
            }
            Ok(())
        };
        if event_ids.is_empty() {
            query(None)?;
        } else {
            for &event_id in event_ids {
                query(Some(event_id))?;
            }
            events.sort_by_key(|event| (event.timestamp, event.id));
            events.truncate(limit);
        }
        Ok(events)
    }

    fn event_count(&self) -> Result<u64, StoreError> {
        let count: i64 =
            self.connection()
                .query_row("SELECT COUNT(*) FROM evidence", [], |row| row.get(0))?;
        Ok(count as u64)
    }

    fn process_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        let connection = self.connection();
        let row = connection
            .query_row(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM evidence
                     WHERE process_key = ?1 AND parent_key IS NOT NULL ORDER BY at_ns LIMIT 1"
                ),
                [key],
                event_row,
            )
            .optional()?;
        row.map(with_fields).transpose()
    }

    fn process_children(&self, key: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM evidence WHERE parent_key = ?1 ORDER BY at_ns LIMIT ?2"
        ))?;
        let rows = statement.query_map(params![key, limit as i64], event_row)?;
        rows.map(|row| with_fields(row?)).collect()
    }

    fn session_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        let connection = self.connection();
        let row = connection
            .query_row(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM evidence
                     WHERE session_key = ?1 AND event_id = 4624 ORDER BY at_ns DESC LIMIT 1"
                ),
                [key],
                event_row,
            )
            .optional()?;
        row.map(with_fields).transpose()
    }

    fn host_with_address(
        &self,
        address: &str,
        at: Timestamp,
        window: jiff::SignedDuration,
    ) -> Result<Option<String>, StoreError> {
        let at = nanos(Some(at)).unwrap_or_default();
        let window = window.as_nanos().min(i64::MAX as i128) as i64;
        let connection = self.connection();
        let leased: Option<String> = connection
            .prepare_cached(
                "SELECT host FROM leases
                 WHERE address = ?1 AND start_ns BETWEEN ?2 AND ?3
                   AND (end_ns IS NULL OR end_ns >= ?3)
                 ORDER BY start_ns DESC LIMIT 1",
            )?
            .query_row(params![address, at.saturating_sub(window), at], |row| {
                row.get(0)
            })
            .optional()?;
        if leased.is_some() {
            return Ok(leased);
        }
        let mut statement = connection.prepare_cached(
            "SELECT host FROM evidence
             WHERE host_address = ?1 AND at_ns BETWEEN ?2 AND ?3 AND host IS NOT NULL
             ORDER BY abs(at_ns - ?4) LIMIT 1",
        )?;
        Ok(statement
            .query_row(
                params![
                    address,
                    at.saturating_sub(window),
                    at.saturating_add(window),
                    at
                ],
                |row| row.get(0),
            )
            .optional()?)
    }
}

impl IncidentStore for SqliteStore {
    fn put_incident(&self, incident: &Incident) -> Result<bool, StoreError> {
        let body = serde_json::to_string(incident)
            .map_err(|error| corrupt(format!("cannot encode incident: {error}")))?;
        let queue = crate::queue::columns(incident)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let changed = transaction.execute(
            "INSERT INTO incidents (id, version, first_ns, body, escalated, severity, confidence,
                 last_ns, superseded, hosts, search, summary, users)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                 first_ns = excluded.first_ns, body = excluded.body,
                 escalated = excluded.escalated, severity = excluded.severity,
                 confidence = excluded.confidence, last_ns = excluded.last_ns,
                 superseded = excluded.superseded, hosts = excluded.hosts,
                 search = excluded.search, summary = excluded.summary,
                 users = excluded.users
             WHERE excluded.version > incidents.version",
            params![
                incident.id.0,
                incident.version as i64,
                nanos(incident.first_seen),
                body,
                queue.escalated,
                queue.severity,
                queue.confidence,
                queue.last_ns,
                queue.superseded,
                queue.hosts,
                queue.search,
                queue.summary,
                queue.users,
            ],
        )?;
        if changed > 0 {
            crate::alerts::index_sqlite(&transaction, incident)?;
        }
        transaction.commit()?;
        Ok(changed > 0)
    }

    fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        let body: Option<String> = self
            .connection()
            .query_row("SELECT body FROM incidents WHERE id = ?1", [&id.0], |row| {
                row.get(0)
            })
            .optional()?;
        body.map(|body| {
            serde_json::from_str(&body).map_err(|error| corrupt(format!("incident {id}: {error}")))
        })
        .transpose()
    }

    fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let connection = self.connection();
        let mut statement =
            connection.prepare("SELECT id, body FROM incidents ORDER BY first_ns, id")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (id, body) = row?;
            serde_json::from_str(&body).map_err(|error| corrupt(format!("incident {id}: {error}")))
        })
        .collect()
    }

    fn incident_queue(
        &self,
        query: &IncidentQuery,
    ) -> Result<(Vec<IncidentSummary>, u64), StoreError> {
        let (filter, params) = crate::queue::filter(
            query,
            |n| format!("?{n}"),
            |column, p| format!("instr({column}, {p}) > 0"),
        );
        let values: Vec<rusqlite::types::Value> = params
            .into_iter()
            .map(|param| match param {
                crate::queue::Param::Int(n) => rusqlite::types::Value::Integer(n),
                crate::queue::Param::Text(text) => rusqlite::types::Value::Text(text),
            })
            .collect();
        let connection = self.connection();
        let total: i64 = connection.query_row(
            &format!("SELECT count(*) FROM {} WHERE {filter}", crate::queue::FROM),
            rusqlite::params_from_iter(values.iter()),
            |row| row.get(0),
        )?;
        let mut statement = connection.prepare(&format!(
            "SELECT incidents.id, incidents.summary, cases.status, cases.assignee FROM {}
             WHERE {filter} ORDER BY {} LIMIT {} OFFSET {}",
            crate::queue::FROM,
            crate::queue::ORDER,
            query.limit,
            query.offset.min(i64::MAX as u64)
        ))?;
        let rows = statement.query_map(rusqlite::params_from_iter(values.iter()), |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?;
        let summaries = rows
            .map(|row| {
                let (id, summary, status, assignee) = row?;
                crate::queue::decode_summary(&id, &summary, status.as_deref(), assignee)
            })
            .collect::<Result<_, _>>()?;
        Ok((summaries, total as u64))
    }
}

/// Fills in the queue columns of incident rows written before they existed.
pub(crate) fn reindex_incidents(connection: &rusqlite::Connection) -> Result<usize, StoreError> {
    let pending: Vec<(String, String)> = connection
        .prepare("SELECT id, body FROM incidents WHERE summary IS NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, body) in &pending {
        let incident = crate::queue::decode_incident(id, body)?;
        crate::alerts::index_sqlite(connection, &incident)?;
        let queue = crate::queue::columns(&incident)?;
        connection.execute(
            "UPDATE incidents SET escalated = ?2, severity = ?3, confidence = ?4, last_ns = ?5,
                 superseded = ?6, hosts = ?7, search = ?8, summary = ?9, users = ?10
             WHERE id = ?1",
            params![
                id,
                queue.escalated,
                queue.severity,
                queue.confidence,
                queue.last_ns,
                queue.superseded,
                queue.hosts,
                queue.search,
                queue.summary,
                queue.users,
            ],
        )?;
    }
    Ok(pending.len())
}
