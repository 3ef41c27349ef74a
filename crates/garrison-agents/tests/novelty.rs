//! Triage's baseline: once it has learned what usually fires on each host, a rule firing on a
//! host for the first time scores up and is flagged for investigation; what fired there before
//! is not, and nothing is new while it learns.

use garrison_agents::messages::{TeamMessage, TriageDecision, Verdict};
use garrison_agents::triage::{Triage, TriageConfig};
use garrison_agents::{Agent, Clock, Context, SystemClock};
use garrison_bus::{AgentId, CorrelationId, Envelope, EnvelopeId};
use garrison_model::{Alert, AlertId, EvidenceId, EvidenceRef, Level, RuleRef, Timestamp};
use garrison_store::SqliteStore;
use jiff::SignedDuration;
use std::sync::Arc;

fn alert(n: u64, rule: &str, host: &str, hours: i64) -> Alert {
    Alert {
        id: AlertId(format!("al-{n}")),
        rule: RuleRef {
            id: rule.into(),
            title: rule.into(),
            level: Level::Medium,
            tags: Vec::new(),
        },
        timestamp: Some(Timestamp::UNIX_EPOCH + SignedDuration::from_hours(hours)),
        source: EvidenceRef {
            path: Arc::from("alerts.csv"),
            member: None,
            record_id: n,
            offset: 0,
        },
        evidence: EvidenceId(n),
        host: Some(host.into()),
        user: None,
        channel: None,
        event_id: None,
        fields: Vec::new(),
        entities: Vec::new(),
    }
}

async fn decide(triage: &mut Triage, alert: Alert) -> TriageDecision {
    let envelope = Envelope {
        id: EnvelopeId::new(),
        schema_version: <TeamMessage as garrison_bus::Message>::SCHEMA_VERSION,
        sender: AgentId::new("detect", "1"),
        causation_id: None,
        correlation_id: CorrelationId::new(),
        timestamp: SystemClock.now(),
        payload: TeamMessage::AlertRaised {
            alerts: vec![alert],
        },
    };
    let context = Context {
        agent: AgentId::new("triage", "1"),
        attempt: 1,
        clock: Arc::new(SystemClock),
        backlog: 0,
        replaying: false,
    };
    let out = triage.handle(&envelope, &context).await.unwrap();
    match out.as_slice() {
        [TeamMessage::AlertTriaged { triaged }] if triaged.len() == 1 => {
            triaged[0].decision.clone()
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_rule_new_on_a_host_after_learning_scores_up_and_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut triage = Triage::new(TriageConfig::default(), store);
    // The first day: the gateway's usual noise, and one rule seen for the first time anywhere.
    let first = decide(&mut triage, alert(1, "tls", "vpn", 0)).await;
    assert!(
        !first.new_on_host,
        "nothing is new while the baseline learns"
    );
    assert_eq!(first.score, 50);
    decide(&mut triage, alert(2, "pam", "mail", 2)).await;
    // A day later: the usual rule where it usually fires is not new.
    let usual = decide(&mut triage, alert(3, "tls", "vpn", 30)).await;
    assert!(!usual.new_on_host);
    assert_eq!(usual.score, 45);
    // The same rule on another host is.
    let moved = decide(&mut triage, alert(4, "tls", "webserver", 30)).await;
    assert!(moved.new_on_host);
    assert_eq!(moved.score, 50);
    assert_eq!(moved.verdict, Verdict::Investigate);
    assert!(
        moved
            .reasons
            .iter()
            .any(|reason| reason == "first time this rule fired on this host (+5)"),
        "{:?}",
        moved.reasons
    );
    // Its repeat within the grouping window is a repeat, not new again.
    let repeat = decide(&mut triage, alert(5, "tls", "webserver", 30)).await;
    assert!(repeat.duplicate_of.is_some());
    assert!(!repeat.new_on_host);
    // A rule never seen anywhere: new on its host too, scored once for being new.
    let unseen = decide(&mut triage, alert(6, "dirb", "webserver", 31)).await;
    assert!(unseen.new_on_host);
    assert_eq!(unseen.score, 50);
    // What triage learned survives a restart from its checkpoint.
    let saved = triage.checkpoint().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut restored = Triage::new(
        TriageConfig::default(),
        Arc::new(SqliteStore::open(dir.path()).unwrap()),
    );
    restored.restore(&saved).unwrap();
    let again = decide(&mut restored, alert(7, "pam", "mail", 32)).await;
    assert!(!again.new_on_host, "pam fired on mail on the first day");
    let elsewhere = decide(&mut restored, alert(8, "pam", "vpn", 32)).await;
    assert!(elsewhere.new_on_host);
}
