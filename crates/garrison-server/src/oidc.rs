//! Single sign-on for the console through an OpenID Connect provider: the authorization code
//! flow with PKCE (S256), a state bound to the browser by a cookie and used once, a nonce
//! checked in the ID token, and the ID token's signature (RS256 or ES256, from the provider's
//! published keys), issuer, audience and lifetime verified before anyone is let in. The user's
//! role comes from a claim (groups) through the configured mapping; nobody gets a role the
//! mapping does not grant.

use crate::config::OidcConfig;
use base64::Engine;
use garrison_model::access::Role;
use garrison_response::http::{HttpClient, HttpRequest};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie binding a sign-in to the browser that began it.
pub const STATE_COOKIE: &str = "garrison_oidc";
/// How long a begun sign-in may take.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Sign-ins begun and not finished, at most (older ones are dropped first).
const PENDING_KEPT: usize = 10_000;
/// Clock difference allowed between the provider and this server.
const SKEW_SECONDS: i64 = 60;
/// The provider's keys are fetched again at most this often (when a token names an unknown key).
const KEYS_REFRESH: Duration = Duration::from_secs(30);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|error| format!("not base64url: {error}"))
}

/// Why a sign-in failed: for the audit log (never holds a token or secret).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the provider cannot be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the sign-in was not begun here, was used already or took too long")]
    UnknownState,
    #[error("the provider refused: {0}")]
    Refused(String),
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    #[error("{0}")]
    NotAllowed(String),
}

/// Who the provider says signed in, and the role the mapping grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
    /// The provider's subject identifier.
    pub subject: String,
}

/// What the provider publishes about itself.
#[derive(Debug, Clone, Deserialize)]
struct Provider {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// One published key.
#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    // RSA
    n: Option<String>,
    e: Option<String>,
    // EC
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Debug, Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

struct Pending {
    nonce: String,
    verifier: String,
    next: String,
    begun: Instant,
}

/// The console's single sign-on.
pub struct Oidc {
    config: OidcConfig,
    http: HttpClient,
    provider: tokio::sync::Mutex<Option<Provider>>,
    keys: tokio::sync::Mutex<(Vec<Jwk>, Option<Instant>)>,
    pending: Mutex<HashMap<String, Pending>>,
}

/// Where to send the browser, and the state its cookie must carry back.
pub struct Begun {
    pub location: String,
    pub state: String,
}

fn random_text() -> Result<String, OidcError> {
    let (secret, _) =
        crate::auth::new_secret().map_err(|error| OidcError::Provider(error.to_string()))?;
    Ok(secret)
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                crate::url::component(name),
                crate::url::component(value)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Result<Oidc, String> {
        let http = HttpClient::new(config.ca_file.as_deref(), Duration::from_secs(10))?;
        Ok(Oidc {
            config,
            http,
            provider: tokio::sync::Mutex::new(None),
            keys: tokio::sync::Mutex::new((Vec::new(), None)),
            pending: Mutex::new(HashMap::new()),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let answer = self
            .http
            .send(&HttpRequest {
                method: "GET",
                url: url.to_owned(),
                headers: vec![("accept".into(), "application/json".into())],
                body: None,
            })
            .await
            .map_err(|error| OidcError::Provider(format!("GET {url}: {error}")))?;
        serde_json::from_str(&answer.body)
            .map_err(|error| OidcError::Provider(format!("GET {url}: {error}")))
    }

    /// The provider's endpoints, fetched once (and again after a failure).
    async fn provider(&self) -> Result<Provider, OidcError> {
        let mut cached = self.provider.lock().await;
        if let Some(provider) = cached.as_ref() {
            return Ok(provider.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let provider: Provider = self.get_json(&url).await?;
        if provider.issuer != self.config.issuer {
            return Err(OidcError::Provider(format!(
                "the provider calls itself {:?}, not {:?}",
                provider.issuer, self.config.issuer
            )));
        }
        *cached = Some(provider.clone());
        Ok(provider)
    }

    /// Begins a sign-in that returns to `next`: where to send the browser.
    pub async fn begin(&self, next: &str) -> Result<Begun, OidcError> {
        let provider = self.provider().await?;
        let (state, nonce, verifier) = (random_text()?, random_text()?, random_text()?);
        let challenge = {
            use sha2::Digest;
            b64(&sha2::Sha256::digest(verifier.as_bytes()))
        };
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.retain(|_, begun| begun.begun.elapsed() < PENDING_FOR);
            if pending.len() >= PENDING_KEPT
                && let Some(oldest) = pending
                    .iter()
                    .min_by_key(|(_, begun)| begun.begun)
                    .map(|(state, _)| state.clone())
            {
                pending.remove(&oldest);
            }
            pending.insert(
                state.clone(),
                Pending {
                    nonce: nonce.clone(),
                    verifier,
                    next: next.to_owned(),
                    begun: Instant::now(),
                },
            );
        }
        let query = form_encode(&[
            ("response_type", "code"),
            ("client_id", &self.config.client_id),
            ("redirect_uri", &self.config.redirect_url),
            ("scope", "openid profile email"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let separator = if provider.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(Begun {
            location: format!("{}{separator}{query}", provider.authorization_endpoint),
            state,
        })
    }

    /// Finishes the sign-in `state` (which the browser's cookie must also hold) with the
    /// provider's `code`: who signed in, and where they were going.
    pub async fn finish(
        &self,
        state: &str,
        cookie_state: Option<&str>,
        code: &str,
    ) -> Result<(Identity, String), OidcError> {
        // Used once, whatever comes of it.
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(state)
            .filter(|pending| pending.begun.elapsed() < PENDING_FOR)
            .ok_or(OidcError::UnknownState)?;
        if cookie_state != Some(state) {
            return Err(OidcError::UnknownState);
        }
        let provider = self.provider().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        if let Some(secret) = &self.config.client_secret {
            form.push(("client_secret", secret));
        }
        let answer = self
            .http
            .send(&HttpRequest {
                method: "POST",
                url: provider.token_endpoint.clone(),
                headers: vec![
                    (
                        "content-type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ),
                    ("accept".into(), "application/json".into()),
                ],
                body: Some(form_encode(&form)),
            })
            .await
            // The error names the endpoint and status, never the form (it holds the secret).
            .map_err(|error| OidcError::Refused(format!("the token endpoint: {error}")))?;
        #[derive(Deserialize)]
        struct Tokens {
            id_token: String,
        }
        let tokens: Tokens = serde_json::from_str(&answer.body).map_err(|error| {
            OidcError::Provider(format!("the token endpoint's answer: {error}"))
        })?;
        let claims = self
            .verified_claims(&provider, &tokens.id_token, &pending.nonce)
            .await?;
        Ok((self.identity(&claims)?, pending.next))
    }

    /// The ID token's claims once its signature and contents are verified.
    async fn verified_claims(
        &self,
        provider: &Provider,
        token: &str,
        nonce: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        let now = jiff::Timestamp::now().as_second();
        let mut keys = self.keys.lock().await;
        for attempt in 0..2 {
            let stale = keys
                .1
                .is_none_or(|fetched| attempt == 1 && fetched.elapsed() >= KEYS_REFRESH);
            if stale {
                let set: KeySet = self.get_json(&provider.jwks_uri).await?;
                *keys = (set.keys, Some(Instant::now()));
            }
            match verify(token, &keys.0, &self.config, nonce, now) {
                Err(Verify::UnknownKey) if attempt == 0 => continue,
                Err(Verify::UnknownKey) => {
                    return Err(OidcError::InvalidToken(
                        "signed with a key the provider does not publish".into(),
                    ));
                }
                Err(Verify::Invalid(reason)) => return Err(OidcError::InvalidToken(reason)),
                Ok(claims) => return Ok(claims),
            }
        }
        Err(OidcError::InvalidToken("no key verifies it".into()))
    }

    /// The user and role the verified `claims` give.
    fn identity(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Identity, OidcError> {
        let subject = claims
            .get("sub")
            .and_then(|sub| sub.as_str())
            .ok_or_else(|| OidcError::InvalidToken("no subject".into()))?
            .to_owned();
        let name = claims
            .get(&self.config.username_claim)
            .and_then(|name| name.as_str())
            .ok_or_else(|| {
                OidcError::NotAllowed(format!(
                    "the token has no {} claim to name the user",
                    self.config.username_claim
                ))
            })?
            .to_owned();
        if !crate::auth::valid_user_name(&name) {
            return Err(OidcError::NotAllowed(format!(
                "{name:?} is not a user name Garrison takes (1 to 64 letters, digits, '.', '_', '-' or '@')"
            )));
        }
        let values: Vec<&str> = match claims.get(&self.config.roles_claim) {
            Some(serde_json::Value::Array(values)) => {
                values.iter().filter_map(|value| value.as_str()).collect()
            }
            Some(serde_json::Value::String(value)) => vec![value.as_str()],
            _ => Vec::new(),
        };
        let role = values
            .iter()
            .filter_map(|value| self.config.roles.get(*value))
            .max()
            .copied()
            .ok_or_else(|| {
                OidcError::NotAllowed(format!(
                    "no value of the {} claim grants a role here",
                    self.config.roles_claim
                ))
            })?;
        Ok(Identity {
            name,
            role,
            subject,
        })
    }
}

/// Why a token did not verify.
#[derive(Debug)]
enum Verify {
    /// It names a key not (yet) among those fetched.
    UnknownKey,
    Invalid(String),
}

fn invalid(reason: impl Into<String>) -> Verify {
    Verify::Invalid(reason.into())
}

/// Verifies `token` (a JWS in compact form) against `keys` and the configuration; its claims.
fn verify(
    token: &str,
    keys: &[Jwk],
    config: &OidcConfig,
    nonce: &str,
    now: i64,
) -> Result<serde_json::Map<String, serde_json::Value>, Verify> {
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a signed token in compact form"));
    };
    #[derive(Deserialize)]
    struct Header {
        alg: String,
        kid: Option<String>,
    }
    let header: Header = serde_json::from_slice(&unb64(head).map_err(invalid)?)
        .map_err(|error| invalid(format!("its header: {error}")))?;
    let kty = match header.alg.as_str() {
        "RS256" => "RSA",
        "ES256" => "EC",
        other => return Err(invalid(format!("algorithm {other:?} is not accepted"))),
    };
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|key| key.kty == kty && key.usage.as_deref().is_none_or(|usage| usage == "sig"))
        .filter(|key| match (&header.kid, &key.kid) {
            (Some(wanted), Some(kid)) => wanted == kid,
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect();
    let key = match candidates.as_slice() {
        [key] => *key,
        [] => return Err(Verify::UnknownKey),
        _ => {
            return Err(invalid(
                "several published keys fit and the token names none",
            ));
        }
    };
    let signed = format!("{head}.{body}");
    let signature = unb64(signature).map_err(invalid)?;
    let field = |value: &Option<String>, what: &str| -> Result<Vec<u8>, Verify> {
        unb64(
            value
                .as_deref()
                .ok_or_else(|| invalid(format!("the key has no {what}")))?,
        )
        .map_err(invalid)
    };
    use ring::signature::{self as sig, UnparsedPublicKey};
    let verified = match kty {
        "RSA" => sig::RsaPublicKeyComponents {
            n: field(&key.n, "n")?,
            e: field(&key.e, "e")?,
        }
        .verify(
            &sig::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &signature,
        ),
        _ => {
            if key.crv.as_deref() != Some("P-256") {
                return Err(invalid("an EC key of another curve than P-256"));
            }
            let mut point = vec![4u8];
            point.extend(field(&key.x, "x")?);
            point.extend(field(&key.y, "y")?);
            UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed.as_bytes(), &signature)
        }
    };
    verified.map_err(|_| invalid("the signature does not verify"))?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&unb64(body).map_err(invalid)?)
            .map_err(|error| invalid(format!("its claims: {error}")))?;
    let text = |name: &str| claims.get(name).and_then(|value| value.as_str());
    let number = |name: &str| claims.get(name).and_then(|value| value.as_i64());
    if text("iss") != Some(config.issuer.as_str()) {
        return Err(invalid("issued by another issuer"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => vec![aud.as_str()],
        Some(serde_json::Value::Array(values)) => {
            values.iter().filter_map(|value| value.as_str()).collect()
        }
        _ => Vec::new(),
    };
    if !audiences.contains(&config.client_id.as_str()) {
        return Err(invalid("issued for another client"));
    }
    if audiences.len() > 1 && text("azp") != Some(config.client_id.as_str()) {
        return Err(invalid("several audiences and another authorized party"));
    }
    match number("exp") {
        Some(exp) if exp + SKEW_SECONDS > now => {}
        Some(_) => return Err(invalid("expired")),
        None => return Err(invalid("no expiry")),
    }
    if number("iat").is_some_and(|iat| iat > now + SKEW_SECONDS)
        || number("nbf").is_some_and(|nbf| nbf > now + SKEW_SECONDS)
    {
        return Err(invalid("not valid yet"));
    }
    if text("nonce") != Some(nonce) {
        return Err(invalid("the nonce is not this sign-in's"));
    }
    Ok(claims)
}
