//! The wire form of alert batches: what repeats across a batch's alerts (their rules, source
//! paths, hosts, triage groups and reasons) is written once per batch and named by index, and
//! each alert is a row of its own values. A flood of one rule on a few hosts is most of what a
//! batch carries; written out per alert it doubled every message and its hashing, writing and
//! parsing. Used through `#[serde(with)]` on [`crate::messages::TeamMessage`]'s batches.

use crate::messages::{TriageDecision, TriagedAlert, Verdict};
use garrison_model::{
    Alert, AlertId, Entity, EntityKind, EvidenceId, EvidenceRef, RuleRef, Timestamp,
};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::sync::Arc;

/// Distinct rules and strings of a batch, in order of first use.
#[derive(Default)]
struct Tables<'a> {
    rules: Vec<&'a RuleRef>,
    rule_index: HashMap<&'a str, u32>,
    strings: Vec<&'a str>,
    string_index: HashMap<&'a str, u32>,
}

impl<'a> Tables<'a> {
    fn rule(&mut self, rule: &'a RuleRef) -> u32 {
        // Rules are told apart by id within a batch: one rule set made them all.
        *self.rule_index.entry(&rule.id).or_insert_with(|| {
            self.rules.push(rule);
            self.rules.len() as u32 - 1
        })
    }

    fn string(&mut self, text: &'a str) -> u32 {
        *self.string_index.entry(text).or_insert_with(|| {
            self.strings.push(text);
            self.strings.len() as u32 - 1
        })
    }

    fn row(&mut self, alert: &'a Alert) -> AlertOut<'a> {
        AlertOut(
            self.rule(&alert.rule),
            &alert.id.0,
            alert.timestamp.map(instant),
            self.string(&alert.source.path),
            alert.source.member.as_deref(),
            alert.source.record_id,
            alert.source.offset,
            alert.evidence.0,
            alert.host.as_deref().map(|host| self.string(host)),
            alert.user.as_deref(),
            alert.channel.as_deref(),
            alert.event_id,
            &alert.fields,
            alert
                .entities
                .iter()
                .map(|entity| (entity.kind, self.string(&entity.value)))
                .collect(),
        )
    }
}

/// A timestamp as seconds and nanoseconds since the epoch.
fn instant(at: Timestamp) -> (i64, i32) {
    (at.as_second(), at.subsec_nanosecond())
}

/// One alert: rule, id, time, source path, archive member, record id, byte offset, evidence,
/// host, user, channel, event id, fields, and entities (kind, value); rules and the strings
/// named by number are the batch's.
#[derive(Serialize)]
struct AlertOut<'a>(
    u32,
    &'a str,
    Option<(i64, i32)>,
    u32,
    Option<&'a str>,
    u64,
    u64,
    u64,
    Option<u32>,
    Option<&'a str>,
    Option<&'a str>,
    Option<u32>,
    &'a [(String, String)],
    Vec<(EntityKind, u32)>,
);

#[derive(Deserialize)]
struct AlertIn(
    u32,
    String,
    Option<(i64, i32)>,
    u32,
    Option<String>,
    u64,
    u64,
    u64,
    Option<u32>,
    Option<String>,
    Option<String>,
    Option<u32>,
    Vec<(String, String)>,
    Vec<(EntityKind, u32)>,
);

/// A batch's tables as read: every index in a row is checked against them.
struct Read {
    rules: Vec<RuleRef>,
    strings: Vec<Arc<str>>,
}

impl Read {
    fn string<E: serde::de::Error>(&self, index: u32) -> Result<&Arc<str>, E> {
        self.strings
            .get(index as usize)
            .ok_or_else(|| E::custom(format!("string {index} is not in the batch")))
    }

    fn alert<E: serde::de::Error>(&self, row: AlertIn) -> Result<Alert, E> {
        let AlertIn(
            rule,
            id,
            timestamp,
            path,
            member,
            record_id,
            offset,
            evidence,
            host,
            user,
            channel,
            event_id,
            fields,
            entities,
        ) = row;
        let rule = self
            .rules
            .get(rule as usize)
            .ok_or_else(|| E::custom(format!("rule {rule} is not in the batch")))?
            .clone();
        let timestamp = timestamp
            .map(|(seconds, nanos)| Timestamp::new(seconds, nanos).map_err(E::custom))
            .transpose()?;
        Ok(Alert {
            id: AlertId(id),
            rule,
            timestamp,
            source: EvidenceRef {
                path: self.string(path)?.clone(),
                member: member.map(Arc::from),
                record_id,
                offset,
            },
            evidence: EvidenceId(evidence),
            host: host
                .map(|index| self.string(index).map(|host| host.to_string()))
                .transpose()?,
            user,
            channel,
            event_id,
            fields,
            entities: entities
                .into_iter()
                .map(|(kind, value)| Ok(Entity::new(kind, self.string(value)?.to_string())))
                .collect::<Result<_, E>>()?,
        })
    }
}

#[derive(Serialize)]
struct BatchOut<'a, D> {
    rules: Vec<&'a RuleRef>,
    strings: Vec<&'a str>,
    alerts: Vec<AlertOut<'a>>,
    /// Triage's decisions, one per alert (triaged batches only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    decisions: Vec<D>,
}

#[derive(Deserialize)]
struct BatchIn<D> {
    rules: Vec<RuleRef>,
    strings: Vec<String>,
    alerts: Vec<AlertIn>,
    #[serde(default = "Vec::new")]
    decisions: Vec<D>,
}

impl<D> BatchIn<D> {
    /// The alerts, the decisions beside them, and the tables, for what else names them.
    fn read<E: serde::de::Error>(self) -> Result<(Vec<Alert>, Vec<D>, Read), E> {
        let read = Read {
            rules: self.rules,
            strings: self.strings.into_iter().map(Arc::from).collect(),
        };
        let alerts = self
            .alerts
            .into_iter()
            .map(|row| read.alert(row))
            .collect::<Result<Vec<_>, E>>()?;
        Ok((alerts, self.decisions, read))
    }
}

/// What reads a compact batch into its items.
type ReadCompact<Decision, Plain, E> = fn(BatchIn<Decision>) -> Result<Vec<Plain>, E>;

/// Reads a batch in either form: the compact one (an object) or, from envelopes of schema
/// version 3 and older still in a stream, the plain list it replaced.
fn either<'de, D, Plain, Decision>(
    deserializer: D,
    compact: ReadCompact<Decision, Plain, D::Error>,
) -> Result<Vec<Plain>, D::Error>
where
    D: Deserializer<'de>,
    Plain: Deserialize<'de>,
    Decision: Deserialize<'de>,
{
    struct Either<'de, E, Plain, Decision> {
        compact: ReadCompact<Decision, Plain, E>,
        marker: std::marker::PhantomData<&'de ()>,
    }
    impl<'de, E: serde::de::Error, Plain: Deserialize<'de>, Decision: Deserialize<'de>>
        serde::de::Visitor<'de> for Either<'de, E, Plain, Decision>
    {
        type Value = Vec<Plain>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a batch of alerts")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Vec<Plain>, A::Error> {
            let batch = BatchIn::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            (self.compact)(batch).map_err(|error| A::Error::custom(error.to_string()))
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<Plain>, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    deserializer.deserialize_any(Either {
        compact,
        marker: std::marker::PhantomData,
    })
}

/// `#[serde(with)]` for a batch of raised alerts.
pub mod alerts {
    use super::*;

    pub fn serialize<S: Serializer>(alerts: &[Alert], serializer: S) -> Result<S::Ok, S::Error> {
        let mut tables = Tables::default();
        let rows = alerts.iter().map(|alert| tables.row(alert)).collect();
        BatchOut::<()> {
            rules: tables.rules,
            strings: tables.strings,
            alerts: rows,
            decisions: Vec::new(),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Alert>, D::Error> {
        either(deserializer, |batch: BatchIn<()>| {
            batch.read().map(|(alerts, _, _)| alerts)
        })
    }
}

/// A decision: group, the alert it repeats, score, verdict, reasons, new on its host; the
/// group and reasons are the batch's strings.
#[derive(Serialize)]
struct DecisionOut<'a>(u32, Option<&'a str>, u32, Verdict, Vec<u32>, bool);

#[derive(Deserialize)]
struct DecisionIn(u32, Option<String>, u32, Verdict, Vec<u32>, bool);

/// `#[serde(with)]` for a batch of triaged alerts. A decision is about the alert beside it, so
/// its alert id is not written twice.
pub mod triaged {
    use super::*;

    pub fn serialize<S: Serializer>(
        triaged: &[TriagedAlert],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut tables = Tables::default();
        let mut rows = Vec::with_capacity(triaged.len());
        let mut decisions = Vec::with_capacity(triaged.len());
        for TriagedAlert { alert, decision } in triaged {
            if decision.alert != alert.id {
                return Err(serde::ser::Error::custom(format!(
                    "the decision on {} is about {}",
                    alert.id.0, decision.alert.0
                )));
            }
            rows.push(tables.row(alert));
            decisions.push(DecisionOut(
                tables.string(&decision.group),
                decision.duplicate_of.as_ref().map(|id| id.0.as_str()),
                decision.score,
                decision.verdict,
                decision
                    .reasons
                    .iter()
                    .map(|reason| tables.string(reason))
                    .collect(),
                decision.new_on_host,
            ));
        }
        BatchOut {
            rules: tables.rules,
            strings: tables.strings,
            alerts: rows,
            decisions,
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<TriagedAlert>, D::Error> {
        either(deserializer, compact::<D::Error>)
    }

    fn compact<E: serde::de::Error>(batch: BatchIn<DecisionIn>) -> Result<Vec<TriagedAlert>, E> {
        let (alerts, decisions, read) = batch.read::<E>()?;
        if alerts.len() != decisions.len() {
            return Err(E::custom(format!(
                "{} alerts and {} decisions",
                alerts.len(),
                decisions.len()
            )));
        }
        let string = |index: u32| read.string::<E>(index).map(|text| text.to_string());
        alerts
            .into_iter()
            .zip(decisions)
            .map(
                |(alert, DecisionIn(group, duplicate_of, score, verdict, reasons, new))| {
                    Ok(TriagedAlert {
                        decision: TriageDecision {
                            alert: alert.id.clone(),
                            group: string(group)?,
                            duplicate_of: duplicate_of.map(AlertId),
                            score,
                            verdict,
                            reasons: reasons.into_iter().map(string).collect::<Result<_, E>>()?,
                            new_on_host: new,
                        },
                        alert,
                    })
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::messages::{TeamMessage, TriageDecision, TriagedAlert, Verdict};
    use garrison_model::{
        Alert, AlertId, Entity, EntityKind, EvidenceId, EvidenceRef, Level, RuleRef,
    };
    use std::sync::Arc;

    fn alert(n: u64, rule: &str, host: Option<&str>) -> Alert {
        Alert {
            id: AlertId(format!("al-{rule}-{n:016x}")),
            rule: RuleRef {
                id: rule.to_string(),
                title: format!("Title of {rule}"),
                level: Level::High,
                tags: vec!["attack.t1059".to_string()],
            },
            timestamp: Some(
                garrison_model::Timestamp::new(1_700_000_000 + n as i64, 123_456_789).unwrap(),
            ),
            source: EvidenceRef {
                path: Arc::from("/data/fox.csv.gz"),
                member: n.is_multiple_of(2).then(|| Arc::from("inner.json")),
                record_id: n + 1,
                offset: n * 100,
            },
            evidence: EvidenceId(n * 7919),
            host: host.map(str::to_string),
            user: n.is_multiple_of(3).then(|| format!("CORP\\user{n}")),
            channel: Some("Security".to_string()),
            event_id: Some(4624),
            fields: vec![("ip".to_string(), format!("10.0.0.{n}"))],
            entities: host
                .map(|host| Entity::new(EntityKind::Host, host))
                .into_iter()
                .chain([Entity::new(EntityKind::Ip, format!("10.0.0.{n}"))])
                .collect(),
        }
    }

    fn round_trip(message: &TeamMessage) -> TeamMessage {
        let text = serde_json::to_string(message).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn batches_read_back_as_written() {
        let alerts = vec![
            alert(1, "r1", Some("ws01")),
            alert(2, "r2", Some("ws01")),
            alert(3, "r1", None),
            alert(4, "r1", Some("dc01")),
        ];
        let raised = TeamMessage::AlertRaised {
            alerts: alerts.clone(),
        };
        assert_eq!(round_trip(&raised), raised);
        let triaged = TeamMessage::AlertTriaged {
            triaged: alerts
                .iter()
                .enumerate()
                .map(|(n, alert)| TriagedAlert {
                    alert: alert.clone(),
                    decision: TriageDecision {
                        alert: alert.id.clone(),
                        group: format!("{}|ws01|", alert.rule.id),
                        duplicate_of: (n > 0).then(|| alerts[0].id.clone()),
                        score: 40 + n as u32,
                        verdict: if n == 3 {
                            Verdict::Enrich
                        } else {
                            Verdict::Investigate
                        },
                        reasons: vec!["rule level high".to_string(), format!("reason {n}")],
                        new_on_host: n == 2,
                    },
                })
                .collect(),
        };
        assert_eq!(round_trip(&triaged), triaged);
        // What repeats is written once: one rule entry per rule, one path.
        let text = serde_json::to_string(&raised).unwrap();
        assert_eq!(text.matches("Title of r1").count(), 1, "{text}");
        assert_eq!(text.matches("/data/fox.csv.gz").count(), 1, "{text}");
    }

    #[test]
    fn batches_of_the_plain_form_still_read() {
        // As envelopes of schema version 3 carried them: a list of alerts, each whole.
        let alerts = vec![alert(1, "r1", Some("ws01")), alert(2, "r2", None)];
        let plain = serde_json::json!({"kind": "alert_raised", "body": {"alerts": alerts}});
        assert_eq!(
            serde_json::from_value::<TeamMessage>(plain).unwrap(),
            TeamMessage::AlertRaised {
                alerts: alerts.clone()
            }
        );
        let triaged: Vec<TriagedAlert> = alerts
            .iter()
            .map(|alert| TriagedAlert {
                alert: alert.clone(),
                decision: TriageDecision {
                    alert: alert.id.clone(),
                    group: "g".to_string(),
                    duplicate_of: None,
                    score: 7,
                    verdict: Verdict::Enrich,
                    reasons: vec!["weak alone".to_string()],
                    new_on_host: true,
                },
            })
            .collect();
        let plain = serde_json::json!({"kind": "alert_triaged", "body": {"triaged": triaged}});
        assert_eq!(
            serde_json::from_value::<TeamMessage>(plain).unwrap(),
            TeamMessage::AlertTriaged { triaged }
        );
    }

    #[test]
    fn indexes_outside_the_batch_are_refused() {
        let raised = TeamMessage::AlertRaised {
            alerts: vec![alert(1, "r1", Some("ws01"))],
        };
        let mut value = serde_json::to_value(&raised).unwrap();
        // The host names string 5 of a table of two.
        value["body"]["alerts"]["alerts"][0][8] = serde_json::json!(5);
        let error = serde_json::from_value::<TeamMessage>(value.clone()).unwrap_err();
        assert!(error.to_string().contains("string 5"), "{error}");
        value["body"]["alerts"]["alerts"][0][0] = serde_json::json!(9);
        let error = serde_json::from_value::<TeamMessage>(value).unwrap_err();
        assert!(error.to_string().contains("rule 9"), "{error}");
    }

    #[test]
    fn a_decision_about_another_alert_is_not_written() {
        let first = alert(1, "r1", Some("ws01"));
        let message = TeamMessage::AlertTriaged {
            triaged: vec![TriagedAlert {
                decision: TriageDecision {
                    alert: AlertId("al-other".to_string()),
                    group: "g".to_string(),
                    duplicate_of: None,
                    score: 1,
                    verdict: Verdict::Close,
                    reasons: Vec::new(),
                    new_on_host: false,
                },
                alert: first,
            }],
        };
        let error = serde_json::to_string(&message).unwrap_err();
        assert!(error.to_string().contains("al-other"), "{error}");
    }
}
