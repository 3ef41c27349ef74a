//! Alerts of network sensors, which name addresses but no host, get the host that used one.

use super::Investigate;
use crate::AgentError;
use garrison_model::{Alert, Entity, EntityKind};

impl Investigate {
    /// An alert that names addresses but no host (a network sensor's) gets the host that used
    /// one of its addresses nearest its time, as the store's host-side evidence shows; `None`
    /// when it has a host already or no address resolves.
    pub(super) fn resolve_host(&self, alert: &Alert) -> Result<Option<Alert>, AgentError> {
        let Some(at) = alert.timestamp.filter(|_| alert.host.is_none()) else {
            return Ok(None);
        };
        for entity in alert.entities.iter().filter(|e| e.kind == EntityKind::Ip) {
            let host = self
                .evidence
                .store()
                .host_with_address(&entity.value, at, self.config.address_window)
                .map_err(|error| AgentError::Temporary(error.to_string()))?;
            if let Some(host) = host {
                let mut resolved = alert.clone();
                resolved
                    .entities
                    .push(Entity::new(EntityKind::Host, host.clone()));
                resolved.entities.sort();
                resolved.entities.dedup();
                resolved.host = Some(host);
                return Ok(Some(resolved));
            }
        }
        Ok(None)
    }
}
