//! `garrison serve`: the live inputs of the configuration file, each record spooled before it
//! is acknowledged, then decoded, detected on, kept as evidence and handed to the agent team.
//! Runs until SIGINT or SIGTERM, then stops accepting, processes what was accepted and exits.

use crate::evidence_writer::EvidenceWriter;
use crate::hunt::{Detectors, DiagnosticLog, default_threads};
use crate::live::{Processed, Shared, process};
use crate::state::{StateArgs, state_dir};
use crate::{ExitCode, Failure};
use garrison_agents::SystemClock;
use garrison_agents::team::{self, ReportObserver, TeamConfig, TeamStores};
use garrison_bus::InProcessBus;
use garrison_server::rules::{LoadedRule, RuleBook, Unloadable};
use garrison_server::{Config, Server};
use garrison_store::SqliteStore;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Arguments of `garrison serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file (TOML): the inputs and the spool's durability (none: the console
    /// only, no live inputs).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Before serving, generate the demo scenario into the state and investigate it (once per
    /// state folder), so the console opens on populated incidents and approvals.
    #[arg(long, conflicts_with = "distributed")]
    pub demo: bool,
    /// Serve the console and the API against the shared PostgreSQL store of a distributed
    /// deployment this config file names (its agents run as `garrison agent` processes); no
    /// agents or inputs run here.
    #[arg(long, value_name = "FILE")]
    pub distributed: Option<PathBuf>,
    /// Where the console (the REST API under /api/v1) listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub http: std::net::SocketAddr,
    /// Serve the console over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The console certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Also require a client certificate issued by these authorities (PEM): mutual TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    #[command(flatten)]
    pub team: crate::investigate::TeamInputs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Worker threads of the agent team (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// On SIGINT or SIGTERM, seconds to go on processing what was accepted; what is left stays
    /// in the spools for the next start.
    #[arg(long, default_value_t = 30)]
    pub drain_seconds: u64,
}

/// The demo's response configuration: the shipped policy and playbooks, with connectors for
/// every action kind in dry-run mode (they describe the request they would send), so that
/// containment waits for approval and approved actions are carried out.
const DEMO_RESPONSE: &str = r#"# Written by garrison serve --demo: dry-run connectors for every action kind.
[response]
[[response.connector]]
name = "edr"
type = "edr"
url = "https://edr.demo.invalid"
dry_run = true
[[response.connector]]
name = "identity"
type = "okta"
url = "https://idp.demo.invalid"
actions = ["suspend_user", "revoke_sessions", "disable_user", "reset_credentials"]
dry_run = true
[[response.connector]]
name = "firewall"
type = "blocklist"
url = "https://firewall.demo.invalid/api/lists/garrison"
dry_run = true
[[response.connector]]
name = "tickets"
type = "webhook"
url = "https://tickets.demo.invalid/api/issues"
actions = ["open_ticket", "notify"]
body = '{"title": "Garrison {{incident}}: {{summary}}", "key": "{{key}}", "action": "{{action}}"}'
idempotent = true
dry_run = true
"#;

fn demo_response(dir: &std::path::Path) -> Result<PathBuf, Failure> {
    let path = dir.join("demo").join("response.toml");
    std::fs::create_dir_all(dir.join("demo"))
        .and_then(|()| std::fs::write(&path, DEMO_RESPONSE))
        .map_err(|error| Failure::Store(format!("cannot write {}: {error}", path.display())))?;
    Ok(path)
}

/// Runs `garrison demo` into `dir` unless it ran there before (its incidents are in the store).
fn preload_demo(
    dir: &std::path::Path,
    response: &crate::respond::ResponseArgs,
) -> Result<(), Failure> {
    let args = crate::demo::DemoArgs {
        state: StateArgs {
            dir: Some(dir.to_path_buf()),
        },
        seed: crate::demo::SEED,
        workstations: 4,
        minutes: 30,
        rate: 2.0,
        format: crate::investigate::ReportFormat::Md,
        output: Some(dir.join("demo").join("incidents.md")),
        quiet: true,
        response: response.clone(),
    };
    if dir.join("demo").join("incidents.md").exists() {
        tracing::info!("garrison serve: the demo scenario is in the store already");
        return Ok(());
    }
    tracing::info!("garrison serve: generating and investigating the demo scenario");
    crate::demo::run(args)?;
    Ok(())
}

pub fn run(args: ServeArgs) -> Result<ExitCode, Failure> {
    if let Some(path) = args.distributed.clone() {
        return crate::serve_distributed::run(args, &path);
    }
    let config = load_config(args.config.as_deref())?;
    let console_tls = console_tls(&args);
    let threads = args.threads.unwrap_or_else(default_threads).max(1);
    let crate::investigate::Loaded {
        rules: loaded,
        inventory,
        intel,
    } = args.team.load(threads)?;
    let dir = state_dir(&args.state)?;
    std::fs::create_dir_all(&dir)
        .map_err(|error| Failure::Store(format!("cannot create {}: {error}", dir.display())))?;
    let mut args = args;
    if args.demo {
        if args.team.response.response.is_none() {
            args.team.response.response = Some(demo_response(&dir)?);
        }
        preload_demo(&dir, &args.team.response)?;
    }
    // Evidence cites spool files by path: an absolute one reads back from anywhere.
    let dir = dir
        .canonicalize()
        .map_err(|error| Failure::Store(format!("{}: {error}", dir.display())))?;
    let store =
        Arc::new(SqliteStore::open(&dir).map_err(|error| Failure::Store(error.to_string()))?);
    let quarantine = std::fs::create_dir_all(dir.join("quarantine"))
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("quarantine").join("decode.jsonl"))
        })
        .map_err(|error| Failure::Store(format!("cannot open the quarantine: {error}")))?;
    let diagnostics = Mutex::new(DiagnosticLog::new(Some(quarantine)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|error| Failure::Internal(format!("cannot start the runtime: {error}")))?;
    let processed = Arc::new(Processed::default());
    let stop = AtomicBool::new(false);
    let abandon = AtomicBool::new(false);
    let handle = runtime.handle().clone();
    let detectors = Detectors {
        rules: &loaded.rules,
        intel: intel.as_ref(),
    };
    let bus = InProcessBus::new();
    let feed = garrison_server::api::events::Feed::default();
    let announce = feed.clone();
    let observer = ReportObserver(Arc::new(move |incident: &garrison_model::Incident| {
        announce.incident(incident);
        tracing::info!(
            incident = %incident.id,
            version = incident.version,
            severity = %incident.severity,
            confidence = incident.confidence,
            escalated = incident.escalated,
            "garrison serve: incident {} v{}: {} (severity {}, confidence {:.2}{})",
            incident.id,
            incident.version,
            incident.title,
            incident.severity,
            incident.confidence,
            if incident.escalated {
                ", escalated"
            } else {
                ""
            }
        );
    }));
    let stores = TeamStores::shared(store.clone());
    let responder = crate::respond::responder(
        store.clone(),
        inventory.clone(),
        &args.team.response,
        "respond",
    )?;
    let console_responder = responder.acting_as("console");
    let mut team_config = TeamConfig {
        observer: Some(observer),
        responder: Some(Arc::new(responder)),
        ..TeamConfig::with_inventory(inventory)
    };
    team_config.triage.precision =
        crate::verdicts::live_precision(store.clone(), runtime.handle())?;
    let rule_book = Arc::new(
        rule_book(&loaded.rules, store.as_ref())
            .map_err(|error| Failure::Store(error.to_string()))?,
    );
    let team_config_precision = team_config.triage.precision.clone();
    let team = runtime
        .block_on(team::start(
            bus.clone(),
            stores,
            Arc::new(SystemClock),
            team_config,
        ))
        .map_err(|error| Failure::Internal(error.to_string()))?;
    let mut server = runtime
        .block_on(Server::start(&config, &dir))
        .map_err(|error| Failure::Input(error.to_string()))?;
    let console = garrison_server::api::Console::new(store.clone(), Some(console_responder))
        .map_err(|error| Failure::Internal(error.to_string()))?
        .with_feed(feed)
        .with_rules(rule_book.clone(), Some(team_config_precision.clone()))
        .with_health(Arc::new(crate::health::ServeHealth {
            team: team.runtime.counters(),
            bus: bus.clone(),
            processed: processed.clone(),
            inputs: server
                .listening
                .iter()
                .map(|listening| (listening.input.clone(), listening.stats.clone()))
                .collect(),
        }));
    let console = with_oidc(console, &config)?;
    let console_at = runtime
        .block_on(server.start_console(
            args.http,
            garrison_server::console::router(Arc::new(console)),
            console_tls.as_ref(),
        ))
        .map_err(|error| Failure::Input(error.to_string()))?;
    let scheme = if console_tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        address = %console_at,
        "garrison serve: console on {scheme}://{console_at}/ (the API under /api/v1)"
    );
    for listening in &server.listening {
        tracing::info!(
            input = %listening.input,
            kind = %listening.kind,
            address = %listening.at,
            "garrison serve: input {} ({}) on {}",
            listening.input, listening.kind, listening.at
        );
    }
    let listening = server.listening.clone();
    let spools = server.spools.clone();
    let (evidence, evidence_thread) = EvidenceWriter::start(&store).map_err(Failure::Store)?;
    let shared = Shared {
        detectors,
        rules: &rule_book,
        store: &store,
        evidence: &evidence,
        publisher: &team.detect,
        bus: &bus,
        runtime: &handle,
        diagnostics: &diagnostics,
        processed: &processed,
        durability: config.durability,
        stop: &stop,
        abandon: &abandon,
    };
    let results = std::thread::scope(|scope| {
        let shared = &shared;
        let processors: Vec<_> = spools
            .iter()
            .map(|info| {
                scope.spawn(move || {
                    process(info, shared)
                        .map_err(|error| format!("{}: {error}", info.dir.display()))
                })
            })
            .collect();
        let signals = {
            let _inside = runtime.enter();
            Signals::install()
        };
        tracing::info!(state = %dir.display(), "garrison serve: ready; state in {}", dir.display());
        runtime.block_on(async {
            signals.wait().await;
            tracing::info!("garrison serve: stopping; processing what was accepted");
            server.shutdown().await;
        });
        stop.store(true, Ordering::Release);
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_secs(args.drain_seconds);
        while processors.iter().any(|p| !p.is_finished()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if processors.iter().any(|p| !p.is_finished()) {
            tracing::warn!(
                "garrison serve: stopped processing after {} s; the rest waits in the spools for the next start",
                args.drain_seconds
            );
            abandon.store(true, Ordering::Release);
        }
        processors
            .into_iter()
            .map(|processor| processor.join())
            .collect::<Vec<_>>()
    });
    // Every processor has stopped: the writer finishes what it was given and stops.
    drop(evidence);
    evidence_thread.join();
    let stats = runtime.block_on(async {
        crate::settle::settle(&bus).await?;
        let stats = team.runtime.shutdown().await;
        bus.close();
        Ok::<_, Failure>(stats)
    })?;
    for listening in &listening {
        let s = listening.stats.snapshot();
        tracing::info!(
            input = %listening.input,
            accepted = s.accepted,
            quarantined = s.quarantined,
            unauthorized = s.unauthorized,
            busy = s.busy,
            connections = s.connections,
            "garrison serve: input {}: {} accepted, {} quarantined, {} unauthorized, {} busy, {} connections",
            listening.input, s.accepted, s.quarantined, s.unauthorized, s.busy, s.connections
        );
    }
    let left: u64 = spools
        .iter()
        .map(|info| {
            let cursor = garrison_server::spool::Cursor::load(&info.dir.join("cursor"))
                .ok()
                .flatten()
                .unwrap_or_default();
            info.spool
                .end()
                .borrow()
                .records
                .saturating_sub(cursor.record())
        })
        .sum();
    if left > 0 {
        tracing::warn!(
            left,
            "garrison serve: {left} records wait in the spools for the next start"
        );
    }
    let quarantined: u64 = diagnostics
        .lock()
        .map(|log| log.counts.values().sum())
        .unwrap_or(0);
    let reported = team.reported.lock().map(|ids| ids.len()).unwrap_or(0);
    let restarts: u64 = stats.agents.values().map(|a| a.restarts).sum();
    tracing::info!(
        records = processed.records.load(Ordering::Relaxed),
        events = processed.events.load(Ordering::Relaxed),
        alerts = processed.alerts.load(Ordering::Relaxed),
        incidents = reported,
        quarantined,
        restarts,
        dead_letters = bus.dead_letters().len(),
        "garrison serve: {} records -> {} events, {} alerts -> {reported} incidents; {quarantined} records quarantined, {restarts} agent restarts, {} dead letters",
        processed.records.load(Ordering::Relaxed),
        processed.events.load(Ordering::Relaxed),
        processed.alerts.load(Ordering::Relaxed),
        bus.dead_letters().len(),
    );
    if let Ok(mut log) = diagnostics.lock()
        && let Err(error) = log.finish()
    {
        tracing::error!("garrison serve: cannot write the quarantine: {error}");
    }
    for result in results {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(Failure::Store(error)),
            Err(_) => return Err(Failure::Internal("a spool processor panicked".into())),
        }
    }
    Ok(ExitCode::Success)
}

/// The console's TLS files, when `--tls-cert` and `--tls-key` name them.
pub(crate) fn console_tls(args: &ServeArgs) -> Option<garrison_server::config::TlsFiles> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(certificate), Some(key)) => Some(garrison_server::config::TlsFiles {
            certificate: certificate.clone(),
            key: key.clone(),
            client_ca: args.tls_client_ca.clone(),
        }),
        _ => None,
    }
}

/// `console`, with single sign-on when `config` sets it up.
pub(crate) fn with_oidc(
    console: garrison_server::api::Console,
    config: &Config,
) -> Result<garrison_server::api::Console, Failure> {
    Ok(match &config.oidc {
        None => console,
        Some(oidc) => console.with_oidc(Arc::new(
            garrison_server::oidc::Oidc::new(oidc.clone())
                .map_err(|error| Failure::Usage(format!("oidc: {error}")))?,
        )),
    })
}

/// The configuration file `path` names (none: no inputs, local users only).
pub(crate) fn load_config(path: Option<&std::path::Path>) -> Result<Config, Failure> {
    match path {
        None => Ok(Config::default()),
        Some(path) => Config::load(path).map_err(|errors| {
            Failure::Usage(format!(
                "configuration {}:\n  {}",
                path.display(),
                errors.join("\n  ")
            ))
        }),
    }
}

/// The rules `rules` holds, with the switches kept in `store`.
pub(crate) fn rule_book(
    rules: &garrison_sigma::RuleSet,
    store: &dyn garrison_store::RuleSwitchStore,
) -> Result<RuleBook, garrison_store::StoreError> {
    let mut loaded: Vec<LoadedRule> = (0..rules.rule_count() as u32)
        .map(|index| LoadedRule {
            info: rules.rule(index).clone(),
            reported: rules.is_reported(index),
        })
        .collect();
    loaded.extend(rules.correlation_rules().map(|info| LoadedRule {
        info: info.clone(),
        reported: true,
    }));
    let unloadable = rules
        .errors()
        .iter()
        .map(|error| Unloadable {
            path: error.path.clone(),
            id: error.id.clone(),
            title: error.title.clone(),
            kind: error.kind.as_str().into(),
            reason: error.reason.clone(),
        })
        .collect();
    RuleBook::load(loaded, unloadable, store)
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal() {
    Signals::install().wait().await
}

/// SIGINT and SIGTERM, caught from the moment this is made: a signal sent as soon as a
/// process says it is ready finds its handler, not the default action (which kills). Make it
/// inside a Tokio runtime.
pub(crate) struct Signals {
    terminate: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub(crate) fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            terminate: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Until either arrives (forever when neither could be caught).
    pub(crate) async fn wait(mut self) {
        let terminate = async {
            match &mut self.terminate {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let interrupt = async {
            match &mut self.interrupt {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = terminate => {}
            _ = interrupt => {}
        }
    }
}
