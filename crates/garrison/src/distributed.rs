//! Distributed mode: one config file naming the NATS JetStream bus and the PostgreSQL store
//! that agents in separate processes share (`--distributed FILE`).
//!
//! ```toml
//! [nats]
//! url = "nats://127.0.0.1:4222"
//! prefix = "garrison"            # subjects garrison.alert.raised, streams GARRISON_ALERT, ...
//! # credentials_file = "agent.creds"  | nkey_seed_file = "agent.nk"
//! # user = "garrison"  password_file = "nats.password"
//! # ca_file = "ca.pem"  cert_file = "client.pem"  key_file = "client.key"
//!
//! [postgres]
//! url = "host=127.0.0.1 user=garrison dbname=garrison"
//! # password_file = "pg.password"   schema = "garrison"   connections = 4
//! # ca_file = "pg-ca.pem"  cert_file = "pg-client.pem"  key_file = "pg-client.key"  (TLS)
//! # keep_journal = false    # keep the messages a checkpoint holds, not only their ids
//!
//! [keys]
//! dir = "keys"    # ROLE.key / ROLE.pub from `garrison keys init`; each host needs the
//!                 # secret keys of the roles it runs and every public key
//!
//! [agents]
//! # ack_wait_seconds = 30   # how long a role waits for a message its instance held when it
//! #                         # died (all processes must agree; roles' defaults: 20 s for
//! #                         # triage and investigation, 60 s for the others)
//! # partitions = 8          # triage's state cut by entity (host, else person) into this
//! #                         # many partitions, each owned by one triage process at a time
//! #                         # (all processes must agree; default 1)
//! # checkpoint_every = 1000 # triage, investigation and correlation save their state every
//! #                         # this many messages; a new owner replays only what came after
//! #                         # (0: never)
//! # correlate = true        # Sigma correlation rules run in `garrison agent --role
//! #                         # correlate` processes over every detecting process's matches,
//! #                         # cut into the same partitions by the correlations' group-by
//! #                         # values (default: each detecting process correlates its own)
//! ```
//!
//! Relative paths are read from the config file's folder.

use crate::Failure;
use garrison_agents::messages::{TeamKind, TeamMessage};
use garrison_bus::{JetStreamBus, JetStreamConfig, Message, NatsOptions};
use garrison_store::{PostgresOptions, PostgresStore};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Triage partitions at most: each is a durable consumer and, owned, a PostgreSQL connection.
const MAX_PARTITIONS: u32 = 256;

/// The shared engines, as the config file names them.
#[derive(Debug, Clone)]
pub struct Distributed {
    pub nats: NatsOptions,
    pub jetstream: JetStreamConfig,
    pub postgres: PostgresOptions,
    /// The folder of role keys, for agents running as separate processes.
    pub keys: Option<PathBuf>,
    /// How long a role waits for a message its instance held when it died.
    pub ack_wait: Option<Duration>,
    /// Triage's partitions (1: one owner for all of triage).
    pub partitions: u32,
    /// Stateful agents save their state every this many messages (the default when `None`).
    pub checkpoint_every: Option<u64>,
    /// The deployment runs the response agent (`garrison agent --role respond`): every
    /// process declares its consumer, so verified incidents wait for it.
    pub respond: bool,
    /// The deployment runs the correlate role (`garrison agent --role correlate`): detecting
    /// processes send it their sightings instead of correlating them themselves.
    pub correlate: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    nats: RawNats,
    postgres: RawPostgres,
    keys: Option<RawKeys>,
    agents: Option<RawAgents>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgents {
    ack_wait_seconds: Option<f64>,
    partitions: Option<u32>,
    checkpoint_every: Option<u64>,
    respond: Option<bool>,
    correlate: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNats {
    url: String,
    prefix: Option<String>,
    credentials_file: Option<PathBuf>,
    nkey_seed_file: Option<PathBuf>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    /// Messages a stream holds before publishers wait.
    max_messages: Option<i64>,
    duplicate_window_seconds: Option<u64>,
    replicas: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostgres {
    url: String,
    password_file: Option<PathBuf>,
    schema: Option<String>,
    connections: Option<usize>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    keep_journal: Option<bool>,
}

impl Distributed {
    pub fn load(path: &Path) -> Result<Distributed, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| Failure::Input(format!("cannot read {}: {error}", path.display())))?;
        let raw: RawConfig = toml::from_str(&text)
            .map_err(|error| Failure::Usage(format!("{}: {error}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |file: Option<PathBuf>| file.map(|file| base.join(file));
        let usage = |what: &str| Failure::Usage(format!("{}: {what}", path.display()));
        let nats = raw.nats;
        if !(nats.url.starts_with("nats://") || nats.url.starts_with("tls://")) {
            return Err(usage(&format!(
                "nats.url {:?} is not a nats:// or tls:// address",
                nats.url
            )));
        }
        let client_cert = match (resolve(nats.cert_file), resolve(nats.key_file)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(usage("nats.cert_file and nats.key_file go together")),
        };
        if nats.user.is_some() != nats.password_file.is_some() {
            return Err(usage("nats.user and nats.password_file go together"));
        }
        let defaults = JetStreamConfig::default();
        let prefix = nats.prefix.unwrap_or(defaults.prefix.clone());
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(usage(&format!(
                "nats.prefix {prefix:?}: use letters, digits, - and _ only"
            )));
        }
        let postgres = raw.postgres;
        let postgres_cert = match (resolve(postgres.cert_file), resolve(postgres.key_file)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(usage(
                    "postgres.cert_file and postgres.key_file go together",
                ));
            }
        };
        Ok(Distributed {
            nats: NatsOptions {
                url: nats.url,
                name: "garrison".into(),
                credentials_file: resolve(nats.credentials_file),
                nkey_seed_file: resolve(nats.nkey_seed_file),
                user: nats.user,
                password_file: resolve(nats.password_file),
                ca_file: resolve(nats.ca_file),
                client_cert,
            },
            jetstream: JetStreamConfig {
                prefix,
                max_messages: nats.max_messages.unwrap_or(defaults.max_messages),
                duplicate_window: nats
                    .duplicate_window_seconds
                    .map_or(defaults.duplicate_window, Duration::from_secs),
                replicas: nats.replicas.unwrap_or(defaults.replicas),
                ..defaults
            },
            postgres: PostgresOptions {
                url: postgres.url,
                password_file: resolve(postgres.password_file),
                schema: postgres.schema,
                connections: postgres.connections.unwrap_or(4),
                ca_file: resolve(postgres.ca_file),
                client_cert: postgres_cert,
                keep_journal: postgres.keep_journal.unwrap_or(false),
            },
            keys: resolve(raw.keys.map(|keys| keys.dir)),
            checkpoint_every: raw
                .agents
                .as_ref()
                .and_then(|agents| agents.checkpoint_every),
            respond: raw
                .agents
                .as_ref()
                .and_then(|agents| agents.respond)
                .unwrap_or(false),
            correlate: raw
                .agents
                .as_ref()
                .and_then(|agents| agents.correlate)
                .unwrap_or(false),
            partitions: match raw.agents.as_ref().and_then(|agents| agents.partitions) {
                None => 1,
                Some(count) if (1..=MAX_PARTITIONS).contains(&count) => count,
                Some(count) => {
                    return Err(usage(&format!(
                        "agents.partitions {count}: between 1 and {MAX_PARTITIONS}"
                    )));
                }
            },
            ack_wait: match raw.agents.and_then(|agents| agents.ack_wait_seconds) {
                None => None,
                Some(seconds) if (1.0..=3600.0).contains(&seconds) => {
                    Some(Duration::from_secs_f64(seconds))
                }
                Some(seconds) => {
                    return Err(usage(&format!(
                        "agents.ack_wait_seconds {seconds}: between 1 and 3600"
                    )));
                }
            },
        })
    }

    /// How a process named `instance` takes part in the team: the key ring holding the secret
    /// keys of its `own` roles, and the shared store's journal.
    pub fn membership(
        &self,
        own: &[&str],
        instance: String,
        journal: Arc<dyn garrison_store::Journal>,
    ) -> Result<garrison_agents::team::Membership, Failure> {
        Ok(garrison_agents::team::Membership {
            ring: self.key_ring(own)?,
            instance,
            journal,
            ack_wait: self.ack_wait,
            checkpoint_every: self.checkpoint_every,
            respond: self.respond,
            correlate: self.correlate,
        })
    }

    /// The key ring: the secret keys of `own` roles and every public key.
    pub fn key_ring(&self, own: &[&str]) -> Result<Arc<garrison_bus::KeyRing>, Failure> {
        let dir = self.keys.as_ref().ok_or_else(|| {
            Failure::Usage(
                "agents in separate processes sign with role keys: add [keys] dir = ... to the \
                 distributed config (garrison keys init --dir DIR makes them)"
                    .into(),
            )
        })?;
        garrison_bus::KeyRing::load(dir, own)
            .map(Arc::new)
            .map_err(|error| Failure::Usage(format!("keys: {error}")))
    }

    pub fn open_store(&self) -> Result<Arc<PostgresStore>, Failure> {
        PostgresStore::connect(&self.postgres)
            .map(Arc::new)
            .map_err(|error| Failure::Store(error.to_string()))
    }

    /// Removes what a deployment left on the servers: its PostgreSQL schema and its streams
    /// (test and benchmark deployments; refused for a store without a schema of its own).
    pub fn remove(&self) -> Result<(), Failure> {
        self.open_store()?
            .drop_schema()
            .map_err(|error| Failure::Store(error.to_string()))?;
        crate::current_thread_runtime()?.block_on(async {
            let bus = self.connect_bus("garrison cleanup").await?;
            bus.purge_all(&team_families())
                .await
                .map_err(|error| Failure::Internal(format!("NATS: {error}")))
        })
    }

    pub async fn connect_bus(&self, name: &str) -> Result<JetStreamBus, Failure> {
        let options = NatsOptions {
            name: name.into(),
            ..self.nats.clone()
        };
        JetStreamBus::connect(&options, self.jetstream.clone())
            .await
            .map_err(|error| Failure::Internal(format!("NATS: {error}")))
    }
}

/// Every stream family the team publishes in (`alert.raised`: `alert`).
fn team_families() -> Vec<&'static str> {
    let mut families: Vec<&str> = TeamKind::ALL
        .iter()
        .filter_map(|kind| TeamMessage::subject(*kind).split('.').next())
        .collect();
    families.sort_unstable();
    families.dedup();
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_deployment_deletes_every_family_the_team_publishes_in() {
        assert_eq!(team_families(), ["alert", "incident", "sighting"]);
    }

    fn load(text: &str) -> Result<Distributed, Failure> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("distributed.toml");
        std::fs::write(&path, text).unwrap();
        Distributed::load(&path)
    }

    #[test]
    fn a_config_names_both_engines_and_paths_are_read_beside_it() {
        let config = load(
            r#"
            [nats]
            url = "tls://nats.internal:4222"
            prefix = "soc-eu"
            ca_file = "ca.pem"
            user = "garrison"
            password_file = "nats.password"
            max_messages = 5000
            [postgres]
            url = "host=db.internal user=garrison dbname=garrison"
            schema = "garrison"
            "#,
        )
        .unwrap();
        assert_eq!(config.jetstream.prefix, "soc-eu");
        assert_eq!(config.jetstream.max_messages, 5000);
        assert!(config.nats.ca_file.as_ref().unwrap().ends_with("ca.pem"));
        assert!(config.nats.password_file.as_ref().unwrap().is_absolute());
        assert_eq!(config.postgres.schema.as_deref(), Some("garrison"));
        assert_eq!(config.postgres.connections, 4);
    }

    #[test]
    fn mistakes_are_named() {
        let bad = |text: &str| match load(text) {
            Err(Failure::Usage(why)) => why,
            other => panic!("expected a usage error, got {other:?}"),
        };
        let postgres = "[postgres]\nurl = \"host=x\"\n";
        assert!(bad(&format!("[nats]\nurl = \"http://x\"\n{postgres}")).contains("nats.url"));
        assert!(
            bad(&format!(
                "[nats]\nurl = \"nats://x\"\nuser = \"u\"\n{postgres}"
            ))
            .contains("password_file")
        );
        assert!(
            bad(&format!(
                "[nats]\nurl = \"nats://x\"\nprefix = \"a.b\"\n{postgres}"
            ))
            .contains("prefix")
        );
        assert!(
            bad(&format!("[nats]\nurl = \"nats://x\"\nurll = 1\n{postgres}"))
                .contains("unknown field")
        );
        assert!(bad("[nats]\nurl = \"nats://x\"\n").contains("postgres"));
    }
}
