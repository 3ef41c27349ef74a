//! What a distributed deployment tells watchers of its shared state (consoles, integrations):
//! an incident version stored, a response action proposed or moved. Each is written to the
//! PostgreSQL store's outbox in the transaction making the change, then sealed and published
//! by a process holding the key of the role that made it (report for incidents, respond for
//! actions): a console believes an announcement only from that role.

use crate::team::RESPOND;
use garrison_bus::{Directory, KeyRing, Message};
use garrison_model::action::ActionRecord;
use garrison_model::queue::IncidentSummary;
use serde::{Deserialize, Serialize};

/// The role announcing incidents: the one storing them.
pub const REPORT: &str = "report";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Announcement {
    /// An incident version was stored.
    IncidentStored { incident: Box<IncidentSummary> },
    /// A response action was proposed or moved; the record as it now stands.
    ActionChanged { action: Box<ActionRecord> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnouncementKind {
    IncidentStored,
    ActionChanged,
}

impl AnnouncementKind {
    pub const ALL: [AnnouncementKind; 2] = [
        AnnouncementKind::IncidentStored,
        AnnouncementKind::ActionChanged,
    ];

    /// The outbox topic holding this kind's announcements.
    pub fn topic(self) -> &'static str {
        match self {
            AnnouncementKind::IncidentStored => garrison_store::postgres::outbox::INCIDENT,
            AnnouncementKind::ActionChanged => garrison_store::postgres::outbox::ACTION,
        }
    }

    /// The role that announces this kind (and signs it).
    pub fn role(self) -> &'static str {
        match self {
            AnnouncementKind::IncidentStored => REPORT,
            AnnouncementKind::ActionChanged => RESPOND,
        }
    }
}

impl Message for Announcement {
    type Kind = AnnouncementKind;
    const SCHEMA_VERSION: u16 = 1;

    fn kind(&self) -> AnnouncementKind {
        match self {
            Announcement::IncidentStored { .. } => AnnouncementKind::IncidentStored,
            Announcement::ActionChanged { .. } => AnnouncementKind::ActionChanged,
        }
    }

    fn subject(kind: AnnouncementKind) -> &'static str {
        match kind {
            AnnouncementKind::IncidentStored => "state.incident",
            AnnouncementKind::ActionChanged => "state.action",
        }
    }
}

impl Announcement {
    /// The announcement an outbox row of `topic` holds.
    pub fn from_outbox(topic: &str, body: &str) -> Result<Announcement, String> {
        let why = |error: serde_json::Error| format!("outbox {topic} entry: {error}");
        match topic {
            garrison_store::postgres::outbox::INCIDENT => Ok(Announcement::IncidentStored {
                incident: serde_json::from_str(body).map_err(why)?,
            }),
            garrison_store::postgres::outbox::ACTION => Ok(Announcement::ActionChanged {
                action: serde_json::from_str(body).map_err(why)?,
            }),
            other => Err(format!("no announcement has outbox topic {other:?}")),
        }
    }

    /// Whom watchers believe: each kind from its role's key in `ring`, no one else.
    pub fn directory(ring: &KeyRing) -> Directory<AnnouncementKind> {
        let mut directory = Directory::default();
        for kind in AnnouncementKind::ALL {
            if let Some(key) = ring.public(kind.role()) {
                directory.admit_role(kind.role(), key, [kind]);
            }
        }
        directory
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_bus::AgentKeys;

    #[test]
    fn only_the_announcing_role_is_believed() {
        let dir = tempfile::tempdir().unwrap();
        KeyRing::init(dir.path(), &[REPORT, RESPOND, "triage"]).unwrap();
        let ring = KeyRing::load(dir.path(), &[REPORT, "triage"]).unwrap();
        let directory = Announcement::directory(&ring);
        let incident = Announcement::from_outbox(
            "incident",
            r#"{"id":"inc-1","version":2,"title":"t","severity":"high","confidence":0.5,
                "disposition":"suspicious","escalated":true,"verification":"verified",
                "tactics":[],"hosts":["ws1"],"alerts":3,"first_seen":null,"last_seen":null}"#,
        )
        .unwrap();
        let seal = |keys: &AgentKeys| {
            keys.seal(
                incident.clone(),
                garrison_bus::Lineage::start(),
                jiff::Timestamp::UNIX_EPOCH,
            )
            .unwrap()
        };
        let report = ring.keys(REPORT, "a").unwrap();
        let opened = directory
            .open::<Announcement>(&seal(&report))
            .expect("report announces incidents");
        assert_eq!(opened.payload, incident);
        assert_eq!(opened.sender.role, REPORT);
        let triage = ring.keys("triage", "a").unwrap();
        assert!(directory.open::<Announcement>(&seal(&triage)).is_err());
        assert!(Announcement::from_outbox("case", "{}").is_err());
        assert!(Announcement::from_outbox("incident", "{").is_err());
    }
}
