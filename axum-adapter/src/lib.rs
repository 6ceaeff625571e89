//! axum 0.8 adapter for [`tower_auth`]: extractors, rejections and route guards.
//!
//! The authentication itself is [`tower_auth::AuthLayer`], a plain Tower layer; this crate adds:
//!
//! | item | what it does |
//! |---|---|
//! | [`auth_layer`] | an `AuthLayer` that also reads the peer address from axum's `ConnectInfo` |
//! | [`rate_limit_layer`] | a [`RateLimitLayer`](tower_auth::ratelimit::RateLimitLayer) (per-principal quotas, 429, `RateLimit` headers) that also reads `ConnectInfo` |
//! | [`Principal`] | extractor of the verified identity; `Option<Principal>` for optional authentication |
//! | [`Claims<T>`] | the token's claims deserialized into your type |
//! | [`Scoped<S>`] | extractor that requires the scopes of a [`ScopeSet`] (403 otherwise) |
//! | [`require_all`], [`require_any`] | scope requirements for `route_layer` |
//! | [`authorize`] | a [`Requirement`](tower_auth::Requirement) (roles, claims, mechanism, token age…) and / or a [`Policy`](tower_auth::Policy) for `route_layer` |
//! | [`Authorized<R>`] | extractor that requires the [`Authorization`] of an [`AccessRule`] (403 otherwise) |
//! | [`AuthRejection`] | the rejection of all of them, rendered with the error table |
//! | [`protected_resource_metadata`] | a `Router` serving the RFC 9728 metadata document at `/.well-known/oauth-protected-resource…` |
//! | `tls::serve` (feature `tls`) | serves a `Router` over TLS; each request carries its connection's client certificate and peer address |
//!
//! ```
//! use axum::{Router, routing::get, body::Body, http::{Request, StatusCode}};
//! use tower::ServiceExt;
//! use tower_auth::{Authenticator, jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
//! use tower_auth_axum::{Principal, auth_layer, require_all};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let issuer = LocalIssuer::new("https://issuer.test");
//! let validator = JwtValidator::builder()
//!     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
//!     .audience("https://api.test")
//!     .build()
//!     .unwrap();
//! let auth = Authenticator::builder().jwt(validator).build().unwrap();
//!
//! async fn me(Principal(p): Principal) -> String { p.subject().to_owned() }
//! let app = Router::new()
//!     .route("/orders", get(|| async { "orders" }).route_layer(require_all(["orders:read"])))
//!     .route("/me", get(me))
//!     .layer(auth_layer(auth));
//!
//! let token = issuer.token().audience("https://api.test").subject("alice").scope("orders:read").sign();
//! let get = |path: &str, token: Option<&str>| {
//!     let mut req = Request::builder().uri(path);
//!     if let Some(t) = token { req = req.header("authorization", format!("Bearer {t}")); }
//!     req.body(Body::empty()).unwrap()
//! };
//! assert_eq!(app.clone().oneshot(get("/me", Some(&token))).await.unwrap().status(), StatusCode::OK);
//! assert_eq!(app.clone().oneshot(get("/orders", Some(&token))).await.unwrap().status(), StatusCode::OK);
//! let denied = app.oneshot(get("/me", None)).await.unwrap();
//! assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(denied.headers()["www-authenticate"], "Bearer");
//! # }
//! ```

#[cfg(feature = "tls")]
pub mod tls;

mod metadata;

pub use metadata::protected_resource_metadata;

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::ops::Deref;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;
use tower_auth::{
    AccessRule, AuthContext, AuthError, AuthErrorKind, Authenticator, Authorization, AuthorizeLayer,
    RequireScopesLayer, ScopeRequirement, ScopeSet,
};

pub use tower_auth;

/// An [`AuthLayer`](tower_auth::AuthLayer) for axum: like `AuthLayer::new`, and the peer address is
/// read from `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info`).
pub fn auth_layer(auth: Authenticator) -> tower_auth::AuthLayer {
    tower_auth::AuthLayer::new(auth).peer_addr_from(connect_info)
}

fn connect_info(extensions: &http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// A [`RateLimitLayer`](tower_auth::ratelimit::RateLimitLayer) for axum: like `RateLimitLayer::new`,
/// and the peer address (the partition of anonymous requests) is read from
/// `ConnectInfo<SocketAddr>`. Add it with `.layer(..)` *before* the [`auth_layer`]: axum runs the
/// last layer first, so authentication comes first.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_auth::ratelimit::{Quota, RateLimiter};
/// use tower_auth_axum::{auth_layer, rate_limit_layer};
/// # fn demo(auth: tower_auth::Authenticator) -> Result<(), tower_auth::ConfigError> {
/// let limiter = RateLimiter::builder().quota(Quota::per_minute(300)).api_key_quota(Quota::per_minute(100)).build()?;
/// let app: Router = Router::new()
///     .route("/me", get(|| async { "me" }))
///     .layer(rate_limit_layer(limiter)) // runs second
///     .layer(auth_layer(auth)); // runs first
/// # Ok(()) }
/// ```
pub fn rate_limit_layer<E: tower_auth::ratelimit::KeyExtractor>(
    limiter: tower_auth::ratelimit::RateLimiter<E>,
) -> tower_auth::ratelimit::RateLimitLayer<E> {
    tower_auth::ratelimit::RateLimitLayer::new(limiter).peer_addr_from(connect_info)
}

/// A `route_layer` requiring every one of `scopes` (403 `insufficient_scope` otherwise).
pub fn require_all<I, S>(scopes: I) -> RequireScopesLayer
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    RequireScopesLayer::new(ScopeRequirement::all_of(scopes))
}

/// A `route_layer` requiring at least one of `scopes` (403 `insufficient_scope` otherwise).
pub fn require_any<I, S>(scopes: I) -> RequireScopesLayer
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    RequireScopesLayer::new(ScopeRequirement::any_of(scopes))
}

/// A `route_layer` enforcing a [`Requirement`](tower_auth::Requirement), a
/// [`Policy`](tower_auth::Policy), a [`ScopeRequirement`] or an [`Authorization`]: 403 for an
/// authenticated caller who does not pass (`insufficient_scope` for scopes, a plain 403 otherwise),
/// 401 for an anonymous one. Same as [`AuthorizeLayer::new`].
///
/// ```
/// use axum::{Router, routing::get, body::Body, http::{Request, StatusCode}};
/// use serde_json::json;
/// use tower::ServiceExt;
/// use tower_auth::{Authenticator, Requirement, RoleClaims, jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
/// use tower_auth_axum::{auth_layer, authorize};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let issuer = LocalIssuer::new("https://acme.okta.com/oauth2/default");
/// issuer.set_default_audience("https://api.test");
/// let validator = JwtValidator::builder()
///     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()).roles_from(RoleClaims::okta()))
///     .audience("https://api.test")
///     .build()
///     .unwrap();
/// let app = Router::new()
///     .route("/reports", get(|| async { "reports" }).route_layer(authorize(Requirement::role("reporter"))))
///     .layer(auth_layer(Authenticator::builder().jwt(validator).build().unwrap()));
///
/// let get = |token: Option<String>| {
///     let mut req = Request::builder().uri("/reports");
///     if let Some(t) = token { req = req.header("authorization", format!("Bearer {t}")); }
///     app.clone().oneshot(req.body(Body::empty()).unwrap())
/// };
/// let reporter = issuer.token().claim("groups", json!(["Everyone", "reporter"])).sign();
/// assert_eq!(get(Some(reporter)).await.unwrap().status(), StatusCode::OK);
/// let other = issuer.token().claim("groups", json!(["Everyone"])).sign();
/// let denied = get(Some(other)).await.unwrap();
/// assert_eq!(denied.status(), StatusCode::FORBIDDEN);
/// assert!(denied.headers().get("www-authenticate").is_none());
/// assert_eq!(get(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
/// # }
/// ```
pub fn authorize(authorization: impl Into<Authorization>) -> AuthorizeLayer {
    AuthorizeLayer::new(authorization)
}

/// The rejection of this crate's extractors: an [`AuthError`] rendered with the error table.
#[derive(Debug, Clone)]
pub struct AuthRejection(pub AuthError);

impl AuthRejection {
    /// The status of the response.
    pub fn status(&self) -> http::StatusCode {
        self.0.status()
    }

    /// The human-readable detail of the response body.
    pub fn body_text(&self) -> String {
        self.0.kind().description().to_owned()
    }

    /// The error.
    pub fn error(&self) -> &AuthError {
        &self.0
    }
}

impl From<AuthError> for AuthRejection {
    fn from(error: AuthError) -> Self {
        Self(error)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AuthRejection {}

fn context_error(parts: &Parts, kind: AuthErrorKind) -> AuthRejection {
    match parts.extensions.get::<AuthContext>() {
        Some(ctx) => AuthRejection(AuthError::new(kind).with_challenge(ctx.challenge().clone())),
        None => AuthRejection(AuthError::new(AuthErrorKind::Misconfigured)),
    }
}

/// The verified identity. Rejects with 401 when authentication was optional and the request had no
/// credentials, and with 500 when no authentication layer ran (a misconfigured router).
///
/// `Option<Principal>` yields `None` for anonymous requests of an optional layer instead.
#[derive(Debug, Clone)]
pub struct Principal(pub tower_auth::Principal);

impl Deref for Principal {
    type Target = tower_auth::Principal;
    fn deref(&self) -> &tower_auth::Principal {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<tower_auth::Principal>() {
            Some(p) => Ok(Self(p.clone())),
            None => Err(context_error(parts, AuthErrorKind::MissingCredentials)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        if parts.extensions.get::<AuthContext>().is_none() {
            return Err(AuthRejection(AuthError::new(AuthErrorKind::Misconfigured)));
        }
        Ok(parts.extensions.get::<tower_auth::Principal>().cloned().map(Self))
    }
}

/// The claims of the verified token, deserialized into `T`. A claim set that does not fit `T` is
/// refused with 401 `invalid_token`.
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(p) = parts.extensions.get::<tower_auth::Principal>() else {
            return Err(context_error(parts, AuthErrorKind::MissingCredentials));
        };
        p.deserialize_claims().map(Claims).map_err(|_| context_error(parts, AuthErrorKind::MissingClaim))
    }
}

/// The verified identity, having every scope the [`ScopeSet`] `R` requires (403 otherwise).
///
/// ```
/// use tower_auth::{ScopeRequirement, ScopeSet};
/// use tower_auth_axum::Scoped;
///
/// struct OrdersWrite;
/// impl ScopeSet for OrdersWrite {
///     fn requirement() -> ScopeRequirement { ScopeRequirement::all_of(["orders:write"]) }
/// }
///
/// async fn create_order(who: Scoped<OrdersWrite>) -> String {
///     format!("created by {}", who.subject())
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::post(create_order);
/// ```
pub struct Scoped<R> {
    principal: tower_auth::Principal,
    _requirement: PhantomData<fn() -> R>,
}

impl<R> Scoped<R> {
    /// The principal.
    pub fn into_inner(self) -> tower_auth::Principal {
        self.principal
    }
}

impl<R> std::fmt::Debug for Scoped<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Scoped").field(&self.principal).finish()
    }
}

impl<R> Deref for Scoped<R> {
    type Target = tower_auth::Principal;
    fn deref(&self) -> &tower_auth::Principal {
        &self.principal
    }
}

impl<S: Send + Sync, R: ScopeSet> FromRequestParts<S> for Scoped<R> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        R::requirement().check_extensions(&parts.extensions).map_err(AuthRejection)?;
        let principal = parts
            .extensions
            .get::<tower_auth::Principal>()
            .cloned()
            .ok_or_else(|| context_error(parts, AuthErrorKind::MissingCredentials))?;
        Ok(Self { principal, _requirement: PhantomData })
    }
}

/// The verified identity, passing the [`Authorization`] of the [`AccessRule`] `R`: its requirement
/// (roles, claims, scopes…) and then its policies. 403 otherwise (`insufficient_scope` for scopes, a
/// plain 403 for the rest), 401 when the request is anonymous, 500 when no authentication layer ran.
///
/// ```
/// use tower_auth::authz::{AccessRule, Authorization, Requirement};
/// use tower_auth_axum::Authorized;
///
/// struct Reporters;
/// impl AccessRule for Reporters {
///     fn authorization() -> Authorization { Requirement::role("reporter").into() }
/// }
///
/// async fn reports(who: Authorized<Reporters>) -> String {
///     format!("reports for {}", who.subject())
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(reports);
/// ```
pub struct Authorized<R> {
    principal: tower_auth::Principal,
    _rule: PhantomData<fn() -> R>,
}

impl<R> Authorized<R> {
    /// The principal.
    pub fn into_inner(self) -> tower_auth::Principal {
        self.principal
    }
}

impl<R> std::fmt::Debug for Authorized<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Authorized").field(&self.principal).finish()
    }
}

impl<R> Deref for Authorized<R> {
    type Target = tower_auth::Principal;
    fn deref(&self) -> &tower_auth::Principal {
        &self.principal
    }
}

impl<S: Send + Sync, R: AccessRule> FromRequestParts<S> for Authorized<R> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let authorization = R::authorization();
        authorization.requirement().check_extensions(&parts.extensions).map_err(AuthRejection)?;
        let principal = parts
            .extensions
            .get::<tower_auth::Principal>()
            .cloned()
            .ok_or_else(|| context_error(parts, AuthErrorKind::MissingCredentials))?;
        if let Some(check) = authorization.policy_check(&principal, &*parts) {
            check.await.map_err(AuthRejection)?;
        }
        Ok(Self { principal, _rule: PhantomData })
    }
}
