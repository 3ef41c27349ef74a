//! Carrying actions out: claimed by compare-and-set, called with bounded retries, taken
//! over when a responder died mid-call, and undone.

use super::{Answer, Responder};
use garrison_model::action::{ActionRecord, ActionState};
use garrison_response::{Call, ConnectorError};
use garrison_store::{ActionChange, AuditAction, StoreError};
use std::time::Duration;

impl Responder {
    /// Carries out every approved action, unless the kill switch is on; returns how many
    /// this responder claimed.
    pub async fn execute_ready(&self, clock: &dyn crate::Clock) -> Result<usize, StoreError> {
        if self.store.kill_switch()? {
            return Ok(0);
        }
        let mut claimed = 0;
        for record in self.store.actions(&[ActionState::Approved], 1_000)? {
            if self.execute(record, ActionState::Approved, clock).await? {
                claimed += 1;
            }
        }
        Ok(claimed)
    }

    /// Claims `record` (in state `from`) and calls its connector, with bounded retries of
    /// transient failures. False when another responder claimed it first.
    async fn execute(
        &self,
        record: ActionRecord,
        from: ActionState,
        clock: &dyn crate::Clock,
    ) -> Result<bool, StoreError> {
        let Some(connector) = self.connector_for(&record).cloned() else {
            let reason = "no connector carries it out";
            let change = ActionChange {
                outcome: Some(reason.into()),
                ..ActionChange::default()
            };
            let failed = AuditAction::ResponseFailed;
            self.step(
                &record,
                &[from],
                ActionState::Failed,
                &change,
                failed,
                reason,
                clock.now(),
            )?;
            return Ok(false);
        };
        let call = Call {
            key: record.key.clone(),
            kind: record.kind,
            target: record.target.clone(),
            incident: record.incident.clone(),
            summary: format!("Garrison incident {}", record.incident),
            rollback: false,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let change = ActionChange {
                attempt: true,
                ..ActionChange::default()
            };
            let from_now = if attempt == 1 {
                from
            } else {
                ActionState::Executing
            };
            let handed = format!(
                "handed to {} (call {})",
                connector.name(),
                record.attempts + attempt
            );
            let started = AuditAction::ResponseStarted;
            let executing = ActionState::Executing;
            if !self.step(
                &record,
                &[from_now],
                executing,
                &change,
                started,
                &handed,
                clock.now(),
            )? {
                return Ok(false);
            }
            let result = connector.call(&call).await;
            let (state, action, outcome) = match result {
                Ok(answer) => (
                    ActionState::Succeeded,
                    AuditAction::ResponseExecuted,
                    answer,
                ),
                Err(ConnectorError::Transient(reason)) if attempt < self.config.max_attempts => {
                    let wait = self.config.retry_backoff * 2u32.pow(attempt - 1);
                    tracing::warn!(
                        "garrison: {} {} through {}: {reason}; trying again in {wait:?}",
                        record.kind,
                        record.target,
                        connector.name()
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(ConnectorError::Ambiguous(reason)) => (
                    ActionState::Unknown,
                    AuditAction::ResponseFailed,
                    format!("outcome unknown, not retried automatically: {reason}"),
                ),
                Err(error) => (
                    ActionState::Failed,
                    AuditAction::ResponseFailed,
                    error.to_string(),
                ),
            };
            let detail = format!("{state}: {outcome}");
            let change = ActionChange {
                outcome: Some(outcome),
                ..ActionChange::default()
            };
            let executing = [ActionState::Executing];
            self.step(
                &record,
                &executing,
                state,
                &change,
                action,
                &detail,
                clock.now(),
            )?;
            return Ok(true);
        }
    }

    /// Takes over actions a responder left `executing` longer than `stale_after` ago (it
    /// died mid-call): sent again where that is safe, else marked unknown for a person.
    pub async fn recover(
        &self,
        stale_after: Duration,
        clock: &dyn crate::Clock,
    ) -> Result<usize, StoreError> {
        let now = clock.now();
        let mut recovered = 0;
        for record in self.store.actions(&[ActionState::Executing], 1_000)? {
            let stale = now
                .checked_sub(stale_after)
                .is_ok_and(|limit| record.updated_at <= limit);
            if !stale {
                continue;
            }
            let safe = record.kind.sets_state()
                || self
                    .connector_for(&record)
                    .is_some_and(|connector| connector.honors_idempotency_key());
            let executing = [ActionState::Executing];
            if safe && !self.store.kill_switch()? {
                // Back to approved first, so exactly one responder re-claims it.
                let why = if record.kind.sets_state() {
                    "the action sets a state"
                } else {
                    "the connector deduplicates by idempotency key"
                };
                let detail =
                    format!("its responder stopped mid-call; sending it again (safe: {why})");
                let change = ActionChange {
                    if_updated_at: Some(record.updated_at),
                    ..ActionChange::default()
                };
                let (approved, started) = (ActionState::Approved, AuditAction::ResponseStarted);
                if self.step(
                    &record, &executing, approved, &change, started, &detail, now,
                )? && self.execute(record, approved, clock).await?
                {
                    recovered += 1;
                }
            } else if !safe {
                let detail = "its responder stopped mid-call and sending it again could do it \
                              twice: a person checks";
                let change = ActionChange {
                    outcome: Some("responder stopped mid-call: outcome unknown".into()),
                    if_updated_at: Some(record.updated_at),
                    ..ActionChange::default()
                };
                let (unknown, failed) = (ActionState::Unknown, AuditAction::ResponseFailed);
                if self.step(&record, &executing, unknown, &change, failed, detail, now)? {
                    recovered += 1;
                }
            }
        }
        Ok(recovered)
    }

    /// Undoes a succeeded action through its connector (isolation released, user
    /// unsuspended, block removed).
    pub async fn rollback(&self, key: &str, clock: &dyn crate::Clock) -> Result<Answer, String> {
        let failed = |error: StoreError| error.to_string();
        let Some(record) = self.store.action(key).map_err(failed)? else {
            return Ok(Answer::NoSuchAction);
        };
        if record.state != ActionState::Succeeded {
            return Ok(Answer::NotApplicable(record.state));
        }
        let Some(undo) = record.kind.rollback() else {
            return Err(format!("{} cannot be undone", record.kind));
        };
        let connector = self
            .connector_for(&record)
            .ok_or_else(|| format!("no connector carries out {}", record.kind))?;
        let claim = ActionChange {
            decided_by: Some(self.actor.clone()),
            if_updated_at: Some(record.updated_at),
            ..ActionChange::default()
        };
        let succeeded = [ActionState::Succeeded];
        let (started, detail) = (AuditAction::ResponseStarted, format!("{undo} (rollback)"));
        let same = ActionState::Succeeded;
        if !self
            .step(
                &record,
                &succeeded,
                same,
                &claim,
                started,
                &detail,
                clock.now(),
            )
            .map_err(failed)?
        {
            return Ok(Answer::NotApplicable(record.state));
        }
        let call = Call {
            key: format!("{key}-rollback"),
            kind: record.kind,
            target: record.target.clone(),
            incident: record.incident.clone(),
            summary: format!("Garrison incident {}: {undo}", record.incident),
            rollback: true,
        };
        let (to, action, outcome) = match connector.call(&call).await {
            Ok(answer) => (
                ActionState::RolledBack,
                AuditAction::ResponseReverted,
                format!("rolled back: {answer}"),
            ),
            // Still in force: the rollback is audited as failed and may be asked for again.
            Err(error) => (
                ActionState::Succeeded,
                AuditAction::ResponseFailed,
                format!("{undo} failed: {error}"),
            ),
        };
        let change = ActionChange {
            outcome: Some(outcome.clone()),
            ..ActionChange::default()
        };
        self.step(
            &record,
            &succeeded,
            to,
            &change,
            action,
            &outcome,
            clock.now(),
        )
        .map_err(failed)?;
        if to != ActionState::RolledBack {
            return Err(outcome);
        }
        Ok(Answer::Done(ActionState::RolledBack))
    }
}
