//! Claim paths and the role mapping of issuers.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::ConfigError;

/// Where a claim sits in a claim set: member names from the top-level object down.
///
/// Built from a dotted path (`"realm_access.roles"`), or from separate member names when a name
/// contains dots itself, as Auth0's namespaced custom claims do (`"https://example.com/roles"`).
/// Arrays are not indexed: a path ends at the value it names.
///
/// ```
/// use serde_json::json;
/// use tower_auth::authz::ClaimPath;
///
/// let claims = json!({"realm_access": {"roles": ["reporter"]}, "https://example.com/tenant": "acme"});
/// let claims = claims.as_object().unwrap();
/// assert_eq!(ClaimPath::new("realm_access.roles").lookup(claims), Some(&json!(["reporter"])));
/// assert_eq!(ClaimPath::member("https://example.com/tenant").lookup(claims), Some(&json!("acme")));
/// assert_eq!(ClaimPath::new("realm_access.groups").lookup(claims), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    segments: Arc<[String]>,
}

impl ClaimPath {
    /// A dotted path: `"a.b.c"` is member `c` of member `b` of claim `a`.
    pub fn new(dotted: &str) -> Self {
        Self { segments: dotted.split('.').map(str::to_owned).collect() }
    }

    /// One top-level claim, its name taken as is (dots included).
    pub fn member(name: impl Into<String>) -> Self {
        Self { segments: Arc::new([name.into()]) }
    }

    /// A path from member names taken as they are (dots included).
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { segments: segments.into_iter().map(Into::into).collect() }
    }

    /// The member names, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The value at this path, if every member on the way is present and an object.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut value = claims.get(first)?;
        for name in rest {
            value = value.as_object()?.get(name)?;
        }
        Some(value)
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.segments.is_empty() || self.segments.iter().any(String::is_empty) {
            return Err(ConfigError::new(format!("claim path \"{self}\" has an empty member name")));
        }
        Ok(())
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

impl From<&str> for ClaimPath {
    fn from(dotted: &str) -> Self {
        Self::new(dotted)
    }
}

impl From<String> for ClaimPath {
    fn from(dotted: String) -> Self {
        Self::new(&dotted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RoleSource {
    /// A claim holding an array of strings, or one string (one role).
    Path(ClaimPath),
    /// Keycloak client roles: `resource_access.<client>.roles`, for one client or every client.
    KeycloakClients(Option<String>),
}

/// Where an issuer puts roles (or groups, or permissions) in its tokens; the roles found land in
/// [`Principal::roles`](crate::Principal::roles). Configure it per issuer with
/// [`Issuer::roles_from`](crate::jwt::Issuer::roles_from).
///
/// A claim holding an array contributes each string in it; a claim holding a single string
/// contributes that string as one role (never split: group names may contain spaces); other values
/// are ignored. Roles are kept exactly as sent (case-sensitive), without duplicates.
///
/// | constructor | claims read | issuer |
/// |---|---|---|
/// | [`keycloak`](Self::keycloak) | `realm_access.roles`, `resource_access.<every client>.roles` | Keycloak |
/// | [`keycloak_client`](Self::keycloak_client) | `realm_access.roles`, `resource_access.<that client>.roles` | Keycloak |
/// | [`auth0`](Self::auth0) | `permissions` (RBAC with "Add Permissions in the Access Token") | Auth0 |
/// | [`okta`](Self::okta) | `groups` (a groups claim on a custom authorization server) | Okta |
/// | [`entra_id`](Self::entra_id) | `roles` (app roles) | Microsoft Entra ID |
/// | [`well_known`](Self::well_known) (= `Default`) | all of the above: `realm_access.roles`, `resource_access.*.roles`, `permissions`, `groups`, `roles` | any |
/// | [`path`](Self::path) | any dotted path, added to the others | any |
///
/// Scopes (`scope`, and `scp` as Okta and Entra ID send them) are not roles: they are already in
/// [`Principal::scopes`](crate::Principal::scopes). Keycloak client roles are merged unprefixed; name
/// the client with [`keycloak_client`](Self::keycloak_client) so that roles of other clients
/// (`account`'s `manage-account`, …) do not count. In Entra ID, `groups` holds group object ids.
///
/// ```
/// use serde_json::json;
/// use tower_auth::authz::RoleClaims;
///
/// let keycloak = json!({
///     "realm_access": {"roles": ["offline_access", "reporter"]},
///     "resource_access": {"orders-api": {"roles": ["orders-admin"]}, "account": {"roles": ["manage-account"]}},
/// });
/// let roles = RoleClaims::keycloak_client("orders-api").extract(keycloak.as_object().unwrap());
/// assert_eq!(roles, ["offline_access", "reporter", "orders-admin"]);
///
/// // Auth0 namespaced custom claims contain dots: name them as one member.
/// let auth0 = json!({"permissions": ["read:reports"], "https://example.com/roles": ["auditor"]});
/// let mapping = RoleClaims::auth0().claim("https://example.com/roles");
/// assert_eq!(mapping.extract(auth0.as_object().unwrap()), ["read:reports", "auditor"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RoleClaims {
    sources: Vec<RoleSource>,
}

impl Default for RoleClaims {
    /// [`RoleClaims::well_known`].
    fn default() -> Self {
        Self::well_known()
    }
}

impl RoleClaims {
    /// No roles at all (the default of an [`Issuer`](crate::jwt::Issuer)). Add sources with
    /// [`path`](Self::path), [`claim`](Self::claim) and [`and`](Self::and).
    pub fn none() -> Self {
        Self { sources: Vec::new() }
    }

    /// The claim paths the common issuers use, all at once: Keycloak realm roles and the roles of
    /// every client, Auth0 `permissions`, Okta `groups`, Entra ID (and RFC 9068 §2.2.3.1) `roles`.
    pub fn well_known() -> Self {
        Self::keycloak().and(Self::auth0()).and(Self::okta()).and(Self::entra_id())
    }

    /// Keycloak: realm roles (`realm_access.roles`) and the client roles of every client
    /// (`resource_access.<client>.roles`).
    pub fn keycloak() -> Self {
        Self {
            sources: vec![RoleSource::Path(ClaimPath::new("realm_access.roles")), RoleSource::KeycloakClients(None)],
        }
    }

    /// Keycloak: realm roles and the client roles of `client` only (`resource_access.<client>.roles`;
    /// the client id is taken as is, dots included).
    pub fn keycloak_client(client: impl Into<String>) -> Self {
        Self {
            sources: vec![
                RoleSource::Path(ClaimPath::new("realm_access.roles")),
                RoleSource::KeycloakClients(Some(client.into())),
            ],
        }
    }

    /// Auth0: the `permissions` claim of RBAC-enabled APIs.
    pub fn auth0() -> Self {
        Self::none().path("permissions")
    }

    /// Okta: the `groups` claim.
    pub fn okta() -> Self {
        Self::none().path("groups")
    }

    /// Microsoft Entra ID: the `roles` claim (app roles).
    pub fn entra_id() -> Self {
        Self::none().path("roles")
    }

    /// Adds the claim at `path` (dotted: `"app_metadata.roles"`, or a [`ClaimPath`]).
    pub fn path(mut self, path: impl Into<ClaimPath>) -> Self {
        let source = RoleSource::Path(path.into());
        if !self.sources.contains(&source) {
            self.sources.push(source);
        }
        self
    }

    /// Adds the top-level claim `name`, taken as is (for names with dots, such as Auth0's
    /// `https://example.com/roles`).
    pub fn claim(self, name: impl Into<String>) -> Self {
        self.path(ClaimPath::member(name))
    }

    /// Adds every source of `other`.
    pub fn and(mut self, other: RoleClaims) -> Self {
        for source in other.sources {
            if !self.sources.contains(&source) {
                self.sources.push(source);
            }
        }
        self
    }

    /// Whether no claim is read.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The roles `claims` carry, in source order (Keycloak clients in the order of the claims map),
    /// without duplicates.
    pub fn extract(&self, claims: &Map<String, Value>) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut push = |value: &Value| {
            let mut one = |s: &str| {
                if !s.is_empty() && seen.insert(s.to_owned()) {
                    out.push(s.to_owned());
                }
            };
            match value {
                Value::String(s) => one(s),
                Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(&mut one),
                _ => {}
            }
        };
        for source in &self.sources {
            match source {
                RoleSource::Path(path) => {
                    if let Some(value) = path.lookup(claims) {
                        push(value);
                    }
                }
                RoleSource::KeycloakClients(client) => {
                    let Some(access) = claims.get("resource_access").and_then(Value::as_object) else { continue };
                    match client {
                        Some(client) => access.get(client).and_then(client_roles).into_iter().for_each(&mut push),
                        None => access.values().filter_map(client_roles).for_each(&mut push),
                    }
                }
            }
        }
        out
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        for source in &self.sources {
            match source {
                RoleSource::Path(path) => path.check()?,
                RoleSource::KeycloakClients(Some(client)) if client.is_empty() => {
                    return Err(ConfigError::new("a Keycloak client id for roles must not be empty"));
                }
                RoleSource::KeycloakClients(_) => {}
            }
        }
        Ok(())
    }
}

/// `roles` of one entry of Keycloak's `resource_access`.
fn client_roles(entry: &Value) -> Option<&Value> {
    entry.as_object()?.get("roles")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// An access token as Keycloak issues it (realm and client roles).
    fn keycloak_token() -> Map<String, Value> {
        object(json!({
            "iss": "https://sso.example.com/realms/acme",
            "sub": "f:5a7c:alice",
            "typ": "Bearer",
            "azp": "orders-web",
            "realm_access": {"roles": ["offline_access", "uma_authorization", "reporter"]},
            "resource_access": {
                "orders-api": {"roles": ["orders-admin", "reporter"]},
                "account": {"roles": ["manage-account", "view-profile"]}
            },
            "scope": "openid profile email"
        }))
    }

    /// An access token as Auth0 issues it for an API with RBAC and "Add Permissions in the Access
    /// Token" on, plus a namespaced custom claim set by an Action.
    fn auth0_token() -> Map<String, Value> {
        object(json!({
            "iss": "https://acme.eu.auth0.com/",
            "sub": "auth0|64a1",
            "aud": ["https://api.example.com", "https://acme.eu.auth0.com/userinfo"],
            "azp": "Xy12",
            "scope": "openid read:reports",
            "permissions": ["read:reports", "reporter"],
            "https://example.com/roles": ["Auditor"]
        }))
    }

    /// An access token as an Okta custom authorization server issues it with a `groups` claim.
    fn okta_token() -> Map<String, Value> {
        object(json!({
            "ver": 1,
            "iss": "https://acme.okta.com/oauth2/default",
            "aud": "api://default",
            "cid": "0oa1",
            "uid": "00u1",
            "sub": "alice@example.com",
            "scp": ["openid", "reports.read"],
            "groups": ["Everyone", "reporter"]
        }))
    }

    /// An access token as Microsoft Entra ID issues it with app roles.
    fn entra_token() -> Map<String, Value> {
        object(json!({
            "iss": "https://login.microsoftonline.com/72f9/v2.0",
            "aud": "api://orders",
            "azp": "6e74",
            "oid": "690222be",
            "roles": ["Reports.Read", "reporter"],
            "scp": "User.Read",
            "groups": ["0b5f-guid"],
            "ver": "2.0"
        }))
    }

    #[test]
    fn keycloak_realm_and_client_roles() {
        assert_eq!(
            RoleClaims::keycloak().extract(&keycloak_token()),
            ["offline_access", "uma_authorization", "reporter", "manage-account", "view-profile", "orders-admin"]
        );
        assert_eq!(
            RoleClaims::keycloak_client("orders-api").extract(&keycloak_token()),
            ["offline_access", "uma_authorization", "reporter", "orders-admin"]
        );
        assert_eq!(
            RoleClaims::keycloak_client("nope").extract(&keycloak_token()),
            ["offline_access", "uma_authorization", "reporter"]
        );
        // Client roles alone (no realm roles in the token).
        let only_client = object(json!({"resource_access": {"quickstart": {"roles": ["reporter"]}}}));
        assert_eq!(RoleClaims::well_known().extract(&only_client), ["reporter"]);
    }

    #[test]
    fn keycloak_client_ids_may_contain_dots() {
        let claims = object(json!({"resource_access": {"api.example.com": {"roles": ["r"]}}}));
        assert_eq!(RoleClaims::keycloak_client("api.example.com").extract(&claims), ["r"]);
    }

    #[test]
    fn auth0_permissions_and_namespaced_claims() {
        assert_eq!(RoleClaims::auth0().extract(&auth0_token()), ["read:reports", "reporter"]);
        // A dotted path would split the namespace; `claim` takes the name as is.
        assert!(RoleClaims::none().path("https://example.com/roles").extract(&auth0_token()).is_empty());
        assert_eq!(RoleClaims::none().claim("https://example.com/roles").extract(&auth0_token()), ["Auditor"]);
    }

    #[test]
    fn okta_groups_and_not_scp() {
        assert_eq!(RoleClaims::okta().extract(&okta_token()), ["Everyone", "reporter"]);
        assert_eq!(RoleClaims::well_known().extract(&okta_token()), ["Everyone", "reporter"]);
    }

    #[test]
    fn entra_app_roles() {
        assert_eq!(RoleClaims::entra_id().extract(&entra_token()), ["Reports.Read", "reporter"]);
        // well_known also reads `groups` (object ids in Entra ID).
        assert_eq!(RoleClaims::well_known().extract(&entra_token()), ["0b5f-guid", "Reports.Read", "reporter"]);
    }

    #[test]
    fn well_known_is_the_default_and_none_reads_nothing() {
        assert_eq!(RoleClaims::default(), RoleClaims::well_known());
        for token in [keycloak_token(), auth0_token(), okta_token(), entra_token()] {
            assert!(RoleClaims::well_known().extract(&token).iter().any(|r| r == "reporter"));
            assert!(RoleClaims::none().extract(&token).is_empty());
        }
        assert!(RoleClaims::none().is_empty());
        assert!(!RoleClaims::okta().is_empty());
    }

    #[test]
    fn value_shapes() {
        let claims = object(json!({
            "one": "Domain Admins",
            "mixed": ["a", 1, null, {"x": 1}, "", "a", "b"],
            "num": 7,
            "nested": {"deep": {"roles": ["d"]}},
            "resource_access": {"bad": "x", "also": {"roles": "single"}}
        }));
        let roles = RoleClaims::none()
            .path("one")
            .path("mixed")
            .path("num")
            .path("nested.deep.roles")
            .path("nested.missing")
            .and(RoleClaims::keycloak())
            .extract(&claims);
        assert_eq!(roles, ["Domain Admins", "a", "b", "d", "single"]);
    }

    #[test]
    fn sources_are_deduplicated_and_checked() {
        assert_eq!(RoleClaims::okta().path("groups").and(RoleClaims::okta()), RoleClaims::okta());
        assert!(RoleClaims::well_known().check().is_ok());
        assert!(RoleClaims::none().path("a..b").check().is_err());
        assert!(RoleClaims::none().path("").check().is_err());
        assert!(RoleClaims::keycloak_client("").check().is_err());
        assert!(RoleClaims::none().claim("https://example.com/roles").check().is_ok());
    }

    #[test]
    fn claim_path_display_and_lookup() {
        let path = ClaimPath::from_segments(["a", "b.c"]);
        assert_eq!(path.segments(), ["a", "b.c"]);
        assert_eq!(path.to_string(), "a.b.c");
        let claims = object(json!({"a": {"b.c": 1, "b": {"c": 2}}}));
        assert_eq!(path.lookup(&claims), Some(&json!(1)));
        assert_eq!(ClaimPath::new("a.b.c").lookup(&claims), Some(&json!(2)));
        assert_eq!(ClaimPath::from("a.b.c.d").lookup(&claims), None);
        assert_eq!(ClaimPath::from_segments(Vec::<String>::new()).lookup(&claims), None);
    }
}
