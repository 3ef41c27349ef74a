//! The dependency rules of ARCHITECTURE.md, checked against `cargo metadata` so they cannot
//! drift: dependencies point inward, and each outside concern lives in one crate.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let dependencies = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dependency| dependency["kind"].is_null())
                .map(|dependency| dependency["name"].as_str().unwrap().to_string())
                .collect();
            (package["name"].as_str().unwrap().to_string(), dependencies)
        })
        .collect()
}

#[test]
fn dependencies_point_inward() {
    let crates = workspace_dependencies();
    let ours = |name: &str| -> BTreeSet<String> {
        crates[name]
            .iter()
            .filter(|d| d.starts_with("garrison"))
            .cloned()
            .collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        ours("garrison-model"),
        set(&[]),
        "the model depends on nothing of ours"
    );
    assert_eq!(ours("garrison-sigma"), set(&["garrison-model"]));
    assert_eq!(ours("garrison-ingest"), set(&["garrison-model"]));
    assert_eq!(ours("garrison-store"), set(&["garrison-model"]));
    assert_eq!(
        ours("garrison-response"),
        set(&["garrison-model"]),
        "rules of engagement and connectors know actions and incidents, not the team"
    );
    assert_eq!(
        ours("garrison-server"),
        set(&[
            "garrison-model",
            "garrison-store",
            "garrison-agents",
            "garrison-ingest",
            "garrison-response"
        ]),
        "the console serves what the store holds, reads evidence back from where it was taken, \
         decides through the responder and reaches the sign-on provider with the connectors' \
         HTTP client"
    );
    assert_eq!(
        ours("garrison-scenario"),
        set(&[]),
        "the generator writes what shippers write, knowing none of our types"
    );
    // Only the binary wires crates together.
    for (name, _) in crates
        .iter()
        .filter(|(name, _)| name.as_str() != "garrison")
    {
        assert!(
            !ours(name).contains("garrison"),
            "{name} must not depend on the binary"
        );
    }
}

#[test]
fn outside_concerns_stay_in_their_crates() {
    let crates = workspace_dependencies();
    let pure = ["garrison-model", "garrison-sigma"];
    let io_crates = [
        "tokio",
        "evtx",
        "zip",
        "flate2",
        "tar",
        "tempfile",
        "crossbeam-channel",
        "clap",
        "indicatif",
    ];
    for name in pure {
        for dependency in &crates[name] {
            assert!(
                !io_crates.contains(&dependency.as_str()),
                "{name} is pure and must not depend on {dependency}"
            );
        }
    }
    // Only the binary parses arguments or draws progress.
    for (name, dependencies) in &crates {
        if name != "garrison" {
            assert!(
                !dependencies.contains("clap") && !dependencies.contains("indicatif"),
                "{name}"
            );
        }
    }
    // Only ingest reads event logs and archives.
    for (name, dependencies) in &crates {
        if name != "garrison-ingest" && name != "garrison" {
            assert!(
                !dependencies.contains("evtx") && !dependencies.contains("zip"),
                "{name}"
            );
        }
    }
}

#[test]
fn only_the_store_knows_sql() {
    let crates = workspace_dependencies();
    for (name, dependencies) in &crates {
        if name != "garrison-store" {
            assert!(
                !dependencies.contains("rusqlite") && !dependencies.contains("postgres"),
                "{name} must reach SQLite and PostgreSQL through garrison-store"
            );
        }
    }
}

#[test]
fn only_the_bus_and_the_nats_input_know_nats() {
    let crates = workspace_dependencies();
    for (name, dependencies) in &crates {
        if name != "garrison-bus" && name != "garrison-server" {
            assert!(
                !dependencies.contains("async-nats"),
                "{name} must reach NATS through garrison-bus"
            );
        }
    }
}

#[test]
fn only_the_server_knows_http_and_tls_listeners() {
    let crates = workspace_dependencies();
    for (name, dependencies) in &crates {
        if name != "garrison-server" {
            assert!(
                !dependencies.contains("axum"),
                "{name} must leave listening to garrison-server"
            );
        }
        // The response crate's connectors call out over HTTP(S); nothing else does.
        if name != "garrison-server" && name != "garrison-response" {
            for listener in ["hyper-util", "tokio-rustls"] {
                assert!(
                    !dependencies.contains(listener),
                    "{name} must leave listening to garrison-server ({listener})"
                );
            }
        }
    }
    // Connectors only call out: the response crate never binds a socket.
    let response =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../garrison-response/src");
    for entry in std::fs::read_dir(&response).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for listening in [
            "TcpListener",
            "UdpSocket",
            "TlsAcceptor",
            "serve_connection",
        ] {
            assert!(
                !text.contains(listening),
                "{} uses {listening}",
                path.display()
            );
        }
    }
    // The pure crates stay free of sockets.
    for name in ["garrison-model", "garrison-sigma"] {
        assert!(!crates[name].contains("garrison-server"), "{name}");
        assert!(!crates[name].contains("tokio"), "{name}");
    }
}
