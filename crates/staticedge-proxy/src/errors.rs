//! pingora's errors in the policy's terms: the small fixed set of kinds that
//! `staticedge_upstream_errors_total{kind}` and the access log use.

use pingora::prelude::*;

/// The kind of an upstream failure.
pub fn upstream_error_kind(e: &Error) -> &'static str {
    match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            "timeout"
        }
        ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::SocketError
        | ErrorType::BindError => "connect",
        ErrorType::ConnectionClosed
        | ErrorType::ReadError
        | ErrorType::WriteError
        | ErrorType::H2Error
        | ErrorType::InvalidH2 => "reset",
        ErrorType::TLSHandshakeFailure | ErrorType::InvalidCert | ErrorType::HandshakeError => {
            "tls"
        }
        _ => "other",
    }
}

/// The kind of a request's final error when it came from the upstream and was not
/// already counted: connect failures are counted attempt by attempt as they happen.
pub fn uncounted_upstream_error(e: Option<&Error>) -> Option<&'static str> {
    let e = e.filter(|e| e.esource() == &ErrorSource::Upstream)?;
    let counted = matches!(
        e.etype(),
        ErrorType::ConnectTimedout
            | ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
    );
    (!counted).then(|| upstream_error_kind(e))
}
