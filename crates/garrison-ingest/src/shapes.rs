//! Recognises the JSON shapes records are shipped in: Windows events (renamed to the canonical
//! Windows names, so Sigma rules match them like events read from EVTX), Zeek, journald, the
//! Log Analytics tables of [`crate::log_analytics`] and the cloud logs of [`crate::cloud`].

use crate::json::{Naming, flatten_json};
use crate::time::parse_timestamp;
use garrison_model::event::windows;
use garrison_model::{Fields, RecordFormat, Timestamp, ValueKind};

/// Decodes one JSON object into `fields` (cleared first); returns its shape and time.
pub fn decode_json_record(
    bytes: &[u8],
    fields: &mut Fields,
    scratch: &mut Fields,
) -> Result<(RecordFormat, Option<Timestamp>), serde_json::Error> {
    fields.clear();
    if first_key_is_event(bytes) {
        flatten_json(bytes, Naming::WindowsEvent, fields)?;
        let timestamp = fields
            .value(windows::TIME_CREATED)
            .and_then(parse_timestamp);
        return Ok((RecordFormat::EvtxJson, timestamp));
    }
    scratch.clear();
    flatten_json(bytes, Naming::Dotted, scratch)?;
    if let Some((format, timestamp)) = crate::log_analytics::decode_table(scratch, fields) {
        return Ok((format, timestamp));
    }
    let format = if scratch
        .iter()
        .any(|field| field.name.starts_with("winlog."))
    {
        RecordFormat::Winlogbeat
    } else if scratch.get("EventID").is_some()
        && (scratch.get("Channel").is_some() || scratch.get("SourceName").is_some())
    {
        RecordFormat::FlatWindows
    } else if is_zeek_record(scratch) {
        RecordFormat::Zeek
    } else if is_suricata_record(scratch) {
        RecordFormat::Suricata
    } else if is_wazuh_alert(scratch) {
        RecordFormat::Wazuh
    } else if is_sentinel_alert(scratch) {
        RecordFormat::SentinelAlert
    } else if is_journald_entry(scratch) {
        RecordFormat::Journald
    } else if let Some(cloud) = crate::cloud::cloud_format(scratch) {
        let timestamp = crate::cloud::add_cloud_fields(cloud, bytes, scratch, fields);
        return Ok((cloud, timestamp));
    } else {
        RecordFormat::Json
    };
    for field in scratch.iter() {
        let name = match format {
            RecordFormat::Winlogbeat => winlogbeat_name(field.name),
            RecordFormat::FlatWindows => flat_windows_name(field.name),
            _ => Some(field.name),
        };
        if let Some(name) = name {
            fields.push(name, field.value, field.kind);
        }
    }
    if format == RecordFormat::Winlogbeat {
        // ECS copies of what winlog may lack.
        for (fallback, canonical) in [
            ("event.code", windows::EVENT_ID),
            ("host.name", windows::COMPUTER),
        ] {
            if fields.get(canonical).is_none()
                && let Some(field) = scratch.get(fallback)
            {
                fields.push(canonical, field.value, field.kind);
            }
        }
    }
    if format == RecordFormat::Zeek {
        let timestamp = fields.value("ts").and_then(parse_timestamp);
        return Ok((format, timestamp));
    }
    if matches!(format, RecordFormat::Suricata | RecordFormat::Wazuh) {
        let timestamp = fields.value("timestamp").and_then(parse_timestamp);
        return Ok((format, timestamp));
    }
    if format == RecordFormat::SentinelAlert {
        // Log Analytics writes the alert's entities and properties as JSON text.
        for name in ["Entities", "ExtendedProperties"] {
            if let Some(text) = scratch.value(name) {
                crate::cloud::expand_json_text(name, text, fields);
            }
        }
        let timestamp = fields.value("TimeGenerated").and_then(parse_timestamp);
        return Ok((format, timestamp));
    }
    if format == RecordFormat::Journald {
        add_syslog_names(scratch, fields);
        let timestamp = fields
            .value("__REALTIME_TIMESTAMP")
            .or_else(|| fields.value("_SOURCE_REALTIME_TIMESTAMP"))
            .and_then(parse_timestamp);
        return Ok((format, timestamp));
    }
    let timestamp = [
        "@timestamp",
        "TimeCreated",
        "timestamp",
        "time",
        "eventTime",
        "published",
        "EventTime",
    ]
    .iter()
    .find_map(|name| fields.value(name).and_then(parse_timestamp));
    Ok((format, timestamp))
}

/// Zeek's JSON writer: `ts` with the connection `uid`, or the `_path` it adds when configured.
fn is_zeek_record(fields: &Fields) -> bool {
    fields.get("ts").is_some()
        && (fields.get("_path").is_some()
            || fields.get("uid").is_some()
            || fields.get("id.orig_h").is_some()
            || fields.get("fuid").is_some())
}

/// Suricata's EVE output: `event_type` with the flow's addresses or id.
fn is_suricata_record(fields: &Fields) -> bool {
    fields.get("event_type").is_some()
        && fields.get("timestamp").is_some()
        && (fields.get("flow_id").is_some() || fields.get("src_ip").is_some())
}

/// Wazuh's `alerts.json`: a rule with its level, on an agent or the manager.
fn is_wazuh_alert(fields: &Fields) -> bool {
    fields.get("rule.level").is_some()
        && fields.get("rule.id").is_some()
        && fields.get("timestamp").is_some()
        && (fields.get("agent.id").is_some()
            || fields.get("agent.name").is_some()
            || fields.get("manager.name").is_some())
}

/// A Sentinel / Defender `SecurityAlert` row exported from Log Analytics.
fn is_sentinel_alert(fields: &Fields) -> bool {
    fields.value("Type") == Some("SecurityAlert")
        || (fields.get("AlertName").is_some()
            && fields.get("AlertSeverity").is_some()
            && fields.get("SystemAlertId").is_some())
}

/// journald's JSON export: its address fields, or a message with journald's trusted fields.
fn is_journald_entry(fields: &Fields) -> bool {
    fields.get("__REALTIME_TIMESTAMP").is_some()
        || fields.get("__CURSOR").is_some()
        || (fields.get("MESSAGE").is_some()
            && (fields.get("_HOSTNAME").is_some() || fields.get("SYSLOG_IDENTIFIER").is_some()))
}

/// The syslog names of a journald entry's fields (`hostname`, `program`, `pid`, `message`,
/// `facility`, `severity`), then its message parsed as syslog's is.
fn add_syslog_names(entry: &Fields, fields: &mut Fields) {
    for (name, sources) in [
        ("hostname", &["_HOSTNAME"][..]),
        ("program", &["SYSLOG_IDENTIFIER", "_COMM"][..]),
        ("pid", &["SYSLOG_PID", "_PID"][..]),
        ("message", &["MESSAGE"][..]),
    ] {
        if let Some(field) = sources.iter().find_map(|source| entry.get(source)) {
            fields.push(name, field.value, ValueKind::Text);
        }
    }
    let number = |name: &str| entry.value(name).and_then(|v| v.parse::<usize>().ok());
    if let Some(facility) = number("SYSLOG_FACILITY").and_then(|n| crate::syslog::FACILITIES.get(n))
    {
        fields.push("facility", facility, ValueKind::Text);
    }
    if let Some(severity) = number("PRIORITY").and_then(|n| crate::syslog::SEVERITIES.get(n)) {
        fields.push("severity", severity, ValueKind::Text);
    }
    let program = entry
        .value("SYSLOG_IDENTIFIER")
        .or_else(|| entry.value("_COMM"))
        .unwrap_or_default();
    crate::linux_messages::parse(program, entry.value("MESSAGE").unwrap_or_default(), fields);
}

fn first_key_is_event(bytes: &[u8]) -> bool {
    let mut rest = bytes.trim_ascii_start();
    if rest.first() != Some(&b'{') {
        return false;
    }
    rest = rest[1..].trim_ascii_start();
    rest.starts_with(b"\"Event\"")
}

/// Winlogbeat / Elastic Agent (`winlog.*`) names to canonical Windows names.
fn winlogbeat_name(name: &str) -> Option<&str> {
    if let Some(field) = name
        .strip_prefix("winlog.event_data.")
        .or_else(|| name.strip_prefix("winlog.user_data."))
    {
        return Some(field);
    }
    Some(match name {
        "winlog.channel" => windows::CHANNEL,
        "winlog.event_id" => windows::EVENT_ID,
        "winlog.computer_name" => windows::COMPUTER,
        "winlog.record_id" => windows::EVENT_RECORD_ID,
        "winlog.provider_name" => windows::PROVIDER_NAME,
        "winlog.provider_guid" => windows::PROVIDER_GUID,
        "winlog.task" => windows::TASK,
        "winlog.opcode" => windows::OPCODE,
        "winlog.keywords" => windows::KEYWORDS,
        "winlog.version" => windows::VERSION,
        "winlog.process.pid" => windows::EXECUTION_PROCESS_ID,
        "winlog.process.thread.id" => windows::EXECUTION_THREAD_ID,
        "winlog.user.identifier" => windows::SECURITY_USER_ID,
        "winlog.activity_id" => windows::ACTIVITY_ID,
        "winlog.related_activity_id" => windows::RELATED_ACTIVITY_ID,
        other => other,
    })
}

/// NXLog-style flat names (as in the OTRF datasets) to canonical Windows names.
fn flat_windows_name(name: &str) -> Option<&str> {
    Some(match name {
        "Hostname" => windows::COMPUTER,
        "SourceName" => windows::PROVIDER_NAME,
        "ProviderGuid" => windows::PROVIDER_GUID,
        "RecordNumber" => windows::EVENT_RECORD_ID,
        "ExecutionProcessID" => windows::EXECUTION_PROCESS_ID,
        "ThreadID" => windows::EXECUTION_THREAD_ID,
        "UserID" => windows::SECURITY_USER_ID,
        "ActivityID" => windows::ACTIVITY_ID,
        "RelatedActivityID" => windows::RELATED_ACTIVITY_ID,
        other => other,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One JSON record decoded: its shape, time and fields (shared by the tests of the
    /// shape modules).
    pub(crate) fn decode(text: &str) -> (RecordFormat, Option<Timestamp>, Fields) {
        let mut fields = Fields::new();
        let mut scratch = Fields::new();
        let (format, timestamp) =
            decode_json_record(text.as_bytes(), &mut fields, &mut scratch).unwrap();
        (format, timestamp, fields)
    }

    #[test]
    fn winlogbeat_events_get_canonical_names() {
        let (format, timestamp, fields) = decode(
            r#"{"@timestamp":"2024-03-01T10:00:00.000Z","winlog":{"channel":"Security","event_id":4624,"computer_name":"dc1","record_id":77,"provider_name":"Microsoft-Windows-Security-Auditing","event_data":{"TargetUserName":"alice","LogonType":"3"}},"host":{"name":"dc1.corp"}}"#,
        );
        assert_eq!(format, RecordFormat::Winlogbeat);
        assert_eq!(timestamp, Some("2024-03-01T10:00:00Z".parse().unwrap()));
        assert_eq!(fields.value("Channel"), Some("Security"));
        assert_eq!(fields.value("EventID"), Some("4624"));
        assert_eq!(fields.value("Computer"), Some("dc1"));
        assert_eq!(fields.value("EventRecordID"), Some("77"));
        assert_eq!(fields.value("TargetUserName"), Some("alice"));
        assert_eq!(fields.value("host.name"), Some("dc1.corp"));
    }

    #[test]
    fn flat_windows_events_get_canonical_names() {
        let (format, timestamp, fields) = decode(
            r#"{"EventID":10,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"MORDORDC","SourceName":"Microsoft-Windows-Sysmon","RecordNumber":757026,"@timestamp":"2020-08-07T14:32:25.358Z","TargetImage":"C:\\windows\\system32\\lsass.exe"}"#,
        );
        assert_eq!(format, RecordFormat::FlatWindows);
        assert!(timestamp.is_some());
        assert_eq!(fields.value("Computer"), Some("MORDORDC"));
        assert_eq!(
            fields.value("Provider_Name"),
            Some("Microsoft-Windows-Sysmon")
        );
        assert_eq!(fields.value("EventRecordID"), Some("757026"));
        assert_eq!(
            fields.value("TargetImage"),
            Some("C:\\windows\\system32\\lsass.exe")
        );
    }

    #[test]
    fn evtx_json_and_plain_json() {
        let (format, timestamp, fields) = decode(
            r##"{"Event":{"System":{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","TimeCreated":{"#attributes":{"SystemTime":"2025-11-27T07:40:10.165324Z"}}},"EventData":{"Image":"x.exe"}}}"##,
        );
        assert_eq!(format, RecordFormat::EvtxJson);
        assert_eq!(
            timestamp,
            Some("2025-11-27T07:40:10.165324Z".parse().unwrap())
        );
        assert_eq!(fields.value("Image"), Some("x.exe"));
        let (format, timestamp, fields) =
            decode(r#"{"eventTime":"2021-01-01T00:00:00Z","userIdentity":{"type":"Root"}}"#);
        assert_eq!(format, RecordFormat::Json);
        assert!(timestamp.is_some());
        assert_eq!(fields.value("userIdentity.type"), Some("Root"));
    }

    #[test]
    fn journald_entries_get_syslog_names() {
        let (format, timestamp, fields) = decode(
            r#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1709290800123456","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"sshd","_PID":"811","PRIORITY":"6","SYSLOG_FACILITY":"10","MESSAGE":"Accepted password for alice from 10.0.0.5 port 51234 ssh2","_COMM":"sshd"}"#,
        );
        assert_eq!(format, RecordFormat::Journald);
        assert_eq!(
            timestamp,
            Some("2024-03-01T11:00:00.123456Z".parse().unwrap())
        );
        assert_eq!(fields.value("hostname"), Some("web1"));
        assert_eq!(fields.value("program"), Some("sshd"));
        assert_eq!(fields.value("pid"), Some("811"));
        assert_eq!(fields.value("facility"), Some("authpriv"));
        assert_eq!(fields.value("severity"), Some("info"));
        assert_eq!(fields.value("user"), Some("alice"));
        assert_eq!(fields.value("outcome"), Some("success"));
        assert_eq!(fields.value("_COMM"), Some("sshd"));
    }
}
