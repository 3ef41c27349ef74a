//! Reading many files on all cores: one producer thread cuts files into units (IO,
//! decompression), worker threads decode them and hand each event to the caller's per-worker
//! state. The queue between them is bounded, so memory stays flat however large the input.

use crate::decode::{DecodeStats, Decoder};
use crate::diagnostic::Diagnostic;
use crate::read::{ReadStats, Sink, Unit, read_file};
use crate::source::InputFile;
use garrison_model::Event;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, readable from another thread (for a progress bar).
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of input files fully read.
    pub bytes: AtomicU64,
    pub files: AtomicU64,
    pub events: AtomicU64,
}

/// What a run read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestSummary {
    pub files: u64,
    pub decode: DecodeStats,
    pub read: ReadStats,
}

/// Units in flight per worker.
const QUEUE_PER_WORKER: usize = 4;

/// Reads `files` with `threads` decoder threads. Each worker gets its own state from
/// `make_state`; `on_event` sees every event on that worker's state. Returns the states (for the
/// caller to merge) and the counts.
pub fn run<S, M, E, D>(
    files: &[InputFile],
    threads: usize,
    progress: &Progress,
    make_state: M,
    on_event: E,
    on_diagnostic: D,
) -> (Vec<S>, IngestSummary)
where
    S: Send,
    M: Fn() -> S + Sync,
    E: Fn(&mut S, &Event) + Sync,
    D: Fn(Diagnostic) + Sync,
{
    let threads = threads.max(1);
    let (sender, receiver) = crossbeam_channel::bounded::<Unit>(threads * QUEUE_PER_WORKER);
    std::thread::scope(|scope| {
        let on_diagnostic = &on_diagnostic;
        let producer = scope.spawn(move || {
            let mut stats = ReadStats::default();
            for file in files {
                let mut send = |unit: Unit| {
                    // Workers only stop when the channel closes, so sending cannot fail.
                    let _ = sender.send(unit);
                };
                let mut report = |diagnostic: Diagnostic| on_diagnostic(diagnostic);
                read_file(
                    file,
                    &mut Sink {
                        unit: &mut send,
                        diagnostic: &mut report,
                        stats: &mut stats,
                        from: file.from,
                    },
                );
                progress.bytes.fetch_add(file.size, Ordering::Relaxed);
                progress.files.fetch_add(1, Ordering::Relaxed);
            }
            stats
        });
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let receiver = receiver.clone();
                let make_state = &make_state;
                let on_event = &on_event;
                scope.spawn(move || {
                    let mut state = make_state();
                    let mut decoder = Decoder::new();
                    for unit in receiver.iter() {
                        let mut events = 0u64;
                        decoder.decode(
                            unit,
                            &mut |event| {
                                events += 1;
                                on_event(&mut state, event);
                            },
                            &mut |diagnostic| on_diagnostic(diagnostic),
                        );
                        progress.events.fetch_add(events, Ordering::Relaxed);
                    }
                    (state, decoder.stats)
                })
            })
            .collect();
        drop(receiver);
        let read = match producer.join() {
            Ok(read) => read,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let mut summary = IngestSummary {
            files: files.len() as u64,
            decode: DecodeStats::default(),
            read,
        };
        let mut states = Vec::with_capacity(threads);
        for worker in workers {
            match worker.join() {
                Ok((state, stats)) => {
                    summary.decode.add(&stats);
                    states.push(state);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        (states, summary)
    })
}
