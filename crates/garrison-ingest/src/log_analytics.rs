//! Records exported from Microsoft Sentinel / Log Analytics tables (each names its table in
//! `Type`) and the Microsoft 365 records that reach a SOC beside them, read into the names
//! the rest of Garrison uses for the same data:
//!
//! - `SecurityEvent`, `WindowsEvent` and `Event`: Windows events, flat, with `EventData` kept
//!   as JSON (`WindowsEvent`) or XML (`SecurityEvent`, `Event`) text. They become flat Windows
//!   records ([`RecordFormat::FlatWindows`]) with the text opened into fields, so Windows Sigma
//!   rules and the Windows normalizer read them as events from EVTX.
//! - `Syslog`: a syslog message with its parts in columns (`ProcessName`, `SyslogMessage`,
//!   `Facility`, ...), read as [`RecordFormat::Syslog`]; Sysmon for Linux events (XML in the
//!   message) as [`RecordFormat::SysmonLinux`], AUOMS audit events as [`RecordFormat::Auditd`].
//! - `OfficeActivity` and the Office 365 Management Activity API's JSON: the unified audit
//!   log ([`RecordFormat::M365Audit`]) under the API's names.
//! - `VMConnection` ([`RecordFormat::VmConnection`]) and Defender XDR advanced hunting rows
//!   ([`RecordFormat::DefenderXdr`], with or without `Type`).
//!
//! Log Analytics appends a type to a column whose type changed (`ProcessId_dynamic`,
//! `EventData_string`); such a column is read under its own name when the record lacks it.

use crate::time::parse_timestamp;
use garrison_model::event::windows;
use garrison_model::{Fields, RecordFormat, Timestamp, ValueKind};

/// Defender XDR advanced hunting tables, as Sentinel names them in `Type`.
const DEFENDER_TABLES: &[&str] = &[
    "DeviceProcessEvents",
    "DeviceNetworkEvents",
    "DeviceFileEvents",
    "DeviceRegistryEvents",
    "DeviceLogonEvents",
    "DeviceImageLoadEvents",
    "DeviceEvents",
    "DeviceFileCertificateInfo",
    "IdentityLogonEvents",
    "IdentityQueryEvents",
    "IdentityDirectoryEvents",
    "CloudAppEvents",
    "EmailEvents",
    "EmailUrlInfo",
    "EmailAttachmentInfo",
    "EmailPostDeliveryEvents",
    "UrlClickEvents",
    "AlertEvidence",
];

/// Suffixes Log Analytics gives a column whose type changed.
const TYPE_SUFFIXES: &[&str] = &[
    "_string",
    "_dynamic",
    "_long",
    "_int",
    "_real",
    "_bool",
    "_datetime",
    "_guid",
];

/// The format of a table record, when `record` (flattened with dotted names) is one; then
/// its fields are written to `fields` and its time returned.
pub fn decode_table(
    record: &Fields,
    fields: &mut Fields,
) -> Option<(RecordFormat, Option<Timestamp>)> {
    let has = |name: &str| record.get(name).is_some();
    let format = match record.value("Type") {
        Some("SecurityEvent" | "WindowsEvent" | "Event") => {
            return Some((RecordFormat::FlatWindows, windows_row(record, fields)));
        }
        Some("Syslog") if has("SyslogMessage") => return Some(syslog_row(record, fields)),
        Some("OfficeActivity") => RecordFormat::M365Audit,
        Some("VMConnection") => RecordFormat::VmConnection,
        Some(table) if DEFENDER_TABLES.contains(&table) => RecordFormat::DefenderXdr,
        Some(_) => return None,
        // Exports without the table's name: advanced hunting rows, and the unified audit
        // log as the Management Activity API gives it.
        None if has("Timestamp")
            && has("ActionType")
            && (has("DeviceName") || has("ReportId") || has("ReportId_long")) =>
        {
            RecordFormat::DefenderXdr
        }
        None if has("CreationTime") && has("Operation") && has("Workload") && has("RecordType") => {
            RecordFormat::M365Audit
        }
        None => return None,
    };
    for field in record.iter() {
        let name = match (format, field.name) {
            (RecordFormat::M365Audit, "OfficeWorkload") => "Workload",
            (RecordFormat::M365Audit, "Client_IPAddress") => "ClientIP",
            // `UserId_`, `OrganizationId_`: copies Log Analytics keeps of the same value.
            (RecordFormat::M365Audit, name) if name.ends_with('_') => continue,
            (_, name) => column_name(record, name),
        };
        fields.push(name, field.value, field.kind);
    }
    if format == RecordFormat::DefenderXdr
        && let Some(text) = fields.value("AdditionalFields").map(str::to_string)
    {
        crate::cloud::expand_json_text("AdditionalFields", &text, fields);
    }
    let timestamp = ["TimeGenerated", "Timestamp", "CreationTime"]
        .iter()
        .find_map(|name| record.value(name).and_then(parse_timestamp));
    Some((format, timestamp))
}

/// A column's name without the type Log Analytics appended, when the record has no column of
/// that name.
fn column_name<'a>(record: &Fields, name: &'a str) -> &'a str {
    TYPE_SUFFIXES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|base| !base.is_empty() && record.get(base).is_none())
        .unwrap_or(name)
}

/// A Windows event row: the columns under the canonical Windows names, `EventData` opened.
fn windows_row(record: &Fields, fields: &mut Fields) -> Option<Timestamp> {
    for field in record.iter() {
        let name = match field.name {
            "EventSourceName" | "Provider" | "Source" if record.get("Provider_Name").is_none() => {
                windows::PROVIDER_NAME
            }
            "EventLog" if record.get("Channel").is_none() => windows::CHANNEL,
            name => column_name(record, name),
        };
        fields.push(name, field.value, field.kind);
    }
    // The event's data, as JSON (`WindowsEvent`) or XML (`SecurityEvent`, `Event`) text;
    // the columns the table already has stay as they are.
    let mut data = Fields::new();
    for name in ["EventData", "EventData_string"] {
        let Some(text) = record.value(name).map(str::trim_start) else {
            continue;
        };
        if text.starts_with('{') {
            let _ =
                crate::json::flatten_json(text.as_bytes(), crate::json::Naming::Dotted, &mut data);
        } else if text.starts_with('<') {
            crate::windows_xml::read_event_data(text, &mut data);
        }
    }
    for field in data.iter() {
        if fields.get(field.name).is_none() {
            fields.push(field.name, field.value, field.kind);
        }
    }
    ["TimeGenerated", "TimeCreated", "UtcTime"]
        .iter()
        .find_map(|name| record.value(name).and_then(parse_timestamp))
}

/// A `Syslog` row: the syslog names, and the message read as the program wrote it.
fn syslog_row(record: &Fields, fields: &mut Fields) -> (RecordFormat, Option<Timestamp>) {
    let message = record.value("SyslogMessage").unwrap_or_default();
    let program = record.value("ProcessName").unwrap_or_default();
    let time = ["EventTime", "TimeGenerated"]
        .iter()
        .find_map(|name| record.value(name).and_then(parse_timestamp));
    let trimmed = message.trim_start();
    if trimmed.starts_with("<Event")
        && let Ok(created) = crate::windows_xml::add_event(trimmed, fields)
    {
        push_columns(record, fields, &["HostIP", "_ResourceId"]);
        return (RecordFormat::SysmonLinux, created.or(time));
    }
    if trimmed.starts_with("type=")
        && let Some(audit_time) = crate::auditd::read_auoms(trimmed, fields)
    {
        if fields.get("node").is_none()
            && let Some(host) = record.value("Computer")
        {
            fields.push("node", host, ValueKind::Text);
        }
        push_columns(record, fields, &["HostIP", "_ResourceId"]);
        return (RecordFormat::Auditd, Some(audit_time));
    }
    let host = record
        .value("HostName")
        .filter(|host| !host.is_empty())
        .or_else(|| record.value("Computer"));
    for (name, value) in [
        ("facility", record.value("Facility")),
        ("severity", record.value("SeverityLevel")),
        ("hostname", host),
        ("program", Some(program)),
        ("pid", record.value("ProcessID")),
        ("message", Some(message)),
    ] {
        if let Some(value) = value.filter(|value| !value.is_empty()) {
            fields.push(name, value, ValueKind::Text);
        }
    }
    push_columns(record, fields, &["HostIP", "_ResourceId"]);
    crate::linux_messages::parse(program, message, fields);
    (RecordFormat::Syslog, time)
}

fn push_columns(record: &Fields, fields: &mut Fields, names: &[&str]) {
    for name in names {
        if let Some(field) = record.get(name) {
            fields.push(name, field.value, field.kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::shapes::tests::decode;
    use garrison_model::{Fields, RecordFormat};

    #[test]
    fn windows_tables_read_as_windows_events() {
        let (format, time, fields) = decode(
            r#"{"TimeGenerated":"2022-05-13T08:54:08.437Z","Provider":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"WORKSTATION5","EventID":1,"EventData":"{\"Image\":\"C:\\\\Windows\\\\System32\\\\cmd.exe\",\"ParentImage\":\"C:\\\\java.exe\",\"ProcessId\":\"2084\"}","Type":"WindowsEvent"}"#,
        );
        assert_eq!(format, RecordFormat::FlatWindows);
        assert_eq!(time, Some("2022-05-13T08:54:08.437Z".parse().unwrap()));
        assert_eq!(
            fields.value("Provider_Name"),
            Some("Microsoft-Windows-Sysmon")
        );
        assert_eq!(fields.value("Image"), Some(r"C:\Windows\System32\cmd.exe"));
        assert_eq!(fields.value("ProcessId"), Some("2084"));
        // The Event table: channel in `EventLog`, provider in `Source`, data as XML.
        let (format, _, fields) = decode(
            r#"{"TimeGenerated":"2021-08-02T13:05:32.77Z","Source":"Microsoft-Windows-Security-Auditing","EventLog":"Security","Computer":"DC01","EventID":4662,"EventData_string":"<DataItem><EventData xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><Data Name=\"SubjectUserName\">wardog</Data><Data Name=\"AccessMask\">0x10</Data></EventData></DataItem>","ProcessId_dynamic":"5692","Type":"Event"}"#,
        );
        assert_eq!(format, RecordFormat::FlatWindows);
        assert_eq!(fields.value("Channel"), Some("Security"));
        assert_eq!(
            fields.value("Provider_Name"),
            Some("Microsoft-Windows-Security-Auditing")
        );
        assert_eq!(fields.value("SubjectUserName"), Some("wardog"));
        assert_eq!(fields.value("AccessMask"), Some("0x10"));
        assert_eq!(fields.value("ProcessId"), Some("5692"));
    }

    #[test]
    fn syslog_rows_read_as_syslog_sysmon_for_linux_or_audit() {
        let (format, time, fields) = decode(
            r#"{"TimeGenerated":"2022-05-11T18:10:21.997Z","Computer":"UBUNTU5","EventTime":"2022-05-11T18:10:21Z","Facility":"auth","HostName":"UBUNTU5","SeverityLevel":"info","SyslogMessage":"Accepted password for deploy from 203.0.113.50 port 52144 ssh2","ProcessName":"sshd","ProcessID":812,"Type":"Syslog"}"#,
        );
        assert_eq!(format, RecordFormat::Syslog);
        assert_eq!(time, Some("2022-05-11T18:10:21Z".parse().unwrap()));
        assert_eq!(fields.value("program"), Some("sshd"));
        assert_eq!(fields.value("hostname"), Some("UBUNTU5"));
        assert_eq!(fields.value("facility"), Some("auth"));
        assert_eq!(fields.value("src_ip"), Some("203.0.113.50"));

        let (format, time, fields) = decode(
            r#"{"Computer":"UBUNTU5","EventTime":"2022-05-11T18:10:20Z","Facility":"user","HostName":"UBUNTU5","SyslogMessage":"<Event><System><Provider Name=\"Linux-Sysmon\"/><EventID>3</EventID><TimeCreated SystemTime=\"2022-05-11T18:10:20.465735000Z\"/><Channel>Linux-Sysmon/Operational</Channel><Computer>UBUNTU5</Computer></System><EventData><Data Name=\"Image\">/usr/bin/java</Data><Data Name=\"DestinationIp\">192.168.2.6</Data></EventData></Event>","ProcessName":"sysmon","Type":"Syslog"}"#,
        );
        assert_eq!(format, RecordFormat::SysmonLinux);
        assert_eq!(time, Some("2022-05-11T18:10:20.465735Z".parse().unwrap()));
        assert_eq!(fields.value("EventID"), Some("3"));
        assert_eq!(fields.value("DestinationIp"), Some("192.168.2.6"));

        let (format, _, fields) = decode(
            r#"{"Computer":"UBUNTU5","EventTime":"2022-05-11T18:10:21Z","SyslogMessage":"type=AUOMS_EXECVE audit(1652292622.006:84144): pid=17794 ppid=17790 user=tomcat exe=\"/bin/bash\" cmdline=\"bash -i\" redactors=","ProcessName":"auoms","Type":"Syslog"}"#,
        );
        assert_eq!(format, RecordFormat::Auditd);
        assert_eq!(fields.value("CommandLine"), Some("bash -i"));
        assert_eq!(fields.value("node"), Some("UBUNTU5"));
    }

    #[test]
    fn office_activity_takes_the_management_api_names() {
        let (format, time, fields) = decode(
            r#"{"TimeGenerated":"2021-08-02T13:32:07Z","Operation":"MailItemsAccessed","OfficeWorkload":"Exchange","UserId":"pgustavo@simulandlabs.com","UserId_":"pgustavo@simulandlabs.com","Client_IPAddress":"1.2.3.4","AppId":"00000003-0000-0000-c000-000000000000","Type":"OfficeActivity"}"#,
        );
        assert_eq!(format, RecordFormat::M365Audit);
        assert_eq!(time, Some("2021-08-02T13:32:07Z".parse().unwrap()));
        assert_eq!(fields.value("Workload"), Some("Exchange"));
        assert_eq!(fields.value("ClientIP"), Some("1.2.3.4"));
        assert!(fields.get("UserId_").is_none());
        // The API's own records: a zone-less UTC time.
        let (format, time, _) = decode(
            r#"{"CreationTime":"2021-08-02T13:32:07","Id":"1","Operation":"MailItemsAccessed","RecordType":50,"Workload":"Exchange","UserId":"a@b.c"}"#,
        );
        assert_eq!(format, RecordFormat::M365Audit);
        assert_eq!(time, Some("2021-08-02T13:32:07Z".parse().unwrap()));
    }

    #[test]
    fn defender_rows_and_connections_are_typed() {
        let (format, time, fields) = decode(
            r#"{"Timestamp":"2021-08-02T13:11:39.7724491Z","DeviceName":"adfs01.simulandlabs.com","ActionType":"LdapSearch","ReportId_long":113597,"AdditionalFields_string":"{\"SearchFilter\":\"(objectClass=*)\"}"}"#,
        );
        assert_eq!(format, RecordFormat::DefenderXdr);
        assert!(time.is_some());
        assert_eq!(fields.value("ReportId"), Some("113597"));
        assert_eq!(
            fields.value("AdditionalFields.SearchFilter"),
            Some("(objectClass=*)")
        );
        let (format, _, fields) = decode(
            r#"{"TimeGenerated":"2022-05-11T18:09:38.868Z","Computer":"UBUNTU5","Direction":"outbound","ProcessName":"java","SourceIp":"192.168.2.5","DestinationIp":"192.168.2.6","DestinationPort":8888,"Type":"VMConnection"}"#,
        );
        assert_eq!(format, RecordFormat::VmConnection);
        assert_eq!(fields.value("DestinationPort"), Some("8888"));
        // Other tables are not this module's.
        let mut fields = Fields::new();
        let mut record = Fields::new();
        record.push("Type", "Heartbeat", garrison_model::ValueKind::Text);
        assert!(super::decode_table(&record, &mut fields).is_none());
    }
}
