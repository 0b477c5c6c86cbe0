//! governor's keyed state store over an LRU map, so the number of buckets is capped.

use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use lru::LruCache;
use std::hash::{Hash, RandomState};
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

/// One GCRA state per key, at most `max_keys` of them; the least recently used key is
/// forgotten when a new one arrives at the cap.
///
/// governor's own keyed stores (`HashMap`, `DashMap`) grow until the application
/// calls `retain_recent`; this one never holds more than its cap, so a flood of
/// distinct client addresses costs bounded memory without a sweeping task.
///
/// Keys are hashed with std's `RandomState` (SipHash, seeded per process) because
/// clients choose them. Each state is governor's atomic `InMemoryState`; the mutex
/// only guards the map, and is held for one lookup and one compare-and-swap.
#[derive(Debug)]
pub struct LruStateStore<K: Hash + Eq> {
    states: Mutex<LruCache<K, InMemoryState, RandomState>>,
}

impl<K: Hash + Eq> LruStateStore<K> {
    /// An empty store holding at most `max_keys` states.
    ///
    /// The map starts empty and grows with the keys seen: `LruCache::with_hasher`
    /// would reserve room for all `max_keys` up front (megabytes per route at the
    /// default 100,000), so the cache is built unbounded and then given its cap.
    pub fn new(max_keys: NonZeroUsize) -> Self {
        let mut states = LruCache::unbounded_with_hasher(RandomState::new());
        states.resize(max_keys);
        LruStateStore {
            states: Mutex::new(states),
        }
    }

    /// A poisoned lock is still usable: every state is a single atomic, so a panic
    /// elsewhere cannot leave one half-written.
    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<K, InMemoryState, RandomState>> {
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone> StateStore for LruStateStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &Self::Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut states = self.lock();
        // A hit marks the key most recently used; a miss at the cap reuses the least
        // recently used entry for the new key.
        let state = states.get_or_insert(key.clone(), InMemoryState::default);
        state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

/// Lets governor's `RateLimiter::len` report the keys held, and its `retain_recent`
/// drop buckets that are full again (indistinguishable from a key never seen).
impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for LruStateStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.lock()
            .retain(|_, state| theoretical_arrival(state).is_some_and(|tat| tat > drop_below));
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// Reads a state without changing it: governor only exposes a state through
/// `measure_and_replace`, which writes nothing when the closure refuses.
fn theoretical_arrival(state: &InMemoryState) -> Option<Nanos> {
    state
        .measure_and_replace(&NotKeyed::NonKey, Err::<((), Nanos), Option<Nanos>>)
        .err()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).expect("non-zero")
    }

    /// Records one measurement the way governor does: the closure sees the previous
    /// state and stores a new one.
    fn touch(store: &LruStateStore<u32>, key: u32) -> Option<Nanos> {
        store
            .measure_and_replace(&key, |prev| Ok::<_, ()>((prev, Nanos::new(1))))
            .expect("closure never refuses")
    }

    #[test]
    fn never_holds_more_than_its_cap() {
        let store = LruStateStore::new(nz(3));
        for key in 0..10 {
            touch(&store, key);
        }
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn forgets_the_least_recently_used_key_first() {
        let store = LruStateStore::new(nz(2));
        assert_eq!(touch(&store, 1), None, "first sight has no state");
        touch(&store, 2);
        assert!(
            touch(&store, 1).is_some(),
            "1 is remembered and now most recent"
        );
        touch(&store, 3); // evicts 2, the least recently used
        assert!(touch(&store, 1).is_some(), "1 survived");
        assert_eq!(touch(&store, 2), None, "2 was forgotten and starts over");
    }

    #[test]
    fn retain_recent_drops_only_states_at_or_below_the_mark() {
        let store = LruStateStore::new(nz(10));
        for (key, tat) in [(1u32, 5u64), (2, 10), (3, 20)] {
            store
                .measure_and_replace(&key, |_| Ok::<_, ()>(((), Nanos::new(tat))))
                .expect("stored");
        }
        store.retain_recent(Nanos::new(10));
        assert_eq!(store.len(), 1);
        assert!(touch(&store, 3).is_some(), "the recent key is kept");
    }
}
