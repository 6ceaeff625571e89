//! Rate limiting by identity: quotas per principal after authentication, and a limit on failed
//! authentications per client address before it (checklist section I).
//!
//! ```text
//! request ──► failed-auth limit ──► authenticate ──► Principal ──► RateLimitLayer ──► handler
//!             (per peer IP, I7)     (engine)                        (per principal)
//! ```
//!
//! - **[`RateLimiter`] + [`RateLimitLayer`]** (Tower; the actix-web adapter has the same as a
//!   middleware): placed after the [`AuthLayer`](crate::AuthLayer), it reads the
//!   [`Principal`](crate::Principal) and the peer address from the request, picks a partition with
//!   a [`KeyExtractor`] and a [`QuotaPolicy`] by the principal's kind and tier, and either answers
//!   429 itself or lets the request through and adds the rate-limit headers to the response.
//! - **[`FailedAuthLimit`]**, set on the engine with
//!   [`AuthenticatorBuilder::failed_auth_limit`](crate::AuthenticatorBuilder::failed_auth_limit):
//!   counts failed authentications per peer address and refuses an address over its quota before
//!   any work (no JWKS refetch, no introspection call), so guessing keys and flooding upstreams with
//!   junk tokens is throttled in both adapters alike.
//!
//! The algorithm is the GCRA of the [`governor`](https://docs.rs/governor) crate: a [`Quota`] of
//! `n` requests per second, minute or hour admits `burst` requests at once (by default `n`), then
//! one more each `period / n`. Quotas are written `<n>/<s|m|h>[,burst=<n>]` or `off`
//! ([`parse_quota`]), the syntax of the quickstart's `TOWER_AUTH_RATE_LIMIT`.
//!
//! # Quotas by kind and tier
//!
//! | principal | policy (header name) | set with |
//! |---|---|---|
//! | a tier the builder knows (an API key's record tier, or the token claim named by [`tier_claim`](RateLimiterBuilder::tier_claim)) | the tier's name | [`tier`](RateLimiterBuilder::tier) |
//! | API key | `api_key` | [`api_key_quota`](RateLimiterBuilder::api_key_quota) |
//! | client (client-credentials token: `sub` = client id or no `sub`; client certificate) | `client` | [`client_quota`](RateLimiterBuilder::client_quota) |
//! | user token | `user` | [`user_quota`](RateLimiterBuilder::user_quota) |
//! | anonymous (optional authentication) | `anonymous` | [`anonymous_quota`](RateLimiterBuilder::anonymous_quota) |
//! | anything not configured above | `default` | [`quota`](RateLimiterBuilder::quota) (required) |
//!
//! # Partitions
//!
//! The default key, [`PrincipalOrPeerIp`], gives each API key, certificate or (issuer, subject) its
//! own quota, and each peer address (IPv6 by /64) for anonymous requests. Built-ins for other
//! partitions: [`PrincipalKey`], [`ApiKeyId`], [`CertificateThumbprint`], [`PeerIp`],
//! [`GlobalKey`]; combine with [`KeyExtractor::or`], or implement [`KeyExtractor`].
//!
//! **Forwarding headers are spoofable.** `X-Forwarded-For`, `Forwarded` and `X-Real-IP` are set
//! by the client unless a proxy you run overwrites them; keying on them gives every request that
//! invents a new value a new quota. Nothing here reads them: the peer address is the TCP
//! connection's. Behind a load balancer that address is the balancer's — limit by principal, or
//! at the balancer.
//!
//! # Responses
//!
//! | outcome | status | headers | body |
//! |---|---|---|---|
//! | admitted | the handler's | `RateLimit-Policy: "default";q=100;w=60`, `RateLimit: "default";r=50;t=30` | the handler's |
//! | over quota | 429 | the same two, `Retry-After` (seconds, never before `t`), `Cache-Control: no-store` | `application/problem+json`, type `https://iana.org/assignments/http-problem-types#quota-exceeded`, `violated-policies` |
//! | Redis store down, [`FailureMode::Closed`] | 503 | `Retry-After` | problem+json |
//!
//! The two fields are Structured Fields (RFC 9651) of draft-ietf-httpapi-ratelimit-headers; see
//! [`Decision`] for what `q`, `w`, `r` and `t` mean under the GCRA. [`RateLimitHeaders`] turns
//! them off or adds the legacy `X-RateLimit-Limit` / `-Remaining` / `-Reset` trio. No partition
//! key (`pk`) is sent. The 429 is an [`AuthError`](crate::AuthError) of kind
//! [`RateLimited`](crate::AuthErrorKind::RateLimited), rendered by the same code as every other
//! error, so a custom rejection hook sees it too.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_auth::ratelimit::{Quota, RateLimitLayer, RateLimiter};
//! use tower_auth::{AuthLayer, Authenticator, ManualClock, jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let issuer = LocalIssuer::new("https://issuer.test");
//! issuer.set_default_audience("https://api.test");
//! let validator = JwtValidator::builder()
//!     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
//!     .audience("https://api.test")
//!     .build()
//!     .unwrap();
//! let auth = Authenticator::builder().jwt(validator).build().unwrap();
//! let clock = ManualClock::starting_now();
//! let limiter = RateLimiter::builder().quota(Quota::per_minute(2)).clock(clock.clone()).build().unwrap();
//!
//! let svc = ServiceBuilder::new()
//!     .layer(AuthLayer::new(auth))
//!     .layer(RateLimitLayer::new(limiter))
//!     .service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::from("ok"))) });
//! let alice = format!("Bearer {}", issuer.token().subject("alice").sign());
//! let get = |token: &str| Request::builder().header("authorization", token).body(String::new()).unwrap();
//!
//! let first = svc.clone().oneshot(get(&alice)).await.unwrap();
//! assert_eq!(first.status(), StatusCode::OK);
//! assert_eq!(first.headers()["ratelimit-policy"], r#""default";q=2;w=60"#);
//! assert_eq!(first.headers()["ratelimit"], r#""default";r=1;t=30"#);
//! assert_eq!(svc.clone().oneshot(get(&alice)).await.unwrap().status(), StatusCode::OK);
//!
//! let refused = svc.clone().oneshot(get(&alice)).await.unwrap();
//! assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(refused.headers()["retry-after"], "60");
//! assert_eq!(refused.headers()["content-type"], "application/problem+json");
//!
//! // Another principal has its own quota; time restores alice's.
//! let bob = format!("Bearer {}", issuer.token().subject("bob").sign());
//! assert_eq!(svc.clone().oneshot(get(&bob)).await.unwrap().status(), StatusCode::OK);
//! clock.advance(std::time::Duration::from_secs(60));
//! assert_eq!(svc.clone().oneshot(get(&alice)).await.unwrap().status(), StatusCode::OK);
//! // Authentication still comes first: no credentials is a 401, not a quota question.
//! assert_eq!(svc.oneshot(Request::new(String::new())).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```
//!
//! # Memory
//!
//! The in-memory store keeps one partition per active key: a GCRA state of 8 bytes in a `DashMap`
//! next to its key. Idle partitions — whose quota is whole again — are dropped every
//! [`cleanup_interval`](RateLimiterBuilder::cleanup_interval), and the store holds at most
//! [`max_keys`](RateLimiterBuilder::max_keys) partitions per policy (default 100,000); new keys
//! beyond that share one overflow partition until a sweep frees room. In the test
//! `ratelimit_memory`, 1,000,000 distinct addresses through a limiter capped at 100,000 leave at
//! most 100,001 partitions, then none after the clock passes their refill time (see the README for
//! the measured figures).
//!
//! # Many replicas
//!
//! With the `redis` feature, [`RedisStore`] keeps the counters in Redis: the same GCRA in one Lua
//! script, atomic on the server, so replicas that share a Redis server and prefix admit at most one
//! quota together. Each check has a timeout (default 250 ms); when Redis cannot answer, the request
//! gets the configured [`FailureMode`] — open (admitted, the default) or closed (503) — and a warning
//! is logged. The failed-authentication limit stays per replica.
//!
//! # Time
//!
//! The in-memory store reads the crate's [`Clock`](crate::Clock) (set with
//! [`clock`](RateLimiterBuilder::clock)), adapted to `governor`'s clock, so tests move a
//! [`ManualClock`](crate::ManualClock) instead of sleeping. The Redis store reads the Redis
//! server's clock.

mod failed;
mod headers;
mod key;
mod layer;
mod limiter;
mod memory;
mod quota;
#[cfg(feature = "redis")]
mod redis;

pub(crate) use failed::FailedAuthLimiter;
pub use failed::{FAILED_AUTH_POLICY, FailedAuthLimit};
pub use headers::{Decision, RateLimitHeaders};
pub(crate) use headers::{Exceeded, QUOTA_EXCEEDED};
pub use key::{
    ApiKeyId, CertificateThumbprint, GlobalKey, KeyExtractor, Or, PeerIp, PrincipalKey, PrincipalKind,
    PrincipalOrPeerIp, RateLimitKey, normalize_ip,
};
pub use layer::{RateLimit, RateLimitLayer, ResponseFuture};
pub use limiter::{RateLimiter, RateLimiterBuilder};
pub use memory::{DEFAULT_CLEANUP_INTERVAL, DEFAULT_MAX_KEYS};
pub use quota::{Quota, QuotaPolicy, parse_quota};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{FailureMode, RedisStore};
