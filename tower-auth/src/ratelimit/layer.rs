//! The Tower layer: after authentication, before the handler.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::headers::Decision;
use super::key::{KeyExtractor, PrincipalOrPeerIp};
use super::limiter::{Pending, RateLimiter, Verdict};
use crate::auth::{DefaultRejection, Reject};
use crate::principal::Principal;
use crate::view::PeerAddr;

/// Applies [`RateLimit`]: place it inside (after) an [`AuthLayer`](crate::AuthLayer), which puts
/// the principal and the peer address into the request. See the [module docs](super).
#[derive(Debug, Clone)]
#[must_use]
pub struct RateLimitLayer<E: KeyExtractor = PrincipalOrPeerIp, R = DefaultRejection> {
    limiter: RateLimiter<E>,
    reject: R,
    peer_addr: fn(&http::Extensions) -> Option<SocketAddr>,
}

fn no_peer(_: &http::Extensions) -> Option<SocketAddr> {
    None
}

impl<E: KeyExtractor> RateLimitLayer<E> {
    /// A layer limiting with `limiter`, refusing with [`DefaultRejection`] (429 problem+json).
    pub fn new(limiter: RateLimiter<E>) -> Self {
        Self { limiter, reject: DefaultRejection, peer_addr: no_peer }
    }
}

impl<E: KeyExtractor, R> RateLimitLayer<E, R> {
    /// Replaces the rejection (the same hook type as [`AuthLayer::with_rejection`](crate::AuthLayer::with_rejection)).
    pub fn with_rejection<R2>(self, reject: R2) -> RateLimitLayer<E, R2> {
        RateLimitLayer { limiter: self.limiter, reject, peer_addr: self.peer_addr }
    }

    /// How to read the TCP peer from the request extensions when no [`PeerAddr`] extension is there
    /// (the axum adapter's `rate_limit_layer` reads `ConnectInfo`). An [`AuthLayer`](crate::AuthLayer)
    /// in front that knows the peer has already put a `PeerAddr` there.
    pub fn peer_addr_from(mut self, read: fn(&http::Extensions) -> Option<SocketAddr>) -> Self {
        self.peer_addr = read;
        self
    }

    /// The limiter.
    pub fn limiter(&self) -> &RateLimiter<E> {
        &self.limiter
    }
}

impl<S, E: KeyExtractor, R: Clone> Layer<S> for RateLimitLayer<E, R> {
    type Service = RateLimit<S, E, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit { inner, limiter: self.limiter.clone(), reject: self.reject.clone(), peer_addr: self.peer_addr }
    }
}

/// Limits each request by the principal in its extensions; refuses with 429 (or 503 when a Redis
/// store fails closed) and adds the rate-limit headers to every admitted response. Built by
/// [`RateLimitLayer`].
#[derive(Debug, Clone)]
pub struct RateLimit<S, E: KeyExtractor = PrincipalOrPeerIp, R = DefaultRejection> {
    inner: S,
    limiter: RateLimiter<E>,
    reject: R,
    peer_addr: fn(&http::Extensions) -> Option<SocketAddr>,
}

impl<S, E: KeyExtractor, R> RateLimit<S, E, R> {
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

impl<S, E, R, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S, E, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    E: KeyExtractor,
    R: Reject<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        if parts.extensions.get::<PeerAddr>().is_none()
            && let Some(peer) = (self.peer_addr)(&parts.extensions)
        {
            parts.extensions.insert(PeerAddr(peer));
        }
        let pending = self.limiter.begin(parts.extensions.get::<Principal>(), &parts);
        let request = Request::from_parts(parts, body);
        let state = match pending {
            Pending::Ready(Ok(decision)) => State::Inner { fut: self.inner.call(request), decision },
            Pending::Ready(Err(error)) => State::Refused { response: Some(refuse(&self.reject, error)) },
            Pending::Wait(check) => {
                // The readied service goes into the future; a fresh clone stays for the next call.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                State::Checking { check, request: Some(request), inner: Some(inner) }
            }
        };
        ResponseFuture { state, reject: self.reject.clone() }
    }
}

fn refuse<B, R: Reject<B>>(reject: &R, error: crate::AuthError) -> Response<B> {
    let mut response = reject.reject(error.clone());
    response.extensions_mut().insert(error);
    response
}

/// Appends the decision's headers to an admitted response.
fn decorate<B>(response: &mut Response<B>, decision: &Decision) {
    decision.append_to(response.headers_mut());
}

type CheckFuture = Pin<Box<dyn Future<Output = Verdict> + Send + 'static>>;

pin_project! {
    /// The response future of [`RateLimit`].
    pub struct ResponseFuture<S, ReqBody, ResBody, R>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        #[pin]
        state: State<S, S::Future, ReqBody, ResBody>,
        reject: R,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, ReqBody, ResBody> {
        Checking { check: CheckFuture, request: Option<Request<ReqBody>>, inner: Option<S> },
        Inner { #[pin] fut: F, decision: Option<Decision> },
        Refused { response: Option<Response<ResBody>> },
    }
}

impl<S, ReqBody, ResBody, R> std::fmt::Debug for ResponseFuture<S, ReqBody, ResBody, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody, R> Future for ResponseFuture<S, ReqBody, ResBody, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: Reject<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Checking { check, request, inner } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    let (Some(request), Some(mut inner)) = (request.take(), inner.take()) else {
                        panic!("ResponseFuture polled after completion");
                    };
                    match verdict {
                        Ok(decision) => {
                            let fut = inner.call(request);
                            this.state.set(State::Inner { fut, decision });
                        }
                        Err(error) => {
                            let response = refuse(this.reject, error);
                            this.state.set(State::Refused { response: Some(response) });
                        }
                    }
                }
                StateProj::Inner { fut, decision } => {
                    let mut response = ready!(fut.poll(cx))?;
                    if let Some(decision) = decision.take() {
                        decorate(&mut response, &decision);
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Refused { response } => match response.take() {
                    Some(response) => return Poll::Ready(Ok(response)),
                    None => panic!("ResponseFuture polled after completion"),
                },
            }
        }
    }
}
