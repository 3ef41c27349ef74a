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
}

impl Console {
    pub(crate) fn agents_report(&self) -> AgentsReport {
        let (agents, queues) = match &self.health {
            Some(health) => (health.agents(), health.queues()),
            None => (Vec::new(), Vec::new()),
        };
        AgentsReport {
            agents,
            queues,
            uptime_seconds: self.started.elapsed().as_secs(),
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
