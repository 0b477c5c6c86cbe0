//! Every metric staticedge exports, defined in one place so names, labels and help
//! texts cannot drift between the code that counts and the docs that explain.
//!
//! Label values are bounded: route and upstream names come from the configuration,
//! status codes and error kinds from small fixed sets; raw Hosts and paths never
//! become labels.

use prometheus::{
    exponential_buckets, register_gauge_vec, register_histogram_vec, register_int_counter_vec,
    register_int_gauge, register_int_gauge_vec, GaugeVec, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec,
};
use std::sync::LazyLock;

/// The metric handles. Registered in the default registry on first use.
pub struct Metrics {
    /// `staticedge_requests_total{route,code}`
    pub requests: IntCounterVec,
    /// `staticedge_request_duration_seconds{route}`
    pub request_duration: HistogramVec,
    /// `staticedge_upstream_duration_seconds{upstream}`: to the upstream's response header.
    pub upstream_duration: HistogramVec,
    /// `staticedge_upstream_errors_total{upstream,kind}`
    pub upstream_errors: IntCounterVec,
    /// `staticedge_upstream_retries_total{upstream}`
    pub upstream_retries: IntCounterVec,
    /// `staticedge_downstream_connections`
    pub downstream_connections: IntGauge,
    /// `staticedge_tls_handshakes_total{result,version,alpn}`
    pub tls_handshakes: IntCounterVec,
    /// `staticedge_dns_lookups_total{upstream,result}`
    pub dns_lookups: IntCounterVec,
    /// `staticedge_upstream_addresses{upstream}`
    pub upstream_addresses: IntGaugeVec,
    /// `staticedge_dns_stale_seconds{upstream}`
    pub dns_stale_seconds: GaugeVec,
    /// `staticedge_certificate_expiry_timestamp_seconds{name}`
    pub certificate_expiry: GaugeVec,
    /// `staticedge_draining`
    pub draining: IntGauge,
    /// `staticedge_config_reloads_total{result}`
    pub config_reloads: IntCounterVec,
    /// `staticedge_build_info{version,commit,build_date,target}`: set once by
    /// [`set_build_info`].
    pub build_info: IntGaugeVec,
    /// `staticedge_access_log_dropped_total{reason}`, reasons in
    /// [`ACCESS_LOG_DROP_REASONS`].
    pub access_log_dropped: IntCounterVec,
    /// `staticedge_rejected_requests_total{reason}`: answered by staticedge itself.
    pub rejected: IntCounterVec,
    /// `staticedge_ready`: 1 when /readyz would answer 200.
    pub ready: IntGauge,
    /// `staticedge_upstream_probe_success{upstream}`: 1 when the last start-up probe
    /// got an expected status.
    pub probe_success: IntGaugeVec,
    /// `staticedge_proxy_protocol_rejected_total{reason}`: connections closed for a
    /// missing or malformed PROXY header.
    pub proxy_protocol_rejected: IntCounterVec,
    /// `staticedge_request_path_requests_total{path}`: HTTP requests by the engine
    /// that served them, so an operator sees how much traffic takes the slow path.
    pub request_path: IntCounterVec,
    /// `staticedge_rate_limited_total{route}`: requests answered 429 by a route's
    /// `rate_limit`.
    pub rate_limited: IntCounterVec,
    /// `staticedge_rate_limit_keys{route}`: keys (client IPs, certificates) a route's
    /// rate limiter tracks now, at most its `max_keys`; set at scrape time.
    pub rate_limit_keys: IntGaugeVec,
}

/// Registers every metric. Long on purpose: it is the table of names, labels and
/// help texts, one entry per metric, which reads best in one place.
fn build() -> Result<Metrics, prometheus::Error> {
    let latency = exponential_buckets(0.0005, 2.0, 16)?; // 0.5 ms .. ~16 s
    let m = Metrics {
        requests: register_int_counter_vec!(
            "staticedge_requests_total",
            "Requests answered, by route and status code.",
            &["route", "code"]
        )?,
        request_duration: register_histogram_vec!(
            "staticedge_request_duration_seconds",
            "Time from request header to the end of the response, by route.",
            &["route"],
            latency.clone()
        )?,
        upstream_duration: register_histogram_vec!(
            "staticedge_upstream_duration_seconds",
            "Time from choosing an upstream address to its response header.",
            &["upstream"],
            latency
        )?,
        upstream_errors: register_int_counter_vec!(
            "staticedge_upstream_errors_total",
            "Upstream failures by kind: connect, timeout, reset, tls, status_5xx, other.",
            &["upstream", "kind"]
        )?,
        upstream_retries: register_int_counter_vec!(
            "staticedge_upstream_retries_total",
            "Requests retried on another upstream address after a connect failure.",
            &["upstream"]
        )?,
        downstream_connections: register_int_gauge!(
            "staticedge_downstream_connections",
            "Client connections open now (TLS and plain listeners)."
        )?,
        tls_handshakes: register_int_counter_vec!(
            "staticedge_tls_handshakes_total",
            "TLS handshakes by result (ok, error, timeout, closed_early: closed before any byte, e.g. a TCP health check), protocol version and ALPN.",
            &["result", "version", "alpn"]
        )?,
        dns_lookups: register_int_counter_vec!(
            "staticedge_dns_lookups_total",
            "DNS lookups of upstream names by result (ok, error).",
            &["upstream", "result"]
        )?,
        upstream_addresses: register_int_gauge_vec!(
            "staticedge_upstream_addresses",
            "Addresses currently in use per upstream.",
            &["upstream"]
        )?,
        dns_stale_seconds: register_gauge_vec!(
            "staticedge_dns_stale_seconds",
            "How long the served DNS answer has been past its TTL while lookups fail (0 when fresh).",
            &["upstream"]
        )?,
        certificate_expiry: register_gauge_vec!(
            "staticedge_certificate_expiry_timestamp_seconds",
            "Certificate notAfter as a Unix timestamp, by certificate name.",
            &["name"]
        )?,
        draining: register_int_gauge!(
            "staticedge_draining",
            "1 after SIGTERM while the instance drains."
        )?,
        config_reloads: register_int_counter_vec!(
            "staticedge_config_reloads_total",
            "Configuration reloads by result (ok, error).",
            &["result"]
        )?,
        build_info: register_int_gauge_vec!(
            "staticedge_build_info",
            "Always 1; the labels say which build runs: version, commit, build date and target.",
            &["version", "commit", "build_date", "target"]
        )?,
        access_log_dropped: register_int_counter_vec!(
            "staticedge_access_log_dropped_total",
            "Access log lines lost, by reason: queue_full (the writer is behind or its destination is stuck), open_error (the destination cannot be opened), write_error (writing failed: disk full, file too large, I/O error).",
            &["reason"]
        )?,
        rejected: register_int_counter_vec!(
            "staticedge_rejected_requests_total",
            "Requests or connections staticedge refused or answered itself: no_route, forbidden, unresolved, redirect, bad_request, bad_framing, body_too_large, header_timeout, connection_limit.",
            &["reason"]
        )?,
        ready: register_int_gauge!(
            "staticedge_ready",
            "1 when /readyz answers 200 (the NLB sends traffic), 0 when not."
        )?,
        probe_success: register_int_gauge_vec!(
            "staticedge_upstream_probe_success",
            "1 when the last [upstream.*.probe] request got an expected status, 0 when not.",
            &["upstream"]
        )?,
        proxy_protocol_rejected: register_int_counter_vec!(
            "staticedge_proxy_protocol_rejected_total",
            "Connections closed before TLS for a PROXY v2 header that was missing (when required) or malformed.",
            &["reason"]
        )?,
        request_path: register_int_counter_vec!(
            "staticedge_request_path_requests_total",
            "HTTP requests by the engine that served them: lean (staticedge's own HTTP/1 path) or pingora (pingora's proxy: HTTP/2, and HTTP/1 requests the lean path hands over or when request_path = \"pingora\").",
            &["path"]
        )?,
        rate_limited: register_int_counter_vec!(
            "staticedge_rate_limited_total",
            "Requests answered 429 Too Many Requests by the route's rate_limit (per instance).",
            &["route"]
        )?,
        rate_limit_keys: register_int_gauge_vec!(
            "staticedge_rate_limit_keys",
            "Keys (client IPs or certificates) the route's rate limiter tracks now; bounded by rate_limit.max_keys, the least recently seen forgotten first.",
            &["route"]
        )?,
    };
    // Series whose label values are known in advance start at 0, so `absent()`
    // alerts and dashboards see them before the first event.
    for result in ["ok", "error"] {
        m.config_reloads.with_label_values(&[result]);
    }
    for reason in ACCESS_LOG_DROP_REASONS {
        m.access_log_dropped.with_label_values(&[reason]);
    }
    for path in ["lean", "pingora"] {
        m.request_path.with_label_values(&[path]);
    }
    Ok(m)
}

/// The `reason` values of `staticedge_access_log_dropped_total`, all exported from the
/// start: `queue_full`, `open_error`, `write_error`.
pub const ACCESS_LOG_DROP_REASONS: [&str; 3] = ["queue_full", "open_error", "write_error"];

/// Which build is running; the binary knows it (its build script reads git), the
/// metric and the status page show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The crate version, e.g. `0.1.0`.
    pub version: &'static str,
    /// The git commit it was built from, or `unknown` (built outside a checkout).
    pub commit: &'static str,
    /// When it was built (RFC 3339, UTC; `SOURCE_DATE_EPOCH` when set).
    pub build_date: &'static str,
    /// The target triple, e.g. `x86_64-unknown-linux-gnu`.
    pub target: &'static str,
}

static BUILD: std::sync::OnceLock<BuildInfo> = std::sync::OnceLock::new();

/// Records which build runs and exports `staticedge_build_info` with it. The first
/// call wins; later calls change nothing, so the metric has exactly one series.
pub fn set_build_info(info: BuildInfo) {
    let info = BUILD.get_or_init(|| info);
    METRICS
        .build_info
        .with_label_values(&[info.version, info.commit, info.build_date, info.target])
        .set(1);
}

/// The build recorded by [`set_build_info`], if the binary recorded one (the admin
/// port's `/status` shows it).
pub fn build_info() -> Option<&'static BuildInfo> {
    BUILD.get()
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| match build() {
    Ok(m) => m,
    // Only reachable if two metrics share a name: a programming error found by the
    // unit test below, never by input.
    Err(e) => panic!("staticedge metrics definitions are inconsistent: {e}"),
});

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric, touched once so that label vectors appear in a scrape.
    fn touch_all(m: &Metrics) -> usize {
        m.requests.with_label_values(&["r", "200"]).inc();
        m.request_duration.with_label_values(&["r"]).observe(0.1);
        m.upstream_duration.with_label_values(&["u"]).observe(0.1);
        m.upstream_errors.with_label_values(&["u", "connect"]).inc();
        m.upstream_retries.with_label_values(&["u"]).inc();
        m.downstream_connections.set(0);
        m.tls_handshakes
            .with_label_values(&["ok", "TLSv1_3", "h2"])
            .inc();
        m.dns_lookups.with_label_values(&["u", "ok"]).inc();
        m.upstream_addresses.with_label_values(&["u"]).set(1);
        m.dns_stale_seconds.with_label_values(&["u"]).set(0.0);
        m.certificate_expiry.with_label_values(&["c"]).set(1.0);
        m.draining.set(0);
        m.config_reloads.with_label_values(&["ok"]);
        set_build_info(BuildInfo {
            version: "v",
            commit: "c",
            build_date: "d",
            target: "t",
        });
        m.access_log_dropped
            .with_label_values(&["queue_full"])
            .inc_by(0);
        m.rejected.with_label_values(&["no_route"]).inc();
        m.ready.set(1);
        m.probe_success.with_label_values(&["u"]).set(1);
        m.proxy_protocol_rejected
            .with_label_values(&["missing"])
            .inc();
        m.request_path.with_label_values(&["lean"]).inc_by(0);
        20
    }

    fn exported_names() -> Vec<String> {
        prometheus::gather()
            .iter()
            .map(|f| f.name().to_string())
            .filter(|n| n.starts_with("staticedge_"))
            .collect()
    }

    #[test]
    fn every_metric_registers_and_is_exported() {
        let touched = touch_all(&METRICS);
        let names = exported_names();
        assert_eq!(names.len(), touched, "one family per metric: {names:?}");
        // Every exported name is documented for the operator.
        let docs = include_str!("../../../docs/observability.md");
        for name in &names {
            assert!(
                docs.contains(name.as_str()),
                "{name} is not in docs/observability.md"
            );
        }
    }

    /// The label values a counter of `name` is exported with before anything happened.
    fn labels_at_zero(name: &str) -> Vec<(String, f64)> {
        let mut results: Vec<(String, f64)> = prometheus::gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric().iter())
            .map(|m| {
                (
                    m.get_label()[0].value().to_string(),
                    m.get_counter().value(),
                )
            })
            .collect();
        results.sort_by(|a, b| a.0.cmp(&b.0));
        results
    }

    #[test]
    fn access_log_drop_reasons_start_at_zero() {
        LazyLock::force(&METRICS);
        let got = labels_at_zero("staticedge_access_log_dropped_total");
        let names: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(names, ["open_error", "queue_full", "write_error"]);
    }

    #[test]
    fn build_info_has_one_series_whatever_is_set_later() {
        let first = BuildInfo {
            version: "1.2.3",
            commit: "abc",
            build_date: "2026-01-01T00:00:00Z",
            target: "x86_64-unknown-linux-gnu",
        };
        set_build_info(first.clone());
        set_build_info(BuildInfo {
            commit: "other",
            ..first.clone()
        });
        let series: Vec<usize> = prometheus::gather()
            .iter()
            .filter(|f| f.name() == "staticedge_build_info")
            .map(|f| f.get_metric().len())
            .collect();
        assert_eq!(series, [1], "one build, one series");
        assert!(build_info().is_some());
    }

    #[test]
    fn reload_counters_start_at_zero() {
        LazyLock::force(&METRICS);
        assert_eq!(
            labels_at_zero("staticedge_config_reloads_total"),
            [("error".to_string(), 0.0), ("ok".to_string(), 0.0)]
        );
    }
}
