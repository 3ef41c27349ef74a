//! Helpers for running the `garrison` binary in tests.

#![allow(dead_code)]

pub mod deployment;
pub mod served;
pub mod serving;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn garrison(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args(args)
        .output()
        .expect("the garrison binary runs")
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared datasets: `$GARRISON_SHARED_DATA`, else `../shared/data` next to the workspace.
/// Absent data skips the test loudly, unless `GARRISON_REQUIRE_SHARED_DATA` is set (as `.ci/run`
/// does), where it fails.
pub fn shared_data() -> Option<PathBuf> {
    let path = std::env::var_os("GARRISON_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if path.is_dir() {
        return Some(path);
    }
    if std::env::var_os("GARRISON_REQUIRE_SHARED_DATA").is_some() {
        panic!("shared datasets required but absent at {}", path.display());
    }
    eprintln!(
        "SKIPPED: no shared datasets at {}; tests on real data did not run",
        path.display()
    );
    None
}

pub fn stdout_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each output line is JSON"))
        .collect()
}

/// How many detections of each rule title a `hunt` printed.
pub fn titles(lines: &[serde_json::Value]) -> std::collections::BTreeMap<String, usize> {
    let mut titles = std::collections::BTreeMap::new();
    for line in lines {
        *titles
            .entry(line["rule"]["title"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    titles
}

/// `garrison investigate -q` on `paths` with a fresh state directory: the JSON report.
pub fn investigate_report(paths: &[&str]) -> serde_json::Value {
    let state = tempfile::tempdir().unwrap();
    let mut args = vec![
        "investigate",
        "-q",
        "--state",
        state.path().to_str().unwrap(),
    ];
    args.extend_from_slice(paths);
    let output = garrison(&args);
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// How many normalized records of each (`metadata.log_format`, `class_uid`).
pub fn classes_by_format(
    records: &[serde_json::Value],
) -> std::collections::BTreeMap<(String, u64), usize> {
    let mut classes = std::collections::BTreeMap::new();
    for record in records {
        let format = record["metadata"]["log_format"]
            .as_str()
            .unwrap()
            .to_string();
        *classes
            .entry((format, record["class_uid"].as_u64().unwrap()))
            .or_default() += 1;
    }
    classes
}

/// A count table written as literals.
pub fn counted(items: &[((&str, u64), usize)]) -> std::collections::BTreeMap<(String, u64), usize> {
    items
        .iter()
        .map(|((format, class), count)| ((format.to_string(), *class), *count))
        .collect()
}

/// The non-blank lines of a file in the workspace.
pub fn sample_lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(workspace().join(path))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The ids of every alert in the incidents of an `investigate` report.
pub fn alert_ids(report: &serde_json::Value) -> std::collections::BTreeSet<String> {
    report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|incident| incident["alerts"].as_array().unwrap())
        .map(|alert| alert["id"].as_str().unwrap().to_string())
        .collect()
}
