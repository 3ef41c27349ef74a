//! Pulling a durable consumer's messages into a subscription: deliveries, acks, dead letters.

use super::{
    ATTEMPTS, CONSUMER, Counters, DEAD_FAMILY, ID, JetStreamBus, ORIGINAL_SUBJECT, REASON, SENDER,
    SIGNATURE,
};
use crate::{Acknowledge, AgentId, Delivery, EnvelopeId, SignedEnvelope, Subscription};
use async_nats::jetstream::{self, AckKind, consumer};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Pulls one consumer's messages into a subscription.
pub(super) struct Puller {
    pub(super) bus: JetStreamBus,
    pub(super) consumer: consumer::PullConsumer,
    pub(super) name: String,
    pub(super) max_deliver: u32,
    pub(super) batch: usize,
    pub(super) pending: Arc<AtomicU64>,
    pub(super) sender: mpsc::Sender<Delivery>,
}

impl Puller {
    pub(super) async fn run(self) {
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
                    tracing::warn!("garrison: cannot pull from consumer {}: {error}", self.name);
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
            acker: Arc::new(acker),
            settled: AtomicBool::new(false),
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
            tracing::error!(
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
pub(super) fn envelope_of(
    message: &jetstream::Message,
    prefix: &str,
) -> Result<SignedEnvelope, String> {
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

/// Settles a delivery with the server: the first of ack, nack or drop wins (progress, until
/// then, restarts the ack wait); a delivery never settled comes back after the ack wait.
struct Settle {
    acker: Arc<jetstream::message::Acker>,
    settled: AtomicBool,
    counters: Arc<Counters>,
}

impl Settle {
    fn send(&self, kind: AckKind) {
        let progress = matches!(kind, AckKind::Progress);
        if progress {
            if self.settled.load(Ordering::SeqCst) {
                return;
            }
        } else if self.settled.swap(true, Ordering::SeqCst) {
            return;
        }
        let acker = self.acker.clone();
        if !progress {
            let counter = if matches!(kind, AckKind::Ack) {
                &self.counters.acked
            } else {
                &self.counters.nacked
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
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

    fn progress(&self) {
        self.send(AckKind::Progress);
    }
}

/// A subscriber: deliveries of every subject its consumer reads, merged.
pub struct JetStreamSubscription {
    pub(super) receiver: mpsc::Receiver<Delivery>,
    pub(super) pending: Vec<Arc<AtomicU64>>,
    pub(super) shutdown: watch::Receiver<bool>,
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
