//! Response actions and the kill switch in PostgreSQL: the same compare-and-set moves as the
//! embedded store, the row locked for the move, committed with the move's audit entry and the
//! announcement of the action as it now stands (the outbox).

use super::{PostgresStore, append_in, text};
use crate::StoreError;
use crate::actions::{
    ACTION, ActionChange, ActionStore, VERDICT, VerdictStore, apply, decode, encode, from_nanos,
    nanos,
};
use crate::audit::AuditRecord;
use garrison_model::Timestamp;
use garrison_model::action::{ActionRecord, ActionState};
use garrison_model::feedback::{VerdictRecord, VerdictSubject};

const KILL_SWITCH: &str = "kill_switch";

impl ActionStore for PostgresStore {
    fn propose_action(
        &self,
        action: &ActionRecord,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let body = encode(action, &action.key)?;
        self.with_client(|connection| {
            let (client, statements) = connection.parts();
            let mut transaction = client.transaction()?;
            let inserted = transaction.execute(
                "INSERT INTO actions (key, incident, state, priority, proposed_ns, body)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
                &[
                    &action.key,
                    &text(&action.incident.0),
                    &action.state.as_str(),
                    &i64::from(action.priority),
                    &nanos(action.proposed_at),
                    &text(&body),
                ],
            )?;
            if inserted == 1 {
                append_in(&mut transaction, audit, action.proposed_at)?;
                super::outbox::action(&mut transaction, statements, action)?;
            }
            transaction.commit()?;
            Ok(inserted == 1)
        })
    }

    fn action(&self, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query_opt("SELECT body FROM actions WHERE key = $1", &[&key])?
                .map(|row| decode(row.get(0), ACTION))
                .transpose()
        })
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
        self.with_client(|client| {
            client
                .query(
                    "SELECT body FROM actions WHERE state = ANY($1)
                     ORDER BY priority DESC, proposed_ns, key LIMIT $2",
                    &[&states, &(limit as i64)],
                )?
                .iter()
                .map(|row| decode(row.get(0), ACTION))
                .collect()
        })
    }

    fn action_counts(&self) -> Result<Vec<(ActionState, u64)>, StoreError> {
        self.with_client(|client| {
            let rows = client
                .query("SELECT state, count(*) FROM actions GROUP BY state", &[])?
                .iter()
                .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)))
                .collect();
            Ok(crate::actions::counted(rows))
        })
    }

    fn incident_actions(&self, incident: &str) -> Result<Vec<ActionRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query(
                    "SELECT body FROM actions WHERE incident = $1 ORDER BY proposed_ns, key",
                    &[&incident],
                )?
                .iter()
                .map(|row| decode(row.get(0), ACTION))
                .collect()
        })
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
        self.with_client(|connection| {
            let (client, statements) = connection.parts();
            let mut transaction = client.transaction()?;
            let Some(row) = transaction.query_opt(
                "SELECT body FROM actions WHERE key = $1 FOR UPDATE",
                &[&key],
            )?
            else {
                return Ok(false);
            };
            let mut record: ActionRecord = decode(row.get(0), ACTION)?;
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
                "UPDATE actions SET state = $2, body = $3, started_ns = COALESCE($4, started_ns)
                 WHERE key = $1",
                &[&key, &to.as_str(), &text(&encode(&record, key)?), &started],
            )?;
            append_in(&mut transaction, audit, at)?;
            super::outbox::action(&mut transaction, statements, &record)?;
            transaction.commit()?;
            Ok(true)
        })
    }

    fn actions_started_since(&self, since: Timestamp) -> Result<u64, StoreError> {
        self.with_client(|client| {
            let count: i64 = client
                .query_one(
                    "SELECT count(*) FROM actions WHERE started_ns >= $1",
                    &[&nanos(since)],
                )?
                .get(0);
            Ok(count as u64)
        })
    }

    fn kill_switch(&self) -> Result<bool, StoreError> {
        self.with_client(|client| {
            Ok(client
                .query_opt(
                    "SELECT value FROM settings WHERE name = $1",
                    &[&KILL_SWITCH],
                )?
                .is_some_and(|row| row.get::<_, &str>(0) == "on"))
        })
    }

    fn set_kill_switch(
        &self,
        on: bool,
        audit: &AuditRecord,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[&KILL_SWITCH, &if on { "on" } else { "off" }],
            )?;
            append_in(&mut transaction, audit, at)?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn acknowledge(
        &self,
        incident: &str,
        by: &str,
        audit: &AuditRecord,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            let inserted = transaction.execute(
                "INSERT INTO acknowledgements (incident, by_whom, at_ns) VALUES ($1, $2, $3)
                 ON CONFLICT (incident) DO NOTHING",
                &[&text(incident), &text(by), &nanos(at)],
            )?;
            if inserted == 1 {
                append_in(&mut transaction, audit, at)?;
            }
            transaction.commit()?;
            Ok(inserted == 1)
        })
    }

    fn acknowledgement(&self, incident: &str) -> Result<Option<(String, Timestamp)>, StoreError> {
        self.with_client(|client| {
            client
                .query_opt(
                    "SELECT by_whom, at_ns FROM acknowledgements WHERE incident = $1",
                    &[&incident],
                )?
                .map(|row| Ok((row.get(0), from_nanos(row.get(1))?)))
                .transpose()
        })
    }
}

impl VerdictStore for PostgresStore {
    fn record_verdict(
        &self,
        verdict: &VerdictRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let body = encode(verdict, &verdict.subject)?;
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "INSERT INTO verdicts (subject, at_ns, body) VALUES ($1, $2, $3)",
                &[
                    &text(&verdict.subject.to_string()),
                    &nanos(verdict.at),
                    &text(&body),
                ],
            )?;
            append_in(&mut transaction, audit, verdict.at)?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn verdicts(&self) -> Result<Vec<VerdictRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query("SELECT body FROM verdicts ORDER BY seq", &[])?
                .iter()
                .map(|row| decode(row.get(0), VERDICT))
                .collect()
        })
    }

    fn verdicts_about(&self, subject: &VerdictSubject) -> Result<Vec<VerdictRecord>, StoreError> {
        let subject = subject.to_string();
        self.with_client(|client| {
            client
                .query(
                    "SELECT body FROM verdicts WHERE subject = $1 ORDER BY seq",
                    &[&text(&subject)],
                )?
                .iter()
                .map(|row| decode(row.get(0), VERDICT))
                .collect()
        })
    }
}
