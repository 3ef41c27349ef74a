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

/// Where the store is: the embedded one in a state directory, or PostgreSQL as a distributed
/// config file names it.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// Use the shared engines this config file names (NATS JetStream as the bus, PostgreSQL as
    /// the store) instead of the embedded ones.
    #[arg(long, value_name = "FILE", conflicts_with = "dir")]
    pub distributed: Option<PathBuf>,
}

/// An opened store, and where it is (for messages).
pub struct OpenedStore {
    pub store: std::sync::Arc<dyn garrison_store::Store>,
    pub location: String,
    pub distributed: Option<crate::distributed::Distributed>,
    /// The shared store itself (distributed only): its journal, its outbox.
    pub postgres: Option<std::sync::Arc<garrison_store::PostgresStore>>,
    /// The embedded store itself, for what takes connections of its own (bulk writers).
    pub sqlite: Option<std::sync::Arc<garrison_store::SqliteStore>>,
}

impl StoreArgs {
    /// Opens the store; with `must_exist`, an embedded store that was never written is an
    /// error rather than a new empty one.
    pub fn open(&self, must_exist: bool) -> Result<OpenedStore, Failure> {
        if let Some(path) = &self.distributed {
            let distributed = crate::distributed::Distributed::load(path)?;
            let store = distributed.open_store()?;
            return Ok(OpenedStore {
                postgres: Some(store.clone()),
                sqlite: None,
                store,
                location: format!(
                    "PostgreSQL{} ({})",
                    distributed
                        .postgres
                        .schema
                        .as_deref()
                        .map(|schema| format!(" schema {schema}"))
                        .unwrap_or_default(),
                    path.display()
                ),
                distributed: Some(distributed),
            });
        }
        let dir = state_dir(&self.state)?;
        if must_exist && !dir.join(garrison_store::sqlite::DATABASE_FILE).exists() {
            return Err(Failure::Input(format!(
                "no store in {} (nothing has run with this --state yet)",
                dir.display()
            )));
        }
        let store = std::sync::Arc::new(
            garrison_store::SqliteStore::open(&dir)
                .map_err(|error| Failure::Store(error.to_string()))?,
        );
        Ok(OpenedStore {
            store: store.clone(),
            location: dir.display().to_string(),
            distributed: None,
            postgres: None,
            sqlite: Some(store),
        })
    }
}
