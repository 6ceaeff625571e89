//! A local issuer for tests (feature `test-util`): mints tokens with real keys and serves its JWKS
//! and OIDC discovery document over HTTP on 127.0.0.1, so handlers can be tested without a real
//! identity provider.
//!
//! ```
//! use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
//! use tower_auth::testkit::TestIssuer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
//! let validator = JwtValidator::builder()
//!     .issuer(Issuer::discover(issuer.url()))
//!     .audience("https://api.test")
//!     .build()
//!     .unwrap();
//! let token = issuer.token().audience("https://api.test").scope("orders:read").sign();
//! let principal = validator.validate(&token).await.unwrap();
//! assert!(principal.has_scope("orders:read"));
//! # }
//! ```
//!
//! [`TestIssuer`] is also an RFC 7662 authorization server: its discovery document advertises
//! `introspection_endpoint` (`/introspect`), which checks the client credentials
//! ([`TestIssuer::INTROSPECTION_CLIENT_ID`] / [`TestIssuer::INTROSPECTION_CLIENT_SECRET`]) and answers
//! from a table of opaque tokens ([`TestIssuer::opaque_token`], [`TestIssuer::revoke`]). It counts the
//! calls and can be made slow, broken or down, for the failure paths of
//! [`introspection`](crate::introspection).
//!
//! [`LogCapture`] collects every log event as text, for tests that search the logs for tokens,
//! keys and secrets that must never be there.
//!
//! [`TestCa`] is a test PKI for client certificates (RFC 8705, RFC 9440): root and intermediate CAs,
//! client certificates ([`ClientCert`]) with SPIFFE IDs, DNS names, e-mail addresses, validity and
//! serial numbers, server certificates and CRLs; [`client_cert_field`], [`nginx_escaped_pem`] and
//! [`xfcc_element`] render what a TLS-terminating proxy forwards.
//!
//! These keys are generated per process and live in memory: never use this module in production.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Map, Value, json};

pub use crate::test_pki::{
    ClientCert, IssuedCert, TestCa, certificate_pem, client_cert_chain_field, client_cert_field, nginx_escaped_pem,
    percent_encode, xfcc_element,
};

use crate::clock::{Clock, SharedClock, SystemClock, unix_seconds};
use crate::json::b64url_encode;
use crate::jwt::Algorithm;

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

struct SigningKey {
    kid: String,
    alg: Algorithm,
    signer: Signer,
    jwk: Value,
}

impl SigningKey {
    fn generate(alg: Algorithm, kid: String) -> Self {
        let (signer, mut jwk) = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key generation");
                let components = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let jwk = json!({"kty": "RSA", "n": b64url_encode(&components.n), "e": b64url_encode(&components.e)});
                (Signer::Rsa(pair), jwk)
            }
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => {
                let (signing, crv, len) = match alg {
                    Algorithm::ES256 => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
                    Algorithm::ES384 => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
                    _ => (&signature::ECDSA_P521_SHA512_FIXED_SIGNING, "P-521", 66),
                };
                let pair = EcdsaKeyPair::generate(signing).expect("EC key generation");
                let point = pair.public_key().as_ref().to_vec();
                let jwk = json!({
                    "kty": "EC", "crv": crv,
                    "x": b64url_encode(&point[1..1 + len]),
                    "y": b64url_encode(&point[1 + len..]),
                });
                (Signer::Ec(pair), jwk)
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation");
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(pair.public_key().as_ref())});
                (Signer::Ed(pair), jwk)
            }
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                panic!("the test kit signs with asymmetric keys; use TokenBuilder::sign_hmac for HS*")
            }
        };
        jwk["kid"] = kid.clone().into();
        jwk["alg"] = alg.as_str().into();
        jwk["use"] = "sig".into();
        Self { kid, alg, signer, jwk }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair) => {
                let encoding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(encoding, &rng, input, &mut sig).expect("RSA signing");
                sig
            }
            Signer::Ec(pair) => pair.sign(&rng, input).expect("ECDSA signing").as_ref().to_vec(),
            Signer::Ed(pair) => pair.sign(input).as_ref().to_vec(),
        }
    }
}

struct LocalInner {
    issuer: String,
    audience: RwLock<Option<String>>,
    keys: RwLock<Vec<Arc<SigningKey>>>,
    next_kid: AtomicU64,
    clock: RwLock<SharedClock>,
}

/// An in-memory issuer: signing keys, a JWKS, and a token builder. Clones share keys.
#[derive(Clone)]
pub struct LocalIssuer {
    inner: Arc<LocalInner>,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIssuer").field("issuer", &self.inner.issuer).finish_non_exhaustive()
    }
}

impl LocalIssuer {
    /// An issuer named `issuer` with one ES256 key.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self::with_algorithms(issuer, &[Algorithm::ES256])
    }

    /// An issuer with one key per algorithm; tokens are signed with the first unless told otherwise.
    pub fn with_algorithms(issuer: impl Into<String>, algorithms: &[Algorithm]) -> Self {
        let this = Self {
            inner: Arc::new(LocalInner {
                issuer: issuer.into(),
                audience: RwLock::new(None),
                keys: RwLock::new(Vec::new()),
                next_kid: AtomicU64::new(1),
                clock: RwLock::new(Arc::new(SystemClock)),
            }),
        };
        for alg in algorithms {
            this.add_key(*alg);
        }
        this
    }

    /// Sets the `aud` every new token gets by default.
    pub fn set_default_audience(&self, audience: impl Into<String>) {
        *self.inner.audience.write().expect("lock") = Some(audience.into());
    }

    /// Uses `clock` for `iat` / `exp` of new tokens.
    pub fn set_clock(&self, clock: impl Clock) {
        *self.inner.clock.write().expect("lock") = Arc::new(clock);
    }

    /// The issuer identifier (`iss`).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Adds a key for `alg` and returns its `kid`.
    pub fn add_key(&self, alg: Algorithm) -> String {
        let n = self.inner.next_kid.fetch_add(1, Ordering::Relaxed);
        let kid = format!("{}-{n}", alg.as_str().to_ascii_lowercase());
        let key = Arc::new(SigningKey::generate(alg, kid.clone()));
        self.inner.keys.write().expect("lock").push(key);
        kid
    }

    /// Replaces the keys of `alg` with a new one (key rotation) and returns the new `kid`.
    pub fn rotate(&self, alg: Algorithm) -> String {
        let n = self.inner.next_kid.fetch_add(1, Ordering::Relaxed);
        let kid = format!("{}-{n}", alg.as_str().to_ascii_lowercase());
        let key = Arc::new(SigningKey::generate(alg, kid.clone()));
        let mut keys = self.inner.keys.write().expect("lock");
        let at = keys.iter().position(|k| k.alg == alg).unwrap_or(keys.len());
        keys.retain(|k| k.alg != alg);
        let at = at.min(keys.len());
        keys.insert(at, key);
        kid
    }

    /// The public JWK Set.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.inner.keys.read().expect("lock").iter().map(|k| k.jwk.clone()).collect();
        json!({ "keys": keys })
    }

    /// The public JWK Set as a JSON string.
    pub fn jwks_json(&self) -> String {
        self.jwks().to_string()
    }

    /// The public JWK of the key `kid`.
    pub fn public_jwk(&self, kid: &str) -> Option<Value> {
        self.inner.keys.read().expect("lock").iter().find(|k| k.kid == kid).map(|k| k.jwk.clone())
    }

    /// The `kid` of the current key for `alg`.
    pub fn kid_for(&self, alg: Algorithm) -> Option<String> {
        self.inner.keys.read().expect("lock").iter().find(|k| k.alg == alg).map(|k| k.kid.clone())
    }

    /// Starts a token with `iss`, `sub` (`user-1`), `client_id` (`test-client`), `iat`, `exp` (in one
    /// hour), `jti`, and the default audience if one is set.
    pub fn token(&self) -> TokenBuilder {
        let now = unix_seconds(self.inner.clock.read().expect("lock").now());
        let jti = {
            let mut bytes = [0u8; 16];
            aws_lc_rs::rand::fill(&mut bytes).expect("random");
            b64url_encode(&bytes)
        };
        let mut claims = Map::new();
        claims.insert("iss".into(), self.inner.issuer.clone().into());
        claims.insert("sub".into(), "user-1".into());
        claims.insert("client_id".into(), "test-client".into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + 3600).into());
        claims.insert("jti".into(), jti.into());
        if let Some(aud) = self.inner.audience.read().expect("lock").clone() {
            claims.insert("aud".into(), aud.into());
        }
        let mut header = Map::new();
        header.insert("typ".into(), "at+jwt".into());
        TokenBuilder { issuer: self.clone(), alg: None, kid: None, header, claims, now }
    }
}

/// Builds a token. Every header and claim can be overridden, including to make bad tokens.
#[must_use]
pub struct TokenBuilder {
    issuer: LocalIssuer,
    alg: Option<Algorithm>,
    kid: Option<Option<String>>,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    now: u64,
}

impl std::fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBuilder").field("alg", &self.alg).field("claims", &self.claims).finish_non_exhaustive()
    }
}

impl TokenBuilder {
    /// Signs with the issuer's key for `alg`.
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg);
        self
    }

    /// Overrides the `kid` header (`None` removes it).
    pub fn kid(mut self, kid: Option<&str>) -> Self {
        self.kid = Some(kid.map(str::to_owned));
        self
    }

    /// Sets a header member (`alg` and `kid` are set at signing unless given here).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header member.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Sets a claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// Sets `aud`.
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", aud)
    }

    /// Sets `scope` (space-delimited).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    /// Sets `exp` to `secs` seconds from the issuer's now (negative: already expired).
    pub fn expires_in(self, secs: i64) -> Self {
        let exp = self.now as i64 + secs;
        self.claim("exp", exp)
    }

    /// Sets `nbf` to `secs` seconds from the issuer's now.
    pub fn not_before_in(self, secs: i64) -> Self {
        let nbf = self.now as i64 + secs;
        self.claim("nbf", nbf)
    }

    /// Binds the token to a DPoP key: `cnf.jkt` is its thumbprint (RFC 9449 §6.1).
    pub fn dpop_bound(self, key: &DpopKey) -> Self {
        self.claim("cnf", json!({ "jkt": key.thumbprint() }))
    }

    /// Binds the token to a client certificate: `cnf.x5t#S256` is `x5t_s256`, the certificate's
    /// thumbprint (RFC 8705 §3.1; see [`mtls::x5t_s256`](crate::mtls::x5t_s256)).
    pub fn certificate_bound(self, x5t_s256: &str) -> Self {
        self.claim("cnf", json!({ "x5t#S256": x5t_s256 }))
    }

    fn encode(header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
        let h = serde_json::to_vec(header).expect("JSON");
        let c = serde_json::to_vec(claims).expect("JSON");
        format!("{}.{}", b64url_encode(&h), b64url_encode(&c))
    }

    /// Signs and returns the compact JWS.
    pub fn sign(mut self) -> String {
        let keys = self.issuer.inner.keys.read().expect("lock").clone();
        let key = match self.alg {
            Some(alg) => keys.iter().find(|k| k.alg == alg).cloned().expect("the issuer has no key for this algorithm"),
            None => keys.first().cloned().expect("the issuer has no key"),
        };
        self.header.entry("alg").or_insert_with(|| key.alg.as_str().into());
        match self.kid.take() {
            None => {
                self.header.entry("kid").or_insert_with(|| key.kid.clone().into());
            }
            Some(Some(kid)) => {
                self.header.insert("kid".into(), kid.into());
            }
            Some(None) => {
                self.header.remove("kid");
            }
        }
        let input = Self::encode(&self.header, &self.claims);
        let sig = key.sign(input.as_bytes());
        format!("{input}.{}", b64url_encode(&sig))
    }

    /// An unsecured JWS (`alg` `none` unless the header says otherwise, empty signature).
    pub fn sign_unsecured(mut self) -> String {
        self.header.entry("alg").or_insert_with(|| "none".into());
        format!("{}.", Self::encode(&self.header, &self.claims))
    }

    /// Signs `header` and `payload` exactly as given — JSON with duplicate members, a nested JWT, any
    /// bytes — with the issuer's key for the builder's [`alg`](Self::alg) (else its first key). The
    /// builder's own header and claims are not used: the caller writes `alg` and `kid` into `header`.
    pub fn sign_raw(self, header: &[u8], payload: &[u8]) -> String {
        let keys = self.issuer.inner.keys.read().expect("lock").clone();
        let key = match self.alg {
            Some(alg) => keys.iter().find(|k| k.alg == alg).cloned().expect("the issuer has no key for this algorithm"),
            None => keys.first().cloned().expect("the issuer has no key"),
        };
        let input = format!("{}.{}", b64url_encode(header), b64url_encode(payload));
        let sig = key.sign(input.as_bytes());
        format!("{input}.{}", b64url_encode(&sig))
    }

    /// Signs with HMAC under `secret` (for key-confusion tests: pass a public key as the secret).
    pub fn sign_hmac(mut self, alg: Algorithm, secret: &[u8]) -> String {
        let hmac = alg.hmac().expect("sign_hmac needs an HS* algorithm");
        self.header.insert("alg".into(), alg.as_str().into());
        if let Some(Some(kid)) = self.kid.take() {
            self.header.insert("kid".into(), kid.into());
        }
        let input = Self::encode(&self.header, &self.claims);
        let tag = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(hmac, secret), input.as_bytes());
        format!("{input}.{}", b64url_encode(tag.as_ref()))
    }
}

/// A [`LocalIssuer`] served over HTTP on 127.0.0.1: `/.well-known/openid-configuration`, `/jwks` and
/// the introspection endpoint `/introspect` (RFC 7662). It can go down (answer 503) and count the
/// fetches and calls it served. Stops when dropped.
pub struct TestIssuer {
    local: LocalIssuer,
    addr: SocketAddr,
    url: String,
    state: Arc<ServeState>,
    task: tokio::task::JoinHandle<()>,
}

struct ServeState {
    local: LocalIssuer,
    url: String,
    down: AtomicBool,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
    introspection: IntrospectionState,
}

/// The introspection side of a [`TestIssuer`].
#[derive(Default)]
struct IntrospectionState {
    /// Opaque token → the members of its active answer (without `active`).
    tokens: Mutex<HashMap<String, Map<String, Value>>>,
    /// Revoked tokens (JWTs of this issuer; opaque ones are removed from `tokens`).
    revoked: Mutex<HashSet<String>>,
    calls: AtomicUsize,
    delay_ms: AtomicU64,
    behavior: RwLock<IntrospectionBehavior>,
}

/// How the test issuer's introspection endpoint misbehaves (see [`TestIssuer::set_introspection_behavior`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntrospectionBehavior {
    /// RFC 7662 answers: `{"active":true,…}` for a known token, `{"active":false}` otherwise.
    #[default]
    Normal,
    /// `500 Internal Server Error` to every call.
    ServerError,
    /// `200` with an HTML body.
    NotJson,
    /// Known tokens are answered with `"active": "true"`, a string (which is not active).
    ActiveAsString,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer").field("url", &self.url).finish_non_exhaustive()
    }
}

impl std::ops::Deref for TestIssuer {
    type Target = LocalIssuer;
    fn deref(&self) -> &LocalIssuer {
        &self.local
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestIssuer {
    /// Starts an issuer with RS256, PS256, ES256, ES384 and EdDSA keys (tokens default to RS256).
    pub async fn start() -> Self {
        Self::start_with(&[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA])
            .await
    }

    /// Starts an issuer with one key per algorithm.
    pub async fn start_with(algorithms: &[Algorithm]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let url = format!("http://{addr}");
        let local = LocalIssuer::with_algorithms(url.clone(), algorithms);
        let state = Arc::new(ServeState {
            local: local.clone(),
            url: url.clone(),
            down: AtomicBool::new(false),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
            introspection: IntrospectionState::default(),
        });
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", axum::routing::get(discovery))
            .route("/jwks", axum::routing::get(jwks))
            .route("/introspect", axum::routing::post(introspect))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { local, addr, url, state, task }
    }

    /// The issuer URL, `http://127.0.0.1:PORT` (also its `iss`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.url)
    }

    /// The in-memory issuer behind the server.
    pub fn local(&self) -> &LocalIssuer {
        &self.local
    }

    /// Makes the server answer 503 to everything (`true`) or serve again (`false`).
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// JWKS documents served (or refused while down) so far.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Discovery documents served (or refused while down) so far.
    pub fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// The client id the introspection endpoint accepts.
    pub const INTROSPECTION_CLIENT_ID: &'static str = "resource-server";
    /// The client secret the introspection endpoint accepts. It holds characters that RFC 6749
    /// §2.3.1 form-urlencodes before the Basic encoding (`:`, `+`, space, `%`), so a client that skips
    /// that step is refused.
    pub const INTROSPECTION_CLIENT_SECRET: &'static str = "rs-secret:+ %/&=";

    /// The introspection endpoint URL (also in the discovery document).
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/introspect", self.url)
    }

    /// Starts an opaque token: active, with `iss`, `sub` (`user-1`), `client_id` (`test-client`), `iat`,
    /// `exp` in one hour (the issuer's clock), and the default audience if one is set.
    pub fn opaque_token(&self) -> OpaqueTokenBuilder<'_> {
        let now = unix_seconds(self.local.inner.clock.read().expect("lock").now());
        let mut members = Map::new();
        members.insert("iss".into(), self.url.clone().into());
        members.insert("sub".into(), "user-1".into());
        members.insert("client_id".into(), "test-client".into());
        members.insert("iat".into(), now.into());
        members.insert("exp".into(), (now + 3600).into());
        if let Some(aud) = self.local.inner.audience.read().expect("lock").clone() {
            members.insert("aud".into(), aud.into());
        }
        OpaqueTokenBuilder { issuer: self, members, now }
    }

    /// Issues an opaque token with `scope` (space-delimited) and `exp` (seconds since the Unix epoch),
    /// and returns it. The endpoint answers it active (whatever `exp` says) until [`revoke`](Self::revoke).
    pub fn issue_opaque_token(&self, scopes: &str, exp: u64) -> String {
        self.opaque_token().scope(scopes).claim("exp", exp).issue()
    }

    /// Revokes a token: the endpoint answers `{"active":false}` for it from now on. Works for opaque
    /// tokens and for this issuer's JWTs.
    pub fn revoke(&self, token: &str) {
        let state = &self.state.introspection;
        state.tokens.lock().expect("lock").remove(token);
        state.revoked.lock().expect("lock").insert(token.to_owned());
    }

    /// Calls the introspection endpoint received so far (including refused and failed ones).
    pub fn introspection_calls(&self) -> usize {
        self.state.introspection.calls.load(Ordering::SeqCst)
    }

    /// Delays every introspection answer by `delay` (`Duration::ZERO`: answer at once).
    pub fn set_introspection_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.introspection.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Makes the introspection endpoint misbehave (or behave again with [`IntrospectionBehavior::Normal`]).
    pub fn set_introspection_behavior(&self, behavior: IntrospectionBehavior) {
        *self.state.introspection.behavior.write().expect("lock") = behavior;
    }

    /// Waits until `n` JWKS requests arrived, for at most `timeout`.
    pub async fn wait_for_jwks_fetches(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.jwks_fetches() < n {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

impl ServeState {
    /// Counts a request on `counter`; while the issuer is down, the answer to it (503).
    fn arrive(&self, counter: &AtomicUsize) -> Option<axum::response::Response> {
        use axum::response::IntoResponse;
        counter.fetch_add(1, Ordering::SeqCst);
        self.down.load(Ordering::SeqCst).then(|| http::StatusCode::SERVICE_UNAVAILABLE.into_response())
    }
}

/// `200 OK` with `body` of type `content_type`.
fn typed(content_type: &'static str, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(http::header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn discovery(axum::extract::State(state): axum::extract::State<Arc<ServeState>>) -> axum::response::Response {
    if let Some(down) = state.arrive(&state.discovery_fetches) {
        return down;
    }
    let doc = json!({
        "issuer": state.url,
        "jwks_uri": format!("{}/jwks", state.url),
        "introspection_endpoint": format!("{}/introspect", state.url),
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
    });
    typed("application/json", doc.to_string())
}

async fn jwks(axum::extract::State(state): axum::extract::State<Arc<ServeState>>) -> axum::response::Response {
    if let Some(down) = state.arrive(&state.jwks_fetches) {
        return down;
    }
    typed("application/jwk-set+json", state.local.jwks_json())
}

/// Builds an opaque token of a [`TestIssuer`]: the members of its introspection answer.
#[must_use]
pub struct OpaqueTokenBuilder<'a> {
    issuer: &'a TestIssuer,
    members: Map<String, Value>,
    now: u64,
}

impl std::fmt::Debug for OpaqueTokenBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpaqueTokenBuilder").field("members", &self.members).finish_non_exhaustive()
    }
}

impl OpaqueTokenBuilder<'_> {
    /// Sets a member of the answer (`cnf`, `token_type`, `username`, anything).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.members.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a member of the answer.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.members.remove(name);
        self
    }

    /// Sets `scope` (space-delimited).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// Sets `exp` to `secs` seconds from the issuer's now (negative: already expired; the endpoint
    /// still answers active, so the resource server's own `exp` check can be tested).
    pub fn expires_in(self, secs: i64) -> Self {
        let exp = self.now as i64 + secs;
        self.claim("exp", exp)
    }

    /// Registers the token with the endpoint and returns it: 32 random bytes, base64url (never a JWT).
    pub fn issue(self) -> String {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("random");
        let token = b64url_encode(&bytes);
        self.issuer.state.introspection.tokens.lock().expect("lock").insert(token.clone(), self.members);
        token
    }
}

/// `POST /introspect`: RFC 7662 §2 with client authentication (`client_secret_basic` or
/// `client_secret_post`, RFC 6749 §2.3.1).
async fn introspect(
    axum::extract::State(state): axum::extract::State<Arc<ServeState>>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let intro = &state.introspection;
    if let Some(down) = state.arrive(&intro.calls) {
        return down;
    }
    let delay = intro.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let json = |status: http::StatusCode, doc: Value| {
        (status, [(http::header::CONTENT_TYPE, "application/json")], doc.to_string()).into_response()
    };
    let bad_request = || json(http::StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}));
    let form_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form_type {
        return bad_request();
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let one = |name: &str| {
        let mut values = form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(Some(v)),
            (None, _) => Ok(None),
            _ => Err(()),
        }
    };
    let (Ok(token), Ok(post_id), Ok(post_secret)) = (one("token"), one("client_id"), one("client_secret")) else {
        return bad_request();
    };
    let basic = headers.get(http::header::AUTHORIZATION).map(|v| basic_credentials(v.as_bytes()));
    let credentials = match (basic, post_id, post_secret) {
        // RFC 6749 §2.3: one authentication method per request.
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return bad_request(),
        (Some(basic), None, None) => basic,
        (None, Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
        _ => None,
    };
    let authorized = credentials.is_some_and(|(id, secret)| {
        id == TestIssuer::INTROSPECTION_CLIENT_ID && secret == TestIssuer::INTROSPECTION_CLIENT_SECRET
    });
    if !authorized {
        let mut response = json(http::StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
        response
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Basic realm=\"test-issuer\""));
        return response;
    }
    let Some(token) = token else { return bad_request() };
    let behavior = *intro.behavior.read().expect("lock");
    match behavior {
        IntrospectionBehavior::ServerError => return http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        IntrospectionBehavior::NotJson => {
            return (
                [(http::header::CONTENT_TYPE, "text/html")],
                "<html><body>Service temporarily overloaded</body></html>",
            )
                .into_response();
        }
        IntrospectionBehavior::Normal | IntrospectionBehavior::ActiveAsString => {}
    }
    let members = if intro.revoked.lock().expect("lock").contains(token) {
        None
    } else {
        intro.tokens.lock().expect("lock").get(token).cloned().or_else(|| own_jwt_claims(&state, token))
    };
    let doc = match members {
        None => json!({"active": false}),
        Some(members) => {
            let mut doc = Map::new();
            doc.insert(
                "active".into(),
                if behavior == IntrospectionBehavior::ActiveAsString { "true".into() } else { true.into() },
            );
            doc.extend(members);
            Value::Object(doc)
        }
    };
    json(http::StatusCode::OK, doc)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` → (id, secret); `None` when malformed.
fn basic_credentials(value: &[u8]) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

/// The claims of a JWT this issuer signed (signature checked with its own keys), for introspection.
fn own_jwt_claims(state: &ServeState, token: &str) -> Option<Map<String, Value>> {
    let jws = crate::jwt::compact::parse(token).ok()?;
    if jws.claims.get("iss").and_then(Value::as_str) != Some(state.url.as_str()) {
        return None;
    }
    let kid = jws.kid().ok()??;
    let jwk = state.local.public_jwk(kid)?;
    let key = crate::jwt::VerifyingKey::from_jwk(&jwk).ok()?;
    key.verify(jws.signing_input, &jws.signature).then_some(jws.claims)
}

/// A client's DPoP key pair (RFC 9449): makes proofs for requests, good ones and, through
/// [`ProofBuilder`], bad ones. Bind a token to it with [`TokenBuilder::dpop_bound`].
///
/// ```
/// use tower_auth::jwt::Algorithm;
/// use tower_auth::testkit::{DpopKey, LocalIssuer};
///
/// let key = DpopKey::generate(Algorithm::ES256);
/// let token = LocalIssuer::new("https://issuer.test").token().audience("https://api.test").dpop_bound(&key).sign();
/// let proof = key.proof("GET", "https://api.test/orders", Some(&token), None);
/// assert_eq!(proof.split('.').count(), 3);
/// assert_eq!(key.thumbprint(), tower_auth::dpop::jwk_thumbprint(&key.public_jwk()).unwrap());
/// ```
#[derive(Clone)]
pub struct DpopKey {
    key: Arc<SigningKey>,
    jwk: Value,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").field("alg", &self.key.alg).field("jkt", &self.thumbprint()).finish()
    }
}

impl DpopKey {
    /// A new key pair for `alg` (asymmetric only).
    pub fn generate(alg: Algorithm) -> Self {
        let key = SigningKey::generate(alg, String::new());
        let mut jwk = key.jwk.clone();
        if let Value::Object(members) = &mut jwk {
            members.retain(|name, _| matches!(name.as_str(), "kty" | "crv" | "x" | "y" | "n" | "e"));
        }
        Self { key: Arc::new(key), jwk }
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.key.alg
    }

    /// The public JWK, as it goes into the proof header: `kty` and the key members only.
    pub fn public_jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// The RFC 7638 SHA-256 thumbprint: the `cnf.jkt` of tokens bound to this key.
    pub fn thumbprint(&self) -> String {
        crate::dpop::jwk_thumbprint(&self.jwk).expect("a generated key has a thumbprint")
    }

    /// A proof for `method` and `url` (its query and fragment are kept in `htu` only if present in
    /// `url`; servers ignore them), created now by the system clock, with `ath` for `access_token`
    /// and the server's `nonce`.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>, nonce: Option<&str>) -> String {
        let mut builder = self.proof_builder(method, url);
        if let Some(token) = access_token {
            builder = builder.access_token(token);
        }
        if let Some(nonce) = nonce {
            builder = builder.nonce(nonce);
        }
        builder.sign()
    }

    /// Starts a proof with `typ` `dpop+jwt`, `alg`, `jwk`, and the claims `jti` (16 random bytes),
    /// `htm`, `htu` and `iat` (now, by the system clock); every part can be overridden.
    pub fn proof_builder(&self, method: &str, url: &str) -> ProofBuilder {
        let mut header = Map::new();
        header.insert("typ".into(), "dpop+jwt".into());
        header.insert("alg".into(), self.key.alg.as_str().into());
        header.insert("jwk".into(), self.jwk.clone());
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).expect("random");
        let mut claims = Map::new();
        claims.insert("jti".into(), b64url_encode(&jti).into());
        claims.insert("htm".into(), method.into());
        claims.insert("htu".into(), url.into());
        claims.insert("iat".into(), unix_seconds(std::time::SystemTime::now()).into());
        ProofBuilder { key: self.key.clone(), header, claims }
    }
}

/// Builds a DPoP proof of a [`DpopKey`]. Every header and claim can be overridden, to make bad proofs.
#[must_use]
pub struct ProofBuilder {
    key: Arc<SigningKey>,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl std::fmt::Debug for ProofBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofBuilder").field("header", &self.header).field("claims", &self.claims).finish()
    }
}

impl ProofBuilder {
    /// Sets `ath` to the hash of `access_token`.
    pub fn access_token(self, access_token: &str) -> Self {
        self.claim("ath", crate::dpop::access_token_hash(access_token))
    }

    /// Sets `nonce`.
    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", nonce)
    }

    /// Sets `iat` (seconds since the Unix epoch), e.g. from a test's `ManualClock`.
    pub fn iat(self, iat: i64) -> Self {
        self.claim("iat", iat)
    }

    /// Sets `jti`.
    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", jti)
    }

    /// Sets a header member (`typ`, `alg`, `jwk`, …).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header member.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Sets a claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    fn input(&self) -> String {
        TokenBuilder::encode(&self.header, &self.claims)
    }

    /// Signs with the key (whatever the header says) and returns the compact JWS.
    pub fn sign(self) -> String {
        let input = self.input();
        let sig = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64url_encode(&sig))
    }

    /// Signs with `other`'s private key, leaving this key's `jwk` in the header.
    pub fn sign_with(self, other: &DpopKey) -> String {
        let input = self.input();
        let sig = other.key.sign(input.as_bytes());
        format!("{input}.{}", b64url_encode(&sig))
    }

    /// An unsecured JWS: `alg` `none`, empty signature.
    pub fn sign_unsecured(self) -> String {
        let input = self.header("alg", "none").input();
        format!("{input}.")
    }

    /// A MAC under `secret` with an HS* `alg`.
    pub fn sign_hmac(self, alg: Algorithm, secret: &[u8]) -> String {
        let hmac = alg.hmac().expect("sign_hmac needs an HS* algorithm");
        let input = self.header("alg", alg.as_str()).input();
        let tag = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(hmac, secret), input.as_bytes());
        format!("{input}.{}", b64url_encode(tag.as_ref()))
    }
}

/// An API key of `format` with the given key id (12 base62 characters) and secret (22), sealed
/// with the checksum the format requires — computed here, independently of the crate's encoder.
/// For tests that need keys with chosen parts: a known id with a wrong secret, say, or generated
/// ids and secrets. Panics if a part has the wrong length or characters.
pub fn api_key_with(format: &crate::apikey::KeyFormat, id: &str, secret: &str) -> String {
    let base62 = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric());
    assert!(base62(id, 12) && base62(secret, 22), "an API key id is 12 and a secret 22 base62 characters");
    let body = format!("{}_{id}_{secret}", format.prefix());
    // CRC-32/ISO-HDLC, bit by bit, as 6 base62 digits.
    let mut crc = !0u32;
    for &b in body.as_bytes() {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    let mut crc = !crc;
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut digits = [0u8; 6];
    for slot in digits.iter_mut().rev() {
        *slot = alphabet[(crc % 62) as usize];
        crc /= 62;
    }
    let digits: String = digits.iter().map(|&d| char::from(d)).collect();
    format!("{body}{digits}")
}

/// Every event emitted at TRACE level, as text without colours: for tests that search the logs for
/// what must never be there (tokens, keys, secrets). Clones share the buffer.
///
/// ```
/// use tower_auth::testkit::LogCapture;
///
/// let (capture, _guard) = LogCapture::install();
/// tracing::debug!(user = "alice", "token accepted");
/// assert!(capture.text().contains("token accepted"));
/// ```
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.0.lock().map_or(0, |buffer| buffer.len());
        f.debug_struct("LogCapture").field("bytes", &len).finish()
    }
}

impl LogCapture {
    /// Installs a subscriber writing into a new capture as this thread's default, until the guard
    /// is dropped. Use a current-thread runtime, so that spawned tasks log here too.
    pub fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Self::default();
        let guard = tracing::subscriber::set_default(capture.subscriber());
        (capture, guard)
    }

    /// The capture of every thread's events, for servers that run on threads of their own: the
    /// first call installs its subscriber as the process-wide default. Call it before anything
    /// logs. Panics if another global subscriber is installed.
    pub fn global() -> &'static Self {
        static GLOBAL: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| {
            let capture = Self::default();
            tracing::subscriber::set_global_default(capture.subscriber())
                .expect("LogCapture::global is the only global subscriber of this process");
            capture
        })
    }

    /// What was captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    /// A subscriber of every level writing into this capture, without ANSI colours.
    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
