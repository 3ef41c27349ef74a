//! Sigma correlation rules (`event_count`, `value_count`, `temporal`, `temporal_ordered`) over
//! the matches of the rules they reference, grouped by field values within a timespan.
//!
//! Matching single events is done first (in parallel); every match of a rule some correlation
//! needs is kept as a [`Sighting`]; [`crate::RuleSet::correlate`] then replays the sightings in
//! time order. Correlations may reference other correlations; those run first.

use crate::compile::FieldTable;
use crate::error::{RuleError, RuleErrorKind};
use crate::rule::{CorrelationRule, CorrelationType, CountCondition};
use crate::ruleset::{RuleMatch, RuleSet};
use garrison_model::detection::RuleKind;
use garrison_model::{
    CorrelationContext, Detection, Event, EvidenceRef, Level, RuleInfo, Timestamp,
};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::sync::Arc;

/// Most evidence references kept on one correlation detection.
const MAX_EVIDENCE: usize = 256;

/// What a correlation consumes: a rule's matches or another correlation's detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Input {
    Rule(u32),
    Correlation(u32),
}

#[derive(Debug, Clone)]
pub(crate) struct LinkedCorrelation {
    pub(crate) info: Arc<RuleInfo>,
    kind: CorrelationType,
    pub(crate) inputs: Vec<Input>,
    /// Group-by names as reported.
    pub(crate) group_by: Vec<String>,
    /// Per input: the field holding each group-by value.
    pub(crate) group_fields: Vec<Vec<String>>,
    value_field: Option<String>,
    timespan_nanos: i128,
    condition: Option<CountCondition>,
    reported: bool,
}

/// One match of a rule a correlation needs, with the values it groups by.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    pub rule: u32,
    pub timestamp: Timestamp,
    pub evidence: EvidenceRef,
    pub computer: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
    /// The event's values of the fields correlations read.
    pub fields: Vec<(String, String)>,
}

type Linked = (
    Vec<LinkedCorrelation>,
    Vec<RuleError>,
    FxHashSet<usize>,
    FxHashSet<usize>,
);

/// Resolves references and aliases, and orders correlations so that each runs after the ones it
/// reads. Returns the correlations, errors, the rules correlations need evaluated and the rules
/// whose own matches are not reported (`generate: false`).
pub(crate) fn link_correlations(
    rules: Vec<CorrelationRule>,
    detection_rules: &[(Option<&str>, &str)],
    _fields: &mut FieldTable,
) -> Linked {
    let mut errors = Vec::new();
    let find_rule = |reference: &str| {
        detection_rules
            .iter()
            .position(|(name, id)| *name == Some(reference) || *id == reference)
    };
    let find_correlation = |reference: &str, rules: &[CorrelationRule]| {
        rules.iter().position(|rule| {
            rule.meta.name.as_deref() == Some(reference)
                || rule.meta.id.as_deref() == Some(reference)
        })
    };
    // Resolve every reference first.
    let mut resolved: Vec<Option<Vec<Input>>> = Vec::with_capacity(rules.len());
    for rule in &rules {
        let mut inputs = Vec::new();
        let mut missing = Vec::new();
        for reference in &rule.rules {
            if let Some(index) = find_rule(reference) {
                inputs.push(Input::Rule(index as u32));
            } else if let Some(index) = find_correlation(reference, &rules) {
                inputs.push(Input::Correlation(index as u32));
            } else {
                missing.push(reference.as_str());
            }
        }
        if missing.is_empty() {
            resolved.push(Some(inputs));
        } else {
            errors.push(correlation_error(
                rule,
                format!(
                    "references rules that are not loaded: {}",
                    missing.join(", ")
                ),
            ));
            resolved.push(None);
        }
    }
    // Order: a correlation after every correlation it reads; cycles are errors.
    let mut order = Vec::new();
    let mut state = vec![0u8; rules.len()];
    fn visit(
        index: usize,
        resolved: &[Option<Vec<Input>>],
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) -> bool {
        match state[index] {
            2 => return true,
            1 => return false,
            _ => {}
        }
        state[index] = 1;
        let Some(inputs) = &resolved[index] else {
            state[index] = 2;
            return false;
        };
        for input in inputs {
            if let Input::Correlation(other) = input
                && !visit(*other as usize, resolved, state, order)
            {
                return false;
            }
        }
        state[index] = 2;
        order.push(index);
        true
    }
    for index in 0..rules.len() {
        if resolved[index].is_some()
            && state[index] != 2
            && !visit(index, &resolved, &mut state, &mut order)
        {
            errors.push(correlation_error(
                &rules[index],
                "is part of a reference cycle or reads a correlation that failed".into(),
            ));
        }
    }
    let mut needed = FxHashSet::default();
    let mut suppressed = FxHashSet::default();
    let mut suppressed_correlations = FxHashSet::default();
    let mut new_index = FxHashMap::default();
    for (position, &index) in order.iter().enumerate() {
        new_index.insert(index, position as u32);
    }
    let mut linked = Vec::with_capacity(order.len());
    for &index in &order {
        let rule = &rules[index];
        let inputs: Vec<Input> = resolved[index]
            .clone()
            .expect("ordered correlations are resolved")
            .into_iter()
            .map(|input| match input {
                Input::Correlation(other) => Input::Correlation(new_index[&(other as usize)]),
                rule_input => rule_input,
            })
            .collect();
        for input in &inputs {
            match input {
                Input::Rule(rule_index) => {
                    needed.insert(*rule_index as usize);
                    if !rule.generate {
                        suppressed.insert(*rule_index as usize);
                    }
                }
                Input::Correlation(other) => {
                    if !rule.generate {
                        suppressed_correlations.insert(*other);
                    }
                }
            }
        }
        let group_fields = rule
            .rules
            .iter()
            .map(|reference| {
                rule.group_by
                    .iter()
                    .map(|group| {
                        rule.aliases
                            .iter()
                            .find(|alias| alias.alias == *group)
                            .and_then(|alias| {
                                alias.fields.iter().find(|(name, _)| name == reference)
                            })
                            .map_or_else(|| group.clone(), |(_, field)| field.clone())
                    })
                    .collect()
            })
            .collect();
        let info = RuleInfo {
            id: rule
                .meta
                .id
                .clone()
                .unwrap_or_else(|| format!("{}#{}", rule.path, index)),
            title: rule.meta.title.clone(),
            level: rule.meta.level.unwrap_or(Level::Medium),
            tags: rule.meta.tags.clone(),
            status: rule.meta.status.clone(),
            description: rule.meta.description.clone(),
            author: rule.meta.author.clone(),
            references: rule.meta.references.clone(),
            falsepositives: rule.meta.falsepositives.clone(),
            path: rule.path.clone(),
            kind: RuleKind::Correlation,
        };
        linked.push(LinkedCorrelation {
            info: Arc::new(info),
            kind: rule.kind,
            inputs,
            group_by: rule.group_by.clone(),
            group_fields,
            value_field: rule.condition.as_ref().and_then(|c| c.field.clone()),
            timespan_nanos: rule.timespan_seconds as i128 * 1_000_000_000,
            condition: rule.condition.clone(),
            reported: true,
        });
    }
    for index in suppressed_correlations {
        linked[index as usize].reported = false;
    }
    (linked, errors, needed, suppressed)
}

fn correlation_error(rule: &CorrelationRule, reason: String) -> RuleError {
    RuleError {
        path: rule.path.clone(),
        id: rule.meta.id.clone(),
        title: Some(rule.meta.title.clone()),
        kind: RuleErrorKind::Correlation,
        reason,
    }
}

/// An event flowing into a correlation.
#[derive(Debug, Clone)]
struct Occurrence {
    input: Input,
    timestamp: Timestamp,
    evidence: EvidenceRef,
    computer: Option<String>,
    channel: Option<String>,
    event_id: Option<u32>,
    fields: Vec<(String, String)>,
}

impl Occurrence {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl RuleSet {
    /// Whether any correlation reads this rule's matches.
    pub fn feeds_correlation(&self, rule: u32) -> bool {
        self.correlations
            .iter()
            .any(|correlation| correlation.inputs.contains(&Input::Rule(rule)))
    }

    /// The sighting to keep for a match when a correlation reads its rule.
    pub fn sighting(&self, found: &RuleMatch, event: &Event) -> Option<Sighting> {
        let timestamp = event.timestamp?;
        let mut wanted: Vec<&str> = Vec::new();
        for correlation in &self.correlations {
            for (position, input) in correlation.inputs.iter().enumerate() {
                if *input == Input::Rule(found.rule) {
                    wanted.extend(
                        correlation.group_fields[position]
                            .iter()
                            .map(String::as_str),
                    );
                    wanted.extend(correlation.value_field.as_deref());
                }
            }
        }
        if wanted.is_empty() {
            return None;
        }
        wanted.sort_unstable();
        wanted.dedup();
        let fields = wanted
            .into_iter()
            .filter_map(|name| {
                event
                    .rule_field(name)
                    .map(|value| (name.to_string(), value.to_string()))
            })
            .collect();
        Some(Sighting {
            rule: found.rule,
            timestamp,
            evidence: event.evidence.clone(),
            computer: event.computer().map(str::to_string),
            channel: event.channel().map(str::to_string),
            event_id: event.event_id(),
            fields,
        })
    }

    /// How far back a correlation can reach from its last sighting: the sum of every
    /// correlation's timespan (a chain of correlations spans at most all of them); `None`
    /// without correlations. Sightings older than this before the newest can no longer
    /// complete anything.
    pub fn correlation_horizon(&self) -> Option<jiff::SignedDuration> {
        let correlations = &self.correlations;
        if correlations.is_empty() {
            return None;
        }
        let nanos: i128 = correlations.iter().map(|c| c.timespan_nanos).sum();
        let seconds = i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX);
        Some(jiff::SignedDuration::from_secs(seconds))
    }

    /// Runs every correlation over the sightings and returns the reported detections, oldest
    /// first.
    pub fn correlate(&self, sightings: &[Sighting]) -> Vec<Detection> {
        self.correlate_with(sightings, &|_, _| true)
    }

    /// [`RuleSet::correlate`] where correlation `c` reads sighting `s` only when
    /// `reads(c, s)` (indices into the correlations and `sightings`).
    pub(crate) fn correlate_with(
        &self,
        sightings: &[Sighting],
        reads: &dyn Fn(usize, usize) -> bool,
    ) -> Vec<Detection> {
        // Sorted by reference: a live processor runs this every second over the sightings
        // of the recent past, which it keeps.
        let mut sightings: Vec<(usize, &Sighting)> = sightings.iter().enumerate().collect();
        sightings.sort_by(|(_, a), (_, b)| {
            (a.timestamp, &a.evidence.path, a.evidence.record_id).cmp(&(
                b.timestamp,
                &b.evidence.path,
                b.evidence.record_id,
            ))
        });
        let mut produced: Vec<Vec<Occurrence>> = Vec::with_capacity(self.correlations.len());
        let mut reported = Vec::new();
        for (index, correlation) in self.correlations.iter().enumerate() {
            let mut stream: Vec<Occurrence> = Vec::new();
            for &(at, sighting) in &sightings {
                let input = Input::Rule(sighting.rule);
                if correlation.inputs.contains(&input) && reads(index, at) {
                    stream.push(Occurrence {
                        input,
                        timestamp: sighting.timestamp,
                        evidence: sighting.evidence.clone(),
                        computer: sighting.computer.clone(),
                        channel: sighting.channel.clone(),
                        event_id: sighting.event_id,
                        fields: sighting.fields.clone(),
                    });
                }
            }
            for input in &correlation.inputs {
                if let Input::Correlation(other) = input {
                    stream.extend(produced[*other as usize].iter().cloned());
                }
            }
            stream.sort_by_key(|a| a.timestamp);
            let detections = run_correlation(correlation, &stream);
            let index = produced.len() as u32;
            produced.push(
                detections
                    .iter()
                    .map(|detection| Occurrence {
                        input: Input::Correlation(index),
                        timestamp: detection.timestamp.expect("correlations have times"),
                        evidence: detection.evidence.clone(),
                        computer: detection.computer.clone(),
                        channel: detection.channel.clone(),
                        event_id: detection.event_id,
                        fields: detection.fields.clone(),
                    })
                    .collect(),
            );
            if correlation.reported {
                reported.extend(detections);
            }
        }
        reported.sort_by_key(|a| a.timestamp);
        reported
    }
}

fn group_key(correlation: &LinkedCorrelation, occurrence: &Occurrence) -> Vec<String> {
    let position = correlation
        .inputs
        .iter()
        .position(|input| *input == occurrence.input)
        .unwrap_or(0);
    correlation.group_fields[position]
        .iter()
        .map(|field| occurrence.field(field).unwrap_or_default().to_string())
        .collect()
}

fn elapsed(from: Timestamp, to: Timestamp) -> i128 {
    to.as_nanosecond() - from.as_nanosecond()
}

fn emit(
    correlation: &LinkedCorrelation,
    key: &[String],
    count: u64,
    events: &[&Occurrence],
) -> Detection {
    let last = events
        .last()
        .expect("a correlation fires on at least one event");
    let group: Vec<(String, String)> = correlation
        .group_by
        .iter()
        .cloned()
        .zip(key.iter().cloned())
        .collect();
    Detection {
        rule: correlation.info.clone(),
        timestamp: Some(last.timestamp),
        evidence: last.evidence.clone(),
        computer: last.computer.clone(),
        channel: last.channel.clone(),
        event_id: last.event_id,
        fields: group.clone(),
        correlation: Some(CorrelationContext {
            group,
            count,
            first: events.first().map(|event| event.timestamp),
            last: Some(last.timestamp),
            events: events
                .iter()
                .take(MAX_EVIDENCE)
                .map(|event| event.evidence.clone())
                .collect(),
        }),
    }
}

fn run_correlation(correlation: &LinkedCorrelation, stream: &[Occurrence]) -> Vec<Detection> {
    match correlation.kind {
        CorrelationType::EventCount | CorrelationType::ValueCount => {
            count_windows(correlation, stream)
        }
        CorrelationType::Temporal => temporal(correlation, stream),
        CorrelationType::TemporalOrdered => temporal_ordered(correlation, stream),
    }
}

/// `event_count` and `value_count`: a sliding window per group.
fn count_windows(correlation: &LinkedCorrelation, stream: &[Occurrence]) -> Vec<Detection> {
    let condition = correlation.condition.clone().unwrap_or_default();
    let counts_values = correlation.kind == CorrelationType::ValueCount;
    let count_of = |window: &VecDeque<&Occurrence>| -> u64 {
        if counts_values {
            let field = correlation.value_field.as_deref().unwrap_or_default();
            let distinct: FxHashSet<&str> = window.iter().filter_map(|o| o.field(field)).collect();
            distinct.len() as u64
        } else {
            window.len() as u64
        }
    };
    let mut out = Vec::new();
    let mut windows: FxHashMap<Vec<String>, VecDeque<&Occurrence>> = FxHashMap::default();
    if condition.is_upper_bound_only() {
        // "Fewer than N": judged when a window closes.
        for occurrence in stream {
            let key = group_key(correlation, occurrence);
            let window = windows.entry(key.clone()).or_default();
            if let Some(first) = window.front()
                && elapsed(first.timestamp, occurrence.timestamp) > correlation.timespan_nanos
            {
                let count = count_of(window);
                if condition.holds(count) {
                    out.push(emit(correlation, &key, count, window.make_contiguous()));
                }
                window.clear();
            }
            window.push_back(occurrence);
        }
        let mut rest: Vec<_> = windows.into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, mut window) in rest {
            let count = count_of(&window);
            if !window.is_empty() && condition.holds(count) {
                out.push(emit(correlation, &key, count, window.make_contiguous()));
            }
        }
        return out;
    }
    for occurrence in stream {
        let key = group_key(correlation, occurrence);
        let window = windows.entry(key.clone()).or_default();
        window.push_back(occurrence);
        while let Some(first) = window.front() {
            if elapsed(first.timestamp, occurrence.timestamp) > correlation.timespan_nanos {
                window.pop_front();
            } else {
                break;
            }
        }
        let count = count_of(window);
        if condition.holds(count) {
            out.push(emit(correlation, &key, count, window.make_contiguous()));
            window.clear();
        }
    }
    out
}

/// `temporal`: every referenced rule (or as many as the condition asks) within the timespan.
fn temporal(correlation: &LinkedCorrelation, stream: &[Occurrence]) -> Vec<Detection> {
    let inputs = correlation.inputs.len();
    let mut out = Vec::new();
    let mut groups: FxHashMap<Vec<String>, Vec<Option<&Occurrence>>> = FxHashMap::default();
    for occurrence in stream {
        let key = group_key(correlation, occurrence);
        let latest = groups
            .entry(key.clone())
            .or_insert_with(|| vec![None; inputs]);
        for (position, input) in correlation.inputs.iter().enumerate() {
            if *input == occurrence.input {
                latest[position] = Some(occurrence);
            }
        }
        let live: Vec<&Occurrence> = latest
            .iter()
            .flatten()
            .copied()
            .filter(|seen| {
                elapsed(seen.timestamp, occurrence.timestamp) <= correlation.timespan_nanos
            })
            .collect();
        let count = live.len() as u64;
        let fires = match &correlation.condition {
            Some(condition) if !condition.is_upper_bound_only() => condition.holds(count),
            _ => count as usize == inputs,
        };
        if fires {
            let mut events = live;
            events.sort_by_key(|event| event.timestamp);
            out.push(emit(correlation, &key, count, &events));
            latest.iter_mut().for_each(|slot| *slot = None);
        }
    }
    out
}

/// `temporal_ordered`: the referenced rules in the order given, within the timespan.
fn temporal_ordered(correlation: &LinkedCorrelation, stream: &[Occurrence]) -> Vec<Detection> {
    let steps = correlation.inputs.len();
    let mut out = Vec::new();
    // Per group and step: the chain completing that step with the latest possible start.
    let mut groups: FxHashMap<Vec<String>, Vec<Option<Vec<&Occurrence>>>> = FxHashMap::default();
    for occurrence in stream {
        let key = group_key(correlation, occurrence);
        let chains = groups
            .entry(key.clone())
            .or_insert_with(|| vec![None; steps]);
        // Later steps first, so one event cannot fill two consecutive steps.
        for step in (0..steps).rev() {
            if correlation.inputs[step] != occurrence.input {
                continue;
            }
            let extended = if step == 0 {
                Some(vec![occurrence])
            } else {
                chains[step - 1].as_ref().and_then(|chain| {
                    let start = chain[0].timestamp;
                    (elapsed(start, occurrence.timestamp) <= correlation.timespan_nanos).then(
                        || {
                            let mut next = chain.clone();
                            next.push(occurrence);
                            next
                        },
                    )
                })
            };
            if let Some(chain) = extended {
                let better = chains[step]
                    .as_ref()
                    .is_none_or(|current| current[0].timestamp <= chain[0].timestamp);
                if better {
                    chains[step] = Some(chain);
                }
            }
        }
        if let Some(chain) = chains[steps - 1].take() {
            out.push(emit(correlation, &key, steps as u64, &chain));
            chains.iter_mut().for_each(|slot| *slot = None);
        }
    }
    out
}
