//! From YAML documents to typed Sigma documents, with a clear reason for anything rejected.

use crate::condition::parse_condition;
use crate::error::{RuleError, RuleErrorKind};
use crate::modifier::parse_field_key;
use crate::rule::{
    CorrelationRule, CorrelationType, CountCondition, FieldAlias, LogSource, RuleMeta, Search,
    SearchItem, SigmaDocument, SigmaRule,
};
use crate::value::SigmaValue;
use crate::yaml::{Node, parse_documents};
use std::collections::HashMap;

type Failure = (RuleErrorKind, String);

/// Parses every document of one rule file. Documents that fail are returned as errors alongside
/// the ones that parse.
pub fn parse_rule_file(path: &str, text: &str) -> Vec<Result<SigmaDocument, RuleError>> {
    let documents = match parse_documents(text) {
        Ok(documents) => documents,
        Err(reason) => {
            return vec![Err(RuleError {
                path: path.to_string(),
                id: None,
                title: None,
                kind: RuleErrorKind::Yaml,
                reason,
            })];
        }
    };
    let mut out = Vec::new();
    for document in apply_collection_actions(documents) {
        let document = match document {
            Ok(document) => document,
            Err(reason) => {
                out.push(Err(error(path, None, RuleErrorKind::Schema, reason)));
                continue;
            }
        };
        out.push(
            parse_document(path, &document)
                .map_err(|(kind, reason)| error(path, Some(&document), kind, reason)),
        );
    }
    out
}

fn error(path: &str, document: Option<&Node>, kind: RuleErrorKind, reason: String) -> RuleError {
    RuleError {
        path: path.to_string(),
        id: document
            .and_then(|d| d.get("id"))
            .and_then(Node::as_str)
            .map(str::to_string),
        title: document
            .and_then(|d| d.get("title"))
            .and_then(Node::as_str)
            .map(str::to_string),
        kind,
        reason,
    }
}

/// Legacy multi-document collections: `action: global` documents are merged into every
/// following document, `action: reset` clears them, `action: repeat` repeats the previous
/// document with changes.
fn apply_collection_actions(documents: Vec<Node>) -> Vec<Result<Node, String>> {
    let mut global: Option<Node> = None;
    let mut previous: Option<Node> = None;
    let mut out = Vec::new();
    for document in documents {
        if matches!(&document, Node::Map(entries) if entries.is_empty()) {
            continue;
        }
        let action = document
            .get("action")
            .and_then(Node::as_str)
            .map(str::to_string);
        let document = without_key(document, "action");
        match action.as_deref() {
            None => {
                let merged = match &global {
                    Some(global) => merge(global.clone(), document),
                    None => document,
                };
                previous = Some(merged.clone());
                out.push(Ok(merged));
            }
            Some("global") => global = Some(document),
            Some("reset") => global = None,
            Some("repeat") => match previous.take() {
                Some(previous_document) => {
                    let merged = merge(previous_document, document);
                    previous = Some(merged.clone());
                    out.push(Ok(merged));
                }
                None => out.push(Err("action: repeat without a previous document".into())),
            },
            Some(other) => out.push(Err(format!("unknown collection action {other:?}"))),
        }
    }
    out
}

fn without_key(node: Node, key: &str) -> Node {
    match node {
        Node::Map(entries) => Node::Map(entries.into_iter().filter(|(k, _)| k != key).collect()),
        other => other,
    }
}

fn merge(base: Node, overlay: Node) -> Node {
    match (base, overlay) {
        (Node::Map(mut base), Node::Map(overlay)) => {
            for (key, value) in overlay {
                match base.iter().position(|(k, _)| *k == key) {
                    Some(index) => {
                        let old = std::mem::replace(&mut base[index].1, Node::Seq(Vec::new()));
                        base[index].1 = merge(old, value);
                    }
                    None => base.push((key, value)),
                }
            }
            Node::Map(base)
        }
        (_, overlay) => overlay,
    }
}

fn parse_document(path: &str, document: &Node) -> Result<SigmaDocument, Failure> {
    if !matches!(document, Node::Map(_)) {
        return Err((
            RuleErrorKind::Schema,
            "a rule must be a YAML mapping".into(),
        ));
    }
    let meta = parse_meta(document)?;
    if let Some(correlation) = document.get("correlation") {
        return parse_correlation(path, document, meta, correlation)
            .map(|rule| SigmaDocument::Correlation(Box::new(rule)));
    }
    let detection = document
        .get("detection")
        .ok_or((RuleErrorKind::Schema, "missing 'detection'".to_string()))?;
    let logsource = parse_logsource(document.get("logsource"))?;
    let (searches, conditions) = parse_detection(detection)?;
    Ok(SigmaDocument::Rule(Box::new(SigmaRule {
        meta,
        logsource,
        searches,
        conditions,
        path: path.to_string(),
    })))
}

fn text(node: Option<&Node>) -> Option<String> {
    node.and_then(Node::as_str).map(str::to_string)
}

fn text_list(node: Option<&Node>) -> Vec<String> {
    match node {
        None => Vec::new(),
        Some(node) => node
            .as_list()
            .into_iter()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect(),
    }
}

fn parse_meta(document: &Node) -> Result<RuleMeta, Failure> {
    let title = text(document.get("title"))
        .filter(|title| !title.trim().is_empty())
        .ok_or((RuleErrorKind::Schema, "missing 'title'".to_string()))?;
    let level = match text(document.get("level")) {
        None => None,
        Some(level) => Some(
            level
                .parse()
                .map_err(|error| (RuleErrorKind::Schema, format!("{error}")))?,
        ),
    };
    Ok(RuleMeta {
        id: text(document.get("id")),
        name: text(document.get("name")),
        title,
        status: text(document.get("status")),
        level,
        description: text(document.get("description")),
        author: text(document.get("author")),
        date: text(document.get("date")),
        modified: text(document.get("modified")),
        references: text_list(document.get("references")),
        tags: text_list(document.get("tags")),
        falsepositives: text_list(document.get("falsepositives")),
        fields: text_list(document.get("fields")),
    })
}

fn parse_logsource(node: Option<&Node>) -> Result<LogSource, Failure> {
    let Some(node) = node else {
        return Err((RuleErrorKind::Schema, "missing 'logsource'".into()));
    };
    if !matches!(node, Node::Map(_)) {
        return Err((
            RuleErrorKind::Schema,
            "'logsource' must be a mapping".into(),
        ));
    }
    let lower = |key: &str| text(node.get(key)).map(|value| value.trim().to_ascii_lowercase());
    Ok(LogSource {
        product: lower("product"),
        category: lower("category"),
        service: lower("service"),
        definition: text(node.get("definition")),
    })
}

type Detection = (Vec<(String, Search)>, Vec<crate::condition::Condition>);

fn parse_detection(detection: &Node) -> Result<Detection, Failure> {
    let Node::Map(entries) = detection else {
        return Err((
            RuleErrorKind::Schema,
            "'detection' must be a mapping".into(),
        ));
    };
    let mut searches = Vec::new();
    let mut conditions = Vec::new();
    for (name, node) in entries {
        match name.as_str() {
            "condition" => {
                for item in node.as_list() {
                    let text = item.as_str().ok_or((
                        RuleErrorKind::Condition,
                        "'condition' must be a string or a list of strings".to_string(),
                    ))?;
                    conditions.push(
                        parse_condition(text)
                            .map_err(|reason| (RuleErrorKind::Condition, reason))?,
                    );
                }
            }
            // Only meaningful with the obsolete aggregation syntax, which is rejected anyway.
            "timeframe" => {}
            _ => {
                let search = parse_search(node)
                    .map_err(|(kind, reason)| (kind, format!("search {name:?}: {reason}")))?;
                searches.push((name.clone(), search));
            }
        }
    }
    if conditions.is_empty() {
        return Err((RuleErrorKind::Condition, "missing 'condition'".into()));
    }
    Ok((searches, conditions))
}

fn parse_search(node: &Node) -> Result<Search, Failure> {
    match node {
        Node::Map(entries) => {
            let mut items = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                let key =
                    parse_field_key(key).map_err(|reason| (RuleErrorKind::Modifier, reason))?;
                items.push(SearchItem {
                    field: key.field,
                    modifiers: key.modifiers,
                    values: parse_values(value)?,
                });
            }
            Ok(Search::AllOf(items))
        }
        Node::Seq(items)
            if !items.is_empty() && items.iter().all(|i| matches!(i, Node::Map(_))) =>
        {
            Ok(Search::AnyOf(
                items.iter().map(parse_search).collect::<Result<_, _>>()?,
            ))
        }
        Node::Seq(items) if items.iter().all(|i| matches!(i, Node::Scalar { .. })) => {
            Ok(Search::Keywords(SearchItem {
                field: None,
                modifiers: Vec::new(),
                values: parse_values(node)?,
            }))
        }
        Node::Seq(_) => Err((
            RuleErrorKind::Schema,
            "a list must hold either only maps or only plain values".into(),
        )),
        Node::Scalar { .. } => Ok(Search::Keywords(SearchItem {
            field: None,
            modifiers: Vec::new(),
            values: parse_values(node)?,
        })),
    }
}

fn parse_values(node: &Node) -> Result<Vec<SigmaValue>, Failure> {
    let items = node.as_list();
    if items.is_empty() {
        return Err((RuleErrorKind::Schema, "empty value list".into()));
    }
    items
        .into_iter()
        .map(|item| {
            item.scalar_value().ok_or((
                RuleErrorKind::Schema,
                "values must be plain scalars, not nested lists or maps".to_string(),
            ))
        })
        .collect()
}

fn parse_correlation(
    path: &str,
    document: &Node,
    meta: RuleMeta,
    node: &Node,
) -> Result<CorrelationRule, Failure> {
    let fail = |reason: String| (RuleErrorKind::Correlation, reason);
    let kind = match text(node.get("type")).as_deref() {
        Some("event_count") => CorrelationType::EventCount,
        Some("value_count") => CorrelationType::ValueCount,
        Some("temporal") => CorrelationType::Temporal,
        Some("temporal_ordered") => CorrelationType::TemporalOrdered,
        Some(other) => return Err(fail(format!("unknown correlation type {other:?}"))),
        None => return Err(fail("missing correlation 'type'".into())),
    };
    let rules = text_list(node.get("rules"));
    if rules.is_empty() {
        return Err(fail("missing correlation 'rules'".into()));
    }
    let timespan_text =
        text(node.get("timespan")).ok_or_else(|| fail("missing correlation 'timespan'".into()))?;
    let timespan_seconds = parse_timespan(&timespan_text).ok_or_else(|| {
        fail(format!(
            "invalid timespan {timespan_text:?} (expected a number and one of s, m, h, d, w)"
        ))
    })?;
    let condition = match node.get("condition") {
        None => None,
        Some(condition) => Some(parse_count_condition(condition).map_err(fail)?),
    };
    match kind {
        CorrelationType::EventCount | CorrelationType::ValueCount if condition.is_none() => {
            return Err(fail(format!("{} needs a 'condition'", kind.as_str())));
        }
        CorrelationType::ValueCount
            if condition.as_ref().and_then(|c| c.field.as_ref()).is_none() =>
        {
            return Err(fail("value_count needs 'field' in its condition".into()));
        }
        _ => {}
    }
    let mut aliases = Vec::new();
    if let Some(Node::Map(entries)) = node.get("aliases") {
        for (alias, mapping) in entries {
            let Node::Map(fields) = mapping else {
                return Err(fail(format!(
                    "alias {alias:?} must map rule names to fields"
                )));
            };
            aliases.push(FieldAlias {
                alias: alias.clone(),
                fields: fields
                    .iter()
                    .filter_map(|(rule, field)| Some((rule.clone(), field.as_str()?.to_string())))
                    .collect(),
            });
        }
    }
    let generate = node
        .get("generate")
        .or_else(|| document.get("generate"))
        .and_then(Node::as_str)
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    Ok(CorrelationRule {
        meta,
        kind,
        rules,
        group_by: text_list(node.get("group-by")),
        timespan_seconds,
        condition,
        aliases,
        generate,
        path: path.to_string(),
    })
}

/// Values for `%placeholder%`s (the `expand` modifier), from a YAML mapping of names to a value
/// or a list of values: `known_cdcs: [DC01, DC02, "10.0.0.*"]`.
pub fn parse_placeholders(text: &str) -> Result<HashMap<String, Vec<String>>, String> {
    let mut documents = parse_documents(text)?;
    let document = match documents.len() {
        0 => return Ok(HashMap::new()),
        1 => documents.pop().expect("one document"),
        _ => return Err("placeholders must be one YAML document".into()),
    };
    let Node::Map(entries) = document else {
        return Err("placeholders must be a mapping of names to values".into());
    };
    let mut placeholders = HashMap::new();
    for (name, value) in entries {
        let values: Option<Vec<String>> = value
            .as_list()
            .into_iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect();
        match values {
            Some(values) if !values.is_empty() => {
                placeholders.insert(name.trim_matches('%').to_string(), values);
            }
            _ => {
                return Err(format!(
                    "placeholder {name:?} needs a value or a list of values"
                ));
            }
        }
    }
    Ok(placeholders)
}

/// `30s`, `5m`, `1h`, `2d`, `1w` -> seconds.
pub fn parse_timespan(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'M' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    number.checked_mul(factor).filter(|&seconds| seconds > 0)
}

fn parse_count_condition(node: &Node) -> Result<CountCondition, String> {
    let Node::Map(entries) = node else {
        return Err("correlation 'condition' must be a mapping such as {gte: 10}".into());
    };
    let mut condition = CountCondition::default();
    for (key, value) in entries {
        if key == "field" {
            condition.field = value.as_str().map(str::to_string);
            continue;
        }
        let bound: u64 = value
            .as_str()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| format!("condition {key:?} needs a whole number"))?;
        match key.as_str() {
            "gt" => condition.gt = Some(bound),
            "gte" => condition.gte = Some(bound),
            "lt" => condition.lt = Some(bound),
            "lte" => condition.lte = Some(bound),
            "eq" => condition.eq = Some(bound),
            other => return Err(format!("unknown condition operator {other:?}")),
        }
    }
    Ok(condition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modifier::Modifier;

    fn parse_one(text: &str) -> Result<SigmaDocument, RuleError> {
        let mut documents = parse_rule_file("test.yml", text);
        assert_eq!(documents.len(), 1);
        documents.pop().unwrap()
    }

    #[test]
    fn a_full_rule_parses() {
        let document = parse_one(
            r#"
title: Test
id: 11111111-2222-3333-4444-555555555555
status: test
level: high
tags: [attack.execution, attack.t1059.001]
logsource:
    product: Windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\powershell.exe'
        CommandLine|contains|all: ['-enc', 'bypass']
    keywords:
        - 'mimikatz'
    condition: selection or keywords
falsepositives: Admins
"#,
        )
        .unwrap();
        let SigmaDocument::Rule(rule) = document else {
            panic!("expected a detection rule")
        };
        assert_eq!(rule.meta.title, "Test");
        assert_eq!(rule.meta.level, Some(garrison_model::Level::High));
        assert_eq!(rule.meta.tags.len(), 2);
        assert_eq!(rule.meta.falsepositives, ["Admins"]);
        assert_eq!(rule.logsource.product.as_deref(), Some("windows"));
        assert_eq!(rule.searches.len(), 2);
        let Search::AllOf(items) = &rule.searches[0].1 else {
            panic!("selection is a map")
        };
        assert_eq!(items[1].modifiers, [Modifier::Contains, Modifier::All]);
        assert_eq!(items[1].values.len(), 2);
        assert!(matches!(&rule.searches[1].1, Search::Keywords(item) if item.values.len() == 1));
    }

    #[test]
    fn failures_carry_kind_and_reason() {
        let cases = [
            (
                "title: x\nlogsource: {product: windows}\ndetection: {sel: {a: 1}}\n",
                RuleErrorKind::Condition,
                "missing 'condition'",
            ),
            (
                "title: x\nlogsource: {product: windows}\ndetection: {sel: {a|foo: 1}, condition: sel}\n",
                RuleErrorKind::Modifier,
                "foo",
            ),
            (
                "title: x\nlevel: severe\nlogsource: {}\ndetection: {sel: {a: 1}, condition: sel}\n",
                RuleErrorKind::Schema,
                "severe",
            ),
            (
                "title: x\nlogsource: {}\ndetection: {sel: {a: 1}, condition: sel | count() > 3}\n",
                RuleErrorKind::Condition,
                "correlation",
            ),
            (
                "logsource: {}\ndetection: {sel: {a: 1}, condition: sel}\n",
                RuleErrorKind::Schema,
                "title",
            ),
            ("title: [unclosed\n", RuleErrorKind::Yaml, "invalid YAML"),
        ];
        for (text, kind, needle) in cases {
            let error = parse_rule_file("bad.yml", text).pop().unwrap().unwrap_err();
            assert_eq!(error.kind, kind, "{text}");
            assert!(error.reason.contains(needle), "{text}: {}", error.reason);
        }
    }

    #[test]
    fn global_action_merges_into_following_documents() {
        let documents = parse_rule_file(
            "multi.yml",
            "action: global\ntitle: Shared\nlogsource: {product: windows}\ndetection: {condition: sel}\n---\ndetection: {sel: {a: 1}}\n---\ndetection: {sel: {b: 2}}\n",
        );
        assert_eq!(documents.len(), 2);
        for document in documents {
            let SigmaDocument::Rule(rule) = document.unwrap() else {
                panic!("rule expected")
            };
            assert_eq!(rule.meta.title, "Shared");
            assert_eq!(rule.conditions.len(), 1);
            assert_eq!(rule.searches.len(), 1);
        }
    }

    #[test]
    fn correlation_rules_parse() {
        let document = parse_one(
            "title: Brute force\ncorrelation:\n  type: value_count\n  rules: [failed_logon]\n  group-by: [Computer]\n  timespan: 15m\n  condition: {gte: 5, field: TargetUserName}\n",
        )
        .unwrap();
        let SigmaDocument::Correlation(rule) = document else {
            panic!("correlation expected")
        };
        assert_eq!(rule.kind, CorrelationType::ValueCount);
        assert_eq!(rule.timespan_seconds, 900);
        let condition = rule.condition.unwrap();
        assert_eq!(condition.field.as_deref(), Some("TargetUserName"));
        assert!(condition.holds(5) && !condition.holds(4));
        let error = parse_one("title: x\ncorrelation: {type: value_count, rules: [a], timespan: 1h, condition: {gte: 2}}\n").unwrap_err();
        assert!(error.reason.contains("field"), "{}", error.reason);
        let error = parse_one("title: x\ncorrelation: {type: event_count, rules: [a], timespan: 1x, condition: {gte: 2}}\n").unwrap_err();
        assert!(error.reason.contains("timespan"), "{}", error.reason);
    }

    #[test]
    fn placeholder_files() {
        let placeholders =
            parse_placeholders("known_cdcs: [DC01, '10.0.0.*']\n'%Admins%': root\n").unwrap();
        assert_eq!(placeholders["known_cdcs"], ["DC01", "10.0.0.*"]);
        assert_eq!(placeholders["Admins"], ["root"]);
        assert!(
            parse_placeholders("x: {a: 1}\n")
                .unwrap_err()
                .contains("\"x\"")
        );
        assert!(parse_placeholders("- a\n").is_err());
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("30s"), Some(30));
        assert_eq!(parse_timespan("90m"), Some(5400));
        assert_eq!(parse_timespan("1d"), Some(86400));
        assert_eq!(parse_timespan("0s"), None);
        assert_eq!(parse_timespan("h"), None);
    }
}
