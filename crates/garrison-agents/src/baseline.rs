//! What usually fires where: triage learns which rules fire on which host, so that a rule
//! firing on a host for the first time stands out from the background every network has
//! (the antivirus update on the mail server, the TLS noise at the VPN gateway).
//!
//! Until the baseline has watched for its learning period, nothing counts as new: on the
//! first day everything is.

use garrison_model::Timestamp;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What the baseline says about one alert's rule on its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Novelty {
    /// The baseline is still learning (or the alert names no host or time).
    Unknown,
    /// The rule fired on this host within the remembered span.
    Usual,
    /// The rule never fired on this host within the remembered span.
    New,
}

#[derive(Debug, Clone)]
pub struct BaselineConfig {
    /// How long the baseline watches before anything counts as new.
    pub learning: SignedDuration,
    /// A rule quiet on a host for this long is new there again.
    pub remember: SignedDuration,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            learning: SignedDuration::from_hours(24),
            remember: SignedDuration::from_hours(30 * 24),
        }
    }
}

/// Sightings kept before those older than the remembered span are dropped.
const SIGHTINGS_KEPT: usize = 100_000;

#[derive(Debug, Default)]
pub struct Baseline {
    config: BaselineConfig,
    /// The earliest alert time seen.
    since: Option<Timestamp>,
    /// The newest alert time seen.
    newest: Option<Timestamp>,
    /// By host (lowercased), the last time each rule fired there.
    seen: HashMap<String, HashMap<String, Timestamp>>,
    /// Sightings held (rules summed over hosts).
    sightings: usize,
    /// Sightings from which old ones are dropped (raised when all are recent, so that
    /// dropping is not tried again on every alert).
    prune_at: usize,
}

/// The baseline as a checkpoint holds it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SavedBaseline {
    since: Option<Timestamp>,
    newest: Option<Timestamp>,
    /// (rule, host, last seen), sorted.
    seen: Vec<(String, String, Timestamp)>,
}

impl Baseline {
    pub fn new(config: BaselineConfig) -> Baseline {
        Baseline {
            config,
            ..Baseline::default()
        }
    }

    /// Whether `rule` firing on `host` at `at` is new there (nothing is recorded).
    pub fn judge(&self, rule: &str, host: Option<&str>, at: Option<Timestamp>) -> Novelty {
        let (Some(at), Some(host)) = (at, host.filter(|host| !host.is_empty())) else {
            return Novelty::Unknown;
        };
        let since = self.since.map_or(at, |since| since.min(at));
        if at.duration_since(since) < self.config.learning {
            return Novelty::Unknown;
        }
        match self
            .seen
            .get(lowercase(host).as_ref())
            .and_then(|rules| rules.get(rule))
        {
            Some(last) if at.duration_since(*last) < self.config.remember => Novelty::Usual,
            _ => Novelty::New,
        }
    }

    /// Records that `rule` fired on `host` at `at`.
    pub fn record(&mut self, rule: &str, host: Option<&str>, at: Option<Timestamp>) {
        let Some(at) = at else {
            return;
        };
        self.since = Some(self.since.map_or(at, |since| since.min(at)));
        self.newest = Some(self.newest.map_or(at, |newest| newest.max(at)));
        let Some(host) = host.filter(|host| !host.is_empty()) else {
            return;
        };
        let key = lowercase(host);
        if !self.seen.contains_key(key.as_ref()) {
            self.seen.insert(key.clone().into_owned(), HashMap::new());
        }
        let Some(rules) = self.seen.get_mut(key.as_ref()) else {
            return;
        };
        match rules.get_mut(rule) {
            Some(last) => *last = (*last).max(at),
            None => {
                rules.insert(rule.to_string(), at);
                self.sightings += 1;
            }
        }
        self.forget_old();
    }

    /// Judges, then records.
    pub fn observe(&mut self, rule: &str, host: Option<&str>, at: Option<Timestamp>) -> Novelty {
        let novelty = self.judge(rule, host, at);
        self.record(rule, host, at);
        novelty
    }

    /// Keeps memory bounded: once many sightings are held, those older than the remembered
    /// span are dropped (they would count as new again anyway).
    fn forget_old(&mut self) {
        if self.sightings < self.prune_at.max(SIGHTINGS_KEPT) {
            return;
        }
        let Some(horizon) = self
            .newest
            .and_then(|newest| newest.checked_sub(self.config.remember).ok())
        else {
            return;
        };
        for rules in self.seen.values_mut() {
            rules.retain(|_, last| *last >= horizon);
        }
        self.seen.retain(|_, rules| !rules.is_empty());
        self.sightings = self.seen.values().map(HashMap::len).sum();
        self.prune_at = self.sightings * 2;
    }

    pub fn save(&self) -> SavedBaseline {
        let mut seen: Vec<(String, String, Timestamp)> = self
            .seen
            .iter()
            .flat_map(|(host, rules)| {
                rules
                    .iter()
                    .map(|(rule, last)| (rule.clone(), host.clone(), *last))
            })
            .collect();
        seen.sort();
        SavedBaseline {
            since: self.since,
            newest: self.newest,
            seen,
        }
    }

    pub fn restore(&mut self, saved: SavedBaseline) {
        self.since = saved.since;
        self.newest = saved.newest;
        self.seen.clear();
        self.sightings = saved.seen.len();
        for (rule, host, last) in saved.seen {
            self.seen.entry(host).or_default().insert(rule, last);
        }
    }
}

/// `host` lowercased, borrowed when it is already.
fn lowercase(host: &str) -> std::borrow::Cow<'_, str> {
    match host.chars().any(char::is_uppercase) {
        true => std::borrow::Cow::Owned(host.to_lowercase()),
        false => std::borrow::Cow::Borrowed(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> Option<Timestamp> {
        Some(Timestamp::UNIX_EPOCH + SignedDuration::from_hours(hours))
    }

    #[test]
    fn a_rule_is_new_on_a_host_only_after_learning_and_until_it_fired_there() {
        let mut baseline = Baseline::new(BaselineConfig::default());
        assert_eq!(
            baseline.observe("clamav", Some("mail"), at(0)),
            Novelty::Unknown
        );
        // Still learning: a rule seen for the first time is not yet "new".
        assert_eq!(
            baseline.observe("pam", Some("mail"), at(23)),
            Novelty::Unknown
        );
        assert_eq!(
            baseline.observe("clamav", Some("MAIL"), at(25)),
            Novelty::Usual
        );
        assert_eq!(
            baseline.observe("pam", Some("mail"), at(26)),
            Novelty::Usual
        );
        assert_eq!(
            baseline.observe("clamav", Some("vpn"), at(26)),
            Novelty::New
        );
        assert_eq!(
            baseline.observe("clamav", Some("vpn"), at(27)),
            Novelty::Usual
        );
        assert_eq!(baseline.observe("dirb", Some("web"), at(27)), Novelty::New);
        assert_eq!(baseline.observe("dirb", None, at(27)), Novelty::Unknown);
        assert_eq!(
            baseline.observe("dirb", Some("web"), None),
            Novelty::Unknown
        );
        // Quiet for longer than the remembered span: new again.
        assert_eq!(
            baseline.observe("pam", Some("mail"), at(26 + 31 * 24)),
            Novelty::New
        );
    }

    #[test]
    fn a_restored_baseline_remembers_what_it_learned() {
        let mut baseline = Baseline::new(BaselineConfig::default());
        baseline.observe("clamav", Some("mail"), at(0));
        baseline.observe("pam", Some("mail"), at(30));
        let saved = serde_json::to_vec(&baseline.save()).unwrap();
        let mut restored = Baseline::new(BaselineConfig::default());
        restored.restore(serde_json::from_slice(&saved).unwrap());
        assert_eq!(
            restored.observe("pam", Some("mail"), at(31)),
            Novelty::Usual
        );
        assert_eq!(
            restored.observe("clamav", Some("mail"), at(31)),
            Novelty::Usual
        );
        assert_eq!(restored.observe("dirb", Some("mail"), at(31)), Novelty::New);
        // An empty checkpoint (an older build's) starts learning again.
        let mut fresh = Baseline::new(BaselineConfig::default());
        fresh.restore(SavedBaseline::default());
        assert_eq!(
            fresh.observe("dirb", Some("mail"), at(31)),
            Novelty::Unknown
        );
    }
}
