//! Client certificate verification for one `[[tls.certificate]]`: the CA file and
//! CRLs read into rustls' webpki verifier, each file problem pointing at the line
//! that names the file.
//!
//! Revocation: only the client's own (end-entity) certificate is looked up in the
//! CRLs, and, as rustls does by default, a certificate whose issuer has no CRL among
//! `client_crls` is refused once any CRL is configured (its status is unknown). So
//! when CRLs are given, give the CRL of every CA that issues client certificates.
//! A CRL past its next-update time is still used (rustls' default), so an operator
//! whose CRL refresh stalls keeps refusing what it revoked rather than everything.

use crate::load::{read_certificates, read_file, to_time, ClientTrustDates};
use rustls::crypto::aws_lc_rs::default_provider;
use rustls::pki_types::CertificateRevocationListDer;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientCertVerifierBuilder, WebPkiClientVerifier};
use rustls::RootCertStore;
use staticedge_config::{ClientAuthFiles, ClientAuthMode, Location};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;
use x509_parser::prelude::{CertificateRevocationList, FromDer, X509Certificate};

/// What a handshake that selects one certificate does with the client's
/// certificate: the mode, and the verifier rustls calls with the client's chain.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    /// `Required`: no valid certificate, no handshake. `Optional`: none is fine, an
    /// invalid one still fails the handshake.
    pub mode: ClientAuthMode,
    /// Chains to the configured CAs, checks validity dates and the CRLs.
    pub verifier: Arc<dyn ClientCertVerifier>,
}

/// Reads the CA file and the CRLs of one certificate and builds its verifier, with
/// the dates the checks look at; an error names the file and carries the location
/// of the line that names it.
pub(crate) fn load_client_auth(
    files: &ClientAuthFiles,
) -> Result<(ClientAuth, ClientTrustDates), (Location, String)> {
    let (roots, cas) = read_roots(&files.ca).map_err(|m| (files.ca_at, m))?;
    let roots = Arc::new(roots);
    let mut dates = ClientTrustDates {
        ca_path: files.ca.display().to_string(),
        ca_at: files.ca_at,
        cas,
        crls: Vec::new(),
    };
    let mut crls = Vec::new();
    for (i, path) in files.crls.iter().enumerate() {
        let at = files.crls_at.get(i).copied().unwrap_or(files.ca_at);
        let file_crls = read_crls(path).map_err(|m| (at, m))?;
        for crl in &file_crls {
            let next_update = CertificateRevocationList::from_der(crl.as_ref())
                .ok()
                .and_then(|(_, crl)| crl.next_update())
                .map(to_time);
            dates
                .crls
                .push((path.display().to_string(), at, next_update));
        }
        // Parse this file's CRLs on their own, so a bad one is reported at its line.
        verifier_builder(roots.clone(), files.mode, file_crls.clone())
            .build()
            .map_err(|e| (at, format!("{}: not a valid CRL: {e}", path.display())))?;
        crls.extend(file_crls);
    }
    let verifier = verifier_builder(roots, files.mode, crls)
        .build()
        .map_err(|e| {
            (
                files.ca_at,
                format!("{}: cannot verify clients: {e}", files.ca.display()),
            )
        })?;
    let auth = ClientAuth {
        mode: files.mode,
        verifier,
    };
    Ok((auth, dates))
}

/// The one place the verifier's settings are decided (see the module comment).
fn verifier_builder(
    roots: Arc<RootCertStore>,
    mode: ClientAuthMode,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> ClientCertVerifierBuilder {
    let builder = WebPkiClientVerifier::builder_with_provider(roots, Arc::new(default_provider()))
        .with_crls(crls)
        .only_check_end_entity_revocation();
    match mode {
        ClientAuthMode::Required => builder,
        ClientAuthMode::Optional => builder.allow_unauthenticated(),
    }
}

/// Every `CERTIFICATE` block of the CA file, as trust anchors, with each one's
/// subject and end of validity.
fn read_roots(path: &Path) -> Result<(RootCertStore, Vec<(String, SystemTime)>), String> {
    let certs = read_certificates(
        path,
        "client CA file",
        "client_ca needs the CA certificates client certificates chain to",
    )?;
    let dates = certs
        .iter()
        .filter_map(|c| X509Certificate::from_der(c.as_ref()).ok())
        .map(|(_, c)| (c.subject().to_string(), to_time(c.validity().not_after)))
        .collect();
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            format!(
                "{}: certificate {} cannot be a trust anchor: {e}",
                path.display(),
                i + 1
            )
        })?;
    }
    Ok((roots, dates))
}

/// Every `X509 CRL` block of one CRL file; a file with none is an error.
fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let pem = read_file(path, "CRL file")?;
    let crls: Vec<CertificateRevocationListDer<'static>> =
        rustls_pemfile::crls(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: not a PEM CRL file: {e}", path.display()))?;
    if crls.is_empty() {
        return Err(format!(
            "{}: no PEM \"X509 CRL\" block found",
            path.display()
        ));
    }
    Ok(crls)
}
