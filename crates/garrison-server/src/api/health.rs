//! How the running process is doing: its agents (messages handled, failures, restarts), the
//! bus queues between them, its inputs and pipeline counters (`/api/v1/agents`), and the same
//! with what the store holds as Prometheus metrics (`/metrics`, text format 0.0.4). The binary
//! that wires the process reports through [`Health`]; this crate only serves it.

use super::{ApiError, Console, ErrorResponses, Principal};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use garrison_model::access::Role;
use garrison_model::queue::IncidentQuery;
use serde::Serialize;
use std::fmt::Write;
use std::sync::Arc;

/// One agent role's counters (all its instances together).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentHealth {
    pub role: String,
    pub handled: u64,
    pub failed: u64,
    /// Messages refused as unauthenticated or not allowed.
    pub rejected: u64,
    /// Redeliveries of messages handled already.
    pub duplicates: u64,
    pub published: u64,
    pub restarts: u64,
    /// Failed too often and was stopped by its supervisor.
    pub stopped: bool,
    /// Messages handled per second over the last minute of readings (none until two
    /// readings a second apart: the API reads the counters when asked).
    #[serde(default)]
    pub handled_per_second: Option<f64>,
}

/// Readings of the agents' handled counts over the last minute, to tell their recent rate.
#[derive(Debug, Default)]
pub(crate) struct Throughput {
    readings: std::sync::Mutex<
        std::collections::VecDeque<(std::time::Instant, std::collections::HashMap<String, u64>)>,
    >,
}

/// How far back rates look.
const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Readings kept at most this often.
const READING_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Throughput {
    /// Records `agents`' counts at `now` and fills in their rates since the oldest reading of
    /// the window; the window's length in seconds, when there is one.
    pub(crate) fn rate(&self, now: std::time::Instant, agents: &mut [AgentHealth]) -> Option<f64> {
        let mut readings = self.readings.lock().unwrap_or_else(|p| p.into_inner());
        if readings
            .back()
            .is_none_or(|(at, _)| now.saturating_duration_since(*at) >= READING_EVERY)
        {
            let counts = agents
                .iter()
                .map(|agent| (agent.role.clone(), agent.handled))
                .collect();
            readings.push_back((now, counts));
        }
        while readings.len() > 2
            && readings
                .get(1)
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= RATE_WINDOW)
        {
            readings.pop_front();
        }
        let (oldest, counts) = readings.front()?;
        let seconds = now.saturating_duration_since(*oldest).as_secs_f64();
        if seconds < READING_EVERY.as_secs_f64() {
            return None;
        }
        for agent in agents.iter_mut() {
            let before = counts.get(&agent.role).copied().unwrap_or(0);
            agent.handled_per_second = Some(agent.handled.saturating_sub(before) as f64 / seconds);
        }
        Some(seconds)
    }
}

/// One bus consumer's queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueDepth {
    pub consumer: String,
    /// Messages waiting now.
    pub queued: u64,
    pub delivered: u64,
    pub acked: u64,
    pub redelivered: u64,
    pub dead_lettered: u64,
}

/// A counter of the process's own (inputs, pipeline), for `/metrics`.
#[derive(Debug, Clone)]
pub struct Counter {
    /// `garrison_<component>_<name>_total`.
    pub name: &'static str,
    pub help: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: u64,
}

/// What a process running agents reports about itself.
pub trait Health: Send + Sync {
    fn agents(&self) -> Vec<AgentHealth>;
    fn queues(&self) -> Vec<QueueDepth>;
    fn counters(&self) -> Vec<Counter>;
}

/// The agents and their queues.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentsReport {
    pub agents: Vec<AgentHealth>,
    pub queues: Vec<QueueDepth>,
    /// Seconds since the API started serving.
    pub uptime_seconds: u64,
    /// The span the agents' rates are measured over, in seconds (none before a second reading).
    pub rate_window_seconds: Option<f64>,
}

impl Console {
    pub(crate) fn agents_report(&self) -> AgentsReport {
        let (mut agents, queues) = match &self.health {
            Some(health) => (health.agents(), health.queues()),
            None => (Vec::new(), Vec::new()),
        };
        let rate_window_seconds = self.throughput.rate(std::time::Instant::now(), &mut agents);
        AgentsReport {
            agents,
            queues,
            uptime_seconds: self.started.elapsed().as_secs(),
            rate_window_seconds,
        }
    }
}

/// The agents' counters and the bus queues between them.
#[utoipa::path(
    get,
    path = "/api/v1/agents",
    operation_id = "agents",
    tag = "operations",
    responses((status = 200, description = "The agents", body = AgentsReport), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn agents(
    State(console): State<Arc<Console>>,
    principal: Principal,
) -> Result<Json<AgentsReport>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(console.agents_report()))
}

/// Writes one metric family.
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(Vec<(&str, String)>, f64)],
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let labels: Vec<String> = labels
            .iter()
            .map(|(label, value)| format!("{label}=\"{}\"", escape_label(value)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

/// A label value as the text format needs it (backslash, quote and line feed escaped).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render(console: &Console) -> Result<String, ApiError> {
    let mut out = String::new();
    let report = console.agents_report();
    let per_agent = |value: fn(&AgentHealth) -> u64| -> Vec<(Vec<(&str, String)>, f64)> {
        report
            .agents
            .iter()
            .map(|agent| (vec![("role", agent.role.clone())], value(agent) as f64))
            .collect()
    };
    family(
        &mut out,
        "garrison_agent_messages_handled_total",
        "counter",
        "Messages each agent role handled.",
        &per_agent(|a| a.handled),
    );
    family(
        &mut out,
        "garrison_agent_messages_failed_total",
        "counter",
        "Messages whose handling failed.",
        &per_agent(|a| a.failed),
    );
    family(
        &mut out,
        "garrison_agent_messages_rejected_total",
        "counter",
        "Messages refused as unauthenticated or not allowed.",
        &per_agent(|a| a.rejected),
    );
    family(
        &mut out,
        "garrison_agent_messages_published_total",
        "counter",
        "Messages each agent role published.",
        &per_agent(|a| a.published),
    );
    family(
        &mut out,
        "garrison_agent_restarts_total",
        "counter",
        "Agent restarts by their supervisor.",
        &per_agent(|a| a.restarts),
    );
    family(
        &mut out,
        "garrison_agent_stopped",
        "gauge",
        "1 when a role failed too often and was stopped.",
        &per_agent(|a| u64::from(a.stopped)),
    );
    let per_queue = |value: fn(&QueueDepth) -> u64| -> Vec<(Vec<(&str, String)>, f64)> {
        report
            .queues
            .iter()
            .map(|queue| {
                (
                    vec![("consumer", queue.consumer.clone())],
                    value(queue) as f64,
                )
            })
            .collect()
    };
    family(
        &mut out,
        "garrison_bus_queue_depth_messages",
        "gauge",
        "Messages waiting in each bus consumer's queue.",
        &per_queue(|q| q.queued),
    );
    family(
        &mut out,
        "garrison_bus_delivered_total",
        "counter",
        "Messages delivered to each consumer.",
        &per_queue(|q| q.delivered),
    );
    family(
        &mut out,
        "garrison_bus_dead_lettered_total",
        "counter",
        "Messages each consumer gave up on.",
        &per_queue(|q| q.dead_lettered),
    );
    let mut counters = console
        .health
        .as_ref()
        .map(|health| health.counters())
        .unwrap_or_default();
    counters.sort_by(|a, b| a.name.cmp(b.name));
    for group in counters.chunk_by(|a, b| a.name == b.name) {
        let samples: Vec<_> = group
            .iter()
            .map(|counter| (counter.labels.clone(), counter.value as f64))
            .collect();
        family(&mut out, group[0].name, "counter", group[0].help, &samples);
    }
    let open = |escalated: bool| -> Result<f64, ApiError> {
        let query = IncidentQuery {
            escalated: Some(escalated),
            limit: 1,
            ..IncidentQuery::default()
        };
        Ok(console.store.incident_queue(&query)?.1 as f64)
    };
    family(
        &mut out,
        "garrison_incidents",
        "gauge",
        "Incidents in the queue (not merged into others).",
        &[
            (vec![("escalated", "true".into())], open(true)?),
            (vec![("escalated", "false".into())], open(false)?),
        ],
    );
    let actions: Vec<_> = console
        .store
        .action_counts()?
        .into_iter()
        .map(|(state, count)| (vec![("state", state.as_str().to_owned())], count as f64))
        .collect();
    family(
        &mut out,
        "garrison_response_actions",
        "gauge",
        "Response actions by state.",
        &actions,
    );
    let audit = console.store.audit_head()?.map_or(0, |head| head.seq);
    family(
        &mut out,
        "garrison_audit_entries",
        "gauge",
        "Entries in the audit log.",
        &[(Vec::new(), audit as f64)],
    );
    family(
        &mut out,
        "garrison_process_uptime_seconds",
        "gauge",
        "Seconds since the API started serving.",
        &[(Vec::new(), report.uptime_seconds as f64)],
    );
    Ok(out)
}

/// Prometheus metrics (text format 0.0.4): agents, bus queues, inputs, pipeline, incidents,
/// response actions by state, the audit log.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn metrics(
    State(console): State<Arc<Console>>,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let text = console.blocking(render).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn agent(role: &str, handled: u64) -> AgentHealth {
        AgentHealth {
            role: role.into(),
            handled,
            failed: 0,
            rejected: 0,
            duplicates: 0,
            published: 0,
            restarts: 0,
            stopped: false,
            handled_per_second: None,
        }
    }

    #[test]
    fn rates_are_taken_over_the_last_minute_of_readings() {
        let throughput = Throughput::default();
        let start = Instant::now();
        let mut first = vec![agent("triage", 100), agent("verify", 0)];
        assert_eq!(throughput.rate(start, &mut first), None);
        assert_eq!(first[0].handled_per_second, None);
        // Half a second on: too soon for a rate, and no reading kept.
        let mut soon = vec![agent("triage", 150), agent("verify", 0)];
        assert_eq!(
            throughput.rate(start + Duration::from_millis(500), &mut soon),
            None
        );
        let mut later = vec![agent("triage", 300), agent("verify", 10)];
        let window = throughput.rate(start + Duration::from_secs(10), &mut later);
        assert_eq!(window, Some(10.0));
        assert_eq!(later[0].handled_per_second, Some(20.0));
        assert_eq!(later[1].handled_per_second, Some(1.0));
        // Two minutes on, the first reading is out of the window; the one at 10 s is the oldest
        // still needed (the newest before the window's start).
        let mut much_later = vec![agent("triage", 1_300), agent("verify", 10)];
        let at = start + Duration::from_secs(130);
        assert_eq!(throughput.rate(at, &mut much_later), Some(120.0));
        let mut last = vec![agent("triage", 1_300), agent("verify", 10)];
        assert_eq!(
            throughput.rate(at + Duration::from_secs(70), &mut last),
            Some(70.0)
        );
        assert_eq!(last[0].handled_per_second, Some(0.0));
    }
}
