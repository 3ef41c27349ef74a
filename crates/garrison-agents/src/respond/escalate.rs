//! The escalation path: an escalated incident nobody took on in time notifies the next tier
//! (a chat channel, a paging tool), one tier after another, each notification an action like
//! any other (recorded once, decided by the policy, audited, carried out by its connector).

use super::{Answer, Responder, priority};
use garrison_model::action::{
    ActionKind, ActionRecord, ActionState, Autonomy, PolicyVerdict, Target, TargetKind,
};
use garrison_model::{Disposition, Incident, IncidentId, Timestamp};
use garrison_response::Situation;
use garrison_response::config::EscalationTier;
use garrison_store::{ActionChange, AuditAction, AuditRecord, StoreError};

impl Responder {
    /// The tiers an incident's severity reaches (none unless it is escalated, current and
    /// not judged benign).
    pub(super) fn tiers_for(&self, incident: &Incident) -> Vec<EscalationTier> {
        if !incident.escalated
            || incident.superseded_by.is_some()
            || incident.disposition == Disposition::Benign
        {
            return Vec::new();
        }
        self.config
            .escalation
            .iter()
            .filter(|tier| incident.severity >= tier.min_severity)
            .cloned()
            .collect()
    }

    /// Schedules a notification of each tier, due after its delay unless someone takes the
    /// incident on first; recorded once per incident and tier.
    pub(super) fn schedule_escalations(
        &self,
        incident: &Incident,
        tiers: &[EscalationTier],
        situation: &Situation,
        now: Timestamp,
        recorded: &mut Vec<ActionRecord>,
    ) -> Result<(), StoreError> {
        for tier in tiers {
            let target = Target {
                kind: TargetKind::Team,
                value: tier.tier.clone(),
            };
            let kind = ActionKind::Notify;
            let key = ActionRecord::key_for(&incident.id, kind, &target);
            if self.store.action(&key)?.is_some() {
                continue;
            }
            let facts = self.facts(&target);
            let decision = self.policy.decide(kind, &target, &facts, situation);
            let minutes = tier.after.as_secs() / 60;
            let mut reasons = vec![format!(
                "escalation to {}: sent through {} if nobody takes the incident on within {minutes} min",
                tier.tier, tier.connector
            )];
            reasons.extend(decision.reasons);
            let state = if decision.verdict == PolicyVerdict::Deny {
                ActionState::Denied
            } else {
                ActionState::Scheduled
            };
            let record = ActionRecord {
                key,
                incident: incident.id.clone(),
                incident_version: incident.version,
                kind,
                target,
                state,
                verdict: decision.verdict,
                autonomy: Autonomy::ActThenNotify,
                reasons,
                priority: priority(incident, &facts),
                proposed_at: now,
                updated_at: now,
                expires_at: now.checked_add(tier.after).ok(),
                assignee: None,
                decided_by: None,
                attempts: 0,
                outcome: None,
                connector: Some(tier.connector.clone()),
            };
            if self.store.propose_action(
                &record,
                &self.decision_audit(AuditAction::ResponseDecided, &record),
            )? {
                recorded.push(record);
            }
        }
        Ok(())
    }

    /// Takes `incident` on: its scheduled escalations are cancelled. A second
    /// acknowledgement changes nothing.
    pub fn acknowledge(&self, incident: &IncidentId, now: Timestamp) -> Result<Answer, StoreError> {
        let audit = AuditRecord {
            actor: self.actor.clone(),
            action: AuditAction::IncidentUpdated,
            subject: incident.to_string(),
            detail: "acknowledged: taken on".into(),
        };
        if !self
            .store
            .acknowledge(&incident.0, &self.actor, &audit, now)?
        {
            let (by, at) = self
                .store
                .acknowledgement(&incident.0)?
                .unwrap_or_else(|| ("someone".into(), now));
            return Ok(Answer::Refused(format!(
                "{incident} was acknowledged by {by} at {at} already"
            )));
        }
        for record in self.store.incident_actions(&incident.0)? {
            if record.state == ActionState::Scheduled {
                self.step(
                    &record,
                    &[ActionState::Scheduled],
                    ActionState::Cancelled,
                    &ActionChange::default(),
                    AuditAction::ResponseRejected,
                    &format!("not needed: {} took the incident on", self.actor),
                    now,
                )?;
            }
        }
        Ok(Answer::Done(ActionState::Cancelled))
    }

    /// Escalations that came due: sent (approved, then carried out like any action) when
    /// nobody took the incident on, else cancelled. Returns how many were sent.
    pub fn escalate(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut sent = 0;
        for record in self.store.actions(&[ActionState::Scheduled], 10_000)? {
            if record.expires_at.is_none_or(|due| due > now) {
                continue;
            }
            let scheduled = [ActionState::Scheduled];
            match self.store.acknowledgement(&record.incident.0)? {
                Some((by, at)) => {
                    let detail = format!("not needed: {by} took the incident on at {at}");
                    let rejected = AuditAction::ResponseRejected;
                    let change = ActionChange::default();
                    let cancelled = ActionState::Cancelled;
                    self.step(
                        &record, &scheduled, cancelled, &change, rejected, &detail, now,
                    )?;
                }
                None => {
                    let detail = "due: nobody took the incident on in time";
                    let change = ActionChange::default();
                    let (approved, decided) =
                        (ActionState::Approved, AuditAction::ResponseApproved);
                    if self.step(&record, &scheduled, approved, &change, decided, detail, now)? {
                        sent += 1;
                    }
                }
            }
        }
        Ok(sent)
    }
}
