use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

/// Headers for a successful response (lower-case names), from [`Authenticated::response_headers`].
///
/// [`Authenticated::response_headers`]: crate::Authenticated::response_headers
pub(crate) type SuccessHeaders = Vec<(&'static str, String)>;

type AuthFuture<ReqBody, ResBody> =
    Pin<Box<dyn Future<Output = Result<(Request<ReqBody>, SuccessHeaders), Response<ResBody>>> + Send + 'static>>;

pin_project! {
    /// The response future of [`Auth`](super::Auth): authentication, then the inner service.
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        #[pin]
        state: State<S::Future, AuthFuture<ReqBody, ResBody>, Response<ResBody>>,
        inner: Option<S>,
        headers: SuccessHeaders,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, A, R> {
        Authenticating { auth: A },
        Inner { #[pin] fut: F },
        Rejected { response: Option<R> },
        Done,
    }
}

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    /// Authentication still to run, then `inner`.
    pub(crate) fn new(auth: AuthFuture<ReqBody, ResBody>, inner: S) -> Self {
        Self { state: State::Authenticating { auth }, inner: Some(inner), headers: Vec::new() }
    }

    /// Authenticated already: the inner service's future, then the success headers.
    pub(crate) fn authenticated(fut: S::Future, headers: SuccessHeaders) -> Self {
        Self { state: State::Inner { fut }, inner: None, headers }
    }

    /// Refused already: the rejection.
    pub(crate) fn rejected(response: Response<ResBody>) -> Self {
        Self { state: State::Rejected { response: Some(response) }, inner: None, headers: Vec::new() }
    }
}

impl<S, ReqBody, ResBody> std::fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Authenticating { auth } => match ready!(auth.as_mut().poll(cx)) {
                    Ok((request, headers)) => {
                        *this.headers = headers;
                        let Some(mut inner) = this.inner.take() else {
                            this.state.set(State::Done);
                            continue;
                        };
                        let fut = inner.call(request);
                        this.state.set(State::Inner { fut });
                    }
                    Err(rejection) => {
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(rejection));
                    }
                },
                StateProj::Inner { fut } => {
                    let mut response = ready!(fut.poll(cx))?;
                    add_headers(&mut response, std::mem::take(this.headers));
                    return Poll::Ready(Ok(response));
                }
                StateProj::Rejected { response } => {
                    let response = response.take();
                    this.state.set(State::Done);
                    match response {
                        Some(response) => return Poll::Ready(Ok(response)),
                        None => continue,
                    }
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

/// Appends the success headers; a `cache-control` the handler set is kept.
fn add_headers<B>(response: &mut Response<B>, headers: SuccessHeaders) {
    for (name, value) in headers {
        let name = http::HeaderName::from_static(name);
        if name == http::header::CACHE_CONTROL && response.headers().contains_key(&name) {
            continue;
        }
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            response.headers_mut().append(name, value);
        }
    }
}
