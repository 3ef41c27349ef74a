//! Sources and normalizers: raw bytes in, model events (plus diagnostics) out.
//!
//! [`source::discover`] finds and sniffs input files; [`pipeline::run`] reads them on all cores
//! (a producer cutting files into [`read::Unit`]s, decoders turning units into
//! [`garrison_model::Event`]s); [`shapes`] and [`json`] give Windows events the same field names
//! whatever shape they were shipped in; [`normalize`] maps events to OCSF. Problems never stop a
//! run: they become [`Diagnostic`]s, counted, with the raw record kept for quarantine.

pub mod alerts;
pub mod auditd;
pub mod cef;
pub mod cloud;
pub mod decode;
pub mod delimited;
pub mod diagnostic;
pub mod intel;
pub mod json;
pub mod linux_messages;
pub mod log_analytics;
pub mod mapping;
pub mod normalize;
pub mod pipeline;
pub mod raw;
pub mod read;
pub mod shapes;
pub mod source;
pub mod syslog;
pub mod time;
pub mod windows_xml;
pub mod zeek;

pub use diagnostic::{Diagnostic, DiagnosticKind, Location};
pub use pipeline::{IngestSummary, Progress, run};
pub use source::{Discovery, InputFile, InputKind, discover, discover_as};
