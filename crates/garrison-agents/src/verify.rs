//! Verification: a second, independent look at every claim of a proposed incident, against the
//! stored evidence alone. A claim whose evidence is missing, uncited, or says otherwise is
//! removed with the reason; any removal lowers the confidence and puts the incident in front
//! of a human.

use crate::AgentError;
use crate::evidence::CachedEvidence;
use crate::messages::TeamMessage;
use crate::process_tree::spawned_by;
use crate::runtime::{Agent, Context};
use garrison_model::incident::{RemovedClaim, VerificationStatus};
use garrison_model::{Assertion, Claim, EvidenceId, Incident};
use garrison_store::{AuditAction, AuditLog, AuditRecord, EvidenceStore, StoredEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Confidence kept per removed claim.
const CONFIDENCE_KEPT_PER_REMOVAL: f64 = 0.8;

pub struct Verify {
    evidence: CachedEvidence,
    audit: Arc<dyn AuditLog>,
}

impl Verify {
    pub fn new(evidence: Arc<dyn EvidenceStore>, audit: Arc<dyn AuditLog>) -> Verify {
        Verify {
            evidence: CachedEvidence::new(evidence),
            audit,
        }
    }

    fn record(&self, id: EvidenceId) -> Result<Option<StoredEvent>, AgentError> {
        self.evidence
            .event(id)
            .map_err(|error| AgentError::Temporary(error.to_string()))
    }

    /// Checks every claim; returns the incident with unsupported claims removed.
    pub fn verify(&self, mut incident: Incident) -> Result<Incident, AgentError> {
        let cited: BTreeSet<EvidenceId> = incident.evidence.iter().map(|item| item.id).collect();
        let alerted: BTreeSet<(&str, EvidenceId)> = incident
            .alerts
            .iter()
            .map(|alert| (alert.rule_id.as_str(), alert.evidence))
            .collect();
        // Every record the claims rely on, read at once (a shared store is a round trip away).
        self.evidence
            .prefetch(
                incident
                    .reasoning
                    .iter()
                    .flat_map(|claim| claim.assertion.evidence())
                    .filter(|id| cited.contains(id)),
            )
            .map_err(|error| AgentError::Temporary(error.to_string()))?;
        let mut events: BTreeMap<EvidenceId, Option<StoredEvent>> = BTreeMap::new();
        let mut kept = Vec::new();
        let mut removed = Vec::new();
        for claim in std::mem::take(&mut incident.reasoning) {
            let verdict = self.check(&claim, &cited, &alerted, &mut events)?;
            match verdict {
                Ok(()) => kept.push(claim),
                Err(reason) => removed.push(RemovedClaim {
                    claim: claim.claim,
                    reason,
                }),
            }
        }
        incident.reasoning = kept;
        if removed.is_empty() {
            incident.verification.status = VerificationStatus::Verified;
        } else {
            incident.verification.status = VerificationStatus::Amended;
            incident.confidence = (incident.confidence
                * CONFIDENCE_KEPT_PER_REMOVAL.powi(removed.len() as i32)
                * 100.0)
                .round()
                / 100.0;
            incident.escalated = true;
        }
        incident.verification.removed_claims = removed;
        Ok(incident)
    }

    fn check(
        &self,
        claim: &Claim,
        cited: &BTreeSet<EvidenceId>,
        alerted: &BTreeSet<(&str, EvidenceId)>,
        events: &mut BTreeMap<EvidenceId, Option<StoredEvent>>,
    ) -> Result<Result<(), String>, AgentError> {
        let needed = claim.assertion.evidence();
        // The claim must cite exactly what its assertion relies on, and the incident must list
        // it as evidence.
        let claimed: BTreeSet<EvidenceId> = claim.evidence.iter().copied().collect();
        if claimed != needed.iter().copied().collect() {
            return Ok(Err("cites other evidence than it relies on".into()));
        }
        if let Some(missing) = needed.iter().find(|id| !cited.contains(id)) {
            return Ok(Err(format!(
                "{missing} is not among the incident's evidence"
            )));
        }
        for id in &needed {
            if !events.contains_key(id) {
                events.insert(*id, self.record(*id)?);
            }
        }
        let event = |id: &EvidenceId| events.get(id).and_then(Option::as_ref);
        if let Some(missing) = needed.iter().find(|id| event(id).is_none()) {
            return Ok(Err(format!(
                "{missing} does not exist in the evidence store"
            )));
        }
        let event = |id: &EvidenceId| event(id).expect("checked above");
        Ok(match &claim.assertion {
            Assertion::RuleMatched { rule_id, evidence } => {
                if alerted.contains(&(rule_id.as_str(), *evidence)) {
                    Ok(())
                } else {
                    Err(format!("no alert of rule {rule_id} on {evidence}"))
                }
            }
            Assertion::FieldEquals {
                evidence,
                field,
                value,
            } => match event(evidence).field(field) {
                Some(actual) if actual == value => Ok(()),
                Some(actual) => Err(format!("{evidence} has {field} = {actual}, not {value}")),
                None => Err(format!("{evidence} has no field {field}")),
            },
            Assertion::Precedes { earlier, later } => {
                match (event(earlier).timestamp, event(later).timestamp) {
                    (Some(a), Some(b)) if a <= b => Ok(()),
                    (Some(a), Some(b)) => Err(format!("{earlier} ({a}) is after {later} ({b})")),
                    _ => Err("a record has no time".into()),
                }
            }
            Assertion::OnHost { evidence, host } => match evidence.iter().find(|id| {
                !event(id)
                    .host
                    .as_deref()
                    .is_some_and(|actual| actual.eq_ignore_ascii_case(host))
            }) {
                None => Ok(()),
                Some(id) => Err(format!("{id} was not written on {host}")),
            },
            Assertion::SpawnedBy { child, parent } => {
                if spawned_by(event(child), event(parent)) {
                    Ok(())
                } else {
                    Err(format!(
                        "{child} does not record a process started by {parent}'s"
                    ))
                }
            }
        })
    }
}

impl Agent<TeamMessage> for Verify {
    async fn handle(
        &mut self,
        envelope: &garrison_bus::Envelope<TeamMessage>,
        context: &Context,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        let TeamMessage::IncidentProposed { incident } = &envelope.payload else {
            return Err(AgentError::Permanent(
                "verify reads incident.proposed only".into(),
            ));
        };
        let verified = self.verify(incident.clone())?;
        if !verified.verification.removed_claims.is_empty() {
            let record = AuditRecord {
                actor: context.agent.to_string(),
                action: AuditAction::IncidentUpdated,
                subject: format!("{} v{}", verified.id, verified.version),
                detail: format!(
                    "removed {} unsupported claim(s), escalated: {}",
                    verified.verification.removed_claims.len(),
                    verified
                        .verification
                        .removed_claims
                        .iter()
                        .map(|removed| removed.reason.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            };
            self.audit
                .append(&record, context.clock.now())
                .map_err(|error| AgentError::Temporary(error.to_string()))?;
        }
        Ok(vec![TeamMessage::IncidentVerified { incident: verified }])
    }
}
