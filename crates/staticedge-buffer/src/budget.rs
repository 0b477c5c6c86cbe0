//! The process-wide bound on bytes spilled to disk by request spools.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes currently spilled to disk by all spools sharing this budget. The cap is
/// passed to each reservation (it comes from the configuration the request is served
/// with, so a reload takes effect at once without touching the budget).
#[derive(Debug, Default)]
pub struct DiskBudget {
    used: AtomicU64,
}

impl DiskBudget {
    /// An empty budget.
    pub const fn new() -> Self {
        DiskBudget {
            used: AtomicU64::new(0),
        }
    }

    /// Takes `n` bytes if the total stays within `cap`; false (nothing taken) if not.
    pub fn reserve(&self, n: u64, cap: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= cap)
            })
            .is_ok()
    }

    /// Gives back `n` bytes taken by [`DiskBudget::reserve`].
    pub fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stay_within_the_cap_and_come_back() {
        let budget = DiskBudget::new();
        assert!(budget.reserve(60, 100));
        assert!(!budget.reserve(41, 100), "over the cap");
        assert_eq!(budget.used(), 60, "a refused reservation takes nothing");
        assert!(budget.reserve(40, 100));
        budget.release(100);
        assert_eq!(budget.used(), 0);
        assert!(!budget.reserve(1, 0), "a cap of 0 spills nothing");
    }
}
