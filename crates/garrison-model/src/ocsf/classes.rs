//! The class-specific attributes of each OCSF class Garrison produces.
//!
//! Each struct holds its class's activity (serialized by [`super::EventDetail`] as `activity_id`,
//! `activity_name` and `type_uid`) and the attributes only that class defines; attributes every
//! class has (time, metadata, device, actor, ...) live in [`super::OcsfEvent`].

use super::activity::*;
use super::finding::{Evidence, FindingInfo};
use super::objects::*;
use super::windows::{RegKey, RegValue, WinService};
use serde::Serialize;

/// Base Event (0): a record no other class fits, kept whole: its fields go to `unmapped`
/// and its text, when it has one, to `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaseEvent {
    #[serde(skip)]
    pub activity: BaseActivityId,
}

/// Process Activity (1007): launch, terminate, open, inject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessActivity {
    #[serde(skip)]
    pub activity: ProcessActivityId,
    pub process: Process,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<Module>,
    /// 1 Remote Thread, 2 Load Library, 3 Queue APC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injection_type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injection_type: Option<String>,
    /// 1 Spawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// The granted access mask of an opened process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_permissions: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

impl ProcessActivity {
    /// An activity on `process` with no optional attribute set.
    pub fn new(activity: ProcessActivityId, process: Process) -> ProcessActivity {
        ProcessActivity {
            activity,
            process,
            module: None,
            injection_type_id: None,
            injection_type: None,
            launch_type_id: None,
            launch_type: None,
            actual_permissions: None,
            exit_code: None,
        }
    }
}

/// Module Activity (1005): an image loaded into a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleActivity {
    #[serde(skip)]
    pub activity: ModuleActivityId,
    pub module: Module,
}

/// File System Activity (1001).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSystemActivity {
    #[serde(skip)]
    pub activity: FileActivityId,
    pub file: File,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_mask: Option<i64>,
}

/// Registry Key Activity (201001).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryKeyActivity {
    #[serde(skip)]
    pub activity: RegistryKeyActivityId,
    pub reg_key: RegKey,
    /// The key before a rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_reg_key: Option<RegKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_mask: Option<i64>,
}

/// Registry Value Activity (201002).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryValueActivity {
    #[serde(skip)]
    pub activity: RegistryValueActivityId,
    pub reg_value: RegValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_reg_value: Option<RegValue>,
}

/// Network Activity (4001).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkActivity {
    #[serde(skip)]
    pub activity: NetworkActivityId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<ConnectionInfo>,
    /// 1 when `src_endpoint` initiated the connection, 2 when `dst_endpoint` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiator_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<NetworkTraffic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// The application protocol a sensor recognised (`http`, `ssl`, `dns`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
}

impl NetworkActivity {
    /// A connection activity with no optional attribute set.
    pub fn new(activity: NetworkActivityId) -> NetworkActivity {
        NetworkActivity {
            activity,
            src_endpoint: None,
            dst_endpoint: None,
            connection_info: None,
            initiator_id: None,
            traffic: None,
            tls: None,
            app_name: None,
        }
    }
}

/// HTTP Activity (4002): one HTTP request and its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpActivity {
    #[serde(skip)]
    pub activity: HttpActivityId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<ConnectionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_response: Option<HttpResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<NetworkTraffic>,
}

/// Network File Activity (4010): a file carried over the network, as a sensor saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkFileActivity {
    #[serde(skip)]
    pub activity: NetworkFileActivityId,
    pub file: File,
    /// The client side (required by the schema).
    pub src_endpoint: NetworkEndpoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<ConnectionInfo>,
}

/// DNS Activity (4003).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsActivity {
    #[serde(skip)]
    pub activity: DnsActivityId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<DnsQuery>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsAnswer>,
    /// 0 NoError, 1 FormError, 2 ServError, 3 NXDomain, ..., 99 Other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<ConnectionInfo>,
    /// The DNS message id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<i64>,
}

impl DnsActivity {
    /// A DNS activity with no optional attribute set.
    pub fn new(activity: DnsActivityId) -> DnsActivity {
        DnsActivity {
            activity,
            src_endpoint: None,
            dst_endpoint: None,
            query: None,
            answers: Vec::new(),
            rcode_id: None,
            rcode: None,
            connection_info: None,
            transaction_id: None,
        }
    }
}

/// SMB Activity (4006): access to a file on a network share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmbActivity {
    #[serde(skip)]
    pub activity: SmbActivityId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// 1 File, 2 Pipe, 3 Print.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_type: Option<String>,
}

/// Authentication (3002).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authentication {
    #[serde(skip)]
    pub activity: AuthenticationActivityId,
    /// The account that is authenticated.
    pub user: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// Windows logon types share the schema's numbering (2 Interactive, 3 Network, 10 Remote ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logon_type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logon_type: Option<String>,
    /// 1 NTLM, 2 Kerberos, 99 Other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_protocol_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_remote: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_cleartext: Option<bool>,
    /// Whether a second factor was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_mfa: Option<bool>,
    /// The client's request (its user agent) for web and cloud sign-ins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
}

impl Authentication {
    /// An activity of `user` with no optional attribute set.
    pub fn new(activity: AuthenticationActivityId, user: User) -> Authentication {
        Authentication {
            activity,
            user,
            src_endpoint: None,
            dst_endpoint: None,
            service: None,
            logon_type_id: None,
            logon_type: None,
            auth_protocol_id: None,
            auth_protocol: None,
            session: None,
            is_remote: None,
            is_cleartext: None,
            is_mfa: None,
            http_request: None,
        }
    }
}

/// Authorize Session (3003): privileges given to a new logon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizeSession {
    #[serde(skip)]
    pub activity: AuthorizeSessionActivityId,
    pub user: User,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

/// Account Change (3001).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountChange {
    #[serde(skip)]
    pub activity: AccountChangeActivityId,
    /// The account that was changed.
    pub user: User,
    /// The account after the change (a rename).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_result: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
}

impl AccountChange {
    /// A change of `user` with no optional attribute set.
    pub fn new(activity: AccountChangeActivityId, user: User) -> AccountChange {
        AccountChange {
            activity,
            user,
            user_result: None,
            src_endpoint: None,
            http_request: None,
        }
    }
}

/// Group Management (3006).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupManagement {
    #[serde(skip)]
    pub activity: GroupManagementActivityId,
    pub group: Group,
    /// The member added or removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
}

impl GroupManagement {
    /// A change of `group` (of its member `user`, when given) with no other attribute set.
    pub fn new(
        activity: GroupManagementActivityId,
        group: Group,
        user: Option<User>,
    ) -> GroupManagement {
        GroupManagement {
            activity,
            group,
            user,
            src_endpoint: None,
            http_request: None,
        }
    }
}

/// Entity Management (3004): an object of a directory or identity provider (an application,
/// a policy, a role, a token) created, changed or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityManagement {
    #[serde(skip)]
    pub activity: EntityManagementActivityId,
    pub entity: ManagedEntity,
    /// The entity after the change, when the source says what changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_result: Option<ManagedEntity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// API Activity (6003): a call to a cloud provider's or SaaS control-plane API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiActivity {
    #[serde(skip)]
    pub activity: ApiActivityId,
    pub api: Api,
    /// The caller's address (required by the schema; the service's name when the caller was
    /// another cloud service).
    pub src_endpoint: NetworkEndpoint,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
}

/// Scheduled Job Activity (1006).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledJobActivity {
    #[serde(skip)]
    pub activity: ScheduledJobActivityId,
    pub job: Job,
}

/// Windows Service Activity (201004).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowsServiceActivity {
    #[serde(skip)]
    pub activity: WindowsServiceActivityId,
    pub win_service: WinService,
}

/// Detection Finding (2004).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectionFinding {
    #[serde(skip)]
    pub activity: FindingActivityId,
    pub finding_info: FindingInfo,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidences: Vec<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_alert: Option<bool>,
}
