//! A distributed deployment of the team for tests, against the real engines
//! (`GARRISON_NATS_URL`, `GARRISON_POSTGRES_URL`, defaulting to the local services `.ci/run`
//! starts): a config with a NATS prefix and PostgreSQL schema of its own, dropped when done,
//! and `garrison agent` processes.

use super::garrison;
use std::path::Path;

pub fn nats_url() -> String {
    std::env::var("GARRISON_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

pub fn postgres_url() -> String {
    std::env::var("GARRISON_POSTGRES_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

/// A distributed config with a prefix and schema of its own; dropped (streams and schema)
/// when done.
pub struct Deployment {
    pub _dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
    pub name: String,
}

impl Deployment {
    pub fn with_keys() -> Deployment {
        let deployment = Deployment::new();
        let keys = deployment._dir.path().join("keys");
        let output = garrison(&["keys", "init", "--dir", keys.to_str().unwrap()]);
        assert!(output.status.success());
        deployment.add("\n[keys]\ndir = \"keys\"\n");
        deployment
    }

    /// Adds `text` to the config.
    pub fn add(&self, text: &str) {
        let mut config = std::fs::read_to_string(&self.config).unwrap();
        config.push_str(text);
        std::fs::write(&self.config, config).unwrap();
    }

    /// Starts `garrison agent` with these roles; its standard error goes to a log file.
    pub fn agent(&self, roles: &[&str], extra: &[&str]) -> Agent {
        // Arguments naming files name the log too, without their folders.
        let named = format!("agent-{}-{}.log", roles.join("-"), extra.join("-"));
        let log = self._dir.path().join(named.replace('/', "_"));
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_garrison"));
        command.args(["agent", "--config", self.config.to_str().unwrap()]);
        for role in roles {
            command.args(["--role", role]);
        }
        command.args(extra);
        command.stderr(std::fs::File::create(&log).unwrap());
        Agent {
            child: command.spawn().unwrap(),
            log,
        }
    }

    pub fn new() -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("gt_dist_{nanos:x}");
        let config = dir.path().join("distributed.toml");
        std::fs::write(
            &config,
            format!(
                "[nats]\nurl = {:?}\nprefix = {name:?}\n\n[postgres]\nurl = {:?}\nschema = {name:?}\n",
                nats_url(),
                postgres_url()
            ),
        )
        .unwrap();
        Deployment {
            _dir: dir,
            config,
            name,
        }
    }

    /// Runs `job` with a connection to the NATS server under this deployment's prefix.
    pub fn with_bus<R>(&self, job: impl AsyncFnOnce(garrison_bus::JetStreamBus) -> R) -> R {
        on_bus(&self.name, job)
    }

    /// The team's consumers at the NATS server, under this deployment's prefix.
    pub fn consumers(&self) -> Vec<garrison_bus::jetstream::ConsumerState> {
        self.with_bus(async |bus| {
            bus.consumers(&["alert.raised", "incident.proposed"])
                .await
                .unwrap()
        })
    }

    pub fn keys(&self) -> std::path::PathBuf {
        self._dir.path().join("keys")
    }

    /// The number a query in this deployment's schema counts.
    pub fn count(&self, query: &str) -> i64 {
        let mut client = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("SET search_path TO {}", self.name))
            .unwrap();
        client.query_one(query, &[]).unwrap().get(0)
    }

    /// Collects the announcements under `subject` from now until stopped.
    pub fn watch_announcements(&self, subject: &str) -> Watching {
        let (ready, started) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (name, subject, stopping) = (self.name.clone(), subject.to_string(), stop.clone());
        let thread = std::thread::spawn(move || {
            on_bus(&name, async |bus| {
                let mut watch = bus.watch(&subject).await.unwrap();
                ready.send(()).unwrap();
                let mut heard = Vec::new();
                let pause = std::time::Duration::from_millis(200);
                while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Ok(Some(next)) = tokio::time::timeout(pause, watch.next()).await {
                        heard.push(next.unwrap());
                    }
                }
                heard
            })
        });
        started.recv().unwrap();
        Watching { stop, thread }
    }

    pub fn sql(&self, statement: &str) {
        let mut client = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
        client.batch_execute(statement).unwrap();
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        self.with_bus(async |bus| {
            bus.purge_all(&["alert", "incident", "sighting"])
                .await
                .unwrap()
        });
    }
}

/// Runs `job` with a connection to the NATS server under `prefix`.
pub fn on_bus<R>(prefix: &str, job: impl AsyncFnOnce(garrison_bus::JetStreamBus) -> R) -> R {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let bus = garrison_bus::JetStreamBus::connect(
            &garrison_bus::NatsOptions::new(nats_url()),
            garrison_bus::JetStreamConfig {
                prefix: prefix.to_string(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        job(bus).await
    })
}

/// Announcements being collected.
pub struct Watching {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<garrison_bus::SignedEnvelope>>,
}

impl Watching {
    /// What was heard, after a last moment for anything on its way.
    pub fn stop(self) -> Vec<garrison_bus::SignedEnvelope> {
        std::thread::sleep(std::time::Duration::from_millis(500));
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// An agent process; killed when dropped.
pub struct Agent {
    pub child: std::process::Child,
    pub log: std::path::PathBuf,
}

impl Agent {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log says the agent runs.
    pub fn wait_running(&self) {
        self.wait_for(|log| log.contains(" running as "), "the agent to start");
    }

    /// Waits up to 20 s until `done` holds of the log.
    pub fn wait_for(&self, done: impl Fn(&str) -> bool, what: &str) {
        for _ in 0..400 {
            if done(&self.log()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("waited for {what}: {}", self.log());
    }

    /// The triage partitions the log says this process owns now.
    pub fn partitions(&self) -> std::collections::BTreeSet<String> {
        let mut owned = std::collections::BTreeSet::new();
        for line in self.log().lines() {
            if let Some(partition) = line.strip_prefix("agent: owns ") {
                owned.insert(partition.to_string());
            } else if let Some(rest) = line.strip_prefix("agent: let go of ") {
                owned.remove(rest.split(':').next().unwrap_or(rest));
            }
        }
        owned
    }

    /// Stops it with SIGTERM; it must exit cleanly.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        let log = self.log();
        assert!(status.success(), "{log}");
        log
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn investigate(store: &[&str], samples: &Path) -> serde_json::Value {
    without_actions(investigate_with_actions(store, samples))
}

/// The report as `investigate` writes it, response actions included.
pub fn investigate_with_actions(store: &[&str], samples: &Path) -> serde_json::Value {
    let mut args = vec!["investigate", "--quiet"];
    args.extend_from_slice(store);
    args.push(samples.to_str().unwrap());
    let output = garrison(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The report without response actions, for deployments that run no response agent.
pub fn without_actions(mut report: serde_json::Value) -> serde_json::Value {
    let report_object = report.as_object_mut().unwrap();
    report_object.remove("actions");
    report_object["stats"]
        .as_object_mut()
        .unwrap()
        .remove("actions");
    report
}

/// The report without incident ids and versions. Investigation takes alerts from several
/// partitions in the order they arrive: which alert opened an incident (its id is named after
/// it) and how many revisions it went through can change from run to run; nothing else may.
pub fn without_versions(mut report: serde_json::Value) -> serde_json::Value {
    for incident in report["incidents"].as_array_mut().unwrap() {
        let incident = incident.as_object_mut().unwrap();
        incident.remove("version");
        incident.remove("id");
    }
    report
}

/// The deployment's audit chain verifies.
pub fn assert_audit_verifies(config: &str) {
    let verify = garrison(&["audit", "verify", "--distributed", config]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
