//! `[upstream.NAME]` with its `dns` and `probe` tables.

use super::values::{or_default, positive, socket_addr};
use crate::file::{in_range, Problems, Table};
use crate::host::HostPattern;
use crate::model::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use toml::Spanned;

/// Every `[upstream.NAME]`, by name.
pub(super) fn upstreams(
    p: &mut Problems<'_>,
    tables: Vec<(Spanned<String>, Table<'_>)>,
) -> BTreeMap<String, Upstream> {
    tables
        .into_iter()
        .map(|(name, t)| {
            let name = name.into_inner();
            let u = upstream(p, &name, t);
            (name, u)
        })
        .collect()
}

fn upstream(p: &mut Problems<'_>, name: &str, mut t: Table<'_>) -> Upstream {
    let address_value = t.required_string("address", p);
    let key = |k: &str| format!("upstream.{name}.{k}");
    let connect_timeout = t.duration("connect_timeout", p);
    let read_timeout = t.duration("read_timeout", p);
    let idle_timeout = t.duration("idle_timeout", p);
    let dns = t
        .table("dns", p)
        .unwrap_or_else(|| Table::absent(&key("dns")));
    let upstream = Upstream {
        name: name.to_string(),
        address: address(p, name, address_value.as_ref()),
        address_at: address_value
            .as_ref()
            .map(|a| p.at(&a.span()))
            .unwrap_or_else(|| p.at(t.span())),
        tls: t.boolean("tls", p).unwrap_or(false),
        connect_timeout: positive(
            p,
            connect_timeout,
            &key("connect_timeout"),
            defaults::CONNECT_TIMEOUT,
        ),
        read_timeout: positive(
            p,
            read_timeout,
            &key("read_timeout"),
            defaults::READ_TIMEOUT,
        ),
        idle_timeout: or_default(idle_timeout, defaults::IDLE_TIMEOUT),
        retries: t
            .integer_in("retries", 0..=10, p)
            .unwrap_or(defaults::RETRIES),
        dns: dns_settings(p, name, dns),
        probe: t
            .table("probe", p)
            .map(|probe_table| probe(p, name, probe_table)),
    };
    t.finish(p);
    upstream
}

/// The address, or a placeholder after reporting why it is not one (routes that name
/// this upstream are still checked).
fn address(p: &mut Problems<'_>, name: &str, value: Option<&Spanned<String>>) -> UpstreamAddress {
    let placeholder = UpstreamAddress::Ip(SocketAddr::from(([127, 0, 0, 1], 80)));
    let Some(value) = value else {
        return placeholder;
    };
    match parse_upstream_address(value.get_ref()) {
        Ok(a) => a,
        Err(msg) => {
            p.add(&value.span(), format!("upstream.{name}.address: {msg}"));
            placeholder
        }
    }
}

/// `name:port` or `IP:port` (`[v6]:port`); the port is required.
pub(crate) fn parse_upstream_address(raw: &str) -> Result<UpstreamAddress, String> {
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(UpstreamAddress::Ip(addr));
    }
    if let Some((scheme, rest)) = raw.split_once("://") {
        return Err(url_problem(raw, scheme, rest));
    }
    let Some((host, port)) = raw.rsplit_once(':') else {
        return Err(format!("{raw:?} needs a port, like \"{raw}:80\""));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{raw:?}: port {port:?} is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err(format!("{raw:?}: port 0 is not allowed"));
    }
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return Err(format!("{raw:?} is not a valid IP:port"));
    }
    match HostPattern::parse(host) {
        Ok(HostPattern::Exact(name)) => Ok(UpstreamAddress::Name { host: name, port }),
        _ => Err(format!("{raw:?}: {host:?} is not a valid DNS name")),
    }
}

/// An address written as a URL: say to write `host:port`, with the port the scheme
/// implies and `tls = true` for https.
fn url_problem(raw: &str, scheme: &str, rest: &str) -> String {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let https = scheme.eq_ignore_ascii_case("https");
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    let tls = if https { " and tls = true" } else { "" };
    format!("{raw:?} is a URL; write host:port without a scheme or path: address = \"{with_port}\"{tls}")
}

/// `[upstream.NAME.dns]`, or its defaults when absent.
fn dns_settings(p: &mut Problems<'_>, name: &str, mut t: Table<'_>) -> DnsSettings {
    let min_ttl_value = t.duration("min_ttl", p);
    let max_ttl_value = t.duration("max_ttl", p);
    let min_ttl = or_default(min_ttl_value.clone(), defaults::MIN_TTL);
    let max_ttl = or_default(max_ttl_value, defaults::MAX_TTL);
    let min_ttl_span = min_ttl_value.map(|v| v.span()).unwrap_or(t.span().clone());
    if min_ttl < Duration::from_millis(100) {
        p.add(
            &min_ttl_span,
            format!("upstream.{name}.dns.min_ttl must be at least 100ms (a TTL of 0 would look the name up in a loop)"),
        );
    }
    if min_ttl > max_ttl {
        p.add(
            &min_ttl_span,
            format!("upstream.{name}.dns: min_ttl ({min_ttl:?}) is above max_ttl ({max_ttl:?})"),
        );
    }
    let serve_stale_for = or_default(t.duration("serve_stale_for", p), defaults::SERVE_STALE_FOR);
    let nameservers = t
        .strings("nameservers", p)
        .unwrap_or_default()
        .iter()
        .filter_map(|ns| nameserver(p, name, ns))
        .collect();
    t.finish(p);
    DnsSettings {
        min_ttl,
        max_ttl,
        serve_stale_for,
        nameservers,
    }
}

/// `"IP"` (port 53) or `"IP:port"`.
fn nameserver(p: &mut Problems<'_>, name: &str, value: &Spanned<String>) -> Option<SocketAddr> {
    let raw = value.get_ref().trim();
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    socket_addr(p, value, &format!("upstream.{name}.dns.nameservers"))
}

/// `[upstream.NAME.probe]`.
fn probe(p: &mut Problems<'_>, name: &str, mut t: Table<'_>) -> Probe {
    let path = match t.string("path", p) {
        None => "/".to_string(),
        Some(s) => {
            if !s.get_ref().starts_with('/') {
                p.add(
                    &s.span(),
                    format!("upstream.{name}.probe.path must start with '/'"),
                );
            }
            s.into_inner()
        }
    };
    let host = t.string("host", p).map(Spanned::into_inner);
    let status_key = format!("upstream.{name}.probe.expect_status");
    let mut expect_status: Vec<u16> = t
        .integers("expect_status", p)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| in_range(s, &status_key, 100..=599, p))
        .collect();
    if expect_status.is_empty() {
        expect_status.push(200);
    }
    let interval = or_default(t.duration("interval", p), defaults::PROBE_INTERVAL);
    t.finish(p);
    Probe {
        path,
        host,
        expect_status,
        interval,
    }
}
