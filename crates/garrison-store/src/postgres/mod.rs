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
//!   Frequent statements are prepared once per connection (see `statements`).
//!   A connection that broke is replaced on next use; errors that a retry can cure (connection
//!   lost, server restarting, serialization failure) say so through
//!   [`StoreError::is_retryable`].
//!
//! PostgreSQL text cannot hold NUL characters: index columns (host, user, channel, keys) have
//! them replaced by U+FFFD; fields and incidents are stored as JSON text, where NUL is escaped,
//! so they come back exactly.

use crate::StoreError;
use crate::audit::{AuditEntry, AuditRecord, AuditReport, ChainHash, ChainHead, StoredEntry};
use crate::records::corrupt;
use garrison_model::Timestamp;
use postgres::{Client, NoTls, Row};
use statements::Connection;
pub(crate) use statements::Statements;
use std::sync::{Condvar, Mutex};

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
    /// Certificate authorities (PEM) to verify the server with: connections use TLS (with
    /// `sslmode=require` in the URL, only TLS). The host name in the URL must be one the
    /// server's certificate names.
    pub ca_file: Option<std::path::PathBuf>,
    /// A client certificate and key (PEM), for servers that authenticate by certificate.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Keep the bodies of journal entries a checkpoint holds (for audits and fault tests
    /// counting what stateful agents handled); otherwise only their ids are kept.
    pub keep_journal: bool,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            password_file: None,
            schema: None,
            connections: 4,
            ca_file: None,
            client_cert: None,
            keep_journal: false,
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
    // 4: the processes running a partitioned role, by heartbeat, so they share its partitions.
    "CREATE TABLE members (
         role     TEXT NOT NULL,
         instance TEXT NOT NULL,
         seen     TIMESTAMPTZ NOT NULL,
         PRIMARY KEY (role, instance)
     );",
    // 5: stateful agents' saved state, holding their journal up to a position.
    "CREATE TABLE checkpoints (
         role     TEXT PRIMARY KEY,
         position BIGINT NOT NULL,
         state    BYTEA NOT NULL
     );
     CREATE INDEX journal_by_role ON journal (role, position);",
    // 6: the partitions each member owns, so the others try to claim only free ones.
    "ALTER TABLE members ADD COLUMN owned INTEGER[] NOT NULL DEFAULT '{}';",
    // 7: response actions (one row per idempotency key; the record as JSON, its state and
    // queue order as columns) and settings (the kill switch).
    "CREATE TABLE actions (
         key         TEXT PRIMARY KEY,
         incident    TEXT NOT NULL,
         state       TEXT NOT NULL,
         priority    BIGINT NOT NULL,
         proposed_ns BIGINT NOT NULL,
         started_ns  BIGINT,
         body        TEXT NOT NULL
     );
     CREATE INDEX actions_by_state ON actions (state, priority DESC, proposed_ns);
     CREATE INDEX actions_by_incident ON actions (incident, proposed_ns);
     CREATE INDEX actions_by_start ON actions (started_ns) WHERE started_ns IS NOT NULL;
     CREATE TABLE settings (
         name  TEXT PRIMARY KEY,
         value TEXT NOT NULL
     );",
    // 8: analysts' verdicts, in the order given.
    "CREATE TABLE verdicts (
         seq     BIGSERIAL PRIMARY KEY,
         subject TEXT NOT NULL,
         at_ns   BIGINT NOT NULL,
         body    TEXT NOT NULL
     );",
    // 9: who took each incident on (its scheduled escalations are not sent).
    "CREATE TABLE acknowledgements (
         incident TEXT PRIMARY KEY,
         by_whom  TEXT NOT NULL,
         at_ns    BIGINT NOT NULL
     );", // 10: local users and API tokens (records as JSON: hashes and digests, never secrets).
    "CREATE TABLE users (
         name TEXT PRIMARY KEY,
         body TEXT NOT NULL
     );
     CREATE TABLE tokens (
         seq  BIGSERIAL PRIMARY KEY,
         id   TEXT NOT NULL UNIQUE,
         body TEXT NOT NULL
     );",
    // 11: the incident queue's columns (filled in for older rows on connecting) and its
    // order, and verdicts by subject.
    "ALTER TABLE incidents
         ADD COLUMN escalated  BIGINT NOT NULL DEFAULT 0,
         ADD COLUMN severity   BIGINT NOT NULL DEFAULT 0,
         ADD COLUMN confidence DOUBLE PRECISION NOT NULL DEFAULT 0,
         ADD COLUMN last_ns    BIGINT,
         ADD COLUMN superseded BIGINT NOT NULL DEFAULT 0,
         ADD COLUMN hosts      TEXT NOT NULL DEFAULT '',
         ADD COLUMN search     TEXT NOT NULL DEFAULT '',
         ADD COLUMN summary    TEXT;
     CREATE INDEX incidents_queue ON incidents
         (superseded, escalated DESC, severity DESC, confidence DESC, last_ns DESC NULLS LAST, id);
     CREATE INDEX verdicts_by_subject ON verdicts (subject, seq);",
    // 12: people's console sessions (by the digest of the cookie's secret).
    "CREATE TABLE sessions (
         digest     TEXT PRIMARY KEY,
         expires_ns BIGINT NOT NULL,
         body       TEXT NOT NULL
     );
     CREATE INDEX sessions_by_end ON sessions (expires_ns);",
    // 13: how people work incidents: cases (status, assignee) and comments.
    "CREATE TABLE cases (
         incident TEXT PRIMARY KEY,
         status   TEXT NOT NULL,
         assignee TEXT,
         body     TEXT NOT NULL
     );
     CREATE INDEX cases_by_status ON cases (status);
     CREATE INDEX cases_by_assignee ON cases (assignee);
     CREATE TABLE comments (
         seq      BIGSERIAL PRIMARY KEY,
         incident TEXT NOT NULL,
         at_ns    BIGINT NOT NULL,
         body     TEXT NOT NULL
     );
     CREATE INDEX comments_by_incident ON comments (incident, seq);",
    // 14: rule switches (detection tuned by people), evidence by user and incidents by user (what else a
    // user did; the queue columns are filled in again)
    "CREATE TABLE rule_switches (
         rule_id TEXT PRIMARY KEY,
         enabled BOOLEAN NOT NULL,
         body    TEXT NOT NULL
     );
     CREATE INDEX evidence_by_user_and_time ON evidence (lower(user_name), at_ns)
         WHERE user_name IS NOT NULL;
     ALTER TABLE incidents ADD COLUMN users TEXT NOT NULL DEFAULT '';
     UPDATE incidents SET summary = NULL;",
    // 15: each incident's alerts in rows of their own (filled in for stored incidents).
    "CREATE TABLE incident_alerts (
         seq      BIGSERIAL PRIMARY KEY,
         incident TEXT NOT NULL,
         alert    TEXT NOT NULL,
         rule_id  TEXT NOT NULL,
         level    BIGINT NOT NULL,
         at_ns    BIGINT NOT NULL,
         -- the incident's: alerts of merged incidents are left out unless asked for
         superseded BIGINT NOT NULL,
         body     TEXT NOT NULL,
         UNIQUE (incident, alert)
     );
     CREATE INDEX incident_alerts_by_time ON incident_alerts (superseded, at_ns, seq);
     CREATE INDEX incident_alerts_by_rule ON incident_alerts (rule_id, superseded, at_ns, seq);
     UPDATE incidents SET summary = NULL;",
    // 16: the transactional outbox: messages announcing state changes, written in the
    // changes' transactions, removed once published.
    "CREATE TABLE outbox (
         seq   BIGSERIAL PRIMARY KEY,
         topic TEXT NOT NULL,
         key   TEXT NOT NULL,
         body  TEXT NOT NULL,
         at    TIMESTAMPTZ NOT NULL DEFAULT now()
     );
     CREATE INDEX outbox_by_topic ON outbox (topic, seq);",
    // 17: the large values written at every handled message or incident version (journaled
    // bodies, checkpoints, incident bodies, their alerts and announcements) compressed with
    // lz4, which costs a fraction of the default pglz; left as they are by a server built
    // without lz4.
    "DO $$
     BEGIN
         EXECUTE 'ALTER TABLE journal ALTER COLUMN body SET COMPRESSION lz4';
         EXECUTE 'ALTER TABLE checkpoints ALTER COLUMN state SET COMPRESSION lz4';
         EXECUTE 'ALTER TABLE incidents ALTER COLUMN body SET COMPRESSION lz4';
         EXECUTE 'ALTER TABLE incident_alerts ALTER COLUMN body SET COMPRESSION lz4';
         EXECUTE 'ALTER TABLE outbox ALTER COLUMN body SET COMPRESSION lz4';
     EXCEPTION WHEN feature_not_supported THEN
         NULL;
     END
     $$;",
];

/// The PostgreSQL store. Cheap to share behind an `Arc`.
pub struct PostgresStore {
    config: postgres::Config,
    /// TLS, when a certificate authority was given.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    schema: Option<String>,
    pool: Mutex<Pool>,
    returned: Condvar,
    /// The epochs of the roles this process owns (see [`PostgresStore::take_role`]).
    epochs: Mutex<std::collections::HashMap<String, i64>>,
    /// See [`PostgresOptions::keep_journal`].
    keep_journal: bool,
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
    idle: Vec<Connection>,
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
        let tls = tls_connector(options).map_err(open_error)?;
        let store = PostgresStore {
            config,
            tls,
            schema: options.schema.clone(),
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
                max: options.connections.max(1),
            }),
            returned: Condvar::new(),
            epochs: Mutex::new(std::collections::HashMap::new()),
            keep_journal: options.keep_journal,
        };
        store.with_client(|connection| migrate(connection))?;
        store.with_client(records::reindex_incidents)?;
        Ok(store)
    }

    /// Runs `job` with a pooled connection, off the async runtime's workers (see [`blocking`]:
    /// the `postgres` crate blocks on a runtime of its own). A pooled
    /// connection found broken (the server restarted since it was last used) is replaced and
    /// the job run again on the new one, as many times as the pool holds connections.
    pub(crate) fn with_client<R: Send>(
        &self,
        job: impl Fn(&mut Connection) -> Result<R, StoreError> + Send + Sync,
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
            let (client, result) = blocking(run);
            let broken = client.is_none();
            self.checkin(client);
            match result {
                Err(StoreError::Postgres(_)) if broken && attempt < attempts => continue,
                result => return result,
            }
        }
    }

    fn checkout(&self) -> Result<Connection, StoreError> {
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
    fn checkin(&self, client: Option<Connection>) {
        let mut pool = lock(&self.pool);
        match client {
            Some(client) => pool.idle.push(client),
            None => pool.open -= 1,
        }
        drop(pool);
        self.returned.notify_one();
    }

    fn open_client(&self) -> Result<Connection, StoreError> {
        let schema = self.schema.clone();
        let connect = move || -> Result<Connection, StoreError> {
            let mut client = self.connect_new()?;
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
            Ok(Connection::new(client))
        };
        blocking(connect)
    }

    /// A new connection, over TLS when the store was given a certificate authority.
    pub(crate) fn connect_new(&self) -> Result<Client, StoreError> {
        connect_with(&self.config, &self.tls)
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
            let entry = append_in(&mut transaction, record, at)?;
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

    /// True when this store's connections are encrypted (as the server sees them).
    pub fn connection_uses_tls(&self) -> Result<bool, StoreError> {
        self.with_client(|client| {
            Ok(client
                .query_one(
                    "SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                    &[],
                )?
                .get(0))
        })
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

/// Connects with `config`, over `tls` when given (blocks: not on an async task's thread).
pub(crate) fn connect_with(
    config: &postgres::Config,
    tls: &Option<tokio_postgres_rustls::MakeRustlsConnect>,
) -> Result<Client, StoreError> {
    Ok(match tls {
        Some(tls) => config.connect(tls.clone())?,
        None => config.connect(NoTls)?,
    })
}

/// The TLS connector `options` ask for (none without a certificate authority).
fn tls_connector(
    options: &PostgresOptions,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let Some(ca_file) = &options.ca_file else {
        if options.client_cert.is_some() {
            return Err("a client certificate needs ca_file to verify the server with".into());
        }
        return Ok(None);
    };
    let certificates = |path: &std::path::Path| -> Result<Vec<CertificateDer<'static>>, String> {
        CertificateDer::pem_file_iter(path)
            .and_then(|items| items.collect::<Result<Vec<_>, _>>())
            .map_err(|error| format!("{}: {error}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates(ca_file)? {
        roots
            .add(certificate)
            .map_err(|error| format!("{}: {error}", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate", ca_file.display()));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots);
    let config = match &options.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|error| format!("{}: {error}", key.display()))?;
            builder
                .with_client_auth_cert(certificates(cert)?, key)
                .map_err(|error| format!("client certificate: {error}"))?
        }
    };
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// True on a thread that drives async tasks, where the `postgres` crate must not block (it
/// panics when it does).
/// Runs `work`, which blocks (the `postgres` crate waits on a runtime of its own), where it may
/// from the caller's thread: on a multi-threaded tokio runtime's worker, in place, the worker
/// handing its other tasks to another thread meanwhile (and leaving the runtime's context, as
/// the crate's runtime needs); on another runtime's, on a thread of its own.
fn blocking<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        Ok(_) => std::thread::scope(|scope| {
            scope
                .spawn(work)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
        Err(_) => work(),
    }
}

fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Text PostgreSQL accepts: NUL has no place in it.
/// Appends to the audit log inside `transaction` (committed with whatever else it holds): the
/// head row is locked, so concurrent writers keep one chain.
pub(crate) fn append_in(
    transaction: &mut postgres::Transaction<'_>,
    record: &AuditRecord,
    at: Timestamp,
) -> Result<AuditEntry, StoreError> {
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
    Ok(entry)
}

pub(crate) fn text(value: &str) -> std::borrow::Cow<'_, str> {
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

mod actions;
pub mod outbox;
mod owner;
pub(crate) mod records;
mod statements;

pub use owner::OwnerLock;
