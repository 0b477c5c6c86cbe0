//! The registry that keeps one address set per configured upstream across reloads.

use crate::addrs::UpstreamAddrs;
use staticedge_config::Upstream;
use std::collections::HashMap;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Answer;
    use std::net::SocketAddr;
    use std::time::Duration;

    fn upstream(name: &str, address: &str) -> Upstream {
        Upstream::with_defaults(name, address).expect("valid upstream")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn a_reload_keeps_the_last_answer_only_for_an_unchanged_address() {
        let (old, _) = UpstreamRegistry::default().reconcile(&[
            upstream("kept", "app.example.test:80"),
            upstream("moved", "blue.example.test:80"),
        ]);
        for name in ["kept", "moved"] {
            let set = old.get(name).expect("configured");
            set.store_answer(Answer {
                addrs: vec![addr("127.0.0.2:80")],
                ttl: Duration::from_secs(30),
            });
        }
        let (new, fresh) = old.reconcile(&[
            upstream("kept", "app.example.test:80"),
            upstream("moved", "green.example.test:80"),
            upstream("added", "127.0.0.7:80"),
        ]);
        assert_eq!(fresh.len(), 3, "every upstream gets a new set and loop");
        let kept = new.get("kept").expect("kept");
        assert!(!Arc::ptr_eq(kept, old.get("kept").expect("old")));
        assert_eq!(kept.select(&[]), Some(addr("127.0.0.2:80")));
        assert!(!new.get("moved").expect("moved").is_resolved());
        assert_eq!(
            new.get("added").expect("added").select(&[]),
            Some(addr("127.0.0.7:80"))
        );
        let names: Vec<&str> = new
            .all()
            .iter()
            .map(|s| s.upstream().name.as_str())
            .collect();
        assert_eq!(names, ["added", "kept", "moved"]);
        assert!(new.get("gone").is_none());
    }
}
