//! TLS for listeners: a server certificate and key (PEM), and optionally the authorities
//! whose client certificates are required (mutual TLS).

use crate::config::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// The acceptor for `files`, or why it cannot be built.
pub fn acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, String> {
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&files.certificate)
            .and_then(|certs| certs.collect())
            .map_err(|error| format!("{}: {error}", files.certificate.display()))?;
    if certificates.is_empty() {
        return Err(format!("{}: no certificate", files.certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|error| format!("{}: {error}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(path)
                .map_err(|error| format!("{}: {error}", path.display()))?
            {
                let certificate =
                    certificate.map_err(|error| format!("{}: {error}", path.display()))?;
                roots
                    .add(certificate)
                    .map_err(|error| format!("{}: {error}", path.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|error| format!("{}: {error}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certificates, key)
        .map_err(|error| format!("{}: {error}", files.key.display()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
