//! Console sessions: signing in with a password (checked against its Argon2id hash), the
//! session cookie (`HttpOnly`, `Secure`, `SameSite=Strict`; it holds a 256-bit secret whose
//! digest the store keeps), the CSRF token every form of the session carries, the same-origin
//! check on every form post, a brake on repeated failures, and signing out. Each sign-in,
//! refusal and sign-out is in the audit log.

use crate::api::{ApiError, Console, Principal};
use crate::auth::{new_secret, secret_digest, verify_password};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use garrison_model::Timestamp;
use garrison_store::{AuditAction, AuditRecord, SessionRecord};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The password hash of users who sign in only through single sign-on: not a PHC string, so
/// no password ever matches it.
pub const SSO_HASH: &str = "!sso";

/// The session cookie's name.
pub const COOKIE: &str = "garrison_session";
/// How long a session lasts, whatever is done with it.
pub const LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(12);
/// Failed sign-ins of one name before it is held back.
const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and a name held back.
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Recent failed sign-ins by name (lower-cased), so guessing a password takes a long time.
#[derive(Debug, Default)]
pub struct SignInBrake {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl SignInBrake {
    fn key(name: &str) -> String {
        name.trim().to_lowercase()
    }

    /// True when `name` failed too often lately.
    pub fn held(&self, name: &str) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures
            .get(&Self::key(name))
            .is_some_and(|(count, first)| {
                *count >= MAX_FAILURES && first.elapsed() < FAILURE_WINDOW
            })
    }

    fn failed(&self, name: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, (_, first)| first.elapsed() < FAILURE_WINDOW);
        let entry = failures
            .entry(Self::key(name))
            .or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    fn succeeded(&self, name: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&Self::key(name));
    }
}

/// A signed-in person, from their session cookie.
#[derive(Debug, Clone)]
pub struct Signed {
    pub principal: Principal,
    /// The token the session's forms carry.
    pub csrf: String,
    digest: String,
}

/// The session cookie's secret, when the request carries one.
fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// The value of cookie `wanted`, when the request carries one.
pub fn cookie(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Where to go after signing in: a path on this site, else the queue.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// False when the request says it comes from another site (`Origin` names another host than
/// `Host`, or is `null`). Browsers send `Origin` with every form post.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

impl Console {
    /// The session whose cookie secret is `secret`, with its person, if it is in force.
    pub fn session_of(&self, secret: &str, now: Timestamp) -> Result<Option<Signed>, ApiError> {
        let digest = secret_digest(secret);
        let Some(session) = self.store.session(&digest)? else {
            return Ok(None);
        };
        if session.expires <= now {
            return Ok(None);
        }
        let Some(user) = self
            .store
            .user(&session.user)?
            .filter(|user| !user.disabled)
        else {
            return Ok(None);
        };
        Ok(Some(Signed {
            principal: Principal {
                user: user.name,
                role: user.role,
                token: None,
            },
            csrf: session.csrf,
            digest,
        }))
    }

    /// Checks `password` for `name`; on success starts a session and returns the cookie's
    /// secret. Every outcome is audited; a refusal says nothing of which part was wrong.
    pub fn sign_in(&self, name: &str, password: &str, now: Timestamp) -> Result<String, ApiError> {
        let refused = |detail: &str| -> Result<String, ApiError> {
            self.store.append(
                &AuditRecord {
                    actor: format!("user:{}", name.chars().take(64).collect::<String>()),
                    action: AuditAction::SignInRefused,
                    subject: "console".into(),
                    detail: detail.into(),
                },
                now,
            )?;
            Err(ApiError::invalid_token("the name or the password is wrong"))
        };
        if self.sign_ins.held(name) {
            return refused("too many failed sign-ins lately; held back");
        }
        let user = self.store.user(name.trim())?;
        // The same work whether the user exists or not: the time taken tells nothing.
        let hash = user
            .as_ref()
            .map(|user| user.password_hash.as_str())
            .unwrap_or(&self.decoy_hash);
        let matches = verify_password(hash, password);
        let Some(user) = user.filter(|user| matches && !user.disabled) else {
            self.sign_ins.failed(name);
            return refused("wrong name or password, or a disabled user");
        };
        self.sign_ins.succeeded(name);
        self.start_session(&user, "", now)
    }

    /// Starts a session of `user` (audited, with `how` they signed in); the cookie's secret.
    fn start_session(
        &self,
        user: &garrison_store::UserRecord,
        how: &str,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let (secret, digest) = new_secret().map_err(ApiError::internal)?;
        let (csrf, _) = new_secret().map_err(ApiError::internal)?;
        let expires = now.checked_add(LIFETIME).map_err(ApiError::internal)?;
        let session = SessionRecord {
            digest,
            user: user.name.clone(),
            created: now,
            expires,
            csrf,
        };
        let audit = AuditRecord {
            actor: format!("user:{}", user.name),
            action: AuditAction::SignedIn,
            subject: "console".into(),
            detail: format!("signed in{how} as {} until {expires}", user.role),
        };
        self.store.add_session(&session, &audit)?;
        Ok(secret)
    }

    /// Audits a refused sign-in of `actor` with `detail`.
    pub fn refuse_sign_in(
        &self,
        actor: &str,
        detail: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        self.store.append(
            &AuditRecord {
                actor: actor.chars().take(80).collect(),
                action: AuditAction::SignInRefused,
                subject: "console".into(),
                detail: detail.into(),
            },
            now,
        )?;
        Ok(())
    }

    /// Starts a session for `identity`, whom the single sign-on provider vouched for: a user
    /// of that name is added at their first sign-on and takes the role the provider's groups
    /// grant at each one. A user of that name with a password, or a disabled one, is refused.
    pub fn sign_in_identity(
        &self,
        identity: &crate::oidc::Identity,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let actor = format!("user:{}", identity.name);
        let refused = |detail: &str| -> Result<String, ApiError> {
            self.refuse_sign_in(&actor, detail, now)?;
            Err(ApiError::forbidden_because(detail))
        };
        let changed = |detail: String| AuditRecord {
            actor: actor.clone(),
            action: AuditAction::AccessChanged,
            subject: actor.clone(),
            detail,
        };
        let user = match self.store.user(&identity.name)? {
            None => {
                let user = garrison_store::UserRecord {
                    name: identity.name.clone(),
                    role: identity.role,
                    password_hash: SSO_HASH.into(),
                    created: now,
                    disabled: false,
                };
                let audit = changed(format!(
                    "user {} added with role {} at their first single sign-on (subject {})",
                    user.name, user.role, identity.subject
                ));
                if !self.store.add_user(&user, &audit)? {
                    return refused("the user was added meanwhile; sign in again");
                }
                user
            }
            Some(user) if user.password_hash != SSO_HASH => {
                return refused("a local user of that name signs in with a password");
            }
            Some(user) if user.disabled => return refused("a disabled user"),
            Some(mut user) => {
                if user.role != identity.role {
                    let audit = changed(format!(
                        "role {} -> {} from the single sign-on provider's groups",
                        user.role, identity.role
                    ));
                    user.role = identity.role;
                    self.store.put_user(&user, &audit)?;
                }
                user
            }
        };
        self.start_session(&user, " with single sign-on", now)
    }

    /// Ends `signed`'s session (audited).
    pub fn sign_out(&self, signed: &Signed, now: Timestamp) -> Result<(), ApiError> {
        let audit = AuditRecord {
            actor: signed.principal.actor(),
            action: AuditAction::SignedOut,
            subject: "console".into(),
            detail: "signed out".into(),
        };
        self.store.end_session(&signed.digest, now, &audit)?;
        Ok(())
    }
}

/// The `Set-Cookie` value that starts a session.
pub fn session_cookie(secret: &str) -> String {
    format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that ends one.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

impl Signed {
    /// The refusal of a form post that does not carry this session's token, or comes from
    /// another site; none when it may go on.
    pub fn refusal(&self, headers: &HeaderMap, csrf: &str) -> Option<Response> {
        use subtle::ConstantTimeEq;
        let token_matches: bool = self.csrf.as_bytes().ct_eq(csrf.as_bytes()).into();
        if token_matches && same_origin(headers) {
            None
        } else {
            Some(super::pages::problem(
                axum::http::StatusCode::FORBIDDEN,
                "This form is out of date or did not come from this console. Reload the page and try again.",
            ))
        }
    }
}

impl FromRequestParts<Arc<Console>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Signed, Response> {
        let to_sign_in = |parts: &Parts| {
            let next = parts
                .uri
                .path_and_query()
                .map(|path| path.as_str().to_owned())
                .unwrap_or_else(|| "/".into());
            if parts.method == Method::GET {
                Redirect::to(&format!("/login?next={}", crate::url::query_value(&next)))
                    .into_response()
            } else {
                super::pages::problem(
                    axum::http::StatusCode::UNAUTHORIZED,
                    "Your session has ended. Sign in again.",
                )
            }
        };
        let Some(secret) = cookie_secret(&parts.headers) else {
            return Err(to_sign_in(parts));
        };
        let found = console
            .blocking(move |console| console.session_of(&secret, Timestamp::now()))
            .await
            .map_err(|error| error.into_response())?;
        found.ok_or_else(|| to_sign_in(parts))
    }
}
