//! Analysts' verdicts and what they teach: `garrison verdicts` on the demo's incident, and
//! `garrison eval` on a small labelled alert stream written here in the AIT Alert Data Set's
//! CSV shape (an attack in two phases, and a noisy VPN gateway).

mod common;

use common::garrison;
use std::fmt::Write;

fn run(args: &[&str]) -> (i32, String, String) {
    let output = garrison(args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Alerts as `time,name,ip,host,short,time_label,event_label`: a day and a half of a noisy
/// VPN gateway (what usually fires there), then an attack in three phases and, among them, a
/// burst of rules never seen on the file share before that is benign.
fn labelled_stream() -> String {
    let start = 1_642_723_347_i64;
    let hour = 3600;
    let mut csv = String::from("time,name,ip,host,short,time_label,event_label\n");
    let mut rows: Vec<(i64, &str, &str, &str, &str)> = Vec::new();
    // The VPN gateway's noise: three rules every 15 minutes for 30 hours.
    for k in 0..120 {
        let at = start + k * 900;
        rows.push((
            at,
            "Suricata: Alert - SURICATA TLS invalid record/traffic",
            "vpn",
            "S-Tls-Rec",
            "false_positive",
        ));
        rows.push((
            at + 1,
            "Suricata: Alert - SURICATA TLS invalid handshake message",
            "vpn",
            "S-Tls-Hnd",
            "false_positive",
        ));
        rows.push((
            at + 2,
            "Wazuh: IDS event.",
            "vpn",
            "W-All-Evt",
            "false_positive",
        ));
    }
    // The attack: directory brute force on the web server, then password cracking on mail.
    let web = start + 26 * hour;
    for (offset, name, short) in [
        (0, "Wazuh: Web server 400 error code.", "W-Acc-400"),
        (
            5,
            "Wazuh: Multiple web server 400 error codes from same source ip.",
            "W-All-Mul3",
        ),
        (9, "Wazuh: Suspicious URL access.", "W-Acc-Sus"),
    ] {
        rows.push((web + offset, name, "webserver", short, "dirb"));
    }
    let mail = start + 28 * hour;
    // A scan of the mail server shows only as a repeat: triage folds it into the benign alert
    // of the same rule there three minutes before, and the incident holding that one holds it.
    rows.push((
        mail - 300,
        "Wazuh: Dovecot Authentication Success.",
        "mail",
        "W-Sys-Dov",
        "false_positive",
    ));
    rows.push((
        mail - 120,
        "Wazuh: Dovecot Authentication Success.",
        "mail",
        "W-Sys-Dov",
        "network_scans",
    ));
    for (offset, name, short) in [
        (0, "Wazuh: Dovecot Invalid User Login Attempt.", "W-Mai-Inv"),
        (3, "Wazuh: PAM: User login failed.", "W-Aut-Pam2"),
        (
            6,
            "Wazuh: syslog: User authentication failure.",
            "W-Sys-Fai",
        ),
    ] {
        rows.push((mail + offset, name, "mail", short, "cracking"));
    }
    // A maintenance job on the file share: new there, benign, three times 15 minutes apart.
    for k in 0..3 {
        let at = start + 27 * hour + k * 900;
        rows.push((
            at,
            "AMiner: New characters in Apache Access log.",
            "cloud_share",
            "A-Acc-Chr2",
            "false_positive",
        ));
        rows.push((
            at + 4,
            "AMiner: Unusual occurrence frequencies of Apache Access log events.",
            "cloud_share",
            "A-Acc-Ent2",
            "false_positive",
        ));
    }
    rows.sort();
    for (at, name, host, short, label) in rows {
        let ip = match host {
            "vpn" => "172.17.130.196",
            "webserver" => "172.17.131.81",
            "cloud_share" => "172.17.131.77",
            _ => "172.17.131.90",
        };
        writeln!(csv, "{at},{name},{ip},{host},{short},{label},-").unwrap();
    }
    csv
}

#[test]
fn eval_measures_escalations_against_labels_and_verdicts_quiet_the_noise() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("tiny_alerts.csv");
    std::fs::write(&stream, labelled_stream()).unwrap();
    let (code, stdout, stderr) = run(&[
        "eval",
        "--from",
        "ait-ads",
        "--feedback",
        "3",
        "--format",
        "json",
        stream.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let before = &report["before"];
    assert_eq!(before["alerts"], 374, "{report:#}");
    assert_eq!(before["escalated"], 3, "{report:#}");
    assert_eq!(before["phases_total"], 3);
    assert_eq!(before["phases_found"], 3, "{report:#}");
    assert_eq!(before["fp_only_escalated_count"], 1);
    let after = &report["after"];
    // The gateway's noise is what usually fires there: never escalated. The analyst judged
    // the three escalated incidents; the file share's rules, judged benign three times each
    // there, no longer count as new there. The attack still reaches a person.
    assert_eq!(after["escalated"], 2, "{report:#}");
    assert_eq!(after["fp_only_escalated"], 0.0);
    assert_eq!(after["phases_found"], 3);
    assert_eq!(report["scenarios"][0]["name"], "tiny");
    assert_eq!(report["scenarios"][0]["verdicts"], 3);
    let reduction = before["workload_reduction"].as_f64().unwrap();
    assert!(
        (reduction - (1.0 - 3.0 / 374.0)).abs() < 1e-9,
        "{reduction}"
    );
}

#[test]
fn verdicts_are_recorded_explained_and_shown_with_similar_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = run(&["demo", "--state", state, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let first: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let incident = first["incidents"][0]["id"].as_str().unwrap().to_string();
    let alerts = first["incidents"][0]["alerts"].as_array().unwrap().len();
    let (code, _, stderr) = run(&[
        "verdicts",
        "add",
        "--state",
        state,
        "--incident",
        &incident,
        "--verdict",
        "tp",
        "--as",
        "ana",
        "--note",
        "confirmed with the user",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "incident {incident} is true_positive ({alerts} alert(s) judged)"
        )),
        "{stderr}"
    );
    let alert = first["incidents"][0]["alerts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, stderr) = run(&[
        "verdicts",
        "add",
        "--state",
        state,
        "--alert",
        &alert,
        "--verdict",
        "btp",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&[
        "verdicts",
        "add",
        "--state",
        state,
        "--alert",
        "al-nonesuch",
        "--verdict",
        "fp",
    ]);
    assert_eq!(code, 3, "{stderr}");
    let (code, _, stderr) = run(&[
        "verdicts",
        "add",
        "--state",
        state,
        "--incident",
        &incident,
        "--verdict",
        "maybe",
    ]);
    assert_eq!(code, 2, "{stderr}");

    let (code, stdout, _) = run(&["verdicts", "list", "--state", state, "--format", "json"]);
    assert_eq!(code, 0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["by"], "user:ana");
    assert_eq!(list[1]["verdict"], "benign_true_positive");
    let (code, stdout, _) = run(&[
        "verdicts",
        "precision",
        "--state",
        state,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let precision: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(precision["verdicts"], 2);
    let patterns = precision["patterns"].as_array().unwrap();
    let judged: u64 = patterns
        .iter()
        .map(|row| row["malicious"].as_u64().unwrap() + row["benign"].as_u64().unwrap())
        .sum();
    assert_eq!(
        judged as usize, alerts,
        "each alert counted once, its own verdict winning"
    );
    assert_eq!(
        patterns
            .iter()
            .map(|row| row["benign"].as_u64().unwrap())
            .sum::<u64>(),
        1
    );

    // Another environment with the same intrusion: its incident shows the judged one.
    let (code, stdout, stderr) =
        run(&["demo", "--state", state, "--seed", "8", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let second: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let new_id = second["incidents"][0]["id"].as_str().unwrap();
    assert_ne!(new_id, incident);
    let similar = &second["similar"][new_id];
    assert_eq!(
        similar[0]["incident"],
        incident.as_str(),
        "{:#}",
        second["similar"]
    );
    assert_eq!(similar[0]["verdict"], "true_positive");
    assert!(similar[0]["shared_rules"].as_u64().unwrap() >= 5);
    let (code, _, _) = run(&["audit", "verify", "--state", state]);
    assert_eq!(code, 0);
}
