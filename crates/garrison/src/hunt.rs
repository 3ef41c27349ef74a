//! `garrison hunt`: Sigma rules over event files, on all cores.

use crate::output::{Format, write_detections};
use crate::rules::{LoadedRules, RuleSelection, load_rules};
use crate::{ExitCode, Failure};
use garrison_ingest::intel::IntelSet;
use garrison_ingest::{Diagnostic, DiagnosticKind, Discovery, IngestSummary, InputFile, Progress};
use garrison_model::{Detection, Event, Level};
use garrison_sigma::{CompileOptions, RuleMatch, RuleSet, Scratch, Sighting};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Arguments of `garrison hunt`.
#[derive(Debug, clap::Args)]
pub struct HuntArgs {
    /// Sigma rule file or folder (repeatable); added to the bundled pack.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Do not load the bundled rule pack.
    #[arg(long)]
    pub no_bundled: bool,
    /// YAML file of values for `%placeholder%`s in rules using the `expand` modifier
    /// (`name: [value, ...]`); rules with placeholders it does not define are not loaded.
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Report only detections of this level or above.
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub min_level: Option<Level>,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Write detections here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write quarantined (malformed) records here as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub quarantine: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// STIX 2.1 bundle or MISP event (JSON), or a MISP feed folder, whose indicators
    /// (addresses, domains, URLs, hashes) are matched against every value read (repeatable).
    #[arg(long = "intel", value_name = "PATH")]
    pub intel: Vec<PathBuf>,
    /// Exit with code 10 when anything is detected.
    #[arg(long)]
    pub fail_on_detection: bool,
    /// No summary or rule errors on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub input: crate::input::InputArgs,
}

/// The indicators of the given intelligence files; `None` when there are none.
pub fn load_intel(paths: &[PathBuf]) -> Result<Option<IntelSet>, Failure> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut intel = IntelSet::default();
    for path in paths {
        intel
            .load(path)
            .map_err(|error| Failure::Input(error.to_string()))?;
    }
    // Indicators that cannot be matched are said, not dropped quietly.
    for skipped in &intel.skipped {
        eprintln!("intel: not used: {skipped}");
    }
    Ok(Some(intel))
}

pub fn parse_level(text: &str) -> Result<Level, String> {
    text.parse()
        .map_err(|error: garrison_model::level::UnknownLevel| error.to_string())
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Diagnostics of a run: counts by kind, a few examples, and the quarantine file.
pub struct DiagnosticLog {
    pub counts: BTreeMap<DiagnosticKind, u64>,
    pub examples: Vec<String>,
    quarantine: Option<std::io::BufWriter<std::fs::File>>,
    quarantine_error: Option<String>,
}

const DIAGNOSTIC_EXAMPLES: usize = 20;

impl DiagnosticLog {
    pub fn new(quarantine: Option<std::fs::File>) -> DiagnosticLog {
        DiagnosticLog {
            counts: BTreeMap::new(),
            examples: Vec::new(),
            quarantine: quarantine.map(std::io::BufWriter::new),
            quarantine_error: None,
        }
    }

    pub fn record(&mut self, diagnostic: Diagnostic) {
        *self.counts.entry(diagnostic.kind).or_default() += 1;
        if self.examples.len() < DIAGNOSTIC_EXAMPLES {
            self.examples.push(diagnostic.to_string());
        }
        if let Some(writer) = &mut self.quarantine {
            let line = serde_json::json!({
                "kind": diagnostic.kind.as_str(),
                "path": &*diagnostic.location.path,
                "member": diagnostic.location.member.as_deref(),
                "record": diagnostic.location.record,
                "offset": diagnostic.location.offset,
                "reason": diagnostic.message,
                "raw": diagnostic.raw.as_deref().map(String::from_utf8_lossy),
            });
            let written = serde_json::to_writer(&mut *writer, &line)
                .map_err(std::io::Error::from)
                .and_then(|()| writer.write_all(b"\n"));
            if let Err(error) = written {
                self.quarantine_error.get_or_insert(error.to_string());
            }
        }
    }

    pub fn finish(&mut self) -> Result<(), String> {
        if let Some(writer) = &mut self.quarantine
            && let Err(error) = writer.flush()
        {
            self.quarantine_error.get_or_insert(error.to_string());
        }
        self.quarantine_error.take().map_or(Ok(()), Err)
    }

    pub fn count(&self, kind: DiagnosticKind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }
}

pub(crate) struct Worker<'r> {
    rules: &'r RuleSet,
    min_level: Option<Level>,
    scratch: Scratch,
    matches: Vec<RuleMatch>,
    detections: Vec<Detection>,
    sightings: Vec<Sighting>,
    correlating: bool,
    evidence: Option<EvidenceBatch>,
    external: garrison_ingest::alerts::ExternalAlerts,
    /// Threat intelligence indicators matched against every value.
    intel: Option<&'r IntelSet>,
    /// With evidence kept (`investigate`), single detections become alerts at once, from the
    /// record in hand, instead of being read back from the store.
    alerts: Vec<garrison_model::Alert>,
}

/// Events kept as evidence (`garrison investigate`): sent in batches to the store's writer.
struct EvidenceBatch {
    batch: Vec<garrison_store::StoredEvent>,
    /// Where full batches go; without one, the batch grows until taken (`serve`).
    sink: Option<EvidenceSink>,
}

/// Events for the store's single writer, each with its fields encoded (and the decoded fields
/// freed) by the worker that read it: the writer then only writes.
pub type EncodedBatch = Vec<(garrison_store::StoredEvent, String)>;
pub type EvidenceSink = std::sync::mpsc::SyncSender<EncodedBatch>;

/// Events per batch sent to the evidence writer.
const EVIDENCE_BATCH: usize = 512;

impl EvidenceBatch {
    fn keep(&mut self, stored: garrison_store::StoredEvent) {
        self.batch.push(stored);
        if self.sink.is_some() && self.batch.len() >= EVIDENCE_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if let Some(sink) = &self.sink
            && !self.batch.is_empty()
        {
            let encoded = crate::evidence_writer::encode(std::mem::take(&mut self.batch));
            // The writer only stops early when the store failed; it reports that itself.
            let _ = sink.send(encoded);
        }
    }
}

impl<'r> Worker<'r> {
    /// A worker for `serve`: every event kept as evidence, single hits made alerts at once,
    /// correlation rules fed; what it made is taken with [`Worker::take`].
    pub(crate) fn live(Detectors { rules, intel }: Detectors<'r>) -> Worker<'r> {
        Worker {
            rules,
            min_level: None,
            scratch: rules.scratch(),
            matches: Vec::new(),
            detections: Vec::new(),
            sightings: Vec::new(),
            correlating: rules.stats().correlations > 0,
            evidence: Some(EvidenceBatch {
                batch: Vec::new(),
                sink: None,
            }),
            external: Default::default(),
            intel,
            alerts: Vec::new(),
        }
    }

    /// The events kept, the alerts made and the correlation sightings since the last take.
    pub(crate) fn take(
        &mut self,
    ) -> (
        Vec<garrison_store::StoredEvent>,
        Vec<garrison_model::Alert>,
        Vec<Sighting>,
    ) {
        let events = self
            .evidence
            .as_mut()
            .map(|evidence| std::mem::take(&mut evidence.batch))
            .unwrap_or_default();
        (
            events,
            std::mem::take(&mut self.alerts),
            std::mem::take(&mut self.sightings),
        )
    }

    pub(crate) fn observe(&mut self, event: &Event) {
        let stored = self
            .evidence
            .as_ref()
            .map(|_| garrison_agents::evidence::stored_event(event));
        self.matches.clear();
        self.rules
            .evaluate(event, &mut self.scratch, &mut self.matches);
        // Alerts of other tools (Suricata, Wazuh, Sentinel, mapped sources) are detections
        // of their own.
        if let Some(detection) = self.external.detection(event)
            && self.min_level.is_none_or(|min| detection.rule.level >= min)
        {
            report(
                &mut self.alerts,
                &mut self.detections,
                detection,
                stored.as_ref(),
            );
        }
        // Values named by threat intelligence.
        if let Some(intel) = self.intel {
            for detection in intel.detections(event) {
                if self.min_level.is_none_or(|min| detection.rule.level >= min) {
                    report(
                        &mut self.alerts,
                        &mut self.detections,
                        detection,
                        stored.as_ref(),
                    );
                }
            }
        }
        for found in &self.matches {
            let rule = self.rules.rule(found.rule);
            if self.rules.is_reported(found.rule)
                && self.min_level.is_none_or(|min| rule.level >= min)
            {
                let detection = self.rules.detection(found, event);
                report(
                    &mut self.alerts,
                    &mut self.detections,
                    detection,
                    stored.as_ref(),
                );
            }
            if self.correlating
                && self.rules.feeds_correlation(found.rule)
                && let Some(sighting) = self.rules.sighting(found, event)
            {
                self.sightings.push(sighting);
            }
        }
        if let (Some(evidence), Some(stored)) = (&mut self.evidence, stored) {
            evidence.keep(stored);
        }
    }
}

/// A detection, or with evidence kept, its alert.
fn report(
    alerts: &mut Vec<garrison_model::Alert>,
    detections: &mut Vec<Detection>,
    detection: Detection,
    stored: Option<&garrison_store::StoredEvent>,
) {
    match stored {
        Some(stored) => alerts.push(garrison_agents::evidence::alert_from_detection(
            &detection, stored,
        )),
        None => detections.push(detection),
    }
}

/// What looks at every record: the rule set, and threat intelligence when loaded.
#[derive(Debug, Clone, Copy)]
pub struct Detectors<'a> {
    pub rules: &'a RuleSet,
    pub intel: Option<&'a IntelSet>,
}

impl<'a> Detectors<'a> {
    /// The rules alone.
    pub fn rules(rules: &'a RuleSet) -> Detectors<'a> {
        Detectors { rules, intel: None }
    }
}

/// What hunting a set of files produced.
pub struct HuntOutcome {
    /// Detections; none with evidence kept (single hits are in `alerts`, `sightings` wait).
    pub detections: Vec<Detection>,
    /// With evidence kept: the alerts of single hits, in no particular order.
    pub alerts: Vec<garrison_model::Alert>,
    /// With evidence kept: the matches correlations read, left to the caller to correlate.
    pub sightings: Vec<Sighting>,
    pub ingest: IngestSummary,
    pub elapsed: Duration,
}

/// Hunts `files` with `rules`; detections sorted by time, then source.
pub fn hunt_files(
    files: &[InputFile],
    detectors: Detectors<'_>,
    min_level: Option<Level>,
    threads: usize,
    progress: &Progress,
    diagnostics: &Mutex<DiagnosticLog>,
) -> HuntOutcome {
    hunt_files_keeping(
        files,
        detectors,
        min_level,
        threads,
        progress,
        diagnostics,
        None,
    )
}

/// As [`hunt_files`], also sending every event, as evidence, to `evidence`.
pub fn hunt_files_keeping(
    files: &[InputFile],
    Detectors { rules, intel }: Detectors<'_>,
    min_level: Option<Level>,
    threads: usize,
    progress: &Progress,
    diagnostics: &Mutex<DiagnosticLog>,
    evidence: Option<EvidenceSink>,
) -> HuntOutcome {
    let started = Instant::now();
    let correlating = rules.stats().correlations > 0;
    let keeping = evidence.is_some();
    let (workers, ingest) = garrison_ingest::run(
        files,
        threads,
        progress,
        || Worker {
            rules,
            min_level,
            scratch: rules.scratch(),
            matches: Vec::new(),
            detections: Vec::new(),
            sightings: Vec::new(),
            correlating,
            evidence: evidence.clone().map(|sink| EvidenceBatch {
                batch: Vec::new(),
                sink: Some(sink),
            }),
            external: Default::default(),
            intel,
            alerts: Vec::new(),
        },
        Worker::observe,
        |diagnostic| {
            diagnostics
                .lock()
                .expect("diagnostic log")
                .record(diagnostic)
        },
    );
    let mut detections = Vec::new();
    let mut sightings = Vec::new();
    let mut alerts = Vec::new();
    for mut worker in workers {
        if let Some(evidence) = &mut worker.evidence {
            evidence.flush();
        }
        detections.extend(worker.detections);
        sightings.extend(worker.sightings);
        alerts.extend(worker.alerts);
    }
    if correlating && !keeping {
        detections.extend(
            rules
                .correlate(&sightings)
                .into_iter()
                .filter(|detection| min_level.is_none_or(|min| detection.rule.level >= min)),
        );
    }
    detections.sort_by(|a, b| {
        (
            a.timestamp,
            &a.evidence.path,
            &a.evidence.member,
            a.evidence.record_id,
            &a.rule.id,
        )
            .cmp(&(
                b.timestamp,
                &b.evidence.path,
                &b.evidence.member,
                b.evidence.record_id,
                &b.rule.id,
            ))
    });
    HuntOutcome {
        detections,
        alerts,
        sightings: if keeping { sightings } else { Vec::new() },
        ingest,
        elapsed: started.elapsed(),
    }
}

/// Hunts while showing a progress bar on a terminal.
fn hunt_with_progress(
    discovery: &Discovery,
    detectors: Detectors<'_>,
    min_level: Option<Level>,
    threads: usize,
    quiet: bool,
    diagnostics: &Mutex<DiagnosticLog>,
) -> HuntOutcome {
    use std::sync::atomic::{AtomicBool, Ordering};
    let progress = Progress::default();
    if quiet || !std::io::stderr().is_terminal() {
        return hunt_files(
            &discovery.files,
            detectors,
            min_level,
            threads,
            &progress,
            diagnostics,
        );
    }
    let bar = indicatif::ProgressBar::new(discovery.total_bytes());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} {msg}",
        )
        .expect("valid template"),
    );
    let done = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                bar.set_position(progress.bytes.load(Ordering::Relaxed));
                bar.set_message(format!(
                    "{} events",
                    progress.events.load(Ordering::Relaxed)
                ));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let outcome = hunt_files(
            &discovery.files,
            detectors,
            min_level,
            threads,
            &progress,
            diagnostics,
        );
        done.store(true, Ordering::Relaxed);
        outcome
    });
    bar.finish_and_clear();
    outcome
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, c) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_rule_errors(loaded: &LoadedRules) {
    let errors = loaded.rules.errors();
    if errors.is_empty() {
        return;
    }
    eprintln!("rules not loaded ({}):", errors.len());
    for error in errors {
        eprintln!("  {error}");
    }
}

fn print_summary(
    discovery: &Discovery,
    loaded: &LoadedRules,
    outcome: &HuntOutcome,
    diagnostics: &DiagnosticLog,
) {
    let stats = loaded.rules.stats();
    let events = outcome.ingest.decode.events;
    let seconds = outcome.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        events as f64 / seconds
    } else {
        0.0
    };
    let skipped = discovery.skipped.len() + outcome.ingest.read.skipped_members.len();
    eprintln!(
        "files: {} read ({} archive members), {} skipped as not event data",
        thousands(outcome.ingest.files),
        thousands(outcome.ingest.read.members),
        thousands(skipped as u64),
    );
    eprintln!(
        "events: {} in {:.2} s ({} events/s)",
        thousands(events),
        seconds,
        thousands(rate as u64)
    );
    let mut failed_by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for error in loaded.rules.errors() {
        *failed_by_kind.entry(error.kind.as_str()).or_default() += 1;
    }
    let failed: Vec<String> = failed_by_kind
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    eprintln!(
        "rules: {} loaded from {} files in {} ms, {} correlations, {} failed{}{}",
        thousands(stats.rules as u64),
        thousands(loaded.files as u64),
        loaded.elapsed.as_millis(),
        stats.correlations,
        loaded.rules.errors().len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", failed.join(", "))
        },
        if stats.below_min_level > 0 {
            format!(
                ", {} below --min-level not evaluated",
                stats.below_min_level
            )
        } else {
            String::new()
        },
    );
    if !loaded.not_rules.is_empty() {
        eprintln!(
            "rule folders: {} YAML files are not Sigma rules and were passed over",
            loaded.not_rules.len()
        );
    }
    let mut by_level: BTreeMap<Level, u64> = BTreeMap::new();
    for detection in &outcome.detections {
        *by_level.entry(detection.rule.level).or_default() += 1;
    }
    let levels: Vec<String> = Level::ALL
        .iter()
        .rev()
        .map(|level| {
            format!(
                "{} {}",
                level,
                thousands(by_level.get(level).copied().unwrap_or(0))
            )
        })
        .collect();
    eprintln!(
        "detections: {} ({})",
        thousands(outcome.detections.len() as u64),
        levels.join(", ")
    );
    let problems: Vec<String> = diagnostics
        .counts
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.as_str()))
        .collect();
    eprintln!(
        "quarantined records: {}; damaged chunks: {}{}",
        thousands(outcome.ingest.decode.quarantined),
        thousands(
            outcome.ingest.decode.damaged_chunks + diagnostics.count(DiagnosticKind::EvtxChunk)
        ),
        if problems.is_empty() {
            String::new()
        } else {
            format!("; problems: {}", problems.join(", "))
        },
    );
    for example in &diagnostics.examples {
        eprintln!("  {example}");
    }
    for (rule, regex) in loaded.rules.regex_build_failures() {
        eprintln!(
            "rule {} ({}): regex {regex:?} is too large to build and never matched",
            rule.title, rule.path
        );
    }
}

/// Runs `garrison hunt`.
pub fn run(args: HuntArgs) -> Result<ExitCode, Failure> {
    let threads = args.threads.unwrap_or_else(default_threads).max(1);
    let discovery = args.input.discover()?;
    let placeholders = match &args.placeholders {
        None => Default::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                Failure::Input(format!(
                    "cannot read placeholders {}: {error}",
                    path.display()
                ))
            })?;
            garrison_sigma::parse_placeholders(&text).map_err(|error| {
                Failure::Input(format!("placeholders {}: {error}", path.display()))
            })?
        }
    };
    let options = CompileOptions {
        min_level: args.min_level,
        placeholders,
    };
    let selection = RuleSelection {
        bundled: !args.no_bundled,
        paths: args.rules.clone(),
    };
    let loaded = load_rules(&selection, &options, threads)
        .map_err(|error| Failure::Rules(format!("{error:#}")))?;
    if loaded.rules.stats().rules == 0 && loaded.rules.stats().correlations == 0 {
        if !args.quiet {
            print_rule_errors(&loaded);
        }
        return Err(Failure::Rules("no rule could be loaded".into()));
    }
    let quarantine = match &args.quarantine {
        Some(path) => Some(std::fs::File::create(path).map_err(|error| {
            Failure::Output(format!(
                "cannot create quarantine file {}: {error}",
                path.display()
            ))
        })?),
        None => None,
    };
    let diagnostics = Mutex::new(DiagnosticLog::new(quarantine));
    let intel = load_intel(&args.intel)?;
    let outcome = hunt_with_progress(
        &discovery,
        Detectors {
            rules: &loaded.rules,
            intel: intel.as_ref(),
        },
        args.min_level,
        threads,
        args.quiet,
        &diagnostics,
    );
    let mut diagnostics = diagnostics.into_inner().expect("workers joined");
    diagnostics
        .finish()
        .map_err(|error| Failure::Output(format!("cannot write quarantine file: {error}")))?;

    let written = match &args.output {
        Some(path) => std::fs::File::create(path)
            .and_then(|file| {
                let mut writer = std::io::BufWriter::new(file);
                write_detections(&mut writer, args.format, &outcome.detections)
            })
            .map_err(|error| Failure::Output(format!("cannot write {}: {error}", path.display()))),
        None => {
            let stdout = std::io::stdout();
            let mut writer = std::io::BufWriter::new(stdout.lock());
            match write_detections(&mut writer, args.format, &outcome.detections) {
                // A closed pipe (`| head`) is not an error worth reporting.
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => {
                    other.map_err(|error| Failure::Output(format!("cannot write output: {error}")))
                }
            }
        }
    };
    written?;
    if !args.quiet {
        print_rule_errors(&loaded);
        print_summary(&discovery, &loaded, &outcome, &diagnostics);
    }
    let code = if args.fail_on_detection && !outcome.detections.is_empty() {
        ExitCode::Detections
    } else {
        ExitCode::Success
    };
    // The process exits next: freeing thousands of compiled rules and every detection one by
    // one would only add to the wall time.
    std::mem::forget(loaded);
    std::mem::forget(outcome);
    Ok(code)
}

/// Alerts by time, then id. Sorted as positions, then moved once each: an alert is a few
/// hundred bytes, and a sort moving them would copy a flood's alerts a dozen times over.
pub(crate) fn in_time_order(alerts: Vec<garrison_model::Alert>) -> Vec<garrison_model::Alert> {
    let mut order: Vec<usize> = (0..alerts.len()).collect();
    order.sort_by(|&a, &b| {
        (alerts[a].timestamp, &alerts[a].id).cmp(&(alerts[b].timestamp, &alerts[b].id))
    });
    let mut slots: Vec<Option<garrison_model::Alert>> = alerts.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|position| slots[position].take())
        .collect()
}

#[cfg(test)]
mod tests {
    use garrison_model::{Alert, AlertId, EvidenceId, EvidenceRef, Level, RuleRef, Timestamp};

    fn alert(id: &str, second: Option<i64>) -> Alert {
        Alert {
            id: AlertId(id.to_string()),
            rule: RuleRef {
                id: "r".to_string(),
                title: "r".to_string(),
                level: Level::Low,
                tags: Vec::new(),
            },
            timestamp: second.map(|second| Timestamp::from_second(second).expect("valid")),
            source: EvidenceRef {
                path: "p".into(),
                member: None,
                record_id: 1,
                offset: 0,
            },
            evidence: EvidenceId(1),
            host: None,
            user: None,
            channel: None,
            event_id: None,
            fields: Vec::new(),
            entities: Vec::new(),
        }
    }

    #[test]
    fn alerts_are_put_in_time_then_id_order() {
        let alerts = vec![
            alert("c", Some(20)),
            alert("b", Some(10)),
            alert("z", None),
            alert("a", Some(20)),
            alert("a", Some(10)),
        ];
        let ordered: Vec<(Option<i64>, String)> = super::in_time_order(alerts)
            .into_iter()
            .map(|alert| (alert.timestamp.map(|at| at.as_second()), alert.id.0))
            .collect();
        let expected = [
            (None, "z"),
            (Some(10), "a"),
            (Some(10), "b"),
            (Some(20), "a"),
            (Some(20), "c"),
        ];
        assert_eq!(
            ordered,
            expected
                .map(|(second, id)| (second, id.to_string()))
                .to_vec()
        );
    }
}
