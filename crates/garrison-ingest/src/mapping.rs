//! Field mappings for alert sources Garrison has no reader of its own for: a JSON file names
//! which column (CSV) or field (JSON) holds the alert's time, title, rule, severity, host,
//! address, user and ATT&CK tactic and technique. A mapping is a format like any other:
//! `--from ait-ads` reads with the mapping shipped under `mappings/`, `--from FILE.json` with
//! one of the user's. Records keep their own fields and gain the canonical ones of
//! [`fields`], which [`crate::alerts`] turns into detections.
//!
//! ```json
//! {"name": "ait-ads", "source": "ait-ads", "delimiter": ",", "time": "time",
//!  "fields": {"title": "name", "rule_id": "short", "host": "host", "ip": "ip"},
//!  "severity": "medium"}
//! ```

use garrison_model::{Fields, Level, ValueKind};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// The canonical names a mapping gives an alert's parts.
pub mod fields {
    pub const TIME: &str = "alert.time";
    pub const TITLE: &str = "alert.title";
    pub const RULE_ID: &str = "alert.rule_id";
    pub const SEVERITY: &str = "alert.severity";
    pub const HOST: &str = "alert.host";
    pub const IP: &str = "alert.ip";
    pub const USER: &str = "alert.user";
    pub const TACTIC: &str = "alert.tactic";
    pub const TECHNIQUE: &str = "alert.technique";
    pub const SOURCE: &str = "alert.source";
}

/// The parts a mapping may name, by their key in the mapping's `fields`.
const PARTS: [(&str, &str); 8] = [
    ("title", fields::TITLE),
    ("rule_id", fields::RULE_ID),
    ("severity", fields::SEVERITY),
    ("host", fields::HOST),
    ("ip", fields::IP),
    ("user", fields::USER),
    ("tactic", fields::TACTIC),
    ("technique", fields::TECHNIQUE),
];

/// One mapping, as its JSON file says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The format name `--from` takes.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The tool the alerts come from (the prefix of their rule ids).
    pub source: String,
    /// The column separator of a delimited file (any text: `,`, `\t`, `❖`); absent for
    /// JSON records, or to recognise it from the header.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// The field holding the alert's time (RFC 3339, `YYYY-MM-DD HH:MM:SS` or epoch).
    pub time: String,
    /// Canonical part (`title`, `rule_id`, `severity`, `host`, `ip`, `user`, `tactic`,
    /// `technique`) to the source's field.
    pub fields: BTreeMap<String, String>,
    /// The level of alerts whose severity field is absent or unknown.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// The source's severity values to Sigma levels (`"3": "high"`).
    #[serde(default)]
    pub severity_values: BTreeMap<String, String>,
}

fn default_severity() -> String {
    "medium".to_string()
}

/// Why a mapping cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("cannot read mapping {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("mapping {path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// The mappings shipped with Garrison, by name.
const SHIPPED: [(&str, &str); 1] = [("ait-ads", include_str!("../../../mappings/ait-ads.json"))];

impl Mapping {
    /// Parses and checks a mapping (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Mapping, MappingError> {
        let invalid = |reason: String| MappingError::Invalid {
            path: origin.to_string(),
            reason,
        };
        let mapping: Mapping =
            serde_json::from_str(text).map_err(|error| invalid(error.to_string()))?;
        if mapping.name.trim().is_empty() {
            return Err(invalid("`name` is empty".into()));
        }
        for key in mapping.fields.keys() {
            if !PARTS.iter().any(|(part, _)| part == key) {
                return Err(invalid(format!(
                    "unknown field {key:?}; one of: {}",
                    PARTS.map(|(part, _)| part).join(", ")
                )));
            }
        }
        if !mapping.fields.contains_key("title") {
            return Err(invalid("`fields.title` is required".into()));
        }
        for level in std::iter::once(&mapping.severity).chain(mapping.severity_values.values()) {
            level
                .parse::<Level>()
                .map_err(|_| invalid(format!("{level:?} is not a Sigma level")))?;
        }
        if mapping.delimiter.as_deref() == Some("") {
            return Err(invalid("`delimiter` is empty".into()));
        }
        Ok(mapping)
    }

    /// Reads a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        let text = std::fs::read_to_string(path).map_err(|source| MappingError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Mapping::parse(&text, &path.display().to_string())
    }

    /// Adds the canonical fields of the record in `fields` (its own fields already there).
    pub fn apply(&self, fields: &mut Fields) {
        fields.push(fields::SOURCE, &self.source, ValueKind::Text);
        for (part, canonical) in PARTS {
            let Some(source) = self.fields.get(part) else {
                continue;
            };
            let values: Vec<String> = fields
                .get_all(source)
                .map(|field| field.value.to_string())
                .collect();
            for value in values {
                let value = if part == "severity" {
                    self.level_of(&value)
                } else {
                    value
                };
                fields.push(canonical, &value, ValueKind::Text);
            }
        }
        if !self.fields.contains_key("severity") {
            fields.push(fields::SEVERITY, &self.severity, ValueKind::Text);
        }
        if let Some(time) = fields.value(&self.time).map(str::to_string) {
            fields.push(fields::TIME, &time, ValueKind::Text);
        }
    }

    fn level_of(&self, value: &str) -> String {
        match self.severity_values.get(value.trim()) {
            Some(level) => level.clone(),
            None if value.trim().parse::<Level>().is_ok() => value.trim().to_ascii_lowercase(),
            None => self.severity.clone(),
        }
    }
}

/// The loaded mappings; an input format names one by its position.
fn registry() -> &'static Mutex<Vec<Arc<Mapping>>> {
    static REGISTRY: OnceLock<Mutex<Vec<Arc<Mapping>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers a mapping (once per name); returns its position.
pub fn register(mapping: Mapping) -> u16 {
    let mut mappings = registry().lock().expect("mapping registry");
    if let Some(position) = mappings.iter().position(|m| m.name == mapping.name) {
        mappings[position] = Arc::new(mapping);
        return position as u16;
    }
    mappings.push(Arc::new(mapping));
    (mappings.len() - 1) as u16
}

/// The mapping at a position [`register`] returned.
pub fn get(position: u16) -> Option<Arc<Mapping>> {
    registry()
        .lock()
        .expect("mapping registry")
        .get(position as usize)
        .cloned()
}

/// A shipped mapping by name, or a mapping file by path; `None` when `name` is neither.
pub fn resolve(name: &str) -> Option<Result<u16, MappingError>> {
    if let Some((_, text)) = SHIPPED.iter().find(|(shipped, _)| *shipped == name) {
        return Some(Mapping::parse(text, &format!("mappings/{name}.json")).map(register));
    }
    let path = Path::new(name);
    if name.ends_with(".json") && path.is_file() {
        return Some(Mapping::load(path).map(register));
    }
    None
}

/// The names of the shipped mappings.
pub fn shipped() -> impl Iterator<Item = &'static str> {
    SHIPPED.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_mappings_are_valid() {
        for name in shipped() {
            let position = resolve(name).unwrap().unwrap();
            assert_eq!(get(position).unwrap().name, name);
        }
        assert!(resolve("no-such-format").is_none());
    }

    #[test]
    fn mistakes_are_named() {
        let error = Mapping::parse(
            r#"{"name":"x","source":"x","time":"t","fields":{"titel":"a"}}"#,
            "m.json",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field \"titel\""), "{error}");
        let error = Mapping::parse(
            r#"{"name":"x","source":"x","time":"t","fields":{"title":"a"},"severity":"severe"}"#,
            "m.json",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("not a Sigma level"), "{error}");
        let error = Mapping::parse(
            r#"{"name":"x","source":"x","time":"t","fields":{"host":"h"}}"#,
            "m.json",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("fields.title"), "{error}");
    }

    #[test]
    fn canonical_fields_are_added() {
        let mapping = Mapping::parse(
            r#"{"name":"x","source":"tool","time":"t","fields":{"title":"name","severity":"sev","host":"h"},"severity_values":{"3":"high"}}"#,
            "m.json",
        )
        .unwrap();
        let mut fields = Fields::new();
        for (name, value) in [
            ("t", "1642213952"),
            ("name", "Bad thing"),
            ("sev", "3"),
            ("h", "mail"),
        ] {
            fields.push(name, value, ValueKind::Text);
        }
        mapping.apply(&mut fields);
        assert_eq!(fields.value(fields::TITLE), Some("Bad thing"));
        assert_eq!(fields.value(fields::SEVERITY), Some("high"));
        assert_eq!(fields.value(fields::HOST), Some("mail"));
        assert_eq!(fields.value(fields::SOURCE), Some("tool"));
        assert_eq!(fields.value(fields::TIME), Some("1642213952"));
        assert_eq!(fields.value("name"), Some("Bad thing"));
    }
}
