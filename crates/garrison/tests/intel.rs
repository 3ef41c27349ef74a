//! Threat intelligence: the indicators of a STIX 2.1 bundle and a MISP event matched against
//! every value read, across Windows, network and cloud records, and joined by the
//! investigation to the incidents they concern.

mod common;

use common::*;
use std::collections::BTreeMap;

fn intel_args() -> Vec<String> {
    let intel = workspace().join("samples/intel");
    vec![
        "--intel".into(),
        intel
            .join("stix-bundle.json")
            .to_string_lossy()
            .into_owned(),
        "--intel".into(),
        intel.join("misp-event.json").to_string_lossy().into_owned(),
    ]
}

#[test]
fn indicators_match_every_source_they_appear_in() {
    let samples = workspace().join("samples");
    let mut args: Vec<String> = vec!["hunt".into(), "--no-bundled".into(), "--rules".into()];
    // A rule folder of one rule that never matches: the indicators (and Suricata's own
    // alerts) detect.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(
        empty.path().join("none.yml"),
        "title: never\nid: never\nlogsource:\n    product: none\ndetection:\n    sel:\n        never: never\n    condition: sel\n",
    )
    .unwrap();
    args.push(empty.path().to_string_lossy().into_owned());
    args.extend(intel_args());
    for folder in ["windows-intrusion.jsonl", "network", "cloud"] {
        args.push(samples.join(folder).to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = garrison(&args);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    let mut by_indicator: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines
        .iter()
        .filter(|l| l["rule"]["id"].as_str().unwrap().starts_with("intel:"))
    {
        *by_indicator
            .entry(line["rule"]["title"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    // The staging server by address and name in Sysmon, Zeek and Suricata; the loader's hash
    // in Sysmon's Hashes, Zeek's files.log and Suricata's fileinfo; the spray sources in the
    // cloud logs. The MISP comment (to_ids false) and the STIX process-name pattern match
    // nothing.
    let expected: BTreeMap<String, usize> = [
        ("Threat intelligence: Loader staging server", 43),
        ("Threat intelligence: Loader sample (updsvc)", 3),
        (
            "Threat intelligence: Cloud account takeover infrastructure (ip-src 203.0.113.77)",
            37,
        ),
        (
            "Threat intelligence: Cloud account takeover infrastructure (ip-src 203.0.113.78)",
            6,
        ),
    ]
    .into_iter()
    .map(|(title, count)| (title.to_string(), count))
    .collect();
    assert_eq!(by_indicator, expected);
    let staging = lines
        .iter()
        .find(|l| l["rule"]["title"] == "Threat intelligence: Loader staging server")
        .unwrap();
    // STIX confidence 85 is high; the kill chain phase is the tactic.
    assert_eq!(staging["rule"]["level"], "high");
    assert_eq!(
        staging["rule"]["tags"],
        serde_json::json!(["attack.command-and-control"])
    );
}

#[test]
fn intelligence_files_that_are_neither_format_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("feed.json");
    std::fs::write(&bogus, r#"{"indicators": []}"#).unwrap();
    let sample = workspace().join("samples/windows-intrusion.jsonl");
    let output = garrison(&[
        "hunt",
        "--intel",
        bogus.to_str().unwrap(),
        sample.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("neither a STIX 2.1 bundle nor a MISP"),
        "{output:?}"
    );
}
