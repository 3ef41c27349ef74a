//! Publishing: sealing answers under an agent's identity, cut into partitions for kinds whose
//! consumers own partitions, and the [`Publisher`] that feeds work into the team.

use super::{AgentSpec, PublishError};
use crate::Clock;
use garrison_bus::{
    AgentId, AgentKeys, Bus, EnvelopeId, Lineage, Message, SignedEnvelope, SubscriptionSpec,
    partition_subject,
};
use std::marker::PhantomData;
use std::sync::Arc;

/// How many partitions each partitioned kind is cut into (kinds not named: one, uncut). Each
/// partition of a kind has its own subject (`alert.raised.3`) and its consumer one owner.
#[derive(Debug, Clone)]
pub struct Partitions<K>(Vec<(K, u32)>);

impl<K> Default for Partitions<K> {
    fn default() -> Self {
        Partitions(Vec::new())
    }
}

impl<K: Copy + Eq> Partitions<K> {
    /// Cuts `kind` into `count` partitions (1: uncut).
    pub fn set(&mut self, kind: K, count: u32) {
        self.0.retain(|(known, _)| *known != kind);
        if count > 1 {
            self.0.push((kind, count));
        }
    }

    /// The partitions of `kind`: 1 when it is not partitioned.
    pub fn count(&self, kind: K) -> u32 {
        self.0
            .iter()
            .find(|(known, _)| *known == kind)
            .map_or(1, |(_, count)| *count)
    }
}

/// The subject an agent reading `kind` subscribes to: its partition's when the kind is cut.
fn subject_of<M: Message>(
    kind: M::Kind,
    partition: Option<u32>,
    partitions: &Partitions<M::Kind>,
) -> String {
    match (partitions.count(kind), partition) {
        (count, Some(partition)) if count > 1 => partition_subject(M::subject(kind), partition),
        _ => M::subject(kind).to_string(),
    }
}

/// The consumer an agent of `spec` subscribes to.
pub(super) fn subscription_spec<M: Message>(
    spec: &AgentSpec<M::Kind>,
    partitions: &Partitions<M::Kind>,
) -> SubscriptionSpec {
    SubscriptionSpec {
        // A partition's consumer is its own: instances of the role share one, partitions not.
        consumer: spec.owner(),
        subjects: spec
            .consumes
            .iter()
            .map(|kind| subject_of::<M>(*kind, spec.partition, partitions))
            .collect(),
        capacity: spec.queue,
        max_deliver: spec.max_deliver,
        ordered: spec.stateful,
        ack_wait: spec.ack_wait,
    }
}

/// The consumers of a role running elsewhere: one per partition when it reads a partitioned
/// kind and no partition is named.
pub(super) fn remote_specs<M: Message>(
    spec: &AgentSpec<M::Kind>,
    partitions: &Partitions<M::Kind>,
) -> Vec<SubscriptionSpec> {
    let count = spec
        .consumes
        .iter()
        .map(|kind| partitions.count(*kind))
        .max()
        .unwrap_or(1);
    if count <= 1 || spec.partition.is_some() {
        return vec![subscription_spec::<M>(spec, partitions)];
    }
    (0..count)
        .map(|partition| {
            let spec = AgentSpec {
                partition: Some(partition),
                ..spec.clone()
            };
            subscription_spec::<M>(&spec, partitions)
        })
        .collect()
}

/// Why an agent cannot run as declared with these partitions, if it cannot.
pub(super) fn misfit<K: Copy + Eq + std::fmt::Debug>(
    spec: &AgentSpec<K>,
    partitions: &Partitions<K>,
) -> Option<String> {
    let cut: Vec<(K, u32)> = spec
        .consumes
        .iter()
        .map(|kind| (*kind, partitions.count(*kind)))
        .filter(|(_, count)| *count > 1)
        .collect();
    match (spec.partition, cut.as_slice()) {
        (None, []) => None,
        (Some(partition), []) => Some(format!(
            "{} runs partition {partition}, but reads no partitioned kind",
            spec.role
        )),
        (None, [(kind, count), ..]) => Some(format!(
            "{} reads {kind:?}, cut into {count} partitions: each of its agents needs one",
            spec.role
        )),
        (Some(partition), cut) => {
            cut.iter()
                .find(|(_, count)| partition >= *count)
                .map(|(kind, count)| {
                    format!(
                        "{} runs partition {partition}, but {kind:?} has {count} (0 to {})",
                        spec.role,
                        count - 1
                    )
                })
        }
    }
}

/// Seals `output` under `keys`, cut into its partitions when its kind is partitioned, naming
/// each part with `id`.
pub(super) fn seal_parts<M: Message>(
    keys: &AgentKeys,
    partitions: &Partitions<M::Kind>,
    output: M,
    lineage: Lineage,
    now: jiff::Timestamp,
    mut id: impl FnMut() -> EnvelopeId,
) -> Result<Vec<SignedEnvelope>, serde_json::Error> {
    let count = partitions.count(output.kind());
    if count <= 1 {
        return Ok(vec![keys.seal_as(id(), output, lineage, now)?]);
    }
    output
        .split(count)
        .into_iter()
        .map(|(partition, part)| {
            Ok(keys
                .seal_as(id(), part, lineage, now)?
                .in_partition(partition))
        })
        .collect()
}

/// Publishes into the team under its own identity.
pub struct Publisher<B: Bus, M: Message> {
    pub(super) bus: B,
    pub(super) keys: Arc<AgentKeys>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) partitions: Arc<Partitions<M::Kind>>,
    pub(super) payload: PhantomData<fn(M)>,
}

impl<B: Bus, M: Message> Clone for Publisher<B, M> {
    fn clone(&self) -> Self {
        Publisher {
            bus: self.bus.clone(),
            keys: self.keys.clone(),
            clock: self.clock.clone(),
            partitions: self.partitions.clone(),
            payload: PhantomData,
        }
    }
}

impl<B: Bus, M: Message> Publisher<B, M> {
    pub fn id(&self) -> &AgentId {
        self.keys.id()
    }

    /// How many partitions `kind` is cut into (1: uncut).
    pub fn partitions(&self, kind: M::Kind) -> u32 {
        self.partitions.count(kind)
    }

    /// Publishes `payload`: one envelope, or one per partition its elements belong to when its
    /// kind is partitioned. Returns the envelopes' ids.
    pub async fn publish(
        &self,
        payload: M,
        lineage: Lineage,
    ) -> Result<Vec<EnvelopeId>, PublishError> {
        self.publish_all(std::iter::once((payload, lineage))).await
    }

    /// Publishes `payloads` in their order, each as [`Publisher::publish`] does, handed to the
    /// bus together (a bus a round trip away then sends the next before the last is
    /// confirmed). Returns the envelopes' ids.
    pub async fn publish_all(
        &self,
        payloads: impl IntoIterator<Item = (M, Lineage)>,
    ) -> Result<Vec<EnvelopeId>, PublishError> {
        let now = self.clock.now();
        let mut sealed = Vec::new();
        for (payload, lineage) in payloads {
            sealed.extend(
                seal_parts(
                    &self.keys,
                    &self.partitions,
                    payload,
                    lineage,
                    now,
                    EnvelopeId::new,
                )
                .map_err(|error| PublishError::Encode(error.to_string()))?,
            );
        }
        let ids = sealed.iter().map(|envelope| envelope.id).collect();
        self.bus.publish_all(sealed).await?;
        Ok(ids)
    }
}
