//! The evidence writers: one thread, on a SQLite connection of its own, writes what the
//! reading threads encoded, with a [`Checkpointer`] beside it. Batches that wait while it
//! writes go into the next transaction together (group commit), so under load a commit carries
//! many batches and the pages each touches are written once for all of them; when idle, a
//! batch is written alone at once.
//! - [`EvidenceWriter`] (`garrison serve`): each batch comes back to its processor once
//!   committed (or with the reason it could not be), so the processor raises its alerts and
//!   saves its cursor only then, and frees the events itself.
//! - [`BulkWriter`] (`garrison investigate`): the hunting threads only send; written batches
//!   are freed on a thread of their own, as the writer is the thread the hunt waits for.

use crate::hunt::{EncodedBatch, EvidenceSink};
use garrison_store::{Encoded, EvidenceStore, SqliteStore, Store, StoredEvent};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, sync_channel};
use std::time::Duration;

/// Events written in one transaction at most (a transaction holds SQLite's write lock, which
/// the team's own writes wait for).
const EVENTS_PER_COMMIT: usize = 32_768;
/// Batches waiting for the writer at most; a processor sending more waits (backpressure).
const QUEUED: usize = 8;
/// How often the checkpointer copies the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// A bulk writer's own commits copy the log only past this many pages.
const BACKSTOP_PAGES: u32 = 16_384;

/// A batch written, or why it could not be.
pub type Written = Result<EncodedBatch, String>;

struct Job {
    events: EncodedBatch,
    done: Sender<Written>,
}

/// The writer's queue; cloned into each processor.
#[derive(Clone)]
pub struct EvidenceWriter {
    jobs: SyncSender<Job>,
}

/// The writer's thread (and its checkpointer), to wait for once every queue handle is
/// dropped.
pub struct WriterThread {
    writer: std::thread::JoinHandle<()>,
    checkpointer: Checkpointer,
}

impl WriterThread {
    pub fn join(self) {
        let _ = self.writer.join();
        drop(self.checkpointer);
    }
}

/// A thread copying a SQLite store's write-ahead log into the database every 200 ms on a
/// connection of its own (a passive checkpoint: it waits for no one), so a bulk writer does
/// not stop to do it; stopped when dropped.
pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(store: &SqliteStore) -> Result<Checkpointer, String> {
        let copying = store.another().map_err(|error| error.to_string())?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("evidence-checkpoint".into())
            .spawn(move || {
                let mut failed = false;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    // Busy only means another connection is copying the log just now.
                    match copying.checkpoint() {
                        Err(error) if !error.is_retryable() && !failed => {
                            tracing::warn!(%error, "evidence checkpoint failed: {error}");
                            failed = true;
                        }
                        _ => {}
                    }
                }
            })
            .map_err(|error| format!("cannot start the evidence checkpointer: {error}"))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A connection of its own to `store`'s database for a bulk writer beside a [`Checkpointer`]:
/// its own commits copy the log only past a backstop, should the checkpointer fall behind
/// (the log is rewound only after a copy that reached its end).
pub fn bulk_connection(store: &SqliteStore) -> Result<SqliteStore, String> {
    let writing = store.another().map_err(|error| error.to_string())?;
    writing
        .set_autocheckpoint(BACKSTOP_PAGES)
        .map_err(|error| error.to_string())?;
    Ok(writing)
}

impl EvidenceWriter {
    /// Starts the writer on a connection of its own to `store`'s database, with a
    /// [`Checkpointer`] beside it.
    pub fn start(store: &SqliteStore) -> Result<(EvidenceWriter, WriterThread), String> {
        let writing = bulk_connection(store)?;
        let checkpointer = Checkpointer::start(store)?;
        let (jobs, queue) = sync_channel(QUEUED);
        let writer = std::thread::Builder::new()
            .name("evidence-writer".into())
            .spawn(move || write_all(&writing, &queue))
            .map_err(|error| format!("cannot start the evidence writer: {error}"))?;
        Ok((
            EvidenceWriter { jobs },
            WriterThread {
                writer,
                checkpointer,
            },
        ))
    }

    /// Queues `events`; the receiver gets them back once committed.
    pub fn send(&self, events: EncodedBatch) -> Result<Receiver<Written>, String> {
        let (done, receiver) = std::sync::mpsc::channel();
        self.jobs
            .send(Job { events, done })
            .map_err(|_| "the evidence writer has stopped".to_string())?;
        Ok(receiver)
    }
}

/// Encodes each event's fields for the store and frees the decoded fields: done by the
/// threads that read the events, so the single writer only writes.
pub fn encode(events: Vec<StoredEvent>) -> EncodedBatch {
    events
        .into_iter()
        .map(|mut event| {
            let fields = garrison_store::encode_fields(&event.fields);
            event.fields = Vec::new();
            (event, fields)
        })
        .collect()
}

/// Writes until every sender is gone.
fn write_all(store: &SqliteStore, queue: &Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let jobs = gather(queue, first, EVENTS_PER_COMMIT, |job| job.events.len());
        let encoded = encoded(jobs.iter().map(|job| &job.events));
        let outcome = put_patiently(store, &encoded, Duration::from_secs(10));
        drop(encoded);
        for job in jobs {
            let answer = match &outcome {
                Ok(()) => Ok(job.events),
                Err(error) => Err(error.clone()),
            };
            // A processor that stopped waiting has nothing left to do with its answer.
            let _ = job.done.send(answer);
        }
    }
}

/// `first` and what already waits behind it, up to `limit` events: written in one commit,
/// which rewrites each index page once however many rows it adds there (group commit).
fn gather<T>(queue: &Receiver<T>, first: T, limit: usize, events: impl Fn(&T) -> usize) -> Vec<T> {
    let mut count = events(&first);
    let mut gathered = vec![first];
    while count < limit
        && let Ok(more) = queue.try_recv()
    {
        count += events(&more);
        gathered.push(more);
    }
    gathered
}

/// The store's view of batches of encoded events.
fn encoded<'e>(batches: impl Iterator<Item = &'e EncodedBatch>) -> Vec<Encoded<'e>> {
    batches
        .flatten()
        .map(|(event, fields)| (event, fields.as_str()))
        .collect()
}

/// Writes `encoded` in one transaction, trying again while the store is busy (or, shared,
/// restarting) for up to `patience`.
fn put_patiently(
    store: &dyn EvidenceStore,
    encoded: &[Encoded<'_>],
    patience: Duration,
) -> Result<(), String> {
    let mut delay = Duration::from_millis(10);
    let give_up = std::time::Instant::now() + patience;
    loop {
        match store.put_encoded(encoded) {
            Ok(_) => return Ok(()),
            Err(error) if error.is_retryable() && std::time::Instant::now() < give_up => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(error) => return Err(format!("cannot store evidence: {error}")),
        }
    }
}

/// Events `investigate`'s writer puts in one transaction at most.
const HUNTED_PER_COMMIT: usize = 16_384;

/// `investigate`'s evidence writer: one thread writing what the hunting threads send it,
/// batches that queued while it wrote in one transaction. Embedded, it writes on a
/// connection of its own with a [`Checkpointer`] beside it; written batches are freed on a
/// thread of their own, as the writer is the thread the hunt waits for.
pub struct BulkWriter {
    writer: std::thread::JoinHandle<Result<usize, String>>,
    disposer: std::thread::JoinHandle<()>,
    checkpointer: Option<Checkpointer>,
}

impl BulkWriter {
    /// Starts writing to `store`, or to `sqlite` (the same store, embedded) on connections of
    /// its own.
    pub fn start(
        store: Arc<dyn Store>,
        sqlite: Option<&SqliteStore>,
    ) -> Result<(EvidenceSink, BulkWriter), String> {
        let (writing, checkpointer): (Arc<dyn EvidenceStore>, _) = match sqlite {
            Some(sqlite) => (
                Arc::new(bulk_connection(sqlite)?),
                Some(Checkpointer::start(sqlite)?),
            ),
            None => (store, None),
        };
        let (sink, batches) = sync_channel::<EncodedBatch>(16);
        let (dispose, disposal) = std::sync::mpsc::channel::<Vec<EncodedBatch>>();
        let disposer = std::thread::spawn(move || disposal.into_iter().for_each(drop));
        let writer = std::thread::spawn(move || -> Result<usize, String> {
            let mut written = 0;
            while let Ok(first) = batches.recv() {
                let gathered = gather(&batches, first, HUNTED_PER_COMMIT, Vec::len);
                let encoded = encoded(gathered.iter());
                written += encoded.len();
                // A shared store may be restarting: what it cannot take yet is tried again
                // for up to two minutes before the run fails.
                put_patiently(&*writing, &encoded, Duration::from_secs(120))?;
                drop(encoded);
                let _ = dispose.send(gathered);
            }
            Ok(written)
        });
        Ok((
            sink,
            BulkWriter {
                writer,
                disposer,
                checkpointer,
            },
        ))
    }

    /// Waits for everything sent to be written (every sink dropped); returns the events
    /// written.
    pub fn finish(self) -> Result<usize, String> {
        let written = self
            .writer
            .join()
            .map_err(|_| "the evidence writer panicked".to_string())?;
        let _ = self.disposer.join();
        drop(self.checkpointer);
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::{EvidenceId, EvidenceRef};

    fn batch(from: u64, count: u64) -> EncodedBatch {
        (from..from + count)
            .map(|record| {
                let source = EvidenceRef {
                    path: std::sync::Arc::from("spool/syslog/000001.log"),
                    member: None,
                    record_id: record,
                    offset: record * 100,
                };
                let event = StoredEvent {
                    id: EvidenceId::of(&source),
                    timestamp: None,
                    host: Some("web01".into()),
                    user: None,
                    channel: None,
                    event_id: None,
                    fields: Vec::new(),
                    source,
                    process_key: None,
                    parent_key: None,
                    session_key: None,
                    host_address: None,
                    lease: None,
                };
                (event, format!(r#"[["n","{record}"]]"#))
            })
            .collect()
    }

    #[test]
    fn batches_come_back_once_stored_each_event_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let (writer, thread) = EvidenceWriter::start(&store).unwrap();
        // Queued faster than written: several share a transaction.
        let waiting: Vec<_> = (0..20)
            .map(|n| writer.send(batch(n * 100 + 1, 100)).unwrap())
            .collect();
        // A batch sent again (a processor repeating records after a crash) is kept once.
        let again = writer.send(batch(1, 100)).unwrap();
        for (n, done) in waiting.into_iter().enumerate() {
            let back = done.recv().unwrap().unwrap();
            assert_eq!(back.len(), 100);
            assert_eq!(back[0].0.source.record_id, n as u64 * 100 + 1);
        }
        assert_eq!(again.recv().unwrap().unwrap().len(), 100);
        drop(writer);
        thread.join();
        assert_eq!(store.event_count().unwrap(), 2000);
        let first = batch(1, 1).remove(0).0.id;
        let last = batch(2000, 1).remove(0).0.id;
        assert_eq!(store.event(first).unwrap().unwrap().source.record_id, 1);
        let stored = store.event(last).unwrap().unwrap();
        assert_eq!(stored.fields, vec![("n".to_string(), "2000".to_string())]);
        assert_eq!(store.event(batch(2001, 1).remove(0).0.id).unwrap(), None);
    }
}
