//! Evidence, incidents and the journal in PostgreSQL.

use super::statements::Connection;
use super::{PostgresStore, lock, opt_text, text};
use crate::records::{
    Encoded, EvidenceStore, IncidentStore, StoredEvent, corrupt, from_nanos, nanos,
};
use crate::{Journal, JournalEntry, StoreError};
use garrison_model::queue::{IncidentQuery, IncidentSummary};
use garrison_model::{EvidenceId, EvidenceRef, Incident, IncidentId, Timestamp};
use postgres::Row;
use std::sync::Arc;

pub(crate) const EVENT_COLUMNS: &str = "id, at_ns, host, user_name, channel, event_id, fields, path, member, \
     record_id, byte_offset, process_key, parent_key, session_key, host_address";

pub(crate) fn event_of(row: &Row) -> Result<StoredEvent, StoreError> {
    let id = EvidenceId(row.get::<_, i64>(0) as u64);
    let fields: String = row.get(6);
    Ok(StoredEvent {
        id,
        timestamp: from_nanos(row.get(1)),
        host: row.get(2),
        user: row.get(3),
        channel: row.get(4),
        event_id: row.get::<_, Option<i64>>(5).map(|n| n as u32),
        source: EvidenceRef {
            path: Arc::from(row.get::<_, String>(7)),
            member: row.get::<_, Option<String>>(8).map(Arc::from),
            record_id: row.get::<_, i64>(9) as u64,
            offset: row.get::<_, i64>(10) as u64,
        },
        fields: serde_json::from_str(&fields)
            .map_err(|error| corrupt(format!("fields of {id}: {error}")))?,
        process_key: row.get(11),
        parent_key: row.get(12),
        session_key: row.get(13),
        host_address: row.get(14),
        lease: None,
    })
}

pub(crate) fn events_of(rows: &[Row]) -> Result<Vec<StoredEvent>, StoreError> {
    rows.iter().map(event_of).collect()
}

/// The evidence columns in the order [`copy_new`] and [`insert_new`] write them.
const EVIDENCE_COLUMNS: &str = "id, at_ns, host, user_name, channel, event_id, fields, path, \
     member, record_id, byte_offset, process_key, parent_key, session_key, host_address";

/// Copies `encoded` into the evidence table when none of it is stored yet, the usual case
/// (new telemetry): a binary `COPY` is neither planned nor checked row by row for conflicts,
/// and sends no arrays to take apart. `None` when some record is stored already (files hunted
/// again): the copy is rolled back to its savepoint and the caller inserts what is new.
fn copy_new(
    transaction: &mut postgres::Transaction<'_>,
    encoded: &[Encoded<'_>],
) -> Result<Option<usize>, postgres::Error> {
    use postgres::types::Type;
    const TYPES: [Type; 15] = [
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    let mut savepoint = transaction.savepoint("evidence_copy")?;
    let sink = savepoint.copy_in(&format!(
        "COPY evidence ({EVIDENCE_COLUMNS}) FROM STDIN (FORMAT binary)"
    ))?;
    let mut writer = postgres::binary_copy::BinaryCopyInWriter::new(sink, &TYPES);
    let mut written = Ok(());
    for &(event, fields) in encoded {
        let member = event.source.member.as_deref().map(text);
        written = writer.write(&[
            &(event.id.0 as i64),
            &nanos(event.timestamp),
            &opt_text(&event.host),
            &opt_text(&event.user),
            &opt_text(&event.channel),
            &event.event_id.map(i64::from),
            &fields,
            &text(&event.source.path),
            &member,
            &(event.source.record_id as i64),
            &(event.source.offset as i64),
            &opt_text(&event.process_key),
            &opt_text(&event.parent_key),
            &opt_text(&event.session_key),
            &opt_text(&event.host_address),
        ]);
        if written.is_err() {
            break;
        }
    }
    let copied = written.and_then(|()| writer.finish());
    match copied {
        Ok(rows) => {
            savepoint.commit()?;
            Ok(Some(rows as usize))
        }
        // Dropping the savepoint rolls the copy back.
        Err(error) if error.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Inserts those of `encoded` not stored yet; returns how many were new.
fn insert_new(
    transaction: &mut postgres::Transaction<'_>,
    encoded: &[Encoded<'_>],
) -> Result<usize, postgres::Error> {
    let events: Vec<&StoredEvent> = encoded.iter().map(|&(event, _)| event).collect();
    let fields: Vec<&str> = encoded.iter().map(|&(_, fields)| fields).collect();
    let ids: Vec<i64> = events.iter().map(|e| e.id.0 as i64).collect();
    let at: Vec<Option<i64>> = events.iter().map(|e| nanos(e.timestamp)).collect();
    let host: Vec<_> = events.iter().map(|e| opt_text(&e.host)).collect();
    let user: Vec<_> = events.iter().map(|e| opt_text(&e.user)).collect();
    let channel: Vec<_> = events.iter().map(|e| opt_text(&e.channel)).collect();
    let event_id: Vec<Option<i64>> = events.iter().map(|e| e.event_id.map(i64::from)).collect();
    let path: Vec<_> = events.iter().map(|e| text(&e.source.path)).collect();
    let member: Vec<_> = events
        .iter()
        .map(|e| e.source.member.as_deref().map(text))
        .collect();
    let record_id: Vec<i64> = events.iter().map(|e| e.source.record_id as i64).collect();
    let offset: Vec<i64> = events.iter().map(|e| e.source.offset as i64).collect();
    let process: Vec<_> = events.iter().map(|e| opt_text(&e.process_key)).collect();
    let parent: Vec<_> = events.iter().map(|e| opt_text(&e.parent_key)).collect();
    let session: Vec<_> = events.iter().map(|e| opt_text(&e.session_key)).collect();
    let address: Vec<_> = events.iter().map(|e| opt_text(&e.host_address)).collect();
    let inserted = transaction.execute(
        &format!(
            "INSERT INTO evidence ({EVIDENCE_COLUMNS})
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[],
                 $5::text[], $6::int8[], $7::text[], $8::text[], $9::text[], $10::int8[],
                 $11::int8[], $12::text[], $13::text[], $14::text[], $15::text[])
             ON CONFLICT (id) DO NOTHING"
        ),
        &[
            &ids, &at, &host, &user, &channel, &event_id, &fields, &path, &member, &record_id,
            &offset, &process, &parent, &session, &address,
        ],
    )?;
    Ok(inserted as usize)
}

impl EvidenceStore for PostgresStore {
    fn put_encoded(&self, encoded: &[Encoded<'_>]) -> Result<usize, StoreError> {
        if encoded.is_empty() {
            return Ok(0);
        }
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            let inserted = match copy_new(&mut transaction, encoded)? {
                Some(copied) => copied,
                None => insert_new(&mut transaction, encoded)?,
            };
            for &(event, _) in encoded {
                let (Some(given), Some(at)) = (&event.lease, nanos(event.timestamp)) else {
                    continue;
                };
                if given.released {
                    transaction.execute(
                        "UPDATE leases SET end_ns = $2
                         WHERE address = $1 AND start_ns <= $2 AND (end_ns IS NULL OR end_ns > $2)",
                        &[&text(&given.address), &at],
                    )?;
                } else if let Some(host) = &given.host {
                    transaction.execute(
                        "INSERT INTO leases (evidence, address, host, start_ns, end_ns)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (evidence) DO NOTHING",
                        &[
                            &(event.id.0 as i64),
                            &text(&given.address),
                            &text(host),
                            &at,
                            &nanos(given.until),
                        ],
                    )?;
                }
            }
            transaction.commit()?;
            Ok(inserted)
        })
    }

    fn event(&self, id: EvidenceId) -> Result<Option<StoredEvent>, StoreError> {
        self.with_client(|client| {
            let statement = client.prepared(&format!(
                "SELECT {EVENT_COLUMNS} FROM evidence WHERE id = $1"
            ))?;
            let row = client.query_opt(&statement, &[&(id.0 as i64)])?;
            row.as_ref().map(event_of).transpose()
        })
    }

    fn events(&self, ids: &[EvidenceId]) -> Result<Vec<StoredEvent>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = ids.iter().map(|id| id.0 as i64).collect();
        self.with_client(|client| {
            let statement = client.prepared(&format!(
                "SELECT {EVENT_COLUMNS} FROM evidence WHERE id = ANY($1)"
            ))?;
            let rows = client.query(&statement, &[&ids])?;
            events_of(&rows)
        })
    }

    fn events_on_host(
        &self,
        host: &str,
        from: Timestamp,
        to: Timestamp,
        event_ids: &[u32],
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let ids: Vec<i64> = event_ids.iter().map(|&id| i64::from(id)).collect();
        self.with_client(|client| {
            let statement = client.prepared(&format!(
                "SELECT {EVENT_COLUMNS} FROM evidence
                 WHERE lower(host) = lower($1) AND at_ns BETWEEN $2 AND $3
                   AND (cardinality($4::int8[]) = 0 OR event_id = ANY($4))
                 ORDER BY at_ns, id LIMIT $5"
            ))?;
            let rows = client.query(
                &statement,
                &[
                    &text(host),
                    &nanos(Some(from)),
                    &nanos(Some(to)),
                    &ids,
                    &(limit as i64),
                ],
            )?;
            events_of(&rows)
        })
    }

    fn event_count(&self) -> Result<u64, StoreError> {
        self.with_client(|client| {
            Ok(client
                .query_one("SELECT COUNT(*) FROM evidence", &[])?
                .get::<_, i64>(0) as u64)
        })
    }

    fn process_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.with_client(|client| {
            let statement = client.prepared(&format!(
                "SELECT {EVENT_COLUMNS} FROM evidence
                 WHERE process_key = $1 AND parent_key IS NOT NULL ORDER BY at_ns LIMIT 1"
            ))?;
            let row = client.query_opt(&statement, &[&text(key)])?;
            row.as_ref().map(event_of).transpose()
        })
    }

    fn process_children(&self, key: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.with_client(|client| {
            let statement = client.prepared(&format!(
                "SELECT {EVENT_COLUMNS} FROM evidence WHERE parent_key = $1
                 ORDER BY at_ns LIMIT $2"
            ))?;
            let rows = client.query(&statement, &[&text(key), &(limit as i64)])?;
            events_of(&rows)
        })
    }

    fn session_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.with_client(|client| {
            let statement = client.prepared(&format!(
                "SELECT {EVENT_COLUMNS} FROM evidence
                 WHERE session_key = $1 AND event_id = 4624 ORDER BY at_ns DESC LIMIT 1"
            ))?;
            let row = client.query_opt(&statement, &[&text(key)])?;
            row.as_ref().map(event_of).transpose()
        })
    }

    fn host_with_address(
        &self,
        address: &str,
        at: Timestamp,
        window: jiff::SignedDuration,
    ) -> Result<Option<String>, StoreError> {
        let at = nanos(Some(at)).unwrap_or_default();
        let window = window.as_nanos().min(i64::MAX as i128) as i64;
        let (from, to) = (at.saturating_sub(window), at.saturating_add(window));
        self.with_client(|client| {
            let leased = client.query_opt(
                "SELECT host FROM leases
                 WHERE address = $1 AND start_ns BETWEEN $2 AND $3
                   AND (end_ns IS NULL OR end_ns >= $3)
                 ORDER BY start_ns DESC LIMIT 1",
                &[&text(address), &from, &at],
            )?;
            if let Some(row) = leased {
                return Ok(Some(row.get(0)));
            }
            let seen = client.query_opt(
                "SELECT host FROM evidence
                 WHERE host_address = $1 AND at_ns BETWEEN $2 AND $3 AND host IS NOT NULL
                 ORDER BY abs(at_ns - $4) LIMIT 1",
                &[&text(address), &from, &to, &at],
            )?;
            Ok(seen.map(|row| row.get(0)))
        })
    }
}

/// Refuses a write for `role` from an owner whose epoch is not the current one. Shares the
/// owner row: a new owner's claim waits for the write, and the write is refused once a new
/// owner claimed the role.
fn check_epoch(
    transaction: &mut postgres::Transaction<'_>,
    role: &str,
    epoch: Option<i64>,
) -> Result<(), StoreError> {
    let Some(epoch) = epoch else {
        return Ok(());
    };
    let current: Option<i64> = transaction
        .query_opt(
            "SELECT epoch FROM owners WHERE role = $1 FOR SHARE",
            &[&text(role)],
        )?
        .map(|row| row.get(0));
    if current != Some(epoch) {
        return Err(StoreError::Fenced {
            role: role.to_string(),
        });
    }
    Ok(())
}

impl Journal for PostgresStore {
    fn checkpoint(&self, role: &str, state: &[u8]) -> Result<u64, StoreError> {
        let epoch = lock(&self.epochs).get(role).copied();
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            check_epoch(&mut transaction, role, epoch)?;
            let position: i64 = transaction
                .query_one(
                    "SELECT coalesce(max(position), 0) FROM journal WHERE role = $1",
                    &[&text(role)],
                )?
                .get(0);
            let previous: i64 = transaction
                .query_opt(
                    "SELECT position FROM checkpoints WHERE role = $1",
                    &[&text(role)],
                )?
                .map_or(0, |row| row.get(0));
            transaction.execute(
                "INSERT INTO checkpoints (role, position, state) VALUES ($1, $2, $3)
                 ON CONFLICT (role) DO UPDATE SET position = $2, state = $3",
                &[&text(role), &position, &state],
            )?;
            // The bodies the state now holds are not needed again; the ids are.
            if !self.keep_journal {
                transaction.execute(
                    "UPDATE journal SET body = ''::bytea, signature = ''::bytea
                     WHERE role = $1 AND position > $2 AND position <= $3",
                    &[&text(role), &previous, &position],
                )?;
            }
            transaction.commit()?;
            Ok(position as u64)
        })
    }

    fn latest_checkpoint(&self, role: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.with_client(|client| {
            Ok(client
                .query_opt(
                    "SELECT position, state FROM checkpoints WHERE role = $1",
                    &[&text(role)],
                )?
                .map(|row| (row.get::<_, i64>(0) as u64, row.get(1))))
        })
    }

    fn record(&self, role: &str, entry: &JournalEntry) -> Result<bool, StoreError> {
        let epoch = lock(&self.epochs).get(role).copied();
        // One statement, its own transaction: the owner's row is locked (as `check_epoch`
        // does) and the entry added only while this process's epoch is the owner's. Every
        // handled message of a stateful role is journaled, so round trips count here.
        self.with_client(|client| {
            let statement = client.prepared(
                "WITH owner AS (
                     SELECT epoch FROM owners WHERE role = $1 FOR SHARE
                 ), added AS (
                     INSERT INTO journal (role, id, subject, sender, body, signature)
                     SELECT $1, $2, $3, $4, $5, $6
                     WHERE $7::int8 IS NULL OR (SELECT epoch FROM owner) = $7
                     ON CONFLICT (role, id) DO NOTHING
                     RETURNING 1
                 )
                 SELECT (SELECT epoch FROM owner), (SELECT count(*) FROM added)",
            )?;
            let row = client.query_one(
                &statement,
                &[
                    &text(role),
                    &text(&entry.id),
                    &text(&entry.subject),
                    &text(&entry.sender),
                    &entry.body,
                    &entry.signature,
                    &epoch,
                ],
            )?;
            let current: Option<i64> = row.get(0);
            let inserted: i64 = row.get(1);
            if epoch.is_some() && current != epoch {
                return Err(StoreError::Fenced {
                    role: role.to_string(),
                });
            }
            Ok(inserted > 0)
        })
    }

    fn handled(&self, role: &str, id: &str) -> Result<bool, StoreError> {
        self.with_client(|client| {
            let statement = client.prepared("SELECT 1 FROM journal WHERE role = $1 AND id = $2")?;
            Ok(client
                .query_opt(&statement, &[&text(role), &text(id)])?
                .is_some())
        })
    }

    fn entries(
        &self,
        role: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, JournalEntry)>, StoreError> {
        self.with_client(|client| {
            let rows = client.query(
                "SELECT position, id, subject, sender, body, signature FROM journal
                 WHERE role = $1 AND position > $2 ORDER BY position LIMIT $3",
                &[&text(role), &(after as i64), &(limit as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|row| {
                    (
                        row.get::<_, i64>(0) as u64,
                        JournalEntry {
                            id: row.get(1),
                            subject: row.get(2),
                            sender: row.get(3),
                            body: row.get(4),
                            signature: row.get(5),
                        },
                    )
                })
                .collect())
        })
    }
}

impl IncidentStore for PostgresStore {
    fn put_incident(&self, incident: &Incident) -> Result<bool, StoreError> {
        let body = serde_json::to_string(incident)
            .map_err(|error| corrupt(format!("cannot encode incident: {error}")))?;
        let queue = crate::queue::columns(incident)?;
        self.with_client(|connection| {
            let (client, statements) = connection.parts();
            let mut transaction = client.transaction()?;
            let insert = statements.get(
                &mut transaction,
                "INSERT INTO incidents (id, version, first_ns, body, escalated, severity,
                     confidence, last_ns, superseded, hosts, search, summary, users)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     first_ns = excluded.first_ns, body = excluded.body,
                     escalated = excluded.escalated, severity = excluded.severity,
                     confidence = excluded.confidence, last_ns = excluded.last_ns,
                     superseded = excluded.superseded, hosts = excluded.hosts,
                     search = excluded.search, summary = excluded.summary,
                     users = excluded.users
                 WHERE excluded.version > incidents.version",
            )?;
            let changed = transaction.execute(
                &insert,
                &[
                    &text(&incident.id.0),
                    &(incident.version as i64),
                    &nanos(incident.first_seen),
                    &body,
                    &queue.escalated,
                    &queue.severity,
                    &queue.confidence,
                    &queue.last_ns,
                    &queue.superseded,
                    &text(&queue.hosts),
                    &text(&queue.search),
                    &queue.summary,
                    &text(&queue.users),
                ],
            )?;
            if changed > 0 {
                crate::alerts::index_postgres(&mut transaction, statements, incident)?;
                super::outbox::incident(&mut transaction, statements, incident)?;
            }
            transaction.commit()?;
            Ok(changed > 0)
        })
    }

    fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        self.with_client(|client| {
            let statement = client.prepared("SELECT body FROM incidents WHERE id = $1")?;
            let row = client.query_opt(&statement, &[&text(&id.0)])?;
            row.map(|row| {
                serde_json::from_str(row.get(0))
                    .map_err(|error| corrupt(format!("incident {id}: {error}")))
            })
            .transpose()
        })
    }

    fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.with_client(|client| {
            let rows = client.query(
                "SELECT id, body FROM incidents ORDER BY first_ns NULLS FIRST, id",
                &[],
            )?;
            rows.iter()
                .map(|row| {
                    let id: &str = row.get(0);
                    serde_json::from_str(row.get(1))
                        .map_err(|error| corrupt(format!("incident {id}: {error}")))
                })
                .collect()
        })
    }

    fn incident_queue(
        &self,
        query: &IncidentQuery,
    ) -> Result<(Vec<IncidentSummary>, u64), StoreError> {
        let (filter, params) = crate::queue::filter(
            query,
            |n| format!("${n}"),
            |column, p| format!("strpos({column}, {p}) > 0"),
        );
        let values: Vec<Box<dyn postgres::types::ToSql + Sync>> = params
            .into_iter()
            .map(|param| -> Box<dyn postgres::types::ToSql + Sync> {
                match param {
                    crate::queue::Param::Int(n) => Box::new(n),
                    crate::queue::Param::Text(value) => Box::new(text(&value).into_owned()),
                }
            })
            .collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            values.iter().map(|value| value.as_ref()).collect();
        self.with_client(|client| {
            let total: i64 = client
                .query_one(
                    &format!("SELECT count(*) FROM {} WHERE {filter}", crate::queue::FROM),
                    &refs,
                )?
                .get(0);
            let rows = client.query(
                &format!(
                    "SELECT incidents.id, incidents.summary, cases.status, cases.assignee FROM {}
                     WHERE {filter} ORDER BY {} LIMIT {} OFFSET {}",
                    crate::queue::FROM,
                    crate::queue::ORDER,
                    query.limit,
                    query.offset.min(i64::MAX as u64)
                ),
                &refs,
            )?;
            let summaries = rows
                .iter()
                .map(|row| {
                    crate::queue::decode_summary(row.get(0), row.get(1), row.get(2), row.get(3))
                })
                .collect::<Result<_, _>>()?;
            Ok((summaries, total as u64))
        })
    }
}

/// Fills in the queue columns of incident rows written before they existed.
pub(crate) fn reindex_incidents(connection: &mut Connection) -> Result<(), StoreError> {
    let (client, statements) = connection.parts();
    let pending = client.query("SELECT id, body FROM incidents WHERE summary IS NULL", &[])?;
    for row in &pending {
        let (id, body): (&str, &str) = (row.get(0), row.get(1));
        let incident = crate::queue::decode_incident(id, body)?;
        crate::alerts::index_postgres(client, statements, &incident)?;
        let queue = crate::queue::columns(&incident)?;
        client.execute(
            "UPDATE incidents SET escalated = $2, severity = $3, confidence = $4, last_ns = $5,
                 superseded = $6, hosts = $7, search = $8, summary = $9, users = $10
             WHERE id = $1",
            &[
                &id,
                &queue.escalated,
                &queue.severity,
                &queue.confidence,
                &queue.last_ns,
                &queue.superseded,
                &text(&queue.hosts),
                &text(&queue.search),
                &queue.summary,
                &text(&queue.users),
            ],
        )?;
    }
    Ok(())
}
