//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that tells a client which
//! authorization servers issue tokens for this API, which scopes it knows and how tokens are
//! presented — the discovery path MCP clients and other generic OAuth clients follow after a 401.
//!
//! Configure it once on the [`AuthenticatorBuilder`](crate::AuthenticatorBuilder) with
//! [`resource_metadata`](crate::AuthenticatorBuilder::resource_metadata); the engine then
//!
//! - builds the document (§2) from that configuration and its own: `bearer_methods_supported` is
//!   `["header"]`, and with [DPoP](crate::dpop) `dpop_signing_alg_values_supported` lists the
//!   accepted proof algorithms;
//! - computes where the document lives (§3, §3.1): the well-known string is inserted between the
//!   host and the path of the resource identifier, so `https://api.example.com/v1` publishes at
//!   `https://api.example.com/.well-known/oauth-protected-resource/v1`;
//! - adds `resource_metadata="<that URL>"` to every `WWW-Authenticate` challenge, `Bearer` and
//!   `DPoP` alike (§5.1), unless turned off with [`ResourceMetadata::challenge_parameter`].
//!
//! Serving the document is one line with an adapter (`tower_auth_axum::protected_resource_metadata`,
//! `tower_auth_actix::protected_resource_metadata`) or, for any `http` 1 stack,
//! [`MetadataEndpoint::response`] at [`MetadataEndpoint::path`]: `200`, `application/json` (§3.2).
//!
//! ```
//! use tower_auth::{Authenticator, ResourceMetadata, jwt::{Issuer, JwtValidator}};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_auth::ConfigError> {
//! let jwt = JwtValidator::builder()
//!     .issuer(Issuer::discover("https://login.example.com"))
//!     .audience("https://api.example.com/v1")
//!     .build()?;
//! let auth = Authenticator::builder()
//!     .jwt(jwt)
//!     .resource_metadata(
//!         ResourceMetadata::new("https://api.example.com/v1")
//!             .authorization_servers(["https://login.example.com"])
//!             .scopes_supported(["orders:read", "orders:write"]),
//!     )
//!     .build()?;
//!
//! let endpoint = auth.resource_metadata().expect("configured");
//! assert_eq!(endpoint.path(), "/.well-known/oauth-protected-resource/v1");
//! assert_eq!(endpoint.url(), "https://api.example.com/.well-known/oauth-protected-resource/v1");
//! let challenge = auth.error(tower_auth::AuthErrorKind::MissingCredentials).www_authenticate().unwrap();
//! assert_eq!(
//!     challenge,
//!     r#"Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1""#
//! );
//! # Ok(()) }
//! ```
//!
//! The resource identifier must be an `https` URL without query or fragment (§1.2; a query is
//! allowed by the RFC but not recommended, and refused here so the document has one fixed path);
//! `http` is accepted for loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`), and elsewhere only
//! with [`ResourceMetadata::insecure_allow_http`]. The identifier is published verbatim: clients
//! compare it with the URL they used, character for character (§3.3).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::dpop::Dpop;
use crate::error::ConfigError;

/// The well-known URI suffix of RFC 9728 §3: `/.well-known/oauth-protected-resource`.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// The protected resource metadata document (RFC 9728 §2), as served.
///
/// Members without a value are left out of the JSON (§3.2: "parameters with zero values MUST be
/// omitted"); the booleans are sent only when `true` (their default is `false`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// `resource`: the resource identifier, exactly as configured. REQUIRED.
    pub resource: String,
    /// `authorization_servers`: issuer identifiers of the authorization servers whose tokens this
    /// resource accepts (RFC 8414 issuers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// `jwks_uri`: the resource's own public keys (for signed responses), when it publishes any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `scopes_supported`: the scope values the resource understands. RECOMMENDED.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// `bearer_methods_supported`: how a token may be presented; `["header"]` (the `Authorization`
    /// header, RFC 6750 §2.1), the only method this engine reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bearer_methods_supported: Vec<String>,
    /// `resource_name`: a human-readable name. RECOMMENDED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// `resource_documentation`: a URL of human-readable documentation for developers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// `tls_client_certificate_bound_access_tokens`: support for certificate-bound tokens (RFC 8705).
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// `dpop_signing_alg_values_supported`: the DPoP proof algorithms accepted (RFC 9449), when DPoP
    /// is enabled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// `dpop_bound_access_tokens_required`: whether every token must be DPoP-bound.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dpop_bound_access_tokens_required: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// The configuration of the metadata document, handed to
/// [`AuthenticatorBuilder::resource_metadata`](crate::AuthenticatorBuilder::resource_metadata).
#[derive(Debug, Clone)]
#[must_use]
pub struct ResourceMetadata {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    jwks_uri: Option<String>,
    dpop_bound_access_tokens_required: bool,
    tls_client_certificate_bound_access_tokens: bool,
    challenge_parameter: bool,
    allow_http: bool,
}

impl ResourceMetadata {
    /// Metadata for the resource identified by `resource` (RFC 9728 §1.2): the URL clients call
    /// and request tokens for (usually the `aud` of its tokens), e.g. `https://api.example.com`.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            jwks_uri: None,
            dpop_bound_access_tokens_required: false,
            tls_client_certificate_bound_access_tokens: false,
            challenge_parameter: true,
            allow_http: false,
        }
    }

    /// The issuer identifiers of the authorization servers whose tokens this resource accepts.
    /// Defaults to none (the member is then left out).
    pub fn authorization_servers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = issuers.into_iter().map(Into::into).collect();
        self
    }

    /// The scope values this resource understands. Defaults to none.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable name of the resource. Defaults to none.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// A URL of developer documentation. Defaults to none.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The URL of the resource's own JWK Set (for resources that sign responses). Defaults to none.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// Declares that only DPoP-bound tokens are accepted (`dpop_bound_access_tokens_required`).
    /// Needs DPoP on the authenticator. Defaults to `false`.
    pub fn dpop_bound_access_tokens_required(mut self, required: bool) -> Self {
        self.dpop_bound_access_tokens_required = required;
        self
    }

    /// Declares support for certificate-bound tokens (`tls_client_certificate_bound_access_tokens`,
    /// RFC 8705). Defaults to `false`.
    pub fn tls_client_certificate_bound_access_tokens(mut self, supported: bool) -> Self {
        self.tls_client_certificate_bound_access_tokens = supported;
        self
    }

    /// Whether challenges carry `resource_metadata="<metadata URL>"` (RFC 9728 §5.1). Defaults to on.
    pub fn challenge_parameter(mut self, on: bool) -> Self {
        self.challenge_parameter = on;
        self
    }

    /// Accepts an `http` resource identifier on any host (`http` on loopback hosts is always
    /// accepted). For development set-ups only: RFC 9728 §1.2 requires `https`. Defaults to off.
    pub fn insecure_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Checks the configuration against the engine's DPoP settings and builds the endpoint.
    pub(crate) fn build(self, dpop: Option<&Dpop>) -> Result<MetadataEndpoint, ConfigError> {
        let location = locate(&self.resource, self.allow_http)?;
        for (what, url) in [("resource_documentation", &self.resource_documentation), ("jwks_uri", &self.jwks_uri)] {
            if let Some(url) = url {
                check_url(what, url)?;
            }
        }
        for issuer in &self.authorization_servers {
            check_url("authorization_servers", issuer)?;
        }
        if self.scopes_supported.iter().any(|s| s.is_empty() || !s.bytes().all(is_scope_char)) {
            return Err(ConfigError::new("resource metadata: scopes_supported holds a value that is no scope-token"));
        }
        if self.resource_name.as_deref().is_some_and(|n| n.chars().any(char::is_control)) {
            return Err(ConfigError::new("resource metadata: resource_name must not contain control characters"));
        }
        if self.dpop_bound_access_tokens_required && dpop.is_none() {
            return Err(ConfigError::new(
                "resource metadata: dpop_bound_access_tokens_required needs DPoP on the authenticator (.dpop(..))",
            ));
        }
        let document = ProtectedResourceMetadata {
            resource: self.resource,
            authorization_servers: self.authorization_servers,
            jwks_uri: self.jwks_uri,
            scopes_supported: self.scopes_supported,
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: self.resource_name,
            resource_documentation: self.resource_documentation,
            tls_client_certificate_bound_access_tokens: self.tls_client_certificate_bound_access_tokens,
            dpop_signing_alg_values_supported: dpop
                .map(|d| d.algorithms().iter().map(|a| a.as_str().to_owned()).collect())
                .unwrap_or_default(),
            dpop_bound_access_tokens_required: self.dpop_bound_access_tokens_required,
        };
        let body = serde_json::to_vec(&document)
            .map_err(|e| ConfigError::new(format!("resource metadata: cannot serialize the document: {e}")))?;
        Ok(MetadataEndpoint {
            document,
            url: location.url,
            path: location.path,
            body: Bytes::from(body),
            challenge_parameter: self.challenge_parameter,
        })
    }
}

/// The built metadata: the document, its JSON, and where it is served. Cheap to clone.
///
/// Get it from [`Authenticator::resource_metadata`](crate::Authenticator::resource_metadata), or
/// with [`MetadataEndpoint::of`] when its absence is a configuration error.
#[derive(Debug, Clone)]
pub struct MetadataEndpoint {
    document: ProtectedResourceMetadata,
    url: String,
    path: String,
    body: Bytes,
    challenge_parameter: bool,
}

impl MetadataEndpoint {
    /// The endpoint of `auth`, or a [`ConfigError`] when `auth` was built without
    /// [`resource_metadata`](crate::AuthenticatorBuilder::resource_metadata): what the adapters'
    /// route helpers return, so a missing configuration surfaces at start-up.
    pub fn of(auth: &crate::Authenticator) -> Result<Self, ConfigError> {
        auth.resource_metadata().cloned().ok_or_else(|| {
            ConfigError::new(
                "no protected resource metadata configured: add .resource_metadata(ResourceMetadata::new(..)) to the Authenticator",
            )
        })
    }

    /// The document.
    pub fn document(&self) -> &ProtectedResourceMetadata {
        &self.document
    }

    /// The absolute URL of the document (RFC 9728 §3.1), the `resource_metadata` challenge value.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path to serve the document at: [`WELL_KNOWN_PATH`] followed by the path of the resource
    /// identifier, if any (`/.well-known/oauth-protected-resource/v1`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The document as JSON.
    pub fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// Whether challenges carry the `resource_metadata` parameter.
    pub fn challenge_parameter(&self) -> bool {
        self.challenge_parameter
    }

    /// The headers of the document's response, lower-case names: `content-type: application/json`
    /// (§3.2) and `access-control-allow-origin: *` (the document is public; browser-based clients
    /// read it from other origins).
    pub fn response_headers(&self) -> [(&'static str, &'static str); 2] {
        [("content-type", "application/json"), ("access-control-allow-origin", "*")]
    }

    /// The `200` response with the document, as an `http` 1 response with any body type that can
    /// be built from [`Bytes`] (`axum::body::Body`, `http_body_util::Full<Bytes>`, …).
    pub fn response<B: From<Bytes>>(&self) -> http::Response<B> {
        let mut response = http::Response::new(B::from(self.body()));
        for (name, value) in self.response_headers() {
            response.headers_mut().insert(name, http::HeaderValue::from_static(value));
        }
        response
    }
}

/// Where the document of a resource identifier lives.
#[derive(Debug, PartialEq, Eq)]
struct Location {
    /// The absolute URL: origin, well-known string, the identifier's path.
    url: String,
    /// The same without the origin.
    path: String,
}

/// RFC 9728 §3 / §3.1: inserts [`WELL_KNOWN_PATH`] between the host and the path of `resource`,
/// after removing the slash that ends an identifier without a path of its own.
fn locate(resource: &str, allow_http: bool) -> Result<Location, ConfigError> {
    let bad = |why: &str| ConfigError::new(format!("resource metadata: the resource identifier {why}"));
    if resource.is_empty() || !resource.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(bad("must be a URL of visible ASCII characters"));
    }
    if resource.contains('#') {
        return Err(bad("must not have a fragment (RFC 9728 §1.2)"));
    }
    if resource.contains('?') {
        return Err(bad("must not have a query (RFC 8707 §2); give the resource a path instead"));
    }
    let Some((scheme, rest)) = resource.split_once("://") else {
        return Err(bad("must be an absolute https URL"));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = host_of(authority).ok_or_else(|| bad("has no valid host (user information is not allowed)"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if allow_http || is_loopback(host) => {}
        "http" => {
            return Err(bad("must use https (RFC 9728 §1.2); .insecure_allow_http(true) allows http for development"));
        }
        _ => return Err(bad("must be an absolute https URL")),
    }
    if !path.bytes().all(|b| b == b'/' || is_pchar(b)) {
        return Err(bad("has characters not allowed in a URL path"));
    }
    // The identifier's own path, unless it is empty or the lone slash after the host.
    let suffix = if path == "/" { "" } else { path };
    let path = format!("{WELL_KNOWN_PATH}{suffix}");
    Ok(Location { url: format!("{scheme}://{authority}{path}"), path })
}

/// The host of an authority (`host[:port]`, `[v6][:port]`), `None` when it is empty, carries user
/// information, or has a bad port.
fn host_of(authority: &str) -> Option<&str> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, after) = authority.split_at(close + 1);
        let inner = &host[1..host.len() - 1];
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return None;
        }
        (host, if after.is_empty() { None } else { Some(after.strip_prefix(':')?) })
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)) {
            return None;
        }
        (host, port)
    };
    match port {
        None => Some(host),
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().ok().map(|_| host)
        }
        Some(_) => None,
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if host == "localhost" || host == "[::1]" {
        return true;
    }
    host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// RFC 3986 `pchar` (unreserved, percent sign, sub-delims, `:`, `@`).
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:@".contains(&b)
}

/// RFC 6749 §3.3 `scope-token` characters.
fn is_scope_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

/// An absolute `http(s)` URL (for the URL-valued members).
fn check_url(what: &str, url: &str) -> Result<(), ConfigError> {
    let ok = url.bytes().all(|b| (0x21..0x7f).contains(&b))
        && url.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme.to_ascii_lowercase().as_str(), "https" | "http")
                && host_of(&rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]).is_some()
        });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(format!("resource metadata: {what}: {url:?} is not an absolute http(s) URL")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::error::{AuthError, AuthErrorKind, AuthScheme, ChallengeParams};

    fn url_of(resource: &str) -> String {
        locate(resource, false).expect(resource).url
    }

    #[test]
    fn well_known_url_is_inserted_between_host_and_path() {
        // J, RFC 9728 §3.1 and its two examples.
        assert_eq!(
            url_of("https://resource.example.com"),
            "https://resource.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            url_of("https://resource.example.com/resource1"),
            "https://resource.example.com/.well-known/oauth-protected-resource/resource1"
        );
        assert_eq!(
            url_of("https://api.example.com/v1"),
            "https://api.example.com/.well-known/oauth-protected-resource/v1"
        );
        // The slash ending an identifier without a path goes; a path keeps its own.
        assert_eq!(url_of("https://api.example.com/"), "https://api.example.com/.well-known/oauth-protected-resource");
        assert_eq!(
            url_of("https://api.example.com/mcp/"),
            "https://api.example.com/.well-known/oauth-protected-resource/mcp/"
        );
        assert_eq!(
            url_of("https://api.example.com:8443/a/b"),
            "https://api.example.com:8443/.well-known/oauth-protected-resource/a/b"
        );
        assert_eq!(url_of("http://127.0.0.1:3000"), "http://127.0.0.1:3000/.well-known/oauth-protected-resource");
        assert_eq!(url_of("http://[::1]:3000/x"), "http://[::1]:3000/.well-known/oauth-protected-resource/x");
        assert_eq!(
            locate("https://api.example.com/v1", false).unwrap().path,
            "/.well-known/oauth-protected-resource/v1"
        );
        assert_eq!(locate("https://api.example.com", false).unwrap().path, WELL_KNOWN_PATH);
    }

    #[test]
    fn resource_identifiers_that_are_refused() {
        for bad in [
            "",
            "api.example.com",
            "/v1",
            "https://",
            "https:///v1",
            "https://api.example.com#frag",
            "https://api.example.com/v1?tenant=a",
            "ftp://api.example.com",
            "https://user@api.example.com",
            "https://api.example.com:99999",
            "https://api.example.com:",
            "https://api.example.com:x",
            "https://api example.com",
            "https://api.example.com/a b",
            "https://api.example.com/{id}",
            "https://api.example.com/\"",
            "https://[]/x",
            "https://[zz::1]/x",
            "https://api.ex\u{e4}mple.com",
            "https://api.example.com/\n",
            "http://api.example.com",
            "http://10.0.0.1",
        ] {
            assert!(locate(bad, false).is_err(), "{bad:?} was accepted");
        }
        // http beyond loopback only when asked for.
        assert_eq!(
            locate("http://api.example.com/v1", true).unwrap().url,
            "http://api.example.com/.well-known/oauth-protected-resource/v1"
        );
        assert!(locate("http://localhost:8080", false).is_ok());
        assert!(locate("http://127.1.2.3", false).is_ok());
    }

    #[test]
    fn garbage_identifiers_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let alphabet = b"htps:/[]@?#%.:0123456789abcXYZ-_~\"{} \x00\xff";
        for _ in 0..5_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = usize::try_from(seed % 40).unwrap_or(0);
            let bytes: Vec<u8> = (0..len)
                .map(|i| alphabet[usize::try_from((seed >> (i % 56)) % alphabet.len() as u64).unwrap_or(0)])
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            for prefix in ["", "https://", "http://127.0.0.1"] {
                let candidate = format!("{prefix}{text}");
                if let Ok(location) = locate(&candidate, false) {
                    assert!(location.path.starts_with(WELL_KNOWN_PATH), "{candidate:?}");
                    assert!(location.url.ends_with(&location.path), "{candidate:?}");
                }
            }
        }
    }

    fn endpoint(config: ResourceMetadata, dpop: Option<&Dpop>) -> MetadataEndpoint {
        config.build(dpop).expect("valid metadata")
    }

    #[test]
    fn document_members_follow_rfc9728_section_2() {
        let dpop = Dpop::builder().public_origin("https://api.example.com").build().unwrap();
        let e = endpoint(
            ResourceMetadata::new("https://api.example.com/v1")
                .authorization_servers(["https://login.example.com"])
                .scopes_supported(["orders:read", "admin"])
                .resource_name("Orders API")
                .resource_documentation("https://docs.example.com/orders")
                .dpop_bound_access_tokens_required(true)
                .tls_client_certificate_bound_access_tokens(true),
            Some(&dpop),
        );
        let json: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "resource": "https://api.example.com/v1",
                "authorization_servers": ["https://login.example.com"],
                "scopes_supported": ["orders:read", "admin"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Orders API",
                "resource_documentation": "https://docs.example.com/orders",
                "tls_client_certificate_bound_access_tokens": true,
                "dpop_signing_alg_values_supported": ["ES256", "ES384", "ES512", "PS256", "RS256", "EdDSA"],
                "dpop_bound_access_tokens_required": true,
            })
        );
        let parsed: ProtectedResourceMetadata = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(&parsed, e.document());
    }

    #[test]
    fn empty_members_are_omitted() {
        // §3.2: parameters with zero values are omitted; the booleans default to false.
        let e = endpoint(ResourceMetadata::new("https://api.example.com"), None);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&e.body()).unwrap(),
            serde_json::json!({ "resource": "https://api.example.com", "bearer_methods_supported": ["header"] })
        );
        assert_eq!(e.url(), "https://api.example.com/.well-known/oauth-protected-resource");
        let response: http::Response<Bytes> = e.response();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
    }

    #[test]
    fn configuration_mistakes_are_reported() {
        let errors = [
            ResourceMetadata::new("https://api.example.com").dpop_bound_access_tokens_required(true),
            ResourceMetadata::new("https://api.example.com").authorization_servers(["login.example.com"]),
            ResourceMetadata::new("https://api.example.com").jwks_uri("/jwks"),
            ResourceMetadata::new("https://api.example.com").scopes_supported(["two words"]),
            ResourceMetadata::new("https://api.example.com").scopes_supported([""]),
            ResourceMetadata::new("https://api.example.com").resource_name("a\nb"),
            ResourceMetadata::new("http://api.example.com"),
        ];
        for config in errors {
            let debug = format!("{config:?}");
            assert!(config.build(None).is_err(), "{debug}");
        }
    }

    fn params(endpoint: &MetadataEndpoint, dpop_algs: Option<&str>) -> Arc<ChallengeParams> {
        Arc::new(ChallengeParams {
            realm: Some("api".into()),
            dpop_algs: dpop_algs.map(Into::into),
            resource_metadata: Some(endpoint.url().to_owned()),
        })
    }

    #[test]
    fn challenges_carry_resource_metadata() {
        // J, RFC 9728 §5.1; H1: quoted, comma-separated parameters of RFC 6750 §3.
        let e = endpoint(ResourceMetadata::new("https://api.example.com/v1"), None);
        let url = e.url();
        let none = AuthError::new(AuthErrorKind::MissingCredentials).with_challenge(params(&e, None));
        assert_eq!(none.www_authenticate().unwrap(), format!(r#"Bearer realm="api", resource_metadata="{url}""#));
        let bad = AuthError::new(AuthErrorKind::InvalidSignature).with_challenge(params(&e, None));
        assert_eq!(
            bad.www_authenticate().unwrap(),
            format!(
                r#"Bearer realm="api", error="invalid_token", error_description="Invalid token", resource_metadata="{url}""#
            )
        );
        let scope = AuthError::insufficient_scope("admin").with_challenge(params(&e, None));
        assert_eq!(
            scope.www_authenticate().unwrap(),
            format!(
                r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="admin", resource_metadata="{url}""#
            )
        );
        // Both schemes carry it when DPoP is on.
        let proof = AuthError::new(AuthErrorKind::InvalidDpopProof)
            .with_scheme(AuthScheme::Dpop)
            .with_challenge(params(&e, Some("ES256")));
        assert_eq!(
            proof.www_authenticate().unwrap(),
            format!(
                r#"Bearer realm="api", resource_metadata="{url}", DPoP realm="api", error="invalid_dpop_proof", error_description="Invalid DPoP proof", algs="ES256", resource_metadata="{url}""#
            )
        );
        // Browsers may read the challenge.
        assert!(
            none.response_headers()
                .iter()
                .any(|(n, v)| *n == "access-control-expose-headers" && v.contains("WWW-Authenticate"))
        );
        // Plain 403s and 503s still carry no challenge.
        let forbidden = AuthError::new(AuthErrorKind::Forbidden).with_challenge(params(&e, None));
        assert_eq!(forbidden.www_authenticate(), None);
    }
}
