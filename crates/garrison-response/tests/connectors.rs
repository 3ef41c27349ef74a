//! The HTTP connectors against a local HTTP server that answers as the real APIs do and
//! records every request (method, path, headers, body).

use garrison_model::IncidentId;
use garrison_model::action::{ActionKind, Target, TargetKind};
use garrison_response::http::HttpClient;
use garrison_response::{
    Call, Connector, ConnectorConfig, ConnectorError, ConnectorType, HttpConnector,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// How the server answers a request: status and body, or silence for a while.
type Answer = Box<dyn Fn(&Seen) -> Option<(u16, String)> + Send + Sync>;

/// A one-thread HTTP/1.1 server: reads each request whole, records it, answers.
fn server(answer: Answer) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let mut headers = Vec::new();
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap();
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
            let length: usize = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, value)| value.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let request = Seen {
                method,
                path,
                headers,
                body: String::from_utf8(body).unwrap(),
            };
            log.lock().unwrap().push(request.clone());
            match answer(&request) {
                Some((status, body)) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                // Says nothing until the client gives up.
                None => std::thread::sleep(Duration::from_millis(800)),
            }
        }
    });
    (url, seen)
}

fn config(name: &str, kind: ConnectorType, url: &str) -> ConnectorConfig {
    ConnectorConfig {
        name: name.into(),
        kind,
        url: url.into(),
        actions: Vec::new(),
        token_env: None,
        auth_header: None,
        auth_scheme: None,
        method: None,
        body: None,
        dry_run: false,
        idempotent: None,
    }
}

fn client() -> HttpClient {
    HttpClient::new(None, Duration::from_millis(400)).unwrap()
}

fn call(kind: ActionKind, target_kind: TargetKind, value: &str) -> Call {
    Call {
        key: "act-0123456789abcdef".into(),
        kind,
        target: Target {
            kind: target_kind,
            value: value.into(),
        },
        incident: IncidentId("inc-1".into()),
        summary: "LSASS dumped on WS1".into(),
        rollback: false,
    }
}

#[tokio::test]
async fn okta_looks_the_user_up_then_suspends_with_its_credential_and_key() {
    let (url, seen) = server(Box::new(|request| {
        Some(match request.path.as_str() {
            "/api/v1/users/dana%40corp.example" => {
                (200, r#"{"id":"00u1abcd","status":"ACTIVE"}"#.into())
            }
            "/api/v1/users/00u1abcd/lifecycle/suspend" => (200, "{}".into()),
            _ => (404, r#"{"errorCode":"E0000007"}"#.into()),
        })
    }));
    let okta = config("okta", ConnectorType::Okta, &url);
    let connector =
        HttpConnector::with_credential(okta, client(), Some("s3cret-okta".into())).unwrap();
    assert!(
        !format!("{connector:?}").contains("s3cret"),
        "secrets never shown"
    );
    let answer = connector
        .call(&call(
            ActionKind::SuspendUser,
            TargetKind::User,
            "dana@corp.example",
        ))
        .await
        .unwrap();
    assert!(answer.ends_with("answered 200"), "{answer}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].path, "/api/v1/users/00u1abcd/lifecycle/suspend");
    assert_eq!(seen[1].header("authorization"), Some("SSWS s3cret-okta"));
    assert_eq!(
        seen[1].header("idempotency-key"),
        Some("act-0123456789abcdef")
    );
    // An unknown user is refused for good.
    let error = connector
        .call(&call(ActionKind::SuspendUser, TargetKind::User, "nobody"))
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectorError::Permanent(_)), "{error}");
}

#[tokio::test]
async fn the_edr_contains_the_one_device_its_hostname_names() {
    let (url, seen) = server(Box::new(|request| {
        Some(if request.path.starts_with("/devices/queries/devices/v1") {
            if request.path.contains("WS1") {
                (200, r#"{"resources":["d3v1ce"]}"#.into())
            } else {
                (200, r#"{"resources":["a","b"]}"#.into())
            }
        } else {
            (202, r#"{"resources":[{"id":"d3v1ce"}]}"#.into())
        })
    }));
    let connector = HttpConnector::new(config("edr", ConnectorType::Edr, &url), client()).unwrap();
    connector
        .call(&call(ActionKind::IsolateHost, TargetKind::Host, "WS1"))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0].path,
        "/devices/queries/devices/v1?filter=hostname%3A%27WS1%27"
    );
    assert_eq!(
        seen[1].path,
        "/devices/entities/devices-actions/v2?action_name=contain"
    );
    assert_eq!(seen[1].body, r#"{"ids":["d3v1ce"]}"#);
    // Two devices answer to the name: nothing is contained.
    let error = connector
        .call(&call(ActionKind::IsolateHost, TargetKind::Host, "SHARED"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("exactly one"), "{error}");
}

#[tokio::test]
async fn failures_are_told_apart_transient_permanent_and_ambiguous() {
    let (url, seen) = server(Box::new(|request| match request.path.as_str() {
        "/busy" => Some((503, "try later".into())),
        "/refused" => Some((403, "forbidden".into())),
        _ => None,
    }));
    let webhook = |path: &str| {
        HttpConnector::new(
            config("hook", ConnectorType::Webhook, &format!("{url}{path}")),
            client(),
        )
        .unwrap()
    };
    let ticket = call(ActionKind::OpenTicket, TargetKind::Incident, "inc-1");
    let busy = webhook("/busy").call(&ticket).await.unwrap_err();
    assert!(matches!(busy, ConnectorError::Transient(_)), "{busy}");
    let refused = webhook("/refused").call(&ticket).await.unwrap_err();
    assert!(matches!(refused, ConnectorError::Permanent(_)), "{refused}");
    let silent = webhook("/silent").call(&ticket).await.unwrap_err();
    assert!(matches!(silent, ConnectorError::Ambiguous(_)), "{silent}");
    // Nobody listening: nothing was sent, so it is safe to try again.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}/x", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = HttpConnector::new(config("x", ConnectorType::Webhook, &nobody), client())
        .unwrap()
        .call(&ticket)
        .await
        .unwrap_err();
    assert!(
        matches!(unreachable, ConnectorError::Transient(_)),
        "{unreachable}"
    );
    // The default webhook body carries everything, JSON-escaped.
    let body: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[0].body).unwrap();
    assert_eq!(body["action"], "open_ticket");
    assert_eq!(body["summary"], "LSASS dumped on WS1");
}
