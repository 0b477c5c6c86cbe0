//! What several test files share: a throwaway PKI made at test time with rcgen
//! (certificate authorities, the client certificates they issue, their revocation
//! lists; nothing is committed) and an in-memory handshake between a rustls client
//! and server.

#![allow(dead_code)] // each test file uses a different part of it

use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams,
    CertificateRevocationListParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConnection, ServerConnection};
use std::path::{Path, PathBuf};

/// A certificate authority that can issue client certificates and CRLs.
pub struct Ca {
    pub cert: Certificate,
    key: KeyPair,
}

/// An issued client certificate with its private key, in the forms rustls takes.
pub struct Client {
    pub der: CertificateDer<'static>,
    key_pkcs8: Vec<u8>,
}

impl Client {
    /// The chain a client sends (just its own certificate).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.der.clone()]
    }

    /// Its private key.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }
}

/// Who a client certificate is for and when it is valid.
pub struct ClientSpec<'a> {
    pub common_name: &'a str,
    pub organization: Option<&'a str>,
    pub dns: &'a [&'a str],
    pub uris: &'a [&'a str],
    pub serial: u64,
    pub from: (i32, u8, u8),
    pub until: (i32, u8, u8),
}

impl<'a> ClientSpec<'a> {
    /// A certificate with the subject `CN=common_name` and no SANs, valid 2020 to 2090.
    pub fn named(common_name: &'a str, serial: u64) -> Self {
        ClientSpec {
            common_name,
            organization: None,
            dns: &[],
            uris: &[],
            serial,
            from: (2020, 1, 1),
            until: (2090, 1, 1),
        }
    }
}

impl Ca {
    /// A self-signed CA named `name`, allowed to sign certificates and CRLs.
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2090, 1, 1);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { cert, key }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A client certificate per `spec`, for TLS client authentication.
    pub fn issue(&self, spec: &ClientSpec<'_>) -> Client {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        if let Some(o) = spec.organization {
            params.distinguished_name.push(DnType::OrganizationName, o);
        }
        params
            .distinguished_name
            .push(DnType::CommonName, spec.common_name);
        params.subject_alt_names = spec
            .dns
            .iter()
            .map(|d| SanType::DnsName((*d).try_into().expect("dns name")))
            .chain(
                spec.uris
                    .iter()
                    .map(|u| SanType::URI((*u).try_into().expect("uri"))),
            )
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(SerialNumber::from(spec.serial));
        params.not_before = date_time_ymd(spec.from.0, spec.from.1, spec.from.2);
        params.not_after = date_time_ymd(spec.until.0, spec.until.1, spec.until.2);
        let key = KeyPair::generate().expect("client key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("client certificate");
        Client {
            der: cert.der().clone(),
            key_pkcs8: key.serialize_der(),
        }
    }

    /// A CRL of this CA revoking `serials`, PEM.
    pub fn crl(&self, serials: &[u64]) -> String {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2024, 1, 1),
            next_update: date_time_ymd(2090, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: date_time_ymd(2024, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.cert, &self.key)
            .expect("CRL")
            .pem()
            .expect("CRL PEM")
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

/// Runs a handshake in memory, one flight at a time, until both ends are done.
/// Returns the first error either end raises (the server's when it refuses the
/// client's certificate: a TLS 1.3 client has finished by then).
pub fn drive(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), rustls::Error> {
    for _ in 0..10 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).expect("client write");
        }
        let mut rest = wire.as_slice();
        while !rest.is_empty() {
            server.read_tls(&mut rest).expect("server read");
            server.process_new_packets()?;
        }
        let mut wire = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut wire).expect("server write");
        }
        let mut rest = wire.as_slice();
        while !rest.is_empty() {
            client.read_tls(&mut rest).expect("client read");
            client.process_new_packets()?;
        }
    }
    panic!("the handshake did not finish in 10 flights");
}
