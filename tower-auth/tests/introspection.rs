#![cfg(feature = "test-util")]
//! Token introspection (RFC 7662, checklist D1–D8) against the test kit's authorization server over
//! real HTTP: answers, checks, the cache and its clock, single-flight, failing closed, routing in the
//! engine, and a shared Redis cache. `introspection_logs.rs` checks the logs.

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use tower_auth::introspection::{ClientAuth, Introspector, IntrospectorBuilder};
use tower_auth::jwt::{Algorithm, Issuer};
use tower_auth::testkit::{IntrospectionBehavior, TestIssuer};
use tower_auth::{AuthError, AuthErrorKind, Authenticator, Binding, ManualClock, Mechanism, Principal};

use common::{AUD, T0, clock_for, introspector_for, validator_for};

/// The timeout the failure tests configure: short, so a slow endpoint is cut off quickly.
const TIMEOUT: Duration = Duration::from_millis(300);

async fn issuer() -> (TestIssuer, ManualClock) {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let clock = clock_for(&issuer);
    (issuer, clock)
}

fn builder(issuer: &TestIssuer, clock: &ManualClock) -> IntrospectorBuilder {
    introspector_for(issuer, clock).audience(AUD).timeout(TIMEOUT)
}

fn introspector(issuer: &TestIssuer, clock: &ManualClock) -> Introspector {
    builder(issuer, clock).build().expect("valid configuration")
}

async fn expect_kind(introspector: &Introspector, token: &str, kind: AuthErrorKind) -> AuthError {
    match introspector.introspect(token).await {
        Ok(p) => panic!("expected {kind:?}, got a principal for {:?}", p.subject()),
        Err(e) => {
            assert_eq!(e.kind(), kind);
            e
        }
    }
}

async fn expect_ok(introspector: &Introspector, token: &str) -> Principal {
    match introspector.introspect(token).await {
        Ok(p) => p,
        Err(e) => panic!("expected a principal, got {:?}", e.kind()),
    }
}

#[tokio::test]
async fn active_answer_becomes_a_principal() {
    // D1 (discovery, basic credentials with form-encoding), D2, D6
    let (issuer, clock) = issuer().await;
    let intro = introspector(&issuer, &clock);
    let token = issuer.opaque_token().subject("alice").scope("orders:read orders:write").claim("extra", 27).issue();
    let p = expect_ok(&intro, &token).await;
    assert_eq!(p.subject(), "alice");
    assert_eq!(p.client_id(), Some("test-client"));
    assert_eq!(p.issuer(), Some(issuer.url()));
    assert_eq!(p.scopes(), ["orders:read", "orders:write"]);
    assert_eq!(p.mechanism(), Mechanism::Introspection);
    assert_eq!(p.claim("extra"), Some(&json!(27)));
    assert_eq!(tower_auth::clock::unix_seconds(p.expires_at().unwrap()), T0 + 3600);
    assert_eq!(intro.endpoint(), Some(issuer.introspection_endpoint().as_str()));
    assert_eq!(issuer.introspection_calls(), 1);
    assert_eq!(intro.upstream_calls(), 1);
}

#[tokio::test]
async fn client_secret_post_and_fixed_endpoint() {
    // D1: client_secret_post, endpoint from configuration
    let (issuer, clock) = issuer().await;
    let intro = Introspector::builder()
        .endpoint(issuer.introspection_endpoint())
        .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET)
        .client_auth(ClientAuth::ClientSecretPost)
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = issuer.issue_opaque_token("a b", T0 + 60);
    assert_eq!(expect_ok(&intro, &token).await.scopes(), ["a", "b"]);
    assert_eq!(issuer.discovery_fetches(), 0);
}

#[tokio::test]
async fn inactive_and_non_boolean_active_are_refused() {
    // D2, D5
    let (issuer, clock) = issuer().await;
    let intro = introspector(&issuer, &clock);
    let e = expect_kind(&intro, "never-issued", AuthErrorKind::InactiveToken).await;
    assert_eq!(e.status(), 401);
    assert_eq!(e.www_authenticate().unwrap(), r#"Bearer error="invalid_token", error_description="Invalid token""#);

    let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
    issuer.set_introspection_behavior(IntrospectionBehavior::ActiveAsString);
    expect_kind(&intro, &token, AuthErrorKind::InactiveToken).await;
}

#[tokio::test]
async fn active_answers_are_checked() {
    // D7: exp, nbf, iss, aud of an active answer; D6: a cnf this server cannot check
    let (issuer, clock) = issuer().await;
    let intro = introspector(&issuer, &clock);
    let expired = issuer.opaque_token().expires_in(-3600).issue();
    expect_kind(&intro, &expired, AuthErrorKind::Expired).await;
    let early = issuer.opaque_token().claim("nbf", T0 + 3600).issue();
    expect_kind(&intro, &early, AuthErrorKind::NotYetValid).await;
    let other_iss = issuer.opaque_token().claim("iss", "https://evil.example").issue();
    expect_kind(&intro, &other_iss, AuthErrorKind::InvalidIssuer).await;
    let other_aud = issuer.opaque_token().claim("aud", json!(["https://other.example"])).issue();
    expect_kind(&intro, &other_aud, AuthErrorKind::InvalidAudience).await;
    let odd_cnf = issuer.opaque_token().claim("cnf", json!({"unknown": "x"})).issue();
    expect_kind(&intro, &odd_cnf, AuthErrorKind::BindingMismatch).await;
    let no_identity = issuer.opaque_token().remove_claim("sub").remove_claim("client_id").issue();
    expect_kind(&intro, &no_identity, AuthErrorKind::MissingClaim).await;
    let by_username = issuer.opaque_token().remove_claim("sub").claim("username", "jdoe").issue();
    assert_eq!(expect_ok(&intro, &by_username).await.subject(), "jdoe");
}

#[tokio::test]
async fn revoked_token_refused_once_its_cache_entry_expires() {
    // D4: cached at most the configured 30 s, checked against the injected clock on every hit
    let (issuer, clock) = issuer().await;
    let intro = introspector(&issuer, &clock);
    let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
    expect_ok(&intro, &token).await;
    issuer.revoke(&token);
    clock.advance(Duration::from_secs(29));
    expect_ok(&intro, &token).await;
    assert_eq!(issuer.introspection_calls(), 1, "served from the cache");
    clock.advance(Duration::from_secs(1));
    expect_kind(&intro, &token, AuthErrorKind::InactiveToken).await;
    assert_eq!(issuer.introspection_calls(), 2);
    // The inactive answer is cached for the negative TTL (5 s), then asked again.
    expect_kind(&intro, &token, AuthErrorKind::InactiveToken).await;
    assert_eq!(issuer.introspection_calls(), 2);
    clock.advance(Duration::from_secs(5));
    expect_kind(&intro, &token, AuthErrorKind::InactiveToken).await;
    assert_eq!(issuer.introspection_calls(), 3);
}

#[tokio::test]
async fn cache_never_outlives_exp() {
    // D4 (RFC 7662 §4 verbatim: "MUST NOT be cached beyond the time indicated therein")
    let (issuer, clock) = issuer().await;
    let intro = builder(&issuer, &clock).leeway(Duration::ZERO).build().unwrap();
    let token = issuer.issue_opaque_token("a", T0 + 10);
    expect_ok(&intro, &token).await;
    clock.advance(Duration::from_secs(9));
    expect_ok(&intro, &token).await;
    assert_eq!(issuer.introspection_calls(), 1);
    clock.advance(Duration::from_secs(1));
    // Past exp: not served from the cache; the endpoint (which still says active) is asked again and
    // the answer refused by this server's own exp check.
    expect_kind(&intro, &token, AuthErrorKind::Expired).await;
    assert_eq!(issuer.introspection_calls(), 2);
}

#[tokio::test]
async fn zero_ttl_disables_the_cache() {
    let (issuer, clock) = issuer().await;
    let intro = builder(&issuer, &clock).cache_ttl(Duration::ZERO).build().unwrap();
    let token = issuer.issue_opaque_token("a", T0 + 3600);
    for _ in 0..3 {
        expect_ok(&intro, &token).await;
    }
    issuer.revoke(&token);
    expect_kind(&intro, &token, AuthErrorKind::InactiveToken).await;
    assert_eq!(issuer.introspection_calls(), 4);
    assert_eq!(intro.cached_answers().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_make_one_upstream_call() {
    // DESIGN: "concurrent misses for one token make one upstream call"
    let (issuer, clock) = issuer().await;
    let intro = introspector(&issuer, &clock);
    // Keep the call in flight long enough for all requests to arrive while it is.
    issuer.set_introspection_delay(Duration::from_millis(200));
    let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (intro, token) = (intro.clone(), token.clone());
        tasks.spawn(async move { intro.introspect(&token).await.map(|p| p.subject().to_owned()) });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap(), "user-1");
    }
    assert_eq!(issuer.introspection_calls(), 1);
    assert_eq!(intro.upstream_calls(), 1);
}

#[tokio::test]
async fn failures_fail_closed_with_retry_after() {
    // D3 and DESIGN "fail closed": down / slow / 500 / non-JSON → 503 with Retry-After, within the timeout
    let (issuer, clock) = issuer().await;
    let intro = builder(&issuer, &clock).failure_cooldown(Duration::ZERO).build().unwrap();
    let token = issuer.issue_opaque_token("a", T0 + 3600);
    let check = async |what: &str| {
        let started = Instant::now();
        let e = expect_kind(&intro, &token, AuthErrorKind::Unavailable).await;
        assert_eq!(e.status(), 503, "{what}");
        assert_eq!(e.retry_after(), Some(1), "{what}");
        assert!(e.www_authenticate().is_none(), "{what}");
        assert!(started.elapsed() < Duration::from_secs(4), "{what}: took {:?}", started.elapsed());
    };
    issuer.set_down(true);
    check("down").await;
    issuer.set_down(false);
    issuer.set_introspection_delay(Duration::from_secs(5));
    check("slow").await;
    issuer.set_introspection_delay(Duration::ZERO);
    issuer.set_introspection_behavior(IntrospectionBehavior::ServerError);
    check("500").await;
    issuer.set_introspection_behavior(IntrospectionBehavior::NotJson);
    check("not JSON").await;
    issuer.set_introspection_behavior(IntrospectionBehavior::Normal);
    // Failures were not cached: the endpoint is back, the token works.
    expect_ok(&intro, &token).await;
}

#[tokio::test]
async fn our_credentials_refused_is_503_not_401() {
    // D3: a 401 from the endpoint is about *our* credentials, never the client's token
    let (issuer, clock) = issuer().await;
    for auth in [ClientAuth::ClientSecretBasic, ClientAuth::ClientSecretPost] {
        let intro = Introspector::builder()
            .discover(issuer.url())
            .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, "wrong-secret")
            .client_auth(auth)
            .clock(clock.clone())
            .build()
            .unwrap();
        let token = issuer.issue_opaque_token("a", T0 + 3600);
        let e = expect_kind(&intro, &token, AuthErrorKind::Unavailable).await;
        assert_eq!(e.status(), 503);
        assert!(e.retry_after().is_some());
    }
    // Unencoded Basic credentials (RFC 6749 §2.3.1 skipped) are refused by the test kit too.
    let raw = base64_basic(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET);
    let res = reqwest::Client::new()
        .post(issuer.introspection_endpoint())
        .header("authorization", raw)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

#[tokio::test]
async fn cached_answer_serves_while_the_endpoint_is_down() {
    let (issuer, clock) = issuer().await;
    let intro = introspector(&issuer, &clock);
    let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
    expect_ok(&intro, &token).await;
    issuer.set_down(true);
    clock.advance(Duration::from_secs(10));
    assert!(expect_ok(&intro, &token).await.has_scope("orders:read"));
    // A token not in the cache fails closed; the pause after the failure answers at once.
    let fresh = issuer.issue_opaque_token("orders:read", T0 + 3600);
    expect_kind(&intro, &fresh, AuthErrorKind::Unavailable).await;
    let calls = issuer.introspection_calls();
    let e = expect_kind(&intro, &issuer.issue_opaque_token("x", T0 + 3600), AuthErrorKind::Unavailable).await;
    assert_eq!(e.retry_after(), Some(1));
    assert_eq!(issuer.introspection_calls(), calls, "no call during the pause");
    expect_ok(&intro, &token).await;
    // Once the cached answer expires, the cached token fails closed too.
    clock.advance(Duration::from_secs(20));
    expect_kind(&intro, &token, AuthErrorKind::Unavailable).await;
    issuer.set_down(false);
    clock.advance(Duration::from_secs(1));
    expect_ok(&intro, &token).await;
    expect_ok(&intro, &fresh).await;
}

#[tokio::test]
async fn discovery_issuer_must_match_exactly() {
    // RFC 8414 §3.3 / C1 for the introspection endpoint
    let (issuer, clock) = issuer().await;
    let intro = Introspector::builder()
        .discover(format!("{}/", issuer.url()))
        .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET)
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = issuer.issue_opaque_token("a", T0 + 3600);
    expect_kind(&intro, &token, AuthErrorKind::Unavailable).await;
    assert_eq!(issuer.introspection_calls(), 0);
    assert!(intro.endpoint().is_none());
}

#[tokio::test]
async fn oversized_tokens_are_refused_without_a_call() {
    let (issuer, clock) = issuer().await;
    let intro = introspector(&issuer, &clock);
    expect_kind(&intro, &"a".repeat(8 * 1024 + 1), AuthErrorKind::TokenTooLarge).await;
    assert_eq!(issuer.introspection_calls(), 0);
}

fn request(authorization: &str) -> http::request::Parts {
    http::Request::builder().uri("/orders").header("authorization", authorization).body(()).unwrap().into_parts().0
}

#[tokio::test]
async fn engine_routes_jwts_locally_and_opaque_tokens_to_introspection() {
    let (issuer, clock) = issuer().await;
    let auth = Authenticator::builder()
        .jwt(validator_for(Issuer::discover(issuer.url()), &clock))
        .introspection(introspector(&issuer, &clock))
        .build()
        .unwrap();
    let jwt = issuer.token().subject("jwt-user").sign();
    let p = auth.authenticate(&request(&format!("Bearer {jwt}"))).await.unwrap().unwrap();
    assert_eq!((p.mechanism(), p.subject()), (Mechanism::Jwt, "jwt-user"));
    assert_eq!(issuer.introspection_calls(), 0);

    let opaque = issuer.opaque_token().subject("opaque-user").issue();
    let p = auth.authenticate(&request(&format!("Bearer {opaque}"))).await.unwrap().unwrap();
    assert_eq!((p.mechanism(), p.subject()), (Mechanism::Introspection, "opaque-user"));
    assert_eq!(issuer.introspection_calls(), 1);

    // A JWS from an issuer nobody configured is not a local JWT: the authorization server decides.
    let foreign = tower_auth::testkit::LocalIssuer::new("https://elsewhere.example").token().audience(AUD).sign();
    let e = auth.authenticate(&request(&format!("Bearer {foreign}"))).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::InactiveToken);
    assert_eq!(issuer.introspection_calls(), 2);
}

#[tokio::test]
async fn introspect_jwts_mode_sees_revocation_at_once() {
    let (issuer, clock) = issuer().await;
    let auth = Authenticator::builder()
        .jwt(validator_for(Issuer::discover(issuer.url()), &clock))
        .introspection(builder(&issuer, &clock).cache_ttl(Duration::ZERO).build().unwrap())
        .introspect_jwts(true)
        .build()
        .unwrap();
    let jwt = issuer.token().subject("jwt-user").scope("orders:read").sign();
    let p = auth.authenticate(&request(&format!("Bearer {jwt}"))).await.unwrap().unwrap();
    assert_eq!((p.mechanism(), p.subject()), (Mechanism::Introspection, "jwt-user"));
    assert!(p.has_scope("orders:read"));
    issuer.revoke(&jwt);
    let e = auth.authenticate(&request(&format!("Bearer {jwt}"))).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::InactiveToken);
    assert_eq!(issuer.introspection_calls(), 2);
}

#[tokio::test]
async fn introspection_alone_and_bound_tokens() {
    // D6 / E8: a DPoP- or certificate-bound token presented as Bearer is refused, as for JWTs
    let (issuer, clock) = issuer().await;
    assert!(Authenticator::builder().build().is_err());
    assert!(
        Authenticator::builder()
            .jwt(validator_for(Issuer::discover(issuer.url()), &clock))
            .introspect_jwts(true)
            .build()
            .is_err()
    );
    let auth = Authenticator::builder().introspection(introspector(&issuer, &clock)).realm("api").build().unwrap();
    let dpop = issuer
        .opaque_token()
        .claim("token_type", "DPoP")
        .claim("cnf", json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}))
        .issue();
    let e = auth.authenticate(&request(&format!("Bearer {dpop}"))).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::BindingMismatch);
    assert_eq!(
        e.www_authenticate().unwrap(),
        r#"Bearer realm="api", error="invalid_token", error_description="Invalid token binding""#
    );
    let mtls =
        issuer.opaque_token().claim("cnf", json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})).issue();
    assert_eq!(
        auth.authenticate(&request(&format!("Bearer {mtls}"))).await.unwrap_err().kind(),
        AuthErrorKind::BindingMismatch
    );
    // The introspector itself records the binding (for the DPoP / mTLS mechanisms to check).
    let p = auth.introspection().unwrap().introspect(&dpop).await.unwrap();
    assert_eq!(p.binding(), Some(&Binding::Dpop { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into() }));
    // Without JWT validation, a JWT is just a token to introspect.
    let jwt = issuer.token().subject("via-introspection").sign();
    let p = auth.authenticate(&request(&format!("Bearer {jwt}"))).await.unwrap().unwrap();
    assert_eq!(p.mechanism(), Mechanism::Introspection);
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn replicas_share_answers_through_redis() {
    use tower_auth::introspection::RedisCache;
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let shared = match RedisCache::connect(&url).await {
        Ok(shared) => shared,
        Err(e) => panic!("Redis must be reachable at {url} (set REDIS_URL): {e}"),
    };
    // A prefix of its own, so runs and tests never see each other's entries.
    let mut run = [0u8; 8];
    aws_lc_rs::rand::fill(&mut run).unwrap();
    let shared = shared.prefix(format!("tower-auth-test:{}:", u64::from_be_bytes(run)));
    let (issuer, clock) = issuer().await;
    let replica = || builder(&issuer, &clock).shared_cache(shared.clone()).build().unwrap();
    let (a, b) = (replica(), replica());
    let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
    assert!(expect_ok(&a, &token).await.has_scope("orders:read"));
    assert!(expect_ok(&b, &token).await.has_scope("orders:read"));
    assert_eq!(issuer.introspection_calls(), 1, "the second replica used the shared answer");
    assert_eq!((a.upstream_calls(), b.upstream_calls()), (1, 0));
    // Shared answers expire by the same clock: after 30 s a new replica asks the endpoint again.
    issuer.revoke(&token);
    clock.advance(Duration::from_secs(30));
    let c = replica();
    expect_kind(&c, &token, AuthErrorKind::InactiveToken).await;
    expect_kind(&a, &token, AuthErrorKind::InactiveToken).await;
    assert_eq!(issuer.introspection_calls(), 2);
    // A shared cache that cannot be reached is a start-up error, not a silent fallback.
    assert!(RedisCache::connect("redis://127.0.0.1:1").await.is_err());
}
