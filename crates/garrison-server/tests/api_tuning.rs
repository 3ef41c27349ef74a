//! Rules, the rules of engagement, evidence and entities through the API: rules listed with
//! their precision and switched off and on (audited, kept in the store), the policy shown and
//! dry-run without a trace, original records with their OCSF form, and what else a host or a
//! user did, a page at a time.

mod api_support;

use api_support::{bearer, call, fixture, rule_book, stored_event};
use garrison_model::{EvidenceId, EvidenceRef};
use garrison_store::{ActionStore, EvidenceStore};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn rules_are_listed_with_precision_and_switched_by_admins() {
    let fixture = fixture();
    let viewer = bearer(&fixture.tokens["viewer"]);
    let admin = bearer(&fixture.tokens["admin"]);
    let all = call(&fixture.router, "GET", "/api/v1/rules", Some(&viewer), None).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["total"], 3);
    assert_eq!(all.body["disabled"], 0);
    assert_eq!(all.body["unloadable"][0]["path"], "rules/broken.yml");
    assert_eq!(all.body["unloadable"][0]["kind"], "condition");
    let lsass = &all.body["rules"][0];
    assert_eq!(lsass["id"], "rule-lsass");
    assert_eq!(lsass["enabled"], true);
    assert_eq!(lsass["techniques"], json!(["T1003.001"]));
    assert_eq!(lsass["precision"]["malicious"], 3);
    assert_eq!(lsass["precision"]["benign"], 1);
    // (3 + 1) / (4 + 2) under the uniform prior.
    let precision = lsass["precision"]["precision"].as_f64().unwrap();
    assert!((precision - 4.0 / 6.0).abs() < 1e-9, "{precision}");
    assert!(all.body["rules"][1]["precision"].is_null());
    assert!(
        lsass.get("description").is_none(),
        "details only for one rule"
    );
    assert_eq!(all.body["rules"][2]["kind"], "correlation");

    let get = |path: &'static str| call(&fixture.router, "GET", path, Some(&viewer), None);
    assert_eq!(get("/api/v1/rules?q=SPRAY").await.body["total"], 1);
    assert_eq!(get("/api/v1/rules?q=t1003").await.body["total"], 3);
    assert_eq!(get("/api/v1/rules?min_level=medium").await.body["total"], 2);
    let page = get("/api/v1/rules?limit=1&offset=1").await;
    assert_eq!(page.body["rules"][0]["id"], "rule-whoami");
    assert_eq!(page.body["total"], 3);
    assert_eq!(get("/api/v1/rules?limit=0").await.status, 400);
    let one = get("/api/v1/rules/rule-lsass").await;
    assert_eq!(one.body["falsepositives"], json!(["Backup software"]));
    assert_eq!(
        one.body["description"],
        "LSASS dump with comsvcs, as the fixture says"
    );
    assert_eq!(get("/api/v1/rules/rule-none").await.status, 404);

    // An analyst may not switch a rule; an admin may, with a reason.
    let off = json!({"enabled": false, "reason": "  fires on every backup  "});
    let analyst = bearer(&fixture.tokens["analyst"]);
    let refused = call(
        &fixture.router,
        "PATCH",
        "/api/v1/rules/rule-whoami",
        Some(&analyst),
        Some(off.clone()),
    )
    .await;
    assert_eq!(refused.status, 403);
    let switched = call(
        &fixture.router,
        "PATCH",
        "/api/v1/rules/rule-whoami",
        Some(&admin),
        Some(off.clone()),
    )
    .await;
    assert_eq!(switched.status, 200, "{}", switched.body);
    assert_eq!(switched.body["enabled"], false);
    assert_eq!(switched.body["switch"]["by"], "user:ada");
    assert_eq!(switched.body["switch"]["reason"], "fires on every backup");
    let disabled = get("/api/v1/rules?enabled=false").await;
    assert_eq!(disabled.body["total"], 1);
    assert_eq!(disabled.body["rules"][0]["id"], "rule-whoami");
    assert_eq!(get("/api/v1/rules").await.body["disabled"], 1);
    // In force for the processors at once, and kept in the store for the next start.
    let book = fixture.console.rules().unwrap();
    assert!(!book.is_enabled("rule-whoami"));
    assert!(book.is_enabled("rule-lsass"));
    assert!(!rule_book(&fixture.store).is_enabled("rule-whoami"));
    let audit = get("/api/v1/audit?action=rule_switched").await;
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"], "user:ada");
    assert_eq!(entries[0]["subject"], "rule-whoami");
    assert_eq!(entries[0]["detail"], "off: fires on every backup");

    for (path, body, status) in [
        ("/api/v1/rules/rule-none", off.clone(), 404),
        ("/api/v1/rules/rule-whoami", json!({"enabled": "no"}), 400),
        (
            "/api/v1/rules/rule-whoami",
            json!({"enabled": true, "by": "x"}),
            400,
        ),
        (
            "/api/v1/rules/rule-whoami",
            json!({"enabled": true, "reason": "x".repeat(2001)}),
            400,
        ),
    ] {
        let answer = call(&fixture.router, "PATCH", path, Some(&admin), Some(body)).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
    }
    let on = call(
        &fixture.router,
        "PATCH",
        "/api/v1/rules/rule-whoami",
        Some(&admin),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(on.body["enabled"], true);
    assert!(on.body["switch"].get("reason").is_none());
    assert!(book.is_enabled("rule-whoami"));
    assert!(rule_book(&fixture.store).is_enabled("rule-whoami"));
}

#[tokio::test]
async fn the_policy_is_shown_and_dry_runs_record_nothing() {
    let fixture = fixture();
    let viewer = bearer(&fixture.tokens["viewer"]);
    let analyst = bearer(&fixture.tokens["analyst"]);
    let policy = call(
        &fixture.router,
        "GET",
        "/api/v1/policy",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(policy.status, 200, "{}", policy.body);
    assert_eq!(policy.body["source"], "shipped");
    assert!(policy.body["policies"].as_u64().unwrap() >= 3);
    assert!(policy.body["text"].as_str().unwrap().contains("permit"));
    assert_eq!(policy.body["autonomy"].as_array().unwrap().len(), 12);
    assert_eq!(policy.body["kill_switch"], false);
    assert!(!policy.body["playbooks"].as_array().unwrap().is_empty());

    let before = (
        fixture.store.audit_head().unwrap(),
        fixture.store.actions(&[], 1000).unwrap().len(),
    );
    let check = |body: serde_json::Value| {
        let (router, analyst) = (fixture.router.clone(), analyst.clone());
        async move {
            call(
                &router,
                "POST",
                "/api/v1/policy/check",
                Some(&analyst),
                Some(body),
            )
            .await
        }
    };
    // What the playbooks call for: the same decisions the responder recorded for it.
    let planned = check(json!({"incident": fixture.escalated.0})).await;
    assert_eq!(planned.status, 200, "{}", planned.body);
    let decisions = planned.body["decisions"].as_array().unwrap();
    let awaiting = decisions
        .iter()
        .filter(|decision| decision["state"] == "awaiting_approval")
        .count();
    assert_eq!(awaiting, fixture.awaiting.len(), "{decisions:?}");
    // One action on one target, verified or not: isolating a host needs a person either way,
    // and the reasons say which policy decided.
    let isolate = json!({
        "incident": fixture.escalated.0,
        "action": {"kind": "isolate_host", "target": " WS7 "},
    });
    let one = check(isolate.clone()).await;
    assert_eq!(one.status, 200, "{}", one.body);
    let decision = &one.body["decisions"][0];
    assert_eq!(decision["kind"], "isolate_host");
    assert_eq!(decision["target"]["value"], "WS7");
    assert!(
        decision["reasons"].as_array().unwrap().len() >= 2,
        "{decision}"
    );
    let mut unverified = isolate.clone();
    unverified["unverified"] = json!(true);
    let stalled = check(unverified).await;
    assert_ne!(stalled.body["decisions"][0]["state"], "executing");
    // Nothing was recorded or audited.
    assert_eq!(
        (
            fixture.store.audit_head().unwrap(),
            fixture.store.actions(&[], 1000).unwrap().len(),
        ),
        before
    );
    for (body, status) in [
        (json!({"incident": "inc-none"}), 404),
        (
            json!({"incident": fixture.escalated.0, "action": {"kind": "isolate_host"}}),
            400,
        ),
        (
            json!({"incident": fixture.escalated.0, "action": {"kind": "isolate", "target": "WS7"}}),
            400,
        ),
        (
            json!({"incident": fixture.escalated.0, "action": {"kind": "isolate_host", "target": " "}}),
            400,
        ),
        (json!({"incident": fixture.escalated.0, "act": "x"}), 400),
    ] {
        let answer = check(body.clone()).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
    }
    let viewer_check = call(
        &fixture.router,
        "POST",
        "/api/v1/policy/check",
        Some(&viewer),
        Some(isolate),
    )
    .await;
    assert_eq!(viewer_check.status, 403);
}

#[tokio::test]
async fn evidence_reads_back_as_taken_and_in_ocsf() {
    let fixture = fixture();
    let viewer = bearer(&fixture.tokens["viewer"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("security.jsonl");
    let first = r#"{"EventID":4688,"Channel":"Security","Hostname":"WS1","@timestamp":"2026-11-20T09:59:00Z"}"#;
    let line = r#"{"EventID":4625,"Channel":"Security","Hostname":"WS1","SourceName":"Microsoft-Windows-Security-Auditing","@timestamp":"2026-11-20T10:00:00Z","TargetUserName":"dana","IpAddress":"203.0.113.9","LogonType":"3"}"#;
    std::fs::write(&path, format!("{first}\n{line}\n")).unwrap();
    let mut event = stored_event(path.to_str().unwrap(), "WS1");
    event.source = EvidenceRef {
        path: Arc::from(path.to_str().unwrap()),
        member: None,
        record_id: 2,
        offset: first.len() as u64 + 1,
    };
    event.id = EvidenceId::of(&event.source);
    fixture
        .store
        .put_events(std::slice::from_ref(&event))
        .unwrap();

    let original = call(
        &fixture.router,
        "GET",
        &format!("/api/v1/evidence/{}/original", event.id),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(original.status, 200, "{}", original.body);
    assert_eq!(original.body["raw"]["format"], "json");
    assert_eq!(original.body["raw"]["text"], line);
    assert_eq!(original.body["raw"]["truncated"], false);
    // A failed logon is an OCSF Authentication (3002), logon activity, failed.
    assert_eq!(original.body["ocsf_class_uid"], 3002);
    assert_eq!(original.body["ocsf"]["class_uid"], 3002);
    assert_eq!(
        original.body["ocsf"]["status_id"], 2,
        "{}",
        original.body["ocsf"]
    );
    assert!(original.body["raw_error"].is_null());

    // Gone from disk: still answered, with why.
    std::fs::remove_file(&path).unwrap();
    let gone = call(
        &fixture.router,
        "GET",
        &format!("/api/v1/evidence/{}/original", event.id),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(gone.status, 200);
    assert!(gone.body["raw"].is_null());
    assert!(
        gone.body["raw_error"]
            .as_str()
            .unwrap()
            .contains("cannot read")
    );
    assert!(gone.body["ocsf_error"].is_string());
    let none = call(
        &fixture.router,
        "GET",
        &format!("/api/v1/evidence/{}/original", EvidenceId(12345)),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(none.status, 404);
}

#[tokio::test]
async fn entities_show_their_incidents_and_events_a_page_at_a_time() {
    let fixture = fixture();
    let viewer = bearer(&fixture.tokens["viewer"]);
    let get = |path: String| {
        let (router, viewer) = (fixture.router.clone(), viewer.clone());
        async move { call(&router, "GET", &path, Some(&viewer), None).await }
    };
    // Five events of WS9 a minute apart, and one of WS90 (another host).
    let mut events = Vec::new();
    for minute in 0..5 {
        let mut event = stored_event(&format!("C:/logs/ws9-{minute}.evtx"), "WS9");
        event.timestamp = Some(
            "2026-11-20T10:00:00Z"
                .parse::<garrison_model::Timestamp>()
                .unwrap()
                + jiff::SignedDuration::from_mins(minute),
        );
        events.push(event);
    }
    events.push(stored_event("C:/logs/ws90.evtx", "WS90"));
    fixture.store.put_events(&events).unwrap();

    let first = get("/api/v1/entities/host/ws9?limit=2".into()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let times = |answer: &api_support::Answer| -> Vec<String> {
        answer.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["timestamp"].as_str().unwrap()[11..16].to_string())
            .collect()
    };
    assert_eq!(times(&first), ["10:04", "10:03"]);
    assert_eq!(first.body["incidents_total"], 0);
    let next = first.body["next"].as_str().unwrap().to_string();
    let second = get(format!("/api/v1/entities/host/WS9?limit=2&after={next}")).await;
    assert_eq!(times(&second), ["10:02", "10:01"]);
    let next = second.body["next"].as_str().unwrap().to_string();
    let last = get(format!("/api/v1/entities/host/WS9?limit=2&after={next}")).await;
    assert_eq!(times(&last), ["10:00"]);
    assert!(last.body["next"].is_null());
    let until = get("/api/v1/entities/host/WS9?until=2026-11-20T10:01:30Z".into()).await;
    assert_eq!(times(&until), ["10:01", "10:00"]);

    // A user: the incidents naming them (not the merged one), and their events.
    let dana = get("/api/v1/entities/user/corp%5Cdana".into()).await;
    assert_eq!(dana.status, 200, "{}", dana.body);
    assert_eq!(dana.body["incidents_total"], 2);
    assert_eq!(
        dana.body["incidents"][0]["id"],
        fixture.escalated.0.as_str()
    );
    assert_eq!(dana.body["events"].as_array().unwrap().len(), 7);
    let ws1 = get("/api/v1/entities/host/WS1".into()).await;
    assert_eq!(ws1.body["incidents_total"], 1);
    assert_eq!(ws1.body["events"].as_array().unwrap().len(), 1);
    assert_eq!(ws1.body["events"][0]["id"], json!(fixture.evidence));

    for bad in [
        "/api/v1/entities/server/WS1",
        "/api/v1/entities/host/WS1?after=yesterday",
        "/api/v1/entities/host/WS1?limit=0",
        "/api/v1/entities/host/%20",
    ] {
        let answer = get(bad.into()).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }
}

#[tokio::test]
async fn alerts_are_listed_with_their_incident() {
    let fixture = fixture();
    let viewer = bearer(&fixture.tokens["viewer"]);
    let get = |path: &'static str| call(&fixture.router, "GET", path, Some(&viewer), None);
    let all = get("/api/v1/alerts").await;
    assert_eq!(all.status, 200, "{}", all.body);
    let alerts = all.body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["incident"], fixture.escalated.0.as_str());
    assert_eq!(alerts[0]["alert"]["rule_id"], "rule-lsass");
    assert_eq!(alerts[0]["alert"]["evidence"], json!(fixture.evidence));
    assert!(all.body["next"].is_null());
    assert_eq!(
        get("/api/v1/alerts?rule=rule-lsass&min_level=high")
            .await
            .body["alerts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        get("/api/v1/alerts?rule=rule-whoami").await.body["alerts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        get("/api/v1/alerts?until=2026-11-20T09:00:00Z").await.body["alerts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for bad in [
        "/api/v1/alerts?after=x",
        "/api/v1/alerts?limit=501",
        "/api/v1/alerts?min_level=loud",
    ] {
        assert_eq!(get(bad).await.status, 400, "{bad}");
    }
}
