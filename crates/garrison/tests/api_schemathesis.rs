//! The REST API against its own OpenAPI document, by schemathesis (PyPI): `garrison serve
//! --demo` as its own process, an admin's token, then every operation (but revoking tokens,
//! which would revoke the test's own, and the event stream, which never ends) fuzzed with schema-valid and schema-violating requests
//! and replayed statefully; any server error, response that breaks the schema, valid request
//! refused or invalid request accepted fails the test.
//!
//! Needs the `st` command (`pip install schemathesis`; `.ci/run` installs it); skipped with a
//! loud message when it is absent, unless `GARRISON_REQUIRE_SCHEMATHESIS` is set (as CI does).

mod common;

use common::serving::{add_user, serve_demo};
use std::process::Command;

#[test]
fn the_api_keeps_to_its_openapi_document_under_schemathesis() {
    if Command::new("st").arg("--version").output().is_err() {
        if std::env::var_os("GARRISON_REQUIRE_SCHEMATHESIS").is_some() {
            panic!("schemathesis must run here: no `st` command (pip install schemathesis)");
        }
        eprintln!("\n!!! SKIPPED: no `st` command (pip install schemathesis)\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let serving = serve_demo(&state);
    let url = serving.url.clone();
    add_user(&state, "ada", "admin", "a long passphrase for fuzzing");
    let token = Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args([
            "token",
            "create",
            "--user",
            "ada",
            "--label",
            "schemathesis",
            "--state",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();

    let run = Command::new("st")
        .current_dir(dir.path())
        .args(["run", &format!("{url}/api/v1/openapi.json"), "--url", &url])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        // Not revoking tokens (it would revoke the test's own), nor the event stream (it never
        // ends: it is tested in garrison-server's tests).
        .args(["--checks", "all", "--exclude-operation-id", "revoke_token"])
        .args(["--exclude-operation-id", "events"])
        .args(["--max-examples", "40", "--seed", "20261206", "--no-color"])
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&run.stdout);
    drop(serving);
    assert!(
        run.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("passed"), "{report}");
    let lines: Vec<&str> = report.lines().collect();
    let summary = lines[lines.len().saturating_sub(12)..].join("\n");
    eprintln!("schemathesis:\n{summary}");
}
