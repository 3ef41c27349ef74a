//! Garrison's message bus.
//!
//! Agents talk only through signed [`Envelope`]s: the sender seals a typed payload with its own
//! key ([`AgentKeys::seal`]), receivers open it against a [`Directory`] of trusted identities
//! and their grants ([`Directory::open`]). The [`Bus`] trait carries sealed envelopes with
//! at-least-once delivery: a [`Delivery`] must be acked, and one that is not (nacked, dropped by
//! a failing handler, or left past its ack deadline) comes back, up to a limit after which it is
//! kept as a dead letter, never silently lost. Receivers make handling idempotent by envelope id.
//!
//! [`InProcessBus`] is the embedded default; [`JetStreamBus`] carries the same envelopes over
//! NATS JetStream for agents running as separate processes, so agents run on either unchanged.

pub mod envelope;
pub mod identity;
pub mod jetstream;
pub mod memory;

pub use envelope::{
    CorrelationId, Envelope, EnvelopeId, Lineage, Message, Rejection, SignedEnvelope, partition_of,
    partition_subject,
};
pub use identity::{
    AgentId, AgentKeys, Directory, KeyError, KeyRing, KeyRingError, PublicIdentity,
};
pub use jetstream::{JetStreamBus, JetStreamConfig, NatsOptions};
pub use memory::InProcessBus;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Why the bus refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// Nothing subscribes to the subject: the message would be lost, so it is refused.
    #[error("no consumer subscribes to {0}")]
    NoRoute(String),
    /// A consumer of that name exists with other settings.
    #[error("consumer {name} already exists with different subjects")]
    ConsumerConflict { name: String },
    #[error("invalid subscription: {0}")]
    InvalidSubscription(String),
    /// The bus is shutting down.
    #[error("the bus is closed")]
    Closed,
    /// The broker could not be reached or refused the operation for now.
    #[error("the bus is unavailable: {0}")]
    Unavailable(String),
}

impl BusError {
    /// True when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            BusError::NoRoute(_) | BusError::Unavailable(_) => true,
            BusError::ConsumerConflict { .. }
            | BusError::InvalidSubscription(_)
            | BusError::Closed => false,
        }
    }
}

/// A durable consumer: a name (instances subscribing under one name share its messages, each
/// message going to one of them), the subjects it reads, and its delivery policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    pub consumer: String,
    pub subjects: Vec<String>,
    /// Messages queued for the consumer before publishers wait (backpressure).
    pub capacity: usize,
    /// Deliveries of one message before it becomes a dead letter.
    pub max_deliver: u32,
    /// How long a delivery may stay unacknowledged before it is delivered again.
    pub ack_wait: Option<Duration>,
    /// One message in flight at a time, so a stateful consumer sees them in order even when
    /// one comes back after its handler died (a broker bounds what is unacked to one).
    pub ordered: bool,
}

impl SubscriptionSpec {
    pub fn new(consumer: impl Into<String>, subjects: &[&str]) -> SubscriptionSpec {
        SubscriptionSpec {
            consumer: consumer.into(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            capacity: 1024,
            max_deliver: 5,
            ack_wait: Some(Duration::from_secs(30)),
            ordered: false,
        }
    }
}

impl SubscriptionSpec {
    /// Refuses a spec no bus can serve.
    pub fn validate(&self) -> Result<(), BusError> {
        if self.consumer.is_empty() || self.subjects.is_empty() {
            return Err(BusError::InvalidSubscription(
                "a consumer needs a name and at least one subject".into(),
            ));
        }
        if self.capacity == 0 || self.max_deliver == 0 {
            return Err(BusError::InvalidSubscription(
                "capacity and max_deliver must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Carries sealed envelopes between agents.
pub trait Bus: Clone + Send + Sync + 'static {
    type Subscription: Subscription;

    /// Hands the envelope to every consumer of its subject, waiting while a consumer's queue is
    /// full. Fails when no consumer subscribes to the subject.
    fn publish(
        &self,
        envelope: SignedEnvelope,
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Publishes `envelopes` in their order, as [`Bus::publish`] does one. A bus a round trip
    /// away sends the next before the last is confirmed; after a failure, those from the first
    /// unconfirmed on are sent again one at a time (so, as after any redelivery, their order
    /// at the consumer may then differ).
    fn publish_all(
        &self,
        envelopes: Vec<SignedEnvelope>,
    ) -> impl Future<Output = Result<(), BusError>> + Send {
        async move {
            for envelope in envelopes {
                self.publish(envelope).await?;
            }
            Ok(())
        }
    }

    /// Creates the consumers `specs` name without subscribing, so that messages published
    /// before their agents start wait for them. Where consumers live only while subscribed (the
    /// in-process bus), there is nothing to do.
    fn declare(
        &self,
        specs: &[SubscriptionSpec],
    ) -> impl Future<Output = Result<(), BusError>> + Send {
        let _ = specs;
        std::future::ready(Ok(()))
    }

    /// Joins (creating when new) the consumer `spec` names.
    fn subscribe(
        &self,
        spec: SubscriptionSpec,
    ) -> impl Future<Output = Result<Self::Subscription, BusError>> + Send;
}

/// One subscriber's stream of deliveries.
pub trait Subscription: Send + 'static {
    /// The next delivery; `None` once the bus is closed.
    fn next(&mut self) -> impl Future<Output = Option<Delivery>> + Send;

    /// Messages waiting for this consumer now (an estimate; 0 when unknown). Agents use it to
    /// coalesce work while a burst is still queued.
    fn backlog(&self) -> usize {
        0
    }
}

/// Settles a delivery with the bus.
pub trait Acknowledge: Send + Sync {
    /// Done with: never delivered again.
    fn ack(&self);
    /// Not done: deliver again after `delay`.
    fn nack(&self, delay: Duration);
    /// Still being handled: the ack wait starts again, so a long handler is not delivered
    /// the same message meanwhile.
    fn progress(&self) {}
}

/// One delivery of an envelope. Ack it when handled; a delivery dropped without an ack (the
/// handler failed or panicked) is delivered again.
pub struct Delivery {
    pub envelope: Arc<SignedEnvelope>,
    /// 1 for the first delivery, then 2, 3, ...
    pub attempt: u32,
    settle: Option<Box<dyn Acknowledge>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.envelope.id)
            .field("subject", &self.envelope.subject)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl Delivery {
    pub fn new(
        envelope: Arc<SignedEnvelope>,
        attempt: u32,
        settle: Box<dyn Acknowledge>,
    ) -> Delivery {
        Delivery {
            envelope,
            attempt,
            settle: Some(settle),
        }
    }

    pub fn ack(mut self) {
        if let Some(settle) = self.settle.take() {
            settle.ack();
        }
    }

    /// Says the delivery is still being handled (see [`Acknowledge::progress`]).
    pub fn progress(&self) {
        if let Some(settle) = &self.settle {
            settle.progress();
        }
    }

    pub fn nack(mut self, delay: Duration) {
        if let Some(settle) = self.settle.take() {
            settle.nack(delay);
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(settle) = self.settle.take() {
            settle.nack(Duration::ZERO);
        }
    }
}
