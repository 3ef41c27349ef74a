//! The `garrison` command: argument parsing, wiring and exit codes. No business logic here.

mod access;
mod agent;
mod audit;
mod bench;
mod bench_console;
mod bench_distributed;
mod bench_live;
mod bench_team;
mod chaos;
mod chaos_engines;
mod chaos_response;
mod correlator;
mod demo;
mod distributed;
mod eval;
mod evidence_writer;
mod health;
mod hunt;
mod input;
mod investigate;
mod latency;
mod live;
mod logging;
mod normalize;
mod outbox;
mod output;
mod partitions;
mod respond;
mod rules;
mod serve;
mod serve_distributed;
mod settle;
mod state;
mod verdicts;

use clap::{Parser, Subcommand};

/// Garrison: a garrison of cooperating agents for security operations.
#[derive(Debug, Parser)]
#[command(name = "garrison", version, about)]
struct Cli {
    /// How `serve`, `agent` and errors are logged on standard error: `text` (the message) or
    /// `json` (one object per line: time, level, target, message and fields).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "GARRISON_LOG_FORMAT"
    )]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Hunt event logs with Sigma rules (the bundled pack plus any given with --rules).
    Hunt(hunt::HuntArgs),
    /// Generate a small environment's telemetry with one intrusion, run the agent team on it,
    /// and print the incidents.
    Demo(demo::DemoArgs),
    /// Run the agent team on event files: incidents from alerts, triaged, investigated,
    /// verified and reported.
    Investigate(investigate::InvestigateArgs),
    /// Print every record read as OCSF JSON lines, with a summary of records read, events
    /// written and diagnostics by reason.
    Normalize(normalize::NormalizeArgs),
    /// Take telemetry live (syslog, Splunk HEC, Elasticsearch bulk, followed files, NATS) as
    /// the configuration file says, and run the agent team on it until stopped.
    Serve(serve::ServeArgs),
    /// Measure Garrison against its targets.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Check the tamper-evident audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run agent roles as a process of a distributed deployment (NATS JetStream and
    /// PostgreSQL), until stopped.
    Agent(agent::AgentArgs),
    /// Manage the role keys agents in separate processes sign with.
    #[command(subcommand)]
    Keys(agent::KeysCommand),
    /// Replay labelled alert streams (one scenario per path) and measure what reaches a
    /// person against the labels, before and after a simulated analyst's verdicts.
    Eval(eval::EvalArgs),
    /// Analysts' verdicts on incidents and alerts, and what they taught.
    #[command(subcommand)]
    Verdicts(verdicts::VerdictsCommand),
    /// Local users of the console (passwords kept as Argon2id hashes).
    #[command(subcommand)]
    User(access::UserCommand),
    /// API tokens for tools (`Authorization: Bearer`), kept as digests.
    #[command(subcommand)]
    Token(access::TokenCommand),
    /// The rules of engagement: validate a policy, explain a decision.
    #[command(subcommand)]
    Policy(respond::PolicyCommand),
    /// Response actions and the approvals queue: list, approve, reject, roll back, run, and
    /// the kill switch.
    #[command(subcommand)]
    Actions(respond::ActionsCommand),
    /// The fault test: agents as processes on NATS JetStream and PostgreSQL, a stream replayed
    /// while processes are killed and servers restarted, compared with a fault-free run.
    Chaos(chaos::ChaosArgs),
}

/// Exit codes (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// The command completed.
    Success = 0,
    /// `garrison audit verify` found the audit log altered.
    AuditTampered = 6,
    /// `--fail-on-detection` and something was detected.
    Detections = 10,
}

/// Why a command failed, each with its own exit code.
#[derive(Debug)]
pub enum Failure {
    /// Input paths missing or unreadable (exit 3).
    Input(String),
    /// No rules could be loaded (exit 4).
    Rules(String),
    /// Output could not be written (exit 5).
    Output(String),
    /// Arguments parse but make no sense together (exit 2, as clap's usage errors).
    Usage(String),
    /// The store could not be opened or read (exit 7).
    Store(String),
    /// Anything else (exit 1).
    Internal(String),
}

/// A tokio runtime on the calling thread, for a command's few awaits (a bus round trip, a
/// connector call).
pub(crate) fn current_thread_runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::Internal(error.to_string()))
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Internal(_) => 1,
            Failure::Input(_) => 3,
            Failure::Rules(_) => 4,
            Failure::Output(_) => 5,
            Failure::Usage(_) => 2,
            Failure::Store(_) => 7,
        }
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Input(message)
            | Failure::Rules(message)
            | Failure::Output(message)
            | Failure::Usage(message)
            | Failure::Store(message)
            | Failure::Internal(message) => message,
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match cli.command {
        Command::Hunt(args) => hunt::run(args),
        Command::Investigate(args) => investigate::run(args),
        Command::Normalize(args) => normalize::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Bench(command) => bench::run(command),
        Command::Audit(command) => audit::run(command),
        Command::Agent(args) => agent::run(args),
        Command::Keys(command) => agent::keys(command),
        Command::Chaos(args) => chaos::run(args),
        Command::Policy(command) => respond::policy(command),
        Command::Eval(args) => eval::run(args),
        Command::Verdicts(command) => verdicts::run(command),
        Command::User(command) => access::run_user(command),
        Command::Token(command) => access::run_token(command),
        Command::Actions(command) => respond::actions(command),
    };
    match result {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(failure) => {
            tracing::error!("garrison: error: {}", failure.message());
            std::process::ExitCode::from(failure.code())
        }
    }
}
