//! Full handshakes between a rustls client and the server configuration, in memory:
//! which versions are accepted and which cipher suite the server picks.

use rustls::crypto::aws_lc_rs::cipher_suite::{
    TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
};
use rustls::crypto::aws_lc_rs::default_provider;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::version::{TLS12, TLS13};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConnection, SupportedCipherSuite,
};
use staticedge_config::{Alpn, CertificateFiles, Location, MinVersion};
use staticedge_tls::{build_server_config, load_certificates, CertSet, CertStore, TlsPolicy};
use std::path::Path;
use std::sync::Arc;

mod support;

struct Server {
    store: Arc<CertStore>,
    root: RootCertStore,
    _dir: tempfile::TempDir,
}

/// An ECDSA P-256 certificate for `api.example.test` (rcgen's default key type).
fn server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let ck =
        rcgen::generate_simple_self_signed(vec!["api.example.test".to_string()]).expect("rcgen");
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("c.key"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    let files = CertificateFiles {
        cert,
        cert_at: Location { line: 1, col: 1 },
        key,
        key_at: Location { line: 2, col: 1 },
        client_auth: None,
    };
    let loaded = load_certificates(Path::new("se.toml"), &[files]).expect("load");
    let mut root = RootCertStore::empty();
    root.add(ck.cert.der().clone()).expect("root");
    Server {
        store: Arc::new(CertStore::new(CertSet::new(loaded))),
        root,
        _dir: dir,
    }
}

/// Runs one handshake; returns the suite both ends agreed on, or the server's error.
fn handshake(
    server: &Server,
    min_version: MinVersion,
    client_versions: &[&'static rustls::SupportedProtocolVersion],
    client_suites: &[SupportedCipherSuite],
) -> Result<SupportedCipherSuite, rustls::Error> {
    let provider = CryptoProvider {
        cipher_suites: client_suites.to_vec(),
        ..default_provider()
    };
    handshake_with(server, min_version, client_versions, provider)
}

/// Runs one handshake with a client built on `provider` (its suites and key exchange
/// groups are what the client offers).
fn handshake_with(
    server: &Server,
    min_version: MinVersion,
    client_versions: &[&'static rustls::SupportedProtocolVersion],
    provider: CryptoProvider,
) -> Result<SupportedCipherSuite, rustls::Error> {
    let policy = TlsPolicy {
        min_version,
        alpn: vec![Alpn::H2, Alpn::Http11],
    };
    let config = build_server_config(server.store.clone(), &policy).expect("server config");
    let client_config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(client_versions)
        .expect("client versions")
        .with_root_certificates(server.root.clone())
        .with_no_client_auth();
    let name = ServerName::try_from("api.example.test").expect("name");
    let mut client = ClientConnection::new(Arc::new(client_config), name).expect("client");
    let mut srv = ServerConnection::new(config).expect("server");
    support::drive(&mut client, &mut srv)?;
    assert!(!srv.is_handshaking(), "handshake did not finish");
    let suite = srv.negotiated_cipher_suite().expect("suite");
    assert_eq!(client.negotiated_cipher_suite(), Some(suite));
    Ok(suite)
}

#[test]
fn the_server_picks_aes_128_gcm_whatever_the_client_prefers() {
    let s = server();
    let cases: [(
        &str,
        &[&'static rustls::SupportedProtocolVersion],
        Vec<SupportedCipherSuite>,
        SupportedCipherSuite,
    ); 4] = [
        (
            "TLS 1.3, AES-256 first",
            &[&TLS13],
            vec![
                TLS13_AES_256_GCM_SHA384,
                TLS13_CHACHA20_POLY1305_SHA256,
                TLS13_AES_128_GCM_SHA256,
            ],
            TLS13_AES_128_GCM_SHA256,
        ),
        (
            "TLS 1.3, ChaCha20 only",
            &[&TLS13],
            vec![TLS13_CHACHA20_POLY1305_SHA256],
            TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS 1.2, AES-256 first",
            &[&TLS12],
            vec![
                TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ],
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS 1.2, AES-256 only",
            &[&TLS12],
            vec![TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384],
            TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
    ];
    for (name, versions, offered, want) in cases {
        let got = handshake(&s, MinVersion::Tls12, versions, &offered).expect(name);
        assert_eq!(got.suite(), want.suite(), "{name}");
    }
}

#[test]
fn min_version_1_3_refuses_a_tls_1_2_client() {
    let s = server();
    let suites = [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    assert!(handshake(&s, MinVersion::Tls13, &[&TLS12], &suites).is_err());
    let suites = [TLS13_AES_128_GCM_SHA256];
    assert!(handshake(&s, MinVersion::Tls13, &[&TLS13], &suites).is_ok());
}

/// The server's crypto provider is aws-lc-rs (chosen for its cheaper RSA signing): a
/// client offering only the hybrid post-quantum group X25519MLKEM768 gets through,
/// which ring, pingora's own provider, cannot do.
#[test]
fn the_server_runs_on_aws_lc_rs_and_accepts_x25519mlkem768() {
    let s = server();
    let provider = CryptoProvider {
        kx_groups: vec![rustls::crypto::aws_lc_rs::kx_group::X25519MLKEM768],
        ..default_provider()
    };
    let suite = handshake_with(&s, MinVersion::Tls12, &[&TLS13], provider)
        .expect("an X25519MLKEM768-only client completes its handshake");
    assert_eq!(suite, TLS13_AES_128_GCM_SHA256);
}
