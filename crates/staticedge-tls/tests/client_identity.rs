//! What a client certificate's identity reads as: header texts, the fingerprint,
//! and which allow-list names match it.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use staticedge_tls::ClientIdentity;

/// A self-signed certificate (the identity does not depend on who signed it) with
/// `dn` in this order (the RDN sequence as encoded) and these SANs.
fn cert(dn: &[(DnType, &str)], sans: Vec<SanType>) -> Vec<u8> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new(); // no default CN
    for (kind, value) in dn {
        params.distinguished_name.push(kind.clone(), *value);
    }
    params.subject_alt_names = sans;
    let key = KeyPair::generate().expect("key");
    params
        .self_signed(&key)
        .expect("certificate")
        .der()
        .to_vec()
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().expect("dns"))
}

fn uri(u: &str) -> SanType {
    SanType::URI(u.try_into().expect("uri"))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn subject_sans_and_fingerprint_read_as_the_headers_carry_them() {
    let der = cert(
        &[
            (DnType::CountryName, "DE"),
            (DnType::OrganizationName, "Partner A"),
            (DnType::CommonName, "partner-a.example.com"),
        ],
        vec![
            dns("partner-a.example.com"),
            uri("spiffe://partners/a"),
            SanType::IpAddress("192.0.2.7".parse().expect("ip")),
        ],
    );
    let id = ClientIdentity::from_der(&der).expect("identity");
    // RFC 4514: the last RDN of the sequence first.
    assert_eq!(id.subject, "CN=partner-a.example.com,O=Partner A,C=DE");
    assert_eq!(
        id.sans,
        "DNS:partner-a.example.com, URI:spiffe://partners/a, IP:192.0.2.7"
    );
    // SHA-256 of the DER, computed here with aws-lc-rs rather than the crate's sha2.
    let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let digest = suite
        .tls13()
        .expect("TLS 1.3 suite")
        .common
        .hash_provider
        .hash(&der);
    let want: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(id.fingerprint, want);
    assert_eq!(id.fingerprint.len(), 64);
    assert_eq!(&id.fingerprint_bytes()[..], digest.as_ref());
    assert_eq!(
        id.names(),
        [
            "partner-a.example.com",
            "spiffe://partners/a",
            "partner-a.example.com"
        ]
    );
}

#[test]
fn a_certificate_without_sans_has_empty_san_text() {
    let der = cert(&[(DnType::CommonName, "partner-b")], vec![]);
    let id = ClientIdentity::from_der(&der).expect("identity");
    assert_eq!(id.subject, "CN=partner-b");
    assert_eq!(id.sans, "");
}

#[test]
fn special_and_non_ascii_characters_are_escaped_for_a_header() {
    let der = cert(
        &[
            (DnType::OrganizationName, "Zürich, \"Ltd\" + Co"),
            (DnType::OrganizationalUnitName, "#ops "),
            (DnType::CommonName, "line\nbreak\u{7f}"),
        ],
        vec![uri("spiffe://partners/a\u{b}b")],
    );
    let id = ClientIdentity::from_der(&der).expect("identity");
    assert_eq!(
        id.subject,
        r#"CN=line\x0Abreak\x7F,OU=\#ops\ ,O=Z\xC3\xBCrich\, \"Ltd\" \+ Co"#
    );
    assert!(
        id.subject
            .bytes()
            .chain(id.sans.bytes())
            .all(|b| (0x20..0x7f).contains(&b)),
        "printable ASCII only: {} / {}",
        id.subject,
        id.sans
    );
}

#[test]
fn allow_lists_match_dns_and_uri_sans_then_the_common_name_exactly() {
    let with_sans = ClientIdentity::from_der(&cert(
        &[
            (DnType::OrganizationName, "partner-o.example.com"),
            (DnType::CommonName, "Partner-CN.example.com"),
        ],
        vec![dns("Partner-A.Example.com"), uri("spiffe://partners/a")],
    ))
    .expect("identity");
    let cn_only = ClientIdentity::from_der(&cert(
        &[(DnType::CommonName, "partner-b.example.com")],
        vec![],
    ))
    .expect("identity");
    let cases: [(&ClientIdentity, &[&str], bool); 11] = [
        (&with_sans, &["partner-a.example.com"], true),
        (&with_sans, &["spiffe://partners/a"], true),
        (&with_sans, &["partner-cn.example.com"], true),
        (
            &with_sans,
            &["other.example.com", "partner-a.example.com"],
            true,
        ),
        (&with_sans, &[], false),
        (&with_sans, &["partner-o.example.com"], false), // O is not a name
        (&with_sans, &["*.example.com"], false),         // no wildcards
        (&with_sans, &["example.com"], false),
        (&with_sans, &["partner-a.example.com."], false),
        (&cn_only, &["partner-b.example.com"], true),
        (&cn_only, &["partner-a.example.com"], false),
    ];
    for (id, allowed, want) in cases {
        assert_eq!(id.matches_any(&names(allowed)), want, "{allowed:?}");
    }
}

#[test]
fn bytes_that_are_not_a_certificate_give_no_identity() {
    assert!(ClientIdentity::from_der(b"").is_none());
    assert!(ClientIdentity::from_der(b"\x30\x03\x02\x01\x00").is_none());
}
