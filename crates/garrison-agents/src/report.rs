//! Reporting: keeps the newest verified version of each incident, and writes incidents for
//! people (Markdown) and machines (JSON).

use crate::AgentError;
use crate::messages::TeamMessage;
use crate::runtime::{Agent, Context};
use garrison_model::incident::ProcessNode;
use garrison_model::{Incident, IncidentId};
use garrison_store::{AuditAction, AuditLog, AuditRecord, IncidentStore};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

pub struct Report {
    incidents: Arc<dyn IncidentStore>,
    audit: Arc<dyn AuditLog>,
    /// Incidents reported since start, for whoever runs the team.
    reported: Arc<Mutex<BTreeSet<IncidentId>>>,
    observer: Option<crate::team::ReportObserver>,
}

impl Report {
    pub fn new(
        incidents: Arc<dyn IncidentStore>,
        audit: Arc<dyn AuditLog>,
        reported: Arc<Mutex<BTreeSet<IncidentId>>>,
    ) -> Report {
        Report {
            incidents,
            audit,
            reported,
            observer: None,
        }
    }

    /// Tells `observer` of every incident version stored.
    pub fn observed_by(mut self, observer: Option<crate::team::ReportObserver>) -> Report {
        self.observer = observer;
        self
    }
}

impl Agent<TeamMessage> for Report {
    async fn handle(
        &mut self,
        envelope: &garrison_bus::Envelope<TeamMessage>,
        context: &Context,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        let Some((incident, stalled)) = envelope.payload.reported_incident() else {
            return Err(AgentError::Permanent(
                "report reads incident.verified and incident.stalled only".into(),
            ));
        };
        let stored = self
            .incidents
            .put_incident(incident)
            .map_err(|error| AgentError::Temporary(error.to_string()))?;
        if stored && let Some(observer) = &self.observer {
            (observer.0)(incident);
        }
        if stored && let Some(reason) = stalled {
            let record = AuditRecord {
                actor: context.agent.to_string(),
                action: AuditAction::IncidentUpdated,
                subject: format!("{} v{}", incident.id, incident.version),
                detail: format!("reported unverified and escalated: {reason}"),
            };
            self.audit
                .append(&record, context.clock.now())
                .map_err(|error| AgentError::Temporary(error.to_string()))?;
        }
        let first = self
            .reported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(incident.id.clone());
        if stored && first {
            let record = AuditRecord {
                actor: context.agent.to_string(),
                action: AuditAction::IncidentOpened,
                subject: incident.id.to_string(),
                detail: format!(
                    "{} (severity {}, confidence {:.2})",
                    incident.title, incident.severity, incident.confidence
                ),
            };
            self.audit
                .append(&record, context.clock.now())
                .map_err(|error| AgentError::Temporary(error.to_string()))?;
        }
        Ok(Vec::new())
    }
}

fn tree(out: &mut String, node: &ProcessNode, depth: usize) {
    let _ = writeln!(
        out,
        "{}- `{}`{} ({})",
        "  ".repeat(depth),
        node.image,
        node.command_line
            .as_deref()
            .map(|cmd| format!(": `{}`", cmd.replace('`', "'")))
            .unwrap_or_default(),
        node.evidence
    );
    for child in &node.children {
        tree(out, child, depth + 1);
    }
}

/// An incident for people.
pub fn markdown(incident: &Incident) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## {} — {}\n", incident.id, incident.title);
    let _ = writeln!(
        out,
        "| severity | confidence | disposition | escalated | verification |\n|---|---|---|---|---|\n| {} | {:.2} | {:?} | {} | {:?} |\n",
        incident.severity,
        incident.confidence,
        incident.disposition,
        if incident.escalated { "yes" } else { "no" },
        incident.verification.status
    );
    let _ = writeln!(out, "**Hypothesis.** {}\n", incident.hypothesis);
    if !incident.tactics.is_empty() {
        let _ = writeln!(
            out,
            "**ATT&CK.** {} ({})\n",
            incident.tactics.join(" → "),
            incident.techniques.join(", ")
        );
    }
    let _ = writeln!(out, "### Timeline\n");
    for entry in &incident.timeline {
        let _ = writeln!(
            out,
            "- {} {} ({})",
            entry
                .timestamp
                .map_or_else(|| "(no time)".to_string(), |t| t.to_string()),
            entry.summary,
            entry.evidence
        );
    }
    if !incident.process_tree.is_empty() {
        let _ = writeln!(out, "\n### Process tree\n");
        for root in &incident.process_tree {
            tree(&mut out, root, 0);
        }
    }
    let _ = writeln!(out, "\n### Reasoning\n");
    for (n, claim) in incident.reasoning.iter().enumerate() {
        let cited: Vec<String> = claim.evidence.iter().map(|id| id.to_string()).collect();
        let _ = writeln!(out, "{}. {} [{}]", n + 1, claim.claim, cited.join(", "));
    }
    if !incident.verification.removed_claims.is_empty() {
        let _ = writeln!(out, "\n### Removed by verification\n");
        for removed in &incident.verification.removed_claims {
            let _ = writeln!(out, "- ~~{}~~: {}", removed.claim, removed.reason);
        }
    }
    let _ = writeln!(out, "\n### Entities\n");
    for entity in &incident.entities {
        let _ = writeln!(out, "- {:?}: `{}`", entity.kind, entity.value);
    }
    let _ = writeln!(out, "\n### Evidence\n");
    for item in &incident.evidence {
        let _ = writeln!(
            out,
            "- {} `{}` record {}: {}",
            item.id, item.source.path, item.source.record_id, item.summary
        );
    }
    out
}
