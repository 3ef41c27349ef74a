//! Hand-built Windows events for the normalizer tests.

use garrison_model::{Event, EvidenceRef, Fields, RecordFormat, ValueKind};

/// An EVTX event with the given fields only (no System fields added).
pub(crate) fn event_with(fields: &[(&str, &str)]) -> Event {
    let mut all = Fields::new();
    for (name, value) in fields {
        all.push(name, value, ValueKind::Text);
    }
    Event {
        evidence: EvidenceRef {
            path: "logs/host.evtx".into(),
            member: None,
            record_id: 77,
            offset: 8192,
        },
        timestamp: Some("2024-05-01T10:00:00.123Z".parse().unwrap()),
        format: RecordFormat::Evtx,
        fields: all,
    }
}

/// An EVTX event of `channel` and `event_id` with typical System fields and then `data`.
pub(crate) fn windows_event(channel: &str, event_id: u32, data: &[(&str, &str)]) -> Event {
    let provider = match channel {
        "Microsoft-Windows-Sysmon/Operational" => "Microsoft-Windows-Sysmon",
        "Security" => "Microsoft-Windows-Security-Auditing",
        "System" => "Service Control Manager",
        "Microsoft-Windows-TaskScheduler/Operational" => "Microsoft-Windows-TaskScheduler",
        _ => "Some-Provider",
    };
    let event_id = event_id.to_string();
    let mut fields = vec![
        ("EventID", event_id.as_str()),
        ("Version", "5"),
        ("Level", "4"),
        ("Provider_Name", provider),
        ("EventRecordID", "77"),
        ("TimeCreated_SystemTime", "2024-05-01T10:00:00.1234567Z"),
        ("Execution_ProcessID", "3100"),
        ("Channel", channel),
        ("Computer", "WS01.corp.local"),
    ];
    fields.extend_from_slice(data);
    event_with(&fields)
}

/// The normalized event of `channel`/`event_id` with `data`, as OCSF JSON.
pub(crate) fn normalized_json(
    channel: &str,
    event_id: u32,
    data: &[(&str, &str)],
) -> serde_json::Value {
    let event = windows_event(channel, event_id, data);
    super::normalize(&event)
        .unwrap_or_else(|| panic!("{channel} {event_id} normalizes"))
        .to_json()
}

pub(crate) const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";
