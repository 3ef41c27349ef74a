//! Garrison's vocabulary: the types every other crate speaks.
//!
//! Pure data and small pure functions only: no IO, no async, no threads. An [`Event`] is one
//! telemetry record as flat named fields plus an [`EvidenceRef`] saying exactly where it came
//! from; a [`Detection`] is a rule hit on an event; [`ocsf`] holds the OCSF-aligned normalized
//! view of events.

pub mod access;
pub mod action;
pub mod case;
pub mod detection;
pub mod event;
pub mod evidence;
pub mod feedback;
pub mod fields;
pub mod incident;
pub mod level;
pub mod ocsf;
pub mod queue;
pub mod tuning;

pub use detection::{CorrelationContext, Detection, RuleInfo};
pub use event::{Event, RecordFormat};
pub use evidence::EvidenceRef;
pub use fields::{Field, Fields, ValueKind};
pub use incident::{
    Alert, AlertId, AlertSummary, Assertion, Claim, Disposition, Entity, EntityKind, EvidenceId,
    EvidenceItem, Incident, IncidentId, RuleRef,
};
pub use level::Level;

/// Point in time, UTC, nanosecond precision.
pub use jiff::Timestamp;
