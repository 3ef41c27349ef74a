//! The audit log's hash chain: what each entry's hash covers, and how a sequence of stored
//! entries is checked. Pure: the SQLite store keeps the entries, this module judges them.
//!
//! Every entry carries the hash of the one before it, so an edited, deleted, inserted or
//! reordered entry breaks the chain from that point on. Deleting entries at the end leaves a
//! valid shorter chain; the store therefore also keeps the head (last sequence number and hash)
//! beside the entries, and `garrison audit head` prints it so that it can be kept elsewhere and
//! compared later (`--expect-head`), which an attacker who can rewrite the database cannot undo.

use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Hash of an entry, and of the chain's start (all zeros) before the first entry.
pub type ChainHash = [u8; 32];

/// The hash the first entry links to.
pub const GENESIS: ChainHash = [0; 32];

/// Domain separation: a hash made for anything else can never be taken for an entry's.
const DOMAIN: &[u8] = b"garrison-audit-v1\0";

/// What was done. Stored as its stable code (`message_rejected`), so entries written by other
/// versions stay verifiable whatever their action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A message failed authentication or authorization and was not processed.
    MessageRejected,
    /// An agent failed and was restarted by its supervisor.
    AgentRestarted,
    /// An agent recorded a decision (triage verdict, verification outcome, ...).
    DecisionRecorded,
    /// An incident was opened.
    IncidentOpened,
    /// An incident changed (claims removed, confidence lowered, escalated, closed).
    IncidentUpdated,
    /// The rules of engagement decided on a proposed response action.
    ResponseDecided,
    /// A person approved a response action.
    ResponseApproved,
    /// A person rejected a response action, or nobody answered before it expired.
    ResponseRejected,
    /// A response action is being handed to its connector (written before the call).
    ResponseStarted,
    /// A response action was carried out.
    ResponseExecuted,
    /// A response action failed, or its outcome is unknown.
    ResponseFailed,
    /// The kill switch for automatic actions was turned on or off.
    KillSwitch,
    /// A response action was undone.
    ResponseReverted,
    /// Configuration was loaded or changed.
    ConfigurationLoaded,
    /// A user or an API token was added, changed or revoked.
    AccessChanged,
    /// A person signed in to the console.
    SignedIn,
    /// A sign-in was refused (unknown user, wrong password, disabled user).
    SignInRefused,
    /// A person signed out, or their session was ended.
    SignedOut,
    /// Someone wrote a comment on an incident.
    CommentAdded,
    /// A rule was switched off (its matches raise no alerts) or back on.
    RuleSwitched,
}

impl AuditAction {
    pub fn code(self) -> &'static str {
        match self {
            AuditAction::MessageRejected => "message_rejected",
            AuditAction::AgentRestarted => "agent_restarted",
            AuditAction::DecisionRecorded => "decision_recorded",
            AuditAction::IncidentOpened => "incident_opened",
            AuditAction::IncidentUpdated => "incident_updated",
            AuditAction::ResponseDecided => "response_decided",
            AuditAction::ResponseApproved => "response_approved",
            AuditAction::ResponseRejected => "response_rejected",
            AuditAction::ResponseStarted => "response_started",
            AuditAction::ResponseExecuted => "response_executed",
            AuditAction::ResponseFailed => "response_failed",
            AuditAction::KillSwitch => "kill_switch",
            AuditAction::ResponseReverted => "response_reverted",
            AuditAction::ConfigurationLoaded => "configuration_loaded",
            AuditAction::AccessChanged => "access_changed",
            AuditAction::SignedIn => "signed_in",
            AuditAction::SignInRefused => "sign_in_refused",
            AuditAction::SignedOut => "signed_out",
            AuditAction::CommentAdded => "comment_added",
            AuditAction::RuleSwitched => "rule_switched",
        }
    }
}

/// What a writer hands to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Who acted: an agent identity (`triage/1`), a user, or `garrison` itself.
    pub actor: String,
    pub action: AuditAction,
    /// What it acted on: an incident id, an envelope id, a host.
    pub subject: String,
    /// Why, in words or structured text; secrets never belong here.
    pub detail: String,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    pub at: Timestamp,
    pub actor: String,
    /// The action's code (see [`AuditAction::code`]).
    pub action: String,
    pub subject: String,
    pub detail: String,
    #[serde(with = "hex_hash")]
    pub prev_hash: ChainHash,
    #[serde(with = "hex_hash")]
    pub hash: ChainHash,
}

mod hex_hash {
    pub fn serialize<S: serde::Serializer>(hash: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(hash))
    }
}

/// The hash of an entry with these contents following `prev_hash`. Every text field is
/// length-prefixed, so no two different entries hash the same bytes.
pub fn entry_hash(
    prev_hash: &ChainHash,
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(prev_hash);
    hasher.update(seq.to_be_bytes());
    for text in [at, actor, action, subject, detail] {
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    }
    hasher.finalize().into()
}

/// The entry `record` becomes when appended at `at` after `head`.
pub(crate) fn next_entry(
    head: Option<ChainHead>,
    record: &AuditRecord,
    at: Timestamp,
) -> AuditEntry {
    let (seq, prev_hash) = match head {
        Some(head) => (head.seq + 1, head.hash),
        None => (1, GENESIS),
    };
    let action = record.action.code();
    let hash = entry_hash(
        &prev_hash,
        seq,
        &at.to_string(),
        &record.actor,
        action,
        &record.subject,
        &record.detail,
    );
    AuditEntry {
        seq,
        at,
        actor: record.actor.clone(),
        action: action.to_string(),
        subject: record.subject.clone(),
        detail: record.detail.clone(),
        prev_hash,
        hash,
    }
}

/// The last entry of a chain: how far it goes and what it ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: ChainHash,
}

impl ChainHead {
    /// `seq:hex-hash`, the form `garrison audit head` prints and `--expect-head` reads.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.seq, hex::encode(self.hash))
    }

    pub fn parse(text: &str) -> Option<ChainHead> {
        let (seq, hash) = text.trim().split_once(':')?;
        let bytes = hex::decode(hash).ok()?;
        Some(ChainHead {
            seq: seq.parse().ok()?,
            hash: bytes.try_into().ok()?,
        })
    }
}

/// The first thing wrong with a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainViolation {
    /// Entries are missing before `seq` (it should have been `expected`): deleted, or the log
    /// was renumbered.
    Gap { seq: u64, expected: u64 },
    /// The entry's contents do not give its stored hash: it was edited.
    Edited { seq: u64 },
    /// The entry does not link to the entry before it: that one was replaced, or entries were
    /// reordered or inserted.
    BrokenLink { seq: u64 },
    /// The entry's time is not a valid timestamp (it was edited).
    BadTime { seq: u64 },
    /// The stored head does not match the last entry: entries were removed from the end (or
    /// the head was altered).
    HeadMismatch {
        stored: ChainHead,
        last: Option<ChainHead>,
    },
    /// The chain does not reach the head the caller expects (kept outside the store).
    ExpectedHeadMissing { expected: ChainHead },
}

impl ChainViolation {
    /// The sequence number of the first bad entry, when one entry is to blame.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ChainViolation::Gap { seq, .. }
            | ChainViolation::Edited { seq }
            | ChainViolation::BrokenLink { seq }
            | ChainViolation::BadTime { seq } => Some(*seq),
            ChainViolation::HeadMismatch { .. } | ChainViolation::ExpectedHeadMissing { .. } => {
                None
            }
        }
    }
}

impl std::fmt::Display for ChainViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainViolation::Gap { seq, expected } => write!(
                f,
                "entry {seq}: entries {expected}..{} are missing",
                seq.saturating_sub(1)
            ),
            ChainViolation::Edited { seq } => {
                write!(f, "entry {seq}: contents do not match its hash (edited)")
            }
            ChainViolation::BrokenLink { seq } => write!(
                f,
                "entry {seq}: does not link to entry {} (replaced, reordered or inserted)",
                seq.saturating_sub(1)
            ),
            ChainViolation::BadTime { seq } => write!(f, "entry {seq}: time is not a timestamp"),
            ChainViolation::HeadMismatch { stored, last } => write!(
                f,
                "stored head {} but the log ends at {} (entries removed from the end)",
                stored.to_text(),
                last.map_or_else(|| "nothing".to_string(), |head| head.to_text())
            ),
            ChainViolation::ExpectedHeadMissing { expected } => write!(
                f,
                "the log does not contain the expected head {}",
                expected.to_text()
            ),
        }
    }
}

/// An entry as read back, its time still text (so an edited time is reported, not hidden).
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// What checking the audit log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Entries checked before the first violation (all of them when there is none).
    pub checked: u64,
    pub head: Option<ChainHead>,
    pub violation: Option<ChainViolation>,
}

/// Checks a stored log read in pages of entries from a sequence number on (so memory stays
/// flat), then the head stored beside it, and when given the head kept elsewhere, that the log
/// still reaches it.
pub fn verify_paged(
    expected: Option<ChainHead>,
    mut page: impl FnMut(u64, usize) -> Result<Vec<StoredEntry>, crate::StoreError>,
    stored_head: impl FnOnce() -> Result<Option<ChainHead>, crate::StoreError>,
) -> Result<AuditReport, crate::StoreError> {
    const PAGE: usize = 10_000;
    let mut checker = ChainChecker::new(expected);
    let mut checked = 0u64;
    let mut next = 0u64;
    loop {
        let entries = page(next, PAGE)?;
        for entry in &entries {
            if let Err(violation) = checker.check(entry) {
                return Ok(AuditReport {
                    checked,
                    head: None,
                    violation: Some(violation),
                });
            }
            checked += 1;
        }
        match entries.last() {
            Some(last) if entries.len() == PAGE => next = last.seq + 1,
            _ => break,
        }
    }
    Ok(match checker.finish(stored_head()?) {
        Ok(head) => AuditReport {
            checked,
            head,
            violation: None,
        },
        Err(violation) => AuditReport {
            checked,
            head: None,
            violation: Some(violation),
        },
    })
}

/// Checks entries in the order they are stored; returns the chain's head (none when empty).
/// Feed it every entry, then call [`ChainChecker::finish`].
#[derive(Debug)]
pub struct ChainChecker {
    previous: ChainHash,
    next_seq: u64,
    expected: Option<ChainHead>,
    expected_seen: bool,
}

impl ChainChecker {
    pub fn new(expected: Option<ChainHead>) -> ChainChecker {
        ChainChecker {
            previous: GENESIS,
            next_seq: 1,
            expected,
            expected_seen: false,
        }
    }

    pub fn check(&mut self, entry: &StoredEntry) -> Result<(), ChainViolation> {
        let seq = entry.seq;
        if seq != self.next_seq {
            return Err(if seq > self.next_seq {
                ChainViolation::Gap {
                    seq,
                    expected: self.next_seq,
                }
            } else {
                ChainViolation::BrokenLink { seq }
            });
        }
        if entry.at.parse::<Timestamp>().is_err() {
            return Err(ChainViolation::BadTime { seq });
        }
        if entry.prev_hash != self.previous {
            return Err(ChainViolation::BrokenLink { seq });
        }
        let hash = entry_hash(
            &self.previous,
            seq,
            &entry.at,
            &entry.actor,
            &entry.action,
            &entry.subject,
            &entry.detail,
        );
        if entry.hash != hash {
            return Err(ChainViolation::Edited { seq });
        }
        if self
            .expected
            .is_some_and(|expected| expected.seq == seq && expected.hash == hash)
        {
            self.expected_seen = true;
        }
        self.previous = hash;
        self.next_seq = seq + 1;
        Ok(())
    }

    /// The head reached, after checking it against the stored one.
    pub fn finish(
        self,
        stored_head: Option<ChainHead>,
    ) -> Result<Option<ChainHead>, ChainViolation> {
        let last = (self.next_seq > 1).then_some(ChainHead {
            seq: self.next_seq - 1,
            hash: self.previous,
        });
        if stored_head != last
            && let Some(stored) = stored_head
        {
            return Err(ChainViolation::HeadMismatch { stored, last });
        }
        if let Some(expected) = self.expected
            && !self.expected_seen
        {
            return Err(ChainViolation::ExpectedHeadMissing { expected });
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(chain: &mut Vec<StoredEntry>, actor: &str) {
        let previous = chain.last().map_or(GENESIS, |entry| {
            entry.hash.clone().try_into().expect("32 bytes")
        });
        let seq = chain.len() as u64 + 1;
        let at = "2026-11-26T01:00:00Z";
        let hash = entry_hash(&previous, seq, at, actor, "decision_recorded", "s", "d");
        chain.push(StoredEntry {
            seq,
            at: at.into(),
            actor: actor.into(),
            action: "decision_recorded".into(),
            subject: "s".into(),
            detail: "d".into(),
            prev_hash: previous.to_vec(),
            hash: hash.to_vec(),
        });
    }

    fn check_all(chain: &[StoredEntry]) -> Result<Option<ChainHead>, ChainViolation> {
        let mut checker = ChainChecker::new(None);
        for entry in chain {
            checker.check(entry)?;
        }
        checker.finish(None)
    }

    fn chain(n: usize) -> Vec<StoredEntry> {
        let mut chain = Vec::new();
        for i in 0..n {
            stored(&mut chain, &format!("agent/{i}"));
        }
        chain
    }

    #[test]
    fn an_intact_chain_checks_and_reports_its_head() {
        let entries = chain(3);
        let head = check_all(&entries).unwrap().unwrap();
        assert_eq!(head.seq, 3);
        assert_eq!(head.hash.to_vec(), entries[2].hash);
        assert_eq!(ChainHead::parse(&head.to_text()), Some(head));
        assert_eq!(check_all(&[]).unwrap(), None);
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_bad_entry() {
        let mut edited = chain(4);
        edited[1].detail = "nothing to see".into();
        assert_eq!(check_all(&edited), Err(ChainViolation::Edited { seq: 2 }));

        let mut deleted = chain(4);
        deleted.remove(1);
        assert_eq!(
            check_all(&deleted),
            Err(ChainViolation::Gap {
                seq: 3,
                expected: 2
            })
        );

        let mut reordered = chain(4);
        reordered.swap(1, 2);
        let (a, b) = (reordered[1].seq, reordered[2].seq);
        reordered[1].seq = b;
        reordered[2].seq = a;
        assert_eq!(
            check_all(&reordered),
            Err(ChainViolation::BrokenLink { seq: 2 })
        );

        // Rehashing an edited entry does not help: the next one no longer links to it.
        let mut rehashed = chain(4);
        rehashed[1].actor = "someone else".into();
        let previous: ChainHash = rehashed[0].hash.clone().try_into().unwrap();
        rehashed[1].hash = entry_hash(
            &previous,
            2,
            &rehashed[1].at,
            "someone else",
            "decision_recorded",
            "s",
            "d",
        )
        .to_vec();
        assert_eq!(
            check_all(&rehashed),
            Err(ChainViolation::BrokenLink { seq: 3 })
        );

        let mut bad_time = chain(2);
        bad_time[0].at = "yesterday".into();
        assert_eq!(
            check_all(&bad_time),
            Err(ChainViolation::BadTime { seq: 1 })
        );
    }

    #[test]
    fn truncation_is_caught_by_the_stored_or_expected_head() {
        let entries = chain(5);
        let full_head = check_all(&entries).unwrap().unwrap();
        let mut checker = ChainChecker::new(None);
        for entry in &entries[..3] {
            checker.check(entry).unwrap();
        }
        assert!(matches!(
            checker.finish(Some(full_head)),
            Err(ChainViolation::HeadMismatch { .. })
        ));
        let mut checker = ChainChecker::new(Some(full_head));
        for entry in &entries[..3] {
            checker.check(entry).unwrap();
        }
        let truncated_head = ChainHead {
            seq: 3,
            hash: entries[2].hash.clone().try_into().unwrap(),
        };
        assert_eq!(
            checker.finish(Some(truncated_head)),
            Err(ChainViolation::ExpectedHeadMissing {
                expected: full_head
            })
        );
    }
}
