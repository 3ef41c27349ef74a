//! A small HTTP/1.1 client for connectors (hyper over TCP, rustls for HTTPS), which tells the
//! three ways a call can fail apart: before anything was sent (safe to retry), after the
//! request left (ambiguous: the other side may have acted), and an answer refusing it.

use crate::connector::ConnectorError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;

/// One request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    /// Header names and values; values may hold secrets and are never logged or returned.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl HttpRequest {
    /// The request described for people (the method and URL, never headers).
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// Sends requests, HTTPS verified against the system's roots plus any given.
#[derive(Clone)]
pub struct HttpClient {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpClient {
    /// A client trusting the system's certificate authorities and those in `ca_file`.
    pub fn new(ca_file: Option<&std::path::Path>, timeout: Duration) -> Result<HttpClient, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        // Certificates the system store holds but rustls cannot read are skipped: the rest
        // still verify.
        if let Ok(native) = rustls_native_certs::load_native_certs() {
            let _ = roots.add_parsable_certificates(native);
        }
        if let Some(path) = ca_file {
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|items| items.collect::<Result<Vec<_>, _>>())
                .map_err(|error| format!("{}: {error}", path.display()))?;
            if certificates.is_empty() {
                return Err(format!("{}: no certificate", path.display()));
            }
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|error| format!("{}: {error}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(HttpClient {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    /// Sends `request`. Connection and TLS failures are transient (nothing was sent); a
    /// timeout or a broken connection once the request is on its way is ambiguous; 429 and
    /// 5xx answers are transient, other non-2xx answers permanent.
    pub async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let uri: Uri = request.url.parse().map_err(|error| {
            ConnectorError::Permanent(format!("bad URL {}: {error}", request.url))
        })?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(ConnectorError::Permanent(format!(
                    "{}: only http and https URLs",
                    request.url
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| ConnectorError::Permanent(format!("{}: no host", request.url)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let before = |what: &str, error: &dyn std::fmt::Display| {
            ConnectorError::Transient(format!("{what} {host}:{port}: {error}"))
        };
        let connect = async {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|error| before("cannot connect to", &error))?;
            let _ = stream.set_nodelay(true);
            Ok::<_, ConnectorError>(stream)
        };
        let stream = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| before("timed out connecting to", &"no answer"))??;
        let path = uri
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_string();
        let authority = uri
            .authority()
            .map(|authority| authority.as_str().to_string())
            .unwrap_or_else(|| host.clone());
        let mut builder = hyper::Request::builder()
            .method(request.method)
            .uri(path)
            .header("host", authority)
            .header(
                "user-agent",
                concat!("garrison/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if request.body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let body = Full::new(Bytes::from(request.body.clone().unwrap_or_default()));
        let hyper_request = builder.body(body).map_err(|error| {
            ConnectorError::Permanent(format!("cannot build the request: {error}"))
        })?;
        let exchange = async {
            if https {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|error| ConnectorError::Permanent(format!("{host}: {error}")))?;
                let tls = self
                    .tls
                    .connect(name, stream)
                    .await
                    .map_err(|error| before("TLS handshake with", &error))?;
                exchange(TokioIo::new(tls), hyper_request).await
            } else {
                exchange(TokioIo::new(stream), hyper_request).await
            }
        };
        let response = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                ConnectorError::Ambiguous(format!(
                    "{}: no answer within {:?} after sending",
                    request.describe(),
                    self.timeout
                ))
            })??;
        match response.status {
            200..=299 => Ok(response),
            429 | 500..=599 => Err(ConnectorError::Transient(format!(
                "{} answered {}: {}",
                request.describe(),
                response.status,
                excerpt(&response.body)
            ))),
            _ => Err(ConnectorError::Permanent(format!(
                "{} answered {}: {}",
                request.describe(),
                response.status,
                excerpt(&response.body)
            ))),
        }
    }
}

async fn exchange<S>(
    io: TokioIo<S>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<HttpResponse, ConnectorError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|error| ConnectorError::Transient(format!("HTTP handshake: {error}")))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    // From here the request may have reached the other side.
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| ConnectorError::Ambiguous(format!("connection lost: {error}")))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| ConnectorError::Ambiguous(format!("answer cut short: {error}")))?
        .to_bytes();
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The first 200 characters of an answer, for error messages.
fn excerpt(body: &str) -> String {
    let mut text: String = body.chars().take(200).collect();
    if body.chars().count() > 200 {
        text.push('…');
    }
    text
}

/// Percent-encodes a URL path segment (everything but RFC 3986's unreserved characters).
pub fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("CORP\\alice"), "CORP%5Calice");
        assert_eq!(path_segment("a b/c@d.e"), "a%20b%2Fc%40d.e");
        assert_eq!(path_segment("ws-01.corp_x~"), "ws-01.corp_x~");
    }
}
