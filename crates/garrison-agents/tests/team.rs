//! The whole team on a small intrusion written as stored events: alerts become one incident
//! per story, with a process tree, an ATT&CK chain and claims that all hold; false claims
//! slipped into an incident are all removed by the verifier.

use garrison_agents::messages::TeamMessage;
use garrison_agents::team::{self, TeamConfig, TeamStores};
use garrison_agents::verify::Verify;
use garrison_agents::{Clock, evidence::alert_from_detection};
use garrison_bus::{InProcessBus, Lineage};
use garrison_model::incident::VerificationStatus;
use garrison_model::{Assertion, Claim, EvidenceId, Incident, Level};
use garrison_store::{EvidenceStore, IncidentStore, SqliteStore, StoredEvent};
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::*;

struct Scenario {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    incidents: Vec<Incident>,
}

/// WS01: Word starts cmd, cmd starts powershell (execution), powershell dumps lsass
/// (credential access). DC01, a day later: an unrelated discovery alert. WS01 again, minute 20:
/// a repeat of the powershell alert.
/// Runs the team on `alerts` until it has reported `incidents` incidents and gone idle.
async fn run_team(store: &Arc<SqliteStore>, alerts: Vec<garrison_model::Alert>, incidents: usize) {
    let bus = InProcessBus::new();
    let stores = TeamStores {
        audit: store.clone(),
        evidence: store.clone(),
        incidents: store.clone(),
    };
    let team = team::start(
        bus.clone(),
        stores,
        Arc::new(FixedClock),
        TeamConfig::default(),
    )
    .await
    .unwrap();
    for alert in alerts {
        team.detect
            .publish(
                TeamMessage::AlertRaised {
                    alerts: vec![alert],
                },
                Lineage::start(),
            )
            .await
            .unwrap();
    }
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if bus.is_idle() && team.reported.lock().unwrap().len() == incidents {
            tokio::time::sleep(Duration::from_millis(30)).await;
            if bus.is_idle() {
                break;
            }
        }
    }
    team.runtime.shutdown().await;
    assert!(bus.dead_letters().is_empty());
}

async fn run_scenario() -> Scenario {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let word = process(
        1,
        "WS01",
        0,
        "{W}",
        "{E}",
        "C:\\Office\\WINWORD.EXE",
        "winword.exe doc.docm",
    );
    let cmd = process(
        2,
        "WS01",
        1,
        "{C}",
        "{W}",
        "C:\\Windows\\System32\\cmd.exe",
        "cmd.exe /c powershell -enc AAA",
    );
    let ps = process(
        3,
        "WS01",
        2,
        "{P}",
        "{C}",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "powershell -enc AAA",
    );
    let dump = event(
        4,
        "WS01",
        5,
        10,
        &[
            ("ProcessGuid", "{P}"),
            ("SourceImage", "powershell.exe"),
            ("TargetImage", "C:\\Windows\\System32\\lsass.exe"),
        ],
    );
    let noise = process(
        5,
        "WS01",
        3,
        "{N}",
        "{E}",
        "C:\\Windows\\notepad.exe",
        "notepad.exe",
    );
    let ps_again = process(
        6,
        "WS01",
        20,
        "{P2}",
        "{C}",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "powershell -enc BBB",
    );
    let dc = process(
        7,
        "DC01",
        24 * 60,
        "{D}",
        "{X}",
        "C:\\Windows\\System32\\net.exe",
        "net group \"domain admins\" /domain",
    );
    let events = vec![word, cmd, ps, dump, noise, ps_again, dc];
    store.put_events(&events).unwrap();
    let alerts = vec![
        alert_from_detection(
            &detection(
                "office-child",
                Level::High,
                &["attack.execution", "attack.t1204.002"],
                &events[1],
            ),
            &events[1],
        ),
        alert_from_detection(
            &detection(
                "encoded-ps",
                Level::Medium,
                &["attack.execution", "attack.t1059.001"],
                &events[2],
            ),
            &events[2],
        ),
        alert_from_detection(
            &detection(
                "lsass-access",
                Level::High,
                &["attack.credential-access", "attack.t1003.001"],
                &events[3],
            ),
            &events[3],
        ),
        alert_from_detection(
            &detection(
                "encoded-ps",
                Level::Medium,
                &["attack.execution", "attack.t1059.001"],
                &events[5],
            ),
            &events[5],
        ),
        alert_from_detection(
            &detection(
                "net-group",
                Level::Low,
                &["attack.discovery", "attack.t1069.002"],
                &events[6],
            ),
            &events[6],
        ),
        alert_from_detection(
            &detection("informational", Level::Informational, &[], &events[4]),
            &events[4],
        ),
    ];
    run_team(&store, alerts, 2).await;
    let mut incidents = store.incidents().unwrap();
    incidents.sort_by_key(|incident| incident.first_seen);
    Scenario {
        _dir: dir,
        store,
        incidents,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intrusion_becomes_one_grounded_incident_per_story() {
    let scenario = run_scenario().await;
    let incidents = &scenario.incidents;
    assert_eq!(
        incidents.len(),
        2,
        "{:#?}",
        incidents.iter().map(|i| &i.title).collect::<Vec<_>>()
    );
    let ws01 = &incidents[0];
    assert_eq!(
        ws01.alerts.len(),
        4,
        "the repeat joins, the informational alert is closed"
    );
    assert_eq!(ws01.tactics, ["execution", "credential-access"]);
    assert_eq!(ws01.techniques, ["T1003.001", "T1059.001", "T1204.002"]);
    assert_eq!(ws01.severity, Level::High);
    assert_eq!(ws01.verification.status, VerificationStatus::Verified);
    assert!(ws01.escalated);
    assert!(
        ws01.title
            .starts_with("Execution, credential access on WS01"),
        "{}",
        ws01.title
    );
    // The process tree: Word -> cmd -> powershell (both runs), not notepad.
    assert_eq!(ws01.process_tree.len(), 1);
    let root = &ws01.process_tree[0];
    assert!(root.image.ends_with("WINWORD.EXE"));
    assert_eq!(root.children.len(), 1);
    assert_eq!(root.children[0].children.len(), 2);
    assert!(
        !serde_json::to_string(&ws01.process_tree)
            .unwrap()
            .contains("notepad")
    );
    // The chain: execution came before credential access.
    assert!(
        ws01.reasoning
            .iter()
            .any(|claim| matches!(claim.assertion, Assertion::Precedes { .. }))
    );
    assert!(
        ws01.reasoning
            .iter()
            .any(|claim| claim.claim.contains("WINWORD.EXE started"))
    );
    // Grounding: every claim cites evidence listed in the incident, and it exists.
    for incident in incidents {
        let listed: Vec<EvidenceId> = incident.evidence.iter().map(|item| item.id).collect();
        for claim in &incident.reasoning {
            assert!(!claim.evidence.is_empty());
            for id in &claim.evidence {
                assert!(listed.contains(id), "{} cites {id}", claim.claim);
                assert!(scenario.store.event(*id).unwrap().is_some());
            }
        }
    }
    let dc01 = &incidents[1];
    assert_eq!(dc01.tactics, ["discovery"]);
    assert_eq!(dc01.alerts.len(), 1);
    assert!(
        !dc01.escalated,
        "a low alert alone is not put in front of a human"
    );
    // The audit trail: the closed alert, and each incident opened, in an intact chain.
    let audit = scenario.store.audit_entries(1, 100).unwrap();
    let actions: Vec<&str> = audit.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "decision_recorded")
            .count(),
        1
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "incident_opened").count(),
        2
    );
    assert_eq!(scenario.store.verify_audit(None).unwrap().violation, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_removes_every_injected_false_claim() {
    let scenario = run_scenario().await;
    let incident = scenario.incidents[0].clone();
    let genuine = incident.reasoning.len();
    let ids: Vec<EvidenceId> = incident.evidence.iter().map(|item| item.id).collect();
    let (first, second) = (incident.timeline[0].evidence, incident.timeline[2].evidence);
    let outside = scenario.incidents[1].alerts[0].evidence;
    let lies = vec![
        Claim {
            claim: "the command line was benign".into(),
            evidence: vec![first],
            assertion: Assertion::FieldEquals {
                evidence: first,
                field: "CommandLine".into(),
                value: "notepad.exe".into(),
            },
        },
        Claim {
            claim: "credential access came first".into(),
            evidence: vec![second, first],
            assertion: Assertion::Precedes {
                earlier: second,
                later: first,
            },
        },
        Claim {
            claim: "a rule that never fired matched".into(),
            evidence: vec![first],
            assertion: Assertion::RuleMatched {
                rule_id: "made-up".into(),
                evidence: first,
            },
        },
        Claim {
            claim: "it all happened on DC01".into(),
            evidence: ids.clone(),
            assertion: Assertion::OnHost {
                evidence: ids.clone(),
                host: "DC01".into(),
            },
        },
        Claim {
            claim: "powershell started Word".into(),
            evidence: vec![ids[0], ids[1]],
            assertion: Assertion::SpawnedBy {
                child: ids[0],
                parent: ids[1],
            },
        },
        Claim {
            claim: "a record nobody stored".into(),
            evidence: vec![EvidenceId(7)],
            assertion: Assertion::RuleMatched {
                rule_id: "office-child".into(),
                evidence: EvidenceId(7),
            },
        },
        Claim {
            claim: "evidence from another incident".into(),
            evidence: vec![outside],
            assertion: Assertion::RuleMatched {
                rule_id: "net-group".into(),
                evidence: outside,
            },
        },
        Claim {
            claim: "cites one record, relies on another".into(),
            evidence: vec![first],
            assertion: Assertion::FieldEquals {
                evidence: second,
                field: "Image".into(),
                value: "x".into(),
            },
        },
    ];
    let injected = lies.len();
    let mut tampered = incident.clone();
    tampered.reasoning.extend(lies);
    let verifier = Verify::new(scenario.store.clone(), scenario.store.clone());
    let checked = verifier.verify(tampered).unwrap();
    assert_eq!(
        checked.reasoning.len(),
        genuine,
        "every genuine claim stays"
    );
    assert_eq!(checked.reasoning, incident.reasoning);
    assert_eq!(checked.verification.removed_claims.len(), injected);
    assert_eq!(checked.verification.status, VerificationStatus::Amended);
    assert!(checked.escalated);
    assert!(checked.confidence < incident.confidence);
    let reasons: Vec<&str> = checked
        .verification
        .removed_claims
        .iter()
        .map(|r| r.reason.as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("is after")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not among the incident's evidence")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("was not written on DC01")),
        "{reasons:?}"
    );
    // The untouched incident verifies as it is.
    let again = verifier.verify(incident.clone()).unwrap();
    assert_eq!(again.reasoning, incident.reasoning);
    assert!(again.verification.removed_claims.is_empty());
    let _ = scenario.store.incidents();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_in_a_session_that_came_in_over_the_network_are_lateral_movement() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut logon = event(
        1,
        "SRV01",
        0,
        4624,
        &[
            ("TargetUserName", "bob"),
            ("TargetDomainName", "CORP"),
            ("TargetLogonId", "0x5f5e1"),
            ("LogonType", "3"),
            ("IpAddress", "10.0.0.9"),
        ],
    );
    logon.channel = Some("Security".into());
    logon.session_key = garrison_agents::evidence::session_key(&logon);
    let mut task = process(
        2,
        "SRV01",
        1,
        "{T}",
        "{S}",
        "C:\\Windows\\System32\\schtasks.exe",
        "schtasks /create /tn x /tr c:\\x.exe",
    );
    task.fields.push(("LogonId".into(), "0x5F5E1".into()));
    task.session_key = garrison_agents::evidence::session_key(&task);
    assert_eq!(task.session_key, logon.session_key);
    store.put_events(&[logon.clone(), task.clone()]).unwrap();
    let alert = alert_from_detection(
        &detection(
            "remote-task",
            Level::High,
            &["attack.persistence", "attack.t1053.005"],
            &task,
        ),
        &task,
    );
    run_team(&store, vec![alert], 1).await;
    let incident = store.incidents().unwrap().remove(0);
    assert!(
        incident.tactics.contains(&"lateral-movement".to_string()),
        "{:?}",
        incident.tactics
    );
    assert!(
        incident.evidence.iter().any(|item| item.id == logon.id),
        "the logon is cited"
    );
    let session: Vec<&Claim> = incident
        .reasoning
        .iter()
        .filter(|claim| claim.evidence == vec![logon.id])
        .collect();
    assert_eq!(session.len(), 2, "{:#?}", incident.reasoning);
    assert!(session[0].claim.contains("network logon of bob"));
    assert!(session[1].claim.contains("10.0.0.9"));
    assert_eq!(incident.verification.status, VerificationStatus::Verified);
}

mod triage {
    use super::*;
    use garrison_agents::messages::Verdict;
    use garrison_agents::triage::{Inventory, Triage, TriageConfig};
    use garrison_agents::{Agent, Context};
    use garrison_bus::{AgentId, CorrelationId, Envelope, EnvelopeId};

    fn envelope(alert: garrison_model::Alert) -> Envelope<TeamMessage> {
        Envelope {
            id: EnvelopeId::new(),
            schema_version: <TeamMessage as garrison_bus::Message>::SCHEMA_VERSION,
            sender: AgentId::new("detect", "1"),
            causation_id: None,
            correlation_id: CorrelationId::new(),
            timestamp: FixedClock.now(),
            payload: TeamMessage::AlertRaised {
                alerts: vec![alert],
            },
        }
    }

    async fn decide(
        triage: &mut Triage,
        alert: garrison_model::Alert,
    ) -> Option<(Verdict, u32, Option<String>)> {
        let context = Context {
            agent: AgentId::new("triage", "1"),
            attempt: 1,
            clock: Arc::new(FixedClock),
            backlog: 0,
            replaying: false,
        };
        let out = triage.handle(&envelope(alert), &context).await.unwrap();
        out.into_iter().next().map(|message| match message {
            TeamMessage::AlertTriaged { mut triaged } => {
                assert_eq!(triaged.len(), 1);
                let decision = triaged.remove(0).decision;
                (
                    decision.verdict,
                    decision.score,
                    decision.duplicate_of.map(|id| id.0),
                )
            }
            other => panic!("unexpected {other:?}"),
        })
    }

    #[tokio::test]
    async fn scores_group_repeats_and_honour_the_allowlist_and_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let inventory = Inventory::from_json(
            r#"{"version": 1,
                "hosts": [{"name": "DC01", "criticality": "critical"}],
                "allowlist": [{"rule_id": "backup-tool", "host": "WS01", "reason": "nightly backup"}]}"#,
        )
        .unwrap();
        let mut triage = Triage::new(
            TriageConfig {
                inventory,
                ..Default::default()
            },
            store.clone(),
        );
        let ws = process(1, "WS01", 0, "{A}", "{B}", "a.exe", "a");
        let ws_later = process(2, "WS01", 5, "{A2}", "{B}", "a.exe", "a");
        let ws_much_later = process(3, "WS01", 60, "{A3}", "{B}", "a.exe", "a");
        let dc = process(4, "DC01", 0, "{D}", "{B}", "a.exe", "a");
        let alert = |rule: &str, level, event: &StoredEvent| {
            alert_from_detection(&detection(rule, level, &[], event), event)
        };
        let (verdict, score, duplicate) = decide(&mut triage, alert("susp", Level::Medium, &ws))
            .await
            .unwrap();
        assert_eq!(
            (verdict, score, duplicate),
            (Verdict::Investigate, 50, None)
        );
        let repeat = decide(&mut triage, alert("susp", Level::Medium, &ws_later))
            .await
            .unwrap();
        assert_eq!(repeat.0, Verdict::Investigate);
        assert!(repeat.2.is_some(), "within the window: a repeat");
        let later = decide(&mut triage, alert("susp", Level::Medium, &ws_much_later))
            .await
            .unwrap();
        assert_eq!(later.2, None, "past the window: a new group");
        let on_dc = decide(&mut triage, alert("susp", Level::Medium, &dc))
            .await
            .unwrap();
        assert_eq!(on_dc.1, 45 + 15, "critical host, rule no longer new");
        assert_eq!(
            decide(&mut triage, alert("backup-tool", Level::High, &ws)).await,
            None
        );
        assert_eq!(
            decide(&mut triage, alert("chatty", Level::Informational, &ws)).await,
            None
        );
        let low = decide(&mut triage, alert("weak", Level::Low, &ws))
            .await
            .unwrap();
        assert_eq!((low.0, low.1), (Verdict::Enrich, 25));
        let audit = store.audit_entries(1, 10).unwrap();
        assert_eq!(audit.len(), 2, "both dismissals are audited");
        assert!(audit[0].detail.contains("allowlisted: nightly backup"));
    }

    /// An audit log that refuses its first write.
    struct FailsOnce {
        inner: Arc<SqliteStore>,
        failed: std::sync::atomic::AtomicBool,
    }

    impl garrison_store::AuditLog for FailsOnce {
        fn append(
            &self,
            record: &garrison_store::AuditRecord,
            at: jiff::Timestamp,
        ) -> Result<garrison_store::AuditEntry, garrison_store::StoreError> {
            if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err(garrison_store::StoreError::Corrupt {
                    what: "disk full".into(),
                });
            }
            self.inner.append(record, at)
        }
    }

    #[tokio::test]
    async fn a_batch_retried_after_a_failure_keeps_the_decisions_already_taken() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let audit = Arc::new(FailsOnce {
            inner: store.clone(),
            failed: Default::default(),
        });
        let mut triage = Triage::new(TriageConfig::default(), audit);
        let ws = process(1, "WS01", 0, "{A}", "{B}", "a.exe", "a");
        let alert = |rule: &str, level, event: &StoredEvent| {
            alert_from_detection(&detection(rule, level, &[], event), event)
        };
        // The first alert is decided; closing the second fails to be audited.
        let mut batch = envelope(alert("susp", Level::Medium, &ws));
        let TeamMessage::AlertRaised { alerts } = &mut batch.payload else {
            unreachable!()
        };
        alerts.push(alert("chatty", Level::Informational, &ws));
        let context = Context {
            agent: AgentId::new("triage", "1"),
            attempt: 1,
            clock: Arc::new(FixedClock),
            backlog: 0,
            replaying: false,
        };
        assert!(triage.handle(&batch, &context).await.is_err());
        // Redelivered: the first alert is not a repeat of itself, the dismissal is audited once.
        let out = triage.handle(&batch, &context).await.unwrap();
        let [TeamMessage::AlertTriaged { triaged }] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(triaged.len(), 1);
        assert_eq!(triaged[0].decision.duplicate_of, None, "{triaged:?}");
        assert_eq!(triaged[0].decision.verdict, Verdict::Investigate);
        assert_eq!(store.audit_entries(1, 10).unwrap().len(), 1);
    }
}
