//! The limiters of one configuration, indexed like its route table, kept across reloads.

use crate::RouteLimiter;
use staticedge_config::RouteTable;
use std::collections::HashMap;
use std::sync::Arc;

/// One [`RouteLimiter`] per route that has a `rate_limit`, at the route's index in
/// the [`RouteTable`] it was built from.
///
/// Built once per configuration and swapped with it. Limiters are shared through
/// `Arc`, so requests still running on the old configuration and new ones count
/// against the same buckets when a reload kept a limiter.
#[derive(Debug, Clone, Default)]
pub struct RateLimiters {
    by_route: Vec<Option<Slot>>,
}

/// A limiter and the route label it was built for, the identity used on reload.
#[derive(Debug, Clone)]
struct Slot {
    label: String,
    limiter: Arc<RouteLimiter>,
}

impl RateLimiters {
    /// The limiters for `routes`, reusing `previous`'s where nothing changed.
    ///
    /// A route is the same across a reload when its label in the route table (first
    /// host and path prefix, the `route` label of its metrics) is the same, so routes
    /// may be reordered, added or removed around it. Its limiter, buckets included, is
    /// kept when its `rate_limit` settings are equal; any change to them starts a new
    /// limiter with every bucket full.
    pub fn new(routes: &RouteTable, previous: Option<&RateLimiters>) -> RateLimiters {
        let reusable: HashMap<&str, &Arc<RouteLimiter>> = previous
            .into_iter()
            .flat_map(|set| set.by_route.iter().flatten())
            .map(|slot| (slot.label.as_str(), &slot.limiter))
            .collect();
        let by_route = routes
            .routes()
            .iter()
            .enumerate()
            .map(|(i, route)| {
                let limit = route.rate_limit.as_ref()?;
                let label = routes.label(i);
                let limiter = match reusable.get(label) {
                    Some(kept) if kept.limit() == limit => Arc::clone(kept),
                    _ => Arc::new(RouteLimiter::new(limit)),
                };
                Some(Slot {
                    label: label.to_owned(),
                    limiter,
                })
            })
            .collect();
        RateLimiters { by_route }
    }

    /// The limiter of the route at `route_index`, if that route has a `rate_limit`.
    pub fn get(&self, route_index: usize) -> Option<&RouteLimiter> {
        self.by_route
            .get(route_index)?
            .as_ref()
            .map(|slot| slot.limiter.as_ref())
    }

    /// Every limiter with its route label, for the `staticedge_rate_limit_keys{route}`
    /// gauge.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RouteLimiter)> {
        self.by_route
            .iter()
            .flatten()
            .map(|slot| (slot.label.as_str(), slot.limiter.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientKey;
    use staticedge_config::{
        ClientCertRule, HostHeader, HostPattern, RateLimit, RateLimitKey, Route,
    };

    fn route(host: &str, prefix: &str, rate_limit: Option<RateLimit>) -> Route {
        Route {
            hosts: vec![HostPattern::parse(host).expect("host pattern")],
            hosts_at: vec![],
            path_prefix: prefix.into(),
            upstream: "app".into(),
            host_header: HostHeader::Preserve,
            allow_cidrs: vec![],
            client_cert: ClientCertRule::Optional,
            allow_client_names: vec![],
            client_cert_at: None,
            rate_limit,
        }
    }

    /// One request per second, `burst` at once, per client address.
    fn per_ip(burst: u32) -> Option<RateLimit> {
        Some(RateLimit {
            requests_per_second: 1,
            burst,
            key: RateLimitKey::ClientIp,
            max_keys: 100,
        })
    }

    fn client() -> ClientKey {
        ClientKey::Ip("192.0.2.1".parse().expect("ip"))
    }

    /// Requests admitted out of `tries`. The rate is one per second, so only a stall
    /// of a second or more between two calls could add one.
    fn admitted(limiter: &RouteLimiter, tries: usize) -> usize {
        (0..tries)
            .filter(|_| limiter.check(client()).is_ok())
            .count()
    }

    fn limiter_of(set: &RateLimiters, i: usize) -> &RouteLimiter {
        set.get(i).expect("route has a limiter")
    }

    #[test]
    fn routes_without_a_limit_have_no_limiter() {
        let table = RouteTable::new(vec![
            route("api.example.test", "/", per_ip(3)),
            route("www.example.test", "/", None),
        ]);
        let set = RateLimiters::new(&table, None);
        assert!(set.get(0).is_some());
        assert!(set.get(1).is_none());
        assert!(set.get(2).is_none(), "past the end");
        let labels: Vec<&str> = set.iter().map(|(label, _)| label).collect();
        assert_eq!(labels, ["api.example.test"]);
    }

    #[test]
    fn reload_with_unchanged_settings_keeps_the_buckets() {
        let before = RouteTable::new(vec![route("api.example.test", "/v1", per_ip(3))]);
        let first = RateLimiters::new(&before, None);
        assert_eq!(admitted(limiter_of(&first, 0), 3), 3);

        // Reordered, with a new route in front: matched by label, not position.
        let after = RouteTable::new(vec![
            route("new.example.test", "/", per_ip(3)),
            route("api.example.test", "/v1", per_ip(3)),
        ]);
        let second = RateLimiters::new(&after, Some(&first));
        let kept = limiter_of(&second, 1);
        assert!(std::ptr::eq(kept, limiter_of(&first, 0)), "same limiter");
        assert_eq!(kept.tracked_keys(), 1);
        assert!(admitted(kept, 3) <= 1, "the spent burst stays spent");
        assert_eq!(
            admitted(limiter_of(&second, 0), 3),
            3,
            "the new route starts full"
        );
    }

    #[test]
    fn reload_with_changed_settings_starts_fresh() {
        let before = RouteTable::new(vec![route("api.example.test", "/", per_ip(3))]);
        let first = RateLimiters::new(&before, None);
        assert_eq!(admitted(limiter_of(&first, 0), 3), 3);

        let after = RouteTable::new(vec![route("api.example.test", "/", per_ip(4))]);
        let second = RateLimiters::new(&after, Some(&first));
        let fresh = limiter_of(&second, 0);
        assert_eq!(fresh.limit().burst, 4);
        assert_eq!(fresh.tracked_keys(), 0);
        assert_eq!(admitted(fresh, 4), 4, "a full new burst");
    }

    #[test]
    fn a_route_that_moves_to_another_label_starts_fresh() {
        let before = RouteTable::new(vec![route("api.example.test", "/v1", per_ip(3))]);
        let first = RateLimiters::new(&before, None);
        assert_eq!(admitted(limiter_of(&first, 0), 3), 3);

        let after = RouteTable::new(vec![route("api.example.test", "/v2", per_ip(3))]);
        let second = RateLimiters::new(&after, Some(&first));
        assert_eq!(admitted(limiter_of(&second, 0), 3), 3);
    }
}
