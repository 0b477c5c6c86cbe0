//! Reading the server name from the bytes a real rustls client sends first.

use rustls::crypto::aws_lc_rs::default_provider;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use staticedge_tls::{peek_server_name, Peek};
use std::sync::Arc;

/// The first flight of a rustls client connecting to `name`; `fragment` caps the
/// TLS record size (so the ClientHello spans several records).
fn client_hello(name: &str, fragment: Option<usize>) -> Vec<u8> {
    let mut config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    config.max_fragment_size = fragment;
    let name = ServerName::try_from(name.to_string()).expect("server name");
    let mut client = ClientConnection::new(Arc::new(config), name).expect("client");
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).expect("write");
    }
    wire
}

#[test]
fn a_whole_client_hello_gives_its_server_name() {
    let hello = client_hello("API.example.test", None);
    assert_eq!(
        peek_server_name(&hello),
        Peek::Name(Some("api.example.test".to_string()))
    );
    // Bytes after the hello (the client's next flight) change nothing.
    let mut more = hello.clone();
    more.extend_from_slice(b"\x17\x03\x03\x00\x05hello");
    assert_eq!(
        peek_server_name(&more),
        Peek::Name(Some("api.example.test".to_string()))
    );
}

#[test]
fn a_client_hello_in_several_records_is_read_whole() {
    let hello = client_hello("partner.example.test", Some(64));
    assert!(hello.len() > 3 * 64, "split over several records");
    assert_eq!(
        peek_server_name(&hello),
        Peek::Name(Some("partner.example.test".to_string()))
    );
}

#[test]
fn a_client_hello_without_sni_gives_no_name() {
    // rustls sends no SNI when connecting to an IP address.
    let hello = client_hello("127.0.0.1", None);
    assert_eq!(peek_server_name(&hello), Peek::Name(None));
}

#[test]
fn every_truncation_of_a_client_hello_is_incomplete() {
    for hello in [
        client_hello("api.example.test", None),
        client_hello("api.example.test", Some(64)),
    ] {
        for len in 0..hello.len() {
            assert_eq!(
                peek_server_name(&hello[..len]),
                Peek::Incomplete,
                "first {len} of {} bytes",
                hello.len()
            );
        }
    }
}

#[test]
fn bytes_that_are_not_a_client_hello_are_not_tls() {
    let cases: [(&str, &[u8]); 4] = [
        (
            "plain HTTP",
            b"GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
        ),
        ("PROXY v1", b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 443\r\n"),
        ("application data first", b"\x17\x03\x03\x00\x05hello"),
        (
            "a handshake record that is not a hello",
            b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",
        ),
    ];
    for (name, bytes) in cases {
        assert_eq!(peek_server_name(bytes), Peek::NotTls, "{name}");
    }
}
