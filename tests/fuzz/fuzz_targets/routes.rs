//! Any Host and path a client sends: matching never panics, and a match is a route
//! whose host pattern and path prefix really match.
#![no_main]
use libfuzzer_sys::fuzz_target;
use staticedge_config::host::normalize_host;
use staticedge_config::{HostHeader, HostPattern, Route, RouteTable};

fn route(hosts: &[&str], prefix: &str, upstream: &str) -> Route {
    Route {
        hosts: hosts.iter().filter_map(|h| HostPattern::parse(h).ok()).collect(),
        path_prefix: prefix.into(),
        upstream: upstream.into(),
        host_header: HostHeader::Preserve,
        allow_cidrs: vec![],
        hosts_at: Vec::new(),
        client_cert: Default::default(),
        allow_client_names: vec![],
        client_cert_at: None,
        rate_limit: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (host, path) = text.split_once('\n').unwrap_or((&text, "/"));
    let table = RouteTable::new(vec![
        route(&["api.example.com"], "/", "exact"),
        route(&["api.example.com"], "/v2", "exact-v2"),
        route(&["*.example.com"], "/", "wild"),
        route(&["*"], "/static", "any-static"),
    ]);
    if let Some((_, r)) = table.find(host, path) {
        let h = normalize_host(host);
        assert!(r.hosts.iter().any(|p| p.matches(&h)), "{host:?} -> {r:?}");
        assert!(path.starts_with(&r.path_prefix), "{path:?} -> {r:?}");
    }
    let _ = HostPattern::parse(host);
});
