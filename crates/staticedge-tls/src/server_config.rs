//! The rustls server configuration for the TLS listeners.
//!
//! pingora's `TlsSettings` hard-codes TLS 1.2 and 1.3; building the `ServerConfig`
//! ourselves is what makes `min_version = "1.3"` really refuse TLS 1.2. A
//! certificate with client authentication gets a configuration of its own: rustls
//! sets the client certificate verifier per configuration, not per certificate.

use crate::client_auth::ClientAuth;
use crate::store::CertStore;
use rustls::crypto::aws_lc_rs::cipher_suite::{
    TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
};
// aws-lc-rs rather than ring: RSA-2048 full handshakes cost about a third less CPU
// with it (docs/benchmarks.md), ECDSA the same or less. pingora keeps ring for its
// own client side; the server configuration names its provider, so both coexist.
use rustls::crypto::aws_lc_rs::default_provider;
use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::version::{TLS12, TLS13};
use rustls::SupportedCipherSuite;
use rustls::{ConfigBuilder, ServerConfig, WantsVerifier};
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

/// The suites in the order the server picks them: AES-128-GCM with SHA-256 first.
/// It is as safe as AES-256 for this use and cheaper per full handshake: the TLS 1.3
/// key schedule and transcript then hash with SHA-256, which CPUs accelerate
/// (SHA-NI), where the SHA-384 of AES-256's suite runs in software. ChaCha20 stays
/// for clients without AES support. Same suites as rustls' defaults, other order.
const SUITES_BY_PREFERENCE: [SupportedCipherSuite; 9] = [
    TLS13_AES_128_GCM_SHA256,
    TLS13_AES_256_GCM_SHA384,
    TLS13_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// Builds a configuration whose certificates come from `store` (so certificate
/// reloads need no new configuration) and whose versions and ALPN follow `policy`.
/// It asks for no client certificate: a certificate with a client CA is served
/// through [`build_client_auth_config`] instead.
///
/// Only forward-secret AEAD suites exist in rustls, and it never
/// renegotiates or compresses: that posture needs no extra settings.
pub fn build_server_config(
    store: Arc<CertStore>,
    policy: &TlsPolicy,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let config = builder(policy)?
        .with_no_client_auth()
        .with_cert_resolver(store);
    Ok(finish(config, policy))
}

/// Builds the configuration for handshakes that selected one certificate with a
/// client CA: that certificate always (the SNI choice was made before, from the
/// ClientHello), the client's certificate checked by `client.verifier`, and
/// otherwise the same versions, suites, ALPN and suite order as
/// [`build_server_config`]. A client the verifier refuses fails the handshake.
///
/// Each configuration keeps its own session cache, so a session resumed here was
/// established here, with a client certificate this verifier accepted.
pub fn build_client_auth_config(
    key: Arc<CertifiedKey>,
    client: &ClientAuth,
    policy: &TlsPolicy,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let config = builder(policy)?
        .with_client_cert_verifier(client.verifier.clone())
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    Ok(finish(config, policy))
}

/// The versions and suites `policy` allows, on the aws-lc-rs provider.
fn builder(
    policy: &TlsPolicy,
) -> Result<ConfigBuilder<ServerConfig, WantsVerifier>, rustls::Error> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match policy.min_version {
        MinVersion::Tls12 => &[&TLS13, &TLS12],
        MinVersion::Tls13 => &[&TLS13],
    };
    let provider = CryptoProvider {
        cipher_suites: SUITES_BY_PREFERENCE.to_vec(),
        ..default_provider()
    };
    ServerConfig::builder_with_provider(Arc::new(provider)).with_protocol_versions(versions)
}

/// What every configuration sets after it has its certificates: ALPN and our
/// suite order.
fn finish(mut config: ServerConfig, policy: &TlsPolicy) -> Arc<ServerConfig> {
    config.alpn_protocols = policy
        .alpn
        .iter()
        .map(|a| match a {
            Alpn::H2 => b"h2".to_vec(),
            Alpn::Http11 => b"http/1.1".to_vec(),
        })
        .collect();
    // Our order, not the client's (most clients list AES-256 first).
    config.ignore_client_order = true;
    Arc::new(config)
}
