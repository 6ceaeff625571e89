//! Remote keys (RFC-CHECKLIST section C, and B5/B6 for token-supplied key locations): OIDC discovery,
//! key rotation, the unknown-`kid` cool-down, an issuer that is down, stale-if-error.
//!
//! The validator and the issuer share a [`ManualClock`]: cool-downs, refresh ages and the stale bound
//! are crossed by moving it, never by sleeping.
#![cfg(feature = "test-util")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

use tower_auth::jwt::{Algorithm, Issuer, JwksSettings, JwtValidator};
use tower_auth::testkit::TestIssuer;
use tower_auth::{AuthErrorKind, ManualClock};

use common::{
    AUD, RawSigner, T0, b64, clock_for, expect_kind, expect_ok, past_cooldown, segments, unb64, validator_for,
};

/// Generous bound for one validation against a local issuer; a hang would exceed it.
const NO_HANG: Duration = Duration::from_secs(10);

fn kid_of(token: &str) -> String {
    let header: serde_json::Value = serde_json::from_slice(&unb64(segments(token).0)).expect("header JSON");
    header["kid"].as_str().expect("kid").to_owned()
}

fn random_kid() -> String {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Validates all `tokens` concurrently and returns the error kinds (`None` for a success).
async fn validate_concurrently(validator: &JwtValidator, tokens: Vec<String>) -> Vec<Option<AuthErrorKind>> {
    let mut set = tokio::task::JoinSet::new();
    for token in tokens {
        let validator = validator.clone();
        set.spawn(async move { validator.validate(&token).await.err().map(|e| e.kind()) });
    }
    let mut out = Vec::new();
    while let Some(result) = set.join_next().await {
        out.push(result.expect("validation task"));
    }
    out
}

#[tokio::test]
async fn rotation_refetches_unknown_kid_after_cooldown_and_clears_cache_c2() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256, Algorithm::EdDSA]).await;
    let clock = clock_for(&issuer);
    let validator = validator_for(Issuer::discover(issuer.url()), &clock);
    let url = issuer.url().to_owned();

    let old_kid = issuer.kid_for(Algorithm::ES256).expect("kid");
    let old = issuer.token().alg(Algorithm::ES256).sign();
    let ed = issuer.token().alg(Algorithm::EdDSA).sign();
    expect_ok(&validator, &old).await;
    expect_ok(&validator, &ed).await;
    assert_eq!(validator.cached_tokens(), 2);
    assert_eq!(validator.jwks_fetch_count(&url), 1);
    assert_eq!(issuer.jwks_fetches(), 1);

    let new_kid = issuer.rotate(Algorithm::ES256);
    assert_ne!(new_kid, old_kid);
    assert!(issuer.public_jwk(&old_kid).is_none(), "the old key left the JWKS");
    let new = issuer.token().alg(Algorithm::ES256).sign();
    assert_eq!(kid_of(&new), new_kid);

    // Within the cool-down of the first fetch the new kid is unknown and nothing is fetched (C2).
    expect_kind(&validator, &new, AuthErrorKind::UnknownKey).await;
    assert_eq!(validator.jwks_fetch_count(&url), 1);
    assert_eq!(issuer.jwks_fetches(), 1);
    // The old token is still served: this validator has not seen the new key set yet.
    expect_ok(&validator, &old).await;

    // Past the cool-down, the unknown kid triggers exactly one refetch, and the new key verifies.
    past_cooldown(&clock);
    let p = expect_ok(&validator, &new).await;
    assert_eq!(p.subject(), "user-1");
    assert_eq!(validator.jwks_fetch_count(&url), 2);
    assert_eq!(issuer.jwks_fetches(), 2);
    assert_eq!(issuer.discovery_fetches(), 1, "jwks_uri is remembered");

    // A key was removed: the verified-token cache was cleared, so the old token is checked again and
    // refused (its kid is gone, and the cool-down forbids another fetch).
    expect_kind(&validator, &old, AuthErrorKind::UnknownKey).await;
    assert_eq!(validator.jwks_fetch_count(&url), 2);
    // Tokens of keys that stayed still verify (re-checked, then cached again).
    expect_ok(&validator, &ed).await;
    assert_eq!(validator.cached_tokens(), 2, "the new ES256 token and the EdDSA token");
    // The old key is gone for good, also after the next cool-down.
    past_cooldown(&clock);
    expect_kind(&validator, &old, AuthErrorKind::UnknownKey).await;
    assert_eq!(validator.jwks_fetch_count(&url), 3);
}

#[tokio::test]
async fn added_key_does_not_clear_the_cache_c2() {
    let issuer = TestIssuer::start_with(&[Algorithm::RS256, Algorithm::PS256, Algorithm::ES384]).await;
    let clock = clock_for(&issuer);
    let validator = validator_for(Issuer::discover(issuer.url()), &clock);
    let mut cached = Vec::new();
    for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::ES384] {
        let token = issuer.token().alg(alg).sign();
        let principal = expect_ok(&validator, &token).await;
        cached.push((token, principal));
    }

    let ed_kid = issuer.add_key(Algorithm::EdDSA);
    let ed = issuer.token().alg(Algorithm::EdDSA).sign();
    assert_eq!(kid_of(&ed), ed_kid);
    past_cooldown(&clock);
    expect_ok(&validator, &ed).await;
    assert_eq!(validator.jwks_fetch_count(issuer.url()), 2);
    // No key removed or changed (the refetched RSA and EC keys compare equal): the cached principals
    // are still the ones handed out.
    for (token, first) in &cached {
        let again = expect_ok(&validator, token).await;
        assert!(std::ptr::eq(first.claims(), again.claims()));
    }
    assert_eq!(validator.cached_tokens(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_kid_flood_fetches_at_most_once_per_cooldown_c2() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let clock = clock_for(&issuer);
    let validator = validator_for(Issuer::discover(issuer.url()), &clock);
    let url = issuer.url().to_owned();
    expect_ok(&validator, &issuer.token().sign()).await;
    assert_eq!(validator.jwks_fetch_count(&url), 1);
    assert_eq!(issuer.jwks_fetches(), 1);

    let flood = |n: usize| -> Vec<String> { (0..n).map(|_| issuer.token().kid(Some(&random_kid())).sign()).collect() };
    let all_unknown = |kinds: &[Option<AuthErrorKind>]| {
        assert_eq!(kinds.len(), 1000);
        assert!(kinds.iter().all(|k| *k == Some(AuthErrorKind::UnknownKey)), "{kinds:?}");
    };

    // Inside the cool-down of the initial fetch: 1,000 unknown kids, no fetch at all.
    all_unknown(&validate_concurrently(&validator, flood(1000)).await);
    assert_eq!(validator.jwks_fetch_count(&url), 1);
    assert_eq!(issuer.jwks_fetches(), 1);

    // Past the cool-down: 1,000 concurrent unknown kids share exactly one refetch.
    past_cooldown(&clock);
    all_unknown(&validate_concurrently(&validator, flood(1000)).await);
    assert_eq!(validator.jwks_fetch_count(&url), 2);
    assert_eq!(issuer.jwks_fetches(), 2);

    // Same cool-down window, sequentially this time: still no more fetches.
    for token in flood(1000) {
        expect_kind(&validator, &token, AuthErrorKind::UnknownKey).await;
    }
    assert_eq!(validator.jwks_fetch_count(&url), 2);
    assert_eq!(issuer.jwks_fetches(), 2);

    // Next window: at most one more.
    past_cooldown(&clock);
    all_unknown(&validate_concurrently(&validator, flood(1000)).await);
    assert_eq!(validator.jwks_fetch_count(&url), 3);
    assert_eq!(issuer.jwks_fetches(), 3);
    assert_eq!(issuer.discovery_fetches(), 1);

    // Genuine tokens were never affected.
    expect_ok(&validator, &issuer.token().sign()).await;
}

#[tokio::test]
async fn issuer_down_at_startup_is_unavailable_then_recovers_c5() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let clock = clock_for(&issuer);
    issuer.set_down(true);
    // Start-up succeeds while the issuer is down.
    let validator = validator_for(Issuer::discover(issuer.url()), &clock);
    let token = issuer.token().sign();

    let err =
        tokio::time::timeout(NO_HANG, validator.validate(&token)).await.expect("no hang").expect_err("issuer down");
    assert_eq!(err.kind(), AuthErrorKind::Unavailable);
    assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(err.retry_after(), Some(10), "the whole cool-down after the failed attempt");
    assert_eq!(err.www_authenticate(), None, "503 carries no challenge");
    assert_eq!(validator.jwks_fetch_count(issuer.url()), 1);
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 0);

    // Back up, but the cool-down after a failure still holds: no new attempt yet.
    issuer.set_down(false);
    let err = expect_kind(&validator, &token, AuthErrorKind::Unavailable).await;
    assert_eq!(err.retry_after(), Some(10));
    clock.advance(Duration::from_secs(4));
    let err = expect_kind(&validator, &token, AuthErrorKind::Unavailable).await;
    assert_eq!(err.retry_after(), Some(6));
    assert_eq!(validator.jwks_fetch_count(issuer.url()), 1);
    assert_eq!(issuer.discovery_fetches(), 1);

    // Past the cool-down the next request fetches and succeeds.
    clock.advance(Duration::from_secs(7));
    let p = tokio::time::timeout(NO_HANG, validator.validate(&token)).await.expect("no hang").expect("keys arrived");
    assert_eq!(p.subject(), "user-1");
    assert_eq!(validator.jwks_fetch_count(issuer.url()), 2);
    assert_eq!(issuer.discovery_fetches(), 2);
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn stale_keys_are_served_while_the_issuer_is_down_c5() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let clock = clock_for(&issuer);
    let settings = JwksSettings { max_stale: Duration::from_secs(1800), ..JwksSettings::default() };
    assert_eq!(settings.refresh_after, Duration::from_secs(300));
    let validator = validator_for(Issuer::discover(issuer.url()).jwks_settings(settings), &clock);
    let url = issuer.url().to_owned();
    expect_ok(&validator, &issuer.token().sign()).await;
    assert_eq!(issuer.jwks_fetches(), 1);

    // The issuer goes down and the keys age past `refresh_after`.
    issuer.set_down(true);
    clock.advance(Duration::from_secs(301));
    let fresh = issuer.token().sign();
    let p =
        tokio::time::timeout(NO_HANG, validator.validate(&fresh)).await.expect("no hang").expect("stale keys served");
    assert_eq!(p.subject(), "user-1");
    // The refresh ran in the background, failed, and changed nothing for requests.
    assert!(issuer.wait_for_jwks_fetches(2, NO_HANG).await, "background refresh attempted");
    assert_eq!(validator.jwks_fetch_count(&url), 2);
    expect_ok(&validator, &issuer.token().subject("bob").sign()).await;

    // Still inside the stale bound (fetched at T0, bound 1800 s).
    clock.advance(Duration::from_secs(1799 - 301));
    expect_ok(&validator, &issuer.token().subject("carol").sign()).await;
    assert!(issuer.wait_for_jwks_fetches(3, NO_HANG).await, "second background refresh attempted");

    // Past the bound, the stale keys are no longer used: 503 until the issuer answers (fail closed).
    clock.advance(Duration::from_secs(2));
    let err = tokio::time::timeout(NO_HANG, validator.validate(&issuer.token().sign()))
        .await
        .expect("no hang")
        .expect_err("keys too old");
    assert_eq!(err.kind(), AuthErrorKind::Unavailable);
    assert_eq!(err.retry_after(), Some(8), "cool-down since the attempt 2 s ago");

    issuer.set_down(false);
    clock.advance(Duration::from_secs(9));
    let fetches = validator.jwks_fetch_count(&url);
    expect_ok(&validator, &issuer.token().subject("dave").sign()).await;
    assert_eq!(validator.jwks_fetch_count(&url), fetches + 1);
}

#[tokio::test]
async fn discovery_document_naming_another_issuer_is_refused_c1() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let clock = clock_for(&issuer);
    // Configured with a trailing slash: the discovery document's `issuer` (no slash) differs.
    let configured = format!("{}/", issuer.url());
    let validator = validator_for(Issuer::discover(&configured), &clock);
    let token = issuer.token().claim("iss", configured.as_str()).sign();
    let err = tokio::time::timeout(NO_HANG, validator.validate(&token)).await.expect("no hang").expect_err("C1");
    assert_eq!(err.kind(), AuthErrorKind::Unavailable);
    assert_eq!(err.retry_after(), Some(10));
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 0, "the jwks_uri of a mismatching document is never used");
    // Still refused after the cool-down.
    past_cooldown(&clock);
    expect_kind(&validator, &token, AuthErrorKind::Unavailable).await;
    assert_eq!(issuer.discovery_fetches(), 2);
    assert_eq!(issuer.jwks_fetches(), 0);

    // The exact identifier works.
    let exact = validator_for(Issuer::discover(issuer.url()), &clock);
    expect_ok(&exact, &issuer.token().sign()).await;
}

#[tokio::test]
async fn jwks_url_source() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
    let clock = clock_for(&issuer);
    let validator = validator_for(Issuer::jwks_url(issuer.url(), issuer.jwks_url()), &clock);
    expect_ok(&validator, &issuer.token().sign()).await;
    assert_eq!(issuer.discovery_fetches(), 0);
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn token_supplied_key_locations_are_never_fetched_b5() {
    let victim = TestIssuer::start().await;
    let clock = clock_for(&victim);
    let attacker = TestIssuer::start_with(&[Algorithm::ES256]).await;
    attacker.set_clock(clock.clone());
    attacker.set_default_audience(AUD);
    let validator = validator_for(Issuer::discover(victim.url()), &clock);
    expect_ok(&validator, &victim.token().sign()).await;

    let attacker_kid = attacker.kid_for(Algorithm::ES256).expect("kid");
    assert!(victim.public_jwk(&attacker_kid).is_none());
    let forged = || attacker.token().claim("iss", victim.url()).subject("admin");
    let jwk = attacker.public_jwk(&attacker_kid).expect("jwk");
    let cases = [
        (forged().header("jku", attacker.jwks_url()).sign(), AuthErrorKind::UnknownKey),
        (forged().header("x5u", attacker.jwks_url()).sign(), AuthErrorKind::UnknownKey),
        (forged().header("jwk", jwk.clone()).sign(), AuthErrorKind::UnknownKey),
        (
            forged().header("jku", attacker.jwks_url()).header("jwk", jwk).kid(None).sign(),
            AuthErrorKind::InvalidSignature,
        ),
        // kid is an opaque lookup key (RFC 8725 §3.10): no paths, URLs or queries.
        (forged().kid(Some(&attacker.jwks_url())).sign(), AuthErrorKind::UnknownKey),
        (forged().kid(Some("../../../../jwks")).sign(), AuthErrorKind::UnknownKey),
        (forged().kid(Some("' OR '1'='1")).sign(), AuthErrorKind::UnknownKey),
        (forged().kid(Some("\u{0}")).sign(), AuthErrorKind::UnknownKey),
    ];
    for (token, kind) in &cases {
        expect_kind(&validator, token, *kind).await;
    }
    // After the cool-down the unknown kid causes one refetch, from the configured issuer only.
    past_cooldown(&clock);
    expect_kind(&validator, &cases[0].0, AuthErrorKind::UnknownKey).await;
    assert_eq!(victim.jwks_fetches(), 2);
    assert_eq!(attacker.jwks_fetches(), 0);
    assert_eq!(attacker.discovery_fetches(), 0);
}

// ---------------------------------------------------------------------------------------------
// A JWKS server whose document the test controls (C3, C4, C5, B14)
// ---------------------------------------------------------------------------------------------

/// Serves `/jwks` from a document the test can replace. Stops when dropped.
struct JwksServer {
    url: String,
    doc: Arc<RwLock<String>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    async fn start(doc: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        let doc = Arc::new(RwLock::new(doc));
        let fetches = Arc::new(AtomicUsize::new(0));
        let router = axum::Router::new().route(
            "/jwks",
            axum::routing::get({
                let doc = doc.clone();
                let fetches = fetches.clone();
                move || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let body = doc.read().expect("doc").clone();
                    async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, doc, fetches, task }
    }

    fn serve(&self, doc: String) {
        *self.doc.write().expect("doc") = doc;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

const RAW_ISS: &str = "https://raw-issuer.example";

fn raw_claims(sub: &str) -> Value {
    json!({"iss": RAW_ISS, "sub": sub, "aud": AUD, "exp": T0 + 3600, "iat": T0})
}

fn raw_header(kid: &str) -> Value {
    json!({"alg": "ES256", "typ": "at+jwt", "kid": kid})
}

fn jwks_of(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

#[tokio::test]
async fn key_replaced_under_the_same_kid_clears_the_cache_c2() {
    // The issuer re-keys without changing the kid (e.g. replacing a compromised key). Tokens verified
    // with the old key must not keep being served from the cache once the new set is fetched.
    let a = RawSigner::new("k");
    let b = RawSigner::new("k");
    let server = JwksServer::start(jwks_of(&[a.jwk()])).await;
    let clock = ManualClock::at_unix(T0);
    let validator = validator_for(Issuer::jwks_url(RAW_ISS, server.url.as_str()), &clock);
    let token_a = a.sign_json(&raw_header("k"), &raw_claims("alice"));
    let token_b = b.sign_json(&raw_header("k"), &raw_claims("bob"));
    expect_ok(&validator, &token_a).await;
    assert_eq!(validator.cached_tokens(), 1);

    server.serve(jwks_of(&[b.jwk()]));
    past_cooldown(&clock);
    // An unknown kid makes the validator fetch the new set now.
    let other = RawSigner::new("other");
    expect_kind(&validator, &other.sign_json(&raw_header("other"), &raw_claims("eve")), AuthErrorKind::UnknownKey)
        .await;
    assert_eq!(server.fetches(), 2);
    // Key "k" is now B: A's token is checked again and refused, B's verifies.
    expect_kind(&validator, &token_a, AuthErrorKind::InvalidSignature).await;
    assert_eq!(expect_ok(&validator, &token_b).await.subject(), "bob");
}

#[tokio::test]
async fn unusable_jwks_members_are_skipped_c3_c4_b14() {
    let good = RawSigner::new("good");
    let dup1 = RawSigner::new("dup");
    let dup2 = RawSigner::new("dup");
    let mut short_x = RawSigner::new("short-x").jwk();
    short_x["x"] = b64(&unb64(short_x["x"].as_str().expect("x"))[1..]).into();
    let mut enc = RawSigner::new("enc").jwk();
    enc["use"] = "enc".into();
    let mut weak_n = vec![0xc5u8; 128]; // a 1024-bit modulus
    weak_n[127] |= 1;
    let doc = jwks_of(&[
        good.jwk(),
        dup1.jwk(),
        dup2.jwk(),
        short_x,
        enc,
        json!({"kty": "oct", "kid": "hmac", "alg": "HS256", "k": b64(&[7u8; 32])}),
        json!({"kty": "RSA", "kid": "weak", "alg": "RS256", "n": b64(&weak_n), "e": "AQAB"}),
        json!({"kty": "EC", "kid": "none-alg", "alg": "none", "crv": "P-256", "x": good.jwk()["x"], "y": good.jwk()["y"]}),
    ]);
    let server = JwksServer::start(doc).await;
    let clock = ManualClock::at_unix(T0);
    let validator = validator_for(Issuer::jwks_url(RAW_ISS, server.url.as_str()), &clock);
    // The one good key works despite its bad neighbours.
    expect_ok(&validator, &good.sign_json(&raw_header("good"), &raw_claims("alice"))).await;
    // C3: two keys with one kid are both dropped (ambiguous).
    expect_kind(&validator, &dup1.sign_json(&raw_header("dup"), &raw_claims("a")), AuthErrorKind::UnknownKey).await;
    expect_kind(&validator, &dup2.sign_json(&raw_header("dup"), &raw_claims("a")), AuthErrorKind::UnknownKey).await;
    // B14 / RFC 7518 §6.2.1.2: short EC coordinates; `use: enc`.
    let short = RawSigner::new("short-x");
    expect_kind(&validator, &short.sign_json(&raw_header("short-x"), &raw_claims("a")), AuthErrorKind::UnknownKey)
        .await;
    expect_kind(&validator, &good.sign_json(&raw_header("enc"), &raw_claims("a")), AuthErrorKind::UnknownKey).await;
    // C4: an `oct` key in a remote set is never an HMAC secret.
    let hs = {
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "hmac"});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(raw_claims("a").to_string().as_bytes()));
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7u8; 32]);
        format!("{input}.{}", b64(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref()))
    };
    expect_kind(&validator, &hs, AuthErrorKind::UnsupportedAlgorithm).await;
    let hs_remote = JwtValidator::builder()
        .issuer(Issuer::jwks_url(RAW_ISS, server.url.as_str()).algorithms([Algorithm::ES256, Algorithm::HS256]))
        .audience(AUD)
        .build();
    assert!(hs_remote.is_err(), "HS* with remote keys is a configuration error");
    // B14: RSA shorter than 2048 bits is not loaded (a bad signature would otherwise be reported).
    let weak = format!(
        "{}.{}.{}",
        b64(json!({"alg": "RS256", "typ": "at+jwt", "kid": "weak"}).to_string().as_bytes()),
        b64(raw_claims("a").to_string().as_bytes()),
        b64(&[1u8; 128])
    );
    expect_kind(&validator, &weak, AuthErrorKind::UnknownKey).await;
    assert_eq!(server.fetches(), 1, "all inside one cool-down");
}

#[tokio::test]
async fn oversized_or_invalid_jwks_document_is_unavailable_c5() {
    let good = RawSigner::new("good");
    let token = good.sign_json(&raw_header("good"), &raw_claims("alice"));
    let mut padded: Value = serde_json::from_str(&jwks_of(&[good.jwk()])).expect("JSON");
    padded["padding"] = "x".repeat(4096).into();
    let server = JwksServer::start(padded.to_string()).await;
    let clock = ManualClock::at_unix(T0);
    let settings = JwksSettings { max_document_bytes: 2048, ..JwksSettings::default() };
    let validator = validator_for(Issuer::jwks_url(RAW_ISS, server.url.as_str()).jwks_settings(settings), &clock);
    expect_kind(&validator, &token, AuthErrorKind::Unavailable).await;

    server.serve("<html>not JSON</html>".to_owned());
    past_cooldown(&clock);
    expect_kind(&validator, &token, AuthErrorKind::Unavailable).await;
    server.serve(r#"{"keys":{}}"#.to_owned());
    past_cooldown(&clock);
    expect_kind(&validator, &token, AuthErrorKind::Unavailable).await;

    server.serve(jwks_of(&[good.jwk()]));
    past_cooldown(&clock);
    expect_ok(&validator, &token).await;
    assert_eq!(server.fetches(), 4);
}
