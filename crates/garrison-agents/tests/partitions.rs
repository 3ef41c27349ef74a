//! Triage cut into partitions by entity: each partition's agent gets only its own hosts and
//! people, and alerts are grouped exactly as one triage agent groups them.

use garrison_agents::messages::{TeamKind, TeamMessage, alert_partition};
use garrison_agents::team::{self, TeamConfig, TeamStores};
use garrison_agents::{AgentSpec, Clock, RuntimeBuilder};
use garrison_bus::{
    Bus, Envelope, InProcessBus, Lineage, Message, Subscription, SubscriptionSpec,
    partition_subject,
};
use garrison_model::{Alert, AlertId, EvidenceId, EvidenceRef, Level, RuleRef};
use garrison_store::SqliteStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> jiff::Timestamp {
        "2026-11-26T02:00:00Z".parse().unwrap()
    }
}

const PARTITIONS: u32 = 4;

/// 120 alerts over 12 hosts, people without a host (one person under three names) and
/// alerts with neither, three rules, repeats within and beyond the grouping window.
fn alerts() -> Vec<Alert> {
    let people = ["CORP\\dana", "dana@corp.example", "erik", "Dana"];
    (0..120u64)
        .map(|i| {
            let source = EvidenceRef {
                path: Arc::from("stream"),
                member: None,
                record_id: i,
                offset: i * 100,
            };
            let evidence = EvidenceId::of(&source);
            let rule = format!("rule-{}", i % 3);
            let (host, user) = match i % 10 {
                0..=6 => (
                    Some(format!("WS{:02}", i % 12)),
                    Some("CORP\\alice".to_string()),
                ),
                7 | 8 => (None, Some(people[(i % 4) as usize].to_string())),
                _ => (None, None),
            };
            Alert {
                id: AlertId::of(&rule, evidence),
                rule: RuleRef {
                    id: rule,
                    title: "a rule".into(),
                    level: if i % 3 == 0 { Level::High } else { Level::Low },
                    tags: vec![],
                },
                // Every 30 s, with a half-hour pause half way: repeats fall within the
                // 10-minute window, and after the pause outside it.
                timestamp: Some(
                    jiff::Timestamp::from_second(
                        1_760_000_000 + i as i64 * 30 + (i as i64 / 60) * 1800,
                    )
                    .unwrap(),
                ),
                source,
                evidence,
                host,
                user,
                channel: None,
                event_id: None,
                fields: vec![],
                entities: vec![],
            }
        })
        .collect()
}

/// Triage's decision on every alert it passed on (group, first of the group, verdict), and
/// the alerts each partition subject carried, running triage in `partitions`.
async fn triage(
    partitions: u32,
) -> (
    BTreeMap<String, (String, Option<String>, String)>,
    BTreeMap<String, Vec<String>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let bus = InProcessBus::new();
    // Taps beside the team: what triage answered, and what each partition carried.
    let mut subjects = vec![TeamMessage::subject(TeamKind::AlertTriaged).to_string()];
    for partition in 0..partitions.max(2) {
        subjects.push(partition_subject("alert.raised", partition));
    }
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    let mut tap = bus
        .subscribe(SubscriptionSpec::new("tap", &subjects))
        .await
        .unwrap();
    let config = TeamConfig {
        partitions,
        ..TeamConfig::default()
    };
    let team = team::start(
        bus.clone(),
        TeamStores::shared(store),
        Arc::new(FixedClock),
        config,
    )
    .await
    .unwrap();
    for batch in alerts().chunks(16) {
        team.detect
            .publish(
                TeamMessage::AlertRaised {
                    alerts: batch.to_vec(),
                },
                Lineage::start(),
            )
            .await
            .unwrap();
    }
    let mut decisions = BTreeMap::new();
    let mut carried: BTreeMap<String, Vec<String>> = BTreeMap::new();
    loop {
        let delivery = match tokio::time::timeout(Duration::from_millis(500), tap.next()).await {
            Ok(Some(delivery)) => delivery,
            _ => break,
        };
        let envelope: Envelope<TeamMessage> =
            serde_json::from_slice(&delivery.envelope.body).unwrap();
        match envelope.payload {
            TeamMessage::AlertTriaged { triaged } => {
                for t in triaged {
                    let old = decisions.insert(
                        t.alert.id.0.clone(),
                        (
                            t.decision.group,
                            t.decision.duplicate_of.map(|id| id.0),
                            format!("{:?}", t.decision.verdict),
                        ),
                    );
                    assert!(old.is_none(), "{} decided twice", t.alert.id);
                }
            }
            TeamMessage::AlertRaised { alerts } => carried
                .entry(delivery.envelope.subject.clone())
                .or_default()
                .extend(alerts.into_iter().map(|alert| alert.id.0)),
            other => panic!("tap got {other:?}"),
        }
        delivery.ack();
    }
    let stats = team.runtime.shutdown().await;
    assert_eq!(stats.agents["triage"].rejected, 0);
    assert!(bus.dead_letters().is_empty());
    (decisions, carried)
}

#[tokio::test]
async fn partitions_hold_their_own_entities_and_group_as_one_triage_does() {
    let (whole, carried_whole) = triage(1).await;
    let (cut, carried) = triage(PARTITIONS).await;
    assert!(
        carried_whole.is_empty(),
        "one triage: no partition subjects"
    );
    assert!(
        whole.len() > 40,
        "most alerts are passed on: {}",
        whole.len()
    );
    // Every partition carried alerts, each only its own entities', each alert once.
    assert_eq!(carried.len(), PARTITIONS as usize, "{:?}", carried.keys());
    let by_id: BTreeMap<String, Alert> = alerts()
        .into_iter()
        .map(|alert| (alert.id.0.clone(), alert))
        .collect();
    let mut total = 0;
    for (subject, ids) in &carried {
        let partition: u32 = subject.rsplit('.').next().unwrap().parse().unwrap();
        for id in ids {
            assert_eq!(alert_partition(&by_id[id], PARTITIONS), partition, "{id}");
        }
        total += ids.len();
    }
    assert_eq!(total, 120);
    // Dana under three names is one person: one partition.
    let dana: Vec<u32> = by_id
        .values()
        .filter(|alert| {
            alert.host.is_none()
                && alert
                    .user
                    .as_deref()
                    .is_some_and(|u| u.to_lowercase().contains("dana"))
        })
        .map(|alert| alert_partition(alert, PARTITIONS))
        .collect();
    assert!(
        dana.len() >= 3 && dana.iter().all(|p| *p == dana[0]),
        "{dana:?}"
    );
    // The same alerts passed on, in the same groups with the same firsts.
    let groups = |decisions: &BTreeMap<String, (String, Option<String>, String)>| {
        decisions
            .iter()
            .map(|(id, (group, first, _))| (id.clone(), group.clone(), first.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(groups(&whole), groups(&cut));
    let repeats = cut.values().filter(|(_, first, _)| first.is_some()).count();
    let groups_started = cut.values().filter(|(_, first, _)| first.is_none()).count();
    assert!(
        repeats > 20 && groups_started > 20,
        "{repeats} repeats, {groups_started} groups"
    );
}

#[tokio::test]
async fn a_partitioned_reader_needs_a_partition_and_refuses_other_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    // Declared without a partition, an agent reading a cut kind is refused at start.
    let mut builder = RuntimeBuilder::<InProcessBus, TeamMessage>::new(
        InProcessBus::new(),
        store.clone(),
        Arc::new(FixedClock),
    )
    .partitioned(TeamKind::AlertRaised, PARTITIONS);
    let spec = AgentSpec::new(
        "triage",
        vec![TeamKind::AlertRaised],
        vec![TeamKind::AlertTriaged],
    );
    let audit = store.clone();
    builder
        .agent(spec, move || {
            garrison_agents::triage::Triage::new(Default::default(), audit.clone())
        })
        .unwrap();
    let error = builder.start().await.err().expect("refused");
    assert!(error.to_string().contains("needs one"), "{error}");

    // A message moved to another partition's subject (the subject is not signed) is refused
    // there and audited, not triaged by an owner of other entities.
    let bus = InProcessBus::new();
    let subjects: Vec<String> = (0..PARTITIONS)
        .map(|partition| partition_subject("alert.raised", partition))
        .collect();
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    let mut tap = bus
        .subscribe(SubscriptionSpec::new("tap", &subjects))
        .await
        .unwrap();
    let team = team::start(
        bus.clone(),
        TeamStores::shared(store.clone()),
        Arc::new(FixedClock),
        TeamConfig {
            partitions: PARTITIONS,
            ..TeamConfig::default()
        },
    )
    .await
    .unwrap();
    let alert = alerts().remove(0);
    let own = alert_partition(&alert, PARTITIONS);
    team.detect
        .publish(
            TeamMessage::AlertRaised {
                alerts: vec![alert],
            },
            Lineage::start(),
        )
        .await
        .unwrap();
    let delivery = tap.next().await.unwrap();
    assert_eq!(
        delivery.envelope.subject,
        partition_subject("alert.raised", own)
    );
    let mut moved = (*delivery.envelope).clone();
    moved.subject = partition_subject("alert.raised", (own + 1) % PARTITIONS);
    delivery.ack();
    bus.publish(moved).await.unwrap();
    for _ in 0..200 {
        if team.runtime.stats().agents["triage"].rejected == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = team.runtime.shutdown().await;
    assert_eq!(stats.agents["triage"].rejected, 1);
    assert_eq!(
        stats.agents["triage"].handled, 1,
        "the genuine one, in its partition"
    );
    let refusals: Vec<String> = store
        .audit_entries(1, 100)
        .unwrap()
        .into_iter()
        .filter(|entry| entry.action == garrison_store::AuditAction::MessageRejected.code())
        .map(|entry| entry.detail)
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].contains("not all that partition's"),
        "{}",
        refusals[0]
    );
}
