//! Sysmon (`Microsoft-Windows-Sysmon/Operational`) events: processes and image loads here,
//! files and registry in [`files`], network connections and DNS in [`network`].

mod files;
mod network;

use super::build::{
    SYSMON_PARENT, SYSMON_PROCESS, SYSMON_SOURCE, SYSMON_TARGET, file_details, process,
    process_actor,
};
use super::draft;
use super::source::Source;
use super::values::{file_at, integrity_id_of_level};
use garrison_model::ocsf::{
    Module, ModuleActivity, ModuleActivityId, OcsfEvent, ProcessActivity, ProcessActivityId,
    Session,
};

pub(super) fn map(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    match event_id {
        1 => process_created(source),
        5 => process_terminated(source),
        8 => remote_thread_created(source),
        10 => process_accessed(source),
        25 => process_tampered(source),
        7 => image_loaded(source),
        2 | 9 | 11 | 15 | 17 | 18 | 23 | 26 => files::file_event(event_id, source),
        12..=14 => files::registry_event(event_id, source),
        3 => network::connection(source),
        22 => network::dns_query(source),
        _ => None,
    }
}

/// EID 1: a process was created by its parent.
fn process_created(source: &mut Source) -> Option<OcsfEvent> {
    let mut child = process(source, &SYSMON_PROCESS)?;
    if let Some(file) = child.file.as_mut() {
        file_details(source, file, "Hashes");
    }
    child.working_directory = source.take("CurrentDirectory").map(String::from);
    if let Some(level) = source.take("IntegrityLevel") {
        child.integrity = Some(level.to_string());
        child.integrity_id = Some(integrity_id_of_level(level));
    }
    let logon_id = source.take("LogonId");
    let logon_guid = source.take("LogonGuid");
    if logon_id.is_some() || logon_guid.is_some() {
        child.session = Some(Session {
            uid: logon_id.map(String::from),
            uuid: logon_guid.map(String::from),
            is_remote: None,
        });
    }
    let parent = process(source, &SYSMON_PARENT);
    child.parent_process = parent.clone().map(Box::new);
    let mut attributes = ProcessActivity::new(ProcessActivityId::Launch, child);
    attributes.launch_type_id = Some(1);
    attributes.launch_type = Some("Spawn".to_string());
    let mut event = draft(source, attributes);
    event.actor = parent.map(process_actor);
    Some(event)
}

/// EID 5: a process ended (reported by the process itself).
fn process_terminated(source: &mut Source) -> Option<OcsfEvent> {
    let ended = process(source, &SYSMON_PROCESS)?;
    let actor = process_actor(ended.clone());
    let mut event = draft(
        source,
        ProcessActivity::new(ProcessActivityId::Terminate, ended),
    );
    event.actor = Some(actor);
    Some(event)
}

/// EID 8: a process started a thread in another process.
fn remote_thread_created(source: &mut Source) -> Option<OcsfEvent> {
    let target = process(source, &SYSMON_TARGET)?;
    let actor = process(source, &SYSMON_SOURCE).map(process_actor);
    let mut attributes = ProcessActivity::new(ProcessActivityId::Inject, target);
    attributes.injection_type_id = Some(1);
    attributes.injection_type = Some("Remote Thread".to_string());
    if source.has("StartFunction") {
        attributes.module = Some(Module {
            file: source.take("StartModule").map(|path| file_at(path, 1)),
            start_address: source.take("StartAddress").map(String::from),
            function_name: source.take("StartFunction").map(String::from),
            load_type_id: None,
            load_type: None,
        });
    }
    let mut event = draft(source, attributes);
    event.actor = actor;
    Some(event)
}

/// EID 10: a process opened another process.
fn process_accessed(source: &mut Source) -> Option<OcsfEvent> {
    let target = process(source, &SYSMON_TARGET)?;
    let mut actor = process(source, &SYSMON_SOURCE);
    if let Some(actor) = actor.as_mut() {
        actor.tid = source.take_integer("SourceThreadId");
    }
    let mut attributes = ProcessActivity::new(ProcessActivityId::Open, target);
    attributes.actual_permissions = source.take_integer("GrantedAccess");
    let mut event = draft(source, attributes);
    event.actor = actor.map(process_actor);
    Some(event)
}

/// EID 25: the image of a process was replaced or locked ("process tampering").
fn process_tampered(source: &mut Source) -> Option<OcsfEvent> {
    let tampered = process(source, &SYSMON_PROCESS)?;
    let actor = process_actor(tampered.clone());
    let activity = ProcessActivityId::Other("Tampering".to_string());
    let mut event = draft(source, ProcessActivity::new(activity, tampered));
    event.actor = Some(actor);
    Some(event)
}

/// EID 7: a process loaded an image.
fn image_loaded(source: &mut Source) -> Option<OcsfEvent> {
    let loader = process(source, &SYSMON_PROCESS)?;
    let mut file = source.take("ImageLoaded").map(|path| file_at(path, 1));
    if let Some(file) = file.as_mut() {
        file_details(source, file, "Hashes");
    }
    let module = Module {
        file,
        // Sysmon does not say how the image was loaded.
        load_type_id: Some(0),
        load_type: Some("Unknown".to_string()),
        ..Module::default()
    };
    let mut event = draft(
        source,
        ModuleActivity {
            activity: ModuleActivityId::Load,
            module,
        },
    );
    event.actor = Some(process_actor(loader));
    Some(event)
}

#[cfg(test)]
mod tests {
    use crate::normalize::test_support::{SYSMON, normalized_json};

    #[test]
    fn process_creation_maps_child_parent_and_image_details() {
        let json = normalized_json(
            SYSMON,
            1,
            &[
                ("RuleName", "technique_id=T1059"),
                ("ProcessGuid", "{11111111-2222-3333-4444-555555555555}"),
                ("ProcessId", "4242"),
                ("Image", r"C:\Windows\System32\cmd.exe"),
                ("FileVersion", "10.0.19041.1"),
                ("Description", "Windows Command Processor"),
                ("Product", "Microsoft Windows"),
                ("Company", "Microsoft Corporation"),
                ("OriginalFileName", "Cmd.Exe"),
                ("CommandLine", "cmd.exe /c whoami"),
                ("CurrentDirectory", r"C:\Users\alice\"),
                ("User", r"CORP\alice"),
                ("LogonGuid", "{aaaa}"),
                ("LogonId", "0x3e7"),
                ("IntegrityLevel", "High"),
                ("Hashes", "SHA1=AB,MD5=CD,SHA256=EF,IMPHASH=01"),
                (
                    "ParentProcessGuid",
                    "{99999999-2222-3333-4444-555555555555}",
                ),
                ("ParentProcessId", "1000"),
                ("ParentImage", r"C:\Windows\explorer.exe"),
                ("ParentCommandLine", "explorer.exe"),
                ("ParentUser", r"CORP\alice"),
            ],
        );
        assert_eq!(json["class_uid"], 1007);
        assert_eq!(json["activity_id"], 1);
        assert_eq!(json["type_uid"], 100701);
        let process = &json["process"];
        assert_eq!(process["pid"], 4242);
        assert_eq!(process["uid"], "{11111111-2222-3333-4444-555555555555}");
        assert_eq!(process["name"], "cmd.exe");
        assert_eq!(process["cmd_line"], "cmd.exe /c whoami");
        assert_eq!(process["file"]["path"], r"C:\Windows\System32\cmd.exe");
        assert_eq!(process["file"]["hashes"][0]["algorithm_id"], 2);
        assert_eq!(process["file"]["hashes"][2]["value"], "EF");
        assert_eq!(process["file"]["internal_name"], "Cmd.Exe");
        assert_eq!(process["file"]["company_name"], "Microsoft Corporation");
        assert_eq!(process["user"]["name"], "alice");
        assert_eq!(process["user"]["domain"], "CORP");
        assert_eq!(process["integrity_id"], 4);
        assert_eq!(process["session"]["uid"], "0x3e7");
        assert_eq!(process["parent_process"]["pid"], 1000);
        assert_eq!(process["parent_process"]["name"], "explorer.exe");
        assert_eq!(
            json["actor"]["process"]["uid"],
            "{99999999-2222-3333-4444-555555555555}"
        );
        assert_eq!(json["actor"]["user"]["name"], "alice");
        assert_eq!(json["unmapped"]["RuleName"], "technique_id=T1059");
        assert!(json["unmapped"].get("Hashes").is_none());
    }

    #[test]
    fn termination_is_reflexive() {
        let json = normalized_json(
            SYSMON,
            5,
            &[
                ("ProcessId", "77"),
                ("ProcessGuid", "{g}"),
                ("Image", r"C:\a.exe"),
            ],
        );
        assert_eq!(json["type_uid"], 100702);
        assert_eq!(json["process"]["pid"], 77);
        assert_eq!(json["actor"]["process"]["pid"], 77);
    }

    #[test]
    fn remote_thread_is_an_injection_by_the_source() {
        let json = normalized_json(
            SYSMON,
            8,
            &[
                ("SourceProcessGuid", "{s}"),
                ("SourceProcessId", "10"),
                ("SourceImage", r"C:\evil.exe"),
                ("TargetProcessGuid", "{t}"),
                ("TargetProcessId", "20"),
                ("TargetImage", r"C:\Windows\System32\lsass.exe"),
                ("NewThreadId", "99"),
                ("StartAddress", "0x00007FF8"),
                ("StartModule", r"C:\Windows\System32\kernel32.dll"),
                ("StartFunction", "LoadLibraryW"),
            ],
        );
        assert_eq!(json["type_uid"], 100704);
        assert_eq!(json["injection_type_id"], 1);
        assert_eq!(json["process"]["name"], "lsass.exe");
        assert_eq!(json["actor"]["process"]["name"], "evil.exe");
        assert_eq!(json["module"]["function_name"], "LoadLibraryW");
        assert_eq!(json["module"]["file"]["name"], "kernel32.dll");
        assert_eq!(json["unmapped"]["NewThreadId"], "99");
    }

    #[test]
    fn process_access_keeps_granted_access_and_guid_spelling() {
        let json = normalized_json(
            SYSMON,
            10,
            &[
                ("SourceProcessGUID", "{s}"),
                ("SourceProcessId", "10"),
                ("SourceThreadId", "11"),
                ("SourceImage", r"C:\tools\procdump.exe"),
                ("TargetProcessGUID", "{t}"),
                ("TargetProcessId", "20"),
                ("TargetImage", r"C:\Windows\System32\lsass.exe"),
                ("GrantedAccess", "0x1410"),
                ("CallTrace", "ntdll.dll+9d4c4"),
            ],
        );
        assert_eq!(json["type_uid"], 100703);
        assert_eq!(json["actual_permissions"], 0x1410);
        assert_eq!(json["process"]["uid"], "{t}");
        assert_eq!(json["actor"]["process"]["uid"], "{s}");
        assert_eq!(json["actor"]["process"]["tid"], 11);
        assert_eq!(json["unmapped"]["CallTrace"], "ntdll.dll+9d4c4");
    }

    #[test]
    fn tampering_is_other_activity() {
        let json = normalized_json(
            SYSMON,
            25,
            &[
                ("ProcessId", "5"),
                ("Image", r"C:\x.exe"),
                ("Type", "Image is replaced"),
            ],
        );
        assert_eq!(json["activity_id"], 99);
        assert_eq!(json["activity_name"], "Tampering");
        assert_eq!(json["type_uid"], 100799);
        assert_eq!(json["unmapped"]["Type"], "Image is replaced");
    }

    #[test]
    fn image_load_is_module_activity() {
        let json = normalized_json(
            SYSMON,
            7,
            &[
                ("ProcessId", "5"),
                ("ProcessGuid", "{p}"),
                ("Image", r"C:\Windows\System32\rundll32.exe"),
                ("ImageLoaded", r"C:\Users\alice\evil.dll"),
                ("Hashes", "SHA256=AA"),
                ("Signed", "false"),
                ("User", r"CORP\alice"),
            ],
        );
        assert_eq!(json["class_uid"], 1005);
        assert_eq!(json["type_uid"], 100501);
        assert_eq!(json["module"]["file"]["name"], "evil.dll");
        assert_eq!(json["module"]["file"]["hashes"][0]["algorithm_id"], 3);
        assert_eq!(json["actor"]["process"]["name"], "rundll32.exe");
        assert_eq!(json["actor"]["user"]["name"], "alice");
        assert_eq!(json["unmapped"]["Signed"], "false");
    }
}
