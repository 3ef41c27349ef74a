//! Learning from analysts: verdicts on incidents and alerts become per-rule and per-pattern
//! (rule on a host) precision estimates, Beta posteriors over "an alert of this kind is
//! malicious", which triage reads when it scores, in words an analyst can check ("scored down
//! because 14 of 15 past alerts of this rule on this host were judged benign").

use garrison_model::feedback::{AnalystVerdict, RulePattern, VerdictRecord, VerdictSubject};
use garrison_model::{AlertId, Incident, IncidentId};
use std::collections::{BTreeMap, HashMap};

/// Judged alerts of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub malicious: u32,
    /// Benign true positives and false positives.
    pub benign: u32,
}

impl Counts {
    pub fn total(self) -> u32 {
        self.malicious + self.benign
    }

    /// The posterior mean of "malicious" under a uniform Beta(1, 1) prior.
    pub fn mean(self) -> f64 {
        (f64::from(self.malicious) + 1.0) / (f64::from(self.total()) + 2.0)
    }
}

/// Precision estimates that can be replaced while agents run: verdicts keep coming, and a
/// long-running team learns from them without a restart.
#[derive(Debug, Default)]
pub struct LivePrecision(std::sync::RwLock<std::sync::Arc<Precision>>);

impl LivePrecision {
    pub fn new(precision: Precision) -> LivePrecision {
        LivePrecision(std::sync::RwLock::new(std::sync::Arc::new(precision)))
    }

    /// The estimates now.
    pub fn get(&self) -> std::sync::Arc<Precision> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Replaces the estimates (what every verdict so far taught).
    pub fn replace(&self, precision: Precision) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = std::sync::Arc::new(precision);
    }
}

/// Judged alerts a pattern needs before its own estimate counts (else its rule's is used).
/// One is enough to move it: the posterior mean of a single benign judgment (0.33) lowers the
/// score by 20, and only a run of them (four, without a malicious one) by 40.
const PATTERN_EVIDENCE: u32 = 1;
/// Judged alerts a pattern needs before it is suggested for suppression.
const SUPPRESSION_EVIDENCE: u32 = 3;
/// Judged alerts a rule needs across hosts before its estimate counts.
const RULE_EVIDENCE: u32 = 5;

/// Precision estimates from every verdict given so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Precision {
    by_pattern: HashMap<RulePattern, Counts>,
    by_rule: HashMap<String, Counts>,
    verdicts: usize,
}

/// How an estimate moves an alert's score, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub delta: i32,
    pub reason: String,
}

/// A suggestion for whoever tunes the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub pattern: RulePattern,
    pub counts: Counts,
    pub mean: f64,
}

impl Precision {
    /// Learns from `verdicts` in order: a later verdict on an alert replaces an earlier one
    /// (an alert verdict also overrides the verdict on its incident).
    pub fn from_verdicts(verdicts: &[VerdictRecord]) -> Precision {
        // Latest verdict per alert: alert verdicts first-class, incident verdicts for the
        // alerts they list unless the alert was judged on its own.
        let mut by_alert: BTreeMap<&AlertId, (bool, AnalystVerdict, &RulePattern)> =
            BTreeMap::new();
        for record in verdicts {
            let own = matches!(record.subject, VerdictSubject::Alert(_));
            for (alert, pattern) in &record.alerts {
                match by_alert.get(alert) {
                    Some((true, _, _)) if !own => {}
                    _ => {
                        by_alert.insert(alert, (own, record.verdict, pattern));
                    }
                }
            }
        }
        let mut precision = Precision {
            verdicts: verdicts.len(),
            ..Precision::default()
        };
        for (_, verdict, pattern) in by_alert.values() {
            let count = |counts: &mut Counts| {
                if verdict.malicious() {
                    counts.malicious += 1;
                } else {
                    counts.benign += 1;
                }
            };
            count(precision.by_pattern.entry((*pattern).clone()).or_default());
            count(
                precision
                    .by_rule
                    .entry(pattern.rule_id.clone())
                    .or_default(),
            );
        }
        precision
    }

    /// The judged alerts of `rule_id` across hosts (none judged: none).
    pub fn of_rule(&self, rule_id: &str) -> Option<Counts> {
        self.by_rule.get(rule_id).copied()
    }

    /// Verdicts learned from.
    pub fn verdicts(&self) -> usize {
        self.verdicts
    }

    pub fn is_empty(&self) -> bool {
        self.by_rule.is_empty()
    }

    /// What past verdicts say about an alert of `rule_id` on `host`: its own pattern's
    /// estimate when it has enough judged alerts, else its rule's across hosts.
    pub fn adjustment(&self, rule_id: &str, host: Option<&str>) -> Option<Adjustment> {
        let pattern = RulePattern {
            rule_id: rule_id.to_string(),
            host: host.map(str::to_lowercase),
        };
        let (counts, scope) = match self.by_pattern.get(&pattern) {
            Some(counts) if counts.total() >= PATTERN_EVIDENCE => {
                (*counts, "of this rule on this host")
            }
            _ => match self.by_rule.get(rule_id) {
                Some(counts) if counts.total() >= RULE_EVIDENCE => {
                    (*counts, "of this rule (all hosts)")
                }
                _ => return None,
            },
        };
        let mean = counts.mean();
        let (delta, judged) = if mean < 0.2 {
            (-40, "benign")
        } else if mean < 0.4 {
            (-20, "benign")
        } else if mean >= 0.8 {
            (10, "malicious")
        } else {
            return None;
        };
        let (count, total) = match judged {
            "benign" => (counts.benign, counts.total()),
            _ => (counts.malicious, counts.total()),
        };
        Some(Adjustment {
            delta,
            reason: format!(
                "{count} of {total} past alerts {scope} were judged {judged} (precision {mean:.2}) ({delta:+})"
            ),
        })
    }

    /// Patterns whose alerts analysts judged benign nearly always: candidates for an
    /// allowlist entry or a tuned rule, most judged first.
    pub fn suppressions(&self) -> Vec<Estimate> {
        let mut estimates: Vec<Estimate> = self
            .by_pattern
            .iter()
            .filter(|(_, counts)| counts.total() >= SUPPRESSION_EVIDENCE && counts.mean() < 0.2)
            .map(|(pattern, counts)| Estimate {
                pattern: pattern.clone(),
                counts: *counts,
                mean: counts.mean(),
            })
            .collect();
        estimates.sort_by(|a, b| {
            b.counts
                .total()
                .cmp(&a.counts.total())
                .then_with(|| a.pattern.cmp(&b.pattern))
        });
        estimates
    }

    /// Every pattern's estimate, by rule then host.
    pub fn estimates(&self) -> Vec<Estimate> {
        let mut estimates: Vec<Estimate> = self
            .by_pattern
            .iter()
            .map(|(pattern, counts)| Estimate {
                pattern: pattern.clone(),
                counts: *counts,
                mean: counts.mean(),
            })
            .collect();
        estimates.sort_by(|a, b| a.pattern.cmp(&b.pattern));
        estimates
    }
}

/// The alerts of `incident` as a verdict lists them: one per distinct alert, by rule and host
/// (the host the incident names for its records, else none).
pub fn judged_alerts(
    incident: &Incident,
    host_of: impl Fn(&AlertId) -> Option<String>,
) -> Vec<(AlertId, RulePattern)> {
    incident
        .alerts
        .iter()
        .map(|alert| {
            (
                alert.id.clone(),
                RulePattern {
                    rule_id: alert.rule_id.clone(),
                    host: host_of(&alert.id).map(|host| host.to_lowercase()),
                },
            )
        })
        .collect()
}

/// A person's verdict on a whole incident, ready to store: every distinct alert judged by
/// rule and the host of its record (looked up in `evidence`), with the audit entry that goes
/// with it.
pub fn incident_verdict(
    incident: &Incident,
    evidence: &dyn garrison_store::EvidenceStore,
    verdict: AnalystVerdict,
    by: String,
    note: Option<String>,
    at: garrison_model::Timestamp,
) -> Result<(VerdictRecord, garrison_store::AuditRecord), garrison_store::StoreError> {
    let mut hosts: HashMap<&AlertId, Option<String>> = HashMap::new();
    for alert in &incident.alerts {
        let host = evidence.event(alert.evidence)?.and_then(|event| event.host);
        hosts.insert(&alert.id, host);
    }
    let alerts = judged_alerts(incident, |alert| hosts.get(alert).cloned().flatten());
    let record = VerdictRecord {
        subject: VerdictSubject::Incident(incident.id.clone()),
        verdict,
        by,
        at,
        note,
        alerts,
    };
    let audit = verdict_audit(&record);
    Ok((record, audit))
}

/// The audit entry recording `record`.
pub fn verdict_audit(record: &VerdictRecord) -> garrison_store::AuditRecord {
    garrison_store::AuditRecord {
        actor: record.by.clone(),
        action: garrison_store::AuditAction::DecisionRecorded,
        subject: record.subject.to_string(),
        detail: format!(
            "verdict {} on {} alert(s){}",
            record.verdict,
            record.alerts.len(),
            record
                .note
                .as_deref()
                .map(|note| format!(": {note}"))
                .unwrap_or_default()
        ),
    }
}

/// Past incidents that share rules with `incident`, with their verdicts: the most shared
/// first, at most `limit` ("similar past incidents and their verdicts").
pub fn similar_judged(
    incident: &Incident,
    verdicts: &[VerdictRecord],
    limit: usize,
) -> Vec<(IncidentId, AnalystVerdict, usize)> {
    let rules: std::collections::BTreeSet<&str> = incident
        .alerts
        .iter()
        .map(|alert| alert.rule_id.as_str())
        .collect();
    let mut latest: BTreeMap<&IncidentId, &VerdictRecord> = BTreeMap::new();
    for record in verdicts {
        if let VerdictSubject::Incident(id) = &record.subject
            && *id != incident.id
        {
            latest.insert(id, record);
        }
    }
    let mut similar: Vec<(IncidentId, AnalystVerdict, usize)> = latest
        .into_iter()
        .filter_map(|(id, record)| {
            let shared: std::collections::BTreeSet<&str> = record
                .alerts
                .iter()
                .map(|(_, pattern)| pattern.rule_id.as_str())
                .filter(|rule| rules.contains(rule))
                .collect();
            (!shared.is_empty()).then(|| (id.clone(), record.verdict, shared.len()))
        })
        .collect();
    similar.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    similar.truncate(limit);
    similar
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::Timestamp;

    fn verdict(
        subject: VerdictSubject,
        verdict: AnalystVerdict,
        alerts: &[(&str, &str, &str)],
    ) -> VerdictRecord {
        VerdictRecord {
            subject,
            verdict,
            by: "user:ana".into(),
            at: Timestamp::UNIX_EPOCH,
            note: None,
            alerts: alerts
                .iter()
                .map(|(alert, rule, host)| {
                    (
                        AlertId((*alert).into()),
                        RulePattern {
                            rule_id: (*rule).into(),
                            host: Some((*host).into()),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn benign_patterns_are_scored_down_with_their_counts_and_alert_verdicts_win() {
        let incident = |id: &str| VerdictSubject::Incident(IncidentId(id.into()));
        let mut verdicts = Vec::new();
        for n in 0..14 {
            let alert = format!("a{n}");
            verdicts.push(verdict(
                incident(&format!("inc-{n}")),
                AnalystVerdict::FalsePositive,
                &[(alert.as_str(), "clamav", "mail")],
            ));
        }
        // An attack incident also listing a ClamAV alert; the analyst marks that alert benign.
        verdicts.push(verdict(
            incident("inc-x"),
            AnalystVerdict::TruePositive,
            &[
                ("b1", "webshell", "web"),
                ("b2", "clamav", "mail"),
                ("b3", "webshell", "web"),
                ("b4", "webshell", "web"),
            ],
        ));
        verdicts.push(verdict(
            VerdictSubject::Alert(AlertId("b2".into())),
            AnalystVerdict::BenignTruePositive,
            &[("b2", "clamav", "mail")],
        ));
        // A job on the file share, judged once.
        verdicts.push(verdict(
            incident("inc-y"),
            AnalystVerdict::FalsePositive,
            &[("c1", "new-job", "share")],
        ));
        let precision = Precision::from_verdicts(&verdicts);
        let once = precision.adjustment("new-job", Some("share")).unwrap();
        assert_eq!(
            once.reason,
            "1 of 1 past alerts of this rule on this host were judged benign (precision 0.33) (-20)"
        );
        let down = precision.adjustment("clamav", Some("MAIL")).unwrap();
        assert_eq!(down.delta, -40);
        assert_eq!(
            down.reason,
            "15 of 15 past alerts of this rule on this host were judged benign (precision 0.06) (-40)"
        );
        let up = precision.adjustment("webshell", Some("web")).unwrap();
        assert_eq!(up.delta, 10);
        // Another host: the rule's estimate across hosts.
        let elsewhere = precision.adjustment("clamav", Some("other")).unwrap();
        assert!(
            elsewhere.reason.contains("of this rule (all hosts)"),
            "{}",
            elsewhere.reason
        );
        assert!(precision.adjustment("unknown", Some("mail")).is_none());
        let suggested = precision.suppressions();
        assert_eq!(suggested.len(), 1);
        assert_eq!(suggested[0].pattern.rule_id, "clamav");
    }
}
