//! `[[route]]`: which requests go to which upstream, and what Host they carry there.

use crate::error::Location;
use crate::file::{Problems, Table};
use crate::host::HostPattern;
use crate::model::*;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Where each (host pattern, path prefix) pair was first routed, to refuse a second.
type FirstRouted = HashMap<(HostPattern, String), Location>;

/// Every `[[route]]`, in file order.
pub(super) fn routes(
    p: &mut Problems<'_>,
    tables: Vec<Table<'_>>,
    upstreams: &BTreeMap<String, Upstream>,
) -> Vec<Route> {
    let mut first_routed = FirstRouted::new();
    tables
        .into_iter()
        .map(|t| route(p, t, upstreams, &mut first_routed))
        .collect()
}

/// One route: its keys are read in turn, each by the step that owns it.
fn route(
    p: &mut Problems<'_>,
    mut t: Table<'_>,
    upstreams: &BTreeMap<String, Upstream>,
    first_routed: &mut FirstRouted,
) -> Route {
    let path_prefix = path_prefix(p, &mut t);
    let (hosts, hosts_at) = hosts(p, &mut t, &path_prefix, first_routed);
    let upstream = upstream_name(p, &mut t, upstreams);
    let host_header = super::host_header::host_header(p, &mut t);
    let allow_cidrs = allow_cidrs(p, &mut t);
    let client_cert = super::access::client_cert(p, &mut t);
    let rate_limit = super::access::rate_limit(p, &mut t);
    t.finish(p);
    Route {
        hosts,
        hosts_at,
        path_prefix,
        upstream,
        host_header,
        allow_cidrs,
        client_cert: client_cert.rule,
        allow_client_names: client_cert.allow_names,
        client_cert_at: client_cert.at,
        rate_limit,
    }
}

/// `path_prefix`, `/` when absent.
fn path_prefix(p: &mut Problems<'_>, t: &mut Table<'_>) -> String {
    let Some(prefix) = t.string("path_prefix", p) else {
        return "/".to_string();
    };
    if !prefix.get_ref().starts_with('/') {
        p.add(&prefix.span(), "route.path_prefix must start with '/'");
    }
    prefix.into_inner()
}

/// `hosts`: each a valid pattern, and no (pattern, prefix) pair routed twice.
fn hosts(
    p: &mut Problems<'_>,
    t: &mut Table<'_>,
    path_prefix: &str,
    first_routed: &mut FirstRouted,
) -> (Vec<HostPattern>, Vec<Location>) {
    let present = t.has("hosts");
    let written = t.strings("hosts", p);
    if !present {
        t.missing(p, "hosts");
    } else if written.as_ref().is_some_and(Vec::is_empty) {
        p.add(
            t.span(),
            "route.hosts is empty: list at least one host or \"*\"",
        );
    }
    let mut hosts = Vec::new();
    let mut hosts_at = Vec::new();
    for h in written.unwrap_or_default() {
        match HostPattern::parse(h.get_ref()) {
            Ok(pattern) => {
                let here = p.at(&h.span());
                let key = (pattern.clone(), path_prefix.to_string());
                if let Some(first) = first_routed.get(&key) {
                    p.add(
                        &h.span(),
                        format!("route: host {pattern} with path_prefix {path_prefix:?} is already routed at line {}", first.line),
                    );
                } else {
                    first_routed.insert(key, here);
                }
                hosts.push(pattern);
                hosts_at.push(here);
            }
            Err(msg) => p.add(&h.span(), format!("route.hosts: {msg}")),
        }
    }
    (hosts, hosts_at)
}

/// `upstream`: must name an `[upstream.NAME]`.
fn upstream_name(
    p: &mut Problems<'_>,
    t: &mut Table<'_>,
    upstreams: &BTreeMap<String, Upstream>,
) -> String {
    let Some(name) = t.required_string("upstream", p) else {
        return String::new();
    };
    if !upstreams.contains_key(name.get_ref()) {
        let known: Vec<&str> = upstreams.keys().map(String::as_str).collect();
        let defined = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        p.add(
            &name.span(),
            format!(
                "route.upstream: no [upstream.{}] is defined (defined: {defined})",
                name.get_ref()
            ),
        );
    }
    name.into_inner()
}

/// `allow_cidrs`: networks such as `"10.0.0.0/8"`.
fn allow_cidrs(p: &mut Problems<'_>, t: &mut Table<'_>) -> Vec<ipnet::IpNet> {
    let written = t.strings("allow_cidrs", p).unwrap_or_default();
    written
        .iter()
        .filter_map(|c| {
            let raw = c.get_ref().trim();
            raw.parse::<ipnet::IpNet>()
                .map_err(|e| {
                    p.add(
                        &c.span(),
                        format!("route.allow_cidrs: {}", cidr_problem(raw, e)),
                    )
                })
                .ok()
        })
        .collect()
}

/// Why `raw` is not a network, and what to write: a lone address gets its `/32`.
fn cidr_problem(raw: &str, e: ipnet::AddrParseError) -> String {
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            format!("{raw:?} is an address, not a network: write \"{ip}/32\" for this one address")
        }
        Ok(IpAddr::V6(ip)) => {
            format!("{raw:?} is an address, not a network: write \"{ip}/128\" for this one address")
        }
        Err(_) => format!("invalid IP network {raw:?} ({e}); write it like \"10.0.0.0/8\""),
    }
}
