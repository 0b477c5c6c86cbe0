//! The refresh loop of each upstream, and the registry that keeps one set per upstream
//! across reloads.

use crate::addrs::UpstreamAddrs;
use crate::lookup::NameResolver;
use staticedge_config::{Upstream, UpstreamAddress};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tracing::{info, warn};

/// Retry delays after a failed lookup: quick at first, then every few seconds.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Keeps `addrs` following its name until the set is dropped (a reload removed the
/// upstream). Returns at once for IP-address upstreams.
pub async fn follow(addrs: Weak<UpstreamAddrs>) {
    let (host, port, settings, name) = match addrs.upgrade() {
        Some(a) => match &a.upstream().address {
            UpstreamAddress::Ip(_) => return,
            UpstreamAddress::Name { host, port } => (
                host.clone(),
                *port,
                a.upstream().dns.clone(),
                a.upstream().name.clone(),
            ),
        },
        None => return,
    };
    let mut backoff = BACKOFF_FIRST;
    let resolver = loop {
        match NameResolver::new(&settings) {
            Ok(r) => break r,
            Err(e) => {
                let Some(a) = addrs.upgrade() else { return };
                if a.store_error(e.to_string()) {
                    warn!(upstream = %name, error = %e, "DNS resolver cannot be set up");
                }
                drop(a);
                tokio::time::sleep(BACKOFF_MAX).await;
            }
        }
    };
    loop {
        let result = resolver.lookup(&host, port).await;
        let Some(a) = addrs.upgrade() else { return };
        let wait = match result {
            Ok(answer) => {
                let ttl = answer.ttl;
                let recovered = a.is_failing();
                let list = answer
                    .addrs
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                if a.store_answer(answer) {
                    info!(upstream = %name, addresses = %list, ttl_s = ttl.as_secs(), "upstream addresses changed");
                } else if recovered {
                    info!(upstream = %name, "DNS lookups succeed again");
                }
                backoff = BACKOFF_FIRST;
                ttl
            }
            Err(e) => {
                if a.store_error(e.to_string()) {
                    warn!(upstream = %name, error = %e, "DNS lookup failed; keeping the last good answer and retrying");
                }
                let wait = backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                wait
            }
        };
        drop(a);
        tokio::time::sleep(wait).await;
    }
}

/// The address sets of the configured upstreams, by name.
#[derive(Debug, Default, Clone)]
pub struct UpstreamRegistry {
    by_name: HashMap<String, Arc<UpstreamAddrs>>,
}

impl UpstreamRegistry {
    /// Builds the registry for a new configuration. Every upstream gets a new set (its
    /// settings may have changed), seeded with the last good answer of the old set
    /// when the address is the same, so a reload never leaves requests without
    /// addresses. Returns the sets whose refresh loops must be started; the old
    /// sets' loops stop by themselves once the old registry is dropped.
    pub fn reconcile<'a>(
        &self,
        upstreams: impl IntoIterator<Item = &'a Upstream>,
    ) -> (UpstreamRegistry, Vec<Arc<UpstreamAddrs>>) {
        let mut by_name = HashMap::new();
        let mut fresh = Vec::new();
        for u in upstreams {
            let set = UpstreamAddrs::new(u.clone());
            if let Some(old) = self.by_name.get(&u.name) {
                set.seed_from(old);
            }
            let set = Arc::new(set);
            fresh.push(set.clone());
            by_name.insert(u.name.clone(), set);
        }
        (UpstreamRegistry { by_name }, fresh)
    }

    /// The set of one upstream.
    pub fn get(&self, name: &str) -> Option<&Arc<UpstreamAddrs>> {
        self.by_name.get(name)
    }

    /// All sets, sorted by name.
    pub fn all(&self) -> Vec<&Arc<UpstreamAddrs>> {
        let mut v: Vec<_> = self.by_name.values().collect();
        v.sort_by(|a, b| a.upstream().name.cmp(&b.upstream().name));
        v
    }
}
