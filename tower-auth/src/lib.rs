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
//! | optional authentication, CORS preflight pass-through | — | available |
//! | token introspection | RFC 7662 | planned |
//! | API keys | — | planned |
//! | DPoP | RFC 9449 | planned (DPoP-bound tokens sent as `Bearer` are already refused) |
//! | client certificates | RFC 8705 | planned (certificate-bound tokens sent as `Bearer` are already refused) |
//! | rate limiting | governor, RateLimit headers | planned |
//!
//! | feature | what it adds |
//! |---|---|
//! | `test-util` | [`testkit`]: a local issuer that mints tokens and serves its JWKS on 127.0.0.1 |
//!
//! # Errors are responses
//!
//! | failure | [`AuthErrorKind`] | status | `WWW-Authenticate` |
//! |---|---|---|---|
//! | no credentials on a protected route | `MissingCredentials` | 401 | `Bearer realm="…"`, no error code |
//! | malformed `Authorization`, two credentials | `MalformedRequest`, `MultipleCredentials` | 400 | `error="invalid_request"` |
//! | bad / expired token, wrong `iss` / `aud` / `typ` / `alg`, unknown key | `InvalidSignature`, `Expired`, … | 401 | `error="invalid_token"` |
//! | missing scope | `InsufficientScope` | 403 | `error="insufficient_scope", scope="…"` |
//! | issuer keys unreachable and nothing cached | `Unavailable` | 503 | none; `Retry-After` |
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

pub mod auth;
pub mod clock;
mod credentials;
mod engine;
pub mod error;
mod json;
pub mod jwt;
mod principal;
pub mod scope;
#[cfg(feature = "test-util")]
pub mod testkit;
mod view;

pub use auth::{AuthContext, AuthLayer, DefaultRejection, Reject};
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Authenticator, AuthenticatorBuilder};
pub use error::{AuthError, AuthErrorKind, ChallengeParams, ConfigError, ResponseParts};
pub use principal::{Binding, Mechanism, Principal, PrincipalBuilder};
pub use scope::{RequireScopesLayer, ScopeRequirement, ScopeSet};
pub use view::{ClientCertificate, HeaderLookup, PeerAddr, RequestView};
