//! `garrison bench console`: the API's server time over a store of many incidents. Fills a
//! scratch SQLite store with synthetic incidents of realistic size (alerts, evidence,
//! timeline, reasoning), then times queue pages (filtered, deep) and incident pages through
//! the router in-process, against the whole-table scan in the same run as the baseline.

use crate::bench::percentile;
use crate::{ExitCode, Failure};
use garrison_model::access::Role;
use garrison_model::incident::{
    AlertSummary, Assertion, Claim, EvidenceItem, TimelineEntry, Verification, VerificationStatus,
};
use garrison_model::{
    AlertId, Disposition, Entity, EntityKind, EvidenceId, EvidenceRef, Incident, IncidentId, Level,
    Timestamp,
};
use garrison_server::api::{Console, call_local};
use garrison_store::{
    AccessStore, AuditAction, AuditRecord, IncidentStore, SessionStore, SqliteStore,
};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct BenchConsoleArgs {
    /// Incidents in the store.
    #[arg(long, default_value_t = 10_000)]
    pub incidents: usize,
    /// Requests timed per kind of page.
    #[arg(long, default_value_t = 50)]
    pub requests: usize,
}

const HOSTS: usize = 500;

fn incident(n: usize, rng: &mut fastrand::Rng, start: Timestamp) -> Incident {
    let host = |k: usize| format!("ws{k:04}.corp.example");
    let hosts: Vec<String> = (0..rng.usize(1..=3))
        .map(|_| host(rng.usize(0..HOSTS)))
        .collect();
    let first = start + jiff::SignedDuration::from_secs(rng.i64(0..30 * 86_400));
    let tactics = [
        "execution",
        "persistence",
        "credential-access",
        "lateral-movement",
    ];
    let alerts: Vec<AlertSummary> = (0..rng.usize(3..=20))
        .map(|k| {
            let source = EvidenceRef {
                path: Arc::from(format!("/var/lib/garrison/spool/winlog/{n:08}.log")),
                member: None,
                record_id: k as u64,
                offset: (k * 1_400) as u64,
            };
            let evidence = EvidenceId::of(&source);
            AlertSummary {
                id: AlertId::of(&format!("rule-{}", k % 7), evidence),
                rule_id: format!("rule-{}", k % 7),
                title: format!("Suspicious behaviour number {} on {}", k % 7, hosts[0]),
                level: Level::ALL[k % 5],
                timestamp: Some(first + jiff::SignedDuration::from_secs(k as i64 * 30)),
                source,
                evidence,
                repeats: rng.u64(0..5),
                last_repeat: None,
            }
        })
        .collect();
    let evidence: Vec<EvidenceItem> = alerts
        .iter()
        .map(|alert| EvidenceItem {
            id: alert.evidence,
            source: alert.source.clone(),
            timestamp: alert.timestamp,
            summary: format!(
                "{}: powershell.exe -enc JABzAD0A… by CORP\\user{n}",
                alert.title
            ),
        })
        .collect();
    let timeline = alerts
        .iter()
        .map(|alert| TimelineEntry {
            timestamp: alert.timestamp,
            evidence: alert.evidence,
            summary: alert.title.clone(),
            tactics: vec![tactics[n % tactics.len()].into()],
        })
        .collect();
    let reasoning = alerts
        .iter()
        .map(|alert| Claim {
            claim: format!("{} matched the record on {}", alert.rule_id, hosts[0]),
            evidence: vec![alert.evidence],
            assertion: Assertion::RuleMatched {
                rule_id: alert.rule_id.clone(),
                evidence: alert.evidence,
            },
        })
        .collect();
    let mut entities: Vec<Entity> = hosts
        .iter()
        .map(|name| Entity::new(EntityKind::Host, name))
        .collect();
    entities.push(Entity::new(EntityKind::User, format!("CORP\\user{n}")));
    Incident {
        id: IncidentId(format!("inc-{n:016x}")),
        version: 1,
        title: format!(
            "{} on {} (user{n})",
            if n.is_multiple_of(3) {
                "Lateral movement"
            } else {
                "Credential access"
            },
            hosts[0]
        ),
        severity: Level::ALL[rng.usize(0..5)],
        confidence: rng.f64(),
        disposition: Disposition::Suspicious,
        escalated: rng.u8(0..10) == 0,
        hypothesis: format!(
            "An intruder on {} moved on with stolen credentials",
            hosts[0]
        ),
        tactics: vec![tactics[n % tactics.len()].into()],
        techniques: vec!["T1003.001".into()],
        entities,
        last_seen: alerts.last().and_then(|alert| alert.timestamp),
        alerts,
        evidence,
        timeline,
        process_tree: Vec::new(),
        reasoning,
        verification: Verification {
            status: VerificationStatus::Verified,
            removed_claims: Vec::new(),
        },
        first_seen: Some(first),
        superseded_by: (rng.u8(0..20) == 0).then(|| IncidentId(format!("inc-{:016x}", n / 2))),
    }
}

/// Milliseconds of each call, sorted.
async fn time_calls(
    router: &garrison_server::api::Router,
    headers: &[(&str, &str)],
    uris: &[String],
) -> Result<Vec<f64>, Failure> {
    let mut times = Vec::with_capacity(uris.len());
    for uri in uris {
        let started = Instant::now();
        let (status, body) = call_local(router, "GET", uri, headers)
            .await
            .map_err(Failure::Internal)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            return Err(Failure::Internal(format!(
                "{uri}: {status} {}",
                String::from_utf8_lossy(&body)
            )));
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn report(what: &str, times: &[f64]) {
    println!(
        "  {what:<44} p50 {:>8.2} ms   p95 {:>8.2} ms   max {:>8.2} ms   (n={})",
        percentile(times, 50.0),
        percentile(times, 95.0),
        times.last().copied().unwrap_or(0.0),
        times.len()
    );
}

pub fn run(args: BenchConsoleArgs) -> Result<ExitCode, Failure> {
    let internal = |error: garrison_store::StoreError| Failure::Internal(error.to_string());
    let dir = tempfile::tempdir().map_err(|error| Failure::Internal(error.to_string()))?;
    let store = Arc::new(SqliteStore::open(dir.path()).map_err(internal)?);
    let mut rng = fastrand::Rng::with_seed(7);
    let start: Timestamp = "2026-10-01T00:00:00Z".parse().expect("a timestamp");
    let incidents: Vec<Incident> = (0..args.incidents)
        .map(|n| incident(n, &mut rng, start))
        .collect();
    let bytes: usize = incidents
        .iter()
        .map(|incident| serde_json::to_vec(incident).map_or(0, |body| body.len()))
        .sum();
    let started = Instant::now();
    for incident in &incidents {
        store.put_incident(incident).map_err(internal)?;
    }
    let stored = started.elapsed();
    println!(
        "console: {} incidents ({:.1} KiB each on average) stored in {:.2} s ({:.0}/s)",
        incidents.len(),
        bytes as f64 / incidents.len().max(1) as f64 / 1024.0,
        stored.as_secs_f64(),
        incidents.len() as f64 / stored.as_secs_f64()
    );
    let issued = garrison_server::auth::issue_token()
        .map_err(|error| Failure::Internal(error.to_string()))?;
    let audit = AuditRecord {
        actor: "garrison bench".into(),
        action: AuditAction::AccessChanged,
        subject: "bench".into(),
        detail: "bench user and token".into(),
    };
    store
        .add_user(
            &garrison_store::UserRecord {
                name: "bench".into(),
                role: Role::Viewer,
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$none$none".into(),
                created: Timestamp::now(),
                disabled: false,
            },
            &audit,
        )
        .map_err(internal)?;
    store
        .add_token(
            &garrison_store::TokenRecord {
                id: issued.id.clone(),
                user: "bench".into(),
                role: Role::Viewer,
                digest: issued.digest.clone(),
                label: None,
                created: Timestamp::now(),
                revoked: None,
                expires: None,
            },
            &audit,
        )
        .map_err(internal)?;
    let authorization = format!("Bearer {}", issued.text);
    // A console session of the same user, for the pages.
    let (secret, digest) = garrison_server::auth::new_secret()
        .map_err(|error| Failure::Internal(error.to_string()))?;
    store
        .add_session(
            &garrison_store::SessionRecord {
                digest,
                user: "bench".into(),
                created: Timestamp::now(),
                expires: Timestamp::now() + jiff::SignedDuration::from_hours(1),
                csrf: "bench".into(),
            },
            &audit,
        )
        .map_err(internal)?;
    let cookie = format!("garrison_session={secret}");
    let router = garrison_server::console::router(Arc::new(
        Console::new(store.clone(), None).map_err(|error| Failure::Internal(error.to_string()))?,
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| Failure::Internal(error.to_string()))?;
    let n = args.requests.max(1);
    let repeat = |uri: &str| vec![uri.to_string(); n];
    let some_incidents: Vec<String> = (0..n)
        .map(|k| format!("inc-{:016x}", k * 7919 % incidents.len().max(1)))
        .collect();
    let pages: Vec<(&str, Vec<String>)> = vec![
        ("queue, first page (50)", repeat("/api/v1/incidents")),
        (
            "queue, escalated only",
            repeat("/api/v1/incidents?escalated=true"),
        ),
        (
            "queue, one host",
            (0..n)
                .map(|k| format!("/api/v1/incidents?host=ws{:04}.corp.example", k * 7 % HOSTS))
                .collect(),
        ),
        (
            "queue, text search",
            repeat("/api/v1/incidents?q=lateral%20movement"),
        ),
        (
            "queue, deep page (100 from 5,000)",
            repeat("/api/v1/incidents?offset=5000&limit=100"),
        ),
        ("alerts, newest first (100)", repeat("/api/v1/alerts")),
        (
            "alerts of one rule, high and above",
            (0..n)
                .map(|k| format!("/api/v1/alerts?rule=rule-{}&min_level=high", k % 7))
                .collect(),
        ),
        (
            "entity: one user's incidents and events",
            (0..n)
                .map(|k| format!("/api/v1/entities/user/CORP%5Cuser{}", k * 31 % 10_000))
                .collect(),
        ),
        (
            "incident detail",
            some_incidents
                .iter()
                .map(|id| format!("/api/v1/incidents/{id}"))
                .collect(),
        ),
    ];
    let console_pages: Vec<(&str, Vec<String>)> = vec![
        ("console: the queue's first page (HTML)", repeat("/")),
        (
            "console: the queue, one host (HTML)",
            (0..n)
                .map(|k| format!("/?host=ws{:04}.corp.example", k * 7 % HOSTS))
                .collect(),
        ),
        (
            "console: an incident page (HTML)",
            some_incidents
                .iter()
                .map(|id| format!("/incidents/{id}"))
                .collect(),
        ),
    ];
    println!("console: server time per request (in-process, no socket):");
    runtime.block_on(async {
        for (what, uris) in &pages {
            let times = time_calls(&router, &[("authorization", &authorization)], uris).await?;
            report(what, &times);
        }
        for (what, uris) in &console_pages {
            let times = time_calls(&router, &[("cookie", &cookie)], uris).await?;
            report(what, &times);
        }
        Ok::<_, Failure>(())
    })?;
    // The baseline: the queue's first page from the whole table, as the API's first version
    // built it (every incident read and decoded, filtered and sorted in memory).
    let mut times = Vec::new();
    for _ in 0..n.min(5) {
        let started = Instant::now();
        let mut all: Vec<Incident> = store
            .incidents()
            .map_err(internal)?
            .into_iter()
            .filter(|incident| incident.superseded_by.is_none())
            .collect();
        all.sort_by(|a, b| {
            (b.escalated, b.severity)
                .cmp(&(a.escalated, a.severity))
                .then(b.confidence.total_cmp(&a.confidence))
        });
        let page: Vec<_> = all.iter().take(50).map(Incident::summary).collect();
        std::hint::black_box(
            serde_json::to_vec(&page).map_err(|e| Failure::Internal(e.to_string()))?,
        );
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    report("baseline: first page from a whole-table scan", &times);
    Ok(ExitCode::Success)
}
