//! Supervision of the incident workflow: every proposed incident version must come back
//! verified. One that does not within the timeout is proposed again (a retry); after the
//! retries it is sent to report as stalled, escalated to a human, and audited.

use crate::AgentError;
use crate::messages::TeamMessage;
use crate::runtime::{Agent, Context};
use garrison_model::{Incident, IncidentId};
use garrison_store::{AuditAction, AuditLog, AuditRecord};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// How long verification of a version may take.
    pub verify_timeout: Duration,
    /// Proposals sent again before giving up.
    pub retries: u32,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            verify_timeout: Duration::from_secs(30),
            retries: 2,
        }
    }
}

/// One incident's progress.
#[derive(Debug)]
struct Watch {
    latest: Incident,
    since: Instant,
    verified: u64,
    retries: u32,
    stalled: bool,
}

pub struct Supervisor {
    config: SupervisorConfig,
    audit: Arc<dyn AuditLog>,
    watches: HashMap<IncidentId, Watch>,
}

impl Supervisor {
    pub fn new(config: SupervisorConfig, audit: Arc<dyn AuditLog>) -> Supervisor {
        Supervisor {
            config,
            audit,
            watches: HashMap::new(),
        }
    }

    /// Incidents waiting for verification now.
    pub fn pending(&self) -> usize {
        self.watches
            .values()
            .filter(|watch| watch.latest.version > watch.verified && !watch.stalled)
            .count()
    }

    fn audit(&self, context: &Context, subject: String, detail: String) -> Result<(), AgentError> {
        let record = AuditRecord {
            actor: context.agent.to_string(),
            action: AuditAction::IncidentUpdated,
            subject,
            detail,
        };
        self.audit
            .append(&record, context.clock.now())
            .map(|_| ())
            .map_err(|error| AgentError::Temporary(error.to_string()))
    }
}

impl Agent<TeamMessage> for Supervisor {
    async fn handle(
        &mut self,
        envelope: &garrison_bus::Envelope<TeamMessage>,
        _context: &Context,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        match &envelope.payload {
            TeamMessage::IncidentProposed { incident } => {
                let watch = self
                    .watches
                    .entry(incident.id.clone())
                    .or_insert_with(|| Watch {
                        latest: incident.clone(),
                        since: Instant::now(),
                        verified: 0,
                        retries: 0,
                        stalled: false,
                    });
                if incident.version > watch.latest.version {
                    watch.latest = incident.clone();
                    watch.since = Instant::now();
                    watch.retries = 0;
                    watch.stalled = false;
                }
            }
            TeamMessage::IncidentVerified { incident } => {
                if let Some(watch) = self.watches.get_mut(&incident.id) {
                    watch.verified = watch.verified.max(incident.version);
                    if watch.verified >= watch.latest.version {
                        // Done: nothing to watch until the next version.
                        self.watches.remove(&incident.id);
                    }
                }
            }
            _ => {}
        }
        Ok(Vec::new())
    }

    async fn tick(&mut self, context: &Context) -> Result<Vec<TeamMessage>, AgentError> {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for watch in self.watches.values_mut() {
            if watch.stalled
                || watch.latest.version <= watch.verified
                || now.duration_since(watch.since) < self.config.verify_timeout
            {
                continue;
            }
            let subject = format!("{} v{}", watch.latest.id, watch.latest.version);
            if watch.retries < self.config.retries {
                watch.retries += 1;
                watch.since = now;
                notes.push((
                    subject,
                    format!(
                        "verification timed out; proposed again (retry {})",
                        watch.retries
                    ),
                ));
                out.push(TeamMessage::IncidentProposed {
                    incident: watch.latest.clone(),
                });
            } else {
                watch.stalled = true;
                let reason = format!(
                    "not verified after {} attempts of {} s each; escalated as it stands",
                    self.config.retries + 1,
                    self.config.verify_timeout.as_secs()
                );
                notes.push((subject, reason.clone()));
                let mut incident = watch.latest.clone();
                incident.escalated = true;
                out.push(TeamMessage::IncidentStalled { incident, reason });
            }
        }
        for (subject, detail) in notes {
            self.audit(context, subject, detail)?;
        }
        Ok(out)
    }
}
