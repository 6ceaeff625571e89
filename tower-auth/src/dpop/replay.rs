//! The `jti` replay store (RFC 9449 §11.1): one entry per accepted proof, kept for the `iat` window.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::clock::unix_millis;

/// The future a [`ReplayStore`] answers with.
pub type ReplayFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, ReplayStoreError>> + Send + 'a>>;

/// Remembers the proofs already accepted, so that each is accepted once (RFC 9449 §11.1, E3).
///
/// Keys are SHA-256 hashes of a proof's `jti` and `htu` ([`ReplayKey`]): fixed size whatever the
/// client sends, and never the proof itself. [`MemoryReplayStore`] is the default;
/// `RedisReplayStore` (feature `redis`) shares the entries between replicas, so that a proof is
/// accepted once in total behind a load balancer.
///
/// Implement it for another backend with an atomic "insert if absent, with expiry" operation.
pub trait ReplayStore: Send + Sync + fmt::Debug + 'static {
    /// Records `key` until `now + ttl` if it is not recorded already.
    ///
    /// `Ok(true)`: first use, now recorded. `Ok(false)`: seen before and not expired — a replay.
    /// `Err`: the store cannot answer; the request fails closed (503 with `Retry-After`).
    fn first_use(&self, key: &ReplayKey, now: SystemTime, ttl: Duration) -> ReplayFuture<'_>;
}

/// The key of one proof in a [`ReplayStore`]: SHA-256 over its `jti` and its `htu`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey(pub(crate) [u8; 32]);

impl ReplayKey {
    /// The 32 bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash in lower-case hex (64 characters), e.g. for a store's key names.
    pub fn to_hex(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplayKey({}…)", &self.to_hex()[..12])
    }
}

/// A [`ReplayStore`] could not answer. The message names the cause, never a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayStoreError {
    reason: &'static str,
}

impl ReplayStoreError {
    /// An error with a short, static reason.
    pub fn new(reason: &'static str) -> Self {
        Self { reason }
    }

    /// Why the store could not answer.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for ReplayStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DPoP replay store unavailable: {}", self.reason)
    }
}

impl std::error::Error for ReplayStoreError {}

/// The in-process [`ReplayStore`]: bounded, entries expire after their TTL (the `iat` window).
///
/// **When full, it fails closed.** Expired entries are purged first; if every entry is still live,
/// the new proof is refused with 503 rather than evicting a live entry, because evicting one would
/// silently reopen the replay window of a proof an attacker may hold. Only proofs that passed
/// every other check (signature, claims, and the token's key binding) are recorded, so filling the
/// store takes valid bound tokens, not just self-made keys. Size it for the peak number of proofs
/// per second times the window (default 330 s), or share a Redis store between replicas.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_auth::dpop::{MemoryReplayStore, ReplayKey, ReplayStore};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryReplayStore::new(2);
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let (a, b, c) = (ReplayKey::from_bytes([1; 32]), ReplayKey::from_bytes([2; 32]), ReplayKey::from_bytes([3; 32]));
/// let ttl = Duration::from_secs(330);
/// assert_eq!(store.first_use(&a, now, ttl).await, Ok(true));
/// assert_eq!(store.first_use(&a, now, ttl).await, Ok(false)); // replay
/// assert_eq!(store.first_use(&b, now, ttl).await, Ok(true));
/// assert!(store.first_use(&c, now, ttl).await.is_err()); // full of live entries: fail closed
/// assert_eq!(store.first_use(&c, now + ttl, ttl).await, Ok(true)); // a and b expired
/// # }
/// ```
pub struct MemoryReplayStore {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Key → expiry (Unix milliseconds).
    live: HashMap<[u8; 32], u64>,
    /// (expiry, key) in insertion order, for purging from the front.
    order: VecDeque<(u64, [u8; 32])>,
    /// When the last full sweep ran (Unix milliseconds).
    last_sweep: u64,
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore").field("capacity", &self.capacity).field("entries", &self.len()).finish()
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl ReplayKey {
    /// A key from its 32 bytes (for custom stores and tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl MemoryReplayStore {
    /// The default capacity: 250,000 proofs (about 750 proofs per second for the default 330 s
    /// window; at most some 30 MB).
    pub const DEFAULT_CAPACITY: usize = 250_000;

    /// A store holding at most `capacity` live entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), state: Mutex::new(State::default()) }
    }

    /// The most live entries it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries held, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).live.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, key: [u8; 32], now: u64, ttl: u64) -> Result<bool, ReplayStoreError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *state;
        while let Some(&(expiry, k)) = state.order.front() {
            if expiry > now {
                break;
            }
            state.order.pop_front();
            if state.live.get(&k) == Some(&expiry) {
                state.live.remove(&k);
            }
        }
        match state.live.get(&key) {
            Some(&expiry) if expiry > now => return Ok(false),
            Some(_) => {}
            None if state.live.len() >= self.capacity => {
                // Entries with a longer TTL can hide expired ones behind them: sweep everything, at
                // most once a second so that a full store does not cost a sweep per request.
                if now >= state.last_sweep.saturating_add(1000) {
                    state.last_sweep = now;
                    state.live.retain(|_, expiry| *expiry > now);
                    let live = &state.live;
                    state.order.retain(|(expiry, k)| live.get(k) == Some(expiry));
                }
                if state.live.len() >= self.capacity {
                    tracing::warn!(target: "tower_auth::dpop", capacity = self.capacity, "DPoP replay store full: refusing proofs (fail closed)");
                    return Err(ReplayStoreError::new("the in-memory replay store is full"));
                }
            }
            None => {}
        }
        let expiry = now.saturating_add(ttl);
        state.live.insert(key, expiry);
        state.order.push_back((expiry, key));
        Ok(true)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use(&self, key: &ReplayKey, now: SystemTime, ttl: Duration) -> ReplayFuture<'_> {
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let result = self.record(key.0, unix_millis(now), ttl);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_their_ttl() {
        // E3: a jti is remembered for the acceptance window, then forgotten.
        let store = MemoryReplayStore::new(10);
        assert_eq!(store.record([1; 32], 1_000, 330_000), Ok(true));
        assert_eq!(store.record([1; 32], 330_999, 330_000), Ok(false));
        assert_eq!(store.record([1; 32], 331_000, 330_000), Ok(true));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_flood_is_bounded_and_fails_closed() {
        let store = MemoryReplayStore::new(1_000);
        for i in 0..1_000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            assert_eq!(store.record(key, 0, 10_000), Ok(true));
        }
        for i in 1_000..5_000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            assert!(store.record(key, 5_000, 10_000).is_err());
        }
        assert_eq!(store.len(), 1_000);
        // A replay is still recognised while full.
        assert_eq!(store.record([0; 32], 5_000, 10_000), Ok(false));
        // Once the window has passed, room again.
        assert_eq!(store.record([9; 32], 10_000, 10_000), Ok(true));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn mixed_ttls_are_swept_when_full() {
        let store = MemoryReplayStore::new(2);
        assert_eq!(store.record([1; 32], 0, 100_000), Ok(true)); // long TTL at the front
        assert_eq!(store.record([2; 32], 0, 1_000), Ok(true)); // expires first, behind it
        assert_eq!(store.record([3; 32], 2_000, 1_000), Ok(true));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn debug_shows_a_prefix_only() {
        let key = ReplayKey::from_bytes([0xab; 32]);
        assert_eq!(key.to_hex().len(), 64);
        assert_eq!(format!("{key:?}"), "ReplayKey(abababababab…)");
    }
}
