//! The framework-neutral engine: request view in, [`Principal`] or [`AuthError`] out.

use std::sync::Arc;

use crate::credentials::{self, Credential, CredentialSources};
use crate::error::{AuthError, AuthErrorKind, ChallengeParams, ConfigError};
use crate::jwt::JwtValidator;
use crate::principal::{Mechanism, Principal};
use crate::view::{HeaderLookup, RequestView};

/// Authenticates requests: finds the credential by scheme, hands it to its mechanism, and reports
/// every outcome as a `tracing` event (target `tower_auth`, with the request's correlation id, never
/// the credential) and as the counter `tower_auth_authentications_total{mechanism, outcome, reason}`
/// of the `metrics` facade.
///
/// Cheap to clone. Framework adapters call [`Authenticator::authenticate`]; most users only build it
/// and hand it to a layer.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    jwt: Option<JwtValidator>,
    optional: bool,
    preflight_passthrough: bool,
    challenge: Arc<ChallengeParams>,
    request_id_header: String,
    sources: CredentialSources,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("jwt", &self.inner.jwt)
            .field("optional", &self.inner.optional)
            .field("preflight_passthrough", &self.inner.preflight_passthrough)
            .field("challenge", &self.inner.challenge)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Authenticator`].
#[derive(Debug)]
#[must_use]
pub struct AuthenticatorBuilder {
    jwt: Option<JwtValidator>,
    optional: bool,
    preflight_passthrough: bool,
    realm: Option<String>,
    request_id_header: String,
}

impl Authenticator {
    /// Starts a configuration.
    pub fn builder() -> AuthenticatorBuilder {
        AuthenticatorBuilder {
            jwt: None,
            optional: false,
            preflight_passthrough: true,
            realm: None,
            request_id_header: "x-request-id".to_owned(),
        }
    }

    /// The JWT validator, if configured.
    pub fn jwt(&self) -> Option<&JwtValidator> {
        self.inner.jwt.as_ref()
    }

    /// Whether requests without credentials pass (with no principal).
    pub fn is_optional(&self) -> bool {
        self.inner.optional
    }

    /// The challenge parameters this engine answers with.
    pub fn challenge(&self) -> &Arc<ChallengeParams> {
        &self.inner.challenge
    }

    /// An error of `kind` carrying this engine's challenge parameters.
    pub fn error(&self, kind: AuthErrorKind) -> AuthError {
        AuthError::new(kind).with_challenge(self.inner.challenge.clone())
    }

    /// Authenticates one request.
    ///
    /// `Ok(Some(principal))`: authenticated. `Ok(None)`: no credentials and the engine is optional, or
    /// a CORS preflight passed through. `Err`: reject with the error's response.
    pub async fn authenticate<V: RequestView + ?Sized>(&self, request: &V) -> Result<Option<Principal>, AuthError> {
        let result = self.authenticate_inner(request).await;
        self.report(request, &result);
        result.map(|outcome| outcome.principal).map_err(|e| e.with_challenge(self.inner.challenge.clone()))
    }

    async fn authenticate_inner<V: RequestView + ?Sized>(&self, request: &V) -> Result<Outcome, AuthError> {
        let inner = &*self.inner;
        if inner.preflight_passthrough
            && request.method() == "OPTIONS"
            && !matches!(request.header("access-control-request-method"), HeaderLookup::Missing)
            && matches!(request.header("authorization"), HeaderLookup::Missing)
        {
            return Ok(Outcome { principal: None, label: "preflight" });
        }
        let credential = credentials::extract(request, &inner.sources)?;
        match credential {
            None if inner.optional => Ok(Outcome { principal: None, label: "anonymous" }),
            None => Err(AuthErrorKind::MissingCredentials.into()),
            Some(Credential::Bearer(token)) => {
                let Some(jwt) = &inner.jwt else { return Err(AuthErrorKind::UnrecognizedToken.into()) };
                let principal = jwt.validate(token).await?;
                // RFC 9449 §7.2 / RFC 8705 §3: a sender-constrained token is never a bearer token.
                if principal.binding().is_some() {
                    return Err(AuthErrorKind::BindingMismatch.into());
                }
                Ok(Outcome { principal: Some(principal), label: Mechanism::Jwt.as_str() })
            }
            // Only produced when the matching mechanism enabled its source.
            Some(Credential::Dpop(_) | Credential::ApiKey(_)) => Err(AuthErrorKind::UnrecognizedToken.into()),
        }
    }

    fn report<V: RequestView + ?Sized>(&self, request: &V, result: &Result<Outcome, AuthError>) {
        let request_id = match request.header(&self.inner.request_id_header) {
            HeaderLookup::One(v) if v.len() <= 128 => std::str::from_utf8(v).unwrap_or(""),
            _ => "",
        };
        match result {
            Ok(Outcome { principal: Some(p), label }) => {
                metrics::counter!("tower_auth_authentications_total", "mechanism" => *label, "outcome" => "success", "reason" => "ok").increment(1);
                tracing::debug!(target: "tower_auth", request_id, mechanism = *label, subject = %p.subject().escape_debug(), "authenticated");
            }
            Ok(Outcome { principal: None, label }) => {
                metrics::counter!("tower_auth_authentications_total", "mechanism" => "none", "outcome" => *label, "reason" => "ok").increment(1);
                tracing::trace!(target: "tower_auth", request_id, outcome = *label, "passed without credentials");
            }
            Err(e) => {
                let reason = e.kind().as_str();
                metrics::counter!("tower_auth_authentications_total", "mechanism" => "bearer", "outcome" => "failure", "reason" => reason).increment(1);
                if e.kind() == AuthErrorKind::Unavailable {
                    tracing::warn!(target: "tower_auth", request_id, reason, "authentication unavailable");
                } else {
                    tracing::info!(target: "tower_auth", request_id, reason, status = e.status().as_u16(), "authentication failed");
                }
            }
        }
    }
}

struct Outcome {
    principal: Option<Principal>,
    label: &'static str,
}

impl AuthenticatorBuilder {
    /// Validates `Bearer` JWTs with `validator`.
    pub fn jwt(mut self, validator: JwtValidator) -> Self {
        self.jwt = Some(validator);
        self
    }

    /// Optional authentication: a request without credentials passes with no principal; a request
    /// with bad credentials is still rejected. Defaults to off (credentials required).
    pub fn optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }

    /// Whether CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method` and no
    /// `Authorization`) pass without credentials, as browsers send them. Defaults to on.
    pub fn cors_preflight_passthrough(mut self, on: bool) -> Self {
        self.preflight_passthrough = on;
        self
    }

    /// The `realm` of challenges. Defaults to none.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The header whose value identifies a request in log events. Defaults to `x-request-id`.
    pub fn request_id_header(mut self, name: impl Into<String>) -> Self {
        self.request_id_header = name.into().to_ascii_lowercase();
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Authenticator, ConfigError> {
        if self.jwt.is_none() {
            return Err(ConfigError::new("no mechanism configured: add .jwt(..)"));
        }
        if let Some(realm) = &self.realm
            && realm.chars().any(|c| c.is_control()) {
                return Err(ConfigError::new("realm must not contain control characters"));
            }
        Ok(Authenticator {
            inner: Arc::new(Inner {
                jwt: self.jwt,
                optional: self.optional,
                preflight_passthrough: self.preflight_passthrough,
                challenge: Arc::new(ChallengeParams { realm: self.realm }),
                request_id_header: self.request_id_header,
                sources: CredentialSources::default(),
            }),
        })
    }
}
