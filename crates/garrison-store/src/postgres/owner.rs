//! One owner at a time for a stateful role: a session advisory lock, and the role's epoch that
//! fences a previous owner out of the journal.

use super::{PostgresStore, lock, text};
use crate::StoreError;
use crate::records::corrupt;
use postgres::Client;
use std::sync::Arc;

/// A session-level advisory lock, held on a connection of its own for as long as this value
/// lives: one owner at a time for what it names, across processes. PostgreSQL releases it when
/// the holder's connection ends, however the holder died, so a standby takes over.
pub struct OwnerLock {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    lost: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for OwnerLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerLock")
            .field("lost", &self.is_lost())
            .finish()
    }
}

impl OwnerLock {
    /// True once the connection holding the lock broke: someone else may own it now.
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl PostgresStore {
    /// Claims stateful `role` for this process (call it holding the role's owner lock, before
    /// its agent rebuilds its state): the role's epoch grows, and from now on only this
    /// store's journal writes for the role are accepted; a previous owner still running is
    /// refused ([`StoreError::Fenced`]).
    pub fn take_role(&self, role: &str) -> Result<u64, StoreError> {
        let epoch: i64 = self.with_client(|client| {
            Ok(client
                .query_one(
                    "INSERT INTO owners (role, epoch) VALUES ($1, 1)
                     ON CONFLICT (role) DO UPDATE SET epoch = owners.epoch + 1
                     RETURNING epoch",
                    &[&text(role)],
                )?
                .get(0))
        })?;
        lock(&self.epochs).insert(role.to_string(), epoch);
        Ok(epoch as u64)
    }

    /// Says that `instance` runs `role` now and owns its partitions `owned`, and returns every
    /// instance that said so within `alive` (this one included), in name order, with the
    /// partitions it owns: the processes sharing the role's partitions.
    pub fn heartbeat(
        &self,
        role: &str,
        instance: &str,
        owned: &[u32],
        alive: std::time::Duration,
    ) -> Result<Vec<(String, Vec<u32>)>, StoreError> {
        let seconds = alive.as_secs_f64();
        let owned: Vec<i32> = owned.iter().map(|&p| p as i32).collect();
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "INSERT INTO members (role, instance, seen, owned) VALUES ($1, $2, now(), $3)
                 ON CONFLICT (role, instance) DO UPDATE SET seen = now(), owned = $3",
                &[&text(role), &text(instance), &owned],
            )?;
            // Long gone members are forgotten; recently gone ones are simply not counted.
            transaction.execute(
                "DELETE FROM members WHERE role = $1 AND seen < now() - interval '1 day'",
                &[&text(role)],
            )?;
            let rows = transaction.query(
                "SELECT instance, owned FROM members
                 WHERE role = $1 AND seen >= now() - make_interval(secs => $2)
                 ORDER BY instance",
                &[&text(role), &seconds],
            )?;
            transaction.commit()?;
            Ok(rows
                .iter()
                .map(|row| {
                    let owned: Vec<i32> = row.get(1);
                    (row.get(0), owned.into_iter().map(|p| p as u32).collect())
                })
                .collect())
        })
    }

    /// Says that `instance` no longer runs `role`, so the others take its share at once.
    pub fn leave(&self, role: &str, instance: &str) -> Result<(), StoreError> {
        self.with_client(|client| {
            client.execute(
                "DELETE FROM members WHERE role = $1 AND instance = $2",
                &[&text(role), &text(instance)],
            )?;
            Ok(())
        })
    }

    /// Takes the lock `name` (within this store's schema) when nobody holds it.
    pub fn try_lock_owner(&self, name: &str) -> Result<Option<OwnerLock>, StoreError> {
        let key = format!(
            "garrison-owner:{}:{name}",
            self.schema.as_deref().unwrap_or("public")
        );
        let (config, tls) = (self.config.clone(), self.tls.clone());
        let (taken_sender, taken) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = lost.clone();
        // The connection lives on its own thread (the `postgres` crate blocks), checked every
        // few seconds so a broken one is noticed.
        let thread = std::thread::spawn(move || {
            let attempt = (|| -> Result<Option<Client>, StoreError> {
                let mut client = super::connect_with(&config, &tls)?;
                let row = client.query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&key])?;
                Ok(row.get::<_, bool>(0).then_some(client))
            })();
            let mut client = match attempt {
                Ok(Some(client)) => {
                    let _ = taken_sender.send(Ok(true));
                    client
                }
                Ok(None) => {
                    let _ = taken_sender.send(Ok(false));
                    return;
                }
                Err(error) => {
                    let _ = taken_sender.send(Err(error));
                    return;
                }
            };
            loop {
                match stopped.recv_timeout(std::time::Duration::from_secs(2)) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if client.simple_query("SELECT 1").is_err() {
                            flag.store(true, std::sync::atomic::Ordering::SeqCst);
                            return;
                        }
                    }
                    _ => return,
                }
            }
        });
        match taken.recv() {
            Ok(Ok(true)) => Ok(Some(OwnerLock {
                stop: Some(stop),
                thread: Some(thread),
                lost,
            })),
            Ok(Ok(false)) => Ok(None),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(corrupt("the lock holder stopped before answering")),
        }
    }
}
