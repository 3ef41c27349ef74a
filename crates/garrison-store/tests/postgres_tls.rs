//! The PostgreSQL store over TLS against the local server (Debian's PostgreSQL serves TLS with
//! its "snakeoil" certificate for `localhost`): the server is verified against the authority
//! given, and a server the authority did not sign is refused.

mod common;

use garrison_store::{EvidenceStore, PostgresOptions, PostgresStore};

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

fn options(ca_file: std::path::PathBuf) -> PostgresOptions {
    PostgresOptions {
        schema: Some(common::fresh_schema("gt_tls")),
        ca_file: Some(ca_file),
        ..PostgresOptions::new("host=localhost user=postgres dbname=test sslmode=require")
    }
}

#[test]
fn connections_are_encrypted_and_the_server_is_verified() {
    let store = PostgresStore::connect(&options(SNAKEOIL.into()))
        .expect("the local PostgreSQL serves TLS with the snakeoil certificate");
    assert_eq!(store.event_count().unwrap(), 0);
    assert!(store.connection_uses_tls().unwrap(), "pg_stat_ssl says so");
    store.drop_schema().unwrap();

    // An authority that did not sign the server's certificate: refused, nothing sent in clear.
    let dir = tempfile::tempdir().unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let pem = dir.path().join("stranger.pem");
    std::fs::write(&pem, stranger.cert.pem()).unwrap();
    let refused = PostgresStore::connect(&options(pem))
        .unwrap_err()
        .to_string();
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");
}
