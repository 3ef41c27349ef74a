//! `garrison normalize`: every record read, as OCSF JSON lines (its class when one applies,
//! else a Base Event keeping every field), with a summary of records read, events written
//! and diagnostics by reason. A record is either an event written or a counted diagnostic.

use crate::hunt::{DiagnosticLog, default_threads};
use crate::input::InputArgs;
use crate::{ExitCode, Failure};
use garrison_ingest::normalize::normalize_or_base;
use garrison_ingest::{Diagnostic, Progress};
use garrison_model::ocsf::OcsfClass;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// Arguments of `garrison normalize`.
#[derive(Debug, clap::Args)]
pub struct NormalizeArgs {
    /// Write OCSF JSON lines here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write quarantined (malformed) records here as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub quarantine: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No summary on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

/// Bytes a worker collects before writing them out.
const FLUSH_AT: usize = 1 << 20;

/// One worker's output buffer and counts by class.
struct Worker<'o> {
    buffer: Vec<u8>,
    classes: BTreeMap<OcsfClass, u64>,
    out: &'o Mutex<Output>,
}

struct Output {
    writer: Box<dyn Write + Send>,
    error: Option<String>,
}

impl Worker<'_> {
    fn flush(&mut self) {
        let mut out = self.out.lock().expect("output lock");
        if out.error.is_none()
            && let Err(error) = out.writer.write_all(&self.buffer)
        {
            out.error = Some(error.to_string());
        }
        self.buffer.clear();
    }
}

pub fn run(args: NormalizeArgs) -> Result<ExitCode, Failure> {
    let threads = args.threads.unwrap_or_else(default_threads).max(1);
    let discovery = args.input.discover()?;
    let writer: Box<dyn Write + Send> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|error| Failure::Output(format!("{}: {error}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let quarantine = match &args.quarantine {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|error| Failure::Output(format!("{}: {error}", path.display())))?,
        ),
        None => None,
    };
    let diagnostics = Mutex::new(DiagnosticLog::new(quarantine));
    let out = Mutex::new(Output {
        writer,
        error: None,
    });
    let started = std::time::Instant::now();
    let (workers, summary) = garrison_ingest::run(
        &discovery.files,
        threads,
        &Progress::default(),
        || Worker {
            buffer: Vec::with_capacity(FLUSH_AT + 4096),
            classes: BTreeMap::new(),
            out: &out,
        },
        |worker: &mut Worker, event| {
            let normalized = normalize_or_base(event);
            *worker.classes.entry(normalized.class()).or_default() += 1;
            serde_json::to_writer(&mut worker.buffer, &normalized).expect("OCSF events serialize");
            worker.buffer.push(b'\n');
            if worker.buffer.len() >= FLUSH_AT {
                worker.flush();
            }
        },
        |diagnostic: Diagnostic| diagnostics.lock().expect("diagnostics").record(diagnostic),
    );
    let mut classes: BTreeMap<OcsfClass, u64> = BTreeMap::new();
    for mut worker in workers {
        worker.flush();
        for (class, count) in worker.classes {
            *classes.entry(class).or_default() += count;
        }
    }
    let mut out = out.into_inner().expect("output lock");
    if let Err(error) = out.writer.flush() {
        out.error.get_or_insert(error.to_string());
    }
    if let Some(error) = out.error {
        return Err(Failure::Output(error));
    }
    let mut diagnostics = diagnostics.into_inner().expect("diagnostics");
    let quarantine_error = diagnostics.finish();
    if !args.quiet {
        let written: u64 = classes.values().sum();
        let quarantined = summary.decode.quarantined;
        eprintln!(
            "files: {} read ({} archive members), {} skipped as not event data",
            summary.files,
            summary.read.members,
            discovery.skipped.len() + summary.read.skipped_members.len()
        );
        eprintln!(
            "records: {} read in {:.2} s: {written} events written, {quarantined} quarantined",
            written + quarantined,
            started.elapsed().as_secs_f64()
        );
        for (class, count) in &classes {
            eprintln!("  {} ({}): {count}", class.name(), class.class_uid());
        }
        if !diagnostics.counts.is_empty() {
            let reasons: Vec<String> = diagnostics
                .counts
                .iter()
                .map(|(kind, count)| format!("{} {count}", kind.as_str()))
                .collect();
            eprintln!("diagnostics: {}", reasons.join(", "));
            for example in &diagnostics.examples {
                eprintln!("  {example}");
            }
        }
    }
    quarantine_error.map_err(Failure::Output)?;
    Ok(ExitCode::Success)
}
