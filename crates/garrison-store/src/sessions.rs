//! People signed in to the console: a session per sign-in, kept by the SHA-256 digest of the
//! secret its cookie holds (never the secret), with the token its forms must carry (CSRF) and
//! when it ends. Starting and ending one is audited in the same transaction; sessions past
//! their end are deleted when a new one starts.

use crate::actions::{decode, encode};
use crate::audit::AuditRecord;
use crate::postgres::{append_in as append_in_postgres, text};
use crate::records::nanos;
use crate::sqlite::append_in;
use crate::{PostgresStore, SqliteStore, StoreError};
use garrison_model::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A console session.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// SHA-256 of the cookie's secret, hex.
    pub digest: String,
    pub user: String,
    pub created: Timestamp,
    /// When it stops being accepted, whatever happens.
    pub expires: Timestamp,
    /// What every form of the session carries, and every change it asks for must.
    pub csrf: String,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("user", &self.user)
            .field("created", &self.created)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Where console sessions are kept.
pub trait SessionStore: Send + Sync {
    /// Starts a session with its audit entry (and forgets sessions that ended).
    fn add_session(&self, session: &SessionRecord, audit: &AuditRecord) -> Result<(), StoreError>;
    /// The session whose secret has this digest, ended or not.
    fn session(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Ends a session with its audit entry; false (nothing written) when there is none.
    fn end_session(
        &self,
        digest: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError>;
}

const SESSION: &str = "a session record";

fn stamp(at: Timestamp) -> Option<i64> {
    nanos(Some(at))
}

impl SessionStore for SqliteStore {
    fn add_session(&self, session: &SessionRecord, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(session, &session.user)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        transaction.execute(
            "DELETE FROM sessions WHERE expires_ns <= ?1",
            [stamp(session.created)],
        )?;
        transaction.execute(
            "INSERT INTO sessions (digest, expires_ns, body) VALUES (?1, ?2, ?3)",
            params![session.digest, stamp(session.expires), body],
        )?;
        append_in(&transaction, audit, session.created)?;
        transaction.commit()?;
        Ok(())
    }

    fn session(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError> {
        let body: Option<String> = self
            .connection()
            .query_row(
                "SELECT body FROM sessions WHERE digest = ?1",
                [digest],
                |row| row.get(0),
            )
            .optional()?;
        body.map(|body| decode(&body, SESSION)).transpose()
    }

    fn end_session(
        &self,
        digest: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        if transaction.execute("DELETE FROM sessions WHERE digest = ?1", [digest])? == 0 {
            return Ok(false);
        }
        append_in(&transaction, audit, at)?;
        transaction.commit()?;
        Ok(true)
    }
}

impl SessionStore for PostgresStore {
    fn add_session(&self, session: &SessionRecord, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(session, &session.user)?;
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "DELETE FROM sessions WHERE expires_ns <= $1",
                &[&stamp(session.created)],
            )?;
            transaction.execute(
                "INSERT INTO sessions (digest, expires_ns, body) VALUES ($1, $2, $3)",
                &[&session.digest, &stamp(session.expires), &text(&body)],
            )?;
            append_in_postgres(&mut transaction, audit, session.created)?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn session(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query_opt("SELECT body FROM sessions WHERE digest = $1", &[&digest])?
                .map(|row| decode(row.get(0), SESSION))
                .transpose()
        })
    }

    fn end_session(
        &self,
        digest: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            if transaction.execute("DELETE FROM sessions WHERE digest = $1", &[&digest])? == 0 {
                return Ok(false);
            }
            append_in_postgres(&mut transaction, audit, at)?;
            transaction.commit()?;
            Ok(true)
        })
    }
}
