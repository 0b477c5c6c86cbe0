//! Metrics whose values live elsewhere (DNS state, certificates, drain) are brought
//! up to date when Prometheus scrapes, instead of on every change.

use crate::service::AdminView;
use prometheus::core::Collector;
use staticedge_metrics::METRICS;
use std::sync::LazyLock;

/// CPU, RSS and file descriptors of this process (`process_*`).
static PROCESS: LazyLock<()> = LazyLock::new(|| {
    let pc = prometheus::process_collector::ProcessCollector::for_self();
    if !pc.desc().is_empty() {
        let _ = prometheus::register(Box::new(pc));
    }
});

/// Updates the scrape-time metrics from `view`.
pub fn refresh(view: &AdminView) {
    LazyLock::force(&PROCESS);
    METRICS
        .draining
        .set(i64::from(view.lifecycle.is_draining()));
    let state = view.state.load_full();
    METRICS.upstream_addresses.reset();
    METRICS.dns_stale_seconds.reset();
    for u in state.upstreams.all() {
        let s = u.snapshot();
        let name = s.name.as_str();
        METRICS
            .upstream_addresses
            .with_label_values(&[name])
            .set(s.addresses.len() as i64);
        METRICS
            .dns_stale_seconds
            .with_label_values(&[name])
            .set(s.stale_seconds);
    }
    METRICS.rate_limit_keys.reset();
    for (route, limiter) in state.rate_limits.iter() {
        METRICS
            .rate_limit_keys
            .with_label_values(&[route])
            .set(limiter.tracked_keys() as i64);
    }
    METRICS.certificate_expiry.reset();
    for c in view.certs.current().infos() {
        let name = c
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| c.subject.clone());
        METRICS
            .certificate_expiry
            .with_label_values(&[name.as_str()])
            .set(c.not_after_unix() as f64);
    }
}
