//! The supervisor on a workflow whose verifier never answers: the incident is proposed again,
//! then reported unverified and escalated, and all of it is audited. And on a healthy
//! workflow, nothing is retried.

use garrison_agents::messages::{TeamKind, TeamMessage};
use garrison_agents::report::Report;
use garrison_agents::runtime::{Agent, AgentSpec, Context, RuntimeBuilder};
use garrison_agents::supervisor::{Supervisor, SupervisorConfig};
use garrison_agents::{AgentError, SystemClock};
use garrison_bus::{Envelope, InProcessBus, Lineage};
use garrison_model::incident::{Verification, VerificationStatus};
use garrison_model::{Disposition, Incident, IncidentId, Level};
use garrison_store::{IncidentStore, SqliteStore};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A verifier that answers only when `answering` is set, and counts what it saw.
struct Verifier {
    answering: bool,
    seen: Arc<AtomicUsize>,
}

impl Agent<TeamMessage> for Verifier {
    async fn handle(
        &mut self,
        envelope: &Envelope<TeamMessage>,
        _: &Context,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        self.seen.fetch_add(1, Ordering::SeqCst);
        let TeamMessage::IncidentProposed { incident } = &envelope.payload else {
            return Ok(Vec::new());
        };
        if !self.answering {
            return Ok(Vec::new());
        }
        let mut incident = incident.clone();
        incident.verification.status = VerificationStatus::Verified;
        Ok(vec![TeamMessage::IncidentVerified { incident }])
    }
}

fn incident() -> Incident {
    Incident {
        id: IncidentId("inc-stuck".into()),
        version: 1,
        title: "t".into(),
        severity: Level::Medium,
        confidence: 0.5,
        disposition: Disposition::Suspicious,
        escalated: false,
        hypothesis: String::new(),
        tactics: vec![],
        techniques: vec![],
        entities: vec![],
        alerts: vec![],
        evidence: vec![],
        timeline: vec![],
        process_tree: vec![],
        reasoning: vec![],
        verification: Verification {
            status: VerificationStatus::Pending,
            removed_claims: vec![],
        },
        first_seen: None,
        last_seen: None,
        superseded_by: None,
    }
}

async fn run(answering: bool) -> (Arc<SqliteStore>, usize, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let bus = InProcessBus::new();
    let mut builder =
        RuntimeBuilder::<_, TeamMessage>::new(bus.clone(), store.clone(), Arc::new(SystemClock));
    let investigate = builder
        .publisher("investigate", [TeamKind::IncidentProposed])
        .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    builder
        .agent(
            AgentSpec::new(
                "verify",
                vec![TeamKind::IncidentProposed],
                vec![TeamKind::IncidentVerified],
            ),
            move || Verifier {
                answering,
                seen: counter.clone(),
            },
        )
        .unwrap();
    let audit = store.clone();
    builder
        .agent(
            AgentSpec {
                tick: Some(Duration::from_secs(1)),
                ..AgentSpec::new(
                    "supervisor",
                    vec![TeamKind::IncidentProposed, TeamKind::IncidentVerified],
                    vec![TeamKind::IncidentProposed, TeamKind::IncidentStalled],
                )
            },
            move || {
                Supervisor::new(
                    SupervisorConfig {
                        verify_timeout: Duration::from_secs(5),
                        retries: 2,
                    },
                    audit.clone(),
                )
            },
        )
        .unwrap();
    let (incidents, audit) = (store.clone(), store.clone());
    let reported = Arc::new(Mutex::new(BTreeSet::new()));
    builder
        .agent(
            AgentSpec::new(
                "report",
                vec![TeamKind::IncidentVerified, TeamKind::IncidentStalled],
                vec![],
            ),
            move || Report::new(incidents.clone(), audit.clone(), reported.clone()),
        )
        .unwrap();
    let runtime = builder.start().await.unwrap();
    investigate
        .publish(
            TeamMessage::IncidentProposed {
                incident: incident(),
            },
            Lineage::start(),
        )
        .await
        .unwrap();
    // Time passes (paused in the test: advanced as the tasks wait).
    tokio::time::sleep(Duration::from_secs(30)).await;
    runtime.shutdown().await;
    (store, seen.load(Ordering::SeqCst), dir)
}

#[tokio::test(start_paused = true)]
async fn unverified_incidents_are_retried_then_reported_as_stalled_and_escalated() {
    let (store, seen, _dir) = run(false).await;
    assert_eq!(seen, 3, "the first proposal and two retries");
    let stored = store
        .incident(&IncidentId("inc-stuck".into()))
        .unwrap()
        .unwrap();
    assert!(stored.escalated);
    assert_eq!(stored.verification.status, VerificationStatus::Pending);
    let audit: Vec<String> = store
        .audit_entries(1, 20)
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        audit
            .iter()
            .filter(|d| d.contains("proposed again"))
            .count(),
        2,
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|d| d.contains("reported unverified and escalated")),
        "{audit:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn verified_incidents_are_left_alone() {
    let (store, seen, _dir) = run(true).await;
    assert_eq!(seen, 1);
    let stored = store
        .incident(&IncidentId("inc-stuck".into()))
        .unwrap()
        .unwrap();
    assert!(!stored.escalated);
    assert_eq!(stored.verification.status, VerificationStatus::Verified);
    assert!(
        store
            .audit_entries(1, 20)
            .unwrap()
            .iter()
            .all(|e| !e.detail.contains("proposed again"))
    );
}
