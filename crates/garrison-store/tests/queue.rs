//! The incident queue, the same on both stores: filtered, ordered (escalated, severity,
//! confidence, recency) and paged by the database from the columns kept beside each incident,
//! a newer version replacing an older one's place, and verdicts found by their subject.

mod common;

use garrison_model::feedback::{AnalystVerdict, VerdictRecord, VerdictSubject};
use garrison_model::incident::{Verification, VerificationStatus};
use garrison_model::queue::IncidentQuery;
use garrison_model::{Disposition, Entity, EntityKind, Incident, IncidentId, Level, Timestamp};
use garrison_store::{AuditAction, AuditRecord, IncidentStore, SqliteStore, Store};

fn each_store(test: impl Fn(&dyn Store)) {
    let dir = tempfile::tempdir().unwrap();
    test(&SqliteStore::open(dir.path()).unwrap());
    let postgres = common::postgres_store(&common::fresh_schema("gq"), 4);
    test(&postgres);
    postgres.drop_schema().unwrap();
}

fn incident(n: u32, host: &str, severity: Level, escalated: bool, confidence: f64) -> Incident {
    let last: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    Incident {
        id: IncidentId(format!("inc-{n:02}")),
        version: 1,
        title: format!("Case {n} on {host}"),
        severity,
        confidence,
        disposition: Disposition::Suspicious,
        escalated,
        hypothesis: if n.is_multiple_of(2) {
            "Pass-the-Hash from a workstation".into()
        } else {
            "Password spraying against the IdP".into()
        },
        tactics: vec!["credential-access".into()],
        techniques: Vec::new(),
        entities: match n {
            // A user named whole: CORP\\dana on 2 and 5 (in either case), not CORP\\danab.
            2 => vec![
                Entity::new(EntityKind::Host, host),
                Entity::new(EntityKind::User, "CORP\\dana"),
            ],
            5 => vec![
                Entity::new(EntityKind::Host, host),
                Entity::new(EntityKind::User, "corp\\DANA"),
            ],
            3 => vec![
                Entity::new(EntityKind::Host, host),
                Entity::new(EntityKind::User, "CORP\\danab"),
            ],
            _ => vec![Entity::new(EntityKind::Host, host)],
        },
        alerts: Vec::new(),
        evidence: Vec::new(),
        timeline: Vec::new(),
        process_tree: Vec::new(),
        reasoning: Vec::new(),
        verification: Verification {
            status: VerificationStatus::Verified,
            removed_claims: Vec::new(),
        },
        first_seen: Some(last - jiff::SignedDuration::from_mins(10)),
        last_seen: Some(last + jiff::SignedDuration::from_mins(i64::from(n))),
        superseded_by: None,
    }
}

fn ids(store: &dyn Store, query: &IncidentQuery) -> (Vec<String>, u64) {
    let (page, total) = store.incident_queue(query).unwrap();
    (
        page.into_iter().map(|summary| summary.id.0).collect(),
        total,
    )
}

fn page(limit: u32) -> IncidentQuery {
    IncidentQuery {
        limit,
        ..IncidentQuery::default()
    }
}

#[test]
fn the_queue_is_ordered_filtered_and_paged_by_the_store() {
    each_store(|store| {
        let mut merged = incident(6, "WS1", Level::Critical, true, 0.99);
        merged.superseded_by = Some(IncidentId("inc-01".into()));
        for incident in [
            incident(1, "WS1", Level::High, true, 0.7),
            incident(2, "FS01.corp", Level::Critical, false, 0.9),
            incident(3, "WS1", Level::High, true, 0.9),
            incident(4, "ws1", Level::Low, false, 0.9),
            incident(5, "WS10", Level::High, true, 0.7),
            merged,
        ] {
            assert!(store.put_incident(&incident).unwrap());
        }
        // Escalated first; then severity, confidence, the latest.
        assert_eq!(
            ids(store, &page(50)),
            (
                vec!["inc-03", "inc-05", "inc-01", "inc-02", "inc-04"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                5
            )
        );
        let second = IncidentQuery {
            offset: 2,
            ..page(2)
        };
        assert_eq!(
            ids(store, &second),
            (vec!["inc-01".into(), "inc-02".into()], 5)
        );
        let with_merged = IncidentQuery {
            superseded: true,
            ..page(50)
        };
        assert_eq!(ids(store, &with_merged).0[0], "inc-06");
        // A host whole and case-insensitively: WS10 is not WS1.
        let on_ws1 = IncidentQuery {
            host: Some("Ws1".into()),
            ..page(50)
        };
        assert_eq!(ids(store, &on_ws1).0, ["inc-03", "inc-01", "inc-04"]);
        let of_dana = IncidentQuery {
            user: Some("Corp\\Dana".into()),
            ..page(50)
        };
        assert_eq!(
            ids(store, &of_dana),
            (vec!["inc-05".into(), "inc-02".into()], 2)
        );
        let severe = IncidentQuery {
            min_severity: Some(Level::Critical),
            ..page(50)
        };
        assert_eq!(ids(store, &severe).0, ["inc-02"]);
        let quiet = IncidentQuery {
            escalated: Some(false),
            ..page(50)
        };
        assert_eq!(ids(store, &quiet).0, ["inc-02", "inc-04"]);
        let text = IncidentQuery {
            text: Some("pass-THE-hash".into()),
            ..page(50)
        };
        assert_eq!(ids(store, &text).0, ["inc-02", "inc-04"]);
        let nothing = IncidentQuery {
            text: Some("%".into()),
            ..page(50)
        };
        assert_eq!(
            ids(store, &nothing),
            (Vec::new(), 0),
            "no wildcards in text"
        );

        // A newer version takes the older one's place; an older one changes nothing.
        let mut lowered = incident(3, "WS1", Level::Low, false, 0.2);
        lowered.version = 2;
        assert!(store.put_incident(&lowered).unwrap());
        let mut stale = incident(3, "WS1", Level::Critical, true, 1.0);
        stale.version = 1;
        assert!(!store.put_incident(&stale).unwrap());
        let (summaries, _) = store.incident_queue(&page(50)).unwrap();
        let last = summaries.last().unwrap();
        assert_eq!(
            (last.id.0.as_str(), last.version, last.severity),
            ("inc-03", 2, Level::Low)
        );
        assert_eq!(last.hosts, ["WS1"]);
    });
}

#[test]
fn verdicts_are_found_by_their_subject() {
    each_store(|store| {
        let at: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        for (n, id) in ["inc-01", "inc-02", "inc-01"].into_iter().enumerate() {
            let record = VerdictRecord {
                subject: VerdictSubject::Incident(IncidentId(id.into())),
                verdict: if n == 2 {
                    AnalystVerdict::FalsePositive
                } else {
                    AnalystVerdict::TruePositive
                },
                by: "user:ana".into(),
                at,
                note: None,
                alerts: Vec::new(),
            };
            let audit = AuditRecord {
                actor: "user:ana".into(),
                action: AuditAction::DecisionRecorded,
                subject: id.into(),
                detail: "test".into(),
            };
            store.record_verdict(&record, &audit).unwrap();
        }
        let about = store
            .verdicts_about(&VerdictSubject::Incident(IncidentId("inc-01".into())))
            .unwrap();
        let verdicts: Vec<AnalystVerdict> = about.iter().map(|record| record.verdict).collect();
        assert_eq!(
            verdicts,
            [AnalystVerdict::TruePositive, AnalystVerdict::FalsePositive]
        );
        assert!(
            store
                .verdicts_about(&VerdictSubject::Incident(IncidentId("inc-09".into())))
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn incidents_stored_before_the_queue_existed_are_indexed_on_opening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        for n in 1..=3 {
            store
                .put_incident(&incident(n, "WS1", Level::High, n == 2, 0.5))
                .unwrap();
        }
    }
    // As an older version left them: the queue's columns empty.
    let database =
        rusqlite::Connection::open(dir.path().join(garrison_store::sqlite::DATABASE_FILE)).unwrap();
    database
        .execute(
            "UPDATE incidents SET summary = NULL, escalated = 0, hosts = ''",
            [],
        )
        .unwrap();
    drop(database);
    let store = SqliteStore::open(dir.path()).unwrap();
    let on_ws1 = IncidentQuery {
        host: Some("ws1".into()),
        ..page(50)
    };
    assert_eq!(
        ids(&store, &on_ws1),
        (vec!["inc-02".into(), "inc-03".into(), "inc-01".into()], 3)
    );
}

#[test]
fn cases_and_comments_are_kept_audited_and_filter_the_queue() {
    use garrison_model::case::{Case, CaseStatus, Comment};
    each_store(|store| {
        let at: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        for n in 1..=3 {
            store
                .put_incident(&incident(n, "WS1", Level::High, false, 0.5))
                .unwrap();
        }
        let audit = |detail: &str| AuditRecord {
            actor: "user:ana".into(),
            action: AuditAction::IncidentUpdated,
            subject: "inc-02".into(),
            detail: detail.into(),
        };
        assert_eq!(store.case("inc-02").unwrap(), None);
        let case = Case {
            incident: IncidentId("inc-02".into()),
            status: CaseStatus::Resolved,
            assignee: Some("ana".into()),
            updated_by: "user:ana".into(),
            updated: at,
        };
        store.put_case(&case, &audit("resolved")).unwrap();
        assert_eq!(store.case("inc-02").unwrap(), Some(case.clone()));
        let reassigned = Case {
            assignee: Some("bo".into()),
            ..case
        };
        store.put_case(&reassigned, &audit("to bo")).unwrap();
        assert_eq!(
            store.case("inc-02").unwrap().unwrap().assignee.as_deref(),
            Some("bo")
        );
        for text in ["first", "second"] {
            let comment = Comment {
                incident: IncidentId("inc-02".into()),
                by: "user:ana".into(),
                at,
                text: text.into(),
            };
            store.add_comment(&comment, &audit("comment")).unwrap();
        }
        let texts: Vec<String> = store
            .comments("inc-02")
            .unwrap()
            .into_iter()
            .map(|c| c.text)
            .collect();
        assert_eq!(texts, ["first", "second"]);
        assert!(store.comments("inc-01").unwrap().is_empty());
        let resolved = IncidentQuery {
            status: Some(CaseStatus::Resolved),
            ..page(50)
        };
        let (summaries, total) = store.incident_queue(&resolved).unwrap();
        assert_eq!(total, 1);
        assert_eq!(
            (summaries[0].status, summaries[0].assignee.as_deref()),
            (CaseStatus::Resolved, Some("bo"))
        );
        let open = IncidentQuery {
            status: Some(CaseStatus::Open),
            ..page(50)
        };
        assert_eq!(
            ids(store, &open),
            (vec!["inc-03".into(), "inc-01".into()], 2)
        );
        let bos = IncidentQuery {
            assignee: Some("bo".into()),
            ..page(50)
        };
        assert_eq!(ids(store, &bos).0, ["inc-02"]);
        let audited = store.audit_entries(1, 100).unwrap();
        assert_eq!(audited.len(), 4, "each change with its entry");
    });
}
