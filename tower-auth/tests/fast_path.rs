//! `Authenticator::try_authenticate_request_now`, the answer without I/O that adapters try first:
//! whenever it answers, it answers exactly as `authenticate_request` does (status, kind, principal),
//! keeps the failed-authentication limit (I7), the expiry of cached tokens (B7), the binding rules
//! of `Bearer` tokens (G1, E5) and the two-credentials rule (A2, A5); anything needing I/O is left
//! to the asynchronous path.
#![cfg(feature = "test-util")]

mod common;

use std::time::Duration;

use tower_auth::introspection::Introspector;
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::ratelimit::{FailedAuthLimit, Quota};
use tower_auth::testkit::{DpopKey, LocalIssuer};
use tower_auth::{AuthError, AuthErrorKind, Authenticated, Authenticator, AuthenticatorBuilder, ManualClock, PeerAddr};

use common::{AUD, T0};

const ISS: &str = "https://issuer.tower-auth.test";
const PEER: &str = "203.0.113.9:50000";

struct Env {
    issuer: LocalIssuer,
    clock: ManualClock,
    auth: Authenticator,
}

fn env_with(configure: impl FnOnce(AuthenticatorBuilder, &ManualClock) -> AuthenticatorBuilder) -> Env {
    let clock = ManualClock::at_unix(T0);
    let issuer = local_issuer(&clock);
    let validator = common::validator_for(Issuer::with_jwks(ISS, issuer.jwks_json()), &clock);
    let auth = configure(Authenticator::builder().jwt(validator), &clock).build().expect("valid configuration");
    Env { issuer, clock, auth }
}

fn env() -> Env {
    env_with(|b, _| b)
}

/// The local issuer of these tests, on `clock`, minting tokens for [`AUD`].
fn local_issuer(clock: &ManualClock) -> LocalIssuer {
    let issuer = LocalIssuer::new(ISS);
    issuer.set_clock(clock.clone());
    issuer.set_default_audience(AUD);
    issuer
}

fn request(headers: &[(&str, &str)]) -> http::request::Parts {
    request_with(http::Method::GET, headers)
}

fn request_with(method: http::Method, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::builder().method(method).uri("https://api.tower-auth.test/orders");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (mut parts, ()) = builder.body(()).expect("valid request").into_parts();
    parts.extensions.insert(PeerAddr(PEER.parse().expect("valid address")));
    parts
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// What a caller can observe of an outcome: subject, or status and kind.
fn observed(result: &Result<Authenticated, AuthError>) -> Result<Option<String>, (u16, AuthErrorKind)> {
    match result {
        Ok(a) => Ok(a.principal().map(|p| p.subject().to_owned())),
        Err(e) => Err((e.status().as_u16(), e.kind())),
    }
}

/// The answer without I/O, checked against the asynchronous path's answer for the same request.
async fn now_matches_async(
    auth: &Authenticator,
    req: &http::request::Parts,
) -> Result<Option<String>, (u16, AuthErrorKind)> {
    let now = auth.try_authenticate_request_now(req).expect("decided without I/O");
    let later = auth.authenticate_request(req).await;
    assert_eq!(observed(&now), observed(&later));
    if let (Err(a), Err(b)) = (&now, &later) {
        assert_eq!(a.www_authenticate(), b.www_authenticate(), "the same challenge");
        assert_eq!(a.response_headers(), b.response_headers(), "the same response headers");
    }
    observed(&now)
}

#[tokio::test]
async fn a_cached_token_is_answered_without_io_and_only_then() {
    let env = env();
    let token = env.issuer.token().subject("alice").sign();
    let req = request(&[("authorization", &bearer(&token))]);
    assert!(env.auth.try_authenticate_request_now(&req).is_none(), "a token never seen needs its signature checked");
    let first = env.auth.authenticate_request(&req).await.expect("valid token");
    assert_eq!(first.principal().unwrap().subject(), "alice");
    assert_eq!(now_matches_async(&env.auth, &req).await, Ok(Some("alice".to_owned())));
    // Another token of the same subject is not the cached one.
    let other = env.issuer.token().subject("alice").claim("jti", "2").sign();
    assert!(env.auth.try_authenticate_request_now(&request(&[("authorization", &bearer(&other))])).is_none());
}

#[tokio::test]
async fn a_cached_token_past_its_expiry_is_left_to_the_full_check_b7() {
    let env = env();
    let token = env.issuer.token().expires_in(120).sign();
    let req = request(&[("authorization", &bearer(&token))]);
    env.auth.authenticate_request(&req).await.expect("valid token");
    // Within the leeway (60 s by default) the entry still answers.
    env.clock.advance(Duration::from_secs(150));
    assert!(env.auth.try_authenticate_request_now(&req).expect("cached").is_ok());
    env.clock.advance(Duration::from_secs(60));
    assert!(env.auth.try_authenticate_request_now(&req).is_none(), "an expired entry never answers");
    let err = env.auth.authenticate_request(&req).await.unwrap_err();
    assert_eq!((err.status().as_u16(), err.kind()), (401, AuthErrorKind::Expired));
}

#[tokio::test]
async fn a_bound_token_on_bearer_is_refused_even_from_the_cache_g1_e5() {
    let env = env();
    let key = DpopKey::generate(tower_auth::jwt::Algorithm::ES256);
    let dpop_bound = env.issuer.token().dpop_bound(&key).sign();
    let cert_bound = env.issuer.token().certificate_bound("uD8Ks8jBdd1hqWJYOdJ1WkPaXeD_8w6Q2mk4NNB7oO8").sign();
    for token in [&dpop_bound, &cert_bound] {
        // The validator alone accepts it (the binding is the engine's rule), so it is cached.
        env.auth.jwt().unwrap().validate(token).await.expect("valid token");
        let req = request(&[("authorization", &bearer(token))]);
        assert_eq!(now_matches_async(&env.auth, &req).await, Err((401, AuthErrorKind::BindingMismatch)));
    }
}

#[tokio::test]
async fn requests_decided_before_any_mechanism_match_the_async_path_a2_a6() {
    let env = env_with(|b, _| b.realm("api"));
    let token = env.issuer.token().sign();
    env.auth.authenticate_request(&request(&[("authorization", &bearer(&token))])).await.unwrap();
    let missing = request(&[]);
    assert_eq!(now_matches_async(&env.auth, &missing).await, Err((401, AuthErrorKind::MissingCredentials)));
    let two = request(&[("authorization", &bearer(&token)), ("authorization", &bearer(&token))]);
    assert_eq!(now_matches_async(&env.auth, &two).await, Err((400, AuthErrorKind::MultipleCredentials)));
    let malformed = request(&[("authorization", "Bearer a b")]);
    assert_eq!(now_matches_async(&env.auth, &malformed).await, Err((400, AuthErrorKind::MalformedRequest)));
    let preflight = request_with(
        http::Method::OPTIONS,
        &[("access-control-request-method", "GET"), ("origin", "https://app.tower-auth.test")],
    );
    assert_eq!(now_matches_async(&env.auth, &preflight).await, Ok(None));
    // A scheme this server does not accept is answered like no credentials.
    let basic = request(&[("authorization", "Basic YWxpY2U6c2VjcmV0")]);
    assert_eq!(now_matches_async(&env.auth, &basic).await, Err((401, AuthErrorKind::MissingCredentials)));
}

#[tokio::test]
async fn optional_mode_passes_anonymous_requests_without_io() {
    let env = env_with(|b, _| b.optional(true));
    assert_eq!(now_matches_async(&env.auth, &request(&[])).await, Ok(None));
}

#[tokio::test]
async fn a_bearer_and_a_dpop_proof_together_are_400_a5() {
    let env = env_with(|b, _| {
        b.dpop(tower_auth::dpop::Dpop::builder().public_origin("https://api.tower-auth.test").build().unwrap())
    });
    let token = env.issuer.token().sign();
    env.auth.authenticate_request(&request(&[("authorization", &bearer(&token))])).await.unwrap();
    let both = request(&[("authorization", &bearer(&token)), ("dpop", "e30.e30.sig")]);
    let result = now_matches_async(&env.auth, &both).await;
    assert_eq!(result, Err((400, AuthErrorKind::MultipleCredentials)));
    // The DPoP scheme always needs its proof checked.
    let dpop = request(&[("authorization", &format!("DPoP {token}")), ("dpop", "e30.e30.sig")]);
    assert!(env.auth.try_authenticate_request_now(&dpop).is_none());
}

#[tokio::test]
async fn the_failed_auth_limit_holds_without_io_i7() {
    let env = env_with(|b, clock| b.failed_auth_limit(FailedAuthLimit::new(Quota::per_minute(3)).clock(clock.clone())));
    let good = env.issuer.token().sign();
    let good_req = request(&[("authorization", &bearer(&good))]);
    env.auth.authenticate_request(&good_req).await.expect("valid token");
    // Failures decided without I/O count against the address, once each.
    let malformed = request(&[("authorization", "Bearer")]);
    for _ in 0..3 {
        let err = env.auth.try_authenticate_request_now(&malformed).expect("decided").unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::MalformedRequest);
    }
    // Over the quota: refused at once, even with a cached valid token.
    let refused = env.auth.try_authenticate_request_now(&good_req).expect("decided").unwrap_err();
    assert_eq!((refused.status().as_u16(), refused.kind()), (429, AuthErrorKind::RateLimited));
    assert_eq!(refused.violated_policy(), Some(tower_auth::ratelimit::FAILED_AUTH_POLICY));
    let also = env.auth.authenticate_request(&good_req).await.unwrap_err();
    assert_eq!(also.kind(), AuthErrorKind::RateLimited);
    // An uncached token too: nothing is left to the asynchronous path.
    let fresh = env.issuer.token().subject("bob").sign();
    let fresh_req = request(&[("authorization", &bearer(&fresh))]);
    assert_eq!(
        env.auth.try_authenticate_request_now(&fresh_req).expect("decided").unwrap_err().kind(),
        AuthErrorKind::RateLimited
    );
    env.clock.advance(Duration::from_secs(refused.retry_after().unwrap()));
    assert!(env.auth.try_authenticate_request_now(&good_req).expect("cached").is_ok());
    // A token that needs the full check is not counted here: the asynchronous path decides (and
    // counts) it once.
    assert!(env.auth.try_authenticate_request_now(&fresh_req).is_none());
}

#[tokio::test]
async fn tokens_that_must_be_introspected_never_take_the_cache_of_the_validator() {
    let issuer = tower_auth::testkit::TestIssuer::start().await;
    let clock = ManualClock::at_unix(T0);
    let local = local_issuer(&clock);
    let validator = common::validator_for(Issuer::with_jwks(ISS, local.jwks_json()), &clock);
    let introspector = Introspector::builder()
        .endpoint(issuer.introspection_endpoint())
        .client_credentials(
            tower_auth::testkit::TestIssuer::INTROSPECTION_CLIENT_ID,
            tower_auth::testkit::TestIssuer::INTROSPECTION_CLIENT_SECRET,
        )
        .build()
        .unwrap();
    let token = local.token().sign();
    validator.validate(&token).await.expect("valid token");
    let auth = Authenticator::builder()
        .jwt(validator.clone())
        .introspection(introspector.clone())
        .introspect_jwts(true)
        .build()
        .unwrap();
    assert!(auth.try_authenticate_request_now(&request(&[("authorization", &bearer(&token))])).is_none());
    // Without `introspect_jwts`, a JWT of a configured issuer goes to the validator: a cached one
    // is answered at once; an opaque token is introspected.
    let auth = Authenticator::builder().jwt(validator).introspection(introspector).build().unwrap();
    let req = request(&[("authorization", &bearer(&token))]);
    assert_eq!(now_matches_async(&auth, &req).await, Ok(Some(local_subject(&token))));
    let opaque = issuer.issue_opaque_token("orders:read", T0 + 600);
    assert!(auth.try_authenticate_request_now(&request(&[("authorization", &bearer(&opaque))])).is_none());
}

/// The `sub` claim of a compact JWS.
fn local_subject(token: &str) -> String {
    let (_, payload, _) = common::segments(token);
    let claims: serde_json::Value = serde_json::from_slice(&common::unb64(payload)).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn api_keys_from_the_lookup_cache_are_answered_without_io() {
    use tower_auth::apikey::{ApiKeys, MemoryStore, NewApiKey};
    let keys = ApiKeys::builder().store(MemoryStore::new()).build().unwrap();
    let issued = keys.create(NewApiKey::new("build-bot").scopes(["orders:read"])).await.unwrap();
    let limited = keys.create(NewApiKey::new("once").max_uses(5)).await.unwrap();
    let auth = Authenticator::builder().api_keys(keys).build().unwrap();
    let key = issued.key.expose_secret().to_owned();
    let req = request(&[("x-api-key", &key)]);
    assert!(auth.try_authenticate_request_now(&req).is_none(), "a record not yet looked up needs the store");
    assert_eq!(observed(&auth.authenticate_request(&req).await), Ok(Some("build-bot".to_owned())));
    assert_eq!(now_matches_async(&auth, &req).await, Ok(Some("build-bot".to_owned())));
    // A key altered in one character: refused at once, as the asynchronous path refuses it.
    let mut wrong = key.clone().into_bytes();
    let last = wrong.len() - 10;
    wrong[last] = if wrong[last] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    let wrong_req = request(&[("x-api-key", &wrong)]);
    let wrong_now = auth.try_authenticate_request_now(&wrong_req).expect("decided");
    assert_eq!(observed(&wrong_now), Err((401, AuthErrorKind::InvalidApiKey)));
    assert_eq!(observed(&auth.authenticate_request(&wrong_req).await), Err((401, AuthErrorKind::InvalidApiKey)));
    // A malformed key needs no lookup at all.
    let malformed = request(&[("x-api-key", "not-a-key")]);
    assert_eq!(now_matches_async(&auth, &malformed).await, Err((401, AuthErrorKind::InvalidApiKey)));
    // A key with a use limit always goes to the store, which counts the use.
    let limited_req = request(&[("x-api-key", limited.key.expose_secret())]);
    assert_eq!(observed(&auth.authenticate_request(&limited_req).await), Ok(Some("once".to_owned())));
    assert!(auth.try_authenticate_request_now(&limited_req).is_none());
    // A key revoked in this process: the cached record is stale at once.
    auth.api_keys().unwrap().revoke(issued.key.id()).await.unwrap();
    let revoked = auth.authenticate_request(&req).await;
    assert_eq!(observed(&revoked), Err((401, AuthErrorKind::InvalidApiKey)));
    assert_eq!(now_matches_async(&auth, &req).await, Err((401, AuthErrorKind::InvalidApiKey)));
}

#[tokio::test]
async fn an_engine_without_a_cache_or_api_keys_leaves_everything_to_the_async_path() {
    let clock = ManualClock::at_unix(T0);
    let issuer = local_issuer(&clock);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(ISS, issuer.jwks_json()))
        .audience(AUD)
        .clock(clock)
        .cache_capacity(0)
        .build()
        .unwrap();
    let auth = Authenticator::builder().jwt(validator).build().unwrap();
    let token = issuer.token().sign();
    let req = request(&[("authorization", &bearer(&token))]);
    assert!(auth.authenticate_request(&req).await.is_ok());
    assert!(auth.try_authenticate_request_now(&req).is_none());
    assert!(auth.try_authenticate_request_now(&request(&[])).is_none());
    assert_eq!(
        observed(&auth.authenticate_request(&request(&[])).await),
        Err((401, AuthErrorKind::MissingCredentials))
    );
}
