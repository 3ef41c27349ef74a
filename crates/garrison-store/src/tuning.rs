//! How detection was tuned: the last switch of each rule, written in one transaction with
//! its audit entry.

use crate::actions::{decode, encode};
use crate::audit::AuditRecord;
use crate::postgres::{append_in as append_in_postgres, text};
use crate::sqlite::append_in;
use crate::{PostgresStore, SqliteStore, StoreError};
use garrison_model::tuning::RuleSwitch;
use rusqlite::params;

/// Where rule switches are kept.
pub trait RuleSwitchStore: Send + Sync {
    /// The last switch of every rule ever switched, by rule id.
    fn rule_switches(&self) -> Result<Vec<RuleSwitch>, StoreError>;
    /// Writes `switch` (replacing the rule's earlier one) with its audit entry.
    fn put_rule_switch(&self, switch: &RuleSwitch, audit: &AuditRecord) -> Result<(), StoreError>;
}

const SWITCH: &str = "a rule switch";

impl RuleSwitchStore for SqliteStore {
    fn rule_switches(&self) -> Result<Vec<RuleSwitch>, StoreError> {
        let connection = self.connection();
        let mut statement =
            connection.prepare("SELECT body FROM rule_switches ORDER BY rule_id")?;
        let bodies = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|body| decode(body, SWITCH)).collect()
    }

    fn put_rule_switch(&self, switch: &RuleSwitch, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(switch, &switch.rule_id)?;
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        transaction.execute(
            "INSERT INTO rule_switches (rule_id, enabled, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (rule_id) DO UPDATE SET enabled = excluded.enabled, body = excluded.body",
            params![switch.rule_id, switch.enabled, body],
        )?;
        append_in(&transaction, audit, switch.at)?;
        transaction.commit()?;
        Ok(())
    }
}

impl RuleSwitchStore for PostgresStore {
    fn rule_switches(&self) -> Result<Vec<RuleSwitch>, StoreError> {
        self.with_client(|client| {
            client
                .query("SELECT body FROM rule_switches ORDER BY rule_id", &[])?
                .iter()
                .map(|row| decode(row.get(0), SWITCH))
                .collect()
        })
    }

    fn put_rule_switch(&self, switch: &RuleSwitch, audit: &AuditRecord) -> Result<(), StoreError> {
        let body = encode(switch, &switch.rule_id)?;
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "INSERT INTO rule_switches (rule_id, enabled, body) VALUES ($1, $2, $3)
                 ON CONFLICT (rule_id) DO UPDATE SET enabled = excluded.enabled,
                     body = excluded.body",
                &[&text(&switch.rule_id), &switch.enabled, &text(&body)],
            )?;
            append_in_postgres(&mut transaction, audit, switch.at)?;
            transaction.commit()?;
            Ok(())
        })
    }
}
