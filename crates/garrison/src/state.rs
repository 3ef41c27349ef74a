//! Where Garrison keeps its state (the embedded store): `--state DIR`, or a directory under
//! the user's data directory.

use crate::Failure;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// State directory (the embedded store). Default: $XDG_DATA_HOME/garrison, or
    /// ~/.local/share/garrison.
    #[arg(long = "state", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn state_dir(args: &StateArgs) -> Result<PathBuf, Failure> {
    if let Some(dir) = &args.dir {
        return Ok(dir.clone());
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|value| !value.is_empty())
                .map(|home| PathBuf::from(home).join(".local/share"))
        })
        .ok_or_else(|| {
            Failure::Usage("no --state given and neither XDG_DATA_HOME nor HOME is set".into())
        })?;
    Ok(data.join("garrison"))
}
