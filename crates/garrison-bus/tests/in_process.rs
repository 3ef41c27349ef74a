//! The in-process bus: at-least-once delivery with acks, work sharing and fan-out, backpressure,
//! redelivery after failures and deadlines, and dead letters.

mod common;

use common::{alert, now};
use garrison_bus::{
    AgentId, AgentKeys, Bus, BusError, Delivery, InProcessBus, Lineage, SignedEnvelope,
    Subscription, SubscriptionSpec,
};
use std::time::Duration;

fn sealed(rule: &str) -> SignedEnvelope {
    let keys = AgentKeys::from_seed(AgentId::new("detect", "1"), [1; 32]);
    keys.seal(alert(rule), Lineage::start(), now()).unwrap()
}

fn spec(consumer: &str) -> SubscriptionSpec {
    SubscriptionSpec {
        ack_wait: None,
        ..SubscriptionSpec::new(consumer, &["alert.raised"])
    }
}

async fn next<S: Subscription>(subscription: &mut S) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .expect("a delivery arrives")
        .expect("the bus is open")
}

async fn nothing_pending<S: Subscription>(subscription: &mut S) {
    let waited = tokio::time::timeout(Duration::from_millis(50), subscription.next()).await;
    assert!(waited.is_err(), "nothing more is delivered: {waited:?}");
}

#[tokio::test]
async fn acked_messages_are_delivered_once_and_unacked_ones_again() {
    let bus = InProcessBus::new();
    let mut triage = bus.subscribe(spec("triage")).await.unwrap();
    bus.publish(sealed("a")).await.unwrap();
    bus.publish(sealed("b")).await.unwrap();

    let first = next(&mut triage).await;
    let first_id = first.envelope.id;
    assert_eq!(first.attempt, 1);
    first.ack();
    let second = next(&mut triage).await;
    let second_id = second.envelope.id;
    assert!(!bus.is_idle(), "a delivery is being handled");
    drop(second); // the handler failed without settling: delivered again
    let again = next(&mut triage).await;
    assert_eq!(again.envelope.id, second_id);
    assert_eq!(again.attempt, 2);
    assert!(!bus.is_idle());
    again.ack();
    nothing_pending(&mut triage).await;
    assert!(bus.is_idle());
    assert_ne!(first_id, second_id);

    let stats = bus.stats();
    assert_eq!(stats.published, 2);
    let triage = &stats.consumers[0];
    assert_eq!(
        (triage.delivered, triage.acked, triage.redelivered),
        (3, 2, 1)
    );
}

#[tokio::test]
async fn a_panicking_handler_gets_its_message_redelivered() {
    let bus = InProcessBus::new();
    let mut subscription = bus.subscribe(spec("investigate")).await.unwrap();
    bus.publish(sealed("boom")).await.unwrap();
    let delivery = next(&mut subscription).await;
    let id = delivery.envelope.id;
    let handler = tokio::spawn(async move {
        let _held = delivery;
        panic!("handler bug");
    });
    assert!(handler.await.unwrap_err().is_panic());
    let redelivered = next(&mut subscription).await;
    assert_eq!((redelivered.envelope.id, redelivered.attempt), (id, 2));
}

#[tokio::test]
async fn instances_of_one_consumer_share_work_and_consumers_each_get_everything() {
    let bus = InProcessBus::new();
    let mut triage_1 = bus.subscribe(spec("triage")).await.unwrap();
    let mut triage_2 = bus.subscribe(spec("triage")).await.unwrap();
    let mut report = bus.subscribe(spec("report")).await.unwrap();
    for i in 0..6 {
        bus.publish(sealed(&format!("r{i}"))).await.unwrap();
    }
    let mut triage_ids = Vec::new();
    for i in 0..6 {
        let delivery = if i % 2 == 0 {
            next(&mut triage_1).await
        } else {
            next(&mut triage_2).await
        };
        triage_ids.push(delivery.envelope.id);
        delivery.ack();
    }
    nothing_pending(&mut triage_1).await;
    nothing_pending(&mut triage_2).await;
    let mut report_ids = Vec::new();
    for _ in 0..6 {
        let delivery = next(&mut report).await;
        report_ids.push(delivery.envelope.id);
        delivery.ack();
    }
    triage_ids.sort();
    report_ids.sort();
    assert_eq!(
        triage_ids, report_ids,
        "each consumer saw every message once"
    );
    triage_ids.dedup();
    assert_eq!(triage_ids.len(), 6);
}

#[tokio::test]
async fn a_full_queue_makes_publishers_wait() {
    let bus = InProcessBus::new();
    let mut slow = bus
        .subscribe(SubscriptionSpec {
            capacity: 2,
            ..spec("slow")
        })
        .await
        .unwrap();
    bus.publish(sealed("1")).await.unwrap();
    bus.publish(sealed("2")).await.unwrap();
    let publisher = bus.clone();
    let third = tokio::spawn(async move { publisher.publish(sealed("3")).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!third.is_finished(), "the third publish waits for room");
    assert_eq!(bus.stats().consumers[0].queued, 2);
    next(&mut slow).await.ack();
    third.await.unwrap().unwrap();
    assert_eq!(bus.stats().publish_waits, 1);
    next(&mut slow).await.ack();
    next(&mut slow).await.ack();
}

#[tokio::test(start_paused = true)]
async fn deliveries_past_their_deadline_come_back_and_repeated_failures_become_dead_letters() {
    let bus = InProcessBus::new();
    let mut subscription = bus
        .subscribe(SubscriptionSpec {
            ack_wait: Some(Duration::from_secs(30)),
            max_deliver: 3,
            ..spec("verify")
        })
        .await
        .unwrap();
    bus.publish(sealed("stuck")).await.unwrap();
    let held = next(&mut subscription).await;
    let id = held.envelope.id;
    // Never settled: after the deadline it is delivered again.
    tokio::time::sleep(Duration::from_secs(31)).await;
    let second = next(&mut subscription).await;
    assert_eq!((second.envelope.id, second.attempt), (id, 2));
    held.ack(); // too late: the deadline already settled it
    second.nack(Duration::from_secs(1));
    let third = next(&mut subscription).await;
    assert_eq!(third.attempt, 3);
    third.nack(Duration::ZERO);
    nothing_pending(&mut subscription).await;
    let dead = bus.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].envelope.id, dead[0].attempts), (id, 3));
    assert_eq!(dead[0].consumer, "verify");
    let stats = &bus.stats().consumers[0];
    assert_eq!((stats.expired, stats.acked, stats.dead_lettered), (1, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_delivery_still_in_progress_keeps_its_deadline_away() {
    let bus = InProcessBus::new();
    let mut subscription = bus
        .subscribe(SubscriptionSpec {
            ack_wait: Some(Duration::from_secs(30)),
            ..spec("investigate")
        })
        .await
        .unwrap();
    bus.publish(sealed("long")).await.unwrap();
    let held = next(&mut subscription).await;
    // Three ack waits, saying "still working" every 20 s.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        held.progress();
    }
    nothing_pending(&mut subscription).await;
    held.ack();
    let stats = &bus.stats().consumers[0];
    assert_eq!((stats.expired, stats.acked), (0, 1));
    // Without progress, the deadline still comes.
    bus.publish(sealed("stuck")).await.unwrap();
    let stuck = next(&mut subscription).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(next(&mut subscription).await.envelope.id, stuck.envelope.id);
    assert_eq!(bus.stats().consumers[0].expired, 1);
}

#[tokio::test]
async fn refusals_are_explicit() {
    let bus = InProcessBus::new();
    assert_eq!(
        bus.publish(sealed("nobody listens")).await,
        Err(BusError::NoRoute("alert.raised".into()))
    );
    bus.subscribe(spec("triage")).await.unwrap();
    let conflict = bus
        .subscribe(SubscriptionSpec::new("triage", &["incident.opened"]))
        .await
        .unwrap_err();
    assert_eq!(
        conflict,
        BusError::ConsumerConflict {
            name: "triage".into()
        }
    );
    assert!(matches!(
        bus.subscribe(SubscriptionSpec::new("", &["x"])).await,
        Err(BusError::InvalidSubscription(_))
    ));
    bus.close();
    assert_eq!(bus.publish(sealed("late")).await, Err(BusError::Closed));
}

#[tokio::test]
async fn closing_ends_subscriptions() {
    let bus = InProcessBus::new();
    let mut subscription = bus.subscribe(spec("report")).await.unwrap();
    let closer = bus.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        closer.close();
    });
    let ended = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .unwrap();
    assert!(ended.is_none());
}
