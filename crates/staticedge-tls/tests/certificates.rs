//! Loading certificates from files (every failure is a config error, never a panic)
//! and choosing one by SNI.

use staticedge_config::{CertificateFiles, Location};
use staticedge_tls::{load_certificates, CertSet};
use std::path::{Path, PathBuf};

struct Pair {
    cert: PathBuf,
    key: PathBuf,
}

fn write_pair(dir: &Path, stem: &str, names: &[&str]) -> Pair {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    Pair { cert, key }
}

fn files(cert: &Path, key: &Path) -> CertificateFiles {
    CertificateFiles {
        cert: cert.to_path_buf(),
        cert_at: Location { line: 4, col: 8 },
        key: key.to_path_buf(),
        key_at: Location { line: 5, col: 7 },
        client_auth: None,
    }
}

#[test]
fn bad_files_are_config_errors_at_the_line_that_names_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write_pair(dir.path(), "a", &["a.test"]);
    let b = write_pair(dir.path(), "b", &["b.test"]);
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").expect("write");
    let missing = dir.path().join("missing.pem");

    let cases: [(&str, CertificateFiles, &str); 5] = [
        (
            "missing cert",
            files(&missing, &a.key),
            "se.toml:4:8: cannot read certificate",
        ),
        (
            "missing key",
            files(&a.cert, &missing),
            "se.toml:5:7: cannot read private key",
        ),
        ("cert not PEM", files(&garbage, &a.key), "se.toml:4:8: "),
        ("key not PEM", files(&a.cert, &garbage), "se.toml:5:7: "),
        (
            "key of another cert",
            files(&a.cert, &b.key),
            "se.toml:5:7: ",
        ),
    ];
    for (name, f, want) in cases {
        let errors = load_certificates(Path::new("se.toml"), &[f]).expect_err(name);
        let line = errors.to_string();
        assert!(line.contains(want), "{name}: {line}");
        assert_eq!(errors.0.len(), 1, "{name}");
    }
    let swapped =
        load_certificates(Path::new("se.toml"), &[files(&a.key, &a.cert)]).expect_err("swapped");
    assert!(
        swapped.to_string().starts_with("se.toml:4:8: ")
            && swapped.to_string().ends_with("are cert and key swapped?"),
        "{swapped}"
    );
    let mismatch =
        load_certificates(Path::new("se.toml"), &[files(&a.cert, &b.key)]).expect_err("mismatch");
    assert!(
        mismatch.to_string().contains("does not match"),
        "{mismatch}"
    );
    assert!(load_certificates(Path::new("se.toml"), &[files(&a.cert, &a.key)]).is_ok());
}

#[test]
fn sni_picks_exact_then_wildcard_then_the_first_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = write_pair(dir.path(), "first", &["api.example.test"]);
    let wild = write_pair(
        dir.path(),
        "wild",
        &["*.partners.example.test", "partners.example.test"],
    );
    let loaded = load_certificates(
        Path::new("se.toml"),
        &[files(&first.cert, &first.key), files(&wild.cert, &wild.key)],
    )
    .expect("load");
    let first_key = loaded[0].key.clone();
    let wild_key = loaded[1].key.clone();
    assert_eq!(
        loaded[1].info.names,
        ["*.partners.example.test", "partners.example.test"]
    );
    let set = CertSet::new(loaded);
    let cases = [
        (Some("api.example.test"), &first_key),
        (Some("API.Example.Test."), &first_key),
        (Some("acme.partners.example.test"), &wild_key),
        (Some("partners.example.test"), &wild_key),
        (Some("a.b.partners.example.test"), &first_key), // wildcards cover one label
        (Some("unknown.test"), &first_key),
        (None, &first_key),
    ];
    for (sni, want) in cases {
        assert!(
            set.select(sni)
                .is_some_and(|k| std::sync::Arc::ptr_eq(&k, want)),
            "SNI {sni:?} chose the wrong certificate"
        );
    }
}
