//! Key sources: static keys, a JWKS URL, or OIDC discovery — fetched in the background, served stale
//! while the issuer is down (for a bounded time), refetched at most once per cool-down for an unknown
//! `kid` (C2, C5).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use super::alg::Algorithm;
use super::jwk::{JwkPolicy, KeySet, Lookup, VerifyingKey};
use crate::clock::{SharedClock, unix_millis};
use crate::error::{AuthError, AuthErrorKind};

/// Tuning of a remote key source. Every field has a default suited to production.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    /// Timeout of one discovery or JWKS request. Defaults to 5 s.
    pub timeout: Duration,
    /// Keys older than this are refreshed in the background (requests go on with the current keys).
    /// Defaults to 5 minutes.
    pub refresh_after: Duration,
    /// Keys older than this are no longer used when refreshes keep failing (stale-if-error bound):
    /// requests get 503 until the issuer answers again. Defaults to 24 hours.
    pub max_stale: Duration,
    /// At most one refetch per this interval, whether for an unknown `kid` or after a failed fetch.
    /// Defaults to 10 s.
    pub cooldown: Duration,
    /// Largest discovery or JWKS document accepted. Defaults to 256 KiB.
    pub max_document_bytes: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            refresh_after: Duration::from_secs(300),
            max_stale: Duration::from_secs(24 * 3600),
            cooldown: Duration::from_secs(10),
            max_document_bytes: 256 * 1024,
        }
    }
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub(crate) enum KeySourceSpec {
    Static(Vec<VerifyingKey>),
    StaticJwks(String),
    JwksUrl(String),
    Discovery,
}

#[derive(Debug)]
struct Snapshot {
    keys: KeySet,
    /// Clock millis of the last successful fetch; `None` before the first one.
    fetched_at: Option<u64>,
    generation: u64,
}

/// The keys of one issuer.
pub(crate) struct KeyStore {
    issuer: String,
    spec: KeySourceSpec,
    policy: JwkPolicy,
    settings: JwksSettings,
    http: reqwest::Client,
    clock: SharedClock,
    snapshot: RwLock<Arc<Snapshot>>,
    fetch_lock: tokio::sync::Mutex<Option<String>>,
    last_attempt: AtomicU64,
    last_failed: AtomicBool,
    /// The generation of the latest snapshot that removed or re-issued a key.
    last_removal: AtomicU64,
    refreshing: AtomicBool,
    fetches: AtomicU64,
    on_change: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("issuer", &self.issuer)
            .field("settings", &self.settings)
            .field("fetches", &self.fetch_count())
            .finish_non_exhaustive()
    }
}

const NEVER: u64 = u64::MAX;

impl KeyStore {
    pub(crate) fn new(
        issuer: String,
        spec: KeySourceSpec,
        policy: JwkPolicy,
        settings: JwksSettings,
        http: reqwest::Client,
        clock: SharedClock,
        on_change: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<Self, crate::ConfigError> {
        let (keys, fetched_at) = match &spec {
            KeySourceSpec::Static(keys) => (KeySet { keys: keys.clone() }, Some(0)),
            KeySourceSpec::StaticJwks(doc) => {
                let (set, _) = KeySet::from_jwks(doc.as_bytes(), &policy)
                    .ok_or_else(|| crate::ConfigError::new("the static JWKS is not a JWK Set"))?;
                if set.keys.is_empty() {
                    return Err(crate::ConfigError::new("the static JWKS has no usable key"));
                }
                (set, Some(0))
            }
            _ => (KeySet::default(), None),
        };
        Ok(Self {
            issuer,
            spec,
            policy,
            settings,
            http,
            clock,
            snapshot: RwLock::new(Arc::new(Snapshot { keys, fetched_at, generation: 0 })),
            fetch_lock: tokio::sync::Mutex::new(None),
            last_attempt: AtomicU64::new(NEVER),
            last_failed: AtomicBool::new(false),
            last_removal: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            fetches: AtomicU64::new(0),
            on_change,
        })
    }

    fn is_remote(&self) -> bool {
        matches!(self.spec, KeySourceSpec::JwksUrl(_) | KeySourceSpec::Discovery)
    }

    fn now_ms(&self) -> u64 {
        unix_millis(self.clock.now())
    }

    fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// How many discovery/JWKS fetches were attempted (for tests and metrics).
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Milliseconds until the cool-down after the last attempt ends (0 when it has).
    fn cooldown_left(&self, now: u64) -> u64 {
        let last = self.last_attempt.load(Ordering::Acquire);
        if last == NEVER {
            return 0;
        }
        let cd = u64::try_from(self.settings.cooldown.as_millis()).unwrap_or(u64::MAX);
        (last.saturating_add(cd)).saturating_sub(now)
    }

    fn unavailable(&self, now: u64) -> AuthError {
        let left = self.cooldown_left(now);
        AuthError::unavailable(left.div_ceil(1000).max(1))
    }

    /// Whether a key set fetched after snapshot `generation` removed or re-issued a key: then a token
    /// verified with a key of that snapshot must not be remembered.
    pub(crate) fn removed_since(&self, generation: u64) -> bool {
        self.last_removal.load(Ordering::Acquire) > generation
    }

    /// Finds the one key for a token header, with the generation of the key set it came from.
    pub(crate) async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(VerifyingKey, u64), AuthError> {
        let mut snap = self.current();
        if self.is_remote() {
            let now = self.now_ms();
            let usable = snap.fetched_at.is_some_and(|at| now.saturating_sub(at) <= ms(self.settings.max_stale));
            if !usable {
                // No keys yet, or only keys past the stale bound: fetch now (once per cool-down).
                if self.cooldown_left(now) > 0 && self.last_failed.load(Ordering::Acquire) {
                    return Err(self.unavailable(now));
                }
                snap = self.fetch_now(snap.generation, false).await;
                let now = self.now_ms();
                let usable = snap.fetched_at.is_some_and(|at| now.saturating_sub(at) <= ms(self.settings.max_stale));
                if !usable {
                    return Err(self.unavailable(now));
                }
            } else if snap.fetched_at.is_some_and(|at| now.saturating_sub(at) > ms(self.settings.refresh_after)) {
                self.refresh_in_background();
            }
        }
        match snap.keys.lookup(kid, alg) {
            Lookup::Found(key) => return Ok((key.clone(), snap.generation)),
            Lookup::WrongAlgorithm => return Err(AuthErrorKind::UnsupportedAlgorithm.into()),
            Lookup::Ambiguous => return Err(AuthErrorKind::UnknownKey.into()),
            Lookup::NotFound => {}
        }
        if !self.is_remote() {
            return Err(AuthErrorKind::UnknownKey.into());
        }
        // Unknown kid: the issuer may have rotated. At most one refetch per cool-down (C2).
        if self.cooldown_left(self.now_ms()) > 0 {
            return Err(AuthErrorKind::UnknownKey.into());
        }
        let snap = self.fetch_now(snap.generation, true).await;
        match snap.keys.lookup(kid, alg) {
            Lookup::Found(key) => Ok((key.clone(), snap.generation)),
            Lookup::WrongAlgorithm => Err(AuthErrorKind::UnsupportedAlgorithm.into()),
            _ => Err(AuthErrorKind::UnknownKey.into()),
        }
    }

    /// Fetches unless another caller fetched since `seen_generation` or the cool-down forbids it
    /// (`respect_cooldown`). Concurrent callers share one fetch.
    async fn fetch_now(self: &Arc<Self>, seen_generation: u64, respect_cooldown: bool) -> Arc<Snapshot> {
        let mut jwks_uri = self.fetch_lock.lock().await;
        let snap = self.current();
        if snap.generation != seen_generation {
            return snap;
        }
        let now = self.now_ms();
        let left = self.cooldown_left(now);
        if left > 0 && (respect_cooldown || self.last_failed.load(Ordering::Acquire)) {
            return snap;
        }
        self.do_fetch(&mut jwks_uri, snap).await
    }

    async fn do_fetch(&self, jwks_uri: &mut Option<String>, snap: Arc<Snapshot>) -> Arc<Snapshot> {
        self.last_attempt.store(self.now_ms(), Ordering::Release);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch_keys(jwks_uri).await {
            Ok(keys) => {
                let changed = keys_removed(&snap.keys, &keys);
                let next =
                    Arc::new(Snapshot { keys, fetched_at: Some(self.now_ms()), generation: snap.generation + 1 });
                match self.snapshot.write() {
                    Ok(mut g) => *g = next.clone(),
                    Err(poisoned) => *poisoned.into_inner() = next.clone(),
                }
                self.last_failed.store(false, Ordering::Release);
                metrics::counter!("tower_auth_jwks_fetches_total", "outcome" => "success").increment(1);
                tracing::debug!(target: "tower_auth::jwks", issuer = %self.issuer, keys = next.keys.keys.len(), "JWKS fetched");
                if changed {
                    // Recorded before the cache is cleared: a validation that used an older key set
                    // and finishes after the clear sees it and does not re-insert its token.
                    self.last_removal.store(next.generation, Ordering::Release);
                    (self.on_change)();
                }
                next
            }
            Err(reason) => {
                self.last_failed.store(true, Ordering::Release);
                metrics::counter!("tower_auth_jwks_fetches_total", "outcome" => "failure").increment(1);
                tracing::warn!(target: "tower_auth::jwks", issuer = %self.issuer, reason, "JWKS fetch failed");
                snap
            }
        }
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.cooldown_left(self.now_ms()) > 0 || self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        let this = Arc::clone(self);
        handle.spawn(async move {
            let generation = this.current().generation;
            this.fetch_now(generation, true).await;
            this.refreshing.store(false, Ordering::Release);
        });
    }

    /// Starts the first fetch in the background, when a Tokio runtime is running.
    pub(crate) fn prefetch(self: &Arc<Self>) {
        if !self.is_remote() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let this = Arc::clone(self);
            handle.spawn(async move {
                this.fetch_now(0, false).await;
            });
        }
    }

    async fn fetch_keys(&self, jwks_uri: &mut Option<String>) -> Result<KeySet, &'static str> {
        let url = match (&self.spec, jwks_uri.as_ref()) {
            (KeySourceSpec::JwksUrl(url), _) => url.clone(),
            (KeySourceSpec::Discovery, Some(uri)) => uri.clone(),
            (KeySourceSpec::Discovery, None) => {
                let uri = self.discover().await?;
                *jwks_uri = Some(uri.clone());
                uri
            }
            _ => return Err("not a remote source"),
        };
        let body = self.get(&url).await?;
        let (set, _skipped) = KeySet::from_jwks(&body, &self.policy).ok_or("JWKS is not a JWK Set")?;
        Ok(set)
    }

    async fn discover(&self) -> Result<String, &'static str> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let body = self.get(&url).await?;
        let doc = crate::json::parse_object(&body).ok_or("discovery document is not a JSON object")?;
        // C1: the metadata's issuer must be the configured issuer, exactly.
        if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err("discovery issuer does not match the configured issuer");
        }
        doc.get("jwks_uri").and_then(Value::as_str).map(str::to_owned).ok_or("discovery document has no jwks_uri")
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, &'static str> {
        let mut response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .timeout(self.settings.timeout)
            .send()
            .await
            .map_err(|_| "request failed")?;
        if !response.status().is_success() {
            return Err("non-success status");
        }
        let limit = self.settings.max_document_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err("document too large");
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| "read failed")? {
            if body.len() + chunk.len() > limit {
                return Err("document too large");
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether a key of `old` is absent from `new` (then tokens verified with it must not stay cached).
/// A key replaced under the same `kid` counts as removed: its material is compared too.
fn keys_removed(old: &KeySet, new: &KeySet) -> bool {
    old.keys.iter().any(|o| !new.keys.iter().any(|n| n.same_key(o)))
}
