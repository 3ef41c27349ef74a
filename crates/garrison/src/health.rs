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
