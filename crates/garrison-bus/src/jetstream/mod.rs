//! NATS JetStream as the bus, for agents running as separate processes.
//!
//! - **Streams per message family**: `alert.raised` and `alert.triaged` travel in stream
//!   `GARRISON_ALERT` (subjects `garrison.alert.>`), incidents in `GARRISON_INCIDENT`. Streams keep
//!   a message until every consumer interested in it acked it (interest retention), on disk.
//! - **Durable pull consumers**: an agent role's consumer is durable, one per subject it reads
//!   (`triage__alert_raised`); every instance of the role pulls from the same consumers, so they
//!   share the work. A consumer hands out at most its capacity of unacked messages.
//! - **Acks**: explicit, sent when the handler settles the delivery, after its effects are
//!   committed; a nack asks for redelivery after a delay, and a delivery not settled within
//!   the ack wait comes back.
//! - **Dead letters**: a message delivered `max_deliver` times without an ack is copied, with its
//!   headers and why, to stream `GARRISON_DEAD` (`garrison.dead.CONSUMER`) and only then
//!   terminated, so nothing is lost even when the process dies during the last attempt (the
//!   consumer allows one delivery more than the spec, and that one goes to the dead letters).
//! - **Deduplication**: messages are published with `Nats-Msg-Id` set to the envelope id, so a
//!   redelivered cause that publishes the same derived ids again is dropped by the stream within
//!   its duplicate window; handlers stay idempotent for redeliveries beyond it.
//! - **Backpressure**: streams are bounded and refuse new messages when full; publishers then
//!   wait and retry, so a slow consumer slows producers instead of growing memory anywhere.
//! - **No route, no publish**: a subject nobody consumes is refused ([`BusError::NoRoute`]),
//!   because interest retention would drop the message. [`Bus::declare`] creates consumers
//!   before their agents start, so work published meanwhile waits for them.

use crate::{Bus, BusError, EnvelopeId, SignedEnvelope, SubscriptionSpec};
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

mod announce;
mod options;
mod pull;

pub use announce::Watch;
pub use options::NatsOptions;
pub use pull::JetStreamSubscription;
use pull::Puller;

/// The envelope id (`Nats-Msg-Id` carries it too, for deduplication, but servers need not
/// pass that header on to consumers).
const ID: &str = "Garrison-Id";
const SENDER: &str = "Garrison-Sender";
const SIGNATURE: &str = "Garrison-Signature";
const REASON: &str = "Garrison-Dead-Reason";
const ATTEMPTS: &str = "Garrison-Attempts";
const CONSUMER: &str = "Garrison-Consumer";
const ORIGINAL_SUBJECT: &str = "Garrison-Subject";

/// How the streams are laid out and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamConfig {
    /// First token of every subject and stream name, so deployments share a server apart.
    pub prefix: String,
    /// Messages a family's stream holds before publishers wait.
    pub max_messages: i64,
    /// Bytes a family's stream holds before publishers wait; -1 for no bound but the count
    /// (a byte bound is reserved from the server's JetStream storage when the stream is made).
    pub max_bytes: i64,
    /// How long the stream remembers message ids to drop republished duplicates.
    pub duplicate_window: Duration,
    /// Copies of each stream in a cluster (1 on a single server).
    pub replicas: usize,
    /// How long a publish may wait (stream full, server away) before it fails.
    pub publish_timeout: Duration,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        JetStreamConfig {
            prefix: "garrison".into(),
            max_messages: 1_000_000,
            max_bytes: -1,
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
            publish_timeout: Duration::from_secs(300),
        }
    }
}

/// The JetStream bus. Clones share one connection.
#[derive(Clone)]
pub struct JetStreamBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JetStreamBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamBus")
            .field("prefix", &self.inner.config.prefix)
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: async_nats::Client,
    context: jetstream::Context,
    config: JetStreamConfig,
    streams: tokio::sync::Mutex<HashMap<String, stream::Stream>>,
    /// Subjects known to have a consumer (only ever grows: consumers are durable).
    routed: Mutex<HashSet<String>>,
    closed: AtomicBool,
    shutdown: watch::Sender<bool>,
    counters: Arc<Counters>,
}

/// Counters of this process's use of the bus.
#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    duplicates: AtomicU64,
    publish_waits: AtomicU64,
    delivered: AtomicU64,
    acked: AtomicU64,
    nacked: AtomicU64,
    dead_lettered: AtomicU64,
    /// Acks and nacks handed to a task and not yet sent.
    settling: AtomicU64,
}

/// What this process did on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JetStreamStats {
    pub published: u64,
    /// Publishes the stream recognized as duplicates by message id and dropped.
    pub duplicates: u64,
    /// Publish attempts that waited (stream full, server away).
    pub publish_waits: u64,
    pub delivered: u64,
    pub acked: u64,
    pub nacked: u64,
    pub dead_lettered: u64,
}

/// A consumer's state at the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerState {
    pub name: String,
    /// Messages not yet delivered.
    pub pending: u64,
    /// Messages delivered and not yet acked.
    pub unacked: u64,
    pub redelivered: u64,
    /// Pull requests waiting at the server: 0 means no subscriber is pulling now.
    pub waiting: u64,
    /// Deliveries made so far, redeliveries included.
    pub delivered: u64,
}

/// A dead letter read back from the dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub consumer: String,
    pub subject: String,
    pub id: Option<EnvelopeId>,
    pub attempts: u32,
    pub reason: String,
}

impl JetStreamBus {
    pub async fn connect(
        options: &NatsOptions,
        config: JetStreamConfig,
    ) -> Result<JetStreamBus, BusError> {
        let client = options.connect().await?;
        Ok(JetStreamBus::with_client(client, config))
    }

    pub fn with_client(client: async_nats::Client, config: JetStreamConfig) -> JetStreamBus {
        let context = jetstream::new(client.clone());
        JetStreamBus {
            inner: Arc::new(Inner {
                client,
                context,
                config,
                streams: tokio::sync::Mutex::new(HashMap::new()),
                routed: Mutex::new(HashSet::new()),
                closed: AtomicBool::new(false),
                shutdown: watch::channel(false).0,
                counters: Arc::default(),
            }),
        }
    }

    /// Stops publishing and ends subscriptions; unsettled deliveries come back to others.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.shutdown.send_replace(true);
    }

    /// Waits until every acknowledgement and publication sent so far reached the server (a
    /// process stopping calls it, so the work it finished is not delivered again).
    pub async fn flush(&self) -> Result<(), BusError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.inner.counters.settling.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.inner
            .client
            .flush()
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))
    }

    pub fn stats(&self) -> JetStreamStats {
        let c = &self.inner.counters;
        JetStreamStats {
            published: c.published.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            publish_waits: c.publish_waits.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            acked: c.acked.load(Ordering::Relaxed),
            nacked: c.nacked.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
        }
    }

    fn stream_name(&self, family: &str) -> String {
        format!("{}_{}", self.inner.config.prefix, family)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }

    fn nats_subject(&self, subject: &str) -> String {
        format!("{}.{subject}", self.inner.config.prefix)
    }

    /// The stream carrying `family`, created when missing.
    async fn stream(&self, family: &str) -> Result<stream::Stream, BusError> {
        let mut streams = self.inner.streams.lock().await;
        if let Some(stream) = streams.get(family) {
            return Ok(stream.clone());
        }
        let config = &self.inner.config;
        let dead = family == DEAD_FAMILY;
        let announcements = family == announce::FAMILY;
        let stream = self
            .inner
            .context
            .get_or_create_stream(stream::Config {
                name: self.stream_name(family),
                subjects: vec![format!("{}.{family}.>", config.prefix)],
                // Dead letters stay until someone deals with them; the oldest go first when
                // the stream is full, so dead letters never block the living.
                // Announcements are kept for whoever watches now or soon (a day at most),
                // whether or not anyone does.
                retention: if dead || announcements {
                    stream::RetentionPolicy::Limits
                } else {
                    stream::RetentionPolicy::Interest
                },
                discard: if dead || announcements {
                    stream::DiscardPolicy::Old
                } else {
                    stream::DiscardPolicy::New
                },
                max_age: if announcements {
                    announce::KEPT
                } else {
                    Duration::ZERO
                },
                max_messages: config.max_messages,
                max_bytes: config.max_bytes,
                duplicate_window: config.duplicate_window,
                num_replicas: config.replicas,
                storage: stream::StorageType::File,
                ..stream::Config::default()
            })
            .await
            .map_err(|error| {
                BusError::Unavailable(format!(
                    "cannot create stream {}: {error}",
                    self.stream_name(family)
                ))
            })?;
        streams.insert(family.to_string(), stream.clone());
        Ok(stream)
    }

    /// The durable consumer of `subject` for `spec`, created when missing.
    async fn consumer(
        &self,
        spec: &SubscriptionSpec,
        subject: &str,
    ) -> Result<consumer::PullConsumer, BusError> {
        let stream = self.stream(family(subject)).await?;
        let name = consumer_name(&spec.consumer, subject);
        let filter = self.nats_subject(subject);
        let config = consumer::pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: filter.clone(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: spec.ack_wait.unwrap_or(Duration::from_secs(30)),
            // One delivery more than the spec allows: that one moves the message to the dead
            // letters, even when the process handling the last real attempt died.
            max_deliver: i64::from(spec.max_deliver) + 1,
            max_ack_pending: if spec.ordered {
                1
            } else {
                spec.capacity.min(i64::MAX as usize) as i64
            },
            deliver_policy: consumer::DeliverPolicy::All,
            ..consumer::pull::Config::default()
        };
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(&name, config)
            .await
            .map_err(|error| {
            BusError::Unavailable(format!("cannot create consumer {name}: {error}"))
        })?;
        if consumer.cached_info().config.filter_subject != filter {
            return Err(BusError::ConsumerConflict { name });
        }
        lock(&self.inner.routed).insert(subject.to_string());
        Ok(consumer)
    }

    /// True when some consumer reads `subject` (asked of the server when not known here).
    async fn routed(&self, subject: &str) -> Result<bool, BusError> {
        if lock(&self.inner.routed).contains(subject) {
            return Ok(true);
        }
        let stream = self.stream(family(subject)).await?;
        let filter = self.nats_subject(subject);
        let mut consumers = stream.consumers();
        while let Some(info) = consumers.next().await {
            let info = info.map_err(|error| BusError::Unavailable(error.to_string()))?;
            let matches = info.config.filter_subject == filter
                || info.config.filter_subject.is_empty()
                || wildcard_covers(&info.config.filter_subject, &filter);
            if matches {
                lock(&self.inner.routed).insert(subject.to_string());
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The state at the server of every consumer of the families `subjects` belong to.
    pub async fn consumers(&self, subjects: &[&str]) -> Result<Vec<ConsumerState>, BusError> {
        let mut families: Vec<&str> = subjects.iter().map(|s| family(s)).collect();
        families.sort_unstable();
        families.dedup();
        let mut states = Vec::new();
        for family in families {
            let stream = self.stream(family).await?;
            let mut consumers = stream.consumers();
            while let Some(info) = consumers.next().await {
                let info = info.map_err(|error| BusError::Unavailable(error.to_string()))?;
                states.push(ConsumerState {
                    name: info.name.clone(),
                    pending: info.num_pending,
                    unacked: info.num_ack_pending as u64,
                    redelivered: info.num_redelivered as u64,
                    waiting: info.num_waiting as u64,
                    delivered: info.delivered.consumer_sequence,
                });
            }
        }
        states.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(states)
    }

    /// True when no consumer of these subjects' families has anything pending or unacked.
    pub async fn is_idle(&self, subjects: &[&str]) -> Result<bool, BusError> {
        Ok(self
            .consumers(subjects)
            .await?
            .iter()
            .all(|state| state.pending == 0 && state.unacked == 0))
    }

    /// Every dead letter kept so far, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, BusError> {
        let stream = self.stream(DEAD_FAMILY).await?;
        let unavailable = |error: String| BusError::Unavailable(error);
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        let total = consumer.cached_info().num_pending;
        let mut letters = Vec::new();
        if total == 0 {
            return Ok(letters);
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|error| unavailable(error.to_string()))?;
            let header = |name: &str| {
                message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get(name))
                    .map(|value| value.as_str().to_string())
            };
            letters.push(DeadLetter {
                consumer: header(CONSUMER).unwrap_or_default(),
                subject: header(ORIGINAL_SUBJECT).unwrap_or_default(),
                id: header(ID).and_then(|id| id.parse().ok()).map(EnvelopeId),
                attempts: header(ATTEMPTS)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_default(),
                reason: header(REASON).unwrap_or_default(),
            });
            if letters.len() as u64 >= total {
                break;
            }
        }
        Ok(letters)
    }

    /// Deletes the streams (and so the consumers and messages) of this prefix: for tests and
    /// for operators resetting a deployment.
    pub async fn purge_all(&self, families: &[&str]) -> Result<(), BusError> {
        let mut streams = self.inner.streams.lock().await;
        for family in families
            .iter()
            .copied()
            .chain([DEAD_FAMILY, announce::FAMILY])
        {
            streams.remove(family);
            let name = self.stream_name(family);
            if let Err(error) = self.inner.context.delete_stream(&name).await
                && !error.to_string().contains("not found")
            {
                return Err(BusError::Unavailable(format!(
                    "cannot delete stream {name}: {error}"
                )));
            }
        }
        lock(&self.inner.routed).clear();
        Ok(())
    }
}

impl JetStreamBus {
    /// What goes on the wire for `envelope`: subject, headers and body.
    fn outgoing(&self, envelope: SignedEnvelope) -> Outgoing {
        let mut headers = async_nats::HeaderMap::new();
        let id = envelope.id.to_string();
        headers.insert("Nats-Msg-Id", id.as_str());
        headers.insert(ID, id.as_str());
        headers.insert(SENDER, envelope.sender.to_string().as_str());
        headers.insert(SIGNATURE, hex::encode(envelope.signature).as_str());
        Outgoing {
            subject: self.nats_subject(&envelope.subject),
            headers,
            payload: bytes::Bytes::from(envelope.body),
        }
    }

    /// Counts a message the stream confirmed.
    fn confirmed(&self, ack: &jetstream::publish::PublishAck) {
        let counter = if ack.duplicate {
            &self.inner.counters.duplicates
        } else {
            &self.inner.counters.published
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends `all` in order, up to [`IN_FLIGHT`] unconfirmed at once: the server takes a
    /// connection's messages in the order sent, so the stream stores them in that order. From
    /// the first one not confirmed on, they are sent again one by one, waiting out a full
    /// stream or a reconnection as [`JetStreamBus::send_outgoing`] does (their ids make those that did
    /// arrive duplicates the stream drops).
    async fn send_all(&self, all: Vec<Outgoing>) -> Result<(), BusError> {
        let mut waiting = std::collections::VecDeque::new();
        let mut unconfirmed = None;
        for (index, message) in all.iter().enumerate() {
            if waiting.len() >= IN_FLIGHT
                && let Some((sent, ack)) = waiting.pop_front()
                && !self.settled(ack).await
            {
                unconfirmed = Some(sent);
                break;
            }
            let sent = self
                .inner
                .context
                .publish_with_headers(
                    message.subject.clone(),
                    message.headers.clone(),
                    message.payload.clone(),
                )
                .await;
            match sent {
                Ok(ack) => waiting.push_back((index, ack)),
                Err(_) => {
                    unconfirmed = Some(index);
                    break;
                }
            }
        }
        for (sent, ack) in waiting {
            if !self.settled(ack).await {
                unconfirmed = Some(unconfirmed.map_or(sent, |first: usize| first.min(sent)));
            }
        }
        if let Some(first) = unconfirmed {
            for message in all.into_iter().skip(first) {
                self.send_outgoing(message).await?;
            }
        }
        Ok(())
    }

    /// Whether the stream confirmed a message sent (counted if so).
    async fn settled(&self, ack: jetstream::context::PublishAckFuture) -> bool {
        match ack.await {
            Ok(ack) => {
                self.confirmed(&ack);
                true
            }
            Err(_) => false,
        }
    }

    async fn send(&self, envelope: SignedEnvelope) -> Result<(), BusError> {
        let outgoing = self.outgoing(envelope);
        self.send_outgoing(outgoing).await
    }

    /// Publishes `outgoing` with its envelope id as `Nats-Msg-Id`, waiting and sending again
    /// while the stream is full or the server away (up to the publish timeout).
    async fn send_outgoing(&self, outgoing: Outgoing) -> Result<(), BusError> {
        let Outgoing {
            subject,
            headers,
            payload,
        } = outgoing;
        let deadline = tokio::time::Instant::now() + self.inner.config.publish_timeout;
        let mut delay = Duration::from_millis(10);
        loop {
            let sent = self
                .inner
                .context
                .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                .await;
            let error = match sent {
                Ok(ack) => match ack.await {
                    Ok(ack) => {
                        self.confirmed(&ack);
                        return Ok(());
                    }
                    Err(error) => error,
                },
                Err(error) => error,
            };
            // A full stream, a timeout or a lost connection: wait and send again (the message
            // id makes a resend of something that did arrive a duplicate the stream drops).
            let retryable = is_stream_full(&error)
                || matches!(
                    error.kind(),
                    jetstream::context::PublishErrorKind::TimedOut
                        | jetstream::context::PublishErrorKind::BrokenPipe
                        | jetstream::context::PublishErrorKind::MaxAckPending
                );
            if !retryable || tokio::time::Instant::now() + delay > deadline {
                return Err(BusError::Unavailable(format!(
                    "cannot publish to {subject}: {error}"
                )));
            }
            if self.inner.closed.load(Ordering::SeqCst) {
                return Err(BusError::Closed);
            }
            self.inner
                .counters
                .publish_waits
                .fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }
}

/// A message as sent: NATS subject, headers (ids, sender, signature) and body.
struct Outgoing {
    subject: String,
    headers: async_nats::HeaderMap,
    payload: bytes::Bytes,
}

/// Messages [`JetStreamBus::publish_all`] has sent and the stream not yet confirmed, at most.
const IN_FLIGHT: usize = 32;

const DEAD_FAMILY: &str = "dead";

fn family(subject: &str) -> &str {
    subject.split('.').next().unwrap_or(subject)
}

/// A durable name for `consumer` reading `subject` (no `.`, `*`, `>` or spaces allowed).
fn consumer_name(consumer: &str, subject: &str) -> String {
    format!("{consumer}__{subject}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// True when NATS filter `filter` (with `*` and `>` wildcards) matches `subject`.
fn wildcard_covers(filter: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for part in filter.split('.') {
        match (part, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (part, Some(token)) if part == token => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_stream_full(error: &jetstream::context::PublishError) -> bool {
    let text = error.to_string();
    text.contains("maximum messages") || text.contains("maximum bytes")
}

impl Bus for JetStreamBus {
    type Subscription = JetStreamSubscription;

    async fn publish(&self, envelope: SignedEnvelope) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(BusError::Closed);
        }
        if !self.routed(&envelope.subject).await? {
            return Err(BusError::NoRoute(envelope.subject));
        }
        self.send(envelope).await
    }

    async fn publish_all(&self, envelopes: Vec<SignedEnvelope>) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(BusError::Closed);
        }
        for envelope in &envelopes {
            if !self.routed(&envelope.subject).await? {
                return Err(BusError::NoRoute(envelope.subject.clone()));
            }
        }
        let all = envelopes
            .into_iter()
            .map(|envelope| self.outgoing(envelope))
            .collect();
        self.send_all(all).await
    }

    async fn declare(&self, specs: &[SubscriptionSpec]) -> Result<(), BusError> {
        for spec in specs {
            spec.validate()?;
            for subject in &spec.subjects {
                self.consumer(spec, subject).await?;
            }
        }
        Ok(())
    }

    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<JetStreamSubscription, BusError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(BusError::Closed);
        }
        spec.validate()?;
        // Each part pulls at most this many at once; what it pulled waits in the channel, so
        // a subscriber holds at most about twice its batch beyond what it is handling.
        let batch = if spec.ordered {
            1
        } else {
            spec.capacity.clamp(1, 256)
        };
        let (sender, receiver) = mpsc::channel(batch);
        let mut pending = Vec::new();
        for subject in &spec.subjects {
            let consumer = self.consumer(&spec, subject).await?;
            let part = Arc::new(AtomicU64::new(0));
            pending.push(part.clone());
            let puller = Puller {
                bus: self.clone(),
                consumer,
                name: consumer_name(&spec.consumer, subject),
                max_deliver: spec.max_deliver,
                batch,
                pending: part,
                sender: sender.clone(),
            };
            tokio::spawn(puller.run());
        }
        Ok(JetStreamSubscription {
            receiver,
            pending,
            shutdown: self.inner.shutdown.subscribe(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_filters() {
        assert_eq!(
            consumer_name("triage", "alert.raised"),
            "triage__alert_raised"
        );
        assert_eq!(family("incident.verified"), "incident");
        assert!(wildcard_covers("garrison.alert.>", "garrison.alert.raised"));
        assert!(wildcard_covers(
            "garrison.*.raised",
            "garrison.alert.raised"
        ));
        assert!(!wildcard_covers(
            "garrison.alert.*",
            "garrison.alert.raised.x"
        ));
        assert!(!wildcard_covers(
            "garrison.incident.>",
            "garrison.alert.raised"
        ));
        assert!(!wildcard_covers(
            "garrison.alert.raised.x",
            "garrison.alert.raised"
        ));
    }
}
