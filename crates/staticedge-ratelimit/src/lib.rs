//! Per-route rate limits: `[[route]] rate_limit = { requests_per_second, burst, key,
//! max_keys }`.
//!
//! The algorithm is [`governor`]'s GCRA (a token bucket kept as one timestamp per key):
//! a key may make `burst` requests at once, then one every `1 / requests_per_second`.
//! The policy calls [`RouteLimiter::check`] once per admitted request, after the
//! route's client certificate checks and before the upstream is asked; a refusal
//! carries the [`RetryAfter`] for the `429` answer.
//!
//! # Bounded memory
//!
//! Keys come from clients (their addresses, their certificates), so the number of
//! buckets must not grow with what clients choose to send. Per-client buckets live in
//! [`LruStateStore`], governor's keyed state store over an LRU map holding at most
//! `max_keys` entries: when a new key arrives at the cap, the least recently seen one
//! is forgotten. A forgotten key that comes back starts with a full burst again, so the
//! cap errs towards admitting, never towards refusing a client that did nothing.
//! Memory grows with the keys actually seen, not with `max_keys`: about 100 bytes
//! of heap per key (91 measured at 20,000 keys by `tests/no_alloc.rs`, before the
//! allocator's own overhead), so the default cap of 100,000 keys is at most about
//! 10-12 MB per route. `key = "route"` has a single bucket and
//! no map at all.
//!
//! # Limits are per instance
//!
//! Each staticedge process counts only the requests it sees. A fleet of N instances
//! behind the NLB therefore admits about N times the configured rate and burst, spread
//! by the NLB's flow hash (per connection, so one client's connections may land on
//! different instances). To give a partner a total of R requests per second, set
//! `requests_per_second = R / N` and scale `burst` likewise.
//!
//! # Reload
//!
//! [`RateLimiters`] holds one limiter per route of a configuration. Built with the
//! previous configuration's set, it keeps each limiter whose route label and settings
//! did not change, buckets included, and starts the changed ones fresh.

mod key;
mod limiter;
mod set;
mod store;

pub use key::ClientKey;
pub use limiter::{RetryAfter, RouteLimiter};
pub use set::RateLimiters;
pub use store::LruStateStore;
