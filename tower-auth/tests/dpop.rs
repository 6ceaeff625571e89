//! DPoP on the engine (RFC-CHECKLIST section E and F): every check of RFC 9449 §4.3 with proofs from
//! the test kit, token binding from JWTs and from introspection answers, the scheme and downgrade
//! rules, nonces, and the replay store (in memory, shared, and in Redis with the `redis` feature).
//!
//! E1.x is item x of the §4.3 list. Every test asserts the exact [`AuthErrorKind`]; time moves only
//! through a [`ManualClock`].
#![cfg(feature = "test-util")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tower_auth::dpop::{Dpop, DpopBuilder, MemoryReplayStore, ReplayStore};
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::testkit::{DpopKey, LocalIssuer, ProofBuilder, TestIssuer};
use tower_auth::{AuthError, AuthErrorKind, AuthScheme, Authenticator, Binding, ManualClock, Mechanism, Principal};

use common::{AUD, T0, introspector_for};

const ORIGIN: &str = "https://api.tower-auth.test";
const URL: &str = "https://api.tower-auth.test/orders";
const ALGS: &str = "ES256 ES384 ES512 PS256 RS256 EdDSA";

struct Setup {
    issuer: LocalIssuer,
    clock: ManualClock,
    auth: Authenticator,
}

fn dpop_config(clock: &ManualClock) -> DpopBuilder {
    Dpop::builder().public_origin(ORIGIN).clock(clock.clone())
}

fn setup_with(configure: impl FnOnce(DpopBuilder) -> DpopBuilder) -> Setup {
    let clock = ManualClock::at_unix(T0);
    let issuer = LocalIssuer::new("https://issuer.test");
    issuer.set_clock(clock.clone());
    issuer.set_default_audience(AUD);
    let jwt = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUD)
        .clock(clock.clone())
        .build()
        .unwrap();
    let dpop = configure(dpop_config(&clock)).build().unwrap();
    let auth = Authenticator::builder().jwt(jwt).dpop(dpop).realm("api").build().unwrap();
    Setup { issuer, clock, auth }
}

fn setup() -> Setup {
    setup_with(|b| b)
}

impl Setup {
    fn now(&self) -> i64 {
        i64::try_from(tower_auth::clock::unix_seconds(tower_auth::Clock::now(&self.clock))).unwrap()
    }

    fn bound_token(&self, key: &DpopKey) -> String {
        self.issuer.token().dpop_bound(key).scope("orders:read").sign()
    }

    /// A valid proof for `GET /orders` with `token`, created now.
    fn proof(&self, key: &DpopKey, token: &str) -> ProofBuilder {
        key.proof_builder("GET", URL).iat(self.now()).access_token(token)
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<String>,
        proofs: &[String],
    ) -> Result<Option<Principal>, AuthError> {
        let mut req = http::Request::builder().method(method).uri(path).header("host", "127.0.0.1:8080");
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        for p in proofs {
            req = req.header("dpop", p.as_str());
        }
        let parts = req.body(()).unwrap().into_parts().0;
        self.auth.authenticate(&parts).await
    }

    async fn dpop(&self, token: &str, proof: String) -> Result<Option<Principal>, AuthError> {
        self.send("GET", "/orders", Some(format!("DPoP {token}")), &[proof]).await
    }

    async fn expect(&self, token: &str, proof: String, kind: AuthErrorKind, what: &str) -> AuthError {
        let error = self.dpop(token, proof).await.expect_err(what);
        assert_eq!(error.kind(), kind, "{what}");
        error
    }
}

fn invalid_proof_challenge() -> String {
    format!(
        r#"Bearer realm="api", DPoP realm="api", error="invalid_dpop_proof", error_description="Invalid DPoP proof", algs="{ALGS}""#
    )
}

#[tokio::test]
async fn a_valid_proof_for_every_default_algorithm() {
    // E1, E5: each default algorithm's key, bound token, proof → principal bound to that key.
    let s = setup();
    for alg in DpopBuilder::DEFAULT_ALGORITHMS {
        let key = DpopKey::generate(alg);
        let token = s.bound_token(&key);
        let principal = s.dpop(&token, s.proof(&key, &token).sign()).await.unwrap().unwrap();
        assert_eq!(principal.binding(), Some(&Binding::Dpop { jkt: key.thumbprint() }), "{alg}");
        assert_eq!(principal.mechanism(), Mechanism::Jwt);
        assert!(principal.has_scope("orders:read"));
    }
}

#[tokio::test]
async fn header_checks() {
    let s = setup();
    let key = DpopKey::generate(Algorithm::ES256);
    let token = s.bound_token(&key);
    let other = DpopKey::generate(Algorithm::ES256);
    let p384 = DpopKey::generate(Algorithm::ES384);
    let jwk = key.public_jwk();
    let with_member = |name: &str, value: Value| {
        let mut jwk = jwk.clone();
        jwk[name] = value;
        jwk
    };
    let cases: Vec<(&str, String)> = vec![
        // E1.2: a single well-formed JWT
        ("not a JWT", "not-a-jwt".to_owned()),
        ("five segments", format!("{}.a.b", s.proof(&key, &token).sign())),
        // E1.4: typ
        ("no typ", s.proof(&key, &token).remove_header("typ").sign()),
        ("typ JWT", s.proof(&key, &token).header("typ", "JWT").sign()),
        ("typ at+jwt", s.proof(&key, &token).header("typ", "at+jwt").sign()),
        // E1.5 / E4: alg
        ("alg none", s.proof(&key, &token).sign_unsecured()),
        ("alg HS256", s.proof(&key, &token).sign_hmac(Algorithm::HS256, &[7u8; 32])),
        ("alg ES384 with a P-256 key", s.proof(&key, &token).header("alg", "ES384").sign()),
        ("alg ES256 with a P-384 key", s.proof(&p384, &token).header("alg", "ES256").sign()),
        ("alg case", s.proof(&key, &token).header("alg", "es256").sign()),
        ("crit", s.proof(&key, &token).header("crit", json!(["exp"])).sign()),
        // E1.6: signature by the header key
        ("signed by another key", s.proof(&key, &token).sign_with(&other)),
        // E1.7: jwk is a public key
        ("no jwk", s.proof(&key, &token).remove_header("jwk").sign()),
        ("jwk not an object", s.proof(&key, &token).header("jwk", "key").sign()),
        ("jwk with d", s.proof(&key, &token).header("jwk", with_member("d", json!("AAAA"))).sign()),
        ("jwk with k", s.proof(&key, &token).header("jwk", with_member("k", json!("AAAA"))).sign()),
        ("jwk with p", s.proof(&key, &token).header("jwk", with_member("p", json!("AAAA"))).sign()),
        ("jwk with oth", s.proof(&key, &token).header("jwk", with_member("oth", json!([]))).sign()),
        (
            "oct jwk",
            s.proof(&key, &token)
                .header("jwk", json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}))
                .sign_hmac(Algorithm::HS256, b"secret-secret-secret-secret-secret"),
        ),
        ("jwk for encryption", s.proof(&key, &token).header("jwk", with_member("use", json!("enc"))).sign()),
        ("jwk alg mismatch", s.proof(&key, &token).header("jwk", with_member("alg", json!("ES384"))).sign()),
    ];
    for (what, proof) in cases {
        let error = s.expect(&token, proof, AuthErrorKind::InvalidDpopProof, what).await;
        assert_eq!(error.www_authenticate().unwrap(), invalid_proof_challenge(), "{what}");
    }
    // Case of `typ` does not matter (a media type, RFC 7515 §4.1.9).
    for typ in ["DPoP+JWT", "application/dpop+jwt"] {
        assert!(s.dpop(&token, s.proof(&key, &token).header("typ", typ).sign()).await.is_ok(), "{typ}");
    }
}

#[tokio::test]
async fn claim_checks() {
    let s = setup();
    let key = DpopKey::generate(Algorithm::EdDSA);
    let token = s.bound_token(&key);
    let now = s.now();
    let cases: Vec<(&str, String)> = vec![
        // E1.3: required claims, with their types
        ("no jti", s.proof(&key, &token).remove_claim("jti").sign()),
        ("empty jti", s.proof(&key, &token).jti("").sign()),
        ("oversized jti", s.proof(&key, &token).jti(&"j".repeat(257)).sign()),
        ("jti not a string", s.proof(&key, &token).claim("jti", 7).sign()),
        ("no htm", s.proof(&key, &token).remove_claim("htm").sign()),
        ("no htu", s.proof(&key, &token).remove_claim("htu").sign()),
        ("no iat", s.proof(&key, &token).remove_claim("iat").sign()),
        ("iat a string", s.proof(&key, &token).claim("iat", now.to_string()).sign()),
        // E1.8: htm
        ("htm POST on a GET", s.proof(&key, &token).claim("htm", "POST").sign()),
        ("htm lower case", s.proof(&key, &token).claim("htm", "get").sign()),
        // E1.9: htu
        ("another path", s.proof(&key, &token).claim("htu", format!("{ORIGIN}/admin")).sign()),
        ("another host", s.proof(&key, &token).claim("htu", "https://evil.example/orders").sign()),
        ("another port", s.proof(&key, &token).claim("htu", "https://api.tower-auth.test:8443/orders").sign()),
        ("another scheme", s.proof(&key, &token).claim("htu", "http://api.tower-auth.test/orders").sign()),
        ("the Host header's origin", s.proof(&key, &token).claim("htu", "http://127.0.0.1:8080/orders").sign()),
        ("relative htu", s.proof(&key, &token).claim("htu", "/orders").sign()),
        // E1.11: iat window, 300 s past and 30 s future by default
        ("stale iat", s.proof(&key, &token).iat(now - 301).sign()),
        ("future iat", s.proof(&key, &token).iat(now + 31).sign()),
        // E1.12: ath
        ("no ath", s.proof(&key, &token).remove_claim("ath").sign()),
        ("ath of another token", s.proof(&key, &token).access_token("another").sign()),
        ("ath not a string", s.proof(&key, &token).claim("ath", 1).sign()),
    ];
    for (what, proof) in cases {
        s.expect(&token, proof, AuthErrorKind::InvalidDpopProof, what).await;
    }
    // Normalized and query-free forms of the same URI pass (E1.9); the window's edges are inside (E1.11).
    for (what, proof) in [
        ("default port, case", s.proof(&key, &token).claim("htu", "HTTPS://API.tower-auth.test:443/orders").sign()),
        ("query and fragment ignored", s.proof(&key, &token).claim("htu", format!("{URL}?page=2#top")).sign()),
        (
            "dot segments, percent-encoding",
            s.proof(&key, &token).claim("htu", format!("{ORIGIN}/x/../%6Frders")).sign(),
        ),
        ("300 s old", s.proof(&key, &token).iat(now - 300).sign()),
        ("30 s ahead", s.proof(&key, &token).iat(now + 30).sign()),
    ] {
        assert!(s.dpop(&token, proof).await.is_ok(), "{what}");
    }
    // The request's own query is ignored as well.
    let proof = s.proof(&key, &token).sign();
    assert!(s.send("GET", "/orders?page=3", Some(format!("DPoP {token}")), &[proof]).await.is_ok());
}

#[tokio::test]
async fn one_dpop_header_and_replays() {
    let s = setup();
    let key = DpopKey::generate(Algorithm::ES256);
    let token = s.bound_token(&key);
    // E1.1: two DPoP fields, or none.
    let (a, b) = (s.proof(&key, &token).sign(), s.proof(&key, &token).sign());
    let two = s.send("GET", "/orders", Some(format!("DPoP {token}")), &[a, b]).await.unwrap_err();
    assert_eq!(two.kind(), AuthErrorKind::InvalidDpopProof);
    let none = s.send("GET", "/orders", Some(format!("DPoP {token}")), &[]).await.unwrap_err();
    assert_eq!(none.kind(), AuthErrorKind::InvalidDpopProof);
    // E3: a proof is accepted once, for its whole window; a replay is invalid_dpop_proof.
    let proof = s.proof(&key, &token).sign();
    assert!(s.dpop(&token, proof.clone()).await.is_ok());
    s.expect(&token, proof.clone(), AuthErrorKind::InvalidDpopProof, "replayed at once").await;
    s.clock.advance(Duration::from_secs(299));
    s.expect(&token, proof, AuthErrorKind::InvalidDpopProof, "replayed within the window").await;
    // The same jti for another URI is another entry ("jti per target URI").
    let jti = "same-jti-for-two-uris";
    assert!(s.dpop(&token, s.proof(&key, &token).jti(jti).sign()).await.is_ok());
    let elsewhere = s.proof(&key, &token).jti(jti).claim("htu", format!("{ORIGIN}/me")).sign();
    assert!(s.send("GET", "/me", Some(format!("DPoP {token}")), &[elsewhere]).await.is_ok());
}

#[tokio::test]
async fn token_binding_and_schemes() {
    let s = setup();
    let key = DpopKey::generate(Algorithm::ES256);
    let token = s.bound_token(&key);
    let binding = format!(
        r#"Bearer realm="api", DPoP realm="api", error="invalid_token", error_description="Invalid DPoP key binding", algs="{ALGS}""#
    );
    // E5 / E1.12: the proof key is not the bound one.
    let stranger = DpopKey::generate(Algorithm::ES256);
    let e =
        s.expect(&token, s.proof(&stranger, &token).sign(), AuthErrorKind::DpopBindingMismatch, "another key").await;
    assert_eq!(e.www_authenticate().unwrap(), binding);
    // E10: DPoP scheme with an unbound token.
    let unbound = s.issuer.token().sign();
    let e =
        s.expect(&unbound, s.proof(&key, &unbound).sign(), AuthErrorKind::DpopBindingMismatch, "unbound token").await;
    assert_eq!(e.www_authenticate().unwrap(), binding);
    // A bad token on the DPoP scheme: its error goes to the DPoP challenge.
    s.clock.advance(Duration::from_secs(3600 + 61));
    let e = s.expect(&token, s.proof(&key, &token).sign(), AuthErrorKind::Expired, "expired token").await;
    assert_eq!(e.scheme(), Some(AuthScheme::Dpop));
    assert_eq!(
        e.www_authenticate().unwrap(),
        format!(
            r#"Bearer realm="api", DPoP realm="api", error="invalid_token", error_description="The access token expired", algs="{ALGS}""#
        )
    );
    let fresh = s.bound_token(&key);
    // E8 / §7.2: a DPoP-bound token on the Bearer scheme.
    let e = s.send("GET", "/orders", Some(format!("Bearer {fresh}")), &[]).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::BindingMismatch);
    assert_eq!(
        e.www_authenticate().unwrap(),
        format!(
            r#"Bearer realm="api", error="invalid_token", error_description="Invalid token binding", DPoP realm="api", algs="{ALGS}""#
        )
    );
    // A5 / §7.2: Bearer and a DPoP proof at once → 400 in both challenges.
    let e =
        s.send("GET", "/orders", Some(format!("Bearer {fresh}")), &[s.proof(&key, &fresh).sign()]).await.unwrap_err();
    assert_eq!((e.kind(), e.status().as_u16()), (AuthErrorKind::MultipleCredentials, 400));
    assert_eq!(
        e.www_authenticate().unwrap(),
        format!(
            r#"Bearer realm="api", error="invalid_request", error_description="Multiple methods used to include access token", DPoP realm="api", error="invalid_request", error_description="Multiple methods used to include access token", algs="{ALGS}""#
        )
    );
    // Unbound Bearer tokens keep working; no credentials → both schemes, no error (E8, H1).
    let plain =
        s.send("GET", "/orders", Some(format!("Bearer {}", s.issuer.token().sign())), &[]).await.unwrap().unwrap();
    assert_eq!(plain.binding(), None);
    let e = s.send("GET", "/orders", None, &[]).await.unwrap_err();
    assert_eq!(e.www_authenticate().unwrap(), format!(r#"Bearer realm="api", DPoP realm="api", algs="{ALGS}""#));
    let headers = e.response_headers();
    assert!(headers.iter().any(|(n, v)| *n == "access-control-expose-headers" && v == "WWW-Authenticate, DPoP-Nonce"));
}

#[tokio::test]
async fn nonces() {
    // E9, E1.10: §9 flow, stale and forged nonces, a fresh nonce offered past half its lifetime.
    let s = setup_with(|b| b.require_nonce(true).nonce_lifetime(Duration::from_secs(120)));
    let key = DpopKey::generate(Algorithm::ES256);
    let token = s.bound_token(&key);
    let e = s.expect(&token, s.proof(&key, &token).sign(), AuthErrorKind::UseDpopNonce, "no nonce").await;
    let headers = e.response_headers();
    let nonces: Vec<&str> = headers.iter().filter(|(n, _)| *n == "dpop-nonce").map(|(_, v)| v.as_ref()).collect();
    assert_eq!(nonces.len(), 1);
    let nonce = nonces[0].to_owned();
    assert_eq!(
        e.www_authenticate().unwrap(),
        format!(
            r#"Bearer realm="api", DPoP realm="api", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="{ALGS}""#
        )
    );
    let ok = |proof: String| {
        let parts = http::Request::get("/orders")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let auth = s.auth.clone();
        async move { auth.authenticate_request(&parts).await }
    };
    let done = ok(s.proof(&key, &token).nonce(&nonce).sign()).await.unwrap();
    assert!(done.principal().is_some());
    assert_eq!(done.dpop_nonce(), None, "a young nonce is not replaced");
    s.clock.advance(Duration::from_secs(61));
    let done = ok(s.proof(&key, &token).nonce(&nonce).sign()).await.unwrap();
    let fresh = done.dpop_nonce().expect("a nonce past half its lifetime is replaced").to_owned();
    assert_ne!(fresh, nonce);
    assert!(done.response_headers().iter().any(|(n, v)| *n == "cache-control" && v == "no-store"));
    s.clock.advance(Duration::from_secs(60));
    s.expect(&token, s.proof(&key, &token).nonce(&nonce).sign(), AuthErrorKind::UseDpopNonce, "expired nonce").await;
    s.expect(
        &token,
        s.proof(&key, &token).nonce("eyJ7S_zG.eyJH0-Z.HX4w-7v").sign(),
        AuthErrorKind::UseDpopNonce,
        "foreign nonce",
    )
    .await;
    s.expect(&token, s.proof(&key, &token).nonce(&tamper(&fresh)).sign(), AuthErrorKind::UseDpopNonce, "forged nonce")
        .await;
    s.expect(
        &token,
        s.proof(&key, &token).claim("nonce", 5).sign(),
        AuthErrorKind::InvalidDpopProof,
        "nonce not a string",
    )
    .await;
    assert!(ok(s.proof(&key, &token).nonce(&fresh).sign()).await.is_ok());
}

#[tokio::test]
async fn introspected_tokens_are_bound_by_their_answer() {
    // E5: `cnf.jkt` from the introspection answer (RFC 9449 §6.2).
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(T0);
    issuer.set_clock(clock.clone());
    let introspector = introspector_for(&issuer, &clock).build().unwrap();
    let dpop = dpop_config(&clock).build().unwrap();
    let auth = Authenticator::builder().introspection(introspector).dpop(dpop).build().unwrap();
    let key = DpopKey::generate(Algorithm::ES256);
    let bound =
        issuer.opaque_token().claim("cnf", json!({"jkt": key.thumbprint()})).claim("token_type", "DPoP").issue();
    let unbound = issuer.opaque_token().issue();
    let send = |token: &str| {
        let proof = key.proof_builder("GET", URL).iat(T0 as i64).access_token(token).sign();
        http::Request::get("/orders")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let principal = auth.authenticate(&send(&bound)).await.unwrap().unwrap();
    assert_eq!(principal.mechanism(), Mechanism::Introspection);
    assert_eq!(principal.binding(), Some(&Binding::Dpop { jkt: key.thumbprint() }));
    assert_eq!(auth.authenticate(&send(&unbound)).await.unwrap_err().kind(), AuthErrorKind::DpopBindingMismatch);
    // A proof that fails costs no introspection call.
    let calls = issuer.introspection_calls();
    let bad = http::Request::get("/orders")
        .header("authorization", format!("DPoP {bound}"))
        .header("dpop", "x.y.z")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert_eq!(auth.authenticate(&bad).await.unwrap_err().kind(), AuthErrorKind::InvalidDpopProof);
    assert_eq!(issuer.introspection_calls(), calls);
}

#[tokio::test]
async fn engines_sharing_a_replay_store_accept_a_proof_once() {
    let store: Arc<dyn ReplayStore> = Arc::new(MemoryReplayStore::new(100));
    let a = setup_with(|b| b.shared_replay_store(store.clone()));
    // The second engine trusts the same issuer keys (a replica).
    let b_auth = {
        let jwt = JwtValidator::builder()
            .issuer(Issuer::with_jwks(a.issuer.issuer(), a.issuer.jwks_json()))
            .audience(AUD)
            .clock(a.clock.clone())
            .build()
            .unwrap();
        Authenticator::builder()
            .jwt(jwt)
            .dpop(dpop_config(&a.clock).shared_replay_store(store.clone()).build().unwrap())
            .build()
            .unwrap()
    };
    let key = DpopKey::generate(Algorithm::ES256);
    let token = a.bound_token(&key);
    let proof = a.proof(&key, &token).sign();
    let parts = || {
        http::Request::get("/orders")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof.as_str())
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    assert!(a.auth.authenticate(&parts()).await.is_ok());
    assert_eq!(b_auth.authenticate(&parts()).await.unwrap_err().kind(), AuthErrorKind::InvalidDpopProof);
}

#[tokio::test]
async fn a_full_replay_store_fails_closed() {
    let s = setup_with(|b| b.replay_store(MemoryReplayStore::new(2)));
    let key = DpopKey::generate(Algorithm::ES256);
    let token = s.bound_token(&key);
    assert!(s.dpop(&token, s.proof(&key, &token).sign()).await.is_ok());
    assert!(s.dpop(&token, s.proof(&key, &token).sign()).await.is_ok());
    let e = s.expect(&token, s.proof(&key, &token).sign(), AuthErrorKind::Unavailable, "full store").await;
    assert_eq!(e.retry_after(), Some(1));
    // Proofs that fail a check take no room: a stranger's proofs never reach the store.
    let s = setup_with(|b| b.replay_store(MemoryReplayStore::new(1)));
    let token = s.bound_token(&key);
    let stranger = DpopKey::generate(Algorithm::ES256);
    for _ in 0..5 {
        s.expect(&token, s.proof(&stranger, &token).sign(), AuthErrorKind::DpopBindingMismatch, "stranger").await;
    }
    assert!(s.dpop(&token, s.proof(&key, &token).sign()).await.is_ok());
}

#[tokio::test]
async fn engine_configuration() {
    let s = setup();
    assert_eq!(s.auth.dpop().map(Dpop::algs_param), Some(ALGS));
    assert_eq!(s.auth.challenge().dpop_algs.as_deref(), Some(ALGS));
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn replicas_sharing_redis_accept_a_proof_once() {
    // DESIGN "State that outgrows one process": two engines, one Redis, one acceptance.
    use tower_auth::dpop::RedisReplayStore;
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let connect = || async {
        match RedisReplayStore::connect(&url).await {
            Ok(store) => store.prefix(format!("tower-auth-test:dpop:{T0}:")),
            Err(e) => panic!("Redis must be reachable at {url} (set REDIS_URL): {e}"),
        }
    };
    let a = setup_with(|b| b);
    let clock = a.clock.clone();
    let replica = |store: RedisReplayStore| {
        let jwt = JwtValidator::builder()
            .issuer(Issuer::with_jwks(a.issuer.issuer(), a.issuer.jwks_json()))
            .audience(AUD)
            .clock(clock.clone())
            .build()
            .unwrap();
        Authenticator::builder()
            .jwt(jwt)
            .dpop(dpop_config(&clock).replay_store(store).build().unwrap())
            .build()
            .unwrap()
    };
    let (one, two) = (replica(connect().await), replica(connect().await));
    let key = DpopKey::generate(Algorithm::ES256);
    let token = a.bound_token(&key);
    let proof = a.proof(&key, &token).sign();
    let parts = || {
        http::Request::get("/orders")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof.as_str())
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    assert!(one.authenticate(&parts()).await.is_ok());
    assert_eq!(two.authenticate(&parts()).await.unwrap_err().kind(), AuthErrorKind::InvalidDpopProof);
    assert_eq!(one.authenticate(&parts()).await.unwrap_err().kind(), AuthErrorKind::InvalidDpopProof);
    // An unreachable Redis is a start-up error.
    assert!(RedisReplayStore::connect("redis://127.0.0.1:1").await.is_err());
}

/// `nonce` with its 20th character changed (it stays base64url).
fn tamper(nonce: &str) -> String {
    nonce.char_indices().map(|(i, c)| if i == 20 { if c == 'A' { 'B' } else { 'A' } } else { c }).collect()
}
