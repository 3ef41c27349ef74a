//! People and tools allowed in: local users (their password as an Argon2id hash, never the
//! password) and API tokens (a digest of the secret, never the secret), each change written in
//! one transaction with its audit entry.

use crate::actions::{decode, encode};
use crate::audit::AuditRecord;
use crate::postgres::{append_in as append_in_postgres, text};
use crate::sqlite::append_in;
use crate::{PostgresStore, SqliteStore, StoreError};
use garrison_model::Timestamp;
use garrison_model::access::Role;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A local user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    pub role: Role,
    /// The password's hash in the PHC string format (`$argon2id$...`).
    pub password_hash: String,
    pub created: Timestamp,
    pub disabled: bool,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"<hidden>")
            .field("created", &self.created)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// An API token: what it may do (at most its user's role) and the digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public part of the token, also in the token's text.
    pub id: String,
    pub user: String,
    pub role: Role,
    /// SHA-256 of the secret, hex.
    pub digest: String,
    pub label: Option<String>,
    pub created: Timestamp,
    pub revoked: Option<Timestamp>,
    /// When it stops being accepted (never, when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
}

/// Where users and API tokens are kept.
pub trait AccessStore: Send + Sync {
    /// Adds a user with its audit entry; false (nothing written) when the name is taken.
    fn add_user(&self, user: &UserRecord, audit: &AuditRecord) -> Result<bool, StoreError>;
    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Rewrites an existing user (its role, its state) with its audit entry; false when there
    /// is no such user.
    fn put_user(&self, user: &UserRecord, audit: &AuditRecord) -> Result<bool, StoreError>;
    /// Every user, by name.
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Adds a token with its audit entry.
    fn add_token(&self, token: &TokenRecord, audit: &AuditRecord) -> Result<(), StoreError>;
    fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Every token, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes a token with its audit entry; false when there is no such token in force.
    fn revoke_token(
        &self,
        id: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError>;
}

const USER: &str = "a user record";
const TOKEN: &str = "a token record";

impl AccessStore for SqliteStore {
    fn add_user(&self, user: &UserRecord, audit: &AuditRecord) -> Result<bool, StoreError> {
        let body = encode(user, &user.name)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let added = transaction.execute(
            "INSERT INTO users (name, body) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![user.name, body],
        )?;
        if added == 0 {
            return Ok(false);
        }
        append_in(&transaction, audit, user.created)?;
        transaction.commit()?;
        Ok(true)
    }

    fn put_user(&self, user: &UserRecord, audit: &AuditRecord) -> Result<bool, StoreError> {
        let body = encode(user, &user.name)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let changed = transaction.execute(
            "UPDATE users SET body = ?2 WHERE name = ?1",
            params![user.name, body],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        append_in(&transaction, audit, jiff::Timestamp::now())?;
        transaction.commit()?;
        Ok(true)
    }

    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        body_of(self, "SELECT body FROM users WHERE name = ?1", name)?
            .map(|body| decode(&body, USER))
            .transpose()
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        bodies(self, "SELECT body FROM users ORDER BY name")?
            .iter()
            .map(|body| decode(body, USER))
            .collect()
    }

    fn add_token(&self, token: &TokenRecord, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(token, &token.id)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        transaction.execute(
            "INSERT INTO tokens (id, body) VALUES (?1, ?2)",
            params![token.id, body],
        )?;
        append_in(&transaction, audit, token.created)?;
        transaction.commit()?;
        Ok(())
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        body_of(self, "SELECT body FROM tokens WHERE id = ?1", id)?
            .map(|body| decode(&body, TOKEN))
            .transpose()
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        bodies(self, "SELECT body FROM tokens ORDER BY seq")?
            .iter()
            .map(|body| decode(body, TOKEN))
            .collect()
    }

    fn revoke_token(
        &self,
        id: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let body: Option<String> = transaction
            .query_row("SELECT body FROM tokens WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?;
        let Some(revoked) = revoked(body.as_deref(), at)? else {
            return Ok(false);
        };
        transaction.execute(
            "UPDATE tokens SET body = ?2 WHERE id = ?1",
            params![id, encode(&revoked, id)?],
        )?;
        append_in(&transaction, audit, at)?;
        transaction.commit()?;
        Ok(true)
    }
}

/// The body of the row `sql` selects by `key`.
fn body_of(store: &SqliteStore, sql: &str, key: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .connection()
        .query_row(sql, [key], |row| row.get(0))
        .optional()?)
}

/// The bodies of the rows `sql` selects, in its order.
fn bodies(store: &SqliteStore, sql: &str) -> Result<Vec<String>, StoreError> {
    let connection = store.connection();
    let mut statement = connection.prepare(sql)?;
    let bodies = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(bodies)
}

/// The token in `body` revoked at `at`, unless there is none or it was revoked already.
fn revoked(body: Option<&str>, at: Timestamp) -> Result<Option<TokenRecord>, StoreError> {
    let Some(body) = body else {
        return Ok(None);
    };
    let mut token: TokenRecord = decode(body, TOKEN)?;
    if token.revoked.is_some() {
        return Ok(None);
    }
    token.revoked = Some(at);
    Ok(Some(token))
}

impl AccessStore for PostgresStore {
    fn add_user(&self, user: &UserRecord, audit: &AuditRecord) -> Result<bool, StoreError> {
        let body = encode(user, &user.name)?;
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            let added = transaction.execute(
                "INSERT INTO users (name, body) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&text(&user.name), &text(&body)],
            )?;
            if added == 0 {
                return Ok(false);
            }
            append_in_postgres(&mut transaction, audit, user.created)?;
            transaction.commit()?;
            Ok(true)
        })
    }

    fn put_user(&self, user: &UserRecord, audit: &AuditRecord) -> Result<bool, StoreError> {
        let body = encode(user, &user.name)?;
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            let changed = transaction.execute(
                "UPDATE users SET body = $2 WHERE name = $1",
                &[&text(&user.name), &text(&body)],
            )?;
            if changed == 0 {
                return Ok(false);
            }
            append_in_postgres(&mut transaction, audit, jiff::Timestamp::now())?;
            transaction.commit()?;
            Ok(true)
        })
    }

    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query_opt("SELECT body FROM users WHERE name = $1", &[&text(name)])?
                .map(|row| decode(row.get(0), USER))
                .transpose()
        })
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query("SELECT body FROM users ORDER BY name", &[])?
                .iter()
                .map(|row| decode(row.get(0), USER))
                .collect()
        })
    }

    fn add_token(&self, token: &TokenRecord, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(token, &token.id)?;
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "INSERT INTO tokens (id, body) VALUES ($1, $2)",
                &[&text(&token.id), &text(&body)],
            )?;
            append_in_postgres(&mut transaction, audit, token.created)?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query_opt("SELECT body FROM tokens WHERE id = $1", &[&text(id)])?
                .map(|row| decode(row.get(0), TOKEN))
                .transpose()
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.with_client(|client| {
            client
                .query("SELECT body FROM tokens ORDER BY seq", &[])?
                .iter()
                .map(|row| decode(row.get(0), TOKEN))
                .collect()
        })
    }

    fn revoke_token(
        &self,
        id: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            let body: Option<String> = transaction
                .query_opt(
                    "SELECT body FROM tokens WHERE id = $1 FOR UPDATE",
                    &[&text(id)],
                )?
                .map(|row| row.get(0));
            let Some(revoked) = revoked(body.as_deref(), at)? else {
                return Ok(false);
            };
            transaction.execute(
                "UPDATE tokens SET body = $2 WHERE id = $1",
                &[&text(id), &text(&encode(&revoked, id)?)],
            )?;
            append_in_postgres(&mut transaction, audit, at)?;
            transaction.commit()?;
            Ok(true)
        })
    }
}
