//! Live updates: every incident version the team reports, pushed to whoever watches, as
//! server-sent events (`/api/v1/events` with a token; the console's pages with their session).
//! A watcher that falls behind loses the oldest updates and is told how many (`lagged`); it
//! reloads what it shows.

use super::{ApiError, Console, ErrorResponses, Principal};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use garrison_model::access::Role;
use garrison_model::queue::IncidentSummary;
use garrison_model::{Incident, Level};
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Updates kept for watchers that are behind.
const BACKLOG: usize = 256;

/// One update.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentUpdate {
    pub id: garrison_model::IncidentId,
    pub version: u64,
    pub title: String,
    pub severity: Level,
    pub escalated: bool,
}

/// Where the process announces incident versions (cheap to clone).
#[derive(Debug, Clone)]
pub struct Feed(broadcast::Sender<IncidentUpdate>);

impl Default for Feed {
    fn default() -> Feed {
        Feed(broadcast::channel(BACKLOG).0)
    }
}

impl Feed {
    /// Announces `incident` to everyone watching (nobody watching is fine).
    pub fn incident(&self, incident: &Incident) {
        self.summary(incident.summary());
    }

    /// Announces an incident version known by its summary (a distributed deployment's
    /// announcements carry only that).
    pub fn summary(&self, summary: IncidentSummary) {
        let _ = self.0.send(IncidentUpdate {
            id: summary.id,
            version: summary.version,
            title: summary.title,
            severity: summary.severity,
            escalated: summary.escalated,
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<IncidentUpdate> {
        self.0.subscribe()
    }
}

/// The updates as server-sent events: `incident` with the update as JSON, `lagged` with how
/// many were missed; a comment every 15 s keeps proxies from closing the stream.
pub fn stream(
    feed: &Feed,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>> + use<>> {
    let receiver = feed.subscribe();
    let updates = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let event = match receiver.recv().await {
            Ok(update) => Event::default().event("incident").json_data(&update).ok()?,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Event::default().event("lagged").data(missed.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), receiver))
    });
    Sse::new(updates).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Incident versions as they are reported, as server-sent events (`incident`: an
/// `IncidentUpdate` as JSON; `lagged`: how many the watcher missed).
#[utoipa::path(
    get,
    path = "/api/v1/events",
    operation_id = "events",
    tag = "incidents",
    responses((status = 200, description = "The stream", content_type = "text/event-stream", body = String), ErrorResponses),
    security(("bearer" = []))
)]
pub async fn events(
    State(console): State<Arc<Console>>,
    principal: Principal,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    principal.require(Role::Viewer)?;
    Ok(stream(&console.feed).into_response())
}
