//! `garrison serve --tls-cert --tls-key`: the console and its API over TLS only, so the
//! session cookie's `Secure` flag holds from any address, not only from localhost.

mod common;

use common::served::{Served, try_http};
use common::serving::add_user;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

const CONFIG: &str = "version = 1\n[[input]]\nkind = \"syslog_udp\"\naddress = \"127.0.0.1:0\"\n";

/// One HTTP/1.1 request over TLS to `address`, trusting `authority` for `localhost`: the
/// whole answer (head and body).
fn https(authority: &[u8], address: &str, request: &str) -> std::io::Result<String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(authority.to_vec())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connection =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut stream = rustls::StreamOwned::new(connection, TcpStream::connect(address)?);
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // Servers may close without a close_notify after a `Connection: close` answer.
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(error) => return Err(error),
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[test]
fn the_console_serves_over_tls_with_a_secure_session_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let authority_key = rcgen::KeyPair::generate().unwrap();
    let mut authority_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    authority_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let authority = authority_params.self_signed(&authority_key).unwrap();
    let issuer = rcgen::Issuer::new(authority_params, &authority_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.path().join("console.pem"), certificate.pem()).unwrap();
    std::fs::write(dir.path().join("console.key"), key.serialize_pem()).unwrap();
    let cert = dir.path().join("console.pem");
    let key_path = dir.path().join("console.key");
    let served = Served::start_with(
        dir.path(),
        CONFIG,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    assert!(
        served.log().contains("console on https://"),
        "{}",
        served.log()
    );
    let address = served.console();

    let health = https(
        authority.der(),
        &address,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with(r#"{"status":"ok"}"#), "{health}");
    // Plain HTTP gets no answer from a TLS port.
    assert!(try_http(&address, "GET", "/healthz", None, b"").is_none());

    // Signing in over TLS: a Secure, HttpOnly, SameSite=Strict cookie, and the queue with it.
    add_user(
        &served.state,
        "ana",
        "analyst",
        "a long passphrase over tls",
    );
    let form = "user=ana&password=a+long+passphrase+over+tls&next=/";
    let signed = https(
        authority.der(),
        &address,
        &format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nOrigin: https://localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        ),
    )
    .unwrap();
    assert!(signed.starts_with("HTTP/1.1 303"), "{signed}");
    let cookie = signed
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {signed}"));
    for flag in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap();
    let queue = https(
        authority.der(),
        &address,
        &format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nCookie: {session}\r\nConnection: close\r\n\r\n"
        ),
    )
    .unwrap();
    assert!(queue.starts_with("HTTP/1.1 200"), "{queue}");
    assert!(queue.contains("Incident queue"), "{queue}");
    served.stop();
}
