//! The correlate role: Sigma correlation rules run over the sightings of every detecting
//! process, cut by meeting key into partitions (each with one owner at a time, its state
//! journaled and checkpointed so that another process takes over).
//!
//! Detecting processes send each match of a rule some correlation reads as a
//! [`SightingRecord`], with its meeting keys (one per family of correlations reading the rule:
//! the values of the group-by names the family shares). Every sighting of one correlation
//! group has the same key, so the partition owning the key sees the whole group and completes
//! what all sightings together would. Completed correlations are raised as alerts (the
//! detection cites its last event, which the detecting process stored first) once each.

use crate::messages::{TeamMessage, alert_batches, batch_lengths, cut};
use crate::{Agent, AgentError, Context};
use garrison_bus::Envelope;
use garrison_model::{Alert, AlertId, Detection, EvidenceId, EvidenceRef, Timestamp};
use garrison_store::EvidenceStore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Sightings per `Sighted` message at most.
pub const SIGHTING_BATCH: usize = 1_024;

/// `sightings` cut into the batches of `Sighted` messages: at most [`SIGHTING_BATCH`] each,
/// and about [`crate::messages::BATCH_BYTES`] (a sighting larger than that alone).
pub fn batches(sightings: &[SightingRecord]) -> Vec<&[SightingRecord]> {
    let size = |sighting: &SightingRecord| {
        let fields: usize = sighting
            .fields
            .iter()
            .map(|(n, v)| n.len() + v.len() + 8)
            .sum();
        let keys: usize = sighting.keys.iter().map(|key| key.len() + 4).sum();
        let evidence =
            sighting.evidence.path.len() + sighting.evidence.member.as_ref().map_or(0, |m| m.len());
        128 + sighting.rule.len()
            + evidence
            + fields
            + keys
            + sighting.computer.as_ref().map_or(0, String::len)
            + sighting.channel.as_ref().map_or(0, String::len)
    };
    cut(sightings, &batch_lengths(sightings, SIGHTING_BATCH, size))
}

/// An end marker for every partition (see [`TeamMessage::Sighted`]).
pub const EVERY_PARTITION: u32 = u32::MAX;

/// A partition correlates what it holds once this many sightings came since it last did, and
/// at every end marker: how often depends on the messages alone, so that a new owner handling
/// the journal again decides as the first did.
pub const CORRELATE_EVERY: usize = 8_192;

/// Sightings a partition keeps at most (the oldest go first): bounded memory under a flood.
pub const SIGHTINGS_KEPT: usize = 100_000;

/// Keeps the sightings no older than `span` before the newest, then at most `cap` of them
/// (the newest); returns the oldest time still in reach, by which raised alerts are forgotten.
pub fn keep_recent<T>(
    sightings: &mut Vec<T>,
    time: impl Fn(&T) -> Timestamp,
    span: jiff::SignedDuration,
    cap: usize,
) -> Option<Timestamp> {
    // Times come from telemetry: one near the end of time must not overflow.
    let newest = sightings.iter().map(&time).max()?;
    let horizon = newest.checked_sub(span).unwrap_or(Timestamp::MIN);
    sightings.retain(|sighting| time(sighting) >= horizon);
    if sightings.len() > cap {
        sightings.sort_by_key(&time);
        let excess = sightings.len() - cap;
        sightings.drain(..excess);
    }
    Some(horizon)
}

/// One match of a rule a correlation reads, as detecting processes send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SightingRecord {
    /// The matching rule's id.
    pub rule: String,
    pub timestamp: Timestamp,
    pub evidence: EvidenceRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<u32>,
    /// The event's values of the fields correlations read.
    pub fields: Vec<(String, String)>,
    /// Where it meets the other sightings of its correlations: one key per family of
    /// correlations reading its rule.
    pub keys: Vec<String>,
}

/// The correlation rules, as the correlate role runs them (implemented over the Sigma rule
/// set by the process that loads the rules).
pub trait Correlator: Send + Sync {
    /// Checks sightings as they arrive: an error when one names a rule not loaded here, or
    /// its keys differ from this rule set's (the processes of a deployment run different
    /// rules, and answers would be wrong).
    fn admit(&self, sightings: &[SightingRecord]) -> Result<(), String>;

    /// The detections correlations complete from admitted `sightings`, each family reading
    /// only the sightings whose meeting key is in `partition` of `partitions`.
    fn correlate(
        &self,
        sightings: &[SightingRecord],
        partition: u32,
        partitions: u32,
    ) -> Result<Vec<Detection>, String>;

    /// How far before the newest sighting a correlation can still reach.
    fn horizon(&self) -> jiff::SignedDuration;
}

/// A correlator to share between a team's correlate agents.
#[derive(Clone)]
pub struct SharedCorrelator(pub Arc<dyn Correlator>);

impl std::fmt::Debug for SharedCorrelator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCorrelator")
    }
}

/// What a partition of correlations holds: its recent sightings and what it raised.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Held {
    sightings: Vec<SightingRecord>,
    /// Alerts raised, with their detection's time, forgotten once out of reach.
    raised: BTreeMap<String, Option<Timestamp>>,
    /// Sightings added since correlations last ran.
    #[serde(default)]
    unevaluated: usize,
}

/// The correlate agent of one partition (of one partition: all of them when not cut).
pub struct Correlate {
    correlator: Arc<dyn Correlator>,
    evidence: Arc<dyn EvidenceStore>,
    partition: u32,
    partitions: u32,
    held: Held,
}

impl Correlate {
    pub fn new(
        correlator: Arc<dyn Correlator>,
        evidence: Arc<dyn EvidenceStore>,
        partition: u32,
        partitions: u32,
    ) -> Correlate {
        Correlate {
            correlator,
            evidence,
            partition,
            partitions: partitions.max(1),
            held: Held::default(),
        }
    }

    /// Sightings held now.
    pub fn held(&self) -> usize {
        self.held.sightings.len()
    }

    /// Drops sightings no correlation can reach any more, and raised alerts as old; then, past
    /// the cap, the oldest sightings.
    fn forget(&mut self) {
        let held = &mut self.held;
        let span = self.correlator.horizon();
        if let Some(horizon) =
            keep_recent(&mut held.sightings, |s| s.timestamp, span, SIGHTINGS_KEPT)
        {
            held.raised
                .retain(|_, at| at.is_none_or(|at| at >= horizon));
        }
    }

    /// Adds sightings and, once [`CORRELATE_EVERY`] came since correlations last ran or at
    /// an `end` marker, returns the alerts of correlations completed, each once. On an error
    /// nothing is kept: the message comes again, and its sightings are added then.
    pub fn add(&mut self, fresh: &[SightingRecord], end: bool) -> Result<Vec<Alert>, AgentError> {
        self.correlator
            .admit(fresh)
            .map_err(AgentError::Permanent)?;
        let before = self.held.sightings.len();
        self.held.sightings.extend_from_slice(fresh);
        let unevaluated = self.held.unevaluated + fresh.len();
        if unevaluated == 0 || (unevaluated < CORRELATE_EVERY && !end) {
            self.held.unevaluated = unevaluated;
            return Ok(Vec::new());
        }
        match self.completed() {
            Ok(alerts) => {
                for alert in &alerts {
                    self.held.raised.insert(alert.id.0.clone(), alert.timestamp);
                }
                self.held.unevaluated = 0;
                self.forget();
                Ok(alerts)
            }
            Err(error) => {
                self.held.sightings.truncate(before);
                Err(error)
            }
        }
    }

    /// The alerts of correlations the held sightings complete, not raised before.
    fn completed(&self) -> Result<Vec<Alert>, AgentError> {
        let detections = self
            .correlator
            .correlate(&self.held.sightings, self.partition, self.partitions)
            .map_err(AgentError::Permanent)?;
        let mut alerts: Vec<Alert> = Vec::new();
        for detection in detections {
            let id = EvidenceId::of(&detection.evidence);
            let alert_id = AlertId::of(&detection.rule.id, id);
            if self.held.raised.contains_key(&alert_id.0)
                || alerts.iter().any(|alert| alert.id == alert_id)
            {
                continue;
            }
            // The detecting process stores an event before it sends its sighting.
            let event = self
                .evidence
                .event(id)
                .map_err(|error| AgentError::Temporary(error.to_string()))?
                .ok_or_else(|| {
                    AgentError::Temporary(format!(
                        "the event {} a correlation cites is not stored (yet)",
                        detection.evidence
                    ))
                })?;
            alerts.push(crate::evidence::alert_from_detection(&detection, &event));
        }
        Ok(alerts)
    }
}

impl Agent<TeamMessage> for Correlate {
    async fn handle(
        &mut self,
        envelope: &Envelope<TeamMessage>,
        _context: &Context,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        let TeamMessage::Sighted { sightings, end } = &envelope.payload else {
            return Ok(Vec::new());
        };
        let alerts = self.add(sightings, end.is_some())?;
        Ok(alert_batches(&alerts)
            .into_iter()
            .map(|batch| TeamMessage::AlertRaised {
                alerts: batch.to_vec(),
            })
            .collect())
    }

    fn checkpoint(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(&self.held).ok()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        self.held = serde_json::from_slice(state).map_err(|error| error.to_string())?;
        Ok(())
    }
}
