//! One telemetry record: flat fields, when it happened, and where it came from.

use crate::{EvidenceRef, Fields, Timestamp};

/// The shape a record had in its source, which decides how its fields were named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// A record of a binary Windows event log (`.evtx`).
    Evtx,
    /// A Windows event rendered to JSON the way `evtx_dump` does (`{"Event": {"System": ..}}`).
    EvtxJson,
    /// A Windows event shipped by Winlogbeat / Elastic Agent (`{"winlog": {..}}`).
    Winlogbeat,
    /// A Windows event flattened to one JSON object per line by NXLog and similar shippers, as
    /// found in the OTRF Security-Datasets (`{"EventID": .., "Channel": .., "Hostname": ..}`).
    FlatWindows,
    /// Any other JSON object, flattened with dotted names.
    Json,
    /// A Zeek log record (TSV or JSON), with Zeek's field names and `_path`, the log's name.
    Zeek,
    /// A Suricata EVE JSON record (`event_type`: alert, dns, http, tls, flow, fileinfo, ...).
    Suricata,
    /// One Linux audit event: the records of a raw `audit.log` sharing a serial, joined
    /// (`type` once per record, each record's fields under their own names).
    Auditd,
    /// A syslog message (RFC 5424, RFC 3164 or a file in either's text form), with the
    /// message of known programs (sshd, sudo, PAM) parsed into fields.
    Syslog,
    /// A journald entry exported as JSON (`journalctl -o json`), with the syslog names added.
    Journald,
    /// An AWS CloudTrail record (`eventSource`, `eventName`, `userIdentity.*`), from a records
    /// file or JSON lines.
    CloudTrail,
    /// An Okta System Log event (`eventType`, `actor.*`, `client.*`, `outcome.*`).
    Okta,
    /// A Microsoft Entra ID sign-in, in Log Analytics column names (`ResultType`,
    /// `UserPrincipalName`, ...) whichever export it came from (Graph, Log Analytics, Azure
    /// Monitor diagnostic settings). Field names are matched without regard to case.
    EntraSignIn,
    /// A Microsoft Entra ID (Azure AD) directory audit event, named as [`Self::EntraSignIn`].
    EntraAudit,
    /// An Azure Activity Log (control plane) event, named as [`Self::EntraSignIn`].
    AzureActivity,
    /// A Wazuh alert (`alerts.json`: `rule.*`, `agent.*`, `data.*`).
    Wazuh,
    /// A Microsoft Sentinel / Defender `SecurityAlert` row (`AlertName`, `AlertSeverity`,
    /// `Tactics`, `Entities`, ...), from a Log Analytics export.
    SentinelAlert,
    /// An alert of another tool read through a field mapping: its fields under their own names
    /// and the mapping's canonical `alert.*` names.
    MappedAlert,
    /// A row of a delimited text file (CSV, TSV, ...) named by its header.
    Csv,
    /// An ArcSight CEF event (header as `cef.*`, extension keys as fields), alone on its line
    /// or in a syslog message (whose header fields it keeps).
    Cef,
    /// A QRadar LEEF event (header as `leef.*`, attributes as fields), as [`Self::Cef`].
    Leef,
    /// A Sysmon for Linux event (its XML, as the syslog message Sysmon writes), under the
    /// names of Windows events ([`windows`]) with channel `Linux-Sysmon/Operational`.
    SysmonLinux,
    /// A Microsoft 365 unified audit log record (Office 365 Management Activity API, or the
    /// Log Analytics `OfficeActivity` table renamed to the API's names: `Workload`, `ClientIP`).
    M365Audit,
    /// A Microsoft Defender XDR advanced hunting row (`Timestamp`, `ActionType`, `DeviceName`,
    /// `InitiatingProcess*`, ...), from any of its tables.
    DefenderXdr,
    /// An Azure Monitor VM Insights connection (`VMConnection`: process, addresses, bytes).
    VmConnection,
}

impl RecordFormat {
    /// True for the Windows event shapes, whose fields use the canonical names in [`windows`].
    pub fn is_windows(self) -> bool {
        matches!(
            self,
            RecordFormat::Evtx
                | RecordFormat::EvtxJson
                | RecordFormat::Winlogbeat
                | RecordFormat::FlatWindows
        )
    }

    /// True for the shapes whose fields use the canonical Windows names in [`windows`]
    /// (`EventID`, `Channel`, `Computer`): the Windows ones and Sysmon for Linux.
    pub fn uses_windows_names(self) -> bool {
        self.is_windows() || self == RecordFormat::SysmonLinux
    }

    /// True for cloud and identity provider logs.
    pub fn is_cloud(self) -> bool {
        matches!(
            self,
            RecordFormat::CloudTrail
                | RecordFormat::Okta
                | RecordFormat::EntraSignIn
                | RecordFormat::EntraAudit
                | RecordFormat::AzureActivity
                | RecordFormat::M365Audit
        )
    }

    /// True for the Microsoft cloud logs, whose field names differ in case between exports
    /// (`operationName` in diagnostic settings, `OperationName` in Log Analytics): rules match
    /// their field names without regard to case.
    pub fn folds_field_names(self) -> bool {
        matches!(
            self,
            RecordFormat::EntraSignIn | RecordFormat::EntraAudit | RecordFormat::AzureActivity
        )
    }

    /// True for the Linux host logs (audit, syslog, journald).
    pub fn is_linux(self) -> bool {
        matches!(
            self,
            RecordFormat::Auditd | RecordFormat::Syslog | RecordFormat::Journald
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordFormat::Evtx => "evtx",
            RecordFormat::EvtxJson => "evtx-json",
            RecordFormat::Winlogbeat => "winlogbeat",
            RecordFormat::FlatWindows => "flat-windows-json",
            RecordFormat::Json => "json",
            RecordFormat::Zeek => "zeek",
            RecordFormat::Suricata => "suricata",
            RecordFormat::Auditd => "auditd",
            RecordFormat::Syslog => "syslog",
            RecordFormat::Journald => "journald",
            RecordFormat::CloudTrail => "cloudtrail",
            RecordFormat::Okta => "okta",
            RecordFormat::EntraSignIn => "entra-signin",
            RecordFormat::EntraAudit => "entra-audit",
            RecordFormat::AzureActivity => "azure-activity",
            RecordFormat::Wazuh => "wazuh",
            RecordFormat::SentinelAlert => "sentinel-alert",
            RecordFormat::MappedAlert => "mapped-alert",
            RecordFormat::Csv => "csv",
            RecordFormat::Cef => "cef",
            RecordFormat::Leef => "leef",
            RecordFormat::SysmonLinux => "sysmon-linux",
            RecordFormat::M365Audit => "m365-audit",
            RecordFormat::DefenderXdr => "defender-xdr",
            RecordFormat::VmConnection => "vm-connection",
        }
    }
}

/// Canonical names of the Windows `<System>` fields, shared by every Windows record shape.
///
/// EventData and UserData fields keep their own names (`Image`, `TargetUserName`, ...); System
/// attributes are joined to their element with `_` as the Sigma specification says
/// (`Provider_Name`, `Execution_ProcessID`).
pub mod windows {
    pub const EVENT_ID: &str = "EventID";
    pub const CHANNEL: &str = "Channel";
    pub const COMPUTER: &str = "Computer";
    pub const PROVIDER_NAME: &str = "Provider_Name";
    pub const PROVIDER_GUID: &str = "Provider_Guid";
    pub const EVENT_RECORD_ID: &str = "EventRecordID";
    pub const TIME_CREATED: &str = "TimeCreated_SystemTime";
    pub const LEVEL: &str = "Level";
    pub const TASK: &str = "Task";
    pub const OPCODE: &str = "Opcode";
    pub const KEYWORDS: &str = "Keywords";
    pub const VERSION: &str = "Version";
    pub const EXECUTION_PROCESS_ID: &str = "Execution_ProcessID";
    pub const EXECUTION_THREAD_ID: &str = "Execution_ThreadID";
    pub const SECURITY_USER_ID: &str = "Security_UserID";
    pub const ACTIVITY_ID: &str = "Correlation_ActivityID";
    pub const RELATED_ACTIVITY_ID: &str = "Correlation_RelatedActivityID";
}

/// One record, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub evidence: EvidenceRef,
    pub timestamp: Option<Timestamp>,
    pub format: RecordFormat,
    pub fields: Fields,
}

impl Event {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.value(name)
    }

    /// The value of the field a rule names `name`: the same name, or for the records whose
    /// names differ in case between exports ([`RecordFormat::folds_field_names`]), the first
    /// field of that name in any case.
    pub fn rule_field(&self, name: &str) -> Option<&str> {
        if !self.format.folds_field_names() {
            return self.fields.value(name);
        }
        self.fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value)
    }

    /// Windows channel (`Security`, `Microsoft-Windows-Sysmon/Operational`, ...).
    pub fn channel(&self) -> Option<&str> {
        self.windows_field(windows::CHANNEL)
    }

    /// Windows event id.
    pub fn event_id(&self) -> Option<u32> {
        self.windows_field(windows::EVENT_ID)?.trim().parse().ok()
    }

    /// The host the record was logged on: the Windows computer name, a syslog or journald
    /// record's host name, an audit event's `node`; for other tools' alerts, the host they are
    /// about (Wazuh's agent, Sentinel's compromised entity, a mapping's host).
    pub fn computer(&self) -> Option<&str> {
        let name = match self.format {
            RecordFormat::Syslog | RecordFormat::Journald => "hostname",
            RecordFormat::Cef => {
                return ["dvchost", "hostname"]
                    .iter()
                    .find_map(|name| self.fields.value(name).filter(|v| !v.is_empty()));
            }
            RecordFormat::Leef => "hostname",
            RecordFormat::Auditd => "node",
            RecordFormat::Wazuh => "agent.name",
            RecordFormat::SentinelAlert => "CompromisedEntity",
            RecordFormat::MappedAlert => "alert.host",
            RecordFormat::DefenderXdr => "DeviceName",
            RecordFormat::VmConnection => "Computer",
            _ => return self.windows_field(windows::COMPUTER),
        };
        self.fields.value(name).filter(|value| !value.is_empty())
    }

    /// Windows event provider name.
    pub fn provider(&self) -> Option<&str> {
        self.windows_field(windows::PROVIDER_NAME)
    }

    fn windows_field(&self, name: &str) -> Option<&str> {
        if self.format.uses_windows_names() {
            self.fields.value(name).filter(|value| !value.is_empty())
        } else {
            None
        }
    }
}
