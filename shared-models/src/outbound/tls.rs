//! The TLS client configuration for outbound requests: rustls on ring with the
//! Mozilla roots compiled in, so the worker needs no system certificate
//! store and never depends on a process-wide crypto provider being
//! installed.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, crypto::ring, pki_types::CertificateDer};

/// `extra_roots` are trusted besides the public roots: an operator's
/// private CA, or a test's own.
pub(super) fn client_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for root in extra_roots {
        roots.add(root.clone())?;
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The exchange is HTTP/1.1; say so, so that no server picks h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
