//! The response agent's decisions and actions against a real SQLite store, with connectors
//! that record every call.

mod respond_support;

use garrison_agents::respond::{Answer, Responder};
use garrison_agents::triage::Inventory;
use garrison_agents::{Clock, SystemClock};
use garrison_model::action::{ActionKind, ActionState, Autonomy, PolicyVerdict};
use garrison_model::incident::VerificationStatus;
use garrison_model::{Entity, EntityKind, IncidentId};
use garrison_response::{ConnectorError, Policy, ResponseConfig};
use garrison_store::{ActionStore, AuditRecord, SqliteStore};
use proptest::prelude::*;
use respond_support::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn a_verified_incident_gets_actions_decided_by_policy_autonomy_and_connectors() {
    let setup = setup(auto_containment(), Recording::default());
    let now = SystemClock.now();
    let decided = setup
        .responder
        .decide(&incident(0.9, ws1_dana()), false, now)
        .unwrap();
    assert_eq!(
        by_kind(&decided),
        BTreeMap::from([
            (ActionKind::OpenTicket, ActionState::Approved),
            (ActionKind::Notify, ActionState::Approved),
            (ActionKind::IsolateHost, ActionState::Approved),
            (ActionKind::RevokeSessions, ActionState::AwaitingApproval),
            (ActionKind::SuspendUser, ActionState::AwaitingApproval),
        ])
    );
    let isolate = decided
        .iter()
        .find(|record| record.kind == ActionKind::IsolateHost)
        .unwrap();
    assert_eq!(isolate.verdict, PolicyVerdict::Allow);
    assert!(
        isolate
            .reasons
            .iter()
            .any(|reason| reason.starts_with("allowed by contain-verified-confident")),
        "{:?}",
        isolate.reasons
    );
    assert!(isolate.priority > 0);
    // A later version of the incident proposes the same actions under the same keys: nothing new.
    let mut later = incident(0.95, ws1_dana());
    later.version = 2;
    assert!(
        setup
            .responder
            .decide(&later, false, now)
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        setup.responder.execute_ready(&SystemClock).await.unwrap(),
        3
    );
    assert_eq!(setup.connector.calls().len(), 3);
    let stored = setup.store.actions(&[ActionState::Succeeded], 10).unwrap();
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|record| record.attempts == 1));
    // Every call was audited before it was made, and its outcome after.
    let audit = audit_actions(&setup.store);
    let started = audit
        .iter()
        .position(|line| line.starts_with("response_started isolate_host host WS1"))
        .expect("start audited");
    let executed = audit
        .iter()
        .position(|line| line.starts_with("response_executed isolate_host host WS1"))
        .expect("outcome audited");
    assert!(started < executed);
    assert_eq!(
        audit
            .iter()
            .filter(|line| line.starts_with("response_decided"))
            .count(),
        5
    );
    assert!(setup.store.verify_audit(None).unwrap().violation.is_none());
}

#[tokio::test]
async fn a_host_contained_for_one_incident_is_not_contained_again_for_another() {
    let setup = setup(auto_containment(), Recording::default());
    let now = SystemClock.now();
    // The first incident's containment is carried out.
    let first = incident(0.9, ws1_dana());
    setup.responder.decide(&first, false, now).unwrap();
    setup.responder.execute_ready(&SystemClock).await.unwrap();
    let isolations = |setup: &Setup| {
        setup
            .connector
            .calls()
            .iter()
            .filter(|call| call.kind == ActionKind::IsolateHost)
            .count()
    };
    assert_eq!(isolations(&setup), 1);
    // Another incident on the same host (say, one later merged with the first) calls for it
    // again: recorded as done, naming the first action, not carried out twice.
    let mut second = incident(0.9, ws1_dana());
    second.id = IncidentId("inc-00000000000000b2".into());
    let decided = setup.responder.decide(&second, false, now).unwrap();
    let isolate = decided
        .iter()
        .find(|record| record.kind == ActionKind::IsolateHost)
        .unwrap();
    assert_eq!(isolate.state, ActionState::Succeeded);
    let outcome = isolate.outcome.as_deref().unwrap();
    assert!(
        outcome.starts_with("already carried out as ") && outcome.contains(&first.id.0),
        "{outcome}"
    );
    setup.responder.execute_ready(&SystemClock).await.unwrap();
    assert_eq!(isolations(&setup), 1);
    // Its ticket is its own: a ticket names an incident.
    assert_eq!(
        by_kind(&decided)[&ActionKind::OpenTicket],
        ActionState::Approved
    );
}

#[tokio::test]
async fn approving_twice_executes_once_and_rejection_or_expiry_never() {
    let setup = setup(auto_containment(), Recording::default());
    let now = SystemClock.now();
    let decided = setup
        .responder
        .decide(&incident(0.9, ws1_dana()), false, now)
        .unwrap();
    let key = |kind| {
        decided
            .iter()
            .find(|record| record.kind == kind)
            .unwrap()
            .key
            .clone()
    };
    let analyst = setup.responder.acting_as("user:ana");
    assert_eq!(
        analyst.approve(&key(ActionKind::SuspendUser), now).unwrap(),
        Answer::Done(ActionState::Approved)
    );
    assert_eq!(
        analyst.approve(&key(ActionKind::SuspendUser), now).unwrap(),
        Answer::NotApplicable(ActionState::Approved)
    );
    assert_eq!(
        analyst
            .reject(&key(ActionKind::RevokeSessions), "user is travelling", now)
            .unwrap(),
        Answer::Done(ActionState::Rejected)
    );
    assert_eq!(
        analyst
            .approve(&key(ActionKind::RevokeSessions), now)
            .unwrap(),
        Answer::NotApplicable(ActionState::Rejected)
    );
    assert_eq!(
        analyst.approve("act-nonesuch", now).unwrap(),
        Answer::NoSuchAction
    );
    // Two responders run at once: each action is claimed once.
    let other = setup.responder.acting_as("respond/2");
    let (a, b) = tokio::join!(
        setup.responder.execute_ready(&SystemClock),
        other.execute_ready(&SystemClock)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 4);
    assert_eq!(setup.connector.calls_for(&key(ActionKind::SuspendUser)), 1);
    assert_eq!(
        setup.connector.calls_for(&key(ActionKind::RevokeSessions)),
        0
    );
    assert_eq!(
        setup.responder.execute_ready(&SystemClock).await.unwrap(),
        0
    );
    let suspended = setup
        .store
        .action(&key(ActionKind::SuspendUser))
        .unwrap()
        .unwrap();
    assert_eq!(suspended.state, ActionState::Succeeded);
    assert_eq!(suspended.decided_by.as_deref(), Some("user:ana"));

    // An approval nobody answers expires.
    let mut other_incident = incident(0.9, vec![Entity::new(EntityKind::User, "CORP\\eve")]);
    other_incident.id = IncidentId("inc-00000000000000b2".into());
    let pending = setup.responder.decide(&other_incident, false, now).unwrap();
    let waiting = pending
        .iter()
        .filter(|record| record.state == ActionState::AwaitingApproval)
        .count();
    assert_eq!(waiting, 2);
    let later = now
        .checked_add(setup.responder.config().approval_expiry)
        .unwrap();
    assert_eq!(setup.responder.expire(now).unwrap(), 0);
    assert_eq!(setup.responder.expire(later).unwrap(), 2);
    assert_eq!(
        setup
            .store
            .actions(&[ActionState::Expired], 10)
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_responder_dying_mid_call_does_not_act_twice() {
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let connector = Recording {
        dedupes: true,
        hold: Some(hold.clone()),
        ..Recording::default()
    };
    let setup = setup(auto_containment(), connector);
    let now = SystemClock.now();
    setup
        .responder
        .decide(&incident(0.9, ws1_dana()), false, now)
        .unwrap();
    let analyst = setup.responder.acting_as("user:ana");
    let suspend = setup
        .store
        .actions(&[ActionState::AwaitingApproval], 10)
        .unwrap()
        .into_iter()
        .find(|record| record.kind == ActionKind::SuspendUser)
        .unwrap();
    analyst.approve(&suspend.key, now).unwrap();
    // The responder calls the connector, which holds the call; the responder dies meanwhile.
    die_mid_call(&setup).await;
    let held = setup
        .store
        .action(&setup.connector.calls()[0].key)
        .unwrap()
        .unwrap();
    assert_eq!(held.state, ActionState::Executing);
    // A new responder takes the orphaned action over; the connector lets calls through now.
    hold.add_permits(100);
    let successor = setup.responder.acting_as("respond/2");
    let recovered = successor
        .recover(Duration::ZERO, &SystemClock)
        .await
        .unwrap();
    assert_eq!(recovered, 1);
    assert_eq!(successor.execute_ready(&SystemClock).await.unwrap(), 3);
    // Each action acted once, even the one sent twice (same key).
    assert_eq!(setup.connector.effects(), 4);
    assert_eq!(setup.connector.calls_for(&held.key), 2);
    assert_eq!(
        setup.store.action(&held.key).unwrap().unwrap().state,
        ActionState::Succeeded
    );
    assert!(
        audit_actions(&setup.store)
            .iter()
            .any(|line| line.contains("stopped mid-call; sending it again")),
    );
}

#[tokio::test]
async fn an_unsafe_orphan_becomes_unknown_and_is_not_sent_again() {
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let connector = Recording {
        hold: Some(hold.clone()),
        ..Recording::default()
    };
    let setup = setup(ResponseConfig::default(), connector);
    let now = SystemClock.now();
    setup
        .responder
        .decide(&incident(0.9, ws1_dana()), false, now)
        .unwrap();
    die_mid_call(&setup).await;
    // A ticket or a notification, whichever went first: neither is safe to send twice.
    let ticket = setup.connector.calls()[0].clone();
    assert!(!ticket.kind.sets_state(), "{:?}", ticket.kind);
    hold.add_permits(100);
    // Not stale yet: left alone (its responder may still be working on it).
    let successor = setup.responder.acting_as("respond/2");
    assert_eq!(
        successor
            .recover(Duration::from_secs(3600), &SystemClock)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        successor
            .recover(Duration::ZERO, &SystemClock)
            .await
            .unwrap(),
        1
    );
    let record = setup.store.action(&ticket.key).unwrap().unwrap();
    assert_eq!(record.state, ActionState::Unknown);
    successor.execute_ready(&SystemClock).await.unwrap();
    assert_eq!(setup.connector.calls_for(&ticket.key), 1);
}

#[tokio::test]
async fn transient_failures_are_retried_within_bounds_and_ambiguous_ones_never() {
    let connector = Recording {
        failures: Mutex::new(vec![
            ConnectorError::Transient("503".into()),
            ConnectorError::Transient("503".into()),
            ConnectorError::Transient("503".into()),
            ConnectorError::Ambiguous("timed out after sending".into()),
        ]),
        ..Recording::default()
    };
    let mut config = auto_containment();
    config
        .playbooks
        .retain(|playbook| playbook.name == "tell-people");
    let setup = setup(config, connector);
    let now = SystemClock.now();
    let decided = setup
        .responder
        .decide(&incident(0.9, ws1_dana()), false, now)
        .unwrap();
    assert_eq!(decided.len(), 2);
    setup.responder.execute_ready(&SystemClock).await.unwrap();
    // The first action called gets the three 503s, the second the timeout.
    let first = setup.connector.calls()[0].key.clone();
    let second = decided.iter().find(|record| record.key != first).unwrap();
    let ticket = setup.store.action(&first).unwrap().unwrap();
    assert_eq!(ticket.state, ActionState::Failed);
    assert_eq!(ticket.attempts, 3);
    assert!(ticket.outcome.as_deref().unwrap().contains("503"));
    let notify = setup.store.action(&second.key).unwrap().unwrap();
    assert_eq!(notify.state, ActionState::Unknown);
    assert_eq!(notify.attempts, 1);
    assert_eq!(setup.connector.calls().len(), 4);
}

#[tokio::test]
async fn the_kill_switch_and_protected_targets_stop_automatic_actions() {
    let mut config = auto_containment();
    config.protected = vec![garrison_response::config::parse_target("host:ws1").unwrap()];
    let setup = setup(config, Recording::default());
    let now = SystemClock.now();
    let decided = setup
        .responder
        .decide(&incident(0.9, ws1_dana()), false, now)
        .unwrap();
    let isolate = decided
        .iter()
        .find(|record| record.kind == ActionKind::IsolateHost)
        .unwrap();
    assert_eq!(isolate.verdict, PolicyVerdict::Allow);
    assert_eq!(isolate.state, ActionState::AwaitingApproval);
    assert!(
        isolate
            .reasons
            .iter()
            .any(|reason| reason.contains("protected"))
    );

    let audit = AuditRecord {
        actor: "user:ana".into(),
        action: garrison_store::AuditAction::KillSwitch,
        subject: "kill switch".into(),
        detail: "on".into(),
    };
    setup.store.set_kill_switch(true, &audit, now).unwrap();
    assert_eq!(
        setup.responder.execute_ready(&SystemClock).await.unwrap(),
        0
    );
    assert!(setup.connector.calls().is_empty());
    let mut next = incident(0.9, vec![Entity::new(EntityKind::Host, "WS2")]);
    next.id = IncidentId("inc-00000000000000c3".into());
    let decided = setup.responder.decide(&next, false, now).unwrap();
    assert!(
        decided
            .iter()
            .all(|record| record.state == ActionState::AwaitingApproval),
        "{:?}",
        by_kind(&decided)
    );
    setup.store.set_kill_switch(false, &audit, now).unwrap();
    assert_eq!(
        setup.responder.execute_ready(&SystemClock).await.unwrap(),
        2
    );
}

#[tokio::test]
async fn a_succeeded_action_is_rolled_back_through_its_connector() {
    let setup = setup(auto_containment(), Recording::default());
    let now = SystemClock.now();
    let decided = setup
        .responder
        .decide(&incident(0.9, ws1_dana()), false, now)
        .unwrap();
    setup.responder.execute_ready(&SystemClock).await.unwrap();
    let isolate = decided
        .iter()
        .find(|record| record.kind == ActionKind::IsolateHost)
        .unwrap();
    // A rollback the connector refuses leaves the action in force, audited, to try again.
    setup
        .connector
        .failures
        .lock()
        .unwrap()
        .push(ConnectorError::Permanent("403 forbidden".into()));
    let analyst = setup.responder.acting_as("user:ana");
    let error = analyst
        .rollback(&isolate.key, &SystemClock)
        .await
        .unwrap_err();
    assert!(
        error.contains("release the host from isolation failed"),
        "{error}"
    );
    let held = setup.store.action(&isolate.key).unwrap().unwrap();
    assert_eq!(held.state, ActionState::Succeeded);
    assert!(
        audit_actions(&setup.store)
            .iter()
            .any(|line| line.starts_with("response_failed isolate_host host WS1: release")),
    );
    let answer = analyst.rollback(&isolate.key, &SystemClock).await.unwrap();
    assert_eq!(answer, Answer::Done(ActionState::RolledBack));
    let last = setup.connector.calls().pop().unwrap();
    assert!(last.rollback);
    assert_eq!(last.target.value, "WS1");
    let ticket = decided
        .iter()
        .find(|record| record.kind == ActionKind::OpenTicket)
        .unwrap();
    let error = setup
        .responder
        .rollback(&ticket.key, &SystemClock)
        .await
        .unwrap_err();
    assert!(error.contains("cannot be undone"), "{error}");
}

/// A policy with random thresholds and random forbids, in Cedar.
fn random_policy(confidence: u8, criticality: u8, approval_floor: u8, forbid_tag: bool) -> String {
    let mut text = format!(
        r#"permit (principal, action, resource)
           when {{ context.confidence >= {confidence} && resource.criticality <= {criticality} }};
           @approval("required")
           permit (principal, action, resource) when {{ context.confidence >= {approval_floor} }};
        "#
    );
    if forbid_tag {
        text.push_str(
            r#"forbid (principal, action, resource) when { resource.tags.contains("break-glass") };"#,
        );
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the policy, incident and autonomy: every call a connector receives was allowed
    /// alone by the policy (re-decided independently here) for an act-then-notify kind on an
    /// unprotected target with the kill switch off, or approved by a person and not denied.
    #[test]
    fn no_action_executes_outside_policy(
        confidence in 0u8..=100,
        criticality in 0u8..=4,
        approval_floor in 0u8..=100,
        forbid_tag in any::<bool>(),
        incident_confidence in 0.0f64..=1.0,
        verified in any::<bool>(),
        auto_kinds in proptest::collection::vec(any::<bool>(), ActionKind::ALL.len()),
        protect_ws1 in any::<bool>(),
        kill_switch in any::<bool>(),
        approve_all in any::<bool>(),
    ) {
        let text = random_policy(confidence, criticality, approval_floor, forbid_tag);
        let mut config = ResponseConfig::default();
        for (kind, auto) in ActionKind::ALL.into_iter().zip(&auto_kinds) {
            config.autonomy.insert(kind, if *auto { Autonomy::ActThenNotify } else { Autonomy::ActWithApproval });
        }
        if protect_ws1 {
            config.protected = vec![garrison_response::config::parse_target("host:WS1").unwrap()];
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let connector = Arc::new(Recording::default());
        let policy = Arc::new(Policy::parse(&text).unwrap());
        let responder = Responder::new(
            store.clone(),
            policy.clone(),
            Arc::new(config.clone()),
            Arc::new(Inventory::from_json(INVENTORY).unwrap()),
            vec![connector.clone()],
            "respond/1",
        );
        let mut subject = incident(incident_confidence, vec![
            Entity::new(EntityKind::Host, "WS1"),
            Entity::new(EntityKind::Host, "DC1"),
            Entity::new(EntityKind::User, "CORP\\dana"),
            Entity::new(EntityKind::User, "CORP\\breakglass"),
            Entity::new(EntityKind::Ip, "198.51.100.4"),
        ]);
        subject.tactics.push("command-and-control".into());
        if !verified {
            subject.verification.status = VerificationStatus::Amended;
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let now = SystemClock.now();
        let audit = AuditRecord {
            actor: "test".into(),
            action: garrison_store::AuditAction::KillSwitch,
            subject: "kill switch".into(),
            detail: String::new(),
        };
        store.set_kill_switch(kill_switch, &audit, now).unwrap();
        let decided = responder.decide(&subject, false, now).unwrap();
        let mut approved_by_person = BTreeSet::new();
        if approve_all {
            for record in &decided {
                if responder.approve(&record.key, now).unwrap() == Answer::Done(ActionState::Approved) {
                    approved_by_person.insert(record.key.clone());
                }
            }
        }
        runtime.block_on(responder.execute_ready(&SystemClock)).unwrap();
        let situation = responder.situation(&subject, false, 4, now).unwrap();
        for call in connector.calls() {
            prop_assert!(!kill_switch, "a call went out with the kill switch on");
            let record = store.action(&call.key).unwrap().unwrap();
            // The policy, asked again independently (the random policies read neither the blast
            // radius nor the hour's count of actions, which executing changed).
            let facts = responder.facts(&record.target);
            let again = policy.decide(record.kind, &record.target, &facts, &situation);
            prop_assert_eq!(again.verdict, record.verdict);
            if approved_by_person.contains(&call.key) {
                prop_assert_ne!(again.verdict, PolicyVerdict::Deny);
            } else {
                prop_assert_eq!(again.verdict, PolicyVerdict::Allow);
                prop_assert_eq!(config.autonomy_of(record.kind), Autonomy::ActThenNotify);
                prop_assert!(!facts.protected);
            }
        }
        // And everything the policy denied stayed denied.
        for record in store.actions(&[], 100).unwrap() {
            if record.verdict == PolicyVerdict::Deny {
                prop_assert_eq!(record.state, ActionState::Denied);
                prop_assert_eq!(connector.calls_for(&record.key), 0);
            }
        }
    }
}
