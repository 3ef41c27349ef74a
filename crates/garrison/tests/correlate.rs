//! The correlate role against the real engines: Sigma correlation rules cut into partitions
//! shared by `garrison agent --role correlate` processes, raising what one process hunting
//! everything raises, with their state surviving the processes that held it.

mod common;

use common::deployment::*;
use common::{alert_ids, garrison, workspace};
use std::collections::BTreeSet;
use std::path::Path;

/// The SSH brute force (5 failures from one source) and the logon after it (a chain of two
/// correlations).
const BRUTE_FORCE: &str = "al-fded67b1-c8d4-449e-bb6a-f1ac92f5487c-";
const LOGON_AFTER: &str = "al-95e8d17d-eada-4494-b42d-c26ea984e0a1-";

fn correlations(report: &serde_json::Value) -> BTreeSet<String> {
    alert_ids(report)
        .into_iter()
        .filter(|id| id.starts_with(BRUTE_FORCE) || id.starts_with(LOGON_AFTER))
        .collect()
}

#[test]
fn correlation_partitions_are_shared_by_processes_and_their_state_outlives_them() {
    // web01's SSH log cut in two: three failed passwords in the first part, two more and the
    // logon in the second. Neither part alone is a brute force.
    let dir = tempfile::tempdir().unwrap();
    let auth = std::fs::read_to_string(workspace().join("samples/linux/web01-auth.log")).unwrap();
    let lines: Vec<&str> = auth.lines().collect();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    for (folder, part) in [(&first, &lines[..4]), (&second, &lines[4..])] {
        std::fs::create_dir(folder).unwrap();
        std::fs::write(folder.join("web01-auth.log"), part.join("\n") + "\n").unwrap();
    }
    let embedded = |paths: &[&Path]| {
        let state = tempfile::tempdir().unwrap();
        let mut args = vec![
            "investigate",
            "--quiet",
            "--state",
            state.path().to_str().unwrap(),
        ];
        args.extend(paths.iter().map(|path| path.to_str().unwrap()));
        let output = garrison(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    // The brute force itself is not reported (the chain reading it says `generate: false`).
    let together = correlations(&embedded(&[&first, &second]));
    assert_eq!(
        together.len(),
        1,
        "hunted together, the parts hold one: {together:?}"
    );
    assert!(
        together.iter().all(|id| id.starts_with(LOGON_AFTER)),
        "{together:?}"
    );
    let first_alone = embedded(&[&first]);
    assert!(correlations(&first_alone).is_empty());
    assert!(correlations(&embedded(&[&second])).is_empty());

    let deployment = Deployment::with_keys();
    deployment.add(
        "\n[agents]\npartitions = 4\ncorrelate = true\nack_wait_seconds = 3\ncheckpoint_every = 1\n",
    );
    let config = deployment.config.to_str().unwrap();
    let rest = deployment.agent(
        &["triage", "investigate", "verify", "supervisor", "report"],
        &[],
    );
    rest.wait_running();
    let a = deployment.agent(&["correlate"], &["--name", "correlate-a"]);
    a.wait_for(
        |log| log.matches("agent: owns correlate.").count() >= 4,
        "4 partitions",
    );
    let b = deployment.agent(&["correlate"], &["--name", "correlate-b"]);
    for _ in 0..200 {
        if a.partitions().len() == 2 && b.partitions().len() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        (a.partitions().len(), b.partitions().len()),
        (2, 2),
        "{}\n{}",
        a.log(),
        b.log()
    );

    let external = |folder: &Path| {
        let output = garrison(&[
            "investigate",
            "--quiet",
            "--distributed",
            config,
            "--external-agents",
            folder.to_str().unwrap(),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let found = external(&first);
    assert_eq!(without_versions(found), without_versions(first_alone));

    // Both correlating processes die; a third takes every partition over, restoring the
    // sightings they held. The second part then completes the brute force begun in the first.
    drop(a);
    drop(b);
    let c = deployment.agent(&["correlate"], &["--name", "correlate-c"]);
    c.wait_for(
        |log| log.matches("agent: owns correlate.").count() == 4,
        "4 partitions",
    );
    let found = external(&second);
    assert_eq!(correlations(&found), together, "{found:#}\n{}", c.log());

    // The sightings went through every partition's consumer, and none waits.
    let consumers =
        deployment.with_bus(async |bus| bus.consumers(&["sighting.raised"]).await.unwrap());
    let used: Vec<_> = consumers
        .iter()
        .filter(|state| state.name.starts_with("correlate_") && state.delivered > 0)
        .collect();
    assert!(!used.is_empty(), "{consumers:?}");
    for state in &consumers {
        assert_eq!((state.pending, state.unacked), (0, 0), "{state:?}");
    }
    let said = c.stop();
    assert!(said.contains("restored correlate."), "{said}");
    rest.stop();
    assert_audit_verifies(config);
}

#[test]
fn the_correlate_role_needs_a_deployment_that_sends_it_sightings() {
    let deployment = Deployment::with_keys();
    let output = garrison(&[
        "agent",
        "--config",
        deployment.config.to_str().unwrap(),
        "--role",
        "correlate",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("[agents] correlate = true"), "{said}");
}
