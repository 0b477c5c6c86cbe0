//! Following an upstream's DNS name the way Elastic Beanstalk needs: the EB name is a
//! CNAME chain ending in A records that change when the load balancer scales and move
//! on a blue/green swap.
//!
//! Each upstream has an [`UpstreamAddrs`]: the current address set that requests pick
//! from (round-robin, skipping addresses that just refused a connection), and a
//! refresh loop ([`follow`]) that looks the name up again when the answer's TTL runs
//! out (clamped to `[min_ttl, max_ttl]`). A failed lookup never empties the set: the
//! last good answer is served for up to `serve_stale_for` while lookups retry with
//! backoff. The loop looks names up through the [`Resolve`] trait
//! ([`follow_with`]), so its schedule is unit tested against scripted answers.

mod addrs;
mod lookup;
mod refresh;
mod registry;
#[cfg(test)]
mod scripted;

pub use addrs::{AddrSnapshot, UpstreamAddrs, UpstreamSnapshot};
pub use lookup::{resolve_once, Answer, DnsError, NameResolver, Resolve};
pub use refresh::{follow, follow_with};
pub use registry::UpstreamRegistry;
