//! Evidence and incidents, the same on both stores: every test runs on the embedded SQLite
//! store and on the real PostgreSQL (`GARRISON_POSTGRES_URL`, default the local `test`
//! database), in a schema of its own.

use garrison_model::incident::{Verification, VerificationStatus};
use garrison_model::{Disposition, EvidenceId, EvidenceRef, Incident, IncidentId, Level};
mod common;

use garrison_store::{EvidenceStore, IncidentStore, PostgresStore, SqliteStore, StoredEvent};
use std::sync::Arc;

trait Store: EvidenceStore + IncidentStore {}
impl<T: EvidenceStore + IncidentStore> Store for T {}

/// A PostgreSQL store in a fresh schema.
fn postgres_store() -> PostgresStore {
    common::postgres_store(&common::fresh_schema("gt"), 4)
}

/// Runs `test` on each store.
fn each_store(test: impl Fn(&dyn Store)) {
    let dir = tempfile::tempdir().unwrap();
    test(&SqliteStore::open(dir.path()).unwrap());
    let postgres = postgres_store();
    test(&postgres);
    postgres.drop_schema().unwrap();
}

fn event(record_id: u64, host: &str, second: i64) -> StoredEvent {
    let source = EvidenceRef {
        path: Arc::from("logs/a.evtx"),
        member: None,
        record_id,
        offset: 4096 + record_id,
    };
    StoredEvent {
        id: EvidenceId::of(&source),
        timestamp: Some(jiff::Timestamp::from_second(1_700_000_000 + second).unwrap()),
        host: Some(host.into()),
        user: Some("alice".into()),
        channel: Some("Security".into()),
        event_id: Some(4624),
        source,
        fields: vec![
            ("LogonType".into(), "3".into()),
            ("IpAddress".into(), "10.0.0.5".into()),
        ],
        process_key: Some(format!("guid:{record_id}")),
        parent_key: (record_id > 0).then(|| format!("guid:{}", record_id / 2)),
        session_key: Some(format!(
            "{}:0x{:x}",
            host.to_lowercase(),
            0x1000 + record_id % 2
        )),
        host_address: None,
        lease: None,
    }
}

#[test]
fn an_address_resolves_to_the_host_that_used_it_nearest_in_time() {
    each_store(|store| {
        // 10.0.0.7 was WS01's at minute 0 and, after a DHCP renewal, DC01's at minute 120.
        let mut events = vec![
            event(1, "WS01", 0),
            event(2, "DC01", 120 * 60),
            event(3, "WS02", 0),
        ];
        events[0].host_address = Some("10.0.0.7".into());
        events[1].host_address = Some("10.0.0.7".into());
        events[2].host_address = Some("10.0.0.8".into());
        store.put_events(&events).unwrap();
        let hour = jiff::SignedDuration::from_hours(1);
        let at = |minute: i64| jiff::Timestamp::from_second(1_700_000_000 + minute * 60).unwrap();
        let resolve =
            |address: &str, minute: i64| store.host_with_address(address, at(minute), hour);
        assert_eq!(resolve("10.0.0.7", 10).unwrap().as_deref(), Some("WS01"));
        assert_eq!(resolve("10.0.0.7", 100).unwrap().as_deref(), Some("DC01"));
        assert_eq!(
            resolve("10.0.0.7", 60 * 5).unwrap(),
            None,
            "outside the window"
        );
        assert_eq!(resolve("10.0.0.9", 0).unwrap(), None, "never seen");
        assert_eq!(store.event(events[0].id).unwrap().unwrap(), events[0]);
    });
}

#[test]
fn dhcp_leases_name_the_holder_of_an_address_until_they_end() {
    each_store(|store| {
        let at = |minute: i64| jiff::Timestamp::from_second(1_700_000_000 + minute * 60).unwrap();
        let lease = |record: u64, minute: i64, host: Option<&str>, minutes: Option<i64>| {
            let mut event = event(record, "dhcp-sensor", minute * 60);
            event.lease = Some(garrison_store::Lease {
                address: "10.0.0.7".into(),
                host: host.map(str::to_string),
                until: minutes.map(|length| at(minute + length)),
                released: host.is_none(),
            });
            event
        };
        // LAPTOP1 leases 10.0.0.7 for an hour at minute 0; WS01 is seen using it at minute 50
        // (a sensor's view of a stale address: the lease is the authority while it runs). A new
        // lease goes to LAPTOP2 at minute 70 (open-ended, as dhcpd logs it), released at minute
        // 100.
        let mut seen = event(10, "WS01", 50 * 60);
        seen.host_address = Some("10.0.0.7".into());
        let events = vec![
            lease(1, 0, Some("LAPTOP1"), Some(60)),
            seen,
            lease(2, 70, Some("LAPTOP2"), None),
            lease(3, 100, None, None),
        ];
        store.put_events(&events).unwrap();
        // Stored again (a redelivery): the lease index does not grow or change.
        store.put_events(&events).unwrap();
        let day = jiff::SignedDuration::from_hours(24);
        let resolve = |minute: i64| {
            store
                .host_with_address("10.0.0.7", at(minute), day)
                .unwrap()
        };
        assert_eq!(resolve(10).as_deref(), Some("LAPTOP1"));
        assert_eq!(
            resolve(50).as_deref(),
            Some("LAPTOP1"),
            "the lease, not the sighting"
        );
        // Between the first lease's end and the second lease: the nearest sighting.
        assert_eq!(resolve(65).as_deref(), Some("WS01"));
        assert_eq!(resolve(80).as_deref(), Some("LAPTOP2"));
        // After the release, no lease holds: back to sightings within the window.
        assert_eq!(resolve(120).as_deref(), Some("WS01"));
    });
}

#[test]
fn events_are_stored_once_and_found_by_id_and_by_host_and_time() {
    each_store(|store| {
        let events: Vec<StoredEvent> = (0..10)
            .map(|i| event(i, if i % 2 == 0 { "WS01" } else { "DC01" }, i as i64 * 60))
            .collect();
        assert_eq!(store.put_events(&events).unwrap(), 10);
        assert_eq!(store.put_events(&events[..3]).unwrap(), 0, "already stored");
        assert_eq!(store.event_count().unwrap(), 10);
        let found = store.event(events[3].id).unwrap().unwrap();
        assert_eq!(found, events[3]);
        assert_eq!(found.field("IpAddress"), Some("10.0.0.5"));
        assert_eq!(store.event(EvidenceId(42)).unwrap(), None);
        let from = jiff::Timestamp::from_second(1_700_000_000 + 60).unwrap();
        let to = jiff::Timestamp::from_second(1_700_000_000 + 6 * 60).unwrap();
        let window = store.events_on_host("ws01", from, to, &[], 100).unwrap();
        let records: Vec<u64> = window.iter().map(|e| e.source.record_id).collect();
        assert_eq!(
            records,
            [2, 4, 6],
            "case-insensitive host, inclusive bounds, oldest first"
        );
        assert!(
            store
                .events_on_host("ws01", from, to, &[4688], 100)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .events_on_host("ws01", from, to, &[4624, 1], 2)
                .unwrap()
                .len(),
            2
        );
    });
}

#[test]
fn a_batch_partly_stored_adds_only_its_new_events_and_lookups_take_many_ids() {
    each_store(|store| {
        let events: Vec<StoredEvent> = (0..6).map(|i| event(i, "WS01", i as i64)).collect();
        // New telemetry (PostgreSQL copies it), then a batch overlapping it (inserted with
        // the conflicts skipped), then one holding the same record twice.
        assert_eq!(store.put_events(&events[..3]).unwrap(), 3);
        assert_eq!(store.put_events(&events[2..5]).unwrap(), 2);
        let twice = [events[5].clone(), events[5].clone()];
        assert_eq!(store.put_events(&twice).unwrap(), 1);
        assert_eq!(store.event_count().unwrap(), 6);
        let mut found = store
            .events(&[events[4].id, EvidenceId(42), events[0].id, events[4].id])
            .unwrap();
        found.sort_by_key(|event| event.source.record_id);
        assert_eq!(found, [events[0].clone(), events[4].clone()]);
        assert_eq!(found[1].field("LogonType"), Some("3"));
        assert!(store.events(&[]).unwrap().is_empty());
    });
}

fn incident(version: u64, title: &str) -> Incident {
    Incident {
        id: IncidentId("inc-1".into()),
        version,
        title: title.into(),
        severity: Level::High,
        confidence: 0.8,
        disposition: Disposition::Suspicious,
        escalated: false,
        hypothesis: String::new(),
        tactics: vec!["execution".into()],
        techniques: vec![],
        entities: vec![],
        alerts: vec![],
        evidence: vec![],
        timeline: vec![],
        process_tree: vec![],
        reasoning: vec![],
        verification: Verification {
            status: VerificationStatus::Verified,
            removed_claims: vec![],
        },
        first_seen: None,
        last_seen: None,
        superseded_by: None,
    }
}

#[test]
fn process_starts_and_children_are_found_by_key() {
    each_store(|store| {
        let events: Vec<StoredEvent> = (0..8).map(|i| event(i, "WS01", i as i64)).collect();
        store.put_events(&events).unwrap();
        assert_eq!(
            store.process_start("guid:3").unwrap().unwrap().id,
            events[3].id
        );
        assert_eq!(
            store.process_start("guid:0").unwrap(),
            None,
            "record 0 has no parent: not a start"
        );
        let children: Vec<u64> = store
            .process_children("guid:2", 10)
            .unwrap()
            .iter()
            .map(|e| e.source.record_id)
            .collect();
        assert_eq!(children, [4, 5]);
        assert_eq!(store.process_children("guid:2", 1).unwrap().len(), 1);
        // The events are 4624 logons: the latest of a session's is its start.
        let start = store.session_start("ws01:0x1001").unwrap().unwrap();
        assert_eq!(start.source.record_id, 7);
        assert_eq!(store.session_start("ws01:0x9999").unwrap(), None);
    });
}

#[test]
fn only_newer_incident_versions_replace_stored_ones() {
    each_store(|store| {
        assert!(store.put_incident(&incident(2, "second")).unwrap());
        assert!(!store.put_incident(&incident(1, "first")).unwrap());
        assert!(store.put_incident(&incident(3, "third")).unwrap());
        let stored = store
            .incident(&IncidentId("inc-1".into()))
            .unwrap()
            .unwrap();
        assert_eq!((stored.version, stored.title.as_str()), (3, "third"));
        assert_eq!(store.incidents().unwrap().len(), 1);
    });
}

#[test]
fn text_the_store_cannot_hold_comes_back_as_close_as_it_can() {
    each_store(|store| {
        // Telemetry is attacker-controlled: NUL in a field value comes back exactly, NUL in an
        // indexed column (PostgreSQL text cannot hold it) comes back as U+FFFD.
        let mut nul = event(77, "WS01\0evil", 0);
        nul.fields
            .push(("CommandLine".into(), "cmd.exe\0/c whoami".into()));
        assert_eq!(store.put_events(std::slice::from_ref(&nul)).unwrap(), 1);
        let back = store.event(nul.id).unwrap().unwrap();
        assert_eq!(back.field("CommandLine"), Some("cmd.exe\0/c whoami"));
        assert!(
            matches!(
                back.host.as_deref(),
                Some("WS01\0evil" | "WS01\u{FFFD}evil")
            ),
            "{:?}",
            back.host
        );
    });
}

#[test]
fn the_postgres_journal_keeps_each_handled_message_once_in_order_per_role() {
    use garrison_store::{Journal, JournalEntry};
    let store = postgres_store();
    let entry = |id: &str| JournalEntry {
        id: id.into(),
        subject: "alert.raised".into(),
        sender: "detect/host-1".into(),
        body: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        signature: vec![7; 64],
    };
    assert!(store.record("triage", &entry("a")).unwrap());
    assert!(store.record("triage", &entry("b")).unwrap());
    assert!(!store.record("triage", &entry("a")).unwrap(), "once");
    assert!(
        store.record("investigate", &entry("a")).unwrap(),
        "per role"
    );
    assert!(store.handled("triage", "b").unwrap());
    assert!(!store.handled("investigate", "b").unwrap());
    let all = store.entries("triage", 0, 10).unwrap();
    let ids: Vec<&str> = all.iter().map(|(_, e)| e.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(all[0].1, entry("a"));
    let rest = store.entries("triage", all[0].0, 10).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].1.id, "b");
    store.drop_schema().unwrap();
}

#[test]
fn large_journal_bodies_are_compressed_with_lz4_and_read_back_whole() {
    use garrison_store::{Journal, JournalEntry};
    let schema = common::fresh_schema("gt_lz4");
    let store = common::postgres_store(&schema, 2);
    // A batch of alerts as journaled: large, repetitive JSON.
    let body: Vec<u8> = (0..2_000)
        .map(|n| format!("{{\"id\":\"al-{n}\",\"rule\":\"ssh brute force\"}},"))
        .collect::<String>()
        .into_bytes();
    let entry = JournalEntry {
        id: "big".into(),
        subject: "alert.triaged".into(),
        sender: "triage/host-1".into(),
        body: body.clone(),
        signature: vec![7; 64],
    };
    assert!(store.record("investigate", &entry).unwrap());
    assert_eq!(store.entries("investigate", 0, 1).unwrap()[0].1, entry);
    let mut client = postgres::Client::connect(&common::postgres_url(), postgres::NoTls).unwrap();
    let row = client
        .query_one(
            &format!(
                "SELECT pg_column_compression(body), pg_column_size(body) FROM {schema}.journal"
            ),
            &[],
        )
        .unwrap();
    let (method, stored): (Option<String>, i32) = (row.get(0), row.get(1));
    assert_eq!(method.as_deref(), Some("lz4"));
    assert!(
        (stored as usize) < body.len() / 4,
        "{stored} of {}",
        body.len()
    );
    store.drop_schema().unwrap();
}

#[test]
fn an_owner_whose_role_was_taken_over_can_journal_nothing_more() {
    use garrison_store::{Journal, JournalEntry, StoreError};
    let schema = common::fresh_schema("gt_fence");
    let (old, new) = (
        common::postgres_store(&schema, 2),
        common::postgres_store(&schema, 2),
    );
    let entry = |id: &str| JournalEntry {
        id: id.into(),
        subject: "alert.raised".into(),
        sender: "detect/a".into(),
        body: b"{}".to_vec(),
        signature: vec![0; 64],
    };
    assert_eq!(old.take_role("triage").unwrap(), 1);
    assert!(old.record("triage", &entry("m1")).unwrap());
    assert_eq!(new.take_role("triage").unwrap(), 2);
    assert!(matches!(
        old.record("triage", &entry("m2")),
        Err(StoreError::Fenced { ref role }) if role == "triage"
    ));
    assert!(
        old.record("investigate", &entry("m2")).unwrap(),
        "other roles unaffected"
    );
    assert!(new.record("triage", &entry("m2")).unwrap());
    let ids: Vec<String> = new
        .entries("triage", 0, 10)
        .unwrap()
        .into_iter()
        .map(|(_, entry)| entry.id)
        .collect();
    assert_eq!(ids, ["m1", "m2"]);
    // Nor save its state over the new owner's.
    assert!(matches!(
        old.checkpoint("triage", b"stale"),
        Err(StoreError::Fenced { .. })
    ));
    assert_eq!(new.latest_checkpoint("triage").unwrap(), None);
    new.drop_schema().unwrap();
}

#[test]
fn a_checkpoint_holds_the_journal_so_far_and_empties_what_it_holds() {
    use garrison_store::{Journal, JournalEntry};
    let store = postgres_store();
    let entry = |id: &str| JournalEntry {
        id: id.into(),
        subject: "alert.raised".into(),
        sender: "detect/a".into(),
        body: format!("{{\"n\":\"{id}\"}}").into_bytes(),
        signature: vec![1; 64],
    };
    for id in ["a", "b"] {
        store.record("triage.1", &entry(id)).unwrap();
    }
    store.record("triage.2", &entry("x")).unwrap();
    let position = store.checkpoint("triage.1", b"{\"total\":2}").unwrap();
    let entries = store.entries("triage.1", 0, 10).unwrap();
    assert_eq!(position, entries[1].0, "up to the last entry of its owner");
    assert!(
        entries
            .iter()
            .all(|(_, e)| e.body.is_empty() && e.signature.is_empty()),
        "bodies held by the state are emptied"
    );
    assert!(store.handled("triage.1", "a").unwrap(), "ids stay");
    assert_eq!(
        store.entries("triage.2", 0, 10).unwrap()[0].1,
        entry("x"),
        "other owners untouched"
    );
    store.record("triage.1", &entry("c")).unwrap();
    let after = store.entries("triage.1", position, 10).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].1, entry("c"));
    assert_eq!(
        store.latest_checkpoint("triage.1").unwrap(),
        Some((position, b"{\"total\":2}".to_vec()))
    );
    // The next checkpoint replaces it and empties only what it adds.
    let next = store.checkpoint("triage.1", b"{\"total\":3}").unwrap();
    assert_eq!(next, after[0].0);
    assert!(
        store.entries("triage.1", position, 10).unwrap()[0]
            .1
            .body
            .is_empty()
    );
    assert_eq!(
        store.latest_checkpoint("triage.1").unwrap().unwrap().0,
        next
    );
    assert_eq!(store.latest_checkpoint("triage.3").unwrap(), None);
    store.drop_schema().unwrap();

    // A store told to keep the journal keeps the messages a checkpoint holds.
    let keeping = PostgresStore::connect(&garrison_store::PostgresOptions {
        schema: Some(common::fresh_schema("gt_keep")),
        keep_journal: true,
        ..garrison_store::PostgresOptions::new(common::postgres_url())
    })
    .unwrap();
    keeping.record("triage", &entry("k")).unwrap();
    assert_eq!(keeping.checkpoint("triage", b"{}").unwrap(), 1);
    assert_eq!(keeping.entries("triage", 0, 10).unwrap()[0].1, entry("k"));
    keeping.drop_schema().unwrap();
}

#[test]
fn members_say_they_are_alive_and_which_partitions_they_own() {
    let store = postgres_store();
    let alive = std::time::Duration::from_secs(5);
    assert_eq!(
        store.heartbeat("triage", "b", &[2, 3], alive).unwrap(),
        [("b".to_string(), vec![2, 3])]
    );
    let seen = store.heartbeat("triage", "a", &[0], alive).unwrap();
    assert_eq!(
        seen,
        [("a".to_string(), vec![0]), ("b".to_string(), vec![2, 3])],
        "in name order, each with what it owns"
    );
    assert_eq!(
        store
            .heartbeat("investigate", "a", &[], alive)
            .unwrap()
            .len(),
        1,
        "per role"
    );
    // Said again: the newest list counts. Left: no longer counted.
    store.heartbeat("triage", "b", &[3], alive).unwrap();
    store.leave("triage", "a").unwrap();
    assert_eq!(
        store.heartbeat("triage", "b", &[3], alive).unwrap(),
        [("b".to_string(), vec![3])]
    );
    // Quiet for longer than `alive`: not counted either.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    store.heartbeat("triage", "c", &[], alive).unwrap();
    let recent = store
        .heartbeat("triage", "c", &[], std::time::Duration::from_secs(1))
        .unwrap();
    assert_eq!(recent, [("c".to_string(), vec![])]);
    store.drop_schema().unwrap();
}

#[test]
fn postgres_announces_each_stored_incident_version_with_it() {
    use garrison_model::queue::IncidentSummary;
    use garrison_store::postgres::outbox::INCIDENT;
    let store = postgres_store();
    assert!(store.put_incident(&incident(2, "second")).unwrap());
    // An older version is not stored, so not announced.
    assert!(!store.put_incident(&incident(1, "first")).unwrap());
    assert!(!store.put_incident(&incident(2, "second again")).unwrap());
    assert!(store.put_incident(&incident(3, "third")).unwrap());
    let waiting = store.outbox_pending(&[INCIDENT], 10).unwrap();
    assert_eq!(
        waiting
            .iter()
            .map(|entry| entry.key.as_str())
            .collect::<Vec<_>>(),
        ["incident/inc-1/2", "incident/inc-1/3"]
    );
    let announced: Vec<IncidentSummary> = waiting
        .iter()
        .map(|entry| serde_json::from_str(&entry.body).unwrap())
        .collect();
    assert_eq!(
        announced
            .iter()
            .map(|summary| (summary.version, summary.title.as_str()))
            .collect::<Vec<_>>(),
        [(2, "second"), (3, "third")]
    );
    assert_eq!(store.outbox_pending(&[INCIDENT], 1).unwrap(), waiting[..1]);
    store.drop_schema().unwrap();
}
