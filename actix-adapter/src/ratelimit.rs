//! Rate limiting after authentication.

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage};
use futures_util::future::LocalBoxFuture;
use tower_auth::Principal;
use tower_auth::ratelimit::{KeyExtractor, PrincipalOrPeerIp, RateLimiter};

use crate::error::Rejection;
use crate::view::ActixRequestView;

/// Limits requests per principal with the core [`RateLimiter`]: the actix-web twin of
/// [`tower_auth::ratelimit::RateLimitLayer`], answering exactly alike.
///
/// It reads the [`Principal`] an [`AuthMiddleware`](crate::AuthMiddleware) put into the request
/// and the peer address of the connection. Over quota, the request gets a 429 (`Retry-After`,
/// `RateLimit-Policy`, `RateLimit`, problem+json of type `…#quota-exceeded`) through the rejection
/// of the `AuthMiddleware` in front; admitted, its response gets the rate-limit headers. A Redis
/// store that fails closed answers 503.
///
/// actix-web runs the **last** `wrap` first: wrap this middleware *before* the `AuthMiddleware`
/// so that authentication runs first.
///
/// ```
/// use actix_web::{App, HttpResponse, test, web};
/// use tower_auth::ratelimit::{Quota, RateLimiter};
/// use tower_auth::{Authenticator, ManualClock, jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
/// use tower_auth_actix::{AuthMiddleware, RateLimitMiddleware};
///
/// # #[actix_web::main] async fn main() {
/// let issuer = LocalIssuer::new("https://issuer.test");
/// issuer.set_default_audience("https://api.test");
/// let validator = JwtValidator::builder()
///     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
///     .audience("https://api.test")
///     .build()
///     .unwrap();
/// let auth = Authenticator::builder().jwt(validator).build().unwrap();
/// let clock = ManualClock::starting_now();
/// let limiter = RateLimiter::builder().quota(Quota::per_minute(1)).clock(clock.clone()).build().unwrap();
/// let app = test::init_service(
///     App::new()
///         .wrap(RateLimitMiddleware::new(limiter)) // runs second
///         .wrap(AuthMiddleware::new(auth)) // runs first
///         .route("/me", web::get().to(HttpResponse::Ok)),
/// )
/// .await;
///
/// let token = issuer.token().subject("alice").sign();
/// let get = || test::TestRequest::get().uri("/me").insert_header(("authorization", format!("Bearer {token}"))).to_request();
/// let ok = test::call_service(&app, get()).await;
/// assert_eq!(ok.status(), 200);
/// assert_eq!(ok.headers().get("ratelimit").unwrap(), r#""default";r=0;t=60"#);
/// let refused = test::call_service(&app, get()).await;
/// assert_eq!(refused.status(), 429);
/// assert_eq!(refused.headers().get("retry-after").unwrap(), "60");
/// clock.advance(std::time::Duration::from_secs(60));
/// assert_eq!(test::call_service(&app, get()).await.status(), 200);
/// # }
/// ```
#[must_use]
pub struct RateLimitMiddleware<E: KeyExtractor = PrincipalOrPeerIp> {
    limiter: RateLimiter<E>,
}

impl<E: KeyExtractor> RateLimitMiddleware<E> {
    /// A middleware limiting with `limiter` (cheap to clone; build it once, outside the
    /// `HttpServer::new` factory, so every worker shares its counters).
    pub fn new(limiter: RateLimiter<E>) -> Self {
        Self { limiter }
    }

    /// The limiter.
    pub fn limiter(&self) -> &RateLimiter<E> {
        &self.limiter
    }
}

impl<E: KeyExtractor> Clone for RateLimitMiddleware<E> {
    fn clone(&self) -> Self {
        Self { limiter: self.limiter.clone() }
    }
}

impl<E: KeyExtractor> fmt::Debug for RateLimitMiddleware<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitMiddleware").field("limiter", &self.limiter).finish()
    }
}

impl<S, B, E> Transform<S, ServiceRequest> for RateLimitMiddleware<E>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    E: KeyExtractor,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RateLimit<S, E>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RateLimit { service: Rc::new(service), limiter: self.limiter.clone() }))
    }
}

/// The service [`RateLimitMiddleware`] wraps around the inner one.
pub struct RateLimit<S, E: KeyExtractor = PrincipalOrPeerIp> {
    service: Rc<S>,
    limiter: RateLimiter<E>,
}

impl<S, E: KeyExtractor> RateLimit<S, E> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }
}

impl<S, E: KeyExtractor> fmt::Debug for RateLimit<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit").field("limiter", &self.limiter).finish_non_exhaustive()
    }
}

impl<S, B, E> Service<ServiceRequest> for RateLimit<S, E>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    E: KeyExtractor,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let limiter = self.limiter.clone();
        Box::pin(async move {
            let principal = req.extensions().get::<Principal>().cloned();
            let verdict = limiter.check(principal.as_ref(), &ActixRequestView::from(&req)).await;
            match verdict {
                Ok(decision) => {
                    let mut response = service.call(req).await?;
                    if let Some(decision) = decision {
                        let headers = response.headers_mut();
                        for (name, value) in decision.response_headers() {
                            if let Ok(value) = HeaderValue::from_str(&value) {
                                headers.append(HeaderName::from_static(name), value);
                            }
                        }
                    }
                    Ok(response.map_into_left_body())
                }
                Err(error) => {
                    let reject = req.extensions().get::<Rejection>().cloned().unwrap_or(Rejection::DEFAULT);
                    Ok(req.into_response(reject.respond(error)).map_into_right_body())
                }
            }
        })
    }
}
