//! `garrison serve --distributed FILE`: the console (pages and API) against the shared
//! PostgreSQL store of a distributed deployment whose agents run as `garrison agent`
//! processes. Incidents, approvals (carried out by the deployment's response agent), verdicts,
//! cases, rule switches, users, sessions and the audit log are the deployment's; several
//! such consoles may serve one store. No agents or live inputs run in this process; its agents
//! page shows the deployment's queues (JetStream consumers, the outbox), and its live feed the
//! incidents the deployment announces.

use crate::serve::{ServeArgs, Signals, console_tls, load_config, rule_book, with_oidc};
use crate::state::state_dir;
use crate::{ExitCode, Failure};
use garrison_agents::announce::Announcement;
use garrison_bus::{Directory, JetStreamBus};
use garrison_server::Server;
use std::path::Path;
use std::sync::Arc;

pub fn run(args: ServeArgs, path: &Path) -> Result<ExitCode, Failure> {
    let config = load_config(args.config.as_deref())?;
    if !config.inputs.is_empty() {
        return Err(Failure::Usage(
            "live inputs run with the embedded store; a distributed deployment takes telemetry \
             with `garrison investigate --distributed` and its agents"
                .into(),
        ));
    }
    let distributed = crate::distributed::Distributed::load(path)?;
    let store = distributed.open_store()?;
    let threads = args
        .threads
        .unwrap_or_else(crate::hunt::default_threads)
        .max(1);
    let loaded = args.team.load(threads)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.min(4))
        .enable_all()
        .build()
        .map_err(|error| Failure::Internal(format!("cannot start the runtime: {error}")))?;
    let responder = crate::respond::responder(
        store.clone(),
        loaded.inventory,
        &args.team.response,
        "console",
    )?;
    let precision = crate::verdicts::live_precision(store.clone(), runtime.handle())?;
    let rules = Arc::new(
        rule_book(&loaded.rules.rules, store.as_ref())
            .map_err(|error| Failure::Store(error.to_string()))?,
    );
    let console = garrison_server::api::Console::new(store.clone(), Some(responder))
        .map_err(|error| Failure::Internal(error.to_string()))?
        .with_rules(rules, Some(precision));
    // The agents page (the deployment's queues: the agents run elsewhere) and the live queue
    // notice (incident versions the report agents announce) follow the bus once it answers:
    // the console serves the store meanwhile.
    let health = Arc::new(crate::health::DeploymentHealth::default());
    let console = with_oidc(console, &config)?.with_health(health.clone());
    let directory = match &distributed.keys {
        Some(dir) => Some(Announcement::directory(
            &garrison_bus::KeyRing::load(dir, &[])
                .map_err(|error| Failure::Usage(format!("keys: {error}")))?,
        )),
        None => {
            tracing::warn!(
                "garrison serve: no [keys] in the distributed config, so announcements cannot \
                 be checked: pages are not told of new incidents as they are reported"
            );
            None
        }
    };
    runtime.spawn(follow_bus(
        distributed.clone(),
        health,
        store.clone(),
        directory,
        console.feed().clone(),
    ));
    // This process's own folder (its lock), not the deployment's state.
    let dir = state_dir(&args.state)?;
    std::fs::create_dir_all(&dir)
        .map_err(|error| Failure::Store(format!("cannot create {}: {error}", dir.display())))?;
    let mut server = runtime
        .block_on(Server::start(&config, &dir))
        .map_err(|error| Failure::Input(error.to_string()))?;
    let tls = console_tls(&args);
    let at = runtime
        .block_on(server.start_console(
            args.http,
            garrison_server::console::router(Arc::new(console)),
            tls.as_ref(),
        ))
        .map_err(|error| Failure::Input(error.to_string()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        address = %at,
        "garrison serve: console on {scheme}://{at}/ (the API under /api/v1)"
    );
    let signals = {
        let _inside = runtime.enter();
        Signals::install()
    };
    tracing::info!(
        "garrison serve: ready; the store is PostgreSQL{} ({})",
        distributed
            .postgres
            .schema
            .as_deref()
            .map(|schema| format!(" schema {schema}"))
            .unwrap_or_default(),
        path.display()
    );
    runtime.block_on(async {
        signals.wait().await;
        tracing::info!("garrison serve: stopping");
        server.shutdown().await;
    });
    Ok(ExitCode::Success)
}

/// Connects to the deployment's bus (trying again every 5 s until it answers), then reads
/// its queues for the agents page and, with a directory, follows the announcements.
async fn follow_bus(
    distributed: crate::distributed::Distributed,
    health: Arc<crate::health::DeploymentHealth>,
    store: Arc<garrison_store::PostgresStore>,
    directory: Option<Directory<garrison_agents::announce::AnnouncementKind>>,
    feed: garrison_server::api::events::Feed,
) {
    let bus = loop {
        match distributed.connect_bus("garrison serve").await {
            Ok(bus) => break bus,
            Err(error) => {
                tracing::warn!(
                    "garrison serve: {}; the agents page and the live feed wait for it",
                    error.message()
                );
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    };
    let queues = health.follow(bus.clone(), store);
    match directory {
        Some(directory) => {
            tokio::join!(queues, follow_announcements(bus, directory, feed));
        }
        None => queues.await,
    }
}

/// Passes every incident version announced on the deployment's bus, once checked, to the
/// console's watchers; watches again after the server went away.
async fn follow_announcements(
    bus: JetStreamBus,
    directory: Directory<garrison_agents::announce::AnnouncementKind>,
    feed: garrison_server::api::events::Feed,
) {
    loop {
        let mut watch = match bus.watch("state.incident").await {
            Ok(watch) => watch,
            Err(error) => {
                tracing::warn!("garrison serve: cannot watch announcements yet: {error}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(next) = watch.next().await {
            let checked = next.and_then(|signed| {
                directory
                    .open::<Announcement>(&signed)
                    .map_err(|rejection| format!("refused an announcement: {rejection}"))
            });
            match checked {
                Ok(envelope) => {
                    if let Announcement::IncidentStored { incident } = envelope.payload {
                        feed.summary(*incident);
                    }
                }
                Err(why) => tracing::warn!("garrison serve: {why}"),
            }
        }
    }
}
