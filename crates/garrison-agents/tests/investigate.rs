//! The investigator on its own: what it reads from the evidence store and what it keeps.

use garrison_agents::evidence::alert_from_detection;
use garrison_agents::investigate::{Investigate, InvestigateConfig};
use garrison_agents::messages::{TeamMessage, TriageDecision, TriagedAlert, Verdict};
use garrison_agents::{Agent, Clock, Context};
use garrison_bus::{AgentId, CorrelationId, Envelope, EnvelopeId};
use garrison_model::{AlertId, EvidenceId, Incident, Level, Timestamp};
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
    message(events.iter().map(|event| decided(event, None)).collect())
}

/// The alert of rule `r` on `event`, to be investigated, repeating `duplicate_of` when given.
fn decided(event: &StoredEvent, duplicate_of: Option<&AlertId>) -> TriagedAlert {
    let alert = alert_from_detection(&detection("r", Level::High, &[], event), event);
    let decision = TriageDecision {
        alert: alert.id.clone(),
        group: "g".into(),
        duplicate_of: duplicate_of.cloned(),
        score: 70,
        verdict: Verdict::Investigate,
        reasons: vec![],
        new_on_host: false,
    };
    TriagedAlert { alert, decision }
}

fn message(triaged: Vec<TriagedAlert>) -> Envelope<TeamMessage> {
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
        // A repeat a minute later counts on this incident, whatever was forgotten before it.
        let repeat = common::event(200 + hour, "WS09", minute + 1, 1, &[]);
        store.put_events(std::slice::from_ref(&repeat)).unwrap();
        let first = decided(&event, None).alert.id;
        let incident = format!("inc-{:016x}", event.id.0);
        let repeated = vec![decided(&repeat, Some(&first))];
        let counted = after(&mut investigate, repeated, &incident, &first).await;
        assert_eq!(counted, (1, Some(1)), "hour {hour}");
    }
    assert_eq!(published, 12, "each alert still became its own incident");
}

/// The incident `id` among what investigation published.
fn proposed<'a>(out: &'a [TeamMessage], id: &str) -> &'a Incident {
    out.iter()
        .find_map(|message| match message {
            TeamMessage::IncidentProposed { incident } if incident.id.0 == id => Some(incident),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{id} not proposed: {out:?}"))
}

/// Incident `id` as investigation publishes it after `triaged`: how many alerts it lists, and
/// how often it counted `alert` repeated.
async fn after(
    investigate: &mut Investigate,
    triaged: Vec<TriagedAlert>,
    id: &str,
    alert: &AlertId,
) -> (usize, Option<u64>) {
    let out = investigate
        .handle(&message(triaged), &context())
        .await
        .unwrap();
    let incident = proposed(&out, id);
    (incident.alerts.len(), repeats(incident, alert))
}

/// How often the incident counted `alert` repeated, `None` when it does not list it.
fn repeats(incident: &Incident, alert: &AlertId) -> Option<u64> {
    incident
        .alerts
        .iter()
        .find(|summary| &summary.id == alert)
        .map(|summary| summary.repeats)
}

#[tokio::test]
async fn repeats_count_on_the_incident_holding_their_alert_through_merges_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let fresh = || Investigate::new(InvestigateConfig::default(), store.clone(), store.clone());
    let mut investigate = fresh();
    let on = |record: u64, host: &str, minute: i64, user: &str| {
        let mut event = event(record, host, minute, 1, &[("User", user)]);
        event.user = Some(user.into());
        event
    };
    let (alice, bob) = ("CORP\\alice", "CORP\\bob");
    // Alice on WS01, Bob on WS02: two incidents.
    let (a1, b1) = (on(1, "WS01", 0, alice), on(2, "WS02", 1, bob));
    // Repeats of their alerts, and Alice on WS02, which ties the two together.
    let (repeat_a, tie, repeat_b) = (
        on(3, "WS01", 2, alice),
        on(4, "WS02", 3, alice),
        on(5, "WS02", 4, bob),
    );
    let again_a = on(6, "WS01", 5, alice);
    // The same alert repeated in another file: listed, so that file is cited too.
    let mut elsewhere = on(7, "WS01", 6, alice);
    elsewhere.source.path = Arc::from("WS01-copy.evtx");
    elsewhere.id = EvidenceId::of(&elsewhere.source);
    let events = [&a1, &b1, &repeat_a, &tie, &repeat_b, &again_a, &elsewhere].map(Clone::clone);
    store.put_events(&events).unwrap();
    let (a, b) = (decided(&a1, None), decided(&b1, None));
    let (a_id, b_id) = (a.alert.id.clone(), b.alert.id.clone());
    let incident_a = format!("inc-{:016x}", a1.id.0);
    let incident_b = format!("inc-{:016x}", b1.id.0);
    let (repeat_a, repeat_b) = (
        decided(&repeat_a, Some(&a_id)),
        decided(&repeat_b, Some(&b_id)),
    );
    let (again_a, elsewhere) = (
        decided(&again_a, Some(&a_id)),
        decided(&elsewhere, Some(&a_id)),
    );

    let out = investigate
        .handle(&message(vec![a, b]), &context())
        .await
        .unwrap();
    assert_eq!(repeats(proposed(&out, &incident_a), &a_id), Some(0));
    assert_eq!(repeats(proposed(&out, &incident_b), &b_id), Some(0));
    assert_eq!(investigate.open_cases(), 2);

    // A repeat is counted on its alert, not listed.
    let counted = after(&mut investigate, vec![repeat_a], &incident_a, &a_id).await;
    assert_eq!(counted, (1, Some(1)));

    // Alice on WS02 ties the two together: Bob's incident is merged into Alice's, and a
    // repeat of Bob's alert in the same message counts there.
    let out = investigate
        .handle(&message(vec![decided(&tie, None), repeat_b]), &context())
        .await
        .unwrap();
    assert_eq!(
        proposed(&out, &incident_b)
            .superseded_by
            .as_ref()
            .map(|id| id.0.as_str()),
        Some(incident_a.as_str())
    );
    let incident = proposed(&out, &incident_a);
    assert_eq!(
        (incident.alerts.len(), repeats(incident, &b_id)),
        (3, Some(1))
    );

    // Restarted from its checkpoint, it still knows where Alice's alert is.
    let state = investigate.checkpoint().expect("a checkpoint");
    let mut investigate = fresh();
    investigate.restore(&state).unwrap();
    let counted = after(&mut investigate, vec![again_a], &incident_a, &a_id).await;
    assert_eq!(counted, (3, Some(2)));
    let counted = after(&mut investigate, vec![elsewhere], &incident_a, &a_id).await;
    assert_eq!(counted, (4, Some(2)));
}
