//! The REST API against its own OpenAPI document, by schemathesis (PyPI): `garrison serve
//! --demo` as its own process, an admin's token, then every operation (but revoking tokens,
//! which would revoke the test's own, and the event stream, which never ends) fuzzed with schema-valid and schema-violating requests
//! and replayed statefully; any server error, response that breaks the schema, valid request
//! refused or invalid request accepted fails the test.
//!
//! Needs the `st` command (`pip install schemathesis`; `.ci/run` installs it); skipped with a
//! loud message when it is absent, unless `GARRISON_REQUIRE_SCHEMATHESIS` is set (as CI does).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn garrison() -> Command {
    Command::new(env!("CARGO_BIN_EXE_garrison"))
}

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
    let mut child = garrison()
        .args(["serve", "--demo", "--http", "127.0.0.1:0", "--state"])
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("garrison serve starts");
    let stderr = child.stderr.take().unwrap();
    let serving = Serving(child);
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("garrison serve: console on ") {
                let _ = found.send(
                    rest.split(' ')
                        .next()
                        .unwrap_or("")
                        .trim_end_matches('/')
                        .to_string(),
                );
            }
        }
    });
    let url = address
        .recv_timeout(Duration::from_secs(300))
        .expect("the console listens");
    let mut add = garrison()
        .args(["user", "add", "ada", "--role", "admin", "--state"])
        .arg(&state)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "a long passphrase for fuzzing").unwrap();
    assert!(add.wait().unwrap().success());
    let token = garrison()
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
