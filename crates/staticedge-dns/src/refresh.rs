//! The refresh loop of each upstream: look the name up, store the answer, sleep for
//! the clamped TTL (or the failure backoff), and repeat while the address set lives.

use crate::addrs::UpstreamAddrs;
use crate::lookup::{clamp_ttl, Answer, DnsError, NameResolver, Resolve};
use staticedge_config::{DnsSettings, UpstreamAddress};
use std::sync::Weak;
use std::time::Duration;
use tracing::{info, warn};

/// The first retry delay after a failed lookup; each further failure doubles it.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
/// The longest retry delay: while DNS is down, a name is asked again this often.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Keeps `addrs` following its name through hickory-resolver until the set is
/// dropped (a reload removed or replaced the upstream). Returns at once for
/// IP-address upstreams.
pub async fn follow(addrs: Weak<UpstreamAddrs>) {
    if let Some(resolver) = set_up_resolver(&addrs).await {
        follow_with(addrs, resolver).await;
    }
}

/// The refresh loop of [`follow`], with any [`Resolve`]r: after a good answer the
/// next lookup waits for its TTL clamped to `[min_ttl, max_ttl]`; after a failure it
/// waits 250 ms, doubling to at most 2 s until a lookup succeeds again. A failure
/// never empties the set. Holds only a weak reference between lookups and returns
/// once the set is dropped, or at once for an IP-address upstream.
pub async fn follow_with<R: Resolve>(addrs: Weak<UpstreamAddrs>, resolver: R) {
    let Some(target) = addrs.upgrade().and_then(|a| Target::of(&a)) else {
        return;
    };
    let mut backoff = Backoff::default();
    while addrs.strong_count() > 0 {
        let result = resolver.lookup(&target.host, target.port).await;
        let Some(set) = addrs.upgrade() else { return };
        let wait = match result {
            Ok(answer) => {
                let ttl = clamp_ttl(answer.ttl, &target.settings);
                store_answer(&set, &target.name, Answer { ttl, ..answer });
                backoff = Backoff::default();
                ttl
            }
            Err(e) => {
                store_failure(&set, &target.name, &e);
                backoff.after_failure()
            }
        };
        drop(set);
        tokio::time::sleep(wait).await;
    }
}

/// What the loop of one name-based upstream needs from its configuration.
struct Target {
    name: String,
    host: String,
    port: u16,
    settings: DnsSettings,
}

impl Target {
    /// `None` for an IP-address upstream, which has nothing to follow.
    fn of(addrs: &UpstreamAddrs) -> Option<Target> {
        let upstream = addrs.upstream();
        match &upstream.address {
            UpstreamAddress::Ip(_) => None,
            UpstreamAddress::Name { host, port } => Some(Target {
                name: upstream.name.clone(),
                host: host.clone(),
                port: *port,
                settings: upstream.dns.clone(),
            }),
        }
    }
}

/// The delay before the next retry of a failing name.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: BACKOFF_FIRST,
        }
    }
}

impl Backoff {
    /// How long to wait after this failure; the next one waits twice as long, up to
    /// [`BACKOFF_MAX`].
    fn after_failure(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }
}

/// Builds the hickory resolver of a name-based upstream, retrying every
/// [`BACKOFF_MAX`] while it cannot be set up (the failure is shown like a failed
/// lookup). `None` for an IP-address upstream or once the set is dropped.
async fn set_up_resolver(addrs: &Weak<UpstreamAddrs>) -> Option<NameResolver> {
    let target = Target::of(&*addrs.upgrade()?)?;
    loop {
        match NameResolver::new(&target.settings) {
            Ok(resolver) => return Some(resolver),
            Err(e) => {
                let set = addrs.upgrade()?;
                if set.store_error(e.to_string()) {
                    warn!(upstream = %target.name, error = %e, "DNS resolver cannot be set up");
                }
                drop(set);
                tokio::time::sleep(BACKOFF_MAX).await;
            }
        }
    }
}

/// Stores a good answer, logging a change of addresses or the end of a failure.
fn store_answer(set: &UpstreamAddrs, name: &str, answer: Answer) {
    let ttl = answer.ttl;
    let recovered = set.is_failing();
    let list = answer
        .addrs
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if set.store_answer(answer) {
        info!(upstream = %name, addresses = %list, ttl_s = ttl.as_secs(), "upstream addresses changed");
    } else if recovered {
        info!(upstream = %name, "DNS lookups succeed again");
    }
}

/// Records a failed lookup, logging only the first of a run of failures.
fn store_failure(set: &UpstreamAddrs, name: &str, error: &DnsError) {
    if set.store_error(error.to_string()) {
        warn!(upstream = %name, error = %error, "DNS lookup failed; keeping the last good answer and retrying");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::ScriptedResolver;
    use staticedge_config::Upstream;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use tokio::time::{sleep, sleep_until, timeout, Instant};

    /// A name-based upstream whose TTLs are clamped to `[5 s, 60 s]`.
    fn followed_set() -> Arc<UpstreamAddrs> {
        let mut upstream = Upstream::with_defaults("app", "app.example.test:8000").expect("valid");
        upstream.dns.min_ttl = Duration::from_secs(5);
        upstream.dns.max_ttl = Duration::from_secs(60);
        Arc::new(UpstreamAddrs::new(upstream))
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn found(addrs: &[&str], ttl_seconds: u64) -> Result<Answer, DnsError> {
        Ok(Answer {
            addrs: addrs.iter().map(|s| addr(s)).collect(),
            ttl: Duration::from_secs(ttl_seconds),
        })
    }

    fn servfail() -> Result<Answer, DnsError> {
        Err(DnsError::Failed("SERVFAIL".into()))
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// Starts the loop of `set` on `script`; returns when it started and the task.
    fn start(
        set: &Arc<UpstreamAddrs>,
        script: &ScriptedResolver,
    ) -> (Instant, tokio::task::JoinHandle<()>) {
        let started = Instant::now();
        let task = tokio::spawn(follow_with(Arc::downgrade(set), script.clone()));
        (started, task)
    }

    /// Every address `set` hands out over a few selections, sorted.
    fn selected(set: &UpstreamAddrs) -> Vec<SocketAddr> {
        let mut seen: Vec<SocketAddr> = (0..8).filter_map(|_| set.select(&[])).collect();
        seen.sort();
        seen.dedup();
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_lookup_waits_for_the_ttl_clamped_to_min_and_max() {
        let set = followed_set();
        let script = ScriptedResolver::answering([
            found(&["127.0.0.2:8000"], 1),   // below min_ttl: 5 s
            found(&["127.0.0.2:8000"], 600), // above max_ttl: 60 s
            found(&["127.0.0.2:8000"], 20),  // within: 20 s
        ]);
        let (started, task) = start(&set, &script);
        sleep(Duration::from_secs(300)).await;
        assert_eq!(
            script.asked_since(started),
            [ms(0), ms(5_000), ms(65_000), ms(85_000)]
        );
        assert_eq!(script.asked_for()[0], "app.example.test:8000");
        assert_eq!(set.current_ttl(), Some(Duration::from_secs(20)));
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_from_250ms_doubling_to_2s_and_a_success_resets_it() {
        let set = followed_set();
        let mut answers: Vec<_> = (0..5).map(|_| servfail()).collect();
        answers.extend([found(&["127.0.0.2:8000"], 30), servfail(), servfail()]);
        let script = ScriptedResolver::answering(answers);
        let (started, task) = start(&set, &script);
        sleep(Duration::from_secs(300)).await;
        let after_failures = [ms(0), ms(250), ms(750), ms(1_750), ms(3_750), ms(5_750)];
        let after_success = [ms(35_750), ms(36_000), ms(36_500)];
        let want: Vec<Duration> = after_failures.into_iter().chain(after_success).collect();
        assert_eq!(script.asked_since(started), want);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_lookup_keeps_the_last_good_addresses_until_one_succeeds() {
        let set = followed_set();
        let script = ScriptedResolver::answering([
            found(&["127.0.0.2:8000"], 30),
            servfail(),
            servfail(),
            found(&["127.0.0.2:8000"], 30),
        ]);
        let (started, task) = start(&set, &script);
        sleep_until(started + ms(1_000)).await;
        assert!(!set.is_failing());

        // Lookups at 30 s and 30.25 s fail: the old answer is still served.
        sleep_until(started + ms(30_500)).await;
        assert_eq!(selected(&set), [addr("127.0.0.2:8000")]);
        assert!(set.is_failing());
        let snapshot = set.snapshot();
        assert!(snapshot.stale_since.is_some());
        assert!(snapshot.last_error.is_some_and(|e| e.contains("SERVFAIL")));

        // The lookup at 30.75 s succeeds: the trouble is over.
        sleep_until(started + ms(31_000)).await;
        assert_eq!(script.asked_since(started).len(), 4);
        assert!(!set.is_failing());
        assert!(set.snapshot().stale_since.is_none());
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_name_that_never_resolved_is_served_from_its_first_good_answer() {
        let set = followed_set();
        let script =
            ScriptedResolver::answering([servfail(), servfail(), found(&["127.0.0.2:8000"], 30)]);
        let (started, task) = start(&set, &script);
        sleep_until(started + ms(100)).await;
        assert_eq!(set.select(&[]), None);
        assert!(set
            .readiness_problem()
            .is_some_and(|p| p.contains("never resolved") && p.contains("SERVFAIL")));

        sleep_until(started + ms(1_000)).await;
        assert_eq!(set.select(&[]), Some(addr("127.0.0.2:8000")));
        assert_eq!(set.readiness_problem(), None);
        assert!(!set.is_failing());
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_address_set_is_used_from_the_lookup_that_saw_it() {
        let set = followed_set();
        let script = ScriptedResolver::answering([
            found(&["127.0.0.2:8000"], 30),
            found(&["127.0.0.3:8000", "127.0.0.4:8000"], 30),
        ]);
        let (started, task) = start(&set, &script);
        sleep_until(started + ms(1_000)).await;
        assert_eq!(selected(&set), [addr("127.0.0.2:8000")]);

        sleep_until(started + ms(31_000)).await;
        assert_eq!(
            selected(&set),
            [addr("127.0.0.3:8000"), addr("127.0.0.4:8000")]
        );
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_stops_without_another_lookup_once_the_set_is_dropped() {
        let set = followed_set();
        let script = ScriptedResolver::answering([
            found(&["127.0.0.2:8000"], 30),
            found(&["127.0.0.2:8000"], 30),
        ]);
        let (started, task) = start(&set, &script);
        sleep_until(started + ms(1_000)).await;
        drop(set);
        let stopped = timeout(Duration::from_secs(3_600), task).await;
        assert!(
            matches!(stopped, Ok(Ok(()))),
            "the loop outlived its set: {stopped:?}"
        );
        assert_eq!(script.asked_since(started), [ms(0)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_address_is_never_looked_up() {
        let upstream = Upstream::with_defaults("fixed", "127.0.0.9:80").expect("valid");
        let set = Arc::new(UpstreamAddrs::new(upstream));
        let script = ScriptedResolver::answering([found(&["127.0.0.2:80"], 30)]);
        let (_, task) = start(&set, &script);
        let stopped = timeout(Duration::from_secs(1), task).await;
        assert!(matches!(stopped, Ok(Ok(()))));
        assert!(script.asked_for().is_empty());
        assert_eq!(set.select(&[]), Some(addr("127.0.0.9:80")));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut backoff = Backoff::default();
        let waits: Vec<Duration> = (0..6).map(|_| backoff.after_failure()).collect();
        assert_eq!(
            waits,
            [ms(250), ms(500), ms(1_000), ms(2_000), ms(2_000), ms(2_000)]
        );
    }
}
