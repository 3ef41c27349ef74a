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

use crate::{
    Acknowledge, AgentId, Bus, BusError, Delivery, EnvelopeId, SignedEnvelope, Subscription,
    SubscriptionSpec,
};
use async_nats::jetstream::{self, AckKind, consumer, stream};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The envelope id (`Nats-Msg-Id` carries it too, for deduplication, but servers need not
/// pass that header on to consumers).
const ID: &str = "Garrison-Id";
const SENDER: &str = "Garrison-Sender";
const SIGNATURE: &str = "Garrison-Signature";
const REASON: &str = "Garrison-Dead-Reason";
const ATTEMPTS: &str = "Garrison-Attempts";
const CONSUMER: &str = "Garrison-Consumer";
const ORIGINAL_SUBJECT: &str = "Garrison-Subject";

/// How to reach NATS: the address and the credentials the server asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsOptions {
    /// `nats://host:port` or `tls://host:port`.
    pub url: String,
    /// Shown to the server's monitoring as the connection's name.
    pub name: String,
    /// A `.creds` file (JWT and nkey seed).
    pub credentials_file: Option<PathBuf>,
    /// A file holding an nkey seed (`SU…`).
    pub nkey_seed_file: Option<PathBuf>,
    pub user: Option<String>,
    /// The user's password, read from a file so it appears in no command line or config.
    pub password_file: Option<PathBuf>,
    /// Certificate authorities to trust for TLS (the system's are trusted too).
    pub ca_file: Option<PathBuf>,
    /// A client certificate and key, for servers that verify clients.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl NatsOptions {
    pub fn new(url: impl Into<String>) -> NatsOptions {
        NatsOptions {
            url: url.into(),
            name: "garrison".into(),
            ..NatsOptions::default()
        }
    }

    /// Connects; reconnects later on its own, without limit, when the connection drops.
    pub async fn connect(&self) -> Result<async_nats::Client, BusError> {
        let unavailable = |what: String| BusError::Unavailable(what);
        let mut options = async_nats::ConnectOptions::new()
            .name(&self.name)
            .connection_timeout(Duration::from_secs(10))
            .max_reconnects(None);
        if let Some(path) = &self.credentials_file {
            options = options
                .credentials_file(path)
                .await
                .map_err(|error| unavailable(format!("credentials {}: {error}", path.display())))?;
        }
        if let Some(path) = &self.nkey_seed_file {
            options = options.nkey(read_secret(path)?);
        }
        match (&self.user, &self.password_file) {
            (Some(user), Some(path)) => {
                options = options.user_and_password(user.clone(), read_secret(path)?);
            }
            (None, None) => {}
            _ => {
                return Err(BusError::InvalidSubscription(
                    "a NATS user needs a password file, and a password file a user".into(),
                ));
            }
        }
        if let Some(path) = &self.ca_file {
            options = options
                .add_root_certificates(path.clone())
                .require_tls(true);
        }
        if let Some((cert, key)) = &self.client_cert {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        options
            .connect(&self.url)
            .await
            .map_err(|error| unavailable(format!("cannot connect to {}: {error}", self.url)))
    }
}

fn read_secret(path: &std::path::Path) -> Result<String, BusError> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_string())
        .map_err(|error| BusError::Unavailable(format!("cannot read {}: {error}", path.display())))
}

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
        let stream = self
            .inner
            .context
            .get_or_create_stream(stream::Config {
                name: self.stream_name(family),
                subjects: vec![format!("{}.{family}.>", config.prefix)],
                // Dead letters stay until someone deals with them; the oldest go first when
                // the stream is full, so dead letters never block the living.
                retention: if dead {
                    stream::RetentionPolicy::Limits
                } else {
                    stream::RetentionPolicy::Interest
                },
                discard: if dead {
                    stream::DiscardPolicy::Old
                } else {
                    stream::DiscardPolicy::New
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
        for family in families.iter().copied().chain([DEAD_FAMILY]) {
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
        let mut headers = async_nats::HeaderMap::new();
        let id = envelope.id.to_string();
        headers.insert("Nats-Msg-Id", id.as_str());
        headers.insert(ID, id.as_str());
        headers.insert(SENDER, envelope.sender.to_string().as_str());
        headers.insert(SIGNATURE, hex::encode(envelope.signature).as_str());
        let subject = self.nats_subject(&envelope.subject);
        let payload = bytes::Bytes::from(envelope.body);
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
                        let counter = if ack.duplicate {
                            &self.inner.counters.duplicates
                        } else {
                            &self.inner.counters.published
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
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

    async fn declare(&self, specs: &[SubscriptionSpec]) -> Result<(), BusError> {
        for spec in specs {
            validate(spec)?;
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
        validate(&spec)?;
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

fn validate(spec: &SubscriptionSpec) -> Result<(), BusError> {
    if spec.consumer.is_empty() || spec.subjects.is_empty() {
        return Err(BusError::InvalidSubscription(
            "a consumer needs a name and at least one subject".into(),
        ));
    }
    if spec.capacity == 0 || spec.max_deliver == 0 {
        return Err(BusError::InvalidSubscription(
            "capacity and max_deliver must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Pulls one consumer's messages into a subscription.
struct Puller {
    bus: JetStreamBus,
    consumer: consumer::PullConsumer,
    name: String,
    max_deliver: u32,
    batch: usize,
    pending: Arc<AtomicU64>,
    sender: mpsc::Sender<Delivery>,
}

impl Puller {
    async fn run(self) {
        let mut shutdown = self.bus.inner.shutdown.subscribe();
        let mut pause = Duration::from_millis(100);
        loop {
            let messages = self
                .consumer
                .stream()
                .max_messages_per_batch(self.batch)
                // Short: a server restart is noticed by missed heartbeats, and pulling resumes.
                .heartbeat(Duration::from_secs(2))
                .expires(Duration::from_secs(10))
                .messages()
                .await;
            match messages {
                Ok(mut messages) => loop {
                    let next = tokio::select! {
                        _ = shutdown.wait_for(|closed| *closed) => return,
                        _ = self.sender.closed() => return,
                        next = messages.next() => next,
                    };
                    match next {
                        Some(Ok(message)) => {
                            pause = Duration::from_millis(100);
                            if !self.deliver(message).await {
                                return;
                            }
                        }
                        // A missed heartbeat or a server restart: pull afresh.
                        Some(Err(_)) | None => break,
                    }
                },
                Err(error) => {
                    eprintln!("garrison: cannot pull from consumer {}: {error}", self.name);
                }
            }
            tokio::select! {
                _ = shutdown.wait_for(|closed| *closed) => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Hands a message to the subscriber, or to the dead letters; false once the subscriber
    /// is gone.
    async fn deliver(&self, message: jetstream::Message) -> bool {
        let counters = &self.bus.inner.counters;
        let (attempt, pending) = match message.info() {
            Ok(info) => (info.delivered.max(1) as u32, info.pending),
            Err(_) => (1, 0),
        };
        self.pending.store(pending, Ordering::Relaxed);
        let envelope = match envelope_of(&message, &self.bus.inner.config.prefix) {
            Ok(envelope) if attempt <= self.max_deliver => envelope,
            Ok(_) => {
                let reason = format!("not acked after {} deliveries", self.max_deliver);
                self.dead_letter(message, attempt, &reason).await;
                return true;
            }
            Err(reason) => {
                self.dead_letter(message, attempt, &reason).await;
                return true;
            }
        };
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        let (_, acker) = message.split();
        let settle = Settle {
            acker: Mutex::new(Some(acker)),
            counters: counters.clone(),
        };
        let delivery = Delivery::new(Arc::new(envelope), attempt, Box::new(settle));
        self.sender.send(delivery).await.is_ok()
    }

    /// Copies the message to the dead-letter stream, then terminates it; when the copy fails
    /// the message is left to come back.
    async fn dead_letter(&self, message: jetstream::Message, attempts: u32, reason: &str) {
        let mut headers = message.headers.clone().unwrap_or_default();
        headers.insert(REASON, reason);
        headers.insert(ATTEMPTS, attempts.to_string().as_str());
        headers.insert(CONSUMER, self.name.as_str());
        let original = message
            .subject
            .as_str()
            .strip_prefix(&format!("{}.", self.bus.inner.config.prefix))
            .unwrap_or(message.subject.as_str())
            .to_string();
        headers.insert(ORIGINAL_SUBJECT, original.as_str());
        // One dead letter per message and consumer: a second copy after a crash is dropped
        // as a duplicate.
        let stream_sequence = message.info().map(|info| info.stream_sequence).unwrap_or(0);
        headers.insert(
            "Nats-Msg-Id",
            format!("{}:{stream_sequence}", self.name).as_str(),
        );
        let kept = async {
            self.bus.stream(DEAD_FAMILY).await.ok()?;
            let subject = format!(
                "{}.{DEAD_FAMILY}.{}",
                self.bus.inner.config.prefix, self.name
            );
            let ack = self
                .bus
                .inner
                .context
                .publish_with_headers(subject, headers, message.payload.clone())
                .await
                .ok()?;
            ack.await.ok()
        }
        .await;
        if kept.is_some() {
            self.bus
                .inner
                .counters
                .dead_lettered
                .fetch_add(1, Ordering::Relaxed);
            let _ = message.ack_with(AckKind::Term).await;
        } else {
            eprintln!(
                "garrison: cannot keep a dead letter of {}; it will be delivered again",
                self.name
            );
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                .await;
        }
    }
}

/// Rebuilds the envelope from a message's headers and body; why not, when it is not one.
fn envelope_of(message: &jetstream::Message, prefix: &str) -> Result<SignedEnvelope, String> {
    let headers = message
        .headers
        .as_ref()
        .ok_or("a message without headers is not an envelope")?;
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.as_str())
            .ok_or_else(|| format!("no {name} header"))
    };
    let id: uuid::Uuid = header(ID)?
        .parse()
        .map_err(|_| "the message id is not an envelope id".to_string())?;
    let (role, instance) = header(SENDER)?
        .rsplit_once('/')
        .ok_or("the sender is not role/instance")?;
    let signature: [u8; 64] = hex::decode(header(SIGNATURE)?)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("the signature is not 64 hex-encoded bytes")?;
    let subject = message
        .subject
        .as_str()
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or("the subject is outside this bus's prefix")?;
    Ok(SignedEnvelope {
        id: EnvelopeId(id),
        subject: subject.to_string(),
        sender: AgentId::new(role, instance),
        body: message.payload.to_vec(),
        signature,
    })
}

/// Settles a delivery with the server: the first of ack, nack or drop wins; a delivery never
/// settled comes back after the consumer's ack wait.
struct Settle {
    acker: Mutex<Option<jetstream::message::Acker>>,
    counters: Arc<Counters>,
}

impl Settle {
    fn send(&self, kind: AckKind) {
        let Some(acker) = lock(&self.acker).take() else {
            return;
        };
        let counter = if matches!(kind, AckKind::Ack) {
            &self.counters.acked
        } else {
            &self.counters.nacked
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // Sent from a task: the ack is a publish on the connection; a lost one means a
        // redelivery, which handlers absorb. [`JetStreamBus::flush`] waits for these.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let counters = self.counters.clone();
            counters.settling.fetch_add(1, Ordering::SeqCst);
            runtime.spawn(async move {
                let _ = acker.ack_with(kind).await;
                counters.settling.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }
}

impl Acknowledge for Settle {
    fn ack(&self) {
        self.send(AckKind::Ack);
    }

    fn nack(&self, delay: Duration) {
        self.send(AckKind::Nak((!delay.is_zero()).then_some(delay)));
    }
}

/// A subscriber: deliveries of every subject its consumer reads, merged.
pub struct JetStreamSubscription {
    receiver: mpsc::Receiver<Delivery>,
    pending: Vec<Arc<AtomicU64>>,
    shutdown: watch::Receiver<bool>,
}

impl Subscription for JetStreamSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        // Deliveries pulled but not handed out when the bus closes are dropped, which
        // releases them to the server again.
        tokio::select! {
            biased;
            _ = self.shutdown.wait_for(|closed| *closed) => None,
            delivery = self.receiver.recv() => delivery,
        }
    }

    fn backlog(&self) -> usize {
        let pending: u64 = self
            .pending
            .iter()
            .map(|part| part.load(Ordering::Relaxed))
            .sum();
        pending as usize + self.receiver.len()
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
