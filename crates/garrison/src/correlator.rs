//! The Sigma rule set as the correlate role runs it ([`garrison_agents::correlate`]): the
//! sightings a detecting process sends, with their meeting keys, and correlations over the
//! sightings of one partition.

use garrison_agents::correlate::{Correlator, SightingRecord};
use garrison_model::Detection;
use garrison_sigma::{RuleSet, Sighting};
use std::collections::HashMap;
use std::sync::Arc;

/// The record of `sighting` sent to the correlate role.
pub fn record(rules: &RuleSet, sighting: Sighting) -> SightingRecord {
    SightingRecord {
        rule: rules.rule(sighting.rule).id.clone(),
        keys: rules.meeting_keys(&sighting),
        timestamp: sighting.timestamp,
        evidence: sighting.evidence,
        computer: sighting.computer,
        channel: sighting.channel,
        event_id: sighting.event_id,
        fields: sighting.fields,
    }
}

/// Correlations of a loaded rule set.
pub struct RuleCorrelator {
    rules: Arc<RuleSet>,
    /// The rules correlations read, by id.
    read: HashMap<String, u32>,
}

impl RuleCorrelator {
    pub fn new(rules: Arc<RuleSet>) -> RuleCorrelator {
        let read = (0..rules.rule_count() as u32)
            .filter(|rule| rules.feeds_correlation(*rule))
            .map(|rule| (rules.rule(rule).id.clone(), rule))
            .collect();
        RuleCorrelator { rules, read }
    }

    /// The sighting a record carries, checked against this rule set.
    fn sighting(&self, record: &SightingRecord) -> Result<Sighting, String> {
        let Some(rule) = self.read.get(&record.rule) else {
            return Err(format!(
                "a sighting of rule {}, which no correlation loaded here reads: the \
                 deployment's processes must load the same rules",
                record.rule
            ));
        };
        let sighting = Sighting {
            rule: *rule,
            timestamp: record.timestamp,
            evidence: record.evidence.clone(),
            computer: record.computer.clone(),
            channel: record.channel.clone(),
            event_id: record.event_id,
            fields: record.fields.clone(),
        };
        if self.rules.meeting_keys(&sighting) != record.keys {
            return Err(format!(
                "a sighting of rule {} meets others elsewhere than the correlations loaded here \
                 say: the deployment's processes must load the same rules",
                record.rule
            ));
        }
        Ok(sighting)
    }
}

impl Correlator for RuleCorrelator {
    fn correlate(
        &self,
        records: &[SightingRecord],
        partition: u32,
        partitions: u32,
    ) -> Result<Vec<Detection>, String> {
        let sightings = records
            .iter()
            .map(|record| self.sighting(record))
            .collect::<Result<Vec<_>, _>>()?;
        let keep = |key: &str| garrison_bus::partition_of(key, partitions) == partition;
        Ok(self.rules.correlate_part(&sightings, &keep))
    }

    fn horizon(&self) -> jiff::SignedDuration {
        self.rules
            .correlation_horizon()
            .unwrap_or(jiff::SignedDuration::ZERO)
    }
}
