//! `garrison user` and `garrison token`: the people who may use the console and the tools that
//! may use the API. Passwords come from the terminal (not echoed, asked twice), or from the
//! first line of standard input when it is not one; they are kept only as Argon2id hashes. A
//! token is printed once and kept only as its digest. Every change is in the audit log.

use crate::output::print_json;
use crate::respond::ListFormat;
use crate::state::StoreArgs;
use crate::{ExitCode, Failure};
use garrison_model::access::Role;
use garrison_server::auth::{hash_password, issue_token};
use garrison_store::{AuditAction, AuditRecord, TokenRecord, UserRecord};
use std::io::{BufRead, IsTerminal};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a local user (the password from the terminal, or standard input).
    Add(UserAddArgs),
    /// Every user.
    List(AccessListArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Make an API token for a user and print it (once).
    Create(TokenCreateArgs),
    /// Every token (never their secrets).
    List(AccessListArgs),
    /// Revoke a token: it is refused from now on.
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct UserAddArgs {
    pub name: String,
    /// viewer, analyst, responder or admin.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Who adds the user, for the audit log (default: $USER).
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TokenCreateArgs {
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// What the token may do: at most its user's role (default: the user's role).
    #[arg(long, value_parser = parse_role)]
    pub role: Option<Role>,
    /// What the token is for (shown in lists).
    #[arg(long)]
    pub label: Option<String>,
    /// Days the token is accepted for; 0 for a token that never expires.
    #[arg(long, value_name = "DAYS", default_value_t = 90)]
    pub expires_in: u32,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TokenRevokeArgs {
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct AccessListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ListFormat,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

fn store_error(error: garrison_store::StoreError) -> Failure {
    Failure::Store(error.to_string())
}

/// A name people and tools are known by: letters, digits, `.`, `_`, `-` and `@`.
fn check_name(name: &str) -> Result<(), Failure> {
    match garrison_server::auth::valid_user_name(name) {
        true => Ok(()),
        false => Err(Failure::Usage(format!(
            "user name {name:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'"
        ))),
    }
}

/// The new password: asked twice on the terminal, or the first line of standard input.
fn read_password(name: &str) -> Result<String, Failure> {
    let unreadable =
        |error: std::io::Error| Failure::Input(format!("cannot read the password: {error}"));
    if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password(format!("Password for {name}: ")).map_err(unreadable)?;
        let second = rpassword::prompt_password("Again: ").map_err(unreadable)?;
        if first != second {
            return Err(Failure::Usage("the passwords differ".into()));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(unreadable)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn run_user(command: UserCommand) -> Result<ExitCode, Failure> {
    match command {
        UserCommand::Add(args) => {
            check_name(&args.name)?;
            let password = read_password(&args.name)?;
            let password_hash =
                hash_password(&password).map_err(|error| Failure::Usage(error.to_string()))?;
            let opened = args.store.open(false)?;
            let user = UserRecord {
                name: args.name.clone(),
                role: args.role,
                password_hash,
                created: jiff::Timestamp::now(),
                disabled: false,
            };
            let audit = AuditRecord {
                actor: crate::respond::person(&args.actor),
                action: AuditAction::AccessChanged,
                subject: format!("user:{}", args.name),
                detail: format!("user {} added with role {}", args.name, args.role),
            };
            if !opened.store.add_user(&user, &audit).map_err(store_error)? {
                return Err(Failure::Usage(format!("user {} exists already", args.name)));
            }
            eprintln!("garrison: user {} ({}) added", args.name, args.role);
            Ok(ExitCode::Success)
        }
        UserCommand::List(args) => {
            let opened = args.store.open(true)?;
            let users = opened.store.users().map_err(store_error)?;
            let rows: Vec<serde_json::Value> = users
                .iter()
                .map(|user| {
                    serde_json::json!({
                        "name": user.name, "role": user.role,
                        "created": user.created, "disabled": user.disabled,
                    })
                })
                .collect();
            match args.format {
                ListFormat::Json => print_json(&rows)?,
                ListFormat::Text => {
                    for user in &users {
                        println!(
                            "{} {} (added {}){}",
                            user.name,
                            user.role,
                            user.created,
                            if user.disabled { ", disabled" } else { "" }
                        );
                    }
                }
            }
            Ok(ExitCode::Success)
        }
    }
}

pub fn run_token(command: TokenCommand) -> Result<ExitCode, Failure> {
    match command {
        TokenCommand::Create(args) => {
            let opened = args.store.open(true)?;
            let user = opened
                .store
                .user(&args.user)
                .map_err(store_error)?
                .filter(|user| !user.disabled)
                .ok_or_else(|| Failure::Usage(format!("no user {} in force", args.user)))?;
            let role = args.role.unwrap_or(user.role);
            if !user.role.allows(role) {
                return Err(Failure::Usage(format!(
                    "a token of {} cannot do more than {} ({})",
                    user.name, user.role, role
                )));
            }
            let issued = issue_token().map_err(|error| Failure::Internal(error.to_string()))?;
            let created = jiff::Timestamp::now();
            let expires = (args.expires_in > 0)
                .then(|| {
                    created.checked_add(jiff::SignedDuration::from_hours(
                        24 * i64::from(args.expires_in),
                    ))
                })
                .transpose()
                .map_err(|error| Failure::Usage(format!("--expires-in: {error}")))?;
            let token = TokenRecord {
                id: issued.id.clone(),
                user: user.name.clone(),
                role,
                digest: issued.digest.clone(),
                label: args.label.clone(),
                created,
                revoked: None,
                expires,
            };
            let audit = AuditRecord {
                actor: crate::respond::person(&args.actor),
                action: AuditAction::AccessChanged,
                subject: format!("token:{}", issued.id),
                detail: format!(
                    "token {} for {} with role {role} created",
                    issued.id, user.name
                ),
            };
            opened
                .store
                .add_token(&token, &audit)
                .map_err(store_error)?;
            eprintln!(
                "garrison: token {} for {} ({role}) created; it is shown once, keep it secret",
                issued.id, user.name
            );
            println!("{}", issued.text);
            Ok(ExitCode::Success)
        }
        TokenCommand::List(args) => {
            let opened = args.store.open(true)?;
            let tokens = opened.store.tokens().map_err(store_error)?;
            let rows: Vec<serde_json::Value> = tokens
                .iter()
                .map(|token| {
                    serde_json::json!({
                        "id": token.id, "user": token.user, "role": token.role,
                        "label": token.label, "created": token.created, "revoked": token.revoked,
                        "expires": token.expires,
                    })
                })
                .collect();
            match args.format {
                ListFormat::Json => print_json(&rows)?,
                ListFormat::Text => {
                    for token in &tokens {
                        println!(
                            "{} {} {}{} (created {}{}){}",
                            token.id,
                            token.user,
                            token.role,
                            token
                                .label
                                .as_deref()
                                .map(|label| format!(" \"{label}\""))
                                .unwrap_or_default(),
                            token.created,
                            token
                                .expires
                                .map(|at| format!(", expires {at}"))
                                .unwrap_or_default(),
                            token
                                .revoked
                                .map(|at| format!(", revoked {at}"))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            Ok(ExitCode::Success)
        }
        TokenCommand::Revoke(args) => {
            let opened = args.store.open(true)?;
            let at = jiff::Timestamp::now();
            let audit = AuditRecord {
                actor: crate::respond::person(&args.actor),
                action: AuditAction::AccessChanged,
                subject: format!("token:{}", args.id),
                detail: format!("token {} revoked", args.id),
            };
            if !opened
                .store
                .revoke_token(&args.id, at, &audit)
                .map_err(store_error)?
            {
                return Err(Failure::Usage(format!("no token {} in force", args.id)));
            }
            eprintln!("garrison: token {} revoked", args.id);
            Ok(ExitCode::Success)
        }
    }
}
