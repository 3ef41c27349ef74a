//! `garrison hunt` as a user runs it: output formats, summary, quarantine and exit codes.

mod common;

use common::*;
use std::path::Path;

const RULE: &str = "title: Whoami run\nid: 0b4f4c3e-1111-4222-8333-944445555666\nlevel: high\ntags: [attack.discovery, attack.t1033]\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    sel:\n        Image|endswith: '\\whoami.exe'\n    condition: sel\n";
const LOW_RULE: &str = "title: Any process\nid: 0b4f4c3e-1111-4222-8333-944445555667\nlevel: low\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    sel:\n        Image|endswith: '.exe'\n    condition: sel\n";

fn setup(dir: &Path) {
    std::fs::create_dir(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/whoami.yml"), RULE).unwrap();
    std::fs::write(dir.join("rules/any.yml"), LOW_RULE).unwrap();
    std::fs::create_dir(dir.join("logs")).unwrap();
    let events = [
        r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"WS01","@timestamp":"2026-11-20T09:00:02Z","Image":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /all","User":"CORP\\bob"}"#,
        r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"WS01","@timestamp":"2026-11-20T09:00:01Z","Image":"C:\\Windows\\notepad.exe"}"#,
        "this line is not JSON",
    ];
    std::fs::write(dir.join("logs/sysmon.jsonl"), events.join("\n")).unwrap();
    std::fs::write(dir.join("logs/readme.txt"), "not event data").unwrap();
}

/// A folder with the rules and logs of [`setup`], and the two paths as arguments.
fn fixture() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let rules = arg(&dir.path().join("rules"));
    let logs = arg(&dir.path().join("logs"));
    (dir, rules, logs)
}

fn arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn jsonl_output_has_the_documented_shape_and_order() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        &arg(&dir.path().join("rules")),
        &arg(&dir.path().join("logs")),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let detections = stdout_lines(&output);
    assert_eq!(detections.len(), 3);
    // Sorted by time: notepad (09:00:01) first.
    assert_eq!(detections[0]["timestamp"], "2026-11-20T09:00:01Z");
    let whoami = detections
        .iter()
        .find(|d| d["rule"]["title"] == "Whoami run")
        .unwrap();
    assert_eq!(whoami["rule"]["id"], "0b4f4c3e-1111-4222-8333-944445555666");
    assert_eq!(whoami["rule"]["level"], "high");
    assert_eq!(
        whoami["rule"]["tags"],
        serde_json::json!(["attack.discovery", "attack.t1033"])
    );
    assert!(
        whoami["source"]["path"]
            .as_str()
            .unwrap()
            .ends_with("sysmon.jsonl")
    );
    assert_eq!(whoami["source"]["record_id"], 1);
    assert_eq!(whoami["computer"], "WS01");
    assert_eq!(whoami["channel"], "Microsoft-Windows-Sysmon/Operational");
    assert_eq!(whoami["event_id"], 1);
    assert_eq!(
        whoami["fields"]["Image"],
        "C:\\Windows\\System32\\whoami.exe"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("detections: 3 (critical 0, high 1, medium 0, low 2, informational 0)"),
        "{stderr}"
    );
    assert!(stderr.contains("1 skipped as not event data"), "{stderr}");
    assert!(stderr.contains("quarantined records: 1"), "{stderr}");
    assert!(stderr.contains("rules: 2 loaded"), "{stderr}");
}

#[test]
fn min_level_csv_table_and_quarantine_file() {
    let (dir, rules, logs) = fixture();
    let csv = dir.path().join("out.csv");
    let quarantine = dir.path().join("bad.jsonl");
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        &rules,
        "--min-level",
        "high",
        "--format",
        "csv",
        "--output",
        &arg(&csv),
        "--quarantine",
        &arg(&quarantine),
        &logs,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("timestamp,level,rule_id,rule_title"));
    assert!(
        lines[1].contains(",high,0b4f4c3e-1111-4222-8333-944445555666,Whoami run,WS01,"),
        "{}",
        lines[1]
    );
    let quarantined: Vec<serde_json::Value> = std::fs::read_to_string(&quarantine)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0]["raw"], "this line is not JSON");
    assert_eq!(quarantined[0]["record"], 3);
    assert!(
        quarantined[0]["reason"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
    let table = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        &rules,
        "--format",
        "table",
        "--quiet",
        &logs,
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.lines().next().unwrap().starts_with("TIME"), "{text}");
    assert_eq!(text.lines().count(), 4);
    assert!(text.contains("Whoami run"));
    assert!(
        table.stderr.is_empty(),
        "--quiet prints nothing: {}",
        String::from_utf8_lossy(&table.stderr)
    );
}

#[test]
fn placeholders_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    std::fs::write(
        dir.path().join("rules/expand.yml"),
        "title: Known host\nid: 0b4f4c3e-1111-4222-8333-944445555668\nlevel: medium\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    sel:\n        Computer|expand: '%watched_hosts%'\n    condition: sel\n",
    )
    .unwrap();
    let rules = arg(&dir.path().join("rules"));
    let logs = arg(&dir.path().join("logs"));
    // Without values the rule is listed as not loaded, with the reason.
    let output = garrison(&["hunt", "--no-bundled", "--rules", &rules, &logs]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("expand.yml") && stderr.contains("watched_hosts"),
        "{stderr}"
    );
    assert!(
        !stdout_lines(&output)
            .iter()
            .any(|d| d["rule"]["title"] == "Known host")
    );
    std::fs::write(
        dir.path().join("placeholders.yml"),
        "watched_hosts: [WS0?, DC01]\n",
    )
    .unwrap();
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        &rules,
        "--placeholders",
        &arg(&dir.path().join("placeholders.yml")),
        &logs,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let known: Vec<_> = stdout_lines(&output)
        .into_iter()
        .filter(|d| d["rule"]["title"] == "Known host")
        .collect();
    assert_eq!(known.len(), 2, "both WS01 processes match WS0?");
}

#[test]
fn exit_codes() {
    let (dir, rules, logs) = fixture();
    // 10: detections with --fail-on-detection.
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        &rules,
        "--fail-on-detection",
        "--quiet",
        &logs,
    ]);
    assert_eq!(output.status.code(), Some(10));
    // 3: an input that does not exist.
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        &rules,
        &arg(&dir.path().join("missing")),
    ]);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing"));
    // 4: no rule loads.
    std::fs::create_dir(dir.path().join("bad")).unwrap();
    std::fs::write(dir.path().join("bad/broken.yml"), "title: x\nlogsource: {product: windows}\ndetection:\n    sel: {a|nosuch: 1}\n    condition: sel\n").unwrap();
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        &arg(&dir.path().join("bad")),
        &logs,
    ]);
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.yml") && stderr.contains("nosuch"),
        "the failed rule is listed: {stderr}"
    );
    // 5: output that cannot be written.
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        &rules,
        "--output",
        &arg(&dir.path().join("no/such/dir/out")),
        &logs,
    ]);
    assert_eq!(output.status.code(), Some(5));
    // 2: usage error.
    let output = garrison(&["hunt", "--format", "xml", &logs]);
    assert_eq!(output.status.code(), Some(2));
    // 0: success, nothing detected.
    std::fs::write(
        dir.path().join("quiet.jsonl"),
        r#"{"EventID":4624,"Channel":"Security"}"#,
    )
    .unwrap();
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        &rules,
        "--fail-on-detection",
        &arg(&dir.path().join("quiet.jsonl")),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
}
