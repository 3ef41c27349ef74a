//! Who sends a message: an agent identity with its own Ed25519 key pair, and the directory of
//! identities a receiver trusts, with what each may publish.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// An agent instance: its role (`triage`) and which instance of it (`1`), shown `triage/1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AgentId {
    pub role: String,
    pub instance: String,
}

impl AgentId {
    pub fn new(role: impl Into<String>, instance: impl Into<String>) -> AgentId {
        AgentId {
            role: role.into(),
            instance: instance.into(),
        }
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.role, self.instance)
    }
}

/// An agent's identity and secret signing key. The secret never leaves this value: it is not
/// serialized and `Debug` does not show it.
pub struct AgentKeys {
    id: AgentId,
    signing: SigningKey,
}

impl fmt::Debug for AgentKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentKeys")
            .field("id", &self.id)
            .field(
                "public",
                &hex::encode(self.signing.verifying_key().as_bytes()),
            )
            .finish_non_exhaustive()
    }
}

/// Could not draw randomness for a new key.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate a key: {0}")]
pub struct KeyError(String);

impl AgentKeys {
    /// A fresh key pair from the operating system's randomness.
    pub fn generate(id: AgentId) -> Result<AgentKeys, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| KeyError(error.to_string()))?;
        Ok(AgentKeys::from_seed(id, seed))
    }

    /// A key pair from a known 32-byte seed (keys loaded from a secret store; tests).
    pub fn from_seed(id: AgentId, seed: [u8; 32]) -> AgentKeys {
        AgentKeys {
            id,
            signing: SigningKey::from_bytes(&seed),
        }
    }

    pub fn id(&self) -> &AgentId {
        &self.id
    }

    /// What others need to verify this agent's messages.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            id: self.id.clone(),
            key: self.signing.verifying_key(),
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

/// An agent's identity and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIdentity {
    pub id: AgentId,
    pub key: VerifyingKey,
}

impl PublicIdentity {
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.key
            .verify(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

/// The identities a receiver trusts, and the message kinds each may publish. Anything not
/// listed is refused: an unknown sender, or a known one publishing outside its grant.
#[derive(Debug, Clone)]
pub struct Directory<K> {
    members: HashMap<AgentId, Member<K>>,
    /// Roles whose every instance signs with the role's key (agents in separate processes,
    /// each instance named by where it runs).
    roles: HashMap<String, Member<K>>,
}

#[derive(Debug, Clone)]
struct Member<K> {
    identity: PublicIdentity,
    may_publish: HashSet<K>,
}

impl<K: Copy + Eq + std::hash::Hash> Default for Directory<K> {
    fn default() -> Self {
        Directory {
            members: HashMap::new(),
            roles: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash> Directory<K> {
    /// Trusts `identity` to publish `kinds` (and nothing else).
    pub fn admit(&mut self, identity: PublicIdentity, kinds: impl IntoIterator<Item = K>) {
        self.members.insert(
            identity.id.clone(),
            Member {
                identity,
                may_publish: kinds.into_iter().collect(),
            },
        );
    }

    /// Trusts every instance of `role` signing with `key` to publish `kinds`. An instance
    /// admitted on its own (by [`Directory::admit`]) is judged by its own entry.
    pub fn admit_role(
        &mut self,
        role: &str,
        key: ed25519_dalek::VerifyingKey,
        kinds: impl IntoIterator<Item = K>,
    ) {
        self.roles.insert(
            role.to_string(),
            Member {
                identity: PublicIdentity {
                    id: AgentId::new(role, "*"),
                    key,
                },
                may_publish: kinds.into_iter().collect(),
            },
        );
    }

    fn member(&self, id: &AgentId) -> Option<&Member<K>> {
        self.members.get(id).or_else(|| self.roles.get(&id.role))
    }

    pub(crate) fn identity(&self, id: &AgentId) -> Option<&PublicIdentity> {
        self.member(id).map(|member| &member.identity)
    }

    pub fn may_publish(&self, id: &AgentId, kind: K) -> bool {
        self.member(id)
            .is_some_and(|member| member.may_publish.contains(&kind))
    }

    pub fn len(&self) -> usize {
        self.members.len() + self.roles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The keys of a deployment whose agents run as separate processes: one key pair per role,
/// kept as files in one folder (`ROLE.key`, the secret seed, readable by its owner only;
/// `ROLE.pub`, the public key). A process reads the secret keys of the roles it runs and the
/// public keys of all.
pub struct KeyRing {
    secrets: HashMap<String, [u8; 32]>,
    public: HashMap<String, VerifyingKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secrets: Vec<&String> = self.secrets.keys().collect();
        secrets.sort();
        let mut public: Vec<&String> = self.public.keys().collect();
        public.sort();
        f.debug_struct("KeyRing")
            .field("secret_roles", &secrets)
            .field("public_roles", &public)
            .finish()
    }
}

/// Why a key ring could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("{path}: {reason}")]
    File {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("no secret key for role {0} (ROLE.key in the keys folder)")]
    MissingSecret(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl KeyRing {
    /// Creates a key pair for each of `roles` in `dir` that has none yet; returns the roles
    /// given new keys. Secret key files are created readable by their owner only.
    pub fn init(dir: &std::path::Path, roles: &[&str]) -> Result<Vec<String>, KeyRingError> {
        let file_error = |path: &std::path::Path, error: std::io::Error| KeyRingError::File {
            path: path.to_path_buf(),
            reason: error.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|error| file_error(dir, error))?;
        let mut created = Vec::new();
        for role in roles {
            let secret = dir.join(format!("{role}.key"));
            if secret.exists() {
                continue;
            }
            let keys = AgentKeys::generate(AgentId::new(*role, "1"))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(&secret)
                .map_err(|error| file_error(&secret, error))?;
            std::io::Write::write_all(
                &mut file,
                format!("{}\n", hex::encode(keys.signing.to_bytes())).as_bytes(),
            )
            .map_err(|error| file_error(&secret, error))?;
            let public = dir.join(format!("{role}.pub"));
            std::fs::write(
                &public,
                format!("{}\n", hex::encode(keys.signing.verifying_key().as_bytes())),
            )
            .map_err(|error| file_error(&public, error))?;
            created.push(role.to_string());
        }
        Ok(created)
    }

    /// Reads every public key in `dir`, and the secret keys of `own` roles.
    pub fn load(dir: &std::path::Path, own: &[&str]) -> Result<KeyRing, KeyRingError> {
        let file_error = |path: &std::path::Path, reason: String| KeyRingError::File {
            path: path.to_path_buf(),
            reason,
        };
        let read_hex = |path: &std::path::Path| -> Result<[u8; 32], KeyRingError> {
            let text = std::fs::read_to_string(path)
                .map_err(|error| file_error(path, error.to_string()))?;
            hex::decode(text.trim())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| file_error(path, "not 32 hex-encoded bytes".into()))
        };
        let mut public = HashMap::new();
        let entries = std::fs::read_dir(dir).map_err(|error| file_error(dir, error.to_string()))?;
        for entry in entries {
            let path = entry
                .map_err(|error| file_error(dir, error.to_string()))?
                .path();
            let (Some(role), Some("pub")) = (
                path.file_stem().and_then(|stem| stem.to_str()),
                path.extension().and_then(|ext| ext.to_str()),
            ) else {
                continue;
            };
            let key = VerifyingKey::from_bytes(&read_hex(&path)?)
                .map_err(|_| file_error(&path, "not an Ed25519 public key".into()))?;
            public.insert(role.to_string(), key);
        }
        let mut secrets = HashMap::new();
        for role in own {
            let path = dir.join(format!("{role}.key"));
            if !path.exists() {
                return Err(KeyRingError::MissingSecret(role.to_string()));
            }
            let seed = read_hex(&path)?;
            let derived = SigningKey::from_bytes(&seed).verifying_key();
            if public.get(*role) != Some(&derived) {
                return Err(file_error(
                    &path,
                    format!("does not match {role}.pub beside it"),
                ));
            }
            secrets.insert(role.to_string(), seed);
        }
        Ok(KeyRing { secrets, public })
    }

    /// The signing keys of instance `instance` of `role` (the role's key).
    pub fn keys(&self, role: &str, instance: &str) -> Result<AgentKeys, KeyRingError> {
        let seed = self
            .secrets
            .get(role)
            .ok_or_else(|| KeyRingError::MissingSecret(role.to_string()))?;
        Ok(AgentKeys::from_seed(AgentId::new(role, instance), *seed))
    }

    /// The public key of `role`, when the ring has it.
    pub fn public(&self, role: &str) -> Option<VerifyingKey> {
        self.public.get(role).copied()
    }
}
