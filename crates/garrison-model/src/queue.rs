//! How an incident shows in the queue: its summary, and the order the queue keeps (escalated
//! first, then the most severe, the most confident, the most recent).

use crate::case::CaseStatus;
use crate::incident::{Disposition, EntityKind, Incident, IncidentId, VerificationStatus};
use crate::{Level, Timestamp};
use serde::{Deserialize, Serialize};

/// One incident in the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentSummary {
    pub id: IncidentId,
    pub version: u64,
    pub title: String,
    pub severity: Level,
    pub confidence: f64,
    pub disposition: Disposition,
    pub escalated: bool,
    pub verification: VerificationStatus,
    pub tactics: Vec<String>,
    /// Hosts the incident names.
    pub hosts: Vec<String>,
    /// Distinct alerts it holds.
    pub alerts: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// The incident it was merged into, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<IncidentId>,
    /// Where work on it stands (from its case; open when nobody touched it).
    #[serde(default = "open")]
    pub status: CaseStatus,
    /// Who has it.
    #[serde(default)]
    pub assignee: Option<String>,
}

fn open() -> CaseStatus {
    CaseStatus::Open
}

impl Incident {
    /// The hosts the incident names, in its order.
    pub fn hosts(&self) -> Vec<String> {
        self.entities
            .iter()
            .filter(|entity| entity.kind == EntityKind::Host)
            .map(|entity| entity.value.clone())
            .collect()
    }

    /// The users the incident names, in its order.
    pub fn users(&self) -> Vec<String> {
        self.entities
            .iter()
            .filter(|entity| entity.kind == EntityKind::User)
            .map(|entity| entity.value.clone())
            .collect()
    }

    pub fn summary(&self) -> IncidentSummary {
        IncidentSummary {
            id: self.id.clone(),
            version: self.version,
            title: self.title.clone(),
            severity: self.severity,
            confidence: self.confidence,
            disposition: self.disposition,
            escalated: self.escalated,
            verification: self.verification.status,
            tactics: self.tactics.clone(),
            hosts: self.hosts(),
            alerts: self.alerts.len() as u64,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            superseded_by: self.superseded_by.clone(),
            status: CaseStatus::Open,
            assignee: None,
        }
    }
}

/// An alert and the incident holding it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentAlert {
    pub incident: IncidentId,
    pub alert: crate::incident::AlertSummary,
}

/// Which incidents the queue shows, and which page of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentQuery {
    /// Only incidents at least this severe.
    pub min_severity: Option<Level>,
    /// Only escalated (true) or only not escalated (false) incidents.
    pub escalated: Option<bool>,
    /// Only incidents naming this host (compared case-insensitively).
    pub host: Option<String>,
    /// Only incidents naming this user (compared case-insensitively).
    pub user: Option<String>,
    /// Only incidents whose title or hypothesis holds this text (case-insensitively).
    pub text: Option<String>,
    /// Also incidents merged into others.
    pub superseded: bool,
    /// Only incidents whose work stands here.
    pub status: Option<CaseStatus>,
    /// Only incidents this user has.
    pub assignee: Option<String>,
    pub offset: u64,
    pub limit: u32,
}

/// What a store keeps beside an incident to filter and order the queue without reading the
/// incident: every value lower-cased where the query compares case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueKey {
    pub escalated: bool,
    pub severity: Level,
    pub confidence: f64,
    pub last_seen: Option<Timestamp>,
    pub superseded: bool,
    /// The hosts, lower-cased, each between line feeds (`\nws1\nfs01\n`), so one is found
    /// whole by looking for `\nNAME\n`.
    pub hosts: String,
    /// The users, as `hosts`.
    pub users: String,
    /// Title and hypothesis, lower-cased.
    pub text: String,
}

impl QueueKey {
    pub fn of(incident: &Incident) -> QueueKey {
        let names = |names: Vec<String>| {
            let mut key = String::from("\n");
            for name in names {
                key.push_str(&name.to_lowercase().replace('\n', " "));
                key.push('\n');
            }
            key
        };
        QueueKey {
            escalated: incident.escalated,
            severity: incident.severity,
            confidence: incident.confidence,
            last_seen: incident.last_seen,
            superseded: incident.superseded_by.is_some(),
            hosts: names(incident.hosts()),
            users: names(incident.users()),
            text: format!("{}\n{}", incident.title, incident.hypothesis).to_lowercase(),
        }
    }
}

impl IncidentQuery {
    /// `\nNAME\n` for the host asked for, lower-cased.
    pub fn host_key(&self) -> Option<String> {
        self.host
            .as_ref()
            .map(|host| format!("\n{}\n", host.to_lowercase()))
    }

    /// `\nNAME\n` for the user asked for, lower-cased.
    pub fn user_key(&self) -> Option<String> {
        self.user
            .as_ref()
            .map(|user| format!("\n{}\n", user.to_lowercase()))
    }

    /// The text asked for, lower-cased.
    pub fn text_key(&self) -> Option<String> {
        self.text.as_ref().map(|text| text.to_lowercase())
    }
}
