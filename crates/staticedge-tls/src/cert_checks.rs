//! What `staticedge check` and a reload must know about the certificates beyond
//! "they load": whether each is valid now, whether one is about to expire, whether
//! every route's hosts are covered by some certificate, and whether a route that
//! requires a client certificate is served by a certificate that asks for one.
//! Each finding is a `file:line:col` line pointing at the `cert =` line of the
//! `[[tls.certificate]]` entry, at the route's host, or at its `client_cert`.

use crate::load::{CertInfo, ClientTrustDates};
use crate::store::SniIndex;
use staticedge_config::{
    ClientAuthMode, Config, ConfigError, ConfigErrors, HostPattern, Location, Route,
};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A certificate that expires within this long is a warning.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// The findings of [`check_certificates`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CertReport {
    /// Problems that must refuse the configuration (`check` exits 1, a reload is
    /// refused): a certificate outside its validity period, a route host that no
    /// certificate covers.
    pub errors: ConfigErrors,
    /// Worth telling the operator, not refusing: a certificate that expires within
    /// [`EXPIRY_WARNING`]. Each message starts with `warning:`, so a line reads
    /// `file:line:col: warning: ...` like a compiler's.
    pub warnings: ConfigErrors,
}

/// Checks the loaded certificates (`certs`, in configuration order, as
/// `CertSet::infos` returns them) against the clock and against `config`'s routes.
///
/// Host coverage is checked only when some listener terminates TLS and at least one
/// certificate loaded. A route host is covered when a certificate's SAN names it
/// exactly, or a wildcard SAN covers it (one label, as TLS clients check it; see
/// `staticedge_config::host`). A route wildcard `*.example.com` is covered by the
/// SAN `*.example.com`. The catch-all `*` needs no certificate of its own.
///
/// A route that requires a client certificate (`client_cert = "required"` or an
/// allow-list) must be served, for each of its hosts, by a certificate with a
/// `client_ca`: otherwise no handshake for it asks for a client certificate and
/// every request gets 403. The certificate is the one a handshake selects: by SNI
/// for a name, the one with that wildcard SAN for a route wildcard, the first for
/// `*` and IP hosts (no SNI names them).
pub fn check_certificates(
    config_path: &Path,
    config: &Config,
    certs: &[CertInfo],
    now: SystemTime,
) -> CertReport {
    let mut report = CertReport::default();
    for cert in certs {
        check_validity(config_path, cert, now, &mut report);
        if let Some(trust) = &cert.client_trust {
            check_client_trust(config_path, trust, now, &mut report);
        }
    }
    let serves_tls = config.listeners.iter().any(|l| l.tls);
    if serves_tls && !certs.is_empty() {
        check_route_hosts(config_path, config, certs, &mut report.errors);
    }
    check_client_cert_routes(config_path, config, certs, serves_tls, &mut report.errors);
    if serves_tls {
        check_unguarded_routes(config_path, config, certs, &mut report.warnings);
    }
    report.errors = std::mem::take(&mut report.errors).sorted();
    report.warnings = std::mem::take(&mut report.warnings).sorted();
    report
}

fn check_validity(config_path: &Path, cert: &CertInfo, now: SystemTime, report: &mut CertReport) {
    let at = |message: String| ConfigError::new(config_path, cert.at, message);
    if now < cert.not_before {
        report.errors.push(at(format!(
            "{} is not valid yet: its validity starts {} (check the clock, or install the previous certificate until then)",
            cert.path,
            utc(cert.not_before)
        )));
    } else if now >= cert.not_after {
        report.errors.push(at(format!(
            "{} expired {} ({} ago): renew it",
            cert.path,
            utc(cert.not_after),
            days(now.duration_since(cert.not_after).unwrap_or_default())
        )));
    } else {
        let left = cert.not_after.duration_since(now).unwrap_or_default();
        if left < EXPIRY_WARNING {
            report.warnings.push(at(format!(
                "warning: {} expires {} (in {}): renew it",
                cert.path,
                utc(cert.not_after),
                days(left)
            )));
        }
    }
}

/// A certificate's client CAs and CRLs against the clock. Every CA expired: no
/// client certificate can be verified, an error. One of several expired, or the
/// last one expiring within [`EXPIRY_WARNING`]: a warning. A CRL past its next
/// update is still used (so what it revokes stays revoked) but may miss newer
/// revocations: a warning.
fn check_client_trust(
    config_path: &Path,
    trust: &ClientTrustDates,
    now: SystemTime,
    report: &mut CertReport,
) {
    let at = |at, message: String| ConfigError::new(config_path, at, message);
    let latest = trust.cas.iter().map(|(_, end)| *end).max();
    match latest {
        Some(end) if end <= now => report.errors.push(at(
            trust.ca_at,
            format!(
                "{}: every client CA certificate has expired (the last {}): no client certificate can be verified; install the renewed CA",
                trust.ca_path,
                utc(end)
            ),
        )),
        Some(end) if end.duration_since(now).unwrap_or_default() < EXPIRY_WARNING => {
            report.warnings.push(at(
                trust.ca_at,
                format!(
                    "warning: {}: the client CA expires {} (in {}): clients stop being verified then",
                    trust.ca_path,
                    utc(end),
                    days(end.duration_since(now).unwrap_or_default())
                ),
            ))
        }
        _ => {}
    }
    for (subject, end) in trust.cas.iter().filter(|(_, end)| *end <= now) {
        if latest.is_some_and(|l| l > now) {
            report.warnings.push(at(
                trust.ca_at,
                format!(
                    "warning: {}: client CA {subject} expired {}; the others still verify",
                    trust.ca_path,
                    utc(*end)
                ),
            ));
        }
    }
    for (path, crl_at, next_update) in &trust.crls {
        if let Some(next) = next_update.filter(|n| *n <= now) {
            report.warnings.push(at(
                *crl_at,
                format!(
                    "warning: {path} is past its next update ({}): it is still used, but revocations since are not in it; refresh it",
                    utc(next)
                ),
            ));
        }
    }
}

fn check_route_hosts(
    config_path: &Path,
    config: &Config,
    certs: &[CertInfo],
    errors: &mut ConfigErrors,
) {
    for route in &config.routes {
        for (i, host) in route.hosts.iter().enumerate() {
            if certs.iter().any(|c| covers(c, host)) {
                continue;
            }
            let at = host_at(route, i);
            errors.push(ConfigError::new(
                config_path,
                at,
                format!(
                    "route.hosts: no [[tls.certificate]] covers {host} (certificates name: {}); TLS clients asking for it would get the first certificate and refuse it",
                    all_names(certs)
                ),
            ));
        }
    }
}

/// Each host of each route that requires a client certificate, against the
/// certificate a handshake for it selects (see [`check_certificates`]).
fn check_client_cert_routes(
    config_path: &Path,
    config: &Config,
    certs: &[CertInfo],
    serves_tls: bool,
    errors: &mut ConfigErrors,
) {
    let index = SniIndex::new(certs.iter().map(|c| c.names.as_slice()));
    for route in config.routes.iter().filter(|r| r.requires_client_cert()) {
        for (i, host) in route.hosts.iter().enumerate() {
            let at = route.client_cert_at.unwrap_or_else(|| host_at(route, i));
            let problem = if !serves_tls {
                format!("route for {host} requires a client certificate, but no listener terminates TLS")
            } else {
                // No certificate at all for the host is the uncovered-host error.
                let Some(cert) = serving_certificate(&index, certs, host) else {
                    continue;
                };
                if cert.client_auth.is_some() {
                    continue;
                }
                format!(
                    "route for {host} requires a client certificate, but the certificate for it ({}) has no client_ca",
                    cert.path
                )
            };
            errors.push(ConfigError::new(config_path, at, problem));
        }
    }
}

/// A route that does not itself require a client certificate on a host whose
/// certificate has `client_auth = "required"`: the handshake asks only when the
/// client names that host (SNI), so a client that names another host of the
/// instance and sends this Host reaches the route without a certificate. Routes
/// must say what they require; this warns where one probably forgot to.
fn check_unguarded_routes(
    config_path: &Path,
    config: &Config,
    certs: &[CertInfo],
    warnings: &mut ConfigErrors,
) {
    let index = SniIndex::new(certs.iter().map(|c| c.names.as_slice()));
    for route in config.routes.iter().filter(|r| !r.requires_client_cert()) {
        for (i, host) in route.hosts.iter().enumerate() {
            let Some(cert) = serving_certificate(&index, certs, host) else {
                continue;
            };
            if cert.client_auth != Some(ClientAuthMode::Required) {
                continue;
            }
            let at = host_at(route, i);
            warnings.push(ConfigError::new(
                config_path,
                at,
                format!(
                    "warning: route for {host} does not require a client certificate, but its certificate ({}) has client_auth = \"required\": a client that names another server (SNI) reaches it without one; add client_cert = \"required\" or allow_client_names",
                    cert.path
                ),
            ));
        }
    }
}

/// Where the `i`th host of `route` is written (the file's start when unknown).
fn host_at(route: &Route, i: usize) -> Location {
    route
        .hosts_at
        .get(i)
        .copied()
        .unwrap_or(Location { line: 1, col: 1 })
}

/// The certificate a handshake for the route host `host` selects (see
/// [`check_certificates`]); `None` when no certificate names it.
fn serving_certificate<'a>(
    index: &SniIndex,
    certs: &'a [CertInfo],
    host: &HostPattern,
) -> Option<&'a CertInfo> {
    let chosen = match host {
        HostPattern::Any => Some(0),
        HostPattern::Exact(name) if name.parse::<IpAddr>().is_ok() => Some(0),
        HostPattern::Exact(name) => index.find(name),
        HostPattern::Wildcard(suffix) => index.wildcard(suffix),
    };
    certs.get(chosen?)
}

/// True when `cert` serves every name the route pattern `host` can stand for, at
/// least at its first level.
fn covers(cert: &CertInfo, host: &HostPattern) -> bool {
    let patterns = || cert.names.iter().filter_map(|n| HostPattern::parse(n).ok());
    match host {
        HostPattern::Any => true,
        HostPattern::Exact(name) => match name.parse::<IpAddr>() {
            Ok(ip) => cert.ips.contains(&ip),
            Err(_) => patterns().any(|p| p.covers_as_certificate(name)),
        },
        HostPattern::Wildcard(_) => patterns().any(|p| &p == host),
    }
}

fn all_names(certs: &[CertInfo]) -> String {
    let names: Vec<String> = certs
        .iter()
        .flat_map(|c| {
            c.names
                .iter()
                .cloned()
                .chain(c.ips.iter().map(IpAddr::to_string))
        })
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn utc(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn days(d: Duration) -> String {
    let days = d.as_secs() / 86_400;
    match days {
        0 => format!("{} hours", d.as_secs() / 3600),
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    }
}
