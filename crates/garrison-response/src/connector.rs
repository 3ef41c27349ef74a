//! Connectors carry actions out. One trait; HTTP connectors shaped on the real APIs of common
//! tools (an EDR's host containment, Okta's user lifecycle, Microsoft Graph, a firewall block
//! list) and a generic webhook with a templated body; each can run dry (describe the request,
//! send nothing). Every call carries the action's idempotency key (`Idempotency-Key` header).

use crate::http::{HttpClient, HttpRequest, path_segment};
use garrison_model::IncidentId;
use garrison_model::action::{ActionKind, Target};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;

/// One call: do (or undo) `kind` to `target`.
#[derive(Debug, Clone)]
pub struct Call {
    pub key: String,
    pub kind: ActionKind,
    pub target: Target,
    pub incident: IncidentId,
    /// One line about the incident, for tickets and notifications.
    pub summary: String,
    /// Undo the action instead.
    pub rollback: bool,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Nothing happened on the other side (no connection, 429, 5xx): try again later.
    #[error("transient: {0}")]
    Transient(String),
    /// Refused (4xx, bad configuration): trying again changes nothing.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The other side may or may not have acted (timeout after sending): never retried
    /// automatically.
    #[error("ambiguous: {0}")]
    Ambiguous(String),
}

pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<String, ConnectorError>> + Send + 'a>>;

/// Something that carries actions out.
pub trait Connector: Send + Sync {
    fn name(&self) -> &str;
    /// The action kinds it carries out.
    fn kinds(&self) -> &[ActionKind];
    /// True when the other side recognises a repeated idempotency key and does not act
    /// twice, so a call cut short by a crash may be sent again.
    fn honors_idempotency_key(&self) -> bool;
    /// Does (or undoes) the action; returns what the other side answered, in a line.
    fn call<'a>(&'a self, call: &'a Call) -> CallFuture<'a>;
}

/// The API a connector speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorType {
    /// Any HTTP endpoint: `method`, `url` and a body template.
    Webhook,
    /// Host containment shaped on CrowdStrike Falcon's device actions API: the host's device
    /// id looked up by hostname, then `contain` / `lift_containment`.
    Edr,
    /// Okta's users API: suspend/unsuspend, deactivate/activate, clear sessions, reset password.
    Okta,
    /// Microsoft Graph: revoke sign-in sessions, disable/enable the account.
    Graph,
    /// A firewall or proxy block list: entries added and removed by value.
    Blocklist,
}

impl ConnectorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorType::Webhook => "webhook",
            ConnectorType::Edr => "edr",
            ConnectorType::Okta => "okta",
            ConnectorType::Graph => "graph",
            ConnectorType::Blocklist => "blocklist",
        }
    }
}

/// A connector as the configuration describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    /// Base URL (the full URL for a webhook; `{{...}}` placeholders allowed there).
    pub url: String,
    /// The action kinds it carries out (defaults: what the API can do).
    #[serde(default)]
    pub actions: Vec<ActionKind>,
    /// The environment variable holding the credential (never the credential itself).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Header carrying the credential (default `Authorization`); its value is
    /// `auth_scheme` + " " + the credential (`Bearer` by default, `SSWS` for Okta).
    #[serde(default)]
    pub auth_header: Option<String>,
    #[serde(default)]
    pub auth_scheme: Option<String>,
    /// Webhook only: `POST` (default), `PUT` or `PATCH`.
    #[serde(default)]
    pub method: Option<String>,
    /// Webhook only: the body, with `{{key}}`, `{{action}}`, `{{target}}`,
    /// `{{target_kind}}`, `{{incident}}`, `{{summary}}` and `{{rollback}}` replaced by their
    /// JSON-escaped values. Default: a JSON object of all of them.
    #[serde(default)]
    pub body: Option<String>,
    /// Describe the request, send nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The other side deduplicates by `Idempotency-Key` (webhooks: say so only if it does).
    #[serde(default)]
    pub idempotent: Option<bool>,
}

/// An HTTP connector built from its configuration.
pub struct HttpConnector {
    config: ConnectorConfig,
    kinds: Vec<ActionKind>,
    credential: Option<String>,
    client: HttpClient,
}

impl std::fmt::Debug for HttpConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credential stays out.
        f.debug_struct("HttpConnector")
            .field("name", &self.config.name)
            .field("type", &self.config.kind)
            .field("url", &self.config.url)
            .field("dry_run", &self.config.dry_run)
            .finish()
    }
}

impl ConnectorType {
    /// What this API can do.
    pub fn capabilities(self) -> &'static [ActionKind] {
        use ActionKind::*;
        match self {
            ConnectorType::Webhook => &ActionKind::ALL,
            ConnectorType::Edr => &[IsolateHost],
            ConnectorType::Okta => &[SuspendUser, DisableUser, RevokeSessions, ResetCredentials],
            ConnectorType::Graph => &[RevokeSessions, DisableUser],
            ConnectorType::Blocklist => &[BlockIp, BlockDomain, BlockUrl],
        }
    }
}

impl HttpConnector {
    /// Builds the connector, reading its credential from the environment variable
    /// `token_env` names.
    pub fn new(config: ConnectorConfig, client: HttpClient) -> Result<HttpConnector, String> {
        let credential = match &config.token_env {
            None => None,
            Some(variable) => match std::env::var(variable) {
                Ok(value) if !value.is_empty() => Some(value),
                _ if config.dry_run => None,
                _ => {
                    return Err(format!(
                        "connector {}: the environment variable {variable} holding its credential is not set",
                        config.name
                    ));
                }
            },
        };
        HttpConnector::with_credential(config, client, credential)
    }

    /// Builds the connector with its credential given.
    pub fn with_credential(
        config: ConnectorConfig,
        client: HttpClient,
        credential: Option<String>,
    ) -> Result<HttpConnector, String> {
        let capabilities = config.kind.capabilities();
        let kinds = if config.actions.is_empty() {
            capabilities.to_vec()
        } else {
            config.actions.clone()
        };
        if let Some(kind) = kinds.iter().find(|kind| !capabilities.contains(kind)) {
            return Err(format!(
                "connector {}: a {:?} connector cannot {kind}",
                config.name, config.kind
            ));
        }
        if let Some(method) = &config.method
            && !matches!(method.as_str(), "POST" | "PUT" | "PATCH")
        {
            return Err(format!(
                "connector {}: method {method:?}: POST, PUT or PATCH",
                config.name
            ));
        }
        Ok(HttpConnector {
            config,
            kinds,
            credential,
            client,
        })
    }

    fn headers(&self, call: &Call) -> Vec<(String, String)> {
        let mut headers = vec![("Idempotency-Key".to_string(), call.key.clone())];
        if let Some(credential) = &self.credential {
            let scheme = self.config.auth_scheme.clone().unwrap_or_else(|| {
                match self.config.kind {
                    ConnectorType::Okta => "SSWS",
                    _ => "Bearer",
                }
                .to_string()
            });
            headers.push((
                self.config
                    .auth_header
                    .clone()
                    .unwrap_or_else(|| "Authorization".into()),
                format!("{scheme} {credential}"),
            ));
        }
        headers
    }

    fn base(&self) -> &str {
        self.config.url.trim_end_matches('/')
    }

    /// The requests the call takes, in order (a lookup first for EDR and Okta).
    fn plan(&self, call: &Call) -> Result<Vec<HttpRequest>, ConnectorError> {
        use ActionKind::*;
        let base = self.base();
        let headers = self.headers(call);
        let request = |method: &'static str, url: String, body: Option<String>| HttpRequest {
            method,
            url,
            headers: headers.clone(),
            body,
        };
        let value = call.target.value.as_str();
        let user = path_segment(value);
        let unsupported = || {
            ConnectorError::Permanent(format!(
                "connector {} cannot {}{}",
                self.config.name,
                if call.rollback { "undo " } else { "" },
                call.kind
            ))
        };
        Ok(match (self.config.kind, call.kind, call.rollback) {
            (ConnectorType::Webhook, _, _) => {
                let method = match self.config.method.as_deref() {
                    Some("PUT") => "PUT",
                    Some("PATCH") => "PATCH",
                    _ => "POST",
                };
                vec![request(
                    method,
                    fill(&self.config.url, call, false),
                    Some(fill(
                        self.config.body.as_deref().unwrap_or(DEFAULT_BODY),
                        call,
                        true,
                    )),
                )]
            }
            (ConnectorType::Edr, IsolateHost, rollback) => {
                let filter = path_segment(&format!("hostname:'{value}'"));
                let action = if rollback {
                    "lift_containment"
                } else {
                    "contain"
                };
                vec![
                    request(
                        "GET",
                        format!("{base}/devices/queries/devices/v1?filter={filter}"),
                        None,
                    ),
                    request(
                        "POST",
                        format!("{base}/devices/entities/devices-actions/v2?action_name={action}"),
                        // The device id found by the lookup replaces the placeholder.
                        Some(r#"{"ids":["{{device}}"]}"#.into()),
                    ),
                ]
            }
            (ConnectorType::Okta, kind, rollback) => {
                let lifecycle = |step: &str| {
                    request(
                        "POST",
                        format!("{base}/api/v1/users/{{{{device}}}}/lifecycle/{step}"),
                        None,
                    )
                };
                let lookup = request("GET", format!("{base}/api/v1/users/{user}"), None);
                let step = match (kind, rollback) {
                    (SuspendUser, false) => lifecycle("suspend"),
                    (SuspendUser, true) => lifecycle("unsuspend"),
                    (DisableUser, false) => lifecycle("deactivate"),
                    (DisableUser, true) => lifecycle("activate?sendEmail=false"),
                    (RevokeSessions, false) => request(
                        "DELETE",
                        format!("{base}/api/v1/users/{{{{device}}}}/sessions?oauthTokens=true"),
                        None,
                    ),
                    (ResetCredentials, false) => lifecycle("reset_password?sendEmail=true"),
                    _ => return Err(unsupported()),
                };
                vec![lookup, step]
            }
            (ConnectorType::Graph, RevokeSessions, false) => vec![request(
                "POST",
                format!("{base}/v1.0/users/{user}/revokeSignInSessions"),
                None,
            )],
            (ConnectorType::Graph, DisableUser, rollback) => vec![request(
                "PATCH",
                format!("{base}/v1.0/users/{user}"),
                Some(format!(r#"{{"accountEnabled":{rollback}}}"#)),
            )],
            (ConnectorType::Blocklist, BlockIp | BlockDomain | BlockUrl, false) => {
                vec![request(
                    "POST",
                    format!("{base}/entries"),
                    Some(
                        serde_json::json!({
                            "type": call.target.kind.as_str(),
                            "value": value,
                            "comment": format!("garrison {} {}", call.incident, call.key),
                        })
                        .to_string(),
                    ),
                )]
            }
            (ConnectorType::Blocklist, BlockIp | BlockDomain | BlockUrl, true) => vec![request(
                "DELETE",
                format!("{base}/entries/{}", path_segment(value)),
                None,
            )],
            _ => return Err(unsupported()),
        })
    }

    async fn run(&self, call: &Call) -> Result<String, ConnectorError> {
        let plan = self.plan(call)?;
        if self.config.dry_run {
            let steps: Vec<String> = plan
                .iter()
                .map(|request| request.describe().replace("{{device}}", "<id looked up>"))
                .collect();
            return Ok(format!("dry run: would send {}", steps.join(", then ")));
        }
        let mut found: Option<String> = None;
        let mut last = String::new();
        for (step, mut request) in plan.into_iter().enumerate() {
            if let Some(id) = &found {
                request.url = request.url.replace("{{device}}", &path_segment(id));
                request.body = request
                    .body
                    .map(|body| body.replace("{{device}}", &json_escape(id)));
            }
            let response = self.client.send(&request).await.map_err(|error| {
                // A failed lookup has changed nothing, whatever the error.
                match (step, error) {
                    (0, ConnectorError::Ambiguous(reason)) if self.lookup_first() => {
                        ConnectorError::Transient(reason)
                    }
                    (_, error) => error,
                }
            })?;
            if step == 0 && self.lookup_first() {
                found = Some(self.lookup_id(&call.target.value, &response.body)?);
                continue;
            }
            last = format!("{} answered {}", request.describe(), response.status);
        }
        Ok(last)
    }

    fn lookup_first(&self) -> bool {
        matches!(self.config.kind, ConnectorType::Edr | ConnectorType::Okta)
    }

    /// The id a lookup answered: Falcon's `resources[0]`, Okta's user `id`.
    fn lookup_id(&self, name: &str, body: &str) -> Result<String, ConnectorError> {
        let value: serde_json::Value = serde_json::from_str(body).map_err(|error| {
            ConnectorError::Permanent(format!(
                "looking up {name}: the answer is not JSON: {error}"
            ))
        })?;
        let id = match self.config.kind {
            ConnectorType::Edr => value
                .get("resources")
                .and_then(|resources| resources.as_array())
                .and_then(|resources| {
                    if resources.len() > 1 {
                        None
                    } else {
                        resources.first()
                    }
                })
                .and_then(|id| id.as_str()),
            _ => value.get("id").and_then(|id| id.as_str()),
        };
        id.map(str::to_string).ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "looking up {name}: {} did not name exactly one",
                self.config.name
            ))
        })
    }
}

impl Connector for HttpConnector {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kinds(&self) -> &[ActionKind] {
        &self.kinds
    }

    fn honors_idempotency_key(&self) -> bool {
        self.config.dry_run || self.config.idempotent.unwrap_or(false)
    }

    fn call<'a>(&'a self, call: &'a Call) -> CallFuture<'a> {
        Box::pin(self.run(call))
    }
}

const DEFAULT_BODY: &str = r#"{"idempotency_key":"{{key}}","action":"{{action}}","target_kind":"{{target_kind}}","target":"{{target}}","incident":"{{incident}}","summary":"{{summary}}","rollback":{{rollback}}}"#;

/// Replaces the placeholders of `template` (JSON-escaped in a body, percent-encoded in a URL).
fn fill(template: &str, call: &Call, json: bool) -> String {
    let encode = |value: &str| {
        if json {
            json_escape(value)
        } else {
            path_segment(value)
        }
    };
    template
        .replace("{{key}}", &encode(&call.key))
        .replace("{{action}}", &encode(call.kind.as_str()))
        .replace("{{target_kind}}", &encode(call.target.kind.as_str()))
        .replace("{{target}}", &encode(&call.target.value))
        .replace("{{incident}}", &encode(&call.incident.0))
        .replace("{{summary}}", &encode(&call.summary))
        .replace("{{rollback}}", if call.rollback { "true" } else { "false" })
}

/// `value` escaped for the inside of a JSON string.
fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use garrison_model::action::TargetKind;

    fn connector(kind: ConnectorType, dry_run: bool) -> HttpConnector {
        HttpConnector::new(
            ConnectorConfig {
                name: "c".into(),
                kind,
                url: "https://api.example/".into(),
                actions: Vec::new(),
                token_env: None,
                auth_header: None,
                auth_scheme: None,
                method: None,
                body: None,
                dry_run,
                idempotent: None,
            },
            HttpClient::new(None, std::time::Duration::from_secs(1)).unwrap(),
        )
        .unwrap()
    }

    fn call(kind: ActionKind, target: TargetKind, value: &str, rollback: bool) -> Call {
        Call {
            key: "act-1".into(),
            kind,
            target: Target {
                kind: target,
                value: value.into(),
            },
            incident: IncidentId("inc-1".into()),
            summary: "Credential dumping on \"ws1\"".into(),
            rollback,
        }
    }

    #[test]
    fn requests_follow_each_api() {
        let okta = connector(ConnectorType::Okta, false);
        let plan = okta
            .plan(&call(
                ActionKind::SuspendUser,
                TargetKind::User,
                "dana@corp.example",
                false,
            ))
            .unwrap();
        assert_eq!(
            plan[0].describe(),
            "GET https://api.example/api/v1/users/dana%40corp.example"
        );
        assert_eq!(
            plan[1].describe(),
            "POST https://api.example/api/v1/users/{{device}}/lifecycle/suspend"
        );
        assert_eq!(
            plan[1].headers[0],
            ("Idempotency-Key".into(), "act-1".into())
        );
        let graph = connector(ConnectorType::Graph, false);
        let plan = graph
            .plan(&call(
                ActionKind::DisableUser,
                TargetKind::User,
                "dana@corp.example",
                true,
            ))
            .unwrap();
        assert_eq!(plan[0].body.as_deref(), Some(r#"{"accountEnabled":true}"#));
        let edr = connector(ConnectorType::Edr, false);
        let plan = edr
            .plan(&call(
                ActionKind::IsolateHost,
                TargetKind::Host,
                "WS1",
                true,
            ))
            .unwrap();
        assert!(
            plan[1].url.ends_with("action_name=lift_containment"),
            "{}",
            plan[1].url
        );
        assert!(
            graph
                .plan(&call(
                    ActionKind::RevokeSessions,
                    TargetKind::User,
                    "x",
                    true
                ))
                .is_err(),
            "sessions cannot be un-revoked"
        );
        let webhook = connector(ConnectorType::Webhook, false);
        let plan = webhook
            .plan(&call(
                ActionKind::OpenTicket,
                TargetKind::Incident,
                "inc-1",
                false,
            ))
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_str(plan[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(body["summary"], "Credential dumping on \"ws1\"");
        assert_eq!(body["idempotency_key"], "act-1");
        assert_eq!(body["rollback"], false);
    }

    #[test]
    fn a_connector_refuses_actions_its_api_cannot_do_and_missing_credentials() {
        let mut config = connector(ConnectorType::Graph, false).config;
        config.actions = vec![ActionKind::IsolateHost];
        let error = HttpConnector::new(
            config.clone(),
            HttpClient::new(None, std::time::Duration::from_secs(1)).unwrap(),
        )
        .unwrap_err();
        assert!(error.contains("cannot isolate_host"), "{error}");
        config.actions = Vec::new();
        config.token_env = Some("GARRISON_TEST_SURELY_UNSET".into());
        let error = HttpConnector::new(
            config,
            HttpClient::new(None, std::time::Duration::from_secs(1)).unwrap(),
        )
        .unwrap_err();
        assert!(error.contains("GARRISON_TEST_SURELY_UNSET"), "{error}");
    }

    #[tokio::test]
    async fn dry_runs_describe_and_send_nothing() {
        let edr = connector(ConnectorType::Edr, true);
        let answer = edr
            .call(&call(
                ActionKind::IsolateHost,
                TargetKind::Host,
                "WS1",
                false,
            ))
            .await
            .unwrap();
        assert!(
            answer.starts_with("dry run: would send GET https://api.example/devices/queries"),
            "{answer}"
        );
        assert!(answer.contains("action_name=contain"), "{answer}");
    }
}
