//! Authorization beyond scopes: roles mapped from the issuers' claims, composable per-route
//! requirements, and an async policy hook.
//!
//! | piece | what it is |
//! |---|---|
//! | [`RoleClaims`] | where an issuer puts roles (Keycloak, Auth0, Okta, Entra ID, any dotted path); set per issuer with [`Issuer::roles_from`](crate::jwt::Issuer::roles_from), read with [`Principal::roles`](crate::Principal::roles) |
//! | [`Requirement`] | declarative: scopes, roles, claim equals / contains, mechanism, binding, maximum token age; `all` / `any` |
//! | [`Policy`] | an async decision over the principal and the request ([`PolicyContext`]: method, path, client IP, time) — a business rule or an OPA call |
//! | [`Authorization`] | what a route requires: one requirement and any number of policies |
//! | [`AuthorizeLayer`] | the Tower route guard (axum `route_layer`); `tower-auth-axum` and `tower-auth-actix` add extractors and actix middleware over the same [`Authorization`] |
//! | [`AccessRule`] | an [`Authorization`] named by a type, for the adapters' `Authorized<R>` extractors |
//!
//! Roles are mapped once, when a token is validated (the verified-token cache keeps them); a
//! requirement is a few comparisons per request; policies run last, only for callers that passed
//! everything else.
//!
//! # Answers
//!
//! | outcome | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no credentials (optional authentication let the request through) | 401 | `Bearer realm="…"` |
//! | missing scope, where scopes would satisfy the requirement | 403 [`InsufficientScope`](crate::AuthErrorKind::InsufficientScope) | `error="insufficient_scope", scope="…"` |
//! | any other unmet requirement, or a policy that denies | 403 [`Forbidden`](crate::AuthErrorKind::Forbidden) | none (plain problem+json) |
//! | a policy that cannot decide | 503 [`Unavailable`](crate::AuthErrorKind::Unavailable) | none; `Retry-After` |
//! | no authentication layer in front | 500 [`Misconfigured`](crate::AuthErrorKind::Misconfigured) | none |
//!
//! An authenticated caller never gets 401, and nothing here is an actix `Guard` (which answers 404).
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use serde_json::json;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_auth::{AuthLayer, Authenticator, AuthorizeLayer, Requirement, RoleClaims};
//! use tower_auth::{jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let issuer = LocalIssuer::new("https://sso.example.com/realms/acme");
//! issuer.set_default_audience("https://api.test");
//! let validator = JwtValidator::builder()
//!     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()).roles_from(RoleClaims::well_known()))
//!     .audience("https://api.test")
//!     .build()
//!     .unwrap();
//! let auth = Authenticator::builder().jwt(validator).build().unwrap();
//! let reports = ServiceBuilder::new()
//!     .layer(AuthLayer::new(auth))
//!     .layer(AuthorizeLayer::new(Requirement::role("reporter")))
//!     .service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new("reports".to_owned())) });
//!
//! let call = |token: Option<String>| {
//!     let mut req = Request::builder();
//!     if let Some(token) = token { req = req.header("authorization", format!("Bearer {token}")); }
//!     reports.clone().oneshot(req.body(String::new()).unwrap())
//! };
//! // Keycloak puts realm roles in `realm_access.roles`.
//! let reporter = issuer.token().claim("realm_access", json!({"roles": ["reporter"]})).sign();
//! assert_eq!(call(Some(reporter)).await.unwrap().status(), StatusCode::OK);
//!
//! let other = issuer.token().claim("realm_access", json!({"roles": ["viewer"]})).sign();
//! let denied = call(Some(other)).await.unwrap();
//! assert_eq!(denied.status(), StatusCode::FORBIDDEN);
//! assert!(denied.headers().get("www-authenticate").is_none());
//! assert_eq!(denied.headers()["content-type"], "application/problem+json");
//!
//! let anonymous = call(None).await.unwrap();
//! assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
//! # }
//! ```

mod claims;
mod layer;
mod policy;
mod requirement;

use std::sync::Arc;

pub use claims::{ClaimPath, RoleClaims};
pub use layer::{Authorize, AuthorizeLayer, ResponseFuture};
pub use policy::{Decision, IpRange, Policy, PolicyCheck, PolicyContext};
pub use requirement::Requirement;

use crate::auth::AuthContext;
use crate::clock::{Clock, SharedClock};
use crate::error::AuthError;
use crate::principal::Principal;
use crate::scope::ScopeRequirement;
use crate::view::RequestView;

/// What a route requires: a [`Requirement`] (checked first, synchronously) and then every
/// [`Policy`] in order (async; the first refusal answers).
///
/// Built from a requirement, a policy or a scope requirement with `From`, or with
/// [`new`](Self::new) and [`policy`](Self::policy). Cheap to clone.
///
/// ```
/// use tower_auth::authz::{Authorization, Policy, Requirement};
///
/// let payroll = Authorization::new(Requirement::role("payroll"))
///     .policy(Policy::from_fn(|ctx| async move { ctx.method() == "GET" || ctx.principal().has_role("payroll-admin") }));
/// assert_eq!(payroll.policies().len(), 1);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Authorization {
    requirement: Requirement,
    policies: Arc<[Policy]>,
}

impl Authorization {
    /// `requirement`, and no policy yet.
    pub fn new(requirement: impl Into<Requirement>) -> Self {
        Self { requirement: requirement.into(), policies: Arc::new([]) }
    }

    /// Adds a policy, evaluated after the requirement and the policies added before.
    pub fn policy(self, policy: Policy) -> Self {
        let mut policies = self.policies.to_vec();
        policies.push(policy);
        Self { requirement: self.requirement, policies: policies.into() }
    }

    /// Reads the time from `clock` in the requirement's time checks and in every policy's context.
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let clock: SharedClock = Arc::new(clock);
        Self {
            requirement: self.requirement.with_shared_clock(&clock),
            policies: self.policies.iter().map(|p| p.clone().with_shared_clock(clock.clone())).collect(),
        }
    }

    /// The requirement.
    pub fn requirement(&self) -> &Requirement {
        &self.requirement
    }

    /// The policies, in evaluation order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The pending decision of the policies for `principal` and `request`; `None` when there are
    /// none. Call it after [`Requirement::check`] passed. The future owns what it needs (`'static`).
    pub fn policy_check<V: RequestView + ?Sized>(&self, principal: &Principal, request: &V) -> Option<PolicyCheck> {
        if self.policies.is_empty() {
            return None;
        }
        let contexts = self.policies.iter().map(|p| p.context(principal, request)).collect();
        Some(PolicyCheck::new(self.policies.clone(), contexts))
    }

    /// The whole decision for a request: the requirement (see [`Requirement::check`]: 403, or 401 /
    /// 500 without a principal), then the policies.
    pub async fn check<V: RequestView + ?Sized>(
        &self,
        principal: Option<&Principal>,
        context: Option<&AuthContext>,
        request: &V,
    ) -> Result<(), AuthError> {
        self.requirement.check(principal, context)?;
        match principal.and_then(|p| self.policy_check(p, request)) {
            Some(check) => check.await,
            None => Ok(()),
        }
    }
}

impl From<Requirement> for Authorization {
    fn from(requirement: Requirement) -> Self {
        Self::new(requirement)
    }
}

impl From<ScopeRequirement> for Authorization {
    fn from(requirement: ScopeRequirement) -> Self {
        Self::new(requirement)
    }
}

impl From<Policy> for Authorization {
    /// Any authenticated principal, then `policy`.
    fn from(policy: Policy) -> Self {
        Self::new(Requirement::authenticated()).policy(policy)
    }
}

/// An [`Authorization`] named by a type, for extractor guards (`Authorized<R>` in
/// `tower-auth-axum` and `tower-auth-actix`): the handler runs only for a principal that passes it.
///
/// ```
/// use tower_auth::authz::{AccessRule, Authorization, Requirement};
///
/// struct Reporters;
///
/// impl AccessRule for Reporters {
///     fn authorization() -> Authorization {
///         Requirement::role("reporter").into()
///     }
/// }
/// # let _ = Reporters::authorization();
/// ```
pub trait AccessRule: Send + Sync + 'static {
    /// The authorization. Called once per request: keep it cheap (clone a prepared value from a
    /// `static` `LazyLock` if building it is not).
    fn authorization() -> Authorization;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::error::{AuthErrorKind, ChallengeParams};
    use crate::principal::Mechanism;
    use std::time::Duration;

    #[tokio::test]
    async fn requirement_then_policies() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let authz =
            Authorization::new(Requirement::role("reporter").and(Requirement::max_token_age(Duration::from_secs(60))))
                .policy(Policy::from_fn(|ctx| async move { ctx.path() != "/secret" }))
                .with_clock(clock.clone());
        let ctx = AuthContext::new(Arc::new(ChallengeParams::default()));
        let claims = serde_json::json!({"iat": 1_700_000_000}).as_object().cloned().unwrap();
        let reporter = Principal::builder(Mechanism::Jwt, "r").roles(["reporter"]).claims(claims).build();
        let request = |path: &str| http::Request::get(path).body(()).unwrap().into_parts().0;

        authz.check(Some(&reporter), Some(&ctx), &request("/reports")).await.unwrap();
        let e = authz.check(Some(&reporter), Some(&ctx), &request("/secret")).await.unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::Forbidden);
        // The clock reached the requirement.
        clock.advance(Duration::from_secs(61));
        let e = authz.check(Some(&reporter), Some(&ctx), &request("/reports")).await.unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::Forbidden);
        let e = authz.check(None, Some(&ctx), &request("/reports")).await.unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::MissingCredentials);
        assert!(Authorization::from(Requirement::authenticated()).policy_check(&reporter, &request("/")).is_none());
    }

    #[tokio::test]
    async fn policy_clock_via_authorization() {
        let clock = ManualClock::at_unix(1_699_920_000 + 7 * 3600); // 07:00 UTC
        let authz =
            Authorization::from(Policy::from_fn(|ctx| async move { ctx.utc_hour() >= 8 })).with_clock(clock.clone());
        let p = Principal::builder(Mechanism::Jwt, "p").build();
        let request = http::Request::get("/").body(()).unwrap().into_parts().0;
        assert_eq!(authz.policy_check(&p, &request).unwrap().await.unwrap_err().kind(), AuthErrorKind::Forbidden);
        clock.advance(Duration::from_secs(3600));
        authz.policy_check(&p, &request).unwrap().await.unwrap();
    }
}
