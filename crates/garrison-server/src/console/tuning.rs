//! The console's pages for detection rules (switched by admins), the rules of engagement
//! (with a dry run for analysts), and entities: what else a host or a user did.

use super::pages::{evidence_link, layout, severity, time};
use super::session::Signed;
use super::{failed, post_form, show};
use crate::api::evidence::{ActivityFilter, EntityActivity, SubjectKind, entity_activity};
use crate::api::policy::{
    OneAction, PolicyCheck, PolicyDecisions, PolicyView, dry_run, policy_view,
};
use crate::api::rules::{RuleChange, RuleFilter, RulePage, rule_page, switch_rule};
use crate::api::{ApiError, Console};
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use garrison_model::access::Role;
use garrison_model::action::ActionKind;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

/// Rules per page.
const RULE_PAGE: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RulesForm {
    q: Option<String>,
    enabled: Option<String>,
    offset: Option<u64>,
}

impl RulesForm {
    fn link(&self, offset: u64) -> String {
        let mut query = vec![format!("offset={offset}")];
        for (name, value) in [("q", &self.q), ("enabled", &self.enabled)] {
            if let Some(value) = value.as_deref().filter(|value| !value.is_empty()) {
                query.push(format!("{name}={}", crate::url::query_value(value)));
            }
        }
        format!("/rules?{}", query.join("&"))
    }
}

pub(super) async fn rules(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(form): Query<RulesForm>,
) -> Response {
    let filter = RuleFilter {
        q: form.q.clone().filter(|q| !q.trim().is_empty()),
        min_level: None,
        enabled: form.enabled.as_deref().and_then(|value| value.parse().ok()),
        limit: Some(RULE_PAGE),
        offset: form.offset,
    };
    show(
        &console,
        &signed,
        move |console| rule_page(console, filter),
        |signed, found| rules_page(signed, &form, &found),
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct SwitchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
    reason: Option<String>,
    back: Option<String>,
}

pub(super) async fn switch(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<SwitchForm>,
) -> Response {
    let back = super::session::local_path(form.back.as_deref());
    let enabled = form.enabled == "true";
    post_form(
        &console,
        &signed,
        &headers,
        &form.csrf,
        back,
        move |console, principal| {
            let change = RuleChange {
                enabled,
                reason: form.reason,
            };
            switch_rule(console, principal, &id, change)
        },
    )
    .await
}

fn rules_page(signed: &Signed, form: &RulesForm, found: &RulePage) -> Markup {
    let admin = signed.principal.role.allows(Role::Admin);
    let back = form.link(found.offset);
    layout(
        "Rules",
        Some(signed),
        html! {
            h1 { "Detection rules" }
            form.filters method="get" action="/rules" {
                label { "Text " input name="q" value=[form.q.as_deref()]; }
                label { "State "
                    select name="enabled" {
                        option value="" { "any" }
                        option value="true" selected[form.enabled.as_deref() == Some("true")] { "on" }
                        option value="false" selected[form.enabled.as_deref() == Some("false")] { "off" }
                    }
                }
                button type="submit" { "Filter" }
            }
            p.count { (found.total) " rules, " (found.disabled) " switched off" }
            table.rules {
                thead { tr { th { "Level" } th { "Rule" } th { "Kind" } th { "Precision" } th { "State" } @if admin { th {} } } }
                tbody { @for rule in &found.rules {
                    tr id={ "rule-" (rule.id) } {
                        td { (severity(rule.level)) }
                        td { (rule.title) br; code.muted { (rule.id) } @if !rule.techniques.is_empty() { " " span.muted { (rule.techniques.join(", ")) } } }
                        td { (rule.kind) @if !rule.reported { br; span.muted { "feeds correlations" } } }
                        td {
                            @match &rule.precision {
                                Some(p) => { (format!("{:.2}", p.precision)) br; span.muted { (p.malicious) " malicious, " (p.benign) " benign" } },
                                None => span.muted { "no verdicts" },
                            }
                        }
                        td {
                            @if rule.enabled { "on" } @else { span.problem { "off" } }
                            @if let Some(switch) = &rule.switch {
                                br; span.muted { (switch.by) " " (time(Some(switch.at))) }
                                @if let Some(reason) = &switch.reason { br; span.muted { (reason) } }
                            }
                        }
                        @if admin {
                            td {
                                form.inline method="post" action={ "/rules/" (rule.id) "/switch" } {
                                    input type="hidden" name="csrf" value=(signed.csrf);
                                    input type="hidden" name="back" value=(back);
                                    input type="hidden" name="enabled" value=(if rule.enabled { "false" } else { "true" });
                                    input name="reason" placeholder="why" maxlength="2000";
                                    button type="submit" class=[rule.enabled.then_some("reject")] { (if rule.enabled { "Switch off" } else { "Switch on" }) }
                                }
                            }
                        }
                    }
                } }
            }
            nav.pages {
                @if found.offset > 0 { a rel="prev" href=(form.link(found.offset.saturating_sub(u64::from(found.limit)))) { "← Previous" } }
                @if found.offset + (found.rules.len() as u64) < found.total { a rel="next" href=(form.link(found.offset + u64::from(found.limit))) { "Next →" } }
            }
            @if !found.unloadable.is_empty() {
                h2 { "Not loaded (" (found.unloadable.len()) ")" }
                table.unloadable {
                    thead { tr { th { "File" } th { "Problem" } th { "Why" } } }
                    tbody { @for file in &found.unloadable {
                        tr { td { code { (file.path) } @if let Some(title) = &file.title { br; (title) } } td { (file.kind) } td { (file.reason) } }
                    } }
                }
            }
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CheckForm {
    incident: Option<String>,
    action: Option<String>,
    target: Option<String>,
    unverified: Option<String>,
}

pub(super) async fn policy(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(form): Query<CheckForm>,
) -> Response {
    let incident = form.incident.clone().filter(|id| !id.trim().is_empty());
    let analyst = signed.principal.role.allows(Role::Analyst);
    let principal = signed.principal.clone();
    show(
        &console,
        &signed,
        move |console| {
            let view = policy_view(console)?;
            let checked = match incident {
                None => None,
                Some(incident) => {
                    principal.require(Role::Analyst)?;
                    let action = form
                        .action
                        .as_deref()
                        .filter(|action| !action.is_empty())
                        .map(|action| {
                            ActionKind::parse(action)
                                .ok_or_else(|| ApiError::invalid("unknown action"))
                        })
                        .transpose()?;
                    let action = action.map(|kind| OneAction {
                        kind,
                        target: form.target.clone().unwrap_or_default(),
                    });
                    Some(dry_run(
                        console,
                        PolicyCheck {
                            incident,
                            action,
                            unverified: Some(form.unverified.is_some()),
                        },
                    )?)
                }
            };
            Ok((view, checked, form))
        },
        move |signed, (view, checked, form)| {
            policy_page(signed, &view, checked.as_ref(), &form, analyst)
        },
    )
    .await
}

fn policy_page(
    signed: &Signed,
    view: &PolicyView,
    checked: Option<&PolicyDecisions>,
    form: &CheckForm,
    analyst: bool,
) -> Markup {
    layout(
        "Rules of engagement",
        Some(signed),
        html! {
            h1 { "Rules of engagement" }
            p.facts {
                (view.policies) " Cedar policies from " code { (view.source) } ". "
                @if view.kill_switch { span.problem { "The kill switch is on: nothing is done alone." } }
                @else { "Kill switch off." }
            }
            @if analyst {
                h2 { "Dry run" }
                form.filters method="get" action="/policy" {
                    label { "Incident " input name="incident" required value=[form.incident.as_deref()]; }
                    label { "Action "
                        select name="action" {
                            option value="" { "what the playbooks call for" }
                            @for kind in ActionKind::ALL {
                                option value=(kind.as_str()) selected[form.action.as_deref() == Some(kind.as_str())] { (kind.as_str()) }
                            }
                        }
                    }
                    label { "Target " input name="target" value=[form.target.as_deref()]; }
                    label.choice { input type="checkbox" name="unverified" value="1" checked[form.unverified.is_some()]; " as if unverified" }
                    button type="submit" { "Decide (records nothing)" }
                }
                @if let Some(checked) = checked {
                    p.muted { "Decided now for " a href={ "/incidents/" (checked.incident) } { (checked.incident) } "; nothing was recorded." }
                    @if checked.decisions.is_empty() { p { "No playbook calls for an action." } }
                    table.decisions {
                        thead { tr { th { "Action" } th { "Target" } th { "Would be" } th { "Policy" } th { "Why" } } }
                        tbody { @for decision in &checked.decisions {
                            tr { td { (decision.kind.as_str()) } td { code { (decision.target.value) } } td { (decision.state) }
                                td { (decision.verdict.as_str()) br; span.muted { (decision.autonomy.as_str()) } }
                                td { ul.reasons { @for reason in &decision.reasons { li { (reason) } } } } }
                        } }
                    }
                }
            }
            h2 { "Autonomy" }
            table.autonomy {
                thead { tr { th { "Action" } th { "Autonomy" } } }
                tbody { @for entry in &view.autonomy { tr { td { (entry.action.as_str()) } td { (entry.autonomy.as_str()) } } } }
            }
            h2 { "When" }
            p {
                "Business hours " (view.business_hours[0]) ":00–" (view.business_hours[1]) ":00 on days "
                (view.business_days.iter().map(u8::to_string).collect::<Vec<_>>().join(", "))
                " (" (view.time_zone) "). Approvals expire after " (view.approval_expiry_seconds / 60) " min; at most "
                (view.max_targets) " targets per action kind per incident."
            }
            @if !view.change_freezes.is_empty() {
                ul { @for freeze in &view.change_freezes { li { "Change freeze " (freeze.from) " – " (freeze.to) } } }
            }
            @if !view.protected.is_empty() {
                h2 { "Protected targets" }
                ul { @for target in &view.protected { li { (target.kind.as_str()) " " code { (target.value) } } } }
            }
            h2 { "Playbooks" }
            table.playbooks {
                thead { tr { th { "Playbook" } th { "When" } th { "Calls for" } } }
                tbody { @for playbook in &view.playbooks {
                    tr { td { (playbook.name) }
                        td { "severity ≥ " (playbook.min_severity.as_str()) ", confidence ≥ " (format!("{:.0}%", playbook.min_confidence * 100.0))
                            @if playbook.escalated_only { ", escalated" }
                            @if !playbook.tactics.is_empty() { br; span.muted { (playbook.tactics.join(", ")) } } }
                        td { (playbook.actions.iter().map(|kind| kind.as_str()).collect::<Vec<_>>().join(", ")) } }
                } }
            }
            @if !view.connectors.is_empty() {
                h2 { "Connectors" }
                ul { @for connector in &view.connectors {
                    li { (connector.name) " (" (connector.kind) ")" @if connector.dry_run { " " span.muted { "dry run" } } }
                } }
            }
            h2 { "Policy" }
            pre.policy { code { (view.text) } }
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct EntityForm {
    after: Option<String>,
}

pub(super) async fn entity(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path((kind, name)): Path<(String, String)>,
    Query(form): Query<EntityForm>,
) -> Response {
    let kind = match kind.as_str() {
        "host" => SubjectKind::Host,
        "user" => SubjectKind::User,
        _ => return failed(ApiError::not_found("no such kind of entity")),
    };
    let filter = ActivityFilter {
        until: None,
        after: form.after.filter(|after| !after.is_empty()),
        limit: Some(100),
    };
    show(
        &console,
        &signed,
        move |console| entity_activity(console, kind, &name, filter),
        |signed, found| entity_page(signed, &found),
    )
    .await
}

/// The console's address of `kind` `name`.
pub(super) fn entity_href(kind: &str, name: &str) -> String {
    format!("/entities/{kind}/{}", crate::url::component(name))
}

fn entity_page(signed: &Signed, found: &EntityActivity) -> Markup {
    let kind = match found.kind {
        SubjectKind::Host => "host",
        SubjectKind::User => "user",
    };
    layout(
        &found.name,
        Some(signed),
        html! {
            p.crumbs { a href="/" { "Queue" } " / " (kind) }
            h1 { (found.name) }
            h2 { "Incidents (" (found.incidents_total) ")" }
            @if found.incidents.is_empty() { p.muted { "No incident names this " (kind) "." } }
            table.queue {
                tbody { @for incident in &found.incidents {
                    tr { td { (severity(incident.severity)) } td { a href={ "/incidents/" (incident.id) } { (incident.title) } }
                        td { (incident.status.as_str().replace('_', " ")) } td { (time(incident.last_seen)) } }
                } }
            }
            h2 { "Events, newest first" }
            @if found.events.is_empty() { p.muted { "No stored event." } }
            table.events {
                thead { tr { th { "Time" } th { "Host" } th { "User" } th { "Channel / event" } th { "Evidence" } } }
                tbody { @for event in &found.events {
                    tr { td { (time(event.timestamp)) }
                        td { @if let Some(host) = &event.host { a href=(entity_href("host", host)) { (host) } } }
                        td { @if let Some(user) = &event.user { a href=(entity_href("user", user)) { (user) } } }
                        td { (event.channel.as_deref().unwrap_or("")) @if let Some(id) = event.event_id { " " (id) } }
                        td { (evidence_link(event.id)) } }
                } }
            }
            @if let Some(next) = &found.next {
                nav.pages { a rel="next" href={ (entity_href(kind, &found.name)) "?after=" (next) } { "Older events →" } }
            }
        },
    )
}
