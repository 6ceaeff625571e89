//! Shared set-up of the demo servers: the quickstart contract (environment variables, embedded
//! issuer, printed lines, `/me` document), used by the axum `quickstart` and its actix-web twin.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tower_auth::apikey::{ApiKeyStore, ApiKeys, FileStore, MemoryStore, NewApiKey, PlaintextKey, PostgresStore};
use tower_auth::dpop::{Dpop, RedisReplayStore};
use tower_auth::introspection::{Introspector, RedisCache};
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::mtls::{CertificateAuthentication, ClientCertificates, IdentityMapping, ProxyHeader, TrustedProxies};
use tower_auth::ratelimit::{Quota, RateLimiter, RedisStore, parse_quota};
use tower_auth::testkit::LocalIssuer;
use tower_auth::tls::{ServerTls, rustls::ServerConfig};
use tower_auth::{Authenticator, Principal, ResourceMetadata, RoleClaims};

/// The default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// The default required audience.
pub const DEFAULT_AUDIENCE: &str = "https://api.tower-auth.test";
/// The realm of challenges.
pub const REALM: &str = "tower-auth";

/// The scopes of a principal authenticated by its client certificate (with
/// `TOWER_AUTH_TLS_CLIENT_CA`): those of the demo `TOKEN`.
pub const CLIENT_CERT_SCOPES: [&str; 1] = ["orders:read"];

/// The quickstart's configuration, from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TOWER_AUTH_ADDR`.
    pub addr: String,
    /// `TOWER_AUTH_ISSUER`; `None` = the embedded issuer.
    pub issuer: Option<String>,
    /// `TOWER_AUTH_AUDIENCE`.
    pub audience: String,
    /// `TOWER_AUTH_INTROSPECTION_CLIENT_ID` / `…_SECRET`; `None` = no introspection. Used with
    /// `TOWER_AUTH_ISSUER` only (the endpoint comes from its discovery document).
    pub introspection_client: Option<IntrospectionClient>,
    /// `TOWER_AUTH_INTROSPECTION_CACHE_TTL`: the longest reuse of an active answer (never past the
    /// token's `exp`); zero = no cache. Defaults to 30 s.
    pub introspection_cache_ttl: Duration,
    /// `TOWER_AUTH_API_KEYS`: a key-records file (hashed secrets, see `tower-auth-keys`); `None`
    /// with no database either = one generated demo key, printed as `API_KEY …`.
    pub api_keys_file: Option<std::path::PathBuf>,
    /// `TOWER_AUTH_DATABASE_URL`: the PostgreSQL API-key store (wins over `TOWER_AUTH_API_KEYS`).
    pub database_url: Option<String>,
    /// `TOWER_AUTH_DPOP_NONCE` (`on` / `off`): require server-issued DPoP nonces. Defaults to off.
    pub dpop_nonce: bool,
    /// `TOWER_AUTH_PUBLIC_URL`: the origin clients use, for DPoP `htu` checks; `None` = `http://`
    /// (`https://` with TLS) + the address actually bound.
    pub public_url: Option<String>,
    /// `TOWER_AUTH_RATE_LIMIT`: the quota per principal (per client address for anonymous
    /// requests) on the protected routes; `None` = `off`. Defaults to [`DEFAULT_RATE_LIMIT`].
    pub rate_limit: Option<Quota>,
    /// `TOWER_AUTH_FAILED_AUTH_LIMIT`: failed authentications allowed per client address before it
    /// is refused (429) without any work; `None` = `off`. Defaults to [`DEFAULT_FAILED_AUTH_LIMIT`].
    pub failed_auth_limit: Option<Quota>,
    /// `TOWER_AUTH_REDIS_URL`: shared state for several replicas; `None` = in process. The DPoP replay
    /// store and the introspection cache (Redis must answer at start-up), and the rate-limit counters
    /// (one atomic script per request, failing open with a warning while Redis is unreachable). The
    /// failed-authentication counts stay per replica.
    pub redis_url: Option<String>,
    /// `TOWER_AUTH_TLS_CERT` and `TOWER_AUTH_TLS_KEY`: PEM files (the certificate chain, the private
    /// key), read at start-up; the server speaks HTTPS only. `None` = plain HTTP.
    pub tls: Option<TlsPem>,
    /// `TOWER_AUTH_TLS_CLIENT_CA`: a PEM file of the CA (or CAs) client certificates must chain to,
    /// read at start-up. With TLS, client certificates are requested (not required: tokens and API
    /// keys keep working) and one from another CA fails the handshake; certificates forwarded by
    /// trusted proxies must chain to it to authenticate. Turns certificate authentication on.
    pub client_ca: Option<Vec<u8>>,
    /// `TOWER_AUTH_TRUSTED_PROXIES`: the peers (CIDRs, comma separated) whose certificate header
    /// ([`client_cert_header`](Self::client_cert_header)) is read; from them, and only from them, the
    /// header is the client's certificate. `None` = no header is ever read.
    pub trusted_proxies: Option<TrustedProxies>,
    /// `TOWER_AUTH_CLIENT_CERT_HEADER` (an extension of the contract): the header trusted proxies
    /// forward the certificate in, `client-cert` (RFC 9440 `Client-Cert` / `Client-Cert-Chain`),
    /// `xfcc` (Envoy `x-forwarded-client-cert`) or `nginx:<header name>` (nginx
    /// `$ssl_client_escaped_cert`). Defaults to `client-cert`.
    pub client_cert_header: ProxyHeader,
    /// `TOWER_AUTH_CLIENT_CERT_IDENTITY` (an extension of the contract): which name of a client
    /// certificate is the principal's `sub`: `spiffe_id`, `dns_san`, `uri_san`, `email` or
    /// `subject_cn`. Defaults to [`DEFAULT_CLIENT_CERT_IDENTITY`].
    pub client_cert_identity: IdentityMapping,
}

/// The default of `TOWER_AUTH_CLIENT_CERT_IDENTITY`: the SPIFFE ID (`spiffe://…` URI SAN) of an
/// X.509-SVID. A certificate without one does not authenticate (401), though it still serves
/// tokens bound to it.
pub const DEFAULT_CLIENT_CERT_IDENTITY: IdentityMapping = IdentityMapping::SpiffeId;

/// The PEM contents of `TOWER_AUTH_TLS_CERT` and `TOWER_AUTH_TLS_KEY`. `Debug` never shows the key.
#[derive(Clone)]
pub struct TlsPem {
    /// The certificate chain, end-entity first.
    pub cert_chain: Vec<u8>,
    /// The private key (PKCS #8, PKCS #1 or SEC1).
    pub private_key: Vec<u8>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPem").field("cert_chain_bytes", &self.cert_chain.len()).finish_non_exhaustive()
    }
}

impl TlsPem {
    /// The rustls configuration: client certificates requested and verified against `client_ca`,
    /// when given.
    pub fn server_tls(&self, client_ca: Option<&[u8]>) -> ServerTls {
        let tls = ServerTls::from_pem(&self.cert_chain, &self.private_key);
        match client_ca {
            Some(ca) => tls.client_ca_pem(ca),
            None => tls,
        }
    }
}

/// Parses `TOWER_AUTH_CLIENT_CERT_HEADER`: `client-cert`, `xfcc` or `nginx:<header name>`.
pub fn parse_client_cert_header(value: &str) -> Result<ProxyHeader, String> {
    let value = value.trim();
    match value.to_ascii_lowercase().as_str() {
        "client-cert" => return Ok(ProxyHeader::ClientCert),
        "xfcc" => return Ok(ProxyHeader::Xfcc),
        _ => {}
    }
    match value.split_once(':') {
        Some((kind, name)) if kind.trim().eq_ignore_ascii_case("nginx") && !name.trim().is_empty() => {
            Ok(ProxyHeader::NginxPem(name.trim().to_owned()))
        }
        _ => Err(format!("{value:?}: use client-cert, xfcc or nginx:<header name>")),
    }
}

/// Parses `TOWER_AUTH_CLIENT_CERT_IDENTITY`: `spiffe_id`, `dns_san`, `uri_san`, `email` or
/// `subject_cn`.
pub fn parse_client_cert_identity(value: &str) -> Result<IdentityMapping, String> {
    const ALL: [IdentityMapping; 5] = [
        IdentityMapping::SpiffeId,
        IdentityMapping::DnsSan,
        IdentityMapping::UriSan,
        IdentityMapping::Email,
        IdentityMapping::SubjectCn,
    ];
    let value = value.trim();
    ALL.into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(value))
        .ok_or_else(|| format!("{value:?}: use spiffe_id, dns_san, uri_san, email or subject_cn"))
}

/// The default of `TOWER_AUTH_RATE_LIMIT`: `100/s,burst=200`.
pub const DEFAULT_RATE_LIMIT: Quota = Quota::per_second(100).burst(200);
/// The default of `TOWER_AUTH_FAILED_AUTH_LIMIT`: `30/m,burst=30`.
pub const DEFAULT_FAILED_AUTH_LIMIT: Quota = Quota::per_minute(30).burst(30);

/// A quota variable: unset = `default`, `off` = `None`, else `<n>/<s|m|h>[,burst=<n>]`.
fn quota_var(name: &str, default: Quota) -> Option<Quota> {
    match var(name) {
        None => Some(default),
        Some(value) => parse_quota(&value).unwrap_or_else(|e| invalid(name, e.message())),
    }
}

/// The quickstart's client credentials at the introspection endpoint. `Debug` never shows the secret.
#[derive(Clone)]
pub struct IntrospectionClient {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionClient").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// The default of `TOWER_AUTH_INTROSPECTION_CACHE_TTL`.
pub const DEFAULT_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(30);

/// Parses a duration of the contract: plain seconds (`45`, `0`) or a number with a unit, `ms`, `s`,
/// `m` or `h` (`500ms`, `30s`, `5m`, `1h`).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{value:?} is not a duration (use e.g. 30s, 5m, 0)"))?;
    let secs = |factor: u64| n.checked_mul(factor).map(Duration::from_secs);
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => secs(60),
        "h" => secs(3600),
        _ => None,
    }
    .ok_or_else(|| format!("{value:?} is not a duration (use e.g. 30s, 5m, 0)"))
}

/// Reports a bad contract variable and stops: configuration errors surface at start-up.
fn invalid(name: &str, problem: &str) -> ! {
    eprintln!("error: {name}: {problem}");
    std::process::exit(2)
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Reads the environment. An invalid value (a cache TTL that is no duration, a client id without
    /// a secret) is reported on standard error and ends the process with status 2.
    pub fn from_env() -> Self {
        let (introspection_client, introspection_cache_ttl) = introspection_from_env();
        let (tls, client_ca, trusted_proxies) = certificates_from_env();
        Self {
            addr: var("TOWER_AUTH_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
            issuer: var("TOWER_AUTH_ISSUER").map(|i| i.trim().to_owned()),
            audience: var("TOWER_AUTH_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned()),
            introspection_client,
            introspection_cache_ttl,
            api_keys_file: var("TOWER_AUTH_API_KEYS").map(|p| p.trim().into()),
            database_url: var("TOWER_AUTH_DATABASE_URL").map(|u| u.trim().to_owned()),
            dpop_nonce: match var("TOWER_AUTH_DPOP_NONCE").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
                None | Some("off") => false,
                Some("on") => true,
                Some(_) => invalid("TOWER_AUTH_DPOP_NONCE", "must be on or off"),
            },
            public_url: var("TOWER_AUTH_PUBLIC_URL").map(|u| u.trim().to_owned()),
            rate_limit: quota_var("TOWER_AUTH_RATE_LIMIT", DEFAULT_RATE_LIMIT),
            failed_auth_limit: quota_var("TOWER_AUTH_FAILED_AUTH_LIMIT", DEFAULT_FAILED_AUTH_LIMIT),
            redis_url: var("TOWER_AUTH_REDIS_URL").map(|u| u.trim().to_owned()),
            tls,
            client_ca,
            trusted_proxies,
            client_cert_header: match var("TOWER_AUTH_CLIENT_CERT_HEADER") {
                None => ProxyHeader::ClientCert,
                Some(v) => {
                    parse_client_cert_header(&v).unwrap_or_else(|e| invalid("TOWER_AUTH_CLIENT_CERT_HEADER", &e))
                }
            },
            client_cert_identity: match var("TOWER_AUTH_CLIENT_CERT_IDENTITY") {
                None => DEFAULT_CLIENT_CERT_IDENTITY,
                Some(v) => {
                    parse_client_cert_identity(&v).unwrap_or_else(|e| invalid("TOWER_AUTH_CLIENT_CERT_IDENTITY", &e))
                }
            },
        }
    }
}

/// A PEM file named by the variable `name`, read now (unreadable: reported, exit status 2).
fn pem_file(name: &str) -> Option<Vec<u8>> {
    let path = var(name)?;
    let path = path.trim();
    Some(std::fs::read(path).unwrap_or_else(|e| invalid(name, &format!("cannot read {path}: {e}"))))
}

/// The TLS and client-certificate variables, checked at start-up: both halves of the key pair, PEM
/// that parses, a key that matches the certificate, a usable client CA, CIDRs that parse.
fn certificates_from_env() -> (Option<TlsPem>, Option<Vec<u8>>, Option<TrustedProxies>) {
    let (cert, key) = (pem_file("TOWER_AUTH_TLS_CERT"), pem_file("TOWER_AUTH_TLS_KEY"));
    let client_ca = pem_file("TOWER_AUTH_TLS_CLIENT_CA");
    let tls = match (cert, key) {
        (None, None) => None,
        (Some(cert_chain), Some(private_key)) => Some(TlsPem { cert_chain, private_key }),
        (Some(_), None) => invalid("TOWER_AUTH_TLS_KEY", "must be set with TOWER_AUTH_TLS_CERT"),
        (None, Some(_)) => invalid("TOWER_AUTH_TLS_CERT", "must be set with TOWER_AUTH_TLS_KEY"),
    };
    if let Some(tls) = &tls
        && let Err(e) = tls.server_tls(client_ca.as_deref()).build()
    {
        invalid("TOWER_AUTH_TLS_CERT / _KEY / _CLIENT_CA", e.message());
    }
    if let Some(ca) = &client_ca
        && let Err(e) = ClientCertificates::new().proxy_ca_pem(ca)
    {
        invalid("TOWER_AUTH_TLS_CLIENT_CA", e.message());
    }
    let trusted_proxies = var("TOWER_AUTH_TRUSTED_PROXIES")
        .map(|v| v.parse::<TrustedProxies>().unwrap_or_else(|e| invalid("TOWER_AUTH_TRUSTED_PROXIES", e.message())));
    if client_ca.is_some() && tls.is_none() && trusted_proxies.is_none() {
        eprintln!(
            "warning: TOWER_AUTH_TLS_CLIENT_CA is set without TOWER_AUTH_TLS_CERT or TOWER_AUTH_TRUSTED_PROXIES: \
             no request can carry a client certificate"
        );
    }
    if trusted_proxies.is_some() && client_ca.is_none() {
        eprintln!(
            "warning: TOWER_AUTH_TRUSTED_PROXIES without TOWER_AUTH_TLS_CLIENT_CA: forwarded certificates serve \
             certificate-bound tokens but do not authenticate"
        );
    }
    (tls, client_ca, trusted_proxies)
}

/// The introspection variables: used with `TOWER_AUTH_ISSUER` only (the endpoint comes from its
/// discovery document); in embedded mode they are reported as ignored.
fn introspection_from_env() -> (Option<IntrospectionClient>, Duration) {
    const VARS: [&str; 3] = [
        "TOWER_AUTH_INTROSPECTION_CLIENT_ID",
        "TOWER_AUTH_INTROSPECTION_CLIENT_SECRET",
        "TOWER_AUTH_INTROSPECTION_CACHE_TTL",
    ];
    if var("TOWER_AUTH_ISSUER").is_none() {
        for name in VARS.iter().filter(|name| var(name).is_some()) {
            eprintln!("warning: {name} is set but introspection needs TOWER_AUTH_ISSUER; ignoring it");
        }
        return (None, DEFAULT_INTROSPECTION_CACHE_TTL);
    }
    let ttl = match var("TOWER_AUTH_INTROSPECTION_CACHE_TTL") {
        None => DEFAULT_INTROSPECTION_CACHE_TTL,
        Some(v) => parse_duration(&v).unwrap_or_else(|e| invalid("TOWER_AUTH_INTROSPECTION_CACHE_TTL", &e)),
    };
    let secret = std::env::var("TOWER_AUTH_INTROSPECTION_CLIENT_SECRET").ok().filter(|s| !s.is_empty());
    let client = match (var("TOWER_AUTH_INTROSPECTION_CLIENT_ID"), secret) {
        (None, None) => None,
        (Some(id), Some(client_secret)) => Some(IntrospectionClient { client_id: id.trim().to_owned(), client_secret }),
        (Some(_), None) => invalid(VARS[1], "must be set with TOWER_AUTH_INTROSPECTION_CLIENT_ID"),
        (None, Some(_)) => invalid(VARS[0], "must be set with TOWER_AUTH_INTROSPECTION_CLIENT_SECRET"),
    };
    (client, ttl)
}

/// What the server needs once its listener is bound.
#[derive(Debug)]
pub struct Setup {
    /// The authentication engine.
    pub authenticator: Authenticator,
    /// The embedded issuer, when no `TOWER_AUTH_ISSUER` is set.
    pub embedded: Option<LocalIssuer>,
    /// The origin the server is reachable at, `http://HOST:PORT` (`https://` with TLS).
    pub origin: String,
    /// The TLS configuration (`TOWER_AUTH_TLS_CERT` / `…_KEY`, client certificates requested with
    /// `…_CLIENT_CA`); `None` = plain HTTP.
    pub tls: Option<ServerConfig>,
    /// The generated demo API key (scope `orders:read`), when no key store is configured.
    pub demo_api_key: Option<PlaintextKey>,
    /// The per-principal limiter of the protected routes (`TOWER_AUTH_RATE_LIMIT`), unless `off`.
    pub rate_limiter: Option<RateLimiter>,
}

/// Builds the engine for a server bound at `bound`. With `TOWER_AUTH_REDIS_URL`, the DPoP replay
/// store and the introspection cache are shared through Redis, which must answer at start-up (a
/// replica that cannot reach the shared replay store must not accept proofs on its own).
pub async fn setup(config: &Config, bound: SocketAddr) -> Result<Setup, tower_auth::ConfigError> {
    let tls = config.tls.as_ref().map(|pem| pem.server_tls(config.client_ca.as_deref()).build()).transpose()?;
    let origin = format!("{}://{bound}", if tls.is_some() { "https" } else { "http" });
    let (issuer, embedded) = match &config.issuer {
        Some(url) => (Issuer::discover(url.clone()), None),
        None => {
            let local = LocalIssuer::new(origin.clone());
            local.set_default_audience(config.audience.clone());
            (Issuer::with_jwks(local.issuer(), local.jwks_json()), Some(local))
        }
    };
    // Roles for `GET /reports` from every well-known claim: Keycloak `realm_access.roles` and
    // `resource_access.<client>.roles`, Auth0 `permissions`, Okta `groups`, Entra ID `roles`.
    let issuer = issuer.roles_from(RoleClaims::well_known());
    let issuer_name = issuer.name().to_owned();
    let validator = JwtValidator::builder().issuer(issuer).audience(config.audience.clone()).build()?;
    let mut authenticator = Authenticator::builder().jwt(validator).realm(REALM);
    // Opaque tokens of a real issuer: RFC 7662 at the endpoint its discovery document names.
    if let (Some(url), Some(client)) = (&config.issuer, &config.introspection_client) {
        let mut introspector = Introspector::builder()
            .discover(url.clone())
            .client_credentials(client.client_id.clone(), client.client_secret.clone())
            .audience(config.audience.clone())
            .cache_ttl(config.introspection_cache_ttl)
            .roles_from(RoleClaims::well_known());
        if let Some(redis_url) = &config.redis_url {
            introspector = introspector.shared_cache(RedisCache::connect(redis_url).await?);
        }
        let introspector = introspector.build()?;
        authenticator = authenticator.introspection(introspector);
    }
    // DPoP (RFC 9449): `htu` is checked against the public origin, never the Host header.
    let mut dpop = Dpop::builder()
        .public_origin(config.public_url.clone().unwrap_or_else(|| origin.clone()))
        .require_nonce(config.dpop_nonce);
    if let Some(redis_url) = &config.redis_url {
        dpop = dpop.replay_store(RedisReplayStore::connect(redis_url).await?);
    }
    let dpop = dpop.build()?;
    let authenticator = authenticator.dpop(dpop);
    let (api_keys, demo_api_key) = api_keys(config)?;
    let mut authenticator = authenticator.api_keys(api_keys).client_certificates(client_certificates(config)?);
    // RFC 8705 §2: with a client CA, a request with no other credential is authenticated by its
    // certificate (verified by the handshake, or chained to the CA when a trusted proxy forwards it).
    if config.client_ca.is_some() {
        authenticator = authenticator.certificate_authentication(
            CertificateAuthentication::new(config.client_cert_identity).scopes(CLIENT_CERT_SCOPES),
        );
    }
    // I7: guessing keys or flooding the issuer with junk tokens is throttled per client address.
    if let Some(quota) = config.failed_auth_limit {
        authenticator = authenticator.failed_auth_limit(quota);
    }
    // RFC 9728: the metadata document at `/.well-known/oauth-protected-resource` and
    // `resource_metadata` in every challenge.
    authenticator = authenticator.resource_metadata(resource_metadata(config, &origin, &issuer_name));
    let authenticator = authenticator.build()?;
    let rate_limiter = rate_limiter(config)?;
    Ok(Setup { authenticator, embedded, origin, tls, demo_api_key, rate_limiter })
}

/// Where client certificates come from: the TLS connection; with `TOWER_AUTH_TRUSTED_PROXIES`, the
/// header of those peers instead (chained to `TOWER_AUTH_TLS_CLIENT_CA` to authenticate).
fn client_certificates(config: &Config) -> Result<ClientCertificates, tower_auth::ConfigError> {
    let mut certificates = ClientCertificates::new();
    if let Some(proxies) = &config.trusted_proxies {
        certificates = certificates.trusted_proxies(proxies.clone()).proxy_header(config.client_cert_header.clone());
        if let Some(ca) = &config.client_ca {
            certificates = certificates.proxy_ca_pem(ca)?;
        }
    }
    Ok(certificates)
}

/// The protected resource metadata (RFC 9728): the resource is the public origin
/// (`TOWER_AUTH_PUBLIC_URL`, else the address bound), its authorization server the issuer (the
/// embedded one or `TOWER_AUTH_ISSUER`), its scopes those of the routes.
fn resource_metadata(config: &Config, origin: &str, issuer: &str) -> ResourceMetadata {
    let resource = config.public_url.clone().unwrap_or_else(|| origin.to_owned());
    // The demo serves the origin it is given, plain HTTP included (RFC 9728 asks for https).
    let http = resource.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
    ResourceMetadata::new(resource)
        .authorization_servers([issuer])
        .scopes_supported(["orders:read", "orders:write", "admin"])
        .resource_name("tower-auth quickstart")
        // Certificate-bound tokens need a certificate: requested over TLS with a client CA, or
        // forwarded by trusted proxies.
        .tls_client_certificate_bound_access_tokens(
            (config.tls.is_some() && config.client_ca.is_some()) || config.trusted_proxies.is_some(),
        )
        .insecure_allow_http(http)
}

/// The per-principal limiter: in process, or in Redis with `TOWER_AUTH_REDIS_URL` (connected on
/// first use, so the server starts while Redis is down; requests then pass unlimited, with a
/// warning, until it is back).
fn rate_limiter(config: &Config) -> Result<Option<RateLimiter>, tower_auth::ConfigError> {
    let Some(quota) = config.rate_limit else { return Ok(None) };
    let mut builder = RateLimiter::builder().quota(quota);
    if let Some(url) = &config.redis_url {
        builder = builder.redis(RedisStore::new(url)?);
    }
    builder.build().map(Some)
}

/// The API keys of the quickstart: PostgreSQL (`TOWER_AUTH_DATABASE_URL`), else the key file
/// (`TOWER_AUTH_API_KEYS`), else memory with one generated demo key.
fn api_keys(config: &Config) -> Result<(ApiKeys, Option<PlaintextKey>), tower_auth::ConfigError> {
    let store: Arc<dyn ApiKeyStore> = match (&config.database_url, &config.api_keys_file) {
        (Some(url), file) => {
            if file.is_some() {
                eprintln!("warning: TOWER_AUTH_API_KEYS is ignored: TOWER_AUTH_DATABASE_URL is set");
            }
            // Connects on first use (and creates its table then), so the server starts while the
            // database is down: API-key requests answer 503 until it is back.
            Arc::new(PostgresStore::builder(url.clone()).build()?)
        }
        (None, Some(path)) => Arc::new(FileStore::open(path.clone())?),
        (None, None) => {
            let memory = MemoryStore::new();
            let keys = ApiKeys::builder().store(memory.clone()).build()?;
            let demo = keys.mint(&NewApiKey::new("demo-user").name("quickstart demo key").scopes(["orders:read"]))?;
            memory.insert_record(demo.record)?;
            return Ok((keys, Some(demo.key)));
        }
    };
    Ok((ApiKeys::builder().shared_store(store).build()?, None))
}

impl Setup {
    /// Prints the contract lines: `TOKEN …` and `ADMIN_TOKEN …` (embedded mode), `API_KEY …` (no key
    /// store configured), then `LISTENING …`.
    pub fn print_banner(&self) {
        let mut out = std::io::stdout().lock();
        if let Some(local) = &self.embedded {
            let token = local
                .token()
                .subject("demo-user")
                .claim("client_id", "quickstart")
                .scope("orders:read")
                .expires_in(12 * 3600)
                .sign();
            let admin = local
                .token()
                .subject("demo-admin")
                .claim("client_id", "quickstart")
                .scope("orders:read orders:write admin")
                .claim("roles", json!(["reporter"]))
                .expires_in(12 * 3600)
                .sign();
            let _ = writeln!(out, "TOKEN {token}");
            let _ = writeln!(out, "ADMIN_TOKEN {admin}");
        }
        if let Some(key) = &self.demo_api_key {
            let _ = writeln!(out, "API_KEY {}", key.expose_secret());
        }
        let _ = writeln!(out, "LISTENING {}", self.origin);
        let _ = out.flush();
    }

    /// The embedded issuer's discovery document, when there is one.
    pub fn discovery_document(&self) -> Option<Value> {
        self.embedded.as_ref().map(|local| {
            json!({
                "issuer": local.issuer(),
                "jwks_uri": format!("{}/.well-known/jwks.json", self.origin),
                "id_token_signing_alg_values_supported": ["ES256"],
            })
        })
    }

    /// The embedded issuer's JWKS, when there is one.
    pub fn jwks(&self) -> Option<Value> {
        self.embedded.as_ref().map(LocalIssuer::jwks)
    }
}

/// The `/me` document: `sub`, `client_id`, `scopes`, `kind`, `bound`.
pub fn me_document(principal: &Principal) -> Value {
    json!({
        "sub": principal.subject(),
        "client_id": principal.client_id(),
        "scopes": principal.scopes(),
        "kind": principal.mechanism().as_str(),
        "bound": principal.binding().map(|b| b.as_str()),
    })
}

/// The `/bound` document: `sub` and `bound` (`"dpop"` or `"mtls"`) of a sender-constrained token.
pub fn bound_document(principal: &Principal) -> Value {
    json!({
        "sub": principal.subject(),
        "bound": principal.binding().map(|b| b.as_str()),
    })
}

/// The requirement of `GET /bound`: a sender-constrained token (DPoP- or mTLS-bound).
///
/// A valid but unbound credential is answered 403 (a problem document, no challenge), as every
/// other authorization refusal: RFC 9110 §15.5.4 — the credentials were understood and are not
/// sufficient — while a 401 would tell the client its credentials failed authentication, which
/// they did not. A request without credentials still gets the 401 with both challenges
/// (`Bearer, DPoP algs="…"`), which tells a client how to come back with a DPoP-bound token.
pub fn bound_requirement() -> tower_auth::Requirement {
    tower_auth::Requirement::sender_constrained()
}

/// Logs to standard error, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_of_the_contract() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "s", "30x", "-5", "1.5s", "5 min"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quota_defaults_of_the_contract() {
        assert_eq!(parse_quota("100/s,burst=200").unwrap(), Some(DEFAULT_RATE_LIMIT));
        assert_eq!(parse_quota("30/m,burst=30").unwrap(), Some(DEFAULT_FAILED_AUTH_LIMIT));
        assert_eq!(parse_quota("off").unwrap(), None);
        assert!(parse_quota("100/s,burst=").is_err());
    }

    #[test]
    fn client_certificate_variables() {
        assert_eq!(parse_client_cert_header("client-cert"), Ok(ProxyHeader::ClientCert));
        assert_eq!(parse_client_cert_header(" XFCC "), Ok(ProxyHeader::Xfcc));
        assert_eq!(
            parse_client_cert_header("nginx:X-SSL-Client-Cert"),
            Ok(ProxyHeader::NginxPem("X-SSL-Client-Cert".into()))
        );
        for bad in ["", "nginx", "nginx:", "envoy", "client_cert"] {
            assert!(parse_client_cert_header(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_client_cert_identity("spiffe_id"), Ok(IdentityMapping::SpiffeId));
        assert_eq!(parse_client_cert_identity("SUBJECT_CN"), Ok(IdentityMapping::SubjectCn));
        assert_eq!(parse_client_cert_identity("dns_san"), Ok(IdentityMapping::DnsSan));
        assert!(parse_client_cert_identity("cn").is_err());
    }

    #[test]
    fn secret_not_in_debug() {
        let tls = TlsPem { cert_chain: b"chain".to_vec(), private_key: b"hunter2-key".to_vec() };
        assert!(!format!("{tls:?}").contains("hunter2"));
        let c = IntrospectionClient { client_id: "api".into(), client_secret: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
