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

/// The status to answer a request that failed with `e`: pingora's own choice,
/// except that an upstream failure is 504 or 502 by its kind.
pub fn failure_status(e: &Error) -> u16 {
    match (e.etype(), e.esource()) {
        (HTTPStatus(code), _) => *code,
        (_, ErrorSource::Upstream) => staticedge_policy::gateway_status(upstream_error_kind(e)),
        (
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed,
            ErrorSource::Downstream,
        ) => 0,
        (_, ErrorSource::Downstream) => 400,
        (_, ErrorSource::Internal | ErrorSource::Unset) => 500,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(t: ErrorType) -> Box<Error> {
        Error::new_up(t)
    }

    #[test]
    fn upstream_timeouts_answer_504_and_the_rest_502() {
        for t in [
            ErrorType::ConnectTimedout,
            ErrorType::ReadTimedout,
            ErrorType::WriteTimedout,
        ] {
            assert_eq!(failure_status(&upstream(t)), 504);
        }
        for t in [
            ErrorType::ConnectRefused,
            ErrorType::ConnectionClosed,
            ErrorType::InvalidHTTPHeader,
        ] {
            assert_eq!(failure_status(&upstream(t)), 502);
        }
        assert_eq!(failure_status(&Error::new(ErrorType::HTTPStatus(413))), 413);
        let closed = Error::new_down(ErrorType::ConnectionClosed);
        assert_eq!(failure_status(&closed), 0, "nobody left to answer");
    }
}
