//! After a request: one plain record of what happened, turned into metrics and the
//! access log line. Every answer is recorded here, whichever engine (or the
//! connection front, for 408 and framing 400) produced it.

use crate::access_log::{AccessLogger, AccessRecord};
use crate::client_cert::ClientCert;
use staticedge_metrics::METRICS;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The request as the client sent it, for the log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSummary<'a> {
    /// The request method ("" when the request line never arrived).
    pub method: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Host header or `:authority`.
    pub host: &'a str,
    /// The X-Request-Id sent upstream and returned to the client.
    pub request_id: &'a str,
    /// The client (PROXY header or socket peer).
    pub client_ip: Option<IpAddr>,
}

/// What the TLS handshake negotiated, for the log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsSummary<'a> {
    /// "TLSv1_3", "TLSv1_2" or None for plain HTTP.
    pub version: Option<&'a str>,
    /// The server name the client asked for.
    pub sni: Option<&'a str>,
    /// "h2" or "http/1.1".
    pub alpn: &'a str,
    /// The client certificate the handshake verified, if it asked for one.
    pub client_cert: ClientCert<'a>,
}

/// What the upstream did, when the request got that far.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpstreamSummary<'a> {
    /// The upstream's configured name (the metric label).
    pub name: &'a str,
    /// The address the last attempt went to.
    pub addr: Option<SocketAddr>,
    /// The upstream's status (0 when none arrived).
    pub status: u16,
    /// Milliseconds to the upstream's response header.
    pub ms: Option<f64>,
    /// The kind of an upstream failure not yet counted in
    /// `staticedge_upstream_errors_total` (connect failures are counted per attempt).
    pub uncounted_error: Option<&'static str>,
}

/// One finished request.
#[derive(Debug, Clone, Default)]
pub struct Outcome<'a> {
    /// The status sent to the client (0 when none was sent).
    pub status: u16,
    /// The matched route's label ("" when none matched).
    pub route: &'a str,
    /// The request.
    pub request: RequestSummary<'a>,
    /// The connection's TLS facts.
    pub tls: TlsSummary<'a>,
    /// The upstream, when one was chosen.
    pub upstream: Option<UpstreamSummary<'a>>,
    /// Time from the request header to the end of the answer.
    pub elapsed: Duration,
    /// Request body bytes read from the client.
    pub bytes_in: usize,
    /// Response body bytes sent to the client.
    pub bytes_out: usize,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Counts the request and queues its access log line.
pub fn finish(outcome: &Outcome<'_>, log: &AccessLogger) {
    count(outcome);
    log.log(&access_record(outcome));
}

fn count(o: &Outcome<'_>) {
    METRICS
        .requests
        .with_label_values(&[o.route, status_label(o.status)])
        .inc();
    METRICS
        .request_duration
        .with_label_values(&[o.route])
        .observe(o.elapsed.as_secs_f64());
    let Some(u) = &o.upstream else { return };
    if let Some(ms) = u.ms {
        METRICS
            .upstream_duration
            .with_label_values(&[u.name])
            .observe(ms / 1000.0);
    }
    let kind = match u.uncounted_error {
        Some(kind) => Some(kind),
        None if u.status >= 500 => Some("status_5xx"),
        None => None,
    };
    if let Some(kind) = kind {
        METRICS
            .upstream_errors
            .with_label_values(&[u.name, kind])
            .inc();
    }
}

fn access_record<'a>(o: &'a Outcome<'a>) -> AccessRecord<'a> {
    let r = &o.request;
    AccessRecord {
        time: std::time::SystemTime::now(),
        request_id: r.request_id,
        client_ip: r.client_ip,
        sni: o.tls.sni,
        host: r.host,
        method: r.method,
        path: r.path,
        status: o.status,
        route: (!o.route.is_empty()).then_some(o.route),
        upstream_addr: o.upstream.and_then(|u| u.addr),
        upstream_ms: o.upstream.and_then(|u| u.ms),
        duration_ms: round_ms(o.elapsed),
        bytes_in: o.bytes_in,
        bytes_out: o.bytes_out,
        tls_version: o.tls.version,
        alpn: o.tls.alpn,
        error: o.error.as_deref(),
        client_verify: o.tls.client_cert.verify_label(),
        client_subject: o.tls.client_cert.identity().map(|id| id.subject.as_str()),
        client_fingerprint: o
            .tls
            .client_cert
            .identity()
            .map(|id| id.fingerprint.as_str()),
    }
}

/// The status a client gets when its upstream failed with `kind` (the
/// `staticedge_upstream_errors_total` kind): 504 when the upstream did not answer in
/// time, 502 when it refused, reset or garbled the exchange, as nginx, HAProxy and
/// Envoy answer, so dashboards and alerts can tell the two apart.
pub fn gateway_status(kind: &str) -> u16 {
    if kind == "timeout" {
        504
    } else {
        502
    }
}

/// Milliseconds with microsecond precision.
pub fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The `code` label: the statuses staticedge and common apps use, by name; the rest
/// by class, so the label set stays bounded whatever an upstream sends.
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
    fn timeouts_are_504_and_other_upstream_failures_502() {
        assert_eq!(gateway_status("timeout"), 504);
        for kind in ["connect", "reset", "tls", "other"] {
            assert_eq!(gateway_status(kind), 502, "{kind}");
        }
    }

    #[test]
    fn status_labels_stay_bounded() {
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(421), "421");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(599), "5xx");
        assert_eq!(status_label(0), "0");
    }

    fn counter(route: &str, code: &str) -> u64 {
        METRICS.requests.with_label_values(&[route, code]).get()
    }

    fn upstream_errors(name: &str, kind: &str) -> u64 {
        METRICS
            .upstream_errors
            .with_label_values(&[name, kind])
            .get()
    }

    #[test]
    fn an_outcome_is_counted_by_route_and_code() {
        let before = counter("outcome-test", "408");
        let o = Outcome {
            status: 408,
            route: "outcome-test",
            ..Outcome::default()
        };
        finish(&o, &AccessLogger::off());
        assert_eq!(counter("outcome-test", "408"), before + 1);
    }

    #[test]
    fn upstream_failures_are_counted_once_by_kind() {
        let name = "outcome-test-upstream";
        let (t0, s0) = (
            upstream_errors(name, "timeout"),
            upstream_errors(name, "status_5xx"),
        );
        let with = |status, uncounted_error| Outcome {
            status: 502,
            upstream: Some(UpstreamSummary {
                name,
                status,
                uncounted_error,
                ..UpstreamSummary::default()
            }),
            ..Outcome::default()
        };
        finish(&with(0, Some("timeout")), &AccessLogger::off());
        finish(&with(503, None), &AccessLogger::off());
        finish(&with(200, None), &AccessLogger::off());
        assert_eq!(upstream_errors(name, "timeout"), t0 + 1);
        assert_eq!(upstream_errors(name, "status_5xx"), s0 + 1);
    }

    #[test]
    fn the_log_record_says_what_the_outcome_holds() {
        let o = Outcome {
            status: 200,
            route: "",
            request: RequestSummary {
                method: "GET",
                path: "/p",
                host: "a.test",
                request_id: "id-1",
                client_ip: "203.0.113.7".parse().ok(),
            },
            upstream: Some(UpstreamSummary {
                name: "app",
                addr: "127.0.0.1:9000".parse().ok(),
                ms: Some(1.5),
                ..UpstreamSummary::default()
            }),
            elapsed: Duration::from_micros(2500),
            ..Outcome::default()
        };
        let r = access_record(&o);
        assert_eq!(r.route, None, "no route is null, not an empty string");
        let line = serde_json::to_value(&r).expect("the record serializes");
        assert_eq!(line["client_ip"], "203.0.113.7");
        assert_eq!(line["upstream_addr"], "127.0.0.1:9000");
        let time = line["time"].as_str().expect("time is a string");
        assert!(humantime::parse_rfc3339(time).is_ok(), "{time} is RFC 3339");
        assert_eq!(r.duration_ms, 2.5);
    }
}
