//! Errors: one opaque [`AuthError`] per failed request, one [`ConfigError`] per bad configuration.
//!
//! Each [`AuthErrorKind`] maps to exactly one wire signal (status, `WWW-Authenticate` error code,
//! headers), following the table in the crate documentation. Descriptions are short and generic: a
//! token, key or secret is never part of an error, its `Display`, its `Debug` or its response body.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

/// What went wrong, precisely enough for metrics, logs and tests.
///
/// Several kinds share a wire signal (all `invalid_token` kinds answer the same 401), so a client
/// learns no more than RFC 6750 says it should; the kind is for the server's side.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthErrorKind {
    /// No credentials of a supported scheme on a route that requires them. 401, no error code.
    MissingCredentials,
    /// The `Authorization` header (or another credential header) is not well-formed. 400 `invalid_request`.
    MalformedRequest,
    /// More than one `Authorization` header, or two kinds of credential in one request.
    /// 400 `invalid_request`.
    MultipleCredentials,
    /// The token is longer than the configured limit (checked before any parsing). 401 `invalid_token`.
    TokenTooLarge,
    /// The token is not a well-formed compact JWS: segments, base64url, UTF-8, JSON, duplicate members.
    /// 401 `invalid_token`.
    MalformedToken,
    /// The token's `typ` header names another kind of JWT (an ID token, a DPoP proof, …).
    /// 401 `invalid_token`.
    UnsupportedTokenType,
    /// The `alg` header is `none`, not on the allow-list, or not the algorithm of the key.
    /// 401 `invalid_token`.
    UnsupportedAlgorithm,
    /// The `crit` header lists an extension this server does not understand. 401 `invalid_token`.
    UnknownCriticalHeader,
    /// No single key of the issuer matches the token's `kid` and algorithm. 401 `invalid_token`.
    UnknownKey,
    /// The signature does not verify. 401 `invalid_token`.
    InvalidSignature,
    /// A required claim is absent or has the wrong JSON type. 401 `invalid_token`.
    MissingClaim,
    /// `iss` is not a configured issuer. 401 `invalid_token`.
    InvalidIssuer,
    /// `aud` does not contain this resource server's identifier. 401 `invalid_token`.
    InvalidAudience,
    /// `exp` has passed (beyond the leeway). 401 `invalid_token`.
    Expired,
    /// `nbf` or `iat` lies in the future (beyond the leeway). 401 `invalid_token`.
    NotYetValid,
    /// The token is sender-constrained (`cnf`) but was not presented with the matching proof.
    /// 401 `invalid_token`.
    BindingMismatch,
    /// The token is not one this server can validate (an opaque token with no introspection
    /// configured). 401 `invalid_token`.
    UnrecognizedToken,
    /// The introspection endpoint answered that the token is not active (revoked, expired, unknown,
    /// or an answer whose `active` is not the JSON boolean `true`). 401 `invalid_token`.
    InactiveToken,
    /// The API key is not accepted: malformed, bad checksum, unknown id, wrong secret, expired,
    /// revoked, used from a network it is not allowed from, or out of uses. One kind for all of them,
    /// so the answer tells a caller nothing about which ids exist; the precise reason is logged at
    /// debug level. 401 `invalid_token`.
    InvalidApiKey,
    /// The client certificate is refused: the bytes of a certificate header (or of the TLS
    /// connection) are not one DER X.509 certificate, or, for certificate authentication
    /// ([`mtls`](crate::mtls)), it is expired or not yet valid, a forwarded certificate does not chain
    /// to the proxy CA, it has no identity of the mapped kind, or its identity is not allowed. One
    /// kind for all of them; the precise reason is logged at debug level. 401 `invalid_token`.
    InvalidClientCertificate,
    /// The DPoP proof is missing, repeated, malformed, or fails a check of RFC 9449 §4.3 (`typ`,
    /// `alg`, key, signature, `htm`, `htu`, `iat`, `ath`), or was used before. 401, `DPoP
    /// error="invalid_dpop_proof"`.
    InvalidDpopProof,
    /// The server requires a DPoP nonce and the proof has none, or a forged, foreign or expired one
    /// (RFC 9449 §9). 401, `DPoP error="use_dpop_nonce"` and a fresh `DPoP-Nonce` header.
    UseDpopNonce,
    /// A token on the `DPoP` scheme is not bound to the proof's key: its `cnf.jkt` is another
    /// thumbprint, or it has none (RFC 9449 §6, §7.1). 401, `DPoP error="invalid_token",
    /// error_description="Invalid DPoP key binding"`, as in the RFC's example.
    DpopBindingMismatch,
    /// The principal lacks a scope the route requires. 403 `insufficient_scope`.
    InsufficientScope,
    /// An authenticated caller is refused by a route's requirement other than scopes (a role, a
    /// claim, a mechanism, a token age) or by a policy. A plain 403: no OAuth error code and no
    /// challenge, since no other token would be better (RFC 6750 §3.1 defines
    /// `insufficient_scope` for scopes only).
    Forbidden,
    /// The issuer's keys (or another upstream) are unreachable and nothing usable is cached.
    /// 503 with `Retry-After`: fail closed.
    Unavailable,
    /// A route guard found no authentication layer in front of it. 500: a server bug, not the client's.
    Misconfigured,
    /// Over a rate-limit quota (per principal, or the failed-authentication limit of the client's
    /// address). 429 with `Retry-After` and the rate-limit headers; no challenge (another credential
    /// would not help); problem type `…/http-problem-types#quota-exceeded`.
    RateLimited,
}

impl AuthErrorKind {
    /// A stable snake_case name, used as the `reason` label of metrics and in log events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::MalformedRequest => "malformed_request",
            Self::MultipleCredentials => "multiple_credentials",
            Self::TokenTooLarge => "token_too_large",
            Self::MalformedToken => "malformed_token",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::UnknownCriticalHeader => "unknown_critical_header",
            Self::UnknownKey => "unknown_key",
            Self::InvalidSignature => "invalid_signature",
            Self::MissingClaim => "missing_claim",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidAudience => "invalid_audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::BindingMismatch => "binding_mismatch",
            Self::UnrecognizedToken => "unrecognized_token",
            Self::InactiveToken => "inactive_token",
            Self::InvalidApiKey => "invalid_api_key",
            Self::InvalidClientCertificate => "invalid_client_certificate",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::DpopBindingMismatch => "dpop_binding_mismatch",
            Self::InsufficientScope => "insufficient_scope",
            Self::Forbidden => "forbidden",
            Self::Unavailable => "unavailable",
            Self::Misconfigured => "misconfigured",
            Self::RateLimited => "rate_limited",
        }
    }

    /// The HTTP status this kind answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedRequest | Self::MultipleCredentials => StatusCode::BAD_REQUEST,
            Self::InsufficientScope | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The OAuth error code of RFC 6750 §3.1 carried in the challenge, if any.
    ///
    /// `None` for a request without credentials (RFC 6750 §3.1: no error code then), and for
    /// answers that carry no challenge (503, 500).
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials
            | Self::Forbidden
            | Self::Unavailable
            | Self::Misconfigured
            | Self::RateLimited => None,
            Self::MalformedRequest | Self::MultipleCredentials => Some("invalid_request"),
            Self::InsufficientScope => Some("insufficient_scope"),
            Self::InvalidDpopProof => Some("invalid_dpop_proof"),
            Self::UseDpopNonce => Some("use_dpop_nonce"),
            _ => Some("invalid_token"),
        }
    }

    /// The short, generic description sent as `error_description` and as the problem `detail`.
    pub fn description(self) -> &'static str {
        match self {
            Self::MissingCredentials => "Authentication required",
            Self::MalformedRequest => "Malformed credentials",
            Self::MultipleCredentials => "Multiple methods used to include access token",
            Self::Expired => "The access token expired",
            Self::BindingMismatch => "Invalid token binding",
            Self::InvalidDpopProof => "Invalid DPoP proof",
            Self::UseDpopNonce => "Resource server requires nonce in DPoP proof",
            Self::DpopBindingMismatch => "Invalid DPoP key binding",
            Self::InvalidApiKey => "Invalid API key",
            Self::InvalidClientCertificate => "Invalid client certificate",
            Self::InsufficientScope => "The access token lacks a required scope",
            Self::Forbidden => "Access to this resource is not allowed for these credentials",
            Self::Unavailable => "Authentication is temporarily unavailable",
            Self::RateLimited => "Request quota exceeded; retry later",
            Self::Misconfigured => {
                "No authentication layer ran for this route (add tower_auth::AuthLayer or tower_auth_actix::AuthMiddleware)"
            }
            _ => "Invalid token",
        }
    }

    /// Whether a `WWW-Authenticate` challenge accompanies this kind.
    pub fn has_challenge(self) -> bool {
        !matches!(self, Self::Forbidden | Self::Unavailable | Self::Misconfigured | Self::RateLimited)
    }
}

impl fmt::Display for AuthErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parameters of the challenge a server sends, fixed by its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChallengeParams {
    /// The `realm` parameter. Defaults to none.
    pub realm: Option<String>,
    /// The `algs` parameter of a `DPoP` challenge (space-separated algorithm names), when DPoP is
    /// enabled: challenges then offer both schemes, `Bearer, DPoP algs="…"` (RFC 9449 §7.1,
    /// RFC 9110 §11.6.1). Defaults to none: `Bearer` only.
    pub dpop_algs: Option<String>,
    /// The `resource_metadata` parameter of every challenge: the URL of the protected resource
    /// metadata (RFC 9728 §5.1), set by
    /// [`AuthenticatorBuilder::resource_metadata`](crate::AuthenticatorBuilder::resource_metadata).
    /// Defaults to none.
    pub resource_metadata: Option<String>,
}

/// The authentication scheme whose challenge carries an error's code when a server offers several
/// (RFC 9449 §7.2: the error goes to the scheme the request used).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthScheme {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `DPoP` (RFC 9449).
    Dpop,
}

impl ChallengeParams {
    pub(crate) fn shared_default() -> Arc<Self> {
        static DEFAULT: std::sync::OnceLock<Arc<ChallengeParams>> = std::sync::OnceLock::new();
        DEFAULT.get_or_init(|| Arc::new(Self::default())).clone()
    }
}

/// A failed authentication or authorization, ready to become a response.
///
/// Build the response with [`AuthError::response_parts`] (framework-neutral) or let a layer or
/// adapter do it. The error holds no token, key or secret.
#[derive(Clone)]
pub struct AuthError {
    kind: AuthErrorKind,
    challenge: Arc<ChallengeParams>,
    scope: Option<Arc<str>>,
    retry_after: Option<u64>,
    scheme: Option<AuthScheme>,
    dpop_nonce: Option<Arc<str>>,
    quota: Option<Arc<crate::ratelimit::Exceeded>>,
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("kind", &self.kind)
            .field("scope", &self.scope)
            .field("retry_after", &self.retry_after)
            .field("scheme", &self.scheme)
            .field("dpop_nonce", &self.dpop_nonce)
            .field("quota", &self.quota)
            .finish()
    }
}

impl AuthError {
    /// An error of `kind` with default challenge parameters.
    pub fn new(kind: AuthErrorKind) -> Self {
        Self {
            kind,
            challenge: ChallengeParams::shared_default(),
            scope: None,
            retry_after: None,
            scheme: None,
            dpop_nonce: None,
            quota: None,
        }
    }

    /// A 401 `use_dpop_nonce` that hands the client `nonce` in a `DPoP-Nonce` header (RFC 9449 §9).
    pub fn use_dpop_nonce(nonce: impl Into<Arc<str>>) -> Self {
        Self { dpop_nonce: Some(nonce.into()), ..Self::new(AuthErrorKind::UseDpopNonce) }
    }

    /// Names the scheme the request used, whose challenge carries the error code when DPoP is
    /// enabled. Unset, DPoP kinds go to `DPoP`, `invalid_request` kinds to both (the request was
    /// ambiguous, RFC 9449 §7.2), everything else to `Bearer`.
    #[must_use]
    pub fn with_scheme(mut self, scheme: AuthScheme) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// The scheme whose challenge carries the error code; `None` when both do (an ambiguous
    /// request) or when no error code is sent.
    pub fn scheme(&self) -> Option<AuthScheme> {
        self.kind.error_code()?;
        match (self.scheme, self.kind) {
            (Some(scheme), _) => Some(scheme),
            (
                None,
                AuthErrorKind::InvalidDpopProof | AuthErrorKind::UseDpopNonce | AuthErrorKind::DpopBindingMismatch,
            ) => Some(AuthScheme::Dpop),
            (None, AuthErrorKind::MalformedRequest | AuthErrorKind::MultipleCredentials) => None,
            (None, _) => Some(AuthScheme::Bearer),
        }
    }

    /// The nonce of a `use_dpop_nonce` error, sent as `DPoP-Nonce`.
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.dpop_nonce.as_deref()
    }

    /// A 403 `insufficient_scope` naming the scopes the route requires (space separated).
    pub fn insufficient_scope(required: impl Into<Arc<str>>) -> Self {
        Self { scope: Some(required.into()), ..Self::new(AuthErrorKind::InsufficientScope) }
    }

    /// A 503 that tells the client when to come back.
    pub fn unavailable(retry_after_secs: u64) -> Self {
        Self { retry_after: Some(retry_after_secs.max(1)), ..Self::new(AuthErrorKind::Unavailable) }
    }

    /// A 429 (I1–I5): `Retry-After`, the rate-limit headers of the exceeded quota and its policy
    /// name for the problem's `violated-policies`. Built by
    /// [`Decision::to_error`](crate::ratelimit::Decision::to_error).
    pub(crate) fn rate_limited(retry_after_secs: u64, exceeded: Arc<crate::ratelimit::Exceeded>) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            quota: Some(exceeded),
            ..Self::new(AuthErrorKind::RateLimited)
        }
    }

    /// For a 429, the name of the quota policy exceeded.
    pub fn violated_policy(&self) -> Option<&str> {
        self.quota.as_deref().map(|q| q.policy.as_str())
    }

    /// Replaces the challenge parameters (realm, …).
    #[must_use]
    pub fn with_challenge(mut self, challenge: Arc<ChallengeParams>) -> Self {
        self.challenge = challenge;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The required scopes, for `insufficient_scope`.
    pub fn required_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Seconds after which the client may retry (503).
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The `WWW-Authenticate` value, if this error carries a challenge.
    ///
    /// ```
    /// use tower_auth::{AuthError, AuthErrorKind};
    /// let e = AuthError::new(AuthErrorKind::Expired);
    /// assert_eq!(
    ///     e.www_authenticate().unwrap(),
    ///     r#"Bearer error="invalid_token", error_description="The access token expired""#
    /// );
    /// ```
    ///
    /// With DPoP enabled ([`ChallengeParams::dpop_algs`]) both schemes are offered, the error code
    /// only in the challenge of the scheme the request used (RFC 9449 §7.2):
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_auth::{AuthError, AuthErrorKind, ChallengeParams};
    /// let params = Arc::new(ChallengeParams { dpop_algs: Some("ES256 PS256".into()), ..Default::default() });
    /// let e = AuthError::new(AuthErrorKind::MissingCredentials).with_challenge(params.clone());
    /// assert_eq!(e.www_authenticate().unwrap(), r#"Bearer, DPoP algs="ES256 PS256""#);
    /// let e = AuthError::new(AuthErrorKind::InvalidSignature).with_challenge(params);
    /// assert_eq!(
    ///     e.www_authenticate().unwrap(),
    ///     r#"Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256""#
    /// );
    /// ```
    pub fn www_authenticate(&self) -> Option<String> {
        if !self.kind.has_challenge() {
            return None;
        }
        let Some(algs) = &self.challenge.dpop_algs else {
            let mut out = String::with_capacity(96);
            self.push_challenge(&mut out, "Bearer", true, None);
            return Some(out);
        };
        let (bearer, dpop) = match self.scheme() {
            Some(AuthScheme::Bearer) => (true, false),
            Some(AuthScheme::Dpop) => (false, true),
            None => (true, true),
        };
        let mut out = String::with_capacity(160);
        self.push_challenge(&mut out, "Bearer", bearer, None);
        out.push_str(", ");
        self.push_challenge(&mut out, "DPoP", dpop, Some(algs));
        Some(out)
    }

    /// One challenge: the scheme, then `realm`, `error`, `error_description`, `scope`, `algs`,
    /// `resource_metadata`.
    fn push_challenge(&self, out: &mut String, scheme: &str, with_error: bool, algs: Option<&str>) {
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(6);
        if let Some(realm) = &self.challenge.realm {
            params.push(("realm", realm));
        }
        if with_error && let Some(code) = self.kind.error_code() {
            params.push(("error", code));
            params.push(("error_description", self.kind.description()));
            if let Some(scope) = &self.scope {
                params.push(("scope", scope));
            }
        }
        if let Some(algs) = algs {
            params.push(("algs", algs));
        }
        if let Some(url) = &self.challenge.resource_metadata {
            params.push(("resource_metadata", url));
        }
        out.push_str(scheme);
        for (i, (name, value)) in params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            out.push_str(name);
            out.push_str("=\"");
            push_quoted(out, value);
            out.push('"');
        }
    }

    /// The RFC 9457 problem document of the response body.
    pub fn problem_json(&self) -> String {
        let status = self.status();
        let mut doc = serde_json::Map::new();
        let problem_type =
            if self.kind == AuthErrorKind::RateLimited { crate::ratelimit::QUOTA_EXCEEDED } else { "about:blank" };
        doc.insert("type".into(), problem_type.into());
        doc.insert("title".into(), status.canonical_reason().unwrap_or("Error").into());
        doc.insert("status".into(), status.as_u16().into());
        doc.insert("detail".into(), self.kind.description().into());
        if let Some(code) = self.kind.error_code() {
            doc.insert("error".into(), code.into());
        }
        if let Some(scope) = &self.scope {
            doc.insert("scope".into(), scope.as_ref().into());
        }
        if let Some(quota) = &self.quota {
            doc.insert("violated-policies".into(), vec![quota.policy.clone()].into());
        }
        serde_json::Value::Object(doc).to_string()
    }

    /// The response headers: `WWW-Authenticate` (when there is a challenge; with DPoP enabled also
    /// `Access-Control-Expose-Headers: WWW-Authenticate, DPoP-Nonce`, with resource metadata alone
    /// `Access-Control-Expose-Headers: WWW-Authenticate`), `DPoP-Nonce` (for
    /// `use_dpop_nonce`), `Retry-After` (when set), the rate-limit headers (429),
    /// `Content-Type: application/problem+json` and `Cache-Control: no-store`.
    pub fn response_headers(&self) -> Vec<(&'static str, Cow<'static, str>)> {
        let mut headers: Vec<(&'static str, Cow<'static, str>)> = Vec::with_capacity(4);
        if let Some(www) = self.www_authenticate() {
            headers.push(("www-authenticate", Cow::Owned(www)));
            if self.challenge.dpop_algs.is_some() {
                // Browser clients read both only when exposed (RFC 9449 §7.1, §8).
                headers.push(("access-control-expose-headers", Cow::Borrowed("WWW-Authenticate, DPoP-Nonce")));
            } else if self.challenge.resource_metadata.is_some() {
                // Browser clients find the metadata URL (RFC 9728 §5.1) only when exposed.
                headers.push(("access-control-expose-headers", Cow::Borrowed("WWW-Authenticate")));
            }
        }
        if let Some(nonce) = &self.dpop_nonce {
            headers.push(("dpop-nonce", Cow::Owned(nonce.to_string())));
        }
        if let Some(secs) = self.retry_after {
            headers.push(("retry-after", Cow::Owned(secs.to_string())));
        }
        if let Some(quota) = &self.quota {
            headers.extend(quota.headers.iter().map(|(name, value)| (*name, Cow::Owned(value.clone()))));
        }
        headers.push(("content-type", Cow::Borrowed("application/problem+json")));
        headers.push(("cache-control", Cow::Borrowed("no-store")));
        headers
    }

    /// Status, headers and body of the response, for any framework.
    pub fn response_parts(&self) -> ResponseParts {
        ResponseParts {
            status: self.status(),
            headers: self.response_headers(),
            body: Bytes::from(self.problem_json()),
        }
    }

    /// The response as an `http` 1 response with any body type that can be built from a string
    /// (`axum::body::Body`, `http_body_util::Full<Bytes>`, `String`, …). The error rides in the
    /// response extensions.
    pub fn into_response<B: From<String>>(self) -> http::Response<B> {
        let mut response = http::Response::new(B::from(self.problem_json()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        for (name, value) in self.response_headers() {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// Appends `value` to a quoted-string, escaping `"` and `\` (RFC 9110 §5.6.4) and dropping control
/// characters.
fn push_quoted(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind.description(), self.kind.as_str())
    }
}

impl std::error::Error for AuthError {}

impl From<AuthErrorKind> for AuthError {
    fn from(kind: AuthErrorKind) -> Self {
        Self::new(kind)
    }
}

/// The framework-neutral pieces of an error response.
#[derive(Debug, Clone)]
pub struct ResponseParts {
    /// The status.
    pub status: StatusCode,
    /// Header names (lower case) and values.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The `application/problem+json` body.
    pub body: Bytes,
}

/// A configuration mistake, reported by a builder's `build()` at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: Cow<'static, str>,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self { message: message.into() }
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid tower-auth configuration: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_signal() {
        use AuthErrorKind::*;
        let all = [
            MissingCredentials,
            MalformedRequest,
            MultipleCredentials,
            TokenTooLarge,
            MalformedToken,
            UnsupportedTokenType,
            UnsupportedAlgorithm,
            UnknownCriticalHeader,
            UnknownKey,
            InvalidSignature,
            MissingClaim,
            InvalidIssuer,
            InvalidAudience,
            Expired,
            NotYetValid,
            BindingMismatch,
            UnrecognizedToken,
            InactiveToken,
            InvalidApiKey,
            InvalidClientCertificate,
            InvalidDpopProof,
            UseDpopNonce,
            DpopBindingMismatch,
            InsufficientScope,
            Forbidden,
            Unavailable,
            Misconfigured,
            RateLimited,
        ];
        for kind in all {
            let status = kind.status().as_u16();
            match kind.error_code() {
                Some("invalid_request") => assert_eq!(status, 400, "{kind}"),
                Some("invalid_token") => assert_eq!(status, 401, "{kind}"),
                Some("insufficient_scope") => assert_eq!(status, 403, "{kind}"),
                Some("invalid_dpop_proof" | "use_dpop_nonce") => assert_eq!(status, 401, "{kind}"),
                None => assert!(matches!(status, 401 | 403 | 429 | 500 | 503), "{kind}"),
                Some(other) => panic!("unexpected code {other}"),
            }
        }
    }

    #[test]
    fn challenge_without_credentials_has_no_error_code() {
        // H1 / RFC 6750 §3.1
        let e = AuthError::new(AuthErrorKind::MissingCredentials)
            .with_challenge(Arc::new(ChallengeParams { realm: Some("example".into()), ..Default::default() }));
        assert_eq!(e.www_authenticate().unwrap(), r#"Bearer realm="example""#);
    }

    #[test]
    fn rfc6750_example_challenge() {
        let e = AuthError::new(AuthErrorKind::Expired)
            .with_challenge(Arc::new(ChallengeParams { realm: Some("example".into()), ..Default::default() }));
        assert_eq!(
            e.www_authenticate().unwrap(),
            r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#
        );
    }

    #[test]
    fn insufficient_scope_names_scope_and_escapes() {
        let e = AuthError::insufficient_scope("orders:write")
            .with_challenge(Arc::new(ChallengeParams { realm: Some("a\"b\\c\r\n".into()), ..Default::default() }));
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            e.www_authenticate().unwrap(),
            r#"Bearer realm="a\"b\\c", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:write""#
        );
    }

    #[test]
    fn forbidden_is_a_plain_403() {
        let e = AuthError::new(AuthErrorKind::Forbidden)
            .with_challenge(Arc::new(ChallengeParams { realm: Some("example".into()), ..Default::default() }));
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(e.www_authenticate(), None);
        let v: serde_json::Value = serde_json::from_str(&e.problem_json()).unwrap();
        assert_eq!(v["status"], 403);
        assert_eq!(v["title"], "Forbidden");
        assert!(v.get("error").is_none() && v.get("scope").is_none());
    }

    #[test]
    fn unavailable_has_retry_after_and_no_challenge() {
        let e = AuthError::unavailable(0);
        let parts = e.response_parts();
        assert_eq!(parts.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(parts.headers.iter().any(|(n, v)| *n == "retry-after" && v == "1"));
        assert!(parts.headers.iter().all(|(n, _)| *n != "www-authenticate"));
    }

    #[test]
    fn problem_body_is_rfc9457() {
        let e = AuthError::new(AuthErrorKind::InvalidSignature);
        let v: serde_json::Value = serde_json::from_str(&e.problem_json()).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["title"], "Unauthorized");
        assert_eq!(v["status"], 401);
        assert_eq!(v["error"], "invalid_token");
    }

    fn dpop_params(realm: Option<&str>, algs: &str) -> Arc<ChallengeParams> {
        Arc::new(ChallengeParams { realm: realm.map(Into::into), dpop_algs: Some(algs.into()), ..Default::default() })
    }

    #[test]
    fn rfc9449_golden_challenges() {
        // E7, E8, H3: the challenge strings of RFC 9449 §7.1, §7.2 and §9, byte for byte.
        let params = dpop_params(None, "ES256 PS256");
        let none = AuthError::new(AuthErrorKind::MissingCredentials).with_challenge(params.clone());
        assert_eq!(none.www_authenticate().unwrap(), r#"Bearer, DPoP algs="ES256 PS256""#);
        let bearer = AuthError::new(AuthErrorKind::InvalidSignature).with_challenge(params.clone());
        assert_eq!(
            bearer.www_authenticate().unwrap(),
            r#"Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256""#
        );
        // §7.1: the key-binding failure, with `algs="ES256"`: the DPoP challenge is the RFC's.
        let binding = AuthError::new(AuthErrorKind::DpopBindingMismatch).with_challenge(dpop_params(None, "ES256"));
        assert_eq!(
            binding.www_authenticate().unwrap(),
            r#"Bearer, DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256""#
        );
        // §7.2: ambiguous → both challenges carry the error, 400.
        let ambiguous = AuthError::new(AuthErrorKind::MultipleCredentials).with_challenge(params.clone());
        assert_eq!(ambiguous.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ambiguous.www_authenticate().unwrap(),
            r#"Bearer error="invalid_request", error_description="Multiple methods used to include access token", DPoP error="invalid_request", error_description="Multiple methods used to include access token", algs="ES256 PS256""#
        );
        // §9: use_dpop_nonce, with exactly one DPoP-Nonce header.
        let nonce = AuthError::use_dpop_nonce("eyJ7S_zG.eyJH0-Z.HX4w-7v").with_challenge(params.clone());
        let www = nonce.www_authenticate().unwrap();
        let dpop = www.strip_prefix("Bearer, ").unwrap();
        assert!(
            dpop.starts_with(
                r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#
            ),
            "{www}"
        );
        let headers = nonce.response_headers();
        let nonces: Vec<_> = headers.iter().filter(|(n, _)| *n == "dpop-nonce").collect();
        assert_eq!(nonces.len(), 1);
        assert_eq!(nonces[0].1, "eyJ7S_zG.eyJH0-Z.HX4w-7v");
        assert!(
            headers.iter().any(|(n, v)| *n == "access-control-expose-headers" && v == "WWW-Authenticate, DPoP-Nonce")
        );
        let v: serde_json::Value = serde_json::from_str(&nonce.problem_json()).unwrap();
        assert_eq!(v["error"], "use_dpop_nonce");
    }

    #[test]
    fn dpop_challenges_with_realm_and_scheme() {
        let params = dpop_params(Some("api"), "ES256");
        let proof = AuthError::new(AuthErrorKind::InvalidDpopProof).with_challenge(params.clone());
        assert_eq!(
            proof.www_authenticate().unwrap(),
            r#"Bearer realm="api", DPoP realm="api", error="invalid_dpop_proof", error_description="Invalid DPoP proof", algs="ES256""#
        );
        // A token error on the DPoP scheme goes to the DPoP challenge.
        let expired =
            AuthError::new(AuthErrorKind::Expired).with_scheme(AuthScheme::Dpop).with_challenge(params.clone());
        assert_eq!(
            expired.www_authenticate().unwrap(),
            r#"Bearer realm="api", DPoP realm="api", error="invalid_token", error_description="The access token expired", algs="ES256""#
        );
        let scope = AuthError::insufficient_scope("admin").with_scheme(AuthScheme::Dpop).with_challenge(params);
        assert_eq!(
            scope.www_authenticate().unwrap(),
            r#"Bearer realm="api", DPoP realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="admin", algs="ES256""#
        );
        // Without DPoP nothing changes, and no CORS header is added.
        let plain = AuthError::new(AuthErrorKind::InvalidSignature);
        assert_eq!(
            plain.www_authenticate().unwrap(),
            r#"Bearer error="invalid_token", error_description="Invalid token""#
        );
        assert!(
            plain.response_headers().iter().all(|(n, _)| *n != "access-control-expose-headers" && *n != "dpop-nonce")
        );
    }
}
