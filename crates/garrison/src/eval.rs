//! `garrison eval`: replays labelled alert streams (one scenario per path) through the team,
//! measures what reaches a person against the labels, lets a simulated analyst judge the
//! first escalated incidents of the queue from the labels (one verdict per incident), replays
//! again with what those verdicts taught, and prints both measurements.

use crate::investigate::{InvestigateArgs, Investigation, ReportFormat, TeamInputs};
use crate::{ExitCode, Failure};
use garrison_agents::feedback::judged_alerts;
use garrison_model::feedback::{AnalystVerdict, VerdictRecord, VerdictSubject};
use garrison_model::incident::AlertSummary;
use garrison_model::{AlertId, EvidenceId, Incident, Timestamp};
use garrison_store::{AuditAction, AuditRecord};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub team: TeamInputs,
    /// Verdicts the simulated analyst gives per scenario, on the escalated incidents at the
    /// head of the queue (0: no second run).
    #[arg(long, default_value_t = 20)]
    pub feedback: usize,
    /// The field of each alert record holding its label.
    #[arg(long, default_value = "time_label")]
    pub label_field: String,
    /// Labels that mean "no attack" (repeatable).
    #[arg(long = "benign-label", value_name = "LABEL", default_values_t = ["false_positive".to_string(), "-".to_string()])]
    pub benign_labels: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: crate::respond::ListFormat,
    /// Write the result here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Labelled alert streams, one scenario per path.
    #[command(flatten)]
    pub input: crate::input::InputArgs,
}

/// One measurement (of one scenario, or of all together).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measure {
    pub alerts: usize,
    pub incidents: usize,
    pub escalated: usize,
    /// 1 - escalated incidents / alerts.
    pub workload_reduction: f64,
    /// Attack phases in the labels.
    pub phases_total: usize,
    /// Attack phases with an alert (or a repeat of one) in at least one escalated incident.
    pub phases_found: usize,
    /// Phases no escalated incident holds.
    pub phases_missed: Vec<String>,
    /// Escalated incidents holding only benign-labelled alerts, as a fraction of escalated.
    pub fp_only_escalated: f64,
    pub fp_only_escalated_count: usize,
}

#[derive(Debug, Serialize)]
struct Scenario {
    name: String,
    before: Measure,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<Measure>,
    verdicts: usize,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    before: Measure,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<Measure>,
    feedback: usize,
    scenarios: Vec<Scenario>,
}

/// Labels of an incident's alerts, read from each alert's stored record.
struct Labelled {
    incident: Incident,
    /// The labels of every alert the incident holds: its distinct alerts and their repeats.
    held: Vec<String>,
}

impl Labelled {
    fn phases<'a>(&'a self, benign: &'a [String]) -> impl Iterator<Item = &'a str> + 'a {
        self.held
            .iter()
            .map(String::as_str)
            .filter(move |label| !is_benign(label, benign))
    }
}

/// An alert's time and label.
type LabelledAlert = (Option<Timestamp>, String);

/// Every alert's label, by rule and host in time order, and the attack phases they name.
///
/// Triage folds an alert into the first of its rule on its host within the grouping window
/// (a repeat); the incident holding the first counts it, from the first to the last repeat,
/// and so does the measure: labels are given by time interval, and a phase whose alerts are
/// all repeats is still in front of whoever reads the incident.
struct StreamLabels {
    by_pattern: HashMap<(String, String), Vec<LabelledAlert>>,
    /// By record and rule: the alert's host.
    hosts: HashMap<(EvidenceId, String), String>,
    phases: BTreeSet<String>,
}

impl StreamLabels {
    fn read(run: &Investigation, field: &str, benign: &[String]) -> Result<StreamLabels, Failure> {
        let mut labels = StreamLabels {
            by_pattern: HashMap::new(),
            hosts: HashMap::new(),
            phases: BTreeSet::new(),
        };
        for raised in &run.raised {
            let label = label_of(run, raised.evidence, field)?;
            let host = raised.host.as_deref().unwrap_or("").to_lowercase();
            if !is_benign(&label, benign) {
                labels.phases.insert(label.clone());
            }
            labels
                .hosts
                .insert((raised.evidence, raised.rule_id.clone()), host.clone());
            labels
                .by_pattern
                .entry((raised.rule_id.clone(), host))
                .or_default()
                .push((raised.timestamp, label));
        }
        for alerts in labels.by_pattern.values_mut() {
            alerts.sort_by_key(|alert| alert.0);
        }
        Ok(labels)
    }

    /// The labels of an incident's alert and of its repeats.
    fn held<'a>(&'a self, alert: &AlertSummary) -> impl Iterator<Item = &'a String> + 'a {
        let host = self
            .hosts
            .get(&(alert.evidence, alert.rule_id.clone()))
            .cloned()
            .unwrap_or_default();
        let alerts = self
            .by_pattern
            .get(&(alert.rule_id.clone(), host))
            .map_or(&[][..], Vec::as_slice);
        let first = alert.timestamp;
        let last = alert.last_repeat.max(alert.timestamp);
        let from = alerts.partition_point(|(at, _)| *at < first);
        let to = alerts.partition_point(|(at, _)| *at <= last);
        alerts[from..to.max(from)].iter().map(|(_, label)| label)
    }
}

fn is_benign(label: &str, benign: &[String]) -> bool {
    label.is_empty() || benign.iter().any(|known| known == label)
}

pub fn run(args: EvalArgs) -> Result<ExitCode, Failure> {
    let mut scenarios = Vec::new();
    for path in &args.input.paths {
        scenarios.push(scenario(&args, path)?);
    }
    let total = |pick: fn(&Scenario) -> Option<&Measure>| -> Option<Measure> {
        let measures: Vec<(&str, &Measure)> = scenarios
            .iter()
            .filter_map(|scenario| pick(scenario).map(|measure| (scenario.name.as_str(), measure)))
            .collect();
        (!measures.is_empty()).then(|| combine(&measures))
    };
    let report = Report {
        before: total(|scenario| Some(&scenario.before)).unwrap_or_default(),
        after: total(|scenario| scenario.after.as_ref()),
        feedback: args.feedback,
        scenarios,
    };
    let text = match args.format {
        crate::respond::ListFormat::Json => {
            let mut text = serde_json::to_string_pretty(&report)
                .map_err(|error| Failure::Internal(error.to_string()))?;
            text.push('\n');
            text
        }
        crate::respond::ListFormat::Text => describe(&report),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|error| {
            Failure::Output(format!("cannot write {}: {error}", path.display()))
        })?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|error| Failure::Output(error.to_string()))?,
    }
    Ok(ExitCode::Success)
}

fn scenario(args: &EvalArgs, path: &std::path::Path) -> Result<Scenario, Failure> {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .map(|name| name.split('.').next().unwrap_or(name))
        .map(|name| name.trim_end_matches("_alerts").to_string())
        .unwrap_or_else(|| path.display().to_string());
    let started = std::time::Instant::now();
    let before_state = tempfile::tempdir().map_err(|error| Failure::Internal(error.to_string()))?;
    let before_run = replay(args, path, before_state.path())?;
    let stream = StreamLabels::read(&before_run, &args.label_field, &args.benign_labels)?;
    let labels = labelled(&before_run, &stream);
    let all_phases = stream.phases;
    let before = measure(&before_run, &labels, &all_phases, &args.benign_labels);
    let mut verdicts = 0;
    let after = if args.feedback == 0 {
        None
    } else {
        // The simulated analyst works the queue from its head and answers from the labels.
        let after_state =
            tempfile::tempdir().map_err(|error| Failure::Internal(error.to_string()))?;
        let after_store = garrison_store::SqliteStore::open(after_state.path())
            .map_err(|error| Failure::Store(error.to_string()))?;
        let mut queue: Vec<&Labelled> = labels
            .iter()
            .filter(|labelled| labelled.incident.escalated)
            .collect();
        queue.sort_by(|a, b| queue_order(&a.incident, &b.incident));
        for labelled in queue.into_iter().take(args.feedback) {
            let record = simulated_verdict(labelled, &before_run, &args.benign_labels);
            let audit = AuditRecord {
                actor: record.by.clone(),
                action: AuditAction::DecisionRecorded,
                subject: record.subject.to_string(),
                detail: format!("verdict {} (simulated from labels)", record.verdict),
            };
            garrison_store::VerdictStore::record_verdict(&after_store, &record, &audit)
                .map_err(|error| Failure::Store(error.to_string()))?;
            verdicts += 1;
        }
        drop(after_store);
        let after_run = replay(args, path, after_state.path())?;
        let after_stream = StreamLabels::read(&after_run, &args.label_field, &args.benign_labels)?;
        let after_labels = labelled(&after_run, &after_stream);
        Some(measure(
            &after_run,
            &after_labels,
            &all_phases,
            &args.benign_labels,
        ))
    };
    Ok(Scenario {
        name,
        before,
        after,
        verdicts,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The approvals queue's order for incidents: severity, then confidence, then the oldest.
fn queue_order(a: &Incident, b: &Incident) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| b.confidence.total_cmp(&a.confidence))
        .then_with(|| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)))
}

fn replay(
    args: &EvalArgs,
    path: &std::path::Path,
    state: &std::path::Path,
) -> Result<Investigation, Failure> {
    let investigate = InvestigateArgs {
        team: args.team.clone(),
        store: crate::state::StoreArgs {
            state: crate::state::StateArgs {
                dir: Some(state.to_path_buf()),
            },
            distributed: None,
        },
        external_agents: false,
        pace: None,
        latency_log: None,
        format: ReportFormat::Json,
        output: None,
        threads: args.threads,
        quiet: true,
        input: crate::input::InputArgs {
            from: args.input.from,
            paths: vec![path.to_path_buf()],
        },
    };
    let run = crate::investigate::run_investigation(&investigate)?;
    if run.dead_letters > 0 {
        return Err(Failure::Internal(format!(
            "{}: {} message(s) could not be handled",
            path.display(),
            run.dead_letters
        )));
    }
    Ok(run)
}

fn label_of(
    run: &Investigation,
    evidence: garrison_model::EvidenceId,
    field: &str,
) -> Result<String, Failure> {
    Ok(run
        .store
        .event(evidence)
        .map_err(|error| Failure::Store(error.to_string()))?
        .and_then(|event| event.field(field).map(str::to_string))
        .unwrap_or_default())
}

fn labelled(run: &Investigation, stream: &StreamLabels) -> Vec<Labelled> {
    run.incidents
        .iter()
        .map(|incident| {
            let held = incident
                .alerts
                .iter()
                .flat_map(|alert| stream.held(alert))
                .cloned()
                .collect();
            Labelled {
                incident: incident.clone(),
                held,
            }
        })
        .collect()
}

fn measure(
    run: &Investigation,
    labels: &[Labelled],
    all_phases: &BTreeSet<String>,
    benign: &[String],
) -> Measure {
    let escalated: Vec<&Labelled> = labels
        .iter()
        .filter(|labelled| labelled.incident.escalated)
        .collect();
    let found: BTreeSet<&str> = escalated
        .iter()
        .flat_map(|labelled| labelled.phases(benign))
        .collect();
    let fp_only = escalated
        .iter()
        .filter(|labelled| labelled.phases(benign).next().is_none())
        .count();
    Measure {
        alerts: run.alerts,
        incidents: labels.len(),
        escalated: escalated.len(),
        workload_reduction: if run.alerts == 0 {
            0.0
        } else {
            1.0 - escalated.len() as f64 / run.alerts as f64
        },
        phases_total: all_phases.len(),
        phases_found: all_phases
            .iter()
            .filter(|phase| found.contains(phase.as_str()))
            .count(),
        phases_missed: all_phases
            .iter()
            .filter(|phase| !found.contains(phase.as_str()))
            .cloned()
            .collect(),
        fp_only_escalated: if escalated.is_empty() {
            0.0
        } else {
            fp_only as f64 / escalated.len() as f64
        },
        fp_only_escalated_count: fp_only,
    }
}

/// What an analyst who knows the labels concludes about an incident, in one verdict on the
/// incident as a whole (as an analyst closes a case): a true positive when any alert it holds
/// is part of the attack, else a false positive. Its alerts are judged with it.
fn simulated_verdict(labelled: &Labelled, run: &Investigation, benign: &[String]) -> VerdictRecord {
    let hosts: BTreeMap<&AlertId, Option<String>> = labelled
        .incident
        .alerts
        .iter()
        .map(|alert| {
            let host = run
                .store
                .event(alert.evidence)
                .ok()
                .flatten()
                .and_then(|event| event.host);
            (&alert.id, host)
        })
        .collect();
    let malicious = labelled.phases(benign).next().is_some();
    VerdictRecord {
        subject: VerdictSubject::Incident(labelled.incident.id.clone()),
        verdict: if malicious {
            AnalystVerdict::TruePositive
        } else {
            AnalystVerdict::FalsePositive
        },
        by: "user:simulated-analyst".into(),
        at: jiff::Timestamp::now(),
        note: None,
        alerts: judged_alerts(&labelled.incident, |id| hosts.get(id).cloned().flatten()),
    }
}

/// Measures of several scenarios together: counts summed, fractions recomputed.
fn combine(measures: &[(&str, &Measure)]) -> Measure {
    let mut total = Measure::default();
    for (name, measure) in measures {
        total.alerts += measure.alerts;
        total.incidents += measure.incidents;
        total.escalated += measure.escalated;
        total.phases_total += measure.phases_total;
        total.phases_found += measure.phases_found;
        total.fp_only_escalated_count += measure.fp_only_escalated_count;
        total.phases_missed.extend(
            measure
                .phases_missed
                .iter()
                .map(|phase| format!("{name}:{phase}")),
        );
    }
    total.workload_reduction = if total.alerts == 0 {
        0.0
    } else {
        1.0 - total.escalated as f64 / total.alerts as f64
    };
    total.fp_only_escalated = if total.escalated == 0 {
        0.0
    } else {
        total.fp_only_escalated_count as f64 / total.escalated as f64
    };
    total
}

fn describe(report: &Report) -> String {
    let line = |label: &str, measure: &Measure| {
        format!(
            "{label:<8} {:>9} alerts {:>6} incidents {:>5} escalated  reduction {:.4}%  phases {}/{}  fp-only escalated {:.1}% ({}){}\n",
            measure.alerts,
            measure.incidents,
            measure.escalated,
            measure.workload_reduction * 100.0,
            measure.phases_found,
            measure.phases_total,
            measure.fp_only_escalated * 100.0,
            measure.fp_only_escalated_count,
            if measure.phases_missed.is_empty() {
                String::new()
            } else {
                format!("  missed: {}", measure.phases_missed.join(", "))
            }
        )
    };
    let mut text = String::new();
    for scenario in &report.scenarios {
        text.push_str(&format!(
            "{} ({:.1} s, {} verdicts)\n",
            scenario.name, scenario.seconds, scenario.verdicts
        ));
        text.push_str(&line("  before", &scenario.before));
        if let Some(after) = &scenario.after {
            text.push_str(&line("  after", after));
        }
    }
    text.push_str("all scenarios\n");
    text.push_str(&line("  before", &report.before));
    if let Some(after) = &report.after {
        text.push_str(&line("  after", after));
    }
    text
}
