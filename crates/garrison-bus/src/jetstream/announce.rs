//! Announcements: messages telling whoever watches that the shared state changed (an incident
//! version stored, an action moved), as opposed to work for an agent role.
//!
//! They travel in their own stream, `GARRISON_STATE` (subjects `garrison.state.>`), which keeps
//! them for a day whether or not anyone watches (limits retention, oldest dropped first), so a
//! deployment with no console running loses no work and blocks no publisher. They carry
//! `Nats-Msg-Id` like every envelope: a relay publishing one again after a crash is dropped as a
//! duplicate within the window. Watchers read from the moment they start, each all of them
//! (an ordered consumer per watcher, recreated by the client after a server restart), and
//! check every envelope against their directory like any receiver.

use super::pull::envelope_of;
use super::{JetStreamBus, Ordering};
use crate::{BusError, SignedEnvelope};
use async_nats::jetstream::consumer;
use futures_util::StreamExt;
use std::time::Duration;

/// The stream family of announcements (subjects `state.…`).
pub(super) const FAMILY: &str = "state";
/// How long announcements are kept.
pub(super) const KEPT: Duration = Duration::from_secs(24 * 3600);

impl JetStreamBus {
    /// Publishes an announcement (its subject under `state.`): kept for watchers whether or not
    /// any watch now.
    pub async fn announce(&self, envelope: SignedEnvelope) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(BusError::Closed);
        }
        if super::family(&envelope.subject) != FAMILY {
            return Err(BusError::InvalidSubscription(format!(
                "{} is not an announcement subject ({FAMILY}.…)",
                envelope.subject
            )));
        }
        self.stream(FAMILY).await?;
        self.send(envelope).await
    }

    /// Every announcement published from now on under `subject` (`state.incident`, or
    /// `state.>` for all), in order.
    pub async fn watch(&self, subject: &str) -> Result<Watch, BusError> {
        if super::family(subject) != FAMILY {
            return Err(BusError::InvalidSubscription(format!(
                "{subject} is not an announcement subject ({FAMILY}.…)"
            )));
        }
        let stream = self.stream(FAMILY).await?;
        let unavailable = |error: String| BusError::Unavailable(error);
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: self.nats_subject(subject),
                deliver_policy: consumer::DeliverPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        Ok(Watch {
            messages,
            prefix: self.inner.config.prefix.clone(),
        })
    }
}

/// A watcher's announcements.
pub struct Watch {
    messages: consumer::pull::Ordered,
    prefix: String,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// The next announcement, still to be opened against a directory; `Err` says why a message
    /// was not one (or that the server connection broke: the watch carries on after it);
    /// `None` once the client is gone for good.
    pub async fn next(&mut self) -> Option<Result<SignedEnvelope, String>> {
        let message = self.messages.next().await?;
        Some(match message {
            Ok(message) => envelope_of(&message, &self.prefix),
            Err(error) => Err(format!("watching announcements: {error}")),
        })
    }
}
