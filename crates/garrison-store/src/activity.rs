//! What else a host or a user did: their stored events, newest first, a page at a time.

use crate::records::{EVENT_COLUMNS, event_row, nanos, with_fields};
use crate::{PostgresStore, SqliteStore, StoreError, StoredEvent};
use garrison_model::Timestamp;
use rusqlite::params;

/// Whose events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Host,
    User,
}

/// Where a page of activity ends: the next page starts after it. Opaque outside the store
/// that made it (a time and a tie-breaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityCursor {
    pub at_ns: i64,
    pub tie: i64,
}

impl std::fmt::Display for ActivityCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.at_ns, self.tie)
    }
}

impl std::str::FromStr for ActivityCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<ActivityCursor, String> {
        let bad = || format!("{text:?} is not a cursor this server gave out");
        let (at, tie) = text.split_once('.').ok_or_else(bad)?;
        Ok(ActivityCursor {
            at_ns: at.parse().map_err(|_| bad())?,
            tie: tie.parse().map_err(|_| bad())?,
        })
    }
}

impl ActivityCursor {
    /// Where a newest-first page starts: after `after` when given, else at `until` (a time,
    /// none: the latest), its ties included.
    pub(crate) fn start(after: Option<ActivityCursor>, until: Option<Timestamp>) -> (i64, i64) {
        match after {
            Some(cursor) => (cursor.at_ns, cursor.tie),
            None => (nanos(until).unwrap_or(i64::MAX), i64::MAX),
        }
    }
}

/// One page of activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Newest first.
    pub events: Vec<StoredEvent>,
    /// Where the next page starts; none when this page is the last.
    pub next: Option<ActivityCursor>,
}

/// Events by host or user.
pub trait ActivityStore: Send + Sync {
    /// The timed events of `subject` named `name` (case-insensitively) at or before `until`,
    /// and after `after` when given (a cursor from an earlier page), newest first, at most
    /// `limit`.
    fn activity(
        &self,
        subject: Subject,
        name: &str,
        until: Timestamp,
        after: Option<ActivityCursor>,
        limit: usize,
    ) -> Result<Activity, StoreError>;
}

/// The first `limit` of `rows` (fetched `limit + 1`, to tell whether there are more) and
/// where the next page starts.
pub(crate) fn keyset_page<T>(
    mut rows: Vec<(T, ActivityCursor)>,
    limit: usize,
) -> (Vec<T>, Option<ActivityCursor>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more
        .then(|| rows.last().map(|(_, cursor)| *cursor))
        .flatten();
    (rows.into_iter().map(|(row, _)| row).collect(), next)
}

fn page(rows: Vec<(StoredEvent, ActivityCursor)>, limit: usize) -> Activity {
    let (events, next) = keyset_page(rows, limit);
    Activity { events, next }
}

impl ActivityStore for SqliteStore {
    fn activity(
        &self,
        subject: Subject,
        name: &str,
        until: Timestamp,
        after: Option<ActivityCursor>,
        limit: usize,
    ) -> Result<Activity, StoreError> {
        let column = match subject {
            Subject::Host => "host",
            Subject::User => "user",
        };
        // The row id breaks ties: it is in every index, so the scan stays on the index.
        let (at, tie) = ActivityCursor::start(after, Some(until));
        let connection = self.connection();
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS}, seq FROM evidence
             WHERE {column} = ?1 COLLATE NOCASE AND at_ns IS NOT NULL AND (at_ns, seq) < (?2, ?3)
             ORDER BY at_ns DESC, seq DESC LIMIT ?4"
        ))?;
        let rows = statement.query_map(params![name, at, tie, limit as i64 + 1], |row| {
            Ok((
                event_row(row)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(15)?,
            ))
        })?;
        let mut found = Vec::new();
        for row in rows {
            let (event, at_ns, seq) = row?;
            found.push((with_fields(event)?, ActivityCursor { at_ns, tie: seq }));
        }
        Ok(page(found, limit))
    }
}

impl ActivityStore for PostgresStore {
    fn activity(
        &self,
        subject: Subject,
        name: &str,
        until: Timestamp,
        after: Option<ActivityCursor>,
        limit: usize,
    ) -> Result<Activity, StoreError> {
        use crate::postgres::records::{EVENT_COLUMNS, event_of};
        let column = match subject {
            Subject::Host => "host",
            Subject::User => "user_name",
        };
        let (at, tie) = ActivityCursor::start(after, Some(until));
        self.with_client(|client| {
            let rows = client.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM evidence
                     WHERE lower({column}) = lower($1) AND at_ns IS NOT NULL
                       AND (at_ns, id) < ($2, $3)
                     ORDER BY at_ns DESC, id DESC LIMIT $4"
                ),
                &[&crate::postgres::text(name), &at, &tie, &(limit as i64 + 1)],
            )?;
            let found = rows
                .iter()
                .map(|row| {
                    Ok((
                        event_of(row)?,
                        ActivityCursor {
                            at_ns: row.get(1),
                            tie: row.get(0),
                        },
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(page(found, limit))
        })
    }
}
