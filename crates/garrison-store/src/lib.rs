//! Garrison's storage: the embedded SQLite store (the default; PostgreSQL arrives with the
//! scale-out work) holding evidence and incidents, and the tamper-evident, hash-chained audit
//! log. Agents use the traits ([`AuditLog`], [`EvidenceStore`], [`IncidentStore`]).

pub mod audit;
pub mod records;
pub mod sqlite;

pub use audit::{AuditAction, AuditEntry, AuditRecord, ChainHead, ChainViolation};
pub use records::{EvidenceStore, IncidentStore, Lease, StoredEvent};
pub use sqlite::{AuditReport, SqliteStore};

use std::path::PathBuf;

/// Where agents write the audit trail: the one store trait they depend on for it.
pub trait AuditLog: Send + Sync {
    fn append(&self, record: &AuditRecord, at: jiff::Timestamp) -> Result<AuditEntry, StoreError>;
}

impl AuditLog for SqliteStore {
    fn append(&self, record: &AuditRecord, at: jiff::Timestamp) -> Result<AuditEntry, StoreError> {
        self.append_audit(record, at)
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("the store's schema (version {found}) is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("the store is corrupt: {what}")]
    Corrupt { what: String },
}

impl StoreError {
    /// True when trying again later may succeed (the database was busy or locked).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(rusqlite::Error::SqliteFailure(error, _)) => matches!(
                error.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            StoreError::Database(_)
            | StoreError::Open { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Corrupt { .. } => false,
        }
    }
}
