//! Triage and correlation cut into partitions (`[agents] partitions` in the distributed
//! config): the processes running such a role share its partitions, each partition owned by one process at a
//! time. Every process says it is alive once a second (a heartbeat row in PostgreSQL); each
//! aims at an equal share of the partitions (rounded up), claims partitions nobody owns (an
//! advisory lock each, then the partition's epoch, which fences the previous owner out of the
//! partition's journal), and hands back what is beyond its share when another process joins.
//! A partition whose lock connection broke is stopped at once: someone else may own it now.
//! A claimed partition's agent rebuilds its state from the partition's journal first.

use garrison_agents::RuntimeStats;
use garrison_agents::SystemClock;
use garrison_agents::team::{self, Local, Membership, TeamConfig, TeamStores};
use garrison_bus::JetStreamBus;
use garrison_store::{OwnerLock, PostgresStore};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A process that has not said it is alive for this long no longer counts as sharing.
const ALIVE: Duration = Duration::from_secs(5);

/// The partitions one of `members` processes aims to own.
pub fn share(partitions: u32, members: usize) -> usize {
    (partitions as usize).div_ceil(members.max(1))
}

/// The order in which the `index`th of the members (by name) tries to claim partitions: from
/// its own stretch on, so that processes starting together mostly claim different ones.
pub fn claim_order(partitions: u32, index: usize, share: usize) -> Vec<u32> {
    let first = ((index * share) % partitions.max(1) as usize) as u32;
    (0..partitions)
        .map(|step| (first + step) % partitions)
        .collect()
}

/// A partition this process owns: its lock and its agent.
struct Owned {
    lock: OwnerLock,
    part: team::Part<JetStreamBus>,
}

/// The partitions of a role (triage, correlate) this process owns, kept at its share.
pub struct PartitionOwner {
    role: &'static str,
    store: Arc<PostgresStore>,
    bus: JetStreamBus,
    stores: TeamStores,
    config: TeamConfig,
    membership: Membership,
    name: String,
    owned: BTreeMap<u32, Owned>,
    /// What stopped partitions' agents did, summed.
    pub handled: u64,
    /// Partitions claimed and released, for the log at exit.
    pub claims: u64,
    pub releases: u64,
    store_down: bool,
}

impl PartitionOwner {
    pub fn new(
        role: &'static str,
        store: Arc<PostgresStore>,
        bus: JetStreamBus,
        config: TeamConfig,
        membership: Membership,
    ) -> PartitionOwner {
        PartitionOwner {
            role,
            stores: TeamStores::shared(store.clone()),
            name: membership.instance.clone(),
            store,
            bus,
            config,
            membership,
            owned: BTreeMap::new(),
            handled: 0,
            claims: 0,
            releases: 0,
            store_down: false,
        }
    }

    /// One round: stops partitions whose lock is lost, says this process is alive, hands
    /// back partitions beyond its share and claims free ones up to it.
    pub async fn rebalance(&mut self) {
        let lost: Vec<u32> = self
            .owned
            .iter()
            .filter(|(_, owned)| owned.lock.is_lost())
            .map(|(partition, _)| *partition)
            .collect();
        for partition in lost {
            self.release(partition, "its PostgreSQL connection broke")
                .await;
        }
        let (store, name, role) = (self.store.clone(), self.name.clone(), self.role);
        let owned: Vec<u32> = self.owned.keys().copied().collect();
        let members = blocking(move || store.heartbeat(role, &name, &owned, ALIVE)).await;
        let members = match members {
            Ok(members) => {
                if std::mem::take(&mut self.store_down) {
                    eprintln!(
                        "agent: PostgreSQL answers again; sharing {}'s partitions",
                        self.role
                    );
                }
                members
            }
            Err(error) => {
                if !std::mem::replace(&mut self.store_down, true) {
                    eprintln!(
                        "agent: cannot reach PostgreSQL to share {}'s partitions ({error}); \
                         keeping the ones owned",
                        self.role
                    );
                }
                return;
            }
        };
        let count = self.config.partitions;
        let share = share(count, members.len());
        while self.owned.len() > share {
            let Some(&last) = self.owned.keys().next_back() else {
                break;
            };
            self.release(last, "handed over to a process that joined")
                .await;
        }
        if self.owned.len() >= share {
            return;
        }
        let index = members
            .iter()
            .position(|(member, _)| *member == self.name)
            .unwrap_or(0);
        // Partitions a live process says it owns are not tried (each try is a connection);
        // the lock decides for the rest.
        let taken: std::collections::BTreeSet<u32> = members
            .iter()
            .filter(|(member, _)| *member != self.name)
            .flat_map(|(_, owned)| owned.iter().copied())
            .collect();
        for partition in claim_order(count, index, share) {
            if self.owned.len() >= share {
                break;
            }
            if !self.owned.contains_key(&partition) && !taken.contains(&partition) {
                self.claim(partition).await;
            }
        }
    }

    /// Takes `partition` when nobody owns it, and starts its agent.
    async fn claim(&mut self, partition: u32) {
        let owner = format!("{}.{partition}", self.role);
        let store = self.store.clone();
        let name = owner.clone();
        let claimed = blocking(move || {
            let Some(lock) = store.try_lock_owner(&format!("role:{name}"))? else {
                return Ok(None);
            };
            // Before the agent rebuilds its state: a previous owner that has not noticed yet
            // can journal nothing more.
            store.take_role(&name)?;
            Ok(Some(lock))
        })
        .await;
        let lock = match claimed {
            Ok(Some(lock)) => lock,
            Ok(None) => return,
            Err(error) => {
                eprintln!("agent: cannot claim {owner}: {error}");
                return;
            }
        };
        let only = [partition];
        let started = team::start_part(
            self.bus.clone(),
            self.stores.clone(),
            Arc::new(SystemClock),
            self.config.clone(),
            self.membership.clone(),
            &[Local {
                role: self.role,
                instances: Some(1),
                partitions: Some(&only),
            }],
            false,
        )
        .await;
        match started {
            Ok(part) => {
                eprintln!("agent: owns {owner}");
                self.claims += 1;
                self.owned.insert(partition, Owned { lock, part });
            }
            Err(error) => eprintln!("agent: cannot start {owner}: {error}"),
        }
    }

    /// Stops `partition`'s agent after the message it is handling, sends its acks, and lets
    /// the partition go.
    async fn release(&mut self, partition: u32, why: &str) {
        let Some(owned) = self.owned.remove(&partition) else {
            return;
        };
        self.count(owned.part.runtime.shutdown().await);
        let _ = self.bus.flush().await;
        drop(owned.lock);
        self.releases += 1;
        eprintln!("agent: let go of {}.{partition}: {why}", self.role);
    }

    fn count(&mut self, stats: RuntimeStats) {
        self.handled += stats
            .agents
            .values()
            .map(|counters| counters.handled)
            .sum::<u64>();
    }

    /// Stops every partition's agent and leaves, so the others take the partitions at once.
    pub async fn stop(mut self) {
        let owned = std::mem::take(&mut self.owned);
        for (_, owned) in owned {
            let stats = owned.part.runtime.shutdown().await;
            self.count(stats);
        }
        let _ = self.bus.flush().await;
        let (store, name, role) = (self.store.clone(), self.name.clone(), self.role);
        let _ = blocking(move || store.leave(role, &name)).await;
        eprintln!(
            "agent: {}: {} handled in its partitions, {} claimed, {} let go",
            self.role, self.handled, self.claims, self.releases
        );
    }
}

/// Runs a blocking store job off the async workers.
pub(crate) async fn blocking<R: Send + 'static>(
    job: impl FnOnce() -> Result<R, garrison_store::StoreError> + Send + 'static,
) -> Result<R, String> {
    match tokio::task::spawn_blocking(job).await {
        Ok(result) => result.map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_partition_and_claims_start_apart() {
        assert_eq!(share(8, 1), 8);
        assert_eq!(share(8, 3), 3);
        assert_eq!(share(8, 0), 8);
        assert_eq!(share(2, 4), 1);
        for members in 1..=9 {
            assert!(share(8, members) * members >= 8, "{members}");
        }
        assert_eq!(claim_order(8, 0, 3), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(claim_order(8, 2, 3), [6, 7, 0, 1, 2, 3, 4, 5]);
        assert_eq!(claim_order(4, 3, 1), [3, 0, 1, 2]);
    }
}
