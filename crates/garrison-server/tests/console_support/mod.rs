//! What the console's tests share: requests through the router without a socket, signing
//! in, and the CSRF token of a page's forms.

#![allow(dead_code)]

use super::api_support::Fixture;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use garrison_store::Store;
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Page {
    pub status: StatusCode,
    pub location: String,
    pub cookie: String,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

pub async fn send(
    router: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    origin: Option<&str>,
) -> Page {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "console.test");
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("garrison_session={cookie}"));
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let request = match form {
        Some(form) => request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, location, cookie) = (response.status(), header("location"), header("set-cookie"));
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        location,
        cookie,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The status of a GET whose body may never end (server-sent events).
pub async fn send_head(router: &Router, path: &str, cookie: Option<&str>) -> StatusCode {
    let mut request = Request::builder().uri(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("garrison_session={cookie}"));
    }
    router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

pub fn console_router(fixture: &Fixture) -> Router {
    garrison_server::console::router(fixture.console.clone())
}

/// Signs `user` in; the session cookie's secret.
pub async fn sign_in(router: &Router, user: &str) -> String {
    let page = send(
        router,
        "POST",
        "/login",
        None,
        Some(&format!(
            "user={user}&password={}&next=/",
            PASSWORD.replace(' ', "+")
        )),
        Some("http://console.test"),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let secret = page
        .cookie
        .strip_prefix("garrison_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned();
    assert!(!secret.is_empty());
    secret
}

/// The CSRF token the session's forms carry.
pub fn csrf_of(body: &str) -> String {
    let at = body
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    body[at..].split('"').next().unwrap().to_owned()
}

pub fn audit_actions(store: &dyn Store) -> Vec<String> {
    store
        .audit_entries(1, 10_000)
        .unwrap()
        .into_iter()
        .map(|entry| format!("{} {}", entry.action, entry.actor))
        .collect()
}
