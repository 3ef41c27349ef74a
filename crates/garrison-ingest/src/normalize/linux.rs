//! Linux records to OCSF: audit events (EXECVE as Process Activity Launch, user-space login
//! and authentication records as Authentication, account records as Account Change or Group
//! Management) and syslog/journald messages that [`crate::linux_messages`] read (sshd and PAM
//! logons and sessions, sudo commands, su, useradd/userdel/passwd). Anything else becomes a
//! Base Event carrying its text in `message`; all fields not represented stay in `unmapped`.

use super::source::Source;
use super::values::{basename, file_at, parse_port};
use super::{draft, set_outcome};
use garrison_model::ocsf::{
    AccountChange, AccountChangeActivityId, Actor, Authentication, AuthenticationActivityId,
    BaseActivityId, BaseEvent, Device, Group, GroupManagement, GroupManagementActivityId,
    NetworkEndpoint, OcsfEvent, Os, Process, ProcessActivity, ProcessActivityId, Product, Service,
    Session, Severity, User,
};
use garrison_model::{Event, RecordFormat};

/// The OCSF view of a Linux record (audit, syslog, journald); always a class, Base Event at
/// least.
pub fn normalize_linux(event: &Event) -> Option<OcsfEvent> {
    let mut source = Source::new(event);
    let mut normalized = match event.format {
        RecordFormat::Auditd => audit(&mut source),
        RecordFormat::Syslog | RecordFormat::Journald => message(&mut source),
        _ => return None,
    };
    finish(&mut normalized, &mut source);
    Some(normalized)
}

fn base(source: &Source, label: &str) -> OcsfEvent {
    draft(
        source,
        BaseEvent {
            activity: BaseActivityId::Other(label.to_string()),
        },
    )
}

fn named_user(name: &str) -> User {
    User {
        name: Some(name.to_string()),
        ..User::default()
    }
}

/// An audit record's user: the interpreted name (`UID="root"`) with the numeric id.
fn audit_user(source: &mut Source, name: &str, id: &str) -> Option<User> {
    let uid = source.take(id).filter(|uid| *uid != "4294967295");
    let interpreted = source.take(name).filter(|name| *name != "unset");
    if uid.is_none() && interpreted.is_none() {
        return None;
    }
    Some(User {
        name: interpreted.map(str::to_string),
        uid: uid.map(str::to_string),
        ..User::default()
    })
}

fn audit(source: &mut Source) -> OcsfEvent {
    let kinds: Vec<&str> = source
        .event
        .fields
        .get_all("type")
        .map(|field| field.value)
        .collect();
    // AUOMS (the Azure Monitor agent's collector) merges a start's records into one.
    if kinds.contains(&"EXECVE") || kinds.contains(&"AUOMS_EXECVE") {
        return audit_exec(source);
    }
    let first = kinds.first().copied().unwrap_or("UNKNOWN");
    let mut event = match first {
        "USER_LOGIN" | "USER_AUTH" | "USER_LOGOUT" | "USER_START" | "USER_END" | "USER_ERR" => {
            audit_authentication(source, first)
        }
        "ADD_USER" | "DEL_USER" | "USER_CHAUTHTOK" | "USER_MGMT" => audit_account(source, first),
        "ADD_GROUP" | "DEL_GROUP" | "GRP_MGMT" => audit_group(source, first),
        _ => base(source, &format!("Audit {first}")),
    };
    if event.status_id.is_none()
        && let Some(result) = source.peek("res").or_else(|| source.peek("success"))
    {
        source.consume("res");
        source.consume("success");
        set_outcome(&mut event, matches!(result, "success" | "yes"));
    }
    event
}

fn audit_exec(source: &mut Source) -> OcsfEvent {
    let parent = source.take_integer("ParentProcessId").map(|pid| Process {
        pid: Some(pid),
        ..Process::default()
    });
    let image = source.take("Image").or_else(|| source.peek("exe"));
    source.consume("exe");
    let mut process = Process {
        pid: source.take_integer("ProcessId"),
        cmd_line: source.take("CommandLine").map(str::to_string),
        name: image.map(|path| basename(path).to_string()),
        file: image.map(|path| file_at(path, 1)),
        // auditd interprets `uid` as `UID`; AUOMS as `user`.
        user: match source.peek("UID") {
            Some(_) => audit_user(source, "UID", "uid"),
            None => audit_user(source, "user", "uid"),
        },
        parent_process: parent.clone().map(Box::new),
        session: source
            .take("ses")
            .filter(|s| *s != "4294967295")
            .map(|ses| Session {
                uid: Some(ses.to_string()),
                ..Session::default()
            }),
        ..Process::default()
    };
    source.consume("pid");
    source.consume("ppid");
    source.consume("proctitle");
    source.consume("User");
    if process.cmd_line.as_deref() == Some("") {
        process.cmd_line = None;
    }
    let login_user = audit_user(source, "AUID", "auid");
    let exit_code = source.take_integer("exit");
    let mut event = draft(
        source,
        ProcessActivity {
            exit_code,
            ..ProcessActivity::new(ProcessActivityId::Launch, process)
        },
    );
    // The actor: the login user behind the start, else (no login session, as for a service)
    // the process that started it.
    let parent = parent.filter(|_| login_user.is_none());
    event.actor = (login_user.is_some() || parent.is_some()).then(|| Actor {
        user: login_user,
        process: parent,
        ..Actor::default()
    });
    if let Some(success) = source.take("success") {
        set_outcome(&mut event, success == "yes");
    }
    event
}

fn audit_authentication(source: &mut Source, kind: &str) -> OcsfEvent {
    let activity = match kind {
        "USER_LOGOUT" | "USER_END" => AuthenticationActivityId::Logoff,
        _ => AuthenticationActivityId::Logon,
    };
    let user = source
        .take("acct")
        .map(named_user)
        .or_else(|| audit_user(source, "ID", "id"))
        .or_else(|| audit_user(source, "AUID", "auid"))
        .unwrap_or_default();
    let address = source.take("addr").filter(|a| *a != "?");
    let host = source.take("hostname").filter(|h| *h != "?");
    let src_endpoint = (address.is_some() || host.is_some()).then(|| NetworkEndpoint {
        ip: address.map(str::to_string),
        hostname: host.filter(|h| Some(*h) != address).map(str::to_string),
        ..NetworkEndpoint::default()
    });
    let service = source.take("exe").map(|exe| Service {
        name: Some(basename(exe).to_string()),
        uid: None,
    });
    source.consume("op");
    let session = source
        .take("ses")
        .filter(|s| *s != "4294967295")
        .map(|ses| Session {
            uid: Some(ses.to_string()),
            ..Session::default()
        });
    draft(
        source,
        Authentication {
            src_endpoint,
            service,
            session,
            is_remote: address.map(|_| true),
            ..Authentication::new(activity, user)
        },
    )
}

fn audit_account(source: &mut Source, kind: &str) -> OcsfEvent {
    let activity = match kind {
        "ADD_USER" => AccountChangeActivityId::Create,
        "DEL_USER" => AccountChangeActivityId::Delete,
        "USER_CHAUTHTOK" => AccountChangeActivityId::PasswordChange,
        other => AccountChangeActivityId::Other(other.to_string()),
    };
    let user = source
        .take("acct")
        .map(named_user)
        .or_else(|| audit_user(source, "ID", "id"))
        .unwrap_or_default();
    let actor = audit_user(source, "AUID", "auid");
    let mut event = draft(source, AccountChange::new(activity, user));
    event.actor = actor.map(|user| Actor {
        user: Some(user),
        ..Actor::default()
    });
    event
}

fn audit_group(source: &mut Source, kind: &str) -> OcsfEvent {
    let activity = match kind {
        "ADD_GROUP" => GroupManagementActivityId::Create,
        "DEL_GROUP" => GroupManagementActivityId::Delete,
        _ => GroupManagementActivityId::Update,
    };
    let group = Group {
        name: source.take("acct").map(str::to_string),
        uid: source.take("id").map(str::to_string),
        ..Group::default()
    };
    draft(source, GroupManagement::new(activity, group, None))
}

/// A syslog or journald message, by what [`crate::linux_messages`] found in it.
fn message(source: &mut Source) -> OcsfEvent {
    let action = source.peek("action").unwrap_or_default();
    let mut event = match action {
        "logon" | "logoff" | "session_opened" | "session_closed" | "su" => {
            message_authentication(source, action)
        }
        "sudo" => sudo(source),
        "user_added" | "user_deleted" | "password_changed" => {
            let activity = match action {
                "user_added" => AccountChangeActivityId::Create,
                "user_deleted" => AccountChangeActivityId::Delete,
                _ => AccountChangeActivityId::PasswordChange,
            };
            let user = User {
                name: source.take("target_user").map(str::to_string),
                uid: source.take("target_uid").map(str::to_string),
                ..User::default()
            };
            draft(source, AccountChange::new(activity, user))
        }
        "group_added" | "group_deleted" => {
            let group = Group {
                name: source.take("target_user").map(str::to_string),
                uid: source.take("target_gid").map(str::to_string),
                ..Group::default()
            };
            let activity = if action == "group_added" {
                GroupManagementActivityId::Create
            } else {
                GroupManagementActivityId::Delete
            };
            draft(source, GroupManagement::new(activity, group, None))
        }
        _ => {
            let label = match source.peek("program") {
                Some(program) => format!("{program} message"),
                None => "Syslog message".to_string(),
            };
            base(source, &label)
        }
    };
    source.consume("action");
    if let Some(outcome) = source.take("outcome") {
        set_outcome(&mut event, outcome == "success");
    }
    if let Some(detail) = source.take("status_detail") {
        event.status_detail = Some(detail.to_string());
    }
    event
}

fn message_authentication(source: &mut Source, action: &str) -> OcsfEvent {
    let activity = match action {
        "logoff" | "session_closed" => AuthenticationActivityId::Logoff,
        "su" => AuthenticationActivityId::AccountSwitch,
        _ => AuthenticationActivityId::Logon,
    };
    let (user, actor) = if action == "su" {
        (source.take("target_user"), source.take("user"))
    } else {
        (source.take("user"), source.take("by_user"))
    };
    let ip = source.take("src_ip");
    let port = source.take("src_port").and_then(parse_port);
    let src_endpoint = (ip.is_some() || port.is_some()).then(|| NetworkEndpoint {
        ip: ip.map(str::to_string),
        port,
        ..NetworkEndpoint::default()
    });
    let service = source
        .peek("pam_service")
        .or_else(|| source.peek("program"))
        .map(|name| Service {
            name: Some(name.to_string()),
            uid: None,
        });
    source.consume("pam_service");
    let method = source.take("auth_method");
    let mut event = draft(
        source,
        Authentication {
            src_endpoint,
            service,
            auth_protocol_id: method.map(|_| 99),
            auth_protocol: method.map(str::to_string),
            is_remote: ip.map(|_| true),
            ..Authentication::new(activity, user.map(named_user).unwrap_or_default())
        },
    );
    event.actor = actor.map(|name| Actor {
        user: Some(named_user(name)),
        ..Actor::default()
    });
    event
}

/// `sudo`: an account switch to the target user on behalf of the invoking one. The command
/// stays in `unmapped.command` (with `tty` and `cwd`): OCSF's process needs a pid, and syslog
/// does not give the pid of the command sudo ran.
fn sudo(source: &mut Source) -> OcsfEvent {
    let target = source.take("target_user").unwrap_or("root");
    let invoker = source.take("user").map(named_user);
    let sudo_pid = source.peek("pid").and_then(|pid| pid.parse::<i64>().ok());
    let mut event = draft(
        source,
        Authentication {
            service: Some(Service {
                name: Some("sudo".into()),
                uid: None,
            }),
            ..Authentication::new(AuthenticationActivityId::AccountSwitch, named_user(target))
        },
    );
    event.actor = Some(Actor {
        user: invoker,
        process: sudo_pid.map(|pid| Process {
            name: Some("sudo".into()),
            pid: Some(pid),
            ..Process::default()
        }),
        ..Actor::default()
    });
    event
}

/// The severity of a syslog severity name.
fn severity_of(name: &str) -> Severity {
    match name {
        "emerg" | "alert" => Severity::Critical,
        "crit" => Severity::High,
        "err" => Severity::Medium,
        "warning" => Severity::Low,
        _ => Severity::Informational,
    }
}

fn finish(event: &mut OcsfEvent, source: &mut Source) {
    let record = source.event;
    let (product, log_name) = match record.format {
        RecordFormat::Auditd => ("auditd", "audit.log"),
        RecordFormat::Journald => ("journald", "journal"),
        _ => ("syslog", "syslog"),
    };
    event.metadata.product = Product {
        name: Some(product.to_string()),
        vendor_name: Some("Linux".to_string()),
        version: None,
    };
    event.metadata.log_name = Some(log_name.to_string());
    event.metadata.log_format = Some(record.format.as_str().to_string());
    if record.format == RecordFormat::Auditd {
        event.metadata.original_event_uid = source.take("serial").map(str::to_string);
        source.consume("type");
    } else {
        event.metadata.log_provider = source.take("program").map(str::to_string);
        event.metadata.event_code = source.take("msgid").map(str::to_string);
        if let Some(message) = source.take("message") {
            event.message = Some(message.to_string());
        }
        if let Some(severity) = source.take("severity") {
            event.severity = severity_of(severity);
        }
    }
    if let Some(time) = record.timestamp.or_else(|| {
        source
            .peek("__REALTIME_TIMESTAMP")
            .and_then(crate::time::parse_timestamp)
    }) {
        event.set_time(time);
    }
    let host = match record.format {
        RecordFormat::Auditd => source.take("node"),
        _ => source.take("hostname"),
    };
    if let Some(host) = host {
        event.device = Some(Device {
            hostname: Some(host.to_string()),
            type_id: 0,
            type_name: Some("Unknown".to_string()),
            os: Some(Os::linux()),
            ..Device::default()
        });
    }
    super::declare_host_profile(event);
    if record.format == RecordFormat::Journald {
        source.consume("MESSAGE");
        source.consume("_HOSTNAME");
        source.consume("__REALTIME_TIMESTAMP");
    }
    event.unmapped = source.unmapped();
}
