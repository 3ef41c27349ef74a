//! `garrison chaos`: the fault test as a command. It starts the agents as processes on NATS
//! JetStream and PostgreSQL (its own servers unless given URLs), replays a stream at a pace
//! while killing agent processes with SIGKILL and restarting them, and restarting NATS and
//! PostgreSQL where it started them, then compares what came out with a fault-free run of the
//! same stream on the embedded engines and prints JSON. Two response agents act alone on every
//! action their playbooks propose, through an endpoint counting each action's calls, so an
//! action executed twice is seen.

use crate::chaos_engines::{Engines, Supervisor};
use crate::chaos_response::{self, Recorder};
use crate::distributed::Distributed;
use crate::{ExitCode, Failure};
use garrison_agents::messages::TeamMessage;
use garrison_bus::Envelope;
use garrison_model::action::ActionState;
use garrison_store::{ActionStore, EvidenceStore, Journal, Store};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// NATS with JetStream to use (its own server is started, and restarted, when absent).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// PostgreSQL to use, as a connection string (its own cluster is started, and restarted,
    /// when absent).
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// How long the replay lasts, in seconds (faults are injected meanwhile).
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Seed of the generated stream and of the fault schedule.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Replay these files instead of a generated intrusion (read as `investigate` reads them).
    #[arg(long = "input", value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
    /// Seconds between two kills of agent processes (default: a tenth of the duration).
    #[arg(long, value_name = "SECONDS")]
    pub kill_every: Option<f64>,
    /// Partitions of triage (`[agents] partitions`): the two triage processes share them, and
    /// take over each other's when one is killed. 1: one owner for all of triage.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub partitions: u32,
    /// Keep the working folder (configs, keys, logs, servers' data) here.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// What the fault test found.
#[derive(Debug, serde::Serialize)]
struct Report {
    events_accepted: u64,
    events_lost: u64,
    alerts_raised: u64,
    alerts_lost: u64,
    /// Actions executed (distinct idempotency keys the connector endpoint received).
    response_actions: u64,
    response_actions_fault_free: u64,
    /// Executions beyond an action's first that do it again (a second ticket or page).
    duplicate_actions: u64,
    /// Actions that set a state (isolate, block, suspend) sent again with the same
    /// idempotency key after their responder died mid-call: the effect of sending once.
    actions_resent_safely: u64,
    /// Actions executed for an effect (kind on target) another action already had.
    repeated_effects: u64,
    repeated_effects_fault_free: u64,
    /// Actions whose outcome a kill left unknown: never retried automatically.
    actions_ambiguous: u64,
    /// Actions still approved or executing when the agents were stopped.
    actions_unsettled: u64,
    incidents: usize,
    incidents_fault_free: usize,
    incidents_equal_to_fault_free: bool,
    audit_verified: bool,
    kills: u64,
    /// Kills of response agents (every other kill).
    responder_kills: u64,
    agent_restarts: u64,
    nats_restarts: u64,
    postgres_restarts: u64,
    seconds: f64,
}

pub fn run(args: ChaosArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    // A kept folder stays; a temporary one goes when `_temporary` is dropped.
    let (_temporary, work) = match &args.keep {
        Some(dir) => (None, dir.clone()),
        None => {
            let dir = tempfile::tempdir().map_err(|error| Failure::Output(error.to_string()))?;
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    };
    std::fs::create_dir_all(&work).map_err(|error| Failure::Output(error.to_string()))?;
    // Servers started as another user (PostgreSQL refuses root) must reach their folders.
    crate::chaos_engines::open_to_others(&work)?;
    let binary = std::env::current_exe().map_err(|error| Failure::Internal(error.to_string()))?;

    let inputs = if args.inputs.is_empty() {
        vec![generate(&work.join("telemetry"), args.seed)?]
    } else {
        args.inputs.clone()
    };
    // Response actions: the agent acts alone on all it proposes, through an endpoint that
    // counts each action's calls.
    let recorder = Recorder::start()?;
    let response = recorder.write_config(&work)?;
    eprintln!("chaos: the fault-free run, embedded");
    let baseline = investigate(
        &binary,
        &[
            "--state",
            path(&work.join("baseline")),
            "--response",
            path(&response),
        ],
        &inputs,
    )?;
    let fault_free = chaos_response::executions(&recorder.take());

    let mut engines = Engines::start(&work, args.nats.clone(), args.postgres.clone())?;
    let config = work.join("distributed.toml");
    let namespace = format!("chaos_{}", std::process::id());
    std::fs::write(
        &config,
        format!(
            "[nats]\nurl = {:?}\nprefix = {namespace:?}\n\n[postgres]\nurl = {:?}\nschema = {namespace:?}\nkeep_journal = true\n\n[keys]\ndir = \"keys\"\n\n[agents]\nack_wait_seconds = 5\npartitions = {}\ncheckpoint_every = 4\nrespond = true\ncorrelate = true\n",
            engines.nats_url(),
            engines.postgres_url(),
            args.partitions
        ),
    )
    .map_err(|error| Failure::Output(error.to_string()))?;
    crate::agent::keys(crate::agent::KeysCommand::Init {
        dir: work.join("keys"),
    })?;

    let roles: [&[&str]; 9] = [
        &["triage", "investigate"],
        &["triage", "investigate"],
        &["correlate"],
        &["correlate"],
        &["verify"],
        &["verify"],
        &["supervisor", "report"],
        &["respond"],
        &["respond"],
    ];
    let mut agents = Supervisor::new(
        &binary,
        &config,
        &work.join("logs"),
        &roles,
        &["--response", path(&response)],
    )?;
    let mut feeder = Command::new(&binary)
        .args([
            "investigate",
            "--quiet",
            "--external-agents",
            "--distributed",
        ])
        .arg(&config)
        .args(["--pace", &args.duration.to_string()])
        .args(&inputs)
        .stdout(std::process::Stdio::piped())
        .stderr(
            std::fs::File::create(work.join("logs/feeder.log"))
                .map_err(|error| Failure::Output(error.to_string()))?,
        )
        .spawn()
        .map_err(|error| Failure::Internal(format!("cannot start the feeder: {error}")))?;
    let reader = crate::bench::read_output(&mut feeder);
    eprintln!(
        "chaos: replaying over {} s with faults; {} agent processes",
        args.duration,
        roles.len()
    );

    // Faults while the replay runs: a kill at a random agent every so often, NATS restarted
    // a third of the way in, PostgreSQL two thirds (when they are ours).
    let mut random = fastrand::Rng::with_seed(args.seed);
    let pace = Duration::from_secs_f64(args.duration.max(1.0));
    let kill_every = args
        .kill_every
        .map(Duration::from_secs_f64)
        .unwrap_or(pace / 10)
        .max(Duration::from_millis(500));
    let (mut agents_killed, mut responder_kills) = (0u64, 0u64);
    let replay_started = Instant::now();
    let (mut next_kill, mut nats_done, mut postgres_done) =
        (replay_started + kill_every, false, false);
    let output = loop {
        agents.revive()?;
        let now = Instant::now();
        let elapsed = now - replay_started;
        if elapsed < pace {
            if now >= next_kill {
                // Every other kill lands on a response agent, likely mid-action.
                let responder = (agents_killed % 2 == 1).then_some("respond");
                if agents.kill_one(&mut random, responder) && responder.is_some() {
                    responder_kills += 1;
                }
                agents_killed += 1;
                next_kill = now + kill_every;
            }
            if !nats_done && elapsed > pace / 3 {
                nats_done = true;
                engines.restart_nats()?;
            }
            if !postgres_done && elapsed > pace * 2 / 3 {
                postgres_done = true;
                engines.restart_postgres()?;
            }
        }
        if let Some(status) = feeder
            .try_wait()
            .map_err(|error| Failure::Internal(error.to_string()))?
        {
            if !status.success() {
                agents.stop();
                return Err(Failure::Internal(format!(
                    "the feeder failed ({status}); see {}",
                    work.join("logs/feeder.log").display()
                )));
            }
            break reader
                .join()
                .map_err(|_| Failure::Internal("the feeder's reader panicked".into()))?
                .map_err(|error| Failure::Internal(error.to_string()))?;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let faulty: serde_json::Value = serde_json::from_slice(&output).map_err(|error| {
        Failure::Internal(format!(
            "the feeder's output is not JSON ({error}); see {}",
            work.join("logs/feeder.log").display()
        ))
    })?;
    let distributed = Distributed::load(&config)?;
    let store = distributed.open_store()?;
    // Actions the last incidents called for are carried out before the agents stop.
    let unsettled = settle_actions(store.as_ref(), &mut agents)?;
    let (kills, agent_restarts) = agents.stop();
    let executed = chaos_response::executions(&recorder.take());
    let ambiguous = actions_in(store.as_ref(), &[ActionState::Unknown])?;
    // Both runs' incidents stay in the working folder, to compare by hand.
    for (name, value) in [("fault-free.json", &baseline), ("faulty.json", &faulty)] {
        let _ = std::fs::write(work.join(name), value.to_string());
    }

    let events_accepted = faulty["stats"]["events"].as_u64().unwrap_or(0);
    let stored = store
        .event_count()
        .map_err(|error| Failure::Store(error.to_string()))?;
    let alerts_raised = faulty["stats"]["alerts"].as_u64().unwrap_or(0);
    let triaged = alerts_triage_handled(store.as_ref(), args.partitions)?;
    let audit = Store::verify_audit(store.as_ref(), None)
        .map_err(|error| Failure::Store(error.to_string()))?;
    let report = Report {
        events_accepted,
        events_lost: events_accepted.saturating_sub(stored),
        alerts_raised,
        alerts_lost: alerts_raised.saturating_sub(triaged),
        response_actions: executed.actions,
        response_actions_fault_free: fault_free.actions,
        duplicate_actions: executed.duplicates,
        actions_resent_safely: executed.resent,
        repeated_effects: executed.repeated_effects,
        repeated_effects_fault_free: fault_free.repeated_effects,
        actions_ambiguous: ambiguous,
        actions_unsettled: unsettled,
        incidents: grouping(&faulty).len(),
        incidents_fault_free: grouping(&baseline).len(),
        incidents_equal_to_fault_free: grouping(&faulty) == grouping(&baseline),
        audit_verified: audit.violation.is_none(),
        kills,
        responder_kills,
        agent_restarts,
        nats_restarts: engines.nats_restarts,
        postgres_restarts: engines.postgres_restarts,
        seconds: started.elapsed().as_secs_f64(),
    };
    // On someone else's servers, leave nothing behind (the report says what happened).
    if (args.nats.is_some() || args.postgres.is_some())
        && let Err(error) = distributed.remove()
    {
        eprintln!(
            "chaos: the run's schema or streams stay: {}",
            error.message()
        );
    }
    engines.stop();
    println!(
        "{}",
        serde_json::to_string_pretty(&report)
            .map_err(|error| Failure::Internal(error.to_string()))?
    );
    Ok(ExitCode::Success)
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

/// A generated environment with one intrusion: the labelled stream (its story says what the
/// team must find).
fn generate(dir: &Path, seed: u64) -> Result<PathBuf, Failure> {
    let scenario = garrison_scenario::Scenario {
        seed,
        ..garrison_scenario::Scenario::default()
    };
    garrison_scenario::write_to_dir(scenario, dir)
        .map_err(|error| Failure::Output(format!("cannot write {}: {error}", dir.display())))?;
    Ok(dir.to_path_buf())
}

/// Runs `garrison investigate` with `store` arguments on `inputs`; its JSON.
fn investigate(
    binary: &Path,
    store: &[&str],
    inputs: &[PathBuf],
) -> Result<serde_json::Value, Failure> {
    let output = Command::new(binary)
        .args(["investigate", "--quiet"])
        .args(store)
        .args(inputs)
        .output()
        .map_err(|error| Failure::Internal(error.to_string()))?;
    if !output.status.success() {
        return Err(Failure::Internal(format!(
            "the fault-free run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    serde_json::from_slice(&output.stdout).map_err(|error| Failure::Internal(error.to_string()))
}

/// The incidents as the alerts each groups: what must not change under faults.
fn grouping(report: &serde_json::Value) -> BTreeSet<BTreeSet<String>> {
    report["incidents"]
        .as_array()
        .map(|incidents| {
            incidents
                .iter()
                .map(|incident| {
                    incident["alerts"]
                        .as_array()
                        .map(|alerts| {
                            alerts
                                .iter()
                                .filter_map(|alert| alert["id"].as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Distinct alerts triage handled, read from its journal (its partitions' journals).
fn alerts_triage_handled(journal: &dyn Journal, partitions: u32) -> Result<u64, Failure> {
    let owners: Vec<String> = match partitions {
        1 => vec!["triage".into()],
        _ => (0..partitions).map(|k| format!("triage.{k}")).collect(),
    };
    let mut alerts = HashSet::new();
    for owner in owners {
        let mut after = 0;
        loop {
            let page = journal
                .entries(&owner, after, 1_000)
                .map_err(|error| Failure::Store(error.to_string()))?;
            for (position, entry) in &page {
                after = *position;
                if let Ok(envelope) = serde_json::from_slice::<Envelope<TeamMessage>>(&entry.body)
                    && let TeamMessage::AlertRaised { alerts: batch } = envelope.payload
                {
                    alerts.extend(batch.into_iter().map(|alert| alert.id));
                }
            }
            if page.len() < 1_000 {
                break;
            }
        }
    }
    Ok(alerts.len() as u64)
}

/// Waits (up to a minute, reviving killed agents but killing no more) until no action is
/// approved or executing; how many still are.
fn settle_actions(store: &dyn ActionStore, agents: &mut Supervisor) -> Result<u64, Failure> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let unsettled = actions_in(store, &[ActionState::Approved, ActionState::Executing])?;
        if unsettled == 0 || Instant::now() > deadline {
            return Ok(unsettled);
        }
        agents.revive()?;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Actions now in one of `states`.
fn actions_in(store: &dyn ActionStore, states: &[ActionState]) -> Result<u64, Failure> {
    Ok(store
        .action_counts()
        .map_err(|error| Failure::Store(error.to_string()))?
        .into_iter()
        .filter(|(state, _)| states.contains(state))
        .map(|(_, count)| count)
        .sum())
}
