//! Scope requirements per scope or resource.

use std::fmt;
use std::future::{Ready, ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage};
use futures_util::future::{Either, MapOk, TryFutureExt};
use tower_auth::{AuthContext, Principal, ScopeRequirement};

use crate::error::Rejection;

/// Requires scopes of the principal an [`AuthMiddleware`](crate::AuthMiddleware) put into the
/// request: wrap a `web::scope` or `web::resource` with it, inside (after) the authentication.
///
/// The decision is the core's [`ScopeRequirement::check`]: a principal lacking scopes gets 403
/// `insufficient_scope` naming them (`WWW-Authenticate: Bearer error="insufficient_scope",
/// scope="…"`); an anonymous request that optional authentication let through gets 401; a route
/// with no authentication in front at all gets 500 (a misconfiguration). The answer goes through
/// the rejection of the `AuthMiddleware` in front, with the [`AuthError`](tower_auth::AuthError) in
/// the response extensions.
///
/// Not an actix `Guard`: a failing guard answers 404, which hides the real reason from clients.
///
/// ```
/// use actix_web::{App, HttpResponse, test, web};
/// use tower_auth::{Authenticator, jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
/// use tower_auth_actix::{AuthMiddleware, RequireScopes};
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
/// let app = test::init_service(
///     App::new().wrap(AuthMiddleware::new(auth)).service(
///         web::resource("/orders")
///             .wrap(RequireScopes::all_of(["orders:write"]))
///             .route(web::post().to(HttpResponse::Created)),
///     ),
/// )
/// .await;
///
/// let post = |scope: &str| {
///     let token = issuer.token().scope(scope).sign();
///     test::TestRequest::post().uri("/orders").insert_header(("authorization", format!("Bearer {token}"))).to_request()
/// };
/// assert_eq!(test::call_service(&app, post("orders:write")).await.status(), 201);
/// let denied = test::call_service(&app, post("orders:read")).await;
/// assert_eq!(denied.status(), 403);
/// assert!(denied.headers().get("www-authenticate").unwrap().to_str().unwrap().contains(r#"scope="orders:write""#));
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireScopes {
    requirement: ScopeRequirement,
}

impl RequireScopes {
    /// A middleware enforcing `requirement`.
    pub fn new(requirement: ScopeRequirement) -> Self {
        Self { requirement }
    }

    /// Every one of `scopes` is required.
    pub fn all_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(ScopeRequirement::all_of(scopes))
    }

    /// At least one of `scopes` is required.
    pub fn any_of<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(ScopeRequirement::any_of(scopes))
    }

    /// The requirement enforced.
    pub fn requirement(&self) -> &ScopeRequirement {
        &self.requirement
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireScopes
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = CheckScopes<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CheckScopes { service, requirement: self.requirement.clone() }))
    }
}

/// The service [`RequireScopes`] wraps around the inner one.
pub struct CheckScopes<S> {
    service: S,
    requirement: ScopeRequirement,
}

impl<S> CheckScopes<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.service
    }
}

impl<S> fmt::Debug for CheckScopes<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckScopes").field("requirement", &self.requirement).finish_non_exhaustive()
    }
}

type Passed<F, B> = MapOk<F, fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>>;
type Rejected<B> = Ready<Result<ServiceResponse<EitherBody<B>>, Error>>;

impl<S, B> Service<ServiceRequest> for CheckScopes<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Either<Passed<S::Future, B>, Rejected<B>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let decision = {
            let extensions = req.extensions();
            self.requirement
                .check(extensions.get::<Principal>(), extensions.get::<AuthContext>())
                .map_err(|error| (error, extensions.get::<Rejection>().cloned().unwrap_or(Rejection::DEFAULT)))
        };
        match decision {
            Ok(()) => {
                let left: fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> =
                    ServiceResponse::map_into_left_body;
                Either::Left(self.service.call(req).map_ok(left))
            }
            Err((error, reject)) => {
                let response = reject.respond(error);
                Either::Right(ready(Ok(req.into_response(response).map_into_right_body())))
            }
        }
    }
}
