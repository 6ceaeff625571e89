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
//! These keys are generated per process and live in memory: never use this module in production.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Map, Value, json};

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
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512 => {
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

/// A [`LocalIssuer`] served over HTTP on 127.0.0.1: `/.well-known/openid-configuration` and `/jwks`.
/// It can go down (answer 503) and count the fetches it served. Stops when dropped.
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
        Self::start_with(&[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA]).await
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
        });
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", axum::routing::get(discovery))
            .route("/jwks", axum::routing::get(jwks))
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

async fn discovery(axum::extract::State(state): axum::extract::State<Arc<ServeState>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let doc = json!({
        "issuer": state.url,
        "jwks_uri": format!("{}/jwks", state.url),
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
    });
    ([(http::header::CONTENT_TYPE, "application/json")], doc.to_string()).into_response()
}

async fn jwks(axum::extract::State(state): axum::extract::State<Arc<ServeState>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    ([(http::header::CONTENT_TYPE, "application/jwk-set+json")], state.local.jwks_json()).into_response()
}
