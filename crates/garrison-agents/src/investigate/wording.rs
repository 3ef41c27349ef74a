//! How an incident names what it is about.

use crate::evidence::{canonical_user, is_machine_account};
use crate::messages::TriageDecision;
use garrison_model::Alert;

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
