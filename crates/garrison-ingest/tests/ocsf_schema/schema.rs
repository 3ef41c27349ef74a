//! The OCSF schema as read from its JSON files, and a checker of records against it.
//!
//! The loader resolves `extends` of classes and objects, `$include`d profiles, extension object
//! patches and dictionary types; the checker reports every unknown attribute, missing required
//! attribute, broken constraint, enum value outside the schema and value of the wrong JSON
//! type, with its path.

use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub type Attributes = Map<String, Value>;

/// The official schema among the shared datasets (`$GARRISON_SHARED_DATA`, else
/// `../shared/data` next to the workspace).
pub fn schema_root() -> PathBuf {
    std::env::var_os("GARRISON_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("ocsf-schema")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_files(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(directory) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(json_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    files
}

/// Merges `overlay` into `base`, maps key by key (so enums are the union of both).
fn deep_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

/// An event class or object with everything it inherits.
pub struct Resolved {
    pub attributes: Attributes,
    pub constraints: Option<Value>,
    pub category: Option<String>,
}

pub struct Schema {
    pub version: String,
    dictionary: Attributes,
    types: Attributes,
    pub categories: HashMap<String, (u64, String)>,
    /// Class definitions by name, with the extension uid of extension classes.
    pub classes: HashMap<String, (Value, u64)>,
    pub objects: HashMap<String, Value>,
    /// Profile files by their path relative to the schema root (as `$include` names them).
    included: HashMap<String, Value>,
    profiles: BTreeSet<String>,
}

impl Schema {
    pub fn load(root: &Path) -> Schema {
        let windows = root.join("extensions/windows");
        let extension_uid = read_json(&windows.join("extension.json"))["uid"]
            .as_u64()
            .unwrap();
        let mut dictionary = Value::Object(Map::new());
        let mut types = Value::Object(Map::new());
        for path in [
            root.join("dictionary.json"),
            windows.join("dictionary.json"),
        ] {
            let file = read_json(&path);
            deep_merge(&mut dictionary, &file["attributes"]);
            if let Some(defined) = file["types"].get("attributes") {
                deep_merge(&mut types, defined);
            }
        }
        let categories = read_json(&root.join("categories.json"))["attributes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, category)| {
                let uid = category["uid"].as_u64().unwrap();
                (
                    name.clone(),
                    (uid, category["caption"].as_str().unwrap().to_string()),
                )
            })
            .collect();
        let mut classes = HashMap::new();
        for (directory, uid) in [
            (root.join("events"), 0),
            (windows.join("events"), extension_uid),
        ] {
            for path in json_files(&directory) {
                let class = read_json(&path);
                let name = class["name"].as_str().unwrap().to_string();
                classes.insert(name, (class, uid));
            }
        }
        let mut objects: HashMap<String, Value> = HashMap::new();
        for path in json_files(&root.join("objects")) {
            let object = read_json(&path);
            objects.insert(object["name"].as_str().unwrap().to_string(), object);
        }
        for path in json_files(&windows.join("objects")) {
            let object = read_json(&path);
            match object["name"].as_str() {
                Some(name) if !objects.contains_key(name) => {
                    objects.insert(name.to_string(), object);
                }
                _ => {
                    // A patch of a core object: its attributes and constraints apply to it.
                    let target = object["extends"].as_str().unwrap();
                    let patched = objects.get_mut(target).unwrap();
                    deep_merge(&mut patched["attributes"], &object["attributes"]);
                    if let Some(constraints) = object.get("constraints") {
                        patched["constraints"] = constraints.clone();
                    }
                }
            }
        }
        let included: HashMap<String, Value> = json_files(&root.join("profiles"))
            .iter()
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                (format!("profiles/{name}"), read_json(path))
            })
            .collect();
        let profiles = included
            .values()
            .map(|profile| profile["name"].as_str().unwrap().to_string())
            .collect();
        Schema {
            version: read_json(&root.join("version.json"))["version"]
                .as_str()
                .unwrap()
                .to_string(),
            dictionary: dictionary.as_object().unwrap().clone(),
            types: types.as_object().unwrap().clone(),
            categories,
            classes,
            objects,
            included,
            profiles,
        }
    }

    /// Attributes, constraints and category of a definition and its `extends` chain.
    fn resolve(&self, definition: &Value, parent: Option<Resolved>) -> Resolved {
        let mut attributes = Value::Object(
            parent
                .as_ref()
                .map(|p| p.attributes.clone())
                .unwrap_or_default(),
        );
        let own = definition["attributes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if let Some(includes) = own.get("$include").and_then(Value::as_array) {
            for include in includes {
                let profile = &self.included[include.as_str().unwrap()];
                // Attributes of a profile are marked with it; a definition of the class's own
                // with `"profile": null` makes one a plain attribute again.
                let mut marked = profile["attributes"].clone();
                for definition in marked.as_object_mut().unwrap().values_mut() {
                    definition["profile"] = profile["name"].clone();
                }
                deep_merge(&mut attributes, &marked);
            }
        }
        let mut own = Value::Object(own);
        own.as_object_mut().unwrap().remove("$include");
        deep_merge(&mut attributes, &own);
        Resolved {
            attributes: attributes.as_object().unwrap().clone(),
            constraints: definition
                .get("constraints")
                .cloned()
                .or_else(|| parent.as_ref().and_then(|p| p.constraints.clone())),
            category: definition["category"]
                .as_str()
                .map(String::from)
                .or_else(|| parent.and_then(|p| p.category)),
        }
    }

    fn class(&self, name: &str) -> Resolved {
        let (definition, _) = &self.classes[name];
        let parent = definition["extends"]
            .as_str()
            .map(|parent| self.class(parent));
        self.resolve(definition, parent)
    }

    fn object(&self, name: &str) -> Option<Resolved> {
        let definition = self.objects.get(name)?;
        let parent = definition["extends"]
            .as_str()
            .and_then(|parent| self.object(parent));
        Some(self.resolve(definition, parent))
    }

    /// The category of a class, its own or inherited.
    fn category_of(&self, name: &str) -> Option<&str> {
        let (definition, _) = self.classes.get(name)?;
        definition["category"]
            .as_str()
            .or_else(|| self.category_of(definition["extends"].as_str()?))
    }

    /// The class with this `class_uid`, and its resolved definition.
    pub fn class_by_uid(&self, class_uid: u64) -> Option<(String, Resolved)> {
        // The base event has no uid of its own: it is class 0 of no category.
        if class_uid == 0 && self.classes.contains_key("base_event") {
            return Some(("base_event".to_string(), self.class("base_event")));
        }
        let name = self
            .classes
            .iter()
            .find_map(|(name, (definition, extension_uid))| {
                let uid = definition["uid"].as_u64()?;
                let category = self.categories[self.category_of(name)?].0;
                (extension_uid * 100_000 + category * 1000 + uid == class_uid).then_some(name)
            })?;
        Some((name.clone(), self.class(name)))
    }

    /// The full definition of `name` as used in a class or object: dictionary plus local.
    fn attribute(&self, name: &str, local: &Value) -> Value {
        let mut definition = self
            .dictionary
            .get(name)
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        deep_merge(&mut definition, local);
        definition
    }

    /// The primitive type a `_t` type stands for.
    fn base_type<'a>(&'a self, mut name: &'a str) -> &'a str {
        while let Some(parent) = self.types.get(name).and_then(|t| t["type"].as_str()) {
            name = parent;
        }
        name
    }
}

pub struct Checker<'a> {
    schema: &'a Schema,
    /// `metadata.profiles` of the record being checked.
    profiles: Vec<String>,
    pub errors: Vec<String>,
}

impl Checker<'_> {
    pub fn new(schema: &Schema) -> Checker<'_> {
        Checker {
            schema,
            profiles: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn error(&mut self, path: &str, message: String) {
        self.errors.push(format!("{path}: {message}"));
    }

    /// Checks the attributes of a class instance or object instance against `resolved`;
    /// attributes of profiles are required only when the record names the profile.
    fn check_attributes(&mut self, path: &str, value: &Value, resolved: &Resolved) {
        let Some(instance) = value.as_object() else {
            self.error(path, format!("expected an object, got {value}"));
            return;
        };
        for (key, item) in instance {
            let item_path = format!("{path}.{key}");
            if let Some(local) = resolved.attributes.get(key) {
                if let Some(profile) = local.get("profile").and_then(Value::as_str)
                    && !self.profiles.iter().any(|applied| applied == profile)
                {
                    self.error(
                        &item_path,
                        format!("attribute of profile {profile:?}, not in metadata.profiles"),
                    );
                }
                let definition = self.schema.attribute(key, local);
                self.check_value(&item_path, item, &definition);
                continue;
            }
            let datetime_sibling = key.strip_suffix("_dt").is_some_and(|base| {
                resolved.attributes.contains_key(base)
                    && self.schema.dictionary[base]["type"] == "timestamp_t"
            });
            if datetime_sibling {
                if !item.is_string() {
                    self.error(&item_path, "a datetime sibling is RFC 3339 text".into());
                }
            } else {
                self.error(&item_path, "not an attribute here".into());
            }
        }
        for (key, local) in &resolved.attributes {
            let profile_applies = match local.get("profile").and_then(Value::as_str) {
                Some(profile) => self.profiles.iter().any(|applied| applied == profile),
                None => true,
            };
            if profile_applies && local["requirement"] == "required" && !instance.contains_key(key)
            {
                self.error(path, format!("required attribute {key} is missing"));
            }
        }
        if let Some(constraints) = &resolved.constraints {
            let present = |names: &Value| {
                names.as_array().map_or(0, |names| {
                    names
                        .iter()
                        .filter(|n| instance.contains_key(n.as_str().unwrap()))
                        .count()
                })
            };
            if let Some(names) = constraints.get("at_least_one")
                && present(names) == 0
            {
                self.error(path, format!("needs at least one of {names}"));
            }
            if let Some(names) = constraints.get("just_one")
                && present(names) != 1
            {
                self.error(path, format!("needs exactly one of {names}"));
            }
        }
    }

    fn check_value(&mut self, path: &str, value: &Value, definition: &Value) {
        if definition["is_array"] == true {
            match value.as_array() {
                Some(items) => {
                    for (index, item) in items.iter().enumerate() {
                        self.check_one(&format!("{path}[{index}]"), item, definition);
                    }
                }
                None => self.error(path, "expected an array".into()),
            }
        } else {
            self.check_one(path, value, definition);
        }
    }

    fn check_one(&mut self, path: &str, value: &Value, definition: &Value) {
        let type_name = definition["type"].as_str().unwrap_or("");
        // The classification uids are checked against the class itself in `check_event`.
        let classification = ["class_uid", "category_uid"]
            .iter()
            .any(|name| path.split('.').count() == 2 && path.ends_with(name));
        if let Some(values) = definition
            .get("enum")
            .and_then(Value::as_object)
            .filter(|_| !classification)
        {
            let key = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            if !values.contains_key(&key) {
                self.error(path, format!("{key} is not in the enum"));
            }
        }
        if type_name.ends_with("_t") {
            let fits = match self.schema.base_type(type_name) {
                "string_t" => value.is_string(),
                "integer_t" | "long_t" => value.is_i64() || value.is_u64(),
                "float_t" => value.is_number(),
                "boolean_t" => value.is_boolean(),
                "json_t" => true,
                other => {
                    self.error(path, format!("unknown primitive type {other}"));
                    true
                }
            };
            if !fits {
                self.error(path, format!("{value} is not a {type_name}"));
            }
        } else if type_name == "object" {
            if !value.is_object() {
                self.error(path, "expected an object".into());
            }
        } else {
            match self.schema.object(type_name) {
                Some(resolved) => self.check_attributes(path, value, &resolved),
                None => self.error(path, format!("unknown type {type_name:?}")),
            }
        }
    }

    /// Checks one record; returns the name of its class.
    pub fn check_event(&mut self, record: &Value) -> Option<String> {
        let class_uid = record["class_uid"].as_u64()?;
        let Some((name, resolved)) = self.schema.class_by_uid(class_uid) else {
            self.error("$", format!("class_uid {class_uid} is not in the schema"));
            return None;
        };
        let path = name.clone();
        // The base event's category is its own enum's only value, 0 Uncategorized.
        let (category_uid, category_caption) = if name == "base_event" {
            (0, "Uncategorized".to_string())
        } else {
            self.schema.categories[resolved.category.as_deref().unwrap()].clone()
        };
        if record["category_uid"] != category_uid || record["category_name"] != *category_caption {
            self.error(
                &path,
                format!("category is {category_uid} {category_caption}"),
            );
        }
        let caption = &self.schema.classes[&name].0["caption"];
        if record["class_name"] != *caption {
            self.error(&path, format!("class_name should be {caption}"));
        }
        let activity_id = record["activity_id"].as_u64().unwrap_or(u64::MAX);
        if record["type_uid"] != class_uid * 100 + activity_id {
            self.error(
                &path,
                "type_uid is not class_uid * 100 + activity_id".into(),
            );
        }
        let activities = &resolved.attributes["activity_id"]["enum"];
        match activities.get(activity_id.to_string()) {
            Some(activity) if activity_id != 99 => {
                if record["activity_name"] != activity["caption"] {
                    self.error(
                        &path,
                        format!("activity_name should be {}", activity["caption"]),
                    );
                }
            }
            Some(_) => {}
            None => self.error(&path, format!("activity_id {activity_id} is not defined")),
        }
        if record["metadata"]["version"] != self.schema.version.as_str() {
            self.error(&path, "metadata.version differs from the schema's".into());
        }
        self.profiles = record["metadata"]["profiles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|profile| profile.as_str().map(String::from))
            .collect();
        for profile in record["metadata"]["profiles"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if !self
                .schema
                .profiles
                .contains(profile.as_str().unwrap_or(""))
            {
                self.error(&path, format!("unknown profile {profile}"));
            }
        }
        self.check_attributes(&path, record, &resolved);
        Some(name)
    }
}
