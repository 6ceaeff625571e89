//! The authentication middleware.

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpResponse};
use futures_util::future::LocalBoxFuture;
use tower_auth::{AuthContext, AuthError, Authenticator};

use crate::error::Rejection;
use crate::view::ActixRequestView;

/// Authenticates every request with the core [`Authenticator`] before the wrapped service sees it.
///
/// On success it puts an [`AuthContext`] and (unless the request passed anonymously in optional
/// mode) the [`tower_auth::Principal`] into the request extensions, where the
/// [extractors](crate#extractors) and [`RequireScopes`](crate::RequireScopes) read them. On failure
/// the wrapped service is not called: the rejection answers (by default [`default_rejection`], the
/// [error table](tower_auth#errors-are-responses)), with the [`AuthError`] in the response
/// extensions. Errors are responses, never `Err`, so the service's error stays the inner one.
///
/// `AuthMiddleware` is not `Send` (a custom rejection is shared with `Rc`): build it inside the
/// `HttpServer::new` factory from a cloned [`Authenticator`], which is cheap to clone and shares its
/// caches across workers.
///
/// ```
/// use actix_web::{App, HttpResponse, http::header, test, web};
/// use tower_auth::{AuthErrorKind, Authenticator, jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
/// use tower_auth_actix::{AuthMiddleware, Principal, default_rejection};
///
/// # #[actix_web::main] async fn main() {
/// let issuer = LocalIssuer::new("https://issuer.test");
/// let validator = JwtValidator::builder()
///     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
///     .audience("https://api.test")
///     .build()
///     .unwrap();
/// let auth = Authenticator::builder().jwt(validator).realm("api").build().unwrap();
///
/// // One hook for every failure: here, the default answer plus a header.
/// let middleware = AuthMiddleware::new(auth).with_rejection(|error| {
///     let mut response = default_rejection(error);
///     response.headers_mut().insert(header::HeaderName::from_static("x-auth"), header::HeaderValue::from_static("denied"));
///     response
/// });
/// let app = test::init_service(
///     App::new().wrap(middleware).route("/me", web::get().to(|who: Principal| async move { who.subject().to_owned() })),
/// )
/// .await;
///
/// let token = issuer.token().audience("https://api.test").subject("alice").sign();
/// let ok = test::TestRequest::get().uri("/me").insert_header(("authorization", format!("Bearer {token}"))).to_request();
/// assert_eq!(test::call_and_read_body(&app, ok).await, "alice");
///
/// let denied = test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
/// assert_eq!(denied.status(), 401);
/// assert_eq!(denied.headers().get("www-authenticate").unwrap(), r#"Bearer realm="api""#);
/// assert_eq!(denied.headers().get("x-auth").unwrap(), "denied");
/// assert_eq!(denied.response().extensions().get::<tower_auth::AuthError>().unwrap().kind(), AuthErrorKind::MissingCredentials);
/// # }
/// ```
///
/// [`default_rejection`]: crate::default_rejection
#[must_use]
pub struct AuthMiddleware {
    auth: Authenticator,
    reject: Rejection,
}

impl AuthMiddleware {
    /// A middleware authenticating with `auth`, rejecting with
    /// [`default_rejection`](crate::default_rejection).
    pub fn new(auth: Authenticator) -> Self {
        Self { auth, reject: Rejection::DEFAULT }
    }

    /// Replaces the rejection: one hook for every failure of this middleware and of the
    /// [`RequireScopes`](crate::RequireScopes) behind it. The [`AuthError`] is put into the
    /// extensions of the response it returns.
    ///
    /// Extractor failures answer through [`AuthRejection`](crate::AuthRejection) instead (a
    /// `ResponseError` has no access to the request); reshape those with actix-web's
    /// `ErrorHandlers`, reading the [`AuthError`] from the response extensions.
    pub fn with_rejection<F>(self, reject: F) -> Self
    where
        F: Fn(AuthError) -> HttpResponse + 'static,
    {
        Self { auth: self.auth, reject: Rejection::custom(reject) }
    }

    /// The engine.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}

impl fmt::Debug for AuthMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddleware").field("auth", &self.auth).field("reject", &self.reject).finish()
    }
}

impl<S, B> Transform<S, ServiceRequest> for AuthMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = Auth<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(Auth { service: Rc::new(service), auth: self.auth.clone(), reject: self.reject.clone() }))
    }
}

/// The service [`AuthMiddleware`] wraps around the inner one.
pub struct Auth<S> {
    service: Rc<S>,
    auth: Authenticator,
    reject: Rejection,
}

impl<S> Auth<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }
}

impl<S> fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth").field("auth", &self.auth).field("reject", &self.reject).finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for Auth<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // Decided without I/O (a cached token, a missing or malformed credential…): the inner
        // service is called at once, with no authentication future.
        let now = self.auth.try_authenticate_request_now(&ActixRequestView::from(&req));
        if let Some(outcome) = now {
            return match outcome {
                Ok(authenticated) => {
                    let headers = authenticated.response_headers();
                    {
                        let mut extensions = req.extensions_mut();
                        extensions.insert(AuthContext::new(self.auth.challenge().clone()));
                        if let Some(principal) = authenticated.into_principal() {
                            extensions.insert(principal);
                        }
                        extensions.insert(self.reject.clone());
                    }
                    let fut = self.service.call(req);
                    Box::pin(async move {
                        let mut response = fut.await?;
                        add_headers(response.headers_mut(), headers);
                        Ok(response.map_into_left_body())
                    })
                }
                Err(error) => {
                    let response = self.reject.respond(error);
                    let response = req.into_response(response).map_into_right_body();
                    Box::pin(std::future::ready(Ok(response)))
                }
            };
        }
        let service = Rc::clone(&self.service);
        let auth = self.auth.clone();
        let reject = self.reject.clone();
        Box::pin(async move {
            let outcome = auth.authenticate_request(&ActixRequestView::from(&req)).await;
            match outcome {
                Ok(authenticated) => {
                    let headers = authenticated.response_headers();
                    {
                        let mut extensions = req.extensions_mut();
                        extensions.insert(AuthContext::new(auth.challenge().clone()));
                        if let Some(principal) = authenticated.into_principal() {
                            extensions.insert(principal);
                        }
                        extensions.insert(reject);
                    }
                    let mut response = service.call(req).await?;
                    add_headers(response.headers_mut(), headers);
                    Ok(response.map_into_left_body())
                }
                Err(error) => {
                    let response = reject.respond(error);
                    Ok(req.into_response(response).map_into_right_body())
                }
            }
        })
    }
}

/// Appends the headers of a successful authentication (a fresh `DPoP-Nonce`, RFC 9449 §8.2); a
/// `cache-control` the handler set is kept.
fn add_headers(map: &mut HeaderMap, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        let name = HeaderName::from_static(name);
        if name == header::CACHE_CONTROL && map.contains_key(&name) {
            continue;
        }
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.append(name, value);
        }
    }
}
