//! Normalizers from decoded records to OCSF: [`normalize`] for Windows events and
//! [`detection_finding`] for rule hits.
//!
//! A Windows event is dispatched on its log (Sysmon, Security, System, Task Scheduler) and
//! event id to one mapper, which builds the class attributes from the fields it represents;
//! [`finish`] then fills what every class shares (time, metadata, device) and puts every
//! field no mapper took into `unmapped`. Normalizing never fails: an event without a class is
//! `None`, and a field that does not parse stays in `unmapped` as it was.

mod accounts;
mod authentication;
mod build;
mod cloud;
mod external;
mod finding;
mod identity;
mod jobs;
mod linux;
mod network;
mod security_objects;
mod source;
mod suricata;
mod sysmon;
#[cfg(test)]
pub(crate) mod test_support;
mod values;

pub use finding::detection_finding;
pub use linux::normalize_linux;

use garrison_model::event::windows;
use garrison_model::ocsf::{
    Actor, Device, EventDetail, OcsfClass, OcsfEvent, Os, Process, Product, Severity, User,
};
use garrison_model::{Event, RecordFormat, Timestamp};
use source::Source;

/// The Windows logs Garrison maps, each with its own numbering of event ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowsLog {
    Sysmon,
    /// Sysmon for Linux: Sysmon's events and names, on Linux.
    SysmonLinux,
    Security,
    System,
    TaskScheduler,
}

impl WindowsLog {
    /// The log of an event, by channel, or by provider for forwarded events.
    fn of(event: &Event) -> Option<WindowsLog> {
        let by_channel = event.channel().and_then(|channel| {
            [
                ("Microsoft-Windows-Sysmon/Operational", WindowsLog::Sysmon),
                ("Linux-Sysmon/Operational", WindowsLog::SysmonLinux),
                ("Security", WindowsLog::Security),
                ("System", WindowsLog::System),
                (
                    "Microsoft-Windows-TaskScheduler/Operational",
                    WindowsLog::TaskScheduler,
                ),
            ]
            .into_iter()
            .find(|(name, _)| channel.eq_ignore_ascii_case(name))
            .map(|(_, log)| log)
        });
        by_channel.or_else(|| {
            [
                ("Microsoft-Windows-Sysmon", WindowsLog::Sysmon),
                ("Linux-Sysmon", WindowsLog::SysmonLinux),
                ("Microsoft-Windows-Security-Auditing", WindowsLog::Security),
                ("Service Control Manager", WindowsLog::System),
                ("Microsoft-Windows-TaskScheduler", WindowsLog::TaskScheduler),
            ]
            .into_iter()
            .find(|(name, _)| {
                event
                    .provider()
                    .is_some_and(|p| p.eq_ignore_ascii_case(name))
            })
            .map(|(_, log)| log)
        })
    }

    fn product(self) -> Product {
        let name = match self {
            WindowsLog::Sysmon => "Sysmon",
            WindowsLog::SysmonLinux => "Sysmon for Linux",
            WindowsLog::Security | WindowsLog::System | WindowsLog::TaskScheduler => "Windows",
        };
        Product {
            name: Some(name.to_string()),
            vendor_name: Some("Microsoft".to_string()),
            version: None,
        }
    }

    fn os(self) -> Os {
        match self {
            WindowsLog::SysmonLinux => Os::linux(),
            _ => Os::windows(),
        }
    }
}

/// The OCSF view of a Windows, Linux, network sensor or cloud event, or `None` when no class
/// applies to it.
pub fn normalize(event: &Event) -> Option<OcsfEvent> {
    if event.format.is_linux() {
        return normalize_linux(event);
    }
    if matches!(event.format, RecordFormat::Zeek | RecordFormat::Suricata) {
        return network::normalize_network(event);
    }
    if matches!(
        event.format,
        RecordFormat::Wazuh
            | RecordFormat::SentinelAlert
            | RecordFormat::MappedAlert
            | RecordFormat::Cef
            | RecordFormat::Leef
    ) {
        return external::normalize_alert(event);
    }
    if event.format.is_cloud() {
        let mut source = Source::new(event);
        let mut normalized = cloud::map(event.format, &mut source)?;
        normalized.metadata.log_format = Some(event.format.as_str().to_string());
        if let Some(time) = event.timestamp {
            normalized.set_time(time);
        }
        normalized.unmapped = source.unmapped();
        return Some(normalized);
    }
    if event.format == RecordFormat::VmConnection {
        return network::normalize_network(event);
    }
    if !event.format.uses_windows_names() {
        return None;
    }
    let log = WindowsLog::of(event)?;
    let event_id = event.event_id()?;
    let mut source = Source::new(event);
    let mut normalized = dispatch(log, event_id, &mut source)?;
    finish(&mut normalized, &mut source, log);
    Some(normalized)
}

/// The OCSF view of any event: its class when one applies, else a Base Event holding every
/// field in `unmapped` (so every record read has a normalized form).
pub fn normalize_or_base(event: &Event) -> OcsfEvent {
    if let Some(normalized) = normalize(event) {
        return normalized;
    }
    let mut source = Source::new(event);
    let label = match (event.channel(), event.event_id()) {
        (Some(channel), Some(id)) => format!("{channel} {id}"),
        _ => format!("{} record", event.format.as_str()),
    };
    let mut base = draft(
        &source,
        garrison_model::ocsf::BaseEvent {
            activity: garrison_model::ocsf::BaseActivityId::Other(label),
        },
    );
    base.metadata.log_format = Some(event.format.as_str().to_string());
    base.metadata.product = match WindowsLog::of(event) {
        Some(log) => log.product(),
        None => product_of_format(event.format),
    };
    if event.format == RecordFormat::Zeek {
        base.metadata.log_name = source.take(crate::zeek::PATH_FIELD).map(String::from);
        base.metadata.correlation_uid = source.take("uid").map(String::from);
    }
    if event.format.uses_windows_names() {
        let os = WindowsLog::of(event).map_or_else(Os::windows, WindowsLog::os);
        base.metadata.log_name = source.take(windows::CHANNEL).map(String::from);
        base.metadata.event_code = source.take(windows::EVENT_ID).map(String::from);
        base.metadata.log_provider = source.take(windows::PROVIDER_NAME).map(String::from);
        base.metadata.original_event_uid = source.take(windows::EVENT_RECORD_ID).map(String::from);
        if let Some(computer) = source.take(windows::COMPUTER) {
            base.device = Some(Device {
                hostname: Some(computer.to_string()),
                type_id: 0,
                type_name: Some("Unknown".to_string()),
                os: Some(os),
                ..Device::default()
            });
            base.add_profile("host");
        }
    }
    if let Some(time) = event.timestamp {
        base.set_time(time);
    }
    declare_host_profile(&mut base);
    base.unmapped = source.unmapped();
    base
}

/// Who makes the software that writes records of `format` (the schema requires a product
/// name); `Unknown` for JSON of no known shape.
fn product_of_format(format: RecordFormat) -> Product {
    let (name, vendor) = match format {
        RecordFormat::Evtx
        | RecordFormat::EvtxJson
        | RecordFormat::Winlogbeat
        | RecordFormat::FlatWindows => ("Windows", Some("Microsoft")),
        RecordFormat::Zeek => ("Zeek", Some("Zeek")),
        RecordFormat::Suricata => ("Suricata", Some("OISF")),
        RecordFormat::Auditd => ("auditd", Some("Linux")),
        RecordFormat::Syslog => ("syslog", None),
        RecordFormat::Journald => ("journald", Some("systemd")),
        RecordFormat::CloudTrail => ("CloudTrail", Some("AWS")),
        RecordFormat::Okta => ("Okta System Log", Some("Okta")),
        RecordFormat::EntraSignIn | RecordFormat::EntraAudit => ("Entra ID", Some("Microsoft")),
        RecordFormat::AzureActivity => ("Azure Activity Log", Some("Microsoft")),
        RecordFormat::Wazuh => ("Wazuh", Some("Wazuh")),
        RecordFormat::SentinelAlert => ("Microsoft Sentinel", Some("Microsoft")),
        RecordFormat::SysmonLinux => ("Sysmon for Linux", Some("Microsoft")),
        RecordFormat::M365Audit => ("Microsoft 365", Some("Microsoft")),
        RecordFormat::DefenderXdr => ("Microsoft Defender XDR", Some("Microsoft")),
        RecordFormat::VmConnection => ("Azure Monitor VM Insights", Some("Microsoft")),
        RecordFormat::Json
        | RecordFormat::Csv
        | RecordFormat::MappedAlert
        | RecordFormat::Cef
        | RecordFormat::Leef => ("Unknown", None),
    };
    Product {
        name: Some(name.to_string()),
        vendor_name: vendor.map(str::to_string),
        version: None,
    }
}

/// The mapper of each (log, event id).
fn dispatch(log: WindowsLog, event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    use WindowsLog::*;
    match (log, event_id) {
        (Sysmon | SysmonLinux, _) => sysmon::map(event_id, source),
        (Security, 4688) => security_objects::process_created(source),
        (Security, 4689) => security_objects::process_exited(source),
        (Security, 4663) => security_objects::object_accessed(source),
        (Security, 4657) => security_objects::registry_value_changed(source),
        (Security, 5145) => security_objects::share_object_checked(source),
        (Security, 5156 | 5157) => security_objects::connection_filtered(event_id, source),
        (Security, 4624 | 4625 | 4634 | 4647 | 4648) => authentication::logon(event_id, source),
        (Security, 4768..=4771 | 4776) => authentication::domain_controller(event_id, source),
        (Security, 4672) => authentication::special_privileges(source),
        (Security, 4720 | 4722..=4726 | 4738 | 4740 | 4767 | 4781) => {
            accounts::account_changed(event_id, source)
        }
        (Security, 4727..=4735 | 4737 | 4754..=4758) => accounts::group_changed(event_id, source),
        (Security, 4698..=4702) => jobs::security_task(event_id, source),
        (Security, 4697) => jobs::service_installed(source),
        (System, 7045) => jobs::service_installed(source),
        (TaskScheduler, _) => jobs::task_scheduler(event_id, source),
        _ => None,
    }
}

/// A new event of `detail`'s class for the record of `source`.
fn draft(source: &Source, detail: impl Into<EventDetail>) -> OcsfEvent {
    OcsfEvent::new(
        detail.into(),
        source.event.evidence.clone(),
        Product::default(),
    )
}

/// Sets `status_id` 1 (Success) or 2 (Failure) and its caption.
fn set_outcome(event: &mut OcsfEvent, success: bool) {
    let (id, caption) = if success {
        (1, "Success")
    } else {
        (2, "Failure")
    };
    event.status_id = Some(id);
    event.status = Some(caption.to_string());
}

/// Whether a Security event's keywords say audit success (`Some(true)`) or failure.
fn audit_outcome(source: &Source) -> Option<bool> {
    let keywords = source.peek(windows::KEYWORDS)?;
    if let Some(bits) = garrison_model::fields::parse_integer(keywords) {
        const AUDIT_FAILURE: i64 = 0x0010_0000_0000_0000;
        const AUDIT_SUCCESS: i64 = 0x0020_0000_0000_0000;
        if bits & AUDIT_FAILURE != 0 {
            return Some(false);
        }
        if bits & AUDIT_SUCCESS != 0 {
            return Some(true);
        }
        return None;
    }
    let keywords = keywords.to_ascii_lowercase();
    if keywords.contains("audit failure") {
        Some(false)
    } else if keywords.contains("audit success") {
        Some(true)
    } else {
        None
    }
}

/// The severity of a Windows event level (1 critical .. 5 verbose; 0 is "log always").
fn severity_of_level(level: &str) -> Severity {
    match level.trim() {
        "1" => Severity::High,
        "2" => Severity::Medium,
        "3" => Severity::Low,
        _ => Severity::Informational,
    }
}

/// Whether the class requires an `actor` (the system classes, but Scheduled Job Activity).
fn requires_actor(class: OcsfClass) -> bool {
    matches!(
        class,
        OcsfClass::FileSystemActivity
            | OcsfClass::ModuleActivity
            | OcsfClass::ProcessActivity
            | OcsfClass::RegistryKeyActivity
            | OcsfClass::RegistryValueActivity
            | OcsfClass::WindowsServiceActivity
    )
}

/// Fills the attributes every class shares and moves the untaken fields to `unmapped`.
fn finish(event: &mut OcsfEvent, source: &mut Source, log: WindowsLog) {
    let record = source.event;
    let metadata = &mut event.metadata;
    metadata.product = log.product();
    metadata.log_name = source.take(windows::CHANNEL).map(String::from);
    metadata.event_code = source.take(windows::EVENT_ID).map(String::from);
    metadata.log_provider = source.take(windows::PROVIDER_NAME).map(String::from);
    metadata.original_event_uid = source.take(windows::EVENT_RECORD_ID).map(String::from);
    metadata.original_time = source.take(windows::TIME_CREATED).map(String::from);
    metadata.log_version = source.take(windows::VERSION).map(String::from);
    metadata.correlation_uid = source.take(windows::ACTIVITY_ID).map(String::from);
    metadata.log_format = Some(record.format.as_str().to_string());
    let time = record.timestamp.or_else(|| {
        metadata
            .original_time
            .as_deref()
            .and_then(|text| text.trim().parse::<Timestamp>().ok())
    });
    if let Some(time) = time {
        event.set_time(time);
    }
    if let Some(computer) = source.take(windows::COMPUTER) {
        event.device = Some(Device {
            hostname: Some(computer.to_string()),
            type_id: 0,
            type_name: Some("Unknown".to_string()),
            os: Some(log.os()),
            ..Device::default()
        });
    }
    if let Some(level) = source.peek(windows::LEVEL) {
        event.severity = severity_of_level(level);
    }
    if event.status_id.is_none()
        && log == WindowsLog::Security
        && let Some(success) = audit_outcome(source)
    {
        set_outcome(event, success);
    }
    if event.actor.is_none() && requires_actor(event.class()) {
        event.actor = logging_actor(source, log);
    }
    declare_host_profile(event);
    event.unmapped = source.unmapped();
}

/// Declares the `host` profile when the event uses its attributes (`device`, `actor`): some
/// classes have them only through the profile.
pub(crate) fn declare_host_profile(event: &mut OcsfEvent) {
    if event.device.is_some() || event.actor.is_some() {
        event.add_profile("host");
    }
}

/// For classes that need an actor the event does not name: the user the event was logged
/// for (`Security_UserID`), or else, for the System log, the process that logged it (the
/// Service Control Manager for service events; elsewhere the logger is no actor).
fn logging_actor(source: &mut Source, log: WindowsLog) -> Option<Actor> {
    if let Some(sid) = source.take(windows::SECURITY_USER_ID) {
        return Some(Actor {
            user: Some(User {
                uid: Some(sid.to_string()),
                ..User::default()
            }),
            ..Actor::default()
        });
    }
    if log != WindowsLog::System {
        return None;
    }
    let pid = source.take_integer(windows::EXECUTION_PROCESS_ID)?;
    Some(Actor {
        process: Some(Process {
            pid: Some(pid),
            ..Process::default()
        }),
        ..Actor::default()
    })
}

#[cfg(test)]
mod tests {
    use super::test_support::{event_with, windows_event};
    use super::*;
    use garrison_model::RecordFormat;

    #[test]
    fn common_attributes_come_from_the_system_fields() {
        let event = windows_event(
            "Microsoft-Windows-Sysmon/Operational",
            1,
            &[
                ("ProcessId", "4242"),
                ("Image", r"C:\Windows\System32\cmd.exe"),
            ],
        );
        let normalized = normalize(&event).expect("process creation normalizes");
        let json = normalized.to_json();
        assert_eq!(json["metadata"]["uid"], "logs/host.evtx#77@8192");
        assert_eq!(
            json["metadata"]["log_name"],
            "Microsoft-Windows-Sysmon/Operational"
        );
        assert_eq!(json["metadata"]["event_code"], "1");
        assert_eq!(json["metadata"]["original_event_uid"], "77");
        assert_eq!(json["metadata"]["log_provider"], "Microsoft-Windows-Sysmon");
        assert_eq!(json["metadata"]["log_format"], "evtx");
        assert_eq!(json["metadata"]["product"]["name"], "Sysmon");
        assert_eq!(
            json["metadata"]["version"],
            garrison_model::ocsf::OCSF_VERSION
        );
        assert_eq!(json["time"], 1_714_557_600_123_i64);
        assert_eq!(json["time_dt"], "2024-05-01T10:00:00.123Z");
        assert_eq!(json["device"]["hostname"], "WS01.corp.local");
        assert_eq!(json["device"]["os"]["type_id"], 100);
        assert_eq!(normalized.evidence, event.evidence);
        let unmapped = json["unmapped"].as_object().unwrap();
        assert_eq!(unmapped["Execution_ProcessID"], "3100");
        assert_eq!(unmapped["Level"], "4");
        for taken in ["EventID", "Channel", "Computer", "ProcessId", "Image"] {
            assert!(!unmapped.contains_key(taken), "{taken} is represented");
        }
    }

    #[test]
    fn events_without_a_class_are_none() {
        let unknown_id = windows_event("Security", 1102, &[]);
        assert!(normalize(&unknown_id).is_none());
        let unknown_log = windows_event("Application", 1000, &[]);
        assert!(normalize(&unknown_log).is_none());
        let mut json = windows_event("Security", 4688, &[("NewProcessId", "0x10")]);
        json.format = RecordFormat::Json;
        assert!(normalize(&json).is_none(), "only Windows shapes are mapped");
    }

    #[test]
    fn forwarded_events_are_recognized_by_provider() {
        let event = event_with(&[
            ("EventID", "4688"),
            ("Channel", "ForwardedEvents"),
            ("Provider_Name", "Microsoft-Windows-Security-Auditing"),
            ("NewProcessId", "0x10"),
        ]);
        let normalized = normalize(&event).expect("forwarded 4688");
        assert_eq!(normalized.class(), OcsfClass::ProcessActivity);
    }

    #[test]
    fn missing_timestamp_falls_back_to_time_created() {
        let mut event = windows_event("Security", 4688, &[("NewProcessId", "0x10")]);
        event.timestamp = None;
        let normalized = normalize(&event).unwrap();
        assert_eq!(normalized.time, 1_714_557_600_123);
    }

    #[test]
    fn security_keywords_give_the_outcome() {
        let event = event_with(&[
            ("EventID", "4663"),
            ("Channel", "Security"),
            ("Keywords", "0x8010000000000000"),
            ("ObjectType", "File"),
            ("ObjectName", r"C:\secret.txt"),
            ("AccessMask", "0x1"),
        ]);
        let normalized = normalize(&event).unwrap();
        assert_eq!(normalized.status_id, Some(2));
        assert_eq!(normalized.status.as_deref(), Some("Failure"));
    }

    #[test]
    fn required_actor_falls_back_to_the_logging_user() {
        let event = event_with(&[
            ("EventID", "7045"),
            ("Channel", "System"),
            ("Security_UserID", "S-1-5-21-1-2-3-500"),
            ("ServiceName", "evil"),
            ("ImagePath", r"C:\evil.exe"),
        ]);
        let normalized = normalize(&event).unwrap();
        let actor = normalized.actor.expect("actor is required");
        assert_eq!(
            actor.user.and_then(|user| user.uid).as_deref(),
            Some("S-1-5-21-1-2-3-500")
        );
    }

    /// Every mapped (log, event id) with every known field set to a malformed value: no panic,
    /// and whatever comes out is consistent.
    #[test]
    fn malformed_values_never_panic() {
        const NAMES: &[&str] = &[
            "ProcessId",
            "ProcessGuid",
            "Image",
            "CommandLine",
            "User",
            "ParentProcessId",
            "ParentImage",
            "SourceProcessId",
            "SourceProcessGUID",
            "SourceImage",
            "TargetProcessId",
            "TargetProcessGuid",
            "TargetImage",
            "GrantedAccess",
            "StartFunction",
            "StartModule",
            "ImageLoaded",
            "Hashes",
            "Hash",
            "TargetFilename",
            "CreationUtcTime",
            "PipeName",
            "Device",
            "EventType",
            "TargetObject",
            "Details",
            "NewName",
            "Protocol",
            "Initiated",
            "SourceIsIpv6",
            "SourceIp",
            "SourcePort",
            "DestinationIp",
            "DestinationPort",
            "QueryName",
            "QueryStatus",
            "QueryResults",
            "NewProcessId",
            "NewProcessName",
            "MandatoryLabel",
            "ObjectType",
            "ObjectName",
            "ObjectValueName",
            "OperationType",
            "NewValue",
            "NewValueType",
            "AccessMask",
            "ShareName",
            "RelativeTargetName",
            "Direction",
            "SourceAddress",
            "DestAddress",
            "ProcessID",
            "Application",
            "TargetUserName",
            "TargetUserSid",
            "TargetSid",
            "SubjectUserName",
            "SubjectUserSid",
            "LogonType",
            "AuthenticationPackageName",
            "IpAddress",
            "IpPort",
            "Status",
            "PackageName",
            "PrivilegeList",
            "MemberName",
            "MemberSid",
            "OldTargetUserName",
            "NewTargetUserName",
            "TaskName",
            "TaskContent",
            "ServiceName",
            "ImagePath",
            "ServiceType",
            "StartType",
            "ServiceStartType",
            "ActionName",
            "ResultCode",
            "UserContext",
            "UserName",
        ];
        const VALUES: &[&str] = &[
            "",
            "-",
            "0x",
            "zzz",
            "\\",
            "=;|",
            "\u{1F600}\\\u{e9}",
            "99999999999999999999999",
        ];
        let logs = [
            (
                "Microsoft-Windows-Sysmon/Operational",
                (1..=29).collect::<Vec<u32>>(),
            ),
            ("Security", (4624..=4800).chain(5140..=5160).collect()),
            ("System", vec![7045]),
            (
                "Microsoft-Windows-TaskScheduler/Operational",
                vec![106, 140, 141, 200, 201],
            ),
        ];
        let mut produced = 0;
        for (channel, event_ids) in logs {
            for event_id in event_ids {
                for value in VALUES {
                    let fields: Vec<(&str, &str)> =
                        NAMES.iter().map(|name| (*name, *value)).collect();
                    let event = windows_event(channel, event_id, &fields);
                    if let Some(normalized) = normalize(&event) {
                        produced += 1;
                        let json = normalized.to_json();
                        let class_uid = json["class_uid"].as_u64().unwrap();
                        let activity_id = json["activity_id"].as_u64().unwrap();
                        assert_eq!(json["type_uid"], class_uid * 100 + activity_id);
                        assert_eq!(normalized.evidence, event.evidence);
                    }
                }
            }
        }
        assert!(
            produced > 100,
            "malformed events still normalize where they can: {produced}"
        );
    }
}
