//! The investigator on its own: what it reads from the evidence store and what it keeps.

use garrison_agents::evidence::alert_from_detection;
use garrison_agents::investigate::{Investigate, InvestigateConfig};
use garrison_agents::messages::{TeamMessage, TriageDecision, TriagedAlert, Verdict};
use garrison_agents::{Agent, Clock, Context};
use garrison_bus::{AgentId, CorrelationId, Envelope, EnvelopeId};
use garrison_model::{EvidenceId, Level, Timestamp};
use garrison_store::{Encoded, EvidenceStore, SqliteStore, StoreError, StoredEvent};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod common;
use common::*;

fn context() -> Context {
    Context {
        agent: AgentId::new("investigate", "1"),
        attempt: 1,
        clock: Arc::new(FixedClock),
        backlog: 0,
        replaying: false,
    }
}

/// Triage's message passing `events`' alerts (of rule `r`) on to investigation.
fn triaged(events: &[StoredEvent]) -> Envelope<TeamMessage> {
    let triaged = events
        .iter()
        .map(|event| {
            let alert = alert_from_detection(&detection("r", Level::High, &[], event), event);
            let decision = TriageDecision {
                alert: alert.id.clone(),
                group: "g".into(),
                duplicate_of: None,
                score: 70,
                verdict: Verdict::Investigate,
                reasons: vec![],
                new_on_host: false,
            };
            TriagedAlert { alert, decision }
        })
        .collect();
    Envelope {
        id: EnvelopeId::new(),
        schema_version: <TeamMessage as garrison_bus::Message>::SCHEMA_VERSION,
        sender: AgentId::new("triage", "1"),
        causation_id: None,
        correlation_id: CorrelationId::new(),
        timestamp: FixedClock.now(),
        payload: TeamMessage::AlertTriaged { triaged },
    }
}

/// An evidence store that counts the reads of records by id.
struct Counted {
    inner: Arc<SqliteStore>,
    /// Reads of one record.
    singles: AtomicUsize,
    /// Reads of many, and the ids they asked for.
    batches: Mutex<Vec<Vec<EvidenceId>>>,
}

impl EvidenceStore for Counted {
    fn put_encoded(&self, events: &[Encoded<'_>]) -> Result<usize, StoreError> {
        self.inner.put_encoded(events)
    }
    fn event(&self, id: EvidenceId) -> Result<Option<StoredEvent>, StoreError> {
        self.singles.fetch_add(1, Ordering::Relaxed);
        self.inner.event(id)
    }
    fn events(&self, ids: &[EvidenceId]) -> Result<Vec<StoredEvent>, StoreError> {
        self.batches.lock().unwrap().push(ids.to_vec());
        self.inner.events(ids)
    }
    fn events_on_host(
        &self,
        host: &str,
        from: Timestamp,
        to: Timestamp,
        event_ids: &[u32],
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.events_on_host(host, from, to, event_ids, limit)
    }
    fn event_count(&self) -> Result<u64, StoreError> {
        self.inner.event_count()
    }
    fn process_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.process_start(key)
    }
    fn process_children(&self, key: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.process_children(key, limit)
    }
    fn session_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.session_start(key)
    }
    fn host_with_address(
        &self,
        address: &str,
        at: Timestamp,
        window: jiff::SignedDuration,
    ) -> Result<Option<String>, StoreError> {
        self.inner.host_with_address(address, at, window)
    }
}

#[tokio::test]
async fn a_case_reads_the_records_of_its_new_alerts_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let incidents = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let store = Arc::new(Counted {
        inner: incidents.clone(),
        singles: AtomicUsize::new(0),
        batches: Mutex::new(Vec::new()),
    });
    let mut investigate = Investigate::new(InvestigateConfig::default(), store.clone(), incidents);
    // Eight process starts on one host a minute apart: one story, told in two messages.
    let events: Vec<StoredEvent> = (0..8u64)
        .map(|n| {
            let guid = format!("{{G{n}}}");
            process(200 + n, "WS07", n as i64, &guid, "{P}", "a.exe", "a")
        })
        .collect();
    store.put_events(&events).unwrap();
    let ids = |events: &[StoredEvent]| {
        let mut ids: Vec<EvidenceId> = events.iter().map(|event| event.id).collect();
        ids.sort_unstable();
        ids
    };

    let out = investigate
        .handle(&triaged(&events[..5]), &context())
        .await
        .unwrap();
    let [TeamMessage::IncidentProposed { incident }] = out.as_slice() else {
        panic!("one incident proposed: {out:?}");
    };
    assert_eq!(incident.alerts.len(), 5);
    assert_eq!(*store.batches.lock().unwrap(), [ids(&events[..5])]);
    assert_eq!(store.singles.load(Ordering::Relaxed), 0);

    // The case grows: only the three new records are read, in one query again.
    let out = investigate
        .handle(&triaged(&events[5..]), &context())
        .await
        .unwrap();
    let [TeamMessage::IncidentProposed { incident }] = out.as_slice() else {
        panic!("the incident proposed again: {out:?}");
    };
    assert_eq!(incident.alerts.len(), 8);
    let cited: Vec<EvidenceId> = incident.evidence.iter().map(|item| item.id).collect();
    assert_eq!(cited.len(), 8, "every alert's record is cited");
    assert_eq!(
        *store.batches.lock().unwrap(),
        [ids(&events[..5]), ids(&events[5..])]
    );
    assert_eq!(store.singles.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn investigation_forgets_incidents_no_alert_can_join_any_more() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut investigate =
        Investigate::new(InvestigateConfig::default(), store.clone(), store.clone());
    let mut published = 0;
    for hour in 0..12u64 {
        // One alert every three hours on the same host: too far apart to be linked.
        let minute = hour as i64 * 180;
        let event = process(
            100 + hour,
            "WS09",
            minute,
            &format!("{{G{hour}}}"),
            "{P}",
            "a.exe",
            "a",
        );
        store.put_events(std::slice::from_ref(&event)).unwrap();
        let envelope = triaged(std::slice::from_ref(&event));
        published += investigate
            .handle(&envelope, &context())
            .await
            .unwrap()
            .len();
        assert!(
            investigate.open_cases() <= 2,
            "hour {hour}: {}",
            investigate.open_cases()
        );
    }
    assert_eq!(published, 12, "each alert still became its own incident");
}
