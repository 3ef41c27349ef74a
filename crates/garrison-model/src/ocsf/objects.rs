//! The OCSF objects shared by many classes: device, actor, process, file, user, endpoints, ...
//!
//! Only the attributes Garrison fills are modelled; every field is named as in the schema's
//! dictionary, optional fields are skipped when empty, and ids are the schema's enum values.

use serde::Serialize;

/// `product`: who made the software that reported the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Product {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `os`: the operating system of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Os {
    pub name: String,
    /// 100 is Windows, 200 Linux.
    pub type_id: u16,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

impl Os {
    pub fn windows() -> Os {
        Os {
            name: "Windows".into(),
            type_id: 100,
            type_name: Some("Windows".into()),
        }
    }

    pub fn linux() -> Os {
        Os {
            name: "Linux".into(),
            type_id: 200,
            type_name: Some("Linux".into()),
        }
    }
}

/// `device`: the host the event was observed on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Device {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Required by the schema; 0 (Unknown) when the source does not say what kind of host it is.
    pub type_id: u8,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
}

/// `actor`: who or what performed the activity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Actor {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    /// The application that acted (an Entra service principal, an Okta client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    /// The cloud service that made the call on the user's behalf (CloudTrail `invokedBy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

impl Actor {
    pub fn is_empty(&self) -> bool {
        self.user.is_none()
            && self.process.is_none()
            && self.session.is_none()
            && self.app_name.is_none()
            && self.invoked_by.is_none()
    }
}

/// `process`: a running (or exited) process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Process {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// The process GUID where the source has one (Sysmon `ProcessGuid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_process: Option<Box<Process>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// Epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
}

/// `file`: a file, folder, pipe or other file-system object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct File {
    /// The last component of the path (required by the schema).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// 1 Regular File, 2 Folder, 6 Named Pipe, ...; 0 when unknown.
    pub type_id: u8,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<Fingerprint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// The original file name from the version resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_deleted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// `fingerprint`: one hash of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    /// 1 MD5, 2 SHA-1, 3 SHA-256, 4 SHA-512, 18 Imphash, 99 Other.
    pub algorithm_id: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    pub value: String,
}

/// `user`: an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The security identifier (SID) on Windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u8>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ldap_person: Option<LdapPerson>,
    /// A second identifier (an AWS ARN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_alt: Option<String>,
    /// The credential used (an AWS access key id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_uid: Option<String>,
    /// The user's identity provider tenant or cloud account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// `ldap_person`: directory attributes of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LdapPerson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ldap_dn: Option<String>,
}

/// `session`: a logon session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The logon id (`0x3e7`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The logon GUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_remote: Option<bool>,
}

/// `group`: a user group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Group {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<String>,
}

/// `network_endpoint`: one end of a network connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NetworkEndpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The service name of the port (`https`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub svc_name: Option<String>,
}

impl NetworkEndpoint {
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.port.is_none() && self.hostname.is_none()
    }
}

/// `connection_info`: protocol and direction of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    /// 0 Unknown, 1 Inbound, 2 Outbound, 3 Lateral, 4 Local (required by the schema).
    pub direction_id: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_name: Option<String>,
    /// IANA protocol number (6 TCP, 17 UDP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_num: Option<u8>,
    /// 4 IPv4, 6 IPv6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_ver_id: Option<u8>,
}

/// `query`: a DNS question.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DnsQuery {
    pub hostname: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// `IN`, `CH`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

/// One element of `answers`: a DNS resource record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DnsAnswer {
    pub rdata: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

/// `traffic`: bytes and packets of a connection; `in` is towards the source endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NetworkTraffic {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets_out: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<i64>,
}

/// `tls`: a TLS session's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tls {
    /// `TLSv12`, `TLS 1.3` (required by the schema).
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
    /// The server name the client asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3_hash: Option<Fingerprint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3s_hash: Option<Fingerprint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
}

/// `certificate`: an X.509 certificate. `serial_number` is required by the schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Certificate {
    pub serial_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// `url`: a URL, whole and in parts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Url {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_string: Option<String>,
}

/// `http_response`: the server side of an HTTP exchange; `code` is required by the schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpResponse {
    pub code: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Body bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// `job`: a scheduled task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Job {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd_line: Option<String>,
    /// 1 Task Scheduler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u8>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// `module`: a loaded image or the code a thread started in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Module {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// 0 Unknown, 1 Standard, 2 Non Standard, 3 ShellCode, 4 Mapped, 5 NonStandard Backed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_type: Option<String>,
}

/// `service`: a service a user authenticated to (Kerberos service name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// `http_request`: the client side of a web or API request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// `1.1`, `2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Body bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    /// The request's id where the service assigns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl HttpRequest {
    /// A request known only by its user agent; `None` without one.
    pub fn with_user_agent(user_agent: Option<String>) -> Option<HttpRequest> {
        user_agent.map(|user_agent| HttpRequest {
            user_agent: Some(user_agent),
            ..HttpRequest::default()
        })
    }
}

/// `cloud`: the provider, account and region an event happened in (the `cloud` profile).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cloud {
    /// `AWS`, `Azure`, `Okta`, ... (required by the schema).
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<Organization>,
}

/// `account`: a cloud account (an AWS account, an Azure subscription).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Account {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 6 Azure AD Account, 10 AWS Account, 99 Other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u8>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

/// `org`: an organization (an Entra ID or Okta tenant).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Organization {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `api`: the API operation called.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Api {
    /// The operation (`CreateAccessKey`, `Microsoft.Compute/virtualMachines/write`).
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<ApiRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ApiResponse>,
}

/// `request` of an API call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApiRequest {
    pub uid: String,
}

/// `response` of an API call: its error, when it failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApiResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// `resource_details`: a cloud resource an API call touched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResourceDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

/// `entity`: the object an Entity Management event is about. At least one of `name`, `uid`,
/// `user`, `group` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManagedEntity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The source's own type name (`Application`, `ServicePrincipal`, `Policy`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// 1 Device, 2 User, 3 Group, 4 Organization, 5 Policy, 99 Other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
}
