//! The response configuration (`[response]` in a TOML file): the policy, autonomy per action
//! kind, protected targets, business hours and change freezes, approvals' expiry, retries,
//! playbooks and connectors. Every mistake is reported with where it is.

use crate::connector::ConnectorConfig;
use crate::playbook::Playbook;
use garrison_model::Level;
use garrison_model::action::{ActionKind, Autonomy, Target, TargetKind};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct ResponseConfig {
    /// The Cedar policy file; `None`: the shipped policy.
    pub policy: Option<PathBuf>,
    pub autonomy: BTreeMap<ActionKind, Autonomy>,
    /// Targets never acted on without a person, whatever the policy says.
    pub protected: Vec<Target>,
    pub time_zone: TimeZone,
    /// Weekdays (1 Monday .. 7 Sunday) and hours [from, to) counted as business hours.
    pub business_days: Vec<u8>,
    pub business_hours: (u8, u8),
    pub change_freezes: Vec<(Timestamp, Timestamp)>,
    /// Awaiting approvals expire after this.
    pub approval_expiry: Duration,
    /// Calls per action for transient failures (1: no retry).
    pub max_attempts: u32,
    /// First wait between attempts; doubled each time.
    pub retry_backoff: Duration,
    /// Per HTTP call.
    pub timeout: Duration,
    /// A file of extra certificate authorities for connectors.
    pub ca_file: Option<PathBuf>,
    /// At most this many targets per action kind per incident.
    pub max_targets: usize,
    pub playbooks: Vec<Playbook>,
    pub connectors: Vec<ConnectorConfig>,
    /// Who gets assigned approvals by default.
    pub assignee: Option<String>,
    /// Escalation tiers, in order: an escalated incident nobody acknowledged within a
    /// tier's delay notifies that tier.
    pub escalation: Vec<EscalationTier>,
}

/// One tier of the escalation path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationTier {
    /// The team notified (`tier2`, `on-call`).
    pub tier: String,
    /// How long after the incident was escalated, unacknowledged.
    pub after: Duration,
    /// Incidents at least this severe.
    pub min_severity: Level,
    /// The connector that notifies it (a webhook to chat or a paging tool).
    pub connector: String,
}

impl Default for ResponseConfig {
    fn default() -> ResponseConfig {
        ResponseConfig {
            policy: None,
            autonomy: default_autonomy(),
            protected: Vec::new(),
            time_zone: TimeZone::UTC,
            business_days: vec![1, 2, 3, 4, 5],
            business_hours: (8, 18),
            change_freezes: Vec::new(),
            approval_expiry: Duration::from_secs(4 * 3600),
            max_attempts: 3,
            retry_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            ca_file: None,
            max_targets: 5,
            playbooks: Playbook::defaults(),
            connectors: Vec::new(),
            assignee: None,
            escalation: Vec::new(),
        }
    }
}

/// Containment with approval, tickets and notifications alone.
fn default_autonomy() -> BTreeMap<ActionKind, Autonomy> {
    ActionKind::ALL
        .into_iter()
        .map(|kind| {
            let autonomy = match kind {
                ActionKind::OpenTicket | ActionKind::Notify => Autonomy::ActThenNotify,
                ActionKind::ResetCredentials => Autonomy::Propose,
                _ => Autonomy::ActWithApproval,
            };
            (kind, autonomy)
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    response: Option<RawResponse>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponse {
    policy: Option<PathBuf>,
    #[serde(default)]
    autonomy: BTreeMap<String, Autonomy>,
    #[serde(default)]
    protected: Vec<String>,
    time_zone: Option<String>,
    business_days: Option<Vec<u8>>,
    business_hours: Option<[u8; 2]>,
    #[serde(default)]
    change_freeze: Vec<RawWindow>,
    approval_expiry_minutes: Option<u64>,
    max_attempts: Option<u32>,
    retry_backoff_ms: Option<u64>,
    timeout_seconds: Option<f64>,
    ca_file: Option<PathBuf>,
    max_targets: Option<usize>,
    assignee: Option<String>,
    #[serde(default)]
    playbook: Vec<RawPlaybook>,
    #[serde(default)]
    connector: Vec<ConnectorConfig>,
    #[serde(default)]
    escalation: Vec<RawTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    tier: String,
    after_minutes: u64,
    min_severity: Option<Level>,
    connector: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    from: Timestamp,
    to: Timestamp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    name: String,
    #[serde(default)]
    tactics: Vec<String>,
    min_severity: Option<Level>,
    min_confidence: Option<f64>,
    #[serde(default)]
    escalated_only: bool,
    actions: Vec<ActionKind>,
}

impl ResponseConfig {
    /// Reads the `[response]` section of `path` (paths in it are relative to the file).
    pub fn load(path: &Path) -> Result<ResponseConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let mut config =
            ResponseConfig::parse(&text).map_err(|error| format!("{}: {error}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for file in [&mut config.policy, &mut config.ca_file]
            .into_iter()
            .flatten()
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        Ok(config)
    }

    /// Parses a configuration's text; a file without `[response]` gives the defaults.
    pub fn parse(text: &str) -> Result<ResponseConfig, String> {
        let raw: RawFile = toml::from_str(text).map_err(|error| error.to_string())?;
        let mut config = ResponseConfig::default();
        let Some(raw) = raw.response else {
            return Ok(config);
        };
        let mut errors = Vec::new();
        config.policy = raw.policy;
        for (name, autonomy) in raw.autonomy {
            match ActionKind::parse(&name) {
                Some(kind) => {
                    config.autonomy.insert(kind, autonomy);
                }
                None => errors.push(format!("response.autonomy.{name}: no such action kind")),
            }
        }
        for entry in raw.protected {
            match parse_target(&entry) {
                Ok(target) => config.protected.push(target),
                Err(error) => errors.push(format!("response.protected {entry:?}: {error}")),
            }
        }
        if let Some(zone) = raw.time_zone {
            match TimeZone::get(&zone) {
                Ok(zone) => config.time_zone = zone,
                Err(error) => errors.push(format!("response.time_zone {zone:?}: {error}")),
            }
        }
        if let Some(days) = raw.business_days {
            if days.iter().any(|day| !(1..=7).contains(day)) {
                errors.push("response.business_days: 1 (Monday) to 7 (Sunday)".into());
            }
            config.business_days = days;
        }
        if let Some([from, to]) = raw.business_hours {
            if from >= to || to > 24 {
                errors.push(format!(
                    "response.business_hours [{from}, {to}]: from before to, within 0..24"
                ));
            }
            config.business_hours = (from, to);
        }
        for window in raw.change_freeze {
            if window.from >= window.to {
                errors.push(format!(
                    "response.change_freeze {} .. {}: ends before it starts",
                    window.from, window.to
                ));
            }
            config.change_freezes.push((window.from, window.to));
        }
        if let Some(minutes) = raw.approval_expiry_minutes {
            if minutes == 0 {
                errors.push("response.approval_expiry_minutes: at least 1".into());
            }
            config.approval_expiry = Duration::from_secs(minutes * 60);
        }
        if let Some(attempts) = raw.max_attempts {
            if !(1..=10).contains(&attempts) {
                errors.push("response.max_attempts: 1 to 10".into());
            }
            config.max_attempts = attempts;
        }
        if let Some(ms) = raw.retry_backoff_ms {
            config.retry_backoff = Duration::from_millis(ms);
        }
        if let Some(seconds) = raw.timeout_seconds {
            if !(0.1..=300.0).contains(&seconds) {
                errors.push("response.timeout_seconds: 0.1 to 300".into());
            } else {
                config.timeout = Duration::from_secs_f64(seconds);
            }
        }
        config.ca_file = raw.ca_file;
        if let Some(max) = raw.max_targets {
            if max == 0 {
                errors.push("response.max_targets: at least 1".into());
            }
            config.max_targets = max;
        }
        config.assignee = raw.assignee;
        if !raw.playbook.is_empty() {
            config.playbooks = raw
                .playbook
                .into_iter()
                .map(|playbook| Playbook {
                    name: playbook.name,
                    tactics: playbook.tactics,
                    min_severity: playbook.min_severity.unwrap_or(Level::Informational),
                    min_confidence: playbook.min_confidence.unwrap_or(0.0),
                    escalated_only: playbook.escalated_only,
                    actions: playbook.actions,
                })
                .collect();
        }
        let mut names = std::collections::BTreeSet::new();
        for connector in &raw.connector {
            if !names.insert(connector.name.clone()) {
                errors.push(format!(
                    "response.connector {:?}: named twice",
                    connector.name
                ));
            }
        }
        for tier in raw.escalation {
            if !names.contains(&tier.connector) {
                errors.push(format!(
                    "response.escalation {:?}: no connector named {:?}",
                    tier.tier, tier.connector
                ));
            }
            if tier.tier.trim().is_empty() {
                errors.push("response.escalation: a tier needs a name".into());
            }
            config.escalation.push(EscalationTier {
                tier: tier.tier,
                after: Duration::from_secs(tier.after_minutes * 60),
                min_severity: tier.min_severity.unwrap_or(Level::Critical),
                connector: tier.connector,
            });
        }
        config.connectors = raw.connector;
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors.join("; "))
        }
    }

    /// The autonomy of `kind`.
    pub fn autonomy_of(&self, kind: ActionKind) -> Autonomy {
        self.autonomy
            .get(&kind)
            .copied()
            .unwrap_or(Autonomy::ActWithApproval)
    }

    /// True when `target` is on the protected list (names compared without case).
    pub fn is_protected(&self, target: &Target) -> bool {
        self.protected.iter().any(|protected| {
            protected.kind == target.kind && protected.value.eq_ignore_ascii_case(&target.value)
        })
    }

    /// The clock as policies see it at `now`: hour, weekday, business hours, change freeze.
    pub fn clock(&self, now: Timestamp) -> (u8, u8, bool, bool) {
        let local = now.to_zoned(self.time_zone.clone());
        let hour = local.hour() as u8;
        let weekday = local.weekday().to_monday_one_offset() as u8;
        let business = self.business_days.contains(&weekday)
            && hour >= self.business_hours.0
            && hour < self.business_hours.1;
        let freeze = self
            .change_freezes
            .iter()
            .any(|(from, to)| *from <= now && now < *to);
        (hour, weekday, business, freeze)
    }
}

/// `host:ws01`, `user:CORP\dana`, `ip:10.0.0.1`, ...
pub fn parse_target(text: &str) -> Result<Target, String> {
    let (kind, value) = text
        .split_once(':')
        .ok_or_else(|| "write KIND:VALUE (host:dc01, user:CORP\\admin, ip:10.0.0.1)".to_string())?;
    let kind = match kind {
        "host" => TargetKind::Host,
        "user" => TargetKind::User,
        "process" => TargetKind::Process,
        "file" => TargetKind::File,
        "ip" => TargetKind::Ip,
        "domain" => TargetKind::Domain,
        "url" => TargetKind::Url,
        "incident" => TargetKind::Incident,
        "team" => TargetKind::Team,
        other => return Err(format!("{other:?} is not a target kind")),
    };
    if value.trim().is_empty() {
        return Err("the value is empty".into());
    }
    Ok(Target {
        kind,
        value: value.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_reads_every_setting_and_reports_every_mistake() {
        let config = ResponseConfig::parse(
            r#"
            [response]
            time_zone = "Europe/Vienna"
            protected = ["host:DC01", "user:CORP\\admin"]
            business_hours = [7, 19]
            change_freeze = [{ from = "2026-12-20T00:00:00Z", to = "2027-01-04T00:00:00Z" }]
            approval_expiry_minutes = 30
            [response.autonomy]
            isolate_host = "act_then_notify"
            [[response.playbook]]
            name = "c2"
            tactics = ["command-and-control"]
            actions = ["block_ip"]
            [[response.connector]]
            name = "fw"
            type = "blocklist"
            url = "https://fw.example/api/lists/garrison"
            [[response.connector]]
            name = "pager"
            type = "webhook"
            url = "https://pager.example/v2/enqueue"
            [[response.escalation]]
            tier = "tier2"
            after_minutes = 15
            connector = "pager"
            "#,
        )
        .unwrap();
        assert_eq!(
            config.autonomy_of(ActionKind::IsolateHost),
            Autonomy::ActThenNotify
        );
        assert_eq!(
            config.autonomy_of(ActionKind::BlockIp),
            Autonomy::ActWithApproval
        );
        assert!(config.is_protected(&Target {
            kind: TargetKind::Host,
            value: "dc01".into()
        }));
        assert_eq!(config.approval_expiry, Duration::from_secs(1800));
        assert_eq!(config.playbooks.len(), 1);
        assert_eq!(config.connectors[0].name, "fw");
        assert_eq!(
            config.escalation,
            [EscalationTier {
                tier: "tier2".into(),
                after: Duration::from_secs(900),
                min_severity: Level::Critical,
                connector: "pager".into(),
            }]
        );
        // 2026-12-21 is a Monday; 07:30 UTC is 08:30 in Vienna, inside the freeze.
        let (hour, weekday, business, freeze) =
            config.clock("2026-12-21T07:30:00Z".parse().unwrap());
        assert_eq!((hour, weekday, business, freeze), (8, 1, true, true));
        let errors = ResponseConfig::parse(
            r#"
            [response]
            protected = ["server:x"]
            business_hours = [18, 8]
            [response.autonomy]
            launch_missiles = "propose"
            [[response.escalation]]
            tier = "tier3"
            after_minutes = 60
            connector = "nowhere"
            "#,
        )
        .unwrap_err();
        for needle in ["server", "business_hours", "launch_missiles", "nowhere"] {
            assert!(errors.contains(needle), "{errors}");
        }
    }
}
