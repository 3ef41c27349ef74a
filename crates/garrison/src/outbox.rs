//! The outbox relay of a distributed process: publishes the announcements the PostgreSQL store
//! wrote beside its state changes (see `garrison_store::postgres::outbox`).
//!
//! A process relays the kinds of announcement whose role it runs and holds the key of (report:
//! incidents; respond: actions). One relay per kind works at a time across the deployment (an
//! owner lock, `outbox:KIND`); the others stand by and take over when its process dies. Each
//! round reads the oldest waiting rows, seals each with the role's key under an id named by
//! the row's key, publishes it to the announcement stream, and only then removes the rows: a
//! relay that dies in between publishes them again, and the stream drops the repeats.

use garrison_agents::announce::{Announcement, AnnouncementKind};
use garrison_bus::{AgentKeys, EnvelopeId, JetStreamBus, KeyRing, Lineage};
use garrison_store::{OwnerLock, PostgresStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Rows read per round.
const BATCH: usize = 256;
/// How long an idle relay waits before looking again.
const IDLE: Duration = Duration::from_millis(100);
/// How long a relay that could not publish waits before trying again.
const BACKOFF: Duration = Duration::from_secs(1);

/// A running relay; stopping it publishes what is waiting first.
pub struct Relay {
    stop: Arc<AtomicBool>,
    /// Returns how many announcements it published.
    thread: Option<std::thread::JoinHandle<u64>>,
}

/// One kind this process may relay.
struct Kind {
    kind: AnnouncementKind,
    keys: AgentKeys,
    lock: Option<OwnerLock>,
}

impl Relay {
    /// Starts relaying the kinds announced by `roles` (those this process runs), signing with
    /// their keys from `ring`; `None` when none of them announces anything.
    pub fn start(
        store: Arc<PostgresStore>,
        bus: JetStreamBus,
        ring: &KeyRing,
        roles: &[&str],
        instance: &str,
        runtime: tokio::runtime::Handle,
    ) -> Result<Option<Relay>, crate::Failure> {
        let mut kinds = Vec::new();
        for kind in AnnouncementKind::ALL {
            if roles.contains(&kind.role()) {
                let keys = ring
                    .keys(kind.role(), instance)
                    .map_err(|error| crate::Failure::Usage(format!("keys: {error}")))?;
                kinds.push(Kind {
                    kind,
                    keys,
                    lock: None,
                });
            }
        }
        if kinds.is_empty() {
            return Ok(None);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("outbox-relay".into())
                .spawn(move || relay(&store, &bus, kinds, &stop, &runtime))
                .map_err(|error| crate::Failure::Internal(error.to_string()))?
        };
        Ok(Some(Relay {
            stop,
            thread: Some(thread),
        }))
    }

    /// Publishes what is waiting (unless the bus is gone) and stops, waiting off the async
    /// threads (the relay publishes through them); how many announcements it published in all.
    pub async fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let Some(thread) = self.thread.take() else {
            return 0;
        };
        tokio::task::spawn_blocking(move || thread.join().unwrap_or(0))
            .await
            .unwrap_or(0)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn relay(
    store: &PostgresStore,
    bus: &JetStreamBus,
    mut kinds: Vec<Kind>,
    stop: &AtomicBool,
    runtime: &tokio::runtime::Handle,
) -> u64 {
    let mut published = 0;
    let mut last_claim: Option<std::time::Instant> = None;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        // Kinds another process relays are claimed when it stops holding them (once a second).
        if last_claim.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            last_claim = Some(std::time::Instant::now());
            for kind in kinds.iter_mut() {
                if kind.lock.as_ref().is_some_and(OwnerLock::is_lost) {
                    kind.lock = None;
                }
                if kind.lock.is_none() {
                    match store.try_lock_owner(&format!("outbox:{}", kind.kind.topic())) {
                        Ok(lock) => kind.lock = lock,
                        Err(error) => tracing::warn!("outbox relay: cannot claim: {error}"),
                    }
                }
            }
        }
        let mut busy = false;
        let mut failed = false;
        for kind in kinds.iter().filter(|kind| kind.lock.is_some()) {
            match round(store, bus, kind, runtime) {
                Ok(count) => {
                    published += count as u64;
                    busy |= count == BATCH;
                }
                Err(error) => {
                    tracing::warn!(
                        "outbox relay: {} announcements wait: {error}",
                        kind.kind.topic()
                    );
                    failed = true;
                }
            }
        }
        if stopping && (!busy || failed) {
            return published;
        }
        if failed {
            std::thread::sleep(BACKOFF);
        } else if !busy {
            std::thread::sleep(IDLE);
        }
    }
}

/// Publishes up to a batch of `kind`'s waiting announcements; how many.
fn round(
    store: &PostgresStore,
    bus: &JetStreamBus,
    kind: &Kind,
    runtime: &tokio::runtime::Handle,
) -> Result<usize, String> {
    let entries = store
        .outbox_pending(&[kind.kind.topic()], BATCH)
        .map_err(|error| error.to_string())?;
    let mut done = Vec::with_capacity(entries.len());
    for entry in &entries {
        match Announcement::from_outbox(&entry.topic, &entry.body) {
            Ok(announcement) => {
                let envelope = kind
                    .keys
                    .seal_as(
                        EnvelopeId::named(&entry.key),
                        announcement,
                        Lineage::start(),
                        jiff::Timestamp::now(),
                    )
                    .map_err(|error| error.to_string())?;
                if let Err(error) = runtime.block_on(bus.announce(envelope)) {
                    // What was published so far is removed; the rest waits.
                    store
                        .outbox_published(&done)
                        .map_err(|error| error.to_string())?;
                    return Err(error.to_string());
                }
            }
            // Written by a build that reads differently: said, and not retried forever.
            Err(why) => tracing::error!(
                key = %entry.key,
                "outbox relay: dropped an announcement this build cannot read: {why}"
            ),
        }
        done.push(entry.seq);
    }
    store
        .outbox_published(&done)
        .map_err(|error| error.to_string())?;
    Ok(entries.len())
}
