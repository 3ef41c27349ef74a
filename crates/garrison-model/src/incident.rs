//! What the agent team works with: alerts (rule hits with their entities), stored evidence,
//! incidents, and the claims an incident makes, each tied to the evidence that supports it.

use crate::{EvidenceRef, Level, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A stored event, cited as evidence (`ev-…`). Derived from where the record came from, so the
/// same record always gets the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct EvidenceId(pub u64);

impl EvidenceId {
    /// The id of the record at `source`.
    pub fn of(source: &EvidenceRef) -> EvidenceId {
        // FNV-1a over the location's parts: stable across runs and platforms.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for byte in bytes {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        };
        eat(source.path.as_bytes());
        eat(source.member.as_deref().unwrap_or("").as_bytes());
        eat(&source.record_id.to_be_bytes());
        eat(&source.offset.to_be_bytes());
        // Kept to 63 bits so it fits a signed database integer.
        EvidenceId(hash >> 1)
    }
}

/// In the API's schema, the id's text form (`ev-` and 16 hex digits).
impl utoipa::PartialSchema for EvidenceId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^ev-[0-9a-f]{16}$"))
            .into()
    }
}

impl utoipa::ToSchema for EvidenceId {}

impl fmt::Display for EvidenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ev-{:016x}", self.0)
    }
}

impl From<EvidenceId> for String {
    fn from(id: EvidenceId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for EvidenceId {
    type Error = String;
    fn try_from(text: String) -> Result<EvidenceId, String> {
        text.strip_prefix("ev-")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .map(EvidenceId)
            .ok_or_else(|| format!("{text:?} is not an evidence id (ev-<16 hex digits>)"))
    }
}

/// What kind of thing an entity is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Host,
    User,
    /// A process image (full path).
    Process,
    Ip,
    Domain,
    FileHash,
    File,
    LogonSession,
    Service,
    RegistryKey,
}

/// A thing events and alerts are about.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct Entity {
    pub kind: EntityKind,
    pub value: String,
}

impl Entity {
    pub fn new(kind: EntityKind, value: impl Into<String>) -> Entity {
        Entity {
            kind,
            value: value.into(),
        }
    }
}

/// The account's name without its domain, lower-cased: `CORP\\Dana`, `dana@corp.example` and
/// `dana` are one person across Windows and the identity provider.
pub fn canonical_user(user: &str) -> String {
    let bare = user.rsplit('\\').next().unwrap_or(user);
    let bare = bare.split('@').next().unwrap_or(bare);
    bare.trim().to_lowercase()
}

/// Whether an address is on the internet (not private, loopback, link-local or unspecified).
pub fn is_public_ip(text: &str) -> bool {
    let text = text.trim().trim_start_matches("::ffff:");
    match text.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            !(ip.is_private()
                || ip.is_loopback()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast())
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            let first = ip.segments()[0];
            !(ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
        Err(_) => false,
    }
}

/// The rule behind an alert, as messages carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleRef {
    pub id: String,
    pub title: String,
    pub level: Level,
    pub tags: Vec<String>,
}

/// ATT&CK tactics (v18 names) in kill-chain order. `defense-evasion`, split in v18 into
/// `stealth` and `defense-impairment`, keeps its place for rules still tagged with it.
pub const TACTICS_IN_ORDER: &[&str] = &[
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "stealth",
    "defense-evasion",
    "defense-impairment",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

/// A tactic's place in the kill chain (`None` for anything else).
pub fn tactic_rank(tactic: &str) -> Option<usize> {
    TACTICS_IN_ORDER.iter().position(|known| *known == tactic)
}

/// The tactics ATT&CK (Enterprise) lists for a technique, by its top-level id; the techniques
/// Windows detections name most. A rule tagged with a technique but not all of its tactics
/// still places its alerts in them.
const TECHNIQUE_TACTICS: &[(&str, &[&str])] = &[
    ("T1003", &["credential-access"]),
    ("T1005", &["collection"]),
    ("T1018", &["discovery"]),
    ("T1021", &["lateral-movement"]),
    ("T1027", &["defense-evasion"]),
    ("T1033", &["discovery"]),
    ("T1036", &["defense-evasion"]),
    ("T1046", &["discovery"]),
    ("T1047", &["execution"]),
    ("T1048", &["exfiltration"]),
    (
        "T1053",
        &["execution", "persistence", "privilege-escalation"],
    ),
    ("T1055", &["defense-evasion", "privilege-escalation"]),
    ("T1056", &["collection", "credential-access"]),
    ("T1057", &["discovery"]),
    ("T1059", &["execution"]),
    ("T1068", &["privilege-escalation"]),
    ("T1069", &["discovery"]),
    ("T1070", &["defense-evasion"]),
    ("T1071", &["command-and-control"]),
    ("T1072", &["execution", "lateral-movement"]),
    (
        "T1078",
        &[
            "initial-access",
            "persistence",
            "privilege-escalation",
            "defense-evasion",
        ],
    ),
    ("T1082", &["discovery"]),
    ("T1083", &["discovery"]),
    ("T1087", &["discovery"]),
    ("T1090", &["command-and-control"]),
    ("T1095", &["command-and-control"]),
    ("T1098", &["persistence", "privilege-escalation"]),
    ("T1105", &["command-and-control"]),
    ("T1106", &["execution"]),
    ("T1110", &["credential-access"]),
    ("T1112", &["defense-evasion"]),
    ("T1113", &["collection"]),
    ("T1114", &["collection"]),
    ("T1115", &["collection"]),
    ("T1119", &["collection"]),
    ("T1127", &["defense-evasion"]),
    ("T1133", &["initial-access", "persistence"]),
    ("T1134", &["defense-evasion", "privilege-escalation"]),
    ("T1135", &["discovery"]),
    ("T1136", &["persistence"]),
    ("T1137", &["persistence"]),
    ("T1140", &["defense-evasion"]),
    ("T1176", &["persistence"]),
    ("T1187", &["credential-access"]),
    ("T1189", &["initial-access"]),
    ("T1190", &["initial-access"]),
    ("T1195", &["initial-access"]),
    ("T1197", &["defense-evasion", "persistence"]),
    ("T1201", &["discovery"]),
    ("T1202", &["defense-evasion"]),
    ("T1203", &["execution"]),
    ("T1204", &["execution"]),
    ("T1207", &["defense-evasion"]),
    ("T1210", &["lateral-movement"]),
    ("T1211", &["defense-evasion"]),
    ("T1212", &["credential-access"]),
    ("T1216", &["defense-evasion"]),
    ("T1217", &["discovery"]),
    ("T1218", &["defense-evasion"]),
    ("T1219", &["command-and-control"]),
    ("T1220", &["defense-evasion"]),
    ("T1482", &["discovery"]),
    ("T1484", &["defense-evasion", "privilege-escalation"]),
    ("T1485", &["impact"]),
    ("T1486", &["impact"]),
    ("T1489", &["impact"]),
    ("T1490", &["impact"]),
    ("T1496", &["impact"]),
    ("T1497", &["defense-evasion", "discovery"]),
    ("T1505", &["persistence"]),
    ("T1518", &["discovery"]),
    ("T1529", &["impact"]),
    ("T1531", &["impact"]),
    ("T1539", &["credential-access"]),
    ("T1542", &["defense-evasion", "persistence"]),
    ("T1543", &["persistence", "privilege-escalation"]),
    ("T1546", &["privilege-escalation", "persistence"]),
    ("T1547", &["persistence", "privilege-escalation"]),
    ("T1548", &["privilege-escalation", "defense-evasion"]),
    ("T1550", &["defense-evasion", "lateral-movement"]),
    ("T1552", &["credential-access"]),
    ("T1553", &["defense-evasion"]),
    ("T1555", &["credential-access"]),
    (
        "T1556",
        &["credential-access", "defense-evasion", "persistence"],
    ),
    ("T1557", &["credential-access", "collection"]),
    ("T1558", &["credential-access"]),
    ("T1559", &["execution"]),
    ("T1560", &["collection"]),
    ("T1562", &["defense-evasion"]),
    ("T1563", &["lateral-movement"]),
    ("T1564", &["defense-evasion"]),
    ("T1566", &["initial-access"]),
    ("T1567", &["exfiltration"]),
    ("T1569", &["execution"]),
    ("T1570", &["lateral-movement"]),
    ("T1571", &["command-and-control"]),
    ("T1572", &["command-and-control"]),
    ("T1573", &["command-and-control"]),
    (
        "T1574",
        &["persistence", "privilege-escalation", "defense-evasion"],
    ),
    ("T1606", &["credential-access"]),
    ("T1615", &["discovery"]),
    ("T1620", &["defense-evasion"]),
    ("T1621", &["credential-access"]),
];

/// The tactics of a technique id (`T1021.002` uses `T1021`'s).
pub fn technique_tactics(technique: &str) -> &'static [&'static str] {
    let parent = technique.split('.').next().unwrap_or(technique);
    TECHNIQUE_TACTICS
        .binary_search_by(|(id, _)| id.cmp(&parent))
        .map_or(&[], |index| TECHNIQUE_TACTICS[index].1)
}

impl RuleRef {
    /// ATT&CK tactics of the rule, in kill-chain order: those among its tags
    /// (`attack.credential-access`, or the older `attack.credential_access`), and those of the
    /// techniques it is tagged with.
    pub fn tactics(&self) -> Vec<String> {
        let mut tactics: Vec<String> = self
            .tags
            .iter()
            .filter_map(|tag| tag.strip_prefix("attack."))
            .map(|name| name.to_ascii_lowercase().replace('_', "-"))
            .filter(|name| tactic_rank(name).is_some())
            .collect();
        for technique in self.techniques() {
            tactics.extend(technique_tactics(&technique).iter().map(|t| t.to_string()));
        }
        tactics.sort_by_key(|name| tactic_rank(name));
        tactics.dedup();
        tactics
    }

    /// ATT&CK technique ids among the tags (`attack.t1003.001` -> `T1003.001`), sorted.
    pub fn techniques(&self) -> Vec<String> {
        let mut techniques: Vec<String> = crate::detection::attack_techniques(&self.tags).collect();
        techniques.sort();
        techniques.dedup();
        techniques
    }
}

/// An alert id (`al-…`): the rule and the record, so the same hit is the same alert.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct AlertId(pub String);

impl AlertId {
    pub fn of(rule_id: &str, evidence: EvidenceId) -> AlertId {
        AlertId(format!("al-{rule_id}-{:016x}", evidence.0))
    }

    /// The record whose id with `rule_id` this is, when [`AlertId::of`] wrote it (read
    /// without writing ids out to compare).
    pub fn record_of(&self, rule_id: &str) -> Option<EvidenceId> {
        let hex = self
            .0
            .strip_prefix("al-")?
            .strip_prefix(rule_id)?
            .strip_prefix('-')?;
        // Exactly as written: sixteen lower-case digits, zeros leading.
        let written = hex.len() == 16
            && hex
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        written
            .then(|| u64::from_str_radix(hex, 16).ok())
            .flatten()
            .map(EvidenceId)
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A rule hit on a stored record, with what it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: AlertId,
    pub rule: RuleRef,
    pub timestamp: Option<Timestamp>,
    pub source: EvidenceRef,
    pub evidence: EvidenceId,
    pub host: Option<String>,
    pub user: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
    /// The values of the fields the rule read.
    pub fields: Vec<(String, String)>,
    pub entities: Vec<Entity>,
}

/// What an analyst would conclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Malicious,
    Suspicious,
    Benign,
    Inconclusive,
}

/// Something an incident asserts, in a form the verifier can check against stored evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Assertion {
    /// The rule matched this record.
    RuleMatched {
        rule_id: String,
        evidence: EvidenceId,
    },
    /// The record's `field` has this value.
    FieldEquals {
        evidence: EvidenceId,
        field: String,
        value: String,
    },
    /// `earlier` happened no later than `later`.
    Precedes {
        earlier: EvidenceId,
        later: EvidenceId,
    },
    /// The records were written on this host.
    OnHost {
        evidence: Vec<EvidenceId>,
        host: String,
    },
    /// The process of `child` was started by the process of `parent`.
    SpawnedBy {
        child: EvidenceId,
        parent: EvidenceId,
    },
}

impl Assertion {
    /// Every evidence id the assertion relies on.
    pub fn evidence(&self) -> Vec<EvidenceId> {
        match self {
            Assertion::RuleMatched { evidence, .. } | Assertion::FieldEquals { evidence, .. } => {
                vec![*evidence]
            }
            Assertion::Precedes { earlier, later } => vec![*earlier, *later],
            Assertion::OnHost { evidence, .. } => evidence.clone(),
            Assertion::SpawnedBy { child, parent } => vec![*child, *parent],
        }
    }
}

/// One step of the reasoning chain: a statement and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Claim {
    pub claim: String,
    pub evidence: Vec<EvidenceId>,
    pub assertion: Assertion,
}

/// A cited record, described for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceItem {
    pub id: EvidenceId,
    pub source: EvidenceRef,
    pub timestamp: Option<Timestamp>,
    pub summary: String,
}

/// An alert as an incident lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertSummary {
    pub id: AlertId,
    pub rule_id: String,
    pub title: String,
    pub level: Level,
    pub timestamp: Option<Timestamp>,
    pub source: EvidenceRef,
    pub evidence: EvidenceId,
    /// Repeats of this alert triage grouped with it (same rule, host and user within its
    /// window), counted here rather than listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeats: u64,
    /// When the last repeat happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_repeat: Option<Timestamp>,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// One line of the incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub timestamp: Option<Timestamp>,
    pub evidence: EvidenceId,
    pub summary: String,
    pub tactics: Vec<String>,
}

/// A process in the incident's process tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcessNode {
    pub image: String,
    pub command_line: Option<String>,
    pub process_id: Option<String>,
    pub evidence: EvidenceId,
    #[schema(no_recursion)]
    pub children: Vec<ProcessNode>,
}

/// Where verification left an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Not checked yet.
    Pending,
    /// Every claim is supported by the evidence.
    Verified,
    /// Some claims were not supported and were removed.
    Amended,
}

/// A claim the verifier removed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemovedClaim {
    pub claim: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verification {
    pub status: VerificationStatus,
    pub removed_claims: Vec<RemovedClaim>,
}

/// An incident id (`inc-…`).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct IncidentId(pub String);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Related alerts explained as one story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: IncidentId,
    /// Grows with every change; receivers keep the highest.
    pub version: u64,
    pub title: String,
    pub severity: Level,
    /// 0 to 1.
    pub confidence: f64,
    pub disposition: Disposition,
    /// Put in front of a human.
    pub escalated: bool,
    pub hypothesis: String,
    /// In kill-chain order.
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub entities: Vec<Entity>,
    pub alerts: Vec<AlertSummary>,
    pub evidence: Vec<EvidenceItem>,
    pub timeline: Vec<TimelineEntry>,
    pub process_tree: Vec<ProcessNode>,
    pub reasoning: Vec<Claim>,
    pub verification: Verification,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// Set when later evidence joined this incident to another: that one tells the story now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<IncidentId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn rule(tags: &[&str]) -> RuleRef {
        RuleRef {
            id: "r".into(),
            title: "t".into(),
            level: Level::High,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn an_alert_id_gives_its_record_back_only_when_written_of_that_rule() {
        let evidence = EvidenceId(0x0a6b_690a_749d_48be);
        let id = AlertId::of("ait-ads:S-Dns-Qry3", evidence);
        assert_eq!(id.0, "al-ait-ads:S-Dns-Qry3-0a6b690a749d48be");
        assert_eq!(id.record_of("ait-ads:S-Dns-Qry3"), Some(evidence));
        // Another rule, or one whose id the real one starts with.
        assert_eq!(id.record_of("ait-ads:S-Dns-Qry"), None);
        assert_eq!(id.record_of("other"), None);
        assert_eq!(id.record_of("ait-ads:S-Dns-Qry3-0a6b"), None);
        // The same number written otherwise is another id.
        assert_eq!(AlertId("al-r-0A6B690A749D48BE".into()).record_of("r"), None);
        assert_eq!(AlertId(format!("al-r-{:x}", 0x48be)).record_of("r"), None);
        assert_eq!(AlertId("al-r-+a6b690a749d48be".into()).record_of("r"), None);
        assert_eq!(AlertId("al-7".into()).record_of("7"), None);
        let zero = AlertId::of("r", EvidenceId(0));
        assert_eq!(zero.record_of("r"), Some(EvidenceId(0)));
        let most = AlertId::of("r", EvidenceId(u64::MAX));
        assert_eq!(most.record_of("r"), Some(EvidenceId(u64::MAX)));
    }

    #[test]
    fn tactics_come_in_kill_chain_order_whatever_their_spelling() {
        let rule = rule(&[
            "attack.lateral_movement",
            "attack.t1021.002",
            "attack.execution",
            "attack.credential-access",
            "attack.g0016",
            "attack.execution",
        ]);
        assert_eq!(
            rule.tactics(),
            ["execution", "credential-access", "lateral-movement"]
        );
        assert_eq!(rule.techniques(), ["T1021.002"]);
        // A technique brings its tactics along.
        assert_eq!(
            self::rule(&["attack.t1053.005"]).tactics(),
            ["execution", "persistence", "privilege-escalation"]
        );
        assert!(technique_tactics("T9999").is_empty());
    }

    #[test]
    fn the_technique_table_is_sorted_and_names_known_tactics() {
        assert!(
            TECHNIQUE_TACTICS
                .windows(2)
                .all(|pair| pair[0].0 < pair[1].0)
        );
        for (technique, tactics) in TECHNIQUE_TACTICS {
            assert!(!tactics.is_empty(), "{technique}");
            assert!(
                tactics.iter().all(|t| tactic_rank(t).is_some()),
                "{technique}"
            );
        }
    }

    #[test]
    fn evidence_ids_are_stable_distinct_and_round_trip() {
        let source = |record_id| EvidenceRef {
            path: Arc::from("a.evtx"),
            member: None,
            record_id,
            offset: 4096,
        };
        let a = EvidenceId::of(&source(1));
        assert_eq!(a, EvidenceId::of(&source(1)));
        assert_ne!(a, EvidenceId::of(&source(2)));
        assert!(a.0 < 1 << 63);
        let text = a.to_string();
        assert_eq!(EvidenceId::try_from(text.clone()), Ok(a));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert!(EvidenceId::try_from("ev-zz".to_string()).is_err());
    }
}
