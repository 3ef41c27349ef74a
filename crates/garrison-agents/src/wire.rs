//! The wire form of alert batches: what repeats across a batch's alerts (their rules, source
//! paths, hosts, entity values, field names and values, triage groups and reasons) is written
//! once per batch and named by index, and each alert is a row of its own values. A flood of one
//! rule on a few hosts is most of what a batch carries; written out per alert it doubled every
//! message and its hashing, writing and parsing. What a row can be told from its other values
//! is left out: an alert id [`AlertId::of`] its rule and record is `null`, and the alert a
//! decision repeats is its record's number when it is of the same rule. Rows written before
//! (schema version 4: ids, repeated alerts and field texts written out) read alike. Used
//! through `#[serde(with)]` on [`crate::messages::TeamMessage`]'s batches.

use crate::messages::{TriageDecision, TriagedAlert, Verdict};
use foldhash::HashMap;
use garrison_model::{
    Alert, AlertId, Entity, EntityKind, EvidenceId, EvidenceRef, RuleRef, Timestamp,
};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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
        let derived = alert.id.record_of(&alert.rule.id) == Some(alert.evidence);
        AlertOut(
            self.rule(&alert.rule),
            (!derived).then_some(alert.id.0.as_str()),
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
            alert
                .fields
                .iter()
                .map(|(name, value)| (self.string(name), self.string(value)))
                .collect(),
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

/// One alert: rule, id (`null`: of its rule and record), time, source path, archive member,
/// record id, byte offset, evidence, host, user, channel, event id, fields (name, value), and
/// entities (kind, value); rules and the strings named by number are the batch's.
#[derive(Serialize)]
struct AlertOut<'a>(
    u32,
    Option<&'a str>,
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
    Vec<(u32, u32)>,
    Vec<(EntityKind, u32)>,
);

#[derive(Deserialize)]
struct AlertIn(
    u32,
    Option<String>,
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
    Vec<(NumberOrText, NumberOrText)>,
    Vec<(EntityKind, u32)>,
);

/// A row's value that is a number in the compact form and was text before: a string of the
/// batch or the text itself, the record of an alert of the same rule or the alert's id.
enum NumberOrText {
    Number(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for NumberOrText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = NumberOrText;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a number or a string")
            }
            fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Number(number))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Text(text.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Text(text))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The alert a decision repeats as written: its record's number when its id is of the same
/// rule (as [`AlertId::of`] writes them), else its id.
#[derive(Serialize)]
#[serde(untagged)]
enum RepeatsOut<'a> {
    Record(u64),
    Id(&'a str),
}

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

    /// A text of a row: the batch's string by index, or the text as written before.
    fn text<E: serde::de::Error>(&self, text: NumberOrText) -> Result<String, E> {
        match text {
            NumberOrText::Number(index) => u32::try_from(index)
                .map_err(|_| E::custom(format!("string {index} is not in the batch")))
                .and_then(|index| self.string(index))
                .map(|text| text.to_string()),
            NumberOrText::Text(text) => Ok(text),
        }
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
        let evidence = EvidenceId(evidence);
        Ok(Alert {
            id: id.map_or_else(|| AlertId::of(&rule.id, evidence), AlertId),
            rule,
            timestamp,
            source: EvidenceRef {
                path: self.string(path)?.clone(),
                member: member.map(Arc::from),
                record_id,
                offset,
            },
            evidence,
            host: host
                .map(|index| self.string(index).map(|host| host.to_string()))
                .transpose()?,
            user,
            channel,
            event_id,
            fields: fields
                .into_iter()
                .map(|(name, value)| Ok((self.text(name)?, self.text(value)?)))
                .collect::<Result<_, E>>()?,
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
struct DecisionOut<'a>(u32, Option<RepeatsOut<'a>>, u32, Verdict, Vec<u32>, bool);

#[derive(Deserialize)]
struct DecisionIn(u32, Option<NumberOrText>, u32, Verdict, Vec<u32>, bool);

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
            let repeats = decision.duplicate_of.as_ref().map(|id| {
                id.record_of(&alert.rule.id)
                    .map_or(RepeatsOut::Id(&id.0), |record| RepeatsOut::Record(record.0))
            });
            decisions.push(DecisionOut(
                tables.string(&decision.group),
                repeats,
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
                    let duplicate_of = duplicate_of.map(|repeats| match repeats {
                        NumberOrText::Number(record) => {
                            AlertId::of(&alert.rule.id, EvidenceId(record))
                        }
                        NumberOrText::Text(id) => AlertId(id),
                    });
                    Ok(TriagedAlert {
                        decision: TriageDecision {
                            alert: alert.id.clone(),
                            group: string(group)?,
                            duplicate_of,
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

    /// An alert whose id is the one its rule and record give.
    fn derived(n: u64, rule: &str, host: Option<&str>) -> Alert {
        let mut alert = alert(n, rule, host);
        alert.id = AlertId::of(rule, alert.evidence);
        alert
    }

    fn decided(alert: &Alert, duplicate_of: Option<AlertId>) -> TriagedAlert {
        TriagedAlert {
            alert: alert.clone(),
            decision: TriageDecision {
                alert: alert.id.clone(),
                group: "g".to_string(),
                duplicate_of,
                score: 7,
                verdict: Verdict::Investigate,
                reasons: vec!["weak alone".to_string()],
                new_on_host: false,
            },
        }
    }

    #[test]
    fn what_a_row_can_be_told_from_the_rest_is_not_written() {
        let first = derived(1, "r1", Some("ws01"));
        let mut same_ip = derived(2, "r1", Some("ws01"));
        same_ip.fields = first.fields.clone();
        // An id written some other way (another build, a test) is kept as it is.
        let own_id = alert(3, "r2", Some("ws01"));
        let triaged = TeamMessage::AlertTriaged {
            triaged: vec![
                decided(&first, None),
                // Of the same rule: its record's number.
                decided(&same_ip, Some(first.id.clone())),
                // Of another rule, or not of a rule and record: the id.
                decided(&own_id, Some(first.id.clone())),
                decided(&own_id, Some(AlertId("al-from-elsewhere".into()))),
            ],
        };
        let text = serde_json::to_string(&triaged).unwrap();
        assert_eq!(round_trip(&triaged), triaged);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rows = &value["body"]["triaged"]["alerts"];
        assert_eq!(rows[0][1], serde_json::Value::Null, "{text}");
        assert_eq!(rows[1][1], serde_json::Value::Null, "{text}");
        assert_eq!(rows[2][1], serde_json::json!(own_id.id.0), "{text}");
        let decisions = &value["body"]["triaged"]["decisions"];
        assert_eq!(decisions[0][1], serde_json::Value::Null, "{text}");
        assert_eq!(
            decisions[1][1],
            serde_json::json!(first.evidence.0),
            "{text}"
        );
        assert_eq!(decisions[2][1], serde_json::json!(first.id.0), "{text}");
        assert_eq!(decisions[3][1], serde_json::json!("al-from-elsewhere"));
        // Ids of a rule and record are nowhere; a field's name and a value two alerts share
        // are written once.
        assert_eq!(text.matches(&first.id.0).count(), 1, "{text}");
        assert!(!text.contains(&same_ip.id.0), "{text}");
        let strings = value["body"]["triaged"]["strings"].as_array().unwrap();
        assert_eq!(strings.iter().filter(|text| *text == "ip").count(), 1);
        assert_eq!(text.matches("\"10.0.0.1\"").count(), 1, "{text}");
        assert_eq!(rows[0][12], rows[1][12], "{text}");
        assert!(rows[0][12][0][0].is_u64(), "{text}");
    }

    #[test]
    fn batches_of_schema_version_4_still_read() {
        // Ids, the alerts decisions repeat and field texts written out in every row.
        let first = derived(1, "r1", Some("ws01"));
        let second = derived(2, "r1", None);
        let path = &*first.source.path;
        let row = |alert: &Alert, host: serde_json::Value| {
            serde_json::json!([
                0,
                alert.id.0,
                [
                    1_700_000_000 + alert.source.record_id as i64 - 1,
                    123_456_789
                ],
                0,
                alert.source.member.as_deref(),
                alert.source.record_id,
                alert.source.offset,
                alert.evidence.0,
                host,
                alert.user,
                alert.channel,
                alert.event_id,
                alert.fields,
                alert
                    .entities
                    .iter()
                    .map(|entity| (entity.kind, 2 + entity.value.ends_with(".2") as u32))
                    .collect::<Vec<_>>(),
            ])
        };
        let mut first_row = row(&first, serde_json::json!(1));
        first_row[13] = serde_json::json!([["host", 1], ["ip", 2]]);
        let body = serde_json::json!({
            "rules": [first.rule],
            "strings": [path, "ws01", "10.0.0.1", "10.0.0.2", "g", "weak alone"],
            "alerts": [first_row, row(&second, serde_json::Value::Null)],
            "decisions": [[4, null, 7, "investigate", [5], false],
                          [4, first.id.0, 7, "investigate", [5], false]],
        });
        let message = serde_json::json!({"kind": "alert_triaged", "body": {"triaged": body}});
        assert_eq!(
            serde_json::from_value::<TeamMessage>(message).unwrap(),
            TeamMessage::AlertTriaged {
                triaged: vec![
                    decided(&first, None),
                    decided(&second, Some(first.id.clone()))
                ]
            }
        );
    }

    #[test]
    fn a_field_naming_a_string_outside_the_batch_is_refused() {
        let raised = TeamMessage::AlertRaised {
            alerts: vec![derived(1, "r1", Some("ws01"))],
        };
        let mut value = serde_json::to_value(&raised).unwrap();
        value["body"]["alerts"]["alerts"][0][12] = serde_json::json!([[0, 40]]);
        let error = serde_json::from_value::<TeamMessage>(value.clone()).unwrap_err();
        assert!(error.to_string().contains("string 40"), "{error}");
        value["body"]["alerts"]["alerts"][0][12] = serde_json::json!([[0, 1u64 << 40]]);
        let error = serde_json::from_value::<TeamMessage>(value).unwrap_err();
        assert!(error.to_string().contains("is not in the batch"), "{error}");
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
