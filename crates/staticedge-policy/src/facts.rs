//! What an engine parsed from a request: the only input the policy needs, in plain
//! types, so any engine (pingora's `HttpProxy`, a byte-level HTTP/1 path, HTTP/2)
//! can call the same policy.

use crate::client_cert::ClientCert;
use std::net::{IpAddr, SocketAddr};

/// One request as the engine read it.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The request method, as sent.
    pub method: &'a str,
    /// The Host header (HTTP/1) or `:authority` (HTTP/2), as sent; empty when absent.
    pub host: &'a str,
    /// Path and query, as sent.
    pub path: &'a str,
    /// The client: from the PROXY header when one was accepted, else the socket peer.
    pub client_ip: Option<IpAddr>,
    /// The local address the connection arrived on: it names the listener.
    pub local: Option<SocketAddr>,
    /// Whether the connection is TLS (decides `X-Forwarded-Proto`).
    pub tls: bool,
    /// The declared body length, when the request has a valid Content-Length.
    pub content_length: Option<u64>,
    /// The client's `X-Request-Id`, if it sent one.
    pub request_id: Option<&'a str>,
    /// The client certificate the connection's handshake verified, if it asked.
    pub client_cert: ClientCert<'a>,
}
