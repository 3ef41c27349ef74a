//! `garrison bench distributed`: the same workload on the embedded engines and on NATS
//! JetStream and PostgreSQL, the team in one process and as agent processes with 1, 2 and 4
//! verify instances (the stateless role that scales by instances), then with triage cut into 4
//! partitions shared by 1, 2 and 4 triage processes (the stateful role that scales by
//! partitions), and with Sigma correlation rules run by 2 correlate processes sharing their 4
//! partitions (`[agents] correlate = true`).
//!
//! Each setup runs twice, on a deployment of its own each time. First with every alert raised
//! at once: wall time of the whole run (hunting, evidence to the store, the team until it
//! settles), throughput, the deepest queue a consumer had on the bus (messages waiting in its
//! stream, sampled), and the peak memory of the process raising the alerts: a slow consumer
//! makes its stream grow, not that memory. Then with the alerts raised at a steady pace:
//! alert-to-incident latency percentiles, from when the raising process published each alert
//! to when the process running report first stored it in an incident ([`crate::latency`]).

use crate::bench::percentile;
use crate::chaos_engines::{Engines, open_to_others};
use crate::{ExitCode, Failure};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchDistributedArgs {
    /// NATS with JetStream to use (its own server is started when absent).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// PostgreSQL to use (its own cluster is started when absent).
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Files to replay instead of the generated workload.
    #[arg(long = "input", value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
    /// The inputs' format, as `investigate --from` takes it (`ait-ads`: an alert stream that
    /// loads triage and investigation rather than detection).
    #[arg(long, value_name = "FORMAT", requires = "inputs")]
    pub from: Option<String>,
    /// Generated workload: minutes of telemetry, with an intrusion every three minutes.
    #[arg(long, default_value_t = 60)]
    pub minutes: i64,
    /// Generated workload: background events per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Latency runs raise the alerts over this many seconds (default: twice the embedded
    /// run's time, a pace the embedded mode keeps up with).
    #[arg(long, value_name = "SECONDS")]
    pub pace: Option<f64>,
}

/// Partitions of triage (and correlate) where its processes share them.
const PARTITIONS: u32 = 4;

/// One measured run.
struct Run {
    seconds: f64,
    alerts: u64,
    events: u64,
    incidents: u64,
    /// Peak resident memory of the process raising the alerts, bytes.
    peak: u64,
    /// The deepest queue sampled on the bus (`None` embedded).
    deepest: Deepest,
    /// Alert-to-incident latencies, milliseconds, sorted (paced runs).
    latencies: Vec<f64>,
}

/// Where a workload runs.
#[derive(Clone, Copy)]
enum Setup {
    /// In-process bus, SQLite.
    Embedded,
    /// The team in the process raising the alerts, on JetStream and PostgreSQL.
    OneProcess,
    /// The agents as processes.
    Agents(Shape),
}

impl Setup {
    fn label(self) -> String {
        match self {
            Setup::Embedded => "embedded (in-process bus, SQLite)".into(),
            Setup::OneProcess => "distributed, team in one process (JetStream, PostgreSQL)".into(),
            Setup::Agents(shape) => match (shape.triage, shape.correlate) {
                (0, _) => format!("agents as processes, verify x{}", shape.verify),
                (triage, 0) => {
                    format!("agents as processes, {PARTITIONS} triage partitions, triage x{triage}")
                }
                (triage, correlate) => {
                    format!("{PARTITIONS} partitions, triage x{triage}, correlate x{correlate}")
                }
            },
        }
    }
}

/// What every run shares.
struct Bench {
    binary: PathBuf,
    work: tempfile::TempDir,
    engines: Engines,
    /// What every run reads: the format, when given, then the inputs.
    inputs: Vec<std::ffi::OsString>,
    /// Runs so far (each has a deployment, state and logs of its own).
    runs: usize,
}

pub fn run(args: BenchDistributedArgs) -> Result<ExitCode, Failure> {
    let work = tempfile::tempdir().map_err(|error| Failure::Output(error.to_string()))?;
    open_to_others(work.path())?;
    let binary = std::env::current_exe().map_err(|error| Failure::Internal(error.to_string()))?;
    let inputs = if args.inputs.is_empty() {
        let dir = work.path().join("telemetry");
        let scenario = garrison_scenario::Scenario {
            workstations: 16,
            duration: jiff::SignedDuration::from_mins(args.minutes),
            events_per_second: args.rate,
            intrusion: true,
            intrusion_every: Some(jiff::SignedDuration::from_mins(3)),
            ..garrison_scenario::Scenario::default()
        };
        garrison_scenario::write_to_dir(scenario, &dir)
            .map_err(|error| Failure::Output(error.to_string()))?;
        vec![dir]
    } else {
        args.inputs.clone()
    };
    let inputs: Vec<std::ffi::OsString> = args
        .from
        .iter()
        .flat_map(|format| ["--from".into(), format.into()])
        .chain(inputs.iter().map(|input| input.clone().into_os_string()))
        .collect();
    let engines = Engines::start(work.path(), args.nats.clone(), args.postgres.clone())?;
    crate::agent::keys(crate::agent::KeysCommand::Init {
        dir: work.path().join("keys"),
    })?;
    let mut bench = Bench {
        binary,
        work,
        engines,
        inputs,
        runs: 0,
    };

    let mut setups = vec![Setup::Embedded, Setup::OneProcess];
    setups.extend(
        [
            (1, 0, 0),
            (2, 0, 0),
            (4, 0, 0),
            (1, 1, 0),
            (1, 2, 0),
            (1, 4, 0),
            (1, 2, 2),
        ]
        .map(|(verify, triage, correlate)| {
            Setup::Agents(Shape {
                verify,
                triage,
                correlate,
            })
        }),
    );
    // Throughput: everything raised at once.
    let mut runs = Vec::new();
    for setup in &setups {
        runs.push(bench.measure(*setup, None)?);
    }
    // Latency: the same alerts raised at a steady pace the embedded mode keeps up with.
    let embedded = runs[0].seconds;
    let pace = args.pace.unwrap_or((2.0 * embedded).ceil());
    eprintln!("bench: latency runs raise the alerts over {pace} s");
    let mut paced = Vec::new();
    for setup in &setups {
        let run = bench.measure(*setup, Some(pace))?;
        paced.push(run);
    }

    println!(
        "{:<58} {:>8} {:>9} {:>9} {:>8} {:>6} {:>9} {:>8} {:>8}  deepest queue",
        "run",
        "seconds",
        "events/s",
        "alerts/s",
        "x embed",
        "incid.",
        "peak MB",
        "p50 ms",
        "p99 ms"
    );
    for ((setup, run), paced) in setups.iter().zip(&runs).zip(&paced) {
        let deepest = match &run.deepest {
            Some((depth, consumer)) => format!("{depth:>6} {consumer}"),
            None => format!("{:>6}", "-"),
        };
        println!(
            "{:<58} {:>8.2} {:>9.0} {:>9.1} {:>8.2} {:>6} {:>9.0} {:>8.0} {:>8.0}  {deepest}",
            setup.label(),
            run.seconds,
            run.events as f64 / run.seconds,
            run.alerts as f64 / run.seconds,
            run.seconds / embedded,
            run.incidents,
            run.peak as f64 / 1e6,
            percentile(&paced.latencies, 50.0),
            percentile(&paced.latencies, 99.0),
        );
        if paced.incidents != run.incidents {
            eprintln!(
                "bench: {}: {} incidents when paced, {} at once",
                setup.label(),
                paced.incidents,
                run.incidents
            );
        }
    }
    let measured = paced
        .iter()
        .map(|run| run.latencies.len())
        .min()
        .unwrap_or(0);
    println!(
        "p50/p99: alert raised to first stored in an incident, alerts over {pace} s \
         ({measured} or more alerts measured per run; dismissed alerts are in none)"
    );
    Ok(ExitCode::Success)
}

impl Bench {
    /// Runs the workload on `setup`, everything at once or raised over `pace` seconds (its
    /// latency measured), on a deployment of its own.
    fn measure(&mut self, setup: Setup, pace: Option<f64>) -> Result<Run, Failure> {
        self.runs += 1;
        let n = self.runs;
        let logs = [
            self.work.path().join(format!("latency-{n}-raised.tsv")),
            self.work.path().join(format!("latency-{n}-report.tsv")),
        ];
        let mut store: Vec<String> = Vec::new();
        if let Some(seconds) = pace {
            store.extend([
                "--pace".into(),
                seconds.to_string(),
                "--latency-log".into(),
                path(&logs[0]).into(),
            ]);
        }
        let label = setup.label();
        // Queues are sampled in the throughput runs only: sampling adds requests to the
        // server the latency runs would time.
        fn sampled(config: &Path, pace: Option<f64>) -> Option<&Path> {
            pace.is_none().then_some(config)
        }
        let run = match setup {
            Setup::Embedded => {
                let state = self.work.path().join(format!("embedded-{n}"));
                store.extend(["--state".into(), path(&state).into()]);
                run_investigate(&label, &self.binary, &store, &self.inputs, None)
            }
            Setup::OneProcess => {
                let config = self.deployment(n, false, 1, false)?;
                store.extend(["--distributed".into(), path(&config).into()]);
                let run = run_investigate(
                    &label,
                    &self.binary,
                    &store,
                    &self.inputs,
                    sampled(&config, pace),
                );
                remove(&config);
                run
            }
            Setup::Agents(shape) => {
                let partitions = if shape.triage > 0 { PARTITIONS } else { 1 };
                let config = self.deployment(n, true, partitions, shape.correlate > 0)?;
                let report_log = pace.is_some().then_some(logs[1].as_path());
                let agents =
                    start_agents(&self.binary, &config, shape, self.work.path(), report_log)?;
                store.extend([
                    "--distributed".into(),
                    path(&config).into(),
                    "--external-agents".into(),
                ]);
                let run = run_investigate(
                    &label,
                    &self.binary,
                    &store,
                    &self.inputs,
                    sampled(&config, pace),
                );
                stop_agents(agents);
                remove(&config);
                run
            }
        };
        let mut run = run?;
        if pace.is_some() {
            run.latencies = crate::latency::latencies(&[&logs[0], &logs[1]])?;
        }
        Ok(run)
    }

    /// A deployment config of its own for run `n`: its own stream prefix and schema, role
    /// keys when its agents run as processes.
    fn deployment(
        &self,
        n: usize,
        keys: bool,
        partitions: u32,
        correlate: bool,
    ) -> Result<PathBuf, Failure> {
        let name = format!("bench_{}_{n}", std::process::id());
        let config = self.work.path().join(format!("{name}.toml"));
        let mut text = format!(
            "[nats]\nurl = {:?}\nprefix = {name:?}\n\n[postgres]\nurl = {:?}\nschema = {name:?}\n",
            self.engines.nats_url(),
            self.engines.postgres_url()
        );
        if keys {
            text.push_str("\n[keys]\ndir = \"keys\"\n");
        }
        text.push_str(&format!(
            "\n[agents]\npartitions = {partitions}\ncorrelate = {correlate}\n"
        ));
        std::fs::write(&config, text).map_err(|error| Failure::Output(error.to_string()))?;
        Ok(config)
    }
}

/// Removes a deployment's schema and streams (servers given to the bench are left clean).
fn remove(config: &Path) {
    let removed = crate::distributed::Distributed::load(config).and_then(|d| d.remove());
    if let Err(error) = removed {
        eprintln!(
            "bench: {} stays on the servers: {}",
            config.display(),
            error.message()
        );
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

/// Runs `garrison investigate` with `store` arguments, sampling its peak memory and, for the
/// deployment `queues` names, the queues on its bus.
fn run_investigate(
    label: &str,
    binary: &Path,
    store: &[String],
    inputs: &[std::ffi::OsString],
    queues: Option<&Path>,
) -> Result<Run, Failure> {
    eprintln!("bench: {label}");
    let queues = queues.map(QueueWatch::start).transpose()?;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(["investigate", "--quiet"])
        .args(store)
        .args(inputs)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| Failure::Internal(error.to_string()))?;
    let reader = crate::bench::read_output(&mut child);
    let mut peak = 0;
    let status = loop {
        peak = peak.max(peak_of(&child));
        if let Some(status) = child
            .try_wait()
            .map_err(|error| Failure::Internal(error.to_string()))?
        {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    let deepest = queues.map(QueueWatch::stop).transpose()?.flatten();
    if !status.success() {
        return Err(Failure::Internal(format!(
            "{label}: investigate failed ({status})"
        )));
    }
    let output = reader
        .join()
        .map_err(|_| Failure::Internal("reader panicked".into()))?
        .map_err(|error| Failure::Internal(error.to_string()))?;
    let report: serde_json::Value =
        serde_json::from_slice(&output).map_err(|error| Failure::Internal(error.to_string()))?;
    let stat = |name: &str| report["stats"][name].as_u64().unwrap_or(0);
    Ok(Run {
        seconds,
        alerts: stat("alerts"),
        events: stat("events"),
        incidents: stat("incidents"),
        peak,
        deepest,
        latencies: Vec::new(),
    })
}

/// The deepest queue sampled: messages one consumer had waiting or unacked, and its name.
type Deepest = Option<(u64, String)>;

/// Samples a deployment's consumers on the bus while a run lasts, keeping the deepest queue.
struct QueueWatch {
    stop: Arc<AtomicBool>,
    /// Taken when the watch is stopped.
    sampler: Option<std::thread::JoinHandle<Result<Deepest, Failure>>>,
}

impl QueueWatch {
    /// How often the consumers are read (three requests to the server each time).
    const EVERY: Duration = Duration::from_millis(200);

    fn start(config: &Path) -> Result<QueueWatch, Failure> {
        let deployment = crate::distributed::Distributed::load(config)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let sampler = std::thread::spawn(move || {
            let runtime = crate::current_thread_runtime()?;
            runtime.block_on(async {
                let bus = deployment.connect_bus("garrison bench").await?;
                let subjects = crate::settle::team_subjects();
                let mut deepest: Deepest = None;
                while !stopped.load(Ordering::Relaxed) {
                    // Before the run declares its streams there is nothing to read.
                    for state in bus.consumers(&subjects).await.unwrap_or_default() {
                        let depth = state.pending + state.unacked;
                        if deepest.as_ref().is_none_or(|(most, _)| depth > *most) {
                            deepest = Some((depth, state.name));
                        }
                    }
                    tokio::time::sleep(Self::EVERY).await;
                }
                Ok(deepest)
            })
        });
        Ok(QueueWatch {
            stop,
            sampler: Some(sampler),
        })
    }

    fn stop(mut self) -> Result<Deepest, Failure> {
        self.stop.store(true, Ordering::Relaxed);
        match self.sampler.take().map(std::thread::JoinHandle::join) {
            Some(Ok(deepest)) => deepest,
            Some(Err(_)) => Err(Failure::Internal("the queue sampler panicked".into())),
            None => Ok(None),
        }
    }
}

impl Drop for QueueWatch {
    /// A run that ends early (its child could not be started or waited for) stops sampling too.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The peak resident memory of a running child (Linux), bytes.
fn peak_of(child: &Child) -> u64 {
    crate::bench::memory_of(&child.id().to_string(), "VmHWM:")
}

/// Processes per role of a measured deployment (0 triage: triage runs with investigation).
#[derive(Clone, Copy)]
struct Shape {
    verify: usize,
    triage: usize,
    correlate: usize,
}

/// One process for triage and investigation (or `triage` processes sharing triage's
/// partitions and one for investigation), the correlate processes sharing theirs, one per
/// verify instance, one for the rest.
fn start_agents(
    binary: &Path,
    config: &Path,
    Shape {
        verify,
        triage,
        correlate,
    }: Shape,
    work: &Path,
    report_log: Option<&Path>,
) -> Result<Vec<Child>, Failure> {
    let mut groups: Vec<Vec<&str>> = match triage {
        0 => vec![vec!["triage", "investigate"]],
        _ => std::iter::repeat_n(vec!["triage"], triage).collect(),
    };
    groups.extend(std::iter::repeat_n(vec!["correlate"], correlate));
    // The processes before this one own partitions.
    let partitioned = groups.len() * usize::from(triage > 0);
    if triage > 0 {
        groups.push(vec!["investigate"]);
    }
    groups.extend(std::iter::repeat_n(vec!["verify"], verify));
    groups.push(vec!["supervisor", "report"]);
    let mut children = Vec::new();
    for (index, roles) in groups.iter().enumerate() {
        let log = work.join(format!(
            "agent-{verify}-{triage}-{correlate}-{index}-{}.log",
            report_log.is_some()
        ));
        let mut command = Command::new(binary);
        command.arg("agent").arg("--config").arg(config);
        for role in roles {
            command.args(["--role", role]);
        }
        command.args(["--instances", "1"]);
        if let Some(log) = report_log.filter(|_| roles.contains(&"report")) {
            command.arg("--latency-log").arg(log);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(&log).map_err(|error| Failure::Output(error.to_string()))?,
            )
            .spawn()
            .map_err(|error| Failure::Internal(error.to_string()))?;
        children.push((child, log));
    }
    // Running once each has said so, and each triage or correlate process owns its share of
    // the partitions (a handover during a run would be measured as latency).
    let deadline = Instant::now() + Duration::from_secs(30);
    for (index, (_, log)) in children.iter().enumerate() {
        let share = match groups[index][0] {
            _ if index >= partitioned => 0,
            "triage" => PARTITIONS as usize / triage,
            _ => PARTITIONS as usize / correlate,
        };
        let ready = |text: &str| text.contains(" running as ") && owned_partitions(text) == share;
        while !ready(&std::fs::read_to_string(log).unwrap_or_default()) {
            if Instant::now() > deadline {
                return Err(Failure::Internal(format!(
                    "an agent did not start or take its partitions; see {}",
                    log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(children.into_iter().map(|(child, _)| child).collect())
}

/// How many partitions an agent's log says it owns now.
fn owned_partitions(log: &str) -> usize {
    let mut owned = std::collections::BTreeSet::new();
    for line in log.lines() {
        if let Some(partition) = line.strip_prefix("agent: owns ") {
            owned.insert(partition);
        } else if let Some(rest) = line.strip_prefix("agent: let go of ") {
            owned.remove(rest.split(':').next().unwrap_or(rest));
        }
    }
    owned.len()
}

fn stop_agents(agents: Vec<Child>) {
    for mut child in agents {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
}
