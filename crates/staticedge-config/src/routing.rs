//! Which route serves a request: by Host (exact names beat `*.suffix` wildcards, which
//! beat the `*` catch-all), then the longest `path_prefix` among that host's routes.

use crate::host::{normalize_host, wildcard_matches};
use crate::{HostPattern, Route};
use std::collections::HashMap;

/// The routes of one configuration, indexed for matching.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// exact name -> route indices
    exact: HashMap<String, Vec<usize>>,
    /// (wildcard suffix, route indices), longest suffix first
    wildcard: Vec<(String, Vec<usize>)>,
    /// catch-all route indices
    any: Vec<usize>,
    /// metric/log label per route: first host and the prefix, e.g. `api.example.com/v2`
    labels: Vec<String>,
}

impl RouteTable {
    /// Indexes `routes` (already validated: no duplicate host + prefix pairs).
    pub fn new(routes: Vec<Route>) -> Self {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wildcard: HashMap<String, Vec<usize>> = HashMap::new();
        let mut any = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            for h in &r.hosts {
                match h {
                    HostPattern::Exact(n) => exact.entry(n.clone()).or_default().push(i),
                    HostPattern::Wildcard(s) => wildcard.entry(s.clone()).or_default().push(i),
                    HostPattern::Any => any.push(i),
                }
            }
        }
        let mut wildcard: Vec<(String, Vec<usize>)> = wildcard.into_iter().collect();
        wildcard.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let labels = routes
            .iter()
            .map(|r| {
                let host = r.hosts.first().map(|h| h.to_string()).unwrap_or_default();
                let prefix = if r.path_prefix == "/" {
                    ""
                } else {
                    r.path_prefix.as_str()
                };
                format!("{host}{prefix}")
            })
            .collect();
        RouteTable {
            routes,
            exact,
            wildcard,
            any,
            labels,
        }
    }

    /// The route for a raw Host value (any case, optional port) and a request path.
    ///
    /// The most specific host class that has a route whose prefix matches wins; a host
    /// whose routes all have non-matching prefixes falls through to less specific ones.
    pub fn find(&self, raw_host: &str, path: &str) -> Option<(usize, &Route)> {
        let host = normalize_host(raw_host);
        let candidates = self
            .exact
            .get(host.as_ref())
            .into_iter()
            .chain(
                self.wildcard
                    .iter()
                    .filter(|(suffix, _)| wildcard_matches(suffix, &host))
                    .map(|(_, v)| v),
            )
            .chain(std::iter::once(&self.any));
        for indices in candidates {
            if let Some(i) = self.longest_prefix(indices, path) {
                return Some((i, &self.routes[i]));
            }
        }
        None
    }

    fn longest_prefix(&self, indices: &[usize], path: &str) -> Option<usize> {
        indices
            .iter()
            .copied()
            .filter(|&i| prefix_matches(&self.routes[i].path_prefix, path))
            .max_by_key(|&i| self.routes[i].path_prefix.len())
    }

    /// The bounded label naming route `i` in metrics and logs.
    pub fn label(&self, i: usize) -> &str {
        self.labels.get(i).map(String::as_str).unwrap_or("")
    }

    /// All routes in configuration order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

/// `/api` matches `/api`, `/api/x` and `/api?q`, not `/apix`; `/` and `/api/` match
/// everything below them.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => {
            prefix.ends_with('/')
                || rest.is_empty()
                || rest.starts_with('/')
                || rest.starts_with('?')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostHeader;

    fn route(hosts: &[&str], prefix: &str, upstream: &str) -> Route {
        Route {
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).expect("pattern"))
                .collect(),
            hosts_at: vec![],
            path_prefix: prefix.into(),
            upstream: upstream.into(),
            host_header: HostHeader::Preserve,
            allow_cidrs: vec![],
            client_cert: crate::ClientCertRule::Optional,
            allow_client_names: vec![],
            client_cert_at: None,
            rate_limit: None,
        }
    }

    #[test]
    fn routes_match_by_host_class_then_longest_prefix() {
        let table = RouteTable::new(vec![
            route(&["api.example.com"], "/", "exact"),
            route(&["api.example.com"], "/v2", "exact-v2"),
            route(&["*.example.com"], "/", "wild"),
            route(&["*.eu.example.com"], "/", "wild-eu"),
            route(&["*"], "/", "any"),
            route(&["only-admin.example.org"], "/admin", "admin"),
        ]);
        let cases = [
            ("api.example.com", "/", Some("exact")),
            ("API.Example.com:443", "/x", Some("exact")),
            ("api.example.com.", "/v2/users", Some("exact-v2")),
            ("api.example.com", "/v2", Some("exact-v2")),
            ("api.example.com", "/v2?x=1", Some("exact-v2")),
            ("api.example.com", "/v20", Some("exact")),
            ("www.example.com", "/", Some("wild")),
            ("a.eu.example.com", "/", Some("wild-eu")),
            ("example.com", "/", Some("any")),
            ("other.test:8443", "/", Some("any")),
            ("only-admin.example.org", "/admin/x", Some("admin")),
            // a host whose only route does not match the path falls through
            ("only-admin.example.org", "/", Some("any")),
        ];
        for (host, path, want) in cases {
            let got = table.find(host, path).map(|(_, r)| r.upstream.as_str());
            assert_eq!(got, want, "{host} {path}");
        }
    }

    #[test]
    fn without_a_catch_all_unknown_hosts_match_nothing() {
        let table = RouteTable::new(vec![route(&["api.example.com"], "/", "a")]);
        assert!(table.find("evil.test", "/").is_none());
        assert!(table.find("", "/").is_none());
        assert!(table.find("api.example.com.evil.test", "/").is_none());
    }
}
