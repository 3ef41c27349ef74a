//! `garrison chaos` in the test suite: agents as processes on its own NATS server and
//! PostgreSQL cluster, the bundled samples replayed while agent processes are killed with
//! SIGKILL and both servers are restarted; nothing accepted may be lost, the incidents must be
//! the fault-free run's (the samples' SSH brute force completed by the correlate role's
//! processes, which are killed too), no response action may run twice, and the audit chain
//! must verify.

mod common;

use common::{garrison, workspace};

#[test]
fn killing_agents_and_restarting_nats_and_postgresql_loses_nothing_and_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let samples = workspace().join("samples");
    let output = garrison(&[
        "chaos",
        "--duration",
        "10",
        "--kill-every",
        "2",
        "--seed",
        "11",
        "--input",
        samples.to_str().unwrap(),
        "--keep",
        work.path().to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let number = |name: &str| {
        report[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} in {report}"))
    };
    assert!(number("events_accepted") >= 500, "{report}");
    assert!(number("alerts_raised") >= 50, "{report}");
    assert_eq!(number("events_lost"), 0, "{report}");
    assert_eq!(number("alerts_lost"), 0, "{report}");
    // Response actions ran through the faults: the agents acted, none twice, none left
    // half-done.
    assert!(number("response_actions_fault_free") >= 5, "{report}");
    assert!(number("response_actions") >= 5, "{report}");
    assert_eq!(number("duplicate_actions"), 0, "{report}");
    assert_eq!(number("repeated_effects"), 0, "{report}");
    assert_eq!(number("actions_unsettled"), 0, "{report}");
    assert!(number("kills") >= 3, "{report}\n{said}");
    assert_eq!(number("nats_restarts"), 1, "{report}");
    assert_eq!(number("postgres_restarts"), 1, "{report}");
    assert!(number("incidents_fault_free") >= 4, "{report}");
    assert_eq!(report["incidents_equal_to_fault_free"], true, "{report}");
    assert_eq!(report["audit_verified"], true, "{report}");
    // Among the incidents, the SSH logon after a brute force: a correlation of correlations,
    // completed by the correlate role's processes.
    let faulty = std::fs::read_to_string(work.path().join("faulty.json")).unwrap();
    assert!(
        faulty.contains("\"al-95e8d17d-eada-4494-b42d-c26ea984e0a1-"),
        "{faulty}"
    );
    // Triage and correlation ran cut into 4 partitions (the default), each shared by two
    // processes: every partition was owned, and partitions changed hands as processes died.
    let mut claims = std::collections::BTreeMap::<String, usize>::new();
    for log in std::fs::read_dir(work.path().join("logs")).unwrap() {
        let text = std::fs::read_to_string(log.unwrap().path()).unwrap_or_default();
        for partition in text.lines().filter_map(|l| l.strip_prefix("agent: owns ")) {
            *claims.entry(partition.to_string()).or_default() += 1;
        }
    }
    assert_eq!(
        claims.keys().collect::<Vec<_>>(),
        [
            "correlate.0",
            "correlate.1",
            "correlate.2",
            "correlate.3",
            "triage.0",
            "triage.1",
            "triage.2",
            "triage.3"
        ],
        "{said}"
    );
    assert!(claims.values().sum::<usize>() > 8, "{claims:?}");
}
