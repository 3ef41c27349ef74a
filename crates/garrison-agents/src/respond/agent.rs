//! The response agent on the bus.

use super::Responder;
use crate::AgentError;
use crate::messages::TeamMessage;
use crate::runtime::{Agent, Context};
use garrison_store::StoreError;
use std::sync::Arc;

/// The response agent: decides on each verified (or stalled) incident's actions, and on
/// every tick expires unanswered approvals, sends escalations that came due, and carries out
/// approved actions (approvals come from people, through the store).
pub struct Respond {
    responder: Arc<Responder>,
}

impl Respond {
    pub fn new(responder: Arc<Responder>) -> Respond {
        Respond { responder }
    }
}

impl Agent<TeamMessage> for Respond {
    async fn handle(
        &mut self,
        envelope: &garrison_bus::Envelope<TeamMessage>,
        context: &Context,
    ) -> Result<Vec<TeamMessage>, AgentError> {
        let Some((incident, stalled)) = envelope.payload.reported_incident() else {
            return Err(AgentError::Permanent(
                "respond reads incident.verified and incident.stalled only".into(),
            ));
        };
        let stalled = stalled.is_some();
        let temporary = |error: StoreError| AgentError::Temporary(error.to_string());
        self.responder
            .decide(incident, stalled, context.clock.now())
            .map_err(temporary)?;
        self.responder
            .execute_ready(context.clock.as_ref())
            .await
            .map_err(temporary)?;
        Ok(Vec::new())
    }

    async fn tick(&mut self, context: &Context) -> Result<Vec<TeamMessage>, AgentError> {
        let temporary = |error: StoreError| AgentError::Temporary(error.to_string());
        self.responder
            .expire(context.clock.now())
            .map_err(temporary)?;
        self.responder
            .escalate(context.clock.now())
            .map_err(temporary)?;
        self.responder
            .recover(self.responder.stale_after(), context.clock.as_ref())
            .await
            .map_err(temporary)?;
        self.responder
            .execute_ready(context.clock.as_ref())
            .await
            .map_err(temporary)?;
        Ok(Vec::new())
    }
}
