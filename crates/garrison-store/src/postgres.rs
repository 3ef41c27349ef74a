//! The PostgreSQL store: the shared source of truth when agents run as separate processes.
//! Same traits, same audit chain as the embedded store:
//!
//! - **Migrations** are versioned in `garrison_schema` and applied under an advisory lock, so
//!   processes starting together migrate once.
//! - **The audit chain** stays one chain under concurrent writers: an append locks the head row
//!   (`SELECT … FOR UPDATE`), links to it and moves it in one transaction, so writers in any
//!   number of processes take turns.
//! - **Evidence** is written a batch per statement (arrays unnested server-side), ignoring ids
//!   already stored, so redelivered batches add nothing.
//! - **Connections** come from a small pool, each driven by the `postgres` crate on a thread of
//!   its own: store calls are synchronous, like SQLite's, and are safe to make from async tasks.
//!   A connection that broke is replaced on next use; errors that a retry can cure (connection
//!   lost, server restarting, serialization failure) say so through
//!   [`StoreError::is_retryable`].
//!
//! PostgreSQL text cannot hold NUL characters: index columns (host, user, channel, keys) have
//! them replaced by U+FFFD; fields and incidents are stored as JSON text, where NUL is escaped,
//! so they come back exactly.

use crate::audit::{AuditEntry, AuditRecord, AuditReport, ChainHash, ChainHead, StoredEntry};
use crate::records::{EvidenceStore, IncidentStore, StoredEvent, corrupt, from_nanos, nanos};
use crate::{Journal, JournalEntry, StoreError};
use garrison_model::{EvidenceId, EvidenceRef, Incident, IncidentId, Timestamp};
use postgres::{Client, NoTls, Row};
use std::sync::{Arc, Condvar, Mutex};

/// How to reach PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// A connection string: `postgres://user@host:5432/db` or `host=… user=… dbname=…`.
    pub url: String,
    /// The password, read from a file so it appears in no command line or config (a password
    /// in the URL works too).
    pub password_file: Option<std::path::PathBuf>,
    /// A schema of its own (created when missing), so deployments or tests share a database.
    pub schema: Option<String>,
    /// Connections kept at most.
    pub connections: usize,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            password_file: None,
            schema: None,
            connections: 4,
        }
    }
}

/// Schema migrations, applied in order; the schema version is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: the audit log and its head (seq 0: empty), evidence, leases and incidents.
    "CREATE TABLE audit_log (
         seq       BIGINT PRIMARY KEY,
         at        TEXT NOT NULL,
         actor     TEXT NOT NULL,
         action    TEXT NOT NULL,
         subject   TEXT NOT NULL,
         detail    TEXT NOT NULL,
         prev_hash BYTEA NOT NULL,
         hash      BYTEA NOT NULL
     );
     CREATE TABLE audit_head (
         id   INTEGER PRIMARY KEY CHECK (id = 1),
         seq  BIGINT NOT NULL,
         hash BYTEA NOT NULL
     );
     INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\\x');
     CREATE TABLE evidence (
         id           BIGINT PRIMARY KEY,
         at_ns        BIGINT,
         host         TEXT,
         user_name    TEXT,
         channel      TEXT,
         event_id     BIGINT,
         fields       TEXT NOT NULL,
         path         TEXT NOT NULL,
         member       TEXT,
         record_id    BIGINT NOT NULL,
         byte_offset  BIGINT NOT NULL,
         process_key  TEXT,
         parent_key   TEXT,
         session_key  TEXT,
         host_address TEXT
     );
     CREATE INDEX evidence_by_host_and_time ON evidence (lower(host), at_ns);
     CREATE INDEX evidence_by_process ON evidence (process_key) WHERE parent_key IS NOT NULL;
     CREATE INDEX evidence_by_parent ON evidence (parent_key) WHERE parent_key IS NOT NULL;
     CREATE INDEX evidence_by_logon ON evidence (session_key) WHERE event_id = 4624;
     CREATE INDEX evidence_by_host_address ON evidence (host_address, at_ns)
         WHERE host_address IS NOT NULL;
     CREATE TABLE leases (
         evidence BIGINT PRIMARY KEY,
         address  TEXT NOT NULL,
         host     TEXT NOT NULL,
         start_ns BIGINT NOT NULL,
         end_ns   BIGINT
     );
     CREATE INDEX leases_by_address ON leases (address, start_ns);
     CREATE TABLE incidents (
         id       TEXT PRIMARY KEY,
         version  BIGINT NOT NULL,
         first_ns BIGINT,
         body     TEXT NOT NULL
     );",
    // 2: the journal of messages stateful agents handled.
    "CREATE TABLE journal (
         position  BIGSERIAL PRIMARY KEY,
         role      TEXT NOT NULL,
         id        TEXT NOT NULL,
         subject   TEXT NOT NULL,
         sender    TEXT NOT NULL,
         body      BYTEA NOT NULL,
         signature BYTEA NOT NULL,
         UNIQUE (role, id)
     );",
    // 3: who owns each stateful role now (the epoch grows with each new owner), so that an
    // owner that lost its role without knowing it yet cannot journal anything more.
    "CREATE TABLE owners (
         role  TEXT PRIMARY KEY,
         epoch BIGINT NOT NULL
     );",
];

/// The PostgreSQL store. Cheap to share behind an `Arc`.
pub struct PostgresStore {
    config: postgres::Config,
    schema: Option<String>,
    pool: Mutex<Pool>,
    returned: Condvar,
    /// The epochs of the roles this process owns (see [`PostgresStore::take_role`]).
    epochs: Mutex<std::collections::HashMap<String, i64>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config may hold a password: only where it points is shown.
        f.debug_struct("PostgresStore")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

struct Pool {
    idle: Vec<Client>,
    /// Connections open now, idle or in use.
    open: usize,
    max: usize,
}

impl PostgresStore {
    /// Connects, creates the schema when asked for one, and migrates it forward; refuses a
    /// database migrated by a newer build.
    pub fn connect(options: &PostgresOptions) -> Result<PostgresStore, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            path: "postgresql".into(),
            reason,
        };
        let mut config: postgres::Config = options
            .url
            .parse()
            .map_err(|error| open_error(format!("invalid connection string: {error}")))?;
        if let Some(path) = &options.password_file {
            let password = std::fs::read_to_string(path)
                .map_err(|error| open_error(format!("cannot read {}: {error}", path.display())))?;
            config.password(password.trim_end_matches(['\r', '\n']));
        }
        if config.get_application_name().is_none() {
            config.application_name("garrison");
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        if let Some(schema) = &options.schema
            && !valid_identifier(schema)
        {
            return Err(open_error(format!(
                "schema {schema:?}: use letters, digits and _ only"
            )));
        }
        let store = PostgresStore {
            config,
            schema: options.schema.clone(),
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
                max: options.connections.max(1),
            }),
            returned: Condvar::new(),
            epochs: Mutex::new(std::collections::HashMap::new()),
        };
        store.with_client(migrate)?;
        Ok(store)
    }

    /// Runs `job` with a pooled connection on a thread of its own (the `postgres` crate blocks
    /// on a runtime of its own, which must not happen on an async task's thread). A pooled
    /// connection found broken (the server restarted since it was last used) is replaced and
    /// the job run again on the new one, as many times as the pool holds connections.
    fn with_client<R: Send>(
        &self,
        job: impl Fn(&mut Client) -> Result<R, StoreError> + Send + Sync,
    ) -> Result<R, StoreError> {
        let attempts = lock(&self.pool).max + 1;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = self.checkout()?;
            // A broken connection is dropped where the job ran: dropping one blocks, too.
            let job = &job;
            let run = move || {
                let result = job(&mut client);
                let kept = (!client.is_closed()).then_some(client);
                (kept, result)
            };
            let (client, result) = if tokio_context() {
                std::thread::scope(|scope| {
                    scope
                        .spawn(run)
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
            } else {
                run()
            };
            let broken = client.is_none();
            self.checkin(client);
            match result {
                Err(StoreError::Postgres(_)) if broken && attempt < attempts => continue,
                result => return result,
            }
        }
    }

    fn checkout(&self) -> Result<Client, StoreError> {
        let mut pool = lock(&self.pool);
        loop {
            if let Some(client) = pool.idle.pop() {
                return Ok(client);
            }
            if pool.open < pool.max {
                pool.open += 1;
                drop(pool);
                return self
                    .open_client()
                    .inspect_err(|_| lock(&self.pool).open -= 1);
            }
            pool = self
                .returned
                .wait(pool)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Returns a connection to the pool, or counts it gone when it broke (`None`).
    fn checkin(&self, client: Option<Client>) {
        let mut pool = lock(&self.pool);
        match client {
            Some(client) => pool.idle.push(client),
            None => pool.open -= 1,
        }
        drop(pool);
        self.returned.notify_one();
    }

    fn open_client(&self) -> Result<Client, StoreError> {
        let config = self.config.clone();
        let schema = self.schema.clone();
        let connect = move || -> Result<Client, StoreError> {
            let mut client = config.connect(NoTls)?;
            if let Some(schema) = schema {
                // Serialized: two sessions creating one schema at once would collide.
                client.batch_execute(&format!(
                    "BEGIN;
                     SELECT pg_advisory_xact_lock(hashtext('garrison-schema:{schema}'));
                     CREATE SCHEMA IF NOT EXISTS {schema};
                     COMMIT;
                     SET search_path TO {schema}"
                ))?;
            }
            Ok(client)
        };
        if tokio_context() {
            std::thread::scope(|scope| {
                scope
                    .spawn(connect)
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        } else {
            connect()
        }
    }

    /// Appends to the audit log at `at`: the head row is locked, so concurrent writers, in this
    /// process or others, append one after another to one chain.
    pub fn append_audit(
        &self,
        record: &AuditRecord,
        at: Timestamp,
    ) -> Result<AuditEntry, StoreError> {
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            let row = transaction.query_one(
                "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
                &[],
            )?;
            let entry = crate::audit::next_entry(head_of(&row)?, record, at);
            transaction.execute(
                "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &(entry.seq as i64),
                    &text(&entry.at.to_string()),
                    &text(&entry.actor),
                    &entry.action,
                    &text(&entry.subject),
                    &text(&entry.detail),
                    &entry.prev_hash.as_slice(),
                    &entry.hash.as_slice(),
                ],
            )?;
            transaction.execute(
                "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
                &[&(entry.seq as i64), &entry.hash.as_slice()],
            )?;
            transaction.commit()?;
            Ok(entry)
        })
    }

    /// The stored head of the audit log (none while it is empty).
    pub fn audit_head(&self) -> Result<Option<ChainHead>, StoreError> {
        self.with_client(|client| {
            head_of(&client.query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?)
        })
    }

    /// Audit entries in order, from `from_seq`, at most `limit`.
    pub fn audit_entries(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        self.with_client(|client| {
            let rows = client.query(
                "SELECT seq, at, actor, action, subject, detail, prev_hash, hash
                 FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2",
                &[&(from_seq as i64), &(limit as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|row| StoredEntry {
                    seq: row.get::<_, i64>(0) as u64,
                    at: row.get(1),
                    actor: row.get(2),
                    action: row.get(3),
                    subject: row.get(4),
                    detail: row.get(5),
                    prev_hash: row.get(6),
                    hash: row.get(7),
                })
                .collect())
        })
    }

    /// Checks the whole audit log, as [`crate::SqliteStore::verify_audit`] does.
    pub fn verify_audit(&self, expected: Option<ChainHead>) -> Result<AuditReport, StoreError> {
        crate::audit::verify_paged(
            expected,
            |from, limit| self.audit_entries(from, limit),
            || self.audit_head(),
        )
    }

    /// Drops the schema this store was given, with everything in it (tests; resetting a
    /// deployment). Refused without a schema of its own.
    pub fn drop_schema(&self) -> Result<(), StoreError> {
        let Some(schema) = self.schema.clone() else {
            return Err(corrupt("refusing to drop the default schema"));
        };
        self.with_client(|client| {
            client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
            Ok(())
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// True on a thread that drives async tasks, where the `postgres` crate must not block (it
/// panics when it does).
fn tokio_context() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Text PostgreSQL accepts: NUL has no place in it.
fn text(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains('\0') {
        std::borrow::Cow::Owned(value.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

fn opt_text(value: &Option<String>) -> Option<std::borrow::Cow<'_, str>> {
    value.as_deref().map(text)
}

fn head_of(row: &Row) -> Result<Option<ChainHead>, StoreError> {
    let seq: i64 = row.get(0);
    if seq == 0 {
        return Ok(None);
    }
    let hash: Vec<u8> = row.get(1);
    let hash: ChainHash = hash
        .try_into()
        .map_err(|_| corrupt("audit head hash is not 32 bytes"))?;
    Ok(Some(ChainHead {
        seq: seq as u64,
        hash,
    }))
}

/// Brings the schema up to date under an advisory lock; refuses a newer one.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut transaction = client.transaction()?;
    transaction.execute(
        "SELECT pg_advisory_xact_lock(hashtext('garrison-migrate:' || current_schema()))",
        &[],
    )?;
    transaction.batch_execute(
        "CREATE TABLE IF NOT EXISTS garrison_schema (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let version: i32 = transaction
        .query_one("SELECT COALESCE(MAX(version), 0) FROM garrison_schema", &[])?
        .get(0);
    let supported = MIGRATIONS.len() as i64;
    if i64::from(version) > supported {
        return Err(StoreError::SchemaTooNew {
            found: i64::from(version),
            supported,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        transaction.batch_execute(migration)?;
        transaction.execute(
            "INSERT INTO garrison_schema (version) VALUES ($1)",
            &[&(index as i32 + 1)],
        )?;
    }
    transaction.commit()?;
    Ok(())
}

/// What went wrong, with the server's own words when it answered (the error's display
/// alone says only "db error").
pub(crate) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({}): {}", db.severity(), db.code().code(), db.message()),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

/// True when the failure may pass: the connection or server went away, the server is
/// starting or shutting down, out of connections, or a transaction lost a race.
pub(crate) fn is_retryable(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        // Not a server's answer: the connection could not be made or broke.
        None => error.as_db_error().is_none(),
        Some(code) => {
            let class = &code.code()[..2];
            matches!(class, "08" | "40" | "53" | "57")
        }
    }
}

const EVENT_COLUMNS: &str = "id, at_ns, host, user_name, channel, event_id, fields, path, member, \
     record_id, byte_offset, process_key, parent_key, session_key, host_address";

fn event_of(row: &Row) -> Result<StoredEvent, StoreError> {
    let id = EvidenceId(row.get::<_, i64>(0) as u64);
    let fields: String = row.get(6);
    Ok(StoredEvent {
        id,
        timestamp: from_nanos(row.get(1)),
        host: row.get(2),
        user: row.get(3),
        channel: row.get(4),
        event_id: row.get::<_, Option<i64>>(5).map(|n| n as u32),
        source: EvidenceRef {
            path: Arc::from(row.get::<_, String>(7)),
            member: row.get::<_, Option<String>>(8).map(Arc::from),
            record_id: row.get::<_, i64>(9) as u64,
            offset: row.get::<_, i64>(10) as u64,
        },
        fields: serde_json::from_str(&fields)
            .map_err(|error| corrupt(format!("fields of {id}: {error}")))?,
        process_key: row.get(11),
        parent_key: row.get(12),
        session_key: row.get(13),
        host_address: row.get(14),
        lease: None,
    })
}

fn events_of(rows: &[Row]) -> Result<Vec<StoredEvent>, StoreError> {
    rows.iter().map(event_of).collect()
}

impl EvidenceStore for PostgresStore {
    fn put_events(&self, events: &[StoredEvent]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let fields: Vec<String> = events
            .iter()
            .map(|event| serde_json::to_string(&event.fields))
            .collect::<Result<_, _>>()
            .map_err(|error| corrupt(format!("cannot encode fields: {error}")))?;
        let ids: Vec<i64> = events.iter().map(|e| e.id.0 as i64).collect();
        let at: Vec<Option<i64>> = events.iter().map(|e| nanos(e.timestamp)).collect();
        let host: Vec<_> = events.iter().map(|e| opt_text(&e.host)).collect();
        let user: Vec<_> = events.iter().map(|e| opt_text(&e.user)).collect();
        let channel: Vec<_> = events.iter().map(|e| opt_text(&e.channel)).collect();
        let event_id: Vec<Option<i64>> = events.iter().map(|e| e.event_id.map(i64::from)).collect();
        let path: Vec<_> = events.iter().map(|e| text(&e.source.path)).collect();
        let member: Vec<_> = events
            .iter()
            .map(|e| e.source.member.as_deref().map(text))
            .collect();
        let record_id: Vec<i64> = events.iter().map(|e| e.source.record_id as i64).collect();
        let offset: Vec<i64> = events.iter().map(|e| e.source.offset as i64).collect();
        let process: Vec<_> = events.iter().map(|e| opt_text(&e.process_key)).collect();
        let parent: Vec<_> = events.iter().map(|e| opt_text(&e.parent_key)).collect();
        let session: Vec<_> = events.iter().map(|e| opt_text(&e.session_key)).collect();
        let address: Vec<_> = events.iter().map(|e| opt_text(&e.host_address)).collect();
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            let inserted = transaction.execute(
                "INSERT INTO evidence (id, at_ns, host, user_name, channel, event_id, fields, path,
                     member, record_id, byte_offset, process_key, parent_key, session_key,
                     host_address)
                 SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[],
                     $5::text[], $6::int8[], $7::text[], $8::text[], $9::text[], $10::int8[],
                     $11::int8[], $12::text[], $13::text[], $14::text[], $15::text[])
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &ids, &at, &host, &user, &channel, &event_id, &fields, &path, &member,
                    &record_id, &offset, &process, &parent, &session, &address,
                ],
            )?;
            for event in events {
                let (Some(given), Some(at)) = (&event.lease, nanos(event.timestamp)) else {
                    continue;
                };
                if given.released {
                    transaction.execute(
                        "UPDATE leases SET end_ns = $2
                         WHERE address = $1 AND start_ns <= $2 AND (end_ns IS NULL OR end_ns > $2)",
                        &[&text(&given.address), &at],
                    )?;
                } else if let Some(host) = &given.host {
                    transaction.execute(
                        "INSERT INTO leases (evidence, address, host, start_ns, end_ns)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (evidence) DO NOTHING",
                        &[
                            &(event.id.0 as i64),
                            &text(&given.address),
                            &text(host),
                            &at,
                            &nanos(given.until),
                        ],
                    )?;
                }
            }
            transaction.commit()?;
            Ok(inserted as usize)
        })
    }

    fn event(&self, id: EvidenceId) -> Result<Option<StoredEvent>, StoreError> {
        self.with_client(|client| {
            let row = client.query_opt(
                &format!("SELECT {EVENT_COLUMNS} FROM evidence WHERE id = $1"),
                &[&(id.0 as i64)],
            )?;
            row.as_ref().map(event_of).transpose()
        })
    }

    fn events_on_host(
        &self,
        host: &str,
        from: Timestamp,
        to: Timestamp,
        event_ids: &[u32],
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let ids: Vec<i64> = event_ids.iter().map(|&id| i64::from(id)).collect();
        self.with_client(|client| {
            let rows = client.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM evidence
                     WHERE lower(host) = lower($1) AND at_ns BETWEEN $2 AND $3
                       AND (cardinality($4::int8[]) = 0 OR event_id = ANY($4))
                     ORDER BY at_ns, id LIMIT $5"
                ),
                &[
                    &text(host),
                    &nanos(Some(from)),
                    &nanos(Some(to)),
                    &ids,
                    &(limit as i64),
                ],
            )?;
            events_of(&rows)
        })
    }

    fn event_count(&self) -> Result<u64, StoreError> {
        self.with_client(|client| {
            Ok(client
                .query_one("SELECT COUNT(*) FROM evidence", &[])?
                .get::<_, i64>(0) as u64)
        })
    }

    fn process_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.with_client(|client| {
            let row = client.query_opt(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM evidence
                     WHERE process_key = $1 AND parent_key IS NOT NULL ORDER BY at_ns LIMIT 1"
                ),
                &[&text(key)],
            )?;
            row.as_ref().map(event_of).transpose()
        })
    }

    fn process_children(&self, key: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.with_client(|client| {
            let rows = client.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM evidence WHERE parent_key = $1
                     ORDER BY at_ns LIMIT $2"
                ),
                &[&text(key), &(limit as i64)],
            )?;
            events_of(&rows)
        })
    }

    fn session_start(&self, key: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.with_client(|client| {
            let row = client.query_opt(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM evidence
                     WHERE session_key = $1 AND event_id = 4624 ORDER BY at_ns DESC LIMIT 1"
                ),
                &[&text(key)],
            )?;
            row.as_ref().map(event_of).transpose()
        })
    }

    fn host_with_address(
        &self,
        address: &str,
        at: Timestamp,
        window: jiff::SignedDuration,
    ) -> Result<Option<String>, StoreError> {
        let at = nanos(Some(at)).unwrap_or_default();
        let window = window.as_nanos().min(i64::MAX as i128) as i64;
        let (from, to) = (at.saturating_sub(window), at.saturating_add(window));
        self.with_client(|client| {
            let leased = client.query_opt(
                "SELECT host FROM leases
                 WHERE address = $1 AND start_ns BETWEEN $2 AND $3
                   AND (end_ns IS NULL OR end_ns >= $3)
                 ORDER BY start_ns DESC LIMIT 1",
                &[&text(address), &from, &at],
            )?;
            if let Some(row) = leased {
                return Ok(Some(row.get(0)));
            }
            let seen = client.query_opt(
                "SELECT host FROM evidence
                 WHERE host_address = $1 AND at_ns BETWEEN $2 AND $3 AND host IS NOT NULL
                 ORDER BY abs(at_ns - $4) LIMIT 1",
                &[&text(address), &from, &to, &at],
            )?;
            Ok(seen.map(|row| row.get(0)))
        })
    }
}

impl Journal for PostgresStore {
    fn record(&self, role: &str, entry: &JournalEntry) -> Result<bool, StoreError> {
        let epoch = lock(&self.epochs).get(role).copied();
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            if let Some(epoch) = epoch {
                // Shares the owner row: a new owner's claim waits for this write, and this
                // write is refused once a new owner claimed the role.
                let current: Option<i64> = transaction
                    .query_opt(
                        "SELECT epoch FROM owners WHERE role = $1 FOR SHARE",
                        &[&text(role)],
                    )?
                    .map(|row| row.get(0));
                if current != Some(epoch) {
                    return Err(StoreError::Fenced {
                        role: role.to_string(),
                    });
                }
            }
            let inserted = transaction.execute(
                "INSERT INTO journal (role, id, subject, sender, body, signature)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (role, id) DO NOTHING",
                &[
                    &text(role),
                    &text(&entry.id),
                    &text(&entry.subject),
                    &text(&entry.sender),
                    &entry.body,
                    &entry.signature,
                ],
            )?;
            transaction.commit()?;
            Ok(inserted > 0)
        })
    }

    fn handled(&self, role: &str, id: &str) -> Result<bool, StoreError> {
        self.with_client(|client| {
            Ok(client
                .query_opt(
                    "SELECT 1 FROM journal WHERE role = $1 AND id = $2",
                    &[&text(role), &text(id)],
                )?
                .is_some())
        })
    }

    fn entries(
        &self,
        role: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, JournalEntry)>, StoreError> {
        self.with_client(|client| {
            let rows = client.query(
                "SELECT position, id, subject, sender, body, signature FROM journal
                 WHERE role = $1 AND position > $2 ORDER BY position LIMIT $3",
                &[&text(role), &(after as i64), &(limit as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|row| {
                    (
                        row.get::<_, i64>(0) as u64,
                        JournalEntry {
                            id: row.get(1),
                            subject: row.get(2),
                            sender: row.get(3),
                            body: row.get(4),
                            signature: row.get(5),
                        },
                    )
                })
                .collect())
        })
    }
}

impl IncidentStore for PostgresStore {
    fn put_incident(&self, incident: &Incident) -> Result<bool, StoreError> {
        let body = serde_json::to_string(incident)
            .map_err(|error| corrupt(format!("cannot encode incident: {error}")))?;
        self.with_client(|client| {
            let changed = client.execute(
                "INSERT INTO incidents (id, version, first_ns, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     first_ns = excluded.first_ns, body = excluded.body
                 WHERE excluded.version > incidents.version",
                &[
                    &text(&incident.id.0),
                    &(incident.version as i64),
                    &nanos(incident.first_seen),
                    &body,
                ],
            )?;
            Ok(changed > 0)
        })
    }

    fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        self.with_client(|client| {
            let row =
                client.query_opt("SELECT body FROM incidents WHERE id = $1", &[&text(&id.0)])?;
            row.map(|row| {
                serde_json::from_str(row.get(0))
                    .map_err(|error| corrupt(format!("incident {id}: {error}")))
            })
            .transpose()
        })
    }

    fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.with_client(|client| {
            let rows = client.query(
                "SELECT id, body FROM incidents ORDER BY first_ns NULLS FIRST, id",
                &[],
            )?;
            rows.iter()
                .map(|row| {
                    let id: &str = row.get(0);
                    serde_json::from_str(row.get(1))
                        .map_err(|error| corrupt(format!("incident {id}: {error}")))
                })
                .collect()
        })
    }
}

/// A session-level advisory lock, held on a connection of its own for as long as this value
/// lives: one owner at a time for what it names, across processes. PostgreSQL releases it when
/// the holder's connection ends, however the holder died, so a standby takes over.
pub struct OwnerLock {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    lost: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for OwnerLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerLock")
            .field("lost", &self.is_lost())
            .finish()
    }
}

impl OwnerLock {
    /// True once the connection holding the lock broke: someone else may own it now.
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl PostgresStore {
    /// Claims stateful `role` for this process (call it holding the role's owner lock, before
    /// its agent rebuilds its state): the role's epoch grows, and from now on only this
    /// store's journal writes for the role are accepted; a previous owner still running is
    /// refused ([`StoreError::Fenced`]).
    pub fn take_role(&self, role: &str) -> Result<u64, StoreError> {
        let epoch: i64 = self.with_client(|client| {
            Ok(client
                .query_one(
                    "INSERT INTO owners (role, epoch) VALUES ($1, 1)
                     ON CONFLICT (role) DO UPDATE SET epoch = owners.epoch + 1
                     RETURNING epoch",
                    &[&text(role)],
                )?
                .get(0))
        })?;
        lock(&self.epochs).insert(role.to_string(), epoch);
        Ok(epoch as u64)
    }

    /// Takes the lock `name` (within this store's schema) when nobody holds it.
    pub fn try_lock_owner(&self, name: &str) -> Result<Option<OwnerLock>, StoreError> {
        let key = format!(
            "garrison-owner:{}:{name}",
            self.schema.as_deref().unwrap_or("public")
        );
        let config = self.config.clone();
        let (taken_sender, taken) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = lost.clone();
        // The connection lives on its own thread (the `postgres` crate blocks), checked every
        // few seconds so a broken one is noticed.
        let thread = std::thread::spawn(move || {
            let attempt = (|| -> Result<Option<Client>, StoreError> {
                let mut client = config.connect(NoTls)?;
                let row = client.query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&key])?;
                Ok(row.get::<_, bool>(0).then_some(client))
            })();
            let mut client = match attempt {
                Ok(Some(client)) => {
                    let _ = taken_sender.send(Ok(true));
                    client
                }
                Ok(None) => {
                    let _ = taken_sender.send(Ok(false));
                    return;
                }
                Err(error) => {
                    let _ = taken_sender.send(Err(error));
                    return;
                }
            };
            loop {
                match stopped.recv_timeout(std::time::Duration::from_secs(2)) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if client.simple_query("SELECT 1").is_err() {
                            flag.store(true, std::sync::atomic::Ordering::SeqCst);
                            return;
                        }
                    }
                    _ => return,
                }
            }
        });
        match taken.recv() {
            Ok(Ok(true)) => Ok(Some(OwnerLock {
                stop: Some(stop),
                thread: Some(thread),
                lost,
            })),
            Ok(Ok(false)) => Ok(None),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(corrupt("the lock holder stopped before answering")),
        }
    }
}
