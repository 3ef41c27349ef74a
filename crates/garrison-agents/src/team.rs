//! The team as `garrison investigate` and `garrison demo` run it: triage, investigate, verify
//! and report over one bus and one store, fed by a detect identity that raises alerts.

use crate::Clock;
use crate::investigate::{Investigate, InvestigateConfig};
use crate::messages::{TeamKind, TeamMessage};
use crate::report::Report;
use crate::runtime::{AgentSpec, Publisher, Runtime, RuntimeBuilder};
use crate::triage::{Triage, TriageConfig};
use crate::verify::Verify;
use garrison_bus::{Bus, BusError, KeyRing, KeyRingError};
use garrison_model::IncidentId;
use garrison_store::{AuditLog, EvidenceStore, IncidentStore, Journal};
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
    /// Partitions of triage: raised alerts are cut by entity (host, else person) and each
    /// partition is triaged by its own agent with its own state and journal; 0 or 1: one.
    /// Every process of a deployment must agree.
    pub partitions: u32,
    /// The response agent's decisions and actions; no response agent when `None`.
    pub responder: Option<Arc<crate::respond::Responder>>,
    /// The correlation rules the correlate role runs (a process running it has them).
    pub correlator: Option<crate::correlate::SharedCorrelator>,
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

impl TeamStores {
    /// Every part from one store.
    pub fn shared(store: Arc<dyn garrison_store::Store>) -> TeamStores {
        TeamStores {
            audit: store.clone(),
            evidence: store.clone(),
            incidents: store,
        }
    }
}

impl TeamConfig {
    /// The default settings, triage scoring with `inventory`.
    pub fn with_inventory(inventory: crate::triage::Inventory) -> TeamConfig {
        TeamConfig {
            triage: TriageConfig {
                inventory,
                ..TriageConfig::default()
            },
            ..TeamConfig::default()
        }
    }
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
    Key(#[from] KeyRingError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("no agent role {0:?} (roles: {roles}, respond)", roles = AGENT_ROLES.join(", "))]
    UnknownRole(String),
    #[error("the respond role runs with a responder (its policy, playbooks and connectors)")]
    NoResponder,
    #[error("the correlate role runs with the correlation rules, and none were given")]
    NoCorrelator,
}

/// The role that raises alerts into the team (it publishes and consumes nothing).
pub const DETECT: &str = "detect";

/// The team's agent roles, in the order work flows through them.
pub const AGENT_ROLES: [&str; 5] = ["triage", "investigate", "verify", "supervisor", "report"];

/// The response agent's role: part of a team given a responder (embedded only for now).
pub const RESPOND: &str = "respond";

/// The role running Sigma correlation rules over every detecting process's sightings, cut
/// by meeting key (distributed deployments that say `[agents] correlate = true`; elsewhere
/// the detecting process correlates what it hunted).
pub const CORRELATE: &str = "correlate";

/// How long a stateful role's message may stay unacked: stateful roles take one message at a
/// time, in order, so one held by an owner that died stops the role until it comes back.
const STATEFUL_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// What each role consumes and publishes, its instances and pacing. Triage and investigation
/// keep state across alerts, so each runs as one instance; verification is stateless and
/// runs two.
pub fn spec(role: &str) -> Result<AgentSpec<TeamKind>, TeamError> {
    use TeamKind::*;
    Ok(match role {
        "triage" => AgentSpec {
            stateful: true,
            ack_wait: Some(STATEFUL_ACK_WAIT),
            ..AgentSpec::new(role, vec![AlertRaised], vec![AlertTriaged])
        },
        "investigate" => AgentSpec {
            tick: Some(std::time::Duration::from_millis(250)),
            stateful: true,
            ack_wait: Some(STATEFUL_ACK_WAIT),
            ..AgentSpec::new(role, vec![AlertTriaged], vec![IncidentProposed])
        },
        "verify" => AgentSpec {
            instances: 2,
            ..AgentSpec::new(role, vec![IncidentProposed], vec![IncidentVerified])
        },
        "supervisor" => AgentSpec {
            tick: Some(std::time::Duration::from_secs(1)),
            ..AgentSpec::new(
                role,
                vec![IncidentProposed, IncidentVerified],
                vec![IncidentProposed, IncidentStalled],
            )
        },
        "report" => AgentSpec::new(role, vec![IncidentVerified, IncidentStalled], vec![]),
        CORRELATE => AgentSpec {
            stateful: true,
            ack_wait: Some(STATEFUL_ACK_WAIT),
            ..AgentSpec::new(role, vec![Sighted], vec![AlertRaised])
        },
        RESPOND => AgentSpec {
            tick: Some(std::time::Duration::from_secs(1)),
            ..AgentSpec::new(role, vec![IncidentVerified, IncidentStalled], vec![])
        },
        other => return Err(TeamError::UnknownRole(other.to_string())),
    })
}

/// The roles whose state is cut into partitions, and the kind each reads cut.
pub const PARTITIONED: [(&str, TeamKind); 2] = [
    ("triage", TeamKind::AlertRaised),
    (CORRELATE, TeamKind::Sighted),
];

/// Whether `role`'s state is cut into partitions.
pub fn is_partitioned(role: &str) -> bool {
    PARTITIONED
        .iter()
        .any(|(partitioned, _)| *partitioned == role)
}

/// A runtime builder whose partitioned kinds are cut into `partitions`.
fn cut<B: Bus>(
    mut builder: RuntimeBuilder<B, TeamMessage>,
    partitions: u32,
) -> RuntimeBuilder<B, TeamMessage> {
    for (_, kind) in PARTITIONED {
        builder = builder.partitioned(kind, partitions);
    }
    builder
}

/// Starts the whole team in this process, with fresh keys, and a detect identity to feed it.
pub async fn start<B: Bus>(
    bus: B,
    stores: TeamStores,
    clock: Arc<dyn Clock>,
    config: TeamConfig,
) -> Result<Team<B>, TeamError> {
    let builder = RuntimeBuilder::<B, TeamMessage>::new(bus, stores.audit.clone(), clock);
    let mut builder = cut(builder, config.partitions);
    let detect = builder.publisher(DETECT, [TeamKind::AlertRaised])?;
    let reported = Arc::new(Mutex::new(BTreeSet::new()));
    for role in AGENT_ROLES {
        add_all(&mut builder, spec(role)?, None, &stores, &config, &reported)?;
    }
    if let Some(responder) = &config.responder {
        let responder = responder.clone();
        builder.agent(spec(RESPOND)?, move || {
            crate::respond::Respond::new(responder.clone())
        })?;
    }
    let runtime = builder.start().await?;
    Ok(Team {
        runtime,
        detect,
        reported,
    })
}

/// Part of a team whose agents run in several processes, signing with the role keys of
/// `ring`: the `local` roles run here (`instances` overriding each one's count when given);
/// the others are trusted as remote, and their consumers declared, so work waits for them.
/// With `detect`, a detect identity to raise alerts from here (its key must be in the ring).
pub struct Part<B: Bus> {
    pub runtime: Runtime,
    pub detect: Option<Publisher<B, TeamMessage>>,
    /// Incidents the report agent of this process reported.
    pub reported: Arc<Mutex<BTreeSet<IncidentId>>>,
}

/// A role a process runs.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    pub role: &'a str,
    /// Instances of a stateless role (the role's own count when `None`).
    pub instances: Option<usize>,
    /// Of the partitioned role: the partitions run here, each by an agent of its own (all of
    /// them when `None`).
    pub partitions: Option<&'a [u32]>,
}

impl<'a> Local<'a> {
    /// `role`, with its own instance count and every partition.
    pub fn whole(role: &'a str) -> Local<'a> {
        Local {
            role,
            instances: None,
            partitions: None,
        }
    }
}

/// How a process takes part in a distributed team.
#[derive(Clone)]
pub struct Membership {
    /// The role keys of the deployment.
    pub ring: Arc<KeyRing>,
    /// This process's name in its agents' identities.
    pub instance: String,
    /// Where stateful agents journal what they handled, so another process can take over.
    pub journal: Arc<dyn Journal>,
    /// How long a message may stay unacked before it is delivered again: how long a role
    /// waits for a message its instance held when it died (every process of a deployment
    /// must agree). Each role's own default when `None`.
    pub ack_wait: Option<std::time::Duration>,
    /// Stateful agents save their state every this many journaled messages, so a new owner
    /// replays only what came after (the runtime's default when `None`; 0: never).
    pub checkpoint_every: Option<u64>,
    /// The deployment runs the response agent: a process not running it declares its
    /// consumer, so verified incidents wait for it.
    pub respond: bool,
    /// The deployment runs the correlate role: detecting processes send it their sightings,
    /// and a process not running it declares its consumers, so sightings wait for it.
    pub correlate: bool,
}

pub async fn start_part<B: Bus>(
    bus: B,
    stores: TeamStores,
    clock: Arc<dyn Clock>,
    config: TeamConfig,
    membership: Membership,
    local: &[Local<'_>],
    detect: bool,
) -> Result<Part<B>, TeamError> {
    for local in local {
        spec(local.role)?;
    }
    let builder = RuntimeBuilder::<B, TeamMessage>::new(bus, stores.audit.clone(), clock)
        .with_key_ring(membership.ring, membership.instance)
        .with_journal(membership.journal);
    let mut builder = cut(builder, config.partitions);
    let (ack_wait, checkpoint_every) = (membership.ack_wait, membership.checkpoint_every);
    let detected = [TeamKind::AlertRaised, TeamKind::Sighted];
    let detect = if detect {
        Some(builder.publisher(DETECT, detected)?)
    } else {
        builder.remote(&AgentSpec::new(DETECT, vec![], detected.to_vec()))?;
        None
    };
    let reported = Arc::new(Mutex::new(BTreeSet::new()));
    let respond = membership.respond;
    let roles = AGENT_ROLES
        .iter()
        .copied()
        .chain(membership.correlate.then_some(CORRELATE));
    for role in roles {
        let mut spec = spec(role)?;
        if ack_wait.is_some() {
            spec.ack_wait = ack_wait;
        }
        if let Some(every) = checkpoint_every {
            spec.checkpoint_every = every;
        }
        match local.iter().find(|local| local.role == role) {
            Some(local) => {
                spec.instances = local.instances.unwrap_or(spec.instances).max(1);
                add_all(
                    &mut builder,
                    spec,
                    local.partitions,
                    &stores,
                    &config,
                    &reported,
                )?;
            }
            None => builder.remote(&spec)?,
        }
    }
    // The deployment's ack wait holds for the response agent too: how long a verified
    // incident held by a responder that died waits for another.
    let mut respond_spec = spec(RESPOND)?;
    if ack_wait.is_some() {
        respond_spec.ack_wait = ack_wait;
    }
    match (
        local.iter().find(|local| local.role == RESPOND),
        &config.responder,
    ) {
        (Some(local), Some(responder)) => {
            let responder = responder.clone();
            let spec = AgentSpec {
                instances: local.instances.unwrap_or(1).max(1),
                ..respond_spec
            };
            builder.agent(spec, move || {
                crate::respond::Respond::new(responder.clone())
            })?;
        }
        (Some(_), None) => return Err(TeamError::NoResponder),
        (None, _) if respond => builder.remote(&respond_spec)?,
        (None, _) => {}
    }
    let runtime = builder.start().await?;
    Ok(Part {
        runtime,
        detect,
        reported,
    })
}

/// Adds the agent `spec` names; for the partitioned role, one agent per partition of `only`
/// (every partition when `None`), one instance each.
fn add_all<B: Bus>(
    builder: &mut RuntimeBuilder<B, TeamMessage>,
    spec: AgentSpec<TeamKind>,
    only: Option<&[u32]>,
    stores: &TeamStores,
    config: &TeamConfig,
    reported: &Arc<Mutex<BTreeSet<IncidentId>>>,
) -> Result<(), TeamError> {
    if !is_partitioned(&spec.role) || config.partitions <= 1 {
        return add(builder, spec, stores, config, reported);
    }
    let all: Vec<u32> = (0..config.partitions).collect();
    for partition in only.unwrap_or(&all) {
        let spec = AgentSpec {
            partition: Some(*partition),
            instances: 1,
            ..spec.clone()
        };
        add(builder, spec, stores, config, reported)?;
    }
    Ok(())
}

/// Adds the agent `spec` names, built from the stores and settings it needs.
fn add<B: Bus>(
    builder: &mut RuntimeBuilder<B, TeamMessage>,
    spec: AgentSpec<TeamKind>,
    stores: &TeamStores,
    config: &TeamConfig,
    reported: &Arc<Mutex<BTreeSet<IncidentId>>>,
) -> Result<(), TeamError> {
    let TeamStores {
        audit,
        evidence,
        incidents,
    } = stores.clone();
    match spec.role.as_str() {
        "triage" => {
            let triage = crate::triage::TriageConfig {
                partitions: config.partitions,
                ..config.triage.clone()
            };
            builder.agent(spec, move || Triage::new(triage.clone(), audit.clone()))?;
        }
        "investigate" => {
            let investigate = crate::investigate::InvestigateConfig {
                partitions: config.partitions,
                ..config.investigate.clone()
            };
            builder.agent(spec, move || {
                Investigate::new(investigate.clone(), evidence.clone(), incidents.clone())
            })?;
        }
        "verify" => builder.agent(spec, move || Verify::new(evidence.clone(), audit.clone()))?,
        "supervisor" => {
            let supervisor = config.supervisor.clone();
            builder.agent(spec, move || {
                crate::supervisor::Supervisor::new(supervisor.clone(), audit.clone())
            })?;
        }
        CORRELATE => {
            let correlator = config.correlator.clone().ok_or(TeamError::NoCorrelator)?;
            let (partition, partitions) = (spec.partition.unwrap_or(0), config.partitions);
            builder.agent(spec, move || {
                crate::correlate::Correlate::new(
                    correlator.0.clone(),
                    evidence.clone(),
                    partition,
                    partitions,
                )
            })?;
        }
        "report" => {
            let (sink, observer) = (reported.clone(), config.observer.clone());
            builder.agent(spec, move || {
                Report::new(incidents.clone(), audit.clone(), sink.clone())
                    .observed_by(observer.clone())
            })?;
        }
        other => return Err(TeamError::UnknownRole(other.to_string())),
    }
    Ok(())
}
