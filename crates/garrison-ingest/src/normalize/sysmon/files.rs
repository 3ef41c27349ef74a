//! Sysmon file (EID 2, 9, 11, 15, 23, 26), named pipe (17, 18) and registry (12, 13, 14) events.

use crate::normalize::build::registry_value;
use crate::normalize::build::{SYSMON_PROCESS, process, process_actor};
use crate::normalize::draft;
use crate::normalize::source::Source;
use crate::normalize::values::{file_at, parse_hashes, parse_utc_millis};
use garrison_model::fields::parse_integer;
use garrison_model::ocsf::{
    FileActivityId, FileSystemActivity, OcsfEvent, RegKey, RegValue, RegistryKeyActivity,
    RegistryKeyActivityId, RegistryValueActivity, RegistryValueActivityId,
};

pub(super) fn file_event(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    let (path_field, type_id, activity) = match event_id {
        2 => ("TargetFilename", 1, FileActivityId::SetAttributes),
        9 => ("Device", 4, FileActivityId::Read),
        11 | 15 => ("TargetFilename", 1, FileActivityId::Create),
        17 => ("PipeName", 6, FileActivityId::Create),
        18 => ("PipeName", 6, FileActivityId::Open),
        23 | 26 => ("TargetFilename", 1, FileActivityId::Delete),
        _ => return None,
    };
    let mut file = file_at(source.take(path_field)?, type_id);
    if let Some(created) = source.peek("CreationUtcTime").and_then(parse_utc_millis) {
        source.consume("CreationUtcTime");
        file.created_time = Some(created);
    }
    let hashes_field = if event_id == 15 { "Hash" } else { "Hashes" };
    file.hashes = source
        .take(hashes_field)
        .map(parse_hashes)
        .unwrap_or_default();
    if matches!(event_id, 23 | 26) {
        file.is_deleted = Some(true);
    }
    if matches!(event_id, 17 | 18) {
        source.consume("EventType");
    }
    let actor = process(source, &SYSMON_PROCESS).map(process_actor);
    let mut event = draft(
        source,
        FileSystemActivity {
            activity,
            file,
            access_mask: None,
        },
    );
    event.actor = actor;
    Some(event)
}

/// What a Sysmon registry event did, from its `EventType` or else its event id.
enum RegistryChange {
    Key(RegistryKeyActivityId),
    Value(RegistryValueActivityId),
}

fn registry_change(event_id: u32, event_type: Option<&str>) -> RegistryChange {
    use RegistryChange::*;
    match event_type.map(str::to_ascii_lowercase).as_deref() {
        Some("createkey") => Key(RegistryKeyActivityId::Create),
        Some("deletekey") => Key(RegistryKeyActivityId::Delete),
        Some("renamekey") => Key(RegistryKeyActivityId::Rename),
        Some("setvalue") => Value(RegistryValueActivityId::Set),
        Some("deletevalue") => Value(RegistryValueActivityId::Delete),
        _ => match event_id {
            13 => Value(RegistryValueActivityId::Set),
            14 => Key(RegistryKeyActivityId::Rename),
            _ => Key(RegistryKeyActivityId::Unknown),
        },
    }
}

pub(super) fn registry_event(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    let change = registry_change(event_id, source.take("EventType"));
    let target = source.take("TargetObject")?;
    let actor = process(source, &SYSMON_PROCESS).map(process_actor);
    let mut event = match change {
        RegistryChange::Key(activity) => {
            let renamed_to = match activity {
                RegistryKeyActivityId::Rename => source.take("NewName"),
                _ => None,
            };
            let (reg_key, prev_reg_key) = match renamed_to {
                Some(new_path) => (new_path, Some(target)),
                None => (target, None),
            };
            draft(
                source,
                RegistryKeyActivity {
                    activity,
                    reg_key: RegKey {
                        path: reg_key.to_string(),
                    },
                    prev_reg_key: prev_reg_key.map(|path| RegKey {
                        path: path.to_string(),
                    }),
                    access_mask: None,
                },
            )
        }
        RegistryChange::Value(activity) => {
            let mut reg_value = registry_value(target);
            if let Some(details) = source.take("Details") {
                set_sysmon_data(&mut reg_value, details);
            }
            draft(
                source,
                RegistryValueActivity {
                    activity,
                    reg_value,
                    prev_reg_value: None,
                },
            )
        }
    };
    event.actor = actor;
    Some(event)
}

/// The data of a value as Sysmon renders it: `DWORD (0x00000001)`, `QWORD (0x0-0x1)`,
/// `Binary Data`, `(Empty)` or the string itself.
fn set_sysmon_data(value: &mut RegValue, details: &str) {
    let inside = |prefix: &str| {
        details
            .strip_prefix(prefix)
            .and_then(|rest| rest.trim().strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'))
    };
    if let Some(number) = inside("DWORD").and_then(parse_integer) {
        value.type_name = Some("REG_DWORD".to_string());
        value.type_id = Some(2);
        value.reg_integer_data = Some(number);
    } else if let Some((high, low)) = inside("QWORD").and_then(|text| text.split_once('-')) {
        value.type_name = Some("REG_QWORD".to_string());
        value.type_id = Some(8);
        match (parse_integer(high), parse_integer(low)) {
            (Some(high), Some(low)) => value.reg_integer_data = Some((high << 32) | low),
            _ => value.data = Some(details.to_string()),
        }
    } else if details == "Binary Data" {
        value.type_name = Some("REG_BINARY".to_string());
        value.type_id = Some(1);
    } else if details == "(Empty)" {
        value.reg_string_data = Some(String::new());
    } else {
        value.reg_string_data = Some(details.to_string());
    }
}

#[cfg(test)]
mod tests {
    use crate::normalize::test_support::{SYSMON, normalized_json};

    const PROCESS: [(&str, &str); 3] = [
        ("ProcessGuid", "{p}"),
        ("ProcessId", "300"),
        (
            "Image",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        ),
    ];

    fn with_process<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut fields = PROCESS.to_vec();
        fields.extend_from_slice(extra);
        fields
    }

    #[test]
    fn file_events_map_to_activities() {
        let cases = [
            (11, 100101, "TargetFilename", r"C:\Temp\drop.exe"),
            (2, 100106, "TargetFilename", r"C:\Temp\drop.exe"),
            (23, 100104, "TargetFilename", r"C:\Temp\drop.exe"),
            (26, 100104, "TargetFilename", r"C:\Temp\drop.exe"),
            (
                15,
                100101,
                "TargetFilename",
                r"C:\Temp\drop.exe:Zone.Identifier",
            ),
            (9, 100102, "Device", r"\Device\HarddiskVolume2"),
            (17, 100101, "PipeName", r"\evilpipe"),
            (18, 100114, "PipeName", r"\evilpipe"),
        ];
        for (event_id, type_uid, field, path) in cases {
            let json = normalized_json(SYSMON, event_id, &with_process(&[(field, path)]));
            assert_eq!(json["class_uid"], 1001, "EID {event_id}");
            assert_eq!(json["type_uid"], type_uid, "EID {event_id}");
            assert_eq!(json["file"]["path"], path, "EID {event_id}");
            assert_eq!(json["actor"]["process"]["pid"], 300, "EID {event_id}");
        }
    }

    #[test]
    fn file_create_keeps_creation_time_and_hashes() {
        let json = normalized_json(
            SYSMON,
            11,
            &with_process(&[
                ("TargetFilename", r"C:\Temp\drop.exe"),
                ("CreationUtcTime", "2024-05-01 10:00:00.123"),
                ("User", r"CORP\bob"),
            ]),
        );
        assert_eq!(json["file"]["name"], "drop.exe");
        assert_eq!(json["file"]["type_id"], 1);
        assert_eq!(json["file"]["created_time"], 1_714_557_600_123_i64);
        assert_eq!(json["actor"]["user"]["name"], "bob");
        let deleted = normalized_json(
            SYSMON,
            23,
            &with_process(&[
                ("TargetFilename", r"C:\Temp\drop.exe"),
                ("Hashes", "MD5=AA"),
                ("Archived", "true"),
            ]),
        );
        assert_eq!(deleted["file"]["is_deleted"], true);
        assert_eq!(deleted["file"]["hashes"][0]["algorithm_id"], 1);
        assert_eq!(deleted["unmapped"]["Archived"], "true");
        let pipe = normalized_json(SYSMON, 17, &with_process(&[("PipeName", r"\x")]));
        assert_eq!(pipe["file"]["type_id"], 6);
    }

    #[test]
    fn registry_key_events() {
        let created = normalized_json(
            SYSMON,
            12,
            &with_process(&[
                ("EventType", "CreateKey"),
                ("TargetObject", r"HKLM\Software\Evil"),
            ]),
        );
        assert_eq!(created["class_uid"], 201001);
        assert_eq!(created["type_uid"], 20100101);
        assert_eq!(created["reg_key"]["path"], r"HKLM\Software\Evil");
        let deleted = normalized_json(
            SYSMON,
            12,
            &with_process(&[
                ("EventType", "DeleteKey"),
                ("TargetObject", r"HKLM\Software\Evil"),
            ]),
        );
        assert_eq!(deleted["type_uid"], 20100104);
        let renamed = normalized_json(
            SYSMON,
            14,
            &with_process(&[
                ("EventType", "RenameKey"),
                ("TargetObject", r"HKLM\Software\Old"),
                ("NewName", r"HKLM\Software\New"),
            ]),
        );
        assert_eq!(renamed["type_uid"], 20100105);
        assert_eq!(renamed["reg_key"]["path"], r"HKLM\Software\New");
        assert_eq!(renamed["prev_reg_key"]["path"], r"HKLM\Software\Old");
    }

    #[test]
    fn registry_value_events() {
        let set = normalized_json(
            SYSMON,
            13,
            &with_process(&[
                ("EventType", "SetValue"),
                (
                    "TargetObject",
                    r"HKU\S-1-5-21\Software\Microsoft\Windows\CurrentVersion\Run\Updater",
                ),
                ("Details", r"C:\Users\Public\updater.exe"),
            ]),
        );
        assert_eq!(set["class_uid"], 201002);
        assert_eq!(set["type_uid"], 20100202);
        assert_eq!(set["reg_value"]["name"], "Updater");
        assert_eq!(
            set["reg_value"]["path"],
            r"HKU\S-1-5-21\Software\Microsoft\Windows\CurrentVersion\Run"
        );
        assert_eq!(
            set["reg_value"]["reg_string_data"],
            r"C:\Users\Public\updater.exe"
        );
        assert_eq!(set["actor"]["process"]["name"], "powershell.exe");
        let dword = normalized_json(
            SYSMON,
            13,
            &with_process(&[
                ("EventType", "SetValue"),
                (
                    "TargetObject",
                    r"HKLM\System\CurrentControlSet\Control\Lsa\DisableRestrictedAdmin",
                ),
                ("Details", "DWORD (0x00000001)"),
            ]),
        );
        assert_eq!(dword["reg_value"]["type_id"], 2);
        assert_eq!(dword["reg_value"]["reg_integer_data"], 1);
        let deleted = normalized_json(
            SYSMON,
            12,
            &with_process(&[
                ("EventType", "DeleteValue"),
                ("TargetObject", r"HKLM\Run\(Default)"),
            ]),
        );
        assert_eq!(deleted["type_uid"], 20100204);
        assert_eq!(deleted["reg_value"]["is_default"], true);
    }
}
