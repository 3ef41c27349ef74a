//! Detection findings (class 2004) from rule hits, with the rule's ATT&CK tags as `attacks`.

use garrison_model::Detection;
use garrison_model::detection::RuleKind;
use garrison_model::ocsf::{
    Analytic, Attack, AttackItem, DetectionFinding, Device, EventDetail, Evidence,
    FindingActivityId, FindingInfo, KeyValue, OcsfEvent, Os, Product, RelatedEvent, Severity,
};
use std::collections::BTreeMap;

/// ATT&CK Enterprise tactics by the name Sigma tags use (`attack.credential-access`).
const TACTICS: [(&str, &str, &str); 14] = [
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource-development", "TA0042", "Resource Development"),
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
    ("credential-access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral-movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("command-and-control", "TA0011", "Command and Control"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("impact", "TA0040", "Impact"),
];

/// The tactic a Sigma tag names (`attack.defense-evasion`, `attack.defense_evasion`,
/// `attack.ta0005`).
fn tactic_of_tag(tag: &str) -> Option<AttackItem> {
    let rest = tag
        .strip_prefix("attack.")?
        .to_ascii_lowercase()
        .replace('_', "-");
    let (_, uid, name) = TACTICS
        .iter()
        .find(|(slug, uid, _)| *slug == rest || uid.eq_ignore_ascii_case(&rest))?;
    Some(AttackItem {
        uid: Some(uid.to_string()),
        name: Some(name.to_string()),
        src_url: Some(format!("https://attack.mitre.org/tactics/{uid}/")),
    })
}

/// The technique and sub-technique a Sigma tag names (`attack.t1059.001`).
fn technique_of_tag(tag: &str) -> Option<(AttackItem, Option<AttackItem>)> {
    let rest = tag.strip_prefix("attack.")?;
    let id = rest.to_ascii_uppercase();
    let (technique, sub) = match id.split_once('.') {
        Some((technique, sub)) => (technique.to_string(), Some(sub.to_string())),
        None => (id.clone(), None),
    };
    let digits = technique.strip_prefix('T')?;
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if sub
        .as_ref()
        .is_some_and(|sub| sub.len() != 3 || !sub.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let technique_item = AttackItem {
        uid: Some(technique.clone()),
        name: None,
        src_url: Some(format!("https://attack.mitre.org/techniques/{technique}/")),
    };
    let sub_item = sub.map(|sub| AttackItem {
        uid: Some(format!("{technique}.{sub}")),
        name: None,
        src_url: Some(format!(
            "https://attack.mitre.org/techniques/{technique}/{sub}/"
        )),
    });
    Some((technique_item, sub_item))
}

/// `attacks` of a rule's tags: one per (tactic, technique) pair, or per tactic or technique
/// when the rule names only one kind.
fn attacks(tags: &[String]) -> Vec<Attack> {
    let tactics: Vec<AttackItem> = tags.iter().filter_map(|tag| tactic_of_tag(tag)).collect();
    let techniques: Vec<(AttackItem, Option<AttackItem>)> = tags
        .iter()
        .filter_map(|tag| technique_of_tag(tag))
        .collect();
    let mut attacks = Vec::new();
    if techniques.is_empty() {
        for tactic in tactics {
            attacks.push(Attack {
                tactic: Some(tactic),
                ..Attack::default()
            });
        }
        return attacks;
    }
    for (technique, sub_technique) in techniques {
        let pairs: Vec<Option<AttackItem>> = if tactics.is_empty() {
            vec![None]
        } else {
            tactics.iter().cloned().map(Some).collect()
        };
        for tactic in pairs {
            attacks.push(Attack {
                tactic,
                technique: Some(technique.clone()),
                sub_technique: sub_technique.clone(),
            });
        }
    }
    attacks
}

/// A rule tag as a key/value pair (`attack.t1059` -> `attack` = `t1059`).
fn tag_pair(tag: &str) -> KeyValue {
    match tag.split_once('.') {
        Some((namespace, value)) => KeyValue {
            name: namespace.to_string(),
            value: Some(value.to_string()),
        },
        None => KeyValue {
            name: tag.to_string(),
            value: None,
        },
    }
}

/// The Detection Finding (class 2004, activity Create) of a rule hit.
///
/// The finding's id is the rule id and the evidence reference of the matching record, so the
/// same hit always gets the same id; `time` is the matching record's time (findings are made
/// from logs after the fact, and the model has no clock).
pub fn detection_finding(detection: &Detection) -> OcsfEvent {
    let rule = &detection.rule;
    let finding_uid = format!("{}:{}", rule.id, detection.evidence);
    // Only Windows events name a computer and a channel.
    let device = detection.computer.as_ref().map(|computer| Device {
        hostname: Some(computer.clone()),
        type_id: 0,
        type_name: Some("Unknown".to_string()),
        os: detection.channel.as_ref().map(|_| Os::windows()),
        ..Device::default()
    });
    let attributes = DetectionFinding {
        activity: FindingActivityId::Create,
        finding_info: finding_info(detection, finding_uid.clone()),
        evidences: vec![evidence(detection, device.clone())],
        is_alert: Some(true),
    };
    let mut event = OcsfEvent::new(
        EventDetail::from(attributes),
        detection.evidence.clone(),
        Product {
            name: Some("Garrison".to_string()),
            vendor_name: Some("Garrison".to_string()),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        },
    );
    event.metadata.uid = Some(finding_uid);
    event.metadata.log_name = detection.channel.clone();
    event.metadata.event_code = detection.event_id.map(|id| id.to_string());
    event.metadata.original_event_uid = Some(detection.evidence.record_id.to_string());
    if let Some(time) = detection.timestamp {
        event.set_time(time);
    }
    event.severity = Severity::from(rule.level);
    event.status_id = Some(1);
    event.status = Some("New".to_string());
    event.message = Some(format!("Sigma rule matched: {}", rule.title));
    event.device = device;
    event.unmapped = rule_unmapped(detection);
    event
}

/// `finding_info`: the rule as analytic, its ATT&CK mapping and tags, and for correlations the
/// events that took part.
fn finding_info(detection: &Detection, uid: String) -> FindingInfo {
    let rule = &detection.rule;
    let correlation = detection.correlation.as_ref();
    let millis = |time: Option<garrison_model::Timestamp>| time.map(|time| time.as_millisecond());
    let related_events: Vec<RelatedEvent> = correlation
        .map(|context| {
            let events = context.events.iter();
            events
                .map(|event| RelatedEvent {
                    uid: event.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    FindingInfo {
        uid,
        title: Some(rule.title.clone()),
        desc: rule.description.clone(),
        types: vec![match rule.kind {
            RuleKind::Detection => "Sigma Detection".to_string(),
            RuleKind::Correlation => "Sigma Correlation".to_string(),
        }],
        analytic: Some(Analytic {
            uid: Some(rule.id.clone()),
            name: Some(rule.title.clone()),
            desc: rule.description.clone(),
            type_id: 1,
            type_name: Some("Rule".to_string()),
        }),
        attacks: attacks(&rule.tags),
        first_seen_time: millis(correlation.and_then(|c| c.first).or(detection.timestamp)),
        last_seen_time: millis(correlation.and_then(|c| c.last).or(detection.timestamp)),
        related_events_count: correlation.map(|_| related_events.len() as u64),
        related_events,
        tags: rule.tags.iter().map(|tag| tag_pair(tag)).collect(),
    }
}

/// The matching record as evidence: its reference and the field values the rule looked at
/// (and for correlations, the group's values).
fn evidence(detection: &Detection, device: Option<Device>) -> Evidence {
    let mut data: BTreeMap<String, String> = detection.fields.iter().cloned().collect();
    if let Some(context) = &detection.correlation {
        data.extend(context.group.iter().cloned());
    }
    Evidence {
        uid: Some(detection.evidence.to_string()),
        name: detection
            .channel
            .as_ref()
            .zip(detection.event_id)
            .map(|(channel, id)| format!("{channel} {id}")),
        device,
        data,
        ..Evidence::default()
    }
}

/// Rule attributes that have no place in a finding.
fn rule_unmapped(detection: &Detection) -> garrison_model::ocsf::Unmapped {
    let rule = &detection.rule;
    let mut unmapped = garrison_model::ocsf::Unmapped::new();
    unmapped.insert("rule.path".to_string(), rule.path.clone());
    unmapped.insert("rule.level".to_string(), rule.level.to_string());
    let optional = [
        ("rule.status", rule.status.as_ref()),
        ("rule.author", rule.author.as_ref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            unmapped.insert(name.to_string(), value.clone());
        }
    }
    if !rule.references.is_empty() {
        unmapped.insert("rule.references".to_string(), rule.references.join("\n"));
    }
    if !rule.falsepositives.is_empty() {
        unmapped.insert(
            "rule.falsepositives".to_string(),
            rule.falsepositives.join("\n"),
        );
    }
    if let Some(context) = &detection.correlation {
        unmapped.insert("correlation.count".to_string(), context.count.to_string());
    }
    unmapped
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::detection::{CorrelationContext, RuleInfo};
    use garrison_model::{EvidenceRef, Level};
    use std::sync::Arc;

    fn evidence(record_id: u64) -> EvidenceRef {
        EvidenceRef {
            path: "logs/Security.evtx".into(),
            member: None,
            record_id,
            offset: record_id * 100,
        }
    }

    fn detection(tags: &[&str]) -> Detection {
        Detection {
            rule: Arc::new(RuleInfo {
                id: "5f1b8a1e-0000-4000-8000-000000000001".into(),
                title: "Suspicious Encoded PowerShell".into(),
                level: Level::High,
                tags: tags.iter().map(|tag| tag.to_string()).collect(),
                status: Some("test".into()),
                description: Some("Encoded command line".into()),
                author: None,
                references: vec![],
                falsepositives: vec![],
                path: "rules/encoded.yml".into(),
                kind: RuleKind::Detection,
            }),
            timestamp: Some("2024-05-01T10:00:00.123Z".parse().unwrap()),
            evidence: evidence(42),
            computer: Some("WS01.corp.local".into()),
            channel: Some("Microsoft-Windows-Sysmon/Operational".into()),
            event_id: Some(1),
            fields: vec![("CommandLine".into(), "powershell -enc AAA".into())],
            correlation: None,
        }
    }

    #[test]
    fn finding_carries_rule_severity_and_evidence() {
        let finding = detection_finding(&detection(&["attack.execution", "attack.t1059.001"]));
        assert_eq!(finding.evidence, evidence(42));
        let json = finding.to_json();
        assert_eq!(json["class_uid"], 2004);
        assert_eq!(json["category_uid"], 2);
        assert_eq!(json["type_uid"], 200401);
        assert_eq!(json["severity_id"], 4);
        assert_eq!(json["severity"], "High");
        assert_eq!(json["status_id"], 1);
        assert_eq!(json["time"], 1_714_557_600_123_i64);
        let info = &json["finding_info"];
        assert_eq!(
            info["uid"],
            "5f1b8a1e-0000-4000-8000-000000000001:logs/Security.evtx#42@4200"
        );
        assert_eq!(info["title"], "Suspicious Encoded PowerShell");
        assert_eq!(
            info["analytic"]["uid"],
            "5f1b8a1e-0000-4000-8000-000000000001"
        );
        assert_eq!(info["analytic"]["type_id"], 1);
        assert_eq!(json["evidences"][0]["uid"], "logs/Security.evtx#42@4200");
        assert_eq!(
            json["evidences"][0]["data"]["CommandLine"],
            "powershell -enc AAA"
        );
        assert_eq!(json["metadata"]["product"]["name"], "Garrison");
        assert_eq!(
            json["metadata"]["log_name"],
            "Microsoft-Windows-Sysmon/Operational"
        );
        assert_eq!(json["device"]["hostname"], "WS01.corp.local");
        assert_eq!(json["unmapped"]["rule.path"], "rules/encoded.yml");
        assert_eq!(json["unmapped"]["rule.status"], "test");
    }

    #[test]
    fn attack_tags_become_tactic_technique_pairs() {
        let json = detection_finding(&detection(&[
            "attack.execution",
            "attack.defense_evasion",
            "attack.t1059.001",
            "attack.g0016",
            "cve.2021-1675",
        ]))
        .to_json();
        let attacks = json["finding_info"]["attacks"].as_array().unwrap();
        assert_eq!(attacks.len(), 2, "one technique under two tactics");
        assert_eq!(attacks[0]["tactic"]["uid"], "TA0002");
        assert_eq!(attacks[0]["tactic"]["name"], "Execution");
        assert_eq!(attacks[1]["tactic"]["uid"], "TA0005");
        assert_eq!(attacks[0]["technique"]["uid"], "T1059");
        assert_eq!(attacks[0]["sub_technique"]["uid"], "T1059.001");
        assert_eq!(
            attacks[0]["sub_technique"]["src_url"],
            "https://attack.mitre.org/techniques/T1059/001/"
        );
        let tags = json["finding_info"]["tags"].as_array().unwrap();
        assert_eq!(tags.len(), 5, "every tag is kept");
        assert_eq!(tags[4]["name"], "cve");
        assert_eq!(tags[4]["value"], "2021-1675");
    }

    #[test]
    fn tags_without_techniques_or_tactics() {
        let only_tactic = attacks(&["attack.persistence".to_string()]);
        assert_eq!(only_tactic.len(), 1);
        assert!(only_tactic[0].technique.is_none());
        let only_technique = attacks(&["attack.t1003".to_string()]);
        assert_eq!(only_technique.len(), 1);
        assert!(only_technique[0].tactic.is_none());
        assert!(only_technique[0].sub_technique.is_none());
        assert!(attacks(&["attack.s0002".to_string(), "attack.t12".to_string()]).is_empty());
    }

    #[test]
    fn correlation_lists_related_events() {
        let mut hit = detection(&[]);
        hit.correlation = Some(CorrelationContext {
            group: vec![("TargetUserName".into(), "alice".into())],
            count: 3,
            first: Some("2024-05-01T09:59:00Z".parse().unwrap()),
            last: Some("2024-05-01T10:00:00.123Z".parse().unwrap()),
            events: vec![evidence(40), evidence(41), evidence(42)],
        });
        let json = detection_finding(&hit).to_json();
        let info = &json["finding_info"];
        assert_eq!(info["related_events_count"], 3);
        assert_eq!(
            info["related_events"][0]["uid"],
            "logs/Security.evtx#40@4000"
        );
        assert_eq!(info["first_seen_time"], 1_714_557_540_000_i64);
        assert_eq!(json["evidences"][0]["data"]["TargetUserName"], "alice");
        assert_eq!(json["unmapped"]["correlation.count"], "3");
    }
}
