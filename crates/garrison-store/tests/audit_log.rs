//! The audit log through the SQLite store: appends chain, and tampering with the database file
//! directly (as an attacker with file access would) is caught and located.

mod common;

use garrison_store::audit::ChainViolation;
use garrison_store::{AuditAction, AuditRecord, ChainHead, SqliteStore};
use rusqlite::Connection;

fn record(i: usize) -> AuditRecord {
    AuditRecord {
        actor: format!("triage/{}", i % 3),
        action: AuditAction::DecisionRecorded,
        subject: format!("alert-{i}"),
        detail: format!("score {i}"),
    }
}

fn store_with(entries: usize) -> (tempfile::TempDir, SqliteStore, ChainHead) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let start: jiff::Timestamp = "2026-11-26T00:00:00Z".parse().unwrap();
    for i in 0..entries {
        let at = start + jiff::SignedDuration::from_secs(i as i64);
        store.append_audit(&record(i), at).unwrap();
    }
    let head = store.audit_head().unwrap().unwrap();
    (dir, store, head)
}

fn tamper(store: &SqliteStore, sql: &str) {
    let connection = Connection::open(store.path()).unwrap();
    connection.execute_batch(sql).unwrap();
}

#[test]
fn appended_entries_form_a_chain_that_verifies() {
    let (_dir, store, head) = store_with(25);
    assert_eq!(head.seq, 25);
    let report = store.verify_audit(Some(head)).unwrap();
    assert_eq!(report.violation, None);
    assert_eq!(report.checked, 25);
    assert_eq!(report.head, Some(head));
    let entries = store.audit_entries(1, 100).unwrap();
    assert_eq!(entries.len(), 25);
    assert_eq!(entries[3].subject, "alert-3");
    assert_eq!(entries[3].action, "decision_recorded");
    assert_eq!(entries[4].prev_hash, entries[3].hash);
}

#[test]
fn reopening_continues_the_same_chain() {
    let (dir, store, _) = store_with(3);
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    let entry = store
        .append_audit(&record(9), "2026-11-26T02:00:00Z".parse().unwrap())
        .unwrap();
    assert_eq!(entry.seq, 4);
    assert_eq!(store.verify_audit(None).unwrap().violation, None);
}

#[test]
fn an_edited_entry_is_named() {
    let (_dir, store, _) = store_with(10);
    tamper(
        &store,
        "UPDATE audit_log SET detail = 'benign' WHERE seq = 6",
    );
    let report = store.verify_audit(None).unwrap();
    assert_eq!(report.violation, Some(ChainViolation::Edited { seq: 6 }));
    assert_eq!(report.checked, 5);
}

#[test]
fn a_deleted_entry_is_named() {
    let (_dir, store, _) = store_with(10);
    tamper(&store, "DELETE FROM audit_log WHERE seq = 4");
    let report = store.verify_audit(None).unwrap();
    assert_eq!(
        report.violation,
        Some(ChainViolation::Gap {
            seq: 5,
            expected: 4
        })
    );
}

#[test]
fn reordered_entries_are_caught() {
    let (_dir, store, _) = store_with(10);
    // Swap two entries' contents, keeping their hashes with them.
    tamper(
        &store,
        "UPDATE audit_log SET seq = -3 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = 7;
         UPDATE audit_log SET seq = 7 WHERE seq = -3;",
    );
    let report = store.verify_audit(None).unwrap();
    assert_eq!(
        report.violation,
        Some(ChainViolation::BrokenLink { seq: 3 })
    );
}

#[test]
fn an_inserted_entry_is_caught() {
    let (_dir, store, _) = store_with(5);
    tamper(
        &store,
        "UPDATE audit_log SET seq = -(seq + 1) WHERE seq >= 3;
         UPDATE audit_log SET seq = -seq WHERE seq < 0;
         INSERT INTO audit_log SELECT 3, at, actor, action, 'forged', detail, prev_hash, hash
           FROM audit_log WHERE seq = 2;",
    );
    let violation = store.verify_audit(None).unwrap().violation.unwrap();
    assert_eq!(violation.seq(), Some(3));
}

#[test]
fn truncation_is_caught_by_the_stored_head_and_by_a_head_kept_elsewhere() {
    let (_dir, store, head) = store_with(8);
    tamper(&store, "DELETE FROM audit_log WHERE seq > 6");
    assert!(matches!(
        store.verify_audit(None).unwrap().violation,
        Some(ChainViolation::HeadMismatch { .. })
    ));
    // An attacker who also rewrites the stored head still cannot reach the head kept outside.
    tamper(
        &store,
        "UPDATE audit_head SET seq = 6, hash = (SELECT hash FROM audit_log WHERE seq = 6)",
    );
    assert_eq!(store.verify_audit(None).unwrap().violation, None);
    assert_eq!(
        store.verify_audit(Some(head)).unwrap().violation,
        Some(ChainViolation::ExpectedHeadMissing { expected: head })
    );
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let (dir, store, _) = store_with(1);
    tamper(&store, "PRAGMA user_version = 99");
    drop(store);
    let error = SqliteStore::open(dir.path()).unwrap_err();
    assert!(
        error.to_string().contains("newer than this build"),
        "{error}"
    );
    assert!(!error.is_retryable());
}

mod postgres {
    //! The same chain in PostgreSQL, written by many connections of several stores at once
    //! (as agents in several processes write it).

    use super::record;
    use std::sync::Arc;

    fn store(schema: &str) -> garrison_store::PostgresStore {
        crate::common::postgres_store(schema, 3)
    }

    #[test]
    fn concurrent_writers_in_several_stores_keep_one_chain_and_tampering_is_found() {
        let schema = crate::common::fresh_schema("gt_audit");
        let stores = [Arc::new(store(&schema)), Arc::new(store(&schema))];
        let at: jiff::Timestamp = "2026-11-26T00:00:00Z".parse().unwrap();
        std::thread::scope(|scope| {
            for writer in 0..6 {
                let store = stores[writer % 2].clone();
                scope.spawn(move || {
                    for i in 0..40 {
                        store.append_audit(&record(writer * 100 + i), at).unwrap();
                    }
                });
            }
        });
        let head = stores[0].audit_head().unwrap().unwrap();
        assert_eq!(head.seq, 240, "every append got its own place");
        let report = stores[1].verify_audit(Some(head)).unwrap();
        assert_eq!((report.checked, report.violation), (240, None));
        let entries = stores[0].audit_entries(1, 1000).unwrap();
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=240).collect::<Vec<_>>());
        // An edit made directly in the database breaks the chain where it was made.
        let mut client =
            postgres::Client::connect(&crate::common::postgres_url(), postgres::NoTls).unwrap();
        client
            .batch_execute(&format!(
                "UPDATE {schema}.audit_log SET detail = 'nothing to see' WHERE seq = 17"
            ))
            .unwrap();
        let violation = stores[0]
            .verify_audit(Some(head))
            .unwrap()
            .violation
            .unwrap();
        assert_eq!(violation.seq(), Some(17), "{violation}");
        // A second store opened on a migrated schema migrates nothing and continues the chain.
        let again = store(&schema);
        assert_eq!(again.audit_head().unwrap(), Some(head));
        again.drop_schema().unwrap();
    }
}
