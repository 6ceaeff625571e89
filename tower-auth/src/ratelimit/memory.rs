//! The in-process limiter: `governor`'s GCRA over a bounded keyed state store, on the crate's
//! injectable [`Clock`](crate::Clock).

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};

use super::quota::Quota;
use crate::clock::SharedClock;
use crate::error::ConfigError;

/// The default bound on the partitions one in-memory policy tracks.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// The default time between two sweeps of idle partitions.
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(10);

/// The shortest time between two sweeps forced by a full store.
const MIN_FORCED_SWEEP: Duration = Duration::from_secs(1);

/// `governor` time from the crate's [`Clock`](crate::Clock): nanoseconds since the Unix epoch.
#[derive(Debug, Clone)]
pub(crate) struct GovernorClock(pub(crate) SharedClock);

impl governor::clock::Clock for GovernorClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let since = self.0.now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Nanos::from(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// A partition slot: a key, or the one overflow partition shared by new keys while the store is full.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Slot<K> {
    Key(K),
    Overflow,
}

/// What `governor` is asked about: a slot, and whether to record the request (`peek` = only look).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Probe<K> {
    slot: Slot<K>,
    peek: bool,
}

/// The keyed state store: a `DashMap` of GCRA states (one `AtomicU64` each) that counts its keys,
/// can be asked without recording (`peek`), and drops idle keys on `retain_recent`.
#[derive(Debug)]
pub(crate) struct Store<K: Hash + Eq> {
    map: Arc<DashMapStateStore<Slot<K>>>,
    len: Arc<AtomicUsize>,
}

impl<K: Hash + Eq> Clone for Store<K> {
    fn clone(&self) -> Self {
        Self { map: self.map.clone(), len: self.len.clone() }
    }
}

/// The state a slot holds, read without changing it.
fn read(state: &InMemoryState) -> Option<Nanos> {
    state.measure_and_replace(&NotKeyed::NonKey, Err::<((), Nanos), _>).err().flatten()
}

impl<K: Hash + Eq + Clone> StateStore for Store<K> {
    type Key = Probe<K>;

    fn measure_and_replace<T, F, E>(&self, probe: &Probe<K>, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.map.get(&probe.slot) {
            if probe.peek {
                return f(read(&state)).map(|(t, _)| t);
            }
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if probe.peek {
            return f(None).map(|(t, _)| t);
        }
        let mut inserted = false;
        let state = self.map.entry(probe.slot.clone()).or_insert_with(|| {
            inserted = true;
            InMemoryState::default()
        });
        if inserted {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<Probe<K>> for Store<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map.retain(|_, state| read(state).is_some_and(|tat| tat > drop_below));
        self.len.store(self.map.len(), Ordering::Relaxed);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

type Governor<K> = governor::RateLimiter<Probe<K>, Store<K>, GovernorClock, StateInformationMiddleware>;

/// The GCRA answer for one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) allowed: bool,
    /// Requests still admitted at once.
    pub(crate) remaining: u32,
    /// Until the whole quota is back.
    pub(crate) reset: Duration,
    /// Until a request is admitted (zero when allowed).
    pub(crate) retry_after: Duration,
}

/// One quota's in-memory limiter, bounded to `max_keys` partitions.
///
/// Idle partitions (whose state equals a fresh one) are swept every `cleanup_interval` (looked at
/// when a new partition arrives: memory grows only then), and at once when the store is full (at most once a second). A new key that
/// finds the store still full after a sweep counts against one shared overflow partition with the
/// same quota until room frees up: memory stays bounded, and a flood of fresh identities shares one
/// quota instead of getting one each.
pub(crate) struct MemoryLimiter<K: Hash + Eq + Clone> {
    governor: Governor<K>,
    store: Store<K>,
    clock: GovernorClock,
    quota: Quota,
    max_keys: usize,
    cleanup_interval: Nanos,
    last_sweep: AtomicU64,
    sweeping: AtomicBool,
}

impl<K: Hash + Eq + Clone> std::fmt::Debug for MemoryLimiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("quota", &self.quota)
            .field("keys", &self.store.len.load(Ordering::Relaxed))
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> MemoryLimiter<K> {
    pub(crate) fn new(
        quota: Quota,
        clock: SharedClock,
        max_keys: usize,
        cleanup_interval: Duration,
    ) -> Result<Self, ConfigError> {
        if max_keys == 0 {
            return Err(ConfigError::new("max_keys must be at least 1"));
        }
        let clock = GovernorClock(clock);
        let store = Store { map: Arc::new(DashMapStateStore::default()), len: Arc::new(AtomicUsize::new(0)) };
        let governor = Governor::new(quota.to_governor()?, store.clone(), clock.clone());
        let now = clock.now().as_u64();
        Ok(Self {
            governor,
            store,
            clock,
            quota,
            max_keys,
            cleanup_interval: Nanos::from(cleanup_interval.max(Duration::from_millis(1))),
            last_sweep: AtomicU64::new(now),
            sweeping: AtomicBool::new(false),
        })
    }

    /// Counts one request of `key` and answers.
    pub(crate) fn check(&self, key: K) -> Outcome {
        self.decide(key, false)
    }

    /// Answers whether a request of `key` would be admitted, without counting it.
    pub(crate) fn peek(&self, key: K) -> Outcome {
        self.decide(key, true)
    }

    fn decide(&self, key: K, peek: bool) -> Outcome {
        let known = self.store.len.load(Ordering::Relaxed);
        let mut slot = Slot::Key(key);
        if self.store.len.load(Ordering::Relaxed) >= self.max_keys && !self.store.map.contains_key(&slot) {
            self.sweep_if_due(Nanos::from(MIN_FORCED_SWEEP));
            if self.store.len.load(Ordering::Relaxed) >= self.max_keys {
                slot = Slot::Overflow;
            }
        }
        let period = self.quota.replenish_interval();
        let burst = self.quota.burst_size();
        let outcome = self.governor.check_key(&Probe { slot, peek });
        // Memory only grows when a new partition arrives: that is when the schedule is looked at,
        // so a request of a known partition pays nothing for it.
        if self.store.len.load(Ordering::Relaxed) != known {
            self.sweep_if_due(self.cleanup_interval);
        }
        match outcome {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity().min(burst);
                Outcome {
                    allowed: true,
                    remaining,
                    // An upper bound, off by less than one interval: the snapshot rounds down.
                    reset: period.saturating_mul(burst - remaining),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Outcome {
                    allowed: false,
                    remaining: 0,
                    reset: wait.saturating_add(period.saturating_mul(burst - 1)),
                    retry_after: wait,
                }
            }
        }
    }

    /// Sweeps idle partitions if the last sweep is at least `min_gap` old and no other thread is
    /// sweeping.
    fn sweep_if_due(&self, min_gap: Nanos) {
        let now = self.clock.now().as_u64();
        if now.saturating_sub(self.last_sweep.load(Ordering::Relaxed)) < min_gap.as_u64() {
            return;
        }
        if self.sweeping.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return;
        }
        self.sweep();
        self.last_sweep.store(now, Ordering::Relaxed);
        self.sweeping.store(false, Ordering::Release);
    }

    /// Drops every idle partition now, and gives memory back when the store shrank a lot.
    pub(crate) fn sweep(&self) {
        let before = self.store.map.capacity();
        self.governor.retain_recent();
        if self.store.map.len().saturating_mul(4) < before {
            self.governor.shrink_to_fit();
        }
    }

    /// The partitions tracked (the overflow partition included).
    pub(crate) fn len(&self) -> usize {
        self.store.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn limiter(quota: Quota, max_keys: usize) -> (MemoryLimiter<u32>, ManualClock) {
        let clock = ManualClock::at_unix(1_700_000_000);
        (MemoryLimiter::new(quota, Arc::new(clock.clone()), max_keys, DEFAULT_CLEANUP_INTERVAL).unwrap(), clock)
    }

    #[test]
    fn burst_then_refusal_then_refill() {
        let (l, clock) = limiter(Quota::per_minute(3), 100);
        let rs: Vec<_> = (0..3).map(|_| l.check(1)).collect();
        assert!(rs.iter().all(|o| o.allowed));
        assert_eq!(rs.iter().map(|o| o.remaining).collect::<Vec<_>>(), [2, 1, 0]);
        assert_eq!(rs[2].reset, Duration::from_secs(60));
        let refused = l.check(1);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_secs(20));
        assert_eq!(refused.reset, Duration::from_secs(60));
        // Another key is not affected.
        assert!(l.check(2).allowed);
        clock.advance(Duration::from_secs(20));
        assert!(l.check(1).allowed);
        assert!(!l.check(1).allowed);
        clock.advance(Duration::from_secs(60));
        assert_eq!(l.check(1).remaining, 2, "a full quota after the refill time");
    }

    #[test]
    fn peek_does_not_count() {
        let (l, _clock) = limiter(Quota::per_minute(1), 100);
        assert!(l.peek(1).allowed);
        assert!(l.peek(1).allowed);
        assert_eq!(l.len(), 0, "a peek stores nothing");
        assert!(l.check(1).allowed);
        assert!(!l.peek(1).allowed);
        assert!(!l.check(1).allowed);
    }

    #[test]
    fn bounded_with_overflow_and_sweeps() {
        let (l, clock) = limiter(Quota::per_minute(2), 10);
        for key in 0..10 {
            assert!(l.check(key).allowed);
        }
        assert_eq!(l.len(), 10);
        // Full, nothing idle: new keys share the overflow partition (2 requests), known keys keep theirs.
        assert!(l.check(100).allowed);
        assert!(l.check(101).allowed);
        assert!(!l.check(102).allowed);
        assert!(l.check(5).allowed);
        assert!(l.len() <= 11);
        // Once the old partitions are idle, a forced sweep frees room.
        clock.advance(Duration::from_secs(120));
        assert!(l.check(200).allowed);
        assert_eq!(l.len(), 1);
    }
}
