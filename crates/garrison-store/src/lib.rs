//! Garrison's storage: evidence and incidents, and the tamper-evident, hash-chained audit log,
//! in the embedded SQLite store (the default) or in PostgreSQL (shared by agents running as
//! separate processes). Agents use the traits ([`AuditLog`], [`EvidenceStore`],
//! [`IncidentStore`]), so they run on either unchanged.

pub mod access;
pub mod actions;
pub mod activity;
pub mod alerts;
pub mod audit;
pub mod cases;
pub mod postgres;
mod queue;
pub mod records;
pub mod sessions;
pub mod sqlite;
pub mod tuning;

pub use access::{AccessStore, TokenRecord, UserRecord};
pub use actions::{ActionChange, ActionStore, VerdictStore};
pub use activity::{Activity, ActivityCursor, ActivityStore, Subject};
pub use alerts::{AlertPage, AlertQuery, AlertStore};
pub use audit::{
    AuditAction, AuditEntry, AuditRecord, AuditReport, ChainHead, ChainViolation, StoredEntry,
};
pub use cases::CaseStore;
pub use postgres::{OwnerLock, PostgresOptions, PostgresStore};
pub use records::{Encoded, EvidenceStore, IncidentStore, Lease, StoredEvent, encode_fields};
pub use sessions::{SessionRecord, SessionStore};
pub use sqlite::SqliteStore;
pub use tuning::RuleSwitchStore;

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

impl AuditLog for PostgresStore {
    fn append(&self, record: &AuditRecord, at: jiff::Timestamp) -> Result<AuditEntry, StoreError> {
        self.append_audit(record, at)
    }
}

/// A message a stateful agent handled, as it travelled (so it can be checked again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The envelope id (a UUID).
    pub id: String,
    pub subject: String,
    /// The sender, `role/instance`.
    pub sender: String,
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Where stateful agents journal the messages they handled, so that whoever takes their role
/// over (after a crash, on another machine) rebuilds their state by handling them again, and
/// knows which redelivered messages it has handled already.
pub trait Journal: Send + Sync {
    /// Records that `role` handled `entry`; false when it was recorded already.
    fn record(&self, role: &str, entry: &JournalEntry) -> Result<bool, StoreError>;
    /// True when `role` handled the message `id`.
    fn handled(&self, role: &str, id: &str) -> Result<bool, StoreError>;
    /// Entries of `role` after position `after` (0 for the first), in the order recorded, at
    /// most `limit`, each with its position.
    fn entries(
        &self,
        role: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, JournalEntry)>, StoreError>;
    /// Saves `role`'s state, which holds every entry of `role` recorded so far (call it from
    /// the role's one owner, between messages), and empties those entries' bodies (unless the
    /// store keeps them): a new owner restores the state and replays only what came after.
    /// Their ids stay, so a redelivery of one is still known as handled. Returns the position the state holds entries up to.
    fn checkpoint(&self, role: &str, state: &[u8]) -> Result<u64, StoreError>;
    /// The latest state saved for `role`, with the position it holds entries up to.
    fn latest_checkpoint(&self, role: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
}

/// Everything a store keeps: what a process running the whole team opens, whichever store
/// backs it.
pub trait Store:
    AuditLog
    + EvidenceStore
    + IncidentStore
    + ActionStore
    + VerdictStore
    + AccessStore
    + SessionStore
    + CaseStore
    + RuleSwitchStore
    + ActivityStore
    + AlertStore
{
    /// Checks the whole audit log, and when given the head kept elsewhere, that the log still
    /// reaches it.
    fn verify_audit(&self, expected: Option<ChainHead>) -> Result<AuditReport, StoreError>;
    /// The stored head of the audit log (none while it is empty).
    fn audit_head(&self) -> Result<Option<ChainHead>, StoreError>;
    /// Audit entries in order, from sequence number `from_seq`, at most `limit`.
    fn audit_entries(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEntry>, StoreError>;
}

impl Store for SqliteStore {
    fn verify_audit(&self, expected: Option<ChainHead>) -> Result<AuditReport, StoreError> {
        SqliteStore::verify_audit(self, expected)
    }
    fn audit_head(&self) -> Result<Option<ChainHead>, StoreError> {
        SqliteStore::audit_head(self)
    }
    fn audit_entries(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEntry>, StoreError> {
        SqliteStore::audit_entries(self, from_seq, limit)
    }
}

impl Store for PostgresStore {
    fn verify_audit(&self, expected: Option<ChainHead>) -> Result<AuditReport, StoreError> {
        PostgresStore::verify_audit(self, expected)
    }
    fn audit_head(&self) -> Result<Option<ChainHead>, StoreError> {
        PostgresStore::audit_head(self)
    }
    fn audit_entries(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEntry>, StoreError> {
        PostgresStore::audit_entries(self, from_seq, limit)
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("PostgreSQL: {}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    #[error("the store's schema (version {found}) is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("the store is corrupt: {what}")]
    Corrupt { what: String },
    /// Another process took over the role: this one must stop working for it.
    #[error("another process owns {role} now")]
    Fenced { role: String },
}

impl StoreError {
    /// True when trying again later may succeed (the database was busy or locked).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(rusqlite::Error::SqliteFailure(error, _)) => matches!(
                error.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            StoreError::Postgres(error) => postgres::is_retryable(error),
            StoreError::Database(_)
            | StoreError::Open { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Fenced { .. } => false,
        }
    }
}
