//! Client certificate settings: the CA file and CRLs load with errors at the line
//! that names them, and the files the certificate watch must look at.

use staticedge_config::{CertificateFiles, ClientAuthFiles, ClientAuthMode, Location};
use staticedge_tls::{load_certificates, watched_files, CertSet};
use std::path::{Path, PathBuf};
use support::{write, Ca};

mod support;

const CA_AT: Location = Location { line: 6, col: 13 };
const CRL_AT: [Location; 2] = [Location { line: 8, col: 17 }, Location { line: 8, col: 40 }];

/// A server certificate and key in `dir`, with client authentication against the
/// CA file `ca` and the CRL files `crls`.
fn files(dir: &Path, ca: &Path, crls: &[PathBuf], mode: ClientAuthMode) -> CertificateFiles {
    let ck = rcgen::generate_simple_self_signed(vec!["api.example.test".to_string()])
        .expect("server certificate");
    CertificateFiles {
        cert: write(dir, "api.pem", &ck.cert.pem()),
        cert_at: Location { line: 4, col: 8 },
        key: write(dir, "api.key", &ck.key_pair.serialize_pem()),
        key_at: Location { line: 5, col: 7 },
        client_auth: Some(ClientAuthFiles {
            mode,
            ca: ca.to_path_buf(),
            ca_at: CA_AT,
            crls: crls.to_vec(),
            crls_at: CRL_AT[..crls.len()].to_vec(),
        }),
    }
}

#[test]
fn a_good_ca_and_crls_load_and_say_how_clients_are_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (Ca::new("Partners A"), Ca::new("Partners B"));
    let ca = write(dir.path(), "cas.pem", &(a.pem() + &b.pem()));
    let crls = [
        write(dir.path(), "a.crl.pem", &a.crl(&[7])),
        write(dir.path(), "b.crl.pem", &b.crl(&[])),
    ];
    for mode in [ClientAuthMode::Required, ClientAuthMode::Optional] {
        let loaded =
            load_certificates(Path::new("se.toml"), &[files(dir.path(), &ca, &crls, mode)])
                .expect("loads");
        assert_eq!(loaded[0].info.client_auth, Some(mode));
        let client = loaded[0].client_auth.as_ref().expect("client auth");
        assert_eq!(client.mode, mode);
        // rustls advertises client authentication; only Required makes it mandatory.
        assert!(client.verifier.offer_client_auth());
        assert_eq!(
            client.verifier.client_auth_mandatory(),
            mode == ClientAuthMode::Required
        );
    }
}

#[test]
fn a_certificate_without_client_ca_asks_for_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut f = files(
        dir.path(),
        Path::new("unused"),
        &[],
        ClientAuthMode::Required,
    );
    f.client_auth = None;
    let loaded = load_certificates(Path::new("se.toml"), &[f]).expect("loads");
    assert_eq!(loaded[0].info.client_auth, None);
    assert!(loaded[0].client_auth.is_none());
}

#[test]
fn ca_and_crl_problems_are_errors_at_the_line_that_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("Partners");
    let good_ca = write(dir.path(), "ca.pem", &ca.pem());
    let good_crl = write(dir.path(), "ca.crl.pem", &ca.crl(&[]));
    let missing = dir.path().join("missing.pem");
    let key_only = write(
        dir.path(),
        "key-only.pem",
        &rcgen::KeyPair::generate().expect("key").serialize_pem(),
    );
    let not_a_crl = write(
        dir.path(),
        "bad.crl.pem",
        "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    );
    let cases: [(&str, &Path, Vec<PathBuf>, &str); 6] = [
        (
            "missing CA file",
            &missing,
            vec![],
            "se.toml:6:13: cannot read client CA file",
        ),
        (
            "CA file without a certificate",
            &key_only,
            vec![],
            "se.toml:6:13: ",
        ),
        (
            "missing CRL file",
            &good_ca,
            vec![missing.clone()],
            "se.toml:8:17: cannot read CRL file",
        ),
        (
            "CRL file without a CRL",
            &good_ca,
            vec![good_ca.clone()],
            "se.toml:8:17: ",
        ),
        (
            "second CRL not a CRL",
            &good_ca,
            vec![good_crl.clone(), not_a_crl.clone()],
            "se.toml:8:40: ",
        ),
        (
            "CRL block with garbage",
            &good_ca,
            vec![not_a_crl.clone()],
            "se.toml:8:17: ",
        ),
    ];
    for (name, ca, crls, want) in cases {
        let f = files(dir.path(), ca, &crls, ClientAuthMode::Required);
        let errors = load_certificates(Path::new("se.toml"), &[f]).expect_err(name);
        let line = errors.to_string();
        assert!(line.starts_with(want), "{name}: {line}");
        assert_eq!(errors.0.len(), 1, "{name}: {line}");
    }
    let f = files(dir.path(), &key_only, &[], ClientAuthMode::Required);
    let line = load_certificates(Path::new("se.toml"), &[f])
        .expect_err("no certificate")
        .to_string();
    assert!(
        line.contains("key-only.pem: no PEM \"CERTIFICATE\" block found"),
        "{line}"
    );
    let f = files(
        dir.path(),
        &good_ca,
        std::slice::from_ref(&good_ca),
        ClientAuthMode::Required,
    );
    let line = load_certificates(Path::new("se.toml"), &[f])
        .expect_err("no CRL")
        .to_string();
    assert!(line.contains("no PEM \"X509 CRL\" block found"), "{line}");
}

#[test]
fn the_watch_list_has_every_certificate_key_ca_and_crl_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crls = [dir.path().join("a.crl"), dir.path().join("b.crl")];
    let with_client = files(
        dir.path(),
        &dir.path().join("ca.pem"),
        &crls,
        ClientAuthMode::Optional,
    );
    let mut plain = with_client.clone();
    plain.client_auth = None;
    let paths = watched_files(&[plain, with_client]);
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        ["api.pem", "api.key", "api.pem", "api.key", "ca.pem", "a.crl", "b.crl"]
    );
}

#[test]
fn the_set_selects_by_index_and_knows_which_certificates_ask_for_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = write(dir.path(), "ca.pem", &Ca::new("Partners").pem());
    let plain_dir = tempfile::tempdir().expect("tempdir");
    let mut plain = files(plain_dir.path(), &ca, &[], ClientAuthMode::Required);
    plain.client_auth = None;
    let ck = rcgen::generate_simple_self_signed(vec!["*.partners.example.test".to_string()])
        .expect("wildcard certificate");
    let mut partners = files(dir.path(), &ca, &[], ClientAuthMode::Optional);
    partners.cert = write(dir.path(), "partners.pem", &ck.cert.pem());
    partners.key = write(dir.path(), "partners.key", &ck.key_pair.serialize_pem());

    let only_plain = load_certificates(Path::new("se.toml"), &[plain.clone()]).expect("load");
    assert!(!CertSet::new(only_plain).has_client_auth());
    assert_eq!(CertSet::new(Vec::new()).select_index(None), None);

    let loaded = load_certificates(Path::new("se.toml"), &[plain, partners]).expect("load");
    let partners_key = loaded[1].key.clone();
    let set = CertSet::new(loaded);
    assert!(set.has_client_auth());
    let cases = [
        (Some("api.example.test"), 0),
        (Some("a.partners.example.test"), 1),
        (Some("A.Partners.Example.Test."), 1),
        (Some("a.b.partners.example.test"), 0),
        (Some("unknown.test"), 0),
        (None, 0),
    ];
    for (sni, want) in cases {
        assert_eq!(set.select_index(sni), Some(want), "{sni:?}");
    }
    assert!(set.client_auth(0).is_none(), "no client_ca");
    let (key, client) = set.client_auth(1).expect("client auth of the second");
    assert!(std::sync::Arc::ptr_eq(key, &partners_key));
    assert_eq!(client.mode, ClientAuthMode::Optional);
    assert!(set.client_auth(2).is_none(), "out of range");
}
