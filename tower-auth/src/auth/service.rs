use std::net::SocketAddr;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::SuccessHeaders;
use super::{AuthContext, Reject, ResponseFuture};
use crate::engine::{Authenticated, Authenticator};
use crate::error::AuthError;
use crate::view::PeerAddr;

/// Authenticates each request before the inner service sees it. Built by
/// [`AuthLayer`](super::AuthLayer).
#[derive(Debug, Clone)]
pub struct Auth<S, R> {
    pub(crate) inner: S,
    pub(crate) auth: Authenticator,
    pub(crate) reject: R,
    pub(crate) peer_addr: fn(&http::Extensions) -> Option<SocketAddr>,
}

impl<S, R> Auth<S, R> {
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

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: Reject<ResBody>,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

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
        // Decided without I/O (a cached token, a missing or malformed credential…): no future to
        // build for the authentication.
        if let Some(outcome) = self.auth.try_authenticate_request_now(&parts) {
            // The readied service is used (or, on a rejection, dropped) now; a fresh clone stays
            // for the next call.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            return match admit(&self.auth, &self.reject, outcome, parts, body) {
                Ok((request, headers)) => ResponseFuture::authenticated(inner.call(request), headers),
                Err(response) => ResponseFuture::rejected(response),
            };
        }
        // The readied service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let reject = self.reject.clone();
        let authenticate = async move {
            let outcome = auth.authenticate_request(&parts).await;
            admit(&auth, &reject, outcome, parts, body)
        };
        ResponseFuture::new(Box::pin(authenticate), inner)
    }
}

/// The request for the inner service (principal and [`AuthContext`] in its extensions) with the
/// success headers, or the rejection.
fn admit<ReqBody, ResBody, R: Reject<ResBody>>(
    auth: &Authenticator,
    reject: &R,
    outcome: Result<Authenticated, AuthError>,
    mut parts: http::request::Parts,
    body: ReqBody,
) -> Result<(Request<ReqBody>, SuccessHeaders), Response<ResBody>> {
    match outcome {
        Ok(authenticated) => {
            parts.extensions.insert(AuthContext { challenge: auth.challenge().clone() });
            let headers = authenticated.response_headers();
            if let Some(principal) = authenticated.into_principal() {
                parts.extensions.insert(principal);
            }
            Ok((Request::from_parts(parts, body), headers))
        }
        Err(error) => {
            let mut response = reject.reject(error.clone());
            response.extensions_mut().insert(error);
            Err(response)
        }
    }
}
