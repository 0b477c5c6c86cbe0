//! After a request: metrics and the access log line, from what the phases recorded.

use crate::access_log::{AccessLogger, AccessRecord};
use crate::edge::RequestCtx;
use crate::front::TlsFacts;
use pingora::prelude::*;
use pingora::proxy::Session;
use staticedge_metrics::METRICS;

/// Error kinds for `staticedge_upstream_errors_total{kind}`: a small fixed set.
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

/// Counts the request and queues its access log line.
pub fn finish(session: &Session, error: Option<&Error>, ctx: &RequestCtx, log: &AccessLogger) {
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .unwrap_or(0);
    let elapsed = ctx.started.elapsed();
    let route = ctx.route_label().unwrap_or("");
    let code = status_label(status);
    METRICS.requests.with_label_values(&[route, code]).inc();
    METRICS
        .request_duration
        .with_label_values(&[route])
        .observe(elapsed.as_secs_f64());
    if let Some(upstream) = ctx.upstream_name() {
        if let Some(ms) = ctx.upstream_ms {
            METRICS
                .upstream_duration
                .with_label_values(&[upstream])
                .observe(ms / 1000.0);
        }
        // Connect failures were counted in fail_to_connect, attempt by attempt.
        let counted = |e: &Error| {
            matches!(
                e.etype(),
                ErrorType::ConnectTimedout
                    | ErrorType::ConnectRefused
                    | ErrorType::ConnectNoRoute
                    | ErrorType::ConnectError
            )
        };
        if let Some(e) = error.filter(|e| e.esource() == &ErrorSource::Upstream && !counted(e)) {
            METRICS
                .upstream_errors
                .with_label_values(&[upstream, upstream_error_kind(e)])
                .inc();
        } else if ctx.upstream_status >= 500 {
            METRICS
                .upstream_errors
                .with_label_values(&[upstream, "status_5xx"])
                .inc();
        }
    }
    let req = session.req_header();
    let digest = session.digest();
    let ssl = digest.and_then(|d| d.ssl_digest.as_ref());
    let sni = ssl
        .and_then(|s| s.extension.get::<TlsFacts>())
        .and_then(|f| f.sni.as_deref());
    let path = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    log.log(&AccessRecord {
        time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        request_id: &ctx.request_id,
        client_ip: session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string()),
        sni,
        host: &ctx.client_host,
        method: req.method.as_str(),
        path,
        status,
        route: ctx.route_label(),
        upstream_addr: ctx.tried.last().map(|a| a.to_string()),
        upstream_ms: ctx.upstream_ms,
        duration_ms: (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        bytes_in: session.body_bytes_read(),
        bytes_out: session.body_bytes_sent(),
        tls_version: ssl.map(|s| s.version.as_ref()),
        alpn: if session.is_http2() { "h2" } else { "http/1.1" },
        error: error.map(|e| e.to_string()),
    });
}

fn status_label(status: u16) -> &'static str {
    // Interned: a label per status without a per-request allocation.
    const CODES: [(u16, &str); 22] = [
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (206, "206"),
        (301, "301"),
        (302, "302"),
        (304, "304"),
        (307, "307"),
        (308, "308"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (408, "408"),
        (413, "413"),
        (421, "421"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
        (0, "0"),
    ];
    match CODES.iter().find(|(c, _)| *c == status) {
        Some((_, s)) => s,
        None => match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_stay_bounded() {
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(421), "421");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(599), "5xx");
        assert_eq!(status_label(0), "0");
    }
}
