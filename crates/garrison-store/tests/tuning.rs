//! Rule switches and entity activity, the same on both stores: the last switch of each rule
//! kept with its audit entry, and a host's or a user's events newest first, a page at a time.

mod common;

use garrison_model::tuning::RuleSwitch;
use garrison_model::{EvidenceId, EvidenceRef, Timestamp};
use garrison_store::{AuditAction, AuditRecord, SqliteStore, Store, StoredEvent, Subject};
use std::sync::Arc;

fn each_store(test: impl Fn(&dyn Store)) {
    let dir = tempfile::tempdir().unwrap();
    test(&SqliteStore::open(dir.path()).unwrap());
    let postgres = common::postgres_store(&common::fresh_schema("gt"), 4);
    test(&postgres);
    postgres.drop_schema().unwrap();
}

fn switch(rule: &str, enabled: bool, reason: Option<&str>) -> RuleSwitch {
    RuleSwitch {
        rule_id: rule.into(),
        enabled,
        reason: reason.map(String::from),
        by: "user:ada".into(),
        at: "2026-12-06T10:00:00Z".parse().unwrap(),
    }
}

#[test]
fn the_last_switch_of_each_rule_is_kept_with_its_audit_entry() {
    each_store(|store| {
        assert!(store.rule_switches().unwrap().is_empty());
        let audit = |rule: &str| AuditRecord {
            actor: "user:ada".into(),
            action: AuditAction::RuleSwitched,
            subject: rule.into(),
            detail: "test".into(),
        };
        store
            .put_rule_switch(&switch("rule-b", false, Some("noisy")), &audit("rule-b"))
            .unwrap();
        store
            .put_rule_switch(&switch("rule-a", false, None), &audit("rule-a"))
            .unwrap();
        store
            .put_rule_switch(&switch("rule-a", true, Some("tuned")), &audit("rule-a"))
            .unwrap();
        assert_eq!(
            store.rule_switches().unwrap(),
            [
                switch("rule-a", true, Some("tuned")),
                switch("rule-b", false, Some("noisy"))
            ]
        );
        let entries = store.audit_entries(1, 100).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(entries.iter().all(|entry| entry.action == "rule_switched"));
        assert!(store.verify_audit(None).unwrap().violation.is_none());
    });
}

fn event(n: u64, host: &str, user: Option<&str>, minute: i64) -> StoredEvent {
    let source = EvidenceRef {
        path: Arc::from(format!("/logs/{host}.jsonl")),
        member: None,
        record_id: n,
        offset: n * 100,
    };
    StoredEvent {
        id: EvidenceId::of(&source),
        timestamp: Some(
            "2026-12-06T10:00:00Z".parse::<Timestamp>().unwrap()
                + jiff::SignedDuration::from_mins(minute),
        ),
        host: Some(host.into()),
        user: user.map(String::from),
        channel: Some("Security".into()),
        event_id: Some(4624),
        source,
        fields: vec![("EventID".into(), "4624".into())],
        process_key: None,
        parent_key: None,
        session_key: None,
        host_address: None,
        lease: None,
    }
}

#[test]
fn activity_pages_newest_first_by_host_or_user() {
    each_store(|store| {
        // Seven events on WS1: two at 10:03 (a tie), one untimed (never shown); three by dana.
        let mut events = vec![
            event(1, "WS1", Some("CORP\\dana"), 0),
            event(2, "WS1", None, 1),
            event(3, "WS1", Some("corp\\DANA"), 3),
            event(4, "WS1", None, 3),
            event(5, "ws1", None, 5),
            event(6, "WS10", Some("CORP\\dana"), 6),
        ];
        let mut untimed = event(7, "WS1", None, 0);
        untimed.timestamp = None;
        events.push(untimed);
        store.put_events(&events).unwrap();

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .activity(Subject::Host, "Ws1", Timestamp::MAX, after, 2)
                .unwrap();
            assert!(page.events.len() <= 2);
            seen.extend(page.events.iter().map(|event| event.source.record_id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        // Newest first; the tie at 10:03 once each, in a stable order.
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert_eq!(seen[0], 5);
        assert_eq!(&seen[3..], [2, 1]);
        let mut tie = seen[1..3].to_vec();
        tie.sort_unstable();
        assert_eq!(tie, [3, 4]);

        let until: Timestamp = "2026-12-06T10:02:00Z".parse().unwrap();
        let early = store
            .activity(Subject::Host, "WS1", until, None, 10)
            .unwrap();
        let ids: Vec<u64> = early.events.iter().map(|e| e.source.record_id).collect();
        assert_eq!(ids, [2, 1]);
        assert!(early.next.is_none());

        let dana = store
            .activity(Subject::User, "corp\\dana", Timestamp::MAX, None, 10)
            .unwrap();
        let ids: Vec<u64> = dana.events.iter().map(|e| e.source.record_id).collect();
        assert_eq!(ids, [6, 3, 1]);
        let nobody = store
            .activity(Subject::User, "CORP\\eve", Timestamp::MAX, None, 10)
            .unwrap();
        assert!(nobody.events.is_empty() && nobody.next.is_none());
    });
}

fn alert(
    rule: &str,
    n: u64,
    level: garrison_model::Level,
    minute: i64,
) -> garrison_model::incident::AlertSummary {
    let source = EvidenceRef {
        path: Arc::from("/logs/a.jsonl"),
        member: None,
        record_id: n,
        offset: n * 10,
    };
    let evidence = EvidenceId::of(&source);
    garrison_model::incident::AlertSummary {
        id: garrison_model::AlertId::of(rule, evidence),
        rule_id: rule.into(),
        title: format!("{rule} fired"),
        level,
        timestamp: Some(
            "2026-12-06T10:00:00Z".parse::<Timestamp>().unwrap()
                + jiff::SignedDuration::from_mins(minute),
        ),
        source,
        evidence,
        repeats: 0,
        last_repeat: None,
    }
}

fn incident_with(
    id: &str,
    version: u64,
    alerts: Vec<garrison_model::incident::AlertSummary>,
) -> garrison_model::Incident {
    use garrison_model::incident::{Verification, VerificationStatus};
    garrison_model::Incident {
        id: garrison_model::IncidentId(id.into()),
        version,
        title: id.into(),
        severity: garrison_model::Level::High,
        confidence: 0.8,
        disposition: garrison_model::Disposition::Suspicious,
        escalated: false,
        hypothesis: String::new(),
        tactics: Vec::new(),
        techniques: Vec::new(),
        entities: Vec::new(),
        alerts,
        evidence: Vec::new(),
        timeline: Vec::new(),
        process_tree: Vec::new(),
        reasoning: Vec::new(),
        verification: Verification {
            status: VerificationStatus::Verified,
            removed_claims: Vec::new(),
        },
        first_seen: None,
        last_seen: None,
        superseded_by: None,
    }
}

#[test]
fn alerts_are_listed_across_incidents_newest_first() {
    use garrison_model::Level;
    use garrison_store::AlertQuery;
    each_store(|store| {
        let one = incident_with(
            "inc-1",
            1,
            vec![
                alert("rule-a", 1, Level::High, 0),
                alert("rule-b", 2, Level::Low, 5),
            ],
        );
        store.put_incident(&one).unwrap();
        // A newer version replaces its alerts; an older one changes nothing.
        let one_v2 = incident_with(
            "inc-1",
            2,
            vec![
                alert("rule-a", 1, Level::High, 0),
                alert("rule-b", 2, Level::Low, 5),
                alert("rule-a", 3, Level::High, 7),
            ],
        );
        store.put_incident(&one_v2).unwrap();
        assert!(!store.put_incident(&one).unwrap());
        let mut merged = incident_with("inc-2", 1, vec![alert("rule-a", 4, Level::Critical, 9)]);
        merged.superseded_by = Some(garrison_model::IncidentId("inc-1".into()));
        store.put_incident(&merged).unwrap();
        let records = |query: AlertQuery| -> Vec<u64> {
            store
                .alerts(&query)
                .unwrap()
                .alerts
                .iter()
                .map(|found| found.alert.source.record_id)
                .collect()
        };
        let all = AlertQuery {
            limit: 10,
            ..AlertQuery::default()
        };
        assert_eq!(records(all.clone()), [3, 2, 1]);
        assert_eq!(
            records(AlertQuery {
                superseded: true,
                ..all.clone()
            }),
            [4, 3, 2, 1]
        );
        assert_eq!(
            records(AlertQuery {
                rule_id: Some("rule-a".into()),
                ..all.clone()
            }),
            [3, 1]
        );
        assert_eq!(
            records(AlertQuery {
                min_level: Some(Level::High),
                ..all.clone()
            }),
            [3, 1]
        );
        let first = store
            .alerts(&AlertQuery {
                limit: 2,
                ..all.clone()
            })
            .unwrap();
        assert_eq!(first.alerts[0].incident.0, "inc-1");
        let rest = records(AlertQuery {
            after: first.next,
            limit: 2,
            ..all.clone()
        });
        assert_eq!(rest, [1]);
        let until: Timestamp = "2026-12-06T10:06:00Z".parse().unwrap();
        assert_eq!(
            records(AlertQuery {
                until: Some(until),
                ..all
            }),
            [2, 1]
        );
    });
}
