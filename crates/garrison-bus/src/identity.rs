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

    pub(crate) fn identity(&self, id: &AgentId) -> Option<&PublicIdentity> {
        self.members.get(id).map(|member| &member.identity)
    }

    pub fn may_publish(&self, id: &AgentId, kind: K) -> bool {
        self.members
            .get(id)
            .is_some_and(|member| member.may_publish.contains(&kind))
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}
