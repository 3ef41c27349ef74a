//! Handling one delivery or tick: check, skip duplicates, handle, publish the answers (cut
//! into partitions where their kind is), journal, settle.

use super::journal::{journal_entry, journal_of};
use super::publish::seal_parts;
use super::{Context, Instance, lock};
use crate::Agent;
use garrison_bus::{Bus, Delivery, EnvelopeId, Lineage, Message};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A tick: whatever the agent says is published as new work under its own identity.
pub(super) async fn handle_tick<B, M, A>(instance: &Instance<B, M>, agent: &mut A)
where
    B: Bus,
    M: Message,
    A: Agent<M>,
{
    let context = Context {
        agent: instance.keys.id().clone(),
        attempt: 1,
        clock: instance.shared.clock.clone(),
        backlog: 0,
        replaying: false,
    };
    let outputs = match agent.tick(&context).await {
        Ok(outputs) => outputs,
        Err(_) => {
            instance.counters.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    for output in outputs {
        if !instance.spec.publishes.contains(&output.kind()) {
            instance.counters.failed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let sealed = seal_parts(
            &instance.keys,
            &instance.shared.partitions,
            output,
            Lineage::start(),
            instance.shared.clock.now(),
            EnvelopeId::new,
        );
        let mut published = sealed.is_ok();
        for envelope in sealed.unwrap_or_default() {
            published &= instance.shared.bus.publish(envelope).await.is_ok();
        }
        let counter = if published {
            &instance.counters.published
        } else {
            &instance.counters.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// How handling a delivery ended.
pub(super) enum Handled {
    /// Settled (acked, or nacked to come back).
    Settled,
    /// Handled and journaled.
    Journaled,
    /// The instance must stop: another process owns its role now.
    Stop,
}

/// Refuses a delivery for good (delivering it again cannot make it acceptable): counted,
/// audited with why, acked.
fn refuse<B: Bus, M: Message>(
    instance: &Instance<B, M>,
    delivery: Delivery,
    detail: String,
) -> Handled {
    instance.counters.rejected.fetch_add(1, Ordering::Relaxed);
    instance.audit_refusal(delivery.envelope.id.to_string(), detail);
    delivery.ack();
    Handled::Settled
}

pub(super) async fn handle_delivery<B, M, A>(
    instance: &Instance<B, M>,
    agent: &mut A,
    delivery: Delivery,
    backlog: usize,
) -> Handled
where
    B: Bus,
    M: Message,
    A: Agent<M>,
{
    let shared = &instance.shared;
    let counters = &instance.counters;
    let attempt = delivery.attempt;
    let envelope = match shared.directory.open::<M>(&delivery.envelope) {
        Ok(envelope) => envelope,
        Err(rejection) => {
            let detail = format!("from {}: {rejection}", delivery.envelope.sender);
            return refuse(instance, delivery, detail);
        }
    };
    let kind = envelope.payload.kind();
    if !instance.spec.consumes.contains(&kind) {
        let detail = format!(
            "{} does not consume {}",
            instance.spec.role,
            M::subject(kind)
        );
        return refuse(instance, delivery, detail);
    }
    if let Some(own) = instance.spec.partition {
        let count = shared.partitions.count(kind);
        if count > 1 && envelope.payload.partition(count) != Some(own) {
            // Rerouted (the subject is outside the signature) or split wrongly: handling it
            // here would split one entity's state between two owners.
            let detail = format!(
                "{} reached partition {own} of {}, but its entities are not all that \
                 partition's",
                M::subject(kind),
                instance.spec.role
            );
            return refuse(instance, delivery, detail);
        }
    }
    let journal = journal_of(instance);
    let owner = instance.spec.owner();
    // Only a redelivery can have been handled before (by this instance, seen, or by an
    // instance before it, journaled): a first delivery costs the journal no lookup.
    let handled_before = lock(&instance.seen).contains(&envelope.id)
        || match journal
            .filter(|_| attempt > 1)
            .map(|journal| journal.handled(&owner, &envelope.id.to_string()))
        {
            None | Some(Ok(false)) => false,
            Some(Ok(true)) => true,
            Some(Err(_)) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                delivery.nack(retry_delay(attempt));
                return Handled::Settled;
            }
        };
    if handled_before {
        counters.duplicates.fetch_add(1, Ordering::Relaxed);
        delivery.ack();
        return Handled::Settled;
    }
    let context = Context {
        agent: instance.keys.id().clone(),
        attempt: delivery.attempt,
        clock: shared.clock.clone(),
        backlog,
        replaying: false,
    };
    // A handler taking long says so every half ack wait, so the message is not delivered
    // again meanwhile (to this instance, which would skip it, or to another).
    let handling = agent.handle(&envelope, &context);
    let handled = match instance.spec.ack_wait.map(|wait| wait / 2) {
        Some(period) if !period.is_zero() => {
            tokio::pin!(handling);
            let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                tokio::select! {
                    result = &mut handling => break result,
                    _ = beats.tick() => delivery.progress(),
                }
            }
        }
        _ => handling.await,
    };
    let outputs = match handled {
        Ok(outputs) => outputs,
        Err(error) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            // Retried later; a message that keeps failing ends as a dead letter on the bus.
            let delay = if error.is_retryable() {
                retry_delay(delivery.attempt)
            } else {
                Duration::ZERO
            };
            delivery.nack(delay);
            return Handled::Settled;
        }
    };
    if let Some(output) = outputs
        .iter()
        .find(|output| !instance.spec.publishes.contains(&output.kind()))
    {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        instance.audit_refusal(
            envelope.id.to_string(),
            format!(
                "{} answered with {}, which it may not publish",
                instance.spec.role,
                M::subject(output.kind())
            ),
        );
        delivery.nack(Duration::ZERO);
        return Handled::Settled;
    }
    let lineage = Lineage::after(&envelope);
    let now = shared.clock.now();
    // Derived ids: if this message is handled again after a crash, its answers (and their
    // parts, cut the same way) carry the same ids and their receivers skip them.
    let mut index = 0;
    let mut next_id = || {
        index += 1;
        EnvelopeId::derived(envelope.id, &instance.spec.role, index - 1)
    };
    let answers = outputs.len() as u64;
    let mut sealed = Vec::with_capacity(outputs.len());
    for output in outputs {
        match seal_parts(
            &instance.keys,
            &shared.partitions,
            output,
            lineage,
            now,
            &mut next_id,
        ) {
            Ok(parts) => sealed.extend(parts),
            Err(_) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                delivery.nack(Duration::ZERO);
                return Handled::Settled;
            }
        }
    }
    // Handed to the bus together: one a round trip away sends the next before the last is
    // confirmed.
    if shared.bus.publish_all(sealed).await.is_err() {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        delivery.nack(retry_delay(attempt));
        return Handled::Settled;
    }
    counters.published.fetch_add(answers, Ordering::Relaxed);
    // Journaled once its answers are out: a crash before this handles it again (the same
    // answers, with the same ids), a crash after it finds it handled.
    if let Some(journal) = journal {
        match journal.record(&owner, &journal_entry(&delivery.envelope)) {
            Ok(_) => {}
            Err(garrison_store::StoreError::Fenced { role }) => {
                // Another process owns the role now: this instance stops before its state,
                // which the owner does not share, decides anything more.
                counters.failed.fetch_add(1, Ordering::Relaxed);
                delivery.nack(Duration::ZERO);
                tracing::warn!(
                    "garrison: {} stops: another process owns {role} now",
                    instance.keys.id()
                );
                return Handled::Stop;
            }
            Err(_) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                delivery.nack(retry_delay(attempt));
                return Handled::Settled;
            }
        }
    }
    lock(&instance.seen).insert(envelope.id);
    counters.handled.fetch_add(1, Ordering::Relaxed);
    delivery.ack();
    match journal {
        Some(_) => Handled::Journaled,
        None => Handled::Settled,
    }
}

pub(super) fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(100) * 2u32.saturating_pow(attempt.saturating_sub(1).min(6))
}
