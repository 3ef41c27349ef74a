//! The PostgreSQL the store tests use: `GARRISON_POSTGRES_URL`, default the local `test`
//! database (`.ci/run` starts the server when it is not running).

#![allow(dead_code)]

use garrison_store::{PostgresOptions, PostgresStore};

pub fn postgres_url() -> String {
    std::env::var("GARRISON_POSTGRES_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

/// A schema name no other test uses.
pub fn fresh_schema(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{nanos:x}_{}", std::process::id())
}

/// A store on `schema` (created when missing) with at most `connections` connections.
pub fn postgres_store(schema: &str, connections: usize) -> PostgresStore {
    PostgresStore::connect(&PostgresOptions {
        schema: Some(schema.into()),
        connections,
        ..PostgresOptions::new(postgres_url())
    })
    .expect("PostgreSQL runs (see .ci/run)")
}
