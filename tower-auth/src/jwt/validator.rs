//! The JWT validator: configuration, the fixed verification order, and the verified-token cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::alg::Algorithm;
use super::compact;
use super::jwk::{JwkPolicy, VerifyingKey};
use super::jwks::{JwksSettings, KeySourceSpec, KeyStore};
use crate::authz::RoleClaims;
use crate::clock::{Clock, SharedClock, SystemClock, unix_seconds_f64};
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::principal::{Binding, Mechanism, Principal, scopes_from_claims};

/// Which `typ` headers an access token may carry (RFC 8725 §3.11–3.12, RFC 9068 §4).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenTypes {
    /// `at+jwt` (RFC 9068), `JWT`, or no `typ`; any other explicit type (`dpop+jwt`, an ID token's,
    /// a logout token's…) is refused whatever its signature. The default: most issuers send `JWT`.
    #[default]
    AccessTokens,
    /// `at+jwt` only, as RFC 9068 requires.
    Strict,
}

impl TokenTypes {
    /// Media-type comparison: case-insensitive, `application/` implied (RFC 7515 §4.1.9).
    fn accepts(self, typ: Option<&str>) -> bool {
        let Some(typ) = typ else { return self == Self::AccessTokens };
        let lower = typ.to_ascii_lowercase();
        let short = lower.strip_prefix("application/").unwrap_or(&lower);
        match short {
            "at+jwt" => true,
            "jwt" => self == Self::AccessTokens,
            _ => false,
        }
    }
}

/// One trusted issuer: where its keys come from and how its tokens are checked.
///
/// ```
/// use tower_auth::jwt::{Algorithm, Issuer, TokenTypes};
/// let issuer = Issuer::discover("https://login.example.com/realms/main")
///     .algorithms([Algorithm::RS256, Algorithm::ES256])
///     .token_types(TokenTypes::Strict)
///     .require_claims(["sub", "client_id", "jti"]);
/// # let _ = issuer;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Issuer {
    name: String,
    source: KeySourceSpec,
    algorithms: Vec<Algorithm>,
    rsa_default: Algorithm,
    audiences: Option<Vec<String>>,
    token_types: TokenTypes,
    required_claims: Vec<String>,
    roles: RoleClaims,
    settings: JwksSettings,
}

impl Issuer {
    fn with_source(name: impl Into<String>, source: KeySourceSpec) -> Self {
        Self {
            name: name.into(),
            source,
            algorithms: Algorithm::ASYMMETRIC.to_vec(),
            rsa_default: Algorithm::RS256,
            audiences: None,
            token_types: TokenTypes::default(),
            required_claims: Vec::new(),
            roles: RoleClaims::none(),
            settings: JwksSettings::default(),
        }
    }

    /// Keys from OIDC discovery: `{issuer}/.well-known/openid-configuration` names the `jwks_uri`; the
    /// document's `issuer` must equal `issuer` exactly (RFC 8414 §3.3).
    pub fn discover(issuer: impl Into<String>) -> Self {
        Self::with_source(issuer, KeySourceSpec::Discovery)
    }

    /// Keys from a JWKS URL.
    pub fn jwks_url(issuer: impl Into<String>, jwks_url: impl Into<String>) -> Self {
        Self::with_source(issuer, KeySourceSpec::JwksUrl(jwks_url.into()))
    }

    /// Fixed keys (PEM or JWK, see [`VerifyingKey`]). HMAC keys are allowed here and only here.
    pub fn with_keys(issuer: impl Into<String>, keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self::with_source(issuer, KeySourceSpec::Static(keys.into_iter().collect()))
    }

    /// Fixed keys from a JWK Set document.
    pub fn with_jwks(issuer: impl Into<String>, jwks_json: impl Into<String>) -> Self {
        Self::with_source(issuer, KeySourceSpec::StaticJwks(jwks_json.into()))
    }

    /// The algorithm allow-list. Defaults to every asymmetric algorithm ([`Algorithm::ASYMMETRIC`]).
    /// A key is pinned to one algorithm; the token's `alg` must be that one and on this list.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The algorithm of RSA keys whose JWK has no `alg` member. Defaults to `RS256`.
    pub fn rsa_default_algorithm(mut self, alg: Algorithm) -> Self {
        self.rsa_default = alg;
        self
    }

    /// Audiences accepted for this issuer, replacing the validator's. Defaults to the validator's.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// Which `typ` headers are accepted. Defaults to [`TokenTypes::AccessTokens`].
    pub fn token_types(mut self, types: TokenTypes) -> Self {
        self.token_types = types;
        self
    }

    /// Claims that must be present, beyond `iss`, `exp` and (when checked) `aud`, which always are.
    /// Defaults to none. RFC 9068 profile: `["sub", "client_id", "iat", "jti"]`.
    pub fn require_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_claims.extend(claims.into_iter().map(Into::into));
        self
    }

    /// Which claims hold this issuer's roles, mapped into [`Principal::roles`] once per token (the
    /// verified-token cache keeps them) for [role requirements](crate::authz::Requirement::role).
    /// Defaults to [`RoleClaims::none`]: no roles until configured.
    ///
    /// ```
    /// use tower_auth::{RoleClaims, jwt::Issuer};
    /// // Keycloak realm roles and the roles of the client `orders-api`.
    /// let keycloak = Issuer::discover("https://sso.example.com/realms/acme").roles_from(RoleClaims::keycloak_client("orders-api"));
    /// // Every well-known place: realm_access.roles, resource_access.*.roles, permissions, groups, roles.
    /// let any = Issuer::discover("https://login.example.com").roles_from(RoleClaims::well_known());
    /// # let _ = (keycloak, any);
    /// ```
    pub fn roles_from(mut self, roles: RoleClaims) -> Self {
        self.roles = roles;
        self
    }

    /// Timeouts, refresh and cool-down of the remote key source.
    pub fn jwks_settings(mut self, settings: JwksSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The issuer identifier.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug)]
struct IssuerState {
    name: String,
    algorithms: Vec<Algorithm>,
    audiences: Option<Vec<String>>,
    token_types: TokenTypes,
    required_claims: Vec<String>,
    roles: RoleClaims,
    keys: Arc<KeyStore>,
}

#[derive(Clone)]
struct CachedPrincipal {
    principal: Principal,
    exp: f64,
    ttl: Duration,
}

struct TtlExpiry;

impl moka::Expiry<[u8; 32], CachedPrincipal> for TtlExpiry {
    fn expire_after_create(&self, _key: &[u8; 32], value: &CachedPrincipal, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

type TokenCache = moka::sync::Cache<[u8; 32], CachedPrincipal>;

/// Validates JWT access tokens from one or more issuers.
///
/// Verification order (each step has its own [`AuthErrorKind`]): size → compact JWS syntax →
/// `typ` → `alg` (case-sensitive, never `none`) → `crit` → nested JWT → `iss` selects the issuer →
/// `alg` on the issuer's allow-list → exactly one key by `kid` whose pinned algorithm is the `alg`
/// → signature → required claims → `aud` → `exp` / `nbf` / `iat` with leeway → `cnf` binding.
///
/// A token that passed is remembered in a bounded cache keyed by SHA-256 of the whole token, never
/// past its `exp`, so the next request with it costs a hash and a lookup.
#[derive(Clone)]
pub struct JwtValidator {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: Vec<IssuerState>,
    audiences: Vec<String>,
    check_audience: bool,
    leeway: f64,
    max_token_bytes: usize,
    clock: SharedClock,
    cache: Option<TokenCache>,
    cache_max_ttl: Duration,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("issuers", &self.inner.issuers.iter().map(|i| i.name.as_str()).collect::<Vec<_>>())
            .field("audiences", &self.inner.audiences)
            .field("leeway", &self.inner.leeway)
            .field("max_token_bytes", &self.inner.max_token_bytes)
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwtValidator`].
#[derive(Debug)]
#[must_use]
pub struct JwtValidatorBuilder {
    issuers: Vec<Issuer>,
    audiences: Vec<String>,
    check_audience: bool,
    leeway: Duration,
    max_token_bytes: usize,
    clock: SharedClock,
    cache_capacity: u64,
    cache_max_ttl: Duration,
    http: Option<reqwest::Client>,
}

impl JwtValidator {
    /// Starts a configuration.
    pub fn builder() -> JwtValidatorBuilder {
        JwtValidatorBuilder {
            issuers: Vec::new(),
            audiences: Vec::new(),
            check_audience: true,
            leeway: Duration::from_secs(60),
            max_token_bytes: 8 * 1024,
            clock: Arc::new(SystemClock),
            cache_capacity: 10_000,
            cache_max_ttl: Duration::from_secs(3600),
            http: None,
        }
    }

    /// The largest token accepted, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.inner.max_token_bytes
    }

    /// Whether `token` looks like a JWT from one of this validator's issuers: a compact JWS whose
    /// payload's `iss` is configured. Used to route opaque tokens elsewhere. Never a validation.
    pub fn recognizes(&self, token: &str) -> bool {
        compact::parse(token)
            .is_ok_and(|c| c.claims.get("iss").and_then(Value::as_str).is_some_and(|iss| self.issuer(iss).is_some()))
    }

    fn issuer(&self, name: &str) -> Option<&IssuerState> {
        self.inner.issuers.iter().find(|i| i.name == name)
    }

    /// Discovery / JWKS fetches attempted for `issuer` so far.
    pub fn jwks_fetch_count(&self, issuer: &str) -> u64 {
        self.issuer(issuer).map_or(0, |i| i.keys.fetch_count())
    }

    /// Entries in the verified-token cache (approximate; for tests and metrics).
    pub fn cached_tokens(&self) -> u64 {
        self.inner.cache.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count()
        })
    }

    /// Validates a token and returns its principal.
    pub async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(AuthErrorKind::TokenTooLarge.into());
        }
        let now = unix_seconds_f64(inner.clock.now());
        let cache_key = inner.cache.as_ref().map(|cache| (cache, sha256(token.as_bytes())));
        if let Some((cache, key)) = &cache_key
            && let Some(hit) = cache.get(key)
        {
            if now < hit.exp + inner.leeway {
                return Ok(hit.principal);
            }
            cache.invalidate(key);
        }
        let (principal, exp, keys) = self.validate_uncached(token, now).await?;
        // Not remembered when the key set changed under this validation (a key removed or re-issued).
        if let Some((cache, key)) = cache_key
            && !keys.0.removed_since(keys.1)
        {
            let left = (exp + inner.leeway - now).max(0.0);
            let ttl = Duration::from_secs_f64(left.min(86_400.0)).min(inner.cache_max_ttl);
            if !ttl.is_zero() {
                cache.insert(key, CachedPrincipal { principal: principal.clone(), exp, ttl });
            }
        }
        Ok(principal)
    }

    /// Whether verified tokens are cached.
    pub(crate) fn caches_tokens(&self) -> bool {
        self.inner.cache.is_some()
    }

    /// The principal of a token found in the verified-token cache and not expired (`exp` with the
    /// leeway, by the validator's clock): what [`validate`](Self::validate) answers without any
    /// work. `None` for any other token (too large, not cached, expired, or no cache), which
    /// `validate` then decides.
    pub(crate) fn validate_cached(&self, token: &str) -> Option<Principal> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return None;
        }
        let cache = inner.cache.as_ref()?;
        let hit = cache.get(&sha256(token.as_bytes()))?;
        let now = unix_seconds_f64(inner.clock.now());
        // An expired entry is left for `validate`, which drops it and checks the token afresh.
        (now < hit.exp + inner.leeway).then_some(hit.principal)
    }

    /// The full check; also returns the issuer's key store and the generation of the key set used.
    async fn validate_uncached(
        &self,
        token: &str,
        now: f64,
    ) -> Result<(Principal, f64, (Arc<KeyStore>, u64)), AuthError> {
        let inner = &*self.inner;
        let jws = compact::parse(token)?;
        // typ: refuse other kinds of JWT before anything else (RFC 8725 §3.11).
        let typ = jws.typ()?;
        let alg: Algorithm = jws.alg()?.parse().map_err(|_| AuthErrorKind::UnsupportedAlgorithm)?;
        if jws.header.contains_key("crit") {
            return Err(AuthErrorKind::UnknownCriticalHeader.into());
        }
        if jws.header.get("cty").and_then(Value::as_str).is_some_and(|c| c.eq_ignore_ascii_case("jwt")) {
            return Err(AuthErrorKind::UnsupportedTokenType.into());
        }
        let iss = match jws.claims.get("iss") {
            Some(Value::String(iss)) => iss.clone(),
            Some(_) => return Err(AuthErrorKind::InvalidIssuer.into()),
            None => return Err(AuthErrorKind::MissingClaim.into()),
        };
        let issuer = self.issuer(&iss).ok_or(AuthErrorKind::InvalidIssuer)?;
        if !issuer.token_types.accepts(typ) {
            return Err(AuthErrorKind::UnsupportedTokenType.into());
        }
        if !issuer.algorithms.contains(&alg) {
            return Err(AuthErrorKind::UnsupportedAlgorithm.into());
        }
        let (key, generation) = issuer.keys.key_for(jws.kid()?, alg).await?;
        if key.algorithm() != alg || !key.verify(jws.signing_input, &jws.signature) {
            return Err(AuthErrorKind::InvalidSignature.into());
        }
        let claims = jws.claims;
        for name in &issuer.required_claims {
            if claims.get(name).is_none_or(Value::is_null) {
                return Err(AuthErrorKind::MissingClaim.into());
            }
        }
        if inner.check_audience {
            let accepted = issuer.audiences.as_ref().unwrap_or(&inner.audiences);
            let ok = match claims.get("aud") {
                Some(Value::String(aud)) => accepted.iter().any(|a| a == aud),
                Some(Value::Array(auds)) => {
                    auds.iter().any(|v| v.as_str().is_some_and(|aud| accepted.iter().any(|a| a == aud)))
                }
                None => return Err(AuthErrorKind::MissingClaim.into()),
                Some(_) => false,
            };
            if !ok {
                return Err(AuthErrorKind::InvalidAudience.into());
            }
        }
        let exp = numeric_date(&claims, "exp")?.ok_or(AuthErrorKind::MissingClaim)?;
        if now >= exp + inner.leeway {
            return Err(AuthErrorKind::Expired.into());
        }
        if let Some(nbf) = numeric_date(&claims, "nbf")?
            && now + inner.leeway < nbf
        {
            return Err(AuthErrorKind::NotYetValid.into());
        }
        if let Some(iat) = numeric_date(&claims, "iat")?
            && now + inner.leeway < iat
        {
            return Err(AuthErrorKind::NotYetValid.into());
        }
        let principal = principal_from_claims(&iss, claims, exp, &issuer.roles)?;
        Ok((principal, exp, (issuer.keys.clone(), generation)))
    }
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, AuthErrorKind> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().filter(|f| f.is_finite()).map(Some).ok_or(AuthErrorKind::MissingClaim),
        Some(_) => Err(AuthErrorKind::MissingClaim),
    }
}

fn principal_from_claims(
    iss: &str,
    claims: Map<String, Value>,
    exp: f64,
    roles: &RoleClaims,
) -> Result<Principal, AuthErrorKind> {
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let client_id = str_claim("client_id").or_else(|| str_claim("azp")).or_else(|| str_claim("cid"));
    let subject = str_claim("sub").or_else(|| client_id.clone()).ok_or(AuthErrorKind::MissingClaim)?;
    let scopes = scopes_from_claims(&claims);
    // A `cnf` this server cannot check is never read as an unbound token (fail closed).
    let binding = Binding::from_claims(&claims).map_err(|()| AuthErrorKind::BindingMismatch)?;
    let mut builder =
        Principal::builder(Mechanism::Jwt, subject).issuer(iss).scopes(scopes).roles(roles.extract(&claims));
    if let Some(client_id) = client_id {
        builder = builder.client_id(client_id);
    }
    if let Some(binding) = binding {
        builder = builder.binding(binding);
    }
    let exp_secs = if exp <= 0.0 { 0 } else { exp.floor() as u64 };
    Ok(builder.expires_at_unix(exp_secs).claims(claims).build())
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl JwtValidatorBuilder {
    /// Trusts an issuer. Call once per issuer; tokens choose theirs by `iss`.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// An accepted audience: this resource server's identifier. `aud` must contain one of them
    /// (RFC 9068 §4). At least one is required unless the check is disabled.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts tokens for any audience. Only for issuers that mint tokens for this server alone.
    pub fn insecure_disable_audience_check(mut self) -> Self {
        self.check_audience = false;
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Defaults to 60 s; at most 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The largest token accepted, checked before any parsing. Defaults to 8 KiB.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// The clock for every time check. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Capacity of the verified-token cache; `0` disables it. Defaults to 10,000 tokens.
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// The longest time a verified token is remembered (never past its `exp`). Defaults to 1 hour.
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache_max_ttl = ttl;
        self
    }

    /// The HTTP client for discovery and JWKS requests. Defaults to a new `reqwest` client with rustls.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the configuration and starts fetching remote keys in the background (when called inside
    /// a Tokio runtime; otherwise on the first request). Start-up succeeds while an issuer is down:
    /// requests get 503 until its keys arrive.
    pub fn build(self) -> Result<JwtValidator, ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::new("a JWT validator needs at least one issuer"));
        }
        if self.check_audience && self.audiences.is_empty() && self.issuers.iter().any(|i| i.audiences.is_none()) {
            return Err(ConfigError::new(
                "an audience is required: call .audience(..) (or .insecure_disable_audience_check())",
            ));
        }
        if self.leeway > Duration::from_secs(300) {
            return Err(ConfigError::new("leeway must not exceed 5 minutes"));
        }
        if self.max_token_bytes < 64 {
            return Err(ConfigError::new("max_token_bytes is too small for any JWT"));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()
                .map_err(|_| ConfigError::new("could not build the HTTP client"))?,
        };
        let cache: Option<TokenCache> = (self.cache_capacity > 0)
            .then(|| moka::sync::Cache::builder().max_capacity(self.cache_capacity).expire_after(TtlExpiry).build());
        let on_change: Arc<dyn Fn() + Send + Sync> = match &cache {
            Some(cache) => {
                let cache = cache.clone();
                Arc::new(move || cache.invalidate_all())
            }
            None => Arc::new(|| {}),
        };
        let mut issuers = Vec::with_capacity(self.issuers.len());
        for issuer in self.issuers {
            if issuers.iter().any(|i: &IssuerState| i.name == issuer.name) {
                return Err(ConfigError::new(format!("issuer {} is configured twice", issuer.name)));
            }
            issuer.roles.check()?;
            if issuer.algorithms.is_empty() {
                return Err(ConfigError::new(format!("issuer {} allows no algorithm", issuer.name)));
            }
            let is_static = matches!(issuer.source, KeySourceSpec::Static(_));
            if !is_static && issuer.algorithms.iter().any(|a| a.is_symmetric()) {
                return Err(ConfigError::new("HS* algorithms need locally configured keys (Issuer::with_keys)"));
            }
            let policy = JwkPolicy {
                allowed: issuer.algorithms.clone(),
                rsa_default: issuer.rsa_default,
                allow_symmetric: false,
            };
            let keys = Arc::new(KeyStore::new(
                issuer.name.clone(),
                issuer.source,
                policy,
                issuer.settings,
                http.clone(),
                self.clock.clone(),
                on_change.clone(),
            )?);
            keys.prefetch();
            issuers.push(IssuerState {
                name: issuer.name,
                algorithms: issuer.algorithms,
                audiences: issuer.audiences,
                token_types: issuer.token_types,
                required_claims: issuer.required_claims,
                roles: issuer.roles,
                keys,
            });
        }
        Ok(JwtValidator {
            inner: Arc::new(Inner {
                issuers,
                audiences: self.audiences,
                check_audience: self.check_audience,
                leeway: self.leeway.as_secs_f64(),
                max_token_bytes: self.max_token_bytes,
                clock: self.clock,
                cache,
                cache_max_ttl: self.cache_max_ttl,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_policy() {
        // B9, RFC 8725 §3.12
        let default = TokenTypes::AccessTokens;
        for ok in [None, Some("at+jwt"), Some("at+JWT"), Some("application/at+jwt"), Some("JWT"), Some("jwt")] {
            assert!(default.accepts(ok), "{ok:?}");
        }
        for bad in [
            Some("dpop+jwt"),
            Some("logout+jwt"),
            Some("id_token+jwt"),
            Some("JOSE"),
            Some(""),
            Some("application/jwt+at"),
        ] {
            assert!(!default.accepts(bad), "{bad:?}");
        }
        assert!(TokenTypes::Strict.accepts(Some("application/AT+JWT")));
        assert!(!TokenTypes::Strict.accepts(Some("JWT")));
        assert!(!TokenTypes::Strict.accepts(None));
    }

    #[test]
    fn builder_refuses_unsafe_configurations() {
        assert!(JwtValidator::builder().build().is_err());
        let no_aud = JwtValidator::builder().issuer(Issuer::discover("https://i")).build();
        assert!(no_aud.unwrap_err().message().contains("audience"));
        let hs_remote = JwtValidator::builder()
            .audience("a")
            .issuer(Issuer::discover("https://i").algorithms([Algorithm::HS256]))
            .build();
        assert!(hs_remote.is_err());
        let leeway = JwtValidator::builder()
            .audience("a")
            .issuer(Issuer::discover("https://i"))
            .leeway(Duration::from_secs(3600))
            .build();
        assert!(leeway.is_err());
    }
}
