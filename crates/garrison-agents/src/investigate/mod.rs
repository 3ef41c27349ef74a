//! Investigation: links each triaged alert to the open incident it belongs with (same host, or
//! same person or indicator across hosts, close in time), then rebuilds that incident from the
//! evidence store: timeline, process tree, ATT&CK chain, entities, and the claims it makes,
//! each with the evidence that supports it.

use crate::AgentError;
use crate::evidence::{
    CACHED_RECORDS, CachedEvidence, cloud_place, event_summary, is_machine_account,
};
use crate::messages::{TeamMessage, TriageDecision, TriagedAlert, Verdict};
use crate::process_tree::{self, process_key};
use crate::runtime::{Agent, Context};
use garrison_model::incident::{
    AlertSummary, EvidenceItem, TimelineEntry, Verification, VerificationStatus, tactic_rank,
};
use garrison_model::{
    Alert, AlertId, Assertion, Claim, Disposition, Entity, EntityKind, EvidenceId, Incident,
    IncidentId, Level, Timestamp,
};
use garrison_store::{EvidenceStore, IncidentStore, StoredEvent};
use jiff::SignedDuration;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

mod federation;
mod held;
mod resolve;
mod saved;
mod wording;

use wording::{capitalize, indicators, person, principal};

/// Distinct rules naming no ATT&CK tactic, each firing on its host for the first time and
/// scored worth investigating, from which an incident is one level more severe than its
/// worst alert.
const NEW_RULES_RAISE: usize = 2;

#[derive(Debug, Clone)]
pub struct InvestigateConfig {
    /// An alert joins an incident when it is at most this far from the incident's span.
    pub link_window: SignedDuration,
    /// An address a network sensor reports resolves to the host that used it nearest in time,
    /// at most this far away (addresses are leased for hours to days).
    pub address_window: SignedDuration,
    /// Partitions triage is cut into (0 or 1: none): alerts of different partitions arrive
    /// out of time order, so an incident is closed only once every partition has moved past it.
    pub partitions: u32,
}

impl Default for InvestigateConfig {
    fn default() -> Self {
        InvestigateConfig {
            link_window: SignedDuration::from_hours(1),
            address_window: SignedDuration::from_hours(24),
            partitions: 1,
        }
    }
}

/// An open incident's working state.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Case {
    id: IncidentId,
    version: u64,
    hosts: BTreeSet<String>,
    users: BTreeSet<String>,
    indicators: BTreeSet<Entity>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    alerts: Vec<(Alert, TriageDecision)>,
    /// Repeats of the case's alerts (by the first alert's id): how many, and the last time.
    repeats: HashMap<garrison_model::AlertId, (u64, Option<Timestamp>)>,
    /// Signing material of federations read, and cloud activity of their users.
    #[serde(default)]
    federation: federation::Federation,
    /// The incident this one was merged into.
    superseded_by: Option<IncidentId>,
    /// What was last published for it (kept to publish its superseded version).
    published: Option<Incident>,
    /// This instance has checked the store for versions published before it held the case
    /// (by an owner it took over from, after the state it restored or replayed).
    #[serde(skip)]
    checked: bool,
}

pub struct Investigate {
    config: InvestigateConfig,
    evidence: CachedEvidence,
    incidents: Arc<dyn IncidentStore>,
    cases: Vec<Case>,
    /// Process starts already read (they never change either).
    starts: RefCell<HashMap<String, StoredEvent>>,
    /// Cases changed since they were last published: while alerts are still queued, an
    /// incident is rebuilt and published once for the burst instead of once per alert.
    dirty: BTreeSet<usize>,
    /// With triage in partitions, how far each has got.
    watermark: crate::watermark::Watermark,
    /// Where the cases' alerts are: alert id -> (case, position among its alerts), in case
    /// order. Built when first needed after cases were merged, dropped or restored (`None`
    /// until then), kept up as alerts join: a flood of repeats finds the alert each repeats
    /// at once instead of reading every alert held.
    held: Option<HashMap<AlertId, Vec<(usize, usize)>>>,
}

/// The earlier of two times; an unknown one gives way to a known one.
fn earlier(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Open cases kept at most while a partition lags: beyond it, cases are closed by the newest
/// alert seen, as without partitions (memory stays bounded).
const CASES_KEPT: usize = 10_000;

fn temporary(error: impl std::fmt::Display) -> AgentError {
    AgentError::Temporary(error.to_string())
}

impl Investigate {
    pub fn new(
        config: InvestigateConfig,
        evidence: Arc<dyn EvidenceStore>,
        incidents: Arc<dyn IncidentStore>,
    ) -> Investigate {
        Investigate {
            evidence: CachedEvidence::new(evidence),
            incidents,
            cases: Vec::new(),
            starts: RefCell::new(HashMap::new()),
            dirty: BTreeSet::new(),
            watermark: crate::watermark::Watermark::new(config.partitions),
            held: None,
            config,
        }
    }

    /// Publishes every changed case as a new incident version.
    fn flush(&mut self) -> Result<Vec<TeamMessage>, AgentError> {
        let mut outputs = Vec::new();
        let dirty = std::mem::take(&mut self.dirty);
        for &index in &dirty {
            if self.cases[index].superseded_by.is_some() {
                continue;
            }
            self.catch_up(index)?;
            self.cases[index].version += 1;
            let incident = match self.build(&self.cases[index]) {
                Ok(incident) => incident,
                Err(error) => {
                    // Nothing is lost: every case of the burst is published on the retry.
                    self.dirty = dirty;
                    return Err(error);
                }
            };
            self.cases[index].published = Some(incident.clone());
            outputs.push(TeamMessage::IncidentProposed { incident });
        }
        self.forget_closed();
        Ok(outputs)
    }

    /// Continues a case's versions after what the store holds, the first time this instance
    /// publishes it: an owner that died may have published versions after the state this one
    /// restored (the store keeps only newer versions, so a lower one would be lost).
    fn catch_up(&mut self, index: usize) -> Result<(), AgentError> {
        if self.cases[index].checked {
            return Ok(());
        }
        let stored = self
            .incidents
            .incident(&self.cases[index].id)
            .map_err(temporary)?
            .map_or(0, |stored| stored.version);
        let case = &mut self.cases[index];
        case.version = case.version.max(stored);
        case.checked = true;
        Ok(())
    }

    /// Incidents held in memory, open to new alerts.
    pub fn open_cases(&self) -> usize {
        self.cases.len()
    }

    /// Drops from memory the cases no new alert can join any more (quiet for twice the link
    /// window before the newest alert seen; with partitions, before the oldest of the
    /// partitions' newest) and those merged into others: their incidents stay in the store,
    /// and memory stays bounded however long the team runs.
    fn forget_closed(&mut self) {
        debug_assert!(self.dirty.is_empty(), "indices in `dirty` would shift");
        let newest = match self.watermark.tracks() && self.cases.len() <= CASES_KEPT {
            true => self.watermark.reached(),
            false => self.cases.iter().filter_map(|case| case.last).max(),
        };
        let Some(newest) = newest else {
            return;
        };
        let horizon = newest
            .checked_sub(self.config.link_window * 2)
            .unwrap_or(newest);
        let before = self.cases.len();
        self.cases.retain(|case| {
            case.superseded_by.is_none() && case.last.is_none_or(|last| last >= horizon)
        });
        if self.cases.len() < before {
            self.held = None;
        }
    }

    /// The open incidents `alert` belongs with: close in time, and on the same host, or by the
    /// same person, or sharing an indicator. Oldest first.
    fn cases_for(&self, alert: &Alert) -> Vec<usize> {
        let window = self.config.link_window;
        let close = |case: &Case| match (alert.timestamp, case.first, case.last) {
            (Some(at), Some(first), Some(last)) => {
                at >= first.checked_sub(window).unwrap_or(first)
                    && at <= last.checked_add(window).unwrap_or(last)
            }
            _ => true,
        };
        let host = alert.host.as_deref().map(str::to_lowercase);
        let person = person(alert);
        let mut found: Vec<usize> = self
            .cases
            .iter()
            .enumerate()
            .filter(|(_, case)| case.superseded_by.is_none() && close(case))
            .filter(|(_, case)| {
                host.as_ref().is_some_and(|host| case.hosts.contains(host))
                    || person
                        .as_ref()
                        .is_some_and(|person| case.users.contains(person))
                    || indicators(alert).any(|entity| case.indicators.contains(entity))
                    || case.federation.ties(alert)
            })
            .map(|(index, _)| index)
            .collect();
        found.sort_by_key(|index| (self.cases[*index].first, *index));
        found
    }

    /// Moves every alert of `from` into `into`; `from` now points to `into`.
    fn merge(&mut self, into: usize, from: usize) {
        self.held = None;
        let taken = std::mem::take(&mut self.cases[from].alerts);
        let repeats = std::mem::take(&mut self.cases[from].repeats);
        let (hosts, users, indicators) = {
            let source = &mut self.cases[from];
            (
                std::mem::take(&mut source.hosts),
                std::mem::take(&mut source.users),
                std::mem::take(&mut source.indicators),
            )
        };
        let federation = std::mem::take(&mut self.cases[from].federation);
        let (first, last) = (self.cases[from].first, self.cases[from].last);
        let target_id = self.cases[into].id.clone();
        self.cases[from].superseded_by = Some(target_id);
        let target = &mut self.cases[into];
        target.alerts.extend(taken);
        target.repeats.extend(repeats);
        target.hosts.extend(hosts);
        target.users.extend(users);
        target.indicators.extend(indicators);
        target.federation.absorb(federation);
        target.first = earlier(target.first, first);
        target.last = target.last.max(last);
    }

    fn stored(&self, id: EvidenceId) -> Result<Option<StoredEvent>, AgentError> {
        self.evidence.event(id).map_err(temporary)
    }

    /// The incident as the evidence shows it now.
    fn build(&self, case: &Case) -> Result<Incident, AgentError> {
        let mut alerts: Vec<&(Alert, TriageDecision)> = case.alerts.iter().collect();
        alerts.sort_by(|a, b| (a.0.timestamp, &a.0.id).cmp(&(b.0.timestamp, &b.0.id)));
        let mut evidence: BTreeMap<EvidenceId, EvidenceItem> = BTreeMap::new();
        let mut events: BTreeMap<EvidenceId, StoredEvent> = BTreeMap::new();
        // The records of the alerts not seen yet, read at once: a shared store is a round
        // trip away, and a case grows by many alerts between builds.
        self.evidence
            .prefetch(alerts.iter().map(|(alert, _)| alert.evidence))
            .map_err(temporary)?;
        for (alert, _) in &alerts {
            if let Some(event) = self.stored(alert.evidence)? {
                events.insert(event.id, event);
            }
        }
        fn cite(evidence: &mut BTreeMap<EvidenceId, EvidenceItem>, event: &StoredEvent) {
            evidence.entry(event.id).or_insert_with(|| EvidenceItem {
                id: event.id,
                source: event.source.clone(),
                timestamp: event.timestamp,
                summary: event_summary(event),
            });
        }
        for event in events.values() {
            cite(&mut evidence, event);
        }

        // Context: the alerts' processes, their ancestors and descendants, by key.
        let focus: BTreeSet<String> = events.values().filter_map(process_key).collect();
        let context = {
            let mut starts = self.starts.borrow_mut();
            if starts.len() >= CACHED_RECORDS {
                starts.clear();
            }
            process_tree::gather(self.evidence.store(), &focus, &mut starts).map_err(temporary)?
        };
        let (process_tree, spawns) = process_tree::build(&context, &focus);
        let context_by_id: BTreeMap<EvidenceId, &StoredEvent> =
            context.iter().map(|event| (event.id, event)).collect();

        let mut reasoning = Vec::new();
        let mut tactics: Vec<String> = Vec::new();
        let mut techniques: BTreeSet<String> = BTreeSet::new();
        let mut entities: BTreeSet<Entity> = BTreeSet::new();
        let mut timeline = Vec::new();
        let mut first_of_tactic: BTreeMap<usize, (&Alert, String)> = BTreeMap::new();
        let mut ruled: BTreeSet<&str> = BTreeSet::new();
        // Untagged rules new on their host, as "rule on host".
        let mut new_rules: BTreeSet<String> = BTreeSet::new();
        let mut severity = Level::Informational;
        let mut best_score = 0;
        for (alert, decision) in &alerts {
            let alert_tactics = alert.rule.tactics();
            let alert_tactics_empty = alert_tactics.is_empty();
            for tactic in &alert_tactics {
                if !tactics.contains(tactic) {
                    tactics.push(tactic.clone());
                }
                if let Some(rank) = tactic_rank(tactic) {
                    first_of_tactic
                        .entry(rank)
                        .or_insert((alert, tactic.clone()));
                }
            }
            techniques.extend(alert.rule.techniques());
            entities.extend(alert.entities.iter().cloned());
            severity = severity.max(alert.rule.level);
            best_score = best_score.max(decision.score);
            timeline.push(TimelineEntry {
                timestamp: alert.timestamp,
                evidence: alert.evidence,
                summary: format!(
                    "{}: {}",
                    alert.rule.title,
                    evidence
                        .get(&alert.evidence)
                        .map_or("", |item| item.summary.as_str())
                ),
                tactics: alert_tactics,
            });
            if !ruled.insert(&alert.rule.id) {
                continue;
            }
            if alert_tactics_empty
                && decision.new_on_host
                && decision.verdict == Verdict::Investigate
            {
                new_rules.insert(format!(
                    "{} on {}",
                    alert.rule.id,
                    alert.host.as_deref().unwrap_or("?")
                ));
            }
            reasoning.push(Claim {
                claim: format!(
                    "Rule \"{}\" ({}) matched record {}",
                    alert.rule.title, alert.rule.level, alert.evidence
                ),
                evidence: vec![alert.evidence],
                assertion: Assertion::RuleMatched {
                    rule_id: alert.rule.id.clone(),
                    evidence: alert.evidence,
                },
            });
            // One field claim per record, however many rules matched it.
            let claimed = reasoning.iter().any(|claim: &Claim| {
                matches!(&claim.assertion, Assertion::FieldEquals { evidence, .. } if *evidence == alert.evidence)
            });
            if let Some(event) = events.get(&alert.evidence).filter(|_| !claimed) {
                for field in ["CommandLine", "Image", "TargetUserName"] {
                    if let Some(value) = event.field(field).filter(|v| !v.is_empty() && *v != "-") {
                        reasoning.push(Claim {
                            claim: format!("Record {} shows {field} = {value}", alert.evidence),
                            evidence: vec![alert.evidence],
                            assertion: Assertion::FieldEquals {
                                evidence: alert.evidence,
                                field: field.to_string(),
                                value: value.to_string(),
                            },
                        });
                        break;
                    }
                }
            }
        }
        tactics.sort_by_key(|tactic| tactic_rank(tactic));
        // The kill chain: each stage came no later than the next, when the evidence says so.
        let stages: Vec<&(&Alert, String)> = first_of_tactic.values().collect();
        for pair in stages.windows(2) {
            let ((earlier, earlier_tactic), (later, later_tactic)) = (pair[0], pair[1]);
            if let (Some(a), Some(b)) = (earlier.timestamp, later.timestamp)
                && a <= b
                && earlier.evidence != later.evidence
            {
                reasoning.push(Claim {
                    claim: format!(
                        "{earlier_tactic} ({}) came before {later_tactic} ({})",
                        earlier.evidence, later.evidence
                    ),
                    evidence: vec![earlier.evidence, later.evidence],
                    assertion: Assertion::Precedes {
                        earlier: earlier.evidence,
                        later: later.evidence,
                    },
                });
            }
        }
        // Logon sessions: an alerted action done in a session that came in over the network or
        // by remote desktop was done from another machine.
        let mut sessions: BTreeSet<EvidenceId> = BTreeSet::new();
        for event in events.values() {
            let Some(key) = event
                .session_key
                .as_deref()
                .filter(|_| event.event_id != Some(4624))
            else {
                continue;
            };
            let Some(logon) = self
                .evidence
                .store()
                .session_start(key)
                .map_err(temporary)?
            else {
                continue;
            };
            let kind = match logon.field("LogonType") {
                Some("3") => "network",
                Some("10") => "remote desktop",
                _ => continue,
            };
            let Some(address) = logon
                .field("IpAddress")
                .filter(|ip| !matches!(*ip, "" | "-" | "::1" | "127.0.0.1"))
            else {
                continue;
            };
            let account = logon.field("TargetUserName").unwrap_or("?");
            if is_machine_account(account) || !sessions.insert(logon.id) {
                continue;
            }
            cite(&mut evidence, &logon);
            entities.insert(Entity::new(EntityKind::Ip, address));
            if !tactics.iter().any(|tactic| tactic == "lateral-movement") {
                tactics.push("lateral-movement".into());
            }
            reasoning.push(Claim {
                claim: format!(
                    "The session of {} began with a {kind} logon of {account} ({})",
                    event.id, logon.id
                ),
                evidence: vec![logon.id],
                assertion: Assertion::FieldEquals {
                    evidence: logon.id,
                    field: "LogonType".into(),
                    value: logon.field("LogonType").unwrap_or_default().into(),
                },
            });
            reasoning.push(Claim {
                claim: format!("That logon ({}) came from {address}", logon.id),
                evidence: vec![logon.id],
                assertion: Assertion::FieldEquals {
                    evidence: logon.id,
                    field: "IpAddress".into(),
                    value: address.into(),
                },
            });
        }
        tactics.sort_by_key(|tactic| tactic_rank(tactic));
        reasoning.extend(federation::golden_saml_claim(&alerts));
        let mut by_host: BTreeMap<String, Vec<EvidenceId>> = BTreeMap::new();
        for event in events.values() {
            if let Some(host) = &event.host {
                by_host.entry(host.clone()).or_default().push(event.id);
            }
        }
        for (host, ids) in &by_host {
            reasoning.push(Claim {
                claim: format!("{} alerted record(s) were written on {host}", ids.len()),
                evidence: ids.clone(),
                assertion: Assertion::OnHost {
                    evidence: ids.clone(),
                    host: host.clone(),
                },
            });
        }
        for spawn in &spawns {
            let (Some(parent), Some(child)) = (
                context_by_id.get(&spawn.parent),
                context_by_id.get(&spawn.child),
            ) else {
                continue;
            };
            cite(&mut evidence, parent);
            cite(&mut evidence, child);
            let image = |event: &StoredEvent| {
                crate::evidence::event_image(event)
                    .unwrap_or("?")
                    .to_string()
            };
            entities.insert(Entity::new(EntityKind::Process, image(child)));
            reasoning.push(Claim {
                claim: format!("{} started {}", image(parent), image(child)),
                evidence: vec![spawn.parent, spawn.child],
                assertion: Assertion::SpawnedBy {
                    child: spawn.child,
                    parent: spawn.parent,
                },
            });
        }

        let distinct_tactics = tactics.len();
        // A story several stages long, or told by several detections that name no ATT&CK
        // tactic (other tools' alerts) and never fired on their host before (what is new
        // somewhere stands in for a stage; the background every network has does not), is
        // one level more severe than its worst alert alone.
        let raised_by_new_rules = new_rules.len() >= NEW_RULES_RAISE;
        if (distinct_tactics >= 3 || raised_by_new_rules) && severity < Level::Critical {
            severity = severity.next_higher();
        }
        let mut confidence = f64::from(best_score) / 100.0;
        confidence += 0.1 * distinct_tactics.saturating_sub(1).min(3) as f64;
        if !spawns.is_empty() {
            confidence += 0.05;
        }
        let confidence = (confidence.clamp(0.05, 0.99) * 100.0).round() / 100.0;
        let disposition = if severity >= Level::High && distinct_tactics >= 2 && confidence >= 0.7 {
            Disposition::Malicious
        } else if severity >= Level::Medium {
            Disposition::Suspicious
        } else {
            Disposition::Inconclusive
        };
        // Events from network sensors name no host; their alerts carry the host their address
        // resolved to.
        // Cloud records name no host either: where they were logged (an AWS account, Okta,
        // Entra ID) stands in for it.
        let places: BTreeSet<String> = events.values().filter_map(cloud_place).collect();
        let hosts: Vec<&str> = if by_host.is_empty() {
            let resolved: BTreeSet<&str> = alerts
                .iter()
                .filter_map(|(alert, _)| alert.host.as_deref())
                .chain(places.iter().map(String::as_str))
                .collect();
            resolved.into_iter().collect()
        } else {
            by_host
                .keys()
                .map(String::as_str)
                .chain(places.iter().map(String::as_str))
                .collect()
        };
        let people: Vec<&str> = case.users.iter().map(String::as_str).collect();
        let stages_text = if tactics.is_empty() {
            "suspicious activity".to_string()
        } else {
            tactics
                .iter()
                .map(|t| t.replace('-', " "))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let title = format!(
            "{} on {}{}",
            capitalize(&stages_text),
            if hosts.is_empty() {
                "an unknown host".to_string()
            } else {
                hosts.join(", ")
            },
            principal(&alerts)
                .map(|user| format!(" ({user})"))
                .unwrap_or_default()
        );
        let hypothesis = wording::hypothesis(&wording::Story {
            alerts: alerts.len(),
            rules: ruled.len(),
            hosts: &hosts,
            people: &people,
            tactics: &tactics,
            disposition,
            new_rules: raised_by_new_rules.then_some(&new_rules),
        });
        Ok(Incident {
            id: case.id.clone(),
            version: case.version,
            title,
            severity,
            confidence,
            disposition,
            escalated: severity >= Level::High,
            hypothesis,
            tactics,
            techniques: techniques.into_iter().collect(),
            entities: entities.into_iter().collect(),
            alerts: alerts
                .iter()
                .map(|(alert, _)| {
                    let (repeats, last_repeat) =
                        case.repeats.get(&alert.id).copied().unwrap_or_default();
                    AlertSummary {
                        id: alert.id.clone(),
                        rule_id: alert.rule.id.clone(),
                        title: alert.rule.title.clone(),
                        level: alert.rule.level,
                        timestamp: alert.timestamp,
                        source: alert.source.clone(),
                        evidence: alert.evidence,
                        repeats,
                        last_repeat,
                    }
                })
                .collect(),
            evidence: evidence.into_values().collect(),
            timeline,
            process_tree,
            reasoning,
            verification: Verification {
                status: VerificationStatus::Pending,
                removed_claims: Vec::new(),
            },
            first_seen: case.first,
            last_seen: case.last,
            superseded_by: None,
        })
    }
}

impl Agent<TeamMessage> for Investigate {
    fn checkpoint(&self) -> Option<Vec<u8>> {
        self.save()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        self.load(state)
    }

    async fn handle(
        &mut self,
        envelope: &garrison_bus::Envelope<TeamMessage>,
        context: &Context,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        let TeamMessage::AlertTriaged { triaged } = &envelope.payload else {
            return Err(AgentError::Permanent(
                "investigate reads alert.triaged only".into(),
            ));
        };
        let mut outputs = Vec::new();
        for TriagedAlert { alert, decision } in triaged {
            self.watermark.observe(alert);
            if decision.verdict == Verdict::Close {
                continue;
            }
            let resolved = self.resolve_host(alert)?;
            outputs.extend(self.absorb(resolved.as_ref().unwrap_or(alert), decision)?);
        }
        // Nothing else queued: the burst is over, publish what it changed.
        if context.backlog == 0 {
            outputs.extend(self.flush()?);
        }
        Ok(outputs)
    }

    async fn tick(&mut self, _context: &Context) -> Result<Vec<TeamMessage>, AgentError> {
        // A burst whose last message went elsewhere: whatever is unpublished goes out now.
        self.flush()
    }
}

impl Investigate {
    /// Adds the alert to its incident (merging incidents it ties together); returns the
    /// superseded versions of merged incidents. The incident itself is published by `flush`.
    fn absorb(
        &mut self,
        alert: &Alert,
        decision: &TriageDecision,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        // A repeat of an alert a case holds, from the same file or stream, is counted on it: an
        // incident lists each alert once however often it fired there, and stays the same size
        // under a flood of repeats. A repeat from elsewhere is listed, so every source stays
        // cited.
        if let Some(first) = &decision.duplicate_of
            && let Some(index) = self.case_holding(first, alert)
        {
            let case = &mut self.cases[index];
            let entry = case.repeats.entry(first.clone()).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(alert.timestamp);
            case.last = case.last.max(alert.timestamp);
            self.dirty.insert(index);
            return Ok(Vec::new());
        }
        let matching = self.cases_for(alert);
        let mut outputs = Vec::new();
        let index = match matching.first() {
            Some(&first) => {
                // The alert ties several incidents together: they become one, and the others
                // are published once more, pointing to it.
                // (Their versions are caught up first: nothing has changed if that fails.)
                for &other in &matching[1..] {
                    self.catch_up(other)?;
                }
                for &other in &matching[1..] {
                    self.merge(first, other);
                    let case = &mut self.cases[other];
                    if let Some(mut last) = case.published.take() {
                        case.version += 1;
                        last.version = case.version;
                        last.superseded_by = case.superseded_by.clone();
                        outputs.push(TeamMessage::IncidentProposed { incident: last });
                    }
                }
                first
            }
            None => {
                let id = IncidentId(format!("inc-{:016x}", alert.evidence.0));
                // A store that already holds this incident (an earlier run over the same
                // records) keeps its history: versions continue from there.
                let version = self
                    .incidents
                    .incident(&id)
                    .map_err(temporary)?
                    .map_or(0, |stored| stored.version);
                self.cases.push(Case {
                    id,
                    version,
                    hosts: BTreeSet::new(),
                    users: BTreeSet::new(),
                    indicators: BTreeSet::new(),
                    first: None,
                    last: None,
                    alerts: Vec::new(),
                    repeats: HashMap::new(),
                    federation: Default::default(),
                    superseded_by: None,
                    published: None,
                    checked: true,
                });
                self.cases.len() - 1
            }
        };
        let known = self
            .held()
            .get(&alert.id)
            .is_some_and(|places| places.iter().any(|&(case, _)| case == index));
        if known && outputs.is_empty() {
            return Ok(Vec::new());
        }
        if !known {
            self.hold(index, alert, decision);
            let case = &mut self.cases[index];
            if let Some(host) = &alert.host {
                case.hosts.insert(host.to_lowercase());
            }
            if let Some(person) = person(alert) {
                case.users.insert(person);
            }
            case.indicators.extend(indicators(alert).cloned());
            case.federation.note(alert);
            case.first = earlier(case.first, alert.timestamp);
            case.last = case.last.max(alert.timestamp);
        }
        self.dirty.insert(index);
        Ok(outputs)
    }
}
