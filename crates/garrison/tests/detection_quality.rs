//! What the bundled pack detects: the sample intrusion step by step with a quiet background, and
//! coverage of real attack recordings together with SigmaHQ's Windows rules.

mod common;

use common::*;
use std::collections::BTreeSet;

#[test]
fn the_sample_intrusion_is_detected_and_the_background_is_quiet() {
    // The Windows story (the Linux samples tell their own, checked in tests/linux.rs).
    let samples = workspace().join("samples");
    let output = garrison(&[
        "hunt",
        "--quiet",
        &samples.join("windows-intrusion.jsonl").to_string_lossy(),
        &samples
            .join("dc01-security.winlogbeat.jsonl")
            .to_string_lossy(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let detections = stdout_lines(&output);
    let serious: Vec<&serde_json::Value> = detections
        .iter()
        .filter(|d| matches!(d["rule"]["level"].as_str(), Some("high" | "critical")))
        .collect();
    // The intrusion starts at 09:12 when the macro document is opened; nothing before it (the
    // benign background) may be high or critical.
    for detection in &serious {
        let time = detection["timestamp"].as_str().unwrap();
        assert!(
            time >= "2026-11-20T09:12:00",
            "background flagged: {detection}"
        );
    }
    let titles: BTreeSet<&str> = serious
        .iter()
        .map(|d| d["rule"]["title"].as_str().unwrap())
        .collect();
    let techniques: BTreeSet<&str> = serious
        .iter()
        .flat_map(|d| {
            d["rule"]["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
        })
        .filter(|tag| tag.starts_with("attack.t"))
        .collect();
    // Every step of the story: execution, discovery, credential access, persistence, lateral
    // movement and log clearing.
    for technique in [
        "attack.t1059.001",
        "attack.t1003.001",
        "attack.t1547.001",
        "attack.t1021.002",
        "attack.t1070.001",
    ] {
        assert!(
            techniques.contains(technique),
            "{technique} not detected; got {titles:?}"
        );
    }
    assert!(
        serious.iter().any(|d| d.get("correlation").is_some()),
        "at least one correlation fires: {titles:?}"
    );
    let hosts: BTreeSet<&str> = serious
        .iter()
        .map(|d| d["computer"].as_str().unwrap())
        .collect();
    assert!(
        hosts.len() >= 3,
        "WS01, WS02 and DC01 all show the intrusion: {hosts:?}"
    );
}

#[test]
fn attack_recordings_are_flagged_high_or_critical() {
    let Some(data) = shared_data() else { return };
    let samples = data.join("evtx-attack-samples");
    let output = garrison(&[
        "hunt",
        "--quiet",
        "--min-level",
        "high",
        "--rules",
        &data.join("sigma/rules/windows").to_string_lossy(),
        &samples.to_string_lossy(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let flagged: BTreeSet<String> = stdout_lines(&output)
        .iter()
        .map(|d| d["source"]["path"].as_str().unwrap().to_string())
        .collect();
    let mut total = 0;
    let mut stack = vec![samples];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "evtx") {
                total += 1;
            }
        }
    }
    assert_eq!(total, 169);
    // Peers on the same files: Hayabusa with its full rule set flags 98, Chainsaw 71-84.
    assert!(
        flagged.len() >= 145,
        "only {} of {total} files flagged high or critical",
        flagged.len()
    );
}
