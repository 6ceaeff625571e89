//! Scope requirements per route: "all of" / "any of", answered with 403 `insufficient_scope` naming
//! the required scopes (RFC 6750 §3.1).
//!
//! The check itself is [`ScopeRequirement::check`], shared by the Tower layer here and the adapters'
//! extractors and middleware.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_auth::{AuthLayer, Authenticator, RequireScopesLayer, ScopeRequirement};
//! use tower_auth::{jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let issuer = LocalIssuer::new("https://issuer.test");
//! let validator = JwtValidator::builder()
//!     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
//!     .audience("https://api.test")
//!     .build()
//!     .unwrap();
//! let auth = Authenticator::builder().jwt(validator).build().unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(AuthLayer::new(auth))
//!     .layer(RequireScopesLayer::new(ScopeRequirement::all_of(["orders:write"])))
//!     .service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) });
//!
//! let bearer = |scope: &str| format!("Bearer {}", issuer.token().audience("https://api.test").scope(scope).sign());
//! let req = |h: String| Request::builder().header("authorization", h).body(String::new()).unwrap();
//! assert_eq!(svc.clone().oneshot(req(bearer("orders:write"))).await.unwrap().status(), StatusCode::OK);
//! let denied = svc.clone().oneshot(req(bearer("orders:read"))).await.unwrap();
//! assert_eq!(denied.status(), StatusCode::FORBIDDEN);
//! assert!(denied.headers()["www-authenticate"].to_str().unwrap().contains(r#"scope="orders:write""#));
//! assert_eq!(svc.oneshot(Request::new(String::new())).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::auth::AuthContext;
use crate::error::{AuthError, AuthErrorKind};
use crate::principal::Principal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    AllOf,
    AnyOf,
}

/// Scopes a route requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    mode: Mode,
    scopes: Arc<[String]>,
    joined: Arc<str>,
}

impl ScopeRequirement {
    fn new<I, S>(mode: Mode, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        let joined: Arc<str> = scopes.join(" ").into();
        Self { mode, scopes: scopes.into(), joined }
    }

    /// Every one of `scopes` is required.
    pub fn all_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Mode::AllOf, scopes)
    }

    /// At least one of `scopes` is required.
    pub fn any_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Mode::AnyOf, scopes)
    }

    /// The scopes named by this requirement.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `principal` satisfies the requirement.
    pub fn is_satisfied_by(&self, principal: &Principal) -> bool {
        match self.mode {
            Mode::AllOf => self.scopes.iter().all(|s| principal.has_scope(s)),
            Mode::AnyOf => self.scopes.is_empty() || self.scopes.iter().any(|s| principal.has_scope(s)),
        }
    }

    /// The guard's decision: `Ok` with a satisfying principal; 403 `insufficient_scope` for a principal
    /// that lacks scopes; 401 when authentication ran but found no credentials (optional mode); 500
    /// when no authentication layer ran at all (a misconfigured route).
    pub fn check(&self, principal: Option<&Principal>, context: Option<&AuthContext>) -> Result<(), AuthError> {
        guard(principal, context, |p| {
            if self.is_satisfied_by(p) { Ok(()) } else { Err(AuthError::insufficient_scope(self.joined.clone())) }
        })
    }

    /// [`check`](Self::check) against `http` 1 request extensions.
    pub fn check_extensions(&self, extensions: &http::Extensions) -> Result<(), AuthError> {
        self.check(extensions.get::<Principal>(), extensions.get::<AuthContext>())
    }
}

/// The decision of every route guard (scopes, [requirements](crate::authz::Requirement)):
/// `decide` judges a principal; a request without one gets 401 when authentication ran (optional
/// mode) and 500 when none ran (a misconfigured route). Refusals carry the engine's challenge.
pub(crate) fn guard(
    principal: Option<&Principal>,
    context: Option<&AuthContext>,
    decide: impl FnOnce(&Principal) -> Result<(), AuthError>,
) -> Result<(), AuthError> {
    let error = match (principal, context) {
        (Some(p), _) => match decide(p) {
            Ok(()) => return Ok(()),
            // A DPoP-bound token only authenticates on the DPoP scheme: the error goes to its challenge.
            Err(error) if matches!(p.binding(), Some(crate::Binding::Dpop { .. })) => {
                error.with_scheme(crate::error::AuthScheme::Dpop)
            }
            Err(error) => error,
        },
        (None, Some(_)) => AuthError::new(AuthErrorKind::MissingCredentials),
        (None, None) => return Err(AuthError::new(AuthErrorKind::Misconfigured)),
    };
    Err(match context {
        Some(ctx) => error.with_challenge(ctx.challenge().clone()),
        None => error,
    })
}

/// A set of scopes known at compile time, for extractor guards.
///
/// Implement it on a marker type and name that type in an adapter's scope-guard extractor
/// (`Scoped<S>` in `tower-auth-axum` and `tower-auth-actix`): the handler then runs only for a
/// principal that satisfies [`requirement`](ScopeSet::requirement).
///
/// ```
/// use tower_auth::{Mechanism, Principal, ScopeRequirement, ScopeSet};
///
/// struct OrdersWrite;
///
/// impl ScopeSet for OrdersWrite {
///     fn requirement() -> ScopeRequirement {
///         ScopeRequirement::all_of(["orders:write"])
///     }
/// }
///
/// let writer = Principal::builder(Mechanism::Jwt, "alice").scopes(["orders:write"]).build();
/// let reader = Principal::builder(Mechanism::Jwt, "bob").scopes(["orders:read"]).build();
/// assert!(OrdersWrite::requirement().is_satisfied_by(&writer));
/// assert!(!OrdersWrite::requirement().is_satisfied_by(&reader));
/// ```
pub trait ScopeSet: Send + Sync + 'static {
    /// The requirement.
    fn requirement() -> ScopeRequirement;
}

/// Applies [`RequireScopes`]: place it inside (after) an [`AuthLayer`](crate::AuthLayer), e.g. with
/// axum's `route_layer`.
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireScopesLayer {
    requirement: ScopeRequirement,
}

impl RequireScopesLayer {
    /// A layer enforcing `requirement`.
    pub fn new(requirement: ScopeRequirement) -> Self {
        Self { requirement }
    }
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes { inner, requirement: self.requirement.clone() }
    }
}

/// Enforces a [`ScopeRequirement`] on the principal the authentication layer put into the request.
#[derive(Debug, Clone)]
pub struct RequireScopes<S> {
    inner: S,
    requirement: ScopeRequirement,
}

impl<S> RequireScopes<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopes<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.requirement.check_extensions(request.extensions()) {
            Ok(()) => ResponseFuture { state: State::Inner { fut: self.inner.call(request) } },
            Err(error) => ResponseFuture { state: State::Rejected { response: Some(error.into_response()) } },
        }
    }
}

pin_project! {
    /// The response future of [`RequireScopes`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] fut: F },
        Rejected { response: Option<Response<B>> },
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { fut } => fut.poll(cx),
            StateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Mechanism;

    #[test]
    fn all_of_and_any_of() {
        let p = Principal::builder(Mechanism::Jwt, "u").scopes(["a", "b"]).build();
        assert!(ScopeRequirement::all_of(["a", "b"]).is_satisfied_by(&p));
        assert!(!ScopeRequirement::all_of(["a", "c"]).is_satisfied_by(&p));
        assert!(ScopeRequirement::any_of(["c", "b"]).is_satisfied_by(&p));
        assert!(!ScopeRequirement::any_of(["c", "d"]).is_satisfied_by(&p));
    }

    #[test]
    fn decisions() {
        let req = ScopeRequirement::all_of(["orders:write", "orders:read"]);
        let ctx =
            AuthContext::new(Arc::new(crate::ChallengeParams { realm: Some("api".into()), ..Default::default() }));
        let p = Principal::builder(Mechanism::Jwt, "u").scopes(["orders:read"]).build();
        let e = req.check(Some(&p), Some(&ctx)).unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::InsufficientScope);
        assert_eq!(e.required_scope(), Some("orders:write orders:read"));
        assert!(e.www_authenticate().unwrap().starts_with(r#"Bearer realm="api", error="insufficient_scope""#));
        assert_eq!(req.check(None, Some(&ctx)).unwrap_err().kind(), AuthErrorKind::MissingCredentials);
        assert_eq!(req.check(None, None).unwrap_err().status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    }
}
