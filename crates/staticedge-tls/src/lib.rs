//! Certificates for staticedge's TLS listeners.
//!
//! Files are read and checked here, by our code, before pingora or rustls see them:
//! a missing, unreadable, non-PEM or mismatched file is a configuration error with the
//! config file's line and column, never a panic in a listener task. The loaded set
//! lives in a [`CertStore`] that answers SNI lookups and can be swapped atomically on
//! reload, so new handshakes get new certificates while open connections keep theirs.
//! [`check_certificates`] finds what loading alone does not: a certificate expired or
//! about to, and route hosts no certificate covers.
//!
//! Client certificates (mutual TLS) are set per certificate, so per SNI name: a
//! certificate with a client CA gets its own server configuration
//! ([`build_client_auth_config`]), chosen before the handshake from the name
//! [`peek_server_name`] reads in the ClientHello. A verified client certificate
//! becomes a [`ClientIdentity`] for routes, headers and the access log.

mod cert_checks;
mod client;
mod client_auth;
mod hello;
mod load;
mod server_config;
mod store;

pub use cert_checks::{check_certificates, CertReport, EXPIRY_WARNING};
pub use client::ClientIdentity;
pub use client_auth::ClientAuth;
pub use hello::{peek_server_name, Peek};
pub use load::{load_certificates, watched_files, CertInfo, ClientTrustDates, LoadedCert};
pub use server_config::{build_client_auth_config, build_server_config, TlsPolicy};
pub use staticedge_config::ClientAuthMode;
pub use store::{CertSet, CertStore};
