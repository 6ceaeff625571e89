//! Declarative, composable requirements on the principal.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::claims::ClaimPath;
use crate::auth::AuthContext;
use crate::clock::{Clock, SharedClock, SystemClock, unix_seconds_f64};
use crate::error::{AuthError, AuthErrorKind};
use crate::principal::{Mechanism, Principal};
use crate::scope::{ScopeRequirement, guard};

/// What a route requires of the authenticated principal: scopes, roles, claims, a mechanism or a
/// binding, a token age, and any combination of them with [`all`](Self::all) / [`any`](Self::any)
/// (or [`and`](Self::and) / [`or`](Self::or)).
///
/// | constructor | satisfied when |
/// |---|---|
/// | [`authenticated`](Self::authenticated) | always (any principal) |
/// | [`scopes`](Self::scopes), [`all_scopes`](Self::all_scopes), [`any_scope`](Self::any_scope) | the [`ScopeRequirement`] is |
/// | [`role`](Self::role), [`all_roles`](Self::all_roles), [`any_role`](Self::any_role) | [`Principal::roles`] holds the role(s) |
/// | [`claim_equals`](Self::claim_equals) | the claim at a dotted path equals a JSON value |
/// | [`claim_contains`](Self::claim_contains) | the claim is an array holding the value, or a space-delimited string holding the word |
/// | [`mechanism`](Self::mechanism) | the principal was authenticated by that [`Mechanism`] |
/// | [`sender_constrained`](Self::sender_constrained), [`dpop_bound`](Self::dpop_bound), [`mtls_bound`](Self::mtls_bound) | the credential is bound to a key ([`Principal::binding`]) |
/// | [`max_token_age`](Self::max_token_age) | the token's `iat` is at most that long ago (by the requirement's [`Clock`]) |
///
/// Failures are 403, never 401: `insufficient_scope` with `scope="…"` when the named scopes would
/// satisfy the requirement (RFC 6750 §3.1), otherwise a plain 403 ([`AuthErrorKind::Forbidden`], no
/// challenge). A request without a principal gets what [`ScopeRequirement::check`] answers: 401
/// after optional authentication, 500 when no authentication ran.
///
/// An empty any-of ([`any`](Self::any), [`any_role`](Self::any_role), [`any_scope`](Self::any_scope)
/// of nothing) is never satisfied; an empty all-of always is.
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use tower_auth::{AuthErrorKind, Mechanism, Principal, authz::Requirement};
///
/// let requirement = Requirement::any_role(["reporter", "admin"])
///     .and(Requirement::claim_equals("tenant", "acme"))
///     .and(Requirement::mechanism(Mechanism::Jwt));
///
/// let claims = json!({"tenant": "acme"}).as_object().unwrap().clone();
/// let alice = Principal::builder(Mechanism::Jwt, "alice").roles(["reporter"]).claims(claims).build();
/// let bob = Principal::builder(Mechanism::Jwt, "bob").roles(["viewer"]).build();
/// assert!(requirement.is_satisfied_by(&alice));
/// let refused = requirement.check(Some(&bob), None).unwrap_err();
/// assert_eq!(refused.status(), 403);
/// assert_eq!(refused.kind(), AuthErrorKind::Forbidden);
/// assert_eq!(refused.www_authenticate(), None);
///
/// // Scope failures keep RFC 6750's answer.
/// let scoped = Requirement::all_scopes(["reports:read"]).and(Requirement::role("reporter"));
/// let refused = scoped.check(Some(&alice), None).unwrap_err();
/// assert_eq!(refused.kind(), AuthErrorKind::InsufficientScope);
/// assert_eq!(refused.required_scope(), Some("reports:read"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Requirement {
    node: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Scopes(ScopeRequirement),
    Roles {
        all: bool,
        roles: Arc<[String]>,
    },
    Claim {
        path: ClaimPath,
        value: Value,
        contains: bool,
    },
    Mechanism(Mechanism),
    /// `None`: any binding; `Some("dpop" | "mtls")`: that kind.
    Bound(Option<&'static str>),
    MaxTokenAge {
        max: Duration,
        clock: SharedClock,
    },
    All(Arc<[Requirement]>),
    Any(Arc<[Requirement]>),
}

/// Why a requirement is not met.
enum Failure {
    /// These scopes would satisfy it: 403 `insufficient_scope`.
    Scopes(Vec<String>),
    /// Nothing the client can ask for would: a plain 403. The label names the requirement for logs.
    Forbidden(&'static str),
}

impl Requirement {
    fn from_node(node: Node) -> Self {
        Self { node }
    }

    /// Any authenticated principal.
    pub fn authenticated() -> Self {
        Self::all([])
    }

    /// A [`ScopeRequirement`].
    pub fn scopes(requirement: ScopeRequirement) -> Self {
        Self::from_node(Node::Scopes(requirement))
    }

    /// Every one of `scopes`.
    pub fn all_scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::scopes(ScopeRequirement::all_of(scopes))
    }

    /// At least one of `scopes` (none given: never satisfied).
    pub fn any_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let requirement = ScopeRequirement::any_of(scopes);
        if requirement.scopes().is_empty() { Self::any([]) } else { Self::scopes(requirement) }
    }

    /// The role `role` (see [`Principal::roles`]).
    pub fn role(role: impl Into<String>) -> Self {
        Self::all_roles([role])
    }

    /// Every one of `roles`.
    pub fn all_roles<I, S>(roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::from_node(Node::Roles { all: true, roles: roles.into_iter().map(Into::into).collect() })
    }

    /// At least one of `roles` (none given: never satisfied).
    pub fn any_role<I, S>(roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::from_node(Node::Roles { all: false, roles: roles.into_iter().map(Into::into).collect() })
    }

    /// The claim at `path` (dotted, or a [`ClaimPath`]) equals `value` (JSON equality: `"1"` is not
    /// `1`). An absent claim never matches.
    pub fn claim_equals(path: impl Into<ClaimPath>, value: impl Into<Value>) -> Self {
        Self::from_node(Node::Claim { path: path.into(), value: value.into(), contains: false })
    }

    /// The claim at `path` contains `value`: an array with an element equal to it, or (for a string
    /// `value`) a string whose space-delimited words include it, the way `scope` is written. Never a
    /// substring match: `"admin"` is not in `"not-admin"`.
    pub fn claim_contains(path: impl Into<ClaimPath>, value: impl Into<Value>) -> Self {
        Self::from_node(Node::Claim { path: path.into(), value: value.into(), contains: true })
    }

    /// Authenticated by `mechanism` (say, only API keys, or only client certificates).
    pub fn mechanism(mechanism: Mechanism) -> Self {
        Self::from_node(Node::Mechanism(mechanism))
    }

    /// Only sender-constrained credentials: a token bound to a DPoP key or a client certificate.
    pub fn sender_constrained() -> Self {
        Self::from_node(Node::Bound(None))
    }

    /// Only DPoP-bound tokens (RFC 9449, `cnf.jkt`).
    pub fn dpop_bound() -> Self {
        Self::from_node(Node::Bound(Some("dpop")))
    }

    /// Only certificate-bound tokens (RFC 8705, `cnf.x5t#S256`). For callers authenticated by the
    /// certificate itself, use [`mechanism`](Self::mechanism)`(Mechanism::ClientCert)`.
    pub fn mtls_bound() -> Self {
        Self::from_node(Node::Bound(Some("mtls")))
    }

    /// The token was issued at most `max` ago: its `iat` claim, against the system clock (replace it
    /// with [`with_clock`](Self::with_clock)). A credential without a numeric `iat` (an API key, a
    /// token without the claim) does not satisfy it.
    pub fn max_token_age(max: Duration) -> Self {
        Self::from_node(Node::MaxTokenAge { max, clock: Arc::new(SystemClock) })
    }

    /// Every one of `requirements` (none: always satisfied).
    pub fn all(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::from_node(Node::All(requirements.into_iter().collect()))
    }

    /// At least one of `requirements` (none: never satisfied).
    pub fn any(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::from_node(Node::Any(requirements.into_iter().collect()))
    }

    /// `self` and `other`.
    pub fn and(self, other: Requirement) -> Self {
        match self.node {
            Node::All(items) => Self::all(items.iter().cloned().chain([other])),
            node => Self::all([Self { node }, other]),
        }
    }

    /// `self` or `other`.
    pub fn or(self, other: Requirement) -> Self {
        match self.node {
            Node::Any(items) => Self::any(items.iter().cloned().chain([other])),
            node => Self::any([Self { node }, other]),
        }
    }

    /// Reads the time from `clock` in every time-based check of this requirement (including nested
    /// ones). Defaults to the system clock.
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.with_shared_clock(&(Arc::new(clock) as SharedClock))
    }

    pub(crate) fn with_shared_clock(self, clock: &SharedClock) -> Self {
        let node = match self.node {
            Node::MaxTokenAge { max, .. } => Node::MaxTokenAge { max, clock: clock.clone() },
            Node::All(items) => Node::All(items.iter().map(|r| r.clone().with_shared_clock(clock)).collect()),
            Node::Any(items) => Node::Any(items.iter().map(|r| r.clone().with_shared_clock(clock)).collect()),
            node => node,
        };
        Self { node }
    }

    /// Whether `principal` satisfies the requirement.
    pub fn is_satisfied_by(&self, principal: &Principal) -> bool {
        self.evaluate(principal).is_ok()
    }

    /// The guard's decision: `Ok` for a satisfying principal; 403 (`insufficient_scope` or
    /// [`Forbidden`](AuthErrorKind::Forbidden)) for one that is not; 401 when authentication ran but
    /// found no credentials (optional mode); 500 when no authentication layer ran (a misconfigured
    /// route). The same decision as [`ScopeRequirement::check`].
    pub fn check(&self, principal: Option<&Principal>, context: Option<&AuthContext>) -> Result<(), AuthError> {
        guard(principal, context, |p| {
            self.evaluate(p).map_err(|failure| match failure {
                Failure::Scopes(scopes) => AuthError::insufficient_scope(scopes.join(" ")),
                Failure::Forbidden(what) => {
                    tracing::debug!(target: "tower_auth", subject = %p.subject().escape_debug(), requirement = what, "forbidden by requirement");
                    AuthError::new(AuthErrorKind::Forbidden)
                }
            })
        })
    }

    /// [`check`](Self::check) against `http` 1 request extensions.
    pub fn check_extensions(&self, extensions: &http::Extensions) -> Result<(), AuthError> {
        self.check(extensions.get::<Principal>(), extensions.get::<AuthContext>())
    }

    fn evaluate(&self, p: &Principal) -> Result<(), Failure> {
        let ok = match &self.node {
            Node::Scopes(requirement) => {
                return if requirement.is_satisfied_by(p) {
                    Ok(())
                } else {
                    Err(Failure::Scopes(requirement.scopes().to_vec()))
                };
            }
            Node::Roles { all: true, roles } => roles.iter().all(|r| p.has_role(r)),
            Node::Roles { all: false, roles } => roles.iter().any(|r| p.has_role(r)),
            Node::Claim { path, value, contains } => path
                .lookup(p.claims())
                .is_some_and(|claim| if *contains { holds(claim, value) } else { claim == value }),
            Node::Mechanism(m) => p.mechanism() == *m,
            Node::Bound(None) => p.binding().is_some(),
            Node::Bound(Some(kind)) => p.binding().is_some_and(|b| b.as_str() == *kind),
            Node::MaxTokenAge { max, clock } => {
                match p.claim("iat").and_then(Value::as_f64).filter(|f| f.is_finite()) {
                    Some(iat) => unix_seconds_f64(clock.now()) - iat <= max.as_secs_f64(),
                    None => false,
                }
            }
            Node::All(items) => {
                let mut scopes = Vec::new();
                for item in items.iter() {
                    match item.evaluate(p) {
                        Ok(()) => {}
                        Err(Failure::Scopes(s)) => merge(&mut scopes, s),
                        Err(forbidden) => return Err(forbidden),
                    }
                }
                return if scopes.is_empty() { Ok(()) } else { Err(Failure::Scopes(scopes)) };
            }
            Node::Any(items) => {
                // Refused with the scopes of the alternatives that scopes alone would satisfy, if any.
                let mut scopes = Vec::new();
                for item in items.iter() {
                    match item.evaluate(p) {
                        Ok(()) => return Ok(()),
                        Err(Failure::Scopes(s)) => merge(&mut scopes, s),
                        Err(Failure::Forbidden(_)) => {}
                    }
                }
                return Err(if scopes.is_empty() { Failure::Forbidden("any") } else { Failure::Scopes(scopes) });
            }
        };
        if ok { Ok(()) } else { Err(Failure::Forbidden(self.label())) }
    }

    fn label(&self) -> &'static str {
        match &self.node {
            Node::Scopes(_) => "scope",
            Node::Roles { .. } => "role",
            Node::Claim { .. } => "claim",
            Node::Mechanism(_) => "mechanism",
            Node::Bound(_) => "binding",
            Node::MaxTokenAge { .. } => "token_age",
            Node::All(_) => "all",
            Node::Any(_) => "any",
        }
    }
}

impl From<ScopeRequirement> for Requirement {
    fn from(requirement: ScopeRequirement) -> Self {
        Self::scopes(requirement)
    }
}

fn merge(into: &mut Vec<String>, scopes: Vec<String>) {
    for s in scopes {
        if !into.contains(&s) {
            into.push(s);
        }
    }
}

/// Whether `claim` contains `value`: an array element equal to it, or a word of a space-delimited
/// string.
fn holds(claim: &Value, value: &Value) -> bool {
    match (claim, value) {
        (Value::Array(items), value) => items.contains(value),
        (Value::String(words), Value::String(word)) => !word.is_empty() && words.split(' ').any(|w| w == word),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::error::ChallengeParams;
    use crate::principal::Binding;
    use serde_json::{Map, json};

    const T0: u64 = 1_700_000_000;

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn principal() -> Principal {
        Principal::builder(Mechanism::Jwt, "alice")
            .scopes(["reports:read", "orders:read"])
            .roles(["reporter", "viewer"])
            .claims(claims(json!({
                "iat": T0,
                "tenant": "acme",
                "level": 3,
                "org": {"id": "o-1", "teams": ["red", "blue"]},
                "amr": ["pwd", "mfa"],
                "scope": "reports:read orders:read"
            })))
            .build()
    }

    fn ctx() -> AuthContext {
        AuthContext::new(Arc::new(ChallengeParams { realm: Some("api".into()), ..Default::default() }))
    }

    fn refusal(r: &Requirement) -> AuthError {
        r.check(Some(&principal()), Some(&ctx())).unwrap_err()
    }

    fn assert_forbidden(r: &Requirement) {
        let e = refusal(r);
        assert_eq!(e.kind(), AuthErrorKind::Forbidden, "{r:?}");
        assert_eq!(e.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(e.www_authenticate(), None);
        assert_eq!(e.required_scope(), None);
    }

    fn assert_passes(r: &Requirement) {
        assert!(r.is_satisfied_by(&principal()), "{r:?}");
        r.check(Some(&principal()), Some(&ctx())).unwrap();
    }

    #[test]
    fn scopes_pass_and_fail_with_insufficient_scope() {
        assert_passes(&Requirement::all_scopes(["reports:read", "orders:read"]));
        assert_passes(&Requirement::any_scope(["admin", "orders:read"]));
        assert_passes(&ScopeRequirement::all_of(["reports:read"]).into());
        let e = refusal(&Requirement::all_scopes(["reports:read", "admin"]));
        assert_eq!(e.kind(), AuthErrorKind::InsufficientScope);
        assert_eq!(
            e.www_authenticate().unwrap(),
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="reports:read admin""#
        );
        assert_eq!(refusal(&Requirement::any_scope(["admin", "root"])).required_scope(), Some("admin root"));
        assert_forbidden(&Requirement::any_scope(Vec::<String>::new()));
    }

    #[test]
    fn roles() {
        assert_passes(&Requirement::role("reporter"));
        assert_passes(&Requirement::all_roles(["reporter", "viewer"]));
        assert_passes(&Requirement::any_role(["admin", "viewer"]));
        assert_passes(&Requirement::all_roles(Vec::<String>::new()));
        assert_forbidden(&Requirement::role("admin"));
        assert_forbidden(&Requirement::role("Reporter"));
        assert_forbidden(&Requirement::all_roles(["reporter", "admin"]));
        assert_forbidden(&Requirement::any_role(["admin", "root"]));
        assert_forbidden(&Requirement::any_role(Vec::<String>::new()));
    }

    #[test]
    fn claims_equal_and_contain() {
        assert_passes(&Requirement::claim_equals("tenant", "acme"));
        assert_passes(&Requirement::claim_equals("level", 3));
        assert_passes(&Requirement::claim_equals("org.id", "o-1"));
        assert_forbidden(&Requirement::claim_equals("tenant", "other"));
        assert_forbidden(&Requirement::claim_equals("level", "3"));
        assert_forbidden(&Requirement::claim_equals("missing", "x"));
        assert_forbidden(&Requirement::claim_equals("org.id.deeper", "o-1"));

        assert_passes(&Requirement::claim_contains("amr", "mfa"));
        assert_passes(&Requirement::claim_contains("org.teams", "blue"));
        assert_passes(&Requirement::claim_contains("scope", "orders:read"));
        assert_forbidden(&Requirement::claim_contains("amr", "hwk"));
        assert_forbidden(&Requirement::claim_contains("scope", "orders"));
        assert_forbidden(&Requirement::claim_contains("scope", ""));
        assert_forbidden(&Requirement::claim_contains("tenant", "ac"));
        assert_forbidden(&Requirement::claim_contains("level", 3));
    }

    #[test]
    fn mechanism_and_binding() {
        assert_passes(&Requirement::mechanism(Mechanism::Jwt));
        assert_forbidden(&Requirement::mechanism(Mechanism::ApiKey));
        assert_forbidden(&Requirement::sender_constrained());
        assert_forbidden(&Requirement::dpop_bound());

        let dpop = Principal::builder(Mechanism::Jwt, "d").binding(Binding::Dpop { jkt: "t".into() }).build();
        let mtls = Principal::builder(Mechanism::Jwt, "m").binding(Binding::Mtls { x5t_s256: "t".into() }).build();
        let key = Principal::builder(Mechanism::ApiKey, "k").build();
        assert!(Requirement::sender_constrained().is_satisfied_by(&dpop));
        assert!(Requirement::sender_constrained().is_satisfied_by(&mtls));
        assert!(Requirement::dpop_bound().is_satisfied_by(&dpop));
        assert!(!Requirement::dpop_bound().is_satisfied_by(&mtls));
        assert!(Requirement::mtls_bound().is_satisfied_by(&mtls));
        assert!(!Requirement::mtls_bound().is_satisfied_by(&dpop));
        assert!(Requirement::mechanism(Mechanism::ApiKey).is_satisfied_by(&key));
        assert!(!Requirement::sender_constrained().is_satisfied_by(&key));
    }

    #[test]
    fn max_token_age_reads_the_clock() {
        let clock = ManualClock::at_unix(T0 + 60);
        let fresh = Requirement::max_token_age(Duration::from_secs(300)).with_clock(clock.clone());
        assert_passes(&fresh);
        clock.advance(Duration::from_secs(240));
        assert_passes(&fresh);
        clock.advance(Duration::from_secs(1));
        assert_forbidden(&fresh);
        // The clock reaches nested requirements too.
        let nested = Requirement::role("reporter")
            .and(Requirement::max_token_age(Duration::from_secs(300)))
            .with_clock(clock.clone());
        assert_forbidden(&nested);
        clock.set(std::time::UNIX_EPOCH + Duration::from_secs(T0 - 30));
        assert_passes(&nested);
        // No iat: refused.
        let key = Principal::builder(Mechanism::ApiKey, "k").build();
        assert!(!fresh.is_satisfied_by(&key));
    }

    #[test]
    fn combinators() {
        assert_passes(&Requirement::authenticated());
        assert_passes(&Requirement::all([Requirement::role("reporter"), Requirement::claim_equals("tenant", "acme")]));
        assert_passes(&Requirement::any([Requirement::role("admin"), Requirement::claim_equals("tenant", "acme")]));
        assert_passes(&Requirement::role("admin").or(Requirement::role("viewer")));
        assert_forbidden(&Requirement::role("reporter").and(Requirement::role("admin")));
        assert_forbidden(&Requirement::any([]));
        assert_forbidden(&Requirement::role("admin").or(Requirement::mechanism(Mechanism::ApiKey)));
        // and / or flatten.
        let r = Requirement::role("a").and(Requirement::role("b")).and(Requirement::role("c"));
        assert!(matches!(&r.node, Node::All(items) if items.len() == 3));
        let r = Requirement::role("a").or(Requirement::role("b")).or(Requirement::role("c"));
        assert!(matches!(&r.node, Node::Any(items) if items.len() == 3));
    }

    #[test]
    fn which_refusal_a_combination_gets() {
        // All: a non-scope failure makes scopes pointless.
        let r = Requirement::all_scopes(["admin"]).and(Requirement::role("root"));
        assert_eq!(refusal(&r).kind(), AuthErrorKind::Forbidden);
        // All of scope failures: every missing scope requirement is named.
        let r = Requirement::all_scopes(["admin"])
            .and(Requirement::role("reporter"))
            .and(Requirement::any_scope(["x", "y"]));
        assert_eq!(refusal(&r).required_scope(), Some("admin x y"));
        // Any: the scope alternative would do.
        let r = Requirement::role("root").or(Requirement::all_scopes(["admin"]));
        assert_eq!(refusal(&r).required_scope(), Some("admin"));
    }

    #[test]
    fn without_a_principal_like_scope_requirements() {
        let r = Requirement::role("reporter");
        let e = r.check(None, Some(&ctx())).unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::MissingCredentials);
        assert_eq!(e.www_authenticate().unwrap(), r#"Bearer realm="api""#);
        assert_eq!(r.check(None, None).unwrap_err().kind(), AuthErrorKind::Misconfigured);
        let mut ext = http::Extensions::new();
        ext.insert(ctx());
        assert_eq!(r.check_extensions(&ext).unwrap_err().status(), http::StatusCode::UNAUTHORIZED);
        ext.insert(principal());
        r.check_extensions(&ext).unwrap();
    }
}
