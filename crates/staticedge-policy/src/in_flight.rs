//! Requests in progress: the drain waits for this count to reach zero, and the
//! status page shows it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The count of requests in progress, shared by every engine, the drain and the
/// admin port. Cloning shares the same count.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Counts one more request until the returned guard is dropped, so a request
    /// that ends by any path (answer, error, panic unwinding) is counted out.
    pub fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.0.clone())
    }

    /// Requests in progress now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One request's place in [`InFlight`]; releases it when dropped.
#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_in_and_out() {
        let in_flight = InFlight::default();
        let a = in_flight.enter();
        let b = in_flight.clone().enter();
        assert_eq!(in_flight.count(), 2);
        drop(a);
        assert_eq!(in_flight.count(), 1);
        drop(b);
        assert_eq!(in_flight.count(), 0);
    }
}
