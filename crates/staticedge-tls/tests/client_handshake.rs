//! Full handshakes, in memory, between a rustls client with or without a client
//! certificate and the configuration `build_client_auth_config` makes: which
//! clients get through, what the server then knows of them, and why the others fail.

use rustls::crypto::aws_lc_rs::default_provider;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, Error, RootCertStore, ServerConnection,
};
use staticedge_config::{
    Alpn, CertificateFiles, ClientAuthFiles, ClientAuthMode, Location, MinVersion,
};
use staticedge_tls::{build_client_auth_config, load_certificates, ClientIdentity, TlsPolicy};
use std::path::Path;
use std::sync::Arc;
use support::{write, Ca, Client, ClientSpec};

mod support;

/// A server for `api.example.test` asking for client certificates.
struct Server {
    config: Arc<rustls::ServerConfig>,
    root: RootCertStore,
    _dir: tempfile::TempDir,
}

/// A server that trusts client certificates of `ca`, with `ca`'s CRL revoking
/// `revoked` when that is `Some`.
fn server(ca: &Ca, revoked: Option<&[u64]>, mode: ClientAuthMode) -> Server {
    let crls: Vec<String> = revoked.map(|serials| ca.crl(serials)).into_iter().collect();
    server_trusting(&ca.pem(), &crls, mode)
}

/// A server whose client CA file holds `ca_pem` and whose CRL files hold `crl_pems`.
fn server_trusting(ca_pem: &str, crl_pems: &[String], mode: ClientAuthMode) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let ck =
        rcgen::generate_simple_self_signed(vec!["api.example.test".to_string()]).expect("rcgen");
    let crls: Vec<_> = crl_pems
        .iter()
        .enumerate()
        .map(|(i, pem)| write(dir.path(), &format!("{i}.crl.pem"), pem))
        .collect();
    let files = CertificateFiles {
        cert: write(dir.path(), "api.pem", &ck.cert.pem()),
        cert_at: Location { line: 2, col: 1 },
        key: write(dir.path(), "api.key", &ck.key_pair.serialize_pem()),
        key_at: Location { line: 3, col: 1 },
        client_auth: Some(ClientAuthFiles {
            mode,
            ca: write(dir.path(), "ca.pem", ca_pem),
            ca_at: Location { line: 4, col: 1 },
            crls_at: vec![Location { line: 5, col: 1 }; crls.len()],
            crls,
        }),
    };
    let loaded = load_certificates(Path::new("se.toml"), &[files]).expect("load");
    let policy = TlsPolicy {
        min_version: MinVersion::Tls12,
        alpn: vec![Alpn::H2, Alpn::Http11],
    };
    let client_auth = loaded[0].client_auth.as_ref().expect("client auth");
    let config =
        build_client_auth_config(loaded[0].key.clone(), client_auth, &policy).expect("config");
    let mut root = RootCertStore::empty();
    root.add(ck.cert.der().clone()).expect("root");
    Server {
        config,
        root,
        _dir: dir,
    }
}

/// Runs a handshake (TLS 1.3, or TLS 1.2 with `tls12`) with `client`'s certificate,
/// or none; returns what the server saw of the client's certificate.
fn connect(
    server: &Server,
    client: Option<&Client>,
    tls12: bool,
) -> Result<Option<Vec<CertificateDer<'static>>>, Error> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(server.root.clone());
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(c.chain(), c.key())
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from("api.example.test").expect("name");
    let mut conn = ClientConnection::new(Arc::new(config), name).expect("client");
    let mut srv = ServerConnection::new(server.config.clone()).expect("server");
    support::drive(&mut conn, &mut srv)?;
    assert_eq!(srv.alpn_protocol(), Some(&b"h2"[..]), "ALPN as configured");
    Ok(srv.peer_certificates().map(<[_]>::to_vec))
}

fn invalid(e: &Error) -> Option<&CertificateError> {
    match e {
        Error::InvalidCertificate(c) => Some(c),
        _ => None,
    }
}

#[test]
fn a_valid_client_certificate_gets_through_and_the_server_sees_it() {
    let ca = Ca::new("Partners");
    let partner = ca.issue(&ClientSpec {
        organization: Some("Partner A"),
        dns: &["partner-a.example.com"],
        uris: &["spiffe://partners/a"],
        ..ClientSpec::named("partner-a.example.com", 10)
    });
    for mode in [ClientAuthMode::Required, ClientAuthMode::Optional] {
        let s = server(&ca, None, mode);
        for tls12 in [false, true] {
            let seen = connect(&s, Some(&partner), tls12).expect("handshake");
            assert_eq!(seen, Some(partner.chain()), "{mode:?} tls12={tls12}");
        }
    }
    let seen = connect(
        &server(&ca, None, ClientAuthMode::Required),
        Some(&partner),
        false,
    )
    .expect("handshake")
    .expect("client certificate");
    let id = ClientIdentity::from_der(&seen[0]).expect("identity");
    assert_eq!(id.subject, "CN=partner-a.example.com,O=Partner A");
    assert_eq!(
        id.sans,
        "DNS:partner-a.example.com, URI:spiffe://partners/a"
    );
}

#[test]
fn no_certificate_fails_when_required_and_passes_when_optional() {
    let ca = Ca::new("Partners");
    let required = server(&ca, None, ClientAuthMode::Required);
    let err = connect(&required, None, false).expect_err("required");
    assert_eq!(err, Error::NoCertificatesPresented);
    let err = connect(&required, None, true).expect_err("required, TLS 1.2");
    assert_eq!(err, Error::NoCertificatesPresented);

    let optional = server(&ca, None, ClientAuthMode::Optional);
    assert_eq!(connect(&optional, None, false).expect("optional"), None);
    assert_eq!(connect(&optional, None, true).expect("optional 1.2"), None);
}

#[test]
fn a_certificate_from_another_ca_fails_even_when_optional() {
    let ca = Ca::new("Partners");
    let stranger = Ca::new("Someone Else").issue(&ClientSpec::named("partner-a.example.com", 10));
    for mode in [ClientAuthMode::Required, ClientAuthMode::Optional] {
        let err = connect(&server(&ca, None, mode), Some(&stranger), false).expect_err("other CA");
        assert_eq!(
            invalid(&err),
            Some(&CertificateError::UnknownIssuer),
            "{mode:?}: {err}"
        );
    }
}

#[test]
fn an_expired_or_not_yet_valid_certificate_fails() {
    let ca = Ca::new("Partners");
    let s = server(&ca, None, ClientAuthMode::Required);
    let expired = ca.issue(&ClientSpec {
        from: (2020, 1, 1),
        until: (2021, 1, 1),
        ..ClientSpec::named("partner-a.example.com", 11)
    });
    let err = connect(&s, Some(&expired), false).expect_err("expired");
    assert!(
        matches!(
            invalid(&err),
            Some(CertificateError::Expired | CertificateError::ExpiredContext { .. })
        ),
        "{err}"
    );
    let future = ca.issue(&ClientSpec {
        from: (2080, 1, 1),
        until: (2090, 1, 1),
        ..ClientSpec::named("partner-a.example.com", 12)
    });
    let err = connect(&s, Some(&future), false).expect_err("not yet valid");
    assert!(
        matches!(
            invalid(&err),
            Some(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. })
        ),
        "{err}"
    );
}

#[test]
fn a_certificate_revoked_by_the_crl_fails_and_the_others_pass() {
    let ca = Ca::new("Partners");
    let s = server(&ca, Some(&[20]), ClientAuthMode::Required);
    let revoked = ca.issue(&ClientSpec::named("partner-a.example.com", 20));
    let err = connect(&s, Some(&revoked), false).expect_err("revoked");
    assert_eq!(invalid(&err), Some(&CertificateError::Revoked), "{err}");
    let err = connect(&s, Some(&revoked), true).expect_err("revoked, TLS 1.2");
    assert_eq!(invalid(&err), Some(&CertificateError::Revoked), "{err}");

    let kept = ca.issue(&ClientSpec::named("partner-b.example.com", 21));
    assert_eq!(
        connect(&s, Some(&kept), false).expect("not revoked"),
        Some(kept.chain())
    );
}

/// With CRLs configured, a CA without one among them cannot vouch for its clients:
/// their revocation status is unknown, and rustls refuses that by default.
#[test]
fn with_crls_a_client_whose_ca_has_no_crl_fails_as_unknown_status() {
    let (a, b) = (Ca::new("Partners A"), Ca::new("Partners B"));
    let s = server_trusting(
        &(a.pem() + &b.pem()),
        &[a.crl(&[])],
        ClientAuthMode::Required,
    );
    let from_a = a.issue(&ClientSpec::named("a.example.com", 30));
    assert!(connect(&s, Some(&from_a), false).is_ok());
    let from_b = b.issue(&ClientSpec::named("b.example.com", 31));
    let err = connect(&s, Some(&from_b), false).expect_err("no CRL for B");
    assert_eq!(
        invalid(&err),
        Some(&CertificateError::UnknownRevocationStatus),
        "{err}"
    );
}
