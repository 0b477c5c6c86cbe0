//! What a check costs in heap memory, measured with a counting allocator: nothing for a
//! key already tracked, and a bounded amount per new key.

use staticedge_config::{RateLimit, RateLimitKey};
use staticedge_ratelimit::{ClientKey, RouteLimiter};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv6Addr};

/// Counts the allocations of the current thread only, so tests running in parallel do
/// not see each other's.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        let _ = LIVE_BYTES.try_with(|b| b.set(b.get() + layout.size() as isize));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE_BYTES.try_with(|b| b.set(b.get() - layout.size() as isize));
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

fn per_ip(max_keys: usize) -> RouteLimiter {
    RouteLimiter::new(&RateLimit {
        requests_per_second: 50,
        burst: 100,
        key: RateLimitKey::ClientIp,
        max_keys,
    })
}

fn ip(n: u128) -> ClientKey {
    ClientKey::Ip(IpAddr::V6(Ipv6Addr::from(n)))
}

#[test]
fn checking_a_tracked_key_does_not_allocate() {
    let limiter = per_ip(1000);
    for n in 0..10 {
        let _ = limiter.check(ip(n));
    }
    let before = allocations();
    for round in 0..1000 {
        let _ = limiter.check(ip(round % 10));
    }
    assert_eq!(allocations() - before, 0);
}

#[test]
fn refusals_and_evictions_at_the_cap_allocate_nothing_either() {
    let limiter = per_ip(10);
    for n in 0..10 {
        let _ = limiter.check(ip(n));
    }
    // Refusals (the burst is spent) and new keys replacing the oldest at the cap.
    let before = allocations();
    for _ in 0..200 {
        let _ = limiter.check(ip(0));
    }
    assert!(limiter.check(ip(0)).is_err(), "refusing by now");
    let evicting_before = allocations();
    for n in 10..1000 {
        let _ = limiter.check(ip(n));
    }
    let evicting = allocations() - evicting_before;
    assert_eq!(evicting_before - before, 0, "refusals");
    // lru reuses the evicted entry's node for the new key.
    assert_eq!(evicting, 0, "evictions");
}

#[test]
fn each_tracked_key_costs_a_bounded_number_of_bytes() {
    const KEYS: usize = 20_000;
    let before = live_bytes();
    let limiter = per_ip(KEYS);
    for n in 0..KEYS as u128 {
        assert!(limiter.check(ip(n)).is_ok());
    }
    assert_eq!(limiter.tracked_keys(), KEYS);
    let per_key = (live_bytes() - before) as usize / KEYS;
    drop(limiter);
    let left_after_drop = live_bytes() - before;
    // Printed only now: the test harness's output capture allocates too.
    println!("{per_key} bytes per tracked key (heap, excluding allocator overhead)");
    assert!(per_key <= 160, "{per_key} bytes per key");
    assert_eq!(left_after_drop, 0, "dropping the limiter frees every key");
}
