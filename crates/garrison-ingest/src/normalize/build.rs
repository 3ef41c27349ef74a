//! Builders of OCSF objects from groups of Windows fields (a process, a user, an endpoint).

use super::source::Source;
use super::values::{
    basename, clean_ip, file_at, parse_hashes, parse_port, split_account, split_registry_value,
};
use garrison_model::ocsf::{
    Actor, File, NetworkEndpoint, Process, Product, RegValue, Session, User,
};

/// The fields that describe one process in an event.
pub(crate) struct ProcessFields {
    pub pid: &'static str,
    /// Alternative names of the process GUID field (Sysmon spells it two ways).
    pub guid: &'static [&'static str],
    pub image: Option<&'static str>,
    pub cmd_line: Option<&'static str>,
    /// A `DOMAIN\user` field naming the process's account.
    pub account: Option<&'static str>,
}

pub(crate) const SYSMON_PROCESS: ProcessFields = ProcessFields {
    pid: "ProcessId",
    guid: &["ProcessGuid"],
    image: Some("Image"),
    cmd_line: Some("CommandLine"),
    account: Some("User"),
};

pub(crate) const SYSMON_PARENT: ProcessFields = ProcessFields {
    pid: "ParentProcessId",
    guid: &["ParentProcessGuid"],
    image: Some("ParentImage"),
    cmd_line: Some("ParentCommandLine"),
    account: Some("ParentUser"),
};

pub(crate) const SYSMON_SOURCE: ProcessFields = ProcessFields {
    pid: "SourceProcessId",
    guid: &["SourceProcessGuid", "SourceProcessGUID"],
    image: Some("SourceImage"),
    cmd_line: None,
    account: Some("SourceUser"),
};

pub(crate) const SYSMON_TARGET: ProcessFields = ProcessFields {
    pid: "TargetProcessId",
    guid: &["TargetProcessGuid", "TargetProcessGUID"],
    image: Some("TargetImage"),
    cmd_line: None,
    account: Some("TargetUser"),
};

/// The process of Security events that name it `ProcessId` / `ProcessName`.
pub(crate) const SECURITY_PROCESS: ProcessFields = ProcessFields {
    pid: "ProcessId",
    guid: &[],
    image: Some("ProcessName"),
    cmd_line: None,
    account: None,
};

/// A process, when the event gives its pid or GUID (the schema needs one of them); its
/// fields are left untouched otherwise.
pub(crate) fn process(source: &mut Source, fields: &ProcessFields) -> Option<Process> {
    let has_pid = source
        .peek(fields.pid)
        .and_then(garrison_model::fields::parse_integer)
        .is_some();
    let guid_field = fields.guid.iter().find(|name| source.has(name));
    if !has_pid && guid_field.is_none() {
        return None;
    }
    let mut process = Process {
        pid: source.take_integer(fields.pid),
        uid: guid_field
            .and_then(|name| source.take(name))
            .map(String::from),
        ..Process::default()
    };
    if let Some(image) = fields.image.and_then(|name| source.take(name)) {
        process.name = Some(basename(image).to_string());
        process.file = Some(file_at(image, 1));
    }
    process.cmd_line = fields
        .cmd_line
        .and_then(|name| source.take(name))
        .map(String::from);
    process.user = fields
        .account
        .and_then(|name| source.take(name))
        .map(account_user);
    Some(process)
}

/// A user named by `DOMAIN\name` text.
pub(crate) fn account_user(account: &str) -> User {
    let (domain, name) = split_account(account);
    User {
        name: Some(name.to_string()),
        domain: domain.map(String::from),
        ..User::default()
    }
}

/// An actor that is a process (and the process's user).
pub(crate) fn process_actor(process: Process) -> Actor {
    Actor {
        user: process.user.clone(),
        process: Some(process),
        ..Actor::default()
    }
}

/// The fields that describe one account in a Security event.
pub(crate) struct UserFields {
    pub sid: &'static str,
    pub name: &'static str,
    pub domain: &'static str,
    pub logon_id: Option<&'static str>,
}

pub(crate) const SUBJECT: UserFields = UserFields {
    sid: "SubjectUserSid",
    name: "SubjectUserName",
    domain: "SubjectDomainName",
    logon_id: Some("SubjectLogonId"),
};

pub(crate) const TARGET: UserFields = UserFields {
    sid: "TargetUserSid",
    name: "TargetUserName",
    domain: "TargetDomainName",
    logon_id: Some("TargetLogonId"),
};

/// The account and (for [`TARGET`]-like fields) the target's `TargetSid` spelling.
pub(crate) const TARGET_ACCOUNT: UserFields = UserFields {
    sid: "TargetSid",
    name: "TargetUserName",
    domain: "TargetDomainName",
    logon_id: None,
};

/// A user, when the event names it or gives its SID.
pub(crate) fn user(source: &mut Source, fields: &UserFields) -> Option<User> {
    if !source.has(fields.sid) && !source.has(fields.name) {
        return None;
    }
    Some(User {
        uid: source.take(fields.sid).map(String::from),
        name: source.take(fields.name).map(String::from),
        domain: source.take(fields.domain).map(String::from),
        ..User::default()
    })
}

/// A logon session from a logon id field.
pub(crate) fn session(source: &mut Source, logon_id: &str) -> Option<Session> {
    source.take(logon_id).map(|uid| Session {
        uid: Some(uid.to_string()),
        ..Session::default()
    })
}

/// The subject (the account that asked for the activity) of a Security event.
pub(crate) fn subject_actor(source: &mut Source) -> Option<Actor> {
    let actor = Actor {
        user: user(source, &SUBJECT),
        session: SUBJECT.logon_id.and_then(|id| session(source, id)),
        ..Actor::default()
    };
    (!actor.is_empty()).then_some(actor)
}

/// A network endpoint from an address, a port and a host name field (any may be absent).
pub(crate) fn endpoint(
    source: &mut Source,
    ip: Option<&str>,
    port: Option<&str>,
    hostname: Option<&str>,
) -> Option<NetworkEndpoint> {
    let mut endpoint = NetworkEndpoint::default();
    if let Some(name) = ip {
        endpoint.ip = source.take(name).map(|ip| clean_ip(ip).to_string());
    }
    if let Some(name) = port {
        if let Some(port) = source.peek(name).and_then(parse_port) {
            source.consume(name);
            endpoint.port = Some(port);
        } else if source.peek(name).is_some_and(|text| text.trim() == "0") {
            source.consume(name);
        }
    }
    if let Some(name) = hostname {
        endpoint.hostname = source.take(name).map(String::from);
    }
    (!endpoint.is_empty()).then_some(endpoint)
}

/// The endpoint of the host that logged the event (by its computer name).
pub(crate) fn this_host(source: &Source) -> Option<NetworkEndpoint> {
    source.event.computer().map(|computer| NetworkEndpoint {
        hostname: Some(computer.to_string()),
        ..NetworkEndpoint::default()
    })
}

/// The hashes and version-resource details Sysmon gives for an image.
pub(crate) fn file_details(source: &mut Source, file: &mut File, hashes_field: &str) {
    file.hashes = source
        .take(hashes_field)
        .map(parse_hashes)
        .unwrap_or_default();
    file.version = source.take("FileVersion").map(String::from);
    file.desc = source.take("Description").map(String::from);
    file.company_name = source.take("Company").map(String::from);
    file.internal_name = source.take("OriginalFileName").map(String::from);
    file.product = source.take("Product").map(|name| Product {
        name: Some(name.to_string()),
        ..Product::default()
    });
}

/// A registry value named by its full path (`HKLM\...\Run\Name`).
pub(crate) fn registry_value(full_path: &str) -> RegValue {
    let (key, name) = split_registry_value(full_path);
    RegValue {
        path: key.to_string(),
        name: name.to_string(),
        is_default: (name == "(Default)").then_some(true),
        ..RegValue::default()
    }
}
