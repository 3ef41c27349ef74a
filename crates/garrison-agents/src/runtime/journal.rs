//! Journaled stateful agents: what a fresh instance handles again before new messages.

use super::{Context, Instance, lock};
use crate::Agent;
use garrison_bus::{AgentId, Bus, EnvelopeId, Message, SignedEnvelope};
use garrison_store::{Journal, JournalEntry};
use std::time::Duration;

/// The journal of a stateful agent, when there is one.
pub(super) fn journal_of<B: Bus, M: Message>(instance: &Instance<B, M>) -> Option<&dyn Journal> {
    instance
        .shared
        .journal
        .as_deref()
        .filter(|_| instance.spec.stateful)
}

/// Rebuilds a stateful agent's state by handling again, answers discarded, every message its
/// role journaled. False when stopped meanwhile. A journal that cannot be read is retried: an
/// agent running on partial state would decide differently from the one it replaces.
pub(super) async fn replay<B, M, A>(instance: &Instance<B, M>, agent: &mut A) -> bool
where
    B: Bus,
    M: Message,
    A: Agent<M>,
{
    const PAGE: usize = 1_000;
    let Some(journal) = journal_of(instance) else {
        return true;
    };
    let mut shutdown = instance.shared.shutdown.clone();
    let mut after = 0;
    loop {
        let page = match journal.entries(&instance.spec.owner(), after, PAGE) {
            Ok(page) => page,
            Err(error) => {
                eprintln!(
                    "garrison: {} cannot read its journal ({error}); trying again",
                    instance.keys.id()
                );
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.wait_for(|stop| *stop) => return false,
                }
            }
        };
        let last = page.len() < PAGE;
        for (position, entry) in page {
            after = position;
            let Some(signed) = signed_envelope(&entry) else {
                continue;
            };
            let Ok(envelope) = instance.shared.directory.open::<M>(&signed) else {
                continue;
            };
            let context = Context {
                agent: instance.keys.id().clone(),
                attempt: 1,
                clock: instance.shared.clock.clone(),
                backlog: if last { 0 } else { PAGE },
                replaying: true,
            };
            let _ = agent.handle(&envelope, &context).await;
            lock(&instance.seen).insert(envelope.id);
        }
        if last {
            return true;
        }
    }
}

pub(super) fn journal_entry(envelope: &SignedEnvelope) -> JournalEntry {
    JournalEntry {
        id: envelope.id.to_string(),
        subject: envelope.subject.clone(),
        sender: envelope.sender.to_string(),
        body: envelope.body.clone(),
        signature: envelope.signature.to_vec(),
    }
}

fn signed_envelope(entry: &JournalEntry) -> Option<SignedEnvelope> {
    let (role, instance) = entry.sender.rsplit_once('/')?;
    Some(SignedEnvelope {
        id: EnvelopeId(entry.id.parse().ok()?),
        subject: entry.subject.clone(),
        sender: AgentId::new(role, instance),
        body: entry.body.clone(),
        signature: entry.signature.clone().try_into().ok()?,
    })
}
