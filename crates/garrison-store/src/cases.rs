//! How people work incidents: each one's case (status, assignee) and the comments written on
//! it, every change in one transaction with its audit entry.

use crate::actions::{decode, encode};
use crate::audit::AuditRecord;
use crate::postgres::{append_in as append_in_postgres, text};
use crate::records::nanos;
use crate::sqlite::append_in;
use crate::{PostgresStore, SqliteStore, StoreError};
use garrison_model::case::{Case, Comment};
use rusqlite::{OptionalExtension, params};

/// Where cases and comments are kept.
pub trait CaseStore: Send + Sync {
    /// The case of `incident` (none while nobody touched it: open, nobody's).
    fn case(&self, incident: &str) -> Result<Option<Case>, StoreError>;
    /// Writes the case of its incident with its audit entry.
    fn put_case(&self, case: &Case, audit: &AuditRecord) -> Result<(), StoreError>;
    /// Adds a comment with its audit entry.
    fn add_comment(&self, comment: &Comment, audit: &AuditRecord) -> Result<(), StoreError>;
    /// The comments on `incident`, oldest first.
    fn comments(&self, incident: &str) -> Result<Vec<Comment>, StoreError>;
}

const CASE: &str = "a case record";
const COMMENT: &str = "a comment";

impl CaseStore for SqliteStore {
    fn case(&self, incident: &str) -> Result<Option<Case>, StoreError> {
        let body: Option<String> = self
            .connection()
            .query_row(
                "SELECT body FROM cases WHERE incident = ?1",
                [incident],
                |row| row.get(0),
            )
            .optional()?;
        body.map(|body| decode(&body, CASE)).transpose()
    }

    fn put_case(&self, case: &Case, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(case, &case.incident)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        transaction.execute(
            "INSERT INTO cases (incident, status, assignee, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (incident) DO UPDATE SET status = excluded.status,
                 assignee = excluded.assignee, body = excluded.body",
            params![case.incident.0, case.status.as_str(), case.assignee, body],
        )?;
        append_in(&transaction, audit, case.updated)?;
        transaction.commit()?;
        Ok(())
    }

    fn add_comment(&self, comment: &Comment, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(comment, &comment.incident)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        transaction.execute(
            "INSERT INTO comments (incident, at_ns, body) VALUES (?1, ?2, ?3)",
            params![comment.incident.0, nanos(Some(comment.at)), body],
        )?;
        append_in(&transaction, audit, comment.at)?;
        transaction.commit()?;
        Ok(())
    }

    fn comments(&self, incident: &str) -> Result<Vec<Comment>, StoreError> {
        let connection = self.connection();
        let mut statement =
            connection.prepare("SELECT body FROM comments WHERE incident = ?1 ORDER BY seq")?;
        let bodies = statement
            .query_map([incident], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|body| decode(body, COMMENT)).collect()
    }
}

impl CaseStore for PostgresStore {
    fn case(&self, incident: &str) -> Result<Option<Case>, StoreError> {
        self.with_client(|client| {
            client
                .query_opt(
                    "SELECT body FROM cases WHERE incident = $1",
                    &[&text(incident)],
                )?
                .map(|row| decode(row.get(0), CASE))
                .transpose()
        })
    }

    fn put_case(&self, case: &Case, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(case, &case.incident)?;
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "INSERT INTO cases (incident, status, assignee, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (incident) DO UPDATE SET status = excluded.status,
                     assignee = excluded.assignee, body = excluded.body",
                &[
                    &text(&case.incident.0),
                    &case.status.as_str(),
                    &case.assignee.as_deref().map(text),
                    &text(&body),
                ],
            )?;
            append_in_postgres(&mut transaction, audit, case.updated)?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn add_comment(&self, comment: &Comment, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(comment, &comment.incident)?;
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "INSERT INTO comments (incident, at_ns, body) VALUES ($1, $2, $3)",
                &[
                    &text(&comment.incident.0),
                    &nanos(Some(comment.at)),
                    &text(&body),
                ],
            )?;
            append_in_postgres(&mut transaction, audit, comment.at)?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn comments(&self, incident: &str) -> Result<Vec<Comment>, StoreError> {
        self.with_client(|client| {
            client
                .query(
                    "SELECT body FROM comments WHERE incident = $1 ORDER BY seq",
                    &[&text(incident)],
                )?
                .iter()
                .map(|row| decode(row.get(0), COMMENT))
                .collect()
        })
    }
}
