//! The console's pages through the router without a socket: signing in and out (audited, a
//! strict cookie, a brake on guessing), pages that need a session, forms that need its CSRF
//! token and a same-origin post, the role checked on every change, and telemetry escaped.

mod api_support;
mod console_support;

use api_support::fixture;
use axum::http::StatusCode;
use console_support::{audit_actions, console_router, csrf_of, send, send_head, sign_in};
use garrison_model::action::ActionState;
use garrison_store::{ActionStore, VerdictStore};

#[tokio::test]
async fn signing_in_sets_a_strict_cookie_and_guessing_is_held_back() {
    let fixture = fixture();
    let router = console_router(&fixture);
    let page = send(
        &router,
        "POST",
        "/login",
        None,
        Some("user=alice&password=correct+horse+battery+staple&next=%2Fapprovals"),
        Some("http://console.test"),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location, "/approvals");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(page.cookie.contains(flag), "{flag} in {}", page.cookie);
    }
    // Wrong password and unknown user: the same answer, both audited.
    let wrong = send(
        &router,
        "POST",
        "/login",
        None,
        Some("user=alice&password=nope"),
        None,
    )
    .await;
    let unknown = send(
        &router,
        "POST",
        "/login",
        None,
        Some("user=mallory&password=nope"),
        None,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("The name or the password is wrong."));
    assert!(unknown.body.contains("The name or the password is wrong."));
    assert!(wrong.cookie.is_empty() && unknown.cookie.is_empty());
    // A sign-in posted from another site is refused.
    let foreign = send(
        &router,
        "POST",
        "/login",
        None,
        Some("user=alice&password=correct+horse+battery+staple"),
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    // Four more failures hold the name back, even from the right password.
    for _ in 0..4 {
        send(
            &router,
            "POST",
            "/login",
            None,
            Some("user=alice&password=guess"),
            None,
        )
        .await;
    }
    let held = send(
        &router,
        "POST",
        "/login",
        None,
        Some("user=alice&password=correct+horse+battery+staple"),
        None,
    )
    .await;
    assert_eq!(held.status, StatusCode::UNAUTHORIZED);
    let audit = audit_actions(fixture.store.as_ref());
    assert_eq!(
        audit
            .iter()
            .filter(|entry| *entry == "signed_in user:alice")
            .count(),
        1
    );
    assert_eq!(
        audit
            .iter()
            .filter(|entry| entry.starts_with("sign_in_refused"))
            .count(),
        7
    );
    assert!(audit.contains(&"sign_in_refused user:mallory".to_string()));
    // A disabled user cannot sign in.
    let dora = send(
        &router,
        "POST",
        "/login",
        None,
        Some("user=dora&password=correct+horse+battery+staple"),
        None,
    )
    .await;
    assert_eq!(dora.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pages_need_a_session_and_show_the_queue_in_order() {
    let fixture = fixture();
    let router = console_router(&fixture);
    let anonymous = send(&router, "GET", "/?host=WS1", None, None, None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location, "/login?next=/%3Fhost%3DWS1");
    let forged = send(
        &router,
        "GET",
        "/",
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        None,
        None,
    )
    .await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);
    let login = send(
        &router,
        "GET",
        "/login?next=//evil.example",
        None,
        None,
        None,
    )
    .await;
    assert!(
        login.body.contains("name=\"next\" value=\"/\""),
        "only local paths"
    );

    let session = sign_in(&router, "vera").await;
    let queue = send(&router, "GET", "/", Some(&session), None, None).await;
    assert_eq!(queue.status, StatusCode::OK);
    let first = queue.body.find(&fixture.escalated.0).unwrap();
    let second = queue.body.find(&fixture.quiet.0).unwrap();
    assert!(first < second, "escalated first");
    assert!(
        !queue.body.contains(&fixture.merged.0),
        "merged incidents are left out"
    );
    assert!(queue.body.contains("2 incidents"));
    let csp = queue.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(queue.headers["x-frame-options"], "DENY");

    let incident = send(
        &router,
        "GET",
        &format!("/incidents/{}", fixture.escalated),
        Some(&session),
        None,
        None,
    )
    .await;
    assert_eq!(incident.status, StatusCode::OK);
    assert!(
        incident
            .body
            .contains(&format!("href=\"/evidence/{}\"", fixture.evidence))
    );
    assert!(
        !incident.body.contains("/approve\""),
        "a viewer gets no approval forms"
    );
    let evidence = send(
        &router,
        "GET",
        &format!("/evidence/{}", fixture.evidence),
        Some(&session),
        None,
        None,
    )
    .await;
    assert!(evidence.body.contains("rundll32 comsvcs.dll MiniDump"));
    let missing = send(
        &router,
        "GET",
        "/incidents/inc-none",
        Some(&session),
        None,
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn forms_need_the_sessions_token_a_same_origin_post_and_the_role() {
    let fixture = fixture();
    let router = console_router(&fixture);
    let key = &fixture.awaiting[0];
    let bob = sign_in(&router, "bob").await;
    let page = send(
        &router,
        "GET",
        &format!("/incidents/{}", fixture.escalated),
        Some(&bob),
        None,
        None,
    )
    .await;
    let csrf = csrf_of(&page.body);
    let approve = format!("/actions/{key}/approve");
    let without = send(
        &router,
        "POST",
        &approve,
        Some(&bob),
        Some("back=/approvals"),
        None,
    )
    .await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    let wrong = send(
        &router,
        "POST",
        &approve,
        Some(&bob),
        Some("csrf=0000&back=/approvals"),
        None,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let foreign = send(
        &router,
        "POST",
        &approve,
        Some(&bob),
        Some(&format!("csrf={csrf}")),
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert_eq!(
        fixture.store.action(key).unwrap().unwrap().state,
        ActionState::AwaitingApproval
    );
    let done = send(
        &router,
        "POST",
        &approve,
        Some(&bob),
        Some(&format!("csrf={csrf}&back=/approvals")),
        Some("http://console.test"),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location, "/approvals");
    let record = fixture.store.action(key).unwrap().unwrap();
    assert_eq!(
        (record.state, record.decided_by.as_deref()),
        (ActionState::Approved, Some("user:bob"))
    );

    // Another session's token is no good; a viewer's session cannot decide or judge.
    let vera = sign_in(&router, "vera").await;
    let other = &fixture.awaiting[1];
    let with_bobs = send(
        &router,
        "POST",
        &format!("/actions/{other}/approve"),
        Some(&vera),
        Some(&format!("csrf={csrf}")),
        None,
    )
    .await;
    assert_eq!(with_bobs.status, StatusCode::FORBIDDEN);
    let vera_page = send(&router, "GET", "/approvals", Some(&vera), None, None).await;
    let vera_csrf = csrf_of(&vera_page.body);
    let refused = send(
        &router,
        "POST",
        &format!("/actions/{other}/approve"),
        Some(&vera),
        Some(&format!("csrf={vera_csrf}")),
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("Your role does not allow this."));
    let judged = send(
        &router,
        "POST",
        &format!("/incidents/{}/verdict", fixture.escalated),
        Some(&vera),
        Some(&format!("csrf={vera_csrf}&verdict=false_positive")),
        None,
    )
    .await;
    assert_eq!(judged.status, StatusCode::FORBIDDEN);
    assert!(fixture.store.verdicts().unwrap().is_empty());

    // An analyst's verdict, then the audit page shows both decisions.
    let alice = sign_in(&router, "alice").await;
    let alice_csrf = csrf_of(
        &send(&router, "GET", "/", Some(&alice), None, None)
            .await
            .body,
    );
    let verdict = send(
        &router,
        "POST",
        &format!("/incidents/{}/verdict", fixture.escalated),
        Some(&alice),
        Some(&format!(
            "csrf={alice_csrf}&verdict=true_positive&note=owner+confirmed"
        )),
        None,
    )
    .await;
    assert_eq!(verdict.status, StatusCode::SEE_OTHER, "{}", verdict.body);
    assert_eq!(fixture.store.verdicts().unwrap()[0].by, "user:alice");
    let audit = send(&router, "GET", "/audit", Some(&alice), None, None).await;
    assert!(audit.body.contains("The hash chain is intact"));
    let approved_at = audit.body.find("response_approved").unwrap();
    let judged_at = audit.body.find("decision_recorded").unwrap();
    assert!(judged_at < approved_at, "newest first");
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let fixture = fixture();
    let router = console_router(&fixture);
    let session = sign_in(&router, "alice").await;
    let csrf = csrf_of(
        &send(&router, "GET", "/", Some(&session), None, None)
            .await
            .body,
    );
    let out = send(
        &router,
        "POST",
        "/logout",
        Some(&session),
        Some(&format!("csrf={csrf}")),
        None,
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.cookie.contains("Max-Age=0"));
    let after = send(&router, "GET", "/", Some(&session), None, None).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(audit_actions(fixture.store.as_ref()).contains(&"signed_out user:alice".to_string()));
}

#[tokio::test]
async fn telemetry_is_escaped_in_pages() {
    let fixture = fixture();
    let mut hostile = api_support::incident(
        "inc-00000000000000f1",
        "<img src=x onerror=alert(1)>",
        garrison_model::Level::Critical,
        true,
    );
    hostile.title = "<script>alert('owned')</script>".into();
    garrison_store::IncidentStore::put_incident(fixture.store.as_ref(), &hostile).unwrap();
    let router = console_router(&fixture);
    let session = sign_in(&router, "vera").await;
    for path in ["/".to_string(), format!("/incidents/{}", hostile.id)] {
        let page = send(&router, "GET", &path, Some(&session), None, None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("<script>alert"), "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(page.body.contains("&lt;script&gt;alert"), "{path}");
    }
}

/// Every page and form × no session, an expired one, and each role's.
#[tokio::test]
async fn every_page_and_form_answers_each_session_as_its_role_requires() {
    use garrison_model::access::Role;
    let fixture = fixture();
    let router = console_router(&fixture);
    // An expired session of the admin's.
    let (expired, digest) = garrison_server::auth::new_secret().unwrap();
    let long_ago = garrison_model::Timestamp::now() - jiff::SignedDuration::from_hours(13);
    garrison_store::SessionStore::add_session(
        fixture.store.as_ref(),
        &garrison_store::SessionRecord {
            digest,
            user: "ada".into(),
            created: long_ago,
            expires: long_ago + jiff::SignedDuration::from_hours(12),
            csrf: "expired-token".into(),
        },
        &garrison_store::AuditRecord {
            actor: "test".into(),
            action: garrison_store::AuditAction::SignedIn,
            subject: "console".into(),
            detail: "an old session".into(),
        },
    )
    .unwrap();
    let incident = fixture.escalated.0.clone();
    let pages = [
        "/".to_string(),
        format!("/incidents/{incident}"),
        format!("/evidence/{}", fixture.evidence),
        "/approvals".into(),
        "/audit".into(),
        "/agents".into(),
        "/rules".into(),
        "/policy".into(),
        "/entities/host/WS1".into(),
        "/entities/user/CORP%5Cdana".into(),
    ];
    let forms: Vec<(String, &str, Role)> = vec![
        (
            format!("/incidents/{incident}/verdict"),
            "verdict=benign_true_positive",
            Role::Analyst,
        ),
        (
            format!("/actions/{}/modify", fixture.awaiting[2]),
            "value=WS7",
            Role::Responder,
        ),
        (
            format!("/incidents/{incident}/case"),
            "status=in_progress&assignee=alice",
            Role::Analyst,
        ),
        (
            format!("/incidents/{incident}/comments"),
            "text=checked+the+host",
            Role::Analyst,
        ),
        (
            format!("/incidents/{incident}/acknowledge"),
            "",
            Role::Analyst,
        ),
        (
            format!("/actions/{}/approve", fixture.awaiting[0]),
            "",
            Role::Responder,
        ),
        (
            format!("/actions/{}/reject", fixture.awaiting[1]),
            "reason=not+ours",
            Role::Responder,
        ),
        (
            "/rules/rule-whoami/switch".into(),
            "enabled=false&reason=noisy",
            Role::Admin,
        ),
    ];
    for path in &pages {
        let none = send(&router, "GET", path, None, None, None).await;
        assert_eq!(none.status, StatusCode::SEE_OTHER, "{path}");
        assert!(none.location.starts_with("/login?next="), "{path}");
        let old = send(&router, "GET", path, Some(&expired), None, None).await;
        assert_eq!(
            old.status,
            StatusCode::SEE_OTHER,
            "{path} with an expired session"
        );
    }
    for (path, body, _) in &forms {
        let none = send(&router, "POST", path, None, Some(body), None).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{path}");
        let old = send(
            &router,
            "POST",
            path,
            Some(&expired),
            Some(&format!("csrf=expired-token&{body}")),
            None,
        )
        .await;
        assert_eq!(
            old.status,
            StatusCode::UNAUTHORIZED,
            "{path} with an expired session"
        );
    }
    let events = send_head(&router, "/events", None).await;
    assert_eq!(events, StatusCode::SEE_OTHER, "live updates need a session");
    let mut checked = 0;
    for (user, role) in [
        ("vera", Role::Viewer),
        ("alice", Role::Analyst),
        ("bob", Role::Responder),
        ("ada", Role::Admin),
    ] {
        let session = sign_in(&router, user).await;
        let mut csrf = String::new();
        for path in &pages {
            let page = send(&router, "GET", path, Some(&session), None, None).await;
            assert_eq!(page.status, StatusCode::OK, "{path} as {user}");
            csrf = csrf_of(&page.body);
            checked += 1;
        }
        assert_eq!(
            send_head(&router, "/events", Some(&session)).await,
            StatusCode::OK
        );
        for (path, body, needs) in &forms {
            let answer = send(
                &router,
                "POST",
                path,
                Some(&session),
                Some(&format!("csrf={csrf}&{body}")),
                None,
            )
            .await;
            if role.allows(*needs) {
                // Done, or (after the first role that may) already decided.
                assert!(
                    answer.status == StatusCode::SEE_OTHER || answer.status == StatusCode::CONFLICT,
                    "{path} as {user}: {}",
                    answer.status
                );
            } else {
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path} as {user}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * (pages.len() + forms.len()));
}
