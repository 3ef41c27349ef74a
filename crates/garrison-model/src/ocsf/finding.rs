//! Objects of findings: what was found, by which analytic, with which ATT&CK mapping and evidence.

use super::objects::{ConnectionInfo, Device, HttpRequest, NetworkEndpoint};
use serde::Serialize;
use std::collections::BTreeMap;

/// `finding_info`: the finding itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FindingInfo {
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytic: Option<Analytic>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attacks: Vec<Attack>,
    /// Epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_time: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_events: Vec<RelatedEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_events_count: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

/// `analytic`: the rule that produced a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Analytic {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// 1 Rule.
    pub type_id: u8,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

/// One element of `attacks`: an ATT&CK tactic, technique and sub-technique that belong together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Attack {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tactic: Option<AttackItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub technique: Option<AttackItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_technique: Option<AttackItem>,
}

/// A `tactic`, `technique` or `sub_technique` (the three objects have the same shape).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttackItem {
    /// `TA0002`, `T1059`, `T1059.001`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_url: Option<String>,
}

/// One element of `related_events`: another event that took part in the finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RelatedEvent {
    /// The event's evidence reference.
    pub uid: String,
}

/// A `key_value_object`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One element of `evidences`: what the finding is based on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The evidence reference of the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_endpoint: Option<NetworkEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<ConnectionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
    /// Field values of the record, by the record's own field names.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}
