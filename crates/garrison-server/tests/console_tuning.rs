//! The console's rules, policy, entity and evidence pages: what each shows, and who may
//! switch a rule or dry-run the policy.

mod api_support;
mod console_support;

use api_support::fixture;
use axum::http::StatusCode;
use console_support::{console_router, csrf_of, send, sign_in};

#[tokio::test]
async fn admins_switch_rules_from_the_rules_page() {
    let fixture = fixture();
    let router = console_router(&fixture);
    let viewer = sign_in(&router, "vera").await;
    let page = send(&router, "GET", "/rules", Some(&viewer), None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("LSASS dump with comsvcs"));
    assert!(page.body.contains("3 malicious, 1 benign"), "{}", page.body);
    assert!(page.body.contains("rules/broken.yml"));
    assert!(
        page.body.contains("unknown search &#39;sel2&#39;")
            || page.body.contains("unknown search 'sel2'")
    );
    assert!(!page.body.contains("Switch off"), "viewers see no switch");

    let admin = sign_in(&router, "ada").await;
    let page = send(&router, "GET", "/rules?q=whoami", Some(&admin), None, None).await;
    assert!(page.body.contains("Whoami run"));
    assert!(!page.body.contains("LSASS dump"));
    let csrf = csrf_of(&page.body);
    let switched = send(
        &router,
        "POST",
        "/rules/rule-whoami/switch",
        Some(&admin),
        Some(&format!(
            "csrf={csrf}&enabled=false&reason=fires+on+backups&back=/rules?q%3Dwhoami"
        )),
        None,
    )
    .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(switched.location, "/rules?q=whoami");
    assert!(!fixture.console.rules().unwrap().is_enabled("rule-whoami"));
    let page = send(
        &router,
        "GET",
        "/rules?enabled=false",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert!(page.body.contains("Whoami run"));
    assert!(page.body.contains("fires on backups"));
    assert!(page.body.contains("Switch on"));
    assert!(
        page.body.contains("1 rules, 1 switched off"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn the_policy_page_shows_the_rules_and_dry_runs_for_analysts() {
    let fixture = fixture();
    let router = console_router(&fixture);
    let incident = fixture.escalated.0.clone();
    let viewer = sign_in(&router, "vera").await;
    let page = send(&router, "GET", "/policy", Some(&viewer), None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Cedar policies from"));
    assert!(page.body.contains("permit"));
    assert!(page.body.contains("isolate_host"));
    assert!(!page.body.contains("Dry run"), "viewers cannot dry-run");
    let refused = send(
        &router,
        "GET",
        &format!("/policy?incident={incident}"),
        Some(&viewer),
        None,
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let analyst = sign_in(&router, "alice").await;
    let page = send(
        &router,
        "GET",
        &format!("/policy?incident={incident}&action=isolate_host&target=WS7"),
        Some(&analyst),
        None,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("nothing was recorded"));
    assert!(page.body.contains("<code>WS7</code>"), "{}", page.body);
    let planned = send(
        &router,
        "GET",
        &format!("/policy?incident={incident}"),
        Some(&analyst),
        None,
        None,
    )
    .await;
    assert!(
        planned.body.contains("awaiting_approval"),
        "{}",
        planned.body
    );
    let wrong = send(
        &router,
        "GET",
        &format!("/policy?incident={incident}&action=isolate_host"),
        Some(&analyst),
        None,
        None,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn entity_pages_link_incidents_and_events() {
    let fixture = fixture();
    let router = console_router(&fixture);
    let viewer = sign_in(&router, "vera").await;
    let incident = send(
        &router,
        "GET",
        &format!("/incidents/{}", fixture.escalated),
        Some(&viewer),
        None,
        None,
    )
    .await;
    assert!(
        incident
            .body
            .contains("href=\"/entities/user/CORP%5Cdana\""),
        "{}",
        incident.body
    );
    assert!(incident.body.contains("href=\"/entities/host/WS1\""));
    let user = send(
        &router,
        "GET",
        "/entities/user/CORP%5Cdana",
        Some(&viewer),
        None,
        None,
    )
    .await;
    assert_eq!(user.status, StatusCode::OK);
    assert!(user.body.contains("Incidents (2)"), "{}", user.body);
    assert!(
        user.body
            .contains(&format!("/evidence/{}", fixture.evidence))
    );
    assert!(user.body.contains(&format!("/incidents/{}", fixture.quiet)));
    let none = send(
        &router,
        "GET",
        "/entities/printer/x",
        Some(&viewer),
        None,
        None,
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    // The evidence page says why the original cannot be read (the fixture's file is not on
    // this disk).
    let evidence = send(
        &router,
        "GET",
        &format!("/evidence/{}", fixture.evidence),
        Some(&viewer),
        None,
        None,
    )
    .await;
    assert_eq!(evidence.status, StatusCode::OK);
    assert!(evidence.body.contains("The original cannot be read again"));
    assert!(evidence.body.contains("No OCSF form"));
}

#[tokio::test]
async fn the_audit_logs_next_page_keeps_its_filters() {
    let fixture = fixture();
    let router = console_router(&fixture);
    let book = fixture.console.rules().unwrap();
    // More rule switches than one page holds (100).
    for n in 0..101 {
        book.switch(
            fixture.store.as_ref(),
            garrison_model::tuning::RuleSwitch {
                rule_id: "rule-whoami".into(),
                enabled: n % 2 == 1,
                reason: Some(format!("change {n}")),
                by: "user:ada".into(),
                at: garrison_model::Timestamp::now(),
            },
        )
        .unwrap();
    }
    let viewer = sign_in(&router, "vera").await;
    let page = send(
        &router,
        "GET",
        "/audit?action=rule_switched&actor=user%3Aada",
        Some(&viewer),
        None,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<code>rule_switched</code>").count(), 100);
    let at = page.body.find("rel=\"next\" href=\"").expect("a next page") + 17;
    let link = page.body[at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        link.contains("&actor=user%3Aada&action=rule_switched"),
        "{link}"
    );
    let next = send(&router, "GET", &link, Some(&viewer), None, None).await;
    assert_eq!(next.body.matches("<code>rule_switched</code>").count(), 1);
    assert!(next.body.contains("change 100"));
}
