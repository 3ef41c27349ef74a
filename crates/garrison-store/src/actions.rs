//! Response actions and the approvals queue: one record per idempotency key, moved from state
//! to state only by compare-and-set (so an action approved twice, or claimed by two
//! responders, runs once), each move written in one transaction with its audit entry; and the
//! kill switch.

use crate::audit::AuditRecord;
use crate::{SqliteStore, StoreError};
use garrison_model::Timestamp;
use garrison_model::action::{ActionRecord, ActionState};
use garrison_model::feedback::{VerdictRecord, VerdictSubject};
use rusqlite::{OptionalExtension, params};

/// What a move changes besides the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionChange {
    pub decided_by: Option<String>,
    pub assignee: Option<String>,
    pub outcome: Option<String>,
    /// One more call made to the connector.
    pub attempt: bool,
    /// A new expiry (an approval deferred).
    pub expires_at: Option<Timestamp>,
    /// Move only if the record was last changed at this moment (nobody moved it since it
    /// was read, even to the same state).
    pub if_updated_at: Option<Timestamp>,
}

/// Where response actions and approvals live.
pub trait ActionStore: Send + Sync {
    /// Records a proposed action, with its audit entry, unless its key is known; true when new.
    fn propose_action(
        &self,
        action: &ActionRecord,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError>;
    fn action(&self, key: &str) -> Result<Option<ActionRecord>, StoreError>;
    /// Actions in one of `states` (every state when empty), highest priority first, then
    /// oldest, at most `limit`.
    fn actions(
        &self,
        states: &[ActionState],
        limit: usize,
    ) -> Result<Vec<ActionRecord>, StoreError>;
    /// Actions of one incident, oldest first.
    fn incident_actions(&self, incident: &str) -> Result<Vec<ActionRecord>, StoreError>;
    /// How many actions are in each state (states with none left out).
    fn action_counts(&self) -> Result<Vec<(ActionState, u64)>, StoreError>;
    /// Moves `key` to `to` if it is in one of `from`, applying `change` and appending `audit`
    /// in the same transaction; false (nothing written) when it was not: someone else moved
    /// it first.
    fn transition(
        &self,
        key: &str,
        from: &[ActionState],
        to: ActionState,
        change: &ActionChange,
        audit: &AuditRecord,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// How many actions were handed to a connector since `since`.
    fn actions_started_since(&self, since: Timestamp) -> Result<u64, StoreError>;
    /// True while automatic actions are stopped.
    fn kill_switch(&self) -> Result<bool, StoreError>;
    /// Turns the kill switch on or off, with its audit entry.
    fn set_kill_switch(
        &self,
        on: bool,
        audit: &AuditRecord,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Records that `by` took `incident` on (its scheduled escalations are not sent), with
    /// its audit entry; false when someone had already.
    fn acknowledge(
        &self,
        incident: &str,
        by: &str,
        audit: &AuditRecord,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Who took `incident` on, and when.
    fn acknowledgement(&self, incident: &str) -> Result<Option<(String, Timestamp)>, StoreError>;
}

/// Where analysts' verdicts are kept.
pub trait VerdictStore: Send + Sync {
    /// Records a verdict, with its audit entry, in one transaction.
    fn record_verdict(
        &self,
        verdict: &VerdictRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
    /// Every verdict, oldest first (a later verdict on the same subject supersedes it).
    fn verdicts(&self) -> Result<Vec<VerdictRecord>, StoreError>;
    /// The verdicts on `subject`, oldest first.
    fn verdicts_about(&self, subject: &VerdictSubject) -> Result<Vec<VerdictRecord>, StoreError>;
}

/// A record as the JSON body its row holds (`what` names it in an error).
pub(crate) fn encode<T: serde::Serialize>(
    value: &T,
    what: impl std::fmt::Display,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Corrupt {
        what: format!("{what}: {error}"),
    })
}

/// A record from the JSON body of its row (`what` names its kind in an error).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    body: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|error| StoreError::Corrupt {
        what: format!("{what} does not read back: {error}"),
    })
}

impl VerdictStore for SqliteStore {
    fn record_verdict(
        &self,
        verdict: &VerdictRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let body = encode(verdict, &verdict.subject)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        transaction.execute(
            "INSERT INTO verdicts (subject, at_ns, body) VALUES (?1, ?2, ?3)",
            params![verdict.subject.to_string(), nanos(verdict.at), body],
        )?;
        crate::sqlite::append_in(&transaction, audit, verdict.at)?;
        transaction.commit()?;
        Ok(())
    }

    fn verdicts(&self) -> Result<Vec<VerdictRecord>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare("SELECT body FROM verdicts ORDER BY seq")?;
        let bodies = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|body| decode(body, VERDICT)).collect()
    }

    fn verdicts_about(&self, subject: &VerdictSubject) -> Result<Vec<VerdictRecord>, StoreError> {
        let connection = self.connection();
        let mut statement =
            connection.prepare("SELECT body FROM verdicts WHERE subject = ?1 ORDER BY seq")?;
        let bodies = statement
            .query_map([subject.to_string()], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|body| decode(body, VERDICT)).collect()
    }
}

/// Counts by state code, as the stores keep them, by state (unknown codes left out).
pub(crate) fn counted(rows: Vec<(String, i64)>) -> Vec<(ActionState, u64)> {
    rows.into_iter()
        .filter_map(|(code, count)| {
            ActionState::ALL
                .into_iter()
                .find(|state| state.as_str() == code)
                .map(|state| (state, count.max(0) as u64))
        })
        .collect()
}

/// Applies `change` and the new state to `record`.
pub(crate) fn apply(
    record: &mut ActionRecord,
    to: ActionState,
    change: &ActionChange,
    at: Timestamp,
) {
    record.state = to;
    record.updated_at = at;
    if let Some(by) = &change.decided_by {
        record.decided_by = Some(by.clone());
    }
    if let Some(assignee) = &change.assignee {
        record.assignee = Some(assignee.clone());
    }
    if let Some(outcome) = &change.outcome {
        record.outcome = Some(outcome.clone());
    }
    if change.attempt {
        record.attempts += 1;
    }
    if let Some(expiry) = change.expires_at {
        record.expires_at = Some(expiry);
    }
}

pub(crate) const ACTION: &str = "an action record";
pub(crate) const VERDICT: &str = "a verdict";

pub(crate) fn nanos(at: Timestamp) -> i64 {
    at.as_nanosecond() as i64
}

pub(crate) fn from_nanos(at: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_nanosecond(i128::from(at)).map_err(|error| StoreError::Corrupt {
        what: format!("a stored time is out of range: {error}"),
    })
}

const KILL_SWITCH: &str = "kill_switch";

impl ActionStore for SqliteStore {
    fn propose_action(
        &self,
        action: &ActionRecord,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let body = encode(action, &action.key)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let inserted = transaction.execute(
            "INSERT INTO actions (key, incident, state, priority, proposed_ns, started_ns, body)
             VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6) ON CONFLICT (key) DO NOTHING",
            params![
                action.key,
                action.incident.0,
                action.state.as_str(),
                action.priority,
                nanos(action.proposed_at),
                body
            ],
        )?;
        if inserted == 1 {
            crate::sqlite::append_in(&transaction, audit, action.proposed_at)?;
        }
        transaction.commit()?;
        Ok(inserted == 1)
    }

    fn action(&self, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        let body: Option<String> = self
            .connection()
            .query_row("SELECT body FROM actions WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()?;
        body.as_deref().map(|body| decode(body, ACTION)).transpose()
    }

    fn actions(
        &self,
        states: &[ActionState],
        limit: usize,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        let states: Vec<&str> = if states.is_empty() {
            ActionState::ALL
                .iter()
                .map(|state| state.as_str())
                .collect()
        } else {
            states.iter().map(|state| state.as_str()).collect()
        };
        let list = serde_json::to_string(&states).unwrap_or_default();
        let connection = self.connection();
        let mut statement = connection.prepare(
            "SELECT body FROM actions WHERE state IN (SELECT value FROM json_each(?1))
             ORDER BY priority DESC, proposed_ns, key LIMIT ?2",
        )?;
        let bodies = statement
            .query_map(params![list, limit as i64], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|body| decode(body, ACTION)).collect()
    }

    fn action_counts(&self) -> Result<Vec<(ActionState, u64)>, StoreError> {
        let connection = self.connection();
        let mut statement =
            connection.prepare("SELECT state, count(*) FROM actions GROUP BY state")?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(counted(rows))
    }

    fn incident_actions(&self, incident: &str) -> Result<Vec<ActionRecord>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare("SELECT body FROM actions WHERE incident = ?1 ORDER BY proposed_ns, key")?;
        let bodies = statement
            .query_map([incident], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|body| decode(body, ACTION)).collect()
    }

    fn transition(
        &self,
        key: &str,
        from: &[ActionState],
        to: ActionState,
        change: &ActionChange,
        audit: &AuditRecord,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let body: Option<String> = transaction
            .query_row("SELECT body FROM actions WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()?;
        let Some(body) = body else {
            return Ok(false);
        };
        let mut record: ActionRecord = decode(&body, ACTION)?;
        if !from.contains(&record.state)
            || change
                .if_updated_at
                .is_some_and(|at| at != record.updated_at)
        {
            return Ok(false);
        }
        apply(&mut record, to, change, at);
        let started = (to == ActionState::Executing).then(|| nanos(at));
        transaction.execute(
            "UPDATE actions SET state = ?2, body = ?3, started_ns = COALESCE(?4, started_ns)
             WHERE key = ?1",
            params![key, to.as_str(), encode(&record, key)?, started],
        )?;
        crate::sqlite::append_in(&transaction, audit, at)?;
        transaction.commit()?;
        Ok(true)
    }

    fn actions_started_since(&self, since: Timestamp) -> Result<u64, StoreError> {
        let count: i64 = self.connection().query_row(
            "SELECT count(*) FROM actions WHERE started_ns >= ?1",
            [nanos(since)],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    fn kill_switch(&self) -> Result<bool, StoreError> {
        let value: Option<String> = self
            .connection()
            .query_row(
                "SELECT value FROM settings WHERE name = ?1",
                [KILL_SWITCH],
                |row| row.get(0),
            )
            .optional()?;
        Ok(value.as_deref() == Some("on"))
    }

    fn set_kill_switch(
        &self,
        on: bool,
        audit: &AuditRecord,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        transaction.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![KILL_SWITCH, if on { "on" } else { "off" }],
        )?;
        crate::sqlite::append_in(&transaction, audit, at)?;
        transaction.commit()?;
        Ok(())
    }

    fn acknowledge(
        &self,
        incident: &str,
        by: &str,
        audit: &AuditRecord,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let inserted = transaction.execute(
            "INSERT INTO acknowledgements (incident, by_whom, at_ns) VALUES (?1, ?2, ?3)
             ON CONFLICT (incident) DO NOTHING",
            params![incident, by, nanos(at)],
        )?;
        if inserted == 1 {
            crate::sqlite::append_in(&transaction, audit, at)?;
        }
        transaction.commit()?;
        Ok(inserted == 1)
    }

    fn acknowledgement(&self, incident: &str) -> Result<Option<(String, Timestamp)>, StoreError> {
        let row: Option<(String, i64)> = self
            .connection()
            .query_row(
                "SELECT by_whom, at_ns FROM acknowledgements WHERE incident = ?1",
                [incident],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        row.map(|(by, at)| Ok((by, from_nanos(at)?))).transpose()
    }
}
