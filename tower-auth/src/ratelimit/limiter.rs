//! The per-principal limiter: quotas by kind and tier, a key extractor, a store.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::headers::{Decision, RateLimitHeaders};
use super::key::{KeyExtractor, PrincipalKind, PrincipalOrPeerIp};
use super::memory::{DEFAULT_CLEANUP_INTERVAL, DEFAULT_MAX_KEYS, MemoryLimiter, Outcome};
use super::quota::{Quota, QuotaPolicy};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::{AuthError, ConfigError};
use crate::principal::{Mechanism, Principal};
use crate::view::RequestView;

/// The names of the built-in policies, in the order they are stored.
const DEFAULT: &str = "default";
const KIND_NAMES: [&str; 4] = ["anonymous", "api_key", "client", "user"];

/// A rate limiter for requests that passed authentication: picks a partition with its
/// [`KeyExtractor`] and a [quota policy](QuotaPolicy) by the principal's kind and tier, and
/// answers with a [`Decision`].
///
/// Cheap to clone (shared state); put one into a [`RateLimitLayer`](super::RateLimitLayer) or the
/// actix-web middleware. See the [module docs](super) for placement and headers.
pub struct RateLimiter<E: KeyExtractor = PrincipalOrPeerIp> {
    inner: Arc<Inner<E>>,
}

impl<E: KeyExtractor> Clone for RateLimiter<E> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

struct Inner<E: KeyExtractor> {
    extractor: E,
    policies: Vec<Arc<QuotaPolicy>>,
    selection: Selection,
    backend: Backend<E::Key>,
    headers: RateLimitHeaders,
}

/// Which policy (an index into `policies`) a request counts against.
#[derive(Debug)]
struct Selection {
    anonymous: usize,
    api_key: usize,
    client: usize,
    user: usize,
    tiers: HashMap<String, usize>,
    tier_claim: Option<String>,
}

impl Selection {
    fn select(&self, principal: Option<&Principal>) -> usize {
        let Some(p) = principal else { return self.anonymous };
        if !self.tiers.is_empty() {
            let tier = match p.mechanism() {
                // The API-key mechanism copies the key record's tier into this claim.
                Mechanism::ApiKey => p.claim("tier"),
                _ => self.tier_claim.as_deref().and_then(|name| p.claim(name)),
            };
            if let Some(Value::String(tier)) = tier
                && let Some(&index) = self.tiers.get(tier)
            {
                return index;
            }
        }
        match PrincipalKind::of(p) {
            PrincipalKind::ApiKey => self.api_key,
            PrincipalKind::Client => self.client,
            PrincipalKind::User => self.user,
        }
    }
}

enum Backend<K: std::hash::Hash + Eq + Clone> {
    Memory(Vec<MemoryLimiter<K>>),
    #[cfg(feature = "redis")]
    Redis(super::redis::RedisStore),
}

impl<E: KeyExtractor> fmt::Debug for RateLimiter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.inner.backend {
            Backend::Memory(_) => "memory",
            #[cfg(feature = "redis")]
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("RateLimiter")
            .field("policies", &self.inner.policies)
            .field("selection", &self.inner.selection)
            .field("backend", &backend)
            .field("headers", &self.inner.headers)
            .finish_non_exhaustive()
    }
}

/// The answer of [`RateLimiter::check`]: a decision to attach to the response (or none: the request
/// is not limited), or the rejection.
pub(crate) type Verdict = Result<Option<Decision>, AuthError>;

/// A verdict now (in-memory store) or later (Redis).
pub(crate) enum Pending {
    Ready(Verdict),
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Wait(Pin<Box<dyn Future<Output = Verdict> + Send + 'static>>),
}

impl RateLimiter {
    /// Starts a configuration keyed by [`PrincipalOrPeerIp`], in memory, with the draft's headers.
    pub fn builder() -> RateLimiterBuilder {
        RateLimiterBuilder {
            extractor: PrincipalOrPeerIp,
            default: None,
            kinds: [None; 4],
            tiers: Vec::new(),
            tier_claim: None,
            headers: RateLimitHeaders::Draft,
            clock: None,
            max_keys: DEFAULT_MAX_KEYS,
            cleanup_interval: DEFAULT_CLEANUP_INTERVAL,
            #[cfg(feature = "redis")]
            redis: None,
        }
    }
}

impl<E: KeyExtractor> RateLimiter<E> {
    /// Counts one request and decides.
    ///
    /// `Ok(Some(decision))`: admitted, with the headers of [`Decision::response_headers`] for the
    /// response. `Ok(None)`: not limited (the extractor found no key, or the Redis store failed
    /// open). `Err`: refuse with the error's response — a 429 with `Retry-After` and the
    /// rate-limit headers ([`Decision::to_error`]), or a 503 when the Redis store fails closed.
    pub async fn check<V: RequestView + ?Sized>(
        &self,
        principal: Option<&Principal>,
        request: &V,
    ) -> Result<Option<Decision>, AuthError> {
        match self.begin(principal, request) {
            Pending::Ready(verdict) => verdict,
            Pending::Wait(future) => future.await,
        }
    }

    /// [`check`](Self::check), ready at once for the in-memory store.
    pub(crate) fn begin<V: RequestView + ?Sized>(&self, principal: Option<&Principal>, request: &V) -> Pending {
        let inner = &*self.inner;
        let Some(key) = inner.extractor.extract(principal, request) else { return Pending::Ready(Ok(None)) };
        let index = inner.selection.select(principal);
        let policy = inner.policies[index].clone();
        match &inner.backend {
            Backend::Memory(limiters) => Pending::Ready(verdict(policy, limiters[index].check(key), inner.headers)),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let store = store.clone();
                let headers = inner.headers;
                Pending::Wait(Box::pin(async move {
                    match store.check(&policy, &key).await {
                        Ok(outcome) => verdict(policy, outcome, headers),
                        Err(failure) => failure,
                    }
                }))
            }
        }
    }

    /// The policies, the default first.
    pub fn policies(&self) -> impl Iterator<Item = &QuotaPolicy> {
        self.inner.policies.iter().map(|p| &**p)
    }

    /// The policy a request of `principal` counts against (`None`: anonymous).
    pub fn policy_for(&self, principal: Option<&Principal>) -> &QuotaPolicy {
        &self.inner.policies[self.inner.selection.select(principal)]
    }

    /// The headers this limiter writes.
    pub fn headers(&self) -> RateLimitHeaders {
        self.inner.headers
    }

    /// The partitions the in-memory store tracks, over all policies (0 with Redis).
    pub fn tracked_partitions(&self) -> usize {
        match &self.inner.backend {
            Backend::Memory(limiters) => limiters.iter().map(MemoryLimiter::len).sum(),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => 0,
        }
    }

    /// Drops idle partitions of the in-memory store now (this also happens on its own schedule).
    pub fn sweep_idle(&self) {
        match &self.inner.backend {
            Backend::Memory(limiters) => limiters.iter().for_each(MemoryLimiter::sweep),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => {}
        }
    }
}

fn verdict(policy: Arc<QuotaPolicy>, outcome: Outcome, headers: RateLimitHeaders) -> Verdict {
    let decision = Decision {
        policy,
        allowed: outcome.allowed,
        remaining: outcome.remaining,
        reset: outcome.reset,
        retry_after: outcome.retry_after,
        headers,
    };
    if decision.allowed {
        return Ok(Some(decision));
    }
    let name = decision.policy.name();
    metrics::counter!("tower_auth_rate_limited_total", "policy" => name.to_owned()).increment(1);
    tracing::debug!(target: "tower_auth::ratelimit", policy = name, retry_after = decision.retry_after_secs(), "rate limited");
    Err(decision.to_error())
}

/// Builds a [`RateLimiter`].
#[must_use]
pub struct RateLimiterBuilder<E = PrincipalOrPeerIp> {
    extractor: E,
    default: Option<Quota>,
    /// anonymous, api_key, client, user — as `KIND_NAMES`.
    kinds: [Option<Quota>; 4],
    tiers: Vec<(String, Quota)>,
    tier_claim: Option<String>,
    headers: RateLimitHeaders,
    clock: Option<SharedClock>,
    max_keys: usize,
    cleanup_interval: Duration,
    #[cfg(feature = "redis")]
    redis: Option<super::redis::RedisStore>,
}

impl<E> fmt::Debug for RateLimiterBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiterBuilder")
            .field("default", &self.default)
            .field("kinds", &self.kinds)
            .field("tiers", &self.tiers)
            .field("tier_claim", &self.tier_claim)
            .field("headers", &self.headers)
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

impl<E: KeyExtractor> RateLimiterBuilder<E> {
    /// The quota of policy `"default"`: for every request no other policy applies to. Required.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.default = Some(quota);
        self
    }

    /// The quota of policy `"api_key"`, for requests authenticated with an API key. Defaults to
    /// the default quota.
    pub fn api_key_quota(mut self, quota: Quota) -> Self {
        self.kinds[1] = Some(quota);
        self
    }

    /// The quota of policy `"client"`, for clients acting for themselves: client-credentials
    /// tokens (subject = client id, or no subject) and client certificates
    /// ([`PrincipalKind::Client`]). Defaults to the default quota.
    pub fn client_quota(mut self, quota: Quota) -> Self {
        self.kinds[2] = Some(quota);
        self
    }

    /// The quota of policy `"user"`, for tokens issued for a user. Defaults to the default quota.
    pub fn user_quota(mut self, quota: Quota) -> Self {
        self.kinds[3] = Some(quota);
        self
    }

    /// The quota of policy `"anonymous"`, for requests without a principal (optional
    /// authentication). Defaults to the default quota.
    pub fn anonymous_quota(mut self, quota: Quota) -> Self {
        self.kinds[0] = Some(quota);
        self
    }

    /// A tier: principals whose tier is `name` count against a policy of that name with `quota`,
    /// whatever their kind. An API key's tier is its record's (`NewApiKey::tier`, the `tier`
    /// claim of its principal); a token's is the string value of the [`tier_claim`](Self::tier_claim).
    /// An unknown tier name falls back to the kind's quota.
    ///
    /// Names are 1 to 64 printable ASCII characters, distinct, and none of `default`,
    /// `anonymous`, `api_key`, `client`, `user`.
    pub fn tier(mut self, name: impl Into<String>, quota: Quota) -> Self {
        self.tiers.push((name.into(), quota));
        self
    }

    /// The claim naming a token's tier (e.g. `"rate_tier"`). Defaults to none: tokens use their
    /// kind's quota.
    pub fn tier_claim(mut self, claim: impl Into<String>) -> Self {
        self.tier_claim = Some(claim.into());
        self
    }

    /// Which headers go on the responses. Defaults to [`RateLimitHeaders::Draft`].
    pub fn headers(mut self, headers: RateLimitHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// The clock of the in-memory store (tests move a [`ManualClock`](crate::ManualClock) instead of
    /// sleeping). Defaults to the system clock. The Redis store uses the Redis server's clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The most partitions the in-memory store tracks per policy. Defaults to 100,000.
    ///
    /// Idle partitions (whose quota is whole again) are dropped every
    /// [`cleanup_interval`](Self::cleanup_interval), and at once when the store is full. A new
    /// partition that still finds the store full counts against one shared overflow partition of
    /// the same policy until room frees up: memory stays bounded, and a flood of fresh identities
    /// (or addresses) shares one quota instead of getting one each.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// The time between two sweeps of idle partitions of the in-memory store. Defaults to 10 s.
    pub fn cleanup_interval(mut self, interval: Duration) -> Self {
        self.cleanup_interval = interval;
        self
    }

    /// Keeps the counters in Redis, shared by every replica pointed at the same server and prefix
    /// (see [`RedisStore`](super::RedisStore)). Defaults to the in-memory store.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(mut self, store: super::redis::RedisStore) -> Self {
        self.redis = Some(store);
        self
    }

    /// Replaces the key extractor. Defaults to [`PrincipalOrPeerIp`].
    pub fn key<E2: KeyExtractor>(self, extractor: E2) -> RateLimiterBuilder<E2> {
        RateLimiterBuilder {
            extractor,
            default: self.default,
            kinds: self.kinds,
            tiers: self.tiers,
            tier_claim: self.tier_claim,
            headers: self.headers,
            clock: self.clock,
            max_keys: self.max_keys,
            cleanup_interval: self.cleanup_interval,
            #[cfg(feature = "redis")]
            redis: self.redis,
        }
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<RateLimiter<E>, ConfigError> {
        let default = self.default.ok_or_else(|| ConfigError::new("rate limiter: set a default .quota(..)"))?;
        let mut policies = vec![Arc::new(QuotaPolicy::new(DEFAULT, default))];
        let mut kind_index = [0usize; 4];
        for (slot, (name, quota)) in kind_index.iter_mut().zip(KIND_NAMES.iter().zip(self.kinds)) {
            if let Some(quota) = quota {
                *slot = policies.len();
                policies.push(Arc::new(QuotaPolicy::new(*name, quota)));
            }
        }
        let mut tiers = HashMap::new();
        for (name, quota) in self.tiers {
            if name == DEFAULT || KIND_NAMES.contains(&name.as_str()) || tiers.contains_key(&name) {
                return Err(ConfigError::new(format!(
                    "rate limiter: tier {name:?} is defined twice or reuses a built-in policy name"
                )));
            }
            tiers.insert(name.clone(), policies.len());
            policies.push(Arc::new(QuotaPolicy::new(name, quota)));
        }
        for policy in &policies {
            policy
                .validate()
                .map_err(|e| ConfigError::new(format!("rate limiter, policy {:?}: {}", policy.name(), e.message())))?;
        }
        let clock: SharedClock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        #[cfg(feature = "redis")]
        let backend = match self.redis {
            Some(store) => Backend::Redis(store),
            None => memory(&policies, &clock, self.max_keys, self.cleanup_interval)?,
        };
        #[cfg(not(feature = "redis"))]
        let backend = memory(&policies, &clock, self.max_keys, self.cleanup_interval)?;
        let [anonymous, api_key, client, user] = kind_index;
        Ok(RateLimiter {
            inner: Arc::new(Inner {
                extractor: self.extractor,
                policies,
                selection: Selection { anonymous, api_key, client, user, tiers, tier_claim: self.tier_claim },
                backend,
                headers: self.headers,
            }),
        })
    }
}

fn memory<K: std::hash::Hash + Eq + Clone>(
    policies: &[Arc<QuotaPolicy>],
    clock: &SharedClock,
    max_keys: usize,
    cleanup_interval: Duration,
) -> Result<Backend<K>, ConfigError> {
    let limiters = policies
        .iter()
        .map(|p| MemoryLimiter::new(p.quota(), clock.clone(), max_keys, cleanup_interval))
        .collect::<Result<_, _>>()?;
    Ok(Backend::Memory(limiters))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use serde_json::json;

    fn claims(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn policies_by_kind_and_tier() {
        let limiter = RateLimiter::builder()
            .quota(Quota::per_minute(60))
            .api_key_quota(Quota::per_minute(100))
            .client_quota(Quota::per_minute(1000))
            .user_quota(Quota::per_minute(300))
            .tier("gold", Quota::per_minute(5000))
            .tier_claim("rate_tier")
            .build()
            .unwrap();
        let key = |tier: Value| {
            Principal::builder(Mechanism::ApiKey, "owner").claims(claims(json!({"key_id": "k", "tier": tier}))).build()
        };
        let name = |p: Option<&Principal>| limiter.policy_for(p).name().to_owned();
        assert_eq!(name(Some(&key(Value::Null))), "api_key");
        assert_eq!(name(Some(&key(json!("gold")))), "gold");
        assert_eq!(name(Some(&key(json!("silver")))), "api_key", "unknown tier: the kind's quota");
        let client = Principal::builder(Mechanism::Jwt, "svc").client_id("svc").build();
        assert_eq!(name(Some(&client)), "client");
        let user = Principal::builder(Mechanism::Jwt, "alice")
            .claims(claims(json!({"sub": "alice", "rate_tier": "gold"})))
            .build();
        assert_eq!(name(Some(&user)), "gold");
        let plain =
            Principal::builder(Mechanism::Jwt, "bob").claims(claims(json!({"sub": "bob", "tier": "gold"}))).build();
        assert_eq!(name(Some(&plain)), "user", "a token's tier comes from the configured claim only");
        assert_eq!(name(None), "default");
        assert_eq!(limiter.policies().count(), 5);
    }

    #[test]
    fn configuration_errors() {
        assert!(RateLimiter::builder().build().is_err());
        assert!(RateLimiter::builder().quota(Quota::per_second(0)).build().is_err());
        assert!(RateLimiter::builder().quota(Quota::per_second(1)).tier("user", Quota::per_second(1)).build().is_err());
        assert!(
            RateLimiter::builder()
                .quota(Quota::per_second(1))
                .tier("a", Quota::per_second(1))
                .tier("a", Quota::per_second(2))
                .build()
                .is_err()
        );
        assert!(
            RateLimiter::builder().quota(Quota::per_second(1)).tier("bad\n", Quota::per_second(1)).build().is_err()
        );
        assert!(RateLimiter::builder().quota(Quota::per_second(1)).max_keys(0).build().is_err());
    }

    #[tokio::test]
    async fn quotas_per_partition_and_policy() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let limiter = RateLimiter::builder()
            .quota(Quota::per_minute(2))
            .client_quota(Quota::per_minute(3))
            .clock(clock.clone())
            .build()
            .unwrap();
        let request = http::Request::new(()).into_parts().0;
        let alice = Principal::builder(Mechanism::Jwt, "alice").build();
        let svc = Principal::builder(Mechanism::Jwt, "svc").client_id("svc").build();
        assert!(limiter.check(Some(&alice), &request).await.unwrap().is_some());
        assert!(limiter.check(Some(&alice), &request).await.unwrap().is_some());
        let refused = limiter.check(Some(&alice), &request).await.unwrap_err();
        assert_eq!(refused.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.retry_after(), Some(60));
        for _ in 0..3 {
            assert_eq!(limiter.check(Some(&svc), &request).await.unwrap().unwrap().policy().name(), "client");
        }
        assert!(limiter.check(Some(&svc), &request).await.is_err());
        clock.advance(Duration::from_secs(60));
        assert_eq!(limiter.check(Some(&alice), &request).await.unwrap().unwrap().remaining(), 1);
        // No peer, no principal: the shared unknown-peer partition of the default policy.
        assert!(limiter.check(None, &request).await.unwrap().is_some());
    }
}
