//! Waiting for the agent team to settle: nothing queued, in flight or waiting to be delivered
//! again, on the in-process bus or on NATS JetStream (`investigate`, `serve`, the benches).

use crate::Failure;
use garrison_agents::messages::TeamMessage;
use garrison_bus::{Bus, InProcessBus, JetStreamBus};
use std::time::Duration;

/// The longest the team may take to settle after the last alert.
const SETTLE_LIMIT: Duration = Duration::from_secs(600);

pub(crate) fn team_subjects() -> Vec<&'static str> {
    use garrison_bus::Message;
    garrison_agents::messages::TeamKind::ALL
        .iter()
        .map(|kind| TeamMessage::subject(*kind))
        .collect()
}

/// What waiting for a team to settle needs from its bus.
pub(crate) trait Settles: Bus {
    /// Nothing queued, in flight or waiting to be delivered again.
    async fn idle(&self) -> Result<bool, Failure>;
    /// Messages published so far.
    fn published(&self) -> u64;
    /// Messages that became dead letters here.
    fn dead_letters(&self) -> u64;
    /// Closes the bus once what was settled reached it.
    async fn finish(&self);
    /// How often to look.
    const POLL: Duration;
    /// Work that waits with nobody to do it, in words.
    async fn stalled(&self) -> Option<String> {
        None
    }
}

impl Settles for InProcessBus {
    const POLL: Duration = Duration::from_millis(10);

    async fn idle(&self) -> Result<bool, Failure> {
        Ok(self.is_idle())
    }
    fn published(&self) -> u64 {
        self.stats().published
    }
    fn dead_letters(&self) -> u64 {
        InProcessBus::dead_letters(self).len() as u64
    }
    async fn finish(&self) {
        InProcessBus::close(self);
    }
}

impl Settles for JetStreamBus {
    // Each look asks the server about every consumer.
    const POLL: Duration = Duration::from_millis(25);

    async fn stalled(&self) -> Option<String> {
        let consumers = self.consumers(&team_subjects()).await.ok()?;
        let idle: Vec<String> = consumers
            .iter()
            .filter(|state| state.pending > 0 && state.waiting == 0)
            .map(|state| format!("{} ({} pending)", state.name, state.pending))
            .collect();
        (!idle.is_empty()).then(|| {
            format!(
                "no agent pulls from {}; start `garrison agent` for those roles",
                idle.join(", ")
            )
        })
    }

    async fn idle(&self) -> Result<bool, Failure> {
        self.is_idle(&team_subjects())
            .await
            .map_err(|error| Failure::Internal(format!("NATS: {error}")))
    }
    fn published(&self) -> u64 {
        let stats = self.stats();
        stats.published + stats.duplicates + stats.acked + stats.nacked
    }
    fn dead_letters(&self) -> u64 {
        self.stats().dead_lettered
    }
    async fn finish(&self) {
        // Nothing is left to settle after the team settled; a flush that fails loses nothing
        // (unacked work comes back), so its error is not this run's failure.
        let _ = self.flush().await;
        JetStreamBus::close(self);
    }
}

/// Waits until the team has nothing left to do (checked twice, a moment apart, with nothing
/// published or settled in between).
pub(crate) async fn settle<B: Settles>(bus: &B) -> Result<(), Failure> {
    let started = tokio::time::Instant::now();
    let deadline = started + SETTLE_LIMIT;
    let mut told = started;
    // A broker restarting answers nothing for a while: that is not idle, and not an end.
    let idle = async || match bus.idle().await {
        Ok(idle) => idle,
        Err(error) => {
            eprintln!(
                "investigate: cannot tell whether the team is done yet: {}",
                error.message()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            false
        }
    };
    loop {
        tokio::time::sleep(B::POLL).await;
        if idle().await {
            let published = bus.published();
            tokio::time::sleep(B::POLL * 2).await;
            if idle().await && bus.published() == published {
                return Ok(());
            }
        }
        let now = tokio::time::Instant::now();
        if now > deadline {
            return Err(Failure::Internal(
                "the agent team did not settle within 10 minutes".into(),
            ));
        }
        if now - told > Duration::from_secs(10) {
            told = now;
            if let Some(waiting) = bus.stalled().await {
                eprintln!("investigate: still waiting: {waiting}");
            }
        }
    }
}
