//! Garrison's response: the rules of engagement (Cedar policies) that decide whether an
//! action may happen alone, with a person's approval, or not at all; the playbooks that
//! propose actions for an incident; and the connectors that carry them out.

pub mod config;
pub mod connector;
pub mod http;
pub mod playbook;
pub mod policy;

pub use config::ResponseConfig;
pub use connector::{
    Call, Connector, ConnectorConfig, ConnectorError, ConnectorType, HttpConnector,
};
pub use playbook::{Playbook, Proposal};
pub use policy::{Policy, PolicyDecision, PolicyError, Situation, TargetFacts};
