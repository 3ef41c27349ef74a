//! What every listener shares: the spools it appends to, its counters, the quarantine for
//! what cannot be spooled, and the shutdown signal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

/// Counters of one input (read by `serve`'s summary and, later, `/metrics`).
#[derive(Debug, Default)]
pub struct InputStats {
    /// Records appended to the spool (acknowledged where the protocol acknowledges).
    pub accepted: AtomicU64,
    /// Records refused as malformed or too large, each written to the quarantine.
    pub quarantined: AtomicU64,
    /// Requests refused for want of a valid token or certificate.
    pub unauthorized: AtomicU64,
    /// Requests answered "busy" because the spool was behind (the sender retries).
    pub busy: AtomicU64,
    /// Connections (or datagrams' peers) served.
    pub connections: AtomicU64,
}

impl InputStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            accepted: self.accepted.load(Ordering::Relaxed),
            quarantined: self.quarantined.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            busy: self.busy.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub accepted: u64,
    pub quarantined: u64,
    pub unauthorized: u64,
    pub busy: u64,
    pub connections: u64,
}

/// Records refused by a listener, kept with the reason (JSON lines, one file per server).
#[derive(Debug)]
pub struct Quarantine {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

/// Bytes of a refused record kept in the quarantine.
const QUARANTINE_SAMPLE: usize = 64 << 10;

impl Quarantine {
    pub fn new(path: &Path) -> Quarantine {
        Quarantine {
            path: path.to_path_buf(),
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps `raw` (its first 64 KiB) with `reason`; a failure to write is reported on
    /// standard error, as nothing else can be done with it.
    pub fn keep(&self, input: &str, peer: Option<std::net::SocketAddr>, reason: &str, raw: &[u8]) {
        let sample = &raw[..raw.len().min(QUARANTINE_SAMPLE)];
        let line = serde_json::json!({
            "at": jiff::Timestamp::now().to_string(),
            "input": input,
            "peer": peer.map(|p| p.to_string()),
            "reason": reason,
            "bytes": raw.len(),
            "raw": String::from_utf8_lossy(sample),
        });
        let Ok(mut guard) = self.file.lock() else {
            return;
        };
        if guard.is_none() {
            if let Some(parent) = self.path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
            {
                Ok(file) => *guard = Some(file),
                Err(error) => {
                    tracing::error!(
                        "garrison serve: cannot write the quarantine {}: {error}",
                        self.path.display()
                    );
                    return;
                }
            }
        }
        if let Some(file) = guard.as_mut()
            && let Err(error) = writeln!(file, "{line}")
        {
            tracing::error!(
                "garrison serve: cannot write the quarantine {}: {error}",
                self.path.display()
            );
        }
    }
}

/// One input's handle on the shared machinery.
#[derive(Debug, Clone)]
pub struct Intake {
    pub input: std::sync::Arc<str>,
    pub stats: std::sync::Arc<InputStats>,
    pub quarantine: std::sync::Arc<Quarantine>,
    pub shutdown: watch::Receiver<bool>,
}

impl Intake {
    /// Quarantines `raw` and counts it.
    pub fn refuse(&self, peer: Option<std::net::SocketAddr>, reason: &str, raw: &[u8]) {
        self.stats.quarantined.fetch_add(1, Ordering::Relaxed);
        self.quarantine.keep(&self.input, peer, reason, raw);
    }

    /// Resolves once shutdown is asked for.
    pub async fn stopping(&mut self) {
        let _ = self.shutdown.wait_for(|stop| *stop).await;
    }
}

/// The lines of a text body (HEC `/raw`, a NATS message), without their line ends; blank lines
/// are not records.
pub fn text_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.trim_ascii().is_empty())
}
