//! Alerts other tools raised, as Garrison detections: Suricata (EVE `alert`), Wazuh
//! (`alerts.json`), Microsoft Sentinel / Defender (`SecurityAlert` rows) and alert sources read
//! through a field mapping ([`crate::mapping`]). Their alerts join the investigation as if a
//! rule of ours had matched: the rule is the tool's own (its id, name, severity and ATT&CK
//! mapping), so triage, grouping and the incident's ATT&CK chain treat them alike.

use garrison_model::detection::{RuleInfo, RuleKind};
use garrison_model::{Detection, Event, Level, RecordFormat};
use std::collections::HashMap;
use std::sync::Arc;

/// What an alert record says, whatever tool wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertParts<'e> {
    /// `suricata`, `wazuh`, `sentinel`, or a mapping's name.
    pub product: &'e str,
    /// The tool's id of the rule or alert type.
    pub rule_id: String,
    pub title: &'e str,
    pub level: Level,
    /// Sigma-style tags: `attack.<tactic>`, `attack.t1234`.
    pub tags: Vec<String>,
    pub description: Option<&'e str>,
    /// The host the alert is about, when the tool names one.
    pub host: Option<&'e str>,
    /// Fields that tell the alert apart, shown with the detection.
    pub fields: Vec<(&'static str, &'e str)>,
}

/// The alert a record carries, if it is one.
pub fn alert_parts(event: &Event) -> Option<AlertParts<'_>> {
    match event.format {
        RecordFormat::Suricata => suricata(event),
        RecordFormat::Wazuh => wazuh(event),
        RecordFormat::SentinelAlert => sentinel(event),
        RecordFormat::MappedAlert => mapped(event),
        RecordFormat::Cef => cef(event),
        RecordFormat::Leef => leef(event),
        _ => None,
    }
}

/// Turns alert records into detections, one shared rule description per tool rule.
#[derive(Debug, Default)]
pub struct ExternalAlerts {
    rules: HashMap<String, Arc<RuleInfo>>,
}

impl ExternalAlerts {
    /// The detection of an alert record; `None` for other records.
    pub fn detection(&mut self, event: &Event) -> Option<Detection> {
        let parts = alert_parts(event)?;
        let id = format!("{}:{}", parts.product, parts.rule_id);
        let rule = match self.rules.get(&id) {
            Some(rule) if rule.title == parts.title && rule.level == parts.level => rule.clone(),
            _ => {
                let rule = Arc::new(rule_of(&parts, id.clone()));
                self.rules.insert(id, rule.clone());
                rule
            }
        };
        Some(Detection {
            rule,
            timestamp: event.timestamp,
            evidence: event.evidence.clone(),
            // The host the alert is about; a network device's own name is not it (its alerts
            // find their host by address instead).
            computer: parts.host.map(str::to_string).or_else(|| {
                (!matches!(event.format, RecordFormat::Cef | RecordFormat::Leef))
                    .then(|| event.computer().map(str::to_string))
                    .flatten()
            }),
            channel: None,
            event_id: None,
            fields: parts
                .fields
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            correlation: None,
        })
    }
}

fn rule_of(parts: &AlertParts, id: String) -> RuleInfo {
    RuleInfo {
        id,
        title: parts.title.to_string(),
        level: parts.level,
        tags: parts.tags.clone(),
        status: None,
        description: parts.description.map(str::to_string),
        author: Some(parts.product.to_string()),
        references: Vec::new(),
        falsepositives: Vec::new(),
        path: format!("external:{}", parts.product),
        kind: RuleKind::Detection,
    }
}

/// A Sigma-style tactic tag from a tactic's name in any spelling (`Defense Evasion`,
/// `DefenseEvasion`, `defense_evasion`, `Command_And_Control`).
pub fn tactic_tag(name: &str) -> Option<String> {
    let mut slug = String::new();
    let mut previous_lower = false;
    for c in name.trim().chars() {
        if c.is_ascii_uppercase() && previous_lower {
            slug.push('-');
        }
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        previous_lower = c.is_ascii_lowercase();
    }
    let slug = slug.trim_end_matches('-');
    garrison_model::incident::tactic_rank(slug).map(|_| format!("attack.{slug}"))
}

/// A Sigma-style technique tag (`T1059.001` -> `attack.t1059.001`) of a valid id.
pub fn technique_tag(id: &str) -> Option<String> {
    let id = id.trim().trim_matches('"');
    let digits = id.strip_prefix(['T', 't'])?;
    let (main, sub) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && (sub.is_empty() || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())));
    valid.then(|| format!("attack.{}", id.to_ascii_lowercase()))
}

/// Every value of `name` (array elements repeat the name).
fn all<'e>(event: &'e Event, name: &'e str) -> impl Iterator<Item = &'e str> + 'e {
    event.fields.get_all(name).map(|field| field.value)
}

fn present<'e>(event: &'e Event, name: &str) -> Option<&'e str> {
    event
        .rule_field(name)
        .map(str::trim)
        .filter(|value| !value.is_empty() && *value != "-")
}

fn suricata(event: &Event) -> Option<AlertParts<'_>> {
    if event.field("event_type") != Some("alert") {
        return None;
    }
    let title = present(event, "alert.signature")?;
    let level = match present(event, "alert.severity") {
        Some("1") => Level::High,
        Some("2") => Level::Medium,
        Some("3") => Level::Low,
        _ => Level::Informational,
    };
    // ET rules name the ATT&CK mapping in their metadata.
    let mut tags: Vec<String> = all(event, "alert.metadata.mitre_tactic_name")
        .chain(all(event, "alert.metadata.mitre_tactic_id"))
        .filter_map(tactic_tag)
        .chain(all(event, "alert.metadata.mitre_technique_id").filter_map(technique_tag))
        .collect();
    tags.dedup();
    let mut fields = vec![("alert.signature", title)];
    for name in ["src_ip", "dest_ip", "dest_port", "alert.category"] {
        if let Some(value) = present(event, name) {
            fields.push((field_name(name), value));
        }
    }
    Some(AlertParts {
        product: "suricata",
        rule_id: format!(
            "{}:{}",
            present(event, "alert.gid").unwrap_or("1"),
            present(event, "alert.signature_id").unwrap_or("0")
        ),
        title,
        level,
        tags,
        description: present(event, "alert.category"),
        host: None,
        fields,
    })
}

/// Field names as `'static` (the detection keeps them).
fn field_name(name: &str) -> &'static str {
    const NAMES: [&str; 23] = [
        "src",
        "dst",
        "suser",
        "duser",
        "act",
        "dhost",
        "usrName",
        "cat",
        "cef.device_product",
        "src_ip",
        "dest_ip",
        "dest_port",
        "alert.category",
        "rule.description",
        "agent.ip",
        "data.srcip",
        "data.srcuser",
        "data.dstuser",
        "full_log",
        "CompromisedEntity",
        "AlertName",
        "ProductName",
        "ip",
    ];
    NAMES
        .into_iter()
        .find(|known| *known == name)
        .unwrap_or("field")
}

/// Wazuh's rule levels (0-15) on Sigma's scale.
fn wazuh_level(level: i64) -> Level {
    match level {
        15.. => Level::Critical,
        12..=14 => Level::High,
        7..=11 => Level::Medium,
        4..=6 => Level::Low,
        _ => Level::Informational,
    }
}

fn wazuh(event: &Event) -> Option<AlertParts<'_>> {
    let title = present(event, "rule.description")?;
    let level = wazuh_level(present(event, "rule.level")?.parse().ok()?);
    let mut tags: Vec<String> = all(event, "rule.mitre.tactic")
        .filter_map(tactic_tag)
        .chain(all(event, "rule.mitre.id").filter_map(technique_tag))
        .collect();
    tags.dedup();
    let mut fields = vec![("rule.description", title)];
    for name in [
        "agent.ip",
        "data.srcip",
        "data.srcuser",
        "data.dstuser",
        "full_log",
    ] {
        if let Some(value) = present(event, name) {
            fields.push((field_name(name), value));
        }
    }
    Some(AlertParts {
        product: "wazuh",
        rule_id: present(event, "rule.id")?.to_string(),
        title,
        level,
        tags,
        description: None,
        host: present(event, "agent.name"),
        fields,
    })
}

fn sentinel(event: &Event) -> Option<AlertParts<'_>> {
    let title = present(event, "AlertName").or_else(|| present(event, "DisplayName"))?;
    let level = match present(event, "AlertSeverity")?
        .to_ascii_lowercase()
        .as_str()
    {
        "high" => Level::High,
        "medium" => Level::Medium,
        "low" => Level::Low,
        _ => Level::Informational,
    };
    // `Tactics` is a comma-separated list; `Techniques` a JSON array as text.
    let mut tags: Vec<String> = present(event, "Tactics")
        .unwrap_or_default()
        .split(',')
        .filter_map(tactic_tag)
        .collect();
    tags.extend(
        present(event, "Techniques")
            .unwrap_or_default()
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '.')
            .filter_map(technique_tag),
    );
    let mut fields = vec![("AlertName", title)];
    for name in ["CompromisedEntity", "ProductName"] {
        if let Some(value) = present(event, name) {
            fields.push((field_name(name), value));
        }
    }
    let rule_id = present(event, "AlertType")
        .filter(|kind| !kind.is_empty())
        .unwrap_or(title);
    Some(AlertParts {
        product: "sentinel",
        rule_id: rule_id.to_string(),
        title,
        level,
        tags,
        description: present(event, "Description"),
        host: present(event, "CompromisedEntity"),
        fields,
    })
}

/// CEF severity (0-10, or its words) on Sigma's scale.
fn cef_level(severity: &str) -> Level {
    match severity.trim().to_ascii_lowercase().as_str() {
        "very-high" | "very high" | "9" | "10" => Level::Critical,
        "high" | "7" | "8" => Level::High,
        "medium" | "4" | "5" | "6" => Level::Medium,
        "low" | "1" | "2" | "3" => Level::Low,
        _ => Level::Informational,
    }
}

fn context_fields<'e>(event: &'e Event, names: &[&str]) -> Vec<(&'static str, &'e str)> {
    names
        .iter()
        .filter_map(|name| present(event, name).map(|value| (field_name(name), value)))
        .collect()
}

fn cef(event: &Event) -> Option<AlertParts<'_>> {
    let title = present(event, "cef.name")?;
    let mut fields = vec![("cef.device_product", present(event, "cef.device_product")?)];
    fields.extend(context_fields(
        event,
        &["src", "dst", "suser", "duser", "act"],
    ));
    Some(AlertParts {
        product: present(event, "cef.device_product")?,
        rule_id: present(event, "cef.signature_id")
            .unwrap_or(title)
            .to_string(),
        title,
        level: cef_level(present(event, "cef.severity").unwrap_or_default()),
        tags: Vec::new(),
        description: present(event, "msg"),
        host: present(event, "dhost"),
        fields,
    })
}

fn leef(event: &Event) -> Option<AlertParts<'_>> {
    let event_id = present(event, "leef.event_id")?;
    let title = present(event, "msg")
        .or_else(|| present(event, "cat"))
        .unwrap_or(event_id);
    Some(AlertParts {
        product: present(event, "leef.product")?,
        rule_id: event_id.to_string(),
        title,
        level: cef_level(present(event, "sev").unwrap_or_default()),
        tags: Vec::new(),
        description: present(event, "cat"),
        host: present(event, "dstName"),
        fields: context_fields(event, &["src", "dst", "usrName", "cat"]),
    })
}

fn mapped(event: &Event) -> Option<AlertParts<'_>> {
    use crate::mapping::fields as canonical;
    let title = present(event, canonical::TITLE)?;
    let level = present(event, canonical::SEVERITY)
        .and_then(|text| text.parse::<Level>().ok())
        .unwrap_or(Level::Medium);
    let mut tags: Vec<String> = all(event, canonical::TACTIC)
        .filter_map(tactic_tag)
        .chain(all(event, canonical::TECHNIQUE).filter_map(technique_tag))
        .collect();
    tags.dedup();
    let mut fields = vec![];
    if let Some(ip) = present(event, canonical::IP) {
        fields.push(("ip", ip));
    }
    Some(AlertParts {
        product: present(event, canonical::SOURCE).unwrap_or("mapped"),
        rule_id: present(event, canonical::RULE_ID)
            .unwrap_or(title)
            .to_string(),
        title,
        level,
        tags,
        description: None,
        host: present(event, canonical::HOST),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactic_names_in_every_spelling() {
        for name in [
            "Defense Evasion",
            "DefenseEvasion",
            "defense_evasion",
            "defense-evasion",
        ] {
            assert_eq!(
                tactic_tag(name).as_deref(),
                Some("attack.defense-evasion"),
                "{name}"
            );
        }
        assert_eq!(
            tactic_tag("Command_And_Control").as_deref(),
            Some("attack.command-and-control")
        );
        assert_eq!(
            tactic_tag(" Discovery").as_deref(),
            Some("attack.discovery")
        );
        assert_eq!(tactic_tag("PreAttack"), None);
        // ATT&CK v18's tactics too.
        assert_eq!(tactic_tag("Stealth").as_deref(), Some("attack.stealth"));
        assert_eq!(
            technique_tag("T1059.001").as_deref(),
            Some("attack.t1059.001")
        );
        assert_eq!(technique_tag("\"T1082\"").as_deref(), Some("attack.t1082"));
        assert_eq!(technique_tag("T10"), None);
    }

    #[test]
    fn wazuh_levels() {
        assert_eq!(wazuh_level(3), Level::Informational);
        assert_eq!(wazuh_level(5), Level::Low);
        assert_eq!(wazuh_level(10), Level::Medium);
        assert_eq!(wazuh_level(12), Level::High);
        assert_eq!(wazuh_level(15), Level::Critical);
    }
}
