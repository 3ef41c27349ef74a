//! Playbooks: which actions an incident calls for, and on which of its entities.

use garrison_model::action::{ActionKind, Target, TargetKind};
use garrison_model::incident::{canonical_user, is_public_ip};
use garrison_model::{Disposition, EntityKind, Incident, Level};

/// When an incident matches (any of `tactics`, when given; at least `min_severity` and
/// `min_confidence`; escalated when `escalated_only`), propose `actions` on its entities.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub name: String,
    pub tactics: Vec<String>,
    pub min_severity: Level,
    pub min_confidence: f64,
    pub escalated_only: bool,
    pub actions: Vec<ActionKind>,
}

/// An action a playbook calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub kind: ActionKind,
    pub target: Target,
    pub playbook: String,
}

impl Playbook {
    /// The shipped playbooks.
    pub fn defaults() -> Vec<Playbook> {
        let playbook =
            |name: &str, tactics: &[&str], severity, confidence, escalated, actions| Playbook {
                name: name.into(),
                tactics: tactics.iter().map(|tactic| tactic.to_string()).collect(),
                min_severity: severity,
                min_confidence: confidence,
                escalated_only: escalated,
                actions,
            };
        vec![
            playbook(
                "tell-people",
                &[],
                Level::Informational,
                0.0,
                true,
                vec![ActionKind::OpenTicket, ActionKind::Notify],
            ),
            playbook(
                "contain-host",
                &[
                    "credential-access",
                    "lateral-movement",
                    "privilege-escalation",
                    "command-and-control",
                    "exfiltration",
                    "impact",
                ],
                Level::High,
                0.5,
                false,
                vec![ActionKind::IsolateHost],
            ),
            playbook(
                "contain-identity",
                &["initial-access", "credential-access", "persistence"],
                Level::High,
                0.5,
                false,
                vec![ActionKind::RevokeSessions, ActionKind::SuspendUser],
            ),
            playbook(
                "block-infrastructure",
                &["command-and-control", "exfiltration"],
                Level::Medium,
                0.5,
                false,
                vec![ActionKind::BlockIp, ActionKind::BlockDomain],
            ),
        ]
    }

    pub fn matches(&self, incident: &Incident) -> bool {
        (self.tactics.is_empty() || incident.tactics.iter().any(|t| self.tactics.contains(t)))
            && incident.severity >= self.min_severity
            && incident.confidence >= self.min_confidence
            && (!self.escalated_only || incident.escalated)
    }
}

/// The actions `playbooks` call for on `incident`, each kind on at most `max_targets` targets,
/// without repeats. An incident superseded by another or judged benign calls for none.
pub fn propose(incident: &Incident, playbooks: &[Playbook], max_targets: usize) -> Vec<Proposal> {
    if incident.superseded_by.is_some() || incident.disposition == Disposition::Benign {
        return Vec::new();
    }
    let mut proposals: Vec<Proposal> = Vec::new();
    for playbook in playbooks
        .iter()
        .filter(|playbook| playbook.matches(incident))
    {
        for &kind in &playbook.actions {
            for target in targets(incident, kind).into_iter().take(max_targets) {
                if !proposals
                    .iter()
                    .any(|known| known.kind == kind && known.target == target)
                {
                    proposals.push(Proposal {
                        kind,
                        target,
                        playbook: playbook.name.clone(),
                    });
                }
            }
        }
    }
    proposals
}

/// The incident's entities an action of `kind` applies to.
fn targets(incident: &Incident, kind: ActionKind) -> Vec<Target> {
    let target_kind = kind.target_kind();
    let of = |entity_kind: EntityKind| {
        incident
            .entities
            .iter()
            .filter(move |entity| entity.kind == entity_kind)
            .map(|entity| entity.value.clone())
    };
    let values: Vec<String> = match target_kind {
        TargetKind::Incident => vec![incident.id.0.clone()],
        TargetKind::Host => of(EntityKind::Host).collect(),
        TargetKind::User => people(of(EntityKind::User).filter(|user| is_person(user))),
        TargetKind::Ip => of(EntityKind::Ip).filter(|ip| is_public_ip(ip)).collect(),
        TargetKind::Domain => of(EntityKind::Domain).collect(),
        TargetKind::File => of(EntityKind::FileHash).collect(),
        TargetKind::Process => {
            // A process is killed on its host: only when the incident has one.
            let hosts: Vec<String> = of(EntityKind::Host).collect();
            match hosts.as_slice() {
                [host] => of(EntityKind::Process)
                    .map(|image| format!("{host}:{image}"))
                    .collect(),
                _ => Vec::new(),
            }
        }
        TargetKind::Url | TargetKind::Team => Vec::new(),
    };
    values
        .into_iter()
        .map(|value| Target {
            kind: target_kind,
            value,
        })
        .collect()
}

/// One name per person (`CORP\\dana` and `dana@corp.example` are one): the sign-in name
/// with a domain when there is one, as identity providers know people by it.
fn people(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut chosen: Vec<(String, String)> = Vec::new();
    for name in names {
        let person = canonical_user(&name);
        match chosen.iter_mut().find(|(known, _)| *known == person) {
            Some((_, kept)) => {
                if name.contains('@') && !kept.contains('@') {
                    *kept = name;
                }
            }
            None => chosen.push((person, name)),
        }
    }
    chosen.into_iter().map(|(_, name)| name).collect()
}

/// Machine and built-in service accounts are not people to suspend.
fn is_person(user: &str) -> bool {
    let name = user
        .rsplit('\\')
        .next()
        .unwrap_or(user)
        .to_ascii_lowercase();
    !(name.ends_with('$')
        || matches!(
            name.as_str(),
            "system" | "local service" | "network service" | "localsystem" | "root" | "-" | ""
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::incident::{Verification, VerificationStatus};
    use garrison_model::{Entity, IncidentId};

    pub(crate) fn incident(tactics: &[&str], severity: Level, entities: Vec<Entity>) -> Incident {
        Incident {
            id: IncidentId("inc-1".into()),
            version: 1,
            title: "t".into(),
            severity,
            confidence: 0.9,
            disposition: Disposition::Malicious,
            escalated: true,
            hypothesis: String::new(),
            tactics: tactics.iter().map(|t| t.to_string()).collect(),
            techniques: Vec::new(),
            entities,
            alerts: Vec::new(),
            evidence: Vec::new(),
            timeline: Vec::new(),
            process_tree: Vec::new(),
            reasoning: Vec::new(),
            verification: Verification {
                status: VerificationStatus::Verified,
                removed_claims: Vec::new(),
            },
            first_seen: None,
            last_seen: None,
            superseded_by: None,
        }
    }

    #[test]
    fn default_playbooks_pick_people_hosts_and_public_addresses() {
        let incident = incident(
            &["credential-access", "command-and-control"],
            Level::High,
            vec![
                Entity::new(EntityKind::Host, "WS1"),
                Entity::new(EntityKind::User, "CORP\\dana"),
                Entity::new(EntityKind::User, "dana@corp.example"),
                Entity::new(EntityKind::User, "CORP\\WS1$"),
                Entity::new(EntityKind::User, "NT AUTHORITY\\SYSTEM"),
                Entity::new(EntityKind::Ip, "10.0.0.5"),
                Entity::new(EntityKind::Ip, "203.0.113.7"),
            ],
        );
        let proposals = propose(&incident, &Playbook::defaults(), 5);
        let described: Vec<String> = proposals
            .iter()
            .map(|p| format!("{} {}", p.kind, p.target))
            .collect();
        assert_eq!(
            described,
            [
                "open_ticket incident inc-1",
                "notify incident inc-1",
                "isolate_host host WS1",
                "revoke_sessions user dana@corp.example",
                "suspend_user user dana@corp.example",
                "block_ip ip 203.0.113.7",
            ]
        );
        let mut benign = incident.clone();
        benign.disposition = Disposition::Benign;
        assert!(propose(&benign, &Playbook::defaults(), 5).is_empty());
        let mut quiet = incident;
        quiet.severity = Level::Low;
        quiet.escalated = false;
        assert!(propose(&quiet, &Playbook::defaults(), 5).is_empty());
    }
}
