//! `garrison investigate` on the bundled sample intrusion: the documented JSON shape, grounded
//! reasoning, the Markdown report, the audit trail it leaves, and reruns on the same state.

mod common;

use common::{garrison, workspace};

fn investigate(state: &str, format: &str) -> (i32, String, String) {
    // The Windows samples (the Linux ones are investigated in tests/linux.rs).
    let samples = workspace().join("samples");
    let output = garrison(&[
        "investigate",
        "--state",
        state,
        "--format",
        format,
        samples.join("windows-intrusion.jsonl").to_str().unwrap(),
        samples
            .join("dc01-security.winlogbeat.jsonl")
            .to_str()
            .unwrap(),
    ]);
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn json_incidents_have_the_documented_shape_and_cite_their_evidence() {
    let state = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = investigate(state.path().to_str().unwrap(), "json");
    assert_eq!(code, 0, "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let stats = &document["stats"];
    assert!(stats["events"].as_u64().unwrap() > 300, "{stats}");
    assert!(stats["alerts"].as_u64().unwrap() >= 10, "{stats}");
    assert_eq!(stats["quarantined"], 0);
    let incidents = document["incidents"].as_array().unwrap();
    assert_eq!(
        stats["incidents"].as_u64().unwrap() as usize,
        incidents.len()
    );
    assert!(!incidents.is_empty());
    let mut tactics = std::collections::BTreeSet::new();
    for incident in incidents {
        for key in [
            "id",
            "title",
            "severity",
            "confidence",
            "disposition",
            "escalated",
            "tactics",
            "techniques",
            "entities",
            "alerts",
            "evidence",
            "reasoning",
            "verification",
        ] {
            assert!(!incident[key].is_null(), "{key} missing in {incident}");
        }
        let alert = &incident["alerts"][0];
        assert!(alert["rule_id"].is_string() && alert["source"]["path"].is_string());
        assert!(alert["source"]["record_id"].is_u64());
        let evidence: Vec<&str> = incident["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap())
            .collect();
        for claim in incident["reasoning"].as_array().unwrap() {
            for id in claim["evidence"].as_array().unwrap() {
                assert!(
                    evidence.contains(&id.as_str().unwrap()),
                    "{claim} cites missing {id}"
                );
            }
        }
        assert_eq!(incident["verification"]["status"], "verified");
        tactics.extend(
            incident["tactics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string()),
        );
        let entity = &incident["entities"][0];
        assert!(entity["kind"].is_string() && entity["value"].is_string());
    }
    // The sample intrusion covers its story's stages.
    for tactic in ["execution", "credential-access", "lateral-movement"] {
        assert!(tactics.contains(tactic), "{tactics:?}");
    }
    assert!(stderr.contains("0 dead letters"), "{stderr}");

    // The run left an intact audit trail with an entry per incident opened.
    let verify = garrison(&["audit", "verify", "--state", state.path().to_str().unwrap()]);
    let verify_out = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{verify_out}");
    assert!(verify_out.contains("intact"));

    // Rerunning on the same state reports the same incidents, at newer versions.
    let (code, again, _) = investigate(state.path().to_str().unwrap(), "json");
    assert_eq!(code, 0);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    let ids = |doc: &serde_json::Value| -> Vec<String> {
        doc["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&document), ids(&again));
}

#[test]
fn markdown_reports_read_as_incident_reports() {
    let state = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = investigate(state.path().to_str().unwrap(), "md");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("# Garrison incidents"));
    for section in [
        "### Timeline",
        "### Reasoning",
        "### Evidence",
        "**Hypothesis.**",
        "**ATT&CK.**",
    ] {
        assert!(stdout.contains(section), "{section} missing");
    }
}

#[test]
fn rules_switched_off_in_the_state_raise_no_alerts() {
    use garrison_store::RuleSwitchStore;
    // "Event Log Cleared or Disabled from the Command Line": two hits in the Windows sample.
    const SWITCHED: &str = "3a576257-e1dc-47d2-8ac4-92bb1702dc29";
    let all = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = investigate(all.path().to_str().unwrap(), "json");
    assert_eq!(code, 0, "{stderr}");
    let before: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let state = tempfile::tempdir().unwrap();
    let store = garrison_store::SqliteStore::open(state.path()).unwrap();
    store
        .put_rule_switch(
            &garrison_model::tuning::RuleSwitch {
                rule_id: SWITCHED.into(),
                enabled: false,
                reason: Some("admins clear logs after patching".into()),
                by: "user:ada".into(),
                at: garrison_model::Timestamp::now(),
            },
            &garrison_store::AuditRecord {
                actor: "user:ada".into(),
                action: garrison_store::AuditAction::RuleSwitched,
                subject: SWITCHED.into(),
                detail: "off".into(),
            },
        )
        .unwrap();
    drop(store);
    let (code, stdout, stderr) = investigate(state.path().to_str().unwrap(), "json");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("2 alerts of 1 rules switched off held back"),
        "{stderr}"
    );
    let after: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        after["stats"]["alerts"].as_u64().unwrap() + 2,
        before["stats"]["alerts"].as_u64().unwrap()
    );
    let rules = |document: &serde_json::Value| -> Vec<String> {
        document["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|incident| incident["alerts"].as_array().unwrap().clone())
            .map(|alert| alert["rule_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(rules(&before).iter().any(|rule| rule == SWITCHED));
    assert!(!rules(&after).iter().any(|rule| rule == SWITCHED));
}
