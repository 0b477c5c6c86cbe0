//! `/status`: the JSON an operator (or the status page) reads to see what runs.

use crate::figures::figures_json;
use crate::readiness::readiness;
use crate::sampling::Sample;
use crate::service::{AdminView, Gathered};
use serde_json::{json, Value};
use staticedge_config::{ClientAuthMode, Config, HostHeader, RateLimitKey, Route};
use staticedge_policy::{upstream_host, AccessLogger, ProxyState};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Builds the status document: what runs, from one configuration snapshot; whether
/// `/readyz` would answer 200 and every reason it would not; which instance this is;
/// and the live figures.
pub async fn status_json(view: &AdminView, gathered: &Gathered) -> Value {
    let state = view.state.load_full();
    let config = &state.config;
    let reload = view.lifecycle.last_reload();
    let verdict = readiness(view).await;
    let figures = figures_json(
        &gathered.samples.snapshot(),
        &Sample::read(Instant::now()),
        SystemTime::now(),
    );
    json!({
        "ready": verdict.is_ready(),
        "reasons": verdict.reasons,
        "instance": gathered.instance.identity().map(|i| json!({
            "id": i.instance_id,
            "availability_zone": i.availability_zone,
        })),
        "figures": figures,
        "access_log": access_log_json(gathered.access_log.as_ref()),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": view.lifecycle.uptime_seconds(),
        "draining": view.lifecycle.is_draining(),
        "in_flight_requests": view.in_flight.count(),
        "config": {
            "source": config.source.path.display().to_string(),
            "hash": config.source.sha256,
            "last_reload": {
                "at": rfc3339(reload.at),
                "result": if reload.error.is_some() { "error" } else { "ok" },
                "error": reload.error,
            },
        },
        "routes": config.routes.iter().map(|r| route_json(config, r)).collect::<Vec<_>>(),
        "upstreams": upstreams_json(view, &state),
        "certificates": certificates_json(view, SystemTime::now()),
        "listeners": listeners_json(config).await,
    })
}

/// The access log's last lost line and why; `null` when the logger was not handed to
/// the admin port.
fn access_log_json(log: Option<&AccessLogger>) -> Value {
    let Some(log) = log else {
        return Value::Null;
    };
    let last = log.last_error();
    json!({
        "last_error": last.as_ref().map(|(_, why)| why.clone()),
        "last_error_at": last.map(|(at, _)| rfc3339(at)),
    })
}

/// A route; `host_sent` is the Host the upstream receives, as the proxy computes it
/// (the client's for `preserve`).
fn route_json(config: &Config, r: &Route) -> Value {
    let host_sent = match (&r.host_header, config.upstreams.get(&r.upstream)) {
        (HostHeader::Preserve, _) => "client's Host".to_string(),
        (policy, Some(upstream)) => upstream_host(policy, "", upstream),
        (_, None) => "-".to_string(),
    };
    json!({
        "hosts": r.hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        "path_prefix": r.path_prefix,
        "upstream": r.upstream,
        "host_header": match &r.host_header {
            HostHeader::Preserve => "preserve".to_string(),
            HostHeader::Upstream => "upstream".to_string(),
            HostHeader::Literal(s) => s.clone(),
        },
        "host_sent": host_sent,
        "allow_cidrs": r.allow_cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "client_cert_required": r.requires_client_cert(),
        "allow_client_names": r.allow_client_names,
        "rate_limit": r.rate_limit.map(|l| json!({
            "requests_per_second": l.requests_per_second,
            "burst": l.burst,
            "key": match l.key {
                RateLimitKey::ClientIp => "client_ip",
                RateLimitKey::ClientCert => "client_cert",
                RateLimitKey::Route => "route",
            },
            "max_keys": l.max_keys,
        })),
    })
}

/// Each upstream's live addresses, DNS state and start-up probe result.
fn upstreams_json(view: &AdminView, state: &ProxyState) -> Vec<Value> {
    let probes = view.lifecycle.probes.results();
    state
        .upstreams
        .all()
        .into_iter()
        .map(|u| {
            let s = u.snapshot();
            let probe = probes.get(&s.name).map(|p| {
                json!({
                    "ever_succeeded": p.ever_succeeded,
                    "last_result": p.last_result,
                    "last_at": p.last_at.map(rfc3339),
                })
            });
            json!({
                "name": s.name,
                "target": s.target,
                "resolved": s.resolved,
                "addresses": s.addresses.iter().map(|a| json!({
                    "addr": a.addr.to_string(),
                    "ttl_left_seconds": a.ttl_left_seconds,
                })).collect::<Vec<_>>(),
                "last_refresh": s.last_refresh.map(rfc3339),
                "last_error": s.last_error,
                "stale_since": s.stale_since.map(rfc3339),
                "stale_seconds": s.stale_seconds,
                "probe": probe,
            })
        })
        .collect()
}

/// The certificates in use, with days left (negative once expired).
fn certificates_json(view: &AdminView, now: SystemTime) -> Vec<Value> {
    view.certs
        .current()
        .infos()
        .iter()
        .map(|c| {
            let days_left = c
                .not_after
                .duration_since(now)
                .map(|d| (d.as_secs() / 86_400) as i64)
                .unwrap_or_else(|e| -((e.duration().as_secs() / 86_400) as i64) - 1);
            json!({
                "path": c.path,
                "names": if c.names.is_empty() { vec![c.subject.clone()] } else { c.names.clone() },
                "serial": c.serial,
                "not_after": rfc3339(c.not_after),
                "not_after_unix": c.not_after.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
                "days_left": days_left,
                "expired": c.is_expired(now),
                "client_auth": c.client_auth.map(|m| match m {
                    ClientAuthMode::Required => "required",
                    ClientAuthMode::Optional => "optional",
                }),
            })
        })
        .collect()
}

/// Each listener's settings and whether it accepts connections right now.
async fn listeners_json(config: &Config) -> Vec<Value> {
    let mut listeners = Vec::new();
    for l in &config.listeners {
        listeners.push(json!({
            "listen": l.listen.to_string(),
            "tls": l.tls,
            "redirect_https": l.redirect_https,
            "proxy_protocol": format!("{:?}", l.proxy_protocol).to_lowercase(),
            "accepting": crate::readiness::accepting(l.listen).await,
        }));
    }
    listeners
}

#[cfg(test)]
mod tests {
    use super::*;
    use staticedge_config::AccessLog;
    use std::time::Duration;

    #[test]
    fn the_access_log_s_last_failure_is_in_the_document() {
        assert_eq!(access_log_json(None), Value::Null);
        let healthy = AccessLogger::off();
        assert_eq!(
            access_log_json(Some(&healthy)),
            json!({"last_error": null, "last_error_at": null})
        );
        let missing = std::env::temp_dir()
            .join(format!(
                "staticedge-admin-test-{}-missing",
                std::process::id()
            ))
            .join("access.log");
        let failing = AccessLogger::start(AccessLog::File(missing));
        failing.flush(Duration::from_secs(5));
        let doc = access_log_json(Some(&failing));
        let why = doc["last_error"].as_str().unwrap_or_default();
        assert!(why.starts_with("open_error: cannot open "), "{doc}");
        assert!(doc["last_error_at"].is_string(), "{doc}");
    }
}
