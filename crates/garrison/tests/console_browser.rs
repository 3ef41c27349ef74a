//! The console end to end in headless Chromium (driven by playwright-core, `tests/browser/`):
//! `garrison serve --demo` as its own process, a responder added with `garrison user add`, then
//! the browser signs in, opens the top incident, follows a reasoning claim to its evidence,
//! approves a pending action, records a verdict, finds both in the audit log and sees the
//! agents serving, and the store is checked afterwards. Screenshots of each step are kept under the test's target folder.
//!
//! Needs Node.js, `/usr/bin/chromium` and `npm ci` run in `tests/browser` (`.ci/run` does
//! both); skipped with a loud message when they are absent, unless `GARRISON_REQUIRE_BROWSER`
//! is set (as CI does), when their absence fails the test.

mod common;

use common::serving::{add_user, serve_demo};
use garrison_model::action::ActionState;
use garrison_store::{ActionStore, SqliteStore};
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "a long passphrase for the browser";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let chromium =
        std::env::var("GARRISON_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Some(format!(
            "no playwright-core in {} (npm ci there)",
            browser_dir().display()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node".into());
    }
    None
}

#[test]
fn an_analyst_works_an_incident_in_the_browser() {
    if let Some(reason) = missing() {
        if std::env::var_os("GARRISON_REQUIRE_BROWSER").is_some() {
            panic!("the browser test must run here: {reason}");
        }
        eprintln!("\n!!! SKIPPED: the console's browser test cannot run: {reason}\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let serving = serve_demo(&state);
    add_user(&state, "ana", "responder", PASSWORD);

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    let output = Command::new("node")
        .arg(browser_dir().join("console.mjs"))
        .env("GARRISON_URL", &serving.url)
        .env("GARRISON_USER", "ana")
        .env("GARRISON_PASSWORD", PASSWORD)
        .env("GARRISON_ARTIFACTS", &artifacts)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}\nscreenshots in {}",
        String::from_utf8_lossy(&output.stderr),
        artifacts.display()
    );
    eprintln!("browser: {stdout}screenshots in {}", artifacts.display());
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for shot in [
        "01-sign-in",
        "02-queue",
        "03-incident",
        "04-evidence",
        "05-approved",
        "06-verdict",
        "07-audit",
        "08-agents",
    ] {
        let path = artifacts.join(format!("{shot}.png"));
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 1000),
            "{}",
            path.display()
        );
    }
    drop(serving);

    // What the browser did is in the store, under the person's name.
    let store = SqliteStore::open(&state).unwrap();
    let key = summary["action"].as_str().unwrap();
    let action = store.action(key).unwrap().expect("the approved action");
    assert!(
        matches!(
            action.state,
            ActionState::Approved
                | ActionState::Succeeded
                | ActionState::Executing
                | ActionState::Failed
                | ActionState::Unknown
        ),
        "{:?}",
        action.state
    );
    assert_eq!(action.decided_by.as_deref(), Some("user:ana"));
    let entries: Vec<(String, String)> = store
        .audit_entries(1, 100_000)
        .unwrap()
        .into_iter()
        .map(|entry| (entry.action, entry.actor))
        .collect();
    for wanted in ["signed_in", "response_approved", "decision_recorded"] {
        assert!(
            entries.contains(&(wanted.to_string(), "user:ana".to_string())),
            "{wanted} by user:ana"
        );
    }
    assert!(store.verify_audit(None).unwrap().violation.is_none());
}
