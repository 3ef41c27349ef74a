//! Windows log sources on raw events: channel and event id routing, and field mapping for
//! sources that name fields differently (Security 4688 for process creation).

mod support;

use garrison_model::RecordFormat;
use support::*;

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

fn process_creation(detection: &str) -> String {
    format!(
        "title: pc\nid: pc\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n{detection}\n"
    )
}

fn windows_event(fields: &[(&str, &str)]) -> garrison_model::Event {
    event_with(RecordFormat::Evtx, fields)
}

#[test]
fn process_creation_matches_sysmon_1_and_security_4688() {
    let rules = rules(&[&process_creation(
        "    sel:\n        Image|endswith: '\\whoami.exe'\n    condition: sel",
    )]);
    let sysmon = windows_event(&[
        ("Channel", SYSMON),
        ("EventID", "1"),
        ("Image", "C:\\Windows\\System32\\whoami.exe"),
    ]);
    let security = windows_event(&[
        ("Channel", "Security"),
        ("EventID", "4688"),
        ("NewProcessName", "C:\\Windows\\System32\\whoami.exe"),
    ]);
    let wrong_event = windows_event(&[
        ("Channel", SYSMON),
        ("EventID", "7"),
        ("Image", "C:\\Windows\\System32\\whoami.exe"),
    ]);
    let wrong_channel = windows_event(&[
        ("Channel", "Application"),
        ("EventID", "1"),
        ("Image", "C:\\Windows\\System32\\whoami.exe"),
    ]);
    assert_eq!(matching(&rules, &sysmon), ["pc"]);
    assert_eq!(matching(&rules, &security), ["pc"]);
    assert!(matching(&rules, &wrong_event).is_empty());
    assert!(matching(&rules, &wrong_channel).is_empty());
    // A generic JSON record with the same fields is not a Windows event.
    let json = event(&[
        ("Channel", SYSMON),
        ("EventID", "1"),
        ("Image", "C:\\whoami.exe"),
    ]);
    assert!(matching(&rules, &json).is_empty());
}

#[test]
fn fields_missing_from_4688_never_widen_a_rule() {
    // OriginalFileName does not exist in 4688: as a positive alternative it is just absent...
    let positive = rules(&[&process_creation(
        "    sel:\n        - Image|endswith: '\\rclone.exe'\n        - OriginalFileName: 'rclone.exe'\n    condition: sel",
    )]);
    let security = windows_event(&[
        ("Channel", "Security"),
        ("EventID", "4688"),
        ("NewProcessName", "C:\\t\\rclone.exe"),
    ]);
    assert_eq!(matching(&positive, &security), ["pc"]);
    // ...but under a negation it would make the rule fire more, so the rule does not apply to 4688.
    let negated = rules(&[&process_creation(
        "    sel:\n        Image|endswith: '\\rundll32.exe'\n    filter:\n        OriginalFileName: 'RUNDLL32.EXE'\n    condition: sel and not filter",
    )]);
    let security = windows_event(&[
        ("Channel", "Security"),
        ("EventID", "4688"),
        ("NewProcessName", "C:\\x\\rundll32.exe"),
    ]);
    assert!(matching(&negated, &security).is_empty());
    let sysmon = windows_event(&[
        ("Channel", SYSMON),
        ("EventID", "1"),
        ("Image", "C:\\x\\rundll32.exe"),
        ("OriginalFileName", "renamed.exe"),
    ]);
    assert_eq!(matching(&negated, &sysmon), ["pc"]);
}

#[test]
fn event_ids_in_the_detection_narrow_the_source() {
    let rules = rules(&[
        "title: s\nid: s\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID:\n            - 4624\n            - 4625\n        LogonType: 3\n    condition: sel\n",
    ]);
    assert_eq!(
        matching(
            &rules,
            &windows_event(&[
                ("Channel", "Security"),
                ("EventID", "4625"),
                ("LogonType", "3")
            ])
        ),
        ["s"]
    );
    assert!(
        matching(
            &rules,
            &windows_event(&[
                ("Channel", "Security"),
                ("EventID", "4634"),
                ("LogonType", "3")
            ])
        )
        .is_empty()
    );
    assert!(
        matching(
            &rules,
            &windows_event(&[
                ("Channel", "System"),
                ("EventID", "4625"),
                ("LogonType", "3")
            ])
        )
        .is_empty()
    );
}

#[test]
fn registry_delete_requires_delete_event_types() {
    let rules = rules(&[
        "title: r\nid: r\nlogsource:\n    product: windows\n    category: registry_delete\ndetection:\n    sel:\n        TargetObject|contains: '\\Run\\'\n    condition: sel\n",
    ]);
    let delete = windows_event(&[
        ("Channel", SYSMON),
        ("EventID", "12"),
        ("EventType", "DeleteValue"),
        (
            "TargetObject",
            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\x",
        ),
    ]);
    let create = windows_event(&[
        ("Channel", SYSMON),
        ("EventID", "12"),
        ("EventType", "CreateKey"),
        (
            "TargetObject",
            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\x",
        ),
    ]);
    assert_eq!(matching(&rules, &delete), ["r"]);
    assert!(matching(&rules, &create).is_empty());
}

#[test]
fn product_only_rules_apply_to_every_channel() {
    let rules = rules(&[
        "title: p\nid: p\nlogsource:\n    product: windows\ndetection:\n    sel:\n        Provider_Name: 'Service Control Manager'\n        EventID: 7045\n    condition: sel\n",
    ]);
    assert_eq!(
        matching(
            &rules,
            &windows_event(&[
                ("Channel", "System"),
                ("EventID", "7045"),
                ("Provider_Name", "Service Control Manager")
            ])
        ),
        ["p"]
    );
    assert!(
        matching(
            &rules,
            &windows_event(&[
                ("Channel", "System"),
                ("EventID", "7036"),
                ("Provider_Name", "Service Control Manager")
            ])
        )
        .is_empty()
    );
}

#[test]
fn detections_report_the_fields_the_rule_read() {
    let rules = rules(&[&process_creation(
        "    sel:\n        Image|endswith: '\\whoami.exe'\n        CommandLine|contains: '/all'\n    condition: sel",
    )]);
    let event = windows_event(&[
        ("Channel", SYSMON),
        ("EventID", "1"),
        ("Image", "C:\\whoami.exe"),
        ("User", "bob"),
        ("CommandLine", "whoami /all"),
    ]);
    let mut scratch = rules.scratch();
    let mut found = Vec::new();
    rules.evaluate(&event, &mut scratch, &mut found);
    let detection = rules.detection(&found[0], &event);
    let names: Vec<&str> = detection
        .fields
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    // Channel and event id come from the log source, not the detection.
    assert_eq!(names, ["Image", "CommandLine"]);
    assert_eq!(detection.channel.as_deref(), Some(SYSMON));
    assert_eq!(detection.event_id, Some(1));
}
