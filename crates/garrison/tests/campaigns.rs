//! The OTRF compound campaigns, end to end: Log Analytics exports (Windows tables, Syslog with
//! Sysmon for Linux and AUOMS, Office 365, VM Insights, Defender XDR) and the LSASS campaigns'
//! host and Zeek logs become a few incidents whose tactics cover the campaign's ATT&CK mapping.

mod common;

use common::{classes_by_format, counted, garrison, shared_data, titles};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// ATT&CK tactic ids as the campaign metadata writes them, by our short names.
const TACTICS: &[(&str, &str)] = &[
    ("TA0001", "initial-access"),
    ("TA0002", "execution"),
    ("TA0003", "persistence"),
    ("TA0004", "privilege-escalation"),
    ("TA0005", "defense-evasion"),
    ("TA0006", "credential-access"),
    ("TA0007", "discovery"),
    ("TA0008", "lateral-movement"),
    ("TA0009", "collection"),
    ("TA0010", "exfiltration"),
    ("TA0011", "command-and-control"),
    ("TA0040", "impact"),
    ("TA0042", "resource-development"),
    ("TA0043", "reconnaissance"),
];

/// The tactics a campaign's metadata maps it to.
fn campaign_tactics(metadata: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(metadata).unwrap();
    let documents = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let mut tactics = BTreeSet::new();
    for mapping in documents[0]["attack_mappings"].as_vec().unwrap() {
        for id in mapping["tactics"].as_vec().unwrap() {
            let id = id.as_str().unwrap();
            let name = TACTICS
                .iter()
                .find(|(known, _)| *known == id)
                .unwrap_or_else(|| panic!("unknown tactic {id}"))
                .1;
            tactics.insert(name.to_string());
        }
    }
    tactics
}

fn investigate(campaign: &Path, rules: &Path) -> serde_json::Value {
    let state = tempfile::tempdir().unwrap();
    let output = garrison(&[
        "investigate",
        "-q",
        "--rules",
        rules.to_str().unwrap(),
        "--state",
        state.path().to_str().unwrap(),
        campaign.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn each_campaign_becomes_a_few_incidents_covering_its_tactics() {
    let Some(data) = shared_data() else { return };
    let compound = data.join("otrf/datasets/compound");
    let rules = data.join("sigma/rules");
    // Tactics the recordings cannot show, by the dataset's own account: resource development
    // happened before the recordings started; the LSASS dumps were downloaded over the
    // meterpreter session, which had not closed when the capture ended (no conn.log record
    // carries the bytes), and campaign 02's capture holds no stager download or beacon.
    let unrecorded: BTreeMap<&str, &[&str]> = [
        ("LSASS_campaign_01", &["resource-development"][..]),
        (
            "LSASS_campaign_02",
            &["command-and-control", "exfiltration"][..],
        ),
        (
            "LSASS_campaign_03",
            &["resource-development", "exfiltration"][..],
        ),
        (
            "LSASS_campaign_04",
            &["resource-development", "exfiltration"][..],
        ),
        ("GoldenSAMLADFSMailAccess", &[][..]),
        ("Log4Shell", &[][..]),
    ]
    .into_iter()
    .collect();
    let reports: Vec<(&str, serde_json::Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = unrecorded
            .keys()
            .map(|campaign| {
                let (compound, rules) = (&compound, &rules);
                scope.spawn(move || (*campaign, investigate(&compound.join(campaign), rules)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut missed = Vec::new();
    for (campaign, report) in &reports {
        let incidents = report["incidents"].as_array().unwrap();
        assert!(
            (1..=3).contains(&incidents.len()),
            "{campaign}: {} incidents",
            incidents.len()
        );
        let covered: BTreeSet<String> = incidents
            .iter()
            .flat_map(|incident| incident["tactics"].as_array().unwrap())
            .map(|tactic| tactic.as_str().unwrap().to_string())
            .collect();
        let wanted = campaign_tactics(&compound.join(format!("_metadata/{campaign}.yaml")));
        for tactic in &wanted {
            if !covered.contains(tactic) && !unrecorded[campaign].contains(&tactic.as_str()) {
                missed.push(format!("{campaign}: {tactic}"));
            }
        }
        // What is listed as unrecorded really is missing (else the list is stale).
        for tactic in unrecorded[campaign] {
            assert!(!covered.contains(*tactic), "{campaign} now covers {tactic}");
        }
    }
    assert!(missed.is_empty(), "tactics not covered: {missed:?}");
    let by_campaign: BTreeMap<&str, &serde_json::Value> =
        reports.iter().map(|(c, r)| (*c, r)).collect();
    // Golden SAML: one incident. The AD FS signing material read on ADFS01 and DC01 and the
    // forged access of the impersonated user to Entra ID / Microsoft 365 after it share no
    // host, user or address; the domain and the order tie them, and the incident says so.
    let golden = by_campaign["GoldenSAMLADFSMailAccess"]["incidents"]
        .as_array()
        .unwrap();
    assert_eq!(golden.len(), 1, "{golden:?}");
    let incident = &golden[0];
    let title = incident["title"].as_str().unwrap();
    for place in ["ADFS01", "DC01", "Microsoft 365"] {
        assert!(title.contains(place), "{title}");
    }
    assert!(title.ends_with("(pgustavo)"), "{title}");
    assert!(incident["tactics"].to_string().contains("collection"));
    assert!(incident["techniques"].to_string().contains("T1552.004"));
    let claim = incident["reasoning"]
        .as_array()
        .unwrap()
        .iter()
        .find(|claim| claim["claim"].as_str().unwrap().contains("Golden SAML"))
        .unwrap_or_else(|| panic!("a Golden SAML claim: {incident}"));
    assert_eq!(claim["assertion"]["kind"], "precedes", "{claim}");
    assert!(
        claim["claim"]
            .as_str()
            .unwrap()
            .contains("pgustavo@simulandlabs.com")
    );
    assert_eq!(
        incident["verification"]["removed_claims"],
        serde_json::json!([])
    );
    // Log4Shell: the Linux server (Sysmon for Linux + AUOMS) and the Windows one (Sysmon,
    // Security) each show the exploit (T1190) followed by execution.
    let log4shell = by_campaign["Log4Shell"]["incidents"].as_array().unwrap();
    for host in ["UBUNTU5", "WORKSTATION5"] {
        let incident = log4shell
            .iter()
            .find(|incident| incident["title"].as_str().unwrap().contains(host))
            .unwrap_or_else(|| panic!("an incident on {host}: {log4shell:?}"));
        let techniques = incident["techniques"].to_string();
        assert!(techniques.contains("T1190"), "{host}: {techniques}");
    }
}

#[test]
fn log_analytics_tables_normalize_to_their_classes() {
    let Some(data) = shared_data() else { return };
    let compound = data.join("otrf/datasets/compound");
    let output = garrison(&[
        "normalize",
        "-q",
        compound.join("GoldenSAMLADFSMailAccess").to_str().unwrap(),
        compound.join("Log4Shell").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 726);
    let classes = classes_by_format(&records);
    let expected = counted(&[
        // AUOMS process starts from the Syslog table.
        (("auditd", 1007), 50),
        // Defender XDR rows are typed (no class mapping yet).
        (("defender-xdr", 0), 9),
        (("entra-audit", 3004), 4),
        // SecurityEvent / Event / WindowsEvent rows, as Windows events: 4662, 4656, 4670,
        // 5158 and AD FS events have no class.
        (("flat-windows-json", 0), 30),
        (("flat-windows-json", 1001), 18),
        (("flat-windows-json", 1005), 155),
        (("flat-windows-json", 1007), 20),
        (("flat-windows-json", 3002), 28),
        (("flat-windows-json", 4001), 10),
        (("flat-windows-json", 4003), 2),
        (("flat-windows-json", 201001), 300),
        // One SecurityEvent row exported without its table name or channel.
        (("json", 0), 1),
        (("m365-audit", 6003), 1),
        // Sysmon for Linux in Syslog rows, including 16 whose XML has Sysmon's unterminated
        // `&lt ` references and events cut at 2 KiB.
        (("sysmon-linux", 1001), 6),
        (("sysmon-linux", 1007), 81),
        (("sysmon-linux", 4001), 6),
        (("vm-connection", 4001), 5),
    ]);
    assert_eq!(classes, expected);
    // A Sysmon for Linux process start: Linux device, Sysmon's fields in their places.
    let start = records
        .iter()
        .find(|r| {
            r["metadata"]["log_format"] == "sysmon-linux"
                && r["process"]["cmd_line"]
                    .as_str()
                    .is_some_and(|c| c.contains("base64,-d"))
        })
        .expect("the reverse shell start");
    assert_eq!(start["device"]["hostname"], "UBUNTU5");
    assert_eq!(start["device"]["os"]["type_id"], 200);
    assert_eq!(start["metadata"]["product"]["name"], "Sysmon for Linux");
    assert_eq!(
        start["process"]["parent_process"]["file"]["path"],
        "/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java"
    );
}

#[test]
fn sigmahq_linux_rules_read_sysmon_for_linux_and_auoms() {
    let Some(data) = shared_data() else { return };
    let output = garrison(&[
        "hunt",
        "--no-bundled",
        "--rules",
        data.join("sigma/rules/linux").to_str().unwrap(),
        data.join("otrf/datasets/compound/Log4Shell")
            .to_str()
            .unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let lines = common::stdout_lines(&output);
    let mut by_source: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in &lines {
        let path = line["source"]["path"].as_str().unwrap();
        let source = if path.contains("auoms") {
            "auoms"
        } else {
            "sysmon"
        };
        *by_source
            .entry((
                line["rule"]["title"].as_str().unwrap().to_string(),
                source.to_string(),
            ))
            .or_default() += 1;
    }
    let expected: BTreeMap<(String, String), usize> = [
        (("Suspicious Java Children Processes", "sysmon"), 1),
        (("Linux Reverse Shell Indicator", "sysmon"), 1),
        (("Decode Base64 Encoded Text", "sysmon"), 1),
        (("Decode Base64 Encoded Text", "auoms"), 1),
        (("Local Groups Discovery - Linux", "sysmon"), 2),
        (("Local Groups Discovery - Linux", "auoms"), 2),
    ]
    .into_iter()
    .map(|((title, source), count)| ((title.to_string(), source.to_string()), count))
    .collect();
    assert_eq!(by_source, expected, "{:?}", titles(&lines));
}
