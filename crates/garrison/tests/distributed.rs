//! Distributed mode against the real engines (`GARRISON_NATS_URL`, `GARRISON_POSTGRES_URL`,
//! defaulting to the local services `.ci/run` starts): the team over NATS JetStream and
//! PostgreSQL reports exactly what it reports over the in-process bus and SQLite, and the audit
//! chain it leaves in PostgreSQL verifies, and stops verifying once edited.

mod common;

use common::{garrison, workspace};
use std::path::Path;

fn nats_url() -> String {
    std::env::var("GARRISON_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn postgres_url() -> String {
    std::env::var("GARRISON_POSTGRES_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

/// A distributed config with a prefix and schema of its own; dropped (streams and schema)
/// when done.
struct Deployment {
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
    name: String,
}

impl Deployment {
    fn new() -> Deployment {
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

    fn sql(&self, statement: &str) {
        let mut client = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
        client.batch_execute(statement).unwrap();
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let bus = garrison_bus::JetStreamBus::connect(
                &garrison_bus::NatsOptions::new(nats_url()),
                garrison_bus::JetStreamConfig {
                    prefix: self.name.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            bus.purge_all(&["alert", "incident"]).await.unwrap();
        });
    }
}

fn investigate(store: &[&str], samples: &Path) -> serde_json::Value {
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

#[test]
fn the_team_on_jetstream_and_postgresql_reports_what_it_reports_embedded() {
    let samples = workspace().join("samples");
    let state = tempfile::tempdir().unwrap();
    let embedded = investigate(&["--state", state.path().to_str().unwrap()], &samples);
    let deployment = Deployment::new();
    let config = deployment.config.to_str().unwrap();
    let distributed = investigate(&["--distributed", config], &samples);
    let incidents = embedded["incidents"].as_array().unwrap();
    assert!(
        incidents.len() >= 4,
        "the samples hold several intrusions: {}",
        incidents.len()
    );
    assert_eq!(
        distributed, embedded,
        "same incidents, alerts, evidence, reasoning and stats"
    );
    // Run again on the same stores: both take up the incidents they hold the same way.
    let embedded_again = investigate(&["--state", state.path().to_str().unwrap()], &samples);
    let again = investigate(&["--distributed", config], &samples);
    assert_eq!(again, embedded_again);
    assert_eq!(
        again["incidents"].as_array().unwrap().len(),
        incidents.len()
    );

    let verify = garrison(&["audit", "verify", "--distributed", config]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{said}");
    let entries: u64 = said
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("entry count in {said:?}"));
    assert!(entries >= 2 * incidents.len() as u64, "{said}");
    // An edit made in PostgreSQL is caught, and where.
    deployment.sql(&format!(
        "UPDATE {}.audit_log SET actor = 'nobody' WHERE seq = 3",
        deployment.name
    ));
    let verify = garrison(&["audit", "verify", "--distributed", config]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(6), "{said}");
    assert!(said.contains("TAMPERED") && said.contains('3'), "{said}");
}

#[test]
fn an_unreachable_engine_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("distributed.toml");
    std::fs::write(
        &config,
        "[nats]\nurl = \"nats://127.0.0.1:4222\"\n[postgres]\nurl = \"host=127.0.0.1 port=1 user=postgres dbname=test connect_timeout=2\"\n",
    )
    .unwrap();
    let output = garrison(&["audit", "verify", "--distributed", config.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        said.contains("PostgreSQL") || said.contains("connect"),
        "{said}"
    );
}
