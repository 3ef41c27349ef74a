//! Security log events about processes, files, registry values, shares and connections:
//! 4688/4689, 4663, 4657, 5145, 5156/5157.

use super::build::{
    ProcessFields, SECURITY_PROCESS, TARGET, endpoint, process, registry_value, session,
    subject_actor, this_host, user,
};
use super::source::Source;
use super::values::{basename, file_at, integrity_of_label, protocol};
use super::{draft, set_outcome};
use garrison_model::ocsf::{
    Actor, ConnectionInfo, FileActivityId, FileSystemActivity, NetworkActivity, NetworkActivityId,
    OcsfEvent, ProcessActivity, ProcessActivityId, RegKey, RegValue, RegistryKeyActivity,
    RegistryKeyActivityId, RegistryValueActivity, RegistryValueActivityId, SmbActivity,
    SmbActivityId,
};

const NEW_PROCESS: ProcessFields = ProcessFields {
    pid: "NewProcessId",
    guid: &[],
    image: Some("NewProcessName"),
    cmd_line: Some("CommandLine"),
    account: None,
};

const CREATOR_PROCESS: ProcessFields = ProcessFields {
    pid: "ProcessId",
    guid: &[],
    image: Some("ParentProcessName"),
    cmd_line: None,
    account: None,
};

/// The subject of the event as actor, with the process that acted.
fn actor_with_process(source: &mut Source, fields: &ProcessFields) -> Option<Actor> {
    let process = process(source, fields);
    let mut actor = subject_actor(source).unwrap_or_default();
    actor.process = process;
    (!actor.is_empty()).then_some(actor)
}

/// 4688: a process was created.
pub(super) fn process_created(source: &mut Source) -> Option<OcsfEvent> {
    let mut created = process(source, &NEW_PROCESS)?;
    let target_is_null = source
        .peek(TARGET.sid)
        .is_some_and(|sid| sid.trim() == "S-1-0-0");
    if !target_is_null {
        created.user = user(source, &TARGET);
        created.session = session(source, "TargetLogonId");
    }
    if let Some(label) = source.take("MandatoryLabel") {
        let (caption, id) = integrity_of_label(label);
        created.integrity = Some(caption.to_string());
        created.integrity_id = Some(id);
    }
    let creator = process(source, &CREATOR_PROCESS);
    created.parent_process = creator.clone().map(Box::new);
    let mut actor = subject_actor(source).unwrap_or_default();
    actor.process = creator;
    if created.user.is_none() {
        created.user = actor.user.clone();
    }
    let mut event = draft(
        source,
        ProcessActivity {
            launch_type_id: Some(1),
            launch_type: Some("Spawn".to_string()),
            ..ProcessActivity::new(ProcessActivityId::Launch, created)
        },
    );
    event.actor = (!actor.is_empty()).then_some(actor);
    Some(event)
}

/// 4689: a process exited.
pub(super) fn process_exited(source: &mut Source) -> Option<OcsfEvent> {
    let exited = process(source, &SECURITY_PROCESS)?;
    let exit_code = source.take_integer("Status");
    let mut actor = subject_actor(source).unwrap_or_default();
    actor.process = Some(exited.clone());
    let mut event = draft(
        source,
        ProcessActivity {
            exit_code,
            ..ProcessActivity::new(ProcessActivityId::Terminate, exited)
        },
    );
    event.actor = Some(actor);
    Some(event)
}

/// The file activity an access mask asks for, the most consequential right first.
fn file_activity(mask: i64) -> FileActivityId {
    const READ_DATA: i64 = 0x1;
    const WRITE_DATA: i64 = 0x2;
    const APPEND_DATA: i64 = 0x4;
    const READ_ATTRIBUTES: i64 = 0x80;
    const WRITE_ATTRIBUTES: i64 = 0x100;
    const DELETE: i64 = 0x1_0000;
    const READ_CONTROL: i64 = 0x2_0000;
    const WRITE_DAC: i64 = 0x4_0000;
    const WRITE_OWNER: i64 = 0x8_0000;
    if mask & DELETE != 0 {
        FileActivityId::Delete
    } else if mask & (WRITE_DAC | WRITE_OWNER) != 0 {
        FileActivityId::SetSecurity
    } else if mask & (WRITE_DATA | APPEND_DATA) != 0 {
        FileActivityId::Update
    } else if mask & WRITE_ATTRIBUTES != 0 {
        FileActivityId::SetAttributes
    } else if mask & READ_DATA != 0 {
        FileActivityId::Read
    } else if mask & READ_CONTROL != 0 {
        FileActivityId::GetSecurity
    } else if mask & READ_ATTRIBUTES != 0 {
        FileActivityId::GetAttributes
    } else {
        FileActivityId::Unknown
    }
}

/// The registry key activity an access mask asks for.
fn key_activity(mask: i64) -> RegistryKeyActivityId {
    const QUERY_VALUE: i64 = 0x1;
    const SET_VALUE: i64 = 0x2;
    const CREATE_SUB_KEY: i64 = 0x4;
    const DELETE: i64 = 0x1_0000;
    const WRITE_DAC: i64 = 0x4_0000;
    const WRITE_OWNER: i64 = 0x8_0000;
    if mask & DELETE != 0 {
        RegistryKeyActivityId::Delete
    } else if mask & (WRITE_DAC | WRITE_OWNER) != 0 {
        RegistryKeyActivityId::SetSecurity
    } else if mask & (SET_VALUE | CREATE_SUB_KEY) != 0 {
        RegistryKeyActivityId::Modify
    } else if mask & QUERY_VALUE != 0 {
        RegistryKeyActivityId::Read
    } else {
        RegistryKeyActivityId::Unknown
    }
}

/// 4663: an object (a file or a registry key) was accessed.
pub(super) fn object_accessed(source: &mut Source) -> Option<OcsfEvent> {
    let object_type = source.peek("ObjectType")?;
    let is_key = object_type.eq_ignore_ascii_case("Key");
    if !is_key && !object_type.eq_ignore_ascii_case("File") {
        return None;
    }
    source.consume("ObjectType");
    let name = source.take("ObjectName")?;
    let mask = source.take_integer("AccessMask");
    let actor = actor_with_process(source, &SECURITY_PROCESS);
    let mut event = if is_key {
        draft(
            source,
            RegistryKeyActivity {
                activity: mask
                    .map(key_activity)
                    .unwrap_or(RegistryKeyActivityId::Unknown),
                reg_key: RegKey {
                    path: name.to_string(),
                },
                prev_reg_key: None,
                access_mask: mask,
            },
        )
    } else {
        draft(
            source,
            FileSystemActivity {
                activity: mask.map(file_activity).unwrap_or(FileActivityId::Unknown),
                file: file_at(name, 1),
                access_mask: mask,
            },
        )
    };
    event.actor = actor;
    Some(event)
}

/// The activity of 4657's `OperationType` (`%%1904` or its rendered text).
fn value_operation(operation: &str) -> RegistryValueActivityId {
    let operation = operation.trim().to_ascii_lowercase();
    if operation == "%%1904" || operation.contains("created") {
        RegistryValueActivityId::Set
    } else if operation == "%%1905" || operation.contains("modified") {
        RegistryValueActivityId::Modify
    } else if operation == "%%1906" || operation.contains("deleted") {
        RegistryValueActivityId::Delete
    } else {
        RegistryValueActivityId::Unknown
    }
}

/// `type_id` of a registry value type name.
fn value_type_id(type_name: &str) -> Option<u8> {
    Some(match type_name.trim() {
        "REG_BINARY" => 1,
        "REG_DWORD" => 2,
        "REG_DWORD_BIG_ENDIAN" => 3,
        "REG_EXPAND_SZ" => 4,
        "REG_LINK" => 5,
        "REG_MULTI_SZ" => 6,
        "REG_NONE" => 7,
        "REG_QWORD" => 8,
        "REG_SZ" => 10,
        _ => return None,
    })
}

/// A value of 4657, with its data and (when rendered by name) its type.
fn changed_value(source: &mut Source, key: &str, name: &str, data: &str, kind: &str) -> RegValue {
    let mut value = registry_value(&format!("{key}\\{name}"));
    if let Some(type_name) = source.peek(kind)
        && let Some(type_id) = value_type_id(type_name)
    {
        source.consume(kind);
        value.type_id = Some(type_id);
        value.type_name = Some(type_name.trim().to_string());
    }
    value.data = source.take(data).map(String::from);
    value
}

/// 4657: a registry value was created, modified or deleted.
pub(super) fn registry_value_changed(source: &mut Source) -> Option<OcsfEvent> {
    let key = source.take("ObjectName")?;
    let name = source.take("ObjectValueName").unwrap_or("");
    let activity = source
        .peek("OperationType")
        .map(value_operation)
        .unwrap_or(RegistryValueActivityId::Unknown);
    if activity != RegistryValueActivityId::Unknown {
        source.consume("OperationType");
    }
    let reg_value = changed_value(source, key, name, "NewValue", "NewValueType");
    let old_value = changed_value(source, key, name, "OldValue", "OldValueType");
    let prev_reg_value =
        (old_value.data.is_some() || old_value.type_id.is_some()).then_some(old_value);
    let actor = actor_with_process(source, &SECURITY_PROCESS);
    let mut event = draft(
        source,
        RegistryValueActivity {
            activity,
            reg_value,
            prev_reg_value,
        },
    );
    event.actor = actor;
    Some(event)
}

/// 5145: a client's access to an object on a network share was checked.
pub(super) fn share_object_checked(source: &mut Source) -> Option<OcsfEvent> {
    let share = source.take("ShareName");
    let share_type_id = share.map(|name| {
        if name.to_ascii_uppercase().ends_with("IPC$") {
            2
        } else {
            1
        }
    });
    let file = source
        .peek("RelativeTargetName")
        .filter(|name| !basename(name).trim_matches(['\\', '/']).is_empty())
        .map(|name| file_at(name, if share_type_id == Some(2) { 6 } else { 1 }));
    if file.is_some() {
        source.consume("RelativeTargetName");
    }
    let src_endpoint = endpoint(source, Some("IpAddress"), Some("IpPort"), None);
    let actor = subject_actor(source);
    let mut event = draft(
        source,
        SmbActivity {
            activity: SmbActivityId::FileOpen,
            src_endpoint,
            dst_endpoint: this_host(source),
            file,
            share: share.map(String::from),
            share_type_id,
            share_type: share_type_id.map(|id| if id == 2 { "Pipe" } else { "File" }.to_string()),
        },
    );
    event.actor = actor;
    Some(event)
}

/// 5156 (allowed) and 5157 (blocked): the Windows Filtering Platform decided on a connection.
///
/// `Source*` is always this host's side; for inbound connections the initiator is therefore
/// the destination, which `initiator_id` records.
pub(super) fn connection_filtered(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    const WFP_APPLICATION: ProcessFields = ProcessFields {
        pid: "ProcessID",
        guid: &[],
        image: Some("Application"),
        cmd_line: None,
        account: None,
    };
    let actor = process(source, &WFP_APPLICATION).map(|process| Actor {
        process: Some(process),
        ..Actor::default()
    });
    let src_endpoint = endpoint(source, Some("SourceAddress"), Some("SourcePort"), None);
    let dst_endpoint = endpoint(source, Some("DestAddress"), Some("DestPort"), None);
    let mut connection_info = ConnectionInfo::default();
    let direction = source
        .peek("Direction")
        .map(|text| text.trim().to_ascii_lowercase());
    let inbound = match direction.as_deref() {
        Some("%%14592" | "inbound") => Some(true),
        Some("%%14593" | "outbound") => Some(false),
        _ => None,
    };
    if let Some(inbound) = inbound {
        source.consume("Direction");
        connection_info.direction_id = if inbound { 1 } else { 2 };
        connection_info.direction = Some(if inbound { "Inbound" } else { "Outbound" }.to_string());
    }
    if let Some(text) = source.take("Protocol") {
        let (number, name) = protocol(text);
        connection_info.protocol_num = number;
        connection_info.protocol_name = Some(name);
    }
    let allowed = event_id == 5156;
    let mut event = draft(
        source,
        NetworkActivity {
            src_endpoint,
            dst_endpoint,
            connection_info: Some(connection_info),
            initiator_id: inbound.map(|inbound| if inbound { 2 } else { 1 }),
            ..NetworkActivity::new(if allowed {
                NetworkActivityId::Open
            } else {
                NetworkActivityId::Refuse
            })
        },
    );
    event.action_id = Some(if allowed { 1 } else { 2 });
    event.action = Some(if allowed { "Allowed" } else { "Denied" }.to_string());
    event.disposition_id = Some(if allowed { 1 } else { 2 });
    event.disposition = Some(if allowed { "Allowed" } else { "Blocked" }.to_string());
    event.add_profile("security_control");
    set_outcome(&mut event, allowed);
    event.actor = actor;
    Some(event)
}

#[cfg(test)]
mod tests {
    use crate::normalize::test_support::normalized_json;

    const SUBJECT: [(&str, &str); 4] = [
        ("SubjectUserSid", "S-1-5-21-1-2-3-1104"),
        ("SubjectUserName", "alice"),
        ("SubjectDomainName", "CORP"),
        ("SubjectLogonId", "0x5a4e1"),
    ];

    fn with_subject<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut fields = SUBJECT.to_vec();
        fields.extend_from_slice(extra);
        fields
    }

    #[test]
    fn process_creation_4688_maps_new_and_creator_process() {
        let json = normalized_json(
            "Security",
            4688,
            &with_subject(&[
                ("NewProcessId", "0x1a4"),
                ("NewProcessName", r"C:\Windows\System32\whoami.exe"),
                ("TokenElevationType", "%%1936"),
                ("ProcessId", "0x2f0"),
                ("CommandLine", "whoami /all"),
                ("TargetUserSid", "S-1-0-0"),
                ("TargetUserName", "-"),
                ("TargetDomainName", "-"),
                ("TargetLogonId", "0x0"),
                ("ParentProcessName", r"C:\Windows\System32\cmd.exe"),
                ("MandatoryLabel", "S-1-16-12288"),
            ]),
        );
        assert_eq!(json["type_uid"], 100701);
        assert_eq!(json["process"]["pid"], 0x1a4);
        assert_eq!(json["process"]["name"], "whoami.exe");
        assert_eq!(json["process"]["cmd_line"], "whoami /all");
        assert_eq!(json["process"]["integrity"], "High");
        assert_eq!(json["process"]["integrity_id"], 4);
        assert_eq!(
            json["process"]["user"]["name"], "alice",
            "null target: the subject runs it"
        );
        assert_eq!(json["process"]["parent_process"]["pid"], 0x2f0);
        assert_eq!(json["actor"]["process"]["name"], "cmd.exe");
        assert_eq!(json["actor"]["user"]["uid"], "S-1-5-21-1-2-3-1104");
        assert_eq!(json["actor"]["session"]["uid"], "0x5a4e1");
        assert_eq!(json["unmapped"]["TokenElevationType"], "%%1936");
    }

    #[test]
    fn process_exit_4689_keeps_exit_code() {
        let json = normalized_json(
            "Security",
            4689,
            &with_subject(&[
                ("Status", "0x1"),
                ("ProcessId", "0x1a4"),
                ("ProcessName", r"C:\Windows\System32\whoami.exe"),
            ]),
        );
        assert_eq!(json["type_uid"], 100702);
        assert_eq!(json["exit_code"], 1);
        assert_eq!(json["process"]["name"], "whoami.exe");
        assert_eq!(json["actor"]["user"]["name"], "alice");
    }

    #[test]
    fn object_access_4663_on_files_and_keys() {
        let file = normalized_json(
            "Security",
            4663,
            &with_subject(&[
                ("ObjectServer", "Security"),
                ("ObjectType", "File"),
                ("ObjectName", r"C:\Users\alice\secrets.kdbx"),
                ("HandleId", "0x1f4"),
                ("AccessList", "%%4416"),
                ("AccessMask", "0x1"),
                ("ProcessId", "0x3e8"),
                ("ProcessName", r"C:\tools\exfil.exe"),
            ]),
        );
        assert_eq!(file["type_uid"], 100102, "ReadData is a read");
        assert_eq!(file["file"]["name"], "secrets.kdbx");
        assert_eq!(file["access_mask"], 1);
        assert_eq!(file["actor"]["process"]["name"], "exfil.exe");
        assert_eq!(file["actor"]["user"]["name"], "alice");
        let deleted = normalized_json(
            "Security",
            4663,
            &with_subject(&[
                ("ObjectType", "File"),
                ("ObjectName", r"C:\x"),
                ("AccessMask", "0x10000"),
            ]),
        );
        assert_eq!(deleted["type_uid"], 100104);
        let key = normalized_json(
            "Security",
            4663,
            &with_subject(&[
                ("ObjectType", "Key"),
                ("ObjectName", r"\REGISTRY\MACHINE\SAM\SAM"),
                ("AccessMask", "0x1"),
            ]),
        );
        assert_eq!(key["class_uid"], 201001);
        assert_eq!(key["type_uid"], 20100102);
        assert_eq!(key["reg_key"]["path"], r"\REGISTRY\MACHINE\SAM\SAM");
    }

    #[test]
    fn object_access_to_other_object_types_has_no_class() {
        let event = crate::normalize::test_support::windows_event(
            "Security",
            4663,
            &[("ObjectType", "Token"), ("ObjectName", "x")],
        );
        assert!(crate::normalize::normalize(&event).is_none());
    }

    #[test]
    fn registry_value_4657_keeps_new_and_old_values() {
        let json = normalized_json(
            "Security",
            4657,
            &with_subject(&[
                (
                    "ObjectName",
                    r"\REGISTRY\MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run",
                ),
                ("ObjectValueName", "Updater"),
                ("OperationType", "%%1905"),
                ("OldValueType", "REG_SZ"),
                ("OldValue", r"C:\old.exe"),
                ("NewValueType", "REG_SZ"),
                ("NewValue", r"C:\new.exe"),
                ("ProcessId", "0x44"),
                ("ProcessName", r"C:\Windows\regedit.exe"),
            ]),
        );
        assert_eq!(json["type_uid"], 20100203);
        assert_eq!(json["reg_value"]["name"], "Updater");
        assert_eq!(
            json["reg_value"]["path"],
            r"\REGISTRY\MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
        );
        assert_eq!(json["reg_value"]["data"], r"C:\new.exe");
        assert_eq!(json["reg_value"]["type_id"], 10);
        assert_eq!(json["prev_reg_value"]["data"], r"C:\old.exe");
        assert_eq!(json["actor"]["process"]["name"], "regedit.exe");
    }

    #[test]
    fn share_access_5145_is_smb_activity_from_the_client() {
        let json = normalized_json(
            "Security",
            5145,
            &with_subject(&[
                ("ObjectType", "File"),
                ("IpAddress", "10.0.0.9"),
                ("IpPort", "50400"),
                ("ShareName", r"\\*\C$"),
                ("ShareLocalPath", r"\??\C:\"),
                ("RelativeTargetName", r"Windows\Temp\psexesvc.exe"),
                ("AccessMask", "0x2"),
            ]),
        );
        assert_eq!(json["class_uid"], 4006);
        assert_eq!(json["type_uid"], 400602);
        assert_eq!(json["share"], r"\\*\C$");
        assert_eq!(json["share_type_id"], 1);
        assert_eq!(json["file"]["name"], "psexesvc.exe");
        assert_eq!(json["src_endpoint"]["ip"], "10.0.0.9");
        assert_eq!(json["src_endpoint"]["port"], 50400);
        assert_eq!(json["dst_endpoint"]["hostname"], "WS01.corp.local");
        assert_eq!(json["unmapped"]["ShareLocalPath"], r"\??\C:\");
        assert_eq!(json["unmapped"]["AccessMask"], "0x2");
    }

    #[test]
    fn filtering_platform_5156_and_5157() {
        let fields = [
            ("ProcessID", "4556"),
            (
                "Application",
                r"\device\harddiskvolume2\documents\listener.exe",
            ),
            ("Direction", "%%14592"),
            ("SourceAddress", "10.0.0.10"),
            ("SourcePort", "3333"),
            ("DestAddress", "10.0.0.100"),
            ("DestPort", "49278"),
            ("Protocol", "6"),
            ("FilterRTID", "70201"),
        ];
        let allowed = normalized_json("Security", 5156, &fields);
        assert_eq!(allowed["type_uid"], 400101);
        assert_eq!(allowed["action_id"], 1);
        assert_eq!(allowed["disposition_id"], 1);
        assert_eq!(allowed["connection_info"]["direction_id"], 1);
        assert_eq!(allowed["connection_info"]["protocol_name"], "tcp");
        assert_eq!(
            allowed["initiator_id"], 2,
            "inbound: the remote side initiated"
        );
        assert_eq!(allowed["src_endpoint"]["port"], 3333);
        assert_eq!(allowed["dst_endpoint"]["ip"], "10.0.0.100");
        assert_eq!(allowed["actor"]["process"]["pid"], 4556);
        assert_eq!(allowed["actor"]["process"]["name"], "listener.exe");
        let blocked = normalized_json("Security", 5157, &fields);
        assert_eq!(blocked["type_uid"], 400105);
        assert_eq!(blocked["action_id"], 2);
        assert_eq!(blocked["disposition"], "Blocked");
        assert_eq!(blocked["status_id"], 2);
    }
}
