//! The escalation path: an escalated incident nobody takes on notifies the next tier in time.

mod respond_support;

use garrison_agents::respond::{Answer, Responder};
use garrison_agents::triage::Inventory;
use garrison_agents::{Clock, SystemClock};
use garrison_model::action::{ActionKind, ActionState};
use garrison_model::{IncidentId, Level};
use garrison_response::Policy;
use garrison_store::{ActionStore, AuditRecord};
use respond_support::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn an_escalated_incident_nobody_takes_on_notifies_the_next_tier_in_time() {
    let mut config = auto_containment();
    config.playbooks.clear();
    for (tier, minutes) in [("tier2", 15), ("tier3", 60)] {
        config
            .escalation
            .push(garrison_response::config::EscalationTier {
                tier: tier.into(),
                after: Duration::from_secs(minutes * 60),
                min_severity: Level::High,
                connector: "pager".into(),
            });
    }
    let setup = setup(config, Recording::default());
    let pager = Arc::new(Recording {
        name: Some("pager"),
        ..Recording::default()
    });
    let responder = Responder::new(
        setup.store.clone(),
        Arc::new(Policy::default_policy()),
        Arc::new(setup.responder.config().clone()),
        Arc::new(Inventory::from_json(INVENTORY).unwrap()),
        vec![setup.connector.clone(), pager.clone()],
        "respond/1",
    );
    let now = SystemClock.now();
    let minutes = |n: i64| now.checked_add(jiff::SignedDuration::from_mins(n)).unwrap();
    let first = incident(0.9, ws1_dana());
    let scheduled = responder.decide(&first, false, now).unwrap();
    assert_eq!(scheduled.len(), 2);
    assert!(
        scheduled
            .iter()
            .all(|record| record.state == ActionState::Scheduled
                && record.kind == ActionKind::Notify
                && record.connector.as_deref() == Some("pager"))
    );
    // Not due yet: nothing sent.
    assert_eq!(responder.escalate(minutes(14)).unwrap(), 0);
    // The kill switch holds pages too, until it is off again.
    let switch = |on| AuditRecord {
        actor: "user:ana".into(),
        action: garrison_store::AuditAction::KillSwitch,
        subject: "kill switch".into(),
        detail: if on { "on" } else { "off" }.into(),
    };
    setup
        .store
        .set_kill_switch(true, &switch(true), now)
        .unwrap();
    assert_eq!(responder.escalate(minutes(16)).unwrap(), 1);
    assert_eq!(responder.execute_ready(&SystemClock).await.unwrap(), 0);
    assert!(pager.calls().is_empty());
    setup
        .store
        .set_kill_switch(false, &switch(false), now)
        .unwrap();
    responder.execute_ready(&SystemClock).await.unwrap();
    let paged = pager.calls();
    assert_eq!(paged.len(), 1);
    assert_eq!(paged[0].target.value, "tier2");
    assert!(
        setup.connector.calls().is_empty(),
        "only the tier's connector notifies it"
    );
    // Someone takes it on: the next tier is not bothered.
    let ana = responder.acting_as("user:ana");
    assert_eq!(
        ana.acknowledge(&first.id, minutes(20)).unwrap(),
        Answer::Done(ActionState::Cancelled)
    );
    assert!(matches!(
        ana.acknowledge(&first.id, minutes(21)).unwrap(),
        Answer::Refused(reason) if reason.contains("acknowledged by user:ana")
    ));
    assert_eq!(responder.escalate(minutes(61)).unwrap(), 0);
    let states: BTreeMap<String, ActionState> = setup
        .store
        .incident_actions(&first.id.0)
        .unwrap()
        .into_iter()
        .map(|record| (record.target.value, record.state))
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([
            ("tier2".to_string(), ActionState::Succeeded),
            ("tier3".to_string(), ActionState::Cancelled)
        ])
    );
    // A later version of the incident schedules nothing new.
    let mut later = first.clone();
    later.version = 2;
    assert!(
        responder
            .decide(&later, false, minutes(30))
            .unwrap()
            .is_empty()
    );
    // Below the tiers' severity: no escalation.
    let mut minor = incident(0.9, ws1_dana());
    minor.id = IncidentId("inc-00000000000000d4".into());
    minor.severity = Level::Medium;
    assert!(responder.decide(&minor, false, now).unwrap().is_empty());
    assert!(setup.store.verify_audit(None).unwrap().violation.is_none());
}
