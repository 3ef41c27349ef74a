//! OCSF-aligned normalized records: one typed [`OcsfEvent`] per normalized event or finding.
//!
//! The view follows the Open Cybersecurity Schema Framework ([`OCSF_VERSION`]) closely enough
//! that its JSON validates against the schema: the class is a closed enum ([`OcsfClass`]),
//! each class's own attributes sit in one variant of [`EventDetail`] together with a typed
//! activity, and `type_uid` is always derived (`class_uid * 100 + activity_id`), never stored.
//! Attributes of the source that have no place in the class go to `unmapped`, so nothing is
//! dropped; the [`EvidenceRef`] of the raw record is kept typed and written to `metadata.uid`.
//!
//! Serialization only: the model writes OCSF, it does not read it back.

pub mod activity;
pub mod classes;
pub mod finding;
pub mod objects;
pub mod windows;

pub use activity::*;
pub use classes::*;
pub use finding::*;
pub use objects::*;
pub use windows::*;

use crate::{EvidenceRef, Level, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

/// The OCSF schema version the records are written against (`metadata.version`).
pub const OCSF_VERSION: &str = "1.9.0-dev";

impl OcsfClass {
    /// `class_uid`: `category_uid * 1000 + uid` for core classes, plus
    /// `extension_uid * 100000` for extension classes (Windows is extension 2).
    pub fn class_uid(self) -> u32 {
        match self {
            OcsfClass::BaseEvent => 0,
            OcsfClass::FileSystemActivity => 1001,
            OcsfClass::ModuleActivity => 1005,
            OcsfClass::ScheduledJobActivity => 1006,
            OcsfClass::ProcessActivity => 1007,
            OcsfClass::DetectionFinding => 2004,
            OcsfClass::AccountChange => 3001,
            OcsfClass::Authentication => 3002,
            OcsfClass::AuthorizeSession => 3003,
            OcsfClass::EntityManagement => 3004,
            OcsfClass::GroupManagement => 3006,
            OcsfClass::NetworkActivity => 4001,
            OcsfClass::HttpActivity => 4002,
            OcsfClass::DnsActivity => 4003,
            OcsfClass::SmbActivity => 4006,
            OcsfClass::NetworkFileActivity => 4010,
            OcsfClass::RegistryKeyActivity => 201001,
            OcsfClass::RegistryValueActivity => 201002,
            OcsfClass::WindowsServiceActivity => 201004,
            OcsfClass::ApiActivity => 6003,
        }
    }

    /// `category_uid`: 1 System Activity, 2 Findings, 3 Identity & Access Management, 4 Network,
    /// 6 Application.
    pub fn category_uid(self) -> u8 {
        ((self.class_uid() % 100_000) / 1000) as u8
    }

    /// `class_name`, the schema's caption of the class.
    pub fn name(self) -> &'static str {
        match self {
            OcsfClass::BaseEvent => "Base Event",
            OcsfClass::FileSystemActivity => "File System Activity",
            OcsfClass::ModuleActivity => "Module Activity",
            OcsfClass::ScheduledJobActivity => "Scheduled Job Activity",
            OcsfClass::ProcessActivity => "Process Activity",
            OcsfClass::DetectionFinding => "Detection Finding",
            OcsfClass::AccountChange => "Account Change",
            OcsfClass::Authentication => "Authentication",
            OcsfClass::AuthorizeSession => "Authorize Session",
            OcsfClass::EntityManagement => "Entity Management",
            OcsfClass::GroupManagement => "Group Management",
            OcsfClass::NetworkActivity => "Network Activity",
            OcsfClass::HttpActivity => "HTTP Activity",
            OcsfClass::DnsActivity => "DNS Activity",
            OcsfClass::SmbActivity => "SMB Activity",
            OcsfClass::NetworkFileActivity => "Network File Activity",
            OcsfClass::RegistryKeyActivity => "Registry Key Activity",
            OcsfClass::RegistryValueActivity => "Registry Value Activity",
            OcsfClass::WindowsServiceActivity => "Windows Service Activity",
            OcsfClass::ApiActivity => "API Activity",
        }
    }

    /// `category_name`, the schema's caption of the category.
    pub fn category_name(self) -> &'static str {
        match self.category_uid() {
            1 => "System Activity",
            2 => "Findings",
            3 => "Identity & Access Management",
            4 => "Network Activity",
            6 => "Application Activity",
            _ => "Uncategorized",
        }
    }

    /// `type_uid` of an activity of this class.
    pub fn type_uid(self, activity_id: u8) -> u64 {
        u64::from(self.class_uid()) * 100 + u64::from(activity_id)
    }
}

/// What every class's attribute struct tells about itself.
pub trait ClassAttributes: Serialize {
    const CLASS: OcsfClass;
    fn activity_id(&self) -> u8;
    fn activity_name(&self) -> &str;
}

/// From the one list of classes: defines [`OcsfClass`] (with `ALL`) and [`EventDetail`],
/// implements [`ClassAttributes`] and `From<attributes> for EventDetail` for every class, and
/// defines `with_detail!` to apply a generic expression to whichever variant an event holds.
macro_rules! classes {
    ($($class:ident),* $(,)?) => {
        /// The OCSF event classes Garrison produces.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OcsfClass {
            $($class,)*
        }

        impl OcsfClass {
            pub const ALL: [OcsfClass; [$(stringify!($class)),*].len()] = [$(OcsfClass::$class),*];
        }

        /// The class of an event and the attributes only that class has (boxed: the classes
        /// differ much in size). Build one with `EventDetail::from(attributes)`.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum EventDetail {
            $($class(Box<$class>),)*
        }

        $(
            impl ClassAttributes for $class {
                const CLASS: OcsfClass = OcsfClass::$class;
                fn activity_id(&self) -> u8 {
                    self.activity.id()
                }
                fn activity_name(&self) -> &str {
                    self.activity.caption()
                }
            }

            impl From<$class> for EventDetail {
                fn from(attributes: $class) -> EventDetail {
                    EventDetail::$class(Box::new(attributes))
                }
            }
        )*

        macro_rules! with_detail {
            ($detail:expr, $attributes:ident => $body:expr) => {
                match $detail {
                    $(EventDetail::$class(boxed) => {
                        let $attributes = &**boxed;
                        $body
                    })*
                }
            };
        }
    };
}

classes!(
    BaseEvent,
    FileSystemActivity,
    ModuleActivity,
    ScheduledJobActivity,
    ProcessActivity,
    DetectionFinding,
    AccountChange,
    Authentication,
    AuthorizeSession,
    EntityManagement,
    GroupManagement,
    NetworkActivity,
    HttpActivity,
    DnsActivity,
    SmbActivity,
    NetworkFileActivity,
    RegistryKeyActivity,
    RegistryValueActivity,
    WindowsServiceActivity,
    ApiActivity,
);

fn class_of<T: ClassAttributes>(_: &T) -> OcsfClass {
    T::CLASS
}

impl EventDetail {
    pub fn class(&self) -> OcsfClass {
        with_detail!(self, attributes => class_of(attributes))
    }

    /// `activity_id`.
    pub fn activity_id(&self) -> u8 {
        with_detail!(self, attributes => attributes.activity_id())
    }

    /// `activity_name`.
    pub fn activity_name(&self) -> &str {
        with_detail!(self, attributes => attributes.activity_name())
    }

    /// `type_uid`: `class_uid * 100 + activity_id`.
    pub fn type_uid(&self) -> u64 {
        self.class().type_uid(self.activity_id())
    }
}

/// The classification attributes written before a class's own attributes.
#[derive(Serialize)]
struct Classified<'a, T: Serialize> {
    category_uid: u8,
    category_name: &'static str,
    class_uid: u32,
    class_name: &'static str,
    activity_id: u8,
    activity_name: &'a str,
    type_uid: u64,
    type_name: String,
    #[serde(flatten)]
    attributes: &'a T,
}

impl<'a, T: ClassAttributes> Classified<'a, T> {
    fn new(attributes: &'a T) -> Classified<'a, T> {
        let class = T::CLASS;
        Classified {
            category_uid: class.category_uid(),
            category_name: class.category_name(),
            class_uid: class.class_uid(),
            class_name: class.name(),
            activity_id: attributes.activity_id(),
            activity_name: attributes.activity_name(),
            type_uid: class.type_uid(attributes.activity_id()),
            type_name: format!("{}: {}", class.name(), attributes.activity_name()),
            attributes,
        }
    }
}

impl Serialize for EventDetail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        with_detail!(self, attributes => Classified::new(attributes).serialize(serializer))
    }
}

/// `severity_id` and `severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Unknown,
    Informational,
    Low,
    Medium,
    High,
    Critical,
    Fatal,
}

impl Severity {
    pub fn id(self) -> u8 {
        match self {
            Severity::Unknown => 0,
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
            Severity::Fatal => 6,
        }
    }

    pub fn caption(self) -> &'static str {
        match self {
            Severity::Unknown => "Unknown",
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
            Severity::Fatal => "Fatal",
        }
    }
}

impl From<Level> for Severity {
    fn from(level: Level) -> Severity {
        match level {
            Level::Informational => Severity::Informational,
            Level::Low => Severity::Low,
            Level::Medium => Severity::Medium,
            Level::High => Severity::High,
            Level::Critical => Severity::Critical,
        }
    }
}

impl Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire {
            severity_id: u8,
            severity: &'static str,
        }
        Wire {
            severity_id: self.id(),
            severity: self.caption(),
        }
        .serialize(serializer)
    }
}

/// `metadata`: where the event came from and how it was normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// The OCSF version, [`OCSF_VERSION`].
    pub version: String,
    /// The product that logged the event (Sysmon, Windows) or produced the finding (Garrison).
    pub product: Product,
    /// The evidence reference of the raw record (`path[!member]#record@offset`), or for
    /// findings, the finding's own id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The record's id in its log (`EventRecordID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_event_uid: Option<String>,
    /// The Windows event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_code: Option<String>,
    /// The Windows channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_name: Option<String>,
    /// The Windows event provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_provider: Option<String>,
    /// The shape the record was read in (`evtx`, `evtx-json`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// The version of the event's definition (`Version` of the Windows event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_version: Option<String>,
    /// The source's own rendering of the event time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_time: Option<String>,
    /// The Windows activity id that correlates related events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_uid: Option<String>,
    /// The schema profiles whose attributes the event uses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Metadata {
    pub fn new(product: Product) -> Metadata {
        Metadata {
            version: OCSF_VERSION.to_string(),
            product,
            uid: None,
            original_event_uid: None,
            event_code: None,
            log_name: None,
            log_provider: None,
            log_format: None,
            log_version: None,
            original_time: None,
            correlation_uid: None,
            profiles: Vec::new(),
            labels: Vec::new(),
        }
    }
}

/// Source attributes that have no place in the class, by the source's own field names.
pub type Unmapped = BTreeMap<String, String>;

/// One normalized event or finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OcsfEvent {
    /// The class, its activity and its own attributes.
    #[serde(flatten)]
    pub detail: EventDetail,
    /// When it happened, epoch milliseconds (for findings: the time of the finding's record).
    pub time: i64,
    /// `time` as RFC 3339 text (the schema's `datetime` profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_dt: Option<String>,
    #[serde(flatten)]
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The source's own outcome code (`0xc000006d`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How long the activity lasted, milliseconds (a connection's duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// 1 Allowed, 2 Denied (the schema's `security_control` profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// 1 Allowed, 2 Blocked, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    pub metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The cloud provider, account and region (the schema's `cloud` profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<Cloud>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unmapped: Unmapped,
    /// The raw record this event was normalized from (for a finding, the matching record).
    #[serde(skip)]
    pub evidence: EvidenceRef,
}

impl OcsfEvent {
    /// An event of `detail`'s class for the record at `evidence`, at time 0, with informational
    /// severity and `metadata.uid` set to the evidence reference.
    pub fn new(detail: EventDetail, evidence: EvidenceRef, product: Product) -> OcsfEvent {
        let mut metadata = Metadata::new(product);
        metadata.uid = Some(evidence.to_string());
        OcsfEvent {
            detail,
            time: 0,
            time_dt: None,
            severity: Severity::Informational,
            status_id: None,
            status: None,
            status_code: None,
            status_detail: None,
            message: None,
            duration: None,
            action_id: None,
            action: None,
            disposition_id: None,
            disposition: None,
            metadata,
            device: None,
            actor: None,
            cloud: None,
            unmapped: Unmapped::new(),
            evidence,
        }
    }

    pub fn class(&self) -> OcsfClass {
        self.detail.class()
    }

    pub fn activity_id(&self) -> u8 {
        self.detail.activity_id()
    }

    pub fn type_uid(&self) -> u64 {
        self.detail.type_uid()
    }

    /// Sets `time` and `time_dt`, and records the `datetime` profile in the metadata.
    pub fn set_time(&mut self, timestamp: Timestamp) {
        self.time = timestamp.as_millisecond();
        self.time_dt = Some(timestamp.to_string());
        self.add_profile("datetime");
    }

    /// Sets `cloud` and records the `cloud` profile.
    pub fn set_cloud(&mut self, cloud: Cloud) {
        self.cloud = Some(cloud);
        self.add_profile("cloud");
    }

    /// Records a schema profile in `metadata.profiles` once.
    pub fn add_profile(&mut self, profile: &str) {
        if !self.metadata.profiles.iter().any(|known| known == profile) {
            self.metadata.profiles.push(profile.to_string());
        }
    }

    /// The event as OCSF JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("OCSF events serialize to JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence() -> EvidenceRef {
        EvidenceRef {
            path: "logs/Security.evtx".into(),
            member: None,
            record_id: 42,
            offset: 4096,
        }
    }

    fn launch() -> OcsfEvent {
        let detail = EventDetail::from(ProcessActivity {
            activity: ProcessActivityId::Launch,
            process: Process {
                pid: Some(4242),
                name: Some("cmd.exe".into()),
                ..Process::default()
            },
            module: None,
            injection_type_id: None,
            injection_type: None,
            launch_type_id: None,
            launch_type: None,
            actual_permissions: None,
            exit_code: None,
        });
        OcsfEvent::new(
            detail,
            evidence(),
            Product {
                name: Some("Sysmon".into()),
                vendor_name: Some("Microsoft".into()),
                version: None,
            },
        )
    }

    #[test]
    fn classes_have_consistent_uids() {
        for class in OcsfClass::ALL {
            let uid = class.class_uid();
            assert_eq!(
                uid % 100_000 / 1000,
                u32::from(class.category_uid()),
                "{class:?}"
            );
            // Only the base event has no category.
            assert_eq!(
                class.category_name() == "Uncategorized",
                class == OcsfClass::BaseEvent,
                "{class:?}"
            );
        }
        assert_eq!(OcsfClass::RegistryValueActivity.category_uid(), 1);
        assert_eq!(OcsfClass::ProcessActivity.type_uid(1), 100701);
        assert_eq!(OcsfClass::RegistryKeyActivity.type_uid(4), 20100104);
    }

    #[test]
    fn serializes_classification_detail_and_skips_empty_fields() {
        let mut event = launch();
        event.set_time("2024-05-01T10:00:00.123Z".parse().unwrap());
        event
            .unmapped
            .insert("RuleName".into(), "technique_id=T1059".into());
        let json = event.to_json();
        assert_eq!(json["class_uid"], 1007);
        assert_eq!(json["category_uid"], 1);
        assert_eq!(json["class_name"], "Process Activity");
        assert_eq!(json["activity_id"], 1);
        assert_eq!(json["activity_name"], "Launch");
        assert_eq!(json["type_uid"], 100701);
        assert_eq!(json["type_name"], "Process Activity: Launch");
        assert_eq!(json["severity_id"], 1);
        assert_eq!(json["severity"], "Informational");
        assert_eq!(json["time"], 1_714_557_600_123_i64);
        assert_eq!(json["time_dt"], "2024-05-01T10:00:00.123Z");
        assert_eq!(json["process"]["pid"], 4242);
        assert_eq!(json["metadata"]["uid"], "logs/Security.evtx#42@4096");
        assert_eq!(json["metadata"]["version"], OCSF_VERSION);
        assert_eq!(
            json["metadata"]["profiles"],
            serde_json::json!(["datetime"])
        );
        assert_eq!(json["unmapped"]["RuleName"], "technique_id=T1059");
        let object = json.as_object().unwrap();
        for absent in [
            "status_id",
            "device",
            "actor",
            "module",
            "evidence",
            "message",
        ] {
            assert!(!object.contains_key(absent), "{absent} should be skipped");
        }
        assert!(!json["process"].as_object().unwrap().contains_key("uid"));
    }

    #[test]
    fn other_activity_keeps_its_label_and_id_99() {
        let mut event = launch();
        if let EventDetail::ProcessActivity(attributes) = &mut event.detail {
            attributes.activity = ProcessActivityId::Other("Tampering".into());
        }
        assert_eq!(event.activity_id(), 99);
        assert_eq!(event.type_uid(), 100799);
        let json = event.to_json();
        assert_eq!(json["activity_name"], "Tampering");
        assert_eq!(json["type_name"], "Process Activity: Tampering");
    }

    #[test]
    fn severity_follows_rule_level() {
        assert_eq!(Severity::from(Level::Informational).id(), 1);
        assert_eq!(Severity::from(Level::Critical).id(), 5);
        for level in Level::ALL {
            assert_eq!(Severity::from(level).id(), level.ocsf_severity_id());
        }
    }
}
