//! Response: turns verified incidents into actions under the rules of engagement, and carries
//! out those that may run.
//!
//! For each incident version the playbooks propose actions; the Cedar policy decides allow,
//! needs approval or deny; the action kind's autonomy, the protected list and the kill switch
//! can only lower that. Each action is recorded once under its idempotency key, with its
//! decision and reasons (audited). Actions that may run are claimed by compare-and-set
//! (`approved` → `executing`, audited in the same transaction, before the connector is
//! called), so an action approved twice or seen by two responders runs once; transient
//! failures are retried a bounded number of times, an ambiguous timeout never. An action
//! left `executing` by a responder that died is sent again only where that is safe (the
//! action sets a state, or the connector deduplicates by idempotency key); otherwise it
//! becomes `unknown` for a person to check.

use crate::AgentError;
use crate::messages::TeamMessage;
use crate::runtime::{Agent, Context};
use crate::triage::{Criticality, Inventory};
use garrison_model::action::{
    ActionKind, ActionRecord, ActionState, Autonomy, PolicyVerdict, Target, TargetKind,
};
use garrison_model::incident::VerificationStatus;
use garrison_model::incident::tactic_rank;
use garrison_model::{Incident, Timestamp};
use garrison_response::{
    Call, Connector, ConnectorError, Policy, ResponseConfig, Situation, TargetFacts, playbook,
};
use garrison_store::{ActionChange, ActionStore, AuditAction, AuditRecord, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Decides on and carries out response actions. Shared by the response agent and by the
/// commands that approve, reject or roll back actions.
pub struct Responder {
    store: Arc<dyn ActionStore>,
    policy: Arc<Policy>,
    config: Arc<ResponseConfig>,
    inventory: Arc<Inventory>,
    connectors: Vec<Arc<dyn Connector>>,
    /// Who acts, in the audit log.
    actor: String,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("actor", &self.actor)
            .field("connectors", &self.connectors.len())
            .finish_non_exhaustive()
    }
}

/// What a command asked of an action, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Done as asked; the action's state now.
    Done(ActionState),
    /// The action was not in a state that allows it (already approved, executed, ...).
    NotApplicable(ActionState),
    NoSuchAction,
    /// Asked for something that cannot be (why).
    Refused(String),
}

impl Responder {
    pub fn new(
        store: Arc<dyn ActionStore>,
        policy: Arc<Policy>,
        config: Arc<ResponseConfig>,
        inventory: Arc<Inventory>,
        connectors: Vec<Arc<dyn Connector>>,
        actor: impl Into<String>,
    ) -> Responder {
        Responder {
            store,
            policy,
            config,
            inventory,
            connectors,
            actor: actor.into(),
        }
    }

    /// The same responder acting as `actor` (a person, a process).
    pub fn acting_as(&self, actor: impl Into<String>) -> Responder {
        Responder {
            store: self.store.clone(),
            policy: self.policy.clone(),
            config: self.config.clone(),
            inventory: self.inventory.clone(),
            connectors: self.connectors.clone(),
            actor: actor.into(),
        }
    }

    pub fn config(&self) -> &ResponseConfig {
        &self.config
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn connector(&self, kind: ActionKind) -> Option<&Arc<dyn Connector>> {
        self.connectors
            .iter()
            .find(|connector| connector.kinds().contains(&kind))
    }

    /// What the inventory and the protected list say of `target`.
    pub fn facts(&self, target: &Target) -> TargetFacts {
        let asset = match target.kind {
            TargetKind::Host => self.inventory.host_details(Some(&target.value)),
            TargetKind::User => self.inventory.user_details(Some(&target.value)),
            _ => None,
        };
        TargetFacts {
            known: asset.is_some(),
            criticality: asset.map_or(0, |asset| criticality(asset.criticality)),
            tags: asset.map(|asset| asset.tags.clone()).unwrap_or_default(),
            owner: asset.and_then(|asset| asset.owner.clone()),
            role: asset.and_then(|asset| asset.role.clone()),
            protected: self.config.is_protected(target),
        }
    }

    /// The incident and the moment as policies see them.
    pub fn situation(
        &self,
        incident: &Incident,
        stalled: bool,
        blast_radius: u32,
        now: Timestamp,
    ) -> Result<Situation, StoreError> {
        let hour_ago = now
            .checked_sub(jiff::SignedDuration::from_hours(1))
            .unwrap_or(now);
        let (hour, weekday, business_hours, change_freeze) = self.config.clock(now);
        Ok(Situation {
            incident: incident.id.0.clone(),
            confidence: incident.confidence,
            severity: incident.severity,
            verification: if stalled {
                "unverified"
            } else {
                match incident.verification.status {
                    VerificationStatus::Verified => "verified",
                    VerificationStatus::Amended => "amended",
                    VerificationStatus::Pending => "pending",
                }
            }
            .into(),
            escalated: incident.escalated,
            tactics: incident.tactics.clone(),
            blast_radius,
            actions_last_hour: self.store.actions_started_since(hour_ago)? as u32,
            hour,
            weekday,
            business_hours,
            change_freeze,
        })
    }

    /// Decides on the actions `incident` calls for and records each new one (audited).
    /// Returns the actions recorded now.
    pub fn decide(
        &self,
        incident: &Incident,
        stalled: bool,
        now: Timestamp,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        let proposals =
            playbook::propose(incident, &self.config.playbooks, self.config.max_targets);
        if proposals.is_empty() {
            return Ok(Vec::new());
        }
        let mut touched: Vec<&Target> = proposals
            .iter()
            .filter(|proposal| proposal.target.kind != TargetKind::Incident)
            .map(|proposal| &proposal.target)
            .collect();
        touched.sort();
        touched.dedup();
        let situation = self.situation(incident, stalled, touched.len() as u32, now)?;
        let kill_switch = self.store.kill_switch()?;
        let mut recorded = Vec::new();
        for proposal in proposals {
            let key = ActionRecord::key_for(&incident.id, proposal.kind, &proposal.target);
            if self.store.action(&key)?.is_some() {
                continue;
            }
            let facts = self.facts(&proposal.target);
            let decision = self
                .policy
                .decide(proposal.kind, &proposal.target, &facts, &situation);
            let autonomy = self.config.autonomy_of(proposal.kind);
            let mut reasons = vec![format!("playbook {}", proposal.playbook)];
            reasons.extend(decision.reasons.iter().cloned());
            let state = self.settle(
                proposal.kind,
                decision.verdict,
                autonomy,
                &facts,
                kill_switch,
                &mut reasons,
            );
            let record = ActionRecord {
                key,
                incident: incident.id.clone(),
                incident_version: incident.version,
                kind: proposal.kind,
                target: proposal.target,
                state,
                verdict: decision.verdict,
                autonomy,
                reasons,
                priority: priority(incident, &facts),
                proposed_at: now,
                updated_at: now,
                expires_at: (state == ActionState::AwaitingApproval).then(|| {
                    now.checked_add(self.config.approval_expiry)
                        .unwrap_or(Timestamp::MAX)
                }),
                assignee: (state == ActionState::AwaitingApproval)
                    .then(|| self.config.assignee.clone())
                    .flatten(),
                decided_by: None,
                attempts: 0,
                outcome: None,
            };
            let audit = self.audit(
                AuditAction::ResponseDecided,
                &record,
                format!(
                    "{} {}: {} ({}; autonomy {}): {}",
                    record.kind,
                    record.target,
                    record.state,
                    record.verdict.as_str(),
                    record.autonomy.as_str(),
                    record.reasons.join("; ")
                ),
            );
            if self.store.propose_action(&record, &audit)? {
                recorded.push(record);
            }
        }
        Ok(recorded)
    }

    /// Where a decided action starts: the policy's verdict, lowered by the kind's autonomy,
    /// the protected list, the kill switch and the lack of a connector; never raised.
    fn settle(
        &self,
        kind: ActionKind,
        verdict: PolicyVerdict,
        autonomy: Autonomy,
        facts: &TargetFacts,
        kill_switch: bool,
        reasons: &mut Vec<String>,
    ) -> ActionState {
        if verdict == PolicyVerdict::Deny {
            return ActionState::Denied;
        }
        let mut state = match autonomy {
            Autonomy::ReportOnly => return ActionState::ReportOnly,
            Autonomy::Propose => return ActionState::Proposed,
            Autonomy::ActWithApproval => ActionState::AwaitingApproval,
            Autonomy::ActThenNotify => match verdict {
                PolicyVerdict::Allow => ActionState::Approved,
                _ => ActionState::AwaitingApproval,
            },
        };
        if state == ActionState::Approved && facts.protected {
            reasons.push("the target is protected: a person decides".into());
            state = ActionState::AwaitingApproval;
        }
        if state == ActionState::Approved && kill_switch {
            reasons.push("the kill switch is on: a person decides".into());
            state = ActionState::AwaitingApproval;
        }
        if self.connector(kind).is_none() {
            reasons.push(format!(
                "no connector carries out {kind}: proposed for a person to do"
            ));
            state = ActionState::Proposed;
        }
        state
    }

    fn audit(&self, action: AuditAction, record: &ActionRecord, detail: String) -> AuditRecord {
        AuditRecord {
            actor: self.actor.clone(),
            action,
            subject: format!("{} {}", record.key, record.incident),
            detail,
        }
    }

    /// Moves `record` from one of `from` to `to` with `change`, its audit entry (`action`:
    /// "KIND TARGET: detail") committed with the move; false when someone moved it first.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        record: &ActionRecord,
        from: &[ActionState],
        to: ActionState,
        change: &ActionChange,
        action: AuditAction,
        detail: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let audit = self.audit(
            action,
            record,
            format!("{} {}: {detail}", record.kind, record.target),
        );
        self.store
            .transition(&record.key, from, to, change, &audit, at)
    }

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
        let audit = self.audit(
            AuditAction::ResponseApproved,
            &record,
            format!(
                "{} {}: {} ({}): {}",
                record.kind,
                record.target,
                record.state,
                record.verdict.as_str(),
                record.reasons.join("; ")
            ),
        );
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
        let Some(connector) = self.connector(record.kind).cloned() else {
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
                    eprintln!(
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
                    .connector(record.kind)
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
            .connector(record.kind)
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

fn criticality(value: Criticality) -> u8 {
    match value {
        Criticality::Low => 1,
        Criticality::Medium => 2,
        Criticality::High => 3,
        Criticality::Critical => 4,
    }
}

/// The approvals queue's order, 0 to 100: asset criticality × confidence × ATT&CK stage (the
/// furthest tactic reached). An unknown asset counts as medium.
fn priority(incident: &Incident, facts: &TargetFacts) -> u32 {
    let criticality = f64::from(if facts.criticality == 0 {
        2
    } else {
        facts.criticality
    }) / 4.0;
    let stage = incident
        .tactics
        .iter()
        .filter_map(|tactic| tactic_rank(tactic))
        .max()
        .map_or(0.0, |rank| {
            (rank + 1) as f64 / garrison_model::incident::TACTICS_IN_ORDER.len() as f64
        });
    let score = criticality * incident.confidence.clamp(0.0, 1.0) * (0.5 + 0.5 * stage);
    (score * 100.0).round() as u32
}

/// The response agent: decides on each verified (or stalled) incident's actions, and on
/// every tick expires unanswered approvals and carries out approved actions (approvals come
/// from people, through the store).
pub struct Respond {
    responder: Arc<Responder>,
    /// Actions left `executing` longer than this are taken over.
    stale_after: Duration,
}

impl Respond {
    pub fn new(responder: Arc<Responder>) -> Respond {
        let config = responder.config();
        let stale_after = config.timeout * config.max_attempts
            + config.retry_backoff * 2u32.pow(config.max_attempts)
            + Duration::from_secs(5);
        Respond {
            responder,
            stale_after,
        }
    }
}

impl Agent<TeamMessage> for Respond {
    async fn handle(
        &mut self,
        envelope: &garrison_bus::Envelope<TeamMessage>,
        context: &Context,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        let (incident, stalled) = match &envelope.payload {
            TeamMessage::IncidentVerified { incident } => (incident, false),
            TeamMessage::IncidentStalled { incident, .. } => (incident, true),
            _ => {
                return Err(AgentError::Permanent(
                    "respond reads incident.verified and incident.stalled only".into(),
                ));
            }
        };
        let temporary = |error: StoreError| AgentError::Temporary(error.to_string());
        self.responder
            .decide(incident, stalled, context.clock.now())
            .map_err(temporary)?;
        self.responder
            .execute_ready(context.clock.as_ref())
            .await
            .map_err(temporary)?;
        Ok(Vec::new())
    }

    async fn tick(&mut self, context: &Context) -> Result<Vec<TeamMessage>, AgentError> {
        let temporary = |error: StoreError| AgentError::Temporary(error.to_string());
        self.responder
            .expire(context.clock.now())
            .map_err(temporary)?;
        self.responder
            .recover(self.stale_after, context.clock.as_ref())
            .await
            .map_err(temporary)?;
        self.responder
            .execute_ready(context.clock.as_ref())
            .await
            .map_err(temporary)?;
        Ok(Vec::new())
    }
}
