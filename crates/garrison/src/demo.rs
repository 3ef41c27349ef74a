//! `garrison demo`: generates a small environment's telemetry with our scenario generator
//! (benign background and one intrusion across the identity provider and Windows hosts) into
//! the state directory, then runs the agent team on it and prints the incidents.

use crate::investigate::{InvestigateArgs, ReportFormat, investigate};
use crate::state::{StateArgs, state_dir};
use crate::{ExitCode, Failure};
use garrison_scenario::{Scenario, write_to_dir};
use jiff::SignedDuration;
use std::path::PathBuf;

/// The seed `garrison demo` uses unless told otherwise.
pub const SEED: u64 = 7;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// Seed of the generated telemetry (the same seed, the same telemetry).
    #[arg(long, default_value_t = SEED)]
    pub seed: u64,
    /// Workstations in the environment (a file server and a domain controller are added).
    #[arg(long, default_value_t = 4)]
    pub workstations: usize,
    /// Minutes of telemetry.
    #[arg(long, default_value_t = 30)]
    pub minutes: i64,
    /// Background events per second.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,
    /// Write incidents here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No summary on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub response: crate::respond::ResponseArgs,
}

pub fn run(args: DemoArgs) -> Result<ExitCode, Failure> {
    if args.minutes < 15 {
        return Err(Failure::Usage(
            "--minutes must be at least 15 (the intrusion takes a quarter of an hour)".into(),
        ));
    }
    let dir = state_dir(&args.state)?;
    let telemetry = dir.join("demo").join(format!("seed-{}", args.seed));
    let scenario = Scenario {
        seed: args.seed,
        workstations: args.workstations,
        duration: SignedDuration::from_mins(args.minutes),
        events_per_second: args.rate,
        ..Scenario::default()
    };
    let written = write_to_dir(scenario, &telemetry).map_err(|error| {
        Failure::Output(format!(
            "cannot write telemetry to {}: {error}",
            telemetry.display()
        ))
    })?;
    if !args.quiet {
        let counts: Vec<String> = written
            .files
            .iter()
            .map(|(path, records)| format!("{} ({records} records)", path.display()))
            .collect();
        eprintln!("demo: generated {}", counts.join(", "));
        if let Some(story) = &written.story {
            eprintln!(
                "demo: the intrusion (what the team should find): {} as {} from {}, then {} -> {}: {}",
                story.workstation,
                story.victim,
                story.attacker_ip,
                story.workstation,
                story.server,
                story.steps.join("; ")
            );
        }
    }
    investigate(&InvestigateArgs {
        team: crate::investigate::TeamInputs {
            response: args.response,
            ..Default::default()
        },
        store: crate::state::StoreArgs {
            state: StateArgs {
                dir: Some(dir.clone()),
            },
            distributed: None,
        },
        external_agents: false,
        pace: None,
        latency_log: None,
        format: args.format,
        output: args.output,
        threads: None,
        quiet: args.quiet,
        input: crate::input::InputArgs::new(vec![telemetry]),
    })
}
