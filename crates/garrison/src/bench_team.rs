//! `garrison bench team`: the whole pipeline on the scenario generator, live. Telemetry is
//! generated at a target rate in real time; decoded and hunted on worker threads; every event
//! stored as evidence; alerts handed to the agent team as soon as their evidence is stored.
//! Prints the rate sustained, how far the pipeline fell behind, alert-to-incident latency
//! percentiles and peak memory.

use crate::bench::percentile;
use crate::rules::{RuleSelection, load_rules};
use crate::settle::Settles;
use crate::{ExitCode, Failure};
use garrison_agents::SystemClock;
use garrison_agents::evidence::{alert_from_detection, stored_event};
use garrison_agents::messages::TeamMessage;
use garrison_agents::team::{self, ReportObserver, TeamConfig, TeamStores};
use garrison_bus::{InProcessBus, Lineage};
use garrison_model::{Alert, AlertId, Detection, Event, EvidenceRef, Fields};
use garrison_scenario::{Generator, Scenario, Stream};
use garrison_sigma::CompileOptions;
use garrison_store::{SqliteStore, Store, StoredEvent};
use jiff::SignedDuration;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchTeamArgs {
    /// Telemetry events per second.
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// Seconds of telemetry, generated in real time.
    #[arg(long, default_value_t = 60)]
    pub seconds: i64,
    /// An intrusion every this many seconds (each raising a dozen alerts).
    #[arg(long, default_value_t = 5)]
    pub intrusion_every: i64,
    #[arg(long, default_value_t = 8)]
    pub workstations: usize,
    /// Hunting threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run the team on the NATS JetStream bus and PostgreSQL store this distributed config
    /// names (in this process) instead of the embedded ones.
    #[arg(long, value_name = "FILE")]
    pub distributed: Option<std::path::PathBuf>,
}

/// Records per batch between the stages.
const BATCH: usize = 1024;

/// Lines to hunt, stamped with when they were due.
struct LineBatch {
    lines: Vec<(Stream, u64, String)>,
}

/// What a hunting worker hands the evidence writer.
struct HuntedBatch {
    events: Vec<StoredEvent>,
    detections: Vec<(Detection, usize)>,
}

pub fn run(args: BenchTeamArgs) -> Result<ExitCode, Failure> {
    match &args.distributed {
        None => {
            let state = tempfile_dir()?;
            let store =
                SqliteStore::open(&state).map_err(|error| Failure::Store(error.to_string()))?;
            let result = run_on(&args, Arc::new(store), 1, |_| Ok(InProcessBus::new()));
            let _ = std::fs::remove_dir_all(&state);
            result
        }
        Some(path) => {
            let distributed = crate::distributed::Distributed::load(path)?;
            let store = distributed.open_store()?;
            run_on(&args, store, distributed.partitions, |runtime| {
                runtime.block_on(distributed.connect_bus("garrison bench team"))
            })
        }
    }
}

/// The bench on `store`, with the bus `bus` makes on the bench's runtime, triage in
/// `partitions`.
fn run_on<B: Settles>(
    args: &BenchTeamArgs,
    store: Arc<dyn Store>,
    partitions: u32,
    bus: impl FnOnce(&tokio::runtime::Runtime) -> Result<B, Failure>,
) -> Result<ExitCode, Failure> {
    let threads = args
        .threads
        .unwrap_or_else(crate::hunt::default_threads)
        .max(1);
    let loaded = load_rules(
        &RuleSelection {
            bundled: true,
            paths: Vec::new(),
        },
        &CompileOptions::default(),
        threads,
    )
    .map_err(|error| Failure::Rules(format!("{error:#}")))?;
    let rules = Arc::new(loaded.rules);
    let scenario = Scenario {
        workstations: args.workstations,
        duration: SignedDuration::from_secs(args.seconds.max(1)),
        events_per_second: args.rate,
        intrusion: true,
        intrusion_every: Some(SignedDuration::from_secs(args.intrusion_every.max(1))),
        ..Scenario::default()
    };
    println!(
        "garrison bench team: {} events/s for {} s, an intrusion every {} s, {} workstations, {threads} hunting threads",
        args.rate, args.seconds, args.intrusion_every, args.workstations
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| Failure::Internal(error.to_string()))?;

    let published_at: Arc<Mutex<HashMap<AlertId, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let observer = {
        let (published_at, latencies) = (published_at.clone(), latencies.clone());
        ReportObserver(Arc::new(move |incident: &garrison_model::Incident| {
            let now = Instant::now();
            let mut published = published_at.lock().unwrap_or_else(|p| p.into_inner());
            let mut latencies = latencies.lock().unwrap_or_else(|p| p.into_inner());
            for alert in &incident.alerts {
                if let Some(at) = published.remove(&alert.id) {
                    latencies.push(now.duration_since(at).as_secs_f64() * 1000.0);
                }
            }
        }))
    };
    let bus = bus(&runtime)?;
    let team = runtime
        .block_on(team::start(
            bus.clone(),
            TeamStores::shared(store.clone()),
            Arc::new(SystemClock),
            TeamConfig {
                observer: Some(observer),
                partitions,
                ..TeamConfig::default()
            },
        ))
        .map_err(|error| Failure::Internal(error.to_string()))?;

    let (line_sender, line_receiver) = crossbeam_channel::bounded::<LineBatch>(64);
    let (hunted_sender, hunted_receiver) = std::sync::mpsc::sync_channel::<HuntedBatch>(64);
    let (alert_sender, mut alert_receiver) = tokio::sync::mpsc::channel::<Alert>(4096);
    let lag_ms = Arc::new(AtomicU64::new(0));
    let generated = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    // The source: the generator, paced to the wall clock.
    let source = {
        let (lag_ms, generated) = (lag_ms.clone(), generated.clone());
        std::thread::spawn(move || {
            let start = scenario.start;
            // Intrusion steps planned past the end are sent at the end, not waited for.
            let end = Duration::from_secs_f64(scenario.duration.as_secs_f64());
            let mut batch = Vec::with_capacity(BATCH);
            for (sequence, record) in Generator::new(scenario).enumerate() {
                let due =
                    Duration::from_secs_f64(record.at.duration_since(start).as_secs_f64().max(0.0))
                        .min(end);
                let elapsed = started.elapsed();
                if due > elapsed + Duration::from_millis(5) {
                    if !batch.is_empty() {
                        let lines = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if line_sender.send(LineBatch { lines }).is_err() {
                            return;
                        }
                    }
                    std::thread::sleep(due - elapsed);
                } else {
                    let behind = elapsed.saturating_sub(due).as_millis() as u64;
                    lag_ms.fetch_max(behind, Ordering::Relaxed);
                }
                batch.push((record.stream, sequence as u64, record.line));
                generated.fetch_add(1, Ordering::Relaxed);
                if batch.len() >= BATCH {
                    let lines = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if line_sender.send(LineBatch { lines }).is_err() {
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = line_sender.send(LineBatch { lines: batch });
            }
        })
    };

    // Hunters: decode, evaluate, keep as evidence.
    let windows_path: Arc<str> = Arc::from("bench:windows.jsonl");
    let identity_path: Arc<str> = Arc::from("bench:okta.jsonl");
    let quarantined = Arc::new(AtomicU64::new(0));
    let hunters: Vec<_> = (0..threads)
        .map(|_| {
            let (receiver, sender, rules) =
                (line_receiver.clone(), hunted_sender.clone(), rules.clone());
            let (windows_path, identity_path, quarantined) = (
                windows_path.clone(),
                identity_path.clone(),
                quarantined.clone(),
            );
            std::thread::spawn(move || {
                let mut scratch = rules.scratch();
                let mut matches = Vec::new();
                let mut fields = Fields::new();
                let mut spare = Fields::new();
                for batch in receiver {
                    let mut hunted = HuntedBatch {
                        events: Vec::with_capacity(batch.lines.len()),
                        detections: Vec::new(),
                    };
                    for (stream, sequence, line) in batch.lines {
                        let Ok((format, timestamp)) = garrison_ingest::shapes::decode_json_record(
                            line.as_bytes(),
                            &mut fields,
                            &mut spare,
                        ) else {
                            quarantined.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        let event = Event {
                            fields: std::mem::take(&mut fields),
                            timestamp,
                            format,
                            evidence: EvidenceRef {
                                path: match stream {
                                    Stream::Windows => windows_path.clone(),
                                    Stream::Identity => identity_path.clone(),
                                },
                                member: None,
                                record_id: sequence,
                                offset: 0,
                            },
                        };
                        matches.clear();
                        rules.evaluate(&event, &mut scratch, &mut matches);
                        let index = hunted.events.len();
                        for found in &matches {
                            if rules.is_reported(found.rule) {
                                hunted
                                    .detections
                                    .push((rules.detection(found, &event), index));
                            }
                        }
                        hunted.events.push(stored_event(&event));
                        fields = event.fields;
                    }
                    if sender.send(hunted).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(hunted_sender);
    drop(line_receiver);

    // The evidence writer: stores each batch, then raises its alerts.
    let writer_done_ms = Arc::new(AtomicU64::new(0));
    let writer = {
        let store = store.clone();
        let writer_done_ms = writer_done_ms.clone();
        std::thread::spawn(move || -> Result<u64, String> {
            let mut stored = 0u64;
            for batch in hunted_receiver {
                store
                    .put_events(&batch.events)
                    .map_err(|error| error.to_string())?;
                stored += batch.events.len() as u64;
                for (detection, index) in &batch.detections {
                    let alert = alert_from_detection(detection, &batch.events[*index]);
                    if alert_sender.blocking_send(alert).is_err() {
                        return Ok(stored);
                    }
                }
            }
            writer_done_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            Ok(stored)
        })
    };

    // The publisher, and waiting for the team to finish.
    let (alerts, stats) = runtime.block_on(async {
        let mut alerts = 0u64;
        while let Some(alert) = alert_receiver.recv().await {
            published_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(alert.id.clone(), Instant::now());
            team.detect
                .publish(
                    TeamMessage::AlertRaised {
                        alerts: vec![alert],
                    },
                    Lineage::start(),
                )
                .await
                .map_err(|error| Failure::Internal(error.to_string()))?;
            alerts += 1;
        }
        crate::settle::settle(&bus).await?;
        let stats = team.runtime.shutdown().await;
        bus.finish().await;
        Ok::<_, Failure>((alerts, stats))
    })?;
    source
        .join()
        .map_err(|_| Failure::Internal("the source panicked".into()))?;
    for hunter in hunters {
        hunter
            .join()
            .map_err(|_| Failure::Internal("a hunter panicked".into()))?;
    }
    let stored = writer
        .join()
        .map_err(|_| Failure::Internal("the writer panicked".into()))?
        .map_err(Failure::Store)?;
    let wall = started.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    latencies.sort_by(f64::total_cmp);
    let unanswered = published_at.lock().map(|p| p.len()).unwrap_or(0);
    let written = writer_done_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    println!(
        "events:          {} generated over {} s; all hunted and stored as evidence after {written:.1} s = {:.0} events/s; the source fell at most {} ms behind its schedule",
        generated.load(Ordering::Relaxed),
        args.seconds,
        stored as f64 / written.max(f64::EPSILON),
        lag_ms.load(Ordering::Relaxed)
    );
    println!("team settled:    {wall:.1} s after the start");
    println!(
        "alerts:          {alerts} raised, {} reached an incident, {unanswered} closed by triage or still pending",
        latencies.len()
    );
    println!(
        "alert->incident: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 200 ms)",
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0.0)
    );
    let handled: u64 = stats.agents.values().map(|agent| agent.handled).sum();
    let failed: u64 = stats.agents.values().map(|agent| agent.failed).sum();
    println!(
        "team:            {handled} messages handled, {failed} failed, {} dead letters; quarantined records {}",
        bus.dead_letters(),
        quarantined.load(Ordering::Relaxed)
    );
    println!("memory:          peak {}", crate::bench::peak_rss_text());
    Ok(ExitCode::Success)
}

fn tempfile_dir() -> Result<std::path::PathBuf, Failure> {
    let dir = std::env::temp_dir().join(format!("garrison-bench-team-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|error| Failure::Output(format!("cannot create {}: {error}", dir.display())))?;
    Ok(dir)
}
