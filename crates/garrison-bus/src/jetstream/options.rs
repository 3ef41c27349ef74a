//! How to reach NATS: address, credentials, TLS.

use crate::BusError;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach NATS: the address and the credentials the server asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsOptions {
    /// `nats://host:port` or `tls://host:port`.
    pub url: String,
    /// Shown to the server's monitoring as the connection's name.
    pub name: String,
    /// A `.creds` file (JWT and nkey seed).
    pub credentials_file: Option<PathBuf>,
    /// A file holding an nkey seed (`SU…`).
    pub nkey_seed_file: Option<PathBuf>,
    pub user: Option<String>,
    /// The user's password, read from a file so it appears in no command line or config.
    pub password_file: Option<PathBuf>,
    /// Certificate authorities to trust for TLS (the system's are trusted too).
    pub ca_file: Option<PathBuf>,
    /// A client certificate and key, for servers that verify clients.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl NatsOptions {
    pub fn new(url: impl Into<String>) -> NatsOptions {
        NatsOptions {
            url: url.into(),
            name: "garrison".into(),
            ..NatsOptions::default()
        }
    }

    /// Connects; reconnects later on its own, without limit, when the connection drops.
    pub async fn connect(&self) -> Result<async_nats::Client, BusError> {
        let unavailable = |what: String| BusError::Unavailable(what);
        let mut options = async_nats::ConnectOptions::new()
            .name(&self.name)
            .connection_timeout(Duration::from_secs(10))
            .max_reconnects(None);
        if let Some(path) = &self.credentials_file {
            options = options
                .credentials_file(path)
                .await
                .map_err(|error| unavailable(format!("credentials {}: {error}", path.display())))?;
        }
        if let Some(path) = &self.nkey_seed_file {
            options = options.nkey(read_secret(path)?);
        }
        match (&self.user, &self.password_file) {
            (Some(user), Some(path)) => {
                options = options.user_and_password(user.clone(), read_secret(path)?);
            }
            (None, None) => {}
            _ => {
                return Err(BusError::InvalidSubscription(
                    "a NATS user needs a password file, and a password file a user".into(),
                ));
            }
        }
        if let Some(path) = &self.ca_file {
            options = options
                .add_root_certificates(path.clone())
                .require_tls(true);
        }
        if let Some((cert, key)) = &self.client_cert {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        options
            .connect(&self.url)
            .await
            .map_err(|error| unavailable(format!("cannot connect to {}: {error}", self.url)))
    }
}

fn read_secret(path: &std::path::Path) -> Result<String, BusError> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_string())
        .map_err(|error| BusError::Unavailable(format!("cannot read {}: {error}", path.display())))
}
