//! The store trait, its error, and the in-memory store.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::record::ApiKeyRecord;
use crate::error::ConfigError;

/// The future every [`ApiKeyStore`] method returns: boxed, so the trait stays object-safe
/// (`Arc<dyn ApiKeyStore>`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where key records live.
///
/// Implementations must be safe to call concurrently. Only [`get`](ApiKeyStore::get) is on the
/// request path, and it sits behind [`ApiKeys`](super::ApiKeys)' lookup cache when
/// [`cache_lookups`](ApiKeyStore::cache_lookups) says so; [`record_use`](ApiKeyStore::record_use)
/// runs per request only for usage-limited keys; [`touch`](ApiKeyStore::touch) runs in the
/// background with a batch of last-used times.
pub trait ApiKeyStore: Send + Sync + fmt::Debug + 'static {
    /// The record with this id, if any (revoked and expired ones included).
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>>;

    /// Adds a record. An existing id is a [`StoreErrorKind::Conflict`].
    fn insert(&self, record: ApiKeyRecord) -> StoreFuture<'_, ()>;

    /// Marks the key revoked at `at`. `Ok(false)` when there is no such key or it already was.
    fn revoke<'a>(&'a self, id: &'a str, at: SystemTime) -> StoreFuture<'a, bool>;

    /// Every record, oldest first.
    fn list(&self) -> StoreFuture<'_, Vec<ApiKeyRecord>>;

    /// Counts one use of a usage-limited key, atomically: `Ok(true)` when the use was within
    /// `max_uses` (and counted), `Ok(false)` when the uses are spent, the key is revoked or unknown.
    fn record_use<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;

    /// Raises `last_used_at` of each key to the given time (never lowers it). Called in the
    /// background with batches; unknown ids are ignored.
    fn touch(&self, last_used: Vec<(String, SystemTime)>) -> StoreFuture<'_, ()>;

    /// Whether [`ApiKeys`](super::ApiKeys) should cache lookups in front of this store for the cache
    /// TTL: `true` for remote stores (the default), `false` for stores that answer from memory.
    fn cache_lookups(&self) -> bool {
        true
    }

    /// A number that changes whenever a record is inserted, revoked or reloaded, if the store can
    /// tell it cheaply (in-memory stores). [`ApiKeys`](super::ApiKeys) then reuses its parsed
    /// lookups exactly as long as the revision stays the same, with no TTL: revocations take effect
    /// at once. `None` (the default) for stores that cannot tell.
    fn revision(&self) -> Option<u64> {
        None
    }
}

impl<S: ApiKeyStore + ?Sized> ApiKeyStore for Arc<S> {
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        (**self).get(id)
    }
    fn insert(&self, record: ApiKeyRecord) -> StoreFuture<'_, ()> {
        (**self).insert(record)
    }
    fn revoke<'a>(&'a self, id: &'a str, at: SystemTime) -> StoreFuture<'a, bool> {
        (**self).revoke(id, at)
    }
    fn list(&self) -> StoreFuture<'_, Vec<ApiKeyRecord>> {
        (**self).list()
    }
    fn record_use<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        (**self).record_use(id)
    }
    fn touch(&self, last_used: Vec<(String, SystemTime)>) -> StoreFuture<'_, ()> {
        (**self).touch(last_used)
    }
    fn cache_lookups(&self) -> bool {
        (**self).cache_lookups()
    }
    fn revision(&self) -> Option<u64> {
        (**self).revision()
    }
}

/// What kind of store failure.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The store cannot be reached or timed out. Requests answer 503 (fail closed).
    Unavailable,
    /// The id already exists.
    Conflict,
    /// A record or request is invalid (bad input, or a corrupt stored record).
    Invalid,
    /// Reading or writing the store failed otherwise (I/O, a database error).
    Failed,
}

/// A store failure. Never contains a secret.
#[derive(Debug, Clone)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: Cow<'static, str>,
}

impl StoreError {
    /// An error of `kind`.
    pub fn new(kind: StoreErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self { kind, message: message.into() }
    }

    /// [`StoreErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StoreErrorKind::Unavailable, message)
    }

    /// [`StoreErrorKind::Invalid`].
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StoreErrorKind::Invalid, message)
    }

    /// [`StoreErrorKind::Failed`].
    pub fn failed(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StoreErrorKind::Failed, message)
    }

    /// What kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// What happened.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for ConfigError {
    fn from(e: StoreError) -> Self {
        ConfigError::new(format!("API key store: {e}"))
    }
}

/// Records in process memory. Cheap to clone (clones share the records). Revocations take effect
/// at once: [`ApiKeys`](super::ApiKeys) reuses a lookup only while the store's
/// [revision](ApiKeyStore::revision) is unchanged.
///
/// The quickstart's demo key lives here; tests use it; a service with a fixed set of keys can fill
/// it at start-up with [`MemoryStore::insert_record`].
#[derive(Clone, Default)]
pub struct MemoryStore {
    records: Arc<RwLock<HashMap<String, ApiKeyRecord>>>,
    revision: Arc<AtomicU64>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore").field("keys", &self.len()).finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record, without a runtime. An existing id is a [`StoreErrorKind::Conflict`].
    pub fn insert_record(&self, record: ApiKeyRecord) -> Result<(), StoreError> {
        let mut records = self.write();
        if records.contains_key(&record.id) {
            return Err(StoreError::new(StoreErrorKind::Conflict, "an API key with this id exists"));
        }
        records.insert(record.id.clone(), record);
        self.revision.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, ApiKeyRecord>> {
        self.records.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, ApiKeyRecord>> {
        self.records.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(crate) fn ready<'a, T: Send + 'a>(value: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

/// Shared by the memory and file stores: the operations on a map of records.
pub(crate) mod ops {
    use super::*;

    pub(crate) fn revoke(records: &mut HashMap<String, ApiKeyRecord>, id: &str, at: SystemTime) -> bool {
        match records.get_mut(id) {
            Some(r) if r.revoked_at.is_none() => {
                r.revoked_at = Some(at);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn record_use(records: &mut HashMap<String, ApiKeyRecord>, id: &str) -> bool {
        match records.get_mut(id) {
            Some(r) if r.revoked_at.is_none() && r.max_uses.is_none_or(|max| r.uses < max) => {
                r.uses += 1;
                true
            }
            _ => false,
        }
    }

    /// Returns whether anything changed.
    pub(crate) fn touch(records: &mut HashMap<String, ApiKeyRecord>, last_used: &[(String, SystemTime)]) -> bool {
        let mut changed = false;
        for (id, at) in last_used {
            if let Some(r) = records.get_mut(id)
                && r.last_used_at.is_none_or(|prev| prev < *at)
            {
                r.last_used_at = Some(*at);
                changed = true;
            }
        }
        changed
    }

    pub(crate) fn list(records: &HashMap<String, ApiKeyRecord>) -> Vec<ApiKeyRecord> {
        let mut all: Vec<ApiKeyRecord> = records.values().cloned().collect();
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        all
    }
}

impl ApiKeyStore for MemoryStore {
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        ready(Ok(self.read().get(id).cloned()))
    }

    fn insert(&self, record: ApiKeyRecord) -> StoreFuture<'_, ()> {
        ready(self.insert_record(record))
    }

    fn revoke<'a>(&'a self, id: &'a str, at: SystemTime) -> StoreFuture<'a, bool> {
        let done = ops::revoke(&mut self.write(), id, at);
        self.revision.fetch_add(1, Ordering::Release);
        ready(Ok(done))
    }

    fn list(&self) -> StoreFuture<'_, Vec<ApiKeyRecord>> {
        ready(Ok(ops::list(&self.read())))
    }

    fn record_use<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        ready(Ok(ops::record_use(&mut self.write(), id)))
    }

    fn touch(&self, last_used: Vec<(String, SystemTime)>) -> StoreFuture<'_, ()> {
        ops::touch(&mut self.write(), &last_used);
        ready(Ok(()))
    }

    fn cache_lookups(&self) -> bool {
        false
    }

    /// Changes on insert and revoke (use counts and last-used times are not part of what is cached:
    /// uses are always counted in the store).
    fn revision(&self) -> Option<u64> {
        Some(self.revision.load(Ordering::Acquire))
    }
}
