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

use crate::triage::{Criticality, Inventory};
use garrison_model::action::{
    ActionKind, ActionRecord, ActionState, Autonomy, PolicyVerdict, Target, TargetKind,
};
use garrison_model::incident::VerificationStatus;
use garrison_model::incident::tactic_rank;
use garrison_model::{Incident, Timestamp};
use garrison_response::{
    Connector, Policy, Proposal, ResponseConfig, Situation, TargetFacts, playbook,
};
use garrison_store::{ActionChange, ActionStore, AuditAction, AuditRecord, StoreError};

mod agent;
mod approvals;
mod escalate;
mod execute;

pub use agent::Respond;
use std::sync::Arc;

/// The targets `proposals` touch (other than incidents), each once.
fn blast_radius(proposals: &[Proposal]) -> u32 {
    let mut touched: Vec<&Target> = proposals
        .iter()
        .filter(|proposal| proposal.target.kind != TargetKind::Incident)
        .map(|proposal| &proposal.target)
        .collect();
    touched.sort();
    touched.dedup();
    touched.len() as u32
}

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

    /// How long an action may stay `executing` before its responder is taken for dead: every
    /// attempt timing out, with every backoff between, and a margin.
    pub fn stale_after(&self) -> std::time::Duration {
        let config = &self.config;
        config.timeout * config.max_attempts
            + config.retry_backoff * 2u32.pow(config.max_attempts)
            + std::time::Duration::from_secs(5)
    }

    pub fn config(&self) -> &ResponseConfig {
        &self.config
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The connector that carries `record` out: the one it names, else any for its kind.
    fn connector_for(&self, record: &ActionRecord) -> Option<&Arc<dyn Connector>> {
        match &record.connector {
            Some(name) => self.connectors.iter().find(|connector| {
                connector.name() == name && connector.kinds().contains(&record.kind)
            }),
            None => self.connector(record.kind),
        }
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
        let tiers = self.tiers_for(incident);
        if proposals.is_empty() && tiers.is_empty() {
            return Ok(Vec::new());
        }
        let situation = self.situation(incident, stalled, blast_radius(&proposals), now)?;
        let kill_switch = self.store.kill_switch()?;
        let mut in_effect: Option<Vec<ActionRecord>> = None;
        let mut recorded = Vec::new();
        for proposal in proposals {
            let key = ActionRecord::key_for(&incident.id, proposal.kind, &proposal.target);
            if self.store.action(&key)?.is_some() {
                continue;
            }
            let mut record = self.assess_proposal(incident, proposal, &situation, kill_switch, now);
            if record.state == ActionState::Approved {
                let in_effect = match &mut in_effect {
                    Some(in_effect) => in_effect,
                    None => in_effect.insert(self.store.actions(
                        &[
                            ActionState::Approved,
                            ActionState::Executing,
                            ActionState::Succeeded,
                        ],
                        IN_EFFECT_LIMIT,
                    )?),
                };
                already_in_effect(&mut record, in_effect);
            }
            if self.store.propose_action(
                &record,
                &self.decision_audit(AuditAction::ResponseDecided, &record),
            )? {
                recorded.push(record);
            }
        }
        self.schedule_escalations(incident, &tiers, &situation, now, &mut recorded)?;
        Ok(recorded)
    }

    /// What would be decided about `kind` on `target` for `incident` now, whatever the
    /// playbooks say; nothing is recorded (`garrison policy check --action`).
    pub fn assess(
        &self,
        incident: &Incident,
        stalled: bool,
        kind: ActionKind,
        target: Target,
        now: Timestamp,
    ) -> Result<ActionRecord, StoreError> {
        let touched = u32::from(target.kind != TargetKind::Incident);
        let situation = self.situation(incident, stalled, touched, now)?;
        let kill_switch = self.store.kill_switch()?;
        let proposal = Proposal {
            kind,
            target,
            playbook: "asked for".into(),
        };
        Ok(self.assess_proposal(incident, proposal, &situation, kill_switch, now))
    }

    /// What the playbooks would propose for `incident` now and what would be decided about
    /// each, whether recorded already or not; nothing is recorded (a dry run).
    pub fn dry_run(
        &self,
        incident: &Incident,
        stalled: bool,
        now: Timestamp,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        let proposals =
            playbook::propose(incident, &self.config.playbooks, self.config.max_targets);
        let situation = self.situation(incident, stalled, blast_radius(&proposals), now)?;
        let kill_switch = self.store.kill_switch()?;
        Ok(proposals
            .into_iter()
            .map(|proposal| self.assess_proposal(incident, proposal, &situation, kill_switch, now))
            .collect())
    }

    /// The record of `proposal` as the policy, the kind's autonomy, the protected list, the
    /// kill switch and the connectors make it.
    fn assess_proposal(
        &self,
        incident: &Incident,
        proposal: Proposal,
        situation: &Situation,
        kill_switch: bool,
        now: Timestamp,
    ) -> ActionRecord {
        let facts = self.facts(&proposal.target);
        let decision = self
            .policy
            .decide(proposal.kind, &proposal.target, &facts, situation);
        let autonomy = self.config.autonomy_of(proposal.kind);
        let mut reasons = vec![format!("playbook {}", proposal.playbook)];
        reasons.extend(decision.reasons);
        let state = self.settle(
            proposal.kind,
            decision.verdict,
            autonomy,
            &facts,
            kill_switch,
            &mut reasons,
        );
        let awaiting = state == ActionState::AwaitingApproval;
        ActionRecord {
            key: ActionRecord::key_for(&incident.id, proposal.kind, &proposal.target),
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
            expires_at: awaiting.then(|| {
                now.checked_add(self.config.approval_expiry)
                    .unwrap_or(Timestamp::MAX)
            }),
            assignee: awaiting.then(|| self.config.assignee.clone()).flatten(),
            decided_by: None,
            attempts: 0,
            outcome: None,
            connector: None,
        }
    }

    /// The audit entry (`action`) of a decision on `record`: its state, verdict, autonomy
    /// and reasons.
    fn decision_audit(&self, action: AuditAction, record: &ActionRecord) -> AuditRecord {
        self.audit(
            action,
            record,
            format!(
                "{} {}: {} ({}; autonomy {}): {}",
                record.kind,
                record.target,
                record.state,
                record.verdict.as_str(),
                record.autonomy.as_str(),
                record.reasons.join("; ")
            ),
        )
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
pub(crate) fn priority(incident: &Incident, facts: &TargetFacts) -> u32 {
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

/// Actions looked at when checking whether a new one's effect is already there.
const IN_EFFECT_LIMIT: usize = 100_000;

/// An action the agent would carry out alone whose effect another incident's action already
/// has, or is about to have (the same kind on the same target: a host isolated for an incident
/// later merged into this one), is recorded as done, naming that action, instead of being
/// carried out a second time.
fn already_in_effect(record: &mut ActionRecord, in_effect: &[ActionRecord]) {
    if record.target.kind == TargetKind::Incident {
        return;
    }
    let Some(other) = in_effect.iter().find(|other| {
        other.kind == record.kind && other.target == record.target && other.key != record.key
    }) else {
        return;
    };
    record.state = ActionState::Succeeded;
    let why = format!(
        "already {} as {} (incident {})",
        match other.state {
            ActionState::Succeeded => "carried out",
            _ => "under way",
        },
        other.key,
        other.incident
    );
    record.reasons.push(why.clone());
    record.outcome = Some(why);
}
