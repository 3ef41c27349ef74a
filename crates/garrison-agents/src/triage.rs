//! Triage: groups repeats of an alert (same rule, host and user within a window), scores each
//! alert (rule level, how noisy the rule has been, host and identity criticality from the
//! inventory), dismisses allowlisted ones, and decides: close, enrich or investigate.

use crate::AgentError;
use crate::baseline::{Baseline, BaselineConfig, Novelty, SavedBaseline};
use crate::messages::{TeamMessage, TriageDecision, TriagedAlert, Verdict};
use crate::runtime::{Agent, Context};
use garrison_model::{Alert, AlertId, Level, Timestamp};
use garrison_store::{AuditAction, AuditLog, AuditRecord};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// How important an asset or identity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    Low,
    Medium,
    High,
    Critical,
}

impl Criticality {
    fn bonus(self) -> u32 {
        match self {
            Criticality::Low => 0,
            Criticality::Medium => 5,
            Criticality::High => 10,
            Criticality::Critical => 15,
        }
    }
}

/// An alert known to be benign: every given condition must hold.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    pub rule_id: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub reason: String,
}

impl AllowRule {
    fn allows(&self, alert: &Alert) -> bool {
        let same = |wanted: &Option<String>, actual: Option<&str>| {
            wanted.as_deref().is_none_or(|wanted| {
                actual.is_some_and(|actual| actual.eq_ignore_ascii_case(wanted))
            })
        };
        (self.rule_id.is_some() || self.host.is_some() || self.user.is_some())
            && same(&self.rule_id, Some(&alert.rule.id))
            && same(&self.host, alert.host.as_deref())
            && same(&self.user, alert.user.as_deref())
    }
}

/// Hosts and identities with their criticality, and the allowlist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    hosts: HashMap<String, Asset>,
    users: HashMap<String, Asset>,
    allowlist: Vec<AllowRule>,
}

/// What the inventory says about one host or identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    pub name: String,
    pub criticality: Criticality,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    version: u32,
    #[serde(default)]
    hosts: Vec<Asset>,
    #[serde(default)]
    users: Vec<Asset>,
    #[serde(default)]
    allowlist: Vec<AllowRule>,
}

impl Inventory {
    /// Reads the inventory file (JSON, `"version": 1`); every problem is reported at once.
    pub fn from_json(text: &str) -> Result<Inventory, Vec<String>> {
        let raw: RawInventory =
            serde_json::from_str(text).map_err(|error| vec![format!("inventory: {error}")])?;
        let mut errors = Vec::new();
        if raw.version != 1 {
            errors.push(format!("version: {} is not supported (1 is)", raw.version));
        }
        let hosts = index_assets(raw.hosts, "hosts", &mut errors);
        let users = index_assets(raw.users, "users", &mut errors);
        for (i, rule) in raw.allowlist.iter().enumerate() {
            if rule.rule_id.is_none() && rule.host.is_none() && rule.user.is_none() {
                errors.push(format!(
                    "allowlist[{i}]: needs at least one of rule_id, host, user"
                ));
            }
            if rule.reason.trim().is_empty() {
                errors.push(format!("allowlist[{i}].reason: empty"));
            }
        }
        if errors.is_empty() {
            Ok(Inventory {
                hosts,
                users,
                allowlist: raw.allowlist,
            })
        } else {
            Err(errors)
        }
    }

    /// Reads an inventory of hosts and identities as delimited text: a header naming `kind`
    /// (`host` or `user`), `name` and `criticality`, and optionally `owner`, `role` and `tags`
    /// (separated by `;`); rows are given already split. Every problem is reported at once,
    /// by line. (The allowlist lives in the JSON form.)
    pub fn from_rows(
        header: &[String],
        rows: &[(u64, Vec<String>)],
    ) -> Result<Inventory, Vec<String>> {
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let mut errors = Vec::new();
        let (Some(kind), Some(name), Some(criticality)) =
            (column("kind"), column("name"), column("criticality"))
        else {
            return Err(vec![
                "inventory: the header must name kind, name and criticality".into(),
            ]);
        };
        let known = ["kind", "name", "criticality", "owner", "role", "tags"];
        for unknown in header
            .iter()
            .filter(|h| !known.iter().any(|k| h.trim().eq_ignore_ascii_case(k)))
        {
            errors.push(format!("inventory: unknown column {unknown:?}"));
        }
        let (owner, role, tags) = (column("owner"), column("role"), column("tags"));
        let mut hosts = Vec::new();
        let mut users = Vec::new();
        for (line, row) in rows {
            let cell = |index: Option<usize>| {
                index
                    .and_then(|i| row.get(i))
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            let level = match serde_json::from_value::<Criticality>(serde_json::Value::String(
                cell(Some(criticality)).unwrap_or_default().to_lowercase(),
            )) {
                Ok(level) => level,
                Err(_) => {
                    errors.push(format!(
                        "line {line}: criticality must be low, medium, high or critical"
                    ));
                    continue;
                }
            };
            let asset = Asset {
                name: cell(Some(name)).unwrap_or_default(),
                criticality: level,
                owner: cell(owner),
                role: cell(role),
                tags: cell(tags)
                    .map(|t| t.split(';').map(|t| t.trim().to_string()).collect())
                    .unwrap_or_default(),
            };
            match cell(Some(kind)).unwrap_or_default().to_lowercase().as_str() {
                "host" => hosts.push(asset),
                "user" => users.push(asset),
                other => errors.push(format!("line {line}: kind {other:?} is not host or user")),
            }
        }
        let hosts = index_assets(hosts, "hosts", &mut errors);
        let users = index_assets(users, "users", &mut errors);
        if errors.is_empty() {
            Ok(Inventory {
                hosts,
                users,
                allowlist: Vec::new(),
            })
        } else {
            Err(errors)
        }
    }

    /// What the inventory says about a host.
    pub fn host_details(&self, host: Option<&str>) -> Option<&Asset> {
        self.hosts.get(&host?.to_lowercase())
    }

    /// What the inventory says about an identity: by its name as given, or as the same person
    /// (`CORP\\dana`, `dana@corp.example` and `dana` are one).
    pub fn user_details(&self, user: Option<&str>) -> Option<&Asset> {
        let user = user?.to_lowercase();
        self.users
            .get(&user)
            .or_else(|| self.users.get(&crate::evidence::canonical_user(&user)))
    }

    fn host(&self, host: Option<&str>) -> Option<Criticality> {
        self.host_details(host).map(|asset| asset.criticality)
    }

    fn user(&self, user: Option<&str>) -> Option<Criticality> {
        self.user_details(user).map(|asset| asset.criticality)
    }
}

/// Hosts or identities by lower-cased name; empty and repeated names are errors.
fn index_assets(
    assets: Vec<Asset>,
    what: &str,
    errors: &mut Vec<String>,
) -> HashMap<String, Asset> {
    let mut map = HashMap::new();
    for (i, asset) in assets.into_iter().enumerate() {
        if asset.name.trim().is_empty() {
            errors.push(format!("{what}[{i}].name: empty"));
            continue;
        }
        let name = asset.name.clone();
        if map.insert(name.to_lowercase(), asset).is_some() {
            errors.push(format!("{what}[{i}].name: {name} listed twice"));
        }
    }
    map
}

/// Triage's settings.
#[derive(Debug, Clone)]
pub struct TriageConfig {
    /// Repeats of an alert within this long of the group's last one are grouped with it.
    pub group_window: jiff::SignedDuration,
    pub inventory: Inventory,
    /// Partitions triage is cut into (0 or 1: none). A partition counts only its own entities'
    /// alerts of a rule; the rule's whole count is estimated as that many times as large
    /// (entities spread evenly over partitions).
    pub partitions: u32,
    /// What analysts' verdicts taught: rules and rules on hosts judged benign (or
    /// malicious) again and again score down (or up).
    pub precision: Arc<crate::feedback::LivePrecision>,
    /// What usually fires where, and how long it learns before a rule can be new on a host.
    pub baseline: BaselineConfig,
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            group_window: jiff::SignedDuration::from_mins(10),
            inventory: Inventory::default(),
            partitions: 1,
            precision: Arc::default(),
            baseline: BaselineConfig::default(),
        }
    }
}

/// Score from which an alert is investigated, and from which it is enriched.
const INVESTIGATE_FROM: u32 = 40;
const ENRICH_FROM: u32 = 15;
/// A rule that fired this often already is noisy here.
const NOISY_AFTER: u64 = 100;
/// Decisions of failed batches kept for their redelivery, at most.
const IN_FLIGHT_KEPT: usize = 16 * crate::messages::ALERT_BATCH;

#[derive(Debug, Serialize, Deserialize)]
struct Group {
    first: AlertId,
    last_seen: Option<Timestamp>,
    verdict: Verdict,
    score: u32,
}

pub struct Triage {
    config: TriageConfig,
    audit: Arc<dyn AuditLog>,
    groups: HashMap<String, Group>,
    fired: HashMap<String, u64>,
    /// Decisions taken in a batch whose handling has not finished: when it fails part way
    /// (the audit log could not be written) and the batch comes back, the alerts already
    /// decided keep their decision instead of being counted, grouped and audited twice.
    in_flight: HashMap<AlertId, Option<TriagedAlert>>,
    baseline: Baseline,
}

impl Triage {
    pub fn new(config: TriageConfig, audit: Arc<dyn AuditLog>) -> Triage {
        Triage {
            baseline: Baseline::new(config.baseline.clone()),
            config,
            audit,
            groups: HashMap::new(),
            fired: HashMap::new(),
            in_flight: HashMap::new(),
        }
    }

    /// Scores an alert, with a reason per factor.
    fn score(&self, alert: &Alert, fired_before: u64, novelty: Novelty) -> (u32, Vec<String>) {
        let mut reasons = Vec::new();
        let base = match alert.rule.level {
            Level::Informational => 5,
            Level::Low => 20,
            Level::Medium => 45,
            Level::High => 70,
            Level::Critical => 90,
        };
        reasons.push(format!("rule level {} (+{base})", alert.rule.level));
        let mut score = base;
        if let Some(criticality) = self.config.inventory.host(alert.host.as_deref()) {
            score += criticality.bonus();
            reasons.push(format!(
                "host criticality {criticality:?} (+{})",
                criticality.bonus()
            ));
        }
        if let Some(criticality) = self.config.inventory.user(alert.user.as_deref()) {
            score += criticality.bonus();
            reasons.push(format!(
                "identity criticality {criticality:?} (+{})",
                criticality.bonus()
            ));
        }
        let partitions = u64::from(self.config.partitions.max(1));
        let estimated = fired_before * partitions;
        if fired_before == 0 {
            score += 5;
            reasons.push(match partitions {
                1 => "first time this rule fired (+5)".into(),
                _ => "first time this rule fired on these entities (+5)".into(),
            });
        } else if novelty == Novelty::New {
            score += 5;
            reasons.push("first time this rule fired on this host (+5)".into());
        }
        if estimated >= NOISY_AFTER {
            score = score.saturating_sub(10);
            reasons.push(match partitions {
                1 => format!("rule fired {fired_before} times already (-10)"),
                _ => format!(
                    "rule fired about {estimated} times already ({fired_before} in this \
                     partition of {partitions}) (-10)"
                ),
            });
        }
        if let Some(adjustment) = self
            .config
            .precision
            .get()
            .adjustment(&alert.rule.id, alert.host.as_deref())
        {
            score = score.saturating_add_signed(adjustment.delta);
            reasons.push(adjustment.reason);
        }
        (score.min(100), reasons)
    }
}

/// Groups remembered before old ones are dropped.
const GROUPS_KEPT: usize = 10_000;

impl Triage {
    /// Keeps memory bounded: once many groups are open, those quiet for a day before `now`
    /// are dropped (a later repeat of them starts a new group).
    fn forget_old_groups(&mut self, now: Option<Timestamp>) {
        if self.groups.len() < GROUPS_KEPT {
            return;
        }
        let Some(horizon) =
            now.and_then(|now| now.checked_sub(jiff::SignedDuration::from_hours(24)).ok())
        else {
            return;
        };
        self.groups
            .retain(|_, group| group.last_seen.is_none_or(|last| last >= horizon));
    }
}

fn group_key(alert: &Alert) -> String {
    format!(
        "{}|{}|{}",
        alert.rule.id,
        alert.host.as_deref().unwrap_or("").to_lowercase(),
        alert.user.as_deref().unwrap_or("").to_lowercase()
    )
}

fn within(window: jiff::SignedDuration, last: Option<Timestamp>, now: Option<Timestamp>) -> bool {
    match (last, now) {
        (Some(last), Some(now)) => now.duration_since(last).abs() <= window,
        // Without times, repeats of a rule on one host and user are one group.
        _ => true,
    }
}

/// Triage's state as a checkpoint holds it.
#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    /// By group key, sorted.
    groups: Vec<(String, Group)>,
    /// Alerts per rule, sorted.
    fired: Vec<(String, u64)>,
    /// Absent from an older build's checkpoint: the baseline learns again.
    #[serde(default)]
    baseline: SavedBaseline,
}

/// The version of [`Saved`] this build writes and reads.
const SAVED_VERSION: u32 = 1;

impl Agent<TeamMessage> for Triage {
    fn checkpoint(&self) -> Option<Vec<u8>> {
        let mut groups: Vec<(&String, &Group)> = self.groups.iter().collect();
        groups.sort_by(|a, b| a.0.cmp(b.0));
        let mut fired: Vec<(&String, &u64)> = self.fired.iter().collect();
        fired.sort();
        serde_json::to_vec(&serde_json::json!({
            "version": SAVED_VERSION,
            "groups": groups,
            "fired": fired,
            "baseline": self.baseline.save(),
        }))
        .ok()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let saved: Saved = serde_json::from_slice(state).map_err(|error| error.to_string())?;
        if saved.version != SAVED_VERSION {
            return Err(format!(
                "triage state version {} (this build reads {SAVED_VERSION})",
                saved.version
            ));
        }
        self.groups = saved.groups.into_iter().collect();
        self.fired = saved.fired.into_iter().collect();
        self.baseline.restore(saved.baseline);
        self.in_flight.clear();
        Ok(())
    }

    async fn handle(
        &mut self,
        envelope: &garrison_bus::Envelope<TeamMessage>,
        context: &Context,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        let TeamMessage::AlertRaised { alerts } = &envelope.payload else {
            return Err(AgentError::Permanent(
                "triage reads alert.raised only".into(),
            ));
        };
        // Each alert's decision, in order; nothing is copied unless the batch fails.
        let mut decided: Vec<Option<TriagedAlert>> = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let earlier = match self.in_flight.is_empty() {
                true => None,
                false => self.in_flight.remove(&alert.id),
            };
            let decision = match earlier {
                Some(earlier) => earlier,
                None => match self.triage(alert, context) {
                    Ok(decision) => decision,
                    Err(error) => {
                        // Kept for the batch's redelivery (a batch that never comes back is
                        // dropped once many are kept).
                        if self.in_flight.len() > IN_FLIGHT_KEPT {
                            self.in_flight.clear();
                        }
                        for (alert, decision) in alerts.iter().zip(decided) {
                            self.in_flight.insert(alert.id.clone(), decision);
                        }
                        return Err(error);
                    }
                },
            };
            decided.push(decision);
        }
        let triaged: Vec<TriagedAlert> = decided.into_iter().flatten().collect();
        if triaged.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![TeamMessage::AlertTriaged { triaged }])
    }
}

impl Triage {
    /// Triage's decision on one alert: `None` when it is closed here.
    fn triage(
        &mut self,
        alert: &Alert,
        context: &Context,
    ) -> Result<Option<TriagedAlert>, AgentError> {
        let key = group_key(alert);
        self.forget_old_groups(alert.timestamp);
        // State changes only once the alert's decision stands (its audit record, when it has
        // one, is written): an alert whose triage fails is triaged afresh when it comes back.
        let fired_before = self.fired.get(&alert.rule.id).copied().unwrap_or(0);
        let window = self.config.group_window;
        let (decision, new_group) = match self.groups.get_mut(&key) {
            Some(group) if within(window, group.last_seen, alert.timestamp) => {
                group.last_seen = group.last_seen.max(alert.timestamp);
                (
                    TriageDecision {
                        alert: alert.id.clone(),
                        group: key.clone(),
                        duplicate_of: Some(group.first.clone()),
                        score: group.score,
                        verdict: group.verdict,
                        reasons: vec![format!("repeat of {}", group.first)],
                        new_on_host: false,
                    },
                    false,
                )
            }
            _ => {
                let allowed = self
                    .config
                    .inventory
                    .allowlist
                    .iter()
                    .find(|rule| rule.allows(alert));
                let novelty =
                    self.baseline
                        .judge(&alert.rule.id, alert.host.as_deref(), alert.timestamp);
                let (score, mut reasons) = self.score(alert, fired_before, novelty);
                let verdict = if let Some(rule) = allowed {
                    reasons.push(format!("allowlisted: {}", rule.reason));
                    Verdict::Close
                } else if score >= INVESTIGATE_FROM {
                    Verdict::Investigate
                } else if score >= ENRICH_FROM {
                    Verdict::Enrich
                } else {
                    Verdict::Close
                };
                (
                    TriageDecision {
                        alert: alert.id.clone(),
                        group: key.clone(),
                        duplicate_of: None,
                        score,
                        verdict,
                        reasons,
                        new_on_host: novelty == Novelty::New,
                    },
                    true,
                )
            }
        };
        if new_group {
            if decision.verdict == Verdict::Close && !context.replaying {
                // A dismissal is a decision a human may want to revisit: it is audited.
                let record = AuditRecord {
                    actor: context.agent.to_string(),
                    action: AuditAction::DecisionRecorded,
                    subject: alert.id.to_string(),
                    detail: format!(
                        "closed (score {}): {}",
                        decision.score,
                        decision.reasons.join("; ")
                    ),
                };
                self.audit
                    .append(&record, context.clock.now())
                    .map_err(|error| AgentError::Temporary(error.to_string()))?;
            }
            self.groups.insert(
                key,
                Group {
                    first: alert.id.clone(),
                    last_seen: alert.timestamp,
                    verdict: decision.verdict,
                    score: decision.score,
                },
            );
        }
        *self.fired.entry(alert.rule.id.clone()).or_default() += 1;
        self.baseline
            .record(&alert.rule.id, alert.host.as_deref(), alert.timestamp);
        if decision.verdict == Verdict::Close {
            return Ok(None);
        }
        Ok(Some(TriagedAlert {
            alert: alert.clone(),
            decision,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[&[&str]]) -> Vec<(u64, Vec<String>)> {
        lines
            .iter()
            .enumerate()
            .map(|(i, row)| (i as u64 + 2, row.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    #[test]
    fn inventory_rows_name_hosts_and_people_in_every_form() {
        let header: Vec<String> = ["kind", "name", "criticality", "owner", "role", "tags"]
            .map(String::from)
            .to_vec();
        let inventory = Inventory::from_rows(
            &header,
            &rows(&[
                &[
                    "host",
                    "DC01.corp.example",
                    "critical",
                    "it.admin",
                    "domain controller",
                    "tier0;ad",
                ],
                &["user", "carol.diaz", "High", "", "cloud engineer", ""],
            ]),
        )
        .unwrap();
        let dc = inventory.host_details(Some("dc01.CORP.example")).unwrap();
        assert_eq!(dc.criticality, Criticality::Critical);
        assert_eq!(dc.tags, ["tier0", "ad"]);
        assert_eq!(dc.owner.as_deref(), Some("it.admin"));
        // One person under her Windows, identity-provider and cloud names.
        for name in ["carol.diaz", "CORP\\carol.diaz", "carol.diaz@corp.example"] {
            assert_eq!(
                inventory.user(Some(name)),
                Some(Criticality::High),
                "{name}"
            );
        }
        let errors = Inventory::from_rows(
            &["kind", "name", "criticality", "colour"].map(String::from),
            &rows(&[&["printer", "p1", "low", ""], &["host", "h1", "severe", ""]]),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("colour")));
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("line 2:") && e.contains("printer"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("line 3:") && e.contains("criticality"))
        );
    }

    #[test]
    fn inventory_errors_are_reported_together() {
        let errors = Inventory::from_json(
            r#"{"version": 2, "hosts": [{"name": "", "criticality": "high"}],
                "allowlist": [{"reason": ""}]}"#,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(Inventory::from_json(r#"{"version": 1, "colour": "red"}"#).is_err());
        let inventory = Inventory::from_json(
            r#"{"version": 1, "hosts": [{"name": "DC01", "criticality": "critical"}],
                "users": [{"name": "administrator", "criticality": "high"}]}"#,
        )
        .unwrap();
        assert_eq!(inventory.host(Some("dc01")), Some(Criticality::Critical));
        assert_eq!(
            inventory.user(Some("CORP\\Administrator")),
            Some(Criticality::High)
        );
    }

    #[test]
    fn scoring_follows_verdicts_given_while_triage_runs() {
        use crate::feedback::{LivePrecision, Precision};
        use garrison_model::feedback::{
            AnalystVerdict, RulePattern, VerdictRecord, VerdictSubject,
        };
        let live = Arc::new(LivePrecision::default());
        let config = TriageConfig {
            precision: live.clone(),
            ..TriageConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let audit = Arc::new(garrison_store::SqliteStore::open(dir.path()).unwrap());
        let triage = Triage::new(config, audit);
        let alert = Alert {
            id: AlertId("al-1".into()),
            rule: garrison_model::RuleRef {
                id: "clamav".into(),
                title: "ClamAV database update".into(),
                level: Level::Medium,
                tags: Vec::new(),
            },
            timestamp: None,
            source: garrison_model::EvidenceRef {
                path: Arc::from("alerts.csv"),
                member: None,
                record_id: 1,
                offset: 0,
            },
            evidence: garrison_model::EvidenceId(1),
            host: Some("mail".into()),
            user: None,
            channel: None,
            event_id: None,
            fields: Vec::new(),
            entities: Vec::new(),
        };
        let (before, _) = triage.score(&alert, 1, Novelty::Unknown);
        let judged = |n: usize| VerdictRecord {
            subject: VerdictSubject::Alert(AlertId(format!("al-{n}"))),
            verdict: AnalystVerdict::FalsePositive,
            by: "user:ana".into(),
            at: Timestamp::UNIX_EPOCH,
            note: None,
            alerts: vec![(
                AlertId(format!("al-{n}")),
                RulePattern {
                    rule_id: "clamav".into(),
                    host: Some("mail".into()),
                },
            )],
        };
        live.replace(Precision::from_verdicts(
            &(0..5).map(judged).collect::<Vec<_>>(),
        ));
        let (after, reasons) = triage.score(&alert, 1, Novelty::Unknown);
        assert_eq!(after, before - 40);
        assert!(
            reasons.iter().any(|reason| reason
                .starts_with("5 of 5 past alerts of this rule on this host were judged benign")),
            "{reasons:?}"
        );
    }
}
