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
    /// The principal lacks a scope the route requires. 403 `insufficient_scope`.
    InsufficientScope,
    /// The issuer's keys (or another upstream) are unreachable and nothing usable is cached.
    /// 503 with `Retry-After`: fail closed.
    Unavailable,
    /// A route guard found no authentication layer in front of it. 500: a server bug, not the client's.
    Misconfigured,
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
            Self::InsufficientScope => "insufficient_scope",
            Self::Unavailable => "unavailable",
            Self::Misconfigured => "misconfigured",
        }
    }

    /// The HTTP status this kind answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedRequest | Self::MultipleCredentials => StatusCode::BAD_REQUEST,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The OAuth error code of RFC 6750 §3.1 carried in the challenge, if any.
    ///
    /// `None` for a request without credentials (RFC 6750 §3.1: no error code then), and for
    /// answers that carry no challenge (503, 500).
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials | Self::Unavailable | Self::Misconfigured => None,
            Self::MalformedRequest | Self::MultipleCredentials => Some("invalid_request"),
            Self::InsufficientScope => Some("insufficient_scope"),
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
            Self::InsufficientScope => "The access token lacks a required scope",
            Self::Unavailable => "Authentication is temporarily unavailable",
            Self::Misconfigured => "No authentication layer ran for this route (add tower_auth::AuthLayer or tower_auth_actix::AuthMiddleware)",
            _ => "Invalid token",
        }
    }

    /// Whether a `WWW-Authenticate` challenge accompanies this kind.
    pub fn has_challenge(self) -> bool {
        !matches!(self, Self::Unavailable | Self::Misconfigured)
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
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("kind", &self.kind)
            .field("scope", &self.scope)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl AuthError {
    /// An error of `kind` with default challenge parameters.
    pub fn new(kind: AuthErrorKind) -> Self {
        Self { kind, challenge: ChallengeParams::shared_default(), scope: None, retry_after: None }
    }

    /// A 403 `insufficient_scope` naming the scopes the route requires (space separated).
    pub fn insufficient_scope(required: impl Into<Arc<str>>) -> Self {
        Self { scope: Some(required.into()), ..Self::new(AuthErrorKind::InsufficientScope) }
    }

    /// A 503 that tells the client when to come back.
    pub fn unavailable(retry_after_secs: u64) -> Self {
        Self { retry_after: Some(retry_after_secs.max(1)), ..Self::new(AuthErrorKind::Unavailable) }
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
    pub fn www_authenticate(&self) -> Option<String> {
        if !self.kind.has_challenge() {
            return None;
        }
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(4);
        if let Some(realm) = &self.challenge.realm {
            params.push(("realm", realm));
        }
        if let Some(code) = self.kind.error_code() {
            params.push(("error", code));
            params.push(("error_description", self.kind.description()));
        }
        if let Some(scope) = &self.scope {
            params.push(("scope", scope));
        }
        let mut out = String::from("Bearer");
        for (i, (name, value)) in params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            out.push_str(name);
            out.push_str("=\"");
            push_quoted(&mut out, value);
            out.push('"');
        }
        Some(out)
    }

    /// The RFC 9457 problem document of the response body.
    pub fn problem_json(&self) -> String {
        let status = self.status();
        let mut doc = serde_json::Map::new();
        doc.insert("type".into(), "about:blank".into());
        doc.insert("title".into(), status.canonical_reason().unwrap_or("Error").into());
        doc.insert("status".into(), status.as_u16().into());
        doc.insert("detail".into(), self.kind.description().into());
        if let Some(code) = self.kind.error_code() {
            doc.insert("error".into(), code.into());
        }
        if let Some(scope) = &self.scope {
            doc.insert("scope".into(), scope.as_ref().into());
        }
        serde_json::Value::Object(doc).to_string()
    }

    /// The response headers: `WWW-Authenticate` (when there is a challenge), `Retry-After` (when
    /// set), `Content-Type: application/problem+json` and `Cache-Control: no-store`.
    pub fn response_headers(&self) -> Vec<(&'static str, Cow<'static, str>)> {
        let mut headers: Vec<(&'static str, Cow<'static, str>)> = Vec::with_capacity(4);
        if let Some(www) = self.www_authenticate() {
            headers.push(("www-authenticate", Cow::Owned(www)));
        }
        if let Some(secs) = self.retry_after {
            headers.push(("retry-after", Cow::Owned(secs.to_string())));
        }
        headers.push(("content-type", Cow::Borrowed("application/problem+json")));
        headers.push(("cache-control", Cow::Borrowed("no-store")));
        headers
    }

    /// Status, headers and body of the response, for any framework.
    pub fn response_parts(&self) -> ResponseParts {
        ResponseParts { status: self.status(), headers: self.response_headers(), body: Bytes::from(self.problem_json()) }
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
            MissingCredentials, MalformedRequest, MultipleCredentials, TokenTooLarge, MalformedToken,
            UnsupportedTokenType, UnsupportedAlgorithm, UnknownCriticalHeader, UnknownKey,
            InvalidSignature, MissingClaim, InvalidIssuer, InvalidAudience, Expired, NotYetValid,
            BindingMismatch, UnrecognizedToken, InsufficientScope, Unavailable, Misconfigured,
        ];
        for kind in all {
            let status = kind.status().as_u16();
            match kind.error_code() {
                Some("invalid_request") => assert_eq!(status, 400, "{kind}"),
                Some("invalid_token") => assert_eq!(status, 401, "{kind}"),
                Some("insufficient_scope") => assert_eq!(status, 403, "{kind}"),
                None => assert!(matches!(status, 401 | 500 | 503), "{kind}"),
                Some(other) => panic!("unexpected code {other}"),
            }
        }
    }

    #[test]
    fn challenge_without_credentials_has_no_error_code() {
        // H1 / RFC 6750 §3.1
        let e = AuthError::new(AuthErrorKind::MissingCredentials)
            .with_challenge(Arc::new(ChallengeParams { realm: Some("example".into()) }));
        assert_eq!(e.www_authenticate().unwrap(), r#"Bearer realm="example""#);
    }

    #[test]
    fn rfc6750_example_challenge() {
        let e = AuthError::new(AuthErrorKind::Expired)
            .with_challenge(Arc::new(ChallengeParams { realm: Some("example".into()) }));
        assert_eq!(
            e.www_authenticate().unwrap(),
            r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#
        );
    }

    #[test]
    fn insufficient_scope_names_scope_and_escapes() {
        let e = AuthError::insufficient_scope("orders:write")
            .with_challenge(Arc::new(ChallengeParams { realm: Some("a\"b\\c\r\n".into()) }));
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            e.www_authenticate().unwrap(),
            r#"Bearer realm="a\"b\\c", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:write""#
        );
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
}
