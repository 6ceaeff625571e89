//! The answer cache: keyed by SHA-256 of the token (never the token), bounded, each entry valid
//! until a time of the injected clock (checked on every hit), with concurrent misses for one token
//! coalesced into one upstream call.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::ops::compute::Op;

use super::client::Answer;
use crate::clock::{SharedClock, unix_millis};
use crate::error::AuthError;

/// One cached answer.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) answer: Answer,
    /// Clock millis when the answer was fetched.
    pub(crate) fetched_at_ms: u64,
    /// Clock millis after which the answer must not be used.
    pub(crate) valid_until_ms: u64,
    /// The same lifetime for moka's own (real-time) eviction.
    pub(crate) ttl: Duration,
}

impl Entry {
    pub(crate) fn new(answer: Answer, fetched_at_ms: u64, ttl: Duration) -> Self {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        Self { answer, fetched_at_ms, valid_until_ms: fetched_at_ms.saturating_add(ttl_ms), ttl }
    }

    fn fresh_at(&self, now_ms: u64) -> bool {
        now_ms < self.valid_until_ms
    }
}

struct EntryExpiry;

impl moka::Expiry<[u8; 32], Arc<Entry>> for EntryExpiry {
    fn expire_after_create(&self, _key: &[u8; 32], value: &Arc<Entry>, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The bounded answer cache with single-flight fetches.
pub(crate) struct AnswerCache {
    cache: moka::future::Cache<[u8; 32], Arc<Entry>>,
    clock: SharedClock,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache").field("entries", &self.cache.entry_count()).finish_non_exhaustive()
    }
}

impl AnswerCache {
    pub(crate) fn new(capacity: u64, clock: SharedClock) -> Self {
        Self { cache: moka::future::Cache::builder().max_capacity(capacity).expire_after(EntryExpiry).build(), clock }
    }

    fn now_ms(&self) -> u64 {
        unix_millis(self.clock.now())
    }

    /// The cached answer for `key` if it is still valid by the clock; otherwise one `fetch` shared by
    /// every concurrent caller for `key`. A failed fetch is not cached: every waiter gets its error.
    pub(crate) async fn get_or_fetch<Fut>(
        &self,
        key: [u8; 32],
        fetch: impl Fn() -> Fut,
    ) -> Result<Arc<Entry>, AuthError>
    where
        Fut: Future<Output = Result<Arc<Entry>, AuthError>>,
    {
        let started_ms = self.now_ms();
        if let Some(hit) = self.cache.get(&key).await {
            if hit.fresh_at(started_ms) {
                metrics::counter!("tower_auth_introspection_cache_total", "result" => "hit").increment(1);
                return Ok(hit);
            }
            // Expired by the clock: drop it, unless a concurrent caller already replaced it.
            self.cache
                .entry(key)
                .and_compute_with(|current| {
                    let stale = current.is_some_and(|e| !e.value().fresh_at(started_ms));
                    std::future::ready(if stale { Op::Remove } else { Op::Nop })
                })
                .await;
        }
        metrics::counter!("tower_auth_introspection_cache_total", "result" => "miss").increment(1);
        // An answer fetched for this request (or by a call it joined) is used even with a zero TTL;
        // one found in the cache must still be valid. Two rounds at most: the second one fetches.
        for _ in 0..2 {
            let entry = self.cache.try_get_with(key, fetch()).await.map_err(|e| AuthError::clone(&e))?;
            if entry.fetched_at_ms >= started_ms || entry.fresh_at(self.now_ms()) {
                return Ok(entry);
            }
            self.cache.invalidate(&key).await;
        }
        fetch().await
    }

    /// Entries held (approximate; runs pending maintenance first).
    pub(crate) async fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ManualClock;
    use crate::error::AuthErrorKind;

    fn entry(clock: &ManualClock, ttl_secs: u64) -> Arc<Entry> {
        Arc::new(Entry::new(Answer::Inactive, unix_millis(crate::Clock::now(clock)), Duration::from_secs(ttl_secs)))
    }

    #[tokio::test]
    async fn clock_decides_freshness_and_failures_are_not_cached() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let cache = AnswerCache::new(100, Arc::new(clock.clone()));
        let calls = &AtomicUsize::new(0);
        let fetch = || {
            let e = entry(&clock, 30);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(e)
            }
        };
        let key = [7u8; 32];
        cache.get_or_fetch(key, fetch).await.unwrap();
        cache.get_or_fetch(key, fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(29));
        cache.get_or_fetch(key, fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(1));
        cache.get_or_fetch(key, fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "expired by the injected clock");

        let failing = || async { Err::<Arc<Entry>, _>(AuthError::unavailable(1)) };
        let other = [8u8; 32];
        assert_eq!(cache.get_or_fetch(other, failing).await.unwrap_err().kind(), AuthErrorKind::Unavailable);
        cache.get_or_fetch(other, fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "the failure was not cached");
        assert_eq!(cache.entry_count().await, 2);
    }

    #[tokio::test]
    async fn zero_ttl_answers_serve_their_own_request_only() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let cache = AnswerCache::new(100, Arc::new(clock.clone()));
        let calls = &AtomicUsize::new(0);
        let fetch = || {
            let e = entry(&clock, 0);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(e)
            }
        };
        cache.get_or_fetch([1; 32], fetch).await.unwrap();
        clock.advance(Duration::from_millis(1));
        cache.get_or_fetch([1; 32], fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn bounded() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let cache = AnswerCache::new(50, Arc::new(clock.clone()));
        for i in 0..500u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            let e = entry(&clock, 30);
            cache
                .get_or_fetch(key, || {
                    let e = e.clone();
                    async move { Ok(e) }
                })
                .await
                .unwrap();
        }
        assert!(cache.entry_count().await <= 50);
    }
}
