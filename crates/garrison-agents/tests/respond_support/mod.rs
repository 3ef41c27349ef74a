//! What the response agent's tests share: a connector that records every call, incidents,
//! and a responder on a real SQLite store.

#![allow(dead_code)]

use garrison_agents::SystemClock;
use garrison_agents::respond::Responder;
use garrison_agents::triage::Inventory;
use garrison_model::action::{ActionKind, ActionRecord, ActionState, Autonomy};
use garrison_model::incident::{Verification, VerificationStatus};
use garrison_model::{Disposition, Entity, EntityKind, Incident, IncidentId, Level};
use garrison_response::connector::CallFuture;
use garrison_response::{Call, Connector, ConnectorError, Policy, ResponseConfig};
use garrison_store::SqliteStore;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records every call; acts once per idempotency key when `dedupes` (as an API honouring
/// `Idempotency-Key` does); can hold calls until released, and fail the first ones.
#[derive(Default)]
pub struct Recording {
    pub calls: Mutex<Vec<Call>>,
    pub effects: Mutex<BTreeSet<String>>,
    pub dedupes: bool,
    pub hold: Option<Arc<tokio::sync::Semaphore>>,
    /// Errors to answer, in order, before succeeding.
    pub failures: Mutex<Vec<ConnectorError>>,
    /// Its name (`recording` when none).
    pub name: Option<&'static str>,
}

impl Recording {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
    pub fn calls_for(&self, key: &str) -> usize {
        self.calls().iter().filter(|call| call.key == key).count()
    }
    pub fn effects(&self) -> usize {
        self.effects.lock().unwrap().len()
    }
}

impl Connector for Recording {
    fn name(&self) -> &str {
        self.name.unwrap_or("recording")
    }
    fn kinds(&self) -> &[ActionKind] {
        &ActionKind::ALL
    }
    fn honors_idempotency_key(&self) -> bool {
        self.dedupes
    }
    fn call<'a>(&'a self, call: &'a Call) -> CallFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(call.clone());
            if let Some(hold) = &self.hold {
                let _permit = hold.acquire().await.unwrap();
            }
            let failure = {
                let mut failures = self.failures.lock().unwrap();
                (!failures.is_empty()).then(|| failures.remove(0))
            };
            if let Some(failure) = failure {
                return Err(failure);
            }
            let mut effects = self.effects.lock().unwrap();
            let effect = if self.dedupes {
                call.key.clone()
            } else {
                format!("{}#{}", call.key, effects.len())
            };
            let fresh = effects.insert(effect);
            Ok(if fresh { "done" } else { "already done" }.to_string())
        })
    }
}

pub fn incident(confidence: f64, entities: Vec<Entity>) -> Incident {
    Incident {
        id: IncidentId("inc-00000000000000a1".into()),
        version: 1,
        title: "Credential dumping on WS1".into(),
        severity: Level::High,
        confidence,
        disposition: Disposition::Malicious,
        escalated: true,
        hypothesis: String::new(),
        tactics: vec!["execution".into(), "credential-access".into()],
        techniques: vec!["T1003".into()],
        entities,
        alerts: Vec::new(),
        evidence: Vec::new(),
        timeline: Vec::new(),
        process_tree: Vec::new(),
        reasoning: Vec::new(),
        verification: Verification {
            status: VerificationStatus::Verified,
            removed_claims: Vec::new(),
        },
        first_seen: None,
        last_seen: None,
        superseded_by: None,
    }
}

pub fn ws1_dana() -> Vec<Entity> {
    vec![
        Entity::new(EntityKind::Host, "WS1"),
        Entity::new(EntityKind::User, "CORP\\dana"),
    ]
}

pub const INVENTORY: &str = r#"{"version": 1,
    "hosts": [{"name": "WS1", "criticality": "medium"},
              {"name": "DC1", "criticality": "critical", "tags": ["domain-controller"]}],
    "users": [{"name": "CORP\\dana", "criticality": "low"},
              {"name": "CORP\\breakglass", "criticality": "high", "tags": ["break-glass"]}]}"#;

pub struct Setup {
    pub _dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub connector: Arc<Recording>,
    pub responder: Responder,
}

pub fn setup(config: ResponseConfig, connector: Recording) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let connector = Arc::new(connector);
    let responder = Responder::new(
        store.clone(),
        Arc::new(Policy::default_policy()),
        Arc::new(config),
        Arc::new(Inventory::from_json(INVENTORY).unwrap()),
        vec![connector.clone()],
        "respond/1",
    );
    Setup {
        _dir: dir,
        store,
        connector,
        responder,
    }
}

/// A responder starts carrying out what is approved and dies while the connector holds its
/// first call.
pub async fn die_mid_call(setup: &Setup) {
    let responder = setup.responder.acting_as("respond/1");
    let running = tokio::spawn(async move {
        let _ = responder.execute_ready(&SystemClock).await;
    });
    while setup.connector.calls().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.abort();
    let _ = running.await;
}

pub fn auto_containment() -> ResponseConfig {
    let mut config = ResponseConfig::default();
    config
        .autonomy
        .insert(ActionKind::IsolateHost, Autonomy::ActThenNotify);
    config.retry_backoff = Duration::from_millis(1);
    config
}

pub fn by_kind(records: &[ActionRecord]) -> BTreeMap<ActionKind, ActionState> {
    records
        .iter()
        .map(|record| (record.kind, record.state))
        .collect()
}

pub fn audit_actions(store: &SqliteStore) -> Vec<String> {
    store
        .audit_entries(1, 10_000)
        .unwrap()
        .into_iter()
        .map(|entry| format!("{} {}", entry.action, entry.detail))
        .collect()
}
