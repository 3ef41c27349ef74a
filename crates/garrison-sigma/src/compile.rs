//! Compiles a typed rule, for one concrete log source target, into an [`Expr`].

use crate::condition::{Condition, OfTarget, Quantifier, identifier_matches};
use crate::error::RuleErrorKind;
use crate::expr::{Expr, FieldId, Predicate, Target, Test};
use crate::matcher::{
    Comparison, Matcher, RefMode, TimePart, base64, base64_offset_variants, utf16_bytes,
    windash_variants,
};
use crate::modifier::Modifier;
use crate::pattern::StrPattern;
use crate::rule::{Search as RuleSearch, SearchItem, SigmaRule};
use crate::value::{SigmaString, SigmaValue, StringPart};
use crate::windows::FieldMapping;
use rustc_hash::FxHashMap;
use std::collections::HashMap;

pub(crate) type Failure = (RuleErrorKind, String);

/// Field id standing for a field the target does not have.
pub(crate) const ABSENT_FIELD: FieldId = FieldId::MAX - 1;

/// Field names to ids, shared by every rule of a rule set.
#[derive(Debug, Default, Clone)]
pub struct FieldTable {
    ids: FxHashMap<Box<str>, FieldId>,
    names: Vec<Box<str>>,
}

impl FieldTable {
    pub fn intern(&mut self, name: &str) -> FieldId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as FieldId;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    pub fn get(&self, name: &str) -> Option<FieldId> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: FieldId) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn ids(&self) -> &FxHashMap<Box<str>, FieldId> {
        &self.ids
    }
}

/// What compiling needs besides the rule.
pub struct CompileContext<'a> {
    pub placeholders: &'a HashMap<String, Vec<String>>,
    pub fields: &'a mut FieldTable,
}

impl CompileContext<'_> {
    fn field(&mut self, name: &str) -> FieldId {
        self.fields.intern(name)
    }
}

/// Compiles the rule's detection with the rule's own field names. [`specialize`] then adapts it
/// to each log source target.
pub(crate) fn compile_detection(
    rule: &SigmaRule,
    context: &mut CompileContext<'_>,
) -> Result<Expr, Failure> {
    let mut searches = Vec::with_capacity(rule.searches.len());
    for (name, search) in &rule.searches {
        let expr = compile_search(search, context)
            .map_err(|(kind, reason)| (kind, format!("search {name:?}: {reason}")))?;
        searches.push(Search {
            name: name.as_str(),
            uses: 0,
            expr: Some(expr),
        });
    }
    for condition in &rule.conditions {
        count_uses(condition, &mut searches);
    }
    let mut alternatives = Vec::with_capacity(rule.conditions.len());
    for condition in &rule.conditions {
        alternatives.push(compile_condition(condition, &mut searches)?);
    }
    Ok(if alternatives.len() == 1 {
        alternatives.pop().expect("one condition")
    } else {
        Expr::Or(alternatives.into_boxed_slice())
    })
}

/// Adapts a compiled detection to a target that names fields its own way: fields the target
/// lacks are folded away. `None` when the rule cannot apply there (it would need, under a
/// negation, a field the target does not have).
pub(crate) fn specialize(
    mut expr: Expr,
    mapping: FieldMapping,
    fields: &mut FieldTable,
) -> Option<Expr> {
    if mapping != FieldMapping::Identity {
        let mut map = |id: &mut FieldId| {
            let name = fields.name(*id).to_string();
            *id = match mapping.map(&name) {
                Some(mapped) => fields.intern(&mapped),
                None => ABSENT_FIELD,
            };
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
    if !absent_fields_only_narrow(&expr, true) {
        return None;
    }
    Some(fold_absent_fields(expr).simplify())
}

/// A compiled search and how many times the conditions use it (used once: moved, not cloned).
struct Search<'a> {
    name: &'a str,
    uses: usize,
    expr: Option<Expr>,
}

fn selected<'s, 'a>(
    target: &OfTarget,
    searches: &'s mut [Search<'a>],
) -> impl Iterator<Item = &'s mut Search<'a>> {
    searches.iter_mut().filter(move |search| match target {
        OfTarget::Them => !search.name.starts_with('_'),
        OfTarget::Pattern(pattern) => identifier_matches(pattern, search.name),
    })
}

fn count_uses(condition: &Condition, searches: &mut [Search<'_>]) {
    match condition {
        Condition::Search(name) => {
            if let Some(search) = searches.iter_mut().find(|s| s.name == name) {
                search.uses += 1;
            }
        }
        Condition::Not(inner) => count_uses(inner, searches),
        Condition::And(items) | Condition::Or(items) => {
            items.iter().for_each(|item| count_uses(item, searches))
        }
        Condition::Of { target, .. } => selected(target, searches).for_each(|s| s.uses += 1),
    }
}

/// The search's expression: moved out on its last use, cloned before that.
fn take(search: &mut Search<'_>) -> Expr {
    search.uses = search.uses.saturating_sub(1);
    if search.uses == 0 {
        search.expr.take().expect("each use was counted")
    } else {
        search.expr.clone().expect("each use was counted")
    }
}

fn compile_condition(condition: &Condition, searches: &mut [Search<'_>]) -> Result<Expr, Failure> {
    Ok(match condition {
        Condition::Search(name) => match searches.iter_mut().find(|s| s.name == name) {
            Some(search) => take(search),
            None => {
                return Err((
                    RuleErrorKind::Condition,
                    format!("condition names unknown search {name:?}"),
                ));
            }
        },
        Condition::Not(inner) => Expr::Not(Box::new(compile_condition(inner, searches)?)),
        Condition::And(items) => Expr::And(
            items
                .iter()
                .map(|item| compile_condition(item, searches))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Or(items) => Expr::Or(
            items
                .iter()
                .map(|item| compile_condition(item, searches))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Of { quantifier, target } => {
            let chosen: Vec<Expr> = selected(target, searches).map(take).collect();
            if chosen.is_empty() {
                let what = match target {
                    OfTarget::Them => "them".to_string(),
                    OfTarget::Pattern(pattern) => pattern.clone(),
                };
                return Err((
                    RuleErrorKind::Condition,
                    format!("{what:?} matches no search identifier"),
                ));
            }
            match quantifier {
                Quantifier::All => Expr::And(chosen.into_boxed_slice()),
                Quantifier::AtLeast(1) => Expr::Or(chosen.into_boxed_slice()),
                Quantifier::AtLeast(n) => Expr::AtLeast(*n, chosen.into_boxed_slice()),
            }
        }
    })
}

fn compile_search(search: &RuleSearch, context: &mut CompileContext<'_>) -> Result<Expr, Failure> {
    match search {
        RuleSearch::AllOf(items) => {
            let mut compiled = items
                .iter()
                .map(|item| compile_item(item, context))
                .collect::<Result<Vec<_>, _>>()?;
            // Cheap tests first; evaluation stops at the first false.
            compiled.sort_by_key(expr_cost);
            Ok(Expr::And(compiled.into_boxed_slice()))
        }
        RuleSearch::AnyOf(searches) => Ok(Expr::Or(
            searches
                .iter()
                .map(|search| compile_search(search, context))
                .collect::<Result<_, _>>()?,
        )),
        RuleSearch::Keywords(item) => compile_item(item, context),
    }
}

fn expr_cost(expr: &Expr) -> u32 {
    match expr {
        Expr::Pred(predicate) => match &predicate.test {
            Test::Exists(_) | Test::Null => 0,
            Test::Values { matchers, .. } => {
                let base = if predicate.target == Target::Keywords {
                    4
                } else {
                    1
                };
                base + matchers.iter().map(Matcher::cost).max().unwrap_or(0)
                    + matchers.len() as u32 / 8
            }
        },
        _ => 10,
    }
}

/// The item's modifiers, sorted by role.
#[derive(Default)]
struct Modifiers {
    position: Option<Modifier>,
    all: bool,
    cased: bool,
    negate: bool,
    expand: bool,
    fieldref: bool,
    exists: bool,
    cidr: bool,
    regex: Option<(bool, bool, bool)>,
    comparison: Option<Comparison>,
    time: Option<TimePart>,
    /// Value transformations, in rule order.
    transforms: Vec<Modifier>,
}

fn sort_modifiers(modifiers: &[Modifier]) -> Result<Modifiers, String> {
    let mut sorted = Modifiers::default();
    let mut regex_flags = (false, false, false);
    let mut has_regex = false;
    for &modifier in modifiers {
        match modifier {
            Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith => {
                if sorted.position.replace(modifier).is_some() {
                    return Err("only one of contains, startswith, endswith may be used".into());
                }
                sorted.transforms.push(modifier);
            }
            Modifier::All => sorted.all = true,
            Modifier::Cased => sorted.cased = true,
            Modifier::Neq => sorted.negate = true,
            Modifier::Expand => sorted.expand = true,
            Modifier::FieldRef => sorted.fieldref = true,
            Modifier::Exists => sorted.exists = true,
            Modifier::Cidr => sorted.cidr = true,
            Modifier::Re => has_regex = true,
            Modifier::ReIgnoreCase => regex_flags.0 = true,
            Modifier::ReMultiLine => regex_flags.1 = true,
            Modifier::ReDotAll => regex_flags.2 = true,
            Modifier::Lt => sorted.comparison = Some(Comparison::Lt),
            Modifier::Lte => sorted.comparison = Some(Comparison::Lte),
            Modifier::Gt => sorted.comparison = Some(Comparison::Gt),
            Modifier::Gte => sorted.comparison = Some(Comparison::Gte),
            Modifier::Minute => sorted.time = Some(TimePart::Minute),
            Modifier::Hour => sorted.time = Some(TimePart::Hour),
            Modifier::Day => sorted.time = Some(TimePart::Day),
            Modifier::Week => sorted.time = Some(TimePart::Week),
            Modifier::Month => sorted.time = Some(TimePart::Month),
            Modifier::Year => sorted.time = Some(TimePart::Year),
            Modifier::Windash
            | Modifier::Base64
            | Modifier::Base64Offset
            | Modifier::Utf16Le
            | Modifier::Utf16Be
            | Modifier::Utf16 => sorted.transforms.push(modifier),
        }
    }
    if has_regex {
        sorted.regex = Some(regex_flags);
    } else if regex_flags != (false, false, false) {
        return Err("the i, m and s modifiers only apply after re".into());
    }
    let kinds = [
        sorted.regex.is_some(),
        sorted.cidr,
        sorted.exists,
        sorted.fieldref,
        sorted.comparison.is_some() && sorted.time.is_none(),
        sorted.time.is_some(),
    ]
    .iter()
    .filter(|&&kind| kind)
    .count();
    if kinds > 1 {
        return Err(
            "re, cidr, exists, fieldref, comparisons and time parts cannot be combined".into(),
        );
    }
    let typed = kinds == 1 && !sorted.fieldref;
    if typed && !sorted.transforms.is_empty() {
        return Err(format!(
            "{} cannot be combined with string modifiers",
            modifiers
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join("|")
        ));
    }
    if sorted.fieldref
        && sorted.transforms.iter().any(|m| {
            !matches!(
                m,
                Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith
            )
        })
    {
        return Err(
            "fieldref only combines with contains, startswith, endswith, cased and neq".into(),
        );
    }
    Ok(sorted)
}

fn compile_item(item: &SearchItem, context: &mut CompileContext<'_>) -> Result<Expr, Failure> {
    let modifier_error = |reason: String| (RuleErrorKind::Modifier, reason);
    let modifiers = sort_modifiers(&item.modifiers).map_err(modifier_error)?;
    let target = match &item.field {
        Some(name) => Target::Field(context.field(name)),
        None => Target::Keywords,
    };
    let predicate = |test: Test| {
        Expr::Pred(Box::new(Predicate {
            target: target.clone(),
            test,
        }))
    };

    if modifiers.exists {
        if target == Target::Keywords {
            return Err(modifier_error("exists needs a field".into()));
        }
        return match item.values.as_slice() {
            [SigmaValue::Bool(expected)] => Ok(predicate(Test::Exists(*expected))),
            [SigmaValue::String { raw, .. }] if raw.eq_ignore_ascii_case("true") => {
                Ok(predicate(Test::Exists(true)))
            }
            [SigmaValue::String { raw, .. }] if raw.eq_ignore_ascii_case("false") => {
                Ok(predicate(Test::Exists(false)))
            }
            _ => Err(modifier_error("exists takes a single true or false".into())),
        };
    }

    let mut alternatives = Vec::new();
    let mut matchers = Vec::new();
    for value in &item.values {
        if *value == SigmaValue::Null {
            if !item.modifiers.is_empty() || target == Target::Keywords {
                return Err(modifier_error(
                    "null cannot take modifiers or be a keyword".into(),
                ));
            }
            alternatives.push(predicate(Test::Null));
            continue;
        }
        compile_value(value, &modifiers, &target, context, &mut matchers)?;
    }
    if !matchers.is_empty() {
        if !modifiers.all {
            matchers = Matcher::group(matchers);
        }
        alternatives.push(predicate(Test::Values {
            matchers: matchers.into_boxed_slice(),
            all: modifiers.all,
            negate: modifiers.negate,
        }));
    }
    Ok(match alternatives.len() {
        1 => alternatives.pop().expect("one"),
        _ => Expr::Or(alternatives.into_boxed_slice()),
    })
}

/// A value on its way through the transformation modifiers.
enum Stage {
    Text(SigmaString),
    Bytes(Vec<u8>),
}

fn compile_value(
    value: &SigmaValue,
    modifiers: &Modifiers,
    target: &Target,
    context: &mut CompileContext<'_>,
    out: &mut Vec<Matcher>,
) -> Result<(), Failure> {
    let modifier_error = |reason: String| (RuleErrorKind::Modifier, reason);
    let raw = value
        .raw_text()
        .ok_or_else(|| modifier_error("null cannot take modifiers".into()))?;

    if let Some((ignore_case, multi_line, dot_all)) = modifiers.regex {
        let flags = crate::matcher::RegexFlags {
            ignore_case,
            multi_line,
            dot_all,
        };
        let regex = crate::matcher::RegexMatcher::new(&raw, flags)
            .map_err(|reason| (RuleErrorKind::Regex, reason))?;
        out.push(Matcher::Regex(Box::new(regex)));
        return Ok(());
    }
    if modifiers.cidr {
        let network: ipnet::IpNet = raw
            .trim()
            .parse()
            .or_else(|_| {
                raw.trim()
                    .parse::<std::net::IpAddr>()
                    .map(ipnet::IpNet::from)
            })
            .map_err(|_| modifier_error(format!("cidr value {raw:?} is not a network")))?;
        out.push(Matcher::Cidr(network));
        return Ok(());
    }
    if let Some(part) = modifiers.time {
        let bound = value
            .as_f64()
            .ok_or_else(|| modifier_error(format!("time part value {raw:?} is not a number")))?;
        out.push(Matcher::Time(
            part,
            modifiers.comparison.unwrap_or(Comparison::Eq),
            bound,
        ));
        return Ok(());
    }
    if let Some(comparison) = modifiers.comparison {
        let bound = value
            .as_f64()
            .ok_or_else(|| modifier_error(format!("comparison value {raw:?} is not a number")))?;
        out.push(Matcher::Compare(comparison, bound));
        return Ok(());
    }
    if modifiers.fieldref {
        if *target == Target::Keywords {
            return Err(modifier_error("fieldref needs a field".into()));
        }
        let mode = match modifiers.position {
            None => RefMode::Equals,
            Some(Modifier::Contains) => RefMode::Contains,
            Some(Modifier::StartsWith) => RefMode::StartsWith,
            Some(_) => RefMode::EndsWith,
        };
        out.push(Matcher::FieldRef {
            other: context.field(raw.trim()),
            mode,
            cased: modifiers.cased,
        });
        return Ok(());
    }

    // Strings, with transformations applied in the order written.
    let initial = match value {
        SigmaValue::String { raw, parsed } => {
            if modifiers.expand {
                expand_placeholders(&SigmaString::parse_with_placeholders(raw), context)?
            } else {
                vec![parsed.clone()]
            }
        }
        // Numbers and booleans match their text exactly.
        _ => vec![SigmaString::literal(&raw)],
    };
    let mut stages: Vec<Stage> = initial.into_iter().map(Stage::Text).collect();
    let mut cased = modifiers.cased;
    for transform in &modifiers.transforms {
        stages = apply_transform(*transform, stages, &mut cased).map_err(modifier_error)?;
    }
    let keyword = *target == Target::Keywords;
    for stage in stages {
        let mut string = match stage {
            Stage::Text(string) => string,
            Stage::Bytes(_) => {
                return Err(modifier_error(
                    "utf16 encodings must be followed by base64 or base64offset".into(),
                ));
            }
        };
        if keyword {
            // Keywords are searched anywhere in a value.
            string.prepend_any();
            string.append_any();
        }
        out.push(Matcher::Str(
            StrPattern::new(&string, cased).map_err(modifier_error)?,
        ));
    }
    Ok(())
}

fn plain(stage: &Stage, modifier: Modifier) -> Result<Vec<u8>, String> {
    match stage {
        Stage::Bytes(bytes) => Ok(bytes.clone()),
        Stage::Text(string) => string.as_plain().map(String::into_bytes).ok_or_else(|| {
            format!("{modifier} cannot encode a value with wildcards or placeholders")
        }),
    }
}

fn apply_transform(
    modifier: Modifier,
    stages: Vec<Stage>,
    cased: &mut bool,
) -> Result<Vec<Stage>, String> {
    let mut out = Vec::with_capacity(stages.len());
    for stage in stages {
        match modifier {
            Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith => {
                let Stage::Text(mut string) = stage else {
                    return Err(format!("{modifier} cannot follow a utf16 encoding"));
                };
                if modifier != Modifier::EndsWith {
                    string.append_any();
                }
                if modifier != Modifier::StartsWith {
                    string.prepend_any();
                }
                out.push(Stage::Text(string));
            }
            Modifier::Base64 => {
                out.push(Stage::Text(SigmaString::literal(&base64(&plain(
                    &stage, modifier,
                )?))));
                *cased = true;
            }
            Modifier::Base64Offset => {
                for variant in base64_offset_variants(&plain(&stage, modifier)?) {
                    out.push(Stage::Text(SigmaString::literal(&variant)));
                }
                *cased = true;
            }
            Modifier::Utf16Le | Modifier::Utf16Be | Modifier::Utf16 => {
                let Stage::Text(string) = &stage else {
                    return Err(format!("{modifier} applied twice"));
                };
                let text = string.as_plain().ok_or_else(|| {
                    format!("{modifier} cannot encode a value with wildcards or placeholders")
                })?;
                out.push(Stage::Bytes(utf16_bytes(
                    &text,
                    modifier == Modifier::Utf16Be,
                    modifier == Modifier::Utf16,
                )));
            }
            Modifier::Windash => {
                let Stage::Text(string) = stage else {
                    return Err("windash cannot follow a utf16 encoding".into());
                };
                out.extend(windash_string(&string)?.into_iter().map(Stage::Text));
            }
            other => return Err(format!("{other} is not a value transformation")),
        }
    }
    Ok(out)
}

/// `windash` over a string with wildcards: the dashes of every literal part vary together.
fn windash_string(string: &SigmaString) -> Result<Vec<SigmaString>, String> {
    let mut results = vec![SigmaString::default()];
    for part in &string.parts {
        match part {
            StringPart::Literal(text) => {
                let variants = windash_variants(text)?;
                results = results
                    .into_iter()
                    .flat_map(|prefix| {
                        variants.iter().map(move |variant| {
                            let mut next = prefix.clone();
                            next.push_literal(variant);
                            next
                        })
                    })
                    .collect();
                if results.len() > 625 {
                    return Err("windash creates too many spellings; split the value".into());
                }
            }
            other => results
                .iter_mut()
                .for_each(|result| result.parts.push(other.clone())),
        }
    }
    Ok(results)
}

fn expand_placeholders(
    string: &SigmaString,
    context: &CompileContext<'_>,
) -> Result<Vec<SigmaString>, Failure> {
    let mut results = vec![SigmaString::default()];
    for part in &string.parts {
        match part {
            StringPart::Placeholder(name) => {
                let values = context.placeholders.get(name).ok_or_else(|| {
                    (
                        RuleErrorKind::Placeholder,
                        format!("placeholder %{name}% has no configured values"),
                    )
                })?;
                results = results
                    .into_iter()
                    .flat_map(|prefix| {
                        values.iter().map(move |value| {
                            let mut next = prefix.clone();
                            next.parts.extend(SigmaString::parse(value).parts);
                            next
                        })
                    })
                    .collect();
            }
            StringPart::Literal(text) => results.iter_mut().for_each(|r| r.push_literal(text)),
            other => results.iter_mut().for_each(|r| r.parts.push(other.clone())),
        }
    }
    Ok(results)
}

/// What a predicate on a field the target lacks evaluates to.
fn absent_value(test: &Test) -> bool {
    match test {
        Test::Exists(expected) => !expected,
        Test::Null => true,
        Test::Values { .. } => false,
    }
}

fn is_absent(predicate: &Predicate) -> bool {
    predicate.target == Target::Field(ABSENT_FIELD)
}

/// A missing field may make the rule match less, never more: false under a positive polarity,
/// true under a negative one.
fn absent_fields_only_narrow(expr: &Expr, positive: bool) -> bool {
    match expr {
        Expr::And(items) | Expr::Or(items) | Expr::AtLeast(_, items) => items
            .iter()
            .all(|item| absent_fields_only_narrow(item, positive)),
        Expr::Not(inner) => absent_fields_only_narrow(inner, !positive),
        Expr::Pred(predicate) => !is_absent(predicate) || absent_value(&predicate.test) != positive,
        Expr::Const(_) => true,
    }
}

fn fold_absent_fields(expr: Expr) -> Expr {
    match expr {
        Expr::And(items) => Expr::And(
            items
                .into_vec()
                .into_iter()
                .map(fold_absent_fields)
                .collect(),
        ),
        Expr::Or(items) => Expr::Or(
            items
                .into_vec()
                .into_iter()
                .map(fold_absent_fields)
                .collect(),
        ),
        Expr::AtLeast(n, items) => Expr::AtLeast(
            n,
            items
                .into_vec()
                .into_iter()
                .map(fold_absent_fields)
                .collect(),
        ),
        Expr::Not(inner) => Expr::Not(Box::new(fold_absent_fields(*inner))),
        Expr::Pred(predicate) if is_absent(&predicate) => {
            Expr::Const(absent_value(&predicate.test))
        }
        other => other,
    }
}
