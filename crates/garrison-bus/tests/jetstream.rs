//! The JetStream bus against the real NATS server (`GARRISON_NATS_URL`, default
//! `nats://127.0.0.1:4222`): the same delivery contract as the in-process bus, plus what only a
//! broker gives: consumers that outlive their subscribers, deduplication by message id, dead
//! letters kept in a stream, and bounded streams that make publishers wait.

mod common;

use common::{alert, now};
use garrison_bus::{
    AgentId, AgentKeys, Bus, BusError, Delivery, JetStreamBus, JetStreamConfig, Lineage,
    NatsOptions, SignedEnvelope, Subscription, SubscriptionSpec,
};
use std::time::Duration;

fn nats_url() -> String {
    std::env::var("GARRISON_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A bus under a prefix of its own, so tests share the server without meeting.
struct TestBus {
    bus: JetStreamBus,
}

impl TestBus {
    async fn new(config: JetStreamConfig) -> TestBus {
        let prefix = format!("gt{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
        let config = JetStreamConfig { prefix, ..config };
        let bus = JetStreamBus::connect(&NatsOptions::new(nats_url()), config)
            .await
            .expect("NATS with JetStream runs (see .ci/run)");
        TestBus { bus }
    }

    async fn default() -> TestBus {
        TestBus::new(JetStreamConfig::default()).await
    }

    async fn finish(self) {
        self.bus.close();
        self.bus.purge_all(&["alert", "incident"]).await.unwrap();
    }
}

fn sealed(rule: &str) -> SignedEnvelope {
    let keys = AgentKeys::from_seed(AgentId::new("detect", "1"), [1; 32]);
    keys.seal(alert(rule), Lineage::start(), now()).unwrap()
}

fn spec(consumer: &str) -> SubscriptionSpec {
    SubscriptionSpec {
        ack_wait: Some(Duration::from_secs(30)),
        ..SubscriptionSpec::new(consumer, &["alert.raised"])
    }
}

async fn next<S: Subscription>(subscription: &mut S) -> Delivery {
    tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("a delivery arrives")
        .expect("the bus is open")
}

async fn nothing_pending<S: Subscription>(subscription: &mut S) {
    let waited = tokio::time::timeout(Duration::from_millis(300), subscription.next()).await;
    assert!(waited.is_err(), "nothing more is delivered: {waited:?}");
}

/// Waits until the server shows nothing pending or unacked for the alert family.
async fn settled(bus: &JetStreamBus) {
    for _ in 0..100 {
        if bus.is_idle(&["alert.raised"]).await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("still busy: {:?}", bus.consumers(&["alert.raised"]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_arrives_intact_and_an_acked_one_is_gone() {
    let test = TestBus::default().await;
    let mut triage = test.bus.subscribe(spec("triage")).await.unwrap();
    let sent = sealed("r1");
    test.bus.publish(sent.clone()).await.unwrap();
    let delivery = next(&mut triage).await;
    assert_eq!(
        *delivery.envelope, sent,
        "header, body and signature survive"
    );
    assert_eq!(delivery.attempt, 1);
    delivery.ack();
    nothing_pending(&mut triage).await;
    settled(&test.bus).await;
    let stats = test.bus.stats();
    assert_eq!((stats.published, stats.delivered, stats.acked), (1, 1, 1));
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_published_where_nobody_listens_but_declared_consumers_keep_work() {
    let test = TestBus::default().await;
    let refused = test.bus.publish(sealed("r1")).await;
    assert!(matches!(refused, Err(BusError::NoRoute(ref s)) if s == "alert.raised"));
    test.bus.declare(&[spec("triage")]).await.unwrap();
    test.bus.publish(sealed("r2")).await.unwrap();
    // The agent starts after the message was published: it is waiting for it.
    let mut triage = test.bus.subscribe(spec("triage")).await.unwrap();
    next(&mut triage).await.ack();
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_of_one_consumer_share_the_work_and_consumers_each_get_everything() {
    let test = TestBus::default().await;
    // At most four unacked at a time, and the first instance is slow to ack: both get work.
    let shared = SubscriptionSpec {
        capacity: 4,
        ..spec("triage")
    };
    let mut first = test.bus.subscribe(shared.clone()).await.unwrap();
    let mut second = test.bus.subscribe(shared).await.unwrap();
    let mut audit = test.bus.subscribe(spec("audit")).await.unwrap();
    let total = 40;
    for n in 0..total {
        test.bus.publish(sealed(&format!("r{n}"))).await.unwrap();
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut from_first = 0;
    let mut from_second = 0;
    while ids.len() < total {
        tokio::select! {
            Some(delivery) = first.next() => {
                from_first += 1;
                assert!(ids.insert(delivery.envelope.id), "delivered once");
                tokio::time::sleep(Duration::from_millis(20)).await;
                delivery.ack();
            }
            Some(delivery) = second.next() => {
                from_second += 1;
                assert!(ids.insert(delivery.envelope.id), "delivered once");
                delivery.ack();
            }
            _ = tokio::time::sleep(Duration::from_secs(10)) => panic!("only {} arrived", ids.len()),
        }
    }
    assert_eq!(from_first + from_second, total);
    assert!(
        from_first > 0 && from_second > 0,
        "both instances worked: {from_first} and {from_second}"
    );
    for _ in 0..total {
        next(&mut audit).await.ack();
    }
    nothing_pending(&mut first).await;
    nothing_pending(&mut audit).await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacked_and_dropped_deliveries_come_back_then_become_dead_letters() {
    let test = TestBus::default().await;
    let spec = SubscriptionSpec {
        max_deliver: 3,
        ..spec("triage")
    };
    let mut triage = test.bus.subscribe(spec).await.unwrap();
    let sent = sealed("poison");
    test.bus.publish(sent.clone()).await.unwrap();
    let first = next(&mut triage).await;
    assert_eq!(first.attempt, 1);
    first.nack(Duration::from_millis(200));
    let second = next(&mut triage).await;
    assert_eq!((second.envelope.id, second.attempt), (sent.id, 2));
    drop(second); // a handler that failed without settling
    let third = next(&mut triage).await;
    assert_eq!(third.attempt, 3);
    third.nack(Duration::ZERO);
    // The fourth delivery is not handed out: it goes to the dead letters.
    nothing_pending(&mut triage).await;
    let mut letters = Vec::new();
    for _ in 0..50 {
        letters = test.bus.dead_letters().await.unwrap();
        if !letters.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.id, Some(sent.id));
    assert_eq!(letter.consumer, "triage__alert_raised");
    assert_eq!(letter.subject, "alert.raised");
    assert_eq!(letter.attempts, 4);
    assert!(letter.reason.contains("3 deliveries"), "{}", letter.reason);
    settled(&test.bus).await;
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_left_past_its_ack_wait_is_delivered_again() {
    let test = TestBus::default().await;
    let spec = SubscriptionSpec {
        ack_wait: Some(Duration::from_secs(1)),
        ..spec("triage")
    };
    let mut triage = test.bus.subscribe(spec).await.unwrap();
    test.bus.publish(sealed("slow")).await.unwrap();
    let held = next(&mut triage).await;
    let again = next(&mut triage).await;
    assert_eq!(again.envelope.id, held.envelope.id);
    assert_eq!(again.attempt, 2);
    again.ack();
    std::mem::forget(held);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_still_in_progress_is_not_delivered_again() {
    let test = TestBus::default().await;
    let spec = SubscriptionSpec {
        ack_wait: Some(Duration::from_secs(1)),
        ..spec("triage")
    };
    let mut triage = test.bus.subscribe(spec).await.unwrap();
    test.bus.publish(sealed("long")).await.unwrap();
    let held = next(&mut triage).await;
    // Two and a half ack waits, saying "still working" every 400 ms.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        held.progress();
    }
    nothing_pending(&mut triage).await;
    held.ack();
    settled(&test.bus).await;
    let consumers = test.bus.consumers(&["alert.raised"]).await.unwrap();
    assert_eq!(consumers[0].redelivered, 0, "{consumers:?}");
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republished_id_is_dropped_as_a_duplicate() {
    let test = TestBus::default().await;
    let mut triage = test.bus.subscribe(spec("triage")).await.unwrap();
    let sent = sealed("once");
    test.bus.publish(sent.clone()).await.unwrap();
    test.bus.publish(sent.clone()).await.unwrap();
    next(&mut triage).await.ack();
    nothing_pending(&mut triage).await;
    let stats = test.bus.stats();
    assert_eq!((stats.published, stats.duplicates), (1, 1));
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_stream_makes_publishers_wait_until_the_consumer_catches_up() {
    let test = TestBus::new(JetStreamConfig {
        max_messages: 5,
        publish_timeout: Duration::from_secs(2),
        ..JetStreamConfig::default()
    })
    .await;
    test.bus.declare(&[spec("triage")]).await.unwrap();
    for n in 0..5 {
        test.bus.publish(sealed(&format!("r{n}"))).await.unwrap();
    }
    // Nobody consumes: the sixth waits, then gives up with a retryable error.
    let refused = test.bus.publish(sealed("r5")).await;
    assert!(
        matches!(refused, Err(BusError::Unavailable(ref why)) if why.contains("maximum messages")),
        "{refused:?}"
    );
    assert!(refused.unwrap_err().is_retryable());
    assert!(test.bus.stats().publish_waits > 0);
    // A consumer that catches up makes room: a waiting publisher then goes through.
    let bus = test.bus.clone();
    let waiting = tokio::spawn(async move { bus.publish(sealed("r6")).await });
    let mut triage = test.bus.subscribe(spec("triage")).await.unwrap();
    let mut received = 0;
    while received < 6 {
        next(&mut triage).await.ack();
        received += 1;
    }
    waiting.await.unwrap().unwrap_or_else(|error| {
        panic!("the waiting publisher got through once there was room: {error}")
    });
    nothing_pending(&mut triage).await;
    test.finish().await;
}

/// `spec(consumer)`, one unacked message at a time (a stateful agent's).
fn ordered_spec(consumer: &str) -> SubscriptionSpec {
    SubscriptionSpec {
        ordered: true,
        ..spec(consumer)
    }
}

/// The ids of the next `count` deliveries, in delivery order, acking each.
async fn ids_in_order<S: Subscription>(
    subscription: &mut S,
    count: usize,
) -> Vec<garrison_bus::EnvelopeId> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let delivery = next(subscription).await;
        ids.push(delivery.envelope.id);
        delivery.ack();
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_published_together_arrive_once_each_in_their_order() {
    let test = TestBus::default().await;
    let ordered = ordered_spec("triage");
    let mut triage = test.bus.subscribe(ordered).await.unwrap();
    // More than are sent unconfirmed at once, and one twice (dropped as a duplicate).
    let mut sent: Vec<SignedEnvelope> = (0..100).map(|n| sealed(&format!("r{n}"))).collect();
    let expected: Vec<_> = sent.iter().map(|envelope| envelope.id).collect();
    sent.push(sent[7].clone());
    test.bus.publish_all(sent).await.unwrap();
    assert_eq!(ids_in_order(&mut triage, 100).await, expected);
    nothing_pending(&mut triage).await;
    let stats = test.bus.stats();
    assert_eq!((stats.published, stats.duplicates), (100, 1));
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_published_together_into_a_full_stream_wait_for_room_in_order() {
    let test = TestBus::new(JetStreamConfig {
        max_messages: 10,
        ..JetStreamConfig::default()
    })
    .await;
    let ordered = ordered_spec("triage");
    test.bus
        .declare(std::slice::from_ref(&ordered))
        .await
        .unwrap();
    let sent: Vec<SignedEnvelope> = (0..25).map(|n| sealed(&format!("r{n}"))).collect();
    let expected: Vec<_> = sent.iter().map(|envelope| envelope.id).collect();
    // The stream holds 10: the rest are refused, then sent again one by one as the consumer
    // makes room.
    let bus = test.bus.clone();
    let publishing = tokio::spawn(async move { bus.publish_all(sent).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut triage = test.bus.subscribe(ordered).await.unwrap();
    assert_eq!(ids_in_order(&mut triage, 25).await, expected);
    publishing.await.unwrap().unwrap();
    assert!(test.bus.stats().publish_waits > 0, "{:?}", test.bus.stats());
    nothing_pending(&mut triage).await;
    test.finish().await;
}

/// An envelope sent as an announcement (the bus routes by subject; receivers check bodies).
fn announcement(rule: &str, id: garrison_bus::EnvelopeId) -> SignedEnvelope {
    let keys = AgentKeys::from_seed(AgentId::new("report", "1"), [2; 32]);
    let mut signed = keys
        .seal_as(id, alert(rule), Lineage::start(), now())
        .unwrap();
    signed.subject = "state.incident".into();
    signed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_reach_every_watcher_need_none_and_repeats_are_dropped() {
    use garrison_bus::EnvelopeId;
    let test = TestBus::default().await;
    // Nobody watches: kept, not refused.
    test.bus
        .announce(announcement("before", EnvelopeId::named("before")))
        .await
        .unwrap();
    let mut first = test.bus.watch("state.>").await.unwrap();
    let mut second = test.bus.watch("state.incident").await.unwrap();
    let one = announcement("one", EnvelopeId::named("incident/1/1"));
    let two = announcement("two", EnvelopeId::named("incident/1/2"));
    test.bus.announce(one.clone()).await.unwrap();
    // A relay publishing the same change again after a crash.
    test.bus.announce(one.clone()).await.unwrap();
    test.bus.announce(two.clone()).await.unwrap();
    for watch in [&mut first, &mut second] {
        for expected in [&one, &two] {
            let got = tokio::time::timeout(Duration::from_secs(10), watch.next())
                .await
                .expect("an announcement arrives")
                .expect("the watch goes on")
                .expect("an envelope");
            assert_eq!(&got, expected);
        }
        let more = tokio::time::timeout(Duration::from_millis(300), watch.next()).await;
        assert!(more.is_err(), "nothing else: {more:?}");
    }
    let stats = test.bus.stats();
    assert_eq!((stats.published, stats.duplicates), (3, 1));
    // Work for agents is not an announcement, nor is watching it.
    assert!(matches!(
        test.bus.announce(sealed("work")).await,
        Err(BusError::InvalidSubscription(_))
    ));
    assert!(test.bus.watch("alert.raised").await.is_err());
    test.finish().await;
}
