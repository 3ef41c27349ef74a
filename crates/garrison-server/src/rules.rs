//! The detection rules a server runs, and which of them people switched off.
//!
//! A switched-off rule still runs (a correlation may need its matches), but its own matches
//! raise no alerts: the spool processors ask [`RuleBook::is_enabled`] before raising each one,
//! and count what they held back. Switches are kept in the store with their audit entry, so
//! they outlive restarts; the book reads them once when made and then changes with them.

use garrison_model::RuleInfo;
use garrison_model::tuning::RuleSwitch;
use garrison_store::{AuditAction, AuditRecord, RuleSwitchStore, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// A loaded rule.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub info: Arc<RuleInfo>,
    /// Whether its matches raise alerts on their own (false: it only feeds correlations).
    pub reported: bool,
}

/// A rule file that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Unloadable {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `yaml`, `schema`, `condition`, `modifier`, `regex`, `placeholder`, `logsource` or
    /// `correlation`.
    pub kind: String,
    pub reason: String,
}

/// The rules a server runs and their switches.
#[derive(Debug)]
pub struct RuleBook {
    rules: Vec<LoadedRule>,
    by_id: HashMap<String, usize>,
    unloadable: Vec<Unloadable>,
    /// The last switch of every rule switched, by rule id.
    switches: RwLock<HashMap<String, RuleSwitch>>,
    /// Ids of the rules switched off (what the processors read, once per alert).
    off: RwLock<HashSet<String>>,
}

impl RuleBook {
    /// A book of `rules` with the switches stored in `store`.
    pub fn load(
        rules: Vec<LoadedRule>,
        unloadable: Vec<Unloadable>,
        store: &dyn RuleSwitchStore,
    ) -> Result<RuleBook, StoreError> {
        let switches = store.rule_switches()?;
        let mut by_id = HashMap::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            by_id.entry(rule.info.id.clone()).or_insert(index);
        }
        let off = switches
            .iter()
            .filter(|switch| !switch.enabled)
            .map(|switch| switch.rule_id.clone())
            .collect();
        Ok(RuleBook {
            rules,
            by_id,
            unloadable,
            switches: RwLock::new(
                switches
                    .into_iter()
                    .map(|switch| (switch.rule_id.clone(), switch))
                    .collect(),
            ),
            off: RwLock::new(off),
        })
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[LoadedRule] {
        &self.rules
    }

    pub fn rule(&self, id: &str) -> Option<&LoadedRule> {
        self.by_id.get(id).map(|&index| &self.rules[index])
    }

    pub fn unloadable(&self) -> &[Unloadable] {
        &self.unloadable
    }

    /// Whether matches of rule `id` raise alerts (rules nobody switched off do).
    pub fn is_enabled(&self, id: &str) -> bool {
        let off = self
            .off
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        off.is_empty() || !off.contains(id)
    }

    /// The last switch of rule `id`, if it was ever switched.
    pub fn switch_of(&self, id: &str) -> Option<RuleSwitch> {
        self.switches
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .cloned()
    }

    /// Switches a rule on or off: stored with its audit entry first, then in force.
    pub fn switch(
        &self,
        store: &dyn RuleSwitchStore,
        switch: RuleSwitch,
    ) -> Result<RuleSwitch, StoreError> {
        let audit = AuditRecord {
            actor: switch.by.clone(),
            action: AuditAction::RuleSwitched,
            subject: switch.rule_id.clone(),
            detail: format!(
                "{}{}",
                if switch.enabled { "on" } else { "off" },
                switch
                    .reason
                    .as_deref()
                    .map(|reason| format!(": {reason}"))
                    .unwrap_or_default()
            ),
        };
        // Held across the write, so two people switching one rule leave store and memory alike.
        let mut switches = self
            .switches
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        store.put_rule_switch(&switch, &audit)?;
        let mut off = self
            .off
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match switch.enabled {
            true => off.remove(&switch.rule_id),
            false => off.insert(switch.rule_id.clone()),
        };
        switches.insert(switch.rule_id.clone(), switch.clone());
        Ok(switch)
    }
}
