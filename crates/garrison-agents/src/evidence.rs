//! Reading stored events the way an analyst does: who, where, what ran, and a one-line summary.
//! Shared by the detect stage (building alerts) and the investigator.

use garrison_model::{Alert, AlertId, Detection, Entity, EntityKind, Event, EvidenceId, RuleRef};
use garrison_store::StoredEvent;

/// Accounts that are the machine itself rather than a person.
pub fn is_machine_account(user: &str) -> bool {
    let bare = user
        .rsplit('\\')
        .next()
        .unwrap_or(user)
        .to_ascii_lowercase();
    bare.ends_with('$')
        || matches!(
            bare.as_str(),
            "system"
                | "local service"
                | "network service"
                | "localsystem"
                | "anonymous logon"
                | "-"
                | ""
        )
}

fn present(value: Option<&str>) -> Option<&str> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "-" && *v != "?")
}

/// The account an event is about: the target of a logon or account change, else the acting
/// user (`DOMAIN\name` when the domain is known).
pub fn event_user(event: &StoredEvent) -> Option<String> {
    let qualified = |name: &str, domain: Option<&str>| match present(domain) {
        Some(domain) if !name.contains('\\') => format!("{domain}\\{name}"),
        _ => name.to_string(),
    };
    // Linux: the login user behind an audited command (auditd's interpreted AUID), then the
    // user a syslog message names.
    if let Some(user) = present(event.field("AUID")).filter(|user| *user != "unset") {
        return Some(user.to_string());
    }
    if let Some(user) = present(event.field("User")) {
        return Some(user.to_string());
    }
    if let Some(user) = present(event.field("user")) {
        return Some(user.to_string());
    }
    // Identity provider records (Okta System Log) name the actor.
    if let Some(user) = present(event.field("actor.alternateId")) {
        return Some(user.to_string());
    }
    if let Some(user) = cloud_user(event) {
        return Some(user);
    }
    // Wazuh alerts: the account acted on, else the one acting.
    if let Some(user) = first_present(event, &["data.dstuser", "data.srcuser"]) {
        return Some(user.to_string());
    }
    if let Some(name) = present(event.field("TargetUserName")) {
        return Some(qualified(name, event.field("TargetDomainName")));
    }
    present(event.field("SubjectUserName"))
        .map(|name| qualified(name, event.field("SubjectDomainName")))
}

/// The first of `names` the event has with a value (for the Microsoft cloud logs, whose
/// exports differ in case, list both spellings).
fn first_present<'e>(event: &'e StoredEvent, names: &[&str]) -> Option<&'e str> {
    names.iter().find_map(|name| present(event.field(name)))
}

/// The person behind a cloud record: the IAM user, root, or the session of an assumed role
/// (CloudTrail); the signed-in user (Entra ID sign-ins); the initiator of a directory change
/// (Entra ID audit); the caller (Azure Activity); the user or app acting (Microsoft 365).
fn cloud_user(event: &StoredEvent) -> Option<String> {
    if present(event.field("eventSource")).is_some() {
        let principal = present(event.field("userIdentity.principalId"));
        return match present(event.field("userIdentity.type")) {
            Some("Root") => Some("root".to_string()),
            Some("AssumedRole" | "FederatedUser") => principal
                .and_then(|id| id.split_once(':'))
                .map(|(_, session)| session.to_string()),
            _ => present(event.field("userIdentity.userName")).map(str::to_string),
        };
    }
    first_present(
        event,
        &[
            "UserPrincipalName",
            "userPrincipalName",
            "InitiatedBy.user.userPrincipalName",
            "initiatedBy.user.userPrincipalName",
            "InitiatingUserOrApp",
            "Caller",
            "caller",
            // Microsoft 365 audit records.
            "UserId",
        ],
    )
    .map(str::to_string)
}

/// Where a cloud record was logged (`AWS account 1111…`, `Okta`, `Entra ID`, `Azure`), for
/// records that name no host.
pub fn cloud_place(event: &StoredEvent) -> Option<String> {
    if present(event.field("eventSource")).is_some() {
        return Some(match present(event.field("recipientAccountId")) {
            Some(account) => format!("AWS account {account}"),
            None => "AWS".to_string(),
        });
    }
    if present(event.field("eventType")).is_some() && present(event.field("published")).is_some() {
        return Some("Okta".to_string());
    }
    if present(event.field("Workload")).is_some() && present(event.field("Operation")).is_some() {
        return Some("Microsoft 365".to_string());
    }
    if first_present(
        event,
        &[
            "UserPrincipalName",
            "userPrincipalName",
            "OperationName",
            "activityDisplayName",
        ],
    )
    .is_some()
    {
        let subscription = first_present(event, &["SubscriptionId", "subscriptionId"]);
        return Some(match subscription {
            Some(subscription) => format!("Azure subscription {subscription}"),
            None => "Entra ID".to_string(),
        });
    }
    None
}

pub use garrison_model::incident::{canonical_user, is_public_ip};

/// The image of the process an event is about.
pub fn event_image(event: &StoredEvent) -> Option<&str> {
    present(event.field("Image"))
        .or_else(|| present(event.field("NewProcessName")))
        .or_else(|| present(event.field("ProcessName")))
}

/// Entities an event mentions.
pub fn event_entities(event: &StoredEvent) -> Vec<Entity> {
    let mut entities = Vec::new();
    if let Some(host) = &event.host {
        entities.push(Entity::new(EntityKind::Host, host.clone()));
    }
    if let Some(user) = event_user(event).filter(|user| !is_machine_account(user)) {
        entities.push(Entity::new(EntityKind::User, user));
    }
    if let Some(image) = event_image(event) {
        entities.push(Entity::new(EntityKind::Process, image));
    }
    for (field, kind) in [
        ("ParentImage", EntityKind::Process),
        ("SourceIp", EntityKind::Ip),
        ("DestinationIp", EntityKind::Ip),
        ("IpAddress", EntityKind::Ip),
        ("id.orig_h", EntityKind::Ip),
        ("id.resp_h", EntityKind::Ip),
        ("client.ipAddress", EntityKind::Ip),
        ("sourceIPAddress", EntityKind::Ip),
        ("IPAddress", EntityKind::Ip),
        ("ipAddress", EntityKind::Ip),
        ("InitiatedBy.user.ipAddress", EntityKind::Ip),
        ("CallerIpAddress", EntityKind::Ip),
        ("ClientIP", EntityKind::Ip),
        ("dest_ip", EntityKind::Ip),
        ("data.srcip", EntityKind::Ip),
        ("alert.ip", EntityKind::Ip),
        // CEF and LEEF.
        ("src", EntityKind::Ip),
        ("dst", EntityKind::Ip),
        ("suser", EntityKind::User),
        ("duser", EntityKind::User),
        ("usrName", EntityKind::User),
        ("requestParameters.userName", EntityKind::User),
        ("src_ip", EntityKind::Ip),
        ("addr", EntityKind::Ip),
        ("target_user", EntityKind::User),
        ("QueryName", EntityKind::Domain),
        ("DestinationHostname", EntityKind::Domain),
        ("TargetFilename", EntityKind::File),
        ("ImageLoaded", EntityKind::File),
        ("TargetObject", EntityKind::RegistryKey),
        ("ServiceName", EntityKind::Service),
        ("TargetLogonId", EntityKind::LogonSession),
    ] {
        if let Some(value) = present(event.field(field)) {
            // Loopback and unspecified addresses say nothing about where an attacker is.
            if kind == EntityKind::Ip && matches!(value, "127.0.0.1" | "::1" | "0.0.0.0" | "::") {
                continue;
            }
            entities.push(Entity::new(kind, value));
        }
    }
    // Hashes in lower case, as network sensors write them: Sysmon's upper-case SHA256 of a
    // program and Zeek's of the download it came from are one indicator.
    if let Some(hashes) = present(event.field("Hashes")) {
        for part in hashes.split(',') {
            if let Some((algorithm, hash)) = part.split_once('=')
                && matches!(algorithm.trim(), "SHA256" | "MD5" | "SHA1")
            {
                entities.push(Entity::new(
                    EntityKind::FileHash,
                    hash.trim().to_ascii_lowercase(),
                ));
            }
        }
    }
    for field in ["sha256", "fileinfo.sha256"] {
        if let Some(hash) = present(event.field(field)) {
            entities.push(Entity::new(EntityKind::FileHash, hash.to_ascii_lowercase()));
        }
    }
    entities.sort();
    entities.dedup();
    entities
}

fn truncate(text: &str, max: usize) -> String {
    let text = text.trim().replace(['\r', '\n'], " ");
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// One line describing an event: its source and the most telling of its values.
pub fn event_summary(event: &StoredEvent) -> String {
    let source = match (&event.channel, event.event_id) {
        (Some(channel), Some(id)) => format!("{channel} {id}"),
        (Some(channel), None) => channel.clone(),
        (None, Some(id)) => format!("event {id}"),
        (None, None) => match (
            cloud_summary(event),
            present(event.field("program")),
            present(event.field("type")),
        ) {
            (Some(summary), _, _) => summary,
            (None, Some(program), _) => format!("{program} message"),
            (None, None, Some(kind)) => format!("audit {kind} event"),
            (None, None, None) => "event".to_string(),
        },
    };
    let detail = [
        "CommandLine",
        "ScriptBlockText",
        "Image",
        "NewProcessName",
        "TargetFilename",
        "TargetObject",
        "QueryName",
        "DestinationIp",
        "ServiceName",
        "TargetUserName",
        "ShareName",
        "ObjectName",
        "message",
    ]
    .iter()
    .find_map(|field| {
        present(event.field(field)).map(|value| format!("{field}={}", truncate(value, 160)))
    });
    match (&event.host, detail) {
        (Some(host), Some(detail)) => format!("{source} on {host}: {detail}"),
        (Some(host), None) => format!("{source} on {host}"),
        (None, Some(detail)) => format!("{source}: {detail}"),
        (None, None) => source,
    }
}

/// What a cloud record says happened: the API call, sign-in or directory change, by whom and
/// from where.
fn cloud_summary(event: &StoredEvent) -> Option<String> {
    if let Some(signature) = present(event.field("alert.signature")) {
        return Some(format!(
            "Suricata alert \"{signature}\" {}:{} -> {}:{}",
            event.field("src_ip").unwrap_or("?"),
            event.field("src_port").unwrap_or("?"),
            event.field("dest_ip").unwrap_or("?"),
            event.field("dest_port").unwrap_or("?"),
        ));
    }
    if let Some(log) = present(event.field("_path")) {
        let what = first_present(
            event,
            &["uri", "query", "server_name", "filename", "mime_type"],
        )
        .map(|what| format!(" {what}"))
        .unwrap_or_default();
        return Some(format!(
            "Zeek {log}{what} {} -> {}",
            event.field("id.orig_h").unwrap_or("?"),
            event.field("id.resp_h").unwrap_or("?"),
        ));
    }
    let who = cloud_user(event).unwrap_or_else(|| "?".to_string());
    let from = first_present(
        event,
        &[
            "sourceIPAddress",
            "IPAddress",
            "ipAddress",
            "InitiatedBy.user.ipAddress",
            "CallerIpAddress",
        ],
    );
    let from = from.map(|ip| format!(" from {ip}")).unwrap_or_default();
    let outcome = |failed: bool| if failed { " (failed)" } else { "" };
    if let (Some(kind), Some(actor)) = (
        present(event.field("eventType")),
        present(event.field("actor.alternateId")),
    ) {
        let ip = present(event.field("client.ipAddress")).unwrap_or("?");
        return Some(format!("identity provider {kind} by {actor} from {ip}"));
    }
    if let (Some(service), Some(call)) = (
        present(event.field("eventSource")),
        present(event.field("eventName")),
    ) {
        let failed = present(event.field("errorCode")).is_some()
            || event.field("responseElements.ConsoleLogin") == Some("Failure");
        return Some(format!(
            "AWS {service} {call} by {who}{from}{}",
            outcome(failed)
        ));
    }
    if let Some(operation) = first_present(event, &["OperationName", "activityDisplayName"]) {
        let failed = first_present(event, &["Result", "result"]) == Some("failure");
        return Some(format!(
            "Entra ID {} by {who}{from}{}",
            operation.trim(),
            outcome(failed)
        ));
    }
    if let Some(code) = first_present(event, &["ResultType", "status.errorCode"]) {
        let app = first_present(event, &["AppDisplayName", "appDisplayName"]).unwrap_or("?");
        let result = if code == "0" {
            String::new()
        } else {
            format!(" (failed: {code})")
        };
        return Some(format!("Entra ID sign-in to {app} by {who}{from}{result}"));
    }
    None
}

/// The evidence store with the records already read kept in memory: a stored record never
/// changes, and a growing incident is rebuilt and re-verified from mostly the same records.
/// Records not found are asked for again (they may be stored later). Bounded: the memory starts
/// over after [`CACHED_RECORDS`] records.
pub struct CachedEvidence {
    store: std::sync::Arc<dyn garrison_store::EvidenceStore>,
    records: std::cell::RefCell<std::collections::HashMap<EvidenceId, StoredEvent>>,
}

/// Records remembered before a cache starts over.
pub const CACHED_RECORDS: usize = 50_000;

impl CachedEvidence {
    pub fn new(store: std::sync::Arc<dyn garrison_store::EvidenceStore>) -> CachedEvidence {
        CachedEvidence {
            store,
            records: Default::default(),
        }
    }

    /// The underlying store, for queries the cache does not serve.
    pub fn store(&self) -> &dyn garrison_store::EvidenceStore {
        self.store.as_ref()
    }

    pub fn event(&self, id: EvidenceId) -> Result<Option<StoredEvent>, garrison_store::StoreError> {
        if let Some(event) = self.records.borrow().get(&id) {
            return Ok(Some(event.clone()));
        }
        let event = self.store.event(id)?;
        if let Some(event) = &event {
            let mut records = self.records.borrow_mut();
            if records.len() >= CACHED_RECORDS {
                records.clear();
            }
            records.insert(id, event.clone());
        }
        Ok(event)
    }

    /// Reads the records among `ids` not remembered yet, in one query, so that
    /// [`CachedEvidence::event`] then finds them here.
    pub fn prefetch(
        &self,
        ids: impl IntoIterator<Item = EvidenceId>,
    ) -> Result<(), garrison_store::StoreError> {
        let missing: Vec<EvidenceId> = {
            let records = self.records.borrow();
            let mut missing: Vec<EvidenceId> = ids
                .into_iter()
                .filter(|id| !records.contains_key(id))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            missing
        };
        if missing.is_empty() {
            return Ok(());
        }
        let found = self.store.events(&missing)?;
        let mut records = self.records.borrow_mut();
        if records.len() + found.len() > CACHED_RECORDS {
            records.clear();
        }
        records.extend(found.into_iter().map(|event| (event.id, event)));
        Ok(())
    }
}

/// An event as the evidence store keeps it.
pub fn stored_event(event: &Event) -> StoredEvent {
    let mut stored = StoredEvent {
        id: EvidenceId::of(&event.evidence),
        timestamp: event.timestamp,
        host: event.computer().map(str::to_string),
        user: None,
        channel: event.channel().map(str::to_string),
        event_id: event.event_id(),
        source: event.evidence.clone(),
        fields: event
            .fields
            .iter()
            .map(|field| (field.name.to_string(), field.value.to_string()))
            .collect(),
        process_key: None,
        parent_key: None,
        session_key: None,
        host_address: None,
        lease: None,
    };
    stored.user = event_user(&stored);
    stored.host_address = host_address(&stored);
    stored.lease = dhcp_lease(&stored);
    crate::process_tree::index_process(&mut stored);
    stored.session_key = session_key(&stored);
    stored
}

/// The address an event shows its own host using: the source of an outbound connection
/// (Sysmon 3 with `Initiated`, or a Windows Filtering Platform 5156 in the outbound direction).
/// Loopback, unspecified and link-local addresses name no one.
pub fn host_address(event: &StoredEvent) -> Option<String> {
    event.host.as_ref()?;
    let address = match (event.channel.as_deref(), event.event_id) {
        (Some("Microsoft-Windows-Sysmon/Operational"), Some(3))
            if event
                .field("Initiated")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")) =>
        {
            event.field("SourceIp")
        }
        (Some("Security"), Some(5156)) if event.field("Direction") == Some("%%14593") => {
            event.field("SourceAddress")
        }
        _ => None,
    }?;
    let parsed: std::net::IpAddr = address.trim().parse().ok()?;
    let says_nothing = parsed.is_loopback()
        || parsed.is_unspecified()
        || match parsed {
            std::net::IpAddr::V4(v4) => v4.is_link_local(),
            std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
    (!says_nothing).then(|| parsed.to_string())
}

/// What a DHCP server's record says of an address: Zeek's `dhcp` log (an ACK leases
/// `assigned_addr` to the client's name for `lease_time` seconds; a RELEASE gives
/// `client_addr` back), the Windows DHCP Server audit log (`DhcpSrvLog-*.log`) and ISC dhcpd's
/// syslog messages (`DHCPACK on A to MAC (name)`); the last two give no lease time, so their
/// leases hold until the next one or a release.
pub fn dhcp_lease(event: &StoredEvent) -> Option<garrison_store::Lease> {
    let (acked, released, address, host, seconds) = if event.field("_path") == Some("dhcp") {
        let types: Vec<&str> = event
            .fields
            .iter()
            .filter(|(name, _)| name == "msg_types" || name.starts_with("msg_types."))
            .map(|(_, value)| value.as_str())
            .collect();
        let released = types.contains(&"RELEASE");
        let address = if released {
            event.field("client_addr")
        } else {
            event.field("assigned_addr")
        };
        let host = present(event.field("client_fqdn")).or(present(event.field("host_name")));
        let seconds = event
            .field("lease_time")
            .and_then(|s| s.trim().parse::<f64>().ok());
        (types.contains(&"ACK"), released, address, host, seconds)
    } else if let (Some(id), Some(address)) = (event.field("ID"), event.field("IP Address")) {
        // A Windows DHCP Server audit log: 10 leased, 11 renewed; 12 released, 16 deleted,
        // 17 and 18 expired. Its lease time is not in the log.
        let id = id.trim();
        (
            matches!(id, "10" | "11"),
            matches!(id, "12" | "16" | "17" | "18"),
            Some(address),
            present(event.field("Host Name")),
            None,
        )
    } else {
        let action = event.field("dhcp_action")?;
        (
            action == "DHCPACK",
            matches!(action, "DHCPRELEASE" | "DHCPEXPIRE"),
            event.field("dhcp_address"),
            present(event.field("dhcp_hostname")),
            None,
        )
    };
    let address: std::net::IpAddr = present(address)?.parse().ok()?;
    if !(acked || released) {
        return None;
    }
    let until = match (event.timestamp, seconds) {
        (Some(start), Some(seconds)) if seconds > 0.0 => start
            .checked_add(jiff::SignedDuration::from_secs_f64(seconds))
            .ok(),
        _ => None,
    };
    Some(garrison_store::Lease {
        address: address.to_string(),
        host: host.map(str::to_string),
        until,
        released: released && !acked,
    })
}

/// The logon session an event belongs to (`host:0x…`): the session a logon (4624) opened, or
/// the one an event was written in. The system's own sessions (SYSTEM, LOCAL and NETWORK
/// SERVICE) are left out: they tell nothing about who came in.
pub fn session_key(event: &StoredEvent) -> Option<String> {
    let host = event.host.as_deref()?.to_lowercase();
    let field = if event.event_id == Some(4624) && event.channel.as_deref() == Some("Security") {
        "TargetLogonId"
    } else if event.field("SubjectLogonId").is_some() {
        "SubjectLogonId"
    } else {
        "LogonId"
    };
    let text = present(event.field(field))?;
    let id = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => text.parse().ok()?,
    };
    (!matches!(id, 0 | 0x3e4 | 0x3e5 | 0x3e7)).then(|| format!("{host}:0x{id:x}"))
}

/// The alert for a rule hit on a stored event.
pub fn alert_from_detection(detection: &Detection, event: &StoredEvent) -> Alert {
    let rule = RuleRef {
        id: detection.rule.id.clone(),
        title: detection.rule.title.clone(),
        level: detection.rule.level,
        tags: detection.rule.tags.clone(),
    };
    let evidence = EvidenceId::of(&detection.evidence);
    Alert {
        id: AlertId::of(&rule.id, evidence),
        rule,
        timestamp: detection.timestamp,
        source: detection.evidence.clone(),
        evidence,
        // The detection's host: the record's, or for another tool's alert the host it is about.
        host: match &detection.computer {
            Some(host) => Some(host.clone()),
            None if detection.rule.path.starts_with("external:") => None,
            None => event.host.clone(),
        },
        user: event_user(event).filter(|user| !is_machine_account(user)),
        channel: detection.channel.clone(),
        event_id: detection.event_id,
        fields: detection.fields.clone(),
        entities: event_entities(event),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use garrison_model::EvidenceRef;
    use std::sync::Arc;

    /// A Sysmon process start on WS01 with `fields` (shared by this crate's unit tests).
    pub(crate) fn sysmon_event(record: u64, fields: &[(&str, &str)]) -> StoredEvent {
        StoredEvent {
            id: EvidenceId(record),
            timestamp: None,
            host: Some("WS01".into()),
            user: None,
            channel: Some("Microsoft-Windows-Sysmon/Operational".into()),
            event_id: Some(1),
            source: EvidenceRef {
                path: Arc::from("x.evtx"),
                member: None,
                record_id: record,
                offset: 0,
            },
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            process_key: None,
            parent_key: None,
            session_key: None,
            host_address: None,
            lease: None,
        }
    }

    fn event(fields: &[(&str, &str)]) -> StoredEvent {
        sysmon_event(1, fields)
    }

    #[test]
    fn dhcp_records_give_leases_and_releases() {
        let mut ack = event(&[
            ("_path", "dhcp"),
            ("msg_types", "REQUEST"),
            ("msg_types", "ACK"),
            ("assigned_addr", "10.0.0.7"),
            ("host_name", "laptop7"),
            ("client_fqdn", "laptop7.corp.example"),
            ("lease_time", "3600.0"),
        ]);
        ack.timestamp = Some("2026-11-20T07:00:00Z".parse().unwrap());
        let lease = dhcp_lease(&ack).unwrap();
        assert_eq!(lease.address, "10.0.0.7");
        assert_eq!(lease.host.as_deref(), Some("laptop7.corp.example"));
        assert_eq!(lease.until, Some("2026-11-20T08:00:00Z".parse().unwrap()));
        assert!(!lease.released);
        let release = event(&[
            ("_path", "dhcp"),
            ("msg_types", "RELEASE"),
            ("client_addr", "10.0.0.7"),
        ]);
        let lease = dhcp_lease(&release).unwrap();
        assert!(lease.released && lease.host.is_none());
        // An offer promises nothing.
        let offer = event(&[
            ("_path", "dhcp"),
            ("msg_types", "OFFER"),
            ("assigned_addr", "10.0.0.7"),
        ]);
        assert_eq!(dhcp_lease(&offer), None);
        // The Windows DHCP Server's log: 10 leases, 12 releases, 13 (address in use) is neither.
        let windows = |id: &str| {
            dhcp_lease(&event(&[
                ("ID", id),
                ("IP Address", "10.0.0.9"),
                ("Host Name", "WS09.corp.example"),
            ]))
        };
        let lease = windows("10").unwrap();
        assert_eq!(lease.host.as_deref(), Some("WS09.corp.example"));
        assert!(!lease.released);
        assert!(windows("12").unwrap().released);
        assert_eq!(windows("13"), None);
        // ISC dhcpd in syslog: no lease time, so open-ended.
        let dhcpd = event(&[
            ("dhcp_action", "DHCPACK"),
            ("dhcp_address", "10.0.0.8"),
            ("dhcp_hostname", "kiosk3"),
        ]);
        let lease = dhcp_lease(&dhcpd).unwrap();
        assert_eq!((lease.host.as_deref(), lease.until), (Some("kiosk3"), None));
        assert_eq!(
            dhcp_lease(&event(&[("dhcp_action", "DHCPACK"), ("dhcp_address", "x")])),
            None
        );
    }

    #[test]
    fn a_host_shows_its_address_by_its_own_outbound_connections() {
        let connection = |initiated: &str, source: &str| {
            let mut event = event(&[("Initiated", initiated), ("SourceIp", source)]);
            event.event_id = Some(3);
            host_address(&event)
        };
        assert_eq!(connection("true", "10.1.1.5").as_deref(), Some("10.1.1.5"));
        assert_eq!(
            connection("false", "10.1.1.5"),
            None,
            "inbound: whose is unclear"
        );
        assert_eq!(connection("true", "127.0.0.1"), None);
        assert_eq!(connection("true", "169.254.3.4"), None);
        assert_eq!(connection("true", "fe80::1"), None);
        let mut filtered = event(&[("Direction", "%%14593"), ("SourceAddress", "10.1.1.6")]);
        filtered.channel = Some("Security".into());
        filtered.event_id = Some(5156);
        assert_eq!(host_address(&filtered).as_deref(), Some("10.1.1.6"));
        filtered.fields[0].1 = "%%14592".into();
        assert_eq!(host_address(&filtered), None, "inbound");
        filtered.fields[0].1 = "%%14593".into();
        filtered.host = None;
        assert_eq!(host_address(&filtered), None, "no host to tie it to");
    }

    #[test]
    fn cached_evidence_serves_what_it_read_and_asks_again_for_what_was_missing() {
        use garrison_store::{EvidenceStore, SqliteStore};
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(SqliteStore::open(dir.path()).unwrap());
        let cache = CachedEvidence::new(store.clone());
        let record = sysmon_event(7, &[("Image", "a.exe")]);
        assert_eq!(cache.event(record.id).unwrap(), None);
        store.put_events(std::slice::from_ref(&record)).unwrap();
        assert_eq!(
            cache.event(record.id).unwrap(),
            Some(record.clone()),
            "not remembered as missing"
        );
        drop(store);
        assert_eq!(cache.event(record.id).unwrap(), Some(record));
        assert_eq!(cache.store().event_count().unwrap(), 1);
    }

    #[test]
    fn users_entities_and_summaries_read_like_an_analyst_would() {
        let sysmon = event(&[
            ("Image", "C:\\Windows\\System32\\cmd.exe"),
            ("CommandLine", "cmd.exe /c whoami"),
            ("User", "CORP\\alice"),
            ("Hashes", "MD5=AA,SHA256=BB,IMPHASH=CC"),
            ("DestinationIp", "127.0.0.1"),
        ]);
        assert_eq!(event_user(&sysmon).as_deref(), Some("CORP\\alice"));
        let entities = event_entities(&sysmon);
        assert!(entities.contains(&Entity::new(EntityKind::FileHash, "bb")));
        assert!(
            !entities
                .iter()
                .any(|e| e.value == "CC" || e.value == "127.0.0.1")
        );
        assert!(entities.contains(&Entity::new(EntityKind::User, "CORP\\alice")));
        assert_eq!(
            event_summary(&sysmon),
            "Microsoft-Windows-Sysmon/Operational 1 on WS01: CommandLine=cmd.exe /c whoami"
        );
        let logon = event(&[
            ("SubjectUserName", "WS01$"),
            ("TargetUserName", "bob"),
            ("TargetDomainName", "CORP"),
        ]);
        assert_eq!(event_user(&logon).as_deref(), Some("CORP\\bob"));
        assert!(is_machine_account("CORP\\WS01$"));
        assert!(is_machine_account("NT AUTHORITY\\SYSTEM"));
        assert!(!is_machine_account("CORP\\bob"));
    }
}
