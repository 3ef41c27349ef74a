//! Alerts of other tools as detections: Wazuh (`alerts.json`), Microsoft Sentinel / Defender
//! `SecurityAlert` exports (`❖`-separated, from the shared EXCYTIN data) and the AIT Alert
//! Data Set through the shipped `ait-ads` mapping; each keeps its tool's rule, level and
//! ATT&CK mapping, and joins the investigation of the host it names.

mod common;

use common::*;
use std::collections::BTreeMap;

fn wazuh() -> String {
    workspace()
        .join("samples/alerts/wazuh-alerts.json")
        .to_string_lossy()
        .into_owned()
}

fn levels(lines: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut levels = BTreeMap::new();
    for line in lines {
        *levels
            .entry(line["rule"]["level"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    levels
}

#[test]
fn wazuh_alerts_keep_their_rule_level_and_attack_mapping() {
    let output = garrison(&["hunt", &wazuh()]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 12);
    // Wazuh levels 0-15 on Sigma's scale: 10 and 7-8 medium, 5 low, 3 informational.
    let expected: BTreeMap<String, usize> = [("medium", 3), ("low", 5), ("informational", 4)]
        .into_iter()
        .map(|(level, count)| (level.to_string(), count))
        .collect();
    assert_eq!(levels(&lines), expected);
    let brute_force = lines
        .iter()
        .find(|l| l["rule"]["id"] == "wazuh:5763")
        .unwrap();
    assert_eq!(
        brute_force["rule"]["tags"],
        serde_json::json!(["attack.credential-access", "attack.t1110"])
    );
    assert_eq!(brute_force["computer"], "web01");
    assert_eq!(brute_force["fields"]["data.srcip"], "203.0.113.50");
    assert_eq!(
        lines.iter().filter(|l| l["computer"] == "web01").count(),
        11
    );
}

#[test]
fn wazuh_alerts_join_the_linux_host_incident() {
    let linux = workspace().join("samples/linux");
    let report = investigate_report(&[linux.to_str().unwrap(), &wazuh()]);
    let incidents = report["incidents"].as_array().unwrap();
    let web01: Vec<_> = incidents
        .iter()
        .filter(|i| i["title"].as_str().unwrap().contains("web01"))
        .collect();
    assert_eq!(web01.len(), 1, "{report:#}");
    let rules: Vec<&str> = web01[0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule_id"].as_str().unwrap())
        .collect();
    for rule in ["wazuh:5763", "wazuh:5902"] {
        assert!(rules.contains(&rule), "{rule}: {rules:?}");
    }
    // Sigma rules of ours on the raw logs are there too.
    assert!(rules.iter().any(|r| !r.starts_with("wazuh:")), "{rules:?}");
}

#[test]
fn sentinel_security_alerts_from_a_delimited_export() {
    let Some(data) = shared_data() else { return };
    let file = data.join("excytin/extracted_alerts.csv");
    let output = garrison(&["hunt", file.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    // 189 alerts: several span lines (quoted remediation steps).
    assert_eq!(lines.len(), 189);
    let expected: BTreeMap<String, usize> = [
        ("high", 85),
        ("medium", 78),
        ("low", 18),
        ("informational", 8),
    ]
    .into_iter()
    .map(|(level, count)| (level.to_string(), count))
    .collect();
    assert_eq!(levels(&lines), expected);
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("quarantined records: 0"), "{summary}");
    // Tactics and techniques become ATT&CK tags; the compromised entity is the host.
    let tagged = lines
        .iter()
        .filter(|l| {
            l["rule"]["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "attack.credential-access")
        })
        .count();
    assert!(tagged >= 14, "{tagged}");
    assert!(
        lines
            .iter()
            .any(|l| l["computer"] == "vnevado-win10e.vnevado.alpineskihouse.co")
    );
    // Record ids are the line each alert starts on, header included.
    let first = lines
        .iter()
        .map(|l| l["source"]["record_id"].as_u64().unwrap())
        .min()
        .unwrap();
    assert_eq!(first, 2);
}

#[test]
fn ait_ads_alerts_through_the_shipped_mapping() {
    let Some(data) = shared_data() else { return };
    let file = data.join("ait-ads/russellmitchell_alerts.csv.gz");
    let output = garrison(&["hunt", "--from", "ait-ads", file.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    // One detection per alert row (45,544 rows after the header).
    assert_eq!(lines.len(), 45_544);
    let first = &lines[0];
    assert!(
        first["rule"]["id"]
            .as_str()
            .unwrap()
            .starts_with("ait-ads:"),
        "{first}"
    );
    assert!(first["computer"].is_string(), "{first}");
    assert!(first["timestamp"].as_str().unwrap().starts_with("2022-01"));
    // Without the mapping the same file is plain CSV: records, no detections.
    let plain = garrison(&["normalize", file.to_str().unwrap()]);
    assert!(plain.status.success());
    let records = stdout_lines(&plain);
    assert_eq!(records.len(), 45_544);
    assert_eq!(records[0]["class_uid"], 0);
    assert_eq!(records[0]["metadata"]["log_format"], "csv");
    assert!(records[0]["unmapped"]["time_label"].is_string());
}

#[test]
fn mapping_files_are_formats_and_their_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("tool.json");
    std::fs::write(
        &mapping,
        r#"{"name":"tool","source":"tool","time":"when","fields":{"title":"what","severity":"sev","host":"where","tactic":"tactic"},"severity_values":{"9":"critical"}}"#,
    )
    .unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    std::fs::write(
        &alerts,
        "{\"when\":\"2026-11-20T10:00:00Z\",\"what\":\"Ransom note written\",\"sev\":\"9\",\"where\":\"FS01\",\"tactic\":\"Impact\"}\n",
    )
    .unwrap();
    let output = garrison(&[
        "hunt",
        "--from",
        mapping.to_str().unwrap(),
        alerts.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["rule"]["title"], "Ransom note written");
    assert_eq!(lines[0]["rule"]["level"], "critical");
    assert_eq!(
        lines[0]["rule"]["tags"],
        serde_json::json!(["attack.impact"])
    );
    assert_eq!(lines[0]["computer"], "FS01");
    std::fs::write(
        &mapping,
        r#"{"name":"tool","source":"tool","time":"when","fields":{"what":"x"}}"#,
    )
    .unwrap();
    let output = garrison(&[
        "hunt",
        "--from",
        mapping.to_str().unwrap(),
        alerts.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unknown field \"what\""),
        "{output:?}"
    );
}

#[test]
fn cef_and_leef_alerts_over_syslog_join_the_workstation_incident() {
    let devices = workspace().join("samples/alerts/security-devices-cef-leef.log");
    let output = garrison(&["hunt", devices.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    let by_rule: BTreeMap<String, String> = lines
        .iter()
        .map(|l| {
            (
                l["rule"]["id"].as_str().unwrap().to_string(),
                l["rule"]["level"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // CEF severity 8 is high, 10 and Very-High critical; LEEF sev 6 medium.
    let expected: BTreeMap<String, String> = [
        ("NGFW:41002", "high"),
        ("NGFW:30011", "critical"),
        ("EDR:77", "critical"),
        ("Proxy:ProxyBlock", "medium"),
    ]
    .into_iter()
    .map(|(id, level)| (id.to_string(), level.to_string()))
    .collect();
    assert_eq!(by_rule, expected);
    let windows = workspace().join("samples/windows-intrusion.jsonl");
    let report = investigate_report(&[windows.to_str().unwrap(), devices.to_str().unwrap()]);
    let ws01 = report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"].as_str().unwrap().contains("WS01"))
        .unwrap();
    let rules = ws01["alerts"].to_string();
    for rule in ["NGFW:41002", "NGFW:30011", "EDR:77", "Proxy:ProxyBlock"] {
        assert!(rules.contains(rule), "{rule}: {rules}");
    }
}
