//! The HTTP side: OIDC discovery of the endpoint, the RFC 7662 request, and reading the answer
//! (size-limited, strict JSON) into an [`Answer`].

use std::time::Duration;

use serde_json::{Map, Value};

use super::config::{Checks, Credentials};
use crate::error::AuthErrorKind;
use crate::principal::{Binding, Mechanism, Principal, scopes_from_claims};

/// Where the endpoint comes from.
#[derive(Debug, Clone)]
pub(crate) enum EndpointSpec {
    /// A configured URL.
    Fixed(String),
    /// The `introspection_endpoint` of this issuer's discovery document.
    Discover(String),
}

/// Why a call produced no usable answer. Each is answered with 503 (fail closed); the text goes to
/// the logs and never contains the token, the secret, or the endpoint's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Discovery failed (the reason says how).
    Discovery(&'static str),
    /// Could not connect or send.
    Unreachable,
    /// The timeout passed.
    TimedOut,
    /// 401 / 403: the endpoint refused *our* client credentials (D3).
    CredentialsRefused,
    /// A 5xx status.
    ServerError,
    /// Any other non-200 status (a redirect, a 400, …).
    UnexpectedStatus,
    /// The answer is larger than the limit.
    TooLarge,
    /// The answer is not a JSON object, has duplicate members, or lacks `active`.
    Malformed,
}

impl Failure {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Discovery(reason) => reason,
            Self::Unreachable => "introspection endpoint unreachable",
            Self::TimedOut => "introspection request timed out",
            Self::CredentialsRefused => "introspection endpoint refused this server's client credentials",
            Self::ServerError => "introspection endpoint answered with a server error",
            Self::UnexpectedStatus => "introspection endpoint answered with an unexpected status",
            Self::TooLarge => "introspection answer too large",
            Self::Malformed => "introspection answer is not a valid RFC 7662 JSON object",
        }
    }

    /// The label of the `tower_auth_introspection_requests_total` counter.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Discovery(_) => "discovery_failed",
            Self::Unreachable => "unreachable",
            Self::TimedOut => "timeout",
            Self::CredentialsRefused => "credentials_refused",
            Self::ServerError => "server_error",
            Self::UnexpectedStatus => "unexpected_status",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
        }
    }
}

/// Talks to the introspection endpoint.
pub(crate) struct Client {
    spec: EndpointSpec,
    discovered: tokio::sync::OnceCell<String>,
    credentials: Credentials,
    http: reqwest::Client,
    timeout: Duration,
    max_response_bytes: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.spec)
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(
        spec: EndpointSpec,
        credentials: Credentials,
        http: reqwest::Client,
        timeout: Duration,
        max_response_bytes: usize,
    ) -> Self {
        Self { spec, discovered: tokio::sync::OnceCell::new(), credentials, http, timeout, max_response_bytes }
    }

    pub(crate) fn needs_discovery(&self) -> bool {
        matches!(self.spec, EndpointSpec::Discover(_)) && !self.discovered.initialized()
    }

    /// The endpoint URL, once known.
    pub(crate) fn known_endpoint(&self) -> Option<&str> {
        match &self.spec {
            EndpointSpec::Fixed(url) => Some(url),
            EndpointSpec::Discover(_) => self.discovered.get().map(String::as_str),
        }
    }

    /// The endpoint URL, discovering it first if needed. Concurrent callers share one discovery; a
    /// failed one is retried by the next caller.
    pub(crate) async fn endpoint(&self) -> Result<&str, Failure> {
        match &self.spec {
            EndpointSpec::Fixed(url) => Ok(url),
            EndpointSpec::Discover(issuer) => {
                self.discovered.get_or_try_init(|| self.discover(issuer)).await.map(String::as_str)
            }
        }
    }

    async fn discover(&self, issuer: &str) -> Result<String, Failure> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let request = self.http.get(url).header(http::header::ACCEPT, "application/json");
        let body = self.send(request).await.map_err(|f| match f {
            Failure::TimedOut => Failure::Discovery("discovery request timed out"),
            Failure::TooLarge => Failure::Discovery("discovery document too large"),
            Failure::ServerError | Failure::UnexpectedStatus | Failure::CredentialsRefused => {
                Failure::Discovery("discovery document request failed with a non-success status")
            }
            _ => Failure::Discovery("discovery document unreachable"),
        })?;
        let doc =
            crate::json::parse_object(&body).ok_or(Failure::Discovery("discovery document is not a JSON object"))?;
        // RFC 8414 §3.3: the metadata's issuer must be the configured issuer, exactly.
        if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(Failure::Discovery("discovery issuer does not match the configured issuer"));
        }
        let endpoint = doc
            .get("introspection_endpoint")
            .and_then(Value::as_str)
            .ok_or(Failure::Discovery("discovery document has no introspection_endpoint"))?;
        match reqwest::Url::parse(endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {
                tracing::debug!(target: "tower_auth::introspection", issuer, "introspection endpoint discovered");
                Ok(endpoint.to_owned())
            }
            _ => Err(Failure::Discovery("discovered introspection_endpoint is not an http(s) URL")),
        }
    }

    /// One RFC 7662 §2.1 request (D1): `POST`, `application/x-www-form-urlencoded`, `token` and
    /// `token_type_hint=access_token`, with our client credentials. Returns the body of a 200.
    pub(crate) async fn introspect(&self, token: &str) -> Result<Vec<u8>, Failure> {
        let endpoint = self.endpoint().await?;
        let request = self.http.post(endpoint).header(http::header::ACCEPT, "application/json");
        let (request, body) = match &self.credentials {
            Credentials::Basic(value) => {
                (request.header(http::header::AUTHORIZATION, value.clone()), form_body(token, None))
            }
            Credentials::Post { client_id, client_secret } => {
                (request, form_body(token, Some((client_id, &client_secret.0))))
            }
        };
        let request = request.header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, Failure> {
        // The timeout covers connecting, the status line and the whole body.
        let classify = |e: reqwest::Error| if e.is_timeout() { Failure::TimedOut } else { Failure::Unreachable };
        let mut response = request.timeout(self.timeout).send().await.map_err(classify)?;
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
            return Err(Failure::CredentialsRefused);
        }
        if status.is_server_error() {
            return Err(Failure::ServerError);
        }
        if status != http::StatusCode::OK {
            return Err(Failure::UnexpectedStatus);
        }
        let limit = self.max_response_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(Failure::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > limit {
                return Err(Failure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The request body: `token=…&token_type_hint=access_token` (plus the `client_secret_post` members).
pub(crate) fn form_body(token: &str, post: Option<(&str, &str)>) -> Vec<u8> {
    let mut form = form_urlencoded::Serializer::new(String::with_capacity(token.len() + 64));
    form.append_pair("token", token).append_pair("token_type_hint", "access_token");
    if let Some((id, secret)) = post {
        form.append_pair("client_id", id).append_pair("client_secret", secret);
    }
    form.finish().into_bytes()
}

/// What the endpoint said about a token, with the checks that do not depend on time already made.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// Not active, or `active` is anything but the JSON boolean `true` (D2). Nothing else of the
    /// answer is read (D5).
    Inactive,
    /// Active, but refused by a check of this server (`iss`, `aud`, a claim of the wrong type, an
    /// unusable `cnf`).
    Refused(AuthErrorKind),
    /// Active and acceptable, subject to `exp` / `nbf` at the time of use.
    Active {
        /// The principal built from the answer.
        principal: Principal,
        /// `exp`, when present.
        exp: Option<f64>,
        /// `nbf`, when present.
        nbf: Option<f64>,
    },
}

impl Answer {
    /// Reads an answer body. `Err` means no usable answer (503), not an inactive token.
    pub(crate) fn parse(body: &[u8], checks: &Checks) -> Result<Self, Failure> {
        let doc = crate::json::parse_object(body).ok_or(Failure::Malformed)?;
        match doc.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Ok(Self::Inactive),
            // D2: only the JSON boolean `true` is active. A string "true", 1, null… are not.
            Some(_) => {
                tracing::warn!(target: "tower_auth::introspection", "introspection answer has a non-boolean \"active\"; treating the token as inactive");
                return Ok(Self::Inactive);
            }
            None => return Err(Failure::Malformed),
        }
        Ok(match Self::active(doc, checks) {
            Ok(answer) => answer,
            Err(kind) => Self::Refused(kind),
        })
    }

    fn active(doc: Map<String, Value>, checks: &Checks) -> Result<Self, AuthErrorKind> {
        let exp = numeric_date(&doc, "exp")?;
        let nbf = numeric_date(&doc, "nbf")?;
        numeric_date(&doc, "iat")?;
        let iss = match doc.get("iss") {
            None => None,
            Some(Value::String(iss)) => Some(iss.clone()),
            Some(_) => return Err(AuthErrorKind::InvalidIssuer),
        };
        // D7: the configured issuer and audience, when the answer names them.
        if let (Some(expected), Some(iss)) = (&checks.issuer, &iss)
            && expected != iss
        {
            return Err(AuthErrorKind::InvalidIssuer);
        }
        if !checks.audiences.is_empty() {
            let accepted = |aud: &str| checks.audiences.iter().any(|a| a == aud);
            let ok = match doc.get("aud") {
                None => true,
                Some(Value::String(aud)) => accepted(aud),
                Some(Value::Array(auds)) => auds.iter().any(|v| v.as_str().is_some_and(accepted)),
                Some(_) => false,
            };
            if !ok {
                return Err(AuthErrorKind::InvalidAudience);
            }
        }
        // D6: record the binding. A `cnf` this server cannot read, or a DPoP token type without a
        // `jkt` (or a `jkt` with another explicit type), is never taken for a plain bearer token.
        let binding = Binding::from_claims(&doc).map_err(|()| AuthErrorKind::BindingMismatch)?;
        if let Some(token_type) = doc.get("token_type") {
            let is_dpop = token_type.as_str().is_some_and(|t| t.eq_ignore_ascii_case("dpop"));
            if is_dpop != matches!(binding, Some(Binding::Dpop { .. })) {
                return Err(AuthErrorKind::BindingMismatch);
            }
        }
        let str_member =
            |name: &str| doc.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let client_id = str_member("client_id");
        let subject = str_member("sub")
            .or_else(|| str_member("username"))
            .or_else(|| client_id.clone())
            .ok_or(AuthErrorKind::MissingClaim)?;
        let mut builder = Principal::builder(Mechanism::Introspection, subject)
            .scopes(scopes_from_claims(&doc))
            .roles(checks.roles.extract(&doc));
        if let Some(iss) = iss.or_else(|| checks.issuer.clone()) {
            builder = builder.issuer(iss);
        }
        if let Some(client_id) = client_id {
            builder = builder.client_id(client_id);
        }
        if let Some(binding) = binding {
            builder = builder.binding(binding);
        }
        if let Some(exp) = exp {
            builder = builder.expires_at_unix(if exp <= 0.0 { 0 } else { exp.floor() as u64 });
        }
        Ok(Self::Active { principal: builder.claims(doc).build(), exp, nbf })
    }

    /// The verdict at time `now` (seconds since the epoch).
    pub(crate) fn judge(&self, now: f64, leeway: f64) -> Result<Principal, AuthErrorKind> {
        match self {
            Self::Inactive => Err(AuthErrorKind::InactiveToken),
            Self::Refused(kind) => Err(*kind),
            Self::Active { principal, exp, nbf } => {
                if exp.is_some_and(|exp| now >= exp + leeway) {
                    return Err(AuthErrorKind::Expired);
                }
                if nbf.is_some_and(|nbf| now + leeway < nbf) {
                    return Err(AuthErrorKind::NotYetValid);
                }
                Ok(principal.clone())
            }
        }
    }

    /// How long this answer may be reused after `now`: active answers at most `max` and never past
    /// `exp` (RFC 7662 §4, D4); others `negative`.
    pub(crate) fn ttl(&self, now: f64, max: Duration, negative: Duration) -> Duration {
        match self {
            Self::Active { exp: Some(exp), .. } => {
                let left = (exp - now).clamp(0.0, 86_400.0 * 365.0);
                Duration::from_secs_f64(left).min(max)
            }
            Self::Active { exp: None, .. } => max,
            Self::Inactive | Self::Refused(_) => negative,
        }
    }
}

fn numeric_date(doc: &Map<String, Value>, name: &str) -> Result<Option<f64>, AuthErrorKind> {
    match doc.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().filter(|f| f.is_finite()).map(Some).ok_or(AuthErrorKind::MissingClaim),
        Some(_) => Err(AuthErrorKind::MissingClaim),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks() -> Checks {
        Checks {
            issuer: Some("https://server.example.com/".into()),
            audiences: vec!["https://protected.example.net/resource".into()],
            leeway: 0.0,
            roles: crate::authz::RoleClaims::keycloak(),
        }
    }

    /// RFC 7662 §2.2 example answer.
    const RFC_ACTIVE: &str = r#"{
      "active": true,
      "client_id": "l238j323ds-23ij4",
      "username": "jdoe",
      "scope": "read write dolphin",
      "sub": "Z5O3upPC88QrAjx00dis",
      "aud": "https://protected.example.net/resource",
      "iss": "https://server.example.com/",
      "exp": 1419356238,
      "iat": 1419350238,
      "extension_field": "twenty-seven"
    }"#;

    #[test]
    fn request_body_is_the_rfc_example() {
        // D1: RFC 7662 §2.1 "token=mF_9.B5f-4.1JqM&token_type_hint=access_token"
        assert_eq!(form_body("mF_9.B5f-4.1JqM", None), b"token=mF_9.B5f-4.1JqM&token_type_hint=access_token");
        let post = String::from_utf8(form_body("a+b/c=", Some(("rs", "s e&c")))).unwrap();
        assert_eq!(post, "token=a%2Bb%2Fc%3D&token_type_hint=access_token&client_id=rs&client_secret=s+e%26c");
    }

    #[test]
    fn rfc_example_answer_becomes_a_principal() {
        // D2, D6, D7
        let answer = Answer::parse(RFC_ACTIVE.as_bytes(), &checks()).unwrap();
        let p = answer.judge(1_419_350_300.0, 0.0).unwrap();
        assert_eq!(p.subject(), "Z5O3upPC88QrAjx00dis");
        assert_eq!(p.client_id(), Some("l238j323ds-23ij4"));
        assert_eq!(p.issuer(), Some("https://server.example.com/"));
        assert_eq!(p.scopes(), ["read", "write", "dolphin"]);
        assert_eq!(p.mechanism(), Mechanism::Introspection);
        assert_eq!(p.claim("extension_field").unwrap(), "twenty-seven");
        assert!(p.roles().is_empty());
        assert_eq!(crate::clock::unix_seconds(p.expires_at().unwrap()), 1_419_356_238);
        assert!(p.binding().is_none());
        // D7: exp checked at the time of use.
        assert_eq!(answer.judge(1_419_356_238.0, 0.0).unwrap_err(), AuthErrorKind::Expired);
        assert!(answer.judge(1_419_356_238.0, 60.0).is_ok());
    }

    #[test]
    fn only_boolean_true_is_active() {
        // D2, D5: anything but `true` is inactive, and nothing else is read.
        for body in [
            r#"{"active":false}"#,
            r#"{"active":"true"}"#,
            r#"{"active":1}"#,
            r#"{"active":null}"#,
            r#"{"active":false,"sub":"x","scope":"admin","exp":"garbage"}"#,
        ] {
            let answer = Answer::parse(body.as_bytes(), &checks()).unwrap();
            assert!(matches!(answer, Answer::Inactive), "{body}");
            assert_eq!(answer.judge(0.0, 0.0).unwrap_err(), AuthErrorKind::InactiveToken);
        }
    }

    #[test]
    fn garbage_is_no_answer() {
        // Fail closed (503), never an inactive token: the endpoint did not answer the question.
        for body in
            ["", "<html>", "[]", r#"{"sub":"x"}"#, r#"{"active":true,"active":true}"#, r#"{"error":"invalid_client"}"#]
        {
            assert_eq!(Answer::parse(body.as_bytes(), &checks()).unwrap_err(), Failure::Malformed, "{body}");
        }
    }

    #[test]
    fn active_answers_are_checked() {
        // D7
        let refused = |body: &str| match Answer::parse(body.as_bytes(), &checks()).unwrap() {
            Answer::Refused(kind) => kind,
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(refused(r#"{"active":true,"sub":"a","iss":"https://evil.example/"}"#), AuthErrorKind::InvalidIssuer);
        assert_eq!(refused(r#"{"active":true,"sub":"a","aud":"https://other"}"#), AuthErrorKind::InvalidAudience);
        assert_eq!(refused(r#"{"active":true,"sub":"a","aud":["x","y"]}"#), AuthErrorKind::InvalidAudience);
        assert_eq!(refused(r#"{"active":true,"sub":"a","exp":"tomorrow"}"#), AuthErrorKind::MissingClaim);
        assert_eq!(refused(r#"{"active":true,"scope":"a"}"#), AuthErrorKind::MissingClaim);
        let ok = Answer::parse(br#"{"active":true,"username":"jdoe","aud":["x","https://protected.example.net/resource"],"realm_access":{"roles":["reporter"]}}"#, &checks());
        let p = ok.unwrap().judge(0.0, 0.0).unwrap();
        assert_eq!(p.subject(), "jdoe");
        assert_eq!(p.roles(), ["reporter"]);
        let nbf = Answer::parse(br#"{"active":true,"client_id":"svc","nbf":1000}"#, &checks()).unwrap();
        assert_eq!(nbf.judge(900.0, 0.0).unwrap_err(), AuthErrorKind::NotYetValid);
        assert_eq!(nbf.judge(1000.0, 0.0).unwrap().subject(), "svc");
    }

    #[test]
    fn bindings_are_recorded() {
        // D6: RFC 9449 §6.2 example answer
        let body = br#"{"active":true,"sub":"someone@example.com","iss":"https://server.example.com/","nbf":1562262611,"exp":1562266216,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}"#;
        let p = Answer::parse(body, &checks()).unwrap().judge(1_562_262_700.0, 0.0).unwrap();
        assert_eq!(p.binding(), Some(&Binding::Dpop { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into() }));
        let mtls = br#"{"active":true,"sub":"a","cnf":{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}"#;
        assert_eq!(
            Answer::parse(mtls, &checks()).unwrap().judge(0.0, 0.0).unwrap().binding().unwrap().as_str(),
            "mtls"
        );
        let refused = |body: &[u8]| {
            matches!(Answer::parse(body, &checks()).unwrap(), Answer::Refused(AuthErrorKind::BindingMismatch))
        };
        // token_type DPoP without jkt, jkt with another type, a cnf nobody can check.
        assert!(refused(br#"{"active":true,"sub":"a","token_type":"DPoP"}"#));
        assert!(refused(br#"{"active":true,"sub":"a","token_type":"Bearer","cnf":{"jkt":"x"}}"#));
        assert!(refused(br#"{"active":true,"sub":"a","cnf":{"kid":"x"}}"#));
        assert!(refused(br#"{"active":true,"sub":"a","cnf":"x"}"#));
        assert!(!refused(br#"{"active":true,"sub":"a","token_type":"dpop","cnf":{"jkt":"x"}}"#));
    }

    #[test]
    fn cache_lifetimes() {
        // D4: never past exp; inactive answers for the short negative TTL.
        let max = Duration::from_secs(30);
        let neg = Duration::from_secs(5);
        let at = |exp: &str| {
            Answer::parse(format!(r#"{{"active":true,"sub":"a","exp":{exp}}}"#).as_bytes(), &checks()).unwrap()
        };
        assert_eq!(at("1010").ttl(1000.0, max, neg), Duration::from_secs(10));
        assert_eq!(at("5000").ttl(1000.0, max, neg), max);
        assert_eq!(at("900").ttl(1000.0, max, neg), Duration::ZERO);
        assert_eq!(Answer::parse(br#"{"active":true,"sub":"a"}"#, &checks()).unwrap().ttl(0.0, max, neg), max);
        assert_eq!(Answer::Inactive.ttl(0.0, max, neg), neg);
    }
}
