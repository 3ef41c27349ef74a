//! Response from the command line: the demo's incident answered under the example rules of
//! engagement (connectors in dry-run mode), the approvals queue, the kill switch, and
//! `garrison policy`.

mod common;

use common::garrison;
use std::path::PathBuf;

fn example() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/response.example.toml")
        .display()
        .to_string()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = garrison(args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn actions(state: &str, which: &str) -> Vec<serde_json::Value> {
    let (code, stdout, stderr) = run(&[
        "actions",
        "list",
        "--state",
        state,
        "--state-is",
        which,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<Vec<serde_json::Value>>(&stdout).unwrap()
}

#[test]
fn the_demo_incident_is_answered_under_policy_and_approvals_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let config = example();
    let (code, stdout, stderr) = run(&[
        "demo",
        "--state",
        state,
        "--format",
        "json",
        "--response",
        &config,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let stats = &document["stats"]["actions"];
    // Containment of both hosts, the ticket and the notification ran alone (dry run); the
    // identity actions wait for a person, as their autonomy says.
    assert_eq!(stats["succeeded"], 4, "{stats}");
    assert_eq!(stats["awaiting_approval"], 6, "{stats}");
    // Both escalation tiers wait for someone to take the critical incident on.
    assert_eq!(stats["scheduled"], 2, "{stats}");
    let listed = document["actions"].as_array().unwrap();
    let isolate = listed
        .iter()
        .find(|action| {
            action["kind"] == "isolate_host" && action["target"]["value"] == "WS01.corp.example"
        })
        .expect("WS01 contained");
    let outcome = isolate["outcome"].as_str().unwrap();
    assert!(
        outcome.starts_with("dry run: would send GET https://api.crowdstrike.example/devices/queries/devices/v1?filter=hostname%3A%27WS01.corp.example%27")
            && outcome.ends_with("action_name=contain"),
        "{outcome}"
    );
    assert!(
        stderr.contains("response actions: 6 awaiting_approval, 2 scheduled, 4 succeeded"),
        "{stderr}"
    );

    // The queue, highest priority first; one approval approved twice runs once.
    let queue = actions(state, "awaiting_approval");
    assert_eq!(queue.len(), 6);
    let key = queue
        .iter()
        .find(|action| {
            action["kind"] == "suspend_user" && action["target"]["value"] == "dana@corp.example"
        })
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let approve = |who: &str| {
        run(&[
            "actions",
            "approve",
            &key,
            "--state",
            state,
            "--response",
            &config,
            "--as",
            who,
        ])
    };
    let (code, _, stderr) = approve("ana");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("is approved now") && stderr.contains("1 carried out"),
        "{stderr}"
    );
    let (code, _, stderr) = approve("bob");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("is succeeded: nothing to do") && stderr.contains("0 carried out"),
        "{stderr}"
    );
    let done: Vec<_> = actions(state, "succeeded")
        .into_iter()
        .filter(|action| action["key"] == key.as_str())
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["attempts"], 1);
    assert_eq!(done[0]["decided_by"], "user:ana");

    // With the kill switch on, an approval is recorded but nothing runs until it is off.
    let (code, _, stderr) = run(&[
        "actions",
        "kill-switch",
        "on",
        "--state",
        state,
        "--as",
        "ana",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let other = actions(state, "awaiting_approval")[0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, stderr) = run(&[
        "actions",
        "approve",
        &other,
        "--state",
        state,
        "--response",
        &config,
        "--as",
        "ana",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("0 carried out"), "{stderr}");
    assert_eq!(actions(state, "approved").len(), 1);
    run(&["actions", "kill-switch", "off", "--state", state]);
    let (code, _, stderr) = run(&["actions", "run", "--state", state, "--response", &config]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("1 carried out"), "{stderr}");

    // Rejected stays rejected; an unknown key is an input error.
    let third = actions(state, "awaiting_approval")[0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, stderr) = run(&[
        "actions",
        "reject",
        &third,
        "--reason",
        "traveling",
        "--state",
        state,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&["actions", "approve", &third, "--state", state]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("is rejected: nothing to do"), "{stderr}");
    let (code, _, stderr) = run(&[
        "actions",
        "approve",
        "act-0000000000000000",
        "--state",
        state,
    ]);
    assert_eq!(code, 3, "{stderr}");

    // A person corrects the target: the original is rejected, the replacement decided by the
    // policy, approved by that person and carried out; a target of the wrong kind is refused.
    let fourth = actions(state, "awaiting_approval")[0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let modify = |key: &str, target: &str| {
        run(&[
            "actions",
            "modify",
            key,
            "--target",
            target,
            "--state",
            state,
            "--response",
            &config,
            "--as",
            "ana",
        ])
    };
    let (code, _, stderr) = modify(&fourth, "host:WS09");
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = modify(&fourth, "user:eve@corp.example");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("is rejected now"), "{stderr}");
    assert!(
        stderr.contains("user eve@corp.example: approved"),
        "{stderr}"
    );
    assert!(
        stderr.contains("modified by user:ana from user"),
        "{stderr}"
    );
    assert!(stderr.contains("1 carried out"), "{stderr}");
    let (code, _, stderr) = modify(&fourth, "user:eve@corp.example");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("is rejected: nothing to do"), "{stderr}");

    // Taking the incident on cancels its escalations; only once.
    let incident = isolate["incident"].as_str().unwrap();
    let (code, _, stderr) = run(&["actions", "ack", incident, "--state", state, "--as", "ana"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("taken on by user:ana"), "{stderr}");
    assert_eq!(actions(state, "cancelled").len(), 2);
    let (code, _, stderr) = run(&["actions", "ack", incident, "--state", state, "--as", "bob"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("acknowledged by user:ana"), "{stderr}");
    let (code, _, stderr) = run(&["actions", "ack", "inc-nonesuch", "--state", state]);
    assert_eq!(code, 3, "{stderr}");

    // Containment undone; every step of it in the audit log, which still verifies.
    let isolate_key = isolate["key"].as_str().unwrap();
    let (code, _, stderr) = run(&[
        "actions",
        "rollback",
        isolate_key,
        "--state",
        state,
        "--response",
        &config,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("rolled_back"), "{stderr}");
    let (code, stdout, stderr) = run(&["audit", "verify", "--state", state]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn policy_check_validates_and_explains() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.cedar");
    std::fs::write(
        &bad,
        "permit (principal, action, resource) when { context.nope };",
    )
    .unwrap();
    let (code, _, stderr) = run(&["policy", "check", "--policy", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("attribute `nope` in context not found"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("nope").count(),
        1,
        "one line per mistake: {stderr}"
    );
    let (code, _, stderr) = run(&["policy", "check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("the shipped policy is valid (5 policies)"),
        "{stderr}"
    );
    let (code, stdout, _) = run(&["policy", "schema"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("namespace Garrison"), "{stdout}");

    // An incident from a file: each proposed action with its decision and reasons.
    let incident = serde_json::json!({
        "id": "inc-1", "version": 1, "title": "LSASS dump on WS9", "severity": "high",
        "confidence": 0.9, "disposition": "malicious", "escalated": true, "hypothesis": "",
        "tactics": ["credential-access"], "techniques": ["T1003"],
        "entities": [{"kind": "host", "value": "WS9"}, {"kind": "user", "value": "CORP\\breakglass"}],
        "alerts": [], "evidence": [], "timeline": [], "process_tree": [], "reasoning": [],
        "verification": {"status": "verified", "removed_claims": []},
        "first_seen": null, "last_seen": null
    });
    let file = dir.path().join("incident.json");
    std::fs::write(&file, incident.to_string()).unwrap();
    let inventory = dir.path().join("inventory.json");
    std::fs::write(
        &inventory,
        r#"{"version": 1, "users": [{"name": "CORP\\breakglass", "criticality": "high", "tags": ["break-glass"]}]}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = run(&[
        "policy",
        "check",
        "--incident-file",
        file.to_str().unwrap(),
        "--inventory",
        inventory.to_str().unwrap(),
        "--response",
        &example(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("isolate_host host WS9: approved (policy allow, autonomy act_then_notify)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("suspend_user user CORP\\breakglass: denied (policy deny"),
        "{stdout}"
    );
    assert!(stdout.contains("forbidden by keep-break-glass"), "{stdout}");
    let (code, stdout, stderr) = run(&[
        "policy",
        "check",
        "--incident-file",
        file.to_str().unwrap(),
        "--stalled",
        "--action",
        "isolate_host",
        "--target",
        "host:WS9",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("isolate_host host WS9: denied"), "{stdout}");
    assert!(
        stdout.contains("forbidden by unverified-only-tells"),
        "{stdout}"
    );
    // Asked about directly, an action no playbook would propose (a private address) still
    // gets the policy's answer.
    let (code, stdout, stderr) = run(&[
        "policy",
        "check",
        "--incident-file",
        file.to_str().unwrap(),
        "--action",
        "block_ip",
        "--target",
        "ip:10.0.0.5",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("block_ip ip 10.0.0.5: proposed (policy allow"),
        "{stdout}"
    );
    assert!(stdout.contains("playbook asked for"), "{stdout}");
}
