//! `garrison verdicts`: analysts record what they concluded about incidents and alerts, and
//! see what it taught scoring (per-rule and per-pattern precision, suppression candidates).

use crate::output::print_json;
use crate::respond::ListFormat;
use crate::state::StoreArgs;
use crate::{ExitCode, Failure};
use garrison_agents::feedback::{
    LivePrecision, Precision, incident_verdict, judged_alerts, verdict_audit,
};
use garrison_model::feedback::{AnalystVerdict, VerdictRecord, VerdictSubject};
use garrison_model::{AlertId, IncidentId};

#[derive(Debug, clap::Subcommand)]
pub enum VerdictsCommand {
    /// Record a verdict on an incident (all its alerts) or on one alert.
    Add(AddArgs),
    /// Every verdict, oldest first.
    List(ListArgs),
    /// What the verdicts taught: precision per rule on each host, and suppression candidates.
    Precision(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "alert",
        required_unless_present = "alert"
    )]
    pub incident: Option<String>,
    #[arg(long, value_name = "ID")]
    pub alert: Option<String>,
    /// tp (true positive), btp (benign true positive) or fp (false positive).
    #[arg(long, value_parser = parse_verdict)]
    pub verdict: AnalystVerdict,
    #[arg(long)]
    pub note: Option<String>,
    /// Who decides, for the audit log (default: $USER).
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
}

fn parse_verdict(text: &str) -> Result<AnalystVerdict, String> {
    AnalystVerdict::parse(text).ok_or_else(|| format!("{text:?}: tp, btp or fp"))
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ListFormat,
}

/// How often a long-running team reads the verdicts again.
const VERDICTS_RELOAD: std::time::Duration = std::time::Duration::from_secs(30);

/// What the verdicts in `store` teach, read now and again every 30 seconds on `runtime`, so a
/// long-running team (`serve`, `garrison agent`) scores with verdicts given while it runs.
pub fn live_precision(
    store: std::sync::Arc<dyn garrison_store::Store>,
    runtime: &tokio::runtime::Handle,
) -> Result<std::sync::Arc<LivePrecision>, Failure> {
    live_precision_every(store, runtime, VERDICTS_RELOAD)
}

fn live_precision_every(
    store: std::sync::Arc<dyn garrison_store::Store>,
    runtime: &tokio::runtime::Handle,
    every: std::time::Duration,
) -> Result<std::sync::Arc<LivePrecision>, Failure> {
    let verdicts = store.verdicts().map_err(store_error)?;
    let live = std::sync::Arc::new(LivePrecision::new(Precision::from_verdicts(&verdicts)));
    let refreshed = live.clone();
    let mut known = verdicts.len();
    runtime.spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.tick().await;
        loop {
            interval.tick().await;
            let store = store.clone();
            // The store blocks: read it off the async threads.
            let read = tokio::task::spawn_blocking(move || store.verdicts()).await;
            match read {
                Ok(Ok(verdicts)) if verdicts.len() != known => {
                    known = verdicts.len();
                    refreshed.replace(Precision::from_verdicts(&verdicts));
                    eprintln!("garrison: scoring with what {known} verdict(s) taught");
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => eprintln!("garrison: cannot read verdicts: {error}"),
                Err(error) => eprintln!("garrison: cannot read verdicts: {error}"),
            }
        }
    });
    Ok(live)
}

fn store_error(error: garrison_store::StoreError) -> Failure {
    Failure::Store(error.to_string())
}

pub fn run(command: VerdictsCommand) -> Result<ExitCode, Failure> {
    match command {
        VerdictsCommand::Add(args) => add(args),
        VerdictsCommand::List(args) => {
            let opened = args.store.open(true)?;
            let verdicts = opened.store.verdicts().map_err(store_error)?;
            match args.format {
                ListFormat::Json => print_json(&verdicts)?,
                ListFormat::Text => {
                    for verdict in &verdicts {
                        println!(
                            "{} {} {} by {} ({} alert(s)){}",
                            verdict.at,
                            verdict.subject,
                            verdict.verdict,
                            verdict.by,
                            verdict.alerts.len(),
                            verdict
                                .note
                                .as_deref()
                                .map(|note| format!(": {note}"))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            Ok(ExitCode::Success)
        }
        VerdictsCommand::Precision(args) => {
            let opened = args.store.open(true)?;
            let verdicts = opened.store.verdicts().map_err(store_error)?;
            let precision = Precision::from_verdicts(&verdicts);
            let rows: Vec<serde_json::Value> = precision
                .estimates()
                .iter()
                .map(|estimate| {
                    serde_json::json!({
                        "rule_id": estimate.pattern.rule_id,
                        "host": estimate.pattern.host,
                        "malicious": estimate.counts.malicious,
                        "benign": estimate.counts.benign,
                        "precision": estimate.mean,
                        "adjustment": precision
                            .adjustment(&estimate.pattern.rule_id, estimate.pattern.host.as_deref())
                            .map(|adjustment| adjustment.reason),
                    })
                })
                .collect();
            let suppress: Vec<String> = precision
                .suppressions()
                .iter()
                .map(|estimate| {
                    format!(
                        "allowlist rule {} on {}: {} of {} judged alerts were benign",
                        estimate.pattern.rule_id,
                        estimate.pattern.host.as_deref().unwrap_or("(no host)"),
                        estimate.counts.benign,
                        estimate.counts.total()
                    )
                })
                .collect();
            match args.format {
                ListFormat::Json => print_json(&serde_json::json!({
                    "verdicts": precision.verdicts(),
                    "patterns": rows,
                    "suggestions": suppress,
                }))?,
                ListFormat::Text => {
                    println!("{} verdict(s)", precision.verdicts());
                    for row in &rows {
                        println!(
                            "{} on {}: {} malicious, {} benign, precision {:.2}{}",
                            row["rule_id"].as_str().unwrap_or(""),
                            row["host"].as_str().unwrap_or("(no host)"),
                            row["malicious"],
                            row["benign"],
                            row["precision"].as_f64().unwrap_or(0.0),
                            row["adjustment"]
                                .as_str()
                                .map(|reason| format!("; triage: {reason}"))
                                .unwrap_or_default()
                        );
                    }
                    for line in &suppress {
                        println!("suggestion: {line}");
                    }
                }
            }
            Ok(ExitCode::Success)
        }
    }
}

fn add(args: AddArgs) -> Result<ExitCode, Failure> {
    let opened = args.store.open(true)?;
    let store = &opened.store;
    let by = crate::respond::person(&args.actor);
    let at = jiff::Timestamp::now();
    let (record, audit) = match (&args.incident, &args.alert) {
        (Some(id), _) => {
            let incident = store
                .incident(&IncidentId(id.clone()))
                .map_err(store_error)?
                .ok_or_else(|| Failure::Input(format!("no incident {id} in the store")))?;
            incident_verdict(
                &incident,
                store.as_ref(),
                args.verdict,
                by,
                args.note.clone(),
                at,
            )
            .map_err(store_error)?
        }
        (None, Some(id)) => {
            let id = AlertId(id.clone());
            let incident = store
                .incidents()
                .map_err(store_error)?
                .into_iter()
                .find(|incident| incident.alerts.iter().any(|alert| alert.id == id))
                .ok_or_else(|| {
                    Failure::Input(format!("no incident in the store holds alert {id}"))
                })?;
            let host_of = |evidence| {
                store
                    .event(evidence)
                    .ok()
                    .flatten()
                    .and_then(|event| event.host)
            };
            let alerts: Vec<_> = judged_alerts(&incident, |alert| {
                incident
                    .alerts
                    .iter()
                    .find(|known| known.id == *alert)
                    .and_then(|known| host_of(known.evidence))
            })
            .into_iter()
            .filter(|(alert, _)| *alert == id)
            .collect();
            let record = VerdictRecord {
                subject: VerdictSubject::Alert(id),
                verdict: args.verdict,
                by,
                at,
                note: args.note.clone(),
                alerts,
            };
            let audit = verdict_audit(&record);
            (record, audit)
        }
        (None, None) => return Err(Failure::Usage("--incident or --alert".into())),
    };
    store.record_verdict(&record, &audit).map_err(store_error)?;
    eprintln!(
        "verdicts: {} is {} ({} alert(s) judged)",
        record.subject,
        record.verdict,
        record.alerts.len()
    );
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::feedback::RulePattern;

    #[test]
    fn a_running_team_learns_verdicts_given_after_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(garrison_store::SqliteStore::open(dir.path()).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let live = live_precision_every(
            store.clone(),
            runtime.handle(),
            std::time::Duration::from_millis(20),
        )
        .unwrap();
        assert_eq!(live.get().verdicts(), 0);
        for n in 0..3 {
            let record = VerdictRecord {
                subject: VerdictSubject::Alert(AlertId(format!("al-{n}"))),
                verdict: AnalystVerdict::FalsePositive,
                by: "user:ana".into(),
                at: jiff::Timestamp::now(),
                note: None,
                alerts: vec![(
                    AlertId(format!("al-{n}")),
                    RulePattern {
                        rule_id: "r".into(),
                        host: Some("h".into()),
                    },
                )],
            };
            let audit = verdict_audit(&record);
            garrison_store::VerdictStore::record_verdict(store.as_ref(), &record, &audit).unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while live.get().verdicts() != 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(live.get().verdicts(), 3);
        assert!(live.get().adjustment("r", Some("h")).is_some());
    }
}
