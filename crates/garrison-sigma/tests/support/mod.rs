//! Shared helpers for the engine tests: rules from YAML, events from field lists.

#![allow(dead_code)]

use garrison_model::{Event, EvidenceRef, Fields, RecordFormat, ValueKind};
use garrison_sigma::{CompileOptions, RuleMatch, RuleSet, RuleSource, Scratch};

pub fn rules_with(texts: &[&str], options: &CompileOptions) -> RuleSet {
    let sources: Vec<RuleSource> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| RuleSource {
            path: format!("rule{index}.yml"),
            text: text.to_string(),
        })
        .collect();
    RuleSet::from_sources(&sources, options)
}

pub fn rules(texts: &[&str]) -> RuleSet {
    rules_with(texts, &CompileOptions::default())
}

pub fn event_with(format: RecordFormat, fields: &[(&str, &str)]) -> Event {
    let mut all = Fields::new();
    for (name, value) in fields {
        all.push(name, value, ValueKind::Text);
    }
    Event {
        evidence: EvidenceRef {
            path: "test".into(),
            member: None,
            record_id: 1,
            offset: 0,
        },
        timestamp: None,
        format,
        fields: all,
    }
}

pub fn event(fields: &[(&str, &str)]) -> Event {
    event_with(RecordFormat::Json, fields)
}

type Evaluate = fn(&RuleSet, &Event, &mut Scratch, &mut Vec<RuleMatch>);

fn matching_with(rules: &RuleSet, event: &Event, evaluate: Evaluate) -> Vec<String> {
    let mut scratch = rules.scratch();
    let mut found = Vec::new();
    evaluate(rules, event, &mut scratch, &mut found);
    let mut ids: Vec<String> = found
        .iter()
        .map(|m| rules.rule(m.rule).id.clone())
        .collect();
    ids.sort();
    ids
}

/// Ids of the rules that match `event`.
pub fn matching(rules: &RuleSet, event: &Event) -> Vec<String> {
    matching_with(rules, event, RuleSet::evaluate)
}

/// Ids of the rules that match `event`, every candidate evaluated (no prefilter).
pub fn matching_unfiltered(rules: &RuleSet, event: &Event) -> Vec<String> {
    matching_with(rules, event, RuleSet::evaluate_unfiltered)
}

/// A generic rule with the given detection body (indented by four spaces).
pub fn generic_rule(detection: &str) -> String {
    format!("title: test\nid: test-rule\nlogsource:\n    product: test\ndetection:\n{detection}\n")
}
