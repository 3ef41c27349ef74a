//! SigmaHQ's regression data: every rule with a sample must fire on its own sample EVTX.

mod common;

use common::*;
use std::collections::HashSet;

#[test]
fn every_regression_rule_fires_on_its_sample() {
    let Some(data) = shared_data() else { return };
    let sigma = data.join("sigma");
    let mut expected = Vec::new();
    let mut stack = vec![sigma.join("regression_data")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|name| name == "info.yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let rule_id = text
                    .split("rule_metadata:")
                    .nth(1)
                    .and_then(|rest| rest.split("id:").nth(1))
                    .map(|rest| rest.split_whitespace().next().unwrap().to_string())
                    .expect("info.yml names its rule");
                for line in text
                    .lines()
                    .filter(|l| l.trim_start().starts_with("path:") && l.contains(".evtx"))
                {
                    let relative = line.trim_start().trim_start_matches("path:").trim();
                    expected.push((rule_id.clone(), sigma.join(relative)));
                }
            }
        }
    }
    assert_eq!(expected.len(), 117, "the regression set has 117 samples");
    let mut args: Vec<String> = vec!["hunt".into(), "--no-bundled".into(), "--quiet".into()];
    for folder in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
    ] {
        args.push("--rules".into());
        args.push(sigma.join(folder).to_string_lossy().into_owned());
    }
    args.push(sigma.join("regression_data").to_string_lossy().into_owned());
    let output = garrison(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fired: HashSet<(String, std::path::PathBuf)> = stdout_lines(&output)
        .iter()
        .map(|d| {
            (
                d["rule"]["id"].as_str().unwrap().to_string(),
                std::fs::canonicalize(d["source"]["path"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|(id, path)| !fired.contains(&(id.clone(), std::fs::canonicalize(path).unwrap())))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of 117 rules did not fire on their sample: {missing:?}",
        missing.len()
    );
}
