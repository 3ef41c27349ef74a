//! What `garrison serve` reports about itself on the console's `/api/v1/agents` and
//! `/metrics`: the team's counters, the bus queues, the inputs' and the pipeline's counters.

use crate::live::Processed;
use garrison_agents::runtime::RuntimeCounters;
use garrison_bus::InProcessBus;
use garrison_server::InputStats;
use garrison_server::api::health::{AgentHealth, Counter, Health, QueueDepth};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub struct ServeHealth {
    pub team: RuntimeCounters,
    pub bus: InProcessBus,
    pub processed: Arc<Processed>,
    /// Each input's name and counters.
    pub inputs: Vec<(String, Arc<InputStats>)>,
}

impl Health for ServeHealth {
    fn agents(&self) -> Vec<AgentHealth> {
        self.team
            .stats()
            .agents
            .into_iter()
            .map(|(role, counters)| AgentHealth {
                role,
                handled: counters.handled,
                failed: counters.failed,
                rejected: counters.rejected,
                duplicates: counters.duplicates,
                published: counters.published,
                restarts: counters.restarts,
                stopped: counters.gave_up,
                handled_per_second: None,
            })
            .collect()
    }

    fn queues(&self) -> Vec<QueueDepth> {
        self.bus
            .stats()
            .consumers
            .into_iter()
            .map(|consumer| QueueDepth {
                consumer: consumer.name,
                queued: consumer.queued as u64,
                delivered: consumer.delivered,
                acked: consumer.acked,
                redelivered: consumer.redelivered,
                dead_lettered: consumer.dead_lettered,
            })
            .collect()
    }

    fn counters(&self) -> Vec<Counter> {
        let pipeline = |name, help, value: &std::sync::atomic::AtomicU64| Counter {
            name,
            help,
            labels: Vec::new(),
            value: value.load(Ordering::Relaxed),
        };
        let mut counters = vec![
            pipeline(
                "garrison_pipeline_records_total",
                "Records read from the spools.",
                &self.processed.records,
            ),
            pipeline(
                "garrison_pipeline_events_total",
                "Events decoded and kept as evidence.",
                &self.processed.events,
            ),
            pipeline(
                "garrison_pipeline_alerts_total",
                "Alerts raised to the agent team.",
                &self.processed.alerts,
            ),
            pipeline(
                "garrison_pipeline_alerts_switched_off_total",
                "Alerts held back because their rule is switched off.",
                &self.processed.switched_off,
            ),
        ];
        for (input, stats) in &self.inputs {
            let snapshot = stats.snapshot();
            for (name, help, value) in [
                (
                    "garrison_input_records_accepted_total",
                    "Records an input spooled and acknowledged.",
                    snapshot.accepted,
                ),
                (
                    "garrison_input_records_quarantined_total",
                    "Records an input refused as malformed.",
                    snapshot.quarantined,
                ),
                (
                    "garrison_input_requests_unauthorized_total",
                    "Requests an input refused for want of valid credentials.",
                    snapshot.unauthorized,
                ),
                (
                    "garrison_input_requests_busy_total",
                    "Requests an input answered busy (its spool behind).",
                    snapshot.busy,
                ),
                (
                    "garrison_input_connections_total",
                    "Connections an input served.",
                    snapshot.connections,
                ),
            ] {
                counters.push(Counter {
                    name,
                    help,
                    labels: vec![("input", input.clone())],
                    value,
                });
            }
        }
        counters
    }
}

/// What `garrison serve --distributed` reports: it runs no agents, so its page shows the
/// deployment's queues: every JetStream consumer of the team (messages waiting, delivered,
/// acknowledged, delivered again) and the announcements waiting in the store's outbox
/// (`outbox:KIND`), as last read (every few seconds, by [`DeploymentHealth::follow`]).
#[derive(Default)]
pub struct DeploymentHealth {
    queues: std::sync::Mutex<Vec<QueueDepth>>,
}

/// The outbox's kinds of announcement, each shown even when nothing waits.
const OUTBOX_TOPICS: [&str; 2] = [
    garrison_store::postgres::outbox::INCIDENT,
    garrison_store::postgres::outbox::ACTION,
];

/// How often the deployment's queues are read.
const READ_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl DeploymentHealth {
    /// Reads the deployment's queues until the process ends.
    pub async fn follow(
        self: Arc<Self>,
        bus: garrison_bus::JetStreamBus,
        store: Arc<garrison_store::PostgresStore>,
    ) {
        loop {
            let mut queues = Vec::new();
            match bus.consumers(&crate::settle::team_subjects()).await {
                Ok(consumers) => queues.extend(consumers.into_iter().map(|state| QueueDepth {
                    consumer: state.name,
                    queued: state.pending + state.unacked,
                    delivered: state.delivered,
                    acked: state.delivered.saturating_sub(state.unacked),
                    redelivered: state.redelivered,
                    dead_lettered: 0,
                })),
                Err(error) => tracing::warn!("garrison serve: cannot read the bus queues: {error}"),
            }
            let outbox = {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.outbox_depth()).await
            };
            match outbox {
                Ok(Ok(depths)) => queues.extend(OUTBOX_TOPICS.iter().map(|topic| {
                    let waiting = depths
                        .iter()
                        .find(|(known, _)| known == topic)
                        .map_or(0, |(_, waiting)| *waiting);
                    QueueDepth {
                        consumer: format!("outbox:{topic}"),
                        queued: waiting,
                        delivered: 0,
                        acked: 0,
                        redelivered: 0,
                        dead_lettered: 0,
                    }
                })),
                Ok(Err(error)) => {
                    tracing::warn!("garrison serve: cannot read the outbox: {error}")
                }
                Err(_) => {}
            }
            *self
                .queues
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = queues;
            tokio::time::sleep(READ_EVERY).await;
        }
    }
}

impl Health for DeploymentHealth {
    fn agents(&self) -> Vec<AgentHealth> {
        Vec::new()
    }

    fn queues(&self) -> Vec<QueueDepth> {
        self.queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn counters(&self) -> Vec<Counter> {
        Vec::new()
    }
}
