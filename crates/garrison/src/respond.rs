//! Response from the command line: `garrison policy` (validate the rules of engagement,
//! explain a decision) and `garrison actions` (the approvals queue: list, approve, reject,
//! roll back, run what is approved, the kill switch), and the responder the team runs with.

use crate::Failure;
use crate::state::StoreArgs;
use garrison_agents::SystemClock;
use garrison_agents::respond::{Answer, Responder};
use garrison_agents::triage::Inventory;
use garrison_model::action::{ActionKind, ActionRecord, ActionState};
use garrison_model::{Incident, IncidentId};
use garrison_response::http::HttpClient;
use garrison_response::{Connector, HttpConnector, Policy, ResponseConfig};
use garrison_store::{AuditAction, AuditRecord, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The response configuration file, shared by the commands that run the team.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ResponseArgs {
    /// Response configuration (TOML, `[response]`): policy file, autonomy per action kind,
    /// protected targets, playbooks, connectors. Default: the shipped policy and playbooks,
    /// no connectors (every action is proposed for a person).
    #[arg(long = "response", value_name = "FILE")]
    pub response: Option<PathBuf>,
}

impl ResponseArgs {
    pub fn config(&self) -> Result<ResponseConfig, Failure> {
        match &self.response {
            None => Ok(ResponseConfig::default()),
            Some(path) => ResponseConfig::load(path).map_err(Failure::Usage),
        }
    }
}

/// The policy a configuration names (the shipped one when it names none).
pub fn load_policy(config: &ResponseConfig) -> Result<Policy, Failure> {
    match &config.policy {
        None => Ok(Policy::default_policy()),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                Failure::Input(format!("cannot read policy {}: {error}", path.display()))
            })?;
            Policy::parse(&text)
                .map_err(|error| Failure::Usage(format!("policy {}: {error}", path.display())))
        }
    }
}

/// The connectors a configuration describes (credentials read from the environment).
pub fn connectors(config: &ResponseConfig) -> Result<Vec<Arc<dyn Connector>>, Failure> {
    let client = HttpClient::new(config.ca_file.as_deref(), config.timeout)
        .map_err(|error| Failure::Usage(format!("response.ca_file: {error}")))?;
    config
        .connectors
        .iter()
        .map(|connector| {
            HttpConnector::new(connector.clone(), client.clone())
                .map(|connector| Arc::new(connector) as Arc<dyn Connector>)
                .map_err(Failure::Usage)
        })
        .collect()
}

/// The responder for `store`, as `actor`.
pub fn responder(
    store: Arc<dyn Store>,
    inventory: Inventory,
    args: &ResponseArgs,
    actor: &str,
) -> Result<Responder, Failure> {
    let config = args.config()?;
    let policy = load_policy(&config)?;
    let connectors = connectors(&config)?;
    Ok(Responder::new(
        store,
        Arc::new(policy),
        Arc::new(config),
        Arc::new(inventory),
        connectors,
        actor,
    ))
}

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy against Garrison's schema; with an incident, explain what the
    /// response agent would decide for each action its playbooks propose (or for --action
    /// on --target).
    Check(Box<CheckArgs>),
    /// Print the Cedar schema policies are validated against.
    Schema,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub response: ResponseArgs,
    /// The Cedar policy file (instead of the configuration's).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Inventory of hosts and identities (criticality, tags, owner).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// An incident in the store, by id.
    #[arg(long, value_name = "ID", conflicts_with = "incident_file")]
    pub incident: Option<String>,
    /// An incident as JSON (as `garrison investigate` writes them; the first when several).
    #[arg(long, value_name = "FILE")]
    pub incident_file: Option<PathBuf>,
    /// Only this action kind (isolate_host, suspend_user, block_ip, ...).
    #[arg(long, value_name = "KIND", requires = "target")]
    pub action: Option<String>,
    /// Its target, KIND:VALUE (host:WS1, user:CORP\dana, ip:203.0.113.7).
    #[arg(long, value_name = "TARGET", requires = "action")]
    pub target: Option<String>,
    /// The incident was never verified (its verification timed out).
    #[arg(long)]
    pub stalled: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

pub fn policy(command: PolicyCommand) -> Result<crate::ExitCode, Failure> {
    match command {
        PolicyCommand::Schema => {
            println!("{}", garrison_response::policy::SCHEMA.trim());
            Ok(crate::ExitCode::Success)
        }
        PolicyCommand::Check(args) => check(*args),
    }
}

fn check(args: CheckArgs) -> Result<crate::ExitCode, Failure> {
    let mut config = args.response.config()?;
    if let Some(path) = &args.policy {
        config.policy = Some(path.clone());
    }
    let policy = load_policy(&config)?;
    let source = config.policy.as_ref().map_or_else(
        || "the shipped policy".to_string(),
        |p| p.display().to_string(),
    );
    let incident = match (&args.incident, &args.incident_file) {
        (Some(id), _) => {
            let opened = args.store.open(true)?;
            Some(
                opened
                    .store
                    .incident(&IncidentId(id.clone()))
                    .map_err(|error| Failure::Store(error.to_string()))?
                    .ok_or_else(|| Failure::Input(format!("no incident {id} in the store")))?,
            )
        }
        (None, Some(path)) => Some(read_incident(path)?),
        (None, None) => None,
    };
    let Some(incident) = incident else {
        if args.action.is_some() {
            return Err(Failure::Usage(
                "--action needs an incident: --incident ID or --incident-file F".into(),
            ));
        }
        eprintln!("policy: {source} is valid ({} policies)", policy.len());
        return Ok(crate::ExitCode::Success);
    };
    let inventory = match &args.inventory {
        None => Inventory::default(),
        Some(path) => crate::investigate::load_inventory(path)?,
    };
    // Decided against a scratch store: explaining changes nothing.
    let scratch = tempfile::tempdir().map_err(|error| Failure::Internal(error.to_string()))?;
    let store = Arc::new(
        garrison_store::SqliteStore::open(scratch.path())
            .map_err(|error| Failure::Store(error.to_string()))?,
    );
    let connectors = connectors(&config)?;
    let responder = Responder::new(
        store,
        Arc::new(policy),
        Arc::new(config),
        Arc::new(inventory),
        connectors,
        "garrison policy check",
    );
    let now = jiff::Timestamp::now();
    let decided = match (&args.action, &args.target) {
        (Some(kind), Some(target)) => {
            let kind = ActionKind::parse(kind).ok_or_else(|| {
                Failure::Usage(format!(
                    "--action {kind}: one of {}",
                    ActionKind::ALL.map(|k| k.as_str()).join(", ")
                ))
            })?;
            let target = garrison_response::config::parse_target(target)
                .map_err(|error| Failure::Usage(format!("--target: {error}")))?;
            if target.kind != kind.target_kind() {
                return Err(Failure::Usage(format!(
                    "{kind} is done to a {}, not a {}",
                    kind.target_kind().as_str(),
                    target.kind.as_str()
                )));
            }
            responder
                .assess(&incident, args.stalled, kind, target, now)
                .map(|record| vec![record])
        }
        _ => responder.decide(&incident, args.stalled, now),
    }
    .map_err(|error| Failure::Store(error.to_string()))?;
    explain(&args, &incident, &decided)
}

/// Prints each decision with its reasons.
fn explain(
    args: &CheckArgs,
    incident: &Incident,
    decided: &[ActionRecord],
) -> Result<crate::ExitCode, Failure> {
    match args.format {
        ListFormat::Json => crate::output::print_json(&decided)?,
        ListFormat::Text => {
            println!(
                "{} (severity {}, confidence {:.2}, {}):",
                incident.id,
                incident.severity,
                incident.confidence,
                if args.stalled {
                    "unverified".to_string()
                } else {
                    format!("{:?}", incident.verification.status).to_lowercase()
                }
            );
            if decided.is_empty() {
                println!("  no playbook calls for an action");
            }
            for record in decided {
                println!(
                    "  {} {}: {} (policy {}, autonomy {})",
                    record.kind,
                    record.target,
                    record.state,
                    record.verdict.as_str(),
                    record.autonomy.as_str()
                );
                for reason in &record.reasons {
                    println!("    - {reason}");
                }
            }
        }
    }
    Ok(crate::ExitCode::Success)
}

fn read_incident(path: &Path) -> Result<Incident, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Failure::Input(format!("cannot read {}: {error}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| Failure::Input(format!("{}: {error}", path.display())))?;
    // An incident, or `garrison investigate`'s output (its first incident).
    let value = match value.get("incidents").and_then(|list| list.get(0)) {
        Some(first) => first.clone(),
        None => value,
    };
    serde_json::from_value(value)
        .map_err(|error| Failure::Input(format!("{}: not an incident: {error}", path.display())))
}

#[derive(Debug, clap::Subcommand)]
pub enum ActionsCommand {
    /// The approvals queue (highest priority first), or actions in other states.
    List(ListArgs),
    /// Approve an awaiting action and carry it out (once, however often approved).
    Approve(DecideArgs),
    /// Reject an awaiting action.
    Reject(RejectArgs),
    /// Replace an awaiting action's target: the policy decides on the replacement, which is
    /// approved by whoever modified it (unless denied) and carried out.
    Modify(ModifyArgs),
    /// Undo a succeeded action through its connector (unisolate, unsuspend, unblock).
    Rollback(DecideArgs),
    /// Carry out approved actions, take over actions a dead responder left mid-call, and
    /// expire unanswered approvals.
    Run(RunArgs),
    /// Stop (on) or allow again (off) every automatic action.
    KillSwitch(KillSwitchArgs),
    /// Take an incident on: its scheduled escalations are not sent.
    Ack(AckArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// States to list (repeatable; default: awaiting_approval). `all` for every state.
    #[arg(long = "state-is", value_name = "STATE")]
    pub states: Vec<String>,
    /// Only this incident's actions.
    #[arg(long, value_name = "ID")]
    pub incident: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ListFormat,
}

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// The action's key (`act-…`).
    pub key: String,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub response: ResponseArgs,
    /// Inventory (the policy reads criticality and tags from it).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Who decides, for the audit log (default: $USER).
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
    /// Only record the approval; leave carrying it out to the running response agent.
    #[arg(long)]
    pub no_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    #[command(flatten)]
    pub decide: DecideArgs,
    /// Why (kept in the audit log).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, clap::Args)]
pub struct ModifyArgs {
    #[command(flatten)]
    pub decide: DecideArgs,
    /// The new target, KIND:VALUE (host:WS2, user:CORP\\dana, ip:203.0.113.7).
    #[arg(long)]
    pub target: String,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub response: ResponseArgs,
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct AckArgs {
    /// The incident's id (`inc-…`).
    pub incident: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Who takes it on, for the audit log (default: $USER).
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct KillSwitchArgs {
    #[arg(value_parser = ["on", "off"])]
    pub setting: String,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
}

pub(crate) fn person(actor: &Option<String>) -> String {
    let name = actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    format!("user:{name}")
}

fn store_error(error: garrison_store::StoreError) -> Failure {
    Failure::Store(error.to_string())
}

pub fn actions(command: ActionsCommand) -> Result<crate::ExitCode, Failure> {
    match command {
        ActionsCommand::List(args) => list(args),
        ActionsCommand::Approve(args) => decide(args, None),
        ActionsCommand::Reject(args) => decide(args.decide, Some(args.reason)),
        ActionsCommand::Modify(args) => modify(args),
        ActionsCommand::Rollback(args) => rollback(args),
        ActionsCommand::Run(args) => run(args),
        ActionsCommand::Ack(args) => acknowledge(args),
        ActionsCommand::KillSwitch(args) => {
            let opened = args.store.open(true)?;
            let on = args.setting == "on";
            let audit = AuditRecord {
                actor: person(&args.actor),
                action: AuditAction::KillSwitch,
                subject: "kill switch".into(),
                detail: if on {
                    "on: automatic actions stopped".into()
                } else {
                    "off: automatic actions allowed again".into()
                },
            };
            opened
                .store
                .set_kill_switch(on, &audit, jiff::Timestamp::now())
                .map_err(store_error)?;
            eprintln!("actions: {}", audit.detail);
            Ok(crate::ExitCode::Success)
        }
    }
}

fn list(args: ListArgs) -> Result<crate::ExitCode, Failure> {
    let opened = args.store.open(true)?;
    let records: Vec<ActionRecord> = match &args.incident {
        Some(incident) => opened
            .store
            .incident_actions(incident)
            .map_err(store_error)?,
        None => {
            let mut states = Vec::new();
            for name in &args.states {
                if name == "all" {
                    states.clear();
                    break;
                }
                states.push(ActionState::parse(name).ok_or_else(|| {
                    Failure::Usage(format!(
                        "--state-is {name}: one of all, {}",
                        ActionState::ALL.map(|s| s.as_str()).join(", ")
                    ))
                })?);
            }
            if args.states.is_empty() {
                states.push(ActionState::AwaitingApproval);
            }
            opened
                .store
                .actions(&states, args.limit)
                .map_err(store_error)?
        }
    };
    match args.format {
        ListFormat::Json => crate::output::print_json(&records)?,
        ListFormat::Text => {
            println!(
                "{:<20} {:<17} {:>3}  {:<16} {:<32} {:<22} expires",
                "key", "state", "pri", "action", "target", "incident"
            );
            for record in &records {
                println!(
                    "{:<20} {:<17} {:>3}  {:<16} {:<32} {:<22} {}",
                    record.key,
                    record.state.as_str(),
                    record.priority,
                    record.kind.as_str(),
                    record.target.to_string(),
                    record.incident.0,
                    record
                        .expires_at
                        .map_or_else(|| "-".to_string(), |at| at.to_string())
                );
            }
            eprintln!("actions: {} listed", records.len());
        }
    }
    Ok(crate::ExitCode::Success)
}

fn open_responder(
    store: &StoreArgs,
    response: &ResponseArgs,
    inventory: &Option<PathBuf>,
    actor: &str,
) -> Result<Responder, Failure> {
    let opened = store.open(true)?;
    let inventory = match inventory {
        None => Inventory::default(),
        Some(path) => crate::investigate::load_inventory(path)?,
    };
    responder(opened.store, inventory, response, actor)
}

fn decide(args: DecideArgs, reject: Option<String>) -> Result<crate::ExitCode, Failure> {
    let actor = person(&args.actor);
    let responder = open_responder(&args.store, &args.response, &args.inventory, &actor)?;
    let now = jiff::Timestamp::now();
    let answer = match &reject {
        Some(reason) => responder.reject(&args.key, reason, now),
        None => responder.approve(&args.key, now),
    }
    .map_err(store_error)?;
    report(&args.key, &answer)?;
    if reject.is_none() && !args.no_run {
        run_ready(&responder)?;
    }
    Ok(crate::ExitCode::Success)
}

fn modify(args: ModifyArgs) -> Result<crate::ExitCode, Failure> {
    let decide = &args.decide;
    let target = garrison_response::config::parse_target(&args.target)
        .map_err(|error| Failure::Usage(format!("--target: {error}")))?;
    let actor = person(&decide.actor);
    let opened = decide.store.open(true)?;
    let record = opened
        .store
        .action(&decide.key)
        .map_err(store_error)?
        .ok_or_else(|| Failure::Input(format!("no action {}", decide.key)))?;
    let incident = opened
        .store
        .incident(&record.incident)
        .map_err(store_error)?
        .ok_or_else(|| Failure::Input(format!("no incident {} in the store", record.incident)))?;
    let responder = open_responder(&decide.store, &decide.response, &decide.inventory, &actor)?;
    let (answer, replacement) = responder
        .modify(&decide.key, target, &incident, jiff::Timestamp::now())
        .map_err(store_error)?;
    report(&decide.key, &answer)?;
    if let Some(replacement) = replacement {
        eprintln!(
            "actions: {} replaces it: {} {}: {} ({})",
            replacement.key,
            replacement.kind,
            replacement.target,
            replacement.state,
            replacement.reasons.join("; ")
        );
        if replacement.state == ActionState::Approved && !decide.no_run {
            run_ready(&responder)?;
        }
    }
    Ok(crate::ExitCode::Success)
}

fn acknowledge(args: AckArgs) -> Result<crate::ExitCode, Failure> {
    let actor = person(&args.actor);
    let incident = IncidentId(args.incident.clone());
    let opened = args.store.open(true)?;
    if opened
        .store
        .incident(&incident)
        .map_err(store_error)?
        .is_none()
    {
        return Err(Failure::Input(format!(
            "no incident {incident} in the store"
        )));
    }
    let responder = responder(
        opened.store,
        Inventory::default(),
        &ResponseArgs::default(),
        &actor,
    )?;
    match responder
        .acknowledge(&incident, jiff::Timestamp::now())
        .map_err(store_error)?
    {
        Answer::Refused(reason) => eprintln!("actions: {reason}"),
        _ => eprintln!(
            "actions: {incident} taken on by {actor}; its scheduled escalations are cancelled"
        ),
    }
    Ok(crate::ExitCode::Success)
}

fn report(key: &str, answer: &Answer) -> Result<(), Failure> {
    match answer {
        Answer::Done(state) => {
            eprintln!("actions: {key} is {state} now");
            Ok(())
        }
        Answer::NotApplicable(state) => {
            eprintln!("actions: {key} is {state}: nothing to do");
            Ok(())
        }
        Answer::NoSuchAction => Err(Failure::Input(format!("no action {key}"))),
        Answer::Refused(reason) => Err(Failure::Usage(format!("{key}: {reason}"))),
    }
}

fn run_ready(responder: &Responder) -> Result<(), Failure> {
    let runtime = crate::current_thread_runtime()?;
    let stale_after = responder.stale_after();
    let (expired, recovered, carried) = runtime
        .block_on(async {
            let expired = responder.expire(jiff::Timestamp::now())?;
            responder.escalate(jiff::Timestamp::now())?;
            let recovered = responder.recover(stale_after, &SystemClock).await?;
            let carried = responder.execute_ready(&SystemClock).await?;
            Ok::<_, garrison_store::StoreError>((expired, recovered, carried))
        })
        .map_err(store_error)?;
    eprintln!(
        "actions: {carried} carried out, {recovered} taken over from a stopped responder, {expired} expired"
    );
    Ok(())
}

fn rollback(args: DecideArgs) -> Result<crate::ExitCode, Failure> {
    let actor = person(&args.actor);
    let responder = open_responder(&args.store, &args.response, &args.inventory, &actor)?;
    let runtime = crate::current_thread_runtime()?;
    let answer = runtime
        .block_on(responder.rollback(&args.key, &SystemClock))
        .map_err(Failure::Internal)?;
    report(&args.key, &answer)?;
    Ok(crate::ExitCode::Success)
}

fn run(args: RunArgs) -> Result<crate::ExitCode, Failure> {
    let responder = open_responder(
        &args.store,
        &args.response,
        &args.inventory,
        "garrison actions run",
    )?;
    run_ready(&responder)?;
    Ok(crate::ExitCode::Success)
}
