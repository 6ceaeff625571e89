//! The verified identity: the one output of every mechanism.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Which mechanism authenticated the request.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// A JWT access token validated locally.
    Jwt,
    /// A token validated by the issuer's introspection endpoint (RFC 7662).
    Introspection,
    /// An API key.
    ApiKey,
    /// A client certificate (RFC 8705 §2 style authentication).
    ClientCert,
}

impl Mechanism {
    /// The name used in metrics labels and in the quickstart's `/me` (`"jwt"`, `"introspection"`,
    /// `"api_key"`, `"client_cert"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Introspection => "introspection",
            Self::ApiKey => "api_key",
            Self::ClientCert => "client_cert",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key a token is bound to (its `cnf` claim).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Binding {
    /// DPoP (RFC 9449): the RFC 7638 SHA-256 thumbprint of the proof key, `cnf.jkt`.
    Dpop {
        /// The thumbprint, base64url.
        jkt: String,
    },
    /// Mutual TLS (RFC 8705): the SHA-256 thumbprint of the client certificate, `cnf.x5t#S256`.
    Mtls {
        /// The thumbprint, base64url.
        x5t_s256: String,
    },
}

impl Binding {
    /// `"dpop"` or `"mtls"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Dpop { .. } => "dpop",
            Self::Mtls { .. } => "mtls",
        }
    }

    /// Reads the confirmation (`cnf`, RFC 7800) of a claims object or introspection answer.
    ///
    /// `Ok(None)`: no `cnf`, an unbound token. `Ok(Some(_))`: `cnf` holds exactly one member, `jkt`
    /// (RFC 9449 §6) or `x5t#S256` (RFC 8705 §3.1), a non-empty string. `Err(())`: any other `cnf` —
    /// not an object, empty, both methods, or a method this server cannot check. Such a token is
    /// bound to something that cannot be verified here, so it is refused (fail closed), never taken
    /// as unbound.
    pub(crate) fn from_claims(claims: &Map<String, Value>) -> Result<Option<Self>, ()> {
        let Some(cnf) = claims.get("cnf") else { return Ok(None) };
        let cnf = cnf.as_object().ok_or(())?;
        let mut members = cnf.iter();
        let (Some((method, Value::String(value))), None) = (members.next(), members.next()) else { return Err(()) };
        if value.is_empty() {
            return Err(());
        }
        match method.as_str() {
            "jkt" => Ok(Some(Self::Dpop { jkt: value.clone() })),
            "x5t#S256" => Ok(Some(Self::Mtls { x5t_s256: value.clone() })),
            _ => Err(()),
        }
    }
}

/// A verified caller: who, on whose behalf, with which permissions, by which mechanism.
///
/// Cheap to clone (shared). Put into the request extensions by the authentication layer; read it
/// with the adapters' extractors.
#[derive(Clone)]
pub struct Principal {
    inner: Arc<Inner>,
}

struct Inner {
    subject: String,
    client_id: Option<String>,
    issuer: Option<String>,
    scopes: Vec<String>,
    roles: Vec<String>,
    mechanism: Mechanism,
    binding: Option<Binding>,
    expires_at: Option<u64>,
    claims: Value,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.inner.subject)
            .field("client_id", &self.inner.client_id)
            .field("issuer", &self.inner.issuer)
            .field("scopes", &self.inner.scopes)
            .field("roles", &self.inner.roles)
            .field("mechanism", &self.inner.mechanism)
            .field("binding", &self.inner.binding.as_ref().map(Binding::as_str))
            .field("expires_at", &self.inner.expires_at)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// Starts a principal for `subject`, authenticated by `mechanism`. For custom mechanisms and tests;
    /// the built-in mechanisms build their own.
    pub fn builder(mechanism: Mechanism, subject: impl Into<String>) -> PrincipalBuilder {
        PrincipalBuilder {
            inner: Inner {
                subject: subject.into(),
                client_id: None,
                issuer: None,
                scopes: Vec::new(),
                roles: Vec::new(),
                mechanism,
                binding: None,
                expires_at: None,
                claims: Value::Object(Map::new()),
            },
        }
    }

    /// The subject (`sub`; for a token without `sub`, its client id; for an API key, its owner).
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// The OAuth client the token was issued to (`client_id`, or `azp`), if known.
    pub fn client_id(&self) -> Option<&str> {
        self.inner.client_id.as_deref()
    }

    /// The issuer (`iss`), for token mechanisms.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// The granted scopes, without duplicates, in the order received.
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes.iter().any(|s| s == scope)
    }

    /// The roles (or groups, or permissions) mapped from the credential, without duplicates, in the
    /// order found. For JWTs they come from the claims the issuer's
    /// [`RoleClaims`](crate::authz::RoleClaims) names (see
    /// [`Issuer::roles_from`](crate::jwt::Issuer::roles_from)); empty when none is configured.
    pub fn roles(&self) -> &[String] {
        &self.inner.roles
    }

    /// Whether `role` was mapped (exact, case-sensitive comparison).
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.roles.iter().any(|r| r == role)
    }

    /// The mechanism that authenticated the request.
    pub fn mechanism(&self) -> Mechanism {
        self.inner.mechanism
    }

    /// The key the token is bound to, if it is sender-constrained.
    pub fn binding(&self) -> Option<&Binding> {
        self.inner.binding.as_ref()
    }

    /// When the credential expires.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.expires_at.map(|s| UNIX_EPOCH + Duration::from_secs(s))
    }

    /// The raw claims (a JSON object; empty for mechanisms without claims).
    pub fn claims(&self) -> &Map<String, Value> {
        match &self.inner.claims {
            Value::Object(map) => map,
            _ => unreachable_empty(),
        }
    }

    /// One claim by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims().get(name)
    }

    /// The claims deserialized into `T`.
    pub fn deserialize_claims<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.inner.claims)
    }
}

fn unreachable_empty() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

/// Builds a [`Principal`].
#[must_use]
pub struct PrincipalBuilder {
    inner: Inner,
}

impl fmt::Debug for PrincipalBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrincipalBuilder").field("subject", &self.inner.subject).finish_non_exhaustive()
    }
}

impl PrincipalBuilder {
    /// Sets the client id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.inner.client_id = Some(client_id.into());
        self
    }

    /// Sets the issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.inner.issuer = Some(issuer.into());
        self
    }

    /// Adds scopes (duplicates are ignored).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for s in scopes {
            let s = s.into();
            if !s.is_empty() && !self.inner.scopes.contains(&s) {
                self.inner.scopes.push(s);
            }
        }
        self
    }

    /// Adds roles (duplicates and empty names are ignored).
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for r in roles {
            let r = r.into();
            if !r.is_empty() && !self.inner.roles.contains(&r) {
                self.inner.roles.push(r);
            }
        }
        self
    }

    /// Sets the binding.
    pub fn binding(mut self, binding: Binding) -> Self {
        self.inner.binding = Some(binding);
        self
    }

    /// Sets the expiry, in seconds since the Unix epoch.
    pub fn expires_at_unix(mut self, secs: u64) -> Self {
        self.inner.expires_at = Some(secs);
        self
    }

    /// Sets the raw claims.
    pub fn claims(mut self, claims: Map<String, Value>) -> Self {
        self.inner.claims = Value::Object(claims);
        self
    }

    /// Finishes the principal.
    pub fn build(self) -> Principal {
        Principal { inner: Arc::new(self.inner) }
    }
}

/// Reads scopes from `scope` (space-delimited string, RFC 9068 §2.2.3) and `scp` (an array of strings,
/// or a space-delimited string as some issuers send it).
pub(crate) fn scopes_from_claims(claims: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => s.split(' ').for_each(&mut push),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut push),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_from_both_claims_without_duplicates() {
        let claims = json!({"scope": "a b  a", "scp": ["b", "c", 3]});
        let Value::Object(map) = claims else { unreachable!() };
        assert_eq!(scopes_from_claims(&map), ["a", "b", "c"]);
    }

    #[test]
    fn typed_claims() {
        #[derive(serde::Deserialize)]
        struct Mine {
            tenant: String,
        }
        let Value::Object(map) = json!({"tenant": "acme"}) else { unreachable!() };
        let p = Principal::builder(Mechanism::Jwt, "u").claims(map).build();
        assert_eq!(p.deserialize_claims::<Mine>().unwrap().tenant, "acme");
        assert!(format!("{p:?}").contains("\"u\""));
    }

    #[test]
    fn roles_without_duplicates() {
        let p = Principal::builder(Mechanism::Jwt, "u").roles(["a", "", "b", "a"]).roles(vec!["c".to_owned()]).build();
        assert_eq!(p.roles(), ["a", "b", "c"]);
        assert!(p.has_role("b"));
        assert!(!p.has_role("B"));
        assert!(format!("{p:?}").contains("roles"));
        assert!(Principal::builder(Mechanism::ApiKey, "k").build().roles().is_empty());
    }

    #[test]
    fn binding_from_cnf() {
        let read = |v: Value| {
            let Value::Object(map) = v else { unreachable!() };
            Binding::from_claims(&map)
        };
        assert_eq!(read(json!({"cnf": {"jkt": "abc"}})), Ok(Some(Binding::Dpop { jkt: "abc".into() })));
        assert_eq!(read(json!({"cnf": {"x5t#S256": "xyz"}})), Ok(Some(Binding::Mtls { x5t_s256: "xyz".into() })));
        assert_eq!(read(json!({"sub": "a"})), Ok(None));
        // Fail closed: a confirmation that cannot be checked here is never read as "unbound".
        for cnf in [
            json!("x"),
            json!({}),
            json!({"jkt": ""}),
            json!({"jkt": 1}),
            json!({"kid": "k"}),
            json!({"jwk": {"kty": "EC"}}),
            json!({"jkt": "a", "x5t#S256": "b"}),
            json!({"jkt": "a", "kid": "k"}),
        ] {
            assert_eq!(read(json!({ "cnf": cnf })), Err(()), "{cnf}");
        }
    }
}
