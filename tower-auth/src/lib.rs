//! API authentication for Rust web services, as Tower layers.
//!
//! One framework-neutral engine ([`Authenticator`]) reads requests through [`RequestView`] and answers
//! with a [`Principal`] or an [`AuthError`]. [`AuthLayer`] runs it for any Tower / `http` 1 service
//! (axum, hyper, tonic); `tower-auth-axum` adds extractors and route guards, `tower-auth-actix` a
//! middleware and extractors for actix-web 4 over the same engine.
//!
//! | mechanism | standard | status |
//! |---|---|---|
//! | JWT local validation ([`jwt`]) | RFC 7519, RFC 8725, RFC 9068 | available: JWKS / OIDC discovery, key rotation, verified-token cache |
//! | scope requirements per route ([`scope`]) | RFC 6750 §3.1 | available |
//! | roles from issuer claims, per-route requirements, policy hook ([`authz`]) | RFC 6750 §3.1, RFC 9068 §2.2.3.1 | available: Keycloak / Auth0 / Okta / Entra ID role claims, claims, mechanism, binding, token age, async policies |
//! | optional authentication, CORS preflight pass-through | — | available |
//! | protected resource metadata ([`metadata`]) | RFC 9728 | available: the `/.well-known/oauth-protected-resource` document from the configuration, `resource_metadata` in every challenge |
//! | token introspection ([`introspection`]) | RFC 7662 | available: endpoint from discovery, TTL cache (never past `exp`), single-flight, fail closed |
//! | API keys ([`apikey`]) | — (Stripe / GitHub practice) | available: prefixed keys with a checksum, hashed storage, scopes, expiry, revocation, source networks, usage limits; memory, file and PostgreSQL stores |
//! | DPoP ([`dpop`]) | RFC 9449, RFC 7638 | available: all twelve proof checks, `cnf.jkt` binding (JWT or introspection), `htu` from configured origins, server nonces, bounded replay store, Redis replay store |
//! | client certificates ([`mtls`]) | RFC 8705, RFC 9440 | available: certificate-bound tokens (`cnf.x5t#S256`, JWT or introspection) checked against the client certificate; certificate authentication by SPIFFE ID, DNS / URI / e-mail SAN or CN with an allow-list; certificates from the TLS connection or, from trusted proxies only, `Client-Cert`, nginx escaped PEM or Envoy XFCC headers; proxied chains verified against a proxy CA |
//! | rate limiting ([`ratelimit`]) | governor (GCRA), RateLimit headers draft, RFC 6585 | available: quotas per principal by kind and tier, key extractors, failed-authentication limit per client address, bounded memory, Redis store |
//!
//! | feature | what it adds |
//! |---|---|
//! | `test-util` | [`testkit`]: a local issuer that mints tokens and serves its JWKS (and an introspection endpoint) on 127.0.0.1; a capture of log output; a test PKI ([`testkit::TestCa`]) for client and server certificates |
//! | `postgres` | [`apikey::PostgresStore`]: API-key records in PostgreSQL (tokio-postgres) |
//! | `redis` | [`introspection::RedisCache`]: introspection answers shared between replicas; [`dpop::RedisReplayStore`]: each DPoP proof accepted once across replicas; [`ratelimit::RedisStore`]: rate-limit counters shared by replicas |
//! | `tls` | [`tls::ServerTls`]: a rustls server configuration from PEM that requests and verifies client certificates, for the adapters' TLS serving |
//! | `fuzzing` | hidden entry points into the parsers of untrusted input, for the fuzz targets in `fuzz/`; not a stable API |
//!
//! # Errors are responses
//!
//! | failure | [`AuthErrorKind`] | status | `WWW-Authenticate` |
//! |---|---|---|---|
//! | no credentials on a protected route | `MissingCredentials` | 401 | `Bearer realm="…"` (with DPoP: `Bearer realm="…", DPoP realm="…", algs="…"`), no error code |
//! | malformed `Authorization` (or client-certificate header from a trusted proxy), two credentials | `MalformedRequest`, `MultipleCredentials` | 400 | `error="invalid_request"` |
//! | bad / expired token, wrong `iss` / `aud` / `typ` / `alg`, unknown key; any refused API key | `InvalidSignature`, `Expired`, …, `InvalidApiKey` | 401 | `error="invalid_token"` |
//! | certificate-bound token without its client certificate; a refused client certificate (not X.509, expired, outside the proxy CA, identity not allowed) | `BindingMismatch`, `InvalidClientCertificate` | 401 | `error="invalid_token"` |
//! | bad DPoP proof, replayed `jti`, wrong `htm` / `htu` / `ath` | `InvalidDpopProof` | 401 | `DPoP error="invalid_dpop_proof"` |
//! | DPoP nonce required, missing or stale | `UseDpopNonce` | 401 | `DPoP error="use_dpop_nonce"`, plus `DPoP-Nonce` |
//! | token on the `DPoP` scheme not bound to the proof key | `DpopBindingMismatch` | 401 | `DPoP error="invalid_token"` |
//! | missing scope | `InsufficientScope` | 403 | `error="insufficient_scope", scope="…"` |
//! | refused by a role / claim / mechanism requirement or a policy | `Forbidden` | 403 | none |
//! | issuer keys or introspection endpoint unreachable and nothing cached | `Unavailable` | 503 | none; `Retry-After` |
//! | over a rate-limit quota, or too many failed authentications from the client's address ([`ratelimit`]) | `RateLimited` | 429 | none; `Retry-After`, `RateLimit-Policy`, `RateLimit` |
//!
//! Bodies are `application/problem+json` (RFC 9457) with a short generic detail; the [`AuthError`] also
//! rides in the response extensions. A token, key or secret is never echoed, logged, or shown by
//! `Debug`. Replace the response for every mechanism at once with
//! [`AuthLayer::with_rejection`].
//!
//! # Example
//!
//! ```
//! use tower_auth::{Authenticator, jwt::{Issuer, JwtValidator}};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_auth::ConfigError> {
//! let jwt = JwtValidator::builder()
//!     .issuer(Issuer::discover("https://login.example.com"))
//!     .audience("https://api.example.com")
//!     .build()?;
//! let auth = Authenticator::builder().jwt(jwt).realm("api").build()?;
//! let layer = tower_auth::AuthLayer::new(auth); // wrap any Tower service or axum Router with it
//! # let _ = layer; Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod apikey;
pub mod auth;
pub mod authz;
pub mod clock;
mod credentials;
pub mod dpop;
mod engine;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod introspection;
mod json;
pub mod jwt;
pub mod metadata;
pub mod mtls;
mod principal;
pub mod ratelimit;
#[cfg(feature = "redis")]
mod redis_conn;
pub mod scope;
#[doc = include_str!("../docs/threat-model.md")]
pub mod threat_model {}
#[cfg(any(test, feature = "test-util"))]
mod test_pki;
#[cfg(feature = "test-util")]
pub mod testkit;
#[cfg(feature = "tls")]
pub mod tls;
mod view;

pub use auth::{AuthContext, AuthLayer, DefaultRejection, Reject};
pub use authz::{AccessRule, Authorization, AuthorizeLayer, Policy, Requirement, RoleClaims};
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Authenticated, Authenticator, AuthenticatorBuilder};
pub use error::{AuthError, AuthErrorKind, AuthScheme, ChallengeParams, ConfigError, ResponseParts};
pub use metadata::ResourceMetadata;
pub use principal::{Binding, Mechanism, Principal, PrincipalBuilder};
pub use scope::{RequireScopesLayer, ScopeRequirement, ScopeSet};
pub use view::{ClientCertificate, HeaderLookup, PeerAddr, RequestView};
