//! Scheduled tasks (Security 4698-4702, Task Scheduler 106/140/141/200/201) and services
//! (Security 4697, System 7045).

use super::build::{account_user, subject_actor};
use super::source::Source;
use super::values::{file_at, xml_element};
use super::{draft, set_outcome};
use garrison_model::fields::parse_integer;
use garrison_model::ocsf::{
    Actor, Job, OcsfEvent, ScheduledJobActivity, ScheduledJobActivityId, WinService,
    WindowsServiceActivity, WindowsServiceActivityId,
};

fn task(name: Option<&str>) -> Job {
    Job {
        name: name.map(String::from),
        type_id: Some(1),
        type_name: Some("Task Scheduler".to_string()),
        ..Job::default()
    }
}

/// The command line of the first exec action of a task's XML definition.
fn task_command_line(xml: &str) -> Option<String> {
    let command = xml_element(xml, "Command")?;
    Some(match xml_element(xml, "Arguments") {
        Some(arguments) if !arguments.is_empty() => format!("{command} {arguments}"),
        _ => command,
    })
}

/// 4698 created, 4699 deleted, 4700 enabled, 4701 disabled, 4702 updated.
pub(super) fn security_task(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    use ScheduledJobActivityId::*;
    let activity = match event_id {
        4698 => Create,
        4699 => Delete,
        4700 => Enable,
        4701 => Disable,
        4702 => Update,
        _ => return None,
    };
    let mut job = task(source.take("TaskName"));
    // The XML stays in `unmapped`: only the command line is lifted out of it.
    job.cmd_line = source
        .peek("TaskContent")
        .or_else(|| source.peek("TaskContentNew"))
        .and_then(task_command_line);
    let actor = subject_actor(source);
    let mut event = draft(source, ScheduledJobActivity { activity, job });
    event.actor = actor;
    Some(event)
}

/// Task Scheduler operational log: 106 registered, 140 updated, 141 deleted, 200 action
/// started, 201 action completed.
pub(super) fn task_scheduler(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    use ScheduledJobActivityId::*;
    let activity = match event_id {
        106 => Create,
        140 => Update,
        141 => Delete,
        200 => Start,
        201 => Other("Action Completed".to_string()),
        _ => return None,
    };
    let mut job = task(source.take("TaskName"));
    let mut actor = None;
    match event_id {
        106 => job.user = source.take("UserContext").map(account_user),
        140 | 141 => {
            actor = source.take("UserName").map(|name| Actor {
                user: Some(account_user(name)),
                ..Actor::default()
            })
        }
        _ => {
            job.file = source
                .peek("ActionName")
                .filter(|action| action.contains('\\'))
                .map(|path| file_at(path, 1));
            if job.file.is_some() {
                source.consume("ActionName");
            }
        }
    }
    let result = (event_id == 201)
        .then(|| source.peek("ResultCode"))
        .flatten();
    let mut event = draft(source, ScheduledJobActivity { activity, job });
    event.actor = actor;
    if let Some(code) = result {
        event.status_code = Some(code.to_string());
        if let Some(code) = parse_integer(code) {
            set_outcome(&mut event, code == 0);
        }
    }
    Some(event)
}

/// `service_type_id` and caption of a service type code (`0x10`) or 7045's text.
fn service_type(text: &str) -> (u8, String) {
    if let Some(code) = parse_integer(text) {
        return match code & 0x3f {
            0x1 => (1, "Kernel Driver".to_string()),
            0x2 => (2, "File System Driver".to_string()),
            0x10 => (3, "Own Process".to_string()),
            0x20 => (4, "Share Process".to_string()),
            _ => (99, text.trim().to_string()),
        };
    }
    match text.trim().to_ascii_lowercase().as_str() {
        "kernel mode driver" => (1, "Kernel Driver".to_string()),
        "file system driver" => (2, "File System Driver".to_string()),
        _ => (99, text.trim().to_string()),
    }
}

/// `service_start_type_id` and caption of a start type code (`2`) or 7045's text.
fn start_type(text: &str) -> (u8, String) {
    let by_code = parse_integer(text).map(|code| match code {
        0 => 1,
        1 => 2,
        2 => 3,
        3 => 4,
        4 => 5,
        _ => 99,
    });
    let id = by_code.unwrap_or_else(|| match text.trim().to_ascii_lowercase().as_str() {
        "boot start" => 1,
        "system start" => 2,
        "auto start" => 3,
        "demand start" => 4,
        "disabled" => 5,
        _ => 99,
    });
    let caption = match id {
        1 => "Boot",
        2 => "System",
        3 => "Auto",
        4 => "Demand",
        5 => "Disabled",
        _ => text.trim(),
    };
    (id, caption.to_string())
}

/// 4697 (Security) and 7045 (System): a service was installed.
pub(super) fn service_installed(source: &mut Source) -> Option<OcsfEvent> {
    let mut service = WinService {
        name: source.take("ServiceName")?.to_string(),
        ..WinService::default()
    };
    service.cmd_line = source
        .take("ImagePath")
        .or_else(|| source.take("ServiceFileName"))
        .map(String::from);
    if let Some(text) = source.take("ServiceType") {
        let (id, caption) = service_type(text);
        service.service_type_id = Some(id);
        service.service_type = Some(caption);
    }
    if let Some(text) = source
        .take("StartType")
        .or_else(|| source.take("ServiceStartType"))
    {
        let (id, caption) = start_type(text);
        service.service_start_type_id = Some(id);
        service.service_start_type = Some(caption);
    }
    service.service_start_name = source
        .take("AccountName")
        .or_else(|| source.take("ServiceAccount"))
        .map(String::from);
    let actor = subject_actor(source);
    let mut event = draft(
        source,
        WindowsServiceActivity {
            activity: WindowsServiceActivityId::Create,
            win_service: service,
        },
    );
    event.actor = actor;
    Some(event)
}

#[cfg(test)]
mod tests {
    use crate::normalize::test_support::normalized_json;

    const TASK_XML: &str = "<?xml version=\"1.0\"?><Task><Actions Context=\"Author\"><Exec><Command>powershell.exe</Command><Arguments>-enc SQBFAFgA &amp; more</Arguments></Exec></Actions></Task>";

    #[test]
    fn security_task_events() {
        let json = normalized_json(
            "Security",
            4698,
            &[
                ("SubjectUserName", "alice"),
                ("SubjectUserSid", "S-1-5-21-1"),
                ("TaskName", r"\Microsoft\Windows\Updater"),
                ("TaskContent", TASK_XML),
            ],
        );
        assert_eq!(json["class_uid"], 1006);
        assert_eq!(json["type_uid"], 100601);
        assert_eq!(json["job"]["name"], r"\Microsoft\Windows\Updater");
        assert_eq!(
            json["job"]["cmd_line"],
            "powershell.exe -enc SQBFAFgA & more"
        );
        assert_eq!(json["job"]["type_id"], 1);
        assert_eq!(json["actor"]["user"]["name"], "alice");
        assert_eq!(
            json["unmapped"]["TaskContent"], TASK_XML,
            "the XML is kept whole"
        );
        for (event_id, type_uid) in [
            (4699, 100603),
            (4700, 100604),
            (4701, 100605),
            (4702, 100602),
        ] {
            let json = normalized_json("Security", event_id, &[("TaskName", r"\t")]);
            assert_eq!(json["type_uid"], type_uid, "{event_id}");
        }
    }

    #[test]
    fn task_scheduler_operational_events() {
        const CHANNEL: &str = "Microsoft-Windows-TaskScheduler/Operational";
        let registered = normalized_json(
            CHANNEL,
            106,
            &[("TaskName", r"\Updater"), ("UserContext", r"CORP\alice")],
        );
        assert_eq!(registered["type_uid"], 100601);
        assert_eq!(registered["job"]["user"]["name"], "alice");
        let updated = normalized_json(
            CHANNEL,
            140,
            &[("TaskName", r"\Updater"), ("UserName", r"CORP\bob")],
        );
        assert_eq!(updated["type_uid"], 100602);
        assert_eq!(updated["actor"]["user"]["name"], "bob");
        let deleted = normalized_json(
            CHANNEL,
            141,
            &[("TaskName", r"\Updater"), ("UserName", r"CORP\bob")],
        );
        assert_eq!(deleted["type_uid"], 100603);
        let started = normalized_json(
            CHANNEL,
            200,
            &[
                ("TaskName", r"\Updater"),
                (
                    "ActionName",
                    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                ),
                ("TaskInstanceId", "{i}"),
            ],
        );
        assert_eq!(started["type_uid"], 100606);
        assert_eq!(started["job"]["file"]["name"], "powershell.exe");
        let completed = normalized_json(
            CHANNEL,
            201,
            &[
                ("TaskName", r"\Updater"),
                ("ActionName", "C:\\x.exe"),
                ("ResultCode", "2147942402"),
            ],
        );
        assert_eq!(completed["activity_id"], 99);
        assert_eq!(completed["status_id"], 2);
        assert_eq!(completed["status_code"], "2147942402");
    }

    #[test]
    fn service_installs_from_system_and_security() {
        let system = normalized_json(
            "System",
            7045,
            &[
                ("ServiceName", "PSEXESVC"),
                ("ImagePath", r"%SystemRoot%\PSEXESVC.exe"),
                ("ServiceType", "user mode service"),
                ("StartType", "demand start"),
                ("AccountName", "LocalSystem"),
            ],
        );
        assert_eq!(system["class_uid"], 201004);
        assert_eq!(system["type_uid"], 20100401);
        assert_eq!(system["win_service"]["name"], "PSEXESVC");
        assert_eq!(
            system["win_service"]["cmd_line"],
            r"%SystemRoot%\PSEXESVC.exe"
        );
        assert_eq!(system["win_service"]["service_start_type_id"], 4);
        assert_eq!(system["win_service"]["service_type_id"], 99);
        assert_eq!(system["win_service"]["service_start_name"], "LocalSystem");
        assert_eq!(system["actor"]["process"]["pid"], 3100, "the SCM logged it");
        let security = normalized_json(
            "Security",
            4697,
            &[
                ("SubjectUserName", "alice"),
                ("ServiceName", "evil"),
                ("ServiceFileName", r"C:\evil.exe"),
                ("ServiceType", "0x10"),
                ("ServiceStartType", "2"),
                ("ServiceAccount", "LocalSystem"),
            ],
        );
        assert_eq!(security["win_service"]["service_type_id"], 3);
        assert_eq!(security["win_service"]["service_start_type_id"], 3);
        assert_eq!(security["win_service"]["service_start_type"], "Auto");
        assert_eq!(security["actor"]["user"]["name"], "alice");
    }
}
