//! The team's messages: one closed enum, one kind (and bus subject) per variant.

use garrison_bus::Message;
use garrison_model::{Alert, AlertId, Incident};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Everything agents say to each other. On the wire: `{"kind": ..., "body": {...}}`, the kind
/// first, so a receiver reads a body straight into its variant (an internally tagged enum
/// would buffer every batch of alerts in an intermediate tree first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum TeamMessage {
    /// detect -> triage: rules matched stored events; a batch of alerts in time order (one
    /// signed envelope for many alerts: signatures, not alerts, are what a flood costs).
    AlertRaised {
        #[serde(with = "crate::wire::alerts")]
        alerts: Vec<Alert>,
    },
    /// detect -> correlate: matches of rules correlation rules read, in time order, each
    /// with its meeting keys ([`crate::correlate`]).
    Sighted {
        sightings: Vec<crate::correlate::SightingRecord>,
        /// An end marker (no sightings): the sender has sent what it had, and the partition
        /// named correlates what it holds now ([`crate::correlate::EVERY_PARTITION`]: sent
        /// to each).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end: Option<u32>,
    },
    /// triage -> investigate: the alerts of a batch worth a look (closed alerts stop at
    /// triage), with triage's decision on each.
    AlertTriaged {
        #[serde(with = "crate::wire::triaged")]
        triaged: Vec<TriagedAlert>,
    },
    /// investigate -> verify: a new or changed incident, not yet checked.
    IncidentProposed { incident: Incident },
    /// verify -> report: the incident with every unsupported claim removed.
    IncidentVerified { incident: Incident },
    /// supervisor -> report: an incident whose verification never came, put in front of a
    /// human as it stands.
    IncidentStalled { incident: Incident, reason: String },
}

impl TeamMessage {
    /// The incident a report carries: verified, or stalled with the reason its verification
    /// never came.
    pub fn reported_incident(&self) -> Option<(&Incident, Option<&str>)> {
        match self {
            TeamMessage::IncidentVerified { incident } => Some((incident, None)),
            TeamMessage::IncidentStalled { incident, reason } => Some((incident, Some(reason))),
            _ => None,
        }
    }
}

/// One alert triage passed on, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriagedAlert {
    pub alert: Alert,
    pub decision: TriageDecision,
}

/// Alerts per `AlertRaised` batch at most: few messages, as a stateful agent (triage) takes
/// one at a time from a broker, which costs it round trips per message.
pub const ALERT_BATCH: usize = 1_024;

/// Bytes of one message's alerts or sightings at most, roughly (NATS refuses messages over its
/// `max_payload`, 1 MiB by default).
pub const BATCH_BYTES: usize = 256 * 1024;

/// The lengths of the consecutive batches `items` is cut into: at most `most` items each, and
/// about [`BATCH_BYTES`] by `size` (an item larger than that alone).
pub fn batch_lengths<T>(items: &[T], most: usize, size: impl Fn(&T) -> usize) -> Vec<usize> {
    lengths_by(items, most, |_: &(), item| size(item), |_, _| {})
}

/// As [`batch_lengths`], with an item's size depending on the batch it would join: `batch`
/// (fresh for every batch) is what the batch holds, `cost` what an item adds to it, and `add`
/// takes the item in.
fn lengths_by<'a, T, B: Default>(
    items: &'a [T],
    most: usize,
    cost: impl Fn(&B, &T) -> usize,
    mut add: impl FnMut(&mut B, &'a T),
) -> Vec<usize> {
    let most = most.max(1);
    let mut lengths = Vec::new();
    let mut batch = B::default();
    let (mut length, mut bytes) = (0, 0);
    for item in items {
        let mut own = cost(&batch, item);
        if length > 0 && (length >= most || bytes + own > BATCH_BYTES) {
            lengths.push(length);
            (length, bytes) = (0, 0);
            batch = B::default();
            own = cost(&batch, item);
        }
        add(&mut batch, item);
        length += 1;
        bytes += own;
    }
    if length > 0 {
        lengths.push(length);
    }
    lengths
}

/// `items` cut as [`batch_lengths`] says.
pub fn cut<'a, T>(items: &'a [T], lengths: &[usize]) -> Vec<&'a [T]> {
    let mut rest = items;
    lengths
        .iter()
        .map(|&length| {
            let (batch, after) = rest.split_at(length.min(rest.len()));
            rest = after;
            batch
        })
        .collect()
}

/// The lengths of the `AlertRaised` batches `alerts` is sent in, at most `most` alerts each
/// and about [`BATCH_BYTES`] in their wire form, or less: what a batch writes once is counted
/// once.
pub fn alert_batch_lengths(alerts: &[Alert], most: usize) -> Vec<usize> {
    lengths_by(alerts, most, WrittenOnce::cost, WrittenOnce::add)
}

/// `alerts` cut into `AlertRaised` batches of at most [`ALERT_BATCH`].
pub fn alert_batches(alerts: &[Alert]) -> Vec<&[Alert]> {
    cut(alerts, &alert_batch_lengths(alerts, ALERT_BATCH))
}

/// `alerts` in `AlertRaised` batches of at most [`ALERT_BATCH`] (and about [`BATCH_BYTES`]),
/// each holding one partition's alerts when the kind is cut into `partitions`: consecutive
/// runs of `ALERT_BATCH` alerts per partition are grouped by partition, each partition's in
/// their order, so a batch reaches its partition whole instead of as one small part per
/// partition (a stateful consumer pays per message). Across partitions, alerts move by at most
/// such a run, which the partitions' own pace outdoes.
pub fn partitioned_alert_batches(alerts: Vec<Alert>, partitions: u32) -> Vec<Vec<Alert>> {
    let mut batches = Vec::new();
    let mut cut_into_batches = |part: Vec<Alert>| {
        let lengths = alert_batch_lengths(&part, ALERT_BATCH);
        let mut part = part.into_iter();
        batches.extend(
            lengths
                .into_iter()
                .map(|length| part.by_ref().take(length).collect::<Vec<_>>()),
        );
    };
    if partitions <= 1 {
        cut_into_batches(alerts);
        return batches;
    }
    let mut alerts = alerts.into_iter().peekable();
    while alerts.peek().is_some() {
        let mut parts: Vec<Vec<Alert>> = vec![Vec::new(); partitions as usize];
        for alert in alerts.by_ref().take(ALERT_BATCH * partitions as usize) {
            parts[alert_partition(&alert, partitions) as usize].push(alert);
        }
        parts
            .into_iter()
            .filter(|part| !part.is_empty())
            .for_each(&mut cut_into_batches);
    }
    batches
}

/// The bytes `text` takes as a JSON string, quotes included, or a few more: serde_json
/// escapes `"`, `\` and control characters (six bytes at most for one).
fn json_length(text: &str) -> usize {
    let escapes: usize = text
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    2 + text.len() + escapes
}

fn json_option_length(text: Option<&str>) -> usize {
    text.map_or(4, json_length)
}

/// What a batch being cut already writes once (see [`crate::wire`]): its rules, by id, and
/// its strings (source paths, hosts, entity values, field names and values). An alert costs
/// its row, and only the rule and strings the batch does not hold yet: a flood of one rule on
/// one host costs little more than its rows.
#[derive(Default)]
struct WrittenOnce<'a> {
    rules: HashSet<&'a str>,
    strings: HashSet<&'a str>,
}

/// The strings of `alert` a batch writes once.
fn shared_strings(alert: &Alert) -> impl Iterator<Item = &str> {
    std::iter::once(&*alert.source.path)
        .chain(alert.host.as_deref())
        .chain(alert.entities.iter().map(|entity| entity.value.as_str()))
        .chain(
            alert
                .fields
                .iter()
                .flat_map(|(name, value)| [name.as_str(), value.as_str()]),
        )
}

impl<'a> WrittenOnce<'a> {
    /// About the bytes `alert` adds to the batch, or more.
    fn cost(&self, alert: &Alert) -> usize {
        let digits = |number: u64| number.checked_ilog10().unwrap_or(0) as usize + 1;
        // Distinct and new to the batch (an alert's host is often an entity too).
        let mut new: Vec<&str> = Vec::new();
        for text in shared_strings(alert) {
            if !self.strings.contains(text) && !new.contains(&text) {
                new.push(text);
            }
        }
        let strings: usize = new.iter().map(|text| 1 + json_length(text)).sum();
        // The longest index a string of this alert can have.
        let index = digits((self.strings.len() + new.len()) as u64);
        // An id its rule and record give is not written.
        let id = if alert.id.record_of(&alert.rule.id) == Some(alert.evidence) {
            4
        } else {
            json_length(&alert.id.0)
        };
        // Brackets and commas, indexes, time and event id at their longest, and the numbers
        // of the source and evidence.
        let row = 65
            + digits(alert.source.record_id)
            + digits(alert.source.offset)
            + digits(alert.evidence.0)
            + id
            + json_option_length(alert.source.member.as_deref())
            + json_option_length(alert.user.as_deref())
            + json_option_length(alert.channel.as_deref())
            + (4 + 2 * index) * alert.fields.len()
            + (20 + index) * alert.entities.len();
        let rule = if self.rules.contains(alert.rule.id.as_str()) {
            0
        } else {
            64 + json_length(&alert.rule.id)
                + json_length(&alert.rule.title)
                + alert
                    .rule
                    .tags
                    .iter()
                    .map(|tag| 1 + json_length(tag))
                    .sum::<usize>()
        };
        row + rule + strings
    }

    fn add(&mut self, alert: &'a Alert) {
        self.rules.insert(&alert.rule.id);
        self.strings.extend(shared_strings(alert));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TeamKind {
    AlertRaised,
    Sighted,
    AlertTriaged,
    IncidentProposed,
    IncidentVerified,
    IncidentStalled,
}

impl TeamKind {
    pub const ALL: [TeamKind; 6] = [
        TeamKind::AlertRaised,
        TeamKind::Sighted,
        TeamKind::AlertTriaged,
        TeamKind::IncidentProposed,
        TeamKind::IncidentVerified,
        TeamKind::IncidentStalled,
    ];
}

impl Message for TeamMessage {
    type Kind = TeamKind;
    /// 4: alert batches in their compact form ([`crate::wire`]); 5: rows leave out what the
    /// rest of them tells (ids of a rule and record, the repeated alert of the same rule), and
    /// name field texts among the batch's strings.
    const SCHEMA_VERSION: u16 = 5;

    fn kind(&self) -> TeamKind {
        match self {
            TeamMessage::AlertRaised { .. } => TeamKind::AlertRaised,
            TeamMessage::Sighted { .. } => TeamKind::Sighted,
            TeamMessage::AlertTriaged { .. } => TeamKind::AlertTriaged,
            TeamMessage::IncidentProposed { .. } => TeamKind::IncidentProposed,
            TeamMessage::IncidentVerified { .. } => TeamKind::IncidentVerified,
            TeamMessage::IncidentStalled { .. } => TeamKind::IncidentStalled,
        }
    }

    fn subject(kind: TeamKind) -> &'static str {
        match kind {
            TeamKind::AlertRaised => "alert.raised",
            TeamKind::Sighted => "sighting.raised",
            TeamKind::AlertTriaged => "alert.triaged",
            TeamKind::IncidentProposed => "incident.proposed",
            TeamKind::IncidentVerified => "incident.verified",
            TeamKind::IncidentStalled => "incident.stalled",
        }
    }

    /// Raised alerts are cut by entity: the host, else the person (in every form of their
    /// name), so every alert of one triage group lands in one partition.
    /// Sightings are cut by meeting key: one goes to the partition of each of its keys.
    fn split(self, partitions: u32) -> Vec<(u32, TeamMessage)> {
        let alerts = match self {
            TeamMessage::AlertRaised { alerts } => alerts,
            TeamMessage::Sighted { sightings, end } => {
                return split_sightings(sightings, end, partitions);
            }
            other => return vec![(0, other)],
        };
        let mut parts: Vec<(u32, Vec<Alert>)> = Vec::new();
        for alert in alerts {
            let partition = alert_partition(&alert, partitions);
            match parts.iter_mut().find(|(known, _)| *known == partition) {
                Some((_, part)) => part.push(alert),
                None => parts.push((partition, vec![alert])),
            }
        }
        parts
            .into_iter()
            .map(|(partition, alerts)| (partition, TeamMessage::AlertRaised { alerts }))
            .collect()
    }

    fn partition(&self, partitions: u32) -> Option<u32> {
        let alerts = match self {
            TeamMessage::AlertRaised { alerts } => alerts,
            TeamMessage::Sighted { sightings, end } => {
                return sightings_partition(sightings, *end, partitions);
            }
            _ => return Some(0),
        };
        let mut partition = None;
        for alert in alerts {
            let own = alert_partition(alert, partitions);
            if *partition.get_or_insert(own) != own {
                return None;
            }
        }
        Some(partition.unwrap_or(0))
    }
}

/// The partitions a sighting goes to: its keys' (partition 0 without any).
fn sighting_partitions(sighting: &crate::correlate::SightingRecord, partitions: u32) -> Vec<u32> {
    let mut found: Vec<u32> = sighting
        .keys
        .iter()
        .map(|key| garrison_bus::partition_of(key, partitions))
        .collect();
    found.sort_unstable();
    found.dedup();
    if found.is_empty() {
        found.push(0);
    }
    found
}

/// Sightings cut by key; an end marker (`end`) goes to its partition, or to every partition,
/// with that partition's part of the sightings or alone.
fn split_sightings(
    sightings: Vec<crate::correlate::SightingRecord>,
    end: Option<u32>,
    partitions: u32,
) -> Vec<(u32, TeamMessage)> {
    let mut parts: Vec<(u32, Vec<crate::correlate::SightingRecord>)> = Vec::new();
    let mut place = |partition: u32, sighting: Option<&crate::correlate::SightingRecord>| {
        let at = match parts.iter().position(|(known, _)| *known == partition) {
            Some(at) => at,
            None => {
                parts.push((partition, Vec::new()));
                parts.len() - 1
            }
        };
        parts[at].1.extend(sighting.cloned());
    };
    for sighting in &sightings {
        for partition in sighting_partitions(sighting, partitions) {
            place(partition, Some(sighting));
        }
    }
    let marked: Vec<u32> = match end {
        None => Vec::new(),
        Some(crate::correlate::EVERY_PARTITION) => (0..partitions.max(1)).collect(),
        Some(own) => vec![own],
    };
    for partition in &marked {
        place(*partition, None);
    }
    parts
        .into_iter()
        .map(|(partition, sightings)| {
            let end = marked.contains(&partition).then_some(partition);
            (partition, TeamMessage::Sighted { sightings, end })
        })
        .collect()
}

/// The partition every sighting of a message goes to (and its end marker names), if there
/// is one.
fn sightings_partition(
    sightings: &[crate::correlate::SightingRecord],
    end: Option<u32>,
    partitions: u32,
) -> Option<u32> {
    let mut common: Option<Vec<u32>> = end.map(|end| vec![end]);
    for sighting in sightings {
        let own = sighting_partitions(sighting, partitions);
        match &mut common {
            None => common = Some(own),
            Some(common) => common.retain(|partition| own.contains(partition)),
        }
    }
    common.map_or(Some(0), |common| common.first().copied())
}

/// The partition of an alert: by its host, else its person, else partition of "".
pub fn alert_partition(alert: &Alert, partitions: u32) -> u32 {
    let present = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    };
    let key = match (present(&alert.host), present(&alert.user)) {
        (Some(host), _) => format!("host:{}", host.to_lowercase()),
        (None, Some(user)) => format!("user:{}", crate::evidence::canonical_user(&user)),
        (None, None) => String::new(),
    };
    garrison_bus::partition_of(&key, partitions)
}

/// What triage decided about an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Known benign or too weak alone: recorded, not investigated.
    Close,
    /// Weak alone: investigated for context, low priority.
    Enrich,
    Investigate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriageDecision {
    pub alert: AlertId,
    /// Alerts of one rule on one host and user within the grouping window share a group.
    pub group: String,
    /// The group's first alert when this one repeats it.
    pub duplicate_of: Option<AlertId>,
    /// 0 to 100.
    pub score: u32,
    pub verdict: Verdict,
    /// Why, one reason per factor.
    pub reasons: Vec<String>,
    /// The alert's rule never fired on its host before, since triage's baseline learned
    /// what usually fires there (false for repeats and while it learns).
    #[serde(default)]
    pub new_on_host: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::{Entity, EntityKind, EvidenceId, EvidenceRef, Level, RuleRef};

    fn alert(n: u64, field_bytes: usize) -> Alert {
        let source = EvidenceRef {
            path: std::sync::Arc::from("logs/auth.log"),
            member: None,
            record_id: n,
            offset: n * 100,
        };
        Alert {
            id: AlertId(format!("al-{n}")),
            rule: RuleRef {
                id: "r1".into(),
                title: "Rule".into(),
                level: Level::High,
                tags: vec!["attack.t1110".into()],
            },
            timestamp: None,
            evidence: EvidenceId::of(&source),
            source,
            host: Some("web01".into()),
            user: None,
            channel: None,
            event_id: None,
            // Distinct: a value alerts share is written once per batch.
            fields: vec![(
                "CommandLine".into(),
                format!("{n:08}{}", "x".repeat(field_bytes)),
            )],
            entities: Vec::new(),
        }
    }

    #[test]
    fn alerts_are_cut_by_count_and_by_bytes_in_their_order() {
        let small: Vec<Alert> = (0..2_500).map(|n| alert(n, 10)).collect();
        let batches = alert_batches(&small);
        let lengths: Vec<usize> = batches.iter().map(|batch| batch.len()).collect();
        assert_eq!(lengths, [ALERT_BATCH, ALERT_BATCH, 452]);
        assert_eq!(batches[1][0].id.0, "al-1024");
        // 100 KB of fields each: two per batch; one over the bound goes alone.
        let mut large: Vec<Alert> = (0..5).map(|n| alert(n, 100 * 1024)).collect();
        large.insert(2, alert(99, 400 * 1024));
        let lengths: Vec<usize> = alert_batches(&large)
            .iter()
            .map(|batch| batch.len())
            .collect();
        assert_eq!(lengths, [2, 1, 2, 1]);
        assert!(alert_batches(&[]).is_empty());
        assert_eq!(alert_batch_lengths(&small[..10], 3), [3, 3, 3, 1]);
    }

    /// Alerts as other tools send them: a few long-titled rules, Windows paths and command
    /// lines (backslashes and quotes escaped in JSON), some hosts and users.
    fn tool_alert(n: u64) -> Alert {
        let mut alert = alert(n, 0);
        let rule = n % 7;
        alert.rule.id = format!("ait-ads:W-Sys-Rule{rule}");
        alert.rule.title =
            format!("Wazuh: Windows audit policy changed on a monitored host ({rule})");
        alert.source.path = std::sync::Arc::from(format!("/data/santos/wazuh-{}.json", n / 5_000));
        alert.host = Some(format!("host{:02}.santos.example", n % 13));
        alert.user = Some(format!("SANTOS\\user{}", n % 31));
        alert.fields = vec![
            (
                "full_log".into(),
                format!("\"C:\\Windows\\System32\\cmd.exe\" /c whoami {n}"),
            ),
            ("agent.ip".into(), format!("10.35.{}.{}", n % 7, n % 250)),
            (
                "data.win.eventdata.commandLine".into(),
                format!("powershell.exe -NoProfile -EncodedCommand SQBFAFgA{n:08}"),
            ),
        ];
        alert.entities = vec![Entity::new(EntityKind::Host, alert.host.clone().unwrap())];
        alert
    }

    #[test]
    fn batches_are_about_the_byte_bound_in_their_wire_form_and_never_over() {
        let alerts: Vec<Alert> = (0..20_000).map(tool_alert).collect();
        let batches = alert_batches(&alerts);
        assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), alerts.len());
        for (position, batch) in batches.iter().enumerate() {
            let message = TeamMessage::AlertRaised {
                alerts: batch.to_vec(),
            };
            let wire = serde_json::to_vec(&message).unwrap().len();
            assert!(wire <= BATCH_BYTES, "batch {position}: {wire} bytes");
            // These alerts are cut by bytes, not by count, and every batch but the last is
            // full: what repeats is not counted per alert.
            if position + 1 < batches.len() {
                assert!(batch.len() < ALERT_BATCH, "batch {position} cut by count");
                assert!(
                    wire * 10 >= BATCH_BYTES * 8,
                    "batch {position}: {wire} bytes"
                );
            }
        }
    }

    #[test]
    fn partitioned_batches_hold_one_partition_each_in_its_order() {
        let hosts = ["web01", "db02", "dc03", "mail04", "app05", "fs06"];
        let alerts: Vec<Alert> = (0..5_000)
            .map(|n| {
                let mut alert = alert(n, 10);
                alert.host = Some(hosts[n as usize % hosts.len()].into());
                alert
            })
            .collect();
        let partition = |alert: &Alert| alert_partition(alert, 4);
        let batches = partitioned_alert_batches(alerts.clone(), 4);
        // Every alert once; each batch one partition's, at most a full batch.
        let mut ids: Vec<&str> = batches.iter().flatten().map(|a| a.id.0.as_str()).collect();
        ids.sort_unstable();
        let mut expected: Vec<&str> = alerts.iter().map(|a| a.id.0.as_str()).collect();
        expected.sort_unstable();
        assert_eq!(ids, expected);
        for batch in &batches {
            assert!(!batch.is_empty() && batch.len() <= ALERT_BATCH);
            assert!(batch.iter().all(|a| partition(a) == partition(&batch[0])));
        }
        // Within a partition, alerts keep the stream's order.
        for own in 0..4 {
            let sent: Vec<&Alert> = batches
                .iter()
                .flatten()
                .filter(|a| partition(a) == own)
                .collect();
            let stream: Vec<&Alert> = alerts.iter().filter(|a| partition(a) == own).collect();
            assert_eq!(sent.len(), stream.len());
            assert!(sent.iter().zip(&stream).all(|(a, b)| a.id == b.id));
        }
        // Fewer messages than cutting each batch into its partitions' parts.
        let parts: usize = alert_batches(&alerts)
            .iter()
            .map(|batch| {
                let mut seen: Vec<u32> = batch.iter().map(partition).collect();
                seen.sort_unstable();
                seen.dedup();
                seen.len()
            })
            .sum();
        assert!(
            batches.len() < parts,
            "{} batches, {parts} parts",
            batches.len()
        );
        // Unpartitioned: the plain batches.
        let plain: Vec<usize> = partitioned_alert_batches(alerts.clone(), 1)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(
            plain,
            [ALERT_BATCH, ALERT_BATCH, ALERT_BATCH, ALERT_BATCH, 904]
        );
    }
}
