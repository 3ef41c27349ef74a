//! Where sightings meet: correlation rules cut by entity so that several processes can share
//! them, each holding the state of a part.
//!
//! Correlations that read one another's detections form a *family*; a family runs as one.
//! Its key is the group-by names every member shares: a sighting's values of those names
//! decide its *meeting key*, and every sighting of one group of any member has the same key
//! (a member's group-by holds all of them). Sightings cut by meeting key therefore complete
//! the same correlations, each in one part, as all of them together would. A family whose
//! members share no group-by name has one key: it runs whole, in one part.

use crate::correlation::{Input, Sighting};
use crate::ruleset::RuleSet;
use garrison_model::Detection;

/// Correlations that read one another's detections, and the group-by names all of them share.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    /// The first member's rule id: names the family in meeting keys alike in every process.
    name: String,
    members: Vec<usize>,
    shared: Vec<String>,
}

/// The families of `correlations`' links (`reads[i]`: the correlations correlation `i` reads).
pub(crate) fn families(
    names: &[String],
    reads: &[Vec<usize>],
    groups: &[&[String]],
) -> Vec<Family> {
    let mut root: Vec<usize> = (0..reads.len()).collect();
    fn find(root: &mut [usize], mut at: usize) -> usize {
        while root[at] != at {
            root[at] = root[root[at]];
            at = root[at];
        }
        at
    }
    for (index, read) in reads.iter().enumerate() {
        for other in read {
            let (a, b) = (find(&mut root, index), find(&mut root, *other));
            root[a.max(b)] = a.min(b);
        }
    }
    let mut families: Vec<Family> = Vec::new();
    for (index, group) in groups.iter().enumerate().take(reads.len()) {
        let top = find(&mut root, index);
        match families.iter_mut().find(|family| family.members[0] == top) {
            Some(family) => {
                family.members.push(index);
                family.shared.retain(|name| group.contains(name));
            }
            None => families.push(Family {
                name: names[top].clone(),
                members: vec![index],
                shared: group.to_vec(),
            }),
        }
    }
    families
}

impl RuleSet {
    /// The meeting keys of a sighting: one per family of correlations reading its rule.
    pub fn meeting_keys(&self, sighting: &Sighting) -> Vec<String> {
        self.families()
            .iter()
            .filter_map(|family| self.meeting_key(family, sighting))
            .collect()
    }

    /// The sighting's meeting key in `family`, if a member reads its rule.
    fn meeting_key(&self, family: &Family, sighting: &Sighting) -> Option<String> {
        let input = Input::Rule(sighting.rule);
        let (member, position) = family.members.iter().find_map(|member| {
            let correlation = &self.correlations[*member];
            let position = correlation.inputs.iter().position(|i| *i == input)?;
            Some((correlation, position))
        })?;
        let mut key = family.name.clone();
        for name in &family.shared {
            key.push('\u{1f}');
            let value = member
                .group_by
                .iter()
                .position(|known| known == name)
                .and_then(|at| member.group_fields[position].get(at))
                .and_then(|field| {
                    sighting
                        .fields
                        .iter()
                        .find(|(known, _)| known == field)
                        .map(|(_, value)| value.as_str())
                });
            key.push_str(value.unwrap_or_default());
        }
        Some(key)
    }

    /// Runs every correlation over the sightings whose meeting key in its family `keep`
    /// accepts: one part's share of the correlations, when `keep` accepts that part's keys.
    pub fn correlate_part(
        &self,
        sightings: &[Sighting],
        keep: &dyn Fn(&str) -> bool,
    ) -> Vec<Detection> {
        let families = self.families();
        let mut member_of = vec![0; self.correlations.len()];
        for (index, family) in families.iter().enumerate() {
            for member in &family.members {
                member_of[*member] = index;
            }
        }
        // Per family, which sightings it keeps.
        let kept: Vec<Vec<bool>> = families
            .iter()
            .map(|family| {
                sightings
                    .iter()
                    .map(|sighting| {
                        self.meeting_key(family, sighting)
                            .is_some_and(|key| keep(&key))
                    })
                    .collect()
            })
            .collect();
        self.correlate_with(sightings, &|correlation, sighting| {
            kept[member_of[correlation]][sighting]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompileOptions, RuleSource};
    use garrison_model::{EvidenceRef, Timestamp};

    const RULES: &str = r#"
title: Failed logon
id: 11111111-0000-0000-0000-000000000001
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
---
title: Logon
id: 11111111-0000-0000-0000-000000000002
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624}
  condition: selection
---
title: Many failures
id: 22222222-0000-0000-0000-000000000001
name: many_failures
correlation:
  type: event_count
  rules: [11111111-0000-0000-0000-000000000001]
  group-by: [TargetUserName, Computer]
  timespan: 10m
  condition: {gte: 3}
---
title: Failures then success
id: 22222222-0000-0000-0000-000000000002
correlation:
  type: temporal_ordered
  rules: [many_failures, 11111111-0000-0000-0000-000000000002]
  group-by: [TargetUserName]
  timespan: 30m
  generate: true
---
title: One user on many hosts
id: 22222222-0000-0000-0000-000000000003
correlation:
  type: value_count
  rules: [11111111-0000-0000-0000-000000000002]
  group-by: [TargetUserName]
  timespan: 1h
  condition: {field: Computer, gte: 3}
"#;

    fn rules() -> RuleSet {
        let set = RuleSet::from_sources(
            &[RuleSource {
                path: "meeting.yml".into(),
                text: RULES.into(),
            }],
            &CompileOptions::default(),
        );
        assert!(set.errors().is_empty(), "{:?}", set.errors());
        assert_eq!(set.stats().correlations, 3);
        set
    }

    fn sighting(rule: u32, minute: i64, user: &str, host: &str, record: u64) -> Sighting {
        Sighting {
            rule,
            timestamp: Timestamp::from_second(1_700_000_000 + minute * 60).unwrap(),
            evidence: EvidenceRef {
                path: "meeting.evtx".into(),
                member: None,
                record_id: record,
                offset: record,
            },
            computer: Some(host.into()),
            channel: None,
            event_id: None,
            fields: vec![
                ("Computer".into(), host.into()),
                ("TargetUserName".into(), user.into()),
            ],
        }
    }

    #[test]
    fn parts_complete_what_all_sightings_together_complete() {
        let set = rules();
        let (failed, logon) = (0, 1);
        let mut sightings = Vec::new();
        let mut record = 0;
        for (index, user) in ["alice", "bob", "carol", "dave", "erin", "frank"]
            .iter()
            .enumerate()
        {
            for attempt in 0..3 {
                record += 1;
                sightings.push(sighting(
                    failed,
                    index as i64 + attempt,
                    user,
                    "ws1",
                    record,
                ));
            }
            for host in ["ws1", "ws2", "ws3"] {
                record += 1;
                sightings.push(sighting(logon, index as i64 + 5, user, host, record));
            }
        }
        let whole = set.correlate(&sightings);
        // 6 users x (many failures, failures then success, many hosts).
        assert_eq!(whole.len(), 18, "{whole:#?}");
        for count in [2, 3, 5] {
            let mut parts = Vec::new();
            let mut used = std::collections::BTreeSet::new();
            for part in 0..count {
                let keep = |key: &str| partition(key, count) == part;
                let found = set.correlate_part(&sightings, &keep);
                if !found.is_empty() {
                    used.insert(part);
                }
                parts.extend(found);
            }
            let ids = |detections: &[Detection]| {
                let mut ids: Vec<(String, u64)> = detections
                    .iter()
                    .map(|d| (d.rule.id.clone(), d.evidence.record_id))
                    .collect();
                ids.sort();
                ids
            };
            assert_eq!(ids(&parts), ids(&whole), "{count} parts");
            assert!(used.len() > 1, "{count} parts: the users spread over parts");
        }
    }

    #[test]
    fn a_sighting_has_one_meeting_key_per_family_reading_its_rule() {
        let set = rules();
        let failure = sighting(0, 0, "alice", "ws1", 1);
        let logon = sighting(1, 0, "alice", "ws2", 2);
        // Failures feed one family (many failures -> failures then success), keyed by user.
        let keys = set.meeting_keys(&failure);
        assert_eq!(
            keys,
            vec!["22222222-0000-0000-0000-000000000001\u{1f}alice"]
        );
        // Logons feed both families: the chain's and "many hosts"'.
        let keys = set.meeting_keys(&logon);
        assert_eq!(
            keys,
            vec![
                "22222222-0000-0000-0000-000000000001\u{1f}alice",
                "22222222-0000-0000-0000-000000000003\u{1f}alice"
            ]
        );
        let other = sighting(1, 0, "bob", "ws2", 3);
        assert_ne!(set.meeting_keys(&other), keys);
    }

    fn partition(key: &str, count: u32) -> u32 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in key.as_bytes() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash % u64::from(count)) as u32
    }
}
