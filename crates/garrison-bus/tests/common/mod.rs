//! A payload enum for tests, shaped like the agents' own.

#![allow(dead_code)]

use garrison_bus::Message;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TestMessage {
    AlertRaised { rule: String },
    IncidentOpened { title: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestKind {
    AlertRaised,
    IncidentOpened,
}

impl Message for TestMessage {
    type Kind = TestKind;
    const SCHEMA_VERSION: u16 = 2;

    fn kind(&self) -> TestKind {
        match self {
            TestMessage::AlertRaised { .. } => TestKind::AlertRaised,
            TestMessage::IncidentOpened { .. } => TestKind::IncidentOpened,
        }
    }

    fn subject(kind: TestKind) -> &'static str {
        match kind {
            TestKind::AlertRaised => "alert.raised",
            TestKind::IncidentOpened => "incident.opened",
        }
    }
}

pub fn alert(rule: &str) -> TestMessage {
    TestMessage::AlertRaised { rule: rule.into() }
}

pub fn now() -> jiff::Timestamp {
    "2026-11-26T01:00:00Z".parse().unwrap()
}
