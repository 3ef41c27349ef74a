//! Detection rules: which run, which people switched off and why, and how often analysts
//! judged their alerts malicious (per-rule precision). Switching a rule is for admins.

use super::{ApiError, ApiJson, ApiPath, ApiQuery, Console, ErrorResponses, Principal};
use crate::rules::{LoadedRule, RuleBook, Unloadable};
use axum::Json;
use axum::extract::State;
use garrison_model::access::Role;
use garrison_model::detection::RuleKind;
use garrison_model::tuning::RuleSwitch;
use garrison_model::{Level, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const DEFAULT_PAGE: u32 = 100;

/// Which rules, and which page of them.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RuleFilter {
    /// Only rules whose id, title, path or a tag holds this text (case-insensitive).
    pub q: Option<String>,
    /// Only rules at least this severe.
    pub min_level: Option<Level>,
    /// Only rules switched on (true) or off (false).
    pub enabled: Option<bool>,
    /// Rules per page (1 to 500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Rules to skip, in load order.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
}

/// How analysts judged a rule's alerts (on every host).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulePrecision {
    pub malicious: u32,
    /// Benign true positives and false positives.
    pub benign: u32,
    /// The posterior mean of "an alert of this rule is malicious" (uniform prior): near 0,
    /// nearly all noise; near 1, nearly all real.
    pub precision: f64,
}

/// A rule as it runs here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleView {
    /// The Sigma `id`, or a name derived from the file when the rule has none.
    pub id: String,
    pub title: String,
    pub level: Level,
    /// `detection` or `correlation`.
    pub kind: String,
    /// The rule's `status` (`stable`, `test`, `experimental`, ...).
    pub status: Option<String>,
    /// The file it was read from (`bundled:` for the built-in pack).
    pub path: String,
    pub tags: Vec<String>,
    /// ATT&CK techniques among the tags.
    pub techniques: Vec<String>,
    /// Whether its matches raise alerts on their own (false: it only feeds correlations).
    pub reported: bool,
    /// Whether its matches raise alerts (false: switched off).
    pub enabled: bool,
    /// The last time someone switched it, by whom and why.
    pub switch: Option<RuleSwitch>,
    /// Analysts' verdicts on its alerts (none judged yet: none).
    pub precision: Option<RulePrecision>,
    /// Only for one rule: its description, author, references and known false positives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub falsepositives: Vec<String>,
}

/// A page of rules.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulePage {
    pub rules: Vec<RuleView>,
    /// Rules matching the filter, on every page.
    pub total: u64,
    pub offset: u64,
    pub limit: u32,
    /// Rules switched off, of all loaded.
    pub disabled: u64,
    /// Rule files that could not be loaded, with the reason (never dropped silently).
    pub unloadable: Vec<Unloadable>,
}

/// Switch a rule on or off.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleChange {
    pub enabled: bool,
    /// Why, for the record (at most 2,000 characters).
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

impl Console {
    fn rule_book(&self) -> Result<&RuleBook, ApiError> {
        self.rules
            .as_deref()
            .ok_or_else(|| ApiError::unavailable("this server runs without detection rules"))
    }
}

/// `rule` as the API shows it; with `details`, its description and references too.
pub(crate) fn view(
    console: &Console,
    book: &RuleBook,
    rule: &LoadedRule,
    details: bool,
) -> RuleView {
    let info = &rule.info;
    let precision = console
        .precision
        .as_ref()
        .and_then(|precision| precision.get().of_rule(&info.id))
        .map(|counts| RulePrecision {
            malicious: counts.malicious,
            benign: counts.benign,
            precision: counts.mean(),
        });
    RuleView {
        id: info.id.clone(),
        title: info.title.clone(),
        level: info.level,
        kind: match info.kind {
            RuleKind::Detection => "detection",
            RuleKind::Correlation => "correlation",
        }
        .into(),
        status: info.status.clone(),
        path: info.path.clone(),
        tags: info.tags.clone(),
        techniques: info.attack_techniques(),
        reported: rule.reported,
        enabled: book.is_enabled(&info.id),
        switch: book.switch_of(&info.id),
        precision,
        description: details.then(|| info.description.clone()).flatten(),
        author: details.then(|| info.author.clone()).flatten(),
        references: if details {
            info.references.clone()
        } else {
            Vec::new()
        },
        falsepositives: if details {
            info.falsepositives.clone()
        } else {
            Vec::new()
        },
    }
}

/// A page of rules matching `filter` (shared with the console's pages).
pub(crate) fn rule_page(console: &Console, filter: RuleFilter) -> Result<RulePage, ApiError> {
    let book = console.rule_book()?;
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=super::incidents::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit is 1 to 500"));
    }
    let offset = filter.offset.unwrap_or(0);
    if offset > super::incidents::MAX_OFFSET {
        return Err(ApiError::invalid("offset must be at most 1000000000"));
    }
    let needle = filter.q.as_deref().map(str::to_lowercase);
    let matching: Vec<&LoadedRule> = book
        .rules()
        .iter()
        .filter(|rule| {
            let info = &rule.info;
            filter.min_level.is_none_or(|level| info.level >= level)
                && filter
                    .enabled
                    .is_none_or(|enabled| book.is_enabled(&info.id) == enabled)
                && needle.as_deref().is_none_or(|needle| {
                    info.id.to_lowercase().contains(needle)
                        || info.title.to_lowercase().contains(needle)
                        || info.path.to_lowercase().contains(needle)
                        || info
                            .tags
                            .iter()
                            .any(|tag| tag.to_lowercase().contains(needle))
                })
        })
        .collect();
    let disabled = book
        .rules()
        .iter()
        .filter(|rule| !book.is_enabled(&rule.info.id))
        .count();
    Ok(RulePage {
        total: matching.len() as u64,
        rules: matching
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(limit as usize)
            .map(|rule| view(console, book, rule, false))
            .collect(),
        offset,
        limit,
        disabled: disabled as u64,
        unloadable: book.unloadable().to_vec(),
    })
}

/// Rule `id` as it runs here (shared with the console's pages).
pub(crate) fn rule_detail(console: &Console, id: &str) -> Result<RuleView, ApiError> {
    let book = console.rule_book()?;
    let rule = book
        .rule(id)
        .ok_or_else(|| ApiError::not_found(format!("no rule {id} is loaded")))?;
    Ok(view(console, book, rule, true))
}

/// Switches rule `id` on or off as `principal` (shared with the console's pages).
pub(crate) fn switch_rule(
    console: &Console,
    principal: &Principal,
    id: &str,
    change: RuleChange,
) -> Result<RuleView, ApiError> {
    principal.require(Role::Admin)?;
    let book = console.rule_book()?;
    if book.rule(id).is_none() {
        return Err(ApiError::not_found(format!("no rule {id} is loaded")));
    }
    let reason = change
        .reason
        .map(|reason| reason.trim().to_owned())
        .filter(|reason| !reason.is_empty());
    if reason
        .as_ref()
        .is_some_and(|reason| reason.chars().count() > 2000)
    {
        return Err(ApiError::invalid("a reason is at most 2,000 characters"));
    }
    book.switch(
        console.store.as_ref(),
        RuleSwitch {
            rule_id: id.to_owned(),
            enabled: change.enabled,
            reason,
            by: principal.actor(),
            at: Timestamp::now(),
        },
    )?;
    rule_detail(console, id)
}

/// The rules this server runs, with their switches and precision.
#[utoipa::path(
    get,
    path = "/api/v1/rules",
    operation_id = "list_rules",
    tag = "rules",
    params(RuleFilter),
    responses((status = 200, description = "A page of rules", body = RulePage), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn list(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<RuleFilter>,
) -> Result<Json<RulePage>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| rule_page(console, filter).map(Json))
        .await
}

/// One rule, with its description, references and known false positives.
#[utoipa::path(
    get,
    path = "/api/v1/rules/{id}",
    operation_id = "get_rule",
    tag = "rules",
    params(("id" = String, Path, description = "The rule's id")),
    responses((status = 200, description = "The rule", body = RuleView), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn detail(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RuleView>, ApiError> {
    principal.require(Role::Viewer)?;
    console
        .blocking(move |console| rule_detail(console, &id).map(Json))
        .await
}

/// Switches a rule on or off (admin): a rule switched off still runs, but its matches raise
/// no alerts. Audited with the reason.
#[utoipa::path(
    patch,
    path = "/api/v1/rules/{id}",
    operation_id = "switch_rule",
    tag = "rules",
    params(("id" = String, Path, description = "The rule's id")),
    request_body = RuleChange,
    responses((status = 200, description = "The rule, switched", body = RuleView), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn change(
    State(console): State<Arc<Console>>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<RuleChange>,
) -> Result<Json<RuleView>, ApiError> {
    principal.require(Role::Admin)?;
    console
        .blocking(move |console| switch_rule(console, &principal, &id, change).map(Json))
        .await
}
