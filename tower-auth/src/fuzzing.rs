//! Entry points for the fuzz targets in `fuzz/` and for conformance tests (feature `fuzzing`).
//!
//! Not a stable API: hidden from the documentation, it may change in any release. Each function runs
//! one parser of untrusted input exactly as the crate runs it and returns a small summary, so a
//! target can check properties of the result (no panic is the first one).

use serde_json::{Map, Value};

use crate::authz::RoleClaims;
use crate::credentials::{self, Credential, CredentialSources};
use crate::dpop::Dpop;
use crate::error::{AuthError, AuthErrorKind};
use crate::jwt::{Algorithm, JwkPolicy, VerifyingKey, compact};
use crate::principal::Principal;
use crate::view::RequestView;

/// The JWT layer's first step: a compact JWS whose payload is a JWT Claims Set, and its `alg`, `typ`
/// and `kid` headers. `Ok` holds the number of claims.
pub fn compact_jws(token: &str) -> Result<usize, AuthErrorKind> {
    let jws = compact::parse(token)?;
    jws.alg()?;
    jws.typ()?;
    jws.kid()?;
    Ok(jws.claims.len())
}

/// The signature layer alone: a compact JWS with any payload, verified with `key` as the JWT
/// validator verifies tokens (the header's `alg` must name a known algorithm and be the key's one
/// algorithm; `crit` is refused). `Ok` holds the payload.
pub fn verify_jws(key: &VerifyingKey, jws: &str) -> Result<Vec<u8>, AuthErrorKind> {
    let raw = compact::parse_raw(jws)?;
    let alg: Algorithm = match raw.header.get("alg") {
        Some(Value::String(name)) => name.parse().map_err(|_| AuthErrorKind::UnsupportedAlgorithm)?,
        _ => return Err(AuthErrorKind::MalformedToken),
    };
    if raw.header.contains_key("crit") {
        return Err(AuthErrorKind::UnknownCriticalHeader);
    }
    if key.algorithm() != alg || !key.verify(raw.signing_input, &raw.signature) {
        return Err(AuthErrorKind::InvalidSignature);
    }
    Ok(raw.payload)
}

/// A JWK Set document as a remote JWKS is read (asymmetric algorithms only, RSA keys without `alg`
/// pinned to `RS256`): the usable keys and the number of entries skipped. `None`: not a JWK Set.
pub fn jwks(document: &[u8]) -> Option<(Vec<VerifyingKey>, usize)> {
    crate::jwt::KeySet::from_jwks(document, &JwkPolicy::default()).map(|(set, skipped)| (set.keys, skipped))
}

/// Strict JSON: an object, duplicate members refused at every depth.
pub fn strict_json_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    crate::json::parse_object(bytes)
}

/// Strict base64url: no padding, whitespace, other alphabet or non-canonical trailing bits.
pub fn b64url_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    crate::json::b64url_decode(bytes)
}

/// A credential found by `credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundCredential<'a> {
    /// `Authorization: Bearer …`.
    Bearer(&'a str),
    /// `Authorization: DPoP …`.
    Dpop(&'a str),
    /// An API key (scheme, header or query parameter).
    ApiKey(&'a str),
}

/// Credential selection as the engine runs it. With `every_source`, the `DPoP` and `ApiKey` schemes,
/// the `x-api-key` header and the `api_key` query parameter are enabled too; otherwise `Bearer` alone.
pub fn credentials<V: RequestView + ?Sized>(
    request: &V,
    every_source: bool,
) -> Result<Option<FoundCredential<'_>>, AuthErrorKind> {
    let sources = if every_source {
        CredentialSources {
            dpop: true,
            api_key_header: Some("x-api-key".into()),
            api_key_scheme: true,
            api_key_query: Some("api_key".into()),
        }
    } else {
        CredentialSources::default()
    };
    Ok(credentials::extract(request, &sources)?.map(|c| match c {
        Credential::Bearer(t) => FoundCredential::Bearer(t),
        Credential::Dpop(t) => FoundCredential::Dpop(t),
        Credential::ApiKey(k) => FoundCredential::ApiKey(k),
    }))
}

/// Whether `s` is a `b64token` (RFC 6750 §2.1), the token grammar of `Authorization`.
pub fn is_b64token(s: &str) -> bool {
    credentials::is_b64token(s)
}

/// Every check of RFC 9449 §4.3 on the request's `DPoP` header except the replay store; `Ok` holds the
/// proof key's thumbprint.
pub fn dpop_check<V: RequestView + ?Sized>(
    dpop: &Dpop,
    request: &V,
    access_token: Option<&str>,
) -> Result<String, AuthError> {
    dpop.check(request, access_token).map(|proof| proof.jkt)
}

/// An RFC 7662 introspection answer, read as the introspector reads it for an issuer named
/// `issuer` and one accepted `audience` (60 s leeway, the well-known role claims), then judged at
/// `now` (seconds since the epoch). `Err(())`: no usable answer (the request would get 503).
#[allow(clippy::result_unit_err)]
pub fn introspection_answer(
    body: &[u8],
    issuer: &str,
    audience: &str,
    now: f64,
) -> Result<Result<Principal, AuthErrorKind>, ()> {
    let checks = crate::introspection::AnswerChecks {
        issuer: Some(issuer.to_owned()),
        audiences: vec![audience.to_owned()],
        leeway: 60.0,
        roles: RoleClaims::well_known(),
    };
    crate::introspection::ParsedAnswer::parse(body, &checks).map(|answer| answer.judge(now, 60.0)).map_err(|_| ())
}

/// A certificate forwarded by a proxy, as the [`mtls`](crate::mtls) header parsers read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedCertificate {
    /// The end-entity certificate's DER bytes (not yet checked to be X.509).
    pub der: Vec<u8>,
    /// The intermediates' DER bytes.
    pub chain: Vec<Vec<u8>>,
}

impl From<crate::mtls::Forwarded> for ForwardedCertificate {
    fn from(f: crate::mtls::Forwarded) -> Self {
        Self { der: f.der, chain: f.chain }
    }
}

/// RFC 9440 `Client-Cert`: one field value → the DER bytes.
pub fn client_cert_header(value: &[u8]) -> Result<Vec<u8>, AuthErrorKind> {
    crate::mtls::parse_client_cert(value)
}

/// RFC 9440 `Client-Cert-Chain`: one field value → the DER bytes of each member.
pub fn client_cert_chain_header(value: &[u8]) -> Result<Vec<Vec<u8>>, AuthErrorKind> {
    crate::mtls::parse_client_cert_chain(value)
}

/// nginx `$ssl_client_escaped_cert` (URL-escaped PEM); `Ok(None)`: an empty value.
pub fn nginx_cert_header(value: &[u8]) -> Result<Option<ForwardedCertificate>, AuthErrorKind> {
    crate::mtls::parse_nginx_pem(value).map(|f| f.map(Into::into))
}

/// Envoy `x-forwarded-client-cert`; `Ok(None)`: the nearest element has no `Cert`.
pub fn xfcc_header(value: &[u8]) -> Result<Option<ForwardedCertificate>, AuthErrorKind> {
    crate::mtls::parse_xfcc(value).map(|f| f.map(Into::into))
}
