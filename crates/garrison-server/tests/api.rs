//! The API's behaviour, through the router without a socket: the queue's order, filters and
//! pages, an incident with its actions, its evidence, verdicts and approvals written with the
//! caller's name and found again in the audit log, and errors in one shape.

mod api_support;

use api_support::{bearer, call, fixture};
use garrison_model::action::ActionState;
use garrison_model::feedback::AnalystVerdict;
use garrison_store::{ActionStore, VerdictStore};
use serde_json::json;

#[tokio::test]
async fn the_queue_puts_escalated_incidents_first_and_filters_and_pages() {
    let fixture = fixture();
    let viewer = bearer(&fixture.tokens["viewer"]);
    let get = |path: String| {
        let (router, viewer) = (fixture.router.clone(), viewer.clone());
        async move { call(&router, "GET", &path, Some(&viewer), None).await }
    };
    let all = get("/api/v1/incidents".into()).await;
    assert_eq!(all.status, 200, "{}", all.body);
    let ids: Vec<&str> = all.body["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|incident| incident["id"].as_str().unwrap())
        .collect();
    // The merged incident is left out; the escalated one comes first.
    assert_eq!(
        ids,
        [fixture.escalated.0.as_str(), fixture.quiet.0.as_str()]
    );
    assert_eq!(all.body["total"], 2);
    let first = &all.body["incidents"][0];
    assert_eq!(first["severity"], "high");
    assert_eq!(first["escalated"], true);
    assert_eq!(first["hosts"], json!(["WS1"]));
    assert_eq!(first["alerts"], 1);
    assert_eq!(first["verification"], "verified");

    let with_merged = get("/api/v1/incidents?superseded=true".into()).await;
    assert_eq!(with_merged.body["total"], 3);
    let severe = get("/api/v1/incidents?min_severity=high".into()).await;
    assert_eq!(severe.body["total"], 1);
    let on_ws2 = get("/api/v1/incidents?host=ws2".into()).await;
    assert_eq!(on_ws2.body["incidents"][0]["id"], fixture.quiet.0.as_str());
    let text = get("/api/v1/incidents?q=LSASS&escalated=false".into()).await;
    assert_eq!(text.body["total"], 1);
    let second_page = get("/api/v1/incidents?limit=1&offset=1".into()).await;
    assert_eq!(second_page.body["total"], 2);
    assert_eq!(second_page.body["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(
        second_page.body["incidents"][0]["id"],
        fixture.quiet.0.as_str()
    );

    for bad in [
        "/api/v1/incidents?limit=0",
        "/api/v1/incidents?limit=501",
        "/api/v1/incidents?min_severity=extreme",
        "/api/v1/incidents?colour=red",
    ] {
        let answer = get(bad.into()).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (400, "invalid_request"),
            "{bad}"
        );
        assert!(!answer.body["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn an_incident_comes_with_its_actions_and_its_evidence_reads_back() {
    let fixture = fixture();
    let viewer = bearer(&fixture.tokens["viewer"]);
    let detail = call(
        &fixture.router,
        "GET",
        &format!("/api/v1/incidents/{}", fixture.escalated),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert_eq!(
        detail.body["incident"]["title"],
        "Credential dumping on WS1"
    );
    let actions = detail.body["actions"].as_array().unwrap();
    assert_eq!(
        actions
            .iter()
            .filter(|action| action["state"] == "awaiting_approval")
            .count(),
        fixture.awaiting.len()
    );
    assert!(detail.body["acknowledged"].is_null());
    let cited = detail.body["incident"]["alerts"][0]["evidence"]
        .as_str()
        .unwrap();
    assert_eq!(cited, fixture.evidence.to_string());

    let evidence = call(
        &fixture.router,
        "GET",
        &format!("/api/v1/evidence/{cited}"),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(evidence.status, 200);
    assert_eq!(evidence.body["host"], "WS1");
    assert_eq!(evidence.body["event_id"], 4688);
    assert_eq!(evidence.body["source"]["path"], "C:/logs/ws1-security.evtx");
    assert_eq!(evidence.body["source"]["record_id"], 7);
    assert_eq!(evidence.body["fields"][1]["name"], "CommandLine");
    assert_eq!(
        evidence.body["fields"][1]["value"],
        "rundll32 comsvcs.dll MiniDump"
    );

    let missing = call(
        &fixture.router,
        "GET",
        "/api/v1/incidents/inc-nothing",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (404, "not_found")
    );
    let bad_id = call(
        &fixture.router,
        "GET",
        "/api/v1/evidence/42",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(
        (bad_id.status.as_u16(), bad_id.code()),
        (400, "invalid_request")
    );
    let no_route = call(
        &fixture.router,
        "GET",
        "/api/v1/nothing",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(
        (no_route.status.as_u16(), no_route.code()),
        (404, "not_found")
    );
}

#[tokio::test]
async fn verdicts_and_approvals_are_stored_and_audited_under_the_callers_name() {
    let fixture = fixture();
    let analyst = bearer(&fixture.tokens["analyst"]);
    let responder = bearer(&fixture.tokens["responder"]);
    let verdict = call(
        &fixture.router,
        "POST",
        &format!("/api/v1/incidents/{}/verdict", fixture.escalated),
        Some(&analyst),
        Some(json!({"verdict": "true_positive", "note": "confirmed with the host owner"})),
    )
    .await;
    assert_eq!(verdict.status, 201, "{}", verdict.body);
    assert_eq!(verdict.body["by"], "user:alice");
    let stored = fixture.store.verdicts().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].verdict, AnalystVerdict::TruePositive);
    assert_eq!(stored[0].alerts.len(), 1);
    assert_eq!(stored[0].alerts[0].1.host.as_deref(), Some("ws1"));

    let malformed = call(
        &fixture.router,
        "POST",
        &format!("/api/v1/incidents/{}/verdict", fixture.escalated),
        Some(&analyst),
        Some(json!({"verdict": "probably"})),
    )
    .await;
    assert_eq!(
        (malformed.status.as_u16(), malformed.code()),
        (400, "invalid_request")
    );
    assert_eq!(fixture.store.verdicts().unwrap().len(), 1, "nothing stored");

    let key = &fixture.awaiting[0];
    let approved = call(
        &fixture.router,
        "POST",
        &format!("/api/v1/actions/{key}/approve"),
        Some(&responder),
        None,
    )
    .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.body["state"], "approved");
    let record = fixture.store.action(key).unwrap().unwrap();
    assert_eq!(record.state, ActionState::Approved);
    assert_eq!(record.decided_by.as_deref(), Some("user:bob"));
    let again = call(
        &fixture.router,
        "POST",
        &format!("/api/v1/actions/{key}/approve"),
        Some(&responder),
        None,
    )
    .await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "conflict"));

    let other = &fixture.awaiting[1];
    let no_reason = call(
        &fixture.router,
        "POST",
        &format!("/api/v1/actions/{other}/reject"),
        Some(&responder),
        Some(json!({"reason": "  "})),
    )
    .await;
    assert_eq!(no_reason.status, 400);
    let rejected = call(
        &fixture.router,
        "POST",
        &format!("/api/v1/actions/{other}/reject"),
        Some(&responder),
        Some(json!({"reason": "host owner is on it"})),
    )
    .await;
    assert_eq!(rejected.body["state"], "rejected");
    let inbox = call(
        &fixture.router,
        "GET",
        "/api/v1/actions?state=awaiting_approval",
        Some(&responder),
        None,
    )
    .await;
    let left = inbox.body["actions"].as_array().unwrap();
    assert_eq!(left.len(), fixture.awaiting.len() - 2);
    assert!(
        left.iter()
            .all(|action| action["key"] != key.as_str() && action["key"] != other.as_str())
    );
    let missing = call(
        &fixture.router,
        "POST",
        "/api/v1/actions/no-such-key/approve",
        Some(&responder),
        None,
    )
    .await;
    assert_eq!(missing.status, 404);

    // The audit log holds each decision under the person's name, and its chain is intact.
    let by_bob = call(
        &fixture.router,
        "GET",
        "/api/v1/audit?actor=user:bob",
        Some(&analyst),
        None,
    )
    .await;
    let actions: Vec<&str> = by_bob.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["response_approved", "response_rejected"]);
    let by_alice = call(
        &fixture.router,
        "GET",
        "/api/v1/audit?actor=user:alice&action=decision_recorded",
        Some(&analyst),
        None,
    )
    .await;
    let entries = by_alice.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0]["detail"]
            .as_str()
            .unwrap()
            .contains("confirmed with the host owner")
    );
    let page = call(
        &fixture.router,
        "GET",
        "/api/v1/audit?limit=2",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(page.body["entries"].as_array().unwrap().len(), 2);
    assert_eq!(page.body["entries"][0]["seq"], 1);
    let next = page.body["next"].as_u64().unwrap();
    let following = call(
        &fixture.router,
        "GET",
        &format!("/api/v1/audit?from={next}&limit=1"),
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(following.body["entries"][0]["seq"], 3);
    assert_eq!(
        following.body["entries"][0]["prev_hash"],
        page.body["entries"][1]["hash"]
    );
    let verified = call(
        &fixture.router,
        "GET",
        "/api/v1/audit/verify",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(verified.body["intact"], true);
    let checked = verified.body["checked"].as_u64().unwrap();
    assert!(
        verified.body["head"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{checked}:"))
    );
}

#[tokio::test]
async fn taking_an_incident_on_is_recorded_once() {
    let fixture = fixture();
    let analyst = bearer(&fixture.tokens["analyst"]);
    let path = format!("/api/v1/incidents/{}/acknowledge", fixture.escalated);
    let taken = call(&fixture.router, "POST", &path, Some(&analyst), None).await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(taken.body["by"], "user:alice");
    let twice = call(&fixture.router, "POST", &path, Some(&analyst), None).await;
    assert_eq!((twice.status.as_u16(), twice.code()), (409, "conflict"));
    let detail = call(
        &fixture.router,
        "GET",
        &format!("/api/v1/incidents/{}", fixture.escalated),
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(detail.body["acknowledged"]["by"], "user:alice");
}

#[tokio::test]
async fn metrics_count_what_the_store_holds_in_the_text_format() {
    let fixture = fixture();
    let viewer = bearer(&fixture.tokens["viewer"]);
    let request = axum::http::Request::builder()
        .uri("/metrics")
        .header("authorization", &viewer)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(fixture.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains("# TYPE garrison_incidents gauge"), "{text}");
    assert!(
        text.contains("garrison_incidents{escalated=\"true\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("garrison_incidents{escalated=\"false\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "garrison_response_actions{{state=\"awaiting_approval\"}} {}\n",
            fixture.awaiting.len()
        )),
        "{text}"
    );
    let audit: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("garrison_audit_entries "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        audit,
        garrison_store::Store::audit_head(fixture.store.as_ref())
            .unwrap()
            .unwrap()
            .seq
    );
    // Without agents in this process, their families are there and empty.
    assert!(text.contains("# TYPE garrison_agent_restarts_total counter"));
    let agents = call(
        &fixture.router,
        "GET",
        "/api/v1/agents",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(agents.body["agents"], json!([]));
    let none = call(&fixture.router, "GET", "/metrics", None, None).await;
    assert_eq!(none.status, 401);
}

#[tokio::test]
async fn watchers_hear_of_each_incident_version_as_it_is_reported() {
    let fixture = fixture();
    let request = axum::http::Request::builder()
        .uri("/api/v1/events")
        .header("authorization", bearer(&fixture.tokens["viewer"]))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(fixture.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut incident = api_support::incident(
        "inc-00000000000000e9",
        "WS9",
        garrison_model::Level::Critical,
        true,
    );
    incident.version = 3;
    fixture.console.feed().incident(&incident);
    let mut received = String::new();
    while !received.contains("\n\n") {
        let frame = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            http_body_util::BodyExt::frame(&mut body),
        )
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
        if let Ok(data) = frame.into_data() {
            received.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(received.starts_with("event: incident\n"), "{received}");
    let data = received
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap();
    let update: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(update["id"], "inc-00000000000000e9");
    assert_eq!(update["version"], 3);
    assert_eq!(update["severity"], "critical");
    assert_eq!(update["escalated"], true);
}

#[tokio::test]
async fn an_incident_is_worked_with_a_status_an_assignee_and_comments() {
    let fixture = fixture();
    let analyst = bearer(&fixture.tokens["analyst"]);
    let path = format!("/api/v1/incidents/{}", fixture.escalated);
    let taken = call(
        &fixture.router,
        "PATCH",
        &path,
        Some(&analyst),
        Some(json!({"status": "in_progress", "assignee": "bob"})),
    )
    .await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(taken.body["status"], "in_progress");
    assert_eq!(taken.body["assignee"], "bob");
    assert_eq!(taken.body["updated_by"], "user:alice");
    for (bad, answer, why) in [
        (
            json!({"assignee": "mallory"}),
            (409, "conflict"),
            "no such user",
        ),
        (
            json!({"assignee": "dora"}),
            (409, "conflict"),
            "a disabled user",
        ),
        (
            json!({"status": "done"}),
            (400, "invalid_request"),
            "no such status",
        ),
    ] {
        let got = call(&fixture.router, "PATCH", &path, Some(&analyst), Some(bad)).await;
        assert_eq!((got.status.as_u16(), got.code()), answer, "{why}");
    }
    // An empty change changes nothing and writes nothing.
    let entries = garrison_store::Store::audit_head(fixture.store.as_ref())
        .unwrap()
        .unwrap()
        .seq;
    let same = call(
        &fixture.router,
        "PATCH",
        &path,
        Some(&analyst),
        Some(json!({"status": null})),
    )
    .await;
    assert_eq!(
        (same.status.as_u16(), same.body["assignee"].as_str()),
        (200, Some("bob"))
    );
    assert_eq!(
        garrison_store::Store::audit_head(fixture.store.as_ref())
            .unwrap()
            .unwrap()
            .seq,
        entries
    );
    let comment = call(
        &fixture.router,
        "POST",
        &format!("{path}/comments"),
        Some(&analyst),
        Some(json!({"text": "  owner says the dump was not theirs  "})),
    )
    .await;
    assert_eq!(comment.status, 201, "{}", comment.body);
    assert_eq!(comment.body["text"], "owner says the dump was not theirs");
    let blank = call(
        &fixture.router,
        "POST",
        &format!("{path}/comments"),
        Some(&analyst),
        Some(json!({"text": "   "})),
    )
    .await;
    assert_eq!(blank.status, 400);

    // The detail, the queue's filters and the audit log all show it.
    let detail = call(&fixture.router, "GET", &path, Some(&analyst), None).await;
    assert_eq!(detail.body["case"]["assignee"], "bob");
    assert_eq!(detail.body["comments"].as_array().unwrap().len(), 1);
    let listed = call(
        &fixture.router,
        "GET",
        &format!("{path}/comments"),
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(listed.body["comments"][0]["by"], "user:alice");
    let in_progress = call(
        &fixture.router,
        "GET",
        "/api/v1/incidents?status=in_progress",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(in_progress.body["total"], 1);
    assert_eq!(in_progress.body["incidents"][0]["assignee"], "bob");
    let open = call(
        &fixture.router,
        "GET",
        "/api/v1/incidents?status=open",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(open.body["incidents"][0]["id"], fixture.quiet.0.as_str());
    assert_eq!(open.body["total"], 1);
    let bobs = call(
        &fixture.router,
        "GET",
        "/api/v1/incidents?assignee=bob",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(bobs.body["total"], 1);
    let audit = call(
        &fixture.router,
        "GET",
        &format!(
            "/api/v1/audit?subject={}&actor=user:alice",
            fixture.escalated
        ),
        Some(&analyst),
        None,
    )
    .await;
    let details: Vec<&str> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "status open -> in_progress; assigned to bob",
            "34 characters"
        ]
    );

    // Unassigning keeps the status.
    let unassigned = call(
        &fixture.router,
        "PATCH",
        &path,
        Some(&analyst),
        Some(json!({"assignee": ""})),
    )
    .await;
    assert_eq!(unassigned.body["status"], "in_progress");
    assert!(unassigned.body["assignee"].is_null());
}

#[tokio::test]
async fn a_responder_puts_another_target_in_place_of_an_actions() {
    let fixture = fixture();
    let responder = bearer(&fixture.tokens["responder"]);
    let key = &fixture.awaiting[0];
    let original = fixture.store.action(key).unwrap().unwrap();
    let path = format!("/api/v1/actions/{key}/modify");
    let modified = call(
        &fixture.router,
        "POST",
        &path,
        Some(&responder),
        Some(json!({"value": "WS7"})),
    )
    .await;
    assert_eq!(modified.status, 200, "{}", modified.body);
    assert_eq!(modified.body["original"]["state"], "rejected");
    let replacement = &modified.body["replacement"];
    assert_eq!(replacement["target"]["value"], "WS7");
    assert_eq!(replacement["kind"], original.kind.as_str());
    assert!(
        replacement["reasons"][0]
            .as_str()
            .unwrap()
            .contains("modified by user:bob"),
        "{replacement}"
    );
    let stored = fixture
        .store
        .action(replacement["key"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.target.value, "WS7");
    assert_eq!(
        fixture.store.action(key).unwrap().unwrap().state,
        ActionState::Rejected
    );
    let again = call(
        &fixture.router,
        "POST",
        &path,
        Some(&responder),
        Some(json!({"value": "WS8"})),
    )
    .await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "conflict"));
    let blank = call(
        &fixture.router,
        "POST",
        &format!("/api/v1/actions/{}/modify", fixture.awaiting[1]),
        Some(&responder),
        Some(json!({"value": " "})),
    )
    .await;
    assert_eq!(blank.status, 400);
}
