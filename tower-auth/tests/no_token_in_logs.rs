//! A token is never logged (DESIGN: "A token, key or secret is never echoed, logged or printed by
//! `Debug`"): every event the crate emits at TRACE level, for successes and each kind of failure, is
//! captured and searched for the tokens and their signature and payload segments.
#![cfg(feature = "test-util")]

mod common;

use std::time::Duration;

use tower_auth::jwt::{Algorithm, Issuer};
use tower_auth::testkit::{LogCapture, TestIssuer};
use tower_auth::{AuthErrorKind, Authenticator};

use common::{clock_for, past_cooldown, segments, validator_for};

fn request(authorization: &[&str]) -> http::request::Parts {
    let mut builder = http::Request::builder().uri("/orders").header("x-request-id", "req-4711");
    for value in authorization {
        builder = builder.header("authorization", *value);
    }
    builder.body(()).expect("request").into_parts().0
}

#[tokio::test]
async fn tokens_never_appear_in_log_output() {
    // Current-thread runtime: the validator's background tasks run on this thread, under this subscriber.
    let (capture, _guard) = LogCapture::install();

    let issuer = TestIssuer::start_with(&[Algorithm::ES256, Algorithm::EdDSA]).await;
    let clock = clock_for(&issuer);
    let auth = Authenticator::builder()
        .jwt(validator_for(Issuer::discover(issuer.url()), &clock))
        .realm("api")
        .build()
        .expect("valid configuration");

    let good = issuer.token().subject("alice").sign();
    let ed = issuer.token().alg(Algorithm::EdDSA).sign();
    let tampered = {
        let (h, p, _) = segments(&good);
        let (_, _, s) = segments(&ed);
        format!("{h}.{p}.{s}")
    };
    let expired = issuer.token().expires_in(-3600).sign();
    let wrong_aud = issuer.token().audience("https://other.example").sign();
    let unsecured = issuer.token().header("alg", "none").sign_unsecured();
    let unknown_kid = issuer.token().kid(Some("no-such-key")).sign();
    let bound = issuer.token().claim("cnf", serde_json::json!({"jkt": "abc"})).sign();

    // Debug and Display of every outcome, searched like the logs.
    let mut printed = String::new();
    let mut run = async |authorization: Vec<String>, expected: Result<(), AuthErrorKind>| {
        let headers: Vec<&str> = authorization.iter().map(String::as_str).collect();
        let outcome = auth.authenticate(&request(&headers)).await;
        match (&outcome, expected) {
            (Ok(Some(p)), Ok(())) => printed.push_str(&format!("{p:?}\n")),
            (Err(e), Err(kind)) => {
                assert_eq!(e.kind(), kind);
                printed.push_str(&format!("{e:?} {e}\n"));
            }
            _ => panic!("unexpected outcome {outcome:?}, expected {expected:?}"),
        }
    };

    run(vec![format!("Bearer {good}")], Ok(())).await;
    run(vec![format!("Bearer {good}")], Ok(())).await; // cached
    run(vec![format!("Bearer {ed}")], Ok(())).await;
    run(vec![format!("Bearer {tampered}")], Err(AuthErrorKind::InvalidSignature)).await;
    run(vec![format!("Bearer {expired}")], Err(AuthErrorKind::Expired)).await;
    run(vec![format!("Bearer {wrong_aud}")], Err(AuthErrorKind::InvalidAudience)).await;
    run(vec![format!("Bearer {unsecured}")], Err(AuthErrorKind::UnsupportedAlgorithm)).await;
    run(vec![format!("Bearer {bound}")], Err(AuthErrorKind::BindingMismatch)).await;
    run(vec![format!("Bearer {good} {good}")], Err(AuthErrorKind::MalformedRequest)).await;
    run(vec![format!("Bearer {good}"), format!("Bearer {ed}")], Err(AuthErrorKind::MultipleCredentials)).await;
    // Unknown kid past the cool-down: a JWKS refetch (logged) that does not find it.
    past_cooldown(&clock);
    run(vec![format!("Bearer {unknown_kid}")], Err(AuthErrorKind::UnknownKey)).await;
    // The issuer goes down and the keys pass their stale bound: the failed fetch is logged.
    issuer.set_down(true);
    clock.advance(Duration::from_secs(25 * 3600));
    let late = issuer.token().subject("erin").sign();
    run(vec![format!("Bearer {late}")], Err(AuthErrorKind::Unavailable)).await;
    let tokens = [&good, &ed, &tampered, &expired, &wrong_aud, &unsecured, &unknown_kid, &bound, &late];

    let logs = capture.text();
    assert!(!logs.is_empty(), "the subscriber captured the crate's events");
    // The events we expect are there (so the search below searched real output) ...
    for expected in [
        "authenticated",
        "alice",
        "authentication failed",
        "invalid_signature",
        "expired",
        "invalid_audience",
        "unsupported_algorithm",
        "binding_mismatch",
        "malformed_request",
        "multiple_credentials",
        "unknown_key",
        "JWKS fetched",
        "JWKS fetch failed",
        "authentication unavailable",
        "req-4711",
    ] {
        assert!(logs.contains(expected), "missing {expected:?} in logs:\n{logs}");
    }
    // ... and no token, signature or payload segment is.
    assert!(printed.contains("alice"));
    for token in tokens {
        let (_, payload, signature) = segments(token);
        for (what, text) in [("logs", &logs), ("Debug/Display", &printed)] {
            assert!(!text.contains(token.as_str()), "token in {what}:\n{text}");
            assert!(!text.contains(payload), "payload segment in {what}:\n{text}");
            if !signature.is_empty() {
                assert!(!text.contains(signature), "signature segment in {what}:\n{text}");
            }
        }
    }
}
