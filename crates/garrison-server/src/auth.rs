//! Credentials: local users' passwords as Argon2id hashes (the PHC string format, with a
//! random salt per password), and API tokens `gar_ID_SECRET` whose secret (256 random bits)
//! is kept only as its SHA-256 digest and compared in constant time.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the password is too short ({0} characters; at least {MIN_PASSWORD_CHARS})")]
    TooShort(usize),
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

fn random<const N: usize>() -> Result<[u8; N], CredentialError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| CredentialError::Random(error.to_string()))?;
    Ok(bytes)
}

/// The password's Argon2id hash (OWASP's parameters: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(CredentialError::TooShort(chars));
    }
    let salt = SaltString::encode_b64(&random::<16>()?)
        .map_err(|error| CredentialError::Hash(error.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| CredentialError::Hash(error.to_string()))
}

/// True when `password` is the one `hash` was made from (a malformed hash matches nothing).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A token just made: its text is shown once, only its digest is kept.
pub struct IssuedToken {
    pub id: String,
    /// `gar_ID_SECRET`, for `Authorization: Bearer`.
    pub text: String,
    pub digest: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("text", &"<hidden>")
            .finish()
    }
}

/// Makes a new token.
pub fn issue_token() -> Result<IssuedToken, CredentialError> {
    let id = hex::encode(random::<8>()?);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>()?);
    Ok(IssuedToken {
        text: format!("gar_{id}_{secret}"),
        digest: digest(&secret),
        id,
    })
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The SHA-256 digest (hex) a store keeps of a session's or a token's secret.
pub fn secret_digest(secret: &str) -> String {
    digest(secret)
}

/// Whether `name` is one people and tools may be known by: 1 to 64 letters, digits, `.`,
/// `_`, `-` and `@`.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// A new 256-bit secret (base64url) and its digest.
pub fn new_secret() -> Result<(String, String), CredentialError> {
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>()?);
    let digest = digest(&secret);
    Ok((secret, digest))
}

/// A presented token's id and secret, when it has the shape of one.
pub fn parse_token(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("gar_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

/// True when `secret` is the one whose digest was kept (compared in constant time).
pub fn secret_matches(kept_digest: &str, secret: &str) -> bool {
    digest(secret)
        .as_bytes()
        .ct_eq(kept_digest.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_with_argon2id_and_a_salt_of_their_own() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery "));
        assert!(!verify_password("not a hash", "correct horse battery"));
        let again = hash_password("correct horse battery").unwrap();
        assert_ne!(hash, again, "each hash has its own salt");
        assert!(matches!(
            hash_password("short"),
            Err(CredentialError::TooShort(5))
        ));
    }

    #[test]
    fn tokens_are_checked_against_their_digest_only() {
        let token = issue_token().unwrap();
        let (id, secret) = parse_token(&token.text).unwrap();
        assert_eq!(id, token.id);
        assert!(!token.digest.contains(secret));
        assert!(secret_matches(&token.digest, secret));
        assert!(!secret_matches(&token.digest, "guess"));
        assert!(
            !format!("{token:?}").contains(secret),
            "Debug hides the secret"
        );
        assert_ne!(issue_token().unwrap().text, token.text);
        assert_eq!(parse_token("Bearer abc"), None);
        assert_eq!(parse_token("gar_zz_secret"), None);
    }
}
