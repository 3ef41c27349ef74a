//! The correlate agent over a toy correlation (three sightings with one key): each completed
//! correlation raised once, from the stored event it cites; a sighting whose event is not
//! stored yet keeps nothing, so the message handled again raises it; a restored checkpoint
//! raises nothing twice; sightings out of reach are forgotten.

use garrison_agents::correlate::{
    CORRELATE_EVERY, Correlate, Correlator, EVERY_PARTITION, SIGHTING_BATCH, SightingRecord,
    batches, keep_recent,
};
use garrison_agents::messages::TeamMessage;
use garrison_bus::Message;
use garrison_model::{Detection, EvidenceId, EvidenceRef, Level, RuleInfo, Timestamp};
use garrison_store::{EvidenceStore, SqliteStore, StoredEvent};
use std::sync::Arc;

/// Fires on every third sighting of one key in the partition.
struct Threes;

impl Correlator for Threes {
    fn admit(&self, sightings: &[SightingRecord]) -> Result<(), String> {
        match sightings.iter().find(|s| s.keys.is_empty()) {
            Some(keyless) => Err(format!("no key: {}", keyless.evidence)),
            None => Ok(()),
        }
    }

    fn correlate(
        &self,
        sightings: &[SightingRecord],
        partition: u32,
        partitions: u32,
    ) -> Result<Vec<Detection>, String> {
        let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
        let mut found = Vec::new();
        for sighting in sightings {
            let key = sighting.keys[0].as_str();
            if garrison_bus::partition_of(key, partitions) != partition {
                continue;
            }
            let count = seen.entry(key).or_default();
            *count += 1;
            if (*count).is_multiple_of(3) {
                found.push(Detection {
                    rule: Arc::new(RuleInfo {
                        id: "threes".into(),
                        title: "Three of a kind".into(),
                        level: Level::High,
                        tags: vec![],
                        status: None,
                        description: None,
                        author: None,
                        references: vec![],
                        falsepositives: vec![],
                        path: "test".into(),
                        kind: garrison_model::detection::RuleKind::Correlation,
                    }),
                    timestamp: Some(sighting.timestamp),
                    evidence: sighting.evidence.clone(),
                    computer: sighting.computer.clone(),
                    channel: None,
                    event_id: None,
                    fields: vec![("user".into(), key.into())],
                    correlation: None,
                });
            }
        }
        Ok(found)
    }

    fn horizon(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(1)
    }
}

fn at(minute: i64) -> Timestamp {
    Timestamp::from_second(1_760_000_000 + minute * 60).unwrap()
}

fn source(record: u64) -> EvidenceRef {
    EvidenceRef {
        path: Arc::from("auth.log"),
        member: None,
        record_id: record,
        offset: record * 100,
    }
}

fn sighting(record: u64, minute: i64, user: &str) -> SightingRecord {
    SightingRecord {
        rule: "failed".into(),
        timestamp: at(minute),
        evidence: source(record),
        computer: Some("web01".into()),
        channel: None,
        event_id: None,
        fields: vec![("user".into(), user.into())],
        keys: vec![user.into()],
    }
}

fn stored(record: u64, minute: i64) -> StoredEvent {
    StoredEvent {
        id: EvidenceId::of(&source(record)),
        timestamp: Some(at(minute)),
        host: Some("web01".into()),
        user: None,
        channel: None,
        event_id: None,
        source: source(record),
        fields: vec![],
        process_key: None,
        parent_key: None,
        session_key: None,
        host_address: None,
        lease: None,
    }
}

#[test]
fn correlations_are_raised_once_from_stored_events_and_survive_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut agent = Correlate::new(Arc::new(Threes), store.clone(), 0, 1);

    // Two of alice's, one of bob's: nothing yet.
    store
        .put_events(&[stored(1, 0), stored(2, 1), stored(3, 2)])
        .unwrap();
    let first = [
        sighting(1, 0, "alice"),
        sighting(2, 1, "alice"),
        sighting(3, 2, "bob"),
    ];
    assert!(agent.add(&first, true).unwrap().is_empty());

    // A sighting the correlator refuses: a permanent error, nothing kept.
    let mut keyless = sighting(9, 2, "alice");
    keyless.keys.clear();
    let error = agent.add(&[keyless], true).unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(agent.held(), 3);

    // Alice's third cites an event not stored yet: an error worth retrying, nothing kept.
    let third = [sighting(4, 3, "alice")];
    let error = agent.add(&third, true).unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(agent.held(), 3);
    store.put_events(&[stored(4, 3)]).unwrap();
    let raised = agent.add(&third, true).unwrap();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].evidence, EvidenceId::of(&source(4)));
    assert_eq!(raised[0].rule.id, "threes");
    assert_eq!(agent.held(), 4);

    // A new owner restores the checkpoint: what was raised is not raised again, and the
    // count goes on from the restored sightings.
    use garrison_agents::Agent;
    let saved = agent.checkpoint().unwrap();
    let mut taken_over = Correlate::new(Arc::new(Threes), store.clone(), 0, 1);
    taken_over.restore(&saved).unwrap();
    assert_eq!(taken_over.held(), 4);
    store.put_events(&[stored(5, 4), stored(6, 5)]).unwrap();
    let raised = taken_over
        .add(&[sighting(5, 4, "bob"), sighting(6, 5, "bob")], true)
        .unwrap();
    assert_eq!(raised.len(), 1, "bob's third, not alice's again");
    assert_eq!(raised[0].evidence, EvidenceId::of(&source(6)));

    // Two hours on, the old sightings are out of reach.
    store.put_events(&[stored(7, 125)]).unwrap();
    assert!(
        taken_over
            .add(&[sighting(7, 125, "carol")], true)
            .unwrap()
            .is_empty()
    );
    assert_eq!(taken_over.held(), 1);
}

#[test]
fn a_partition_correlates_only_its_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let users = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    ];
    let mut raised = Vec::new();
    for partition in 0..4 {
        let mut agent = Correlate::new(Arc::new(Threes), store.clone(), partition, 4);
        let mut record = 0;
        for user in users {
            for minute in 0..3 {
                record += 1;
                store.put_events(&[stored(record, minute)]).unwrap();
                let found = agent.add(&[sighting(record, minute, user)], true).unwrap();
                raised.extend(found.into_iter().map(|alert| (partition, alert.evidence)));
            }
        }
    }
    // Each user's third sighting, raised by exactly one partition: its key's.
    assert_eq!(raised.len(), users.len(), "{raised:?}");
    let partitions: std::collections::BTreeSet<u32> = raised.iter().map(|(p, _)| *p).collect();
    assert!(partitions.len() > 1, "the users spread over partitions");
}

#[test]
fn keeping_recent_sightings_survives_times_at_the_edge_of_time() {
    let mut times = vec![Timestamp::MIN, at(0), at(30), at(90)];
    let horizon = keep_recent(&mut times, |t| *t, jiff::SignedDuration::from_hours(1), 10);
    assert_eq!(horizon, Some(at(30)));
    assert_eq!(times, vec![at(30), at(90)]);
    let mut edge = vec![Timestamp::MIN];
    let horizon = keep_recent(&mut edge, |t| *t, jiff::SignedDuration::from_hours(1), 10);
    assert_eq!(horizon, Some(Timestamp::MIN));
    assert_eq!(edge.len(), 1);
    // Past the cap, the newest are kept.
    let mut many: Vec<Timestamp> = (0..10).rev().map(at).collect();
    keep_recent(&mut many, |t| *t, jiff::SignedDuration::from_hours(1), 3);
    assert_eq!(many, vec![at(7), at(8), at(9)]);
}

#[test]
fn sightings_are_sent_in_batches_of_bounded_size() {
    let small: Vec<SightingRecord> = (0..2_500).map(|n| sighting(n, 0, "alice")).collect();
    let cut = batches(&small);
    assert_eq!(
        cut.iter().map(|b| b.len()).collect::<Vec<_>>(),
        [SIGHTING_BATCH, SIGHTING_BATCH, 452]
    );
    // Long values: fewer per batch, each batch well under NATS's 1 MiB, nothing lost.
    let long: Vec<SightingRecord> = (0..300)
        .map(|n| {
            let mut sighting = sighting(n, 0, "alice");
            sighting
                .fields
                .push(("CommandLine".into(), "x".repeat(4_000)));
            sighting
        })
        .collect();
    let cut = batches(&long);
    assert!(cut.len() >= 5, "{}", cut.len());
    assert_eq!(cut.iter().map(|b| b.len()).sum::<usize>(), 300);
    for batch in &cut {
        assert!(serde_json::to_vec(batch).unwrap().len() < 512 * 1024);
    }
    assert!(batches(&[]).is_empty());
}

#[test]
fn correlations_run_every_so_many_sightings_and_at_an_end_marker() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut agent = Correlate::new(Arc::new(Threes), store.clone(), 0, 1);
    let events: Vec<StoredEvent> = (1..=3).map(|n| stored(n, 0)).collect();
    store.put_events(&events).unwrap();
    let three: Vec<SightingRecord> = (1..=3).map(|n| sighting(n, 0, "alice")).collect();
    // Held, not yet correlated: the message says more is coming.
    assert!(agent.add(&three, false).unwrap().is_empty());
    assert_eq!(agent.held(), 3);
    // The end marker: correlated now.
    assert_eq!(agent.add(&[], true).unwrap().len(), 1);
    assert!(agent.add(&[], true).unwrap().is_empty(), "raised once");
    // A flood correlates on its own every CORRELATE_EVERY sightings.
    let mut agent = Correlate::new(Arc::new(Threes), store.clone(), 0, 1);
    let flood: Vec<SightingRecord> = (0..CORRELATE_EVERY as u64)
        .map(|n| sighting(1 + n % 3, 0, &format!("user{}", n / 3)))
        .collect();
    let (first, rest) = flood.split_at(CORRELATE_EVERY - 1);
    assert!(agent.add(first, false).unwrap().is_empty());
    assert!(!agent.add(rest, false).unwrap().is_empty());
}

#[test]
fn an_end_marker_reaches_every_partition_and_each_accepts_its_own() {
    let end = TeamMessage::Sighted {
        sightings: Vec::new(),
        end: Some(EVERY_PARTITION),
    };
    let parts = end.split(4);
    assert_eq!(parts.len(), 4);
    for (partition, part) in parts {
        assert_eq!(part.partition(4), Some(partition));
        assert!(matches!(part, TeamMessage::Sighted { end: Some(p), .. } if p == partition));
    }
    // An end marker carrying sightings: each partition gets its own part of them, marked.
    let users = ["alice", "bob", "carol", "dave", "erin", "frank"];
    let carrying = TeamMessage::Sighted {
        sightings: users.map(|u| sighting(1, 0, u)).to_vec(),
        end: Some(EVERY_PARTITION),
    };
    let parts = carrying.split(4);
    assert_eq!(parts.len(), 4);
    let mut carried = 0;
    for (partition, part) in &parts {
        assert_eq!(part.partition(4), Some(*partition));
        let TeamMessage::Sighted { sightings, end } = part else {
            panic!("{part:?}");
        };
        assert_eq!(*end, Some(*partition));
        carried += sightings.len();
    }
    assert_eq!(carried, users.len(), "each sighting once");
    // A marked part holding another partition's sighting is refused there.
    let forged = TeamMessage::Sighted {
        sightings: vec![sighting(1, 0, "alice")],
        end: Some((garrison_bus::partition_of("alice", 4) + 1) % 4),
    };
    assert_eq!(forged.partition(4), None);
    // Data is cut by key; every part is its partition's.
    let data = TeamMessage::Sighted {
        sightings: ["alice", "bob", "carol", "dave"]
            .map(|u| sighting(1, 0, u))
            .to_vec(),
        end: None,
    };
    for (partition, part) in data.split(4) {
        assert_eq!(part.partition(4), Some(partition));
    }
}
