//! The pre-authentication limiter: failed authentications per client IP (checklist I7).

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::headers::{Decision, RateLimitHeaders};
use super::key::normalize_ip;
use super::memory::{DEFAULT_CLEANUP_INTERVAL, DEFAULT_MAX_KEYS, MemoryLimiter};
use super::quota::{Quota, QuotaPolicy};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::{AuthError, AuthErrorKind, ConfigError};

/// The policy name of the failed-authentication limit in headers and problem documents.
pub const FAILED_AUTH_POLICY: &str = "failed_auth";

/// A limit on failed authentications per client IP, checked by the [`Authenticator`] before it
/// does any work for a request ([`AuthenticatorBuilder::failed_auth_limit`]).
///
/// Guessing API keys or tokens, and flooding the introspection endpoint or JWKS refetches with junk
/// tokens, all fail authentication. Each failure — a 400 or 401 answer to a presented credential,
/// except `use_dpop_nonce` (a normal step of the DPoP flow) — counts against the peer's address
/// ([`normalize_ip`](super::normalize_ip): IPv6 by /64). An address over its quota is answered
/// 429 at once, with `Retry-After`, before any parsing, signature check, JWKS refetch,
/// introspection call or DPoP replay-store write — even for a valid credential, until its quota has
/// refilled. Successes cost nothing; a 503 (issuer unreachable) is not the client's failure and
/// does not count.
///
/// The address is the TCP peer's ([`RequestView::peer_addr`](crate::RequestView::peer_addr)):
/// never a forwarding header, which any client can forge. Requests whose peer is unknown are not
/// limited; behind a reverse proxy every client shares the proxy's address, so set the quota with
/// that in mind (or limit at the proxy). Counts are kept per replica, in memory, bounded like the
/// [`RateLimiter`](super::RateLimiter)'s.
///
/// ```
/// use tower_auth::{Authenticator, ManualClock, PeerAddr, AuthErrorKind};
/// use tower_auth::ratelimit::{FailedAuthLimit, Quota};
/// use tower_auth::{jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let issuer = LocalIssuer::new("https://issuer.test");
/// let validator = JwtValidator::builder()
///     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
///     .audience("https://api.test")
///     .build()
///     .unwrap();
/// let clock = ManualClock::starting_now();
/// let auth = Authenticator::builder()
///     .jwt(validator)
///     .failed_auth_limit(FailedAuthLimit::new(Quota::per_minute(3)).clock(clock.clone()))
///     .build()
///     .unwrap();
///
/// let request = |token: &str| {
///     let (mut parts, ()) = http::Request::builder().header("authorization", format!("Bearer {token}")).body(()).unwrap().into_parts();
///     parts.extensions.insert(PeerAddr("203.0.113.9:50000".parse().unwrap()));
///     parts
/// };
/// for _ in 0..3 {
///     assert_eq!(auth.authenticate(&request("junk")).await.unwrap_err().kind(), AuthErrorKind::MalformedToken);
/// }
/// // Over the limit: refused before any work, even with a good token.
/// let good = issuer.token().audience("https://api.test").sign();
/// let refused = auth.authenticate(&request(&good)).await.unwrap_err();
/// assert_eq!(refused.kind(), AuthErrorKind::RateLimited);
/// assert_eq!(refused.status(), 429);
/// clock.advance(std::time::Duration::from_secs(refused.retry_after().unwrap()));
/// assert!(auth.authenticate(&request(&good)).await.is_ok());
/// # }
/// ```
///
/// [`Authenticator`]: crate::Authenticator
/// [`AuthenticatorBuilder::failed_auth_limit`]: crate::AuthenticatorBuilder::failed_auth_limit
#[derive(Clone)]
#[must_use]
pub struct FailedAuthLimit {
    quota: Quota,
    clock: Option<SharedClock>,
    max_keys: usize,
    headers: RateLimitHeaders,
}

impl fmt::Debug for FailedAuthLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedAuthLimit")
            .field("quota", &self.quota)
            .field("max_keys", &self.max_keys)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl FailedAuthLimit {
    /// Failed authentications allowed per client IP.
    pub fn new(quota: Quota) -> Self {
        Self { quota, clock: None, max_keys: DEFAULT_MAX_KEYS, headers: RateLimitHeaders::Draft }
    }

    /// The clock (tests move a [`ManualClock`](crate::ManualClock)). Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The most addresses tracked; beyond, new addresses share one overflow quota (see
    /// [`RateLimiterBuilder::max_keys`](super::RateLimiterBuilder::max_keys)). Defaults to 100,000.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// The headers of its 429s. Defaults to [`RateLimitHeaders::Draft`] (policy `"failed_auth"`).
    pub fn headers(mut self, headers: RateLimitHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// The limiter this configuration describes.
    pub(crate) fn build(self) -> Result<FailedAuthLimiter, ConfigError> {
        let policy = Arc::new(QuotaPolicy::new(FAILED_AUTH_POLICY, self.quota));
        policy.validate().map_err(|e| ConfigError::new(format!("failed_auth_limit: {}", e.message())))?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let limiter = MemoryLimiter::new(self.quota, clock, self.max_keys, DEFAULT_CLEANUP_INTERVAL)?;
        Ok(FailedAuthLimiter { limiter, policy, headers: self.headers })
    }
}

impl From<Quota> for FailedAuthLimit {
    fn from(quota: Quota) -> Self {
        Self::new(quota)
    }
}

/// The running limit, held by the engine.
pub(crate) struct FailedAuthLimiter {
    limiter: MemoryLimiter<IpAddr>,
    policy: Arc<QuotaPolicy>,
    headers: RateLimitHeaders,
}

impl fmt::Debug for FailedAuthLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedAuthLimiter").field("policy", &self.policy).field("limiter", &self.limiter).finish()
    }
}

/// Whether an authentication error counts as a failed attempt.
fn counts(kind: AuthErrorKind) -> bool {
    let status = kind.status().as_u16();
    (status == 400 || status == 401) && !matches!(kind, AuthErrorKind::MissingCredentials | AuthErrorKind::UseDpopNonce)
}

impl FailedAuthLimiter {
    /// Runs `work` (the authentication) unless `peer` is over its quota; counts its failure.
    pub(crate) async fn guard<T>(
        limit: Option<&Self>,
        peer: Option<SocketAddr>,
        work: impl Future<Output = Result<T, AuthError>>,
    ) -> Result<T, AuthError> {
        let (Some(limit), Some(peer)) = (limit, peer) else { return work.await };
        let ip = normalize_ip(peer.ip());
        let before = limit.limiter.peek(ip);
        if !before.allowed {
            let decision = limit.decision(before);
            return Err(decision.to_error());
        }
        let result = work.await;
        limit.count(ip, &result);
        result
    }

    /// [`guard`](Self::guard) for work that can answer at once: `None` when `work` cannot (then
    /// nothing was counted, and the caller runs the asynchronous `guard`).
    pub(crate) fn guard_now<T>(
        limit: Option<&Self>,
        peer: Option<SocketAddr>,
        work: impl FnOnce() -> Option<Result<T, AuthError>>,
    ) -> Option<Result<T, AuthError>> {
        let (Some(limit), Some(peer)) = (limit, peer) else { return work() };
        let ip = normalize_ip(peer.ip());
        let before = limit.limiter.peek(ip);
        if !before.allowed {
            let decision = limit.decision(before);
            return Some(Err(decision.to_error()));
        }
        let result = work()?;
        limit.count(ip, &result);
        Some(result)
    }

    /// Counts a failure against `ip`.
    fn count<T>(&self, ip: IpAddr, result: &Result<T, AuthError>) {
        if let Err(error) = result
            && counts(error.kind())
        {
            let after = self.limiter.check(ip);
            if after.remaining == 0 {
                metrics::counter!("tower_auth_failed_auth_limited_total").increment(1);
                tracing::warn!(target: "tower_auth::ratelimit", ip = %ip, "failed-authentication limit reached for a client address");
            }
        }
    }

    fn decision(&self, outcome: super::memory::Outcome) -> Decision {
        Decision {
            policy: self.policy.clone(),
            allowed: outcome.allowed,
            remaining: outcome.remaining,
            reset: outcome.reset,
            retry_after: outcome.retry_after,
            headers: self.headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn what_counts() {
        assert!(counts(AuthErrorKind::InvalidSignature));
        assert!(counts(AuthErrorKind::InvalidApiKey));
        assert!(counts(AuthErrorKind::MalformedRequest));
        assert!(counts(AuthErrorKind::InvalidDpopProof));
        assert!(!counts(AuthErrorKind::MissingCredentials));
        assert!(!counts(AuthErrorKind::UseDpopNonce));
        assert!(!counts(AuthErrorKind::Unavailable));
        assert!(!counts(AuthErrorKind::InsufficientScope));
        assert!(!counts(AuthErrorKind::RateLimited));
    }

    #[tokio::test]
    async fn trips_and_recovers() {
        let clock = crate::ManualClock::at_unix(1_700_000_000);
        let limit = FailedAuthLimit::new(Quota::per_minute(2)).clock(clock.clone()).build().unwrap();
        let peer: Option<SocketAddr> = Some("198.51.100.4:1234".parse().unwrap());
        let other: Option<SocketAddr> = Some("198.51.100.5:1234".parse().unwrap());
        let fail = || async { Err::<(), _>(AuthError::new(AuthErrorKind::InvalidSignature)) };
        let ok = || async { Ok::<(), AuthError>(()) };
        let mut work_ran = 0;
        for _ in 0..2 {
            work_ran += 1;
            assert!(FailedAuthLimiter::guard(Some(&limit), peer, fail()).await.is_err());
        }
        // Successes are free, and never run once the address is over its quota.
        let refused = FailedAuthLimiter::guard(Some(&limit), peer, async {
            work_ran += 1;
            Ok::<(), AuthError>(())
        })
        .await
        .unwrap_err();
        assert_eq!(work_ran, 2, "no work for an address over its quota");
        assert_eq!(refused.kind(), AuthErrorKind::RateLimited);
        assert_eq!(refused.violated_policy(), Some(FAILED_AUTH_POLICY));
        assert!(FailedAuthLimiter::guard(Some(&limit), other, ok()).await.is_ok());
        assert!(FailedAuthLimiter::guard(None, peer, ok()).await.is_ok());
        assert!(FailedAuthLimiter::guard(Some(&limit), None, ok()).await.is_ok());
        clock.advance(Duration::from_secs(refused.retry_after().unwrap()));
        assert!(FailedAuthLimiter::guard(Some(&limit), peer, ok()).await.is_ok());
    }
}
