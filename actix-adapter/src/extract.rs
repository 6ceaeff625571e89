//! Extractors: the verified identity, typed claims, and scope guards.

use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;
use tower_auth::{AuthContext, AuthError, AuthErrorKind, ScopeSet};

use crate::error::AuthRejection;

/// The error for a request that carries no principal: 401 when authentication ran but let the
/// request through anonymously (optional mode), 500 when no authentication ran at all.
fn missing_principal(context: Option<&AuthContext>) -> AuthError {
    match context {
        Some(context) => AuthError::new(AuthErrorKind::MissingCredentials).with_challenge(context.challenge().clone()),
        None => AuthError::new(AuthErrorKind::Misconfigured),
    }
}

fn principal_of(req: &HttpRequest) -> Result<tower_auth::Principal, AuthError> {
    let extensions = req.extensions();
    match extensions.get::<tower_auth::Principal>() {
        Some(principal) => Ok(principal.clone()),
        None => Err(missing_principal(extensions.get::<AuthContext>())),
    }
}

/// The verified identity the [`AuthMiddleware`](crate::AuthMiddleware) put into the request.
///
/// Rejects with 401 (and the middleware's challenge) when optional authentication let the request
/// through anonymously, and with 500 when no `AuthMiddleware` ran: a missing principal where the
/// middleware should have put one is a misconfiguration. Take `Option<Principal>` for routes that
/// serve anonymous callers too (through actix-web's blanket `Option<T>` extractor: `None` for any
/// rejection, including that 500, so check such routes sit behind the middleware).
///
/// ```
/// use tower_auth_actix::Principal;
///
/// async fn me(who: Principal) -> String {
///     format!("{} via {}", who.subject(), who.mechanism())
/// }
///
/// async fn greeting(who: Option<Principal>) -> String {
///     match who {
///         Some(who) => format!("hello {}", who.subject()),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// # let _ = actix_web::web::get().to(me);
/// # let _ = actix_web::web::get().to(greeting);
/// ```
#[derive(Debug, Clone)]
pub struct Principal(pub tower_auth::Principal);

impl Principal {
    /// Consumes `self`, returning the core principal.
    pub fn into_inner(self) -> tower_auth::Principal {
        self.0
    }
}

impl Deref for Principal {
    type Target = tower_auth::Principal;

    fn deref(&self) -> &tower_auth::Principal {
        &self.0
    }
}

impl From<Principal> for tower_auth::Principal {
    fn from(principal: Principal) -> Self {
        principal.0
    }
}

impl FromRequest for Principal {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(principal_of(req).map(Principal).map_err(AuthRejection))
    }
}

/// The claims of the verified token, deserialized into `T` (with
/// [`Principal::deserialize_claims`](tower_auth::Principal::deserialize_claims)).
///
/// Rejects like [`Principal`] when there is none, and with 401 `invalid_token`
/// ([`AuthErrorKind::MissingClaim`]) when the claims do not fit `T`.
///
/// ```
/// use serde::Deserialize;
/// use tower_auth_actix::Claims;
///
/// #[derive(Deserialize)]
/// struct Tenant {
///     tenant: String,
/// }
///
/// async fn dashboard(Claims(claims): Claims<Tenant>) -> String {
///     format!("tenant {}", claims.tenant)
/// }
/// # let _ = actix_web::web::get().to(dashboard);
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

impl<T> Claims<T> {
    /// Consumes `self`, returning the claims.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Claims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Claims<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Claims<T> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let result = principal_of(req).and_then(|principal| {
            principal.deserialize_claims::<T>().map(Claims).map_err(|_| {
                let error = AuthError::new(AuthErrorKind::MissingClaim);
                match req.extensions().get::<AuthContext>() {
                    Some(context) => error.with_challenge(context.challenge().clone()),
                    None => error,
                }
            })
        });
        ready(result.map_err(AuthRejection))
    }
}

/// The verified identity, satisfying the requirement of the [`ScopeSet`] `S`: a scope guard on one
/// handler.
///
/// The decision is the core's [`ScopeRequirement::check`](tower_auth::ScopeRequirement::check):
/// 403 `insufficient_scope` naming the required scopes, 401 for an anonymous request (optional
/// mode), 500 when no [`AuthMiddleware`](crate::AuthMiddleware) ran. For a whole scope or resource,
/// [`RequireScopes`](crate::RequireScopes) does the same as middleware.
///
/// ```
/// use tower_auth::{ScopeRequirement, ScopeSet};
/// use tower_auth_actix::Scoped;
///
/// struct OrdersWrite;
/// impl ScopeSet for OrdersWrite {
///     fn requirement() -> ScopeRequirement {
///         ScopeRequirement::all_of(["orders:write"])
///     }
/// }
///
/// async fn create_order(who: Scoped<OrdersWrite>) -> String {
///     format!("created by {}", who.subject())
/// }
/// # let _ = actix_web::web::post().to(create_order);
/// ```
pub struct Scoped<S>(pub tower_auth::Principal, pub PhantomData<fn() -> S>);

impl<S> Scoped<S> {
    /// Consumes `self`, returning the principal.
    pub fn into_inner(self) -> tower_auth::Principal {
        self.0
    }
}

impl<S> Clone for Scoped<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<S> fmt::Debug for Scoped<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scoped").field(&self.0).finish()
    }
}

impl<S> Deref for Scoped<S> {
    type Target = tower_auth::Principal;

    fn deref(&self) -> &tower_auth::Principal {
        &self.0
    }
}

impl<S: ScopeSet> FromRequest for Scoped<S> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let extensions = req.extensions();
        let principal = extensions.get::<tower_auth::Principal>();
        let context = extensions.get::<AuthContext>();
        let result = match S::requirement().check(principal, context) {
            Ok(()) => principal.cloned().ok_or_else(|| missing_principal(context)),
            Err(error) => Err(error),
        };
        ready(result.map(|p| Scoped(p, PhantomData)).map_err(AuthRejection))
    }
}
