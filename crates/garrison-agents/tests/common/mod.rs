//! What the agents' tests share: a fixed clock, stored events written like Sysmon's and
//! detections of them.

#![allow(dead_code)]

use garrison_agents::Clock;
use garrison_model::{Detection, EvidenceId, EvidenceRef, Level, RuleInfo};
use garrison_store::StoredEvent;
use std::sync::Arc;

pub struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> jiff::Timestamp {
        "2026-11-26T02:00:00Z".parse().unwrap()
    }
}

pub const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

pub fn at(minute: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_760_000_000 + minute * 60).unwrap()
}

pub fn event(
    record: u64,
    host: &str,
    minute: i64,
    event_id: u32,
    fields: &[(&str, &str)],
) -> StoredEvent {
    let source = EvidenceRef {
        path: Arc::from(format!("{host}.evtx")),
        member: None,
        record_id: record,
        offset: record * 512,
    };
    let mut event = StoredEvent {
        id: EvidenceId::of(&source),
        timestamp: Some(at(minute)),
        host: Some(host.into()),
        user: Some("CORP\\alice".into()),
        channel: Some(if event_id == 4624 { "Security" } else { SYSMON }.into()),
        event_id: Some(event_id),
        source,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        process_key: None,
        parent_key: None,
        session_key: None,
        host_address: None,
        lease: None,
    };
    garrison_agents::process_tree::index_process(&mut event);
    event
}

pub fn process(
    record: u64,
    host: &str,
    minute: i64,
    guid: &str,
    parent: &str,
    image: &str,
    cmd: &str,
) -> StoredEvent {
    event(
        record,
        host,
        minute,
        1,
        &[
            ("ProcessGuid", guid),
            ("ParentProcessGuid", parent),
            ("Image", image),
            ("CommandLine", cmd),
            ("User", "CORP\\alice"),
            ("ProcessId", &record.to_string()),
        ],
    )
}

pub fn detection(rule: &str, level: Level, tags: &[&str], event: &StoredEvent) -> Detection {
    Detection {
        rule: Arc::new(RuleInfo {
            id: rule.into(),
            title: format!("rule {rule}"),
            level,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            status: None,
            description: None,
            author: None,
            references: vec![],
            falsepositives: vec![],
            path: "test".into(),
            kind: garrison_model::detection::RuleKind::Detection,
        }),
        timestamp: event.timestamp,
        evidence: event.source.clone(),
        computer: event.host.clone(),
        channel: event.channel.clone(),
        event_id: event.event_id,
        fields: vec![],
        correlation: None,
    }
}
