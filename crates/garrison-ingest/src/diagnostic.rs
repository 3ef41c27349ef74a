//! What went wrong while reading input, recorded rather than thrown: every bad file, chunk or
//! record is reported with where it was and why, and counted.

use std::fmt;
use std::sync::Arc;

/// The class of a problem, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiagnosticKind {
    /// The file could not be opened or read.
    Io,
    /// An EVTX file header is damaged (the file is read anyway when possible).
    EvtxHeader,
    /// An EVTX chunk is damaged; its records are skipped.
    EvtxChunk,
    /// One EVTX record could not be decoded.
    EvtxRecord,
    /// A JSON line or document is not valid JSON, or not an object.
    Json,
    /// An archive is damaged or truncated; what was read before the damage is kept.
    Archive,
    /// A Zeek log record does not fit its header.
    Zeek,
    /// A line of an audit log is not an audit record.
    Auditd,
    /// A line of a syslog stream is not a syslog message.
    Syslog,
    /// A record of delimited text does not fit its header (or there is no header).
    Delimited,
}

impl DiagnosticKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticKind::Io => "io",
            DiagnosticKind::EvtxHeader => "evtx-header",
            DiagnosticKind::EvtxChunk => "evtx-chunk",
            DiagnosticKind::EvtxRecord => "evtx-record",
            DiagnosticKind::Json => "json",
            DiagnosticKind::Archive => "archive",
            DiagnosticKind::Zeek => "zeek",
            DiagnosticKind::Auditd => "auditd",
            DiagnosticKind::Syslog => "syslog",
            DiagnosticKind::Delimited => "delimited",
        }
    }

    /// True when a record (rather than a whole file or chunk) was set aside.
    pub fn is_quarantined_record(self) -> bool {
        matches!(
            self,
            DiagnosticKind::EvtxRecord
                | DiagnosticKind::Json
                | DiagnosticKind::Zeek
                | DiagnosticKind::Auditd
                | DiagnosticKind::Syslog
                | DiagnosticKind::Delimited
        )
    }
}

/// Where a problem is: stream, and record or line when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: Arc<str>,
    pub member: Option<Arc<str>>,
    /// Record id (EVTX) or line number (JSON lines).
    pub record: Option<u64>,
    /// Byte offset in the (decompressed) stream.
    pub offset: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(member) = &self.member {
            write!(f, "!{member}")?;
        }
        if let Some(record) = self.record {
            write!(f, "#{record}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, "@{offset}")?;
        }
        Ok(())
    }
}

/// Most raw bytes kept with a quarantined record.
pub const MAX_QUARANTINED_BYTES: usize = 4096;

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub kind: DiagnosticKind,
    pub location: Location,
    pub message: String,
    /// The raw record, for quarantined records (at most [`MAX_QUARANTINED_BYTES`]).
    pub raw: Option<Vec<u8>>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.kind.as_str(),
            self.location,
            self.message
        )
    }
}

pub(crate) fn keep_raw(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len().min(MAX_QUARANTINED_BYTES)].to_vec()
}
