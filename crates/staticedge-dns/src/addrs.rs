//! The address set requests choose from, and what /status and /readyz say about it.

use crate::lookup::Answer;
use arc_swap::ArcSwapOption;
use staticedge_config::{Upstream, UpstreamAddress};
use staticedge_metrics::METRICS;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long an address that refused a connection is passed over.
const PENALTY: Duration = Duration::from_secs(10);

/// The `result` label values of `staticedge_dns_lookups_total`.
const LOOKUP_OK: &str = "ok";
const LOOKUP_ERROR: &str = "error";

/// The last good answer and when it arrived.
#[derive(Debug)]
struct Current {
    answer: Answer,
    refreshed: Instant,
    refreshed_wall: SystemTime,
}

/// What went wrong lately, for /status.
#[derive(Debug, Default, Clone)]
struct Trouble {
    last_error: Option<String>,
    last_error_at: Option<SystemTime>,
    failing_since: Option<SystemTime>,
}

/// One upstream's live addresses. Shared by the proxy (which selects) and the
/// refresh loop (which replaces the answer).
#[derive(Debug)]
pub struct UpstreamAddrs {
    upstream: Upstream,
    current: ArcSwapOption<Current>,
    trouble: Mutex<Trouble>,
    next: AtomicUsize,
    penalties: Mutex<Vec<(SocketAddr, Instant)>>,
    any_penalty: AtomicBool,
}

/// One address in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSnapshot {
    /// The address requests go to.
    pub addr: SocketAddr,
    /// Seconds until the next lookup is due (0 when overdue); `None` for a fixed IP.
    pub ttl_left_seconds: Option<u64>,
}

/// A point-in-time view of an upstream for /status and metrics.
#[derive(Debug, Clone)]
pub struct UpstreamSnapshot {
    /// Upstream name from the configuration.
    pub name: String,
    /// `name:port` or `IP:port` as configured.
    pub target: String,
    /// Whether there has ever been a good answer.
    pub resolved: bool,
    /// The addresses in use.
    pub addresses: Vec<AddrSnapshot>,
    /// When the last good answer arrived.
    pub last_refresh: Option<SystemTime>,
    /// The most recent lookup error, if the last lookup failed or any earlier one did.
    pub last_error: Option<String>,
    /// Since when lookups have been failing while the old answer is served.
    pub stale_since: Option<SystemTime>,
    /// Seconds the served answer has been stale (0 when fresh).
    pub stale_seconds: f64,
}

impl UpstreamAddrs {
    /// A fresh upstream. An IP address upstream is resolved from the start; a
    /// name-based one has its DNS lookup counters exported at 0 from now on, so
    /// dashboards and `absent()` alerts see the series before the first lookup.
    pub fn new(upstream: Upstream) -> Self {
        let current = match &upstream.address {
            UpstreamAddress::Ip(addr) => Some(Arc::new(Current {
                answer: Answer {
                    addrs: vec![*addr],
                    ttl: Duration::from_secs(u32::MAX as u64),
                },
                refreshed: Instant::now(),
                refreshed_wall: SystemTime::now(),
            })),
            UpstreamAddress::Name { .. } => None,
        };
        let addrs = UpstreamAddrs {
            upstream,
            current: ArcSwapOption::new(current),
            trouble: Mutex::new(Trouble::default()),
            // A random start spreads the fleet's first requests over the addresses
            // instead of every instance beginning with the same one.
            next: AtomicUsize::new(fastrand::usize(..)),
            penalties: Mutex::new(Vec::new()),
            any_penalty: AtomicBool::new(false),
        };
        if let UpstreamAddress::Name { .. } = addrs.upstream.address {
            for result in [LOOKUP_OK, LOOKUP_ERROR] {
                addrs.count_lookups(result, 0);
            }
        }
        addrs
    }

    /// Adds `lookups` to this upstream's `staticedge_dns_lookups_total{result}`;
    /// adding 0 creates the series at 0.
    fn count_lookups(&self, result: &str, lookups: u64) {
        METRICS
            .dns_lookups
            .with_label_values(&[self.upstream.name.as_str(), result])
            .inc_by(lookups);
    }

    /// Takes over `old`'s last good answer when it followed the same address (a
    /// reload that changed only timeouts must not forget the addresses).
    pub fn seed_from(&self, old: &UpstreamAddrs) {
        if old.upstream.address == self.upstream.address {
            if let UpstreamAddress::Name { .. } = self.upstream.address {
                self.current.store(old.current.load_full());
            }
        }
    }

    /// The configuration this set follows.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Picks the next address round-robin, skipping `exclude` (already tried for this
    /// request) and, while others remain, addresses that recently refused connections.
    pub fn select(&self, exclude: &[SocketAddr]) -> Option<SocketAddr> {
        let current = self.current.load();
        let addrs = &current.as_ref()?.answer.addrs;
        let n = addrs.len();
        if n == 0 {
            return None;
        }
        // Reduced first: the counter starts anywhere in usize and must not overflow.
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let penalized = self.penalized();
        let candidates = (0..n).map(|i| addrs[(start + i) % n]);
        let mut fallback = None;
        for a in candidates {
            if exclude.contains(&a) {
                continue;
            }
            if penalized.contains(&a) {
                fallback.get_or_insert(a);
                continue;
            }
            return Some(a);
        }
        fallback
    }

    fn penalized(&self) -> Vec<SocketAddr> {
        if !self.any_penalty.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let now = Instant::now();
        let mut p = self.penalties.lock().unwrap_or_else(|e| e.into_inner());
        p.retain(|(_, until)| *until > now);
        if p.is_empty() {
            self.any_penalty.store(false, Ordering::Relaxed);
        }
        p.iter().map(|(a, _)| *a).collect()
    }

    /// Records that `addr` refused or timed out a connection: other addresses are
    /// preferred for a short while.
    pub fn mark_failed(&self, addr: SocketAddr) {
        let until = Instant::now() + PENALTY;
        let mut p = self.penalties.lock().unwrap_or_else(|e| e.into_inner());
        match p.iter_mut().find(|(a, _)| *a == addr) {
            Some(entry) => entry.1 = until,
            None => p.push((addr, until)),
        }
        self.any_penalty.store(true, Ordering::Relaxed);
    }

    /// Stores a good answer; returns true when the address set changed.
    pub fn store_answer(&self, answer: Answer) -> bool {
        self.count_lookups(LOOKUP_OK, 1);
        let changed = self
            .current
            .load()
            .as_ref()
            .is_none_or(|c| c.answer.addrs != answer.addrs);
        self.current.store(Some(Arc::new(Current {
            answer,
            refreshed: Instant::now(),
            refreshed_wall: SystemTime::now(),
        })));
        let mut t = self.trouble.lock().unwrap_or_else(|e| e.into_inner());
        t.failing_since = None;
        changed
    }

    /// Records a failed lookup; the current answer (if any) stays. Returns true when
    /// this is the first failure after a success (for logging a change of state once).
    pub fn store_error(&self, error: String) -> bool {
        self.count_lookups(LOOKUP_ERROR, 1);
        let now = SystemTime::now();
        let mut t = self.trouble.lock().unwrap_or_else(|e| e.into_inner());
        t.last_error = Some(error);
        t.last_error_at = Some(now);
        let first = t.failing_since.is_none();
        if first {
            t.failing_since = Some(now);
        }
        first
    }

    /// True while lookups fail (since the last good answer).
    pub fn is_failing(&self) -> bool {
        self.trouble
            .lock()
            .map(|t| t.failing_since.is_some())
            .unwrap_or(false)
    }

    /// True once there is an answer to select from.
    pub fn is_resolved(&self) -> bool {
        self.current.load().is_some()
    }

    /// The TTL of the answer in use, if any.
    pub fn current_ttl(&self) -> Option<Duration> {
        self.current.load().as_ref().map(|c| c.answer.ttl)
    }

    /// Why this upstream should fail readiness, if it should: never resolved, or the
    /// last good answer is older than `serve_stale_for`.
    pub fn readiness_problem(&self) -> Option<String> {
        let current = self.current.load();
        let name = &self.upstream.name;
        match current.as_ref() {
            None => Some(format!(
                "upstream {name}: never resolved ({})",
                self.trouble
                    .lock()
                    .map(|t| t.last_error.clone())
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "no lookup finished yet".into())
            )),
            Some(c) => {
                let age = c.refreshed.elapsed();
                let limit = c
                    .answer
                    .ttl
                    .saturating_add(self.upstream.dns.serve_stale_for);
                (age > limit).then(|| {
                    format!(
                        "upstream {name}: last good DNS answer is {}s old, over serve_stale_for",
                        age.as_secs()
                    )
                })
            }
        }
    }

    /// A view for /status and metrics.
    pub fn snapshot(&self) -> UpstreamSnapshot {
        let current = self.current.load();
        let trouble = self.trouble.lock().map(|t| t.clone()).unwrap_or_default();
        let now = Instant::now();
        let (addresses, last_refresh, stale_seconds) = match current.as_ref() {
            None => (Vec::new(), None, 0.0),
            Some(c) => {
                let due = c.refreshed + c.answer.ttl;
                let left = due.saturating_duration_since(now).as_secs();
                let stale = if trouble.failing_since.is_some() {
                    now.saturating_duration_since(due).as_secs_f64()
                } else {
                    0.0
                };
                (
                    c.answer
                        .addrs
                        .iter()
                        .map(|a| AddrSnapshot {
                            addr: *a,
                            ttl_left_seconds: matches!(
                                self.upstream.address,
                                UpstreamAddress::Name { .. }
                            )
                            .then_some(left),
                        })
                        .collect(),
                    Some(c.refreshed_wall),
                    stale,
                )
            }
        };
        UpstreamSnapshot {
            name: self.upstream.name.clone(),
            target: self.upstream.address.to_string(),
            resolved: current.is_some(),
            addresses,
            last_refresh,
            last_error: trouble.last_error,
            stale_since: trouble.failing_since.filter(|_| current.is_some()),
            stale_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn upstream() -> Upstream {
        Upstream::with_defaults("app", "app.example.test:8000").expect("valid")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn answer(addrs: &[&str]) -> Answer {
        Answer {
            addrs: addrs.iter().map(|s| addr(s)).collect(),
            ttl: Duration::from_secs(5),
        }
    }

    #[test]
    fn unresolved_selects_nothing_and_is_not_ready() {
        let u = UpstreamAddrs::new(upstream());
        assert_eq!(u.select(&[]), None);
        assert!(u
            .readiness_problem()
            .is_some_and(|r| r.contains("never resolved")));
    }

    #[test]
    fn round_robin_covers_every_address() {
        let u = UpstreamAddrs::new(upstream());
        u.store_answer(answer(&[
            "127.0.0.2:8000",
            "127.0.0.3:8000",
            "127.0.0.4:8000",
        ]));
        let mut seen: Vec<SocketAddr> = (0..6).filter_map(|_| u.select(&[])).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 3);
        assert_eq!(u.readiness_problem(), None);
    }

    #[test]
    fn failures_keep_the_last_answer_and_say_so() {
        let u = UpstreamAddrs::new(upstream());
        assert!(u.store_answer(answer(&["127.0.0.2:8000"])));
        assert!(
            !u.store_answer(answer(&["127.0.0.2:8000"])),
            "same set is no change"
        );
        assert!(
            u.store_error("SERVFAIL".into()),
            "first failure is reported"
        );
        assert!(!u.store_error("SERVFAIL".into()), "later ones are not");
        assert_eq!(u.select(&[]), Some(addr("127.0.0.2:8000")));
        let s = u.snapshot();
        assert!(s.stale_since.is_some());
        assert_eq!(s.last_error.as_deref(), Some("SERVFAIL"));
        u.store_answer(answer(&["127.0.0.3:8000"]));
        assert!(u.snapshot().stale_since.is_none());
    }

    /// The `staticedge_dns_lookups_total` series of `upstream` in the default
    /// registry, as (result, value), sorted.
    fn exported_lookup_counts(upstream: &str) -> Vec<(String, f64)> {
        let mut found: Vec<(String, f64)> = prometheus::gather()
            .iter()
            .filter(|family| family.name() == "staticedge_dns_lookups_total")
            .flat_map(|family| family.get_metric().iter())
            .filter(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == "upstream" && l.value() == upstream)
            })
            .map(|m| {
                let result = m
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "result")
                    .map(|l| l.value().to_string())
                    .unwrap_or_default();
                (result, m.get_counter().value())
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    #[test]
    fn name_upstreams_export_their_lookup_counters_at_zero_from_the_start() {
        // Names of their own: other tests count lookups in the same registry.
        let named =
            Upstream::with_defaults("zero-start-named", "app.example.test:80").expect("valid");
        let fixed = Upstream::with_defaults("zero-start-fixed", "127.0.0.9:80").expect("valid");
        let named = UpstreamAddrs::new(named);
        let _fixed = UpstreamAddrs::new(fixed);
        let zero = vec![("error".to_string(), 0.0), ("ok".to_string(), 0.0)];
        assert_eq!(exported_lookup_counts("zero-start-named"), zero);
        assert_eq!(
            exported_lookup_counts("zero-start-fixed"),
            vec![],
            "a fixed address is never looked up"
        );
        named.store_answer(answer(&["127.0.0.2:80"]));
        named.store_error("SERVFAIL".into());
        named.store_error("SERVFAIL".into());
        assert_eq!(
            exported_lookup_counts("zero-start-named"),
            vec![("error".to_string(), 2.0), ("ok".to_string(), 1.0)]
        );
    }

    #[test]
    fn round_robin_starts_at_a_random_address() {
        let addrs = [
            "127.0.0.2:8000",
            "127.0.0.3:8000",
            "127.0.0.4:8000",
            "127.0.0.5:8000",
        ];
        let mut first_picks: Vec<SocketAddr> = (0..32)
            .filter_map(|_| {
                let u = UpstreamAddrs::new(upstream());
                u.store_answer(answer(&addrs));
                u.select(&[])
            })
            .collect();
        first_picks.sort();
        first_picks.dedup();
        // 32 sets starting at the same address by chance: 4^-31.
        assert!(
            first_picks.len() > 1,
            "every set started at {first_picks:?}"
        );
    }

    #[test]
    fn round_robin_does_not_overflow_at_the_end_of_the_counter() {
        let u = UpstreamAddrs::new(upstream());
        u.store_answer(answer(&[
            "127.0.0.2:8000",
            "127.0.0.3:8000",
            "127.0.0.4:8000",
        ]));
        let tried = [addr("127.0.0.2:8000"), addr("127.0.0.3:8000")];
        for at_the_end in [usize::MAX - 1, usize::MAX] {
            u.next.store(at_the_end, Ordering::Relaxed);
            // Skipping the tried ones walks past the end of the counter.
            assert_eq!(u.select(&tried), Some(addr("127.0.0.4:8000")));
        }
    }

    #[test]
    fn tried_and_failed_addresses_are_skipped() {
        let u = UpstreamAddrs::new(upstream());
        u.store_answer(answer(&["127.0.0.2:8000", "127.0.0.3:8000"]));
        let dead = addr("127.0.0.2:8000");
        for _ in 0..4 {
            assert_ne!(u.select(&[dead]), Some(dead));
        }
        u.mark_failed(dead);
        for _ in 0..4 {
            assert_eq!(u.select(&[]), Some(addr("127.0.0.3:8000")));
        }
        // a penalized address is still used when it is the only one left
        assert_eq!(u.select(&[addr("127.0.0.3:8000")]), Some(dead));
    }
}
