//! Reading certificate chains and keys from PEM files, with errors an operator can act on.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use staticedge_config::{CertificateFiles, ConfigError, ConfigErrors, Location};
use std::path::Path;
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
    /// Subject common name, for display when there are no SANs.
    pub subject: String,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
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
}

/// Loads every configured certificate; all problems are reported, each pointing at the
/// `cert = ` or `key = ` line of `config_path` that names the bad file.
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
    let chain = read_chain(&f.cert).map_err(|m| (f.cert_at, m))?;
    let key_der = read_key(&f.key).map_err(|m| (f.key_at, m))?;
    let signing = any_supported_type(&key_der).map_err(|e| {
        (
            f.key_at,
            format!("{}: unsupported private key: {e}", f.key.display()),
        )
    })?;
    let info = describe(&f.cert, &chain[0]).map_err(|m| (f.cert_at, m))?;
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
    Ok(LoadedCert {
        key: Arc::new(key),
        info,
    })
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(path, "certificate")?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no PEM \"CERTIFICATE\" block found",
            path.display()
        ));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file(path, "private key")?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| format!("{}: not a PEM private key file: {e}", path.display()))?
        .ok_or_else(|| format!("{}: no PEM private key block found", path.display()))
}

fn describe(path: &Path, leaf: &CertificateDer<'_>) -> Result<CertInfo, String> {
    let (_, cert) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| format!("{}: cannot parse the certificate: {e}", path.display()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    let subject = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let to_time = |t: ASN1Time| {
        let secs = t.timestamp();
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH
        }
    };
    Ok(CertInfo {
        path: path.display().to_string(),
        names,
        subject,
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: to_time(cert.validity().not_before),
        not_after: to_time(cert.validity().not_after),
    })
}
