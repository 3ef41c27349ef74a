//! `garrison investigate`: hunts files (every event kept as evidence in the store), then hands
//! the alerts to the agent team (triage, investigate, verify, report) over the in-process bus
//! and the embedded store, or over NATS JetStream and PostgreSQL (`--distributed`), and writes
//! the incidents it reports.

use crate::evidence_writer::BulkWriter;
use crate::hunt::{DiagnosticLog, default_threads, hunt_files_keeping};
use crate::latency::LatencyLog;
use crate::rules::{RuleSelection, load_rules};
use crate::settle::{Settles, settle};
use crate::state::StoreArgs;
use crate::{ExitCode, Failure};
use garrison_agents::correlate::{SharedCorrelator, SightingRecord};
use garrison_agents::messages::{
    ALERT_BATCH, TeamKind, TeamMessage, alert_batch_lengths, partitioned_alert_batches,
};
use garrison_agents::team::{self, TeamConfig, TeamStores};
use garrison_agents::triage::Inventory;
use garrison_agents::{SystemClock, evidence::alert_from_detection};
use garrison_bus::{InProcessBus, Lineage};
use garrison_ingest::Progress;
use garrison_model::{Alert, EvidenceId, Incident};
use garrison_sigma::CompileOptions;
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Json,
    Md,
}

/// What the team detects with and knows: rules, inventory, threat intelligence (shared by
/// `investigate` and `serve`).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct TeamInputs {
    /// Sigma rule file or folder (repeatable); added to the bundled pack.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Do not load the bundled rule pack.
    #[arg(long)]
    pub no_bundled: bool,
    /// Inventory of hosts and identities with their criticality, and the allowlist (JSON).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// STIX 2.1 bundle or MISP event (JSON), or a MISP feed folder, whose indicators are
    /// matched against every value read (repeatable).
    #[arg(long = "intel", value_name = "PATH")]
    pub intel: Vec<PathBuf>,
    #[command(flatten)]
    pub response: crate::respond::ResponseArgs,
}

/// [`TeamInputs`] loaded.
pub struct Loaded {
    pub rules: crate::rules::LoadedRules,
    pub inventory: Inventory,
    pub intel: Option<garrison_ingest::intel::IntelSet>,
}

impl TeamInputs {
    /// Loads the inventory, the rules (compiled on `threads`) and the intelligence.
    pub fn load(&self, threads: usize) -> Result<Loaded, Failure> {
        let inventory = match &self.inventory {
            None => Inventory::default(),
            Some(path) => load_inventory(path)?,
        };
        let selection = RuleSelection {
            bundled: !self.no_bundled,
            paths: self.rules.clone(),
        };
        let rules = load_rules(&selection, &CompileOptions::default(), threads)
            .map_err(|error| Failure::Rules(format!("{error:#}")))?;
        if rules.rules.stats().rules == 0 {
            return Err(Failure::Rules("no rule could be loaded".into()));
        }
        let intel = crate::hunt::load_intel(&self.intel)?;
        Ok(Loaded {
            rules,
            inventory,
            intel,
        })
    }
}

/// Arguments of `garrison investigate`.
#[derive(Debug, clap::Args)]
pub struct InvestigateArgs {
    #[command(flatten)]
    pub team: TeamInputs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// With --distributed: the agents run as `garrison agent` processes; only raise the alerts
    /// (signed with the detect key) and wait until the team has handled them.
    #[arg(long, requires = "distributed")]
    pub external_agents: bool,
    /// Raise the alerts spread over this many seconds instead of all at once (a replay at a
    /// pace, as fault tests use).
    #[arg(long, value_name = "SECONDS")]
    pub pace: Option<f64>,
    /// Append when each alert was raised and, where report runs here, first stored in an
    /// incident (`garrison bench distributed` measures latency with it).
    #[arg(long, value_name = "FILE", hide = true)]
    pub latency_log: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "json")]
    pub format: ReportFormat,
    /// Write incidents here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No summary on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub input: crate::input::InputArgs,
}

pub fn run(args: InvestigateArgs) -> Result<ExitCode, Failure> {
    investigate(&args)
}

/// Reads an inventory: JSON (hosts, users, allowlist), or delimited text with a header row
/// (`kind,name,criticality[,owner,role,tags]`).
pub(crate) fn load_inventory(path: &std::path::Path) -> Result<Inventory, Failure> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        Failure::Input(format!("cannot read inventory {}: {error}", path.display()))
    })?;
    let parsed = if text.trim_start().starts_with('{') {
        Inventory::from_json(&text)
    } else {
        let delimiter = garrison_ingest::delimited::header_delimiter(text.as_bytes())
            .unwrap_or(",")
            .as_bytes();
        let bytes = text.as_bytes();
        let mut values = Vec::new();
        let (used, _) = garrison_ingest::delimited::split_record(bytes, delimiter, &mut values);
        let header: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let (mut position, mut line) = (used, 2u64);
        let mut rows = Vec::new();
        while position < bytes.len() {
            let (used, breaks) = garrison_ingest::delimited::split_record(
                &bytes[position..],
                delimiter,
                &mut values,
            );
            if !bytes[position..position + used].trim_ascii().is_empty() {
                rows.push((line, values.iter().map(|v| v.to_string()).collect()));
            }
            position += used.max(1);
            line += 1 + breaks;
        }
        Inventory::from_rows(&header, &rows)
    };
    parsed.map_err(|errors| {
        Failure::Usage(format!(
            "inventory {}: {}",
            path.display(),
            errors.join("; ")
        ))
    })
}

/// Runs the team on `args.paths`: hunt, evidence, alerts, the agents; returns the incidents.
pub fn run_investigation(args: &InvestigateArgs) -> Result<Investigation, Failure> {
    let threads = args.threads.unwrap_or_else(default_threads).max(1);
    let discovery = args.input.discover()?;
    let Loaded {
        rules: loaded,
        inventory,
        intel,
    } = args.team.load(threads)?;
    let opened = args.store.open(false)?;
    let store = opened.store.clone();
    let started = Instant::now();

    // 1. Hunt, keeping every event as evidence (written by one thread, in batches).
    let (sink, writer) =
        BulkWriter::start(store.clone(), opened.sqlite.as_deref()).map_err(Failure::Store)?;
    let diagnostics = Mutex::new(DiagnosticLog::new(None));
    let outcome = hunt_files_keeping(
        &discovery.files,
        crate::hunt::Detectors {
            rules: &loaded.rules,
            intel: intel.as_ref(),
        },
        None,
        threads,
        &Progress::default(),
        &diagnostics,
        Some(sink),
    );
    let events = writer.finish().map_err(Failure::Store)?;
    let quarantined: u64 = diagnostics
        .lock()
        .map(|log| log.counts.values().sum())
        .unwrap_or(0);

    // 2. The alerts: single hits were made while hunting; correlations on the stored record
    // that completed them, here, or by the deployment's correlate role, which is sent the
    // sightings (with its role keys: a deployment without them runs the whole team here).
    let rules = Arc::new(loaded.rules);
    let correlate_elsewhere = opened
        .distributed
        .as_ref()
        .is_some_and(|distributed| distributed.correlate && distributed.keys.is_some());
    let (detections, sightings) = if correlate_elsewhere {
        let records: Vec<SightingRecord> = outcome
            .sightings
            .into_iter()
            .map(|sighting| crate::correlator::record(&rules, sighting))
            .collect();
        (Vec::new(), records)
    } else {
        (rules.correlate(&outcome.sightings), Vec::new())
    };
    let mut alerts: Vec<Alert> = outcome.alerts;
    for detection in &detections {
        let id = EvidenceId::of(&detection.evidence);
        let event = store
            .event(id)
            .map_err(|error| Failure::Store(error.to_string()))?
            .ok_or_else(|| {
                Failure::Internal(format!("record {id} of a detection was not stored"))
            })?;
        alerts.push(alert_from_detection(detection, &event));
    }
    let mut alerts = crate::hunt::in_time_order(alerts);
    alerts.dedup_by(|a, b| a.id == b.id);
    // Rules switched off in the console (kept in this store) raise no alerts here either.
    let off: std::collections::HashSet<String> = store
        .rule_switches()
        .map_err(|error| Failure::Store(error.to_string()))?
        .into_iter()
        .filter(|switch| !switch.enabled)
        .map(|switch| switch.rule_id)
        .collect();
    let hunted = alerts.len();
    alerts.retain(|alert| !off.contains(&alert.rule.id));
    if alerts.len() < hunted {
        eprintln!(
            "investigate: {} alerts of {} rules switched off held back",
            hunted - alerts.len(),
            off.len()
        );
    }
    let alert_count = alerts.len();
    let raised: Vec<Raised> = alerts
        .iter()
        .map(|alert| Raised {
            evidence: alert.evidence,
            rule_id: alert.rule.id.clone(),
            host: alert.host.clone(),
            timestamp: alert.timestamp,
        })
        .collect();

    // 3. The team.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|error| Failure::Internal(format!("cannot start the runtime: {error}")))?;
    let stores = TeamStores::shared(store.clone());
    // The response agent runs embedded; distributed deployments do not run it yet.
    // The response agent runs here embedded, and distributed when the deployment has one
    // and this process runs the agents.
    let respond_here = match &opened.distributed {
        None => true,
        Some(distributed) => distributed.respond && !args.external_agents,
    };
    let responder = if respond_here {
        Some(Arc::new(crate::respond::responder(
            store.clone(),
            inventory.clone(),
            &args.team.response,
            "respond",
        )?))
    } else {
        None
    };
    let latency = args
        .latency_log
        .as_deref()
        .map(LatencyLog::open)
        .transpose()?;
    let mut config = TeamConfig {
        observer: latency.as_ref().map(LatencyLog::observer),
        partitions: opened.distributed.as_ref().map_or(1, |d| d.partitions),
        responder,
        correlator: Some(SharedCorrelator(Arc::new(
            crate::correlator::RuleCorrelator::new(rules.clone()),
        ))),
        ..TeamConfig::with_inventory(inventory)
    };
    // What analysts' verdicts so far taught triage.
    let verdicts = store
        .verdicts()
        .map_err(|error| Failure::Store(error.to_string()))?;
    config.triage.precision = Arc::new(garrison_agents::feedback::LivePrecision::new(
        garrison_agents::feedback::Precision::from_verdicts(&verdicts),
    ));
    // Only needed to find what agents elsewhere reported (correlations raised elsewhere cite
    // an event of a sighting sent from here).
    let (alert_ids, sighted): (HashSet<garrison_model::AlertId>, HashSet<EvidenceId>) =
        if args.external_agents {
            (
                alerts.iter().map(|alert| alert.id.clone()).collect(),
                sightings
                    .iter()
                    .map(|sighting| EvidenceId::of(&sighting.evidence))
                    .collect(),
            )
        } else {
            Default::default()
        };
    let (mut reported, team_stats, dead_letters) = runtime.block_on(async {
        let Some(distributed) = &opened.distributed else {
            let bus = InProcessBus::new();
            return run_whole_team(bus, stores, config, alerts, args.pace, latency).await;
        };
        let bus = distributed.connect_bus("garrison investigate").await?;
        if distributed.keys.is_none() {
            // No role keys: the whole team runs here.
            return run_whole_team(bus, stores, config, alerts, args.pace, latency).await;
        }
        let local: Vec<team::Local> = if args.external_agents {
            Vec::new()
        } else {
            let mut local = team::AGENT_ROLES.map(team::Local::whole).to_vec();
            if respond_here {
                local.push(team::Local::whole(team::RESPOND));
            }
            if correlate_elsewhere {
                local.push(team::Local::whole(team::CORRELATE));
            }
            local
        };
        let own: Vec<&str> = std::iter::once(team::DETECT)
            .chain(local.iter().map(|local| local.role))
            .collect();
        let postgres = opened
            .postgres
            .clone()
            .ok_or_else(|| Failure::Internal("a distributed store is PostgreSQL".into()))?;
        let instance = format!("investigate-{}", std::process::id());
        let membership = distributed.membership(&own, instance.clone(), postgres.clone())?;
        let relay = crate::outbox::Relay::start(
            postgres,
            bus.clone(),
            &membership.ring,
            &own,
            &instance,
            tokio::runtime::Handle::current(),
        )?;
        let part = team::start_part(
            bus.clone(),
            stores,
            Arc::new(SystemClock),
            config,
            membership,
            &local,
            true,
        )
        .await
        .map_err(|error| Failure::Internal(error.to_string()))?;
        run_team(
            bus,
            part.try_into()?,
            alerts,
            sightings,
            args.pace,
            relay,
            latency,
        )
        .await
    })?;
    if args.external_agents {
        // Reported by agents elsewhere: the incidents holding this run's alerts.
        reported = store
            .incidents()
            .map_err(|error| Failure::Store(error.to_string()))?
            .into_iter()
            .filter(|incident| {
                incident
                    .alerts
                    .iter()
                    .any(|alert| alert_ids.contains(&alert.id) || sighted.contains(&alert.evidence))
            })
            .map(|incident| incident.id)
            .collect();
    }

    // 4. The incidents reported, newest versions, in order of first activity.
    let mut incidents: Vec<Incident> = Vec::new();
    for id in &reported {
        if let Some(incident) = store
            .incident(id)
            .map_err(|error| Failure::Store(error.to_string()))?
            // Merged into another incident, which tells the whole story.
            .filter(|incident| incident.superseded_by.is_none())
        {
            incidents.push(incident);
        }
    }
    incidents.sort_by(|a, b| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
    Ok(Investigation {
        store,
        location: opened.location,
        incidents,
        events,
        alerts: alert_count,
        raised,
        quarantined,
        team_stats,
        dead_letters,
        started,
    })
}

/// An alert raised: its rule, host, time and the record behind it.
pub struct Raised {
    pub evidence: EvidenceId,
    pub rule_id: String,
    pub host: Option<String>,
    pub timestamp: Option<garrison_model::Timestamp>,
}

/// What a run of the team found.
pub struct Investigation {
    pub store: Arc<dyn garrison_store::Store>,
    /// Where the store is, for messages.
    pub location: String,
    /// Newest versions, superseded ones left out, in order of first activity.
    pub incidents: Vec<Incident>,
    pub events: usize,
    pub alerts: usize,
    /// Every alert raised, in time order.
    pub raised: Vec<Raised>,
    pub quarantined: u64,
    pub team_stats: garrison_agents::RuntimeStats,
    pub dead_letters: u64,
    pub started: Instant,
}

/// Runs the team on `args.paths` (also what `garrison demo` does on its generated telemetry)
/// and writes what it found.
pub fn investigate(args: &InvestigateArgs) -> Result<ExitCode, Failure> {
    let Investigation {
        store,
        location,
        incidents,
        events,
        alerts: alert_count,
        quarantined,
        team_stats,
        dead_letters,
        started,
        ..
    } = run_investigation(args)?;
    let escalated = incidents.iter().filter(|i| i.escalated).count();
    // The actions the response agent decided on for them.
    let mut actions = Vec::new();
    for incident in &incidents {
        actions.extend(
            store
                .incident_actions(&incident.id.0)
                .map_err(|error| Failure::Store(error.to_string()))?,
        );
    }
    // Past incidents judged by analysts that share rules with each one.
    let verdicts = store
        .verdicts()
        .map_err(|error| Failure::Store(error.to_string()))?;
    let similar: std::collections::BTreeMap<String, Vec<serde_json::Value>> = incidents
        .iter()
        .map(|incident| {
            let found = garrison_agents::feedback::similar_judged(incident, &verdicts, 3);
            let found: Vec<serde_json::Value> = found
                .into_iter()
                .map(|(id, verdict, shared)| {
                    serde_json::json!({"incident": id, "verdict": verdict, "shared_rules": shared})
                })
                .collect();
            (incident.id.0.clone(), found)
        })
        .filter(|(_, found)| !found.is_empty())
        .collect();
    let mut by_state: std::collections::BTreeMap<&str, usize> = Default::default();
    for action in &actions {
        *by_state.entry(action.state.as_str()).or_default() += 1;
    }
    let text = match args.format {
        ReportFormat::Json => {
            let document = serde_json::json!({
                "incidents": incidents,
                "actions": actions,
                "similar": similar,
                "stats": {
                    "events": events,
                    "alerts": alert_count,
                    "incidents": incidents.len(),
                    "escalated": escalated,
                    "quarantined": quarantined,
                    "actions": by_state,
                },
            });
            let mut text = serde_json::to_string_pretty(&document)
                .map_err(|error| Failure::Internal(error.to_string()))?;
            text.push('\n');
            text
        }
        ReportFormat::Md => {
            let mut text = format!(
                "# Garrison incidents\n\n{} incident(s) ({} escalated) from {} alert(s) over {} event(s).\n\n",
                incidents.len(),
                escalated,
                alert_count,
                events
            );
            for incident in &incidents {
                text.push_str(&garrison_agents::report::markdown(incident));
                let own: Vec<_> = actions
                    .iter()
                    .filter(|action| action.incident == incident.id)
                    .collect();
                if let Some(found) = similar.get(&incident.id.0) {
                    text.push_str("### Similar past incidents\n\n");
                    for item in found {
                        text.push_str(&format!(
                            "- {}: judged {} ({} rule(s) shared)\n",
                            item["incident"].as_str().unwrap_or(""),
                            item["verdict"].as_str().unwrap_or(""),
                            item["shared_rules"]
                        ));
                    }
                    text.push('\n');
                }
                if !own.is_empty() {
                    text.push_str("### Response\n\n");
                    for action in own {
                        text.push_str(&format!(
                            "- `{}` {} {}: **{}** (policy {}, autonomy {}; {}){}\n",
                            action.key,
                            action.kind,
                            action.target,
                            action.state,
                            action.verdict.as_str(),
                            action.autonomy.as_str(),
                            action.reasons.join("; "),
                            action
                                .outcome
                                .as_deref()
                                .map(|outcome| format!(": {outcome}"))
                                .unwrap_or_default()
                        ));
                    }
                }
                text.push('\n');
            }
            text
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|error| {
            Failure::Output(format!("cannot write {}: {error}", path.display()))
        })?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|error| Failure::Output(error.to_string()))?,
    }
    if !args.quiet {
        let rejected: u64 = team_stats.agents.values().map(|a| a.rejected).sum();
        let restarts: u64 = team_stats.agents.values().map(|a| a.restarts).sum();
        let actions_line = if by_state.is_empty() {
            "no response actions".to_string()
        } else {
            let parts: Vec<String> = by_state
                .iter()
                .map(|(state, count)| format!("{count} {state}"))
                .collect();
            format!("response actions: {}", parts.join(", "))
        };
        eprintln!(
            "investigate: {events} events, {alert_count} alerts -> {} incidents ({escalated} escalated) in {:.2} s; {actions_line}; {quarantined} records quarantined, {rejected} messages rejected, {restarts} agent restarts, {dead_letters} dead letters; state in {}",
            incidents.len(),
            started.elapsed().as_secs_f64(),
            location
        );
    }
    if dead_letters > 0 {
        return Err(Failure::Internal(format!(
            "{dead_letters} message(s) could not be handled (dead letters); the incidents may be incomplete"
        )));
    }
    Ok(ExitCode::Success)
}

/// A team (or the part of it in this process) ready to take alerts.
struct Running<B: garrison_bus::Bus> {
    runtime: garrison_agents::Runtime,
    detect: garrison_agents::Publisher<B, TeamMessage>,
    reported: Arc<Mutex<std::collections::BTreeSet<garrison_model::IncidentId>>>,
}

impl<B: garrison_bus::Bus> From<team::Team<B>> for Running<B> {
    fn from(team: team::Team<B>) -> Self {
        Running {
            runtime: team.runtime,
            detect: team.detect,
            reported: team.reported,
        }
    }
}

impl<B: garrison_bus::Bus> TryFrom<team::Part<B>> for Running<B> {
    type Error = Failure;
    fn try_from(part: team::Part<B>) -> Result<Self, Failure> {
        Ok(Running {
            runtime: part.runtime,
            detect: part
                .detect
                .ok_or_else(|| Failure::Internal("no detect identity to raise alerts".into()))?,
            reported: part.reported,
        })
    }
}

/// Messages handed to the bus at once, unpaced: a bus a round trip away sends each before
/// the one ahead of it is confirmed.
const SENT_TOGETHER: usize = 64;

/// Publishes `messages` in order, `group` at a time, each with a lineage of its own; writes
/// the alerts raised to `latency` as each group goes.
async fn publish_grouped<B: garrison_bus::Bus>(
    detect: &garrison_agents::Publisher<B, TeamMessage>,
    messages: impl Iterator<Item = TeamMessage>,
    group: usize,
    latency: Option<&LatencyLog>,
) -> Result<(), Failure> {
    let mut messages = messages.peekable();
    while messages.peek().is_some() {
        let group: Vec<TeamMessage> = messages.by_ref().take(group.max(1)).collect();
        if let Some(latency) = latency {
            for message in &group {
                if let TeamMessage::AlertRaised { alerts } = message {
                    latency.published(alerts);
                }
            }
        }
        detect
            .publish_all(group.into_iter().map(|message| (message, Lineage::start())))
            .await
            .map_err(|error| Failure::Internal(error.to_string()))?;
    }
    Ok(())
}

/// Starts the whole team on `bus`, with keys of its own, and runs it as [`run_team`] does.
async fn run_whole_team<B: Settles>(
    bus: B,
    stores: TeamStores,
    config: TeamConfig,
    alerts: Vec<Alert>,
    pace: Option<f64>,
    latency: Option<Arc<LatencyLog>>,
) -> Result<TeamRun, Failure> {
    let team = team::start(bus.clone(), stores, Arc::new(SystemClock), config)
        .await
        .map_err(|error| Failure::Internal(error.to_string()))?;
    run_team(bus, team.into(), alerts, Vec::new(), pace, None, latency).await
}

/// What a run of the team gives: the incidents it reported here, its counters, and how many
/// messages became dead letters.
type TeamRun = (
    std::collections::BTreeSet<garrison_model::IncidentId>,
    garrison_agents::RuntimeStats,
    u64,
);

/// Raises `alerts` into a started team, waits until it settles, and stops it: the incidents
/// it reported here, its counters, and how many messages became dead letters.
async fn run_team<B: Settles>(
    bus: B,
    team: Running<B>,
    alerts: Vec<Alert>,
    sightings: Vec<SightingRecord>,
    pace: Option<f64>,
    relay: Option<crate::outbox::Relay>,
    latency: Option<Arc<LatencyLog>>,
) -> Result<TeamRun, Failure> {
    // Paced: batches of a size that, a quarter second apart or more, take `pace` seconds.
    const STEP: Duration = Duration::from_millis(250);
    let (lengths, interval) = match pace {
        Some(seconds) if seconds > 0.0 && !alerts.is_empty() => {
            let steps = (seconds / STEP.as_secs_f64()).max(1.0);
            let size = ((alerts.len() as f64 / steps).ceil() as usize).clamp(1, ALERT_BATCH);
            let lengths = alert_batch_lengths(&alerts, size);
            let interval = Duration::from_secs_f64(seconds / lengths.len().max(1) as f64);
            (lengths, interval)
        }
        // Unpaced: cut below, as the partitions ask.
        _ => (Vec::new(), Duration::ZERO),
    };
    // Sightings first: their correlations take a hop more.
    let batches = garrison_agents::correlate::batches(&sightings);
    let end = (!sightings.is_empty()).then_some(TeamMessage::Sighted {
        sightings: Vec::new(),
        end: Some(garrison_agents::correlate::EVERY_PARTITION),
    });
    let messages = batches
        .into_iter()
        .map(|batch| TeamMessage::Sighted {
            sightings: batch.to_vec(),
            end: None,
        })
        .chain(end);
    let latency = latency.as_deref();
    publish_grouped(&team.detect, messages, SENT_TOGETHER, latency).await?;
    if interval.is_zero() {
        // Each batch one partition's, when triage is partitioned.
        let partitions = team.detect.partitions(TeamKind::AlertRaised);
        let batches = partitioned_alert_batches(alerts, partitions)
            .into_iter()
            .map(|alerts| TeamMessage::AlertRaised { alerts });
        publish_grouped(&team.detect, batches, SENT_TOGETHER, latency).await?;
    } else {
        let mut alerts = alerts.into_iter();
        let batches = lengths.into_iter().map(|length| TeamMessage::AlertRaised {
            alerts: alerts.by_ref().take(length).collect(),
        });
        // Paced: one batch at a time.
        let mut batches = batches.peekable();
        while let Some(batch) = batches.next() {
            publish_grouped(&team.detect, std::iter::once(batch), 1, latency).await?;
            if batches.peek().is_some() {
                tokio::time::sleep(interval).await;
            }
        }
    }
    settle(&bus).await?;
    // Every incident is stored: what announces them is published before the bus closes.
    if let Some(relay) = relay {
        relay.stop().await;
    }
    let stats = team.runtime.shutdown().await;
    bus.finish().await;
    let reported = team
        .reported
        .lock()
        .map(|ids| ids.clone())
        .unwrap_or_default();
    Ok((reported, stats, bus.dead_letters()))
}
