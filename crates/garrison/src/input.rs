//! The input arguments every command that reads files shares: the paths and `--from`.

use crate::Failure;
use garrison_ingest::{Discovery, InputKind};
use std::path::PathBuf;

/// Files to read, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Read every file (and archive member) as this format instead of recognising it by its
    /// first bytes: evtx, json (also journald, Zeek JSON, cloud and Windows JSON shapes), zeek
    /// (TSV), auditd, syslog, csv (any delimiter), a shipped alert mapping (ait-ads) or a
    /// mapping file (FILE.json). Archives (zip, gzip, tar) are always opened.
    #[arg(long, value_name = "FORMAT", value_parser = parse_from)]
    pub from: Option<InputKind>,
    /// Event log files (EVTX, JSON lines or documents, Zeek, audit, syslog), archives of
    /// them (zip, gzip, tar), or folders.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

fn parse_from(name: &str) -> Result<InputKind, String> {
    InputKind::from_name(name)
}

impl InputArgs {
    pub fn new(paths: Vec<PathBuf>) -> InputArgs {
        InputArgs { from: None, paths }
    }

    /// The files to read; an error when there are none.
    pub fn discover(&self) -> Result<Discovery, Failure> {
        let discovery = garrison_ingest::discover_as(&self.paths, self.from)
            .map_err(|error| Failure::Input(error.to_string()))?;
        if discovery.files.is_empty() {
            return Err(Failure::Input(format!(
                "no event files found in {} ({} files skipped as not event data)",
                self.paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                discovery.skipped.len()
            )));
        }
        Ok(discovery)
    }
}
