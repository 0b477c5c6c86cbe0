//! One route's limiter: governor's GCRA over one shared bucket or one bucket per key.

use crate::{ClientKey, LruStateStore};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};
use staticedge_config::{RateLimit, RateLimitKey};
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

/// How long a refused client should wait before its next request is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// The `Retry-After` header value: whole seconds, rounded up, at least 1 (a client
    /// told `0` would retry at once and be refused again).
    ///
    /// With `requests_per_second >= 1` the wait for one request is at most a second,
    /// so in practice this is 1.
    pub fn retry_after_secs(&self) -> u32 {
        let whole = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        u32::try_from(whole).unwrap_or(u32::MAX).max(1)
    }
}

/// A shared bucket or one per client; both use the same clock type.
type SharedBucket<C> =
    RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;
type ClientBuckets<C> =
    RateLimiter<ClientKey, LruStateStore<ClientKey>, C, NoOpMiddleware<<C as Clock>::Instant>>;

enum Buckets<C: Clock> {
    /// `key = "route"`: every request counts against one state.
    Shared(SharedBucket<C>),
    /// `key = "client_ip"` or `"client_cert"`: one state per key, at most `max_keys`.
    PerClient(ClientBuckets<C>),
}

/// The rate limit of one route, built from its `rate_limit` settings.
///
/// `check` is safe to call from every worker thread at once. The clock is a type
/// parameter only so tests can drive time; the proxy uses [`RouteLimiter::new`].
pub struct RouteLimiter<C: Clock = DefaultClock> {
    limit: RateLimit,
    buckets: Buckets<C>,
}

impl RouteLimiter {
    /// A limiter for `limit` on the monotonic clock, with every bucket full.
    pub fn new(limit: &RateLimit) -> Self {
        RouteLimiter::with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock> RouteLimiter<C> {
    /// A limiter for `limit` reading time from `clock`.
    ///
    /// Zero rates, bursts or key caps are refused by configuration validation; should
    /// one get here anyway it is treated as 1 rather than panicking.
    pub fn with_clock(limit: &RateLimit, clock: C) -> Self {
        let quota = Quota::per_second(at_least_one(limit.requests_per_second))
            .allow_burst(at_least_one(limit.burst));
        let buckets = match limit.key {
            RateLimitKey::Route => {
                Buckets::Shared(RateLimiter::new(quota, InMemoryState::default(), clock))
            }
            RateLimitKey::ClientIp | RateLimitKey::ClientCert => {
                let max_keys = NonZeroUsize::new(limit.max_keys).unwrap_or(NonZeroUsize::MIN);
                Buckets::PerClient(RateLimiter::new(quota, LruStateStore::new(max_keys), clock))
            }
        };
        RouteLimiter {
            limit: *limit,
            buckets,
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is there.
    ///
    /// A limiter with `key = "route"` ignores `key`: everyone shares its bucket.
    pub fn check(&self, key: ClientKey) -> Result<(), RetryAfter> {
        match &self.buckets {
            Buckets::Shared(bucket) => bucket
                .check()
                .map_err(|refused| retry_after(&refused, bucket.clock())),
            Buckets::PerClient(buckets) => buckets
                .check_key(&key)
                .map_err(|refused| retry_after(&refused, buckets.clock())),
        }
    }

    /// How many buckets are held: 1 for `key = "route"`, else the keys seen recently
    /// (at most `max_keys`). Feeds `staticedge_rate_limit_keys{route}`.
    pub fn tracked_keys(&self) -> usize {
        match &self.buckets {
            Buckets::Shared(_) => 1,
            Buckets::PerClient(buckets) => buckets.len(),
        }
    }

    /// The settings this limiter was built from (compared on reload).
    pub fn limit(&self) -> &RateLimit {
        &self.limit
    }
}

impl<C: Clock> std::fmt::Debug for RouteLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteLimiter")
            .field("limit", &self.limit)
            .field("tracked_keys", &self.tracked_keys())
            .finish()
    }
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn retry_after<C: Clock>(refused: &NotUntil<C::Instant>, clock: &C) -> RetryAfter {
    RetryAfter(refused.wait_time_from(clock.now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::net::{IpAddr, Ipv6Addr};

    fn limit(rps: u32, burst: u32, key: RateLimitKey, max_keys: usize) -> RateLimit {
        RateLimit {
            requests_per_second: rps,
            burst,
            key,
            max_keys,
        }
    }

    fn limiter(
        rps: u32,
        burst: u32,
        key: RateLimitKey,
        max_keys: usize,
    ) -> (RouteLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limiter = RouteLimiter::with_clock(&limit(rps, burst, key, max_keys), clock.clone());
        (limiter, clock)
    }

    fn ip(n: u128) -> ClientKey {
        ClientKey::Ip(IpAddr::V6(Ipv6Addr::from(n)))
    }

    /// How many of `tries` requests from `key` are admitted, without moving the clock.
    fn admitted<C: Clock>(limiter: &RouteLimiter<C>, key: ClientKey, tries: u32) -> u32 {
        (0..tries).filter(|_| limiter.check(key).is_ok()).count() as u32
    }

    #[test]
    fn burst_is_admitted_then_one_request_per_interval() {
        let (limiter, clock) = limiter(10, 5, RateLimitKey::ClientIp, 100);
        assert_eq!(admitted(&limiter, ip(1), 5), 5, "the whole burst at once");
        assert_eq!(
            limiter.check(ip(1)),
            Err(RetryAfter(Duration::from_millis(100))),
            "the next one waits one interval (1/rps)"
        );
        clock.advance(Duration::from_millis(99));
        assert!(limiter.check(ip(1)).is_err(), "not yet refilled");
        clock.advance(Duration::from_millis(1));
        assert_eq!(admitted(&limiter, ip(1), 3), 1, "one token per interval");
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            admitted(&limiter, ip(1), 20),
            5,
            "refills up to the burst, no more"
        );
    }

    #[test]
    fn keys_have_separate_buckets() {
        let (limiter, _clock) = limiter(1, 3, RateLimitKey::ClientCert, 100);
        let cert = ClientKey::Cert([1; 32]);
        assert_eq!(admitted(&limiter, cert, 10), 3);
        assert_eq!(admitted(&limiter, ClientKey::Cert([2; 32]), 10), 3);
        assert_eq!(admitted(&limiter, ip(1), 10), 3);
        assert_eq!(limiter.tracked_keys(), 3);
    }

    #[test]
    fn route_key_shares_one_bucket_among_all_clients() {
        let (limiter, _clock) = limiter(1, 3, RateLimitKey::Route, 100);
        assert_eq!(admitted(&limiter, ip(1), 2), 2);
        assert_eq!(
            admitted(&limiter, ip(2), 10),
            1,
            "the third token, then empty"
        );
        assert!(limiter.check(ClientKey::Route).is_err());
        assert_eq!(limiter.tracked_keys(), 1);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        let cases = [
            (Duration::ZERO, 1),
            (Duration::from_nanos(1), 1),
            (Duration::from_millis(100), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1001), 2),
            (Duration::from_secs(2), 2),
            (Duration::from_secs(u64::MAX), u32::MAX),
        ];
        for (wait, secs) in cases {
            assert_eq!(RetryAfter(wait).retry_after_secs(), secs, "{wait:?}");
        }
    }

    #[test]
    fn refusal_carries_a_retry_after_of_one_second_at_the_slowest_rate() {
        let (limiter, _clock) = limiter(1, 1, RateLimitKey::ClientIp, 10);
        assert!(limiter.check(ip(1)).is_ok());
        let refused = limiter.check(ip(1)).expect_err("burst of one spent");
        assert_eq!(refused, RetryAfter(Duration::from_secs(1)));
        assert_eq!(refused.retry_after_secs(), 1);
    }

    #[test]
    fn at_the_key_cap_the_oldest_key_is_forgotten_and_starts_over() {
        let (limiter, _clock) = limiter(1, 2, RateLimitKey::ClientIp, 100);
        for n in 0..150 {
            assert_eq!(admitted(&limiter, ip(n), 3), 2, "key {n}");
        }
        assert_eq!(limiter.tracked_keys(), 100);
        assert!(
            limiter.check(ip(149)).is_err(),
            "a recent key is still counted"
        );
        assert_eq!(
            admitted(&limiter, ip(0), 3),
            2,
            "the evicted oldest gets a full burst"
        );
        assert_eq!(limiter.tracked_keys(), 100);
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_at_max_keys() {
        let (limiter, _clock) = limiter(50, 100, RateLimitKey::ClientIp, 1000);
        for n in 0..200_000 {
            assert!(limiter.check(ip(n)).is_ok());
        }
        assert_eq!(limiter.tracked_keys(), 1000);
    }

    #[test]
    fn zero_settings_are_treated_as_one_instead_of_panicking() {
        let (limiter, clock) = limiter(0, 0, RateLimitKey::ClientIp, 0);
        assert_eq!(admitted(&limiter, ip(1), 5), 1);
        assert_eq!(admitted(&limiter, ip(2), 5), 1);
        assert_eq!(limiter.tracked_keys(), 1, "a cap of one key");
        clock.advance(Duration::from_secs(1));
        assert_eq!(admitted(&limiter, ip(2), 5), 1);
    }

    #[test]
    fn concurrent_checks_admit_exactly_the_burst() {
        let (limiter, _clock) = limiter(1, 100, RateLimitKey::ClientIp, 10);
        let admitted_total: u32 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| admitted(&limiter, ip(7), 100)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("worker finished"))
                .sum()
        });
        assert_eq!(admitted_total, 100);
    }
}
