//! Single sign-on through an OpenID Connect provider, against a provider of our own on a real
//! socket: the authorization code flow with PKCE, the state bound to the browser and used once,
//! ID tokens (ES256 and RS256) verified for signature, issuer, audience, expiry and nonce, the
//! role from the groups claim (changed at the next sign-on), and every refusal audited.

mod api_support;
mod console_support;

use api_support::fixture;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use base64::Engine;
use console_support::send;
use garrison_model::access::Role;
use garrison_server::api::Console;
use garrison_server::config::OidcConfig;
use garrison_server::oidc::Oidc;
use garrison_store::AccessStore;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const RSA_PKCS8: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDGP6SDXoYWEsPX+eA494I7ZsC7kWatUg2dxgnjyrAfBftTE/9il4et/Qnbe7Pi7EmBYvHTu3hKE5f854cJci8HVMfWE2emTrKDtV/pxj0rRqp+aQzzYWi3YiqdAZUC+uJbHUmGOWfjPafpaTX0L3Ab5NOx3mmt3+MDXWi0Jldi6eAzFh0aE5sPIc4lIY9KEzuHn4GJQDm/X3ozB1ktofDcZzjrHtaIkSC48rj9aNgipf/P9lCUl9iyvP9eVc1LDo8IQpvwAhr/vW43BOdUj2abgMzsK5WRoK7rggCQIbtDqdIaafFKTkTyZbEDvWu9UeFVvlcEiF+Sm8mPo2pa1OYvAgMBAAECggEAA+KpOtqO1dyljgeh6P8cTM4Ro4g/0xSlcImpHksEwcVMEy2FY8s+ad7oiYQL6BFFhtyc8QsnQJwlf3Ve2utOJLgSnm+RQgrb8LzzHAs+e9xHdb4MMkv8zU7B/cexH9jLQJJ/Z39GU3ZyYnQDMHUzBR7MizUuNT7gO2vRNUf+bEBSy1DnJWqccud/FdcOljIDZIbutNDjAJP+x1SqwXbJZgOZ6ZRYBrmB6/azkX6c//Bh7jbjCTB4BpEyukq451qQmOrYgTXLc7OGpqQL2KOjyEoKcATtgqlaKHRRvmdq0plmM25cmOLkoG7R8xSlOj6m2YqMwruozOOiXnySc5bZvQKBgQDw3ZMBYYi7sAB+qlEFv62vnQ0n0ZmkGvAER0i8tSP74xkNdIArCKI8eyzEVYBA77ELlYcZbrO9J1BMYrZ8bqmGfAtTeEdJ/tV0oEuBRKoAGEJqiLQnzkl4vbkUXezQZDSAmgxJzE+0Lk/SjvSQROh+ibxmMTstk6Hug73gRD2h8wKBgQDStI6OYvKNwE+m7EQ7MC0C7DbcVCMEPwwMBA0fO0g+aaSa6GvKqi4adZNKmwzThQk+QKLaaflq3o1LQDb6ZgSCxJlFySr0ol8PCNKqxg+wjOmIaViuwpPUwvkAzobDEvgE3F406anWG3XJdJfK0sT/E7gizxyu7UpTRcZMy4D91QKBgEoVDErnccOwbWaIAeWPv978ofg2SlgkBOB8AE4yNIAbqC/wPh9+R0/s3qcAWTMfxcd3VRcoalXqSpND5Ta+XpvDeURSATMsEwEM8EwxD0x6KatUonx/wS9Gwy8VeGnb+B35w3/LPFSBzgFIAMaCuzN4L58K01XAS5Ttpi/dLUurAoGBAMZGoEt+8y7PBGVYudBUwlaYv/tPtW/egFCiU1LLb21D7mDTS/P3dtDxSTyQcV5uN0d8fYM47DtT1/QzJkk1TRNdO7p+1kxEq10zeUK4hLUntO7n60rw0ToKi1TmA8x4AipY0NHL/ET9rDZ54Ak9k6FRBhrDeQNnSmTYKQXFDspNAoGAE+JDPOAzDk7av4jwl4hofIb65ldph5MgbJP2ey1i1MzBn96eGfKJ5Ugk4cDTGkZHKZGHgNvPMl9x14RRlnpaYd1XUmwAwzGz+VbSPQcNNTDeFXqzY3zoySXAQy6cAZtDD4a8Rung/3CczIJniJ0thAgrOl7A2hybfnAFytH18MQ=";
const RSA_N: &str = "xj-kg16GFhLD1_ngOPeCO2bAu5FmrVINncYJ48qwHwX7UxP_YpeHrf0J23uz4uxJgWLx07t4ShOX_OeHCXIvB1TH1hNnpk6yg7Vf6cY9K0aqfmkM82Fot2IqnQGVAvriWx1Jhjln4z2n6Wk19C9wG-TTsd5prd_jA11otCZXYungMxYdGhObDyHOJSGPShM7h5-BiUA5v196MwdZLaHw3Gc46x7WiJEguPK4_WjYIqX_z_ZQlJfYsrz_XlXNSw6PCEKb8AIa_71uNwTnVI9mm4DM7CuVkaCu64IAkCG7Q6nSGmnxSk5E8mWxA71rvVHhVb5XBIhfkpvJj6NqWtTmLw";
const RSA_E: &str = "AQAB";

const CLIENT: &str = "garrison-console";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the provider will answer for a code: the claims and how to sign them.
#[derive(Clone)]
struct Grant {
    claims: Value,
    /// `ES256`, `RS256`, `ES256-other` (a key the provider does not publish) or `none`.
    alg: &'static str,
    challenge: String,
}

struct Provider {
    issuer: String,
    ec: EcdsaKeyPair,
    other: EcdsaKeyPair,
    rsa: RsaKeyPair,
    grants: Mutex<HashMap<String, Grant>>,
}

impl Provider {
    fn sign(&self, grant: &Grant) -> String {
        let (alg, kid) = match grant.alg {
            "ES256" => ("ES256", "ec-1"),
            "ES256-other" => ("ES256", "ec-9"),
            "ES256-forged" => ("ES256", "ec-1"),
            "RS256" => ("RS256", "rsa-1"),
            _ => ("none", "ec-1"),
        };
        let head = b64(json!({"alg": alg, "kid": kid, "typ": "JWT"})
            .to_string()
            .as_bytes());
        let body = b64(grant.claims.to_string().as_bytes());
        let input = format!("{head}.{body}");
        let rng = SystemRandom::new();
        let signature = match grant.alg {
            "ES256" => self
                .ec
                .sign(&rng, input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            "ES256-other" | "ES256-forged" => self
                .other
                .sign(&rng, input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            "RS256" => {
                let mut out = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &rng,
                        input.as_bytes(),
                        &mut out,
                    )
                    .unwrap();
                out
            }
            _ => Vec::new(),
        };
        format!("{input}.{}", b64(&signature))
    }
}

async fn discovery(State(provider): State<Arc<Provider>>) -> axum::Json<Value> {
    let issuer = &provider.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
    }))
}

async fn jwks(State(provider): State<Arc<Provider>>) -> axum::Json<Value> {
    let point = provider.ec.public_key().as_ref();
    axum::Json(json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec-1", "use": "sig",
         "x": b64(&point[1..33]), "y": b64(&point[33..65])},
        {"kty": "RSA", "kid": "rsa-1", "use": "sig", "n": RSA_N, "e": RSA_E},
    ]}))
}

async fn token(
    State(provider): State<Arc<Provider>>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<axum::Json<Value>, StatusCode> {
    let grant = provider
        .grants
        .lock()
        .unwrap()
        .remove(form.get("code").map(String::as_str).unwrap_or(""))
        .ok_or(StatusCode::BAD_REQUEST)?;
    // PKCE: the verifier must hash to the challenge the authorization request carried.
    let verifier = form.get("code_verifier").ok_or(StatusCode::BAD_REQUEST)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    if b64(digest.as_ref()) != grant.challenge
        || form.get("client_id").map(String::as_str) != Some(CLIENT)
    {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok(axum::Json(
        json!({"id_token": provider.sign(&grant), "access_token": "opaque", "token_type": "Bearer"}),
    ))
}

async fn start_provider() -> Arc<Provider> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let rng = SystemRandom::new();
    let key = |rng: &SystemRandom| {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, rng).unwrap();
        EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            rng,
        )
        .unwrap()
    };
    let rsa_der = base64::engine::general_purpose::STANDARD
        .decode(RSA_PKCS8)
        .unwrap();
    let provider = Arc::new(Provider {
        issuer,
        ec: key(&rng),
        other: key(&rng),
        rsa: RsaKeyPair::from_pkcs8(&rsa_der).unwrap(),
        grants: Mutex::new(HashMap::new()),
    });
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    provider
}

fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| {
            let value = value
                .replace("%3A", ":")
                .replace("%2F", "/")
                .replace("%20", " ");
            (name.to_string(), value)
        })
        .collect()
}

struct Flow {
    status: StatusCode,
    body: String,
    session: Option<String>,
}

/// Signs in through the provider, which answers with `claims` (the nonce filled in unless
/// given) signed as `alg`.
async fn sign_on(
    router: &axum::Router,
    provider: &Provider,
    mut claims: Value,
    alg: &'static str,
) -> Flow {
    let begun = send(router, "GET", "/login/oidc?next=/audit", None, None, None).await;
    assert_eq!(begun.status, StatusCode::SEE_OTHER, "{}", begun.body);
    let location = begun.headers["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/authorize?", provider.issuer)),
        "{location}"
    );
    let asked = query_of(&location);
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["client_id"], CLIENT);
    assert_eq!(asked["code_challenge_method"], "S256");
    assert!(asked["scope"].contains("openid"));
    let state = asked["state"].clone();
    assert!(
        begun.cookie.starts_with(&format!("garrison_oidc={state};")),
        "{}",
        begun.cookie
    );
    assert!(begun.cookie.contains("SameSite=Lax") && begun.cookie.contains("HttpOnly"));
    if claims.get("nonce").is_none() {
        claims["nonce"] = json!(asked["nonce"]);
    }
    let code = format!("code-{state}");
    provider.grants.lock().unwrap().insert(
        code.clone(),
        Grant {
            claims,
            alg,
            challenge: asked["code_challenge"].clone(),
        },
    );
    let back = send(
        router,
        "GET",
        &format!("/login/oidc/callback?code={code}&state={state}"),
        Some(&format!("x; garrison_oidc={state}")),
        None,
        None,
    )
    .await;
    let session = back
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix("garrison_session="))
        .map(|rest| rest.split(';').next().unwrap().to_string());
    Flow {
        status: back.status,
        body: back.body,
        session,
    }
}

fn claims(provider: &Provider, name: &str, groups: &[&str]) -> Value {
    let now = jiff::Timestamp::now().as_second();
    json!({
        "iss": provider.issuer, "aud": CLIENT, "sub": format!("sub-{name}"),
        "preferred_username": name, "groups": groups, "iat": now, "exp": now + 300,
    })
}

#[tokio::test]
async fn people_sign_on_through_the_provider_and_forgeries_are_refused() {
    let fixture = fixture();
    let provider = start_provider().await;
    let config = OidcConfig {
        issuer: provider.issuer.clone(),
        client_id: CLIENT.into(),
        client_secret: Some("client-secret-never-logged".into()),
        redirect_url: "https://console.test/login/oidc/callback".into(),
        username_claim: "preferred_username".into(),
        roles_claim: "groups".into(),
        roles: [
            ("soc-viewers".to_string(), Role::Viewer),
            ("soc-analysts".to_string(), Role::Analyst),
            ("soc-admins".to_string(), Role::Admin),
        ]
        .into_iter()
        .collect(),
        ca_file: None,
    };
    let console = Console::new(fixture.store.clone(), None)
        .unwrap()
        .with_oidc(Arc::new(Oidc::new(config).unwrap()));
    let router = garrison_server::console::router(Arc::new(console));
    let login = send(&router, "GET", "/login", None, None, None).await;
    assert!(login.body.contains("/login/oidc?next="), "{}", login.body);

    // ES256: olga, an analyst by her groups, is added and lands where she was going.
    let olga = sign_on(
        &router,
        &provider,
        claims(&provider, "olga", &["staff", "soc-analysts"]),
        "ES256",
    )
    .await;
    assert_eq!(olga.status, StatusCode::OK, "{}", olga.body);
    assert!(olga.body.contains("url=/audit"), "{}", olga.body);
    let session = olga.session.expect("a session cookie");
    let audit = send(&router, "GET", "/audit", Some(&session), None, None).await;
    assert_eq!(audit.status, StatusCode::OK);
    let user = fixture.store.user("olga").unwrap().unwrap();
    assert_eq!(user.role, Role::Analyst);
    // No password opens that account.
    assert!(!garrison_server::auth::verify_password(
        &user.password_hash,
        ""
    ));

    // Her groups change at the provider: her role changes at her next sign-on.
    let again = sign_on(
        &router,
        &provider,
        claims(&provider, "olga", &["soc-viewers"]),
        "ES256",
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(
        fixture.store.user("olga").unwrap().unwrap().role,
        Role::Viewer
    );

    // RS256: rita, an admin.
    let rita = sign_on(
        &router,
        &provider,
        claims(&provider, "rita", &["soc-admins"]),
        "RS256",
    )
    .await;
    assert_eq!(rita.status, StatusCode::OK, "{}", rita.body);
    assert_eq!(
        fixture.store.user("rita").unwrap().unwrap().role,
        Role::Admin
    );

    // Forgeries and mistakes: none lets anyone in.
    let now = jiff::Timestamp::now().as_second();
    let mut refused = 0;
    for (what, claims, alg, status) in [
        (
            "a key the provider does not publish",
            claims(&provider, "mallory", &["soc-admins"]),
            "ES256-other",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "no signature",
            claims(&provider, "mallory", &["soc-admins"]),
            "none",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a published key's id on another key's signature",
            claims(&provider, "mallory", &["soc-admins"]),
            "ES256-forged",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another audience",
            json!({"iss": provider.issuer, "aud": "another-app", "sub": "m", "preferred_username": "mallory", "groups": ["soc-admins"], "exp": now + 300}),
            "ES256",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another issuer",
            json!({"iss": "https://idp.evil.example", "aud": CLIENT, "sub": "m", "preferred_username": "mallory", "groups": ["soc-admins"], "exp": now + 300}),
            "ES256",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "expired",
            json!({"iss": provider.issuer, "aud": CLIENT, "sub": "m", "preferred_username": "mallory", "groups": ["soc-admins"], "exp": now - 3600}),
            "ES256",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another sign-in's nonce",
            json!({"iss": provider.issuer, "aud": CLIENT, "sub": "m", "preferred_username": "mallory", "groups": ["soc-admins"], "exp": now + 300, "nonce": "replayed"}),
            "ES256",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "no group that grants a role",
            claims(&provider, "mallory", &["staff"]),
            "ES256",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a local user's name",
            claims(&provider, "vera", &["soc-admins"]),
            "ES256",
            StatusCode::FORBIDDEN,
        ),
    ] {
        let flow = sign_on(&router, &provider, claims, alg).await;
        assert_eq!(flow.status, status, "{what}: {}", flow.body);
        assert!(flow.session.is_none(), "{what}");
        refused += 1;
    }
    assert!(fixture.store.user("mallory").unwrap().is_none());
    assert_eq!(
        fixture.store.user("vera").unwrap().unwrap().role,
        Role::Viewer
    );

    // A state is used once and must come back with the browser that began it.
    let begun = send(&router, "GET", "/login/oidc", None, None, None).await;
    let state = query_of(begun.headers["location"].to_str().unwrap())["state"].clone();
    for cookie in [None, Some("garrison_oidc=someone-else".to_string())] {
        let answer = send(
            &router,
            "GET",
            &format!("/login/oidc/callback?code=x&state={state}"),
            cookie.as_deref(),
            None,
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        refused += 1;
    }
    let denied = send(
        &router,
        "GET",
        "/login/oidc/callback?error=access_denied",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    refused += 1;

    // Every sign-on and refusal is in the audit log; the client secret is nowhere.
    let entries = fixture.store.audit_entries(1, 10_000).unwrap();
    let of = |action: &str| {
        entries
            .iter()
            .filter(|entry| entry.action == action)
            .count()
    };
    assert_eq!(of("sign_in_refused"), refused);
    let signed: Vec<&str> = entries
        .iter()
        .filter(|entry| entry.action == "signed_in")
        .map(|entry| entry.detail.as_str())
        .collect();
    assert_eq!(signed.len(), 3);
    assert!(
        signed
            .iter()
            .all(|detail| detail.contains("with single sign-on")),
        "{signed:?}"
    );
    assert!(
        entries
            .iter()
            .any(|entry| entry.detail.contains("analyst -> viewer"))
    );
    assert!(
        !entries
            .iter()
            .any(|entry| entry.detail.contains("client-secret-never-logged"))
    );
}
