//! Cloud and identity sources end to end: the bundled CloudTrail, Okta and Entra ID samples
//! hunted with the bundled rules and SigmaHQ's cloud and identity rules, investigated into one
//! incident across the three, and normalized to OCSF; SigmaHQ's Azure rules on the real Entra
//! ID audit events of the OTRF Golden SAML campaign.

mod common;

use common::*;
use std::collections::BTreeMap;

fn samples() -> String {
    workspace()
        .join("samples/cloud")
        .to_string_lossy()
        .into_owned()
}

/// The text of the record a detection cites: the JSON value at its offset in the sample.
fn cited_record(detection: &serde_json::Value) -> String {
    let path = workspace().join(detection["source"]["path"].as_str().unwrap());
    let bytes = std::fs::read(&path).unwrap();
    let offset = detection["source"]["offset"].as_u64().unwrap() as usize;
    let mut values =
        serde_json::Deserializer::from_slice(&bytes[offset..]).into_iter::<serde_json::Value>();
    values.next().unwrap().unwrap().to_string()
}

#[test]
fn bundled_rules_follow_the_intrusion_through_okta_aws_and_entra() {
    let output = garrison(&["hunt", &samples()]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    let titles = titles(&lines);
    for (title, count) in [
        ("Password Spray Against Entra ID", 1),
        ("Password Spray Against the Identity Provider", 1),
        ("MFA Push Fatigue Against One Account", 1),
        ("AWS IAM User Created", 1),
        ("AWS Access Key Created for Another IAM User", 1),
        ("AWS Administrator Policy Attached", 1),
        ("AWS Backdoor IAM User With Key and Administrator Rights", 1),
        ("AWS S3 Bucket Opened to Everyone", 1),
        // GuardDuty deleted, then the trail stopped.
        ("AWS Audit Logging or Threat Detection Disabled", 2),
        ("Entra ID Tenant-Wide Consent to an Application", 1),
        // An application secret, then a service principal certificate.
        (
            "Entra ID Application or Service Principal Given New Credentials",
            2,
        ),
        ("Entra ID Privileged Role Assignment Attempted", 1),
    ] {
        assert_eq!(titles.get(title), Some(&count), "{title}: {titles:?}");
    }
    assert_eq!(lines.len(), 14, "{titles:?}");
    // The benign half of the day (office sign-ins, CI reading EC2, a user changing a password,
    // an administrator adding a group member) stays quiet: every detection cites a record of
    // the attacker's addresses.
    for line in &lines {
        let record = cited_record(line);
        assert!(
            record.contains("203.0.113.77") || record.contains("203.0.113.78"),
            "{line:#}\n{record}"
        );
    }
    // A backdoor correlation groups by the new user.
    let backdoor = lines
        .iter()
        .find(|l| l["rule"]["level"] == "critical")
        .unwrap();
    assert_eq!(
        backdoor["correlation"]["group"]["requestParameters.userName"], "backup-svc",
        "{backdoor:#}"
    );
    assert_eq!(backdoor["correlation"]["count"], 3);
}

#[test]
fn sigmahq_cloud_and_identity_rules_load_and_fire() {
    let Some(data) = shared_data() else { return };
    let rules = data.join("sigma/rules");
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        rules.join("cloud").to_str().unwrap(),
        "--rules",
        rules.join("identity").to_str().unwrap(),
        &samples(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let titles = titles(&stdout_lines(&output));
    for title in [
        // CloudTrail, by eventSource/eventName and nested request fields.
        "AWS CloudTrail Important Change",
        "AWS GuardDuty Detector Deleted Or Updated",
        "AWS Successful Console Login Without MFA",
        // Okta.
        "Okta API Token Created",
        // Entra sign-ins from a Graph export (`deviceDetail.isCompliant` read as
        // `DeviceDetail.isCompliant`).
        "Sign-ins from Non-Compliant Devices",
        // Entra audit rows from Log Analytics (JSON text expanded, names in any case).
        "Users Added to Global or Device Admin Roles",
        "Added Credentials to Existing Application",
    ] {
        assert!(titles.contains_key(title), "{title}: {titles:?}");
    }
    // Only the office devices are compliant: the attacker's two sign-ins and the six sprayed
    // ones are not.
    assert_eq!(
        titles.get("Sign-ins from Non-Compliant Devices"),
        Some(&8),
        "{titles:?}"
    );
    let summary = String::from_utf8_lossy(&output.stderr);
    // Identity Protection, PIM and the Microsoft 365 alert feeds (Security & Compliance alert
    // names, not audit operations) are not read; their rules say so instead of never firing.
    assert!(
        summary.contains("Azure service \"riskdetection\" is not read yet"),
        "{summary}"
    );
    assert!(
        summary.contains("Microsoft 365 service \"threat_management\" is not read yet"),
        "{summary}"
    );
    assert!(summary.contains("41 failed (41 logsource)"), "{summary}");
}

#[test]
fn sigmahq_azure_rules_fire_on_the_golden_saml_audit_events() {
    let Some(data) = shared_data() else { return };
    let campaign = data.join("otrf/datasets/compound/GoldenSAMLADFSMailAccess");
    let rules = data.join("sigma/rules/cloud/azure");
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        rules.to_str().unwrap(),
        campaign.join("AADAuditEvents.Zip").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let titles = titles(&stdout_lines(&output));
    let expected: BTreeMap<String, usize> = [
        ("Added Credentials to Existing Application", 2),
        ("Application AppID Uri Configuration Changes", 1),
        ("Delegated Permissions Granted For All Users", 1),
        ("App Granted Microsoft Permissions", 1),
    ]
    .into_iter()
    .map(|(title, count)| (title.to_string(), count))
    .collect();
    assert_eq!(titles, expected);
}

#[test]
fn investigate_links_okta_aws_and_entra_into_one_incident() {
    let report = investigate_report(&[&samples()]);
    let incidents = report["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{report:#}");
    let incident = &incidents[0];
    let title = incident["title"].as_str().unwrap();
    assert!(
        title.ends_with("on AWS account 111122223333, Entra ID, Okta (carol.diaz)"),
        "{title}"
    );
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["disposition"], "malicious");
    let entities = incident["entities"].to_string();
    for entity in [
        "203.0.113.77",
        "203.0.113.78",
        "backup-svc",
        "carol.diaz@corp.example",
    ] {
        assert!(entities.contains(entity), "{entity}: {entities}");
    }
    // The timeline reads like an analyst's notes: who called what, from where.
    let timeline = incident["timeline"].to_string();
    assert!(
        timeline.contains(
            "AWS iam.amazonaws.com CreateUser by carol.diaz@corp.example from 203.0.113.77"
        ),
        "{timeline}"
    );
    assert!(
        timeline.contains(
            "Entra ID Add member to role by carol.diaz@corp.example from 203.0.113.77 (failed)"
        ),
        "{timeline}"
    );
    assert_eq!(incident["verification"]["status"], "verified");
}

#[test]
fn normalize_maps_every_cloud_record_to_its_class() {
    let output = garrison(&["normalize", &samples()]);
    assert!(output.status.success(), "{output:?}");
    let records = stdout_lines(&output);
    assert_eq!(records.len(), 71);
    for record in &records {
        assert!(record["cloud"]["provider"].is_string(), "{record}");
        assert!(
            record["metadata"]["profiles"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("cloud"))
        );
    }
    let expected = counted(&[
        // 4 console sign-ins (one failed); 22 API calls.
        (("cloudtrail", 3002), 4),
        (("cloudtrail", 6003), 22),
        // 1 group membership, 1 user update, consent, 2 credentials, role assignment.
        (("entra-audit", 3006), 1),
        (("entra-audit", 3004), 5),
        (("entra-signin", 3002), 12),
        // Sign-ins, logoff, SSO and MFA steps; a password change and a new factor; a token.
        (("okta", 3002), 24),
        (("okta", 3001), 2),
        (("okta", 3004), 1),
    ]);
    assert_eq!(classes_by_format(&records), expected);
    // A record of a CloudTrail file is cited by its position in `Records` and its offset.
    let create_user = records
        .iter()
        .find(|r| r["api"]["operation"] == "CreateUser")
        .unwrap();
    let uid = create_user["metadata"]["uid"].as_str().unwrap();
    assert!(
        uid.contains("cloudtrail-111122223333-eu-west-1.json#18@"),
        "{uid}"
    );
    assert_eq!(create_user["activity_name"], "Create");
    assert_eq!(
        create_user["actor"]["user"]["name"],
        "carol.diaz@corp.example"
    );
    assert_eq!(create_user["actor"]["user"]["type"], "AssumedRole");
    assert_eq!(create_user["src_endpoint"]["ip"], "203.0.113.77");
    assert_eq!(create_user["resources"][0]["name"], "backup-svc");
    assert_eq!(create_user["cloud"]["account"]["uid"], "111122223333");
    let failed_root = records
        .iter()
        .find(|r| {
            r["class_uid"] == 3002
                && r["status"] == "Failure"
                && r["metadata"]["log_format"] == "cloudtrail"
        })
        .unwrap();
    assert_eq!(failed_root["status_detail"], "Failed authentication");
    assert_eq!(failed_root["is_mfa"], false);
    let role = records
        .iter()
        .find(|r| r["message"] == "Add member to role")
        .unwrap();
    assert_eq!(role["status"], "Failure");
    assert_eq!(role["entity"]["user"]["name"], "carol.diaz@corp.example");
    assert_eq!(
        role["status_detail"],
        "Insufficient privileges to complete the operation."
    );
}

#[test]
fn an_inventory_in_csv_is_read_and_its_mistakes_named() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.csv");
    std::fs::write(
        &inventory,
        "kind,name,criticality,owner,role,tags\nuser,carol.diaz,critical,it.admin,cloud engineer,aws-admin;entra-app-admin\nhost,WS01.corp.example,high,alice.martin,workstation,\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let output = garrison(&[
        "investigate",
        "-q",
        "--inventory",
        inventory.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        &samples(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["incidents"].as_array().unwrap().len(), 1);
    std::fs::write(
        &inventory,
        "kind,name,criticality\nuser,carol.diaz,urgent\n",
    )
    .unwrap();
    let output = garrison(&[
        "investigate",
        "-q",
        "--inventory",
        inventory.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        &samples(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 2: criticality must be low, medium, high or critical"),
        "{stderr}"
    );
}
