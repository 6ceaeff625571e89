//! The Tower route guard.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::Authorization;
use crate::principal::Principal;

/// Applies [`Authorize`]: place it inside (after) an [`AuthLayer`](crate::AuthLayer), e.g. with
/// axum's `route_layer`. Takes a [`Requirement`](super::Requirement), a [`Policy`](super::Policy), a
/// [`ScopeRequirement`](crate::ScopeRequirement) or an [`Authorization`].
///
/// Refusals are answered with the [error table](super#answers) (the [`AuthError`](crate::AuthError)
/// rides in the response extensions); the inner service is not called.
#[derive(Debug, Clone)]
#[must_use]
pub struct AuthorizeLayer {
    authorization: Authorization,
}

impl AuthorizeLayer {
    /// A layer enforcing `authorization`.
    pub fn new(authorization: impl Into<Authorization>) -> Self {
        Self { authorization: authorization.into() }
    }

    /// The authorization enforced.
    pub fn authorization(&self) -> &Authorization {
        &self.authorization
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize { inner, authorization: self.authorization.clone() }
    }
}

/// Enforces an [`Authorization`] on the principal the authentication layer put into the request.
/// Built by [`AuthorizeLayer`].
#[derive(Debug, Clone)]
pub struct Authorize<S> {
    inner: S,
    authorization: Authorization,
}

impl<S> Authorize<S> {
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

type BoxedResponse<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Authorize<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if let Err(error) = self.authorization.requirement().check_extensions(request.extensions()) {
            return ResponseFuture { state: State::Rejected { response: Some(error.into_response()) } };
        }
        if self.authorization.policies().is_empty() {
            return ResponseFuture { state: State::Inner { fut: self.inner.call(request) } };
        }
        let (parts, body) = request.into_parts();
        // The requirement passed, so a principal is there.
        let check = parts.extensions.get::<Principal>().and_then(|p| self.authorization.policy_check(p, &parts));
        let request = Request::from_parts(parts, body);
        // The readied service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let fut: BoxedResponse<ResBody, S::Error> = Box::pin(async move {
            if let Some(check) = check
                && let Err(error) = check.await
            {
                return Ok(error.into_response());
            }
            inner.call(request).await
        });
        ResponseFuture { state: State::Policies { fut } }
    }
}

pin_project! {
    /// The response future of [`Authorize`].
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner { #[pin] fut: F },
        Policies { fut: BoxedResponse<B, E> },
        Rejected { response: Option<Response<B>> },
    }
}

impl<F, B, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { fut } => fut.poll(cx),
            StateProj::Policies { fut } => fut.as_mut().poll(cx),
            StateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}
