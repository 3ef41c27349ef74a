//! Garrison's agents and the runtime that runs them.
//!
//! An agent is a long-lived task with its own identity (an Ed25519 key pair per instance), the
//! message kinds it consumes and may publish, and a handler. The [`runtime`] subscribes it to
//! the bus, checks every message it receives (signature, sender's grant, schema), skips
//! messages it already handled, publishes its answers signed with its own key, restarts it
//! when it panics (the message in flight is delivered again), stops it gracefully, and counts
//! what it did.

pub mod announce;
pub mod baseline;
pub mod correlate;
pub mod dedupe;
pub mod evidence;
pub mod feedback;
pub mod investigate;
pub mod messages;
pub mod process_tree;
pub mod report;
pub mod respond;
pub mod runtime;
pub mod supervisor;
pub mod team;
pub mod triage;
pub mod verify;
pub mod watermark;
mod wire;

pub use runtime::{
    Agent, AgentCounters, AgentSpec, Context, Publisher, Runtime, RuntimeBuilder, RuntimeStats,
};

use jiff::Timestamp;

/// Where time comes from: injected, so tests control it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Why an agent could not handle a message.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Worth trying again later (a busy store, a bus without room).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Trying again cannot help (the message contradicts itself, evidence is missing).
    #[error("{0}")]
    Permanent(String),
    /// The agent's configuration is invalid.
    #[error("invalid configuration: {0}")]
    Configuration(String),
}

impl AgentError {
    pub fn is_retryable(&self) -> bool {
        match self {
            AgentError::Temporary(_) => true,
            AgentError::Permanent(_) | AgentError::Configuration(_) => false,
        }
    }
}
