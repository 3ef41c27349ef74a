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

/// Rebuilds a stateful agent's state: from its latest checkpoint when it has one, then by
/// handling again, answers discarded, every message journaled after it. False when stopped
/// meanwhile. A journal that cannot be read, or a checkpoint that cannot be restored, is
/// retried: an agent running on partial state would decide differently from the one it
/// replaces.
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
    let owner = instance.spec.owner();
    let mut after = loop {
        let problem = match journal.latest_checkpoint(&owner) {
            Ok(None) => break 0,
            Ok(Some((position, state))) => match agent.restore(&state) {
                Ok(()) => {
                    tracing::info!(
                        "garrison: {} restored {owner}'s state as of its journal position \
                         {position}",
                        instance.keys.id()
                    );
                    break position;
                }
                Err(error) => format!("cannot restore its checkpoint at {position} ({error})"),
            },
            Err(error) => format!("cannot read its checkpoint ({error})"),
        };
        tracing::warn!("garrison: {} {problem}; trying again", instance.keys.id());
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return false,
        }
    };
    // The ids the checkpoint holds are known as handled, as replayed ones are (an upstream
    // republishing one is skipped without a journal lookup).
    let held = after;
    let mut read = 0;
    while read < held {
        let Some(page) = page(instance, journal, &owner, read, PAGE).await else {
            return false;
        };
        for (position, entry) in page.iter().filter(|(position, _)| *position <= held) {
            read = *position;
            if let Ok(id) = entry.id.parse() {
                lock(&instance.seen).insert(EnvelopeId(id));
            }
        }
        if page.len() < PAGE || page.last().is_some_and(|(p, _)| *p > held) {
            break;
        }
    }
    loop {
        let Some(page) = page(instance, journal, &owner, after, PAGE).await else {
            return false;
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
                // Never 0: what an agent holds back until its queue is empty (which the owner
                // that died may not have sent) is answered after the replay, not discarded.
                backlog: PAGE,
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

/// A page of `owner`'s journal after `after`, read again until it can be (an agent must not
/// run on part of its state); `None` when the runtime stops meanwhile.
async fn page<B: Bus, M: Message>(
    instance: &Instance<B, M>,
    journal: &dyn Journal,
    owner: &str,
    after: u64,
    limit: usize,
) -> Option<Vec<(u64, JournalEntry)>> {
    let mut shutdown = instance.shared.shutdown.clone();
    loop {
        match journal.entries(owner, after, limit) {
            Ok(page) => return Some(page),
            Err(error) => {
                tracing::warn!(
                    "garrison: {} cannot read its journal ({error}); trying again",
                    instance.keys.id()
                );
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return None,
                }
            }
        }
    }
}

/// What saving a checkpoint came to.
pub(super) enum Saved {
    Yes,
    /// The agent keeps no checkpoints.
    Never,
    /// The store refused for now: tried again after the next message.
    Later,
    /// Another process owns the role now: the instance stops.
    Fenced,
}

/// Saves the agent's state as its role's (or partition's) checkpoint.
pub(super) fn save_checkpoint<B: Bus, M: Message, A: Agent<M>>(
    instance: &Instance<B, M>,
    agent: &A,
) -> Saved {
    let Some(journal) = journal_of(instance) else {
        return Saved::Never;
    };
    let Some(state) = agent.checkpoint() else {
        return Saved::Never;
    };
    match journal.checkpoint(&instance.spec.owner(), &state) {
        Ok(_) => Saved::Yes,
        Err(garrison_store::StoreError::Fenced { role }) => {
            tracing::warn!(
                "garrison: {} stops: another process owns {role} now",
                instance.keys.id()
            );
            Saved::Fenced
        }
        Err(_) => Saved::Later,
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
