//! Users and API tokens, the same on both stores (the embedded SQLite store and the real
//! PostgreSQL, in a schema of its own): each change is audited in the same transaction, a
//! name is taken once, a revoked token stays revoked.

mod common;

use garrison_model::Timestamp;
use garrison_model::access::Role;
use garrison_store::{AuditAction, AuditRecord, SqliteStore, Store, TokenRecord, UserRecord};

fn each_store(test: impl Fn(&dyn Store)) {
    let dir = tempfile::tempdir().unwrap();
    test(&SqliteStore::open(dir.path()).unwrap());
    let postgres = common::postgres_store(&common::fresh_schema("gu"), 4);
    test(&postgres);
    postgres.drop_schema().unwrap();
}

fn audit(subject: &str) -> AuditRecord {
    AuditRecord {
        actor: "user:root".into(),
        action: AuditAction::AccessChanged,
        subject: subject.into(),
        detail: "test".into(),
    }
}

#[test]
fn users_and_tokens_are_kept_audited_and_revoked_once() {
    each_store(|store| {
        let at: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let ana = UserRecord {
            name: "ana".into(),
            role: Role::Responder,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created: at,
            disabled: false,
        };
        assert!(store.add_user(&ana, &audit("user:ana")).unwrap());
        let again = UserRecord {
            role: Role::Admin,
            ..ana.clone()
        };
        assert!(
            !store.add_user(&again, &audit("user:ana")).unwrap(),
            "a name is taken once"
        );
        assert_eq!(store.user("ana").unwrap(), Some(ana.clone()));
        assert_eq!(store.user("bob").unwrap(), None);
        assert!(
            !format!("{ana:?}").contains("argon2id"),
            "Debug hides the hash"
        );
        let token = |id: &str| TokenRecord {
            id: id.into(),
            user: "ana".into(),
            role: Role::Analyst,
            digest: "ab".repeat(32),
            label: Some("SOAR".into()),
            created: at,
            revoked: None,
            expires: None,
        };
        store
            .add_token(&token("0123456789abcdef"), &audit("token"))
            .unwrap();
        store
            .add_token(&token("fedcba9876543210"), &audit("token"))
            .unwrap();
        let later = at + jiff::SignedDuration::from_mins(5);
        assert!(
            store
                .revoke_token("0123456789abcdef", later, &audit("token"))
                .unwrap()
        );
        assert!(
            !store
                .revoke_token("0123456789abcdef", later, &audit("token"))
                .unwrap(),
            "revoked once"
        );
        assert!(
            !store
                .revoke_token("nonesuch", later, &audit("token"))
                .unwrap()
        );
        let tokens = store.tokens().unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].revoked, Some(later));
        assert_eq!(tokens[1], token("fedcba9876543210"));
        assert_eq!(
            store.token("fedcba9876543210").unwrap(),
            Some(token("fedcba9876543210"))
        );
        // One audit entry per change that happened: a user, two tokens, one revocation.
        assert_eq!(store.audit_head().unwrap().unwrap().seq, 4);
        let report = store.verify_audit(None).unwrap();
        assert_eq!((report.checked, report.violation), (4, None));
    });
}
