//! What the API's tests share: a real SQLite store holding users of every role, tokens in
//! every condition, incidents, evidence and an action awaiting approval, and a router over it
//! called without a socket.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use garrison_agents::feedback::{LivePrecision, Precision};
use garrison_agents::respond::Responder;
use garrison_agents::triage::Inventory;
use garrison_model::RuleInfo;
use garrison_model::access::Role;
use garrison_model::detection::RuleKind;
use garrison_model::feedback::{AnalystVerdict, RulePattern, VerdictRecord, VerdictSubject};
use garrison_model::incident::{AlertSummary, Verification, VerificationStatus};
use garrison_model::{
    AlertId, Disposition, Entity, EntityKind, EvidenceId, EvidenceRef, Incident, IncidentId, Level,
    Timestamp,
};
use garrison_server::api::{Console, router};
use garrison_server::auth::{hash_password, issue_token};
use garrison_server::rules::{LoadedRule, RuleBook, Unloadable};
use garrison_store::{
    AccessStore, ActionStore, AuditAction, AuditRecord, EvidenceStore, IncidentStore, SqliteStore,
    StoredEvent, TokenRecord, UserRecord,
};
use http_body_util::BodyExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

/// A connector that carries out every kind of action, doing nothing.
struct Accepting;

impl garrison_response::Connector for Accepting {
    fn name(&self) -> &str {
        "accepting"
    }
    fn kinds(&self) -> &[garrison_model::action::ActionKind] {
        &garrison_model::action::ActionKind::ALL
    }
    fn honors_idempotency_key(&self) -> bool {
        true
    }
    fn call<'a>(
        &'a self,
        _call: &'a garrison_response::Call,
    ) -> garrison_response::connector::CallFuture<'a> {
        Box::pin(async { Ok("done".to_string()) })
    }
}

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub router: Router,
    pub console: Arc<Console>,
    /// Valid tokens by role name, and the spoilt ones: `forged`, `unknown`, `revoked`,
    /// `expired`, `disabled` (its user is), `capped` (an admin token of an analyst).
    pub tokens: BTreeMap<&'static str, String>,
    /// A token only the admin's revocation test uses.
    pub spare_token_id: String,
    pub escalated: IncidentId,
    pub quiet: IncidentId,
    pub merged: IncidentId,
    pub evidence: EvidenceId,
    /// An action awaiting approval, and another.
    pub awaiting: Vec<String>,
}

fn audit(subject: &str) -> AuditRecord {
    AuditRecord {
        actor: "test".into(),
        action: AuditAction::AccessChanged,
        subject: subject.into(),
        detail: "fixture".into(),
    }
}

fn add_user(store: &SqliteStore, name: &str, role: Role, disabled: bool, hash: &str) {
    let user = UserRecord {
        name: name.into(),
        role,
        password_hash: hash.into(),
        created: Timestamp::now(),
        disabled,
    };
    assert!(store.add_user(&user, &audit(name)).unwrap());
}

fn add_token(
    store: &SqliteStore,
    user: &str,
    role: Role,
    expires: Option<Timestamp>,
) -> (String, String) {
    let issued = issue_token().unwrap();
    let token = TokenRecord {
        id: issued.id.clone(),
        user: user.into(),
        role,
        digest: issued.digest.clone(),
        label: None,
        created: Timestamp::now(),
        revoked: None,
        expires,
    };
    store
        .add_token(&token, &audit(&format!("token:{}", issued.id)))
        .unwrap();
    (issued.id, issued.text)
}

pub fn stored_event(path: &str, host: &str) -> StoredEvent {
    let source = EvidenceRef {
        path: Arc::from(path),
        member: None,
        record_id: 7,
        offset: 1024,
    };
    StoredEvent {
        id: EvidenceId::of(&source),
        timestamp: Some("2026-11-20T10:00:00Z".parse().unwrap()),
        host: Some(host.into()),
        user: Some("CORP\\dana".into()),
        channel: Some("Security".into()),
        event_id: Some(4688),
        source,
        fields: vec![
            (
                "NewProcessName".into(),
                "C:\\Windows\\System32\\rundll32.exe".into(),
            ),
            ("CommandLine".into(), "rundll32 comsvcs.dll MiniDump".into()),
        ],
        process_key: None,
        parent_key: None,
        session_key: None,
        host_address: None,
        lease: None,
    }
}

pub fn incident(id: &str, host: &str, severity: Level, escalated: bool) -> Incident {
    Incident {
        id: IncidentId(id.into()),
        version: 1,
        title: format!("Credential dumping on {host}"),
        severity,
        confidence: 0.9,
        disposition: Disposition::Malicious,
        escalated,
        hypothesis: "LSASS memory read by rundll32".into(),
        tactics: vec!["credential-access".into()],
        techniques: vec!["T1003.001".into()],
        entities: vec![
            Entity::new(EntityKind::Host, host),
            Entity::new(EntityKind::User, "CORP\\dana"),
        ],
        alerts: Vec::new(),
        evidence: Vec::new(),
        timeline: Vec::new(),
        process_tree: Vec::new(),
        reasoning: Vec::new(),
        verification: Verification {
            status: VerificationStatus::Verified,
            removed_claims: Vec::new(),
        },
        first_seen: Some("2026-11-20T10:00:00Z".parse().unwrap()),
        last_seen: Some("2026-11-20T10:05:00Z".parse().unwrap()),
        superseded_by: None,
    }
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    // One hash for every user: Argon2id is slow on purpose, and no test logs in by password.
    let hash = hash_password("correct horse battery staple").unwrap();
    let mut tokens = BTreeMap::new();
    for (name, role) in [
        ("vera", Role::Viewer),
        ("alice", Role::Analyst),
        ("bob", Role::Responder),
        ("ada", Role::Admin),
    ] {
        add_user(&store, name, role, false, &hash);
        let (_, text) = add_token(&store, name, role, None);
        tokens.insert(role.code(), text);
    }
    add_user(&store, "dora", Role::Admin, true, &hash);
    let (_, disabled) = add_token(&store, "dora", Role::Admin, None);
    tokens.insert("disabled", disabled);
    let (_, capped) = add_token(&store, "alice", Role::Admin, None);
    tokens.insert("capped", capped);
    let (revoked_id, revoked) = add_token(&store, "ada", Role::Admin, None);
    assert!(
        store
            .revoke_token(&revoked_id, Timestamp::now(), &audit(&revoked_id))
            .unwrap()
    );
    tokens.insert("revoked", revoked);
    let past = Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let (_, expired) = add_token(&store, "ada", Role::Admin, Some(past));
    tokens.insert("expired", expired);
    let admin = tokens["admin"].clone();
    let (id, _) = admin.strip_prefix("gar_").unwrap().split_once('_').unwrap();
    tokens.insert("forged", format!("gar_{id}_{}", "A".repeat(43)));
    tokens.insert(
        "unknown",
        format!("gar_{}_{}", "0".repeat(16), "A".repeat(43)),
    );
    let (spare_token_id, _) = add_token(&store, "ada", Role::Viewer, None);

    let event = stored_event("C:/logs/ws1-security.evtx", "WS1");
    store.put_events(std::slice::from_ref(&event)).unwrap();
    let mut escalated = incident("inc-00000000000000e1", "WS1", Level::High, true);
    escalated.alerts.push(AlertSummary {
        id: AlertId::of("rule-lsass", event.id),
        rule_id: "rule-lsass".into(),
        title: "LSASS dump with comsvcs".into(),
        level: Level::High,
        timestamp: event.timestamp,
        source: event.source.clone(),
        evidence: event.id,
        repeats: 0,
        last_repeat: None,
    });
    let quiet = incident("inc-00000000000000e2", "WS2", Level::Medium, false);
    let mut merged = incident("inc-00000000000000e3", "WS1", Level::Low, false);
    merged.superseded_by = Some(escalated.id.clone());
    for incident in [&escalated, &quiet, &merged] {
        store.put_incident(incident).unwrap();
    }
    let responder = Responder::new(
        store.clone(),
        Arc::new(garrison_response::Policy::default_policy()),
        Arc::new(garrison_response::ResponseConfig::default()),
        Arc::new(Inventory::default()),
        vec![Arc::new(Accepting)],
        "respond/1",
    );
    let awaiting: Vec<String> = responder
        .decide(&escalated, false, Timestamp::now())
        .unwrap()
        .into_iter()
        .filter(|record| record.state == garrison_model::action::ActionState::AwaitingApproval)
        .map(|record| record.key)
        .collect();
    assert!(
        awaiting.len() >= 3,
        "the default playbooks ask approval for containment: {awaiting:?}"
    );
    assert_eq!(
        store
            .actions(
                &[garrison_model::action::ActionState::AwaitingApproval],
                100
            )
            .unwrap()
            .len(),
        awaiting.len()
    );
    let console = Arc::new(
        Console::new(store.clone(), Some(responder.acting_as("console")))
            .unwrap()
            .with_rules(
                Arc::new(rule_book(&store)),
                Some(Arc::new(LivePrecision::new(Precision::from_verdicts(
                    &judged_lsass_alerts(),
                )))),
            ),
    );
    Fixture {
        _dir: dir,
        router: router(console.clone()),
        console,
        store,
        tokens,
        spare_token_id,
        escalated: escalated.id,
        quiet: quiet.id,
        merged: merged.id,
        evidence: event.id,
        awaiting,
    }
}

pub fn rule(id: &str, title: &str, level: Level, kind: RuleKind) -> LoadedRule {
    LoadedRule {
        info: Arc::new(RuleInfo {
            id: id.into(),
            title: title.into(),
            level,
            tags: vec!["attack.credential-access".into(), "attack.t1003.001".into()],
            status: Some("test".into()),
            description: Some(format!("{title}, as the fixture says")),
            author: Some("Garrison tests".into()),
            references: vec!["https://attack.mitre.org/techniques/T1003/001/".into()],
            falsepositives: vec!["Backup software".into()],
            path: format!("bundled:{id}.yml"),
            kind,
        }),
        reported: true,
    }
}

/// Three rules (one a correlation), one file that did not load.
pub fn rule_book(store: &SqliteStore) -> RuleBook {
    RuleBook::load(
        vec![
            rule(
                "rule-lsass",
                "LSASS dump with comsvcs",
                Level::High,
                RuleKind::Detection,
            ),
            rule("rule-whoami", "Whoami run", Level::Low, RuleKind::Detection),
            rule(
                "rule-spray",
                "Password spray",
                Level::Medium,
                RuleKind::Correlation,
            ),
        ],
        vec![Unloadable {
            path: "rules/broken.yml".into(),
            id: None,
            title: Some("Broken".into()),
            kind: "condition".into(),
            reason: "unknown search 'sel2'".into(),
        }],
        store,
    )
    .unwrap()
}

/// Four alerts of rule-lsass judged: three malicious, one benign.
pub fn judged_lsass_alerts() -> Vec<VerdictRecord> {
    [
        AnalystVerdict::TruePositive,
        AnalystVerdict::TruePositive,
        AnalystVerdict::TruePositive,
        AnalystVerdict::FalsePositive,
    ]
    .into_iter()
    .enumerate()
    .map(|(n, verdict)| {
        let alert = AlertId::of("rule-lsass", EvidenceId(n as u64 + 1));
        VerdictRecord {
            subject: VerdictSubject::Alert(alert.clone()),
            verdict,
            by: "user:alice".into(),
            at: Timestamp::now(),
            note: None,
            alerts: vec![(
                alert,
                RulePattern {
                    rule_id: "rule-lsass".into(),
                    host: Some("ws1".into()),
                },
            )],
        }
    })
    .collect()
}

/// An answer: status, headers, and the body as JSON (null when empty or not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// Calls `router` without a socket; `authorization` is the header's whole value.
pub async fn call(
    router: &Router,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    if headers
        .get("content-type")
        .is_some_and(|kind| kind.as_bytes().starts_with(b"text/event-stream"))
    {
        // A stream of events never ends: its status and headers are the answer.
        return Answer {
            status,
            headers,
            body: Value::Null,
        };
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
