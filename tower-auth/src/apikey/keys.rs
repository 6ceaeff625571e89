//! The mechanism: parse → hash → look up (cache, store) → compare → checks → principal.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

use super::format::{KeyFormat, KeyFormatError};
use super::hash::{Hasher, SecretHash};
use super::record::{ApiKeyRecord, IssuedKey, KeyStatus, NewApiKey};
use super::store::{ApiKeyStore, StoreError, StoreErrorKind};
use crate::clock::{Clock, SharedClock, SystemClock, unix_seconds};
use crate::credentials::CredentialSources;
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::principal::{Mechanism, Principal};

/// Seconds a client is told to wait when the store is unreachable (503 `Retry-After`).
const RETRY_AFTER_SECS: u64 = 5;

/// Why a key was refused: logged at debug level and counted, never sent to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Malformed,
    BadChecksum,
    UnknownKey,
    WrongSecret,
    Revoked,
    Expired,
    NetworkNotAllowed,
    UsesExhausted,
    CorruptRecord,
}

impl Refusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadChecksum => "bad_checksum",
            Self::UnknownKey => "unknown_key",
            Self::WrongSecret => "wrong_secret",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::NetworkNotAllowed => "network_not_allowed",
            Self::UsesExhausted => "uses_exhausted",
            Self::CorruptRecord => "corrupt_record",
        }
    }
}

#[derive(Debug)]
pub(crate) enum Failure {
    Refused(Refusal),
    Store(StoreError),
}

/// A refusal, logged with its reason (and the key id once the checksum passed, never the key).
fn refuse(reason: Refusal, key_id: Option<&str>) -> Failure {
    tracing::debug!(target: "tower_auth::apikey", reason = reason.as_str(), key_id, "API key refused");
    Failure::Refused(reason)
}

/// A record as the request path needs it: with its principal built once.
struct Known {
    record: ApiKeyRecord,
    principal: Principal,
    /// The last second a use was queued for last-used: later uses within the same second skip the
    /// shared queue (its lock would otherwise be taken on every request).
    noted_second: AtomicU64,
}

impl Known {
    fn new(record: ApiKeyRecord) -> Self {
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::String(record.owner.clone()));
        claims.insert("key_id".into(), Value::String(record.id.clone()));
        claims.insert("tier".into(), record.tier.clone().map_or(Value::Null, Value::String));
        let mut builder =
            Principal::builder(Mechanism::ApiKey, record.owner.clone()).scopes(record.scopes.iter().cloned());
        if let Some(exp) = record.expires_at {
            builder = builder.expires_at_unix(unix_seconds(exp));
        }
        let principal = builder.claims(claims).build();
        Self { record, principal, noted_second: AtomicU64::new(0) }
    }
}

#[derive(Clone)]
struct Cached {
    known: Option<Arc<Known>>,
    fetched: SystemTime,
    /// The store's revision when fetched, for stores that have one: then the entry is valid exactly
    /// while the revision is unchanged, whatever its age.
    revision: Option<u64>,
}

type LookupCache = moka::sync::Cache<String, Cached>;

/// API keys: the mechanism behind [`AuthenticatorBuilder::api_keys`](crate::AuthenticatorBuilder::api_keys).
///
/// Holds the [`KeyFormat`], the hashing, the [`ApiKeyStore`], the lookup cache and the last-used
/// batcher. Cheap to clone (shared). See the [module documentation](super) for the verification
/// order and the defaults.
#[derive(Clone)]
pub struct ApiKeys {
    inner: Arc<Inner>,
}

struct Inner {
    format: KeyFormat,
    hasher: Hasher,
    store: Arc<dyn ApiKeyStore>,
    cache: Option<LookupCache>,
    positive_ttl: Duration,
    negative_ttl: Duration,
    clock: SharedClock,
    header: Option<String>,
    authorization_scheme: bool,
    query: Option<String>,
    last_used: Mutex<LastUsed>,
    last_used_capacity: usize,
    flush_interval: Duration,
    /// Compared against when the id is unknown, so every well-formed key costs one comparison.
    dummy_hash: SecretHash,
}

#[derive(Default)]
struct LastUsed {
    pending: HashMap<String, SystemTime>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.last_used.get_mut().ok().and_then(|s| s.task.take()) {
            task.abort();
        }
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("ApiKeys")
            .field("format", &inner.format)
            .field("hashing", &inner.hasher)
            .field("store", &inner.store)
            .field("cache", &inner.cache.as_ref().map(|_| (inner.positive_ttl, inner.negative_ttl)))
            .field("header", &inner.header)
            .field("authorization_scheme", &inner.authorization_scheme)
            .field("query", &inner.query)
            .finish_non_exhaustive()
    }
}

/// Builds [`ApiKeys`].
#[must_use]
pub struct ApiKeysBuilder {
    store: Option<Arc<dyn ApiKeyStore>>,
    prefix: String,
    pepper: Option<Vec<u8>>,
    header: Option<String>,
    authorization_scheme: bool,
    query: Option<String>,
    cache_capacity: u64,
    positive_ttl: Duration,
    negative_ttl: Duration,
    clock: SharedClock,
    flush_interval: Duration,
    last_used_capacity: usize,
}

impl fmt::Debug for ApiKeysBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeysBuilder")
            .field("store", &self.store)
            .field("prefix", &self.prefix)
            .field("pepper", &self.pepper.as_ref().map(|_| "<redacted>"))
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl ApiKeysBuilder {
    /// Where records live. Required.
    pub fn store(mut self, store: impl ApiKeyStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Where records live, shared with other owners of the `Arc`.
    pub fn shared_store(mut self, store: Arc<dyn ApiKeyStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The key prefix (see [`KeyFormat::new`]). Defaults to `tak_live`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Hash secrets with HMAC-SHA-256 keyed with `pepper` (at least 32 bytes, kept outside the
    /// store) instead of plain SHA-256. Then someone who can write to the store but does not know
    /// the pepper cannot plant a key of their own. Every component that creates or checks keys
    /// (servers, the CLI) needs the same pepper. Defaults to none.
    pub fn pepper(mut self, pepper: impl AsRef<[u8]>) -> Self {
        self.pepper = Some(pepper.as_ref().to_vec());
        self
    }

    /// The request header carrying the key. Defaults to `x-api-key`.
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.header = Some(name.into().to_ascii_lowercase());
        self
    }

    /// Reads no API-key header (keys come only through `Authorization: ApiKey`).
    pub fn without_header(mut self) -> Self {
        self.header = None;
        self
    }

    /// Also accept `Authorization: ApiKey <key>`. Defaults to off.
    pub fn authorization_scheme(mut self, on: bool) -> Self {
        self.authorization_scheme = on;
        self
    }

    /// Also accept the key in query parameter `name` (`?api_key=…`). Defaults to off, and best left
    /// off: a URL is written to access logs, proxy logs, browser history and `Referer` headers, so a
    /// key sent this way leaks. Only for clients that cannot set a header (webhooks of third-party
    /// services); give such keys narrow scopes and a short life.
    pub fn insecure_query_parameter(mut self, name: impl Into<String>) -> Self {
        self.query = Some(name.into());
        self
    }

    /// Capacity of the lookup cache (see [Caching](super#caching)); `0` disables it. Defaults to 10,000 keys.
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// How long a found record is reused before the store is asked again: the longest time a
    /// revocation made elsewhere (another replica, the CLI, SQL) takes to be seen. Defaults to 30 s;
    /// at most 1 hour. Revocations through [`ApiKeys::revoke`] take effect at once in this process.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.positive_ttl = ttl;
        self
    }

    /// How long "no such key" is remembered: the longest time a key created elsewhere may be
    /// refused. Defaults to 5 s; at most the positive TTL.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// The clock for expiry, cache lifetimes and last-used times. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How often last-used times are written to the store, in one batch. Defaults to 30 s.
    pub fn last_used_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// How many distinct keys' last-used times wait for the next flush; further keys are skipped
    /// until then (last-used is advisory). Defaults to 10,000.
    pub fn last_used_capacity(mut self, keys: usize) -> Self {
        self.last_used_capacity = keys;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<ApiKeys, ConfigError> {
        let store = self.store.ok_or_else(|| ConfigError::new("API keys need a store: call .store(..)"))?;
        let format = KeyFormat::new(self.prefix)?;
        let hasher = match &self.pepper {
            Some(p) if p.len() < 32 => return Err(ConfigError::new("an API key pepper must be at least 32 bytes")),
            Some(p) => Hasher::pepper(p),
            None => Hasher::Sha256,
        };
        if let Some(name) = &self.header {
            let token =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token || name == "authorization" {
                return Err(ConfigError::new(
                    "the API key header must be a valid header name other than Authorization (use .authorization_scheme(true))",
                ));
            }
        }
        if let Some(name) = &self.query
            && (name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)))
        {
            return Err(ConfigError::new(
                "the API key query parameter name must be letters, digits, '-', '.', '_' or '~'",
            ));
        }
        if self.header.is_none() && !self.authorization_scheme && self.query.is_none() {
            return Err(ConfigError::new(
                "API keys need a transport: a header, the ApiKey scheme or a query parameter",
            ));
        }
        if self.positive_ttl > Duration::from_secs(3600) {
            return Err(ConfigError::new("the API key cache TTL must not exceed 1 hour"));
        }
        if self.negative_ttl > self.positive_ttl {
            return Err(ConfigError::new("the negative cache TTL must not exceed the cache TTL"));
        }
        if self.flush_interval.is_zero() {
            return Err(ConfigError::new("the last-used flush interval must be positive"));
        }
        let exact = store.revision().is_some();
        let timed = store.cache_lookups() && !self.positive_ttl.is_zero();
        let cache = (self.cache_capacity > 0 && (exact || timed)).then(|| {
            let builder = moka::sync::Cache::builder().max_capacity(self.cache_capacity);
            if exact { builder.build() } else { builder.time_to_live(self.positive_ttl).build() }
        });
        let dummy_hash = hasher.hash("", "");
        Ok(ApiKeys {
            inner: Arc::new(Inner {
                format,
                hasher,
                store,
                cache,
                positive_ttl: self.positive_ttl,
                negative_ttl: self.negative_ttl,
                clock: self.clock,
                header: self.header,
                authorization_scheme: self.authorization_scheme,
                query: self.query,
                last_used: Mutex::new(LastUsed::default()),
                last_used_capacity: self.last_used_capacity,
                flush_interval: self.flush_interval,
                dummy_hash,
            }),
        })
    }
}

impl ApiKeys {
    /// Starts a configuration.
    pub fn builder() -> ApiKeysBuilder {
        ApiKeysBuilder {
            store: None,
            prefix: KeyFormat::DEFAULT_PREFIX.to_owned(),
            pepper: None,
            header: Some("x-api-key".to_owned()),
            authorization_scheme: false,
            query: None,
            cache_capacity: 10_000,
            positive_ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
            flush_interval: Duration::from_secs(30),
            last_used_capacity: 10_000,
        }
    }

    /// The key format.
    pub fn format(&self) -> &KeyFormat {
        &self.inner.format
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ApiKeyStore> {
        &self.inner.store
    }

    pub(crate) fn configure_sources(&self, sources: &mut CredentialSources) {
        sources.api_key_header = self.inner.header.clone();
        sources.api_key_scheme = self.inner.authorization_scheme;
        sources.api_key_query = self.inner.query.clone();
    }

    /// Authenticates a presented key from a request whose TCP peer is `peer`.
    ///
    /// Every refusal is the same [`AuthErrorKind::InvalidApiKey`] (401); the precise reason is
    /// logged at debug level (target `tower_auth::apikey`, with the key id once the checksum
    /// passed, never the key) and counted in `tower_auth_api_key_refusals_total{reason}`. A store
    /// that cannot answer (and nothing cached) gives 503 with `Retry-After` (fail closed).
    pub async fn verify(&self, key: &str, peer: Option<IpAddr>) -> Result<Principal, AuthError> {
        Self::answer(self.check(key, peer).await)
    }

    /// [`verify`](Self::verify) when the answer is at hand: a key refused by its format, or whose
    /// record is in the lookup cache and fresh, with no use count to record in the store. The same
    /// answer, log events and counters as `verify`. `None` otherwise (nothing logged or counted),
    /// for `verify` to decide.
    pub(crate) fn verify_now(&self, key: &str, peer: Option<IpAddr>) -> Option<Result<Principal, AuthError>> {
        self.check_now(key, peer).map(Self::answer)
    }

    /// The answer for a precise outcome: every refusal is `InvalidApiKey`, counted by reason.
    fn answer(outcome: Result<Principal, Failure>) -> Result<Principal, AuthError> {
        match outcome {
            Ok(principal) => Ok(principal),
            Err(Failure::Refused(reason)) => {
                metrics::counter!("tower_auth_api_key_refusals_total", "reason" => reason.as_str()).increment(1);
                Err(AuthErrorKind::InvalidApiKey.into())
            }
            Err(Failure::Store(e)) => {
                tracing::warn!(target: "tower_auth::apikey", error = %e, "API key store unavailable");
                Err(AuthError::unavailable(RETRY_AFTER_SECS))
            }
        }
    }

    /// The verification with its precise outcome (for [`ApiKeys::verify`] and tests).
    pub(crate) async fn check(&self, key: &str, peer: Option<IpAddr>) -> Result<Principal, Failure> {
        let inner = &*self.inner;
        // 1. and 2.
        let (parsed, presented) = self.parse_and_hash(key)?;
        let id = parsed.id();
        let now = inner.clock.now();
        // 3. Lookup (cache, then store).
        let known = match self.lookup(id, now).await {
            Ok(known) => known,
            Err(e) if e.kind() == StoreErrorKind::Invalid => {
                tracing::warn!(target: "tower_auth::apikey", key_id = id, error = %e, "API key record unusable");
                return Err(refuse(Refusal::CorruptRecord, Some(id)));
            }
            Err(e) => return Err(Failure::Store(e)),
        };
        // 4. to 6.
        let known = self.judge(id, &presented, known, now, peer)?;
        // 7. Usage limit: counted atomically in the store, last, so refused requests spend nothing.
        if known.record.max_uses.is_some() && !inner.store.record_use(id).await.map_err(Failure::Store)? {
            return Err(refuse(Refusal::UsesExhausted, Some(id)));
        }
        Ok(self.admit(id, &known, now))
    }

    /// [`check`](Self::check) without the store: `None` when it would need it (the record not
    /// in the lookup cache or stale there, or a use count to record).
    fn check_now(&self, key: &str, peer: Option<IpAddr>) -> Option<Result<Principal, Failure>> {
        let inner = &*self.inner;
        let (parsed, presented) = match self.parse_and_hash(key) {
            Ok(checked) => checked,
            Err(failure) => return Some(Err(failure)),
        };
        let id = parsed.id();
        let now = inner.clock.now();
        let known = self.cached(id, now, inner.cache.as_ref().and_then(|_| inner.store.revision()))?;
        if known.as_ref().is_some_and(|k| k.record.max_uses.is_some()) {
            return None;
        }
        Some(self.judge(id, &presented, known, now, peer).map(|known| self.admit(id, &known, now)))
    }

    /// Steps 1 and 2: format and checksum (nothing is looked up for a mistyped or made-up key),
    /// then the hash, computed before the lookup so that known and unknown ids cost the same.
    fn parse_and_hash<'k>(&self, key: &'k str) -> Result<(super::format::ParsedKey<'k>, SecretHash), Failure> {
        let inner = &*self.inner;
        let parsed = inner.format.parse(key).map_err(|e| match e {
            KeyFormatError::BadChecksum => refuse(Refusal::BadChecksum, None),
            _ => refuse(Refusal::Malformed, None),
        })?;
        let presented = inner.hasher.hash(parsed.id(), parsed.secret());
        Ok((parsed, presented))
    }

    /// Steps 4 to 6: the constant-time comparison (against a dummy for unknown ids), the state,
    /// the source network.
    fn judge(
        &self,
        id: &str,
        presented: &SecretHash,
        known: Option<Arc<Known>>,
        now: SystemTime,
        peer: Option<IpAddr>,
    ) -> Result<Arc<Known>, Failure> {
        let inner = &*self.inner;
        // 4. Constant-time comparison of the hashes.
        let stored = known.as_ref().map_or(&inner.dummy_hash, |k| &k.record.secret_hash);
        let secret_matches = presented.matches(stored);
        let Some(known) = known else { return Err(refuse(Refusal::UnknownKey, Some(id))) };
        if !secret_matches {
            return Err(refuse(Refusal::WrongSecret, Some(id)));
        }
        // 5. State: revoked, expired, spent (as last seen; the use count is checked below).
        match known.record.status(now) {
            KeyStatus::Active => {}
            KeyStatus::Revoked => return Err(refuse(Refusal::Revoked, Some(id))),
            KeyStatus::Expired => return Err(refuse(Refusal::Expired, Some(id))),
            _ => return Err(refuse(Refusal::UsesExhausted, Some(id))),
        }
        // 6. Source network.
        if !known.record.allows_peer(peer) {
            return Err(refuse(Refusal::NetworkNotAllowed, Some(id)));
        }
        Ok(known)
    }

    /// An accepted key: its use noted (once a second), its principal.
    fn admit(&self, id: &str, known: &Known, now: SystemTime) -> Principal {
        if known.noted_second.swap(unix_seconds(now), Ordering::Relaxed) != unix_seconds(now) {
            self.note_use(id, now);
        }
        known.principal.clone()
    }

    async fn lookup(&self, id: &str, now: SystemTime) -> Result<Option<Arc<Known>>, StoreError> {
        let inner = &*self.inner;
        // Read before the fetch: a change racing with it makes the entry stale, never the reverse.
        let revision = inner.cache.as_ref().and_then(|_| inner.store.revision());
        if let Some(known) = self.cached(id, now, revision) {
            return Ok(known);
        }
        let record = inner.store.get(id).await?.filter(|r| r.id == id);
        let known = record.map(|r| Arc::new(Known::new(r)));
        if let Some(cache) = &inner.cache {
            let ttl = if known.is_some() { inner.positive_ttl } else { inner.negative_ttl };
            if revision.is_some() || !ttl.is_zero() {
                cache.insert(id.to_owned(), Cached { known: known.clone(), fetched: now, revision });
            }
        }
        Ok(known)
    }

    /// The lookup cache's entry for `id` when it is fresh: the same store revision, or (for stores
    /// without revisions) younger than its TTL.
    fn cached(&self, id: &str, now: SystemTime, revision: Option<u64>) -> Option<Option<Arc<Known>>> {
        let inner = &*self.inner;
        let hit = inner.cache.as_ref()?.get(id)?;
        let fresh = match (revision, hit.revision) {
            (Some(now_rev), Some(then_rev)) => now_rev == then_rev,
            _ => {
                let ttl = if hit.known.is_some() { inner.positive_ttl } else { inner.negative_ttl };
                // A clock that went backwards counts as expired.
                now.duration_since(hit.fetched).is_ok_and(|age| age < ttl)
            }
        };
        fresh.then_some(hit.known)
    }

    fn last_used(&self) -> MutexGuard<'_, LastUsed> {
        self.inner.last_used.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the last-used time; a background task writes the queue in batches.
    fn note_use(&self, id: &str, now: SystemTime) {
        let mut state = self.last_used();
        let room = state.pending.len() < self.inner.last_used_capacity;
        match state.pending.get_mut(id) {
            Some(at) => *at = (*at).max(now),
            None if room => {
                state.pending.insert(id.to_owned(), now);
            }
            None => metrics::counter!("tower_auth_api_key_last_used_dropped_total").increment(1),
        }
        if state.task.as_ref().is_none_or(tokio::task::JoinHandle::is_finished)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let weak = Arc::downgrade(&self.inner);
            state.task = Some(runtime.spawn(flush_loop(weak, self.inner.flush_interval)));
        }
    }

    /// Writes the queued last-used times now, in one batch (for graceful shutdown and tests).
    pub async fn flush_last_used(&self) -> Result<(), StoreError> {
        flush(&self.inner).await
    }

    /// Creates a key for `spec` without storing it: the plaintext to hand over and the record to
    /// store. For stores filled outside [`ApiKeys::create`] (at start-up, by a migration tool).
    pub fn mint(&self, spec: &NewApiKey) -> Result<IssuedKey, StoreError> {
        let now = self.inner.clock.now();
        spec.validate(now)?;
        let key = self.inner.format.generate();
        let record = ApiKeyRecord {
            id: key.id().to_owned(),
            secret_hash: self.inner.hasher.hash(key.id(), key.secret()),
            owner: spec.owner.clone(),
            name: spec.name.clone(),
            scopes: spec.scopes.clone(),
            created_at: now,
            expires_at: spec.expiry_from(now),
            revoked_at: None,
            tier: spec.tier.clone(),
            allowed_networks: spec.allowed_networks.clone(),
            max_uses: spec.max_uses,
            uses: 0,
            last_used_at: None,
        };
        Ok(IssuedKey { key, record })
    }

    /// Creates and stores a key for `spec`. The returned plaintext is the only copy: the store holds
    /// its hash.
    pub async fn create(&self, spec: NewApiKey) -> Result<IssuedKey, StoreError> {
        // Ids are 71 random bits: a collision is all but impossible, but costs only a retry.
        for _ in 0..3 {
            let issued = self.mint(&spec)?;
            match self.inner.store.insert(issued.record.clone()).await {
                Ok(()) => {
                    if let Some(cache) = &self.inner.cache {
                        cache.invalidate(&issued.record.id);
                    }
                    return Ok(issued);
                }
                Err(e) if e.kind() == StoreErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::failed("could not allocate a unique key id"))
    }

    /// Revokes key `id`: at once in this process, within the cache TTL in other replicas.
    /// `Ok(false)` when there is no such key or it was already revoked.
    pub async fn revoke(&self, id: &str) -> Result<bool, StoreError> {
        let done = self.inner.store.revoke(id, self.inner.clock.now()).await?;
        if let Some(cache) = &self.inner.cache {
            cache.invalidate(id);
        }
        Ok(done)
    }

    /// Every record in the store.
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.store.list().await
    }

    /// Forgets every cached lookup.
    pub fn clear_cache(&self) {
        if let Some(cache) = &self.inner.cache {
            cache.invalidate_all();
        }
    }
}

async fn flush(inner: &Inner) -> Result<(), StoreError> {
    let batch: Vec<(String, SystemTime)> = {
        let mut state = inner.last_used.lock().unwrap_or_else(|p| p.into_inner());
        state.pending.drain().collect()
    };
    if batch.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let result = inner.store.touch(batch.clone()).await;
    if let Err(e) = &result {
        tracing::warn!(target: "tower_auth::apikey", error = %e, keys = batch.len(), "last-used times not written; retrying at the next flush");
        let mut state = inner.last_used.lock().unwrap_or_else(|p| p.into_inner());
        for (id, at) in batch {
            if state.pending.len() < inner.last_used_capacity || state.pending.contains_key(&id) {
                let slot = state.pending.entry(id).or_insert(at);
                *slot = (*slot).max(at);
            }
        }
    } else {
        tracing::trace!(target: "tower_auth::apikey", keys = batch.len(), elapsed_ms = started.elapsed().as_millis() as u64, "last-used times written");
    }
    result
}

async fn flush_loop(inner: Weak<Inner>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else { return };
        let _ = flush(&inner).await;
    }
}
