//! The transactional outbox: a state change and the message announcing it are never split.
//!
//! Storing an incident version and moving a response action each add a row to `outbox` in the
//! change's own transaction: both are committed, or neither is. A relay (in the processes
//! holding the announcing role's key) reads the rows in order, publishes each with an id made
//! from its key (so a republished row is recognized as a duplicate), and only then removes
//! them. A relay dying between publishing and removing repeats, never loses, an announcement.
//!
//! Rows are ordered by `seq`; two transactions committing out of `seq` order may be published
//! out of order too (each is published once it is visible), never skipped.

use super::statements::Statements;
use super::{PostgresStore, text};
use crate::StoreError;
use crate::records::corrupt;
use garrison_model::Incident;
use garrison_model::action::ActionRecord;

/// Announcements of stored incident versions (body: the incident's `IncidentSummary`).
pub const INCIDENT: &str = "incident";
/// Announcements of response actions proposed or moved (body: the `ActionRecord`).
pub const ACTION: &str = "action";

/// One announcement waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub topic: String,
    /// Names the change announced: the same change always has the same key.
    pub key: String,
    /// The announcement as JSON.
    pub body: String,
}

/// Adds the announcement of `incident`'s version to the transaction storing it.
pub(crate) fn incident(
    transaction: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    incident: &Incident,
) -> Result<(), StoreError> {
    let body = serde_json::to_string(&incident.summary())
        .map_err(|error| corrupt(format!("cannot encode incident summary: {error}")))?;
    let key = format!("incident/{}/{}", incident.id, incident.version);
    add(transaction, statements, INCIDENT, &key, &body)
}

/// Adds the announcement of `action` as it now stands to the transaction moving it.
pub(crate) fn action(
    transaction: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    action: &ActionRecord,
) -> Result<(), StoreError> {
    let body = serde_json::to_string(action)
        .map_err(|error| corrupt(format!("cannot encode action {}: {error}", action.key)))?;
    let key = format!(
        "action/{}/{}/{}",
        action.key,
        action.state.as_str(),
        action.updated_at.as_nanosecond()
    );
    add(transaction, statements, ACTION, &key, &body)
}

fn add(
    transaction: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    topic: &str,
    key: &str,
    body: &str,
) -> Result<(), StoreError> {
    let insert = statements.get(
        transaction,
        "INSERT INTO outbox (topic, key, body) VALUES ($1, $2, $3)",
    )?;
    transaction.execute(&insert, &[&topic, &text(key), &body])?;
    Ok(())
}

impl PostgresStore {
    /// Up to `limit` announcements of `topics` waiting to be published, oldest first.
    pub fn outbox_pending(
        &self,
        topics: &[&str],
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with_client(|client| {
            let statement = client.prepared(
                "SELECT seq, topic, key, body FROM outbox WHERE topic = ANY($1)
                 ORDER BY seq LIMIT $2",
            )?;
            Ok(client
                .query(&statement, &[&topics, &(limit as i64)])?
                .iter()
                .map(|row| OutboxEntry {
                    seq: row.get(0),
                    topic: row.get(1),
                    key: row.get(2),
                    body: row.get(3),
                })
                .collect())
        })
    }

    /// Removes published announcements; how many were still there.
    pub fn outbox_published(&self, seqs: &[i64]) -> Result<u64, StoreError> {
        self.with_client(|client| {
            let statement = client.prepared("DELETE FROM outbox WHERE seq = ANY($1)")?;
            Ok(client.execute(&statement, &[&seqs])?)
        })
    }

    /// Announcements waiting to be published, per topic.
    pub fn outbox_depth(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.with_client(|client| {
            Ok(client
                .query(
                    "SELECT topic, count(*) FROM outbox GROUP BY topic ORDER BY topic",
                    &[],
                )?
                .iter()
                .map(|row| (row.get(0), row.get::<_, i64>(1) as u64))
                .collect())
        })
    }
}
