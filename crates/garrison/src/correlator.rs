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

    /// The sighting a record carries (of a rule a correlation reads here).
    fn sighting(&self, record: &SightingRecord) -> Result<Sighting, String> {
        let Some(rule) = self.read.get(&record.rule) else {
            return Err(format!(
                "a sighting of rule {}, which no correlation loaded here reads: the \
                 deployment's processes must load the same rules",
                record.rule
            ));
        };
        Ok(Sighting {
            rule: *rule,
            timestamp: record.timestamp,
            evidence: record.evidence.clone(),
            computer: record.computer.clone(),
            channel: record.channel.clone(),
            event_id: record.event_id,
            fields: record.fields.clone(),
        })
    }
}

impl Correlator for RuleCorrelator {
    fn admit(&self, records: &[SightingRecord]) -> Result<(), String> {
        for record in records {
            if self.rules.meeting_keys(&self.sighting(record)?) != record.keys {
                return Err(format!(
                    "a sighting of rule {} meets others elsewhere than the correlations loaded \
                     here say: the deployment's processes must load the same rules",
                    record.rule
                ));
            }
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::{EvidenceRef, Timestamp};

    const RULES: &str = "title: Failed logon\nid: failed-logon\nname: failed_logon\nlevel: low\nlogsource:\n    product: test\ndetection:\n    sel:\n        action: failed\n    condition: sel\n---\ntitle: Failed twice\nid: failed-twice\nlevel: high\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [source]\n    timespan: 5m\n    condition:\n        gte: 2\n";

    fn failure(rules: &RuleSet, record: u64, source: &str) -> SightingRecord {
        let sighting = Sighting {
            rule: 0,
            timestamp: Timestamp::from_second(1_700_000_000 + record as i64).unwrap(),
            evidence: EvidenceRef {
                path: "auth.log".into(),
                member: None,
                record_id: record,
                offset: record * 100,
            },
            computer: None,
            channel: None,
            event_id: None,
            fields: vec![("source".into(), source.into())],
        };
        super::record(rules, sighting)
    }

    #[test]
    fn sightings_of_other_rule_sets_are_refused_and_the_rest_correlated_by_partition() {
        let rules = Arc::new(RuleSet::from_sources(
            &[garrison_sigma::RuleSource {
                path: "rules.yml".into(),
                text: RULES.into(),
            }],
            &Default::default(),
        ));
        let correlator = RuleCorrelator::new(rules.clone());
        let two = [
            failure(&rules, 1, "203.0.113.50"),
            failure(&rules, 2, "203.0.113.50"),
        ];
        assert_eq!(two[0].rule, "failed-logon");
        assert_eq!(two[0].keys, vec!["failed-twice\u{1f}203.0.113.50"]);
        correlator.admit(&two).unwrap();
        // Only the partition of the source's key completes it.
        let own = garrison_bus::partition_of(&two[0].keys[0], 4);
        for partition in 0..4 {
            let found = correlator.correlate(&two, partition, 4).unwrap();
            assert_eq!(
                found.len(),
                usize::from(partition == own),
                "partition {partition}"
            );
        }
        // A rule this process did not load, and keys another rule set gave.
        let mut unknown = two[0].clone();
        unknown.rule = "elsewhere".into();
        let said = correlator.admit(&[unknown]).unwrap_err();
        assert!(said.contains("no correlation loaded here reads"), "{said}");
        let mut moved = two[0].clone();
        moved.keys = vec!["other-family\u{1f}203.0.113.50".into()];
        let said = correlator.admit(&[moved]).unwrap_err();
        assert!(said.contains("meets others elsewhere"), "{said}");
    }
}
