//! Zeek logs end to end: TSV logs are read with their headers, bundled rules select logs by
//! Sigma `service`, a record that does not fit its header is quarantined with its line number,
//! and an investigation ties a sensor's alert to the host that held the address.

mod common;

use common::{garrison, stdout_lines};
use std::path::Path;

const HEADER: &str =
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n";

/// A Zeek TSV log named `path` with these columns (typed as Zeek types them).
fn zeek_log(path: &str, fields: &[&str], rows: &[&[&str]]) -> String {
    let types: Vec<&str> = fields
        .iter()
        .map(|f| match *f {
            "ts" => "time",
            "is_orig" => "bool",
            "id.orig_h" | "id.resp_h" => "addr",
            _ => "string",
        })
        .collect();
    let mut text = format!(
        "{HEADER}#path\t{path}\n#open\t2026-11-26-10-00-00\n#fields\t{}\n#types\t{}\n",
        fields.join("\t"),
        types.join("\t")
    );
    for row in rows {
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    text.push_str("#close\t2026-11-26-11-00-00\n");
    text
}

const FILES_FIELDS: [&str; 7] = [
    "ts",
    "fuid",
    "id.orig_h",
    "id.resp_h",
    "source",
    "mime_type",
    "is_orig",
];

fn write_logs(dir: &Path) {
    let files = zeek_log(
        "files",
        &FILES_FIELDS,
        &[
            &[
                "1795687200.5",
                "F1",
                "10.1.1.5",
                "203.0.113.9",
                "HTTP",
                "text/html",
                "F",
            ],
            &[
                "1795687201.5",
                "F2",
                "10.1.1.5",
                "203.0.113.9",
                "HTTP",
                "application/x-dosexec",
                "F",
            ],
            // An upload by the client: not a download.
            &[
                "1795687202.5",
                "F3",
                "10.1.1.5",
                "203.0.113.9",
                "HTTP",
                "application/x-dosexec",
                "T",
            ],
            // Two columns short of the header.
            &["1795687203.5", "F4", "10.1.1.5", "203.0.113.9", "HTTP"],
        ],
    );
    std::fs::write(dir.join("files.log"), files).unwrap();
    // The same columns in another log: the rule asks for the files log only.
    let other = zeek_log(
        "notice",
        &FILES_FIELDS,
        &[&[
            "1795687204.5",
            "F5",
            "10.1.1.5",
            "203.0.113.9",
            "HTTP",
            "application/x-dosexec",
            "F",
        ]],
    );
    std::fs::write(dir.join("notice.log"), other).unwrap();
}

#[test]
fn zeek_logs_are_hunted_by_service_and_bad_records_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    write_logs(dir.path());
    let quarantine = dir.path().join("quarantine.jsonl");
    let output = garrison(&[
        "hunt",
        "--quarantine",
        quarantine.to_str().unwrap(),
        dir.path().join("files.log").to_str().unwrap(),
        dir.path().join("notice.log").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let detections = stdout_lines(&output);
    assert_eq!(detections.len(), 1, "{detections:#?}\n{stderr}");
    let detection = &detections[0];
    assert_eq!(
        detection["rule"]["title"],
        "Windows Executable Downloaded over Plain HTTP (Zeek)"
    );
    assert!(
        detection["source"]["path"]
            .as_str()
            .unwrap()
            .ends_with("files.log")
    );
    // Line 10: eight header lines (with #open), then the second record.
    assert_eq!(detection["source"]["record_id"], 10);
    assert_eq!(detection["fields"]["mime_type"], "application/x-dosexec");
    assert_eq!(detection["timestamp"], "2026-11-26T10:00:01.5Z");
    assert!(stderr.contains("events: 4"), "{stderr}");
    let quarantined = std::fs::read_to_string(&quarantine).unwrap();
    let lines: Vec<serde_json::Value> = quarantined
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{quarantined}");
    let text = lines[0].to_string();
    assert!(
        text.contains("5 columns where the #fields header names 7"),
        "{text}"
    );
    assert!(text.contains("files.log"), "{text}");
}

#[test]
fn a_sensor_alert_is_tied_to_the_host_that_held_the_address() {
    let dir = tempfile::tempdir().unwrap();
    write_logs(dir.path());
    std::fs::remove_file(dir.path().join("notice.log")).unwrap();
    // WS07's own outbound connection shows it held 10.1.1.5 five minutes earlier.
    let sysmon = serde_json::json!({
        "EventID": 3,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "WS07.corp.example",
        "TimeCreated": "2026-11-26T09:55:00Z",
        "Image": "C:\\Windows\\System32\\svchost.exe",
        "Initiated": "true",
        "SourceIp": "10.1.1.5",
        "DestinationIp": "10.1.1.1",
        "DestinationPort": 53
    });
    std::fs::write(dir.path().join("sysmon.jsonl"), format!("{sysmon}\n")).unwrap();
    let state = dir.path().join("state");
    let output = garrison(&[
        "investigate",
        "--quiet",
        "--state",
        state.to_str().unwrap(),
        dir.path().join("files.log").to_str().unwrap(),
        dir.path().join("sysmon.jsonl").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let document: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {stderr}"));
    let incidents = document["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{document:#}");
    let incident = &incidents[0];
    assert!(
        incident["title"]
            .as_str()
            .unwrap()
            .contains("WS07.corp.example"),
        "{incident:#}"
    );
    assert!(
        incident["entities"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"kind": "host", "value": "WS07.corp.example"})),
        "{incident:#}"
    );
    assert_eq!(
        incident["tactics"],
        serde_json::json!(["command-and-control"])
    );
}
