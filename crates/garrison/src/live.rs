//! `garrison serve`'s processing side: each spool is read from its saved cursor, its records
//! decoded, detected on and kept as evidence, their alerts raised to the agent team, and only
//! once the team has handled them (the bus is idle) the cursor saved. A crash repeats at most
//! the records after the last cursor; they carry the same evidence and alert ids, so the store
//! keeps each event once and the team sees every alert.

use crate::evidence_writer::{EvidenceWriter, Written};
use crate::hunt::{Detectors, DiagnosticLog, Worker};
use garrison_agents::correlate::keep_recent;
use garrison_agents::messages::{TeamMessage, alert_batches};
use garrison_agents::runtime::Publisher;
use garrison_bus::{InProcessBus, Lineage};
use garrison_ingest::decode::Decoder;
use garrison_ingest::read::{LineFormat, StreamName, Unit};
use garrison_model::{Alert, AlertId, EvidenceId};
use garrison_server::spool::{Chunk, Cursor, Durability, SpoolEnd, read_chunk, write_atomically};
use garrison_server::{RecordFormat, SpoolInfo};
use garrison_sigma::{RuleSet, Sighting};
use garrison_store::{EvidenceStore, SqliteStore, StoredEvent};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes of records read from a spool at once.
const CHUNK_BYTES: usize = 1 << 20;
/// Correlation sightings kept: those the rules' timespans can still reach (a day at most), at
/// most this many (the newest), so a flood costs bounded memory and time.
const SIGHTINGS_KEPT: usize = 50_000;
const SIGHTINGS_SPAN: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);
/// How often correlations run while a processor reads a backlog.
const CORRELATE_EVERY: Duration = Duration::from_secs(1);
/// The longest a stopping processor waits for the team to handle its last alerts.
const SETTLE_LIMIT: Duration = Duration::from_secs(600);
/// Records read again at most after a restart, for the sightings correlations held.
const REREAD_MOST: u64 = 2_000_000;
/// Chunks a processor has with the evidence writer at most: it reads the next while the
/// last are written.
const IN_FLIGHT: usize = 2;

/// What the processors did (all spools).
#[derive(Debug, Default)]
pub struct Processed {
    pub records: AtomicU64,
    pub events: AtomicU64,
    pub alerts: AtomicU64,
    /// Alerts held back because their rule is switched off.
    pub switched_off: AtomicU64,
}

/// What every processor shares.
pub struct Shared<'a> {
    pub detectors: Detectors<'a>,
    /// Which rules people switched off: their matches raise no alerts.
    pub rules: &'a garrison_server::rules::RuleBook,
    pub store: &'a SqliteStore,
    /// Where the processors' events are written (a connection of its own).
    pub evidence: &'a EvidenceWriter,
    pub publisher: &'a Publisher<InProcessBus, TeamMessage>,
    /// The bus, to tell when the team has handled the alerts raised.
    pub bus: &'a InProcessBus,
    pub runtime: &'a tokio::runtime::Handle,
    pub diagnostics: &'a Mutex<DiagnosticLog>,
    pub processed: &'a Processed,
    pub durability: Durability,
    /// Set once the inputs have stopped: processors finish what is spooled and return.
    pub stop: &'a AtomicBool,
    /// Set when stopping has waited long enough: processors return after the chunk in hand,
    /// leaving the rest in the spool for the next start.
    pub abandon: &'a AtomicBool,
}

fn line_format(format: RecordFormat) -> LineFormat {
    match format {
        RecordFormat::Json => LineFormat::Json,
        RecordFormat::Syslog => LineFormat::Syslog,
        RecordFormat::Auditd => LineFormat::Auditd,
    }
}

/// Correlation sightings of the recent past, and the correlation alerts already raised.
#[derive(Default)]
struct Correlations {
    sightings: Vec<Sighting>,
    /// Sightings added since correlations last ran.
    unevaluated: usize,
    last_run: Option<std::time::Instant>,
    /// With the time of the detection, to be forgotten once out of reach.
    raised: HashMap<AlertId, Option<jiff::Timestamp>>,
}

impl Correlations {
    /// Drops sightings no correlation can reach any more (and all but the newest
    /// `SIGHTINGS_KEPT`), and raised alerts as old.
    fn forget(&mut self, rules: &RuleSet) {
        let span = rules
            .correlation_horizon()
            .unwrap_or(SIGHTINGS_SPAN)
            .min(SIGHTINGS_SPAN);
        let kept = &mut self.sightings;
        if let Some(horizon) = keep_recent(kept, |s| s.timestamp, span, SIGHTINGS_KEPT) {
            self.raised
                .retain(|_, at| at.is_none_or(|at| at >= horizon));
        }
    }

    /// Adds `fresh` and returns the correlation detections not raised before. A detection
    /// cites its last event: from `kept` (the chunk in hand), else from `earlier` (an earlier
    /// chunk's, read from the store once stored); one neither has is left for the next run.
    fn add(
        &mut self,
        fresh: Vec<Sighting>,
        caught_up: bool,
        rules: &RuleSet,
        kept: &[StoredEvent],
        earlier: &mut dyn FnMut(EvidenceId) -> Result<Option<StoredEvent>, String>,
    ) -> Result<Vec<Alert>, String> {
        self.unevaluated += fresh.len();
        self.sightings.extend(fresh);
        // Correlations run over every kept sighting: at most once a second while a backlog
        // is read, and whenever the processor has caught up.
        let due = self
            .last_run
            .is_none_or(|last| last.elapsed() >= CORRELATE_EVERY);
        if self.unevaluated == 0 || !(caught_up || due) {
            // Between runs too, a flood costs bounded memory.
            if self.sightings.len() > 2 * SIGHTINGS_KEPT {
                self.forget(rules);
            }
            return Ok(Vec::new());
        }
        self.unevaluated = 0;
        self.last_run = Some(std::time::Instant::now());
        self.forget(rules);
        let mut alerts = Vec::new();
        for detection in rules.correlate(&self.sightings) {
            let id = EvidenceId::of(&detection.evidence);
            if self
                .raised
                .contains_key(&AlertId::of(&detection.rule.id, id))
            {
                continue;
            }
            let event = match kept.iter().find(|event| event.id == id) {
                Some(event) => event.clone(),
                None => match earlier(id)? {
                    Some(event) => event,
                    None => continue,
                },
            };
            let alert = garrison_agents::evidence::alert_from_detection(&detection, &event);
            self.raised.insert(alert.id.clone(), alert.timestamp);
            alerts.push(alert);
        }
        Ok(alerts)
    }
}

/// What a processor remembers of its correlations across a restart, saved beside its cursor
/// (the file `correlations` in the spool's folder): where the oldest sighting it held was
/// read, so a restart reads again from there for sightings alone, and the correlation alerts
/// it raised (that reached the team), so none is raised twice.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Memory {
    /// The cursor before the oldest held sighting's record: segment, offset, line.
    from: Option<[u64; 3]>,
    raised: Vec<(String, Option<jiff::Timestamp>)>,
}

impl Memory {
    fn load(path: &std::path::Path) -> Result<Memory, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|error| format!("{}: {error}", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Memory::default()),
            Err(error) => Err(format!("{}: {error}", path.display())),
        }
    }

    /// Saved atomically (a new file renamed over the old), as the cursor is.
    fn save(&self, path: &std::path::Path, durability: Durability) -> Result<(), String> {
        let bytes = serde_json::to_vec(self).map_err(|error| error.to_string())?;
        write_atomically(path, &bytes, durability).map_err(|error| error.to_string())
    }

    fn from(&self) -> Option<Cursor> {
        self.from.map(|[segment, offset, line]| Cursor {
            segment,
            offset,
            line,
        })
    }
}

/// The cursor before the record a sighting was read from, when it was read from `dir`'s spool.
fn cursor_of(dir: &std::path::Path, sighting: &Sighting) -> Option<Cursor> {
    let path = std::path::Path::new(&*sighting.evidence.path);
    if path.parent() != Some(dir) {
        return None;
    }
    let segment = path.file_stem()?.to_str()?.parse().ok()?;
    Some(Cursor {
        segment,
        offset: sighting.evidence.offset,
        line: sighting.evidence.record_id.checked_sub(1)?,
    })
}

impl Correlations {
    /// What to save beside the cursor: the oldest held sighting's cursor (of those read from
    /// `dir`'s spool) and the alerts raised.
    fn memory(&self, dir: &std::path::Path) -> Memory {
        let from = self
            .sightings
            .iter()
            .filter_map(|sighting| cursor_of(dir, sighting))
            .min_by_key(Cursor::record);
        Memory {
            from: from.map(|c| [c.segment, c.offset, c.line]),
            raised: self
                .raised
                .iter()
                .map(|(id, at)| (id.0.clone(), *at))
                .collect(),
        }
    }
}

/// A chunk whose events are with the evidence writer, and what to do once they are stored.
struct InFlight {
    written: Receiver<Written>,
    alerts: Vec<Alert>,
    next: Cursor,
    records: u64,
}

/// What a processor does once its chunks are stored, oldest first: raises their alerts, then
/// saves the cursor past them (at once when they raised none, else once the team is idle).
struct Finisher<'s, 'a> {
    shared: &'s Shared<'a>,
    cursor_path: PathBuf,
    in_flight: VecDeque<InFlight>,
    /// A cursor past records whose alerts the team may still be handling: saved once the
    /// bus is idle, so a crash before then raises those alerts again.
    unsaved: Option<Cursor>,
    /// Where correlations' memory is saved, with the cursor (rule sets with correlations).
    memory_path: Option<PathBuf>,
    /// What correlations hold now: the oldest sighting's cursor and the alerts raised.
    memory: Memory,
}

impl Finisher<'_, '_> {
    /// Saves the cursor, after correlations' memory: the alerts raised in it that are still in
    /// flight (not yet with the team) are left out, so a restart raises them.
    fn save(&self, cursor: &Cursor) -> Result<(), String> {
        if let Some(path) = &self.memory_path {
            let waiting: std::collections::HashSet<&str> = self
                .in_flight
                .iter()
                .flat_map(|chunk| chunk.alerts.iter().map(|alert| alert.id.0.as_str()))
                .collect();
            let memory = Memory {
                from: self.memory.from,
                raised: self
                    .memory
                    .raised
                    .iter()
                    .filter(|(id, _)| !waiting.contains(id.as_str()))
                    .cloned()
                    .collect(),
            };
            memory.save(path, self.shared.durability)?;
        }
        cursor
            .save(&self.cursor_path, self.shared.durability)
            .map_err(|e| e.to_string())
    }

    fn save_when_idle(&mut self) -> Result<(), String> {
        if let Some(pending) = self.unsaved
            && self.shared.bus.is_idle()
        {
            self.save(&pending)?;
            self.unsaved = None;
        }
        Ok(())
    }

    /// Finishes the oldest chunk if it is stored (or, with `wait`, once it is); false when
    /// there is none to finish.
    fn finish_oldest(&mut self, wait: bool) -> Result<bool, String> {
        let Some(oldest) = self.in_flight.front() else {
            return Ok(false);
        };
        let written = match wait {
            true => oldest
                .written
                .recv()
                .map_err(|_| TryRecvError::Disconnected),
            false => oldest.written.try_recv(),
        };
        let events = match written {
            Ok(written) => written?,
            Err(TryRecvError::Empty) => return Ok(false),
            Err(TryRecvError::Disconnected) => {
                return Err("the evidence writer stopped".to_string());
            }
        };
        let chunk = self.in_flight.pop_front().expect("looked at above");
        let shared = self.shared;
        for batch in alert_batches(&chunk.alerts) {
            shared
                .runtime
                .block_on(shared.publisher.publish(
                    TeamMessage::AlertRaised {
                        alerts: batch.to_vec(),
                    },
                    Lineage::start(),
                ))
                .map_err(|error| format!("cannot raise alerts: {error}"))?;
        }
        match chunk.alerts.is_empty() && self.unsaved.is_none() {
            true => self.save(&chunk.next)?,
            false => self.unsaved = Some(chunk.next),
        }
        let processed = shared.processed;
        processed
            .records
            .fetch_add(chunk.records, Ordering::Relaxed);
        processed
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        processed
            .alerts
            .fetch_add(chunk.alerts.len() as u64, Ordering::Relaxed);
        Ok(true)
    }

    /// Finishes every chunk with the writer.
    fn settle(&mut self) -> Result<(), String> {
        while self.finish_oldest(true)? {}
        Ok(())
    }
}

/// Processes `spool` until `shared.stop` is set and everything spooled is read.
pub fn process(info: &SpoolInfo, shared: &Shared<'_>) -> Result<(), String> {
    let cursor_path = info.dir.join("cursor");
    // Where reading goes on from (the saved cursor trails it by the chunks not finished).
    let mut cursor = Cursor::load(&cursor_path)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let mut end = info.spool.end();
    let mut worker = Worker::live(shared.detectors);
    let rules = shared.detectors.rules;
    let mut decoder = Decoder::new();
    let mut correlations = Correlations::default();
    let format = line_format(info.format);
    let memory_path = rules
        .correlation_horizon()
        .map(|_| info.dir.join("correlations"));
    if let Some(path) = &memory_path {
        remember(info, shared, path, &cursor, &mut correlations)?;
    }
    let mut finisher = Finisher {
        shared,
        cursor_path,
        in_flight: VecDeque::new(),
        unsaved: None,
        memory_path,
        memory: Memory::default(),
    };
    loop {
        finisher.save_when_idle()?;
        // Read before looking at `stop`, so the last records are not left behind.
        let stopping = shared.stop.load(Ordering::Acquire);
        let committed = *end.borrow_and_update();
        let chunk = match shared.abandon.load(Ordering::Acquire) {
            true => None,
            false => next_chunk(&info.dir, &cursor, &committed, format)?,
        };
        let Some(chunk) = chunk else {
            // Caught up: what was read is stored and its alerts raised before waiting.
            finisher.settle()?;
            if stopping {
                if let Some(pending) = finisher.unsaved {
                    let deadline = std::time::Instant::now() + SETTLE_LIMIT;
                    while !shared.bus.is_idle() && std::time::Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    finisher.save(&pending)?;
                }
                return Ok(());
            }
            let _ = shared.runtime.block_on(async {
                tokio::time::timeout(Duration::from_millis(200), end.changed()).await
            });
            continue;
        };
        let unit = unit_of(
            chunk.path.as_path(),
            format,
            chunk.first_line,
            chunk.first_offset,
            chunk.data,
        );
        decoder.decode(
            unit,
            &mut |event| worker.observe(event),
            &mut |diagnostic| {
                if let Ok(mut log) = shared.diagnostics.lock() {
                    log.record(diagnostic);
                }
            },
        );
        let (events, mut alerts, sightings) = worker.take();
        // What correlations hold changes only with new sightings or a run.
        let changed = (!sightings.is_empty(), correlations.last_run);
        let caught_up = chunk.next.record() >= end.borrow().records;
        alerts.extend(
            correlations.add(sightings, caught_up, rules, &events, &mut |id| {
                // An earlier chunk's event: read once the writer has stored it.
                finisher.settle()?;
                shared.store.event(id).map_err(|e| e.to_string())
            })?,
        );
        if finisher.memory_path.is_some() && (changed.0 || changed.1 != correlations.last_run) {
            finisher.memory = correlations.memory(&info.dir);
        }
        let raised = alerts.len();
        alerts.retain(|alert| shared.rules.is_enabled(&alert.rule.id));
        shared
            .processed
            .switched_off
            .fetch_add((raised - alerts.len()) as u64, Ordering::Relaxed);
        let written = shared
            .evidence
            .send(crate::evidence_writer::encode(events))?;
        finisher.in_flight.push_back(InFlight {
            written,
            alerts,
            next: chunk.next,
            records: chunk.records,
        });
        cursor = chunk.next;
        // Chunks already stored are finished at once; a processor ahead of the writer waits.
        while finisher.finish_oldest(false)? {}
        while finisher.in_flight.len() >= IN_FLIGHT {
            finisher.finish_oldest(true)?;
        }
    }
}

/// The next chunk after `cursor` up to `end`; audit records are cut after their last whole
/// event (an event's records share a serial and may go on in the next chunk).
fn next_chunk(
    dir: &std::path::Path,
    cursor: &Cursor,
    end: &SpoolEnd,
    format: LineFormat,
) -> Result<Option<Chunk>, String> {
    let Some(mut chunk) = read_chunk(dir, cursor, end, CHUNK_BYTES).map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    if format == LineFormat::Auditd && chunk.next.record() < end.records {
        let cut = audit_cut(&chunk.data);
        if cut < chunk.data.len() {
            chunk.data.truncate(cut);
            chunk.records = memchr::memchr_iter(b'\n', &chunk.data).count() as u64;
            chunk.next = Cursor {
                segment: chunk.next.segment,
                offset: chunk.first_offset + cut as u64,
                line: chunk.first_line - 1 + chunk.records,
            };
        }
    }
    Ok(Some(chunk))
}

fn unit_of(
    path: &std::path::Path,
    format: LineFormat,
    first_line: u64,
    first_offset: u64,
    data: Vec<u8>,
) -> Unit {
    Unit::Lines {
        stream: Arc::new(StreamName {
            path: Arc::from(path.to_string_lossy().as_ref()),
            member: None,
        }),
        format,
        first_line,
        first_offset,
        data,
    }
}

/// Restores what correlations held before the processor last stopped: the alerts they raised,
/// and the sightings of the records read before `cursor`, read again from where the oldest
/// was (their events are stored and their own alerts raised: only the sightings are kept).
fn remember(
    info: &SpoolInfo,
    shared: &Shared<'_>,
    path: &std::path::Path,
    cursor: &Cursor,
    correlations: &mut Correlations,
) -> Result<(), String> {
    let memory = match Memory::load(path) {
        Ok(memory) => memory,
        Err(error) => {
            // Unreadable: correlations start afresh rather than the server not at all.
            tracing::warn!(
                "garrison serve: correlations' memory not read ({error}); starting afresh"
            );
            return Ok(());
        }
    };
    correlations.raised = memory
        .raised
        .iter()
        .map(|(id, at)| (AlertId(id.clone()), *at))
        .collect();
    let Some(mut from) = memory.from().filter(|from| from.record() < cursor.record()) else {
        return Ok(());
    };
    if cursor.record() - from.record() > REREAD_MOST {
        // Sightings so sparse that the oldest is far back: read again from the first segment
        // within reach (the cursor's own at the latest), and say what is left out.
        let floor = cursor.record() - REREAD_MOST;
        let segment = garrison_server::spool::segments(&info.dir)
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|&first| first >= floor && first <= cursor.segment)
            .unwrap_or(cursor.segment);
        tracing::warn!(
            "garrison serve: {}: correlation sightings before record {segment} are not read \
             again (more than {REREAD_MOST} records back)",
            info.dir.display()
        );
        from = Cursor {
            segment,
            offset: 0,
            line: 0,
        };
    }
    let until = SpoolEnd {
        segment: cursor.segment,
        bytes: cursor.offset,
        records: cursor.record(),
    };
    let format = line_format(info.format);
    let (mut worker, mut decoder, mut at) = (Worker::live(shared.detectors), Decoder::new(), from);
    while let Some(chunk) = next_chunk(&info.dir, &at, &until, format)? {
        at = chunk.next;
        let unit = unit_of(
            &chunk.path,
            format,
            chunk.first_line,
            chunk.first_offset,
            chunk.data,
        );
        decoder.decode(unit, &mut |event| worker.observe(event), &mut |_| {});
        let (_, _, sightings) = worker.take();
        correlations.unevaluated += sightings.len();
        correlations.sightings.extend(sightings);
    }
    tracing::info!(
        "garrison serve: {}: {} correlation sightings read again from record {}",
        info.dir.display(),
        correlations.sightings.len(),
        from.record()
    );
    Ok(())
}

/// The length of `data` (whole audit record lines) up to the end of its last whole event:
/// the records after the cut share the last line's serial. All of it when it is one event.
fn audit_cut(data: &[u8]) -> usize {
    let serial = garrison_ingest::auditd::serial_of;
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
    let Some(last) = serial(&body[start..]) else {
        return data.len();
    };
    while start > 0 {
        let previous = memchr::memrchr(b'\n', &data[..start - 1]).map_or(0, |i| i + 1);
        if serial(&data[previous..start - 1]) != Some(last) {
            return start;
        }
        start = previous;
    }
    data.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::{Event, EvidenceRef, Fields, RecordFormat, ValueKind};

    const FAILED: &str = "title: Failed logon\nid: failed-logon\nname: failed_logon\nlevel: low\nlogsource:\n    product: test\ndetection:\n    sel:\n        action: failed\n    condition: sel\n";
    const TWICE: &str = "title: Failed twice\nid: failed-twice\nlevel: high\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [source]\n    timespan: 5m\n    condition:\n        gte: 2\n";

    fn failed_logon(record: u64, second: i64) -> Event {
        let mut fields = Fields::new();
        fields.push("action", "failed", ValueKind::Text);
        fields.push("source", "203.0.113.50", ValueKind::Text);
        Event {
            evidence: EvidenceRef {
                path: "spool/syslog-tcp/00000000000000000000.log".into(),
                member: None,
                record_id: record,
                offset: record * 100,
            },
            timestamp: Some(jiff::Timestamp::from_second(1_700_000_000 + second).unwrap()),
            format: RecordFormat::Json,
            fields,
        }
    }

    /// A failed logon rule and a correlation of two failures from one source.
    fn failed_twice() -> RuleSet {
        let sources = [FAILED, TWICE].map(|text| garrison_sigma::RuleSource {
            path: "rule.yml".into(),
            text: text.into(),
        });
        RuleSet::from_sources(&sources, &Default::default())
    }

    fn sightings(rules: &RuleSet, event: &Event) -> Vec<Sighting> {
        let (mut scratch, mut found) = (rules.scratch(), Vec::new());
        rules.evaluate(event, &mut scratch, &mut found);
        found
            .iter()
            .filter_map(|hit| rules.sighting(hit, event))
            .collect()
    }

    #[test]
    fn a_correlation_completed_in_an_earlier_chunk_cites_its_stored_event() {
        let rules = failed_twice();
        let (first, second) = (failed_logon(1, 0), failed_logon(2, 30));
        let stored = garrison_agents::evidence::stored_event(&second);
        let mut correlations = Correlations::default();
        let asked = std::cell::RefCell::new(Vec::new());
        let mut earlier = |id: EvidenceId| -> Result<Option<StoredEvent>, String> {
            asked.borrow_mut().push(id);
            Ok((id == stored.id).then(|| stored.clone()))
        };
        // The first chunk: the first run is due, and one failure is not two.
        let none = correlations.add(sightings(&rules, &first), false, &rules, &[], &mut earlier);
        assert_eq!(none.unwrap(), Vec::new());
        // The second failure is read while a backlog is: no run yet (not due, not caught up).
        let later = correlations.add(sightings(&rules, &second), false, &rules, &[], &mut earlier);
        assert_eq!(later.unwrap(), Vec::new());
        // Caught up, in a chunk of its own: the detection cites the second failure, which
        // only the store has now.
        let alerts = correlations
            .add(Vec::new(), true, &rules, &[], &mut earlier)
            .unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule.id, "failed-twice");
        assert_eq!(alerts[0].evidence, stored.id);
        assert_eq!(*asked.borrow(), vec![stored.id]);
        // Raised once: nothing new comes of running again.
        let third = failed_logon(3, 40);
        let again = correlations
            .add(sightings(&rules, &third), true, &rules, &[], &mut earlier)
            .unwrap();
        assert!(again.iter().all(|alert| alert.evidence != stored.id));
    }

    #[test]
    fn the_memory_starts_before_the_oldest_sighting_read_from_this_spool() {
        let rules = failed_twice();
        let dir = std::path::Path::new("spool/syslog-tcp");
        let mut correlations = Correlations::default();
        for (record, second) in [(7, 10), (5, 0), (9, 20)] {
            correlations
                .sightings
                .extend(sightings(&rules, &failed_logon(record, second)));
        }
        // Another spool's sighting, older still, is not this spool's to read again.
        let mut other = failed_logon(1, 0);
        other.evidence.path = "spool/hec/00000000000000000000.log".into();
        correlations.sightings.extend(sightings(&rules, &other));
        correlations
            .raised
            .insert(AlertId("al-failed-twice-1".into()), None);
        let memory = correlations.memory(dir);
        // Record 5 (line 5, at byte 500): the cursor before it has read 4 lines.
        assert_eq!(memory.from, Some([0, 500, 4]));
        assert_eq!(memory.raised, vec![("al-failed-twice-1".to_string(), None)]);
        let from = memory.from().unwrap();
        assert_eq!((from.record(), from.offset), (4, 500));
        // Saved and read back whole; a missing file is an empty memory.
        let state = tempfile::tempdir().unwrap();
        let path = state.path().join("correlations");
        assert_eq!(Memory::load(&path).unwrap(), Memory::default());
        memory.save(&path, Durability::Write).unwrap();
        assert_eq!(Memory::load(&path).unwrap(), memory);
        std::fs::write(&path, "not json").unwrap();
        assert!(Memory::load(&path).is_err());
    }

    #[test]
    fn audit_chunks_end_between_events() {
        let a =
            "type=SYSCALL msg=audit(1.000:7): pid=1\ntype=EXECVE msg=audit(1.000:7): a0=\"x\"\n";
        let b = "type=SYSCALL msg=audit(1.001:8): pid=2\ntype=CWD msg=audit(1.001:8): cwd=\"/\"\n";
        let data = format!("{a}{b}");
        assert_eq!(audit_cut(data.as_bytes()), a.len());
        assert_eq!(audit_cut(b.as_bytes()), b.len());
        assert_eq!(audit_cut(b"not audit\n"), 10);
    }
}
