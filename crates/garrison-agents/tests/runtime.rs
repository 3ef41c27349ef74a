//! The agent runtime with small agents over the in-process bus and a real SQLite audit log:
//! messages flow with their lineage, failing agents are restarted and their message redelivered,
//! untrusted or replayed messages are refused or skipped, and all of it is audited.

use garrison_agents::{Agent, AgentError, AgentSpec, Clock, Context, RuntimeBuilder};
use garrison_bus::{AgentId, AgentKeys, Bus, Envelope, EnvelopeId, InProcessBus, Lineage, Message};
use garrison_store::SqliteStore;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Msg {
    AlertRaised { rule: String },
    IncidentOpened { title: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    AlertRaised,
    IncidentOpened,
}

impl Message for Msg {
    type Kind = Kind;
    const SCHEMA_VERSION: u16 = 1;
    fn kind(&self) -> Kind {
        match self {
            Msg::AlertRaised { .. } => Kind::AlertRaised,
            Msg::IncidentOpened { .. } => Kind::IncidentOpened,
        }
    }
    fn subject(kind: Kind) -> &'static str {
        match kind {
            Kind::AlertRaised => "alert.raised",
            Kind::IncidentOpened => "incident.opened",
        }
    }
}

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> jiff::Timestamp {
        "2026-11-26T02:00:00Z".parse().unwrap()
    }
}

/// Opens an incident per alert; panics on rules named `panic-*` while `panics` is positive.
struct Triage {
    panics: Arc<AtomicUsize>,
    handled: Arc<AtomicUsize>,
}

impl Agent<Msg> for Triage {
    async fn handle(
        &mut self,
        envelope: &Envelope<Msg>,
        _: &Context,
    ) -> Result<Vec<Msg>, AgentError> {
        let Msg::AlertRaised { rule } = &envelope.payload else {
            return Err(AgentError::Permanent("triage reads alerts".into()));
        };
        if rule.starts_with("panic")
            && self
                .panics
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            panic!("triage bug on {rule}");
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        if rule == "overreach" {
            // Triage may not raise alerts: the runtime refuses to publish this.
            return Ok(vec![Msg::AlertRaised {
                rule: "loop".into(),
            }]);
        }
        Ok(vec![Msg::IncidentOpened {
            title: format!("incident for {rule}"),
        }])
    }
}

/// Incidents seen by the report agent: title, cause and correlation.
type Seen = Arc<Mutex<Vec<(String, Option<EnvelopeId>, garrison_bus::CorrelationId)>>>;

/// Collects incidents with their lineage.
struct Report {
    seen: Seen,
}

impl Agent<Msg> for Report {
    async fn handle(
        &mut self,
        envelope: &Envelope<Msg>,
        context: &Context,
    ) -> Result<Vec<Msg>, AgentError> {
        assert_eq!(context.agent.role, "report");
        if let Msg::IncidentOpened { title } = &envelope.payload {
            self.seen.lock().unwrap().push((
                title.clone(),
                envelope.causation_id,
                envelope.correlation_id,
            ));
        }
        Ok(Vec::new())
    }
}

struct Team {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    bus: InProcessBus,
    runtime: garrison_agents::Runtime,
    ingest: garrison_agents::Publisher<InProcessBus, Msg>,
    incidents: Seen,
    triage_handled: Arc<AtomicUsize>,
}

async fn team(panics: usize, max_deliver: u32) -> Team {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let bus = InProcessBus::new();
    let mut builder =
        RuntimeBuilder::<_, Msg>::new(bus.clone(), store.clone(), Arc::new(FixedClock));
    let ingest = builder.publisher("ingest", [Kind::AlertRaised]).unwrap();
    let panics = Arc::new(AtomicUsize::new(panics));
    let triage_handled = Arc::new(AtomicUsize::new(0));
    let handled = triage_handled.clone();
    builder
        .agent(
            AgentSpec {
                instances: 2,
                max_deliver,
                ..AgentSpec::new(
                    "triage",
                    vec![Kind::AlertRaised],
                    vec![Kind::IncidentOpened],
                )
            },
            move || Triage {
                panics: panics.clone(),
                handled: handled.clone(),
            },
        )
        .unwrap();
    let incidents = Arc::new(Mutex::new(Vec::new()));
    let seen = incidents.clone();
    builder
        .agent(
            AgentSpec::new("report", vec![Kind::IncidentOpened], vec![]),
            move || Report { seen: seen.clone() },
        )
        .unwrap();
    let runtime = builder.start().await.unwrap();
    Team {
        _dir: dir,
        store,
        bus,
        runtime,
        ingest,
        incidents,
        triage_handled,
    }
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in time");
}

fn audit_actions(store: &SqliteStore) -> Vec<(String, String, String)> {
    store
        .audit_entries(1, 1000)
        .unwrap()
        .into_iter()
        .map(|entry| (entry.actor, entry.action, entry.detail))
        .collect()
}

#[tokio::test]
async fn alerts_become_incidents_with_their_lineage() {
    let team = team(0, 5).await;
    let mut alert_ids = Vec::new();
    for i in 0..20 {
        let id = team
            .ingest
            .publish(
                Msg::AlertRaised {
                    rule: format!("rule-{i}"),
                },
                Lineage::start(),
            )
            .await
            .unwrap();
        alert_ids.extend(id);
    }
    wait_until(|| team.incidents.lock().unwrap().len() == 20).await;
    let stats = team.runtime.shutdown().await;
    let incidents = team.incidents.lock().unwrap().clone();
    let mut titles: Vec<&str> = incidents
        .iter()
        .map(|(title, _, _)| title.as_str())
        .collect();
    titles.sort();
    assert_eq!(titles[0], "incident for rule-0");
    assert_eq!(titles.len(), 20);
    let mut causes: Vec<EnvelopeId> = incidents
        .iter()
        .filter_map(|(_, cause, _)| *cause)
        .collect();
    causes.sort();
    alert_ids.sort();
    assert_eq!(
        causes, alert_ids,
        "every incident names the alert it answers"
    );
    let triage = &stats.agents["triage"];
    assert_eq!(
        (triage.handled, triage.published, triage.failed),
        (20, 20, 0)
    );
    assert_eq!(stats.agents["report"].handled, 20);
    assert!(
        audit_actions(&team.store).is_empty(),
        "nothing to audit in a clean run"
    );
}

#[tokio::test]
async fn a_panicking_agent_is_restarted_and_its_message_handled_once() {
    let team = team(1, 5).await;
    team.ingest
        .publish(
            Msg::AlertRaised {
                rule: "panic-once".into(),
            },
            Lineage::start(),
        )
        .await
        .unwrap();
    wait_until(|| team.incidents.lock().unwrap().len() == 1).await;
    let stats = team.runtime.shutdown().await;
    assert_eq!(stats.agents["triage"].restarts, 1);
    assert_eq!(stats.agents["triage"].handled, 1);
    assert_eq!(team.triage_handled.load(Ordering::SeqCst), 1);
    let audit = audit_actions(&team.store);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "supervisor/1");
    assert_eq!(audit[0].1, "agent_restarted");
    assert!(audit[0].2.contains("triage bug on panic-once"), "{audit:?}");
    assert_eq!(team.store.verify_audit(None).unwrap().violation, None);
}

#[tokio::test]
async fn untrusted_overreaching_and_replayed_messages_are_refused_or_skipped() {
    let team = team(0, 5).await;
    // A stranger's alert: unknown sender.
    let stranger = AgentKeys::generate(AgentId::new("stranger", "1")).unwrap();
    let forged = stranger
        .seal(
            Msg::AlertRaised {
                rule: "evil".into(),
            },
            Lineage::start(),
            FixedClock.now(),
        )
        .unwrap();
    team.bus.publish(forged).await.unwrap();
    // ingest may raise alerts, not open incidents.
    team.ingest
        .publish(
            Msg::IncidentOpened {
                title: "fake".into(),
            },
            Lineage::start(),
        )
        .await
        .unwrap();
    // A genuine alert, then the same envelope replayed.
    let genuine = Msg::AlertRaised {
        rule: "real".into(),
    };
    let [id] = team
        .ingest
        .publish(genuine, Lineage::start())
        .await
        .unwrap()[..]
    else {
        panic!("one envelope for an unpartitioned kind")
    };
    wait_until(|| team.incidents.lock().unwrap().len() == 1).await;
    wait_until(|| {
        let stats = team.runtime.stats();
        stats.agents["triage"].rejected == 1 && stats.agents["report"].rejected == 1
    })
    .await;
    assert_eq!(team.incidents.lock().unwrap()[0].1, Some(id));
    let audit = audit_actions(&team.store);
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(
        audit
            .iter()
            .all(|(_, action, _)| action == "message_rejected")
    );
    assert!(
        audit
            .iter()
            .any(|(actor, _, detail)| actor.starts_with("triage/")
                && detail.contains("stranger/1 is not in the directory"))
    );
    assert!(audit.iter().any(|(actor, _, detail)| actor == "report/1"
        && detail.contains("ingest/1 may not publish incident.opened")));
    team.runtime.shutdown().await;
}

#[tokio::test]
async fn a_replayed_envelope_is_handled_once() {
    let team = team(0, 5).await;
    let (bus, ingest, runtime) = (&team.bus, &team.ingest, &team.runtime);
    // Capture what ingest sends by subscribing a tap consumer to alerts.
    let mut tap = bus
        .subscribe(garrison_bus::SubscriptionSpec::new(
            "tap",
            &["alert.raised"],
        ))
        .await
        .unwrap();
    ingest
        .publish(
            Msg::AlertRaised {
                rule: "once".into(),
            },
            Lineage::start(),
        )
        .await
        .unwrap();
    let captured = garrison_bus::Subscription::next(&mut tap).await.unwrap();
    let replay = (*captured.envelope).clone();
    captured.ack();
    bus.publish(replay).await.unwrap();
    garrison_bus::Subscription::next(&mut tap)
        .await
        .unwrap()
        .ack();
    wait_until(|| runtime.stats().agents["triage"].duplicates == 1).await;
    wait_until(|| team.incidents.lock().unwrap().len() == 1).await;
    let Team {
        runtime,
        incidents,
        triage_handled,
        ..
    } = team;
    let stats = runtime.shutdown().await;
    assert_eq!(triage_handled.load(Ordering::SeqCst), 1);
    assert_eq!(stats.agents["triage"].handled, 1);
    assert_eq!(incidents.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn answers_an_agent_may_not_publish_are_refused_and_end_as_dead_letters() {
    let team = team(0, 3).await;
    team.ingest
        .publish(
            Msg::AlertRaised {
                rule: "overreach".into(),
            },
            Lineage::start(),
        )
        .await
        .unwrap();
    wait_until(|| team.bus.dead_letters().len() == 1).await;
    let stats = team.runtime.shutdown().await;
    assert_eq!(stats.agents["triage"].failed, 3);
    assert_eq!(stats.agents["triage"].published, 0);
    let audit = audit_actions(&team.store);
    assert_eq!(audit.len(), 3);
    assert!(
        audit[0]
            .2
            .contains("answered with alert.raised, which it may not publish")
    );
    assert_eq!(team.bus.dead_letters()[0].consumer, "triage");
}

#[tokio::test]
async fn an_agent_failing_again_and_again_is_stopped_and_says_so() {
    let team = team(usize::MAX, 50).await;
    team.ingest
        .publish(
            Msg::AlertRaised {
                rule: "panic-always".into(),
            },
            Lineage::start(),
        )
        .await
        .unwrap();
    wait_until(|| {
        let stats = team.runtime.stats();
        stats.agents["triage"].gave_up
    })
    .await;
    let stats = team.runtime.shutdown().await;
    // Two instances share the role; at least one hit the limit.
    assert!(stats.agents["triage"].restarts >= 6);
    let audit = audit_actions(&team.store);
    assert!(
        audit
            .iter()
            .any(|(_, _, detail)| detail.contains("stopped")),
        "{audit:?}"
    );
    assert_eq!(team.store.verify_audit(None).unwrap().violation, None);
}
