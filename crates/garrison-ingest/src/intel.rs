//! Threat intelligence: indicators from STIX 2.1 bundles and MISP events, matched against every
//! value of every record as it is read (one hash lookup per value). A match is a detection
//! under the indicator: its name, its confidence or threat level as the level, and the ATT&CK
//! tactics its kill chain names.
//!
//! Indicators read: STIX `indicator` objects whose pattern compares `ipv4-addr:value`,
//! `ipv6-addr:value`, `domain-name:value`, `url:value` or `file:hashes.*` for equality (each
//! comparison of an `OR` is an indicator; other patterns are counted as not usable); MISP
//! attributes of types `ip-src`, `ip-dst`, `domain`, `hostname`, `url`, `md5`, `sha1`, `sha256`
//! and their `|port` / `filename|` forms. A MISP feed is read as its folder: `manifest.json`
//! and the event files it names.

use garrison_model::detection::{RuleInfo, RuleKind};
use garrison_model::{Detection, Event, Level};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A loaded set of indicators, by lower-cased value.
#[derive(Debug, Default)]
pub struct IntelSet {
    indicators: HashMap<String, Arc<RuleInfo>>,
    /// Indicator objects or attributes that could not be used, with the reason.
    pub skipped: Vec<String>,
}

/// Why an intelligence file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("intelligence file {path}: {reason}")]
pub struct IntelError {
    pub path: String,
    pub reason: String,
}

impl IntelSet {
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Adds the indicators of a STIX 2.1 bundle or a MISP event (or MISP search response), or
    /// of a folder: a MISP feed (`manifest.json` naming its events, each in `<uuid>.json`), or
    /// else every `.json` file in it.
    pub fn load(&mut self, path: &Path) -> Result<(), IntelError> {
        if path.is_dir() {
            return self.load_folder(path);
        }
        self.load_file(path)
    }

    fn load_folder(&mut self, folder: &Path) -> Result<(), IntelError> {
        let error = |reason: String| IntelError {
            path: folder.display().to_string(),
            reason,
        };
        let manifest = folder.join("manifest.json");
        if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest).map_err(|e| error(e.to_string()))?;
            let document: Value =
                serde_json::from_str(&text).map_err(|e| error(format!("manifest.json: {e}")))?;
            let events = document
                .as_object()
                .ok_or_else(|| error("manifest.json is not an object of events by uuid".into()))?;
            for uuid in events.keys() {
                // The manifest is the feed's word, not ours: a name that is not a uuid could
                // point outside the folder.
                if uuid.is_empty() || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                    self.skipped.push(format!(
                        "MISP feed {}: {uuid:?} is not an event uuid",
                        folder.display()
                    ));
                    continue;
                }
                let file = folder.join(format!("{uuid}.json"));
                if !file.is_file() {
                    self.skipped.push(format!(
                        "MISP feed {}: event {uuid} is in the manifest but not in the folder",
                        folder.display()
                    ));
                    continue;
                }
                self.load_file(&file)?;
            }
            return Ok(());
        }
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(folder)
            .map_err(|e| error(e.to_string()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "json"))
            .collect();
        if files.is_empty() {
            return Err(error(
                "no manifest.json and no .json intelligence files".into(),
            ));
        }
        files.sort();
        for file in files {
            self.load_file(&file)?;
        }
        Ok(())
    }

    fn load_file(&mut self, path: &Path) -> Result<(), IntelError> {
        let error = |reason: String| IntelError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let document: Value = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
        let origin = path.display().to_string();
        if document.get("type").and_then(Value::as_str) == Some("bundle") {
            for object in document["objects"].as_array().into_iter().flatten() {
                if object.get("type").and_then(Value::as_str) == Some("indicator") {
                    self.stix_indicator(object, &origin);
                }
            }
        } else if let Some(event) = document.get("Event") {
            self.misp_event(event, &origin);
        } else if let Some(response) = document.get("response").and_then(Value::as_array) {
            for item in response {
                if let Some(event) = item.get("Event") {
                    self.misp_event(event, &origin);
                }
            }
        } else {
            return Err(error(
                "neither a STIX 2.1 bundle nor a MISP event or search response".into(),
            ));
        }
        Ok(())
    }

    fn add(&mut self, value: &str, rule: Arc<RuleInfo>) {
        let value = value.trim().to_lowercase();
        if !value.is_empty() {
            self.indicators.insert(value, rule);
        }
    }

    fn stix_indicator(&mut self, object: &Value, origin: &str) {
        let id = object["id"].as_str().unwrap_or("indicator");
        let pattern = object["pattern"].as_str().unwrap_or_default();
        let values = stix_values(pattern);
        if values.is_empty() {
            self.skipped
                .push(format!("{id}: pattern not usable for matching: {pattern}"));
            return;
        }
        let level = match object["confidence"].as_i64() {
            Some(80..) => Level::High,
            Some(50..=79) => Level::Medium,
            Some(_) => Level::Low,
            None => Level::Medium,
        };
        let tags = object["kill_chain_phases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|phase| {
                phase["kill_chain_name"]
                    .as_str()
                    .is_some_and(|name| name.starts_with("mitre"))
            })
            .filter_map(|phase| phase["phase_name"].as_str())
            .filter_map(crate::alerts::tactic_tag)
            .collect();
        let name = object["name"].as_str().unwrap_or(id);
        let rule = Arc::new(intel_rule(
            format!("intel:{id}"),
            format!("Threat intelligence: {name}"),
            level,
            tags,
            object["description"].as_str(),
            origin,
        ));
        for value in values {
            self.add(&value, rule.clone());
        }
    }

    fn misp_event(&mut self, event: &Value, origin: &str) {
        let info = event["info"].as_str().unwrap_or("MISP event");
        let level = match event["threat_level_id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| event["threat_level_id"].as_i64().map(|n| n.to_string()))
            .as_deref()
        {
            Some("1") => Level::High,
            Some("2") => Level::Medium,
            _ => Level::Low,
        };
        let attributes = event["Attribute"].as_array().into_iter().flatten().chain(
            event["Object"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|object| object["Attribute"].as_array().into_iter().flatten()),
        );
        for attribute in attributes {
            if attribute["to_ids"].as_bool() == Some(false) {
                continue;
            }
            let kind = attribute["type"].as_str().unwrap_or_default();
            let value = attribute["value"].as_str().unwrap_or_default();
            let Some(value) = misp_value(kind, value) else {
                self.skipped.push(format!(
                    "MISP attribute {} of type {kind:?} not matched",
                    attribute["uuid"].as_str().unwrap_or("?")
                ));
                continue;
            };
            let uuid = attribute["uuid"].as_str().unwrap_or(value);
            let rule = Arc::new(intel_rule(
                format!("intel:misp:{uuid}"),
                format!("Threat intelligence: {info} ({kind} {value})"),
                level,
                Vec::new(),
                attribute["comment"].as_str().filter(|c| !c.is_empty()),
                origin,
            ));
            self.add(value, rule);
        }
    }

    /// The detections of a record: one per indicator one of its values equals.
    pub fn detections(&self, event: &Event) -> Vec<Detection> {
        if self.indicators.is_empty() {
            return Vec::new();
        }
        let mut found: Vec<(&str, &Arc<RuleInfo>)> = Vec::new();
        let mut lowered = String::new();
        let mut look_up = |name, value: &str| {
            let value = value.trim();
            if value.len() < 4 || value.len() > 2048 {
                return;
            }
            let key = if value.bytes().any(|b| b.is_ascii_uppercase()) {
                lowered.clear();
                lowered.push_str(value);
                lowered.make_ascii_lowercase();
                lowered.as_str()
            } else {
                value
            };
            if let Some(rule) = self.indicators.get(key)
                && !found.iter().any(|(_, known)| Arc::ptr_eq(known, rule))
            {
                found.push((name, rule));
            }
        };
        for field in event.fields.iter() {
            if field.name == "Hashes" {
                // Sysmon's `SHA256=…,IMPHASH=…`: each hash on its own.
                for part in field.value.split(',') {
                    look_up(
                        field.name,
                        part.split_once('=').map_or(part, |(_, hash)| hash),
                    );
                }
            } else {
                look_up(field.name, field.value);
            }
        }
        found
            .into_iter()
            .map(|(name, rule)| Detection {
                rule: rule.clone(),
                timestamp: event.timestamp,
                evidence: event.evidence.clone(),
                computer: event.computer().map(str::to_string),
                channel: event.channel().map(str::to_string),
                event_id: event.event_id(),
                fields: vec![(
                    name.to_string(),
                    event.field(name).unwrap_or_default().to_string(),
                )],
                correlation: None,
            })
            .collect()
    }
}

fn intel_rule(
    id: String,
    title: String,
    level: Level,
    tags: Vec<String>,
    description: Option<&str>,
    origin: &str,
) -> RuleInfo {
    RuleInfo {
        id,
        title,
        level,
        tags,
        status: None,
        description: description.map(str::to_string),
        author: None,
        references: Vec::new(),
        falsepositives: Vec::new(),
        path: format!("intel:{origin}"),
        kind: RuleKind::Detection,
    }
}

/// The values a STIX pattern compares for equality on the object paths we match.
fn stix_values(pattern: &str) -> Vec<String> {
    const PATHS: [&str; 5] = [
        "ipv4-addr:value",
        "ipv6-addr:value",
        "domain-name:value",
        "url:value",
        "file:hashes.",
    ];
    let mut values = Vec::new();
    // Comparisons: `path = 'value'`, joined by OR/AND inside brackets.
    for comparison in pattern
        .split(['[', ']'])
        .flat_map(|part| part.split(" OR "))
    {
        let Some((path, value)) = comparison.split_once('=') else {
            continue;
        };
        let path = path.trim();
        if path.ends_with('!') || !PATHS.iter().any(|known| path.starts_with(known)) {
            continue;
        }
        let value = value.trim();
        if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            values.push(inner.replace("\\'", "'").replace("\\\\", "\\"));
        }
    }
    values
}

/// The value to match of a MISP attribute, or `None` for types that are not matched.
fn misp_value<'v>(kind: &str, value: &'v str) -> Option<&'v str> {
    match kind {
        "ip-src" | "ip-dst" | "domain" | "hostname" | "url" | "md5" | "sha1" | "sha256" => {
            Some(value)
        }
        "ip-src|port" | "ip-dst|port" | "domain|ip" => value.split('|').next(),
        "filename|md5" | "filename|sha1" | "filename|sha256" => value.split('|').nth(1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stix_patterns_give_their_values() {
        assert_eq!(
            stix_values(
                "[ipv4-addr:value = '203.0.113.45' OR domain-name:value = 'cdn-update.example.net']"
            ),
            ["203.0.113.45", "cdn-update.example.net"]
        );
        assert_eq!(stix_values("[file:hashes.'SHA-256' = 'ABCD']"), ["ABCD"]);
        assert!(stix_values("[process:name = 'x.exe']").is_empty());
        assert!(stix_values("[ipv4-addr:value != '1.2.3.4']").is_empty());
    }

    #[test]
    fn the_sample_feeds_load_with_their_unusable_entries_named() {
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/intel");
        let mut intel = IntelSet::default();
        intel.load(&samples.join("stix-bundle.json")).unwrap();
        intel.load(&samples.join("misp-event.json")).unwrap();
        // Address and domain of one indicator, a hash, two MISP addresses.
        assert_eq!(intel.len(), 5);
        assert_eq!(intel.skipped.len(), 1, "{:?}", intel.skipped);
        assert!(intel.skipped[0].contains("process:name"));
        let error = intel.load(&samples.join("missing.json")).unwrap_err();
        assert!(error.to_string().contains("missing.json"));
    }

    #[test]
    fn misp_types() {
        assert_eq!(
            misp_value("ip-dst|port", "203.0.113.45|443"),
            Some("203.0.113.45")
        );
        assert_eq!(misp_value("filename|sha256", "a.exe|ff"), Some("ff"));
        assert_eq!(misp_value("yara", "rule x {}"), None);
    }

    #[test]
    fn misp_feeds_are_read_as_their_manifest_says() {
        let feed = tempfile::tempdir().unwrap();
        let event = |uuid: &str, value: &str| {
            format!(
                r#"{{"Event":{{"uuid":"{uuid}","info":"feed event","threat_level_id":"1","Attribute":[{{"uuid":"a-{uuid}","type":"domain","value":"{value}","to_ids":true}}]}}}}"#
            )
        };
        let (one, two) = (
            "5f2b8c1e-0000-4000-8000-000000000001",
            "5f2b8c1e-0000-4000-8000-000000000002",
        );
        std::fs::write(
            feed.path().join(format!("{one}.json")),
            event(one, "bad.example"),
        )
        .unwrap();
        std::fs::write(
            feed.path().join(format!("{two}.json")),
            event(two, "worse.example"),
        )
        .unwrap();
        // Not in the manifest: not read.
        std::fs::write(feed.path().join("other.json"), event("x", "other.example")).unwrap();
        std::fs::write(
            feed.path().join("manifest.json"),
            format!(
                r#"{{"{one}":{{"info":"feed event"}},"{two}":{{}},"5f2b8c1e-0000-4000-8000-00000000ffff":{{}},"../../etc/passwd":{{}}}}"#
            ),
        )
        .unwrap();
        let mut intel = IntelSet::default();
        intel.load(feed.path()).unwrap();
        assert_eq!(intel.len(), 2);
        assert!(intel.indicators.contains_key("bad.example"));
        assert!(intel.indicators.contains_key("worse.example"));
        assert_eq!(intel.skipped.len(), 2, "{:?}", intel.skipped);
        assert!(
            intel
                .skipped
                .iter()
                .any(|s| s.contains("not in the folder"))
        );
        assert!(
            intel
                .skipped
                .iter()
                .any(|s| s.contains("not an event uuid"))
        );
        // A folder without a manifest: every JSON file in it.
        std::fs::remove_file(feed.path().join("manifest.json")).unwrap();
        let mut intel = IntelSet::default();
        intel.load(feed.path()).unwrap();
        assert_eq!(intel.len(), 3);
        let empty = tempfile::tempdir().unwrap();
        let error = IntelSet::default().load(empty.path()).unwrap_err();
        assert!(error.reason.contains("no manifest.json"), "{error}");
    }
}
