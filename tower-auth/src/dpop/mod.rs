//! DPoP: sender-constrained access tokens (RFC 9449), with RFC 7638 key thumbprints.
//!
//! A client holding a DPoP-bound token sends it as `Authorization: DPoP <token>` together with a
//! fresh proof, `DPoP: <JWT>`, signed by its own key for this one request. The server checks the
//! proof ([all twelve checks of §4.3](#verification-order)), then that the token's `cnf.jkt` (from
//! the JWT, or from the introspection answer) is the thumbprint of the proof key. A stolen token is
//! worthless without the private key; a stolen proof is worthless for another request, method,
//! URL or token, or a second time.
//!
//! Enable it on the engine with [`AuthenticatorBuilder::dpop`](crate::AuthenticatorBuilder::dpop):
//! `Bearer` keeps working for unbound tokens, a DPoP-bound token presented as `Bearer` is refused
//! (§7.2), and every challenge then offers both schemes (`Bearer, DPoP algs="ES256 …"`).
//!
//! ```
//! use tower_auth::{Authenticator, AuthErrorKind, ManualClock, dpop::Dpop, jwt::{Issuer, JwtValidator}};
//!
//! // The RFC 9449 §7.1 example: a GET with a DPoP-bound token and its proof, checked at the
//! // proof's creation time with an injected clock.
//! const TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
//! const PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_auth::ConfigError> {
//! let dpop = Dpop::builder()
//!     .public_origin("https://resource.example.org") // the origin clients use, never the Host header
//!     .clock(ManualClock::at_unix(1_562_262_618))
//!     .build()?;
//! let request = http::Request::get("/protectedresource")
//!     .header("authorization", format!("DPoP {TOKEN}"))
//!     .header("dpop", PROOF)
//!     .body(())
//!     .unwrap()
//!     .into_parts()
//!     .0;
//! let proof = dpop.verify(&request, Some(TOKEN)).await.expect("a valid proof");
//! assert_eq!(proof.jkt(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"); // the token's cnf.jkt must be this
//! // The same proof a second time is a replay.
//! assert_eq!(dpop.verify(&request, Some(TOKEN)).await.unwrap_err().kind(), AuthErrorKind::InvalidDpopProof);
//!
//! // On the engine: JWTs from the issuer, DPoP proofs checked against https://api.example.com.
//! let jwt = JwtValidator::builder().issuer(Issuer::discover("https://login.example.com")).audience("https://api.example.com").build()?;
//! let dpop = Dpop::builder().public_origin("https://api.example.com").require_nonce(true).build()?;
//! let auth = Authenticator::builder().jwt(jwt).dpop(dpop).realm("api").build()?;
//! assert_eq!(
//!     auth.error(AuthErrorKind::MissingCredentials).www_authenticate().unwrap(),
//!     r#"Bearer realm="api", DPoP realm="api", algs="ES256 ES384 ES512 PS256 RS256 EdDSA""#
//! );
//! # Ok(()) }
//! ```
//!
//! # Verification order
//!
//! Cheap checks first; every failure is [`InvalidDpopProof`](crate::AuthErrorKind::InvalidDpopProof)
//! (401, `DPoP error="invalid_dpop_proof"`) unless noted. Item numbers are those of RFC 9449 §4.3.
//!
//! 1. exactly one `DPoP` header field (1), at most 8 KiB;
//! 2. a single well-formed compact JWS: three base64url segments, JSON objects without duplicate
//!    members (2);
//! 3. `typ` is `dpop+jwt` (4);
//! 4. `alg` is on the allow-list — asymmetric only, so never `none` and never `HS*` (5); no `crit`;
//! 5. the raw `jwk` header is a public key: no `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`, no
//!    `oct` key (7); its type and curve fit `alg` (P-256 for ES256, Ed25519 for EdDSA, …);
//! 6. the claims `jti` (1 to 256 bytes), `htm`, `htu`, `iat` are present with their types (3);
//! 7. `htm` is the request method (8);
//! 8. `htu` is the request URI: the origin is a configured public origin (or, from a trusted proxy,
//!    the forwarded one), the path the request's; RFC 3986 §6.2.2 and §6.2.3 normalization, query
//!    and fragment ignored (9);
//! 9. `iat` lies within the window: by default at most 300 s old and 30 s ahead (11);
//! 10. the signature verifies with the `jwk` (6);
//! 11. with nonces on, `nonce` is one of ours and younger than its lifetime (10) — else
//!     [`UseDpopNonce`](crate::AuthErrorKind::UseDpopNonce): 401 `DPoP error="use_dpop_nonce"`
//!     with a fresh `DPoP-Nonce` header;
//! 12. `ath` is base64url(SHA-256(access token)) (12);
//! 13. the engine validates the token (JWT, or introspection for opaque tokens) and requires its
//!     `cnf.jkt` to equal the proof key's thumbprint (12) — else
//!     [`DpopBindingMismatch`](crate::AuthErrorKind::DpopBindingMismatch): 401
//!     `DPoP error="invalid_token", error_description="Invalid DPoP key binding"`, as the RFC's
//!     own example. A token without `cnf.jkt` on the `DPoP` scheme gets the same answer;
//! 14. last, the replay store: the hash of `jti` and `htu` must be new; it is kept for the whole
//!     window (300 s + 30 s). Only proofs that passed everything above are recorded.
//!
//! # Schemes and challenges
//!
//! | request | answer |
//! |---|---|
//! | no credentials | 401 `Bearer, DPoP algs="…"` (with `realm` in both when configured), no error |
//! | `Bearer` with an unbound token | as without DPoP |
//! | `Bearer` with a DPoP-bound token (downgrade, §7.2) | 401 `Bearer error="invalid_token", error_description="Invalid token binding", DPoP algs="…"` |
//! | `Bearer` (or an API key) **and** a `DPoP` header | 400 `invalid_request` in both challenges: two methods at once (RFC 6750 §3.1, RFC 9449 §7.2) |
//! | `DPoP` with a bad proof | 401 `Bearer, DPoP error="invalid_dpop_proof", …` |
//! | `DPoP` with an unbound token, or a token bound to another key | 401 `Bearer, DPoP error="invalid_token", error_description="Invalid DPoP key binding", …` |
//! | `DPoP` without a `DPoP` header | 401 `invalid_dpop_proof` |
//!
//! Responses carrying a challenge also carry `Access-Control-Expose-Headers: WWW-Authenticate,
//! DPoP-Nonce`, so browser clients can read them.
//!
//! # Nonces
//!
//! With [`require_nonce`](DpopBuilder::require_nonce), proofs must carry a nonce this server issued
//! (§9). Nonces are stateless: an issue time and random bytes under an HMAC-SHA256 tag with a secret
//! that rotates every lifetime (current and previous kept), 44 base64url characters. A proof without
//! one, or with a forged, foreign or expired one, is answered 401 `use_dpop_nonce` with exactly one
//! `DPoP-Nonce`. A successful response carries a fresh `DPoP-Nonce` once the nonce used is past half
//! of its lifetime (§8.2), with `Cache-Control: no-store` unless the handler set one. Replicas
//! accept each other's nonces when they share [`nonce_secret`](DpopBuilder::nonce_secret).
//!
//! # The expected origin
//!
//! `htu` is compared with the origin clients use, which a server behind a proxy cannot read from
//! the request: the `Host` header is the client's to choose. So the origin comes from
//! configuration ([`public_origin`](DpopBuilder::public_origin)); `X-Forwarded-Proto` /
//! `X-Forwarded-Host` are read only from peers listed in
//! [`trusted_proxies`](DpopBuilder::trusted_proxies); the `Host` header only with
//! [`insecure_origin_from_host`](DpopBuilder::insecure_origin_from_host), for local development.
//!
//! | default | value |
//! |---|---|
//! | algorithms | ES256, ES384, ES512, PS256, RS256, EdDSA |
//! | `iat` window | 300 s in the past, 30 s in the future |
//! | proof size limit | 8 KiB |
//! | replay store | [`MemoryReplayStore`], 250,000 entries, fails closed when full |
//! | nonces | off; lifetime 300 s when on |

mod htu;
mod nonce;
mod proof;
#[cfg(feature = "redis")]
mod redis;
mod replay;
mod thumbprint;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use proof::VerifiedProof;
#[cfg(feature = "redis")]
pub use redis::RedisReplayStore;
pub use replay::{MemoryReplayStore, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError};
pub use thumbprint::{access_token_hash, jwk_thumbprint};

use crate::authz::IpRange;
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::{AuthError, ConfigError};
use crate::jwt::Algorithm;
use crate::view::RequestView;

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// DPoP proof verification (RFC 9449): configuration, and the check of one proof against one request.
///
/// Built with [`Dpop::builder`]; cheap to clone (shared). Give it to the engine with
/// [`AuthenticatorBuilder::dpop`](crate::AuthenticatorBuilder::dpop), or call
/// [`verify`](Self::verify) yourself. See the [module documentation](self) for the checks.
#[derive(Clone)]
pub struct Dpop {
    inner: Arc<Inner>,
}

struct Inner {
    algorithms: Vec<Algorithm>,
    algs_param: String,
    max_age: Duration,
    max_future: Duration,
    origins: Vec<String>,
    trusted_proxies: Vec<IpRange>,
    origin_from_host: Option<String>,
    clock: SharedClock,
    replay: Arc<dyn ReplayStore>,
    nonces: Option<nonce::Nonces>,
    max_proof_bytes: usize,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Dpop")
            .field("algorithms", &inner.algorithms)
            .field("max_age", &inner.max_age)
            .field("max_future", &inner.max_future)
            .field("origins", &inner.origins)
            .field("trusted_proxies", &inner.trusted_proxies)
            .field("origin_from_host", &inner.origin_from_host)
            .field("replay", &inner.replay)
            .field("nonces", &inner.nonces)
            .finish_non_exhaustive()
    }
}

impl Dpop {
    /// Starts a configuration.
    pub fn builder() -> DpopBuilder {
        DpopBuilder {
            algorithms: DpopBuilder::DEFAULT_ALGORITHMS.to_vec(),
            max_age: Duration::from_secs(300),
            max_future: Duration::from_secs(30),
            origins: Vec::new(),
            trusted_proxies: Vec::new(),
            origin_from_host: None,
            clock: Arc::new(SystemClock),
            replay: None,
            require_nonce: false,
            nonce_lifetime: Duration::from_secs(300),
            nonce_secret: None,
            max_proof_bytes: 8 * 1024,
        }
    }

    /// The accepted proof algorithms, in the order of the `algs` challenge parameter.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.inner.algorithms
    }

    /// The `algs` challenge parameter: the algorithm names, space separated.
    pub fn algs_param(&self) -> &str {
        &self.inner.algs_param
    }

    /// Whether proofs must carry a server nonce.
    pub fn requires_nonce(&self) -> bool {
        self.inner.nonces.is_some()
    }

    /// A fresh nonce, when nonces are required (for a handler that hands them out itself).
    pub fn new_nonce(&self) -> Option<String> {
        self.inner.nonces.as_ref().map(nonce::Nonces::issue)
    }

    /// Checks the request's `DPoP` proof against the request and, when given, the access token
    /// (its `ath`), then records it in the replay store. On success the caller must still compare
    /// [`VerifiedProof::jkt`] with the token's `cnf.jkt` — the engine does.
    ///
    /// The engine records a proof only after that comparison; this method records it at once.
    pub async fn verify<V: RequestView + ?Sized>(
        &self,
        request: &V,
        access_token: Option<&str>,
    ) -> Result<VerifiedProof, AuthError> {
        let proof = self.check(request, access_token)?;
        self.remember(&proof).await?;
        Ok(proof)
    }
}

/// Builds a [`Dpop`].
#[must_use]
pub struct DpopBuilder {
    algorithms: Vec<Algorithm>,
    max_age: Duration,
    max_future: Duration,
    origins: Vec<String>,
    trusted_proxies: Vec<IpRange>,
    origin_from_host: Option<String>,
    clock: SharedClock,
    replay: Option<Arc<dyn ReplayStore>>,
    require_nonce: bool,
    nonce_lifetime: Duration,
    nonce_secret: Option<Vec<u8>>,
    max_proof_bytes: usize,
}

impl fmt::Debug for DpopBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopBuilder")
            .field("algorithms", &self.algorithms)
            .field("origins", &self.origins)
            .field("require_nonce", &self.require_nonce)
            .finish_non_exhaustive()
    }
}

impl DpopBuilder {
    /// The default proof algorithms.
    pub const DEFAULT_ALGORITHMS: [Algorithm; 6] =
        [Algorithm::ES256, Algorithm::ES384, Algorithm::ES512, Algorithm::PS256, Algorithm::RS256, Algorithm::EdDSA];

    /// The accepted proof algorithms (asymmetric only: `build` refuses HS*). Defaults to ES256,
    /// ES384, ES512, PS256, RS256 and EdDSA, announced in that order in `algs`.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How old (`past`) and how far ahead of the server's clock (`future`) a proof's `iat` may be.
    /// Replay-store entries live for `past + future`. Defaults to 300 s and 30 s; at most 1 hour
    /// and 5 minutes.
    pub fn iat_window(mut self, past: Duration, future: Duration) -> Self {
        self.max_age = past;
        self.max_future = future;
        self
    }

    /// An origin clients reach this server at, e.g. `https://api.example.com` (scheme, host, and a
    /// port unless the default): `htu` must name it. Call once per origin. Required unless
    /// [`trusted_proxies`](Self::trusted_proxies) or
    /// [`insecure_origin_from_host`](Self::insecure_origin_from_host) supply one.
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// Peers whose `X-Forwarded-Proto` and `X-Forwarded-Host` name the origin (each must be a single
    /// value; configure the proxy to overwrite, not append). Needs the peer address (axum:
    /// `tower_auth_axum::auth_layer` with `ConnectInfo`; actix-web: always). Defaults to none.
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpRange>) -> Self {
        self.trusted_proxies.extend(proxies);
        self
    }

    /// **Local development only**: also accept `scheme://` + the request's `Host` as the origin.
    /// The `Host` header is chosen by the client, so this lets a proof made for another server pass
    /// the `htu` check here. Defaults to off.
    pub fn insecure_origin_from_host(mut self, scheme: &str) -> Self {
        self.origin_from_host = Some(scheme.to_ascii_lowercase());
        self
    }

    /// The clock for `iat`, nonces and replay-store expiry. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where accepted proofs are remembered. Defaults to a [`MemoryReplayStore`] of
    /// [`DEFAULT_CAPACITY`](MemoryReplayStore::DEFAULT_CAPACITY) entries, per process; share a
    /// `RedisReplayStore` (feature `redis`) between replicas.
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(Arc::new(store));
        self
    }

    /// [`replay_store`](Self::replay_store) with a store shared with other configurations.
    pub fn shared_replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.replay = Some(store);
        self
    }

    /// Requires server-provided nonces in proofs (RFC 9449 §9). Defaults to off.
    pub fn require_nonce(mut self, on: bool) -> Self {
        self.require_nonce = on;
        self
    }

    /// How long a nonce is accepted; the nonce secret rotates at the same pace. Defaults to 300 s;
    /// between 10 s and 1 hour.
    pub fn nonce_lifetime(mut self, lifetime: Duration) -> Self {
        self.nonce_lifetime = lifetime;
        self
    }

    /// A secret (at least 32 bytes) from which the rotating nonce keys are derived, so that replicas
    /// accept each other's nonces. Defaults to random keys per process.
    pub fn nonce_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.nonce_secret = Some(secret.into());
        self
    }

    /// The largest proof accepted, in bytes. Defaults to 8 KiB (an RSA-4096 key and signature fit).
    pub fn max_proof_bytes(mut self, bytes: usize) -> Self {
        self.max_proof_bytes = bytes;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Dpop, ConfigError> {
        if self.algorithms.is_empty() {
            return Err(ConfigError::new("DPoP needs at least one proof algorithm"));
        }
        if self.algorithms.iter().any(|a| a.is_symmetric()) {
            return Err(ConfigError::new(
                "DPoP proofs are signed with asymmetric keys: HS* is not allowed (RFC 9449 §4.2)",
            ));
        }
        let mut algorithms: Vec<Algorithm> = Vec::with_capacity(self.algorithms.len());
        for alg in self.algorithms {
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        if self.max_age.is_zero() || self.max_age > Duration::from_secs(3600) {
            return Err(ConfigError::new("the DPoP iat window must be between 1 s and 1 hour in the past"));
        }
        if self.max_future > Duration::from_secs(300) {
            return Err(ConfigError::new("the DPoP iat window must not reach more than 5 minutes into the future"));
        }
        let mut origins = Vec::with_capacity(self.origins.len());
        for origin in &self.origins {
            let normalized = htu::parse_origin(origin).ok_or_else(|| {
                ConfigError::new(format!(
                    "DPoP public origin {origin:?} is not an http(s) origin like https://api.example.com"
                ))
            })?;
            origins.push(normalized);
        }
        if let Some(scheme) = &self.origin_from_host
            && scheme != "http"
            && scheme != "https"
        {
            return Err(ConfigError::new("insecure_origin_from_host needs \"http\" or \"https\""));
        }
        if origins.is_empty() && self.trusted_proxies.is_empty() && self.origin_from_host.is_none() {
            return Err(ConfigError::new(
                "DPoP needs the origin clients use for htu: call .public_origin(\"https://api.example.com\")",
            ));
        }
        if self.max_proof_bytes < 256 {
            return Err(ConfigError::new("max_proof_bytes is too small for any DPoP proof"));
        }
        let nonces = if self.require_nonce {
            if self.nonce_lifetime < Duration::from_secs(10) || self.nonce_lifetime > Duration::from_secs(3600) {
                return Err(ConfigError::new("the DPoP nonce lifetime must be between 10 s and 1 hour"));
            }
            if self.nonce_secret.as_ref().is_some_and(|s| s.len() < 32) {
                return Err(ConfigError::new("the DPoP nonce secret must be at least 32 bytes"));
            }
            Some(nonce::Nonces::new(self.nonce_lifetime.as_secs(), self.nonce_secret.as_deref(), self.clock.clone()))
        } else {
            None
        };
        let algs_param = algorithms.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" ");
        Ok(Dpop {
            inner: Arc::new(Inner {
                algorithms,
                algs_param,
                max_age: self.max_age,
                max_future: self.max_future,
                origins,
                trusted_proxies: self.trusted_proxies,
                origin_from_host: self.origin_from_host,
                clock: self.clock,
                replay: self.replay.unwrap_or_else(|| Arc::new(MemoryReplayStore::default())),
                nonces,
                max_proof_bytes: self.max_proof_bytes,
            }),
        })
    }
}

#[cfg(test)]
mod tests;
