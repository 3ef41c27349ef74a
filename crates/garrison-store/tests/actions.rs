//! Response actions, the kill switch and analysts' verdicts, the same on both stores: every
//! test runs on the embedded SQLite store and on the real PostgreSQL, in a schema of its own.

mod common;

use garrison_model::action::{
    ActionKind, ActionRecord, ActionState, Autonomy, PolicyVerdict, Target, TargetKind,
};
use garrison_model::feedback::{AnalystVerdict, RulePattern, VerdictRecord, VerdictSubject};
use garrison_model::{AlertId, IncidentId, Timestamp};
use garrison_store::{ActionChange, ActionStore, AuditAction, AuditRecord, SqliteStore, Store};

fn each_store(test: impl Fn(&dyn Store)) {
    let dir = tempfile::tempdir().unwrap();
    test(&SqliteStore::open(dir.path()).unwrap());
    let postgres = common::postgres_store(&common::fresh_schema("ga"), 4);
    test(&postgres);
    postgres.drop_schema().unwrap();
}

fn audit(detail: &str) -> AuditRecord {
    AuditRecord {
        actor: "respond/1".into(),
        action: AuditAction::ResponseDecided,
        subject: "act".into(),
        detail: detail.into(),
    }
}

fn action(host: &str, priority: u32, state: ActionState, at: Timestamp) -> ActionRecord {
    let incident = IncidentId("inc-1".into());
    let target = Target {
        kind: TargetKind::Host,
        value: host.into(),
    };
    ActionRecord {
        key: ActionRecord::key_for(&incident, ActionKind::IsolateHost, &target),
        incident,
        incident_version: 1,
        kind: ActionKind::IsolateHost,
        target,
        state,
        verdict: PolicyVerdict::NeedsApproval,
        autonomy: Autonomy::ActWithApproval,
        reasons: vec!["playbook contain-host".into()],
        priority,
        proposed_at: at,
        updated_at: at,
        expires_at: None,
        assignee: None,
        decided_by: None,
        attempts: 0,
        outcome: None,
        connector: None,
    }
}

#[test]
fn actions_move_only_by_compare_and_set_each_move_audited() {
    each_store(|store| {
        let at: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let low = action("ws1", 10, ActionState::AwaitingApproval, at);
        let high = action("dc1", 90, ActionState::AwaitingApproval, at);
        assert!(store.propose_action(&low, &audit("proposed")).unwrap());
        assert!(store.propose_action(&high, &audit("proposed")).unwrap());
        // The same key again changes nothing and writes no audit entry.
        assert!(!store.propose_action(&low, &audit("again")).unwrap());
        assert_eq!(store.audit_head().unwrap().unwrap().seq, 2);
        let queue = store.actions(&[ActionState::AwaitingApproval], 10).unwrap();
        assert_eq!(
            queue
                .iter()
                .map(|a| a.target.value.as_str())
                .collect::<Vec<_>>(),
            ["dc1", "ws1"],
            "highest priority first"
        );
        let later = at.checked_add(jiff::SignedDuration::from_secs(5)).unwrap();
        let approve = ActionChange {
            decided_by: Some("user:ana".into()),
            ..ActionChange::default()
        };
        let moved = |from, to, change: &ActionChange| {
            store
                .transition(&low.key, &[from], to, change, &audit("move"), later)
                .unwrap()
        };
        assert!(moved(
            ActionState::AwaitingApproval,
            ActionState::Approved,
            &approve
        ));
        assert!(!moved(
            ActionState::AwaitingApproval,
            ActionState::Approved,
            &approve
        ));
        let claim = ActionChange {
            attempt: true,
            ..ActionChange::default()
        };
        assert!(moved(ActionState::Approved, ActionState::Executing, &claim));
        // A move conditioned on a stale read is refused.
        let stale = ActionChange {
            if_updated_at: Some(at),
            ..ActionChange::default()
        };
        assert!(!moved(ActionState::Executing, ActionState::Unknown, &stale));
        let stored = store.action(&low.key).unwrap().unwrap();
        assert_eq!(stored.state, ActionState::Executing);
        assert_eq!(stored.attempts, 1);
        assert_eq!(stored.decided_by.as_deref(), Some("user:ana"));
        assert_eq!(stored.updated_at, later);
        assert_eq!(store.actions_started_since(at).unwrap(), 1);
        assert_eq!(
            store
                .actions_started_since(
                    later
                        .checked_add(jiff::SignedDuration::from_secs(1))
                        .unwrap()
                )
                .unwrap(),
            0
        );
        assert_eq!(store.incident_actions("inc-1").unwrap().len(), 2);
        // Two proposals and two moves: four audit entries, one chain.
        let report = store.verify_audit(None).unwrap();
        assert!(report.violation.is_none());
        assert_eq!(report.checked, 4);

        assert_eq!(store.acknowledgement("inc-1").unwrap(), None);
        assert!(
            store
                .acknowledge("inc-1", "user:ana", &audit("ack"), later)
                .unwrap()
        );
        assert!(
            !store
                .acknowledge("inc-1", "user:bob", &audit("ack"), later)
                .unwrap()
        );
        assert_eq!(
            store.acknowledgement("inc-1").unwrap(),
            Some(("user:ana".to_string(), later))
        );

        assert!(!store.kill_switch().unwrap());
        store.set_kill_switch(true, &audit("on"), later).unwrap();
        assert!(store.kill_switch().unwrap());
        store.set_kill_switch(false, &audit("off"), later).unwrap();
        assert!(!store.kill_switch().unwrap());
    });
}

#[test]
fn verdicts_are_kept_in_order_with_their_alerts() {
    each_store(|store| {
        let at: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let verdict = |subject, verdict| VerdictRecord {
            subject,
            verdict,
            by: "user:ana".into(),
            at,
            note: Some("admin's scan".into()),
            alerts: vec![(
                AlertId("al-1".into()),
                RulePattern {
                    rule_id: "r1".into(),
                    host: Some("ws1".into()),
                },
            )],
        };
        let first = verdict(
            VerdictSubject::Incident(IncidentId("inc-1".into())),
            AnalystVerdict::TruePositive,
        );
        let second = verdict(
            VerdictSubject::Alert(AlertId("al-1".into())),
            AnalystVerdict::BenignTruePositive,
        );
        let record = AuditRecord {
            action: AuditAction::DecisionRecorded,
            ..audit("verdict")
        };
        store.record_verdict(&first, &record).unwrap();
        store.record_verdict(&second, &record).unwrap();
        assert_eq!(store.verdicts().unwrap(), vec![first, second]);
        assert_eq!(store.audit_head().unwrap().unwrap().seq, 2);
    });
}

#[test]
fn postgres_announces_every_proposal_and_move_in_its_transaction() {
    use garrison_store::postgres::outbox::{ACTION, INCIDENT};
    let store = common::postgres_store(&common::fresh_schema("gx"), 2);
    let at: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
    let proposed = action("ws1", 10, ActionState::AwaitingApproval, at);
    assert!(store.propose_action(&proposed, &audit("proposed")).unwrap());
    // Nothing changed, nothing announced.
    assert!(!store.propose_action(&proposed, &audit("again")).unwrap());
    let later = at.checked_add(jiff::SignedDuration::from_secs(5)).unwrap();
    let approve = ActionChange {
        decided_by: Some("user:ana".into()),
        ..ActionChange::default()
    };
    let move_to = |to| {
        store
            .transition(
                &proposed.key,
                &[ActionState::AwaitingApproval],
                to,
                &approve,
                &audit("move"),
                later,
            )
            .unwrap()
    };
    assert!(move_to(ActionState::Approved));
    assert!(
        !move_to(ActionState::Rejected),
        "a refused move announces nothing"
    );

    let waiting = store.outbox_pending(&[ACTION], 10).unwrap();
    assert_eq!(waiting.len(), 2);
    assert!(store.outbox_pending(&[INCIDENT], 10).unwrap().is_empty());
    let announced: Vec<ActionRecord> = waiting
        .iter()
        .map(|entry| serde_json::from_str(&entry.body).unwrap())
        .collect();
    assert_eq!(
        announced.iter().map(|a| a.state).collect::<Vec<_>>(),
        [ActionState::AwaitingApproval, ActionState::Approved]
    );
    assert_eq!(announced[1].decided_by.as_deref(), Some("user:ana"));
    assert_eq!(announced[1], store.action(&proposed.key).unwrap().unwrap());
    assert!(waiting[0].seq < waiting[1].seq);
    assert_ne!(waiting[0].key, waiting[1].key);
    assert!(
        waiting[1]
            .key
            .starts_with(&format!("action/{}/approved/", proposed.key))
    );
    assert_eq!(store.outbox_depth().unwrap(), [(ACTION.to_string(), 2)]);

    // Published: removed, once.
    assert_eq!(store.outbox_published(&[waiting[0].seq]).unwrap(), 1);
    assert_eq!(store.outbox_published(&[waiting[0].seq]).unwrap(), 0);
    assert_eq!(store.outbox_pending(&[ACTION], 10).unwrap(), waiting[1..]);
    store.drop_schema().unwrap();
}
