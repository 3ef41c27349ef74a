//! How an incident names what it is about.

use crate::evidence::{canonical_user, is_machine_account, is_public_ip};
use crate::messages::TriageDecision;
use garrison_model::{Alert, Disposition, Entity, EntityKind};
use std::collections::BTreeSet;

/// What an incident's hypothesis tells.
pub(super) struct Story<'a> {
    pub alerts: usize,
    pub rules: usize,
    pub hosts: &'a [&'a str],
    pub people: &'a [&'a str],
    pub tactics: &'a [String],
    pub disposition: Disposition,
    /// The rules new on their host that raised the severity ("rule on host").
    pub new_rules: Option<&'a BTreeSet<String>>,
}

/// The hypothesis an incident states, in one or two sentences.
pub(super) fn hypothesis(story: &Story) -> String {
    let mut text = format!(
        "{} alert(s) from {} rule(s) on {} {} show {}; {} is the most likely explanation.",
        story.alerts,
        story.rules,
        if story.hosts.is_empty() {
            "an unknown host".to_string()
        } else {
            story.hosts.join(", ")
        },
        if story.people.is_empty() {
            String::new()
        } else {
            format!("involving {}", story.people.join(", "))
        },
        if story.tactics.is_empty() {
            "no ATT&CK tactic".to_string()
        } else {
            format!("the chain {}", story.tactics.join(" -> "))
        },
        match story.disposition {
            Disposition::Malicious => "an intrusion in progress",
            Disposition::Suspicious => "suspicious activity needing review",
            Disposition::Benign => "benign activity",
            Disposition::Inconclusive => "activity that the evidence does not settle",
        }
    );
    if let Some(new_rules) = story.new_rules {
        text.push_str(&format!(
            " Severity raised one level: {} rule(s) fired on their host for the first time \
             since triage learned what usually fires there ({}).",
            new_rules.len(),
            new_rules.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    text
}

/// The person most of the alerts are about (ties: the earliest).
pub(super) fn principal(alerts: &[&(Alert, TriageDecision)]) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (alert, _) in alerts {
        if let Some(user) = alert
            .user
            .as_deref()
            .filter(|user| !is_machine_account(user))
        {
            let name = canonical_user(user);
            match counts.iter_mut().find(|(known, _)| *known == name) {
                Some((_, count)) => *count += 1,
                None => counts.push((name, 1)),
            }
        }
    }
    let best = counts.iter().map(|(_, count)| *count).max()?;
    counts
        .into_iter()
        .find(|(_, count)| *count == best)
        .map(|(name, _)| name)
}

pub(super) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Indicators that tie activity together across hosts and sources: file hashes, domains, and
/// internet addresses (private ones are shared by too much to mean anything).
pub(super) fn indicators(alert: &Alert) -> impl Iterator<Item = &Entity> {
    alert.entities.iter().filter(|entity| match entity.kind {
        EntityKind::FileHash | EntityKind::Domain => true,
        EntityKind::Ip => is_public_ip(&entity.value),
        _ => false,
    })
}

/// The person behind an alert, in the form shared by Windows and the identity provider.
pub(super) fn person(alert: &Alert) -> Option<String> {
    alert
        .user
        .as_deref()
        .filter(|user| !is_machine_account(user))
        .map(canonical_user)
}
