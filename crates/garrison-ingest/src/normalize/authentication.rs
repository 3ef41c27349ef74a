//! Security log authentication events: logons and logoffs (4624, 4625, 4634, 4647, 4648),
//! domain controller Kerberos and NTLM checks (4768-4771, 4776), and special privileges (4672).

use super::build::{
    SECURITY_PROCESS, SUBJECT, TARGET, TARGET_ACCOUNT, endpoint, process, session, subject_actor,
    this_host, user,
};
use super::source::Source;
use super::values::{auth_protocol_id, is_null_guid, logon_is_remote, logon_type};
use super::{draft, set_outcome};
use garrison_model::fields::parse_integer;
use garrison_model::ocsf::{
    Authentication, AuthenticationActivityId, AuthorizeSession, AuthorizeSessionActivityId,
    OcsfEvent, Service, Session,
};

/// Sets the logon type attributes from the `LogonType` field.
fn set_logon_type(attributes: &mut Authentication, source: &mut Source) {
    if let Some(code) = source.take_integer("LogonType") {
        let (id, caption) = logon_type(code);
        attributes.logon_type_id = Some(id);
        attributes.logon_type = Some(caption.to_string());
        attributes.is_remote = logon_is_remote(code);
        attributes.is_cleartext = (code == 8).then_some(true);
    }
}

/// Sets the protocol attributes from a package name field.
fn set_protocol(attributes: &mut Authentication, source: &mut Source, field: &str) {
    if let Some(package) = source.take(field) {
        let id = auth_protocol_id(package);
        attributes.auth_protocol_id = Some(id);
        attributes.auth_protocol = Some(match id {
            1 => "NTLM".to_string(),
            2 => "Kerberos".to_string(),
            _ => package.to_string(),
        });
    }
}

/// 4624/4625 (logon succeeded/failed), 4634/4647 (logoff), 4648 (explicit credentials).
pub(super) fn logon(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    let activity = match event_id {
        4634 | 4647 => AuthenticationActivityId::Logoff,
        _ => AuthenticationActivityId::Logon,
    };
    let user = match event_id {
        4648 => user(source, &TARGET_ACCOUNT),
        _ => user(source, &TARGET),
    }?;
    let mut attributes = Authentication::new(activity, user);
    set_logon_type(&mut attributes, source);
    set_protocol(&mut attributes, source, "AuthenticationPackageName");
    let logon_id = source.take("TargetLogonId");
    let logon_guid = source.peek("LogonGuid").filter(|guid| !is_null_guid(guid));
    if logon_guid.is_some() {
        source.consume("LogonGuid");
    }
    if logon_id.is_some() || logon_guid.is_some() {
        attributes.session = Some(Session {
            uid: logon_id.map(String::from),
            uuid: logon_guid.map(String::from),
            is_remote: attributes.is_remote,
        });
    }
    attributes.src_endpoint = endpoint(
        source,
        Some("IpAddress"),
        Some("IpPort"),
        Some("WorkstationName"),
    );
    attributes.dst_endpoint = match event_id {
        4648 => endpoint(source, None, None, Some("TargetServerName")),
        _ => None,
    }
    .or_else(|| this_host(source));
    let acting_process = process(source, &SECURITY_PROCESS);
    let mut actor = subject_actor(source).unwrap_or_default();
    actor.process = acting_process;
    let status_code = source.take("Status").map(String::from);
    let mut event = draft(source, attributes);
    event.actor = (!actor.is_empty()).then_some(actor);
    set_outcome(&mut event, event_id != 4625);
    event.status_code = status_code;
    Some(event)
}

/// 4768 (TGT), 4769 (service ticket), 4770 (renewal), 4771 (pre-authentication failed) and
/// 4776 (NTLM credential validation), logged by domain controllers.
pub(super) fn domain_controller(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    let activity = match event_id {
        4768 => AuthenticationActivityId::AuthenticationTicket,
        4769 => AuthenticationActivityId::ServiceTicketRequest,
        4770 => AuthenticationActivityId::ServiceTicketRenew,
        4771 => AuthenticationActivityId::Preauth,
        _ => AuthenticationActivityId::Logon,
    };
    let mut attributes = Authentication::new(activity, user(source, &TARGET_ACCOUNT)?);
    if event_id == 4776 {
        set_protocol(&mut attributes, source, "PackageName");
        attributes.src_endpoint = endpoint(source, None, None, Some("Workstation"));
    } else {
        attributes.auth_protocol_id = Some(2);
        attributes.auth_protocol = Some("Kerberos".to_string());
        attributes.src_endpoint = endpoint(source, Some("IpAddress"), Some("IpPort"), None);
        if source.has("ServiceName") || source.has("ServiceSid") {
            attributes.service = Some(Service {
                name: source.take("ServiceName").map(String::from),
                uid: source.take("ServiceSid").map(String::from),
            });
        }
    }
    attributes.dst_endpoint = this_host(source);
    let status = source.peek("Status");
    let succeeded = event_id != 4771 && status.and_then(parse_integer).is_none_or(|code| code == 0);
    if status.is_some() {
        source.consume("Status");
    }
    let mut event = draft(source, attributes);
    set_outcome(&mut event, succeeded);
    event.status_code = status.map(String::from);
    Some(event)
}

/// 4672: special privileges were assigned to a new logon.
pub(super) fn special_privileges(source: &mut Source) -> Option<OcsfEvent> {
    let user = user(source, &SUBJECT)?;
    let session = SUBJECT.logon_id.and_then(|id| session(source, id));
    let privileges = source
        .take("PrivilegeList")
        .map(|list| list.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let mut event = draft(
        source,
        AuthorizeSession {
            activity: AuthorizeSessionActivityId::AssignPrivileges,
            user,
            privileges,
            session,
        },
    );
    set_outcome(&mut event, true);
    Some(event)
}

#[cfg(test)]
mod tests {
    use crate::normalize::test_support::normalized_json;

    const LOGON: [(&str, &str); 18] = [
        ("SubjectUserSid", "S-1-5-18"),
        ("SubjectUserName", "WS01$"),
        ("SubjectDomainName", "CORP"),
        ("SubjectLogonId", "0x3e7"),
        ("TargetUserSid", "S-1-5-21-1-2-3-1104"),
        ("TargetUserName", "alice"),
        ("TargetDomainName", "CORP"),
        ("TargetLogonId", "0x8d5e2"),
        ("LogonType", "10"),
        ("LogonProcessName", "User32"),
        ("AuthenticationPackageName", "Negotiate"),
        ("WorkstationName", "ATTACKER"),
        ("LogonGuid", "{00000000-0000-0000-0000-000000000000}"),
        ("LmPackageName", "-"),
        ("ProcessId", "0x2a0"),
        ("ProcessName", r"C:\Windows\System32\svchost.exe"),
        ("IpAddress", "192.0.2.44"),
        ("IpPort", "0"),
    ];

    #[test]
    fn logon_4624_maps_user_logon_type_and_endpoints() {
        let json = normalized_json("Security", 4624, &LOGON);
        assert_eq!(json["class_uid"], 3002);
        assert_eq!(json["category_uid"], 3);
        assert_eq!(json["type_uid"], 300201);
        assert_eq!(json["status_id"], 1);
        assert_eq!(json["user"]["name"], "alice");
        assert_eq!(json["user"]["uid"], "S-1-5-21-1-2-3-1104");
        assert_eq!(json["user"]["domain"], "CORP");
        assert_eq!(json["logon_type_id"], 10);
        assert_eq!(json["logon_type"], "Remote Interactive");
        assert_eq!(json["is_remote"], true);
        assert_eq!(json["auth_protocol_id"], 99);
        assert_eq!(json["auth_protocol"], "Negotiate");
        assert_eq!(json["session"]["uid"], "0x8d5e2");
        assert!(
            json["session"].get("uuid").is_none(),
            "null GUID is no GUID"
        );
        assert_eq!(json["src_endpoint"]["ip"], "192.0.2.44");
        assert_eq!(json["src_endpoint"]["hostname"], "ATTACKER");
        assert!(json["src_endpoint"].get("port").is_none());
        assert_eq!(json["dst_endpoint"]["hostname"], "WS01.corp.local");
        assert_eq!(json["actor"]["user"]["name"], "WS01$");
        assert_eq!(json["actor"]["process"]["name"], "svchost.exe");
        assert_eq!(json["unmapped"]["LogonProcessName"], "User32");
    }

    #[test]
    fn failed_logon_4625_is_a_failure_with_its_status() {
        let mut fields = LOGON.to_vec();
        fields[8] = ("LogonType", "3");
        fields[10] = ("AuthenticationPackageName", "NTLM");
        fields.push(("Status", "0xc000006d"));
        fields.push(("SubStatus", "0xc000006a"));
        let json = normalized_json("Security", 4625, &fields);
        assert_eq!(json["type_uid"], 300201);
        assert_eq!(json["status_id"], 2);
        assert_eq!(json["status"], "Failure");
        assert_eq!(json["status_code"], "0xc000006d");
        assert_eq!(json["unmapped"]["SubStatus"], "0xc000006a");
        assert_eq!(json["logon_type"], "Network");
        assert_eq!(json["auth_protocol_id"], 1);
    }

    #[test]
    fn logoffs_and_explicit_credentials() {
        let logoff = normalized_json(
            "Security",
            4634,
            &[
                ("TargetUserSid", "S-1-5-21-1"),
                ("TargetUserName", "alice"),
                ("TargetLogonId", "0x1"),
                ("LogonType", "3"),
            ],
        );
        assert_eq!(logoff["type_uid"], 300202);
        assert_eq!(logoff["logon_type_id"], 3);
        let explicit = normalized_json(
            "Security",
            4648,
            &[
                ("SubjectUserName", "alice"),
                ("TargetUserName", "administrator"),
                ("TargetDomainName", "CORP"),
                ("TargetServerName", "dc01.corp.local"),
                ("ProcessId", "0x10"),
                ("ProcessName", r"C:\Windows\System32\runas.exe"),
            ],
        );
        assert_eq!(explicit["type_uid"], 300201);
        assert_eq!(explicit["user"]["name"], "administrator");
        assert_eq!(explicit["dst_endpoint"]["hostname"], "dc01.corp.local");
        assert_eq!(explicit["actor"]["user"]["name"], "alice");
        assert_eq!(explicit["actor"]["process"]["name"], "runas.exe");
    }

    #[test]
    fn kerberos_and_ntlm_checks_on_domain_controllers() {
        let kerberos = [
            ("TargetUserName", "alice"),
            ("TargetDomainName", "CORP.LOCAL"),
            ("TargetSid", "S-1-5-21-1"),
            ("ServiceName", "krbtgt"),
            ("ServiceSid", "S-1-5-21-502"),
            ("TicketEncryptionType", "0x17"),
            ("IpAddress", "::ffff:10.0.0.9"),
            ("IpPort", "49812"),
        ];
        let mut tgt = kerberos.to_vec();
        tgt.push(("Status", "0x0"));
        let json = normalized_json("Security", 4768, &tgt);
        assert_eq!(json["type_uid"], 300203);
        assert_eq!(json["auth_protocol_id"], 2);
        assert_eq!(json["service"]["name"], "krbtgt");
        assert_eq!(json["src_endpoint"]["ip"], "10.0.0.9");
        assert_eq!(json["status_id"], 1);
        assert_eq!(json["unmapped"]["TicketEncryptionType"], "0x17");
        let json = normalized_json("Security", 4769, &kerberos);
        assert_eq!(json["type_uid"], 300204);
        let mut preauth = kerberos.to_vec();
        preauth.push(("Status", "0x18"));
        let json = normalized_json("Security", 4771, &preauth);
        assert_eq!(json["type_uid"], 300206);
        assert_eq!(json["status_id"], 2);
        assert_eq!(json["status_code"], "0x18");
        let ntlm = normalized_json(
            "Security",
            4776,
            &[
                ("PackageName", "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0"),
                ("TargetUserName", "alice"),
                ("Workstation", "ATTACKER"),
                ("Status", "0xc000006a"),
            ],
        );
        assert_eq!(ntlm["type_uid"], 300201);
        assert_eq!(ntlm["auth_protocol"], "NTLM");
        assert_eq!(ntlm["src_endpoint"]["hostname"], "ATTACKER");
        assert_eq!(ntlm["status_id"], 2);
    }

    #[test]
    fn special_privileges_4672_is_authorize_session() {
        let json = normalized_json(
            "Security",
            4672,
            &[
                ("SubjectUserSid", "S-1-5-21-1-500"),
                ("SubjectUserName", "administrator"),
                ("SubjectDomainName", "CORP"),
                ("SubjectLogonId", "0x8d5e2"),
                ("PrivilegeList", "SeDebugPrivilege\n\t\t\tSeBackupPrivilege"),
            ],
        );
        assert_eq!(json["class_uid"], 3003);
        assert_eq!(json["type_uid"], 300301);
        assert_eq!(json["user"]["name"], "administrator");
        assert_eq!(json["session"]["uid"], "0x8d5e2");
        assert_eq!(
            json["privileges"],
            serde_json::json!(["SeDebugPrivilege", "SeBackupPrivilege"])
        );
    }
}
