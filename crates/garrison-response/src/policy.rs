//! Rules of engagement as Cedar policies.
//!
//! A request is "may the response agent do ACTION to TARGET in this SITUATION": the principal
//! is `Garrison::Agent::"response"`, the action one of `Garrison::Action::"isolate_host"`, ...
//! (grouped: `containment`, `identity`, `network`, `communication`), the resource a
//! `Garrison::Target` carrying what the inventory says of it, and the context the incident's
//! confidence, severity and verification, the blast radius and the clock. Policies are
//! validated strictly against [`SCHEMA`] when loaded, so a policy naming an attribute that
//! does not exist is refused, not silently false.
//!
//! The answer has three values, not two:
//! - a `forbid` that applies, or no `permit` at all: **deny**;
//! - a `permit` without annotation: **allow** (the agent may act alone, if its autonomy says so);
//! - only permits annotated `@approval("required")`: **needs approval**.
//!
//! A policy that fails to evaluate makes the decision deny (Cedar skips an erroring policy,
//! which for a `forbid` would mean acting where the author meant to forbid).

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use garrison_model::action::{ActionKind, PolicyVerdict, Target};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

/// The schema every policy is validated against (Cedar schema syntax).
pub const SCHEMA: &str = r#"
namespace Garrison {
    // Who asks: the response agent.
    entity Agent;

    // What an action is done to, with what the inventory says of it.
    entity Target = {
        // host, user, process, file, ip, domain, url or incident
        kind: String,
        name: String,
        // listed in the inventory
        known: Bool,
        // 0 unknown, 1 low, 2 medium, 3 high, 4 critical
        criticality: Long,
        tags: Set<String>,
        // "" when the inventory names none
        owner: String,
        role: String,
        // on a protected list: never acted on without a person
        protected: Bool,
    };

    type Situation = {
        incident: String,
        // the incident's confidence, in percent
        confidence: Long,
        // informational, low, medium, high, critical
        severity: String,
        // 0 informational .. 4 critical
        severity_rank: Long,
        // verified, amended (claims removed), pending, unverified (never came back)
        verification: String,
        escalated: Bool,
        tactics: Set<String>,
        // targets this incident's proposed actions touch
        blast_radius: Long,
        // actions Garrison carried out in the past hour
        actions_last_hour: Long,
        // local time, in the configured time zone
        hour: Long,
        // 1 Monday .. 7 Sunday
        weekday: Long,
        business_hours: Bool,
        change_freeze: Bool,
    };

    action containment, identity, network, communication;
    action isolate_host, kill_process, quarantine_file in [containment]
        appliesTo { principal: [Agent], resource: [Target], context: Situation };
    action disable_user, suspend_user, revoke_sessions, reset_credentials in [identity]
        appliesTo { principal: [Agent], resource: [Target], context: Situation };
    action block_ip, block_domain, block_url in [network]
        appliesTo { principal: [Agent], resource: [Target], context: Situation };
    action open_ticket, notify in [communication]
        appliesTo { principal: [Agent], resource: [Target], context: Situation };
}
"#;

/// The policy shipped with Garrison (also `config/policy.cedar`): tickets and notifications
/// always; containment alone only when verified, confident and not on a critical asset; the
/// rest with approval; nothing on protected targets without a person; nothing alone during a
/// change freeze or beyond 20 actions an hour.
pub const DEFAULT_POLICY: &str = include_str!("../../../config/policy.cedar");

/// What the inventory says of a target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetFacts {
    pub known: bool,
    /// 0 unknown, 1 low .. 4 critical.
    pub criticality: u8,
    pub tags: Vec<String>,
    pub owner: Option<String>,
    pub role: Option<String>,
    pub protected: bool,
}

/// The incident and the moment, as policies see them.
#[derive(Debug, Clone, PartialEq)]
pub struct Situation {
    pub incident: String,
    /// 0 to 1.
    pub confidence: f64,
    pub severity: garrison_model::Level,
    /// `verified`, `amended`, `pending` or `unverified`.
    pub verification: String,
    pub escalated: bool,
    pub tactics: Vec<String>,
    pub blast_radius: u32,
    pub actions_last_hour: u32,
    pub hour: u8,
    pub weekday: u8,
    pub business_hours: bool,
    pub change_freeze: bool,
}

/// A decision and the policies behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDecision {
    pub verdict: PolicyVerdict,
    /// One line per deciding policy (its `@id` and `@reason` when given), or why none applied.
    pub reasons: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy does not parse:\n{0}")]
    Parse(String),
    #[error("the policy does not fit Garrison's schema:\n{0}")]
    Invalid(String),
    #[error("policy {id}: @approval must be \"required\", not {value:?}")]
    Annotation { id: String, value: String },
}

/// A loaded, validated policy set.
pub struct Policy {
    /// The Cedar text it was parsed from.
    text: String,
    policies: PolicySet,
    schema: Schema,
    authorizer: Authorizer,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("policies", &self.policies.policies().count())
            .finish()
    }
}

fn schema() -> Schema {
    match Schema::from_cedarschema_str(SCHEMA) {
        Ok((schema, _warnings)) => schema,
        // The schema is ours and tested; failing here is a build defect.
        Err(error) => panic!("Garrison's Cedar schema does not parse: {error:?}"),
    }
}

impl Policy {
    /// Parses `text` and validates it strictly against the schema.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let policies = PolicySet::from_str(text)
            .map_err(|errors| PolicyError::Parse(format!("{:?}", miette_free(&errors))))?;
        let schema = schema();
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !result.validation_passed() {
            // One line per mistake, not one per action it was checked against.
            let lines: std::collections::BTreeSet<String> = result
                .validation_errors()
                .map(|error| {
                    let text = error.to_string();
                    let text = match text.split_once(" for Garrison::Action::\"") {
                        Some((head, tail)) => {
                            let rest = tail.split_once('"').map_or("", |(_, rest)| rest);
                            format!("{head}{rest}")
                        }
                        None => text,
                    };
                    format!("- {}: {text}", policy_name(&policies, error.policy_id()))
                })
                .collect();
            return Err(PolicyError::Invalid(
                lines.into_iter().collect::<Vec<_>>().join("\n"),
            ));
        }
        for policy in policies.policies() {
            if let Some(value) = policy.annotation("approval")
                && value != "required"
            {
                return Err(PolicyError::Annotation {
                    id: policy_name(&policies, policy.id()),
                    value: value.to_string(),
                });
            }
        }
        Ok(Policy {
            text: text.to_owned(),
            policies,
            schema,
            authorizer: Authorizer::new(),
        })
    }

    /// The shipped policy.
    pub fn default_policy() -> Policy {
        match Policy::parse(DEFAULT_POLICY) {
            Ok(policy) => policy,
            Err(error) => panic!("the shipped policy is invalid: {error}"),
        }
    }

    /// The Cedar text it was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many policies the set holds.
    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides whether `kind` may be done to `target` in `situation`.
    pub fn decide(
        &self,
        kind: ActionKind,
        target: &Target,
        facts: &TargetFacts,
        situation: &Situation,
    ) -> PolicyDecision {
        match self.evaluate(kind, target, facts, situation) {
            Ok(decision) => decision,
            Err(reason) => PolicyDecision {
                verdict: PolicyVerdict::Deny,
                reasons: vec![format!("the request could not be evaluated: {reason}")],
            },
        }
    }

    fn evaluate(
        &self,
        kind: ActionKind,
        target: &Target,
        facts: &TargetFacts,
        situation: &Situation,
    ) -> Result<PolicyDecision, String> {
        let principal = uid("Agent", "response")?;
        let action = uid("Action", kind.as_str())?;
        let resource = uid("Target", &target.value)?;
        let strings = |values: &[String]| {
            RestrictedExpression::new_set(
                values
                    .iter()
                    .map(|value| RestrictedExpression::new_string(value.clone())),
            )
        };
        let attributes: HashMap<String, RestrictedExpression> = [
            (
                "kind",
                RestrictedExpression::new_string(target.kind.as_str().into()),
            ),
            (
                "name",
                RestrictedExpression::new_string(target.value.clone()),
            ),
            ("known", RestrictedExpression::new_bool(facts.known)),
            (
                "criticality",
                RestrictedExpression::new_long(i64::from(facts.criticality)),
            ),
            ("tags", strings(&facts.tags)),
            (
                "owner",
                RestrictedExpression::new_string(facts.owner.clone().unwrap_or_default()),
            ),
            (
                "role",
                RestrictedExpression::new_string(facts.role.clone().unwrap_or_default()),
            ),
            ("protected", RestrictedExpression::new_bool(facts.protected)),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        let entity = Entity::new(resource.clone(), attributes, HashSet::new())
            .map_err(|error| error.to_string())?;
        let entities = Entities::from_entities([entity], Some(&self.schema))
            .map_err(|error| error.to_string())?;
        let confidence = (situation.confidence.clamp(0.0, 1.0) * 100.0).round() as i64;
        let context = Context::from_pairs([
            (
                "incident".to_string(),
                RestrictedExpression::new_string(situation.incident.clone()),
            ),
            (
                "confidence".to_string(),
                RestrictedExpression::new_long(confidence),
            ),
            (
                "severity".to_string(),
                RestrictedExpression::new_string(situation.severity.as_str().into()),
            ),
            (
                "severity_rank".to_string(),
                RestrictedExpression::new_long(situation.severity as i64),
            ),
            (
                "verification".to_string(),
                RestrictedExpression::new_string(situation.verification.clone()),
            ),
            (
                "escalated".to_string(),
                RestrictedExpression::new_bool(situation.escalated),
            ),
            ("tactics".to_string(), strings(&situation.tactics)),
            (
                "blast_radius".to_string(),
                RestrictedExpression::new_long(i64::from(situation.blast_radius)),
            ),
            (
                "actions_last_hour".to_string(),
                RestrictedExpression::new_long(i64::from(situation.actions_last_hour)),
            ),
            (
                "hour".to_string(),
                RestrictedExpression::new_long(i64::from(situation.hour)),
            ),
            (
                "weekday".to_string(),
                RestrictedExpression::new_long(i64::from(situation.weekday)),
            ),
            (
                "business_hours".to_string(),
                RestrictedExpression::new_bool(situation.business_hours),
            ),
            (
                "change_freeze".to_string(),
                RestrictedExpression::new_bool(situation.change_freeze),
            ),
        ])
        .map_err(|error| error.to_string())?;
        let request = Request::new(principal, action, resource, context, Some(&self.schema))
            .map_err(|error| error.to_string())?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|error| error.to_string())
            .collect();
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let deciding: Vec<&PolicyId> = response.diagnostics().reason().collect();
        let describe = |id: &PolicyId| {
            let name = policy_name(&self.policies, id);
            match self.policies.annotation(id, "reason") {
                Some(reason) => format!("{name}: {reason}"),
                None => name,
            }
        };
        let mut reasons: Vec<String> = deciding.iter().map(|id| describe(id)).collect();
        reasons.sort();
        let verdict = match response.decision() {
            cedar_policy::Decision::Deny => {
                if reasons.is_empty() {
                    reasons.push("no policy permits it".into());
                } else {
                    reasons = reasons
                        .into_iter()
                        .map(|reason| format!("forbidden by {reason}"))
                        .collect();
                }
                PolicyVerdict::Deny
            }
            cedar_policy::Decision::Allow => {
                let alone = deciding
                    .iter()
                    .any(|id| self.policies.annotation(id, "approval").is_none());
                if alone {
                    reasons = deciding
                        .iter()
                        .filter(|id| self.policies.annotation(id, "approval").is_none())
                        .map(|id| format!("allowed by {}", describe(id)))
                        .collect();
                    reasons.sort();
                    PolicyVerdict::Allow
                } else {
                    reasons = reasons
                        .into_iter()
                        .map(|reason| format!("allowed with approval by {reason}"))
                        .collect();
                    PolicyVerdict::NeedsApproval
                }
            }
        };
        Ok(PolicyDecision { verdict, reasons })
    }
}

/// A policy's `@id` annotation, else the id Cedar gave it (`policy0`, ...).
fn policy_name(policies: &PolicySet, id: &PolicyId) -> String {
    match policies.annotation(id, "id") {
        Some(name) => name.to_string(),
        None => id.to_string(),
    }
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let name = EntityTypeName::from_str(&format!("Garrison::{kind}"))
        .map_err(|error| error.to_string())?;
    Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
}

/// Parse errors as plain text (each error with its place).
fn miette_free(errors: &cedar_policy::ParseErrors) -> String {
    errors
        .iter()
        .map(|error| format!("- {error}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::Level;
    use garrison_model::action::TargetKind;

    fn situation(confidence: f64) -> Situation {
        Situation {
            incident: "inc-1".into(),
            confidence,
            severity: Level::High,
            verification: "verified".into(),
            escalated: true,
            tactics: vec!["credential-access".into()],
            blast_radius: 1,
            actions_last_hour: 0,
            hour: 10,
            weekday: 3,
            business_hours: true,
            change_freeze: false,
        }
    }

    fn host(name: &str) -> Target {
        Target {
            kind: TargetKind::Host,
            value: name.into(),
        }
    }

    #[test]
    fn three_way_decisions_name_their_policies() {
        let policy = Policy::parse(
            r#"
            @id("contain-confident")
            @reason("verified and confident")
            permit (principal, action == Garrison::Action::"isolate_host", resource)
            when { context.confidence >= 80 && context.verification == "verified" };

            @id("contain-with-approval")
            @approval("required")
            permit (principal, action in Garrison::Action::"containment", resource);

            @id("never-critical")
            forbid (principal, action, resource) when { resource.criticality >= 4 };
            "#,
        )
        .unwrap();
        assert_eq!(policy.len(), 3);
        let facts = TargetFacts::default();
        let high = policy.decide(
            ActionKind::IsolateHost,
            &host("ws1"),
            &facts,
            &situation(0.9),
        );
        assert_eq!(high.verdict, PolicyVerdict::Allow);
        assert_eq!(
            high.reasons,
            ["allowed by contain-confident: verified and confident"]
        );
        let low = policy.decide(
            ActionKind::IsolateHost,
            &host("ws1"),
            &facts,
            &situation(0.5),
        );
        assert_eq!(low.verdict, PolicyVerdict::NeedsApproval);
        assert_eq!(
            low.reasons,
            ["allowed with approval by contain-with-approval"]
        );
        let critical = TargetFacts {
            criticality: 4,
            ..TargetFacts::default()
        };
        let denied = policy.decide(
            ActionKind::IsolateHost,
            &host("dc1"),
            &critical,
            &situation(0.9),
        );
        assert_eq!(denied.verdict, PolicyVerdict::Deny);
        assert_eq!(denied.reasons, ["forbidden by never-critical"]);
        let unmatched = policy.decide(
            ActionKind::BlockIp,
            &Target {
                kind: TargetKind::Ip,
                value: "203.0.113.9".into(),
            },
            &facts,
            &situation(0.9),
        );
        assert_eq!(unmatched.verdict, PolicyVerdict::Deny);
        assert_eq!(unmatched.reasons, ["no policy permits it"]);
    }

    #[test]
    fn policies_outside_the_schema_are_refused_with_the_reason() {
        let error = Policy::parse(
            r#"permit (principal, action, resource) when { context.confidance > 3 };"#,
        )
        .unwrap_err();
        assert!(matches!(error, PolicyError::Invalid(_)), "{error}");
        assert!(error.to_string().contains("confidance"), "{error}");
        let error = Policy::parse("permit (principal, action, resource) when {").unwrap_err();
        assert!(matches!(error, PolicyError::Parse(_)), "{error}");
        let error = Policy::parse(r#"@approval("maybe") permit (principal, action, resource);"#)
            .unwrap_err();
        assert!(error.to_string().contains("maybe"), "{error}");
    }

    #[test]
    fn the_shipped_policy_validates_and_holds_back_on_critical_assets() {
        let policy = Policy::default_policy();
        assert!(!policy.is_empty());
        let critical = TargetFacts {
            known: true,
            criticality: 4,
            ..TargetFacts::default()
        };
        let decision = policy.decide(
            ActionKind::IsolateHost,
            &host("dc1"),
            &critical,
            &situation(0.95),
        );
        assert_eq!(
            decision.verdict,
            PolicyVerdict::NeedsApproval,
            "{decision:?}"
        );
        let plain = TargetFacts {
            known: true,
            criticality: 2,
            ..TargetFacts::default()
        };
        let decision = policy.decide(
            ActionKind::IsolateHost,
            &host("ws1"),
            &plain,
            &situation(0.95),
        );
        assert_eq!(decision.verdict, PolicyVerdict::Allow, "{decision:?}");
        let mut frozen = situation(0.95);
        frozen.change_freeze = true;
        let decision = policy.decide(ActionKind::IsolateHost, &host("ws1"), &plain, &frozen);
        assert_eq!(
            decision.verdict,
            PolicyVerdict::NeedsApproval,
            "{decision:?}"
        );
    }
}
