//! Tuning a running `garrison serve` from its API: a rule switched off raises no alerts from
//! then on (its hits are counted, not lost), the rest still do, and the switch outlives a
//! restart.

mod common;

use common::served::{Served, TOKEN, api, http};
use common::serving::add_user;
use common::*;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

/// "Event Log Cleared or Disabled from the Command Line": two hits in the Windows sample.
const SWITCHED: &str = "3a576257-e1dc-47d2-8ac4-92bb1702dc29";
/// "Security Event Log Cleared": the same story from the Security log, left on.
const LEFT_ON: &str = "19168436-654e-42a5-9cd5-db641521e62e";

const CONFIG: &str = r#"version = 1
[[input]]
kind = "hec"
address = "127.0.0.1:0"
token_file = "hec.tokens"
"#;

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

fn metrics(console: &str, token: &str) -> String {
    let (status, text) = http(
        console,
        "GET",
        "/metrics",
        Some(&format!("Bearer {token}")),
        b"",
    );
    assert_eq!(status, 200, "{text}");
    text
}

#[test]
fn a_switched_off_rule_raises_no_alerts_and_stays_off_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), CONFIG);
    add_user(
        &served.state,
        "ada",
        "admin",
        "a long passphrase for tuning",
    );
    let token = Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args(["token", "create", "--user", "ada", "--state"])
        .arg(&served.state)
        .output()
        .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let console = served.console();

    let (status, rule) = api(
        &console,
        "PATCH",
        &format!("/api/v1/rules/{SWITCHED}"),
        &token,
        Some(&json!({"enabled": false, "reason": "admins clear logs after patching"})),
    );
    assert_eq!(status, 200, "{rule}");
    assert_eq!(rule["enabled"], false);

    let windows = sample_lines("samples/windows-intrusion.jsonl");
    let body: String = windows
        .iter()
        .map(|line| format!("{{\"sourcetype\":\"_json\",\"event\":{line}}}"))
        .collect();
    let (status, _) = http(
        &served.address("hec"),
        "POST",
        "/services/collector/event",
        Some(&format!("Splunk {TOKEN}")),
        body.as_bytes(),
    );
    assert_eq!(status, 200);
    // Every record read, and the team quiet for a moment.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = metrics(&console, &token);
        let read = metric(&text, "garrison_pipeline_records_total");
        if read == windows.len() as u64 && served.log().contains("incident ") {
            break;
        }
        assert!(Instant::now() < deadline, "not processed:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let text = metrics(&console, &token);
    assert_eq!(
        metric(&text, "garrison_pipeline_alerts_switched_off_total"),
        2,
        "{text}"
    );
    assert!(
        metric(&text, "garrison_pipeline_alerts_total") >= 10,
        "{text}"
    );

    // No incident holds an alert of the switched rule; the other rule's is there.
    let (status, page) = api(
        &console,
        "GET",
        "/api/v1/incidents?superseded=true&limit=500",
        &token,
        None,
    );
    assert_eq!(status, 200, "{page}");
    let mut rules = Vec::new();
    for summary in page["incidents"].as_array().unwrap() {
        let id = summary["id"].as_str().unwrap();
        let (_, detail) = api(
            &console,
            "GET",
            &format!("/api/v1/incidents/{id}"),
            &token,
            None,
        );
        for alert in detail["incident"]["alerts"].as_array().unwrap() {
            rules.push(alert["rule_id"].as_str().unwrap().to_string());
        }
    }
    assert!(rules.iter().any(|rule| rule == LEFT_ON), "{rules:?}");
    assert!(!rules.iter().any(|rule| rule == SWITCHED), "{rules:?}");
    let (_, audit) = api(
        &console,
        "GET",
        "/api/v1/audit?action=rule_switched",
        &token,
        None,
    );
    assert_eq!(audit["entries"][0]["actor"], "user:ada");
    assert_eq!(
        audit["entries"][0]["detail"],
        "off: admins clear logs after patching"
    );
    served.stop();

    // Started again on the same state: still off.
    let served = Served::start(dir.path(), CONFIG);
    let (status, rule) = api(
        &served.console(),
        "GET",
        &format!("/api/v1/rules/{SWITCHED}"),
        &token,
        None,
    );
    assert_eq!(status, 200, "{rule}");
    assert_eq!(rule["enabled"], false);
    assert_eq!(rule["switch"]["by"], "user:ada");
    served.stop();
}
