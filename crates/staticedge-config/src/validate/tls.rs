//! `[tls]` and its `[[tls.certificate]]` entries. The certificate files themselves
//! are read by the TLS crate; here only their paths and positions are kept.

use super::values::one_of;
use crate::file::{Problems, Table};
use crate::model::*;

/// `[tls]`.
pub(super) fn tls(p: &mut Problems<'_>, mut t: Table<'_>) -> TlsSettings {
    let min_version = t
        .string("min_version", p)
        .and_then(|v| {
            one_of(
                p,
                &v,
                "tls.min_version",
                &[("1.2", MinVersion::Tls12), ("1.3", MinVersion::Tls13)],
            )
        })
        .unwrap_or(MinVersion::Tls12);
    let alpn = match t.strings("alpn", p) {
        None => vec![Alpn::H2, Alpn::Http11],
        Some(list) => list
            .iter()
            .filter_map(|a| {
                one_of(
                    p,
                    a,
                    "tls.alpn",
                    &[("h2", Alpn::H2), ("http/1.1", Alpn::Http11)],
                )
            })
            .collect(),
    };
    let certificates = t
        .tables("certificate", p)
        .into_iter()
        .filter_map(|entry| certificate(p, entry))
        .collect();
    t.finish(p);
    TlsSettings {
        min_version,
        alpn,
        certificates,
    }
}

/// One `[[tls.certificate]]`: both paths, resolved against the file's directory.
fn certificate(p: &mut Problems<'_>, mut t: Table<'_>) -> Option<CertificateFiles> {
    let cert = t.required_string("cert", p);
    let key = t.required_string("key", p);
    t.finish(p);
    let (cert, key) = (cert?, key?);
    Some(CertificateFiles {
        cert: super::resolve_path(p, cert.get_ref()),
        cert_at: p.at(&cert.span()),
        key: super::resolve_path(p, key.get_ref()),
        key_at: p.at(&key.span()),
        client_auth: None,
    })
}
