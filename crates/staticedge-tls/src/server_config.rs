//! The rustls server configuration for the TLS listeners.
//!
//! pingora's `TlsSettings` hard-codes TLS 1.2 and 1.3; building the `ServerConfig`
//! ourselves is what makes `min_version = "1.3"` really refuse TLS 1.2.

use crate::store::CertStore;
use rustls::crypto::ring::default_provider;
use rustls::version::{TLS12, TLS13};
use rustls::ServerConfig;
use staticedge_config::{Alpn, MinVersion};
use std::sync::Arc;

/// Protocol choices that go into a server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicy {
    /// Lowest version offered.
    pub min_version: MinVersion,
    /// ALPN protocols in preference order.
    pub alpn: Vec<Alpn>,
}

/// Builds a configuration whose certificates come from `store` (so certificate
/// reloads need no new configuration) and whose versions and ALPN follow `policy`.
///
/// Only ring's forward-secret AEAD suites exist in rustls, and it never
/// renegotiates or compresses: that posture needs no extra settings.
pub fn build_server_config(
    store: Arc<CertStore>,
    policy: &TlsPolicy,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match policy.min_version {
        MinVersion::Tls12 => &[&TLS13, &TLS12],
        MinVersion::Tls13 => &[&TLS13],
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = policy
        .alpn
        .iter()
        .map(|a| match a {
            Alpn::H2 => b"h2".to_vec(),
            Alpn::Http11 => b"http/1.1".to_vec(),
        })
        .collect();
    Ok(Arc::new(config))
}
