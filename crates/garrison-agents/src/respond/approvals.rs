//! People's answers: approve, reject, modify, and expiry of what nobody answered.

use super::{Answer, Responder, priority};
use garrison_model::action::{ActionRecord, ActionState, Autonomy, PolicyVerdict, Target};
use garrison_model::{Incident, Timestamp};
use garrison_store::{ActionChange, AuditAction, StoreError};

impl Responder {
    /// Approves an awaiting action (a second approval changes nothing).
    pub fn approve(&self, key: &str, now: Timestamp) -> Result<Answer, StoreError> {
        self.answer(
            key,
            ActionState::AwaitingApproval,
            ActionState::Approved,
            AuditAction::ResponseApproved,
            "approved".into(),
            now,
        )
    }

    /// Rejects an awaiting action.
    pub fn reject(&self, key: &str, reason: &str, now: Timestamp) -> Result<Answer, StoreError> {
        self.answer(
            key,
            ActionState::AwaitingApproval,
            ActionState::Rejected,
            AuditAction::ResponseRejected,
            format!("rejected: {reason}"),
            now,
        )
    }

    /// Replaces an awaiting action's target (a person corrects what the playbook picked):
    /// the original is rejected, the replacement decided by the policy again for `incident`
    /// and approved by this person, unless the policy denies it or the kind's autonomy keeps
    /// Garrison's hands off. Returns what became of the original, and the replacement.
    pub fn modify(
        &self,
        key: &str,
        target: Target,
        incident: &Incident,
        now: Timestamp,
    ) -> Result<(Answer, Option<ActionRecord>), StoreError> {
        let Some(original) = self.store.action(key)? else {
            return Ok((Answer::NoSuchAction, None));
        };
        if original.state != ActionState::AwaitingApproval {
            return Ok((Answer::NotApplicable(original.state), None));
        }
        if target.kind != original.target.kind {
            return Ok((
                Answer::Refused(format!(
                    "{} is done to a {}, not a {}",
                    original.kind,
                    original.target.kind.as_str(),
                    target.kind.as_str()
                )),
                None,
            ));
        }
        let new_key = ActionRecord::key_for(&original.incident, original.kind, &target);
        if self.store.action(&new_key)?.is_some() {
            return Ok((
                Answer::Refused(format!(
                    "{} on {target} exists already: {new_key}",
                    original.kind
                )),
                None,
            ));
        }
        let facts = self.facts(&target);
        let situation = self.situation(incident, false, 1, now)?;
        let decision = self
            .policy
            .decide(original.kind, &target, &facts, &situation);
        let mut reasons = vec![format!(
            "modified by {} from {}",
            self.actor, original.target
        )];
        reasons.extend(decision.reasons);
        let state = match (decision.verdict, original.autonomy) {
            (PolicyVerdict::Deny, _) => ActionState::Denied,
            (_, Autonomy::ReportOnly) => ActionState::ReportOnly,
            (_, Autonomy::Propose) => ActionState::Proposed,
            _ if self.connector(original.kind).is_none() => {
                reasons.push(format!(
                    "no connector carries out {}: proposed for a person to do",
                    original.kind
                ));
                ActionState::Proposed
            }
            _ => ActionState::Approved,
        };
        let rejected = self.answer(
            key,
            ActionState::AwaitingApproval,
            ActionState::Rejected,
            AuditAction::ResponseRejected,
            format!("modified: replaced by {new_key} on {target}"),
            now,
        )?;
        if rejected != Answer::Done(ActionState::Rejected) {
            return Ok((rejected, None));
        }
        let record = ActionRecord {
            key: new_key,
            target,
            state,
            verdict: decision.verdict,
            reasons,
            priority: priority(incident, &facts),
            proposed_at: now,
            updated_at: now,
            expires_at: None,
            decided_by: (state == ActionState::Approved).then(|| self.actor.clone()),
            attempts: 0,
            outcome: None,
            ..original
        };
        let audit = self.decision_audit(AuditAction::ResponseApproved, &record);
        self.store.propose_action(&record, &audit)?;
        Ok((rejected, Some(record)))
    }

    fn answer(
        &self,
        key: &str,
        from: ActionState,
        to: ActionState,
        action: AuditAction,
        detail: String,
        now: Timestamp,
    ) -> Result<Answer, StoreError> {
        let Some(record) = self.store.action(key)? else {
            return Ok(Answer::NoSuchAction);
        };
        let change = ActionChange {
            decided_by: Some(self.actor.clone()),
            ..ActionChange::default()
        };
        if self.step(&record, &[from], to, &change, action, &detail, now)? {
            Ok(Answer::Done(to))
        } else {
            let state = self.store.action(key)?.map_or(record.state, |r| r.state);
            Ok(Answer::NotApplicable(state))
        }
    }

    /// Expires awaiting approvals nobody answered in time; returns how many.
    pub fn expire(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut expired = 0;
        for record in self
            .store
            .actions(&[ActionState::AwaitingApproval], 10_000)?
        {
            if record.expires_at.is_some_and(|at| at <= now)
                && self.step(
                    &record,
                    &[ActionState::AwaitingApproval],
                    ActionState::Expired,
                    &ActionChange::default(),
                    AuditAction::ResponseRejected,
                    "expired unanswered",
                    now,
                )?
            {
                expired += 1;
            }
        }
        Ok(expired)
    }
}
