//! Configuration of an [`Introspector`]: the builder, its defaults, and the checks of `build()`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Introspector;
use super::cache::AnswerCache;
use super::client::{Client, EndpointSpec};
use crate::authz::RoleClaims;
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::ConfigError;

/// Default timeout of one introspection (or discovery) request: 5 s.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest introspection answer accepted: 64 KiB.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Default longest reuse of an active answer: 30 s.
pub(crate) const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
/// Default reuse of an inactive answer: 5 s.
pub(crate) const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(5);
/// Default capacity of the answer cache.
pub(crate) const DEFAULT_CACHE_CAPACITY: u64 = 10_000;
/// Default pause after a failed call, during which new tokens get 503 at once.
pub(crate) const DEFAULT_FAILURE_COOLDOWN: Duration = Duration::from_secs(1);

/// How this resource server authenticates to the introspection endpoint (RFC 7662 §2.1, D1).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret, each form-urlencoded first (RFC 6749 §2.3.1,
    /// `client_secret_basic`). The default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1, `client_secret_post`).
    ClientSecretPost,
}

/// A client secret: never printed by `Debug`, never logged, never part of an error.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) Arc<str>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// The credentials as they go on the wire.
#[derive(Clone)]
pub(crate) enum Credentials {
    /// The whole `Authorization` header value, marked sensitive.
    Basic(http::HeaderValue),
    /// Form members appended to every request body.
    Post { client_id: String, client_secret: Secret },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic(_) => f.write_str("ClientSecretBasic"),
            Self::Post { client_id, .. } => {
                f.debug_struct("ClientSecretPost").field("client_id", client_id).finish_non_exhaustive()
            }
        }
    }
}

/// The `Authorization` value of `client_secret_basic`: id and secret form-urlencoded, joined by `:`,
/// base64 (RFC 6749 §2.3.1).
pub(crate) fn basic_authorization(client_id: &str, secret: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// What the answer checks need, fixed at build time.
#[derive(Debug)]
pub(crate) struct Checks {
    /// The expected `iss`, when configured (or discovered from).
    pub(crate) issuer: Option<String>,
    /// Accepted audiences; empty = `aud` not checked.
    pub(crate) audiences: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub(crate) leeway: f64,
    /// Where the roles of an answer are.
    pub(crate) roles: RoleClaims,
}

/// Builds an [`Introspector`]. Start with [`Introspector::builder`].
///
/// Defaults: `client_secret_basic`, 5 s timeout, 64 KiB answers, 8 KiB tokens, active answers reused
/// for at most 30 s (never past `exp`), inactive answers for 5 s, 10,000 cached answers, 1 s pause
/// after a failed call, 60 s leeway on `exp` / `nbf`.
#[must_use]
pub struct IntrospectorBuilder {
    endpoint: Option<EndpointSpec>,
    issuer: Option<String>,
    audiences: Vec<String>,
    roles: RoleClaims,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    client_auth: ClientAuth,
    timeout: Duration,
    max_response_bytes: usize,
    max_token_bytes: usize,
    leeway: Duration,
    cache_ttl: Duration,
    negative_cache_ttl: Duration,
    cache_capacity: u64,
    failure_cooldown: Duration,
    clock: SharedClock,
    http: Option<reqwest::Client>,
    #[cfg(feature = "redis")]
    shared_cache: Option<super::redis::RedisCache>,
}

impl fmt::Debug for IntrospectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectorBuilder")
            .field("endpoint", &self.endpoint)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("client_auth", &self.client_auth)
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("negative_cache_ttl", &self.negative_cache_ttl)
            .finish_non_exhaustive()
    }
}

impl IntrospectorBuilder {
    pub(crate) fn new() -> Self {
        Self {
            endpoint: None,
            issuer: None,
            audiences: Vec::new(),
            roles: RoleClaims::none(),
            client_id: None,
            client_secret: None,
            client_auth: ClientAuth::default(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_token_bytes: 8 * 1024,
            leeway: Duration::from_secs(60),
            cache_ttl: DEFAULT_CACHE_TTL,
            negative_cache_ttl: DEFAULT_NEGATIVE_CACHE_TTL,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            failure_cooldown: DEFAULT_FAILURE_COOLDOWN,
            clock: Arc::new(SystemClock),
            http: None,
            #[cfg(feature = "redis")]
            shared_cache: None,
        }
    }

    /// The introspection endpoint URL. Either this or [`discover`](Self::discover) is required.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(EndpointSpec::Fixed(url.into()));
        self
    }

    /// The endpoint from OIDC discovery: the `introspection_endpoint` of
    /// `{issuer}/.well-known/openid-configuration`, whose `issuer` must equal `issuer` exactly
    /// (RFC 8414 §3.3). Also sets the expected `iss` of answers, like [`issuer`](Self::issuer).
    /// Discovery runs in the background from `build()` (inside a Tokio runtime) or on the first
    /// request; until it succeeds, requests get 503.
    pub fn discover(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        self.issuer = Some(issuer.clone());
        self.endpoint = Some(EndpointSpec::Discover(issuer));
        self
    }

    /// The expected `iss`: an active answer with another `iss` is refused (D7). Answers without `iss`
    /// are accepted. Defaults to none (or the issuer given to [`discover`](Self::discover)).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// An accepted audience: an active answer with an `aud` that contains none of them is refused
    /// (D7). Answers without `aud` are accepted. Defaults to none (`aud` not checked).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Which members of an active answer hold roles, mapped into
    /// [`Principal::roles`](crate::Principal::roles) (Keycloak answers carry `realm_access.roles`).
    /// Defaults to [`RoleClaims::none`].
    pub fn roles_from(mut self, roles: RoleClaims) -> Self {
        self.roles = roles;
        self
    }

    /// This resource server's client credentials at the authorization server. Required: RFC 7662 §2.1
    /// has the endpoint require authorization.
    pub fn client_credentials(mut self, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(Secret(Arc::from(client_secret.into())));
        self
    }

    /// How the credentials are sent. Defaults to [`ClientAuth::ClientSecretBasic`].
    pub fn client_auth(mut self, method: ClientAuth) -> Self {
        self.client_auth = method;
        self
    }

    /// Timeout of one introspection or discovery request, from connecting to the last byte of the
    /// answer. Defaults to 5 s. When it passes, the request gets 503 with `Retry-After`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest answer (or discovery document) accepted. Defaults to 64 KiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Largest token sent to the endpoint; longer ones are refused (401) without a call. Defaults to
    /// 8 KiB.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// Clock skew tolerated on the `exp` and `nbf` of active answers. Defaults to 60 s; at most
    /// 5 minutes. Caching never goes past `exp`, whatever the leeway.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The longest time an active answer is reused, never past its `exp` (RFC 7662 §4).
    /// `Duration::ZERO` disables caching (and with it the coalescing of concurrent calls): every
    /// request asks the endpoint, so a revocation is seen at once. Defaults to 30 s.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long an inactive answer (or an active one this server refuses) is reused. Defaults to 5 s.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_cache_ttl = ttl;
        self
    }

    /// How many answers the cache holds (least recently used go first); `0` disables caching.
    /// Defaults to 10,000.
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// After a failed call (endpoint down, timeout, 5xx, garbage, our credentials refused), tokens not
    /// in the cache get 503 at once for this long instead of another call: a flood of new tokens
    /// during an outage neither waits out the timeout nor piles onto the endpoint. Cached answers keep
    /// serving. `Duration::ZERO` disables the pause. Defaults to 1 s.
    pub fn failure_cooldown(mut self, cooldown: Duration) -> Self {
        self.failure_cooldown = cooldown;
        self
    }

    /// The clock for `exp` / `nbf` checks and cache lifetimes (checked on every cache hit).
    /// Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The HTTP client. Defaults to a new `reqwest` client with rustls that follows no redirects (a
    /// redirected introspection call fails closed rather than re-sending credentials elsewhere).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Shares answers between replicas through Redis, behind the in-process cache (feature `redis`).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared_cache(mut self, cache: super::redis::RedisCache) -> Self {
        self.shared_cache = Some(cache);
        self
    }

    /// Checks the configuration and, for discovery inside a Tokio runtime, starts it in the background.
    pub fn build(self) -> Result<Introspector, ConfigError> {
        let Some(endpoint) = self.endpoint else {
            return Err(ConfigError::new("introspection needs an endpoint: call .endpoint(url) or .discover(issuer)"));
        };
        let url = match &endpoint {
            EndpointSpec::Fixed(url) | EndpointSpec::Discover(url) => url,
        };
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(ConfigError::new("the introspection endpoint (or issuer) must be an absolute http(s) URL"));
            }
        }
        let (Some(client_id), Some(secret)) = (self.client_id, self.client_secret) else {
            return Err(ConfigError::new(
                "introspection needs client credentials (RFC 7662 §2.1): call .client_credentials(id, secret)",
            ));
        };
        if client_id.is_empty() {
            return Err(ConfigError::new("the introspection client id is empty"));
        }
        self.roles.check()?;
        if self.timeout.is_zero() {
            return Err(ConfigError::new("the introspection timeout must be positive"));
        }
        if self.leeway > Duration::from_secs(300) {
            return Err(ConfigError::new("leeway must not exceed 5 minutes"));
        }
        if self.max_response_bytes < 16 {
            return Err(ConfigError::new("max_response_bytes is too small for any introspection answer"));
        }
        let credentials = match self.client_auth {
            ClientAuth::ClientSecretBasic => {
                let mut value = http::HeaderValue::from_str(&basic_authorization(&client_id, &secret.0))
                    .map_err(|_| ConfigError::new("the introspection client credentials cannot form a header"))?;
                value.set_sensitive(true);
                Credentials::Basic(value)
            }
            ClientAuth::ClientSecretPost => Credentials::Post { client_id, client_secret: secret },
        };
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|_| ConfigError::new("could not build the HTTP client"))?,
        };
        let client = Client::new(endpoint, credentials, http, self.timeout, self.max_response_bytes);
        let cache = (self.cache_capacity > 0 && !self.cache_ttl.is_zero())
            .then(|| AnswerCache::new(self.cache_capacity, self.clock.clone()));
        let introspector = Introspector::from_parts(super::Parts {
            client,
            cache,
            checks: Checks {
                issuer: self.issuer,
                audiences: self.audiences,
                leeway: self.leeway.as_secs_f64(),
                roles: self.roles,
            },
            clock: self.clock,
            max_token_bytes: self.max_token_bytes,
            cache_ttl: self.cache_ttl,
            negative_cache_ttl: self.negative_cache_ttl.min(self.cache_ttl),
            failure_cooldown: self.failure_cooldown,
            #[cfg(feature = "redis")]
            shared_cache: self.shared_cache,
        });
        introspector.prefetch();
        Ok(introspector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        // D1, RFC 7662 §2.1 example: "Authorization: Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"
        assert_eq!(basic_authorization("s6BhdRkqt3", "gX1fBat3bV"), "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
        // RFC 6749 §2.3.1: ':' in the id and ' ' / '%' in the secret are encoded before base64.
        let v = basic_authorization("rs:1", "a b%");
        let decoded = STANDARD.decode(v.strip_prefix("Basic ").unwrap()).unwrap();
        assert_eq!(decoded, b"rs%3A1:a+b%25");
    }

    #[test]
    fn builder_refuses_incomplete_configurations() {
        let no_endpoint = Introspector::builder().client_credentials("id", "secret").build();
        assert!(no_endpoint.unwrap_err().message().contains("endpoint"));
        let no_credentials = Introspector::builder().endpoint("https://as.example/introspect").build();
        assert!(no_credentials.unwrap_err().message().contains("credentials"));
        let relative = Introspector::builder().endpoint("/introspect").client_credentials("id", "s").build();
        assert!(relative.is_err());
        let zero_timeout = Introspector::builder()
            .endpoint("https://as.example/introspect")
            .client_credentials("id", "s")
            .timeout(Duration::ZERO)
            .build();
        assert!(zero_timeout.is_err());
    }

    #[test]
    fn secret_never_in_debug() {
        let builder =
            Introspector::builder().endpoint("https://as.example/i").client_credentials("rs", "hunter2-secret");
        assert!(!format!("{builder:?}").contains("hunter2"));
        let built = builder.build().unwrap();
        assert!(!format!("{built:?}").contains("hunter2"));
        let post = Introspector::builder()
            .endpoint("https://as.example/i")
            .client_credentials("rs", "hunter2-secret")
            .client_auth(ClientAuth::ClientSecretPost)
            .build()
            .unwrap();
        assert!(!format!("{post:?}").contains("hunter2"));
    }
}
