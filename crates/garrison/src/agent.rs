//! `garrison agent`: runs agent roles of the team as a process of a distributed deployment
//! (NATS JetStream and PostgreSQL, as the `--config` file names them), until SIGTERM or
//! Ctrl-C; and `garrison keys init`, which makes the role keys such processes sign with.
//!
//! Stateful roles (triage groups alerts over time, investigation links them into incidents)
//! run in one process at a time: a process running one holds an advisory lock in PostgreSQL
//! for it, and a second process waits as a standby until the holder's connection ends (it
//! stopped or died), then takes over. Stateless roles (verify, supervisor, report) run in as
//! many processes as wanted, sharing the work through their durable consumers.
//!
//! With `[agents] partitions` above 1, triage is cut by entity into partitions that its
//! processes share, each partition with one owner at a time (see [`crate::partitions`]); so
//! is the correlate role (`[agents] correlate = true`), by the correlations' group-by values.

use crate::distributed::Distributed;
use crate::{ExitCode, Failure};
use garrison_agents::SystemClock;
use garrison_agents::team::{self, AGENT_ROLES, CORRELATE, DETECT, Local, TeamConfig, TeamStores};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Roles that keep state across messages: one owner at a time.
const SINGLE_OWNER: [&str; 3] = ["triage", "investigate", CORRELATE];

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The role to run (repeatable): triage, investigate, verify, supervisor, report, respond
    /// (when the config says `[agents] respond = true`), correlate (when it says
    /// `[agents] correlate = true`).
    #[arg(long = "role", required = true, value_name = "ROLE")]
    pub roles: Vec<String>,
    /// The distributed config: NATS, PostgreSQL and the keys folder.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Instances of each stateless role in this process (default: the role's own count).
    #[arg(long)]
    pub instances: Option<usize>,
    /// Inventory of hosts and identities with their criticality, and the allowlist (triage).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// This process's name in agent identities (default: host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// Sigma rule file or folder (repeatable; correlate): added to the bundled pack. Every
    /// detecting and correlating process of a deployment must load the same rules.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Do not load the bundled rule pack (correlate).
    #[arg(long)]
    pub no_bundled: bool,
    #[command(flatten)]
    pub response: crate::respond::ResponseArgs,
    /// Append when report first stored each alert in an incident (`garrison bench
    /// distributed` measures latency with it).
    #[arg(long, value_name = "FILE", hide = true)]
    pub latency_log: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a key pair for every role that has none in DIR (ROLE.key secret, ROLE.pub public).
    Init {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

pub fn keys(command: KeysCommand) -> Result<ExitCode, Failure> {
    match command {
        KeysCommand::Init { dir } => {
            let roles: Vec<&str> = std::iter::once(DETECT)
                .chain(AGENT_ROLES)
                .chain([team::RESPOND, CORRELATE])
                .collect();
            let created = garrison_bus::KeyRing::init(&dir, &roles)
                .map_err(|error| Failure::Output(error.to_string()))?;
            eprintln!(
                "keys: {} new key pair(s) in {} ({}); {} already there",
                created.len(),
                dir.display(),
                if created.is_empty() {
                    "none".to_string()
                } else {
                    created.join(", ")
                },
                roles.len() - created.len()
            );
            Ok(ExitCode::Success)
        }
    }
}

pub fn run(args: AgentArgs) -> Result<ExitCode, Failure> {
    let mut roles: Vec<&str> = Vec::new();
    for role in &args.roles {
        let role = role.as_str();
        if !AGENT_ROLES.contains(&role) && role != team::RESPOND && role != CORRELATE {
            return Err(Failure::Usage(format!(
                "no agent role {role:?} (roles: {}, {}, {CORRELATE})",
                AGENT_ROLES.join(", "),
                team::RESPOND
            )));
        }
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    let distributed = Distributed::load(&args.config)?;
    if roles.contains(&team::RESPOND) && !distributed.respond {
        return Err(Failure::Usage(format!(
            "{}: the respond role runs only in a deployment that says [agents] respond = true \
             (every process then waits for it)",
            args.config.display()
        )));
    }
    if roles.contains(&CORRELATE) && !distributed.correlate {
        return Err(Failure::Usage(format!(
            "{}: the correlate role runs only in a deployment that says [agents] correlate = \
             true (detecting processes then send it their sightings)",
            args.config.display()
        )));
    }
    let correlator = if roles.contains(&CORRELATE) {
        let selection = crate::rules::RuleSelection {
            bundled: !args.no_bundled,
            paths: args.rules.clone(),
        };
        let threads = crate::hunt::default_threads();
        let loaded = crate::rules::load_rules(&selection, &Default::default(), threads)
            .map_err(|error| Failure::Rules(format!("{error:#}")))?;
        if loaded.rules.stats().correlations == 0 {
            return Err(Failure::Rules("no correlation rule could be loaded".into()));
        }
        let rules = Arc::new(loaded.rules);
        Some(garrison_agents::correlate::SharedCorrelator(Arc::new(
            crate::correlator::RuleCorrelator::new(rules),
        )))
    } else {
        None
    };
    let store = distributed.open_store()?;
    let inventory = match &args.inventory {
        Some(path) => crate::investigate::load_inventory(path)?,
        None => Default::default(),
    };
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        format!("{host}-{}", std::process::id())
    });
    // Keys are read first: a process missing its role's key fails now, not after a standby.
    let membership = distributed.membership(&roles, name.clone(), store.clone())?;

    // Partitioned roles share their partitions with other processes; the rest of this
    // process's roles run as one part.
    let (partitioned, whole): (Vec<&'static str>, Vec<&str>) = if distributed.partitions > 1 {
        let partitioned = team::PARTITIONED
            .iter()
            .map(|(role, _)| *role)
            .filter(|role| roles.contains(role))
            .collect();
        let whole = roles
            .iter()
            .copied()
            .filter(|role| !team::is_partitioned(role))
            .collect();
        (partitioned, whole)
    } else {
        (Vec::new(), roles.clone())
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::Internal(format!("cannot start the runtime: {error}")))?;
    let stats = runtime.block_on(async {
        let bus = distributed
            .connect_bus(&format!("garrison agent {}", roles.join("+")))
            .await?;
        let stores = TeamStores::shared(store.clone());
        let responder = if roles.contains(&team::RESPOND) {
            let actor = format!("{}/{name}", team::RESPOND);
            Some(Arc::new(crate::respond::responder(
                store.clone(),
                inventory.clone(),
                &args.response,
                &actor,
            )?))
        } else {
            None
        };
        let observer = match &args.latency_log {
            Some(path) => Some(crate::latency::LatencyLog::open(path)?.observer()),
            None => None,
        };
        let mut config = TeamConfig {
            observer,
            partitions: distributed.partitions,
            responder,
            correlator,
            ..TeamConfig::with_inventory(inventory)
        };
        config.triage.precision =
            crate::verdicts::live_precision(store.clone(), &tokio::runtime::Handle::current())?;
        let mut partitions: Vec<crate::partitions::PartitionOwner> = partitioned
            .iter()
            .map(|role| {
                crate::partitions::PartitionOwner::new(
                    role,
                    store.clone(),
                    bus.clone(),
                    config.clone(),
                    membership.clone(),
                )
            })
            .collect();
        // Announcements of what this process's roles change, from the store's outbox.
        let relay = crate::outbox::Relay::start(
            store.clone(),
            bus.clone(),
            &membership.ring,
            &roles,
            &name,
            tokio::runtime::Handle::current(),
        )?;
        let signal = crate::serve::wait_for_signal();
        tokio::pin!(signal);

        // One owner at a time for stateful roles: wait as a standby while another holds one
        // (sharing triage's partitions meanwhile).
        let mut locks = Vec::new();
        for role in whole.iter().filter(|role| SINGLE_OWNER.contains(role)) {
            let mut waiting = false;
            loop {
                let (owner, name) = (store.clone(), role.to_string());
                let claimed = crate::partitions::blocking(move || {
                    let Some(lock) = owner.try_lock_owner(&format!("role:{name}"))? else {
                        return Ok(None);
                    };
                    // Claimed before the agent rebuilds its state from the journal: a previous
                    // owner that has not noticed yet can journal nothing more.
                    owner.take_role(&name)?;
                    Ok(Some(lock))
                })
                .await
                .map_err(Failure::Store)?;
                if let Some(lock) = claimed {
                    locks.push(lock);
                    break;
                }
                if !waiting {
                    tracing::info!("agent: another process runs {role}; standing by to take over");
                    waiting = true;
                }
                for partitions in &mut partitions {
                    partitions.rebalance().await;
                }
                tokio::select! {
                    _ = &mut signal => {
                        for partitions in partitions {
                            partitions.stop().await;
                        }
                        stop_relay(relay).await;
                        let _ = bus.flush().await;
                        bus.close();
                        return Ok(Default::default());
                    }
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
        let local: Vec<Local> = whole
            .iter()
            .map(|role| Local {
                instances: if SINGLE_OWNER.contains(role) {
                    Some(1)
                } else {
                    args.instances
                },
                ..Local::whole(role)
            })
            .collect();
        let part = match local.is_empty() {
            true => None,
            false => Some(
                team::start_part(
                    bus.clone(),
                    stores,
                    Arc::new(SystemClock),
                    config,
                    membership,
                    &local,
                    false,
                )
                .await
                .map_err(|error| Failure::Internal(error.to_string()))?,
            ),
        };

        tracing::info!(
            "agent: {} running as {name} on {} (prefix {}), store {}",
            roles.join(", "),
            distributed.nats.url,
            distributed.jetstream.prefix,
            distributed
                .postgres
                .schema
                .as_deref()
                .map_or("PostgreSQL".to_string(), |schema| format!(
                    "PostgreSQL schema {schema}"
                ))
        );
        // Until told to stop, or until a lock is lost (another process may own the role);
        // meanwhile partitions are shared out once a second.
        let lock_lost = loop {
            for partitions in &mut partitions {
                partitions.rebalance().await;
            }
            tokio::select! {
                _ = &mut signal => break false,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            if locks.iter().any(|lock| lock.is_lost()) {
                break true;
            }
        };
        for partitions in partitions {
            partitions.stop().await;
        }
        let stats = match part {
            Some(part) => part.runtime.shutdown().await,
            None => Default::default(),
        };
        stop_relay(relay).await;
        // Acks sent while stopping reach the server before the process ends.
        let _ = bus.flush().await;
        bus.close();
        // Held until the roles' agents stopped: only then may another process own them.
        drop(locks);
        if lock_lost {
            return Err(Failure::Store(
                "lost the PostgreSQL connection holding this process's role; stopped so that \
                 one owner runs it"
                    .into(),
            ));
        }
        Ok::<_, Failure>(stats)
    })?;
    for (role, counters) in &stats.agents {
        tracing::info!(
            "agent: {role}: {} handled, {} rejected, {} failed, {} restarts",
            counters.handled,
            counters.rejected,
            counters.failed,
            counters.restarts
        );
    }
    Ok(ExitCode::Success)
}

/// Stops the outbox relay, after it published what waits.
async fn stop_relay(relay: Option<crate::outbox::Relay>) {
    if let Some(relay) = relay {
        let published = relay.stop().await;
        tracing::info!("agent: the outbox relay published {published} announcements");
    }
}
