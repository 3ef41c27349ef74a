//! `garrison audit`: checks the audit log's hash chain, and prints its head so that it can be
//! kept outside the store.

use crate::state::StoreArgs;
use crate::{ExitCode, Failure};
use garrison_store::ChainHead;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check every entry of the audit log; exits 6 naming the first bad entry on any edit,
    /// deletion, insertion or reordering.
    Verify(VerifyArgs),
    /// Print the log's head (`sequence:hash`), to keep elsewhere and pass to `verify
    /// --expect-head` later: entries removed from the end are then caught too.
    Head(StoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// A head printed earlier by `garrison audit head`; the log must still contain it.
    #[arg(long, value_name = "SEQ:HASH")]
    pub expect_head: Option<String>,
}

pub fn run(command: AuditCommand) -> Result<ExitCode, Failure> {
    match command {
        AuditCommand::Verify(args) => {
            let expected = args
                .expect_head
                .as_deref()
                .map(|text| {
                    ChainHead::parse(text).ok_or_else(|| {
                        Failure::Usage(format!(
                            "--expect-head {text:?} is not SEQ:HASH (64 hex digits)"
                        ))
                    })
                })
                .transpose()?;
            let store = args.store.open(true)?.store;
            let report = store
                .verify_audit(expected)
                .map_err(|error| Failure::Store(error.to_string()))?;
            match report.violation {
                None => {
                    println!(
                        "audit log intact: {} entries, head {}",
                        report.checked,
                        report
                            .head
                            .map_or_else(|| "none (empty)".to_string(), |head| head.to_text())
                    );
                    Ok(ExitCode::Success)
                }
                Some(violation) => {
                    println!(
                        "audit log TAMPERED: {violation} ({} entries verified before it)",
                        report.checked
                    );
                    Ok(ExitCode::AuditTampered)
                }
            }
        }
        AuditCommand::Head(args) => {
            let store = args.open(true)?.store;
            match store
                .audit_head()
                .map_err(|error| Failure::Store(error.to_string()))?
            {
                Some(head) => println!("{}", head.to_text()),
                None => println!("empty"),
            }
            Ok(ExitCode::Success)
        }
    }
}
