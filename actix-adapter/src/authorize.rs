//! Authorization beyond scopes: requirements and policies, as middleware and as an extractor.

use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::ops::Deref;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{Either, LocalBoxFuture, MapOk, TryFutureExt};
use tower_auth::{AccessRule, AuthContext, AuthError, AuthErrorKind, Authorization, Principal};

use crate::error::{AuthRejection, Rejection};
use crate::view::ActixRequestView;

/// Enforces an [`Authorization`] — a [`Requirement`](tower_auth::Requirement) (roles, claims,
/// mechanism, binding, token age, scopes) and / or [`Policy`](tower_auth::Policy) hooks — on the
/// principal an [`AuthMiddleware`](crate::AuthMiddleware) put into the request: wrap a `web::scope`
/// or `web::resource` with it, inside (after) the authentication.
///
/// An authenticated caller who does not pass gets 403: `insufficient_scope` with `scope="…"` when
/// scopes would satisfy the requirement, a plain problem+json 403 otherwise (no challenge). An
/// anonymous request (optional authentication) gets 401, a route without authentication in front
/// 500, a policy that cannot decide 503. The answer goes through the rejection of the
/// `AuthMiddleware` in front, with the [`AuthError`] in the response extensions. Policies see the
/// connection's peer address as the client IP.
///
/// Not an actix `Guard`: a failing guard answers 404, which hides the real reason from clients.
///
/// ```
/// use actix_web::{App, HttpResponse, test, web};
/// use serde_json::json;
/// use tower_auth::{Authenticator, Requirement, RoleClaims, jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
/// use tower_auth_actix::{AuthMiddleware, Authorize};
///
/// # #[actix_web::main] async fn main() {
/// let issuer = LocalIssuer::new("https://acme.eu.auth0.com/");
/// issuer.set_default_audience("https://api.test");
/// let validator = JwtValidator::builder()
///     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()).roles_from(RoleClaims::auth0()))
///     .audience("https://api.test")
///     .build()
///     .unwrap();
/// let auth = Authenticator::builder().jwt(validator).build().unwrap();
/// let app = test::init_service(
///     App::new().wrap(AuthMiddleware::new(auth)).service(
///         web::resource("/reports")
///             .wrap(Authorize::new(Requirement::role("read:reports")))
///             .route(web::get().to(HttpResponse::Ok)),
///     ),
/// )
/// .await;
///
/// let get = |permissions: serde_json::Value| {
///     let token = issuer.token().claim("permissions", permissions).sign();
///     test::TestRequest::get().uri("/reports").insert_header(("authorization", format!("Bearer {token}"))).to_request()
/// };
/// assert_eq!(test::call_service(&app, get(json!(["read:reports"]))).await.status(), 200);
/// let denied = test::call_service(&app, get(json!(["read:orders"]))).await;
/// assert_eq!(denied.status(), 403);
/// assert!(denied.headers().get("www-authenticate").is_none());
/// let anonymous = test::call_service(&app, test::TestRequest::get().uri("/reports").to_request()).await;
/// assert_eq!(anonymous.status(), 401);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Authorize {
    authorization: Authorization,
}

impl Authorize {
    /// A middleware enforcing `authorization` (a `Requirement`, a `Policy`, a `ScopeRequirement` or
    /// an `Authorization`).
    pub fn new(authorization: impl Into<Authorization>) -> Self {
        Self { authorization: authorization.into() }
    }

    /// The authorization enforced.
    pub fn authorization(&self) -> &Authorization {
        &self.authorization
    }
}

impl<S, B> Transform<S, ServiceRequest> for Authorize
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = CheckAuthorization<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CheckAuthorization { service: Rc::new(service), authorization: self.authorization.clone() }))
    }
}

/// The service [`Authorize`] wraps around the inner one.
pub struct CheckAuthorization<S> {
    service: Rc<S>,
    authorization: Authorization,
}

impl<S> CheckAuthorization<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }
}

impl<S> fmt::Debug for CheckAuthorization<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckAuthorization").field("authorization", &self.authorization).finish_non_exhaustive()
    }
}

type Passed<F, B> = MapOk<F, fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>>;
type Rejected<B> = Ready<Result<ServiceResponse<EitherBody<B>>, Error>>;
type WithPolicies<B> = LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, Error>>;

impl<S, B> Service<ServiceRequest> for CheckAuthorization<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Either<Either<Passed<S::Future, B>, Rejected<B>>, WithPolicies<B>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let (decision, reject) = {
            let extensions = req.extensions();
            let reject = extensions.get::<Rejection>().cloned().unwrap_or(Rejection::DEFAULT);
            let decision = self
                .authorization
                .requirement()
                .check(extensions.get::<Principal>(), extensions.get::<AuthContext>())
                .map(|()| extensions.get::<Principal>().cloned());
            (decision, reject)
        };
        let check = match decision {
            Err(error) => {
                let response = reject.respond(error);
                return Either::Left(Either::Right(ready(Ok(req.into_response(response).map_into_right_body()))));
            }
            Ok(principal) => principal.and_then(|p| self.authorization.policy_check(&p, &ActixRequestView::from(&req))),
        };
        let Some(check) = check else {
            let left: fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> = ServiceResponse::map_into_left_body;
            return Either::Left(Either::Left(self.service.call(req).map_ok(left)));
        };
        let service = Rc::clone(&self.service);
        Either::Right(Box::pin(async move {
            match check.await {
                Ok(()) => service.call(req).await.map(ServiceResponse::map_into_left_body),
                Err(error) => Ok(req.into_response(reject.respond(error)).map_into_right_body()),
            }
        }))
    }
}

/// The verified identity, passing the [`Authorization`] of the [`AccessRule`] `R`: its requirement
/// and then its policies — a role or policy guard on one handler.
///
/// Answers like [`Authorize`]: 403 (`insufficient_scope` for scopes, plain otherwise), 401 for an
/// anonymous request, 500 when no [`AuthMiddleware`](crate::AuthMiddleware) ran, 503 when a policy
/// cannot decide.
///
/// ```
/// use tower_auth::authz::{AccessRule, Authorization, Requirement};
/// use tower_auth_actix::Authorized;
///
/// struct Reporters;
/// impl AccessRule for Reporters {
///     fn authorization() -> Authorization {
///         Requirement::role("reporter").into()
///     }
/// }
///
/// async fn reports(who: Authorized<Reporters>) -> String {
///     format!("reports for {}", who.subject())
/// }
/// # let _ = actix_web::web::get().to(reports);
/// ```
pub struct Authorized<R>(pub Principal, pub PhantomData<fn() -> R>);

impl<R> Authorized<R> {
    /// Consumes `self`, returning the principal.
    pub fn into_inner(self) -> Principal {
        self.0
    }
}

impl<R> Clone for Authorized<R> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<R> fmt::Debug for Authorized<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Authorized").field(&self.0).finish()
    }
}

impl<R> Deref for Authorized<R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

type Extracted<R> = Result<Authorized<R>, AuthRejection>;

impl<R: AccessRule> FromRequest for Authorized<R> {
    type Error = AuthRejection;
    type Future = Either<Ready<Extracted<R>>, LocalBoxFuture<'static, Extracted<R>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let authorization = R::authorization();
        let decided = {
            let extensions = req.extensions();
            let principal = extensions.get::<Principal>();
            authorization
                .requirement()
                .check(principal, extensions.get::<AuthContext>())
                .and_then(|()| principal.cloned().ok_or_else(|| AuthError::new(AuthErrorKind::Misconfigured)))
        };
        let principal = match decided {
            Ok(principal) => principal,
            Err(error) => return Either::Left(ready(Err(AuthRejection(error)))),
        };
        match authorization.policy_check(&principal, &ActixRequestView::new(req)) {
            None => Either::Left(ready(Ok(Authorized(principal, PhantomData)))),
            Some(check) => Either::Right(Box::pin(async move {
                check.await.map_err(AuthRejection)?;
                Ok(Authorized(principal, PhantomData))
            })),
        }
    }
}
