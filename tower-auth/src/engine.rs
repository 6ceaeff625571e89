//! The framework-neutral engine: request view in, [`Principal`] or [`AuthError`] out.

use std::sync::Arc;

use crate::apikey::ApiKeys;
use crate::credentials::{self, Credential, CredentialSources};
use crate::dpop::Dpop;
use crate::error::AuthScheme;
use crate::error::{AuthError, AuthErrorKind, ChallengeParams, ConfigError};
use crate::introspection::Introspector;
use crate::jwt::JwtValidator;
use crate::metadata::{MetadataEndpoint, ResourceMetadata};
use crate::mtls::{CertificateAuthentication, ClientCertificates};
use crate::principal::Binding;
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
    introspection: Option<Introspector>,
    introspect_jwts: bool,
    api_keys: Option<ApiKeys>,
    dpop: Option<Dpop>,
    certificates: ClientCertificates,
    certificate_auth: Option<CertificateAuthentication>,
    optional: bool,
    preflight_passthrough: bool,
    challenge: Arc<ChallengeParams>,
    resource_metadata: Option<MetadataEndpoint>,
    request_id_header: String,
    sources: CredentialSources,
    failed_auth: Option<crate::ratelimit::FailedAuthLimiter>,
    /// Whether a credential can be decided without I/O (a verified-token cache or API keys):
    /// otherwise [`Authenticator::try_authenticate_request_now`] leaves every request to the
    /// asynchronous path at once, rather than look at it twice.
    answers_now: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("jwt", &self.inner.jwt)
            .field("introspection", &self.inner.introspection)
            .field("api_keys", &self.inner.api_keys)
            .field("dpop", &self.inner.dpop)
            .field("client_certificates", &self.inner.certificates)
            .field("certificate_authentication", &self.inner.certificate_auth)
            .field("introspect_jwts", &self.inner.introspect_jwts)
            .field("optional", &self.inner.optional)
            .field("preflight_passthrough", &self.inner.preflight_passthrough)
            .field("challenge", &self.inner.challenge)
            .field("resource_metadata", &self.inner.resource_metadata.as_ref().map(MetadataEndpoint::url))
            .field("failed_auth", &self.inner.failed_auth)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Authenticator`].
#[derive(Debug)]
#[must_use]
pub struct AuthenticatorBuilder {
    jwt: Option<JwtValidator>,
    introspection: Option<Introspector>,
    api_keys: Option<ApiKeys>,
    dpop: Option<Dpop>,
    certificates: Option<ClientCertificates>,
    certificate_auth: Option<CertificateAuthentication>,
    introspect_jwts: bool,
    optional: bool,
    preflight_passthrough: bool,
    realm: Option<String>,
    resource_metadata: Option<ResourceMetadata>,
    request_id_header: String,
    failed_auth: Option<crate::ratelimit::FailedAuthLimit>,
}

impl Authenticator {
    /// Starts a configuration.
    pub fn builder() -> AuthenticatorBuilder {
        AuthenticatorBuilder {
            jwt: None,
            introspection: None,
            introspect_jwts: false,
            api_keys: None,
            dpop: None,
            certificates: None,
            certificate_auth: None,
            optional: false,
            preflight_passthrough: true,
            realm: None,
            resource_metadata: None,
            request_id_header: "x-request-id".to_owned(),
            failed_auth: None,
        }
    }

    /// The JWT validator, if configured.
    pub fn jwt(&self) -> Option<&JwtValidator> {
        self.inner.jwt.as_ref()
    }

    /// The introspector, if configured.
    pub fn introspection(&self) -> Option<&Introspector> {
        self.inner.introspection.as_ref()
    }

    /// The API-key mechanism, if configured.
    pub fn api_keys(&self) -> Option<&ApiKeys> {
        self.inner.api_keys.as_ref()
    }

    /// The DPoP proof verification, if configured.
    pub fn dpop(&self) -> Option<&Dpop> {
        self.inner.dpop.as_ref()
    }

    /// Where client certificates come from (the TLS connection, trusted proxies' headers).
    pub fn client_certificates(&self) -> &ClientCertificates {
        &self.inner.certificates
    }

    /// Certificate authentication, if configured.
    pub fn certificate_authentication(&self) -> Option<&CertificateAuthentication> {
        self.inner.certificate_auth.as_ref()
    }

    /// Whether requests without credentials pass (with no principal).
    pub fn is_optional(&self) -> bool {
        self.inner.optional
    }

    /// The protected resource metadata (RFC 9728), if configured with
    /// [`resource_metadata`](AuthenticatorBuilder::resource_metadata): the document and where to
    /// serve it.
    pub fn resource_metadata(&self) -> Option<&MetadataEndpoint> {
        self.inner.resource_metadata.as_ref()
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
        self.authenticate_request(request).await.map(Authenticated::into_principal)
    }

    /// Authenticates one request, with the headers its successful response must carry (a fresh
    /// `DPoP-Nonce`, RFC 9449 §8.2). What framework adapters call.
    pub async fn authenticate_request<V: RequestView + ?Sized>(&self, request: &V) -> Result<Authenticated, AuthError> {
        let mut dpop_nonce = None;
        let mut vary = None;
        let mut scheme = "none";
        // I7: an address over its failed-authentication quota is refused before any work; each
        // failure counts against it.
        let work = self.authenticate_inner(request, &mut dpop_nonce, &mut vary, &mut scheme);
        let result =
            crate::ratelimit::FailedAuthLimiter::guard(self.inner.failed_auth.as_ref(), request.peer_addr(), work)
                .await;
        self.finish(request, result, scheme, dpop_nonce, vary)
    }

    /// Authenticates one request at once when the answer needs no I/O, with the same outcome,
    /// report (log event and counter) and failed-authentication accounting as
    /// [`authenticate_request`](Self::authenticate_request): a request without credentials, a CORS
    /// preflight, a malformed or ambiguous credential, an address over its failed-authentication
    /// quota, a `Bearer` JWT found in the verified-token cache (and not expired), an API key whose
    /// record is in the lookup cache (and needs no use count in the store). `None` when the answer
    /// needs more (a signature check, a key fetch, introspection, a store lookup, a DPoP proof),
    /// and for every request when the engine has neither a verified-token cache nor API keys:
    /// then call [`authenticate_request`](Self::authenticate_request), which decides the request
    /// from the start — nothing is counted or reported for it here.
    ///
    /// Framework adapters call this first, so that the common case costs no future.
    pub fn try_authenticate_request_now<V: RequestView + ?Sized>(
        &self,
        request: &V,
    ) -> Option<Result<Authenticated, AuthError>> {
        if !self.inner.answers_now {
            return None;
        }
        let mut vary = None;
        let mut scheme = "none";
        let work = || match self.prepare(request, &mut vary, &mut scheme) {
            Step::Done(result) => Some(result),
            Step::Bearer(token) => {
                let (principal, mechanism) = self.token_principal_now(token)?;
                Some(self.bearer_outcome(request, principal, mechanism, &mut vary))
            }
            Step::ApiKey(key) => {
                let Some(api_keys) = &self.inner.api_keys else {
                    return Some(Err(AuthErrorKind::UnrecognizedToken.into()));
                };
                let principal = api_keys.verify_now(key, request.peer_addr().map(|a| a.ip()))?;
                Some(principal.map(|p| Outcome { principal: Some(p), label: Mechanism::ApiKey.as_str() }))
            }
            Step::Dpop(_) => None,
        };
        let result =
            crate::ratelimit::FailedAuthLimiter::guard_now(self.inner.failed_auth.as_ref(), request.peer_addr(), work)?;
        Some(self.finish(request, result, scheme, None, vary))
    }

    /// Reports an outcome and turns it into what adapters see.
    fn finish<V: RequestView + ?Sized>(
        &self,
        request: &V,
        result: Result<Outcome, AuthError>,
        scheme: &'static str,
        dpop_nonce: Option<String>,
        vary: Option<String>,
    ) -> Result<Authenticated, AuthError> {
        self.report(request, &result, scheme);
        let principal =
            result.map(|outcome| outcome.principal).map_err(|e| e.with_challenge(self.inner.challenge.clone()))?;
        Ok(Authenticated { principal, dpop_nonce, vary })
    }

    /// Everything decided without I/O: CORS preflight, credential selection, requests without a
    /// credential (optional mode, certificate authentication); what is left is the credential's.
    fn prepare<'r, V: RequestView + ?Sized>(
        &self,
        request: &'r V,
        vary: &mut Option<String>,
        scheme: &mut &'static str,
    ) -> Step<'r> {
        let inner = &*self.inner;
        if inner.preflight_passthrough
            && request.method() == "OPTIONS"
            && !matches!(request.header("access-control-request-method"), HeaderLookup::Missing)
            && matches!(request.header("authorization"), HeaderLookup::Missing)
        {
            return Step::Done(Ok(Outcome { principal: None, label: "preflight" }));
        }
        let credential = match credentials::extract(request, &inner.sources) {
            Ok(credential) => credential,
            Err(kind) => return Step::Done(Err(kind.into())),
        };
        *scheme = match credential {
            None => "none",
            Some(Credential::Bearer(_)) => "bearer",
            Some(Credential::ApiKey(_)) => "api_key",
            Some(Credential::Dpop(_)) => "dpop",
        };
        match credential {
            None => Step::Done(self.without_credential(request, vary, scheme)),
            Some(Credential::Bearer(token)) => Step::Bearer(token),
            Some(Credential::ApiKey(key)) => Step::ApiKey(key),
            Some(Credential::Dpop(token)) => Step::Dpop(token),
        }
    }

    /// A request without a credential: its client certificate (mode (a)), or anonymous in optional
    /// mode, or refused.
    fn without_credential<V: RequestView + ?Sized>(
        &self,
        request: &V,
        vary: &mut Option<String>,
        scheme: &mut &'static str,
    ) -> Result<Outcome, AuthError> {
        let inner = &*self.inner;
        // Mode (a): with no other credential, the client certificate authenticates.
        if let Some(cert_auth) = &inner.certificate_auth
            && let Some(cert) = inner.certificates.resolve(request).inspect_err(|_| *scheme = "client_cert")?
        {
            *scheme = "client_cert";
            *vary = inner.certificates.vary(&cert);
            let principal = cert_auth.authenticate(&cert, &inner.certificates).map_err(|reason| {
                tracing::debug!(target: "tower_auth", reason, "client certificate refused");
                AuthError::new(AuthErrorKind::InvalidClientCertificate)
            })?;
            return Ok(Outcome { principal: Some(principal), label: Mechanism::ClientCert.as_str() });
        }
        if inner.optional {
            Ok(Outcome { principal: None, label: "anonymous" })
        } else {
            Err(AuthErrorKind::MissingCredentials.into())
        }
    }

    /// The binding rules of a token presented on `Bearer`.
    fn bearer_outcome<V: RequestView + ?Sized>(
        &self,
        request: &V,
        principal: Principal,
        mechanism: Mechanism,
        vary: &mut Option<String>,
    ) -> Result<Outcome, AuthError> {
        let inner = &*self.inner;
        match principal.binding() {
            None => {}
            // G1, RFC 8705 §3: a certificate-bound token is accepted on `Bearer` only over the
            // certificate it is bound to (from the TLS connection or a trusted proxy).
            Some(Binding::Mtls { x5t_s256 }) => {
                let cert = inner.certificates.resolve(request)?;
                match cert {
                    Some(c) if crate::mtls::thumbprint_matches(&c.certificate, x5t_s256) => {
                        *vary = inner.certificates.vary(&c);
                    }
                    _ => return Err(AuthErrorKind::BindingMismatch.into()),
                }
            }
            // RFC 9449 §7.2: a DPoP-bound token is never a bearer token.
            Some(_) => return Err(AuthErrorKind::BindingMismatch.into()),
        }
        Ok(Outcome { principal: Some(principal), label: mechanism.as_str() })
    }

    async fn authenticate_inner<V: RequestView + ?Sized>(
        &self,
        request: &V,
        dpop_nonce: &mut Option<String>,
        vary: &mut Option<String>,
        scheme: &mut &'static str,
    ) -> Result<Outcome, AuthError> {
        let inner = &*self.inner;
        match self.prepare(request, vary, scheme) {
            Step::Done(result) => result,
            Step::Bearer(token) => {
                // A compact JWS from a configured issuer is validated locally (unless every token is
                // introspected); any other token is introspected when introspection is configured.
                // Boxed: the validation's future is large and this path is the uncommon one.
                let (principal, mechanism) = Box::pin(self.token_principal(token)).await?;
                self.bearer_outcome(request, principal, mechanism, vary)
            }
            Step::ApiKey(key) => {
                let Some(api_keys) = &inner.api_keys else { return Err(AuthErrorKind::UnrecognizedToken.into()) };
                let principal = api_keys.verify(key, request.peer_addr().map(|a| a.ip())).await?;
                Ok(Outcome { principal: Some(principal), label: Mechanism::ApiKey.as_str() })
            }
            Step::Dpop(token) => {
                // Only produced when DPoP enabled its source.
                let Some(dpop) = &inner.dpop else { return Err(AuthErrorKind::UnrecognizedToken.into()) };
                let outcome = Box::pin(async {
                    // RFC 9449 §4.3: the proof first (cheap checks, then its one signature).
                    let proof = dpop.check(request, Some(token))?;
                    let (principal, mechanism) = self.token_principal(token).await?;
                    // §6, E5, E10: the token is bound to exactly this proof key.
                    match principal.binding() {
                        Some(Binding::Dpop { jkt }) if jkt == proof.jkt() => {}
                        _ => return Err(AuthErrorKind::DpopBindingMismatch.into()),
                    }
                    // Recorded last: only proofs with a valid bound token take room in the store.
                    dpop.remember(&proof).await?;
                    *dpop_nonce = proof.fresh_nonce;
                    Ok(Outcome { principal: Some(principal), label: mechanism.as_str() })
                })
                .await;
                outcome.map_err(|e: AuthError| e.with_scheme(AuthScheme::Dpop))
            }
        }
    }

    /// [`token_principal`](Self::token_principal) when the answer is at hand: a JWT that the
    /// validator that would check it has in its verified-token cache. `None` otherwise.
    fn token_principal_now(&self, token: &str) -> Option<(Principal, Mechanism)> {
        let inner = &*self.inner;
        let jwt = inner.jwt.as_ref()?;
        match &inner.introspection {
            None => {}
            Some(_) if inner.introspect_jwts => return None,
            // Only tokens that passed this validator are in its cache, and every such token is a
            // compact JWS of a configured issuer: a hit is a token `recognizes` routes to it.
            Some(_) => {}
        }
        Some((jwt.validate_cached(token)?, Mechanism::Jwt))
    }

    /// The principal of an access token (`Bearer` or `DPoP` scheme): a JWT of a configured issuer is
    /// validated locally (unless every token is introspected), any other token is introspected; with
    /// JWT validation alone every token goes to it, with neither the token is unrecognized.
    async fn token_principal(&self, token: &str) -> Result<(Principal, Mechanism), AuthError> {
        let inner = &*self.inner;
        Ok(match (&inner.jwt, &inner.introspection) {
            (Some(jwt), None) => (jwt.validate(token).await?, Mechanism::Jwt),
            (Some(jwt), Some(_)) if !inner.introspect_jwts && jwt.recognizes(token) => {
                (jwt.validate(token).await?, Mechanism::Jwt)
            }
            (_, Some(introspector)) => (introspector.introspect(token).await?, Mechanism::Introspection),
            (None, None) => return Err(AuthErrorKind::UnrecognizedToken.into()),
        })
    }

    /// Logs and counts one outcome; `scheme` is the kind of credential the request carried (`bearer`,
    /// `dpop`, `api_key`, `client_cert`, `none`), the mechanism label of failures.
    fn report<V: RequestView + ?Sized>(&self, request: &V, result: &Result<Outcome, AuthError>, scheme: &'static str) {
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
                metrics::counter!("tower_auth_authentications_total", "mechanism" => scheme, "outcome" => "failure", "reason" => reason).increment(1);
                if e.kind() == AuthErrorKind::Unavailable {
                    tracing::warn!(target: "tower_auth", request_id, mechanism = scheme, reason, "authentication unavailable");
                } else {
                    tracing::info!(target: "tower_auth", request_id, mechanism = scheme, reason, status = e.status().as_u16(), "authentication failed");
                }
            }
        }
    }
}

struct Outcome {
    principal: Option<Principal>,
    label: &'static str,
}

/// Where [`Authenticator::prepare`] left a request.
enum Step<'r> {
    /// Decided.
    Done(Result<Outcome, AuthError>),
    /// A `Bearer` token to validate.
    Bearer(&'r str),
    /// An API key to verify.
    ApiKey(&'r str),
    /// A `DPoP`-scheme token, with its proof in the `DPoP` header.
    Dpop(&'r str),
}

/// A request that passed authentication: its principal (none for an anonymous request in optional
/// mode or a CORS preflight) and the headers to add to its successful response.
#[derive(Debug, Clone, Default)]
pub struct Authenticated {
    principal: Option<Principal>,
    dpop_nonce: Option<String>,
    vary: Option<String>,
}

impl Authenticated {
    /// The verified identity, if any.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// The principal, consuming `self`.
    pub fn into_principal(self) -> Option<Principal> {
        self.principal
    }

    /// A fresh DPoP nonce for the client (RFC 9449 §8.2), when one is due.
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.dpop_nonce.as_deref()
    }

    /// Headers for the successful response, lower-case names: with a fresh DPoP nonce,
    /// `dpop-nonce`, `access-control-expose-headers: DPoP-Nonce` and `cache-control: no-store`
    /// (§8.2: such responses should not be cached); when a client certificate forwarded by a trusted
    /// proxy decided the outcome, `vary` naming its header (RFC 9440 §2.4: `Vary: Client-Cert`).
    /// Adapters append each, except a `cache-control` when the response already has one.
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = match &self.dpop_nonce {
            None => Vec::new(),
            Some(nonce) => vec![
                ("dpop-nonce", nonce.clone()),
                ("access-control-expose-headers", "DPoP-Nonce".to_owned()),
                ("cache-control", "no-store".to_owned()),
            ],
        };
        if let Some(vary) = &self.vary {
            headers.push(("vary", vary.clone()));
        }
        headers
    }
}

impl AuthenticatorBuilder {
    /// Validates `Bearer` JWTs with `validator`.
    pub fn jwt(mut self, validator: JwtValidator) -> Self {
        self.jwt = Some(validator);
        self
    }

    /// Validates `Bearer` tokens that are not JWTs of a configured issuer by asking the authorization
    /// server (RFC 7662). With [`jwt`](Self::jwt) too, a compact JWS whose `iss` is a configured JWT
    /// issuer is validated locally and every other token is introspected.
    pub fn introspection(mut self, introspector: Introspector) -> Self {
        self.introspection = Some(introspector);
        self
    }

    /// Introspects every `Bearer` token, JWTs included, instead of validating JWTs locally: for routes
    /// where a revocation must be seen at once (pair it with an introspector whose
    /// [`cache_ttl`](crate::introspection::IntrospectorBuilder::cache_ttl) is short or zero). Needs
    /// [`introspection`](Self::introspection). Defaults to off.
    pub fn introspect_jwts(mut self, on: bool) -> Self {
        self.introspect_jwts = on;
        self
    }

    /// Accepts API keys (see [`apikey`](crate::apikey)): from the `X-API-Key` header by default, and
    /// from `Authorization: ApiKey …` or a query parameter when the [`ApiKeys`] enable them.
    pub fn api_keys(mut self, api_keys: ApiKeys) -> Self {
        self.api_keys = Some(api_keys);
        self
    }

    /// Accepts DPoP-bound tokens on the `DPoP` scheme with a proof (RFC 9449; see [`dpop`](crate::dpop)),
    /// the tokens being validated by [`jwt`](Self::jwt) or [`introspection`](Self::introspection).
    /// Challenges then offer both schemes, and a `Bearer` (or API key) request that also carries a
    /// `DPoP` header is refused as ambiguous (400). Defaults to off.
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Where client certificates come from: the TLS connection and, from trusted proxies only, a
    /// header (see [`mtls`](crate::mtls)). They serve certificate-bound tokens (`cnf.x5t#S256`,
    /// RFC 8705 §3), which are accepted on `Bearer` only over their certificate, and
    /// [`certificate_authentication`](Self::certificate_authentication). Defaults to
    /// [`ClientCertificates::new`]: the TLS connection only.
    pub fn client_certificates(mut self, certificates: ClientCertificates) -> Self {
        self.certificates = Some(certificates);
        self
    }

    /// Authenticates requests that carry no other credential by their client certificate (see
    /// [`CertificateAuthentication`]); a token in the request wins over the certificate. Defaults to
    /// off.
    pub fn certificate_authentication(mut self, authentication: CertificateAuthentication) -> Self {
        self.certificate_auth = Some(authentication);
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

    /// Publishes protected resource metadata (RFC 9728, see [`metadata`](crate::metadata)): the
    /// document is built from `metadata` and this engine's configuration (DPoP algorithms), and
    /// every challenge gains `resource_metadata="<document URL>"` (§5.1) unless
    /// [`challenge_parameter(false)`](ResourceMetadata::challenge_parameter). Serve the document
    /// with an adapter's route helper or [`MetadataEndpoint::response`]. Defaults to none.
    pub fn resource_metadata(mut self, metadata: ResourceMetadata) -> Self {
        self.resource_metadata = Some(metadata);
        self
    }

    /// The header whose value identifies a request in log events. Defaults to `x-request-id`.
    pub fn request_id_header(mut self, name: impl Into<String>) -> Self {
        self.request_id_header = name.into().to_ascii_lowercase();
        self
    }

    /// Limits failed authentications per client address (a [`Quota`](crate::ratelimit::Quota) or a
    /// [`FailedAuthLimit`](crate::ratelimit::FailedAuthLimit)): an address over its quota is
    /// answered 429 before any work is done for it. Defaults to none. See
    /// [`FailedAuthLimit`](crate::ratelimit::FailedAuthLimit).
    pub fn failed_auth_limit(mut self, limit: impl Into<crate::ratelimit::FailedAuthLimit>) -> Self {
        self.failed_auth = Some(limit.into());
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Authenticator, ConfigError> {
        if self.jwt.is_none()
            && self.introspection.is_none()
            && self.api_keys.is_none()
            && self.certificate_auth.is_none()
        {
            return Err(ConfigError::new(
                "no mechanism configured: add .jwt(..), .introspection(..), .api_keys(..) or .certificate_authentication(..)",
            ));
        }
        let certificates = self.certificates.unwrap_or_default();
        certificates.validate()?;
        if self.introspect_jwts && self.introspection.is_none() {
            return Err(ConfigError::new(".introspect_jwts(true) needs .introspection(..)"));
        }
        if self.dpop.is_some() && self.jwt.is_none() && self.introspection.is_none() {
            return Err(ConfigError::new(".dpop(..) needs .jwt(..) or .introspection(..) to validate the tokens"));
        }
        if let Some(realm) = &self.realm
            && realm.chars().any(|c| c.is_control())
        {
            return Err(ConfigError::new("realm must not contain control characters"));
        }
        let mut sources = CredentialSources::default();
        if let Some(api_keys) = &self.api_keys {
            api_keys.configure_sources(&mut sources);
        }
        sources.dpop = self.dpop.is_some();
        let dpop_algs = self.dpop.as_ref().map(|d| d.algs_param().to_owned());
        let resource_metadata = self.resource_metadata.map(|m| m.build(self.dpop.as_ref())).transpose()?;
        let challenge_url = resource_metadata.as_ref().filter(|m| m.challenge_parameter()).map(|m| m.url().to_owned());
        let failed_auth = self.failed_auth.map(crate::ratelimit::FailedAuthLimit::build).transpose()?;
        let answers_now = self.api_keys.is_some()
            || (self.jwt.as_ref().is_some_and(JwtValidator::caches_tokens) && !self.introspect_jwts);
        Ok(Authenticator {
            inner: Arc::new(Inner {
                jwt: self.jwt,
                introspection: self.introspection,
                introspect_jwts: self.introspect_jwts,
                api_keys: self.api_keys,
                dpop: self.dpop,
                certificates,
                certificate_auth: self.certificate_auth,
                optional: self.optional,
                preflight_passthrough: self.preflight_passthrough,
                challenge: Arc::new(ChallengeParams { realm: self.realm, dpop_algs, resource_metadata: challenge_url }),
                resource_metadata,
                request_id_header: self.request_id_header,
                sources,
                failed_auth,
                answers_now,
            }),
        })
    }
}
