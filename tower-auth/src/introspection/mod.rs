//! OAuth 2.0 token introspection (RFC 7662): ask the issuer about opaque (or revocable) tokens.
//!
//! An [`Introspector`] posts the token to the authorization server's introspection endpoint — from
//! configuration or from OIDC discovery — authenticated with this resource server's client
//! credentials, and turns an active answer into a [`Principal`] with
//! [`Mechanism::Introspection`](crate::Mechanism::Introspection): `sub` (else `username`, else
//! `client_id`), `client_id`, `iss`, the scopes of `scope`, `exp`, the `cnf` binding, and the whole
//! answer as claims. Give it to [`AuthenticatorBuilder::introspection`](crate::AuthenticatorBuilder::introspection):
//! a `Bearer` token that is a compact JWS from a configured JWT issuer is validated locally, every
//! other one is introspected (or every token, with
//! [`introspect_jwts`](crate::AuthenticatorBuilder::introspect_jwts)).
//!
//! | RFC 7662 | what this module does |
//! |---|---|
//! | §2.1 request (D1) | `POST`, `application/x-www-form-urlencoded`, `token` and `token_type_hint=access_token`; `client_secret_basic` (id and secret form-urlencoded before base64, RFC 6749 §2.3.1) or `client_secret_post` |
//! | §2.2 answer (D2) | only the JSON boolean `"active": true` is active: `"true"`, `1` or a missing member never are; duplicate members are refused |
//! | §4 inactive answers (D5) | nothing else of an inactive answer is read |
//! | checks on active answers (D7) | `exp` and `nbf` (60 s leeway), and `iss` / `aud` against the configuration when the answer names them |
//! | bound tokens (D6) | `cnf.jkt` / `cnf.x5t#S256` become the principal's binding; such a token sent as `Bearer` is refused, like a bound JWT |
//! | 401 to our credentials (D3) | 503 with `Retry-After`, never the client's 401 |
//! | §4 caching (D4) | answers cached by SHA-256 of the token, at most 30 s and never past `exp`; inactive answers 5 s |
//!
//! **Fail closed.** Endpoint down, timeout (5 s by default), a 5xx, a body that is not a JSON object
//! (or over 64 KiB), or a 401/403 to our credentials: the request gets 503 with `Retry-After`
//! ([`AuthErrorKind::Unavailable`]), after at most the timeout.
//! An answer still valid in the cache keeps serving meanwhile.
//!
//! **One call per token.** Concurrent requests with the same uncached token share one upstream call.
//! The cache is bounded (10,000 answers by default), keyed by a hash of the whole token (never the
//! token), and every hit is checked against the injected [`Clock`](crate::Clock). A revoked token is
//! refused once its cached answer expires: set [`cache_ttl`](IntrospectorBuilder::cache_ttl) to what
//! your revocation delay allows, or `Duration::ZERO` to ask on every request.
//!
//! The client secret never appears in `Debug`, logs or errors; tokens never appear in logs.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_auth::introspection::Introspector;
//! use tower_auth::testkit::TestIssuer;
//! use tower_auth::{AuthLayer, Authenticator, Principal, jwt::Algorithm};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // A local authorization server with an introspection endpoint, advertised by its discovery document.
//! let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
//! let introspector = Introspector::builder()
//!     .discover(issuer.url())
//!     .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET)
//!     .build()
//!     .unwrap();
//! let auth = Authenticator::builder().introspection(introspector).build().unwrap();
//!
//! let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service_fn(|req: Request<String>| async move {
//!     let who = req.extensions().get::<Principal>().unwrap();
//!     Ok::<_, Infallible>(Response::new(who.scopes().join(" ")))
//! });
//! let call = |token: &str| {
//!     let req = Request::builder().header("authorization", format!("Bearer {token}")).body(String::new()).unwrap();
//!     svc.clone().oneshot(req)
//! };
//!
//! let token = issuer.opaque_token().scope("orders:read").expires_in(3600).issue();
//! let ok = call(&token).await.unwrap();
//! assert_eq!(ok.status(), StatusCode::OK);
//! assert_eq!(ok.body(), "orders:read");
//!
//! let unknown = call("not-a-token-the-issuer-knows").await.unwrap();
//! assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     unknown.headers()["www-authenticate"],
//!     r#"Bearer error="invalid_token", error_description="Invalid token""#
//! );
//! assert_eq!(issuer.introspection_calls(), 2);
//! # }
//! ```
//!
//! | default | value |
//! |---|---|
//! | client authentication | `client_secret_basic` |
//! | request timeout | 5 s |
//! | answer size limit | 64 KiB |
//! | token size limit | 8 KiB (longer: 401 without a call) |
//! | active answers cached | at most 30 s, never past `exp` |
//! | inactive answers cached | 5 s |
//! | cache capacity | 10,000 answers |
//! | pause after a failed call | 1 s (new tokens get 503 at once; cached answers serve) |
//! | leeway on `exp` / `nbf` | 60 s |

mod cache;
mod client;
mod config;
#[cfg(feature = "redis")]
mod redis;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use config::{ClientAuth, IntrospectorBuilder};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisCache;

use cache::{AnswerCache, Entry};
use client::{Answer, Client, Failure};
use config::Checks;
// The answer reader, for the `fuzzing` entry points.
#[cfg(feature = "fuzzing")]
pub(crate) use {client::Answer as ParsedAnswer, config::Checks as AnswerChecks};

use crate::clock::{SharedClock, unix_millis, unix_seconds_f64};
use crate::error::{AuthError, AuthErrorKind};
use crate::principal::Principal;

/// Validates tokens by asking the authorization server (RFC 7662), with a bounded answer cache and
/// one upstream call per token at a time. Cheap to clone: clones share the cache.
///
/// Build it with [`Introspector::builder`]; see the [module documentation](self).
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

/// The pieces `build()` hands over.
pub(crate) struct Parts {
    pub(crate) client: Client,
    pub(crate) cache: Option<AnswerCache>,
    pub(crate) checks: Checks,
    pub(crate) clock: SharedClock,
    pub(crate) max_token_bytes: usize,
    pub(crate) cache_ttl: Duration,
    pub(crate) negative_cache_ttl: Duration,
    pub(crate) failure_cooldown: Duration,
    #[cfg(feature = "redis")]
    pub(crate) shared_cache: Option<RedisCache>,
}

struct Inner {
    parts: Parts,
    calls: AtomicU64,
    /// Clock millis until which no call is made after a failure.
    paused_until_ms: AtomicU64,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.inner.parts;
        f.debug_struct("Introspector")
            .field("client", &p.client)
            .field("issuer", &p.checks.issuer)
            .field("audiences", &p.checks.audiences)
            .field("cache", &p.cache.is_some())
            .field("cache_ttl", &p.cache_ttl)
            .field("negative_cache_ttl", &p.negative_cache_ttl)
            .field("failure_cooldown", &p.failure_cooldown)
            .finish_non_exhaustive()
    }
}

impl Introspector {
    /// Starts a configuration.
    pub fn builder() -> IntrospectorBuilder {
        IntrospectorBuilder::new()
    }

    pub(crate) fn from_parts(parts: Parts) -> Self {
        Self { inner: Arc::new(Inner { parts, calls: AtomicU64::new(0), paused_until_ms: AtomicU64::new(0) }) }
    }

    /// Starts discovery in the background, when there is one to do and a Tokio runtime runs.
    pub(crate) fn prefetch(&self) {
        if !self.inner.parts.client.needs_discovery() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let this = self.clone();
            handle.spawn(async move {
                if let Err(failure) = this.inner.parts.client.endpoint().await {
                    tracing::warn!(target: "tower_auth::introspection", reason = failure.reason(), "introspection discovery failed");
                }
            });
        }
    }

    /// The introspection endpoint: the configured one, or the discovered one once known.
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.parts.client.known_endpoint()
    }

    /// Calls made to the endpoint so far (coalesced and cached requests make none; for tests and
    /// metrics).
    pub fn upstream_calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Answers in the in-process cache (approximate; for tests and metrics).
    pub async fn cached_answers(&self) -> u64 {
        match &self.inner.parts.cache {
            Some(cache) => cache.entry_count().await,
            None => 0,
        }
    }

    /// Validates `token` and returns its principal.
    ///
    /// Errors: [`AuthErrorKind::InactiveToken`] (inactive answer), `Expired` / `NotYetValid` /
    /// `InvalidIssuer` / `InvalidAudience` / `BindingMismatch` / `MissingClaim` (active answer this
    /// server refuses), `TokenTooLarge`, and [`AuthErrorKind::Unavailable`] (no usable answer: 503).
    /// The principal may carry a [`Binding`](crate::Binding): the caller decides whether the token
    /// was presented with its proof (the [`Authenticator`](crate::Authenticator) refuses bound tokens
    /// sent as `Bearer`).
    pub async fn introspect(&self, token: &str) -> Result<Principal, AuthError> {
        let p = &self.inner.parts;
        if token.len() > p.max_token_bytes {
            return Err(AuthErrorKind::TokenTooLarge.into());
        }
        if token.is_empty() {
            return Err(AuthErrorKind::MalformedToken.into());
        }
        let key = token_hash(token);
        let entry = match &p.cache {
            Some(cache) => cache.get_or_fetch(key, || self.fetch(token, key)).await?,
            None => self.fetch(token, key).await?,
        };
        let now = unix_seconds_f64(p.clock.now());
        entry.answer.judge(now, p.checks.leeway).map_err(AuthError::from)
    }

    /// One answer from the shared cache or the endpoint; failures become 503.
    async fn fetch(&self, token: &str, key: [u8; 32]) -> Result<Arc<Entry>, AuthError> {
        let p = &self.inner.parts;
        let now_ms = unix_millis(p.clock.now());
        #[cfg(feature = "redis")]
        if let Some(shared) = &p.shared_cache
            && let Some((body, valid_until_ms)) = shared.get(&key, now_ms).await
            && let Ok(answer) = Answer::parse(&body, &p.checks)
        {
            metrics::counter!("tower_auth_introspection_cache_total", "result" => "shared_hit").increment(1);
            let ttl = Duration::from_millis(valid_until_ms.saturating_sub(now_ms));
            return Ok(Arc::new(Entry::new(answer, now_ms, ttl)));
        }
        #[cfg(not(feature = "redis"))]
        let _ = key;
        let paused_until = self.inner.paused_until_ms.load(Ordering::Acquire);
        if now_ms < paused_until {
            return Err(AuthError::unavailable((paused_until - now_ms).div_ceil(1000)));
        }
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let result = match p.client.introspect(token).await {
            Ok(body) => Answer::parse(&body, &p.checks).map(|answer| (answer, body)),
            Err(failure) => Err(failure),
        };
        let now_ms = unix_millis(p.clock.now());
        match result {
            Ok((answer, body)) => {
                let outcome = match &answer {
                    Answer::Active { .. } => "active",
                    Answer::Inactive => "inactive",
                    Answer::Refused(_) => "refused",
                };
                metrics::counter!("tower_auth_introspection_requests_total", "outcome" => outcome).increment(1);
                tracing::debug!(target: "tower_auth::introspection", outcome, "token introspected");
                let now = now_ms as f64 / 1000.0;
                let ttl = answer.ttl(now, p.cache_ttl, p.negative_cache_ttl);
                #[cfg(feature = "redis")]
                if let Some(shared) = &p.shared_cache
                    && !ttl.is_zero()
                {
                    shared.put(&key, &body, now_ms, ttl).await;
                }
                #[cfg(not(feature = "redis"))]
                let _ = body;
                Ok(Arc::new(Entry::new(answer, now_ms, ttl)))
            }
            Err(failure) => {
                metrics::counter!("tower_auth_introspection_requests_total", "outcome" => failure.label()).increment(1);
                let reason = failure.reason();
                if failure == Failure::CredentialsRefused {
                    tracing::error!(target: "tower_auth::introspection", reason, "introspection failed: check the client id and secret");
                } else {
                    tracing::warn!(target: "tower_auth::introspection", reason, "introspection failed");
                }
                let cooldown_ms = u64::try_from(p.failure_cooldown.as_millis()).unwrap_or(u64::MAX);
                if cooldown_ms > 0 {
                    self.inner.paused_until_ms.fetch_max(now_ms.saturating_add(cooldown_ms), Ordering::AcqRel);
                }
                Err(AuthError::unavailable(cooldown_ms.div_ceil(1000)))
            }
        }
    }
}

/// SHA-256 of the whole token: the cache key (never the token itself).
fn token_hash(token: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
