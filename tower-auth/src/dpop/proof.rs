//! The proof check list of RFC 9449 §4.3, in one fixed order (cheap checks first).

use serde_json::{Map, Value};

use super::htu;
use super::nonce::Check;
use super::replay::ReplayKey;
use super::thumbprint::thumbprint_of;
use super::{Dpop, sha256};
use crate::clock::unix_seconds_f64;
use crate::error::{AuthError, AuthErrorKind};
use crate::json::b64url_encode;
use crate::jwt::compact;
use crate::jwt::{Algorithm, JwkPolicy, VerifyingKey};
use crate::view::{HeaderLookup, RequestView};

/// The longest `jti` accepted (E3: oversized `jti` values are refused; only a hash is stored).
pub(crate) const MAX_JTI_BYTES: usize = 256;

/// JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof that passed every check of RFC 9449 §4.3.
///
/// Returned by [`Dpop::verify`]; holds the proof key's thumbprint, never the proof or the token.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    pub(crate) jkt: String,
    pub(crate) alg: Algorithm,
    pub(crate) replay_key: ReplayKey,
    pub(crate) fresh_nonce: Option<String>,
}

impl VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof key: what the token's `cnf.jkt` must equal.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The proof's signature algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// A fresh server nonce to send in a `DPoP-Nonce` header of the response, when nonces are
    /// required and the one in the proof is past half of its lifetime (RFC 9449 §8.2).
    pub fn fresh_nonce(&self) -> Option<&str> {
        self.fresh_nonce.as_deref()
    }
}

fn invalid() -> AuthError {
    AuthErrorKind::InvalidDpopProof.into()
}

fn str_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, AuthError> {
    match claims.get(name) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(invalid()),
    }
}

impl Dpop {
    /// Every check but the replay store: `check` then `remember` is `verify`.
    pub(crate) fn check<V: RequestView + ?Sized>(
        &self,
        request: &V,
        access_token: Option<&str>,
    ) -> Result<VerifiedProof, AuthError> {
        let cfg = &*self.inner;
        // E1.1: exactly one `DPoP` field.
        let raw = match request.header("dpop") {
            HeaderLookup::One(v) => v,
            HeaderLookup::Missing | HeaderLookup::Many => return Err(invalid()),
        };
        // E1.2: a single well-formed compact JWS, of bounded size, nothing around it.
        if raw.len() > cfg.max_proof_bytes {
            return Err(invalid());
        }
        let proof = std::str::from_utf8(raw).map_err(|_| invalid())?;
        let jws = compact::parse(proof).map_err(|_| invalid())?;
        // E1.4: `typ` is `dpop+jwt` (a media type: case-insensitive, `application/` implied).
        let typ = jws.typ().map_err(|_| invalid())?.ok_or_else(invalid)?.to_ascii_lowercase();
        if typ != "dpop+jwt" && typ != "application/dpop+jwt" {
            return Err(invalid());
        }
        // E1.5 / E4: an asymmetric algorithm from the allow-list; `none` and HS* never parse into it.
        let alg: Algorithm = jws.alg().map_err(|_| invalid())?.parse().map_err(|_| invalid())?;
        if alg.is_symmetric() || !cfg.algorithms.contains(&alg) {
            return Err(invalid());
        }
        if jws.header.contains_key("crit") {
            return Err(invalid());
        }
        // E1.7: the `jwk` header is a public key — read from the raw header JSON, before any key parsing.
        let Some(Value::Object(jwk)) = jws.header.get("jwk") else { return Err(invalid()) };
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) || jwk.get("kty").and_then(Value::as_str) == Some("oct")
        {
            return Err(invalid());
        }
        // E1.5: the key's type and curve fit `alg` (the key is pinned to exactly `alg`).
        let policy = JwkPolicy { allowed: vec![alg], rsa_default: alg, allow_symmetric: false };
        let key = VerifyingKey::from_jwk_with(&Value::Object(jwk.clone()), &policy).map_err(|_| invalid())?;
        // E1.3: the required claims of §4.2, with their JSON types.
        let claims = &jws.claims;
        let jti = str_claim(claims, "jti")?;
        if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
            return Err(invalid());
        }
        let htm = str_claim(claims, "htm")?;
        let htu_claim = str_claim(claims, "htu")?;
        let iat = match claims.get("iat") {
            Some(Value::Number(n)) => n.as_f64().filter(|f| f.is_finite()).ok_or_else(invalid)?,
            _ => return Err(invalid()),
        };
        // E1.8: `htm` is the method (case-sensitive, RFC 9110 §9.1).
        if htm != request.method() {
            return Err(invalid());
        }
        // E1.9: `htu` is the request URI under the configured origin, normalized, query and fragment ignored.
        let target = htu::parse(htu_claim).ok_or_else(invalid)?;
        let path = htu::normalize_path(request.path()).ok_or_else(invalid)?;
        if target.path != path || !self.origin_matches(request, &target.origin) {
            return Err(invalid());
        }
        // E1.11 / E3: created within the window.
        let now = unix_seconds_f64(cfg.clock.now());
        if iat < now - cfg.max_age.as_secs_f64() || iat > now + cfg.max_future.as_secs_f64() {
            return Err(invalid());
        }
        // E1.6: the signature, by the key in the header.
        if !key.verify(jws.signing_input, &jws.signature) {
            return Err(invalid());
        }
        // E1.10 / E9: the server's nonce, once nonces are required (§8, §11.3).
        let mut fresh_nonce = None;
        if let Some(nonces) = &cfg.nonces {
            let presented = match claims.get("nonce") {
                None => None,
                Some(Value::String(n)) => Some(n.as_str()),
                Some(_) => return Err(invalid()),
            };
            match presented.map(|n| nonces.check(n)) {
                Some(Check::Valid { refresh }) => fresh_nonce = refresh.then(|| nonces.issue()),
                None | Some(Check::Invalid) => return Err(AuthError::use_dpop_nonce(nonces.issue())),
            }
        }
        // E1.12 / E6: `ath` is the hash of the access token sent with the proof.
        if let Some(token) = access_token {
            let ath = str_claim(claims, "ath")?;
            if ath != b64url_encode(&sha256(token.as_bytes())) {
                return Err(invalid());
            }
        }
        let jkt = thumbprint_of(jwk).map_err(|_| invalid())?;
        Ok(VerifiedProof { jkt, alg, replay_key: replay_key(jti, &target), fresh_nonce })
    }

    /// E3: the proof is accepted once; entries live for the whole `iat` window.
    pub(crate) async fn remember(&self, proof: &VerifiedProof) -> Result<(), AuthError> {
        let cfg = &*self.inner;
        let ttl = cfg.max_age + cfg.max_future;
        match cfg.replay.first_use(&proof.replay_key, cfg.clock.now(), ttl).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(invalid()),
            Err(e) => {
                tracing::warn!(target: "tower_auth::dpop", reason = e.reason(), "DPoP replay store unavailable");
                Err(AuthError::unavailable(1))
            }
        }
    }

    fn origin_matches<V: RequestView + ?Sized>(&self, request: &V, origin: &str) -> bool {
        let cfg = &*self.inner;
        if cfg.origins.iter().any(|o| o == origin) {
            return true;
        }
        if !cfg.trusted_proxies.is_empty()
            && request.peer_addr().is_some_and(|peer| cfg.trusted_proxies.iter().any(|r| r.contains(peer.ip())))
            && forwarded_origin(request).is_some_and(|o| o == origin)
        {
            return true;
        }
        match &cfg.origin_from_host {
            Some(scheme) => {
                let default_port = if scheme == "https" { 443 } else { 80 };
                request.authority().and_then(|a| htu::origin(scheme, a, default_port)).is_some_and(|o| o == origin)
            }
            None => false,
        }
    }
}

/// The origin a trusted proxy forwarded: `X-Forwarded-Proto` and `X-Forwarded-Host`, each exactly
/// one field with one value (a list means a client may have added its own).
fn forwarded_origin<V: RequestView + ?Sized>(request: &V) -> Option<String> {
    let one = |name: &str| match request.header(name) {
        HeaderLookup::One(v) => {
            std::str::from_utf8(v).ok().map(str::trim).filter(|v| !v.is_empty() && !v.contains(','))
        }
        _ => None,
    };
    let scheme = one("x-forwarded-proto")?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    htu::origin(&scheme, one("x-forwarded-host")?, default_port)
}

/// SHA-256 over the length-prefixed `jti` and the normalized `htu` (E3: "store `jti` per target URI").
fn replay_key(jti: &str, target: &htu::Target) -> ReplayKey {
    let mut input = Vec::with_capacity(8 + jti.len() + target.origin.len() + target.path.len());
    input.extend_from_slice(&(jti.len() as u64).to_be_bytes());
    input.extend_from_slice(jti.as_bytes());
    input.extend_from_slice(target.origin.as_bytes());
    input.extend_from_slice(target.path.as_bytes());
    ReplayKey(sha256(&input))
}
