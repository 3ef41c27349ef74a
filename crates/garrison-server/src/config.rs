//! `garrison serve`'s configuration: a TOML file parsed into raw types (unknown keys refused),
//! then compiled into [`Config`], with every mistake reported at once by its place in the file.

use crate::spool::Durability;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: u32,
    #[serde(default)]
    spool: RawSpool,
    #[serde(default, rename = "input")]
    inputs: Vec<RawInput>,
    oidc: Option<RawOidc>,
}

/// Single sign-on for the console through an OpenID Connect provider, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    issuer: String,
    client_id: String,
    /// The environment variable holding the client secret (none: a public client, PKCE only).
    client_secret_env: Option<String>,
    /// This console's callback, as registered with the provider (`.../login/oidc/callback`).
    redirect_url: String,
    username_claim: Option<String>,
    roles_claim: Option<String>,
    /// Values of the roles claim, each with the Garrison role it grants.
    roles: std::collections::BTreeMap<String, String>,
    /// Extra certificate authorities for reaching the provider (PEM).
    ca_file: Option<PathBuf>,
}

/// Single sign-on through an OpenID Connect provider (authorization code flow with PKCE).
#[derive(Clone)]
pub struct OidcConfig {
    /// The provider's issuer URL, exactly as its tokens name it.
    pub issuer: String,
    pub client_id: String,
    /// Read from the environment when the file is loaded; never logged.
    pub client_secret: Option<String>,
    pub redirect_url: String,
    /// The claim naming the user (`preferred_username` by default).
    pub username_claim: String,
    /// The claim listing the user's groups or roles (`groups` by default).
    pub roles_claim: String,
    pub roles: std::collections::BTreeMap<String, garrison_model::access::Role>,
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<hidden>"),
            )
            .field("redirect_url", &self.redirect_url)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// Whether `url` is https, or http to this machine only (a provider in a test).
fn secure_url(url: &str) -> bool {
    url.starts_with("https://")
        || ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|local| {
                url.strip_prefix(local)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            })
}

fn compile_oidc(raw: RawOidc, base: &Path, errors: &mut Vec<String>) -> OidcConfig {
    for (what, url) in [("issuer", &raw.issuer), ("redirect_url", &raw.redirect_url)] {
        if !secure_url(url) {
            errors.push(format!(
                "oidc.{what}: {url:?} must be https (http only to 127.0.0.1 or localhost)"
            ));
        }
    }
    if !raw.redirect_url.ends_with("/login/oidc/callback") {
        errors.push(format!(
            "oidc.redirect_url: {:?} must end with /login/oidc/callback, where the console takes the answer",
            raw.redirect_url
        ));
    }
    if raw.client_id.trim().is_empty() {
        errors.push("oidc.client_id: empty".into());
    }
    let client_secret = raw.client_secret_env.as_ref().and_then(|name| {
        let value = std::env::var(name).ok().filter(|value| !value.is_empty());
        if value.is_none() {
            errors.push(format!(
                "oidc.client_secret_env: the environment variable {name} is not set"
            ));
        }
        value
    });
    let mut roles = std::collections::BTreeMap::new();
    for (value, role) in raw.roles {
        match role.parse() {
            Ok(role) => {
                roles.insert(value, role);
            }
            Err(_) => errors.push(format!(
                "oidc.roles.{value}: {role:?} is not a role (viewer, analyst, responder, admin)"
            )),
        }
    }
    if roles.is_empty() {
        errors.push("oidc.roles: no value grants a role, so nobody could sign in".into());
    }
    let ca_file = raw.ca_file.map(|path| base.join(path));
    if let Some(path) = &ca_file
        && !path.is_file()
    {
        errors.push(format!("oidc.ca_file: {} is not a file", path.display()));
    }
    OidcConfig {
        issuer: raw.issuer,
        client_id: raw.client_id,
        client_secret,
        redirect_url: raw.redirect_url,
        username_claim: raw
            .username_claim
            .unwrap_or_else(|| "preferred_username".into()),
        roles_claim: raw.roles_claim.unwrap_or_else(|| "groups".into()),
        roles,
        ca_file,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpool {
    #[serde(default)]
    durability: Durability,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    certificate: PathBuf,
    key: PathBuf,
    /// Clients must present a certificate issued by one of these authorities.
    client_ca: Option<PathBuf>,
}

/// An HTTP input as written (HEC and Elasticsearch take the same settings).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    name: Option<String>,
    address: String,
    token_file: PathBuf,
    tls: Option<RawTls>,
    max_body: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawInput {
    SyslogUdp {
        name: Option<String>,
        address: String,
        max_message: Option<usize>,
    },
    SyslogTcp {
        name: Option<String>,
        address: String,
        tls: Option<RawTls>,
        max_message: Option<usize>,
    },
    Hec(RawHttp),
    Elasticsearch(RawHttp),
    File {
        name: Option<String>,
        path: PathBuf,
        format: Option<String>,
    },
    Nats {
        name: Option<String>,
        url: String,
        subject: String,
        queue_group: Option<String>,
        credentials: Option<PathBuf>,
    },
}

/// How records of a spool are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// One JSON object per line (any shape Garrison reads).
    Json,
    /// One syslog message (RFC 3164 or 5424, or a bare line) per line.
    Syslog,
    /// Linux audit records.
    Auditd,
}

impl RecordFormat {
    fn parse(text: &str) -> Option<RecordFormat> {
        match text {
            "json" => Some(RecordFormat::Json),
            "syslog" => Some(RecordFormat::Syslog),
            "auditd" => Some(RecordFormat::Auditd),
            _ => None,
        }
    }
}

/// TLS for a listener, files resolved.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// One input, validated.
#[derive(Debug, Clone)]
pub struct Input {
    /// Unique; names the input's spool folder.
    pub name: String,
    pub kind: InputKind,
}

#[derive(Debug, Clone)]
pub enum InputKind {
    SyslogUdp {
        address: SocketAddr,
        max_message: usize,
    },
    SyslogTcp {
        address: SocketAddr,
        tls: Option<TlsFiles>,
        max_message: usize,
    },
    Hec {
        address: SocketAddr,
        tokens: Tokens,
        tls: Option<TlsFiles>,
        max_body: usize,
    },
    Elasticsearch {
        address: SocketAddr,
        tokens: Tokens,
        tls: Option<TlsFiles>,
        max_body: usize,
    },
    File {
        path: PathBuf,
        format: RecordFormat,
    },
    Nats {
        url: String,
        subject: String,
        queue_group: Option<String>,
        credentials: Option<PathBuf>,
    },
}

impl InputKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            InputKind::SyslogUdp { .. } => "syslog_udp",
            InputKind::SyslogTcp { tls: None, .. } => "syslog_tcp",
            InputKind::SyslogTcp { tls: Some(_), .. } => "syslog_tls",
            InputKind::Hec { .. } => "hec",
            InputKind::Elasticsearch { .. } => "elasticsearch",
            InputKind::File { .. } => "file",
            InputKind::Nats { .. } => "nats",
        }
    }
}

/// Accepted tokens, kept only as SHA-256 digests.
#[derive(Clone)]
pub struct Tokens(Vec<[u8; 32]>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} accepted)", self.0.len())
    }
}

impl Tokens {
    pub fn new(tokens: &[&str]) -> Tokens {
        Tokens(tokens.iter().map(|t| digest(t.as_bytes())).collect())
    }

    /// True when `presented` is one of the tokens (compared as digests, so the time taken says
    /// nothing about how much of a token was right).
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let presented = digest(presented);
        self.0
            .iter()
            .fold(false, |found, token| found | (*token == presented))
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Shortest token accepted: a guessable token is no authentication.
pub const MIN_TOKEN_CHARS: usize = 16;
const DEFAULT_MAX_MESSAGE: usize = 64 << 10;
const DEFAULT_MAX_BODY: usize = 16 << 20;

/// The compiled configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub durability: Durability,
    pub inputs: Vec<Input>,
    /// Single sign-on for the console (none: local users only).
    pub oidc: Option<OidcConfig>,
}

impl Config {
    /// Reads and compiles the file at `path`; relative paths in it are read from its folder.
    pub fn load(path: &Path) -> Result<Config, Vec<String>> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| vec![format!("cannot read {}: {error}", path.display())])?;
        let base = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // Paths in the file are shown and followed as absolute paths.
        let base = base.canonicalize().unwrap_or(base);
        Config::parse(&text, &base)
    }

    /// Compiles `text`, resolving relative paths from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, Vec<String>> {
        let raw: RawConfig = toml::from_str(text).map_err(|error| vec![error.to_string()])?;
        let mut errors = Vec::new();
        if raw.version != 1 {
            errors.push(format!(
                "version: {} is not a version this Garrison reads (1)",
                raw.version
            ));
        }
        let mut inputs: Vec<Input> = Vec::new();
        for (index, input) in raw.inputs.into_iter().enumerate() {
            let at = format!("input[{index}]");
            if let Some(input) = compile_input(input, base, &at, &mut errors) {
                if inputs.iter().any(|other| other.name == input.name) {
                    errors.push(format!(
                        "{at}.name: {:?} names another input too; names must be unique",
                        input.name
                    ));
                }
                inputs.push(input);
            }
        }
        if inputs.is_empty() && raw.oidc.is_none() && errors.is_empty() {
            errors.push("no [[input]]: serve would listen to nothing".into());
        }
        let oidc = raw.oidc.map(|raw| compile_oidc(raw, base, &mut errors));
        match errors.is_empty() {
            true => Ok(Config {
                durability: raw.spool.durability,
                inputs,
                oidc,
            }),
            false => Err(errors),
        }
    }
}

fn compile_input(raw: RawInput, base: &Path, at: &str, errors: &mut Vec<String>) -> Option<Input> {
    let resolve = |path: &Path| base.join(path);
    let before = errors.len();
    let address = |text: &str, errors: &mut Vec<String>| -> SocketAddr {
        text.parse().unwrap_or_else(|_| {
            errors.push(format!(
                "{at}.address: {text:?} is not an address with a port (such as 127.0.0.1:5514)"
            ));
            SocketAddr::from(([0, 0, 0, 0], 0))
        })
    };
    let tls = |raw: Option<RawTls>, errors: &mut Vec<String>| {
        raw.map(|raw| {
            let files = TlsFiles {
                certificate: resolve(&raw.certificate),
                key: resolve(&raw.key),
                client_ca: raw.client_ca.as_deref().map(resolve),
            };
            for (what, path) in [
                ("certificate", Some(&files.certificate)),
                ("key", Some(&files.key)),
                ("client_ca", files.client_ca.as_ref()),
            ] {
                if let Some(path) = path
                    && !path.is_file()
                {
                    errors.push(format!("{at}.tls.{what}: {} is not a file", path.display()));
                }
            }
            files
        })
    };
    let tokens = |path: &Path, errors: &mut Vec<String>| -> Tokens {
        let path = resolve(path);
        match std::fs::read_to_string(&path) {
            Err(error) => {
                errors.push(format!(
                    "{at}.token_file: cannot read {}: {error}",
                    path.display()
                ));
                Tokens(Vec::new())
            }
            Ok(text) => {
                let tokens: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.starts_with('#'))
                    .collect();
                if tokens.is_empty() {
                    errors.push(format!(
                        "{at}.token_file: {} holds no token",
                        path.display()
                    ));
                }
                if tokens.iter().any(|t| t.chars().count() < MIN_TOKEN_CHARS) {
                    errors.push(format!(
                        "{at}.token_file: {} holds a token shorter than {MIN_TOKEN_CHARS} characters",
                        path.display()
                    ));
                }
                Tokens::new(&tokens)
            }
        }
    };
    let http_parts = |raw: RawHttp, default: &str, errors: &mut Vec<String>| {
        (
            raw.name.unwrap_or_else(|| default.into()),
            address(&raw.address, errors),
            tokens(&raw.token_file, errors),
            tls(raw.tls, errors),
            raw.max_body.unwrap_or(DEFAULT_MAX_BODY),
        )
    };
    let (name, kind) = match raw {
        RawInput::SyslogUdp {
            name,
            address: text,
            max_message,
        } => (
            name.unwrap_or_else(|| "syslog-udp".into()),
            InputKind::SyslogUdp {
                address: address(&text, errors),
                max_message: max_message.unwrap_or(DEFAULT_MAX_MESSAGE),
            },
        ),
        RawInput::SyslogTcp {
            name,
            address: text,
            tls: raw_tls,
            max_message,
        } => {
            let tls = tls(raw_tls, errors);
            (
                name.unwrap_or_else(|| match tls {
                    Some(_) => "syslog-tls".into(),
                    None => "syslog-tcp".into(),
                }),
                InputKind::SyslogTcp {
                    address: address(&text, errors),
                    tls,
                    max_message: max_message.unwrap_or(DEFAULT_MAX_MESSAGE),
                },
            )
        }
        RawInput::Hec(raw) => {
            let (name, address, tokens, tls, max_body) = http_parts(raw, "hec", errors);
            (
                name,
                InputKind::Hec {
                    address,
                    tokens,
                    tls,
                    max_body,
                },
            )
        }
        RawInput::Elasticsearch(raw) => {
            let (name, address, tokens, tls, max_body) = http_parts(raw, "elasticsearch", errors);
            (
                name,
                InputKind::Elasticsearch {
                    address,
                    tokens,
                    tls,
                    max_body,
                },
            )
        }
        RawInput::File { name, path, format } => {
            let format = match format.as_deref() {
                None => RecordFormat::Syslog,
                Some(text) => RecordFormat::parse(text).unwrap_or_else(|| {
                    errors.push(format!(
                        "{at}.format: {text:?} is not one of json, syslog, auditd"
                    ));
                    RecordFormat::Syslog
                }),
            };
            let path = resolve(&path);
            let name = name.unwrap_or_else(|| {
                format!(
                    "file-{}",
                    path.file_name().unwrap_or_default().to_string_lossy()
                )
            });
            (name, InputKind::File { path, format })
        }
        RawInput::Nats {
            name,
            url,
            subject,
            queue_group,
            credentials,
        } => {
            if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                errors.push(format!(
                    "{at}.url: {url:?} is not a nats:// or tls:// address"
                ));
            }
            if subject.trim().is_empty() {
                errors.push(format!("{at}.subject: empty"));
            }
            (
                name.unwrap_or_else(|| "nats".into()),
                InputKind::Nats {
                    url,
                    subject,
                    queue_group,
                    credentials: credentials.as_deref().map(resolve),
                },
            )
        }
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with('.')
    {
        errors.push(format!(
            "{at}.name: {name:?} must be letters, digits, '-', '_' or '.' (it names a folder)"
        ));
    }
    (errors.len() == before).then_some(Input { name, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mistake_is_reported_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("short.tokens"), "abc\n").unwrap();
        let errors = Config::parse(
            r#"
version = 2
[[input]]
kind = "syslog_udp"
address = "localhost"
[[input]]
kind = "hec"
address = "127.0.0.1:8088"
token_file = "short.tokens"
[[input]]
kind = "file"
name = "a/b"
path = "x.log"
format = "csv"
"#,
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].starts_with("version: 2"));
        assert!(errors[1].starts_with("input[0].address"));
        assert!(errors[2].starts_with("input[1].token_file") && errors[2].contains("shorter"));
        assert!(errors[3].starts_with("input[2].format"));
        assert!(errors[4].starts_with("input[2].name"));
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        let error = Config::parse(
            "version = 1\n[[input]]\nkind = \"syslog_udp\"\naddress = \"127.0.0.1:1\"\nport = 3\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(error[0].contains("unknown field `port`"), "{error:?}");
        let error =
            Config::parse("version = 1\n[[input]]\nkind = \"gelf\"\n", Path::new(".")).unwrap_err();
        assert!(error[0].contains("unknown variant `gelf`"), "{error:?}");
    }

    #[test]
    fn a_valid_file_compiles_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hec.tokens"),
            "# ops\n0123456789abcdef0123\n",
        )
        .unwrap();
        let config = Config::parse(
            "version = 1\n[spool]\ndurability = \"write\"\n[[input]]\nkind = \"syslog_tcp\"\naddress = \"127.0.0.1:6514\"\n[[input]]\nkind = \"hec\"\naddress = \"127.0.0.1:8088\"\ntoken_file = \"hec.tokens\"\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(config.durability, Durability::Write);
        let names: Vec<&str> = config.inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["syslog-tcp", "hec"]);
        let InputKind::Hec {
            tokens, max_body, ..
        } = &config.inputs[1].kind
        else {
            panic!("not hec");
        };
        assert!(tokens.accepts(b"0123456789abcdef0123"));
        assert!(!tokens.accepts(b"0123456789abcdef012"));
        assert_eq!(*max_body, DEFAULT_MAX_BODY);
    }

    #[test]
    fn single_sign_on_is_checked_and_its_secret_read_from_the_environment() {
        let errors = Config::parse(
            r#"version = 1
[oidc]
issuer = "http://idp.example.com"
client_id = ""
client_secret_env = "GARRISON_TEST_UNSET_SECRET_VARIABLE"
redirect_url = "https://console.example.com/callback"
[oidc.roles]
soc = "superuser"
"#,
            Path::new("."),
        )
        .unwrap_err();
        let expected = [
            "oidc.issuer",
            "oidc.redirect_url",
            "oidc.client_id",
            "oidc.client_secret_env",
            "oidc.roles.soc",
            "oidc.roles: no value",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for (error, start) in errors.iter().zip(expected) {
            assert!(error.starts_with(start), "{error} / {start}");
        }
        // PATH is set wherever tests run: it stands in for a secret variable.
        let config = Config::parse(
            r#"version = 1
[oidc]
issuer = "https://idp.example.com/realms/soc/"
client_id = "garrison"
client_secret_env = "PATH"
redirect_url = "https://console.example.com/login/oidc/callback"
[oidc.roles]
soc-analysts = "analyst"
soc-admins = "admin"
"#,
            Path::new("."),
        )
        .unwrap();
        assert!(config.inputs.is_empty(), "the console alone needs no input");
        let oidc = config.oidc.unwrap();
        assert_eq!(oidc.issuer, "https://idp.example.com/realms/soc/");
        assert_eq!(oidc.username_claim, "preferred_username");
        assert_eq!(oidc.roles_claim, "groups");
        assert_eq!(
            oidc.roles["soc-admins"],
            garrison_model::access::Role::Admin
        );
        assert!(oidc.client_secret.is_some());
        assert!(!format!("{oidc:?}").contains(&std::env::var("PATH").unwrap()));
    }
}
