//! HTTP inputs: a Splunk HTTP Event Collector (`/services/collector/event`, `/raw`,
//! `/health`) and the Elasticsearch bulk API (`/_bulk`, `/{index}/_bulk`, and `GET /` for
//! the version check shippers make). Every request needs a token; a request is accepted whole
//! or not at all, and answered only once its records are in the spool. A spool that is behind
//! answers "busy" (HEC 503, Elasticsearch 429), which shippers retry.

use crate::config::Tokens;
use crate::intake::Intake;
use crate::spool::{Appended, Spool};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Which API an HTTP input speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Hec,
    Elasticsearch,
}

#[derive(Debug)]
struct Inner {
    intake: Intake,
    tokens: Tokens,
    /// JSON objects.
    json: Spool,
    /// Text events (HEC string events and raw lines); Elasticsearch takes JSON only.
    text: Option<Spool>,
    max_body: usize,
}

#[derive(Debug, Clone)]
pub struct HttpInput(Arc<Inner>);

impl HttpInput {
    pub fn new(
        intake: Intake,
        tokens: Tokens,
        json: Spool,
        text: Option<Spool>,
        max_body: usize,
    ) -> HttpInput {
        HttpInput(Arc::new(Inner {
            intake,
            tokens,
            json,
            text,
            max_body,
        }))
    }
}

/// The routes of `api`.
pub fn router(api: Api, input: HttpInput) -> Router {
    let limit = DefaultBodyLimit::max(input.0.max_body);
    let router = match api {
        Api::Hec => Router::new()
            .route("/services/collector", post(hec_event))
            .route("/services/collector/event", post(hec_event))
            .route("/services/collector/event/1.0", post(hec_event))
            .route("/services/collector/raw", post(hec_raw))
            .route("/services/collector/raw/1.0", post(hec_raw))
            // As Splunk's, the health check needs no token (load balancers probe it) and
            // says nothing but whether the spools take data.
            .route("/services/collector/health", get(hec_health))
            .route("/services/collector/health/1.0", get(hec_health))
            .fallback(|| async {
                hec_reply(
                    StatusCode::NOT_FOUND,
                    "The requested URL was not found on this server.",
                    404,
                )
            }),
        Api::Elasticsearch => Router::new()
            .route("/", get(es_root).head(es_root))
            .route("/_bulk", post(es_bulk).put(es_bulk))
            .route("/{index}/_bulk", post(es_bulk_index).put(es_bulk_index))
            .fallback(|| async {
                es_error(
                    StatusCode::NOT_FOUND,
                    "no_handler_found_exception",
                    "garrison serves / and _bulk only",
                )
            }),
    };
    router.layer(limit).with_state(input)
}

// ---- authentication ----

enum Auth {
    Ok,
    Missing,
    Malformed,
    Wrong,
}

/// Checks `Authorization`: `Splunk T`, `Bearer T`, `ApiKey T`, or Basic with the token as
/// the password.
fn authenticate(tokens: &Tokens, headers: &HeaderMap) -> Auth {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Auth::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Auth::Malformed;
    };
    let Some((scheme, credential)) = value.trim().split_once(' ') else {
        return Auth::Malformed;
    };
    let credential = credential.trim();
    let presented: Vec<u8> = match scheme.to_ascii_lowercase().as_str() {
        "splunk" | "bearer" | "apikey" => credential.as_bytes().to_vec(),
        "basic" => match base64::engine::general_purpose::STANDARD.decode(credential) {
            Ok(decoded) => match decoded.iter().position(|&b| b == b':') {
                Some(colon) => decoded[colon + 1..].to_vec(),
                None => return Auth::Malformed,
            },
            Err(_) => return Auth::Malformed,
        },
        _ => return Auth::Malformed,
    };
    match tokens.accepts(&presented) {
        true => Auth::Ok,
        false => Auth::Wrong,
    }
}

/// The body, gunzipped when it says so (at most `limit` bytes once inflated).
fn body_bytes(headers: &HeaderMap, body: &Bytes, limit: usize) -> Result<Vec<u8>, String> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut inflated = Vec::new();
    flate2::read::MultiGzDecoder::new(&body[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|error| format!("gzip body unreadable: {error}"))?;
    if inflated.len() > limit {
        return Err(format!("gzip body inflates past the {limit}-byte limit"));
    }
    Ok(inflated)
}

/// Appends to `spool` unless it is behind; `None` when busy.
async fn append(spool: Option<&Spool>, records: Vec<Vec<u8>>) -> Option<Result<Appended, String>> {
    let Some(spool) = spool.filter(|_| !records.is_empty()) else {
        return Some(Ok(Appended { first: 0, count: 0 }));
    };
    spool
        .try_append(records)
        .await
        .map(|result| result.map_err(|error| error.to_string()))
}

// ---- Splunk HEC ----

fn hec_reply(status: StatusCode, text: &str, code: u32) -> Response {
    (status, axum::Json(json!({"text": text, "code": code}))).into_response()
}

fn hec_invalid(text: &str, code: u32, event: usize) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"text": text, "code": code, "invalid-event-number": event})),
    )
        .into_response()
}

fn hec_auth(input: &Inner, headers: &HeaderMap) -> Option<Response> {
    let refused = match authenticate(&input.tokens, headers) {
        Auth::Ok => return None,
        Auth::Missing => hec_reply(StatusCode::UNAUTHORIZED, "Token is required", 2),
        Auth::Malformed => hec_reply(StatusCode::UNAUTHORIZED, "Invalid authorization", 3),
        Auth::Wrong => hec_reply(StatusCode::FORBIDDEN, "Invalid token", 4),
    };
    input
        .intake
        .stats
        .unauthorized
        .fetch_add(1, Ordering::Relaxed);
    Some(refused)
}

/// The JSON records and the text records of a request.
type Split = (Vec<Vec<u8>>, Vec<Vec<u8>>);
/// A bad HEC event: its number (0-based), and Splunk's text and code for the fault.
type BadEvent = (usize, &'static str, u32);

/// Splits an HEC event body (JSON objects one after another) into JSON records and text
/// records; `Err` names the first bad event and why.
pub fn hec_events(body: &[u8]) -> Result<Split, BadEvent> {
    let (mut json_records, mut text_records) = (Vec::new(), Vec::new());
    let stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    let mut count = 0;
    for (index, value) in stream.enumerate() {
        count = index + 1;
        let Ok(Value::Object(mut envelope)) = value else {
            return Err((index, "Invalid data format", 6));
        };
        match envelope.remove("event") {
            None => return Err((index, "Event field is required", 12)),
            Some(Value::Null) => return Err((index, "Event field cannot be blank", 13)),
            Some(Value::String(text)) if text.trim().is_empty() => {
                return Err((index, "Event field cannot be blank", 13));
            }
            Some(Value::String(text)) => {
                match serde_json::from_str::<Value>(text.trim()) {
                    // A JSON object sent as text (sourcetype _json) is read as JSON.
                    Ok(object @ Value::Object(_)) => {
                        json_records.push(object.to_string().into_bytes())
                    }
                    _ => text_records.push(text.into_bytes()),
                }
            }
            Some(object @ Value::Object(_)) => json_records.push(object.to_string().into_bytes()),
            Some(other) => text_records.push(other.to_string().into_bytes()),
        }
    }
    if count == 0 {
        return Err((0, "No data", 5));
    }
    Ok((json_records, text_records))
}

/// A HEC request's body, once its token is checked and it is inflated; or the answer.
fn hec_body(input: &Inner, headers: &HeaderMap, body: &Bytes) -> Result<Vec<u8>, Box<Response>> {
    if let Some(refused) = hec_auth(input, headers) {
        return Err(Box::new(refused));
    }
    body_bytes(headers, body, input.max_body).map_err(|reason| {
        input.intake.refuse(None, &reason, body);
        Box::new(hec_invalid("Invalid data format", 6, 0))
    })
}

async fn hec_event(State(input): State<HttpInput>, headers: HeaderMap, body: Bytes) -> Response {
    let input = &input.0;
    let body = match hec_body(input, &headers, &body) {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let (json_records, text_records) = match hec_events(&body) {
        Ok(records) => records,
        Err((_, text, 5)) => return hec_reply(StatusCode::BAD_REQUEST, text, 5),
        Err((event, text, code)) => {
            input
                .intake
                .refuse(None, &format!("HEC event {event}: {text}"), &body);
            return hec_invalid(text, code, event);
        }
    };
    store(input, json_records, text_records, Api::Hec).await
}

async fn hec_raw(State(input): State<HttpInput>, headers: HeaderMap, body: Bytes) -> Response {
    let input = &input.0;
    let body = match hec_body(input, &headers, &body) {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let lines: Vec<Vec<u8>> = crate::intake::text_lines(&body)
        .map(<[u8]>::to_vec)
        .collect();
    if lines.is_empty() {
        return hec_reply(StatusCode::BAD_REQUEST, "No data", 5);
    }
    store(input, Vec::new(), lines, Api::Hec).await
}

async fn hec_health(State(input): State<HttpInput>) -> Response {
    let input = &input.0;
    if input.json.is_full() || input.text.as_ref().is_some_and(Spool::is_full) {
        return hec_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "HEC is unhealthy, queues are full",
            18,
        );
    }
    hec_reply(StatusCode::OK, "HEC is healthy", 17)
}

/// Spools a request's records (JSON first, then text); answers once both are committed.
async fn store(
    input: &Inner,
    json_records: Vec<Vec<u8>>,
    text_records: Vec<Vec<u8>>,
    api: Api,
) -> Response {
    let count = (json_records.len() + text_records.len()) as u64;
    let busy = || {
        input.intake.stats.busy.fetch_add(1, Ordering::Relaxed);
        match api {
            Api::Hec => hec_reply(StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9),
            Api::Elasticsearch => es_error(
                StatusCode::TOO_MANY_REQUESTS,
                "es_rejected_execution_exception",
                "the spool is behind; retry",
            ),
        }
    };
    let failed = |error: String| {
        tracing::warn!("garrison serve: {}: {error}", input.intake.input);
        match api {
            Api::Hec => hec_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                8,
            ),
            Api::Elasticsearch => es_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "the spool could not be written",
            ),
        }
    };
    // Both spools are checked before either is written, so a request is not half taken
    // when one is behind (a commit in flight can still fail; the sender then retries).
    if input.json.is_full() || input.text.as_ref().is_some_and(Spool::is_full) {
        return busy();
    }
    let (json, text) = tokio::join!(
        append(Some(&input.json), json_records),
        append(input.text.as_ref(), text_records)
    );
    match (json, text) {
        (Some(Ok(_)), Some(Ok(_))) => {
            input
                .intake
                .stats
                .accepted
                .fetch_add(count, Ordering::Relaxed);
            hec_reply(StatusCode::OK, "Success", 0)
        }
        (Some(Err(error)), _) | (_, Some(Err(error))) => failed(error),
        _ => busy(),
    }
}

// ---- Elasticsearch ----

fn es_error(status: StatusCode, kind: &str, reason: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({
            "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": status.as_u16(),
        })),
    )
        .into_response();
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

fn es_auth(input: &Inner, headers: &HeaderMap) -> Option<Response> {
    match authenticate(&input.tokens, headers) {
        Auth::Ok => None,
        _ => {
            input
                .intake
                .stats
                .unauthorized
                .fetch_add(1, Ordering::Relaxed);
            let mut response = es_error(
                StatusCode::UNAUTHORIZED,
                "security_exception",
                "missing or unknown token",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("ApiKey, Bearer, Basic realm=\"garrison\""),
            );
            Some(response)
        }
    }
}

async fn es_root(State(input): State<HttpInput>, headers: HeaderMap) -> Response {
    if let Some(refused) = es_auth(&input.0, &headers) {
        return refused;
    }
    let mut response = axum::Json(json!({
        "name": "garrison",
        "cluster_name": "garrison",
        "version": {
            "number": "8.11.0",
            "build_flavor": "default",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    }))
    .into_response();
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

async fn es_bulk(state: State<HttpInput>, headers: HeaderMap, body: Bytes) -> Response {
    bulk(state, None, headers, body).await
}

async fn es_bulk_index(
    state: State<HttpInput>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bulk(state, Some(index), headers, body).await
}

/// One bulk operation's place in the answer.
#[derive(Debug)]
struct Operation {
    action: String,
    index: String,
    id: Option<String>,
    /// Where its document went in the records; `None` for refused operations.
    record: Option<usize>,
}

/// Reads a bulk body: the documents of `index`/`create` actions, and every operation.
fn bulk_operations(
    body: &[u8],
    default_index: &str,
) -> Result<(Vec<Vec<u8>>, Vec<Operation>), String> {
    let mut lines = body
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty());
    let (mut records, mut operations) = (Vec::new(), Vec::new());
    while let Some((number, line)) = lines.next() {
        let action: serde_json::Map<String, Value> =
            serde_json::from_slice(line).map_err(|error| {
                format!(
                    "line {}: the action is not a JSON object: {error}",
                    number + 1
                )
            })?;
        let (name, meta) = match action.iter().next() {
            Some((name, meta)) if action.len() == 1 => (name.clone(), meta.clone()),
            _ => {
                return Err(format!(
                    "line {}: an action names one operation",
                    number + 1
                ));
            }
        };
        let index = meta
            .get("_index")
            .and_then(Value::as_str)
            .unwrap_or(default_index)
            .to_string();
        let id = meta.get("_id").and_then(Value::as_str).map(str::to_string);
        match name.as_str() {
            "index" | "create" => {
                let Some((number, document)) = lines.next() else {
                    return Err(format!("line {}: {name} without its document", number + 1));
                };
                match serde_json::from_slice::<&serde_json::value::RawValue>(document) {
                    Ok(raw) if raw.get().starts_with('{') => {}
                    _ => {
                        return Err(format!(
                            "line {}: the document is not a JSON object",
                            number + 1
                        ));
                    }
                }
                operations.push(Operation {
                    action: name,
                    index,
                    id,
                    record: Some(records.len()),
                });
                records.push(document.trim_ascii().to_vec());
            }
            "update" => {
                // Its document line follows, but an update changes nothing here.
                if lines.next().is_none() {
                    return Err(format!("line {}: update without its document", number + 1));
                }
                operations.push(Operation {
                    action: name,
                    index,
                    id,
                    record: None,
                });
            }
            "delete" => operations.push(Operation {
                action: name,
                index,
                id,
                record: None,
            }),
            other => return Err(format!("line {}: unknown action {other:?}", number + 1)),
        }
    }
    if operations.is_empty() {
        return Err("request body is required".into());
    }
    Ok((records, operations))
}

async fn bulk(
    State(input): State<HttpInput>,
    index: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let input = &input.0;
    if let Some(refused) = es_auth(input, &headers) {
        return refused;
    }
    let body = match body_bytes(&headers, &body, input.max_body) {
        Ok(body) => body,
        Err(reason) => {
            input.intake.refuse(None, &reason, &body);
            return es_error(StatusCode::BAD_REQUEST, "parse_exception", &reason);
        }
    };
    let (records, operations) = match bulk_operations(&body, index.as_deref().unwrap_or("garrison"))
    {
        Ok(parsed) => parsed,
        Err(reason) => {
            input
                .intake
                .refuse(None, &format!("bulk request: {reason}"), &body);
            return es_error(
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                &reason,
            );
        }
    };
    let count = records.len() as u64;
    if input.json.is_full() {
        input.intake.stats.busy.fetch_add(1, Ordering::Relaxed);
        return es_error(
            StatusCode::TOO_MANY_REQUESTS,
            "es_rejected_execution_exception",
            "the spool is behind; retry",
        );
    }
    let appended = match append(Some(&input.json), records).await {
        Some(Ok(appended)) => appended,
        Some(Err(error)) => {
            tracing::warn!("garrison serve: {}: {error}", input.intake.input);
            return es_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "the spool could not be written",
            );
        }
        None => {
            input.intake.stats.busy.fetch_add(1, Ordering::Relaxed);
            return es_error(
                StatusCode::TOO_MANY_REQUESTS,
                "es_rejected_execution_exception",
                "the spool is behind; retry",
            );
        }
    };
    input
        .intake
        .stats
        .accepted
        .fetch_add(count, Ordering::Relaxed);
    let mut errors = false;
    let items: Vec<Value> = operations
        .into_iter()
        .map(|operation| {
            let item = match operation.record {
                Some(record) => {
                    let sequence = appended.first + record as u64;
                    json!({
                        "_index": operation.index,
                        "_id": operation.id.unwrap_or_else(|| sequence.to_string()),
                        "_version": 1,
                        "result": "created",
                        "_shards": {"total": 1, "successful": 1, "failed": 0},
                        "_seq_no": sequence,
                        "_primary_term": 1,
                        "status": 201,
                    })
                }
                None => {
                    errors = true;
                    json!({
                        "_index": operation.index,
                        "_id": operation.id,
                        "status": 400,
                        "error": {
                            "type": "illegal_argument_exception",
                            "reason": format!("garrison keeps records as evidence and takes index and create only, not {}", operation.action),
                        },
                    })
                }
            };
            json!({ operation.action: item })
        })
        .collect();
    let mut response = axum::Json(json!({
        "took": started.elapsed().as_millis() as u64,
        "errors": errors,
        "items": items,
    }))
    .into_response();
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hec_bodies_split_into_json_and_text_records() {
        let body = br#"{"time":1,"event":{"a":1}}{"event":"plain line","host":"h"}
{"event":"{\"b\":2}","sourcetype":"_json"}"#;
        let (json_records, text_records) = hec_events(body).unwrap();
        assert_eq!(
            json_records,
            [br#"{"a":1}"#.to_vec(), br#"{"b":2}"#.to_vec()]
        );
        assert_eq!(text_records, [b"plain line".to_vec()]);
        assert_eq!(
            hec_events(br#"{"event":"x"}{"host":"h"}"#).unwrap_err(),
            (1, "Event field is required", 12)
        );
        assert_eq!(
            hec_events(br#"{"event":"x"} {"event":"#).unwrap_err(),
            (1, "Invalid data format", 6)
        );
        assert_eq!(
            hec_events(br#"{"event":""}"#).unwrap_err(),
            (0, "Event field cannot be blank", 13)
        );
        assert_eq!(hec_events(b"  ").unwrap_err(), (0, "No data", 5));
    }

    #[test]
    fn bulk_bodies_keep_documents_byte_for_byte() {
        let body = b"{\"index\":{\"_index\":\"winlogbeat\"}}\n{\"event\":{\"code\":\"4624\"}}\n{\"delete\":{\"_id\":\"9\"}}\n{\"create\":{}}\r\n{\"x\": 1}\n";
        let (records, operations) = bulk_operations(body, "garrison").unwrap();
        assert_eq!(
            records,
            [
                br#"{"event":{"code":"4624"}}"#.to_vec(),
                br#"{"x": 1}"#.to_vec()
            ]
        );
        let summary: Vec<(&str, &str, Option<usize>)> = operations
            .iter()
            .map(|o| (o.action.as_str(), o.index.as_str(), o.record))
            .collect();
        assert_eq!(
            summary,
            [
                ("index", "winlogbeat", Some(0)),
                ("delete", "garrison", None),
                ("create", "garrison", Some(1))
            ]
        );
        assert!(
            bulk_operations(b"{\"index\":{}}\n[1]\n", "g")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(
            bulk_operations(b"{\"index\":{}}\n", "g")
                .unwrap_err()
                .contains("without its document")
        );
        assert!(
            bulk_operations(b"{\"upsert\":{}}\n{}\n", "g")
                .unwrap_err()
                .contains("unknown action")
        );
    }

    #[test]
    fn tokens_are_read_from_every_scheme_shippers_use() {
        let tokens = Tokens::new(&["0123456789abcdef"]);
        let check = |value: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            }
            match authenticate(&tokens, &headers) {
                Auth::Ok => "ok",
                Auth::Missing => "missing",
                Auth::Malformed => "malformed",
                Auth::Wrong => "wrong",
            }
        };
        assert_eq!(check(Some("Splunk 0123456789abcdef")), "ok");
        assert_eq!(check(Some("Bearer 0123456789abcdef")), "ok");
        assert_eq!(check(Some("ApiKey 0123456789abcdef")), "ok");
        let basic = base64::engine::general_purpose::STANDARD.encode("elastic:0123456789abcdef");
        assert_eq!(check(Some(&format!("Basic {basic}"))), "ok");
        assert_eq!(check(Some("Splunk 0123456789abcdeX")), "wrong");
        assert_eq!(check(Some("0123456789abcdef")), "malformed");
        assert_eq!(check(None), "missing");
    }
}
