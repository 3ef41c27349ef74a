//! `garrison audit verify` and `garrison audit head` on a store written through the library, then
//! tampered with directly in the database file.

mod common;

use common::garrison;
use garrison_store::{AuditAction, AuditRecord, SqliteStore};

fn store(entries: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    for i in 0..entries {
        let record = AuditRecord {
            actor: "verify/1".into(),
            action: AuditAction::IncidentUpdated,
            subject: format!("incident-{i}"),
            detail: "claim removed: unsupported".into(),
        };
        store
            .append_audit(&record, "2026-11-26T01:00:00Z".parse().unwrap())
            .unwrap();
    }
    dir
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = garrison(args);
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn verify_passes_an_intact_log_and_names_the_first_tampered_entry() {
    let dir = store(12);
    let state = dir.path().to_str().unwrap();
    let (code, stdout, _) = run(&["audit", "verify", "--state", state]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("intact: 12 entries"), "{stdout}");

    let (code, head, _) = run(&["audit", "head", "--state", state]);
    assert_eq!(code, 0);
    let head = head.trim().to_string();
    assert!(head.starts_with("12:") && head.len() == 3 + 64, "{head}");
    let (code, _, _) = run(&["audit", "verify", "--state", state, "--expect-head", &head]);
    assert_eq!(code, 0);

    let database = dir.path().join(garrison_store::sqlite::DATABASE_FILE);
    let connection = rusqlite::Connection::open(&database).unwrap();
    connection
        .execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 7", [])
        .unwrap();
    drop(connection);
    let (code, stdout, _) = run(&["audit", "verify", "--state", state]);
    assert_eq!(code, 6, "{stdout}");
    assert!(stdout.contains("TAMPERED: entry 7"), "{stdout}");
    assert!(stdout.contains("6 entries verified"), "{stdout}");
}

#[test]
fn a_truncated_log_fails_against_the_head_kept_elsewhere() {
    let dir = store(5);
    let state = dir.path().to_str().unwrap();
    let (_, head, _) = run(&["audit", "head", "--state", state]);
    let database = dir.path().join(garrison_store::sqlite::DATABASE_FILE);
    let connection = rusqlite::Connection::open(&database).unwrap();
    connection
        .execute_batch(
            "DELETE FROM audit_log WHERE seq = 5;
             UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4);",
        )
        .unwrap();
    drop(connection);
    let (code, _, _) = run(&["audit", "verify", "--state", state]);
    assert_eq!(
        code, 0,
        "a consistent shorter chain is all the store alone can see"
    );
    let (code, stdout, _) = run(&[
        "audit",
        "verify",
        "--state",
        state,
        "--expect-head",
        head.trim(),
    ]);
    assert_eq!(code, 6, "{stdout}");
    assert!(
        stdout.contains("does not contain the expected head"),
        "{stdout}"
    );
}

#[test]
fn usage_and_missing_store_errors() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let (code, _, stderr) = run(&["audit", "verify", "--state", state]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no store in"), "{stderr}");
    let dir = store(1);
    let state = dir.path().to_str().unwrap();
    let (code, _, stderr) = run(&["audit", "verify", "--state", state, "--expect-head", "x"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not SEQ:HASH"), "{stderr}");
}
