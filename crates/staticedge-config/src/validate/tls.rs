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
    let client_auth = client_auth(p, &mut t);
    t.finish(p);
    let (cert, key) = (cert?, key?);
    Some(CertificateFiles {
        cert: super::resolve_path(p, cert.get_ref()),
        cert_at: p.at(&cert.span()),
        key: super::resolve_path(p, key.get_ref()),
        key_at: p.at(&key.span()),
        client_auth,
    })
}

/// `client_ca`, `client_auth` and `client_crls` of one certificate. `client_ca` turns
/// client authentication on ("required" unless `client_auth` says "optional"); the
/// other two mean nothing without it, which is a problem rather than a silent no-op.
fn client_auth(p: &mut Problems<'_>, t: &mut Table<'_>) -> Option<ClientAuthFiles> {
    let ca = t.string("client_ca", p);
    let mode = t.string("client_auth", p);
    let crls = t.strings("client_crls", p);
    let Some(ca) = ca else {
        for (written, key) in [
            (mode.as_ref().map(|m| m.span()), "client_auth"),
            (
                crls.as_ref().and_then(|c| c.first()).map(|c| c.span()),
                "client_crls",
            ),
        ] {
            if let Some(span) = written {
                p.add(
                    &span,
                    format!("tls.certificate.{key} needs client_ca: the CA file client certificates must chain to"),
                );
            }
        }
        return None;
    };
    let mode = match mode {
        None => ClientAuthMode::Required,
        Some(m) => one_of(
            p,
            &m,
            "tls.certificate.client_auth",
            &[
                ("required", ClientAuthMode::Required),
                ("optional", ClientAuthMode::Optional),
            ],
        )?,
    };
    let crls = crls.unwrap_or_default();
    Some(ClientAuthFiles {
        mode,
        ca: super::resolve_path(p, ca.get_ref()),
        ca_at: p.at(&ca.span()),
        crls: crls
            .iter()
            .map(|c| super::resolve_path(p, c.get_ref()))
            .collect(),
        crls_at: crls.iter().map(|c| p.at(&c.span())).collect(),
    })
}
