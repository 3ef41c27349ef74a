//! A loaded rule set: every compiled rule, indexed by where its events occur, with the prefilter,
//! and evaluation of one event against all of it.

use crate::compile::{CompileContext, FieldTable, compile_detection, specialize};
use crate::error::{RuleError, RuleErrorKind};
use crate::event_view::ViewBuffers;
use crate::expr::{Expr, FieldId, Target, Test};
use crate::index::{Bucket, BucketKey, Index};
use crate::matcher::Matcher;
use crate::parse::parse_rule_file;
use crate::prefilter::{
    Conjunction, LiteralTable, Mark, Requirement, ScanCache, ScanScratch, necessary_literals,
};
use crate::rule::{CorrelationRule, SigmaDocument, SigmaRule};
use crate::windows::{GenericPart, LogSourceScope, Sources, resolve_logsource};
use garrison_model::detection::RuleKind;
use garrison_model::event::windows;
use garrison_model::{Detection, Event, Level, RuleInfo};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::Arc;

/// One rule file's text.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub path: String,
    pub text: String,
}

/// Settings for compiling rules.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Values of `%placeholder%`s for the `expand` modifier.
    pub placeholders: HashMap<String, Vec<String>>,
    /// Rules below this level are not evaluated (unless a correlation needs them).
    pub min_level: Option<Level>,
}

/// Where a compiled variant applies.
#[derive(Debug, Clone)]
enum Scope {
    Windows {
        channels: Vec<&'static str>,
        event_ids: Option<Vec<u32>>,
    },
    Generic(Sources),
}

#[derive(Debug, Clone)]
struct Variant {
    expr: Expr,
    scope: Scope,
    /// Literals the expression needs, for the prefilter (computed with the rule, on the
    /// compiling thread).
    needs: Option<Conjunction>,
}

/// A rule compiled from one file, with field ids local to that file.
#[derive(Debug, Clone)]
struct FileRule {
    info: Arc<RuleInfo>,
    name: Option<String>,
    variants: Vec<Variant>,
}

/// The result of compiling one rule file, ready to be linked into a [`RuleSet`]. Compiling files
/// is independent work; callers may do it on several threads.
#[derive(Debug, Clone, Default)]
pub struct CompiledFile {
    rules: Vec<FileRule>,
    correlations: Vec<CorrelationRule>,
    errors: Vec<RuleError>,
    fields: FieldTable,
}

fn rule_info(
    rule: &crate::rule::RuleMeta,
    path: &str,
    kind: RuleKind,
    position: usize,
) -> RuleInfo {
    RuleInfo {
        id: rule
            .id
            .clone()
            .unwrap_or_else(|| format!("{path}#{position}")),
        title: rule.title.clone(),
        level: rule.level.unwrap_or(Level::Medium),
        tags: rule.tags.clone(),
        status: rule.status.clone(),
        description: rule.description.clone(),
        author: rule.author.clone(),
        references: rule.references.clone(),
        falsepositives: rule.falsepositives.clone(),
        path: path.to_string(),
        kind,
    }
}

/// Parses and compiles one rule file.
pub fn compile_file(source: &RuleSource, options: &CompileOptions) -> CompiledFile {
    let mut file = CompiledFile::default();
    for (position, document) in parse_rule_file(&source.path, &source.text)
        .into_iter()
        .enumerate()
    {
        match document {
            Err(error) => file.errors.push(error),
            Ok(SigmaDocument::Correlation(rule)) => file.correlations.push(*rule),
            Ok(SigmaDocument::Rule(rule)) => match compile_rule(&rule, options, &mut file.fields) {
                Ok(variants) => file.rules.push(FileRule {
                    info: Arc::new(rule_info(
                        &rule.meta,
                        &rule.path,
                        RuleKind::Detection,
                        position,
                    )),
                    name: rule.meta.name.clone(),
                    variants,
                }),
                Err((kind, reason)) => file.errors.push(RuleError {
                    path: rule.path.clone(),
                    id: rule.meta.id.clone(),
                    title: Some(rule.meta.title.clone()),
                    kind,
                    reason,
                }),
            },
        }
    }
    file
}

/// A predicate: `field` equals one of `values` (case-insensitive, as Sigma compares).
fn field_is_one_of<S: AsRef<str>>(
    fields: &mut FieldTable,
    field: &str,
    values: &[S],
) -> Result<Expr, (RuleErrorKind, String)> {
    let id = fields.intern(field);
    let matchers = values
        .iter()
        .map(|value| {
            crate::pattern::StrPattern::new(
                &crate::value::SigmaString::literal(value.as_ref()),
                false,
            )
            .map(Matcher::Str)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| (RuleErrorKind::Modifier, reason))?;
    Ok(Expr::Pred(Box::new(crate::expr::Predicate {
        target: Target::Field(id),
        test: Test::Values {
            matchers: matchers.into_boxed_slice(),
            all: false,
            negate: false,
        },
    })))
}

fn compile_rule(
    rule: &SigmaRule,
    options: &CompileOptions,
    fields: &mut FieldTable,
) -> Result<Vec<Variant>, (RuleErrorKind, String)> {
    let scope =
        resolve_logsource(&rule.logsource).map_err(|reason| (RuleErrorKind::LogSource, reason))?;
    // The detection is compiled once, with the rule's own field names; each target gets a copy
    // adapted to its field names.
    let detection = compile_detection(
        rule,
        &mut CompileContext {
            placeholders: &options.placeholders,
            fields,
        },
    )?;
    let targets = match scope {
        LogSourceScope::Generic(parts) => {
            let mut variants = Vec::new();
            for GenericPart { sources, condition } in &parts {
                for (part, mapping) in sources.by_mapping() {
                    let mut expr = specialize(detection.clone(), mapping, fields)
                        .expect("generic mappings have every field");
                    if let Some((field, values)) = condition {
                        let condition = field_is_one_of(fields, field, values)?;
                        expr = Expr::And(Box::new([condition, expr]));
                    }
                    let event_id = fields.get(windows::EVENT_ID);
                    variants.push(Variant {
                        needs: necessary_literals(&expr, event_id),
                        expr,
                        scope: Scope::Generic(part),
                    });
                }
            }
            return Ok(variants);
        }
        LogSourceScope::Windows(targets) => targets,
    };
    let mut variants = Vec::new();
    let mut remaining = targets.len();
    let mut detection = Some(detection);
    for target in targets {
        remaining -= 1;
        let copy = if remaining == 0 {
            detection.take().expect("one copy per target")
        } else {
            detection.clone().expect("one copy per target")
        };
        let Some(mut expr) = specialize(copy, target.mapping, fields) else {
            continue;
        };
        for (field, values) in &target.extra {
            expr = Expr::And(Box::new([field_is_one_of(fields, field, values)?, expr]));
        }
        let expr = expr.simplify();
        // Event ids: the target's, narrowed by what the detection itself requires.
        let required = fields
            .get(windows::EVENT_ID)
            .and_then(|id| expr.required_values(id))
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.trim().parse::<u32>().ok())
                    .collect::<Vec<_>>()
            });
        let event_ids = match (target.event_ids.is_empty(), required) {
            (true, None) => None,
            (true, Some(required)) => Some(required),
            (false, None) => Some(target.event_ids.clone()),
            (false, Some(required)) => Some(
                target
                    .event_ids
                    .iter()
                    .copied()
                    .filter(|id| required.contains(id))
                    .collect(),
            ),
        };
        if event_ids.as_ref().is_some_and(Vec::is_empty) {
            // The detection asks for event ids this source never writes.
            continue;
        }
        variants.push(Variant {
            needs: necessary_literals(&expr, fields.get(windows::EVENT_ID)),
            expr,
            scope: Scope::Windows {
                channels: target.channels.clone(),
                event_ids,
            },
        });
    }
    if variants.is_empty() {
        return Err((
            RuleErrorKind::LogSource,
            "the detection cannot match any event of its log source (event ids or fields it needs are not logged there)".into(),
        ));
    }
    Ok(variants)
}

#[derive(Debug)]
struct LinkedVariant {
    rule: u32,
    expr: Expr,
    /// Fields the expression reads, reported with detections.
    fields: Box<[FieldId]>,
}

/// Counts describing a loaded rule set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSetStats {
    /// Detection rules loaded and evaluated.
    pub rules: usize,
    pub correlations: usize,
    /// Rules skipped because they are below the minimum level.
    pub below_min_level: usize,
    pub variants: usize,
    pub prefilter_literals: usize,
    pub fields: usize,
}

/// A compiled, indexed set of Sigma rules. Evaluation is `&self`; share it between threads and
/// give each thread its own [`Scratch`].
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Arc<RuleInfo>>,
    /// Whether a rule's own matches are reported (false for rules only feeding correlations).
    reported: Vec<bool>,
    variants: Vec<LinkedVariant>,
    /// Per variant: what it needs before it is worth evaluating.
    requirements: Vec<Requirement>,
    fields: FieldTable,
    index: Index,
    literals: LiteralTable,
    pub(crate) correlations: Vec<crate::correlation::LinkedCorrelation>,
    /// The correlations' families, found on first use ([`crate::meeting`]).
    families: std::sync::OnceLock<Vec<crate::meeting::Family>>,
    errors: Vec<RuleError>,
    stats: RuleSetStats,
}

/// Per-thread evaluation buffers.
#[derive(Debug)]
pub struct Scratch {
    view: ViewBuffers,
    /// This thread's copy of the bucket map, so the shared one is only read on a miss.
    buckets: FxHashMap<BucketKey, Arc<Bucket>>,
    /// Per bucket pattern: generation of the last event it was found in.
    seen_patterns: Vec<u32>,
    /// Per bucket candidate: which of its literal sets the current event satisfies.
    marks: Vec<Mark>,
    /// Bucket positions of the candidates that passed the prefilter for the current event.
    passed: Vec<u32>,
    scan_cache: ScanCache,
    found: Vec<u32>,
    generation: u32,
    seen_rules: Vec<u32>,
}

/// One rule matching one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleMatch {
    pub rule: u32,
    variant: u32,
}

impl RuleSet {
    /// Compiles and links rule files in one go (single-threaded).
    pub fn from_sources(sources: &[RuleSource], options: &CompileOptions) -> RuleSet {
        let files = sources
            .iter()
            .map(|source| compile_file(source, options))
            .collect();
        RuleSet::link(files, options)
    }

    /// Links compiled files: field ids, correlations, the index and the prefilter.
    pub fn link(files: Vec<CompiledFile>, options: &CompileOptions) -> RuleSet {
        let mut fields = FieldTable::default();
        let mut errors = Vec::new();
        let mut rules: Vec<FileRule> = Vec::new();
        let mut correlation_rules = Vec::new();
        let mut seen_ids: FxHashMap<String, String> = FxHashMap::default();
        for file in files {
            errors.extend(file.errors);
            let remap: Vec<FieldId> = (0..file.fields.len() as FieldId)
                .map(|local| fields.intern(file.fields.name(local)))
                .collect();
            for mut rule in file.rules {
                if let Some(first) = seen_ids.get(&rule.info.id) {
                    errors.push(RuleError {
                        path: rule.info.path.clone(),
                        id: Some(rule.info.id.clone()),
                        title: Some(rule.info.title.clone()),
                        kind: RuleErrorKind::Schema,
                        reason: format!("duplicate rule id, already loaded from {first}"),
                    });
                    continue;
                }
                seen_ids.insert(rule.info.id.clone(), rule.info.path.clone());
                for variant in &mut rule.variants {
                    remap_fields(&mut variant.expr, &remap);
                    for literal in variant.needs.iter_mut().flatten().flatten() {
                        if let Some(field) = &mut literal.field
                            && let Some(&global) = remap.get(*field as usize)
                        {
                            *field = global;
                        }
                    }
                }
                rules.push(rule);
            }
            correlation_rules.extend(file.correlations);
        }

        let (correlations, correlation_errors, needed, suppressed) =
            crate::correlation::link_correlations(
                correlation_rules,
                &rules_lookup(&rules),
                &mut fields,
            );
        errors.extend(correlation_errors);

        let mut set = RuleSet {
            rules: Vec::with_capacity(rules.len()),
            reported: Vec::with_capacity(rules.len()),
            variants: Vec::new(),
            requirements: Vec::new(),
            fields: FieldTable::default(),
            index: Index::default(),
            literals: LiteralTable::default(),
            correlations,
            families: std::sync::OnceLock::new(),
            errors,
            stats: RuleSetStats::default(),
        };
        for (index, rule) in rules.into_iter().enumerate() {
            let below = options.min_level.is_some_and(|min| rule.info.level < min);
            if below && !needed.contains(&index) {
                set.stats.below_min_level += 1;
            }
            // Keep rule numbering stable (correlations refer to it) even when not evaluated.
            set.rules.push(rule.info.clone());
            set.reported.push(!below && !suppressed.contains(&index));
            if below && !needed.contains(&index) {
                continue;
            }
            for variant in rule.variants {
                let variant_id = set.variants.len() as u32;
                match &variant.scope {
                    Scope::Generic(sources) => {
                        for position in sources.positions() {
                            set.index.generic_mut(position).push(variant_id);
                        }
                    }
                    Scope::Windows {
                        channels,
                        event_ids,
                    } => {
                        if channels.is_empty() {
                            set.index.any_channel_mut().insert(event_ids, variant_id);
                        }
                        for channel in channels {
                            set.index.channel_mut(channel).insert(event_ids, variant_id);
                        }
                    }
                }
                set.requirements
                    .push(set.literals.requirement(variant.needs));
                let mut read = Vec::new();
                variant.expr.for_each_predicate(&mut |predicate| {
                    if let Target::Field(id) = predicate.target
                        && !read.contains(&id)
                    {
                        read.push(id);
                    }
                });
                set.variants.push(LinkedVariant {
                    rule: index as u32,
                    expr: variant.expr,
                    fields: read.into_boxed_slice(),
                });
            }
        }
        set.literals.freeze(fields.len());
        set.fields = fields;
        set.stats.rules = set.rules.len() - set.stats.below_min_level;
        set.stats.correlations = set.correlations.len();
        set.stats.variants = set.variants.len();
        set.stats.prefilter_literals = set.literals.len();
        set.stats.fields = set.fields.len();
        set
    }

    /// Work that can be done ahead of hunting, in independent parts (see [`RuleSet::prebuild`]).
    pub fn prebuild_parts(&self) -> usize {
        self.literals.prebuild_parts()
    }

    /// Builds one part of the prefilter's shared automata now rather than on first use; the
    /// caller brings the threads. Hunting without it is the same, only its first events are
    /// slower.
    pub fn prebuild(&self, part: usize) {
        self.literals.prebuild(part);
    }

    pub fn stats(&self) -> &RuleSetStats {
        &self.stats
    }

    /// Rules and correlations that could not be loaded, with reasons.
    pub fn errors(&self) -> &[RuleError] {
        &self.errors
    }

    pub fn rule(&self, index: u32) -> &Arc<RuleInfo> {
        &self.rules[index as usize]
    }

    /// The correlations' families: those reading one another's detections, together.
    pub(crate) fn families(&self) -> &[crate::meeting::Family] {
        self.families.get_or_init(|| {
            let correlations = &self.correlations;
            let names: Vec<String> = correlations.iter().map(|c| c.info.id.clone()).collect();
            let reads: Vec<Vec<usize>> = correlations
                .iter()
                .map(|c| {
                    c.inputs
                        .iter()
                        .filter_map(|input| match input {
                            crate::correlation::Input::Correlation(other) => Some(*other as usize),
                            crate::correlation::Input::Rule(_) => None,
                        })
                        .collect()
                })
                .collect();
            let groups: Vec<&[String]> = correlations.iter().map(|c| &c.group_by[..]).collect();
            crate::meeting::families(&names, &reads, &groups)
        })
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The correlation rules, in load order.
    pub fn correlation_rules(&self) -> impl Iterator<Item = &Arc<RuleInfo>> {
        self.correlations
            .iter()
            .map(|correlation| &correlation.info)
    }

    /// Rules with a regular expression that turned out too large to build when first used
    /// (such a regex never matches); listed so the loss is not silent.
    pub fn regex_build_failures(&self) -> Vec<(Arc<RuleInfo>, String)> {
        let mut failures = Vec::new();
        for variant in &self.variants {
            variant.expr.for_each_predicate(&mut |predicate| {
                if let Test::Values { matchers, .. } = &predicate.test {
                    for matcher in matchers.iter() {
                        if let Matcher::Regex(regex) = matcher
                            && regex.failed_to_build()
                        {
                            failures.push((
                                self.rules[variant.rule as usize].clone(),
                                regex.source().to_string(),
                            ));
                        }
                    }
                }
            });
        }
        failures
    }

    /// Whether matches of this rule are reported on their own.
    pub fn is_reported(&self, rule: u32) -> bool {
        self.reported[rule as usize]
    }

    /// Fresh evaluation buffers for one thread.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            view: ViewBuffers::new(self.fields.len()),
            buckets: FxHashMap::default(),
            seen_patterns: Vec::new(),
            marks: Vec::new(),
            passed: Vec::new(),
            scan_cache: ScanCache::default(),
            found: Vec::new(),
            generation: 0,
            seen_rules: Vec::new(),
        }
    }

    /// Number of rule variants an event is a candidate for (before the prefilter).
    pub fn candidate_count(&self, event: &Event) -> usize {
        let key = self.index.key(event);
        self.index
            .bucket(key, &self.requirements, &self.literals, self.fields.len())
            .candidates
            .len()
    }

    /// Evaluates every applicable rule on `event`, appending matches to `out`.
    pub fn evaluate(&self, event: &Event, scratch: &mut Scratch, out: &mut Vec<RuleMatch>) {
        self.evaluate_with(event, scratch, out, true);
    }

    /// Like [`RuleSet::evaluate`] but without the prefilter: every candidate's expression is
    /// evaluated. Slower; the reference the prefilter is tested against.
    pub fn evaluate_unfiltered(
        &self,
        event: &Event,
        scratch: &mut Scratch,
        out: &mut Vec<RuleMatch>,
    ) {
        self.evaluate_with(event, scratch, out, false);
    }

    fn evaluate_with(
        &self,
        event: &Event,
        scratch: &mut Scratch,
        out: &mut Vec<RuleMatch>,
        prefilter: bool,
    ) {
        let Scratch {
            view: buffers,
            buckets,
            seen_patterns,
            marks,
            passed,
            scan_cache,
            found,
            generation,
            seen_rules,
        } = scratch;
        let key = self.index.key(event);
        let bucket: &Bucket = buckets.entry(key).or_insert_with(|| {
            self.index
                .bucket(key, &self.requirements, &self.literals, self.fields.len())
        });
        if bucket.possible.is_empty() {
            return;
        }
        *generation = generation.wrapping_add(1);
        if *generation == 0 {
            seen_patterns.iter_mut().for_each(|seen| *seen = 0);
            marks.iter_mut().for_each(|mark| *mark = Mark::default());
            *generation = 1;
        }
        let generation = *generation;
        let view = buffers.prepare(
            &event.fields,
            self.fields.ids(),
            event.format.folds_field_names(),
        );
        passed.clear();
        let use_prefilter = prefilter && bucket.prefilter.pattern_count() > 0;
        if use_prefilter {
            if seen_patterns.len() < bucket.prefilter.pattern_count() {
                seen_patterns.resize(bucket.prefilter.pattern_count(), 0);
            }
            if marks.len() < bucket.candidates.len() {
                marks.resize(bucket.candidates.len(), Mark::default());
            }
            let mut scan_scratch = ScanScratch {
                seen: seen_patterns,
                marks,
                cache: scan_cache,
                found,
            };
            bucket
                .prefilter
                .scan(&self.literals, &view, &mut scan_scratch, generation, passed);
        }
        // Without the prefilter every possible candidate is evaluated; with it, those without
        // literals and those whose literals were all found.
        let worth: &[u32] = if use_prefilter {
            &bucket.always
        } else {
            &bucket.possible
        };
        seen_rules.clear();
        for &position in worth.iter().chain(passed.iter()) {
            let variant_id = bucket.candidates[position as usize];
            let variant = &self.variants[variant_id as usize];
            if variant.expr.eval(&view) && !seen_rules.contains(&variant.rule) {
                seen_rules.push(variant.rule);
                out.push(RuleMatch {
                    rule: variant.rule,
                    variant: variant_id,
                });
            }
        }
    }

    /// The detection a match reports.
    pub fn detection(&self, found: &RuleMatch, event: &Event) -> Detection {
        let variant = &self.variants[found.variant as usize];
        // The fields the rule read, in the event's order.
        let fields = event
            .fields
            .iter()
            .filter(|field| {
                self.fields
                    .get(field.name)
                    .is_some_and(|id| variant.fields.contains(&id))
            })
            .map(|field| (field.name.to_string(), field.value.to_string()))
            .collect();
        Detection {
            rule: self.rules[found.rule as usize].clone(),
            timestamp: event.timestamp,
            evidence: event.evidence.clone(),
            computer: event.computer().map(str::to_string),
            channel: event.channel().map(str::to_string),
            event_id: event.event_id(),
            fields,
            correlation: None,
        }
    }
}

fn rules_lookup(rules: &[FileRule]) -> Vec<(Option<&str>, &str)> {
    rules
        .iter()
        .map(|rule| (rule.name.as_deref(), rule.info.id.as_str()))
        .collect()
}

fn remap_fields(expr: &mut Expr, remap: &[FieldId]) {
    let map = |id: &mut FieldId| {
        if let Some(&global) = remap.get(*id as usize) {
            *id = global;
        }
    };
    expr.for_each_predicate_mut(&mut |predicate| {
        if let Target::Field(id) = &mut predicate.target {
            map(id);
        }
        if let Test::Values { matchers, .. } = &mut predicate.test {
            for matcher in matchers.iter_mut() {
                if let Matcher::FieldRef { other, .. } = matcher {
                    map(other);
                }
            }
        }
    });
}
