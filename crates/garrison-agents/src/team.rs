//! The team as `garrison investigate` and `garrison demo` run it: triage, investigate, verify
//! and report over one bus and one store, fed by a detect identity that raises alerts.

use crate::Clock;
use crate::investigate::{Investigate, InvestigateConfig};
use crate::messages::{TeamKind, TeamMessage};
use crate::report::Report;
use crate::runtime::{AgentSpec, Publisher, Runtime, RuntimeBuilder};
use crate::triage::{Triage, TriageConfig};
use crate::verify::Verify;
use garrison_bus::{Bus, BusError, KeyError};
use garrison_model::IncidentId;
use garrison_store::{AuditLog, EvidenceStore, IncidentStore};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// The team's settings.
#[derive(Debug, Clone, Default)]
pub struct TeamConfig {
    pub triage: TriageConfig,
    pub investigate: InvestigateConfig,
    pub supervisor: crate::supervisor::SupervisorConfig,
    /// Told of every incident version reported (benchmarks measure latency with it).
    pub observer: Option<ReportObserver>,
}

/// A callback given each incident version the report agent stores.
#[derive(Clone)]
pub struct ReportObserver(pub Arc<dyn Fn(&garrison_model::Incident) + Send + Sync>);

impl std::fmt::Debug for ReportObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportObserver")
    }
}

/// What the team needs from the store.
#[derive(Clone)]
pub struct TeamStores {
    pub audit: Arc<dyn AuditLog>,
    pub evidence: Arc<dyn EvidenceStore>,
    pub incidents: Arc<dyn IncidentStore>,
}

/// A running team.
pub struct Team<B: Bus> {
    pub runtime: Runtime,
    /// Raises alerts into the team.
    pub detect: Publisher<B, TeamMessage>,
    /// Incidents reported since the team started.
    pub reported: Arc<Mutex<BTreeSet<IncidentId>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Starts the team. Triage and investigation keep state across alerts, so each runs as one
/// instance; verification is stateless and runs two.
pub async fn start<B: Bus>(
    bus: B,
    stores: TeamStores,
    clock: Arc<dyn Clock>,
    config: TeamConfig,
) -> Result<Team<B>, TeamError> {
    let mut builder = RuntimeBuilder::<B, TeamMessage>::new(bus, stores.audit.clone(), clock);
    let detect = builder.publisher("detect", [TeamKind::AlertRaised])?;
    let triage_config = config.triage.clone();
    let audit = stores.audit.clone();
    builder.agent(
        AgentSpec::new(
            "triage",
            vec![TeamKind::AlertRaised],
            vec![TeamKind::AlertTriaged],
        ),
        move || Triage::new(triage_config.clone(), audit.clone()),
    )?;
    let investigate_config = config.investigate.clone();
    let (evidence, incidents) = (stores.evidence.clone(), stores.incidents.clone());
    builder.agent(
        AgentSpec {
            tick: Some(std::time::Duration::from_millis(250)),
            ..AgentSpec::new(
                "investigate",
                vec![TeamKind::AlertTriaged],
                vec![TeamKind::IncidentProposed],
            )
        },
        move || {
            Investigate::new(
                investigate_config.clone(),
                evidence.clone(),
                incidents.clone(),
            )
        },
    )?;
    let (evidence, audit) = (stores.evidence.clone(), stores.audit.clone());
    builder.agent(
        AgentSpec {
            instances: 2,
            ..AgentSpec::new(
                "verify",
                vec![TeamKind::IncidentProposed],
                vec![TeamKind::IncidentVerified],
            )
        },
        move || Verify::new(evidence.clone(), audit.clone()),
    )?;
    let reported = Arc::new(Mutex::new(BTreeSet::new()));
    let (incidents, audit, sink, observer) = (
        stores.incidents.clone(),
        stores.audit.clone(),
        reported.clone(),
        config.observer.clone(),
    );
    let (supervisor_config, supervisor_audit) = (config.supervisor.clone(), stores.audit.clone());
    builder.agent(
        AgentSpec {
            tick: Some(std::time::Duration::from_secs(1)),
            ..AgentSpec::new(
                "supervisor",
                vec![TeamKind::IncidentProposed, TeamKind::IncidentVerified],
                vec![TeamKind::IncidentProposed, TeamKind::IncidentStalled],
            )
        },
        move || {
            crate::supervisor::Supervisor::new(supervisor_config.clone(), supervisor_audit.clone())
        },
    )?;
    builder.agent(
        AgentSpec::new(
            "report",
            vec![TeamKind::IncidentVerified, TeamKind::IncidentStalled],
            vec![],
        ),
        move || {
            Report::new(incidents.clone(), audit.clone(), sink.clone())
                .observed_by(observer.clone())
        },
    )?;
    let runtime = builder.start().await?;
    Ok(Team {
        runtime,
        detect,
        reported,
    })
}
