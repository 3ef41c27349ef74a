//! Golden SAML (T1606.002): an attacker who reads what signs an AD FS farm's SAML tokens forges
//! tokens for any federated user and acts as them in the cloud. The forged sign-in never
//! touches the AD FS server, so the theft on premises and the activity in the cloud share no
//! host, user or address. Investigation ties them by the domain instead: a read of signing
//! material on a host of a DNS domain, then, within the link window, cloud activity of a user
//! of that domain.
//!
//! Only in that order, and only theft to cloud: cloud activity of two users of one domain is
//! not linked by the domain (everyone in a company shares it).

use super::earlier;
use crate::messages::TriageDecision;
use garrison_model::{Alert, Assertion, Claim, Timestamp};
use std::collections::BTreeMap;

/// Rules that detect a read of AD FS token-signing material.
const SIGNING_MATERIAL_RULES: &[&str] = &[
    // SigmaHQ: ADFS Database Named Pipe Connection By Uncommon Tool (the configuration
    // database holds the encrypted token-signing certificate).
    "1ea13e8c-03ea-409b-877d-ce5c3d2c1cb3",
    // Ours: AD FS Distributed Key Manager Master Key Read from Active Directory (the key
    // that decrypts it).
    "9b3f6e24-7c1d-4a8e-b5f0-3d2c8a71e6f9",
];

/// Rules tagged with the technique itself detect it too.
const FORGED_SAML_TAG: &str = "attack.t1606.002";

/// What a case tells of federations: the domains whose signing material it saw read (the
/// earliest read), and the domains whose users acted in the cloud in it (the latest action).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Federation {
    stolen: BTreeMap<String, Option<Timestamp>>,
    cloud: BTreeMap<String, Option<Timestamp>>,
}

/// The DNS domain of the host where `alert` saw signing material read.
fn stolen_from(alert: &Alert) -> Option<String> {
    let reads = SIGNING_MATERIAL_RULES.contains(&alert.rule.id.as_str())
        || alert
            .rule
            .tags
            .iter()
            .any(|tag| tag.eq_ignore_ascii_case(FORGED_SAML_TAG));
    if !reads {
        return None;
    }
    let (_, domain) = alert.host.as_deref()?.split_once('.')?;
    domain.contains('.').then(|| domain.to_lowercase())
}

/// The domain of the cloud identity `alert` is about: a user principal name, on no host.
fn cloud_domain(alert: &Alert) -> Option<String> {
    if alert.host.is_some() {
        return None;
    }
    let (_, domain) = alert.user.as_deref()?.rsplit_once('@')?;
    domain.contains('.').then(|| domain.to_lowercase())
}

/// One domain is the other or under it (`corp.example.com` and `example.com`).
fn same_domain(a: &str, b: &str) -> bool {
    let under = |inner: &str, outer: &str| {
        inner
            .strip_suffix(outer)
            .is_some_and(|head| head.ends_with('.'))
    };
    a == b || under(a, b) || under(b, a)
}

/// `earlier` is not known to be after `later`.
fn not_after(earlier: Option<Timestamp>, later: Option<Timestamp>) -> bool {
    match (earlier, later) {
        (Some(earlier), Some(later)) => earlier <= later,
        _ => true,
    }
}

impl Federation {
    fn stolen_at(&mut self, domain: String, at: Option<Timestamp>) {
        let first = self.stolen.entry(domain).or_insert(at);
        *first = earlier(*first, at);
    }

    fn cloud_at(&mut self, domain: String, at: Option<Timestamp>) {
        let last = self.cloud.entry(domain).or_insert(at);
        *last = (*last).max(at);
    }

    /// Keeps what `alert`, joining the case, tells.
    pub(super) fn note(&mut self, alert: &Alert) {
        if let Some(domain) = stolen_from(alert) {
            self.stolen_at(domain, alert.timestamp);
        }
        if let Some(domain) = cloud_domain(alert) {
            self.cloud_at(domain, alert.timestamp);
        }
    }

    /// Takes what a merged case told.
    pub(super) fn absorb(&mut self, other: Federation) {
        for (domain, at) in other.stolen {
            self.stolen_at(domain, at);
        }
        for (domain, at) in other.cloud {
            self.cloud_at(domain, at);
        }
    }

    /// `alert` belongs with this case through a federation: it reads signing material of a
    /// domain whose material the case saw read too, or whose users acted in the cloud after
    /// it; or it is cloud activity of a domain whose material the case saw read before it.
    pub(super) fn ties(&self, alert: &Alert) -> bool {
        if let Some(domain) = stolen_from(alert) {
            return self.stolen.keys().any(|other| same_domain(other, &domain))
                || self.cloud.iter().any(|(other, last)| {
                    same_domain(other, &domain) && not_after(alert.timestamp, *last)
                });
        }
        if let Some(domain) = cloud_domain(alert) {
            return self.stolen.iter().any(|(other, first)| {
                same_domain(other, &domain) && not_after(*first, alert.timestamp)
            });
        }
        false
    }
}

/// The claim an incident holding both halves makes: the first read of signing material
/// came before the first cloud activity of a user of that domain after it. `alerts` are in
/// time order.
pub(super) fn golden_saml_claim(alerts: &[&(Alert, TriageDecision)]) -> Option<Claim> {
    let (theft, domain) = alerts
        .iter()
        .find_map(|(alert, _)| Some((alert, stolen_from(alert)?)))?;
    let (cloud, user) = alerts.iter().find_map(|(alert, _)| {
        let acted = cloud_domain(alert)?;
        (same_domain(&acted, &domain) && not_after(theft.timestamp, alert.timestamp))
            .then(|| (alert, alert.user.clone().unwrap_or_default()))
    })?;
    Some(Claim {
        claim: format!(
            "AD FS token-signing material of {domain} was read on {} ({}) before {user} of \
             that domain acted in the cloud ({}): the order of a Golden SAML attack \
             (T1606.002), where tokens forged with that material sign in as any federated user",
            theft.host.as_deref().unwrap_or("?"),
            theft.rule.title,
            cloud.rule.title
        ),
        evidence: vec![theft.evidence, cloud.evidence],
        assertion: Assertion::Precedes {
            earlier: theft.evidence,
            later: cloud.evidence,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: &str, host: Option<&str>, user: Option<&str>, minute: i64) -> Alert {
        let mut alert: Alert = serde_json::from_value(serde_json::json!({
            "id": format!("al-{rule}-{minute}"),
            "rule": {"id": rule, "title": format!("rule {rule}"), "level": "high", "tags": []},
            "timestamp": Timestamp::from_second(60 * minute).unwrap(),
            "source": {"path": "s", "record_id": minute, "offset": 0},
            "evidence": "ev-0000000000000001",
            "host": null, "user": null, "channel": null, "event_id": null,
            "fields": [], "entities": []
        }))
        .unwrap();
        alert.evidence = garrison_model::EvidenceId(minute as u64);
        alert.host = host.map(str::to_string);
        alert.user = user.map(str::to_string);
        alert
    }

    fn decided(alert: Alert) -> (Alert, TriageDecision) {
        let decision = TriageDecision {
            alert: alert.id.clone(),
            group: "g".into(),
            duplicate_of: None,
            score: 80,
            verdict: crate::messages::Verdict::Investigate,
            reasons: Vec::new(),
            new_on_host: false,
        };
        (alert, decision)
    }

    const PIPE: &str = SIGNING_MATERIAL_RULES[0];

    #[test]
    fn cloud_activity_after_a_theft_in_its_domain_is_tied_to_it_and_not_before() {
        let mut case = Federation::default();
        case.note(&alert(PIPE, Some("ADFS01.corp.example.com"), None, 10));
        let user = Some("pat@example.com");
        assert!(case.ties(&alert("app-consent", None, user, 30)));
        assert!(
            !case.ties(&alert("app-consent", None, user, 5)),
            "before the theft"
        );
        let other = Some("pat@elsewhere.example");
        assert!(!case.ties(&alert("app-consent", None, other, 30)));
        // A second theft in the domain belongs with the first.
        let dc = alert(PIPE, Some("DC01.corp.example.com"), None, 12);
        assert!(case.ties(&dc));
        // Activity on a host with a user principal name is not cloud activity.
        let on_host = alert("x", Some("WS1.corp.example.com"), user, 30);
        assert!(!case.ties(&on_host));

        // Cloud activity alone ties nothing to other cloud activity of the domain.
        let mut cloud = Federation::default();
        cloud.note(&alert("app-consent", None, user, 30));
        assert!(!cloud.ties(&alert("mail-read", None, Some("sam@example.com"), 31)));
        // A theft found after the activity it may explain ties to it; one after it does not.
        assert!(cloud.ties(&alert(PIPE, Some("ADFS01.corp.example.com"), None, 20)));
        assert!(!cloud.ties(&alert(PIPE, Some("ADFS01.corp.example.com"), None, 40)));
        // What a merged case told is kept.
        case.absorb(cloud);
        assert!(case.ties(&alert(PIPE, Some("ADFS02.example.com"), None, 25)));
        // A host without a DNS domain tells none.
        assert!(!case.ties(&alert(PIPE, Some("ADFS01"), None, 11)));
    }

    #[test]
    fn the_claim_cites_the_first_theft_before_the_first_cloud_activity_after_it() {
        let early_cloud = decided(alert("consent", None, Some("pat@example.com"), 1));
        let theft = decided(alert(PIPE, Some("ADFS01.example.com"), None, 10));
        let cloud = decided(alert("consent", None, Some("pat@example.com"), 30));
        let alerts = [&early_cloud, &theft, &cloud];
        let claim = golden_saml_claim(&alerts).expect("a claim");
        assert_eq!(claim.evidence, vec![theft.0.evidence, cloud.0.evidence]);
        assert!(
            claim.claim.contains("ADFS01.example.com"),
            "{}",
            claim.claim
        );
        assert!(claim.claim.contains("pat@example.com"), "{}", claim.claim);
        assert!(golden_saml_claim(&[&early_cloud, &theft]).is_none());
    }
}
