//! Who a verified client certificate names, in the forms the rest of staticedge
//! uses: header and access log text, the names a route's allow-list is matched
//! against, and the fingerprint a rate limit can key on.

use sha2::{Digest, Sha256};
use std::fmt::Write;
use x509_parser::der_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::prelude::*;

/// The identity of a client certificate the handshake verified. Built once per
/// connection; every text field is safe as an HTTP header value (printable ASCII
/// only: any other byte appears as `\xNN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject, RFC 4514 style: last RDN first, `,` between RDNs, `+` inside
    /// one, RFC 4514 escapes (e.g. `CN=partner-a.example.com,O=Partner A`).
    pub subject: String,
    /// The subject alternative names, OpenSSL style:
    /// `DNS:partner-a.example.com, URI:spiffe://partners/a` (also `IP:` and `email:`).
    pub sans: String,
    /// SHA-256 of the certificate's DER, 64 lowercase hex digits.
    pub fingerprint: String,
    /// DNS SANs, URI SANs, then subject common names, lowercase: what
    /// [`ClientIdentity::matches_any`] compares.
    names: Vec<String>,
    fingerprint_bytes: [u8; 32],
}

impl ClientIdentity {
    /// The identity in `leaf`, the DER of the client's own certificate (the first
    /// of the chain it sent). `None` when it does not parse, which a certificate
    /// rustls verified always does.
    pub fn from_der(leaf: &[u8]) -> Option<ClientIdentity> {
        let (_, cert) = X509Certificate::from_der(leaf).ok()?;
        let fingerprint_bytes: [u8; 32] = Sha256::digest(leaf).into();
        let (sans, mut names) = alt_names(&cert);
        names.extend(common_names(cert.subject()));
        Some(ClientIdentity {
            subject: header_safe(&rfc4514(cert.subject())),
            sans: header_safe(&sans),
            fingerprint: hex(&fingerprint_bytes),
            names,
            fingerprint_bytes,
        })
    }

    /// True when one of `allowed` (lowercase, as the configuration holds them)
    /// equals a DNS or URI subject alternative name or a subject common name of
    /// this certificate, ignoring ASCII case. Exact names only: no wildcards.
    pub fn matches_any(&self, allowed: &[String]) -> bool {
        self.names
            .iter()
            .any(|name| allowed.iter().any(|a| a.eq_ignore_ascii_case(name)))
    }

    /// The names [`ClientIdentity::matches_any`] compares, in that order: DNS SANs,
    /// URI SANs, subject common names (lowercase, unescaped).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// SHA-256 of the certificate's DER: a fixed-size key for per-certificate
    /// rate limits.
    pub fn fingerprint_bytes(&self) -> [u8; 32] {
        self.fingerprint_bytes
    }
}

/// The SAN text (`DNS:a, URI:b`) and the DNS then URI names, lowercase.
fn alt_names(cert: &X509Certificate<'_>) -> (String, Vec<String>) {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return (String::new(), Vec::new());
    };
    let mut parts = Vec::new();
    let (mut dns, mut uris) = (Vec::new(), Vec::new());
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(d) => {
                parts.push(format!("DNS:{d}"));
                dns.push(d.to_ascii_lowercase());
            }
            GeneralName::URI(u) => {
                parts.push(format!("URI:{u}"));
                uris.push(u.to_ascii_lowercase());
            }
            GeneralName::RFC822Name(e) => parts.push(format!("email:{e}")),
            GeneralName::IPAddress(bytes) => {
                if let Some(ip) = ip_text(bytes) {
                    parts.push(format!("IP:{ip}"));
                }
            }
            _ => {}
        }
    }
    dns.extend(uris);
    (parts.join(", "), dns)
}

fn ip_text(bytes: &[u8]) -> Option<std::net::IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(v4.into())
    } else {
        <[u8; 16]>::try_from(bytes).ok().map(Into::into)
    }
}

/// Every subject common name that is text, lowercase.
fn common_names(subject: &X509Name<'_>) -> Vec<String> {
    subject
        .iter_common_name()
        .filter_map(|cn| value_text(cn.attr_value()))
        .map(|cn| cn.to_ascii_lowercase())
        .collect()
}

/// Attribute types RFC 4514 names (and the two OpenSSL adds); others are written
/// as their dotted OID.
const ATTRIBUTE_NAMES: [(&str, &str); 11] = [
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("2.5.4.5", "serialNumber"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
];

/// RFC 4514 text of a distinguished name: the RDNs last first, joined by `,`.
fn rfc4514(name: &X509Name<'_>) -> String {
    let mut rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            let attributes: Vec<String> = rdn.iter().map(attribute).collect();
            attributes.join("+")
        })
        .collect();
    rdns.reverse();
    rdns.join(",")
}

/// One `type=value` of a name, escaped as RFC 4514 says; a value that is not a
/// string is `#` and the hex of its DER.
fn attribute(attr: &AttributeTypeAndValue<'_>) -> String {
    let oid = attr.attr_type().to_id_string();
    let kind = ATTRIBUTE_NAMES
        .iter()
        .find(|(id, _)| *id == oid)
        .map_or(oid.as_str(), |(_, short)| short);
    let value = match value_text(attr.attr_value()) {
        Some(text) => escape_rfc4514(&text),
        None => format!(
            "#{}",
            hex(&attr.attr_value().to_der_vec().unwrap_or_default())
        ),
    };
    format!("{kind}={value}")
}

/// The text of a directory string value, when it is one.
fn value_text(value: &Any<'_>) -> Option<String> {
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => Some(String::from_utf8_lossy(value.data).into_owned()),
        // Latin-1 in practice.
        Tag::T61String => Some(value.data.iter().map(|b| char::from(*b)).collect()),
        Tag::BmpString => {
            let units = value
                .data
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            Some(
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or('\u{fffd}'))
                    .collect(),
            )
        }
        _ => None,
    }
}

/// RFC 4514 section 2.4: `"+,;<>\` always, `#` or space first, space last.
fn escape_rfc4514(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` with every byte outside printable ASCII written as `\xNN`, so it can go
/// into an HTTP header or a log line as it is.
fn header_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..0x7f).contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
