//! `garrison demo`: generated telemetry, then the whole team, finds the planted intrusion as
//! one incident spanning the identity provider and both Windows hosts.

mod common;

use common::garrison;

#[test]
fn the_demo_finds_the_intrusion_as_one_verified_incident() {
    let state = tempfile::tempdir().unwrap();
    let output = garrison(&[
        "demo",
        "--state",
        state.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the intrusion (what the team should find)"),
        "{stderr}"
    );
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(document["stats"]["events"].as_u64().unwrap() > 3000);
    let incidents = document["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{:#}", document["stats"]);
    let incident = &incidents[0];
    let tactics: Vec<&str> = incident["tactics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for tactic in [
        "initial-access",
        "execution",
        "persistence",
        "credential-access",
        "discovery",
        "lateral-movement",
    ] {
        assert!(tactics.contains(&tactic), "{tactics:?}");
    }
    let sources: std::collections::BTreeSet<&str> = incident["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| {
            let path = alert["source"]["path"].as_str().unwrap();
            if path.ends_with("okta.jsonl") {
                "identity"
            } else {
                "windows"
            }
        })
        .collect();
    assert_eq!(
        sources.len(),
        2,
        "identity and endpoint alerts in one incident"
    );
    let hosts: Vec<&str> = incident["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "host")
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert!(
        hosts.contains(&"WS01.corp.example") && hosts.contains(&"FS01.corp.example"),
        "{hosts:?}"
    );
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["disposition"], "malicious");
    assert_eq!(incident["verification"]["status"], "verified");
    assert!(incident["escalated"].as_bool().unwrap());

    // The same seed again: the same telemetry, the same incident.
    let again = garrison(&[
        "demo",
        "--state",
        state.path().to_str().unwrap(),
        "--format",
        "json",
        "--quiet",
    ]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["incidents"][0]["id"], incident["id"]);
    assert_eq!(again["incidents"][0]["alerts"], incident["alerts"]);
}
