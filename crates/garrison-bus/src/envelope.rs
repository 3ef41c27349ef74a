//! The one message shape on the bus: a versioned `Envelope` around a closed enum of payloads,
//! sealed (serialized and signed by its sender) into a `SignedEnvelope` for transport, and
//! opened (signature, sender's grant, schema version and header checked) by receivers.

use crate::identity::{AgentId, AgentKeys, Directory};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::Hash;

/// A payload type: a closed enum of messages, with a kind per variant.
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kinds of message (one per payload variant): what grants and subscriptions name.
    type Kind: Copy + Eq + Hash + fmt::Debug + Send + Sync + 'static;
    /// The schema version this build writes; it reads this one and older ones.
    const SCHEMA_VERSION: u16;
    fn kind(&self) -> Self::Kind;
    /// The routing subject of a kind (`alert.raised`): a stable name, also the NATS subject's
    /// last tokens.
    fn subject(kind: Self::Kind) -> &'static str;

    /// For kinds consumed in partitions (each partition with one owner at a time): the message
    /// cut into parts by the partition of each element's entity key (see [`partition_of`]),
    /// each part keeping its elements' order, parts in order of their first element. Messages
    /// with no entity key stay whole, in partition 0.
    fn split(self, partitions: u32) -> Vec<(u32, Self)>
    where
        Self: Sized,
    {
        let _ = partitions;
        vec![(0, self)]
    }

    /// The partition every element of the message belongs to (as [`Message::split`] places
    /// them), `None` when they belong to several: a receiver checks that what reached it is its
    /// own partition's.
    fn partition(&self, partitions: u32) -> Option<u32> {
        let _ = partitions;
        Some(0)
    }
}

/// The partition of entity `key` among `count`: FNV-1a, so every process and build places a
/// key alike.
pub fn partition_of(key: &str, count: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(count.max(1))) as u32
}

/// The subject of partition `partition` of `subject` (`alert.raised.3`).
pub fn partition_subject(subject: &str, partition: u32) -> String {
    format!("{subject}.{partition}")
}

/// A message id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvelopeId(pub uuid::Uuid);

impl EnvelopeId {
    pub fn new() -> EnvelopeId {
        EnvelopeId(uuid::Uuid::now_v7())
    }
}

impl EnvelopeId {
    /// The id of the `index`th message `role` publishes in answer to `cause`: the same every
    /// time the cause is handled, so a redelivered cause produces messages receivers recognize
    /// as duplicates.
    pub fn derived(cause: EnvelopeId, role: &str, index: u32) -> EnvelopeId {
        let name = format!("{role}\0{index}");
        EnvelopeId(uuid::Uuid::new_v5(&cause.0, name.as_bytes()))
    }
}

impl EnvelopeId {
    /// The id of every publication of the message named `key` (an announcement of one state
    /// change): published again, it is recognized as the same message.
    pub fn named(key: &str) -> EnvelopeId {
        const NAMESPACE: uuid::Uuid =
            uuid::Uuid::from_u128(0x6761_7272_6973_6f6e_0000_6e61_6d65_6421);
        EnvelopeId(uuid::Uuid::new_v5(&NAMESPACE, key.as_bytes()))
    }
}

impl Default for EnvelopeId {
    fn default() -> Self {
        EnvelopeId::new()
    }
}

impl fmt::Display for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Ties together every message of one piece of work (one alert's journey to an incident).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CorrelationId(pub uuid::Uuid);

impl CorrelationId {
    pub fn new() -> CorrelationId {
        CorrelationId(uuid::Uuid::now_v7())
    }
}

impl Default for CorrelationId {
    fn default() -> Self {
        CorrelationId::new()
    }
}

/// A message with its header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<M> {
    pub id: EnvelopeId,
    pub schema_version: u16,
    pub sender: AgentId,
    /// The message this one answers (none for messages that start work).
    pub causation_id: Option<EnvelopeId>,
    pub correlation_id: CorrelationId,
    pub timestamp: Timestamp,
    pub payload: M,
}

/// An envelope as it travels: the routing header in the clear, the envelope as signed bytes.
/// Only `body` is trusted, after [`Directory::open`] checked it; the header is for routing and
/// must agree with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEnvelope {
    pub id: EnvelopeId,
    pub subject: String,
    pub sender: AgentId,
    pub body: Vec<u8>,
    pub signature: [u8; 64],
}

impl SignedEnvelope {
    /// The envelope routed to partition `partition` of its subject. The subject is a routing
    /// header outside the signature: a receiver owning a partition checks that the message's
    /// entities belong to it (see [`Message::partition`]).
    pub fn in_partition(mut self, partition: u32) -> SignedEnvelope {
        self.subject = partition_subject(&self.subject, partition);
        self
    }
}

/// Domain separation for envelope signatures.
const SIGNING_DOMAIN: &[u8] = b"garrison-envelope-v2\0";

/// What an envelope's signature covers: the domain and the SHA-256 digest of the body. Ed25519
/// hashes what it signs with SHA-512, twice when signing; bodies carry batches of alerts, so
/// the body is hashed once, with SHA-256 (in hardware where the CPU has it), and the signature
/// is over the digest (hash-then-sign: forging it needs a SHA-256 collision).
fn signed_bytes(body: &[u8]) -> [u8; SIGNING_DOMAIN.len() + 32] {
    use sha2::Digest;
    let mut bytes = [0u8; SIGNING_DOMAIN.len() + 32];
    bytes[..SIGNING_DOMAIN.len()].copy_from_slice(SIGNING_DOMAIN);
    bytes[SIGNING_DOMAIN.len()..].copy_from_slice(&sha2::Sha256::digest(body));
    bytes
}

/// Where a new message sits in the work: what it answers, and the work it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lineage {
    pub causation_id: Option<EnvelopeId>,
    pub correlation_id: CorrelationId,
}

impl Lineage {
    /// A message that starts new work.
    pub fn start() -> Lineage {
        Lineage {
            causation_id: None,
            correlation_id: CorrelationId::new(),
        }
    }

    /// A message answering `cause`, in the same work.
    pub fn after<M>(cause: &Envelope<M>) -> Lineage {
        Lineage {
            causation_id: Some(cause.id),
            correlation_id: cause.correlation_id,
        }
    }
}

std::thread_local! {
    /// The size of the last envelope body sealed on this thread.
    static LAST_BODY: std::cell::Cell<usize> = const { std::cell::Cell::new(256) };
}

impl AgentKeys {
    /// Wraps `payload` in an envelope from this agent, serializes and signs it.
    pub fn seal<M: Message>(
        &self,
        payload: M,
        lineage: Lineage,
        timestamp: Timestamp,
    ) -> Result<SignedEnvelope, serde_json::Error> {
        self.seal_as(EnvelopeId::new(), payload, lineage, timestamp)
    }

    /// As [`AgentKeys::seal`], with a given id (see [`EnvelopeId::derived`]).
    pub fn seal_as<M: Message>(
        &self,
        id: EnvelopeId,
        payload: M,
        lineage: Lineage,
        timestamp: Timestamp,
    ) -> Result<SignedEnvelope, serde_json::Error> {
        let envelope = Envelope {
            id,
            schema_version: M::SCHEMA_VERSION,
            sender: self.id().clone(),
            causation_id: lineage.causation_id,
            correlation_id: lineage.correlation_id,
            timestamp,
            payload,
        };
        // Sized like this thread's last body: a batch of alerts runs to hundreds of kilobytes,
        // and growing a buffer that far by doubling copies it a dozen times over.
        let mut body = Vec::with_capacity(LAST_BODY.with(|last| last.get()));
        serde_json::to_writer(&mut body, &envelope)?;
        LAST_BODY.with(|last| last.set(body.len().next_power_of_two().clamp(256, 4 << 20)));
        if body.capacity() > 2 * body.len() + 4096 {
            body.shrink_to_fit();
        }
        let signature = self.sign(&signed_bytes(&body));
        Ok(SignedEnvelope {
            id: envelope.id,
            subject: M::subject(envelope.payload.kind()).to_string(),
            sender: envelope.sender,
            body,
            signature,
        })
    }
}

/// Why a receiver refused a message. Every rejection is audited by the receiver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("sender {0} is not in the directory")]
    UnknownSender(AgentId),
    #[error("signature does not verify for sender {0}")]
    BadSignature(AgentId),
    #[error("body is not a valid envelope: {0}")]
    Malformed(String),
    #[error("header {field} disagrees with the signed body")]
    HeaderMismatch { field: &'static str },
    #[error("schema version {found} is newer than this build reads ({supported})")]
    UnsupportedSchema { found: u16, supported: u16 },
    #[error("{sender} may not publish {subject}")]
    NotAllowed {
        sender: AgentId,
        subject: &'static str,
    },
}

impl<K: Copy + Eq + Hash> Directory<K> {
    /// Checks a received envelope and returns its contents: the sender is known, the signature
    /// is its own over the body, the body parses, the header agrees with it, the schema version
    /// is one this build reads, and the sender may publish that kind.
    pub fn open<M: Message<Kind = K>>(
        &self,
        signed: &SignedEnvelope,
    ) -> Result<Envelope<M>, Rejection> {
        let identity = self
            .identity(&signed.sender)
            .ok_or_else(|| Rejection::UnknownSender(signed.sender.clone()))?;
        if !identity.verifies(&signed_bytes(&signed.body), &signed.signature) {
            return Err(Rejection::BadSignature(signed.sender.clone()));
        }
        // A newer envelope is reported as such rather than as garbage, whether or not its body
        // still reads as ours (the body is parsed once when it does: bodies carry batches).
        let unsupported = |found: u16| Rejection::UnsupportedSchema {
            found,
            supported: M::SCHEMA_VERSION,
        };
        let envelope: Envelope<M> = match serde_json::from_slice(&signed.body) {
            Ok(envelope) => envelope,
            Err(error) => {
                #[derive(Deserialize)]
                struct Version {
                    schema_version: u16,
                }
                return Err(match serde_json::from_slice::<Version>(&signed.body) {
                    Ok(version) if version.schema_version > M::SCHEMA_VERSION => {
                        unsupported(version.schema_version)
                    }
                    _ => Rejection::Malformed(error.to_string()),
                });
            }
        };
        if envelope.schema_version > M::SCHEMA_VERSION {
            return Err(unsupported(envelope.schema_version));
        }
        if envelope.id != signed.id {
            return Err(Rejection::HeaderMismatch { field: "id" });
        }
        if envelope.sender != signed.sender {
            return Err(Rejection::HeaderMismatch { field: "sender" });
        }
        let kind = envelope.payload.kind();
        // The kind's subject, or one of its partitions' (`alert.raised.3`).
        let subject_agrees = signed
            .subject
            .strip_prefix(M::subject(kind))
            .is_some_and(|rest| {
                rest.is_empty()
                    || rest.strip_prefix('.').is_some_and(|partition| {
                        !partition.is_empty() && partition.bytes().all(|b| b.is_ascii_digit())
                    })
            });
        if !subject_agrees {
            return Err(Rejection::HeaderMismatch { field: "subject" });
        }
        if !self.may_publish(&envelope.sender, kind) {
            return Err(Rejection::NotAllowed {
                sender: envelope.sender,
                subject: M::subject(kind),
            });
        }
        Ok(envelope)
    }
}
