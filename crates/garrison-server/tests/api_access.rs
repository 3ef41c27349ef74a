//! The API's authorization matrix: every route, asked with no credentials, malformed, forged,
//! unknown, revoked and expired tokens, a disabled user's token, and a valid token of every
//! role, answers as its role requires. The routes are listed here, independently of the
//! router, and checked against the OpenAPI document, so a new route cannot skip the matrix.

mod api_support;

use api_support::{bearer, call, fixture};
use garrison_model::access::Role;
use serde_json::json;
use std::collections::BTreeSet;

struct Route {
    method: &'static str,
    /// As the OpenAPI document writes it.
    template: &'static str,
    /// Who may call it; none for the public routes.
    needs: Option<Role>,
}

const ROUTES: &[Route] = &[
    Route {
        method: "get",
        template: "/api/v1/openapi.json",
        needs: None,
    },
    Route {
        method: "get",
        template: "/healthz",
        needs: None,
    },
    Route {
        method: "get",
        template: "/readyz",
        needs: None,
    },
    Route {
        method: "get",
        template: "/api/v1/me",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "post",
        template: "/api/v1/actions/{key}/modify",
        needs: Some(Role::Responder),
    },
    Route {
        method: "patch",
        template: "/api/v1/incidents/{id}",
        needs: Some(Role::Analyst),
    },
    Route {
        method: "get",
        template: "/api/v1/incidents/{id}/comments",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "post",
        template: "/api/v1/incidents/{id}/comments",
        needs: Some(Role::Analyst),
    },
    Route {
        method: "get",
        template: "/api/v1/agents",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/events",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/metrics",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/incidents",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/incidents/{id}",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "post",
        template: "/api/v1/incidents/{id}/verdict",
        needs: Some(Role::Analyst),
    },
    Route {
        method: "post",
        template: "/api/v1/incidents/{id}/acknowledge",
        needs: Some(Role::Analyst),
    },
    Route {
        method: "get",
        template: "/api/v1/evidence/{id}",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/actions",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/actions/{key}",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "post",
        template: "/api/v1/actions/{key}/approve",
        needs: Some(Role::Responder),
    },
    Route {
        method: "post",
        template: "/api/v1/actions/{key}/reject",
        needs: Some(Role::Responder),
    },
    Route {
        method: "get",
        template: "/api/v1/audit",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/audit/verify",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/alerts",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/evidence/{id}/original",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/entities/{kind}/{name}",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/rules",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "get",
        template: "/api/v1/rules/{id}",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "patch",
        template: "/api/v1/rules/{id}",
        needs: Some(Role::Admin),
    },
    Route {
        method: "get",
        template: "/api/v1/policy",
        needs: Some(Role::Viewer),
    },
    Route {
        method: "post",
        template: "/api/v1/policy/check",
        needs: Some(Role::Analyst),
    },
    Route {
        method: "get",
        template: "/api/v1/users",
        needs: Some(Role::Admin),
    },
    Route {
        method: "get",
        template: "/api/v1/tokens",
        needs: Some(Role::Admin),
    },
    Route {
        method: "post",
        template: "/api/v1/tokens/{id}/revoke",
        needs: Some(Role::Admin),
    },
];

const SPOILT: [&str; 6] = [
    "forged",
    "unknown",
    "revoked",
    "expired",
    "disabled",
    "malformed",
];

#[tokio::test]
async fn the_matrix_lists_every_documented_route() {
    let fixture = fixture();
    let document = call(&fixture.router, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(document.status, 200);
    let mut documented = BTreeSet::new();
    for (path, item) in document.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.method.to_string(), route.template.to_string()))
        .collect();
    assert_eq!(documented, listed);
    let mut operations = BTreeSet::new();
    for (method, path) in &documented {
        let id = document.body["paths"][path][method]["operationId"]
            .as_str()
            .unwrap();
        assert!(
            operations.insert(id.to_string()),
            "operationId {id} is used twice"
        );
    }
    // Every protected route names the bearer scheme; public ones name none.
    for route in ROUTES {
        let operation = &document.body["paths"][route.template][route.method];
        assert_eq!(
            operation["security"].is_array(),
            route.needs.is_some(),
            "{} {}",
            route.method,
            route.template
        );
    }
    assert_eq!(
        document.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn every_route_answers_every_credential_as_its_role_requires() {
    let fixture = fixture();
    let concrete = |template: &str| {
        template
            .replace("{id}/revoke", &format!("{}/revoke", fixture.spare_token_id))
            .replace(
                "incidents/{id}",
                &format!("incidents/{}", fixture.escalated),
            )
            .replace("evidence/{id}", &format!("evidence/{}", fixture.evidence))
            .replace("rules/{id}", "rules/rule-lsass")
            .replace("{kind}/{name}", "user/corp%5CDANA")
            .replace("{key}", &fixture.awaiting[0])
    };
    let body = |route: &Route| match (route.method, route.template) {
        (_, t) if t.ends_with("/verdict") => Some(json!({"verdict": "true_positive"})),
        (_, t) if t.ends_with("/reject") => Some(json!({"reason": "not on this host"})),
        (_, t) if t.ends_with("/modify") => Some(json!({"value": "WS7"})),
        ("patch", t) if t.starts_with("/api/v1/rules/") => {
            Some(json!({"enabled": false, "reason": "noisy"}))
        }
        ("patch", _) => Some(json!({"status": "in_progress"})),
        ("post", "/api/v1/policy/check") => Some(json!({"incident": fixture.escalated.0})),
        ("post", t) if t.ends_with("/comments") => Some(json!({"text": "looked at it"})),
        _ => None,
    };
    let mut checked = 0;
    for route in ROUTES {
        let path = concrete(route.template);
        assert!(!path.contains('{'), "{path}");
        let method = route.method.to_uppercase();
        let Some(needed) = route.needs else {
            let answer = call(&fixture.router, &method, &path, None, None).await;
            assert_eq!(answer.status, 200, "{method} {path} is public");
            checked += 1;
            continue;
        };
        // No credentials, another scheme, and tokens that must not pass.
        let none = call(&fixture.router, &method, &path, None, body(route)).await;
        assert_eq!(none.status, 401, "{method} {path} without credentials");
        assert_eq!(none.code(), "unauthenticated");
        assert_eq!(
            none.headers["www-authenticate"],
            "Bearer realm=\"garrison\""
        );
        let basic = call(
            &fixture.router,
            &method,
            &path,
            Some("Basic YWRhOnNlY3JldA=="),
            None,
        )
        .await;
        assert_eq!(
            (basic.status.as_u16(), basic.code()),
            (401, "invalid_token"),
            "{method} {path} basic"
        );
        for spoilt in SPOILT {
            let presented = match spoilt {
                "malformed" => "Bearer gar_not-a-token".to_string(),
                name => bearer(&fixture.tokens[name]),
            };
            let answer = call(
                &fixture.router,
                &method,
                &path,
                Some(&presented),
                body(route),
            )
            .await;
            assert_eq!(answer.status, 401, "{method} {path} with a {spoilt} token");
            assert_eq!(answer.code(), "invalid_token", "{method} {path} {spoilt}");
            assert!(
                answer.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .contains("error=\"invalid_token\""),
                "{spoilt}"
            );
            checked += 1;
        }
        // Each role: refused below the route's, served from it up. The capped token is an
        // admin token of an analyst: it holds analyst.
        for (name, holds) in Role::ALL
            .iter()
            .map(|role| (role.code(), *role))
            .chain([("capped", Role::Analyst)])
        {
            let answer = call(
                &fixture.router,
                &method,
                &path,
                Some(&bearer(&fixture.tokens[name])),
                body(route),
            )
            .await;
            if holds.allows(needed) {
                assert!(
                    answer.status.is_success() || answer.status == 409,
                    "{method} {path} as {name}: {} {}",
                    answer.status,
                    answer.body
                );
            } else {
                assert_eq!(
                    (answer.status.as_u16(), answer.code()),
                    (403, "forbidden"),
                    "{method} {path} as {name}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 + 30 * (SPOILT.len() + 5));
}

#[tokio::test]
async fn a_revoked_token_is_refused_from_the_next_request_on() {
    let fixture = fixture();
    let viewer = bearer(&fixture.tokens["viewer"]);
    let me = call(&fixture.router, "GET", "/api/v1/me", Some(&viewer), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"], "vera");
    assert_eq!(me.body["role"], "viewer");
    let id = me.body["token"].as_str().unwrap().to_string();
    let admin = bearer(&fixture.tokens["admin"]);
    let revoked = call(
        &fixture.router,
        "POST",
        &format!("/api/v1/tokens/{id}/revoke"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(revoked.body["revoked"].is_string());
    let again = call(&fixture.router, "GET", "/api/v1/me", Some(&viewer), None).await;
    assert_eq!(
        (again.status.as_u16(), again.code()),
        (401, "invalid_token")
    );
    assert_eq!(again.body["error"]["message"], "the token was revoked");
    let twice = call(
        &fixture.router,
        "POST",
        &format!("/api/v1/tokens/{id}/revoke"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(twice.status, 409);
    // The revocation is in the audit log under the admin's name.
    let audit = call(
        &fixture.router,
        "GET",
        &format!("/api/v1/audit?subject=token:{id}"),
        Some(&admin),
        None,
    )
    .await;
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[1]["actor"], "user:ada");
    assert_eq!(entries[1]["action"], "access_changed");
    // Token listings never carry digests.
    let tokens = call(&fixture.router, "GET", "/api/v1/tokens", Some(&admin), None).await;
    assert!(!tokens.body.to_string().contains("digest"));
    assert_eq!(tokens.body["tokens"].as_array().unwrap().len(), 9);
}
