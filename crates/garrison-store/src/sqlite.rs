//! The embedded store: one SQLite database in the state directory (WAL journal, so readers do
//! not block the writer), its schema versioned and migrated forward on open.

use crate::StoreError;
use crate::audit::{
    AuditEntry, AuditRecord, AuditReport, ChainHash, ChainHead, StoredEntry, next_entry,
};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The database file inside the state directory.
pub const DATABASE_FILE: &str = "garrison.sqlite3";

/// Schema migrations, applied in order; the schema version is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: the audit log and its head.
    "CREATE TABLE audit_log (
         seq       INTEGER PRIMARY KEY,
         at        TEXT NOT NULL,
         actor     TEXT NOT NULL,
         action    TEXT NOT NULL,
         subject   TEXT NOT NULL,
         detail    TEXT NOT NULL,
         prev_hash BLOB NOT NULL,
         hash      BLOB NOT NULL
     );
     CREATE TABLE audit_head (
         id   INTEGER PRIMARY KEY CHECK (id = 1),
         seq  INTEGER NOT NULL,
         hash BLOB NOT NULL
     );",
    // 2: evidence and incidents.
    "CREATE TABLE evidence (
         seq       INTEGER PRIMARY KEY,
         id        INTEGER NOT NULL UNIQUE,
         at_ns     INTEGER,
         host      TEXT,
         user      TEXT,
         channel   TEXT,
         event_id  INTEGER,
         fields    TEXT NOT NULL,
         path      TEXT NOT NULL,
         member    TEXT,
         record_id INTEGER NOT NULL,
         offset    INTEGER NOT NULL,
         process_key TEXT,
         parent_key  TEXT,
         session_key TEXT
     );
     CREATE INDEX evidence_by_host_and_time ON evidence (host COLLATE NOCASE, at_ns);
     CREATE INDEX evidence_by_process ON evidence (process_key) WHERE parent_key IS NOT NULL;
     CREATE INDEX evidence_by_parent ON evidence (parent_key) WHERE parent_key IS NOT NULL;
     CREATE INDEX evidence_by_logon ON evidence (session_key) WHERE event_id = 4624;
     CREATE TABLE incidents (
         id       TEXT PRIMARY KEY,
         version  INTEGER NOT NULL,
         first_ns INTEGER,
         body     TEXT NOT NULL
     );",
    // 3: the host's own network address an event shows, so records that name only an address
    // (network sensors, firewalls) are tied to the host that held it at the time.
    "ALTER TABLE evidence ADD COLUMN host_address TEXT;
     CREATE INDEX evidence_by_host_address ON evidence (host_address, at_ns)
         WHERE host_address IS NOT NULL;",
    // 4: DHCP leases, so an address resolves to the host that held it at the time even when
    // addresses change hands within a day.
    "CREATE TABLE leases (
         evidence INTEGER PRIMARY KEY,
         address  TEXT NOT NULL,
         host     TEXT NOT NULL,
         start_ns INTEGER NOT NULL,
         end_ns   INTEGER
     );
     CREATE INDEX leases_by_address ON leases (address, start_ns);",
    // 5: response actions (one row per idempotency key; the record as JSON, its state and
    // queue order as columns) and settings (the kill switch).
    "CREATE TABLE actions (
         key         TEXT PRIMARY KEY,
         incident    TEXT NOT NULL,
         state       TEXT NOT NULL,
         priority    INTEGER NOT NULL,
         proposed_ns INTEGER NOT NULL,
         started_ns  INTEGER,
         body        TEXT NOT NULL
     );
     CREATE INDEX actions_by_state ON actions (state, priority DESC, proposed_ns);
     CREATE INDEX actions_by_incident ON actions (incident, proposed_ns);
     CREATE INDEX actions_by_start ON actions (started_ns) WHERE started_ns IS NOT NULL;
     CREATE TABLE settings (
         name  TEXT PRIMARY KEY,
         value TEXT NOT NULL
     );",
    // 6: analysts' verdicts, in the order given.
    "CREATE TABLE verdicts (
         seq     INTEGER PRIMARY KEY AUTOINCREMENT,
         subject TEXT NOT NULL,
         at_ns   INTEGER NOT NULL,
         body    TEXT NOT NULL
     );",
    // 7: who took each incident on (its scheduled escalations are not sent).
    "CREATE TABLE acknowledgements (
         incident TEXT PRIMARY KEY,
         by_whom  TEXT NOT NULL,
         at_ns    INTEGER NOT NULL
     );", // 8: local users and API tokens (records as JSON: hashes and digests, never secrets).
    "CREATE TABLE users (
         name TEXT PRIMARY KEY,
         body TEXT NOT NULL
     );
     CREATE TABLE tokens (
         seq  INTEGER PRIMARY KEY AUTOINCREMENT,
         id   TEXT NOT NULL UNIQUE,
         body TEXT NOT NULL
     );",
    // 9: the incident queue's columns (filled in for older rows on open) and its order, and
    // verdicts by subject.
    "ALTER TABLE incidents ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE incidents ADD COLUMN severity INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE incidents ADD COLUMN confidence REAL NOT NULL DEFAULT 0;
     ALTER TABLE incidents ADD COLUMN last_ns INTEGER;
     ALTER TABLE incidents ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE incidents ADD COLUMN hosts TEXT NOT NULL DEFAULT '';
     ALTER TABLE incidents ADD COLUMN search TEXT NOT NULL DEFAULT '';
     ALTER TABLE incidents ADD COLUMN summary TEXT;
     CREATE INDEX incidents_queue ON incidents
         (superseded, escalated DESC, severity DESC, confidence DESC, last_ns DESC, id);
     CREATE INDEX verdicts_by_subject ON verdicts (subject, seq);",
    // 10: people's console sessions (by the digest of the cookie's secret).
    "CREATE TABLE sessions (
         digest     TEXT PRIMARY KEY,
         expires_ns INTEGER NOT NULL,
         body       TEXT NOT NULL
     );
     CREATE INDEX sessions_by_end ON sessions (expires_ns);",
    // 11: how people work incidents: cases (status, assignee) and comments.
    "CREATE TABLE cases (
         incident TEXT PRIMARY KEY,
         status   TEXT NOT NULL,
         assignee TEXT,
         body     TEXT NOT NULL
     );
     CREATE INDEX cases_by_status ON cases (status);
     CREATE INDEX cases_by_assignee ON cases (assignee);
     CREATE TABLE comments (
         seq      INTEGER PRIMARY KEY AUTOINCREMENT,
         incident TEXT NOT NULL,
         at_ns    INTEGER NOT NULL,
         body     TEXT NOT NULL
     );
     CREATE INDEX comments_by_incident ON comments (incident, seq);",
    // 12: rule switches (detection tuned by people), evidence by user and incidents by user (what else a
    // user did; the queue columns are filled in again)
    "CREATE TABLE rule_switches (
         rule_id TEXT PRIMARY KEY,
         enabled INTEGER NOT NULL,
         body    TEXT NOT NULL
     );
     CREATE INDEX evidence_by_user_and_time ON evidence (user COLLATE NOCASE, at_ns)
         WHERE user IS NOT NULL;
     ALTER TABLE incidents ADD COLUMN users TEXT NOT NULL DEFAULT '';
     UPDATE incidents SET summary = NULL;",
    // 13: each incident's alerts in rows of their own (filled in for stored incidents).
    "CREATE TABLE incident_alerts (
         seq      INTEGER PRIMARY KEY,
         incident TEXT NOT NULL,
         alert    TEXT NOT NULL,
         rule_id  TEXT NOT NULL,
         level    INTEGER NOT NULL,
         at_ns    INTEGER NOT NULL,
         -- the incident's: alerts of merged incidents are left out unless asked for
         superseded INTEGER NOT NULL,
         body     TEXT NOT NULL,
         UNIQUE (incident, alert)
     );
     CREATE INDEX incident_alerts_by_time ON incident_alerts (superseded, at_ns, seq);
     CREATE INDEX incident_alerts_by_rule ON incident_alerts (rule_id, superseded, at_ns, seq);
     UPDATE incidents SET summary = NULL;",
];

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path)?;
    // Small pages: a commit writes every page it touched to the log, and evidence rows
    // land on many index pages at once (only takes effect when the database is created).
    connection.pragma_update(None, "page_size", 4_096)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    // Evidence arrives by the thousand per second: a larger page cache and memory-mapped
    // reads keep B-tree pages out of read() calls.
    connection.pragma_update(None, "cache_size", -65_536)?;
    connection.pragma_update(None, "mmap_size", 1_i64 << 30)?;
    connection.pragma_update(None, "wal_autocheckpoint", 16_384)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(connection)
}

/// The store. Cheap to share behind an `Arc`; writes are serialized (the audit chain needs a
/// single writer anyway).
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating when missing) the store in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|error| StoreError::Open {
            path: state_dir.to_path_buf(),
            reason: error.to_string(),
        })?;
        let path = state_dir.join(DATABASE_FILE);
        let connection = connect(&path)?;
        migrate(&connection)?;
        crate::records::reindex_incidents(&connection)?;
        Ok(SqliteStore {
            path,
            connection: Mutex::new(connection),
        })
    }

    /// Another connection to the same database (already opened, so already migrated): a
    /// thread that writes in bulk (live evidence) takes its own, so it neither waits for nor
    /// holds up the readers and writers of this one; SQLite serializes the writes.
    pub fn another(&self) -> Result<SqliteStore, StoreError> {
        Ok(SqliteStore {
            path: self.path.clone(),
            connection: Mutex::new(connect(&self.path)?),
        })
    }

    /// Copies the write-ahead log's frames into the database as far as it can without waiting
    /// for anyone (a passive checkpoint).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        // The pragma answers with a row (busy, frames in the log, frames copied).
        self.connection()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Pages the write-ahead log may reach before this connection's commits copy it into the
    /// database themselves.
    pub fn set_autocheckpoint(&self, pages: u32) -> Result<(), StoreError> {
        Ok(self
            .connection()
            .pragma_update(None, "wal_autocheckpoint", pages)?)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied transaction behind
        // (SQLite rolls it back), so a poisoned lock is still usable.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends to the audit log at `at`, linking the entry to the current head, in one
    /// transaction with the head's update.
    pub fn append_audit(
        &self,
        record: &AuditRecord,
        at: Timestamp,
    ) -> Result<AuditEntry, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let entry = append_in(&transaction, record, at)?;
        transaction.commit()?;
        Ok(entry)
    }

    /// The stored head of the audit log (none while it is empty).
    pub fn audit_head(&self) -> Result<Option<ChainHead>, StoreError> {
        read_head(&self.connection())
    }

    /// Audit entries in order, from `from_seq`, at most `limit`.
    pub fn audit_entries(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash
             FROM audit_log WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = statement.query_map(params![from_seq as i64, limit as i64], stored_entry)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checks the whole audit log (in pages, so memory stays flat), and the stored head, and
    /// when given the head kept elsewhere, that the log still reaches it.
    pub fn verify_audit(&self, expected: Option<ChainHead>) -> Result<AuditReport, StoreError> {
        crate::audit::verify_paged(
            expected,
            |from, limit| self.audit_entries(from, limit),
            || self.audit_head(),
        )
    }
}

/// Appends to the audit log inside `transaction` (committed with whatever else it holds).
pub(crate) fn append_in(
    transaction: &rusqlite::Transaction<'_>,
    record: &AuditRecord,
    at: Timestamp,
) -> Result<AuditEntry, StoreError> {
    let entry = next_entry(read_head(transaction)?, record, at);
    transaction.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            entry.seq as i64,
            entry.at.to_string(),
            entry.actor,
            entry.action,
            entry.subject,
            entry.detail,
            entry.prev_hash.as_slice(),
            entry.hash.as_slice()
        ],
    )?;
    transaction.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![entry.seq as i64, entry.hash.as_slice()],
    )?;
    Ok(entry)
}

fn stored_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEntry> {
    Ok(StoredEntry {
        seq: row.get::<_, i64>(0)? as u64,
        at: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        subject: row.get(4)?,
        detail: row.get(5)?,
        prev_hash: row.get(6)?,
        hash: row.get(7)?,
    })
}

fn read_head(connection: &Connection) -> Result<Option<ChainHead>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = connection
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((seq, hash)) => {
            let hash: ChainHash = hash.try_into().map_err(|_| StoreError::Corrupt {
                what: "audit head hash is not 32 bytes".into(),
            })?;
            Ok(Some(ChainHead {
                seq: seq as u64,
                hash,
            }))
        }
    }
}

/// Brings the schema up to date; refuses a database from a newer build.
fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let batch = format!(
            "BEGIN; {migration}; PRAGMA user_version = {}; COMMIT;",
            index + 1
        );
        connection.execute_batch(&batch)?;
    }
    Ok(())
}
