//! The authentication layer for Tower / `http` 1 services (axum, hyper, tonic…).
//!
//! [`AuthLayer`] wraps a service; each request is authenticated by the [`Authenticator`](crate::Authenticator) before the
//! inner service sees it. On success the [`Principal`](crate::Principal) is put into the request
//! extensions (with an [`AuthContext`]); on failure the inner service is not called and the
//! rejection (by default the [error table](crate#errors-are-responses)) answers. The middleware never
//! changes the inner service's error type: a rejection is a response, and its
//! [`AuthError`] rides in the response extensions.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_auth::{AuthLayer, Authenticator, Principal, jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
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
//! let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service_fn(|req: Request<String>| async move {
//!     let who = req.extensions().get::<Principal>().unwrap().subject().to_owned();
//!     Ok::<_, Infallible>(Response::new(who))
//! });
//!
//! let token = issuer.token().audience("https://api.test").subject("alice").sign();
//! let ok = svc.clone().oneshot(Request::builder().header("authorization", format!("Bearer {token}")).body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(ok.status(), StatusCode::OK);
//! assert_eq!(ok.body(), "alice");
//!
//! let denied = svc.oneshot(Request::new(String::new())).await.unwrap();
//! assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(denied.headers()["www-authenticate"], "Bearer");
//! # }
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::AuthLayer;
pub use service::Auth;

use std::sync::Arc;

use http::Response;

use crate::error::{AuthError, ChallengeParams};

/// Turns an [`AuthError`] into a response. Implemented by [`DefaultRejection`] and by any
/// `Fn(AuthError) -> Response<B> + Clone`.
pub trait Reject<B>: Clone + Send + Sync + 'static {
    /// The response for `error`.
    fn reject(&self, error: AuthError) -> Response<B>;
}

impl<F, B> Reject<B> for F
where
    F: Fn(AuthError) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn reject(&self, error: AuthError) -> Response<B> {
        self(error)
    }
}

/// The default rejection: status, `WWW-Authenticate`, `Retry-After` and an RFC 9457
/// `application/problem+json` body, as in the error table.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRejection;

impl<B: From<String>> Reject<B> for DefaultRejection {
    fn reject(&self, error: AuthError) -> Response<B> {
        error.into_response()
    }
}

/// Put into the request extensions by the authentication layer (with or without a principal), so
/// route guards know authentication ran and how to phrase their challenges.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub(crate) challenge: Arc<ChallengeParams>,
}

impl AuthContext {
    /// A context with the given challenge parameters (for adapters and tests).
    pub fn new(challenge: Arc<ChallengeParams>) -> Self {
        Self { challenge }
    }

    /// The challenge parameters of the engine that authenticated the request.
    pub fn challenge(&self) -> &Arc<ChallengeParams> {
        &self.challenge
    }
}
