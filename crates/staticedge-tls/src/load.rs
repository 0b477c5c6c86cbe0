//! Reading certificate chains and keys from PEM files, with errors an operator can act on.

use crate::client_auth::{load_client_auth, ClientAuth};
use rustls::crypto::aws_lc_rs::sign::any_supported_type;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use staticedge_config::{CertificateFiles, ClientAuthMode, ConfigError, ConfigErrors, Location};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_parser::prelude::*;

/// What an operator wants to know about a loaded certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The certificate file.
    pub path: String,
    /// DNS names from the subjectAltName extension, lowercase (`*.x` kept as written).
    pub names: Vec<String>,
    /// IP addresses from the subjectAltName extension.
    pub ips: Vec<std::net::IpAddr>,
    /// Where the `cert = ` line of this certificate is in the configuration, so later
    /// checks (expiry, names) point at it.
    pub at: Location,
    /// Subject common name, for display when there are no SANs.
    pub subject: String,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Whether handshakes that select this certificate ask for a client certificate,
    /// and how strictly; `None`: they do not.
    pub client_auth: Option<ClientAuthMode>,
    /// The dates of its client CA certificates and CRLs, for the checks that catch an
    /// expired CA or a stale CRL before a partner does.
    pub client_trust: Option<ClientTrustDates>,
}

/// When a certificate's client trust files stop being good: every CA certificate's
/// end of validity and every CRL's next update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTrustDates {
    /// The `client_ca` file.
    pub ca_path: String,
    /// Where `client_ca = ` is in the configuration.
    pub ca_at: Location,
    /// Each CA certificate in it: subject (RFC 4514) and end of validity.
    pub cas: Vec<(String, SystemTime)>,
    /// Each CRL: its file, where that is written, and its nextUpdate when it has one.
    pub crls: Vec<(String, Location, Option<SystemTime>)>,
}

impl CertInfo {
    /// True when the certificate is outside its validity period at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.not_after || now < self.not_before
    }

    /// Seconds since the Unix epoch of `not_after`, for metrics.
    pub fn not_after_unix(&self) -> u64 {
        self.not_after
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A certificate ready to serve: the rustls key plus its description.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// What rustls hands out during the handshake.
    pub key: Arc<CertifiedKey>,
    /// Names, serial, validity.
    pub info: CertInfo,
    /// How client certificates are verified for this certificate, when they are.
    pub client_auth: Option<ClientAuth>,
}

/// Loads every configured certificate, with its client CA and CRLs when it has them;
/// all problems are reported, each pointing at the `cert =`, `key =`, `client_ca =`
/// or `client_crls` line of `config_path` that names the bad file.
pub fn load_certificates(
    config_path: &Path,
    files: &[CertificateFiles],
) -> Result<Vec<LoadedCert>, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut loaded = Vec::new();
    for f in files {
        match load_one(f) {
            Ok(c) => loaded.push(c),
            Err((at, msg)) => errors.push(ConfigError::new(config_path, at, msg)),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
}

fn load_one(f: &CertificateFiles) -> Result<LoadedCert, (Location, String)> {
    if looks_swapped(f) {
        return Err((
            f.cert_at,
            format!(
                "{} holds a private key and {} a certificate: are cert and key swapped?",
                f.cert.display(),
                f.key.display()
            ),
        ));
    }
    let chain = read_chain(&f.cert).map_err(|m| (f.cert_at, m))?;
    let key_der = read_key(&f.key).map_err(|m| (f.key_at, m))?;
    let signing = any_supported_type(&key_der).map_err(|e| {
        (
            f.key_at,
            format!("{}: unsupported private key: {e}", f.key.display()),
        )
    })?;
    let mut info = describe(&f.cert, &chain[0], f.cert_at).map_err(|m| (f.cert_at, m))?;
    let key = CertifiedKey::new(chain, signing);
    key.keys_match().map_err(|_| {
        (
            f.key_at,
            format!(
                "{} does not match the certificate in {}",
                f.key.display(),
                f.cert.display()
            ),
        )
    })?;
    let client_auth = f.client_auth.as_ref().map(load_client_auth).transpose()?;
    info.client_auth = client_auth.as_ref().map(|(c, _)| c.mode);
    let (client_auth, client_trust) = client_auth.unzip();
    info.client_trust = client_trust;
    Ok(LoadedCert {
        key: Arc::new(key),
        info,
        client_auth,
    })
}

/// Every file the certificates are read from (certificate, key, client CA, CRLs), in
/// configuration order: what the certificate file watch looks at, so a renewed CA or
/// a new CRL is picked up like a renewed certificate.
pub fn watched_files(files: &[CertificateFiles]) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for f in files {
        paths.push(f.cert.clone());
        paths.push(f.key.clone());
        if let Some(client) = &f.client_auth {
            paths.push(client.ca.clone());
            paths.extend(client.crls.iter().cloned());
        }
    }
    paths
}

/// True when the `cert` file holds a private key and no certificate while the
/// `key` file holds a certificate: the two paths were written the wrong way round.
fn looks_swapped(f: &CertificateFiles) -> bool {
    let (Ok(cert_pem), Ok(key_pem)) = (std::fs::read(&f.cert), std::fs::read(&f.key)) else {
        return false;
    };
    let has_cert = |pem: &[u8]| rustls_pemfile::certs(&mut &pem[..]).any(|c| c.is_ok());
    let has_key = |pem: &[u8]| matches!(rustls_pemfile::private_key(&mut &pem[..]), Ok(Some(_)));
    !has_cert(&cert_pem) && has_key(&cert_pem) && has_cert(&key_pem)
}

pub(crate) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    read_certificates(path, "certificate", "")
}

/// Every `CERTIFICATE` block of the PEM file at `path`; `what` names the file in
/// messages, `hint` (when not empty) says what it should hold. A file with none is
/// an error.
pub(crate) fn read_certificates(
    path: &Path,
    what: &str,
    hint: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(path, what)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!(" ({hint})")
        };
        return Err(format!(
            "{}: no PEM \"CERTIFICATE\" block found{hint}",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file(path, "private key")?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| format!("{}: not a PEM private key file: {e}", path.display()))?
        .ok_or_else(|| format!("{}: no PEM private key block found", path.display()))
}

fn describe(path: &Path, leaf: &CertificateDer<'_>, at: Location) -> Result<CertInfo, String> {
    let (_, cert) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| format!("{}: cannot parse the certificate: {e}", path.display()))?;
    let (names, ips) = subject_alt_names(&cert);
    let subject = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok(CertInfo {
        path: path.display().to_string(),
        names,
        ips,
        at,
        subject,
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: to_time(cert.validity().not_before),
        not_after: to_time(cert.validity().not_after),
        client_auth: None,
        client_trust: None,
    })
}

/// An ASN.1 time as a `SystemTime` (times before 1970 as the epoch).
pub(crate) fn to_time(t: ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH
    }
}

/// DNS names (lowercase) and IP addresses from the subjectAltName extension.
fn subject_alt_names(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<std::net::IpAddr>) {
    let mut names = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_ascii_lowercase()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        ips.push(std::net::IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        ips.push(std::net::IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    (names, ips)
}
