//! `--log-format json`: what `garrison serve` says is one JSON object per line on standard
//! error (time, level, target, message and the event's own fields), the console's requests
//! included; a failing command's error too. Nothing secret reaches the log.

mod common;

use common::served::{TOKEN, http};
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn serve_logs_json_lines_with_fields_and_an_access_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hec.tokens"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        dir.path().join("serve.toml"),
        "version = 1\n[[input]]\nkind = \"hec\"\naddress = \"127.0.0.1:0\"\ntoken_file = \"hec.tokens\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args([
            "--log-format",
            "json",
            "serve",
            "--http",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(dir.path().join("serve.toml"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut log: Vec<Value> = Vec::new();
    let next = || {
        let line = received
            .recv_timeout(Duration::from_secs(60))
            .expect("serve logs");
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    while !log
        .last()
        .is_some_and(|event| event["message"].as_str().unwrap().contains("ready"))
    {
        log.push(next());
    }
    let field = |message: &str, name: &str| -> Value {
        log.iter()
            .find(|event| event["message"].as_str().unwrap().contains(message))
            .unwrap_or_else(|| panic!("no {message:?} in {log:#?}"))[name]
            .clone()
    };
    let console = field("console on", "address").as_str().unwrap().to_string();
    let hec = field("input hec (hec)", "address")
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(field("ready", "level"), "INFO");
    assert_eq!(field("ready", "target"), "garrison::serve");
    assert!(field("ready", "timestamp").as_str().unwrap().ends_with('Z'));
    assert!(field("ready", "state").as_str().unwrap().ends_with("state"));

    // The Windows sample: incidents logged with their fields.
    let body: String = sample_lines("samples/windows-intrusion.jsonl")
        .iter()
        .map(|line| format!("{{\"event\":{line}}}"))
        .collect();
    let (status, _) = http(
        &hec,
        "POST",
        "/services/collector/event",
        Some(&format!("Splunk {TOKEN}")),
        body.as_bytes(),
    );
    assert_eq!(status, 200);
    let incident = loop {
        let event = next();
        let found = event["incident"].is_string();
        log.push(event);
        if found {
            break log.last().unwrap().clone();
        }
    };
    assert!(incident["incident"].as_str().unwrap().starts_with("inc-"));
    assert!(incident["version"].as_u64().unwrap() >= 1);
    assert!(incident["confidence"].as_f64().unwrap() > 0.0);
    assert!(incident["severity"].is_string());

    // Requests to the console: method, path without the query, status; never the token.
    let (status, _) = http(&console, "GET", "/readyz?probe=1", None, b"");
    assert_eq!(status, 200);
    let (status, _) = http(
        &console,
        "GET",
        "/api/v1/me",
        Some("Bearer gar_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        b"",
    );
    assert_eq!(status, 401);
    let mut requests = Vec::new();
    while requests.len() < 2 {
        let event = next();
        if event["target"] == "garrison_server::access" {
            requests.push(event.clone());
        }
        log.push(event);
    }
    assert_eq!(requests[0]["method"], "GET");
    assert_eq!(requests[0]["path"], "/readyz");
    assert_eq!(requests[0]["status"], 200);
    assert!(requests[0]["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(requests[1]["path"], "/api/v1/me");
    assert_eq!(requests[1]["status"], 401);

    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    while let Ok(line) = received.recv_timeout(Duration::from_secs(5)) {
        log.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    let summary = log
        .iter()
        .find(|event| event["message"].as_str().unwrap().contains(" records -> "))
        .unwrap_or_else(|| panic!("no summary in {log:#?}"));
    assert_eq!(summary["records"], 268, "{summary}");
    assert!(summary["incidents"].as_u64().unwrap() >= 1);
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains("AAAAAAAAAAAAAAAAAAAA"),
        "a token reached the log"
    );
    assert!(!text.contains(TOKEN), "the HEC token reached the log");
}

#[test]
fn a_failing_command_reports_its_error_as_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args([
            "hunt",
            "/nonexistent/garrison/input",
            "--log-format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last: Value = serde_json::from_str(stderr.lines().last().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(last["level"], "ERROR");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .starts_with("garrison: error: "),
        "{last}"
    );
}
