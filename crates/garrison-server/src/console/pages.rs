//! The console's pages, rendered on the server (maud escapes every value: telemetry is written
//! by attackers). Links and forms only; the one script (`assets/console.js`) tells the queue
//! that incidents changed while it was open.

use super::session::Signed;
use crate::api::audit::{AuditPage, AuditVerification};
use crate::api::evidence::OriginalRecord;
use crate::api::health::AgentsReport;
use crate::api::incidents::{EvidenceRecord, IncidentDetail, IncidentPage};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use garrison_model::access::Role;
use garrison_model::action::{ActionRecord, ActionState};
use garrison_model::case::CaseStatus;
use garrison_model::feedback::AnalystVerdict;
use garrison_model::incident::ProcessNode;
use garrison_model::{EntityKind, EvidenceId, Level};
use maud::{DOCTYPE, Markup, html};

/// A page answer.
pub fn page(markup: Markup) -> Response {
    axum::response::Html(markup.into_string()).into_response()
}

/// A short page saying what went wrong.
pub fn problem(status: StatusCode, message: &str) -> Response {
    let markup = layout(
        "Problem",
        None,
        html! {
            h1 { "Something went wrong" }
            p.problem { (message) }
            p { a href="/" { "Back to the queue" } }
        },
    );
    (status, axum::response::Html(markup.into_string())).into_response()
}

pub(super) fn layout(title: &str, signed: Option<&Signed>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Garrison" }
                link rel="stylesheet" href="/static/console.css";
            }
            body {
                header.top {
                    a.brand href="/" { "Garrison" }
                    @if let Some(signed) = signed {
                        nav {
                            a href="/" { "Queue" }
                            a href="/approvals" { "Approvals" }
                            a href="/rules" { "Rules" }
                            a href="/policy" { "Policy" }
                            a href="/audit" { "Audit log" }
                            a href="/agents" { "Agents" }
                        }
                        form.signout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(signed.csrf);
                            span.who { (signed.principal.user) " · " (signed.principal.role) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

pub(super) fn severity(level: Level) -> Markup {
    html! { span class={ "sev sev-" (level.as_str()) } { (level.as_str()) } }
}

pub(super) fn time(at: Option<garrison_model::Timestamp>) -> Markup {
    html! {
        @match at {
            Some(at) => time datetime=(at) { (at.strftime("%Y-%m-%d %H:%M:%S")) },
            None => span.muted { "—" },
        }
    }
}

pub(super) fn evidence_link(id: EvidenceId) -> Markup {
    html! { a.evidence href={ "/evidence/" (id) } { (id) } }
}

/// A page that goes on to `next` (a path of this site) at once: after single sign-on, so that
/// the browser's next request starts on this site and carries the strict session cookie.
pub fn continue_to(next: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={ "0; url=" (next) };
                title { "Signed in · Garrison" }
                link rel="stylesheet" href="/static/console.css";
            }
            body { main { p { "Signed in. " a href=(next) { "Continue" } } } }
        }
    }
}

pub fn login(next: &str, error: Option<&str>, sso: bool) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            section.signin {
                h1 { "Sign in" }
                @if let Some(error) = error { p.problem role="alert" { (error) } }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label { "Name" input name="user" autocomplete="username" required autofocus; }
                    label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                    button type="submit" { "Sign in" }
                }
                @if sso {
                    p { a.sso href={ "/login/oidc?next=" (crate::url::query_value(next)) } { "Sign in with single sign-on" } }
                }
            }
        },
    )
}

/// The queue's filter form, as typed (blank fields are no filter).
#[derive(Debug, Default, serde::Deserialize)]
pub struct QueueForm {
    pub min_severity: Option<String>,
    pub escalated: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub q: Option<String>,
    pub status: Option<String>,
    pub assignee: Option<String>,
    pub offset: Option<u64>,
}

impl QueueForm {
    fn link(&self, offset: u64) -> String {
        let mut query = vec![format!("offset={offset}")];
        for (name, value) in [
            ("min_severity", &self.min_severity),
            ("escalated", &self.escalated),
            ("host", &self.host),
            ("user", &self.user),
            ("q", &self.q),
            ("status", &self.status),
            ("assignee", &self.assignee),
        ] {
            if let Some(value) = value.as_deref().filter(|value| !value.is_empty()) {
                query.push(format!("{name}={}", crate::url::query_value(value)));
            }
        }
        format!("/?{}", query.join("&"))
    }
}

pub fn queue(signed: &Signed, form: &QueueForm, page: &IncidentPage) -> Markup {
    let chosen = |value: &Option<String>, option: &str| value.as_deref() == Some(option);
    layout(
        "Queue",
        Some(signed),
        html! {
            h1 { "Incident queue" }
            p #live .live hidden { span {} " " a href="" { "Reload" } }
            script src="/static/console.js" defer {}
            form.filters method="get" action="/" {
                label { "Severity at least "
                    select name="min_severity" {
                        option value="" { "any" }
                        @for level in Level::ALL {
                            option value=(level.as_str()) selected[chosen(&form.min_severity, level.as_str())] { (level.as_str()) }
                        }
                    }
                }
                label { "Escalated "
                    select name="escalated" {
                        option value="" { "any" }
                        option value="true" selected[chosen(&form.escalated, "true")] { "yes" }
                        option value="false" selected[chosen(&form.escalated, "false")] { "no" }
                    }
                }
                label { "Host " input name="host" value=[form.host.as_deref()]; }
                label { "User " input name="user" value=[form.user.as_deref()]; }
                label { "Text " input name="q" value=[form.q.as_deref()]; }
                label { "Status "
                    select name="status" {
                        option value="" { "any" }
                        @for status in CaseStatus::ALL {
                            option value=(status.as_str()) selected[chosen(&form.status, status.as_str())] { (status.as_str().replace('_', " ")) }
                        }
                    }
                }
                label { "Assignee " input name="assignee" value=[form.assignee.as_deref()]; }
                button type="submit" { "Filter" }
            }
            p.count { (page.total) " incidents" @if page.total > 0 { ", " (page.offset + 1) "–" (page.offset + page.incidents.len() as u64) " shown" } }
            table.queue {
                thead { tr { th { "Severity" } th { "Incident" } th { "Status" } th { "Hosts" } th { "Tactics" } th { "Alerts" } th { "Confidence" } th { "Last seen" } th { "Verification" } } }
                tbody {
                    @for incident in &page.incidents {
                        tr class=@if incident.escalated { "escalated" } @else { "" } {
                            td { (severity(incident.severity)) @if incident.escalated { " " span.flag { "escalated" } } }
                            td { a href={ "/incidents/" (incident.id) } { (incident.title) } }
                            td { (incident.status.as_str().replace('_', " ")) @if let Some(assignee) = &incident.assignee { br; span.muted { (assignee) } } }
                            td { @for (n, host) in incident.hosts.iter().enumerate() { @if n > 0 { ", " } a href=(super::tuning::entity_href("host", host)) { (host) } } }
                            td { (incident.tactics.join(", ")) }
                            td.num { (incident.alerts) }
                            td.num { (format!("{:.0}%", incident.confidence * 100.0)) }
                            td { (time(incident.last_seen)) }
                            td { (format!("{:?}", incident.verification).to_lowercase()) }
                        }
                    }
                }
            }
            nav.pages {
                @if page.offset > 0 {
                    a rel="prev" href=(form.link(page.offset.saturating_sub(u64::from(page.limit)))) { "← Previous" }
                }
                @if page.offset + (page.incidents.len() as u64) < page.total {
                    a rel="next" href=(form.link(page.offset + u64::from(page.limit))) { "Next →" }
                }
            }
        },
    )
}

fn process_tree(nodes: &[ProcessNode]) -> Markup {
    html! {
        ul.tree {
            @for node in nodes {
                li {
                    code { (node.image) }
                    @if let Some(pid) = &node.process_id { " " span.muted { "pid " (pid) } }
                    " " (evidence_link(node.evidence))
                    @if let Some(command) = &node.command_line { div.command { code { (command) } } }
                    @if !node.children.is_empty() { (process_tree(&node.children)) }
                }
            }
        }
    }
}

/// The incident and its entities as a star: the incident in the middle, each entity around it.
/// (SVG elements are closed explicitly: in HTML, an unclosed `<line>` would swallow the rest.)
fn entity_graph(detail: &IncidentDetail) -> Markup {
    let entities: Vec<_> = detail.incident.entities.iter().take(24).collect();
    let (cx, cy, r) = (320.0_f64, 170.0_f64, 130.0_f64);
    let placed: Vec<(f64, f64, String, String)> = entities
        .iter()
        .enumerate()
        .map(|(n, entity)| {
            let angle = std::f64::consts::TAU * n as f64 / entities.len().max(1) as f64;
            (
                cx + r * angle.cos() * 1.6,
                cy + r * angle.sin(),
                format!("{:?}", entity.kind).to_lowercase(),
                entity.value.clone(),
            )
        })
        .collect();
    html! {
        svg.graph viewBox="0 0 640 340" role="img" aria-label="Entities of the incident" {
            @for (x, y, _, _) in &placed {
                line x1=(cx) y1=(cy) x2=(x) y2=(y) stroke="#8a94a6" stroke-width="1" {}
            }
            circle cx=(cx) cy=(cy) r="26" fill="#b3261e" {}
            text x=(cx) y=(cy + 4.0) text-anchor="middle" fill="#fff" font-size="11" { "incident" }
            @for (x, y, kind, value) in &placed {
                circle cx=(x) cy=(y) r="7" fill="#2f5d8a" {}
                text x=(x) y=(y - 11.0) text-anchor="middle" font-size="10" fill="#555" { (kind) }
                text x=(x) y=(y + 19.0) text-anchor="middle" font-size="11" fill="#111" { (value.chars().take(40).collect::<String>()) }
            }
        }
    }
}

fn decision_forms(signed: &Signed, action: &ActionRecord, back: &str) -> Markup {
    html! {
        @if action.state == ActionState::AwaitingApproval && signed.principal.role.allows(Role::Responder) {
            form.inline method="post" action={ "/actions/" (action.key) "/approve" } {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="back" value=(back);
                button.approve type="submit" { "Approve" }
            }
            form.inline method="post" action={ "/actions/" (action.key) "/reject" } {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="back" value=(back);
                input name="reason" placeholder="why not" required maxlength="2000";
                button.reject type="submit" { "Reject" }
            }
            form.inline method="post" action={ "/actions/" (action.key) "/modify" } {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="back" value=(back);
                input name="value" placeholder={ "another " (format!("{:?}", action.target.kind).to_lowercase()) } required maxlength="512";
                button.reject type="submit" { "Modify" }
            }
        }
    }
}

fn actions_table(
    signed: &Signed,
    actions: &[ActionRecord],
    back: &str,
    incident_column: bool,
) -> Markup {
    html! {
        table.actions {
            thead { tr {
                @if incident_column { th { "Incident" } }
                th { "Action" } th { "Target" } th { "State" } th { "Policy" } th { "Why" } th { "Decided by" } th { "Outcome" } th {}
            } }
            tbody {
                @for action in actions {
                    tr id={ "action-" (action.key) } {
                        @if incident_column { td { a href={ "/incidents/" (action.incident) } { (action.incident) } } }
                        td { (action.kind.as_str()) }
                        td { (format!("{:?}", action.target.kind).to_lowercase()) " " code { (action.target.value) } }
                        td { span class={ "state state-" (action.state) } { (action.state) } }
                        td { (format!("{:?}", action.verdict).to_lowercase()) br; span.muted { (format!("{:?}", action.autonomy).to_lowercase()) } }
                        td {
                            @if let Some((first, rest)) = action.reasons.split_first() {
                                @if rest.is_empty() { (first) }
                                @else { details { summary { (first) } ul.reasons { @for reason in rest { li { (reason) } } } } }
                            }
                        }
                        td { (action.decided_by.as_deref().unwrap_or("—")) }
                        td { (action.outcome.as_deref().unwrap_or("—")) }
                        td { (decision_forms(signed, action, back)) }
                    }
                }
            }
        }
    }
}

fn case_section(signed: &Signed, detail: &IncidentDetail, analyst: bool) -> Markup {
    let id = &detail.incident.id;
    let status = detail
        .case
        .as_ref()
        .map_or(CaseStatus::Open, |case| case.status);
    let assignee = detail
        .case
        .as_ref()
        .and_then(|case| case.assignee.as_deref());
    html! {
        section.case {
            h2 { "Case" }
            p { "Status: " strong.status { (status.as_str().replace('_', " ")) }
                " · assignee: " strong.assignee { (assignee.unwrap_or("nobody")) }
                @if let Some(case) = &detail.case { span.muted { " (changed by " (case.updated_by) " at " (time(Some(case.updated))) ")" } } }
            @if analyst {
                form.inline.case method="post" action={ "/incidents/" (id) "/case" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    select name="status" {
                        @for option in CaseStatus::ALL {
                            option value=(option.as_str()) selected[option == status] { (option.as_str().replace('_', " ")) }
                        }
                    }
                    input name="assignee" placeholder="assignee (user name)" value=[assignee] maxlength="64";
                    button type="submit" { "Update" }
                }
            }
            @for comment in &detail.comments {
                div.comment { p.muted { (comment.by) " at " (time(Some(comment.at))) } p { (comment.text) } }
            }
            @if analyst {
                form.comment method="post" action={ "/incidents/" (id) "/comments" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    textarea name="text" rows="2" maxlength="4000" placeholder="comment" required {}
                    button type="submit" { "Add comment" }
                }
            }
        }
    }
}

pub fn incident(signed: &Signed, detail: &IncidentDetail) -> Markup {
    let incident = &detail.incident;
    let back = format!("/incidents/{}", incident.id);
    let analyst = signed.principal.role.allows(Role::Analyst);
    layout(
        &incident.title,
        Some(signed),
        html! {
            p.crumbs { a href="/" { "Queue" } " / " (incident.id) }
            h1 { (incident.title) }
            p.facts {
                (severity(incident.severity))
                @if incident.escalated { " " span.flag { "escalated" } }
                " confidence " (format!("{:.0}%", incident.confidence * 100.0))
                " · " (format!("{:?}", incident.disposition).to_lowercase())
                " · verification: " span.verification { (format!("{:?}", incident.verification.status).to_lowercase()) }
                " · " (time(incident.first_seen)) " to " (time(incident.last_seen))
                " · version " (incident.version)
            }
            p.ack {
                @match &detail.acknowledged {
                    Some(ack) => { "Taken on by " (ack.by) " at " (time(Some(ack.at))) }
                    None => {
                        "Nobody has taken this on. "
                        @if analyst {
                            form.inline method="post" action={ "/incidents/" (incident.id) "/acknowledge" } {
                                input type="hidden" name="csrf" value=(signed.csrf);
                                button type="submit" { "Take it on" }
                            }
                        }
                    }
                }
            }
            (case_section(signed, detail, analyst))
            section { h2 { "Hypothesis" } p { (incident.hypothesis) } }
            section {
                h2 { "ATT&CK chain" }
                ol.chain { @for tactic in &incident.tactics { li { (tactic) } } }
                @if !incident.techniques.is_empty() { p { "Techniques: " (incident.techniques.join(", ")) } }
            }
            section {
                h2 { "Reasoning" }
                ol.reasoning {
                    @for claim in &incident.reasoning {
                        li { (claim.claim) " " span.cites { @for id in &claim.evidence { (evidence_link(*id)) " " } } }
                    }
                }
                @if !incident.verification.removed_claims.is_empty() {
                    h3 { "Claims the verifier removed" }
                    ul { @for removed in &incident.verification.removed_claims { li { (removed.claim) ": " span.muted { (removed.reason) } } } }
                }
            }
            section {
                h2 { "Response actions" }
                @if detail.actions.is_empty() { p.muted { "None proposed." } }
                @else { (actions_table(signed, &detail.actions, &back, false)) }
            }
            section {
                h2 { "Verdict" }
                @for verdict in &detail.verdicts {
                    p.verdict { (verdict.verdict.as_str()) " by " (verdict.by) " at " (time(Some(verdict.at)))
                        @if let Some(note) = &verdict.note { ": " (note) } }
                }
                @if analyst {
                    form.verdict method="post" action={ "/incidents/" (incident.id) "/verdict" } {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        @for verdict in AnalystVerdict::ALL {
                            label.choice { input type="radio" name="verdict" value=(verdict.as_str()) required; (verdict.as_str().replace('_', " ")) }
                        }
                        input name="note" placeholder="note (optional)" maxlength="2000";
                        button type="submit" { "Record verdict" }
                    }
                }
            }
            section {
                h2 { "Timeline" }
                table.timeline {
                    thead { tr { th { "Time" } th { "What" } th { "Tactics" } th { "Evidence" } } }
                    tbody { @for entry in &incident.timeline {
                        tr { td { (time(entry.timestamp)) } td { (entry.summary) } td { (entry.tactics.join(", ")) } td { (evidence_link(entry.evidence)) } }
                    } }
                }
            }
            @if !incident.process_tree.is_empty() {
                section { h2 { "Process tree" } (process_tree(&incident.process_tree)) }
            }
            section {
                h2 { "Entities" }
                (entity_graph(detail))
                ul.entities { @for entity in &incident.entities { li { span.muted { (format!("{:?}", entity.kind).to_lowercase()) } " "
                    @match entity.kind {
                        EntityKind::Host => a href=(super::tuning::entity_href("host", &entity.value)) { (entity.value) },
                        EntityKind::User => a href=(super::tuning::entity_href("user", &entity.value)) { (entity.value) },
                        _ => (entity.value),
                    }
                } } }
            }
            section {
                h2 { "Alerts" }
                table.alerts {
                    thead { tr { th { "Time" } th { "Rule" } th { "Level" } th { "Repeats" } th { "Evidence" } } }
                    tbody { @for alert in &incident.alerts {
                        tr { td { (time(alert.timestamp)) } td { (alert.title) br; span.muted { (alert.rule_id) } } td { (severity(alert.level)) } td.num { (alert.repeats) } td { (evidence_link(alert.evidence)) } }
                    } }
                }
            }
        },
    )
}

pub fn evidence(signed: &Signed, record: &EvidenceRecord, original: &OriginalRecord) -> Markup {
    layout(
        &record.id.to_string(),
        Some(signed),
        html! {
            p.crumbs { a href="/" { "Queue" } " / evidence " (record.id) }
            h1 { "Evidence " (record.id) }
            dl.source {
                dt { "Original record" } dd { code { (record.source.path) } @if let Some(member) = &record.source.member { " ! " code { (member) } } }
                dt { "Record" } dd { "#" (record.source.record_id) " at byte " (record.source.offset) }
                dt { "Time" } dd { (time(record.timestamp)) }
                dt { "Host" } dd { @match &record.host { Some(host) => a href=(super::tuning::entity_href("host", host)) { (host) }, None => "—" } }
                dt { "User" } dd { @match &record.user { Some(user) => a href=(super::tuning::entity_href("user", user)) { (user) }, None => "—" } }
                dt { "Channel" } dd { (record.channel.as_deref().unwrap_or("—")) @if let Some(id) = record.event_id { " · event " (id) } }
            }
            table.fields {
                thead { tr { th { "Field" } th { "Value" } } }
                tbody { @for field in &record.fields { tr { th { (field.name) } td { code { (field.value) } } } } }
            }
            h2 { "As taken" }
            @match (&original.raw, &original.raw_error) {
                (Some(raw), _) => {
                    p.muted { (raw.format) @if raw.truncated { ", cut at 1 MiB" } }
                    pre.original { code { (raw.text) } }
                },
                (None, error) => p.problem { "The original cannot be read again: " (error.as_deref().unwrap_or("")) },
            }
            h2 { "OCSF" }
            @match (&original.ocsf, &original.ocsf_error) {
                (Some(ocsf), _) => {
                    p.muted { "class_uid " (original.ocsf_class_uid.unwrap_or(0)) }
                    pre.ocsf { code { (serde_json::to_string_pretty(ocsf).unwrap_or_default()) } }
                },
                (None, error) => p.muted { "No OCSF form: " (error.as_deref().unwrap_or("")) },
            }
        },
    )
}

pub fn approvals(signed: &Signed, actions: &[ActionRecord]) -> Markup {
    layout(
        "Approvals",
        Some(signed),
        html! {
            h1 { "Awaiting approval" }
            @if actions.is_empty() { p.muted { "Nothing awaits a decision." } }
            @else { (actions_table(signed, actions, "/approvals", true)) }
        },
    )
}

pub fn audit(
    signed: &Signed,
    page: &AuditPage,
    verification: &AuditVerification,
    next_link: Option<String>,
) -> Markup {
    layout(
        "Audit log",
        Some(signed),
        html! {
            h1 { "Audit log" }
            p class=@if verification.intact { "chain intact" } @else { "chain broken" } {
                @if verification.intact { "The hash chain is intact: " (verification.checked) " entries checked" @if let Some(head) = &verification.head { ", head " code { (head) } } "." }
                @else { "The hash chain is broken: " (verification.violation.as_deref().unwrap_or("")) }
            }
            form.filters method="get" action="/audit" {
                label { "Actor " input name="actor"; }
                label { "Action " input name="action"; }
                label { "Subject " input name="subject"; }
                button type="submit" { "Filter" }
            }
            table.audit {
                thead { tr { th { "#" } th { "At" } th { "Actor" } th { "Action" } th { "Subject" } th { "Detail" } } }
                tbody { @for entry in &page.entries {
                    tr { td.num { (entry.seq) } td { (entry.at) } td { (entry.actor) } td { code { (entry.action) } } td { (entry.subject) } td { (entry.detail) } }
                } }
            }
            @if let Some(link) = next_link { nav.pages { a rel="next" href=(link) { "More entries →" } } }
        },
    )
}

pub fn agents(signed: &Signed, report: &AgentsReport) -> Markup {
    layout(
        "Agents",
        Some(signed),
        html! {
            h1 { "Agents" }
            p.muted { "Up for " (report.uptime_seconds) " s." }
            @if report.agents.is_empty() { p.muted { "This process runs no agents." } }
            @else {
                table.agents {
                    thead { tr { th { "Role" } th { "Handled" } th { "Handled/s" } th { "Failed" } th { "Rejected" } th { "Duplicates" } th { "Published" } th { "Restarts" } th { "State" } } }
                    tbody { @for agent in &report.agents {
                        tr { td { (agent.role) } td.num { (agent.handled) } td.num { @match agent.handled_per_second { Some(rate) => (format!("{rate:.1}")), None => "—" } } td.num { (agent.failed) } td.num { (agent.rejected) } td.num { (agent.duplicates) } td.num { (agent.published) } td.num { (agent.restarts) }
                            td { @if agent.stopped { span.problem { "stopped" } } @else { "running" } } }
                    } }
                }
            }
            h2 { "Bus queues" }
            table.queues {
                thead { tr { th { "Consumer" } th { "Queued" } th { "Delivered" } th { "Acknowledged" } th { "Redelivered" } th { "Dead letters" } } }
                tbody { @for queue in &report.queues {
                    tr { td { (queue.consumer) } td.num { (queue.queued) } td.num { (queue.delivered) } td.num { (queue.acked) } td.num { (queue.redelivered) } td.num { (queue.dead_lettered) } }
                } }
            }
        },
    )
}
