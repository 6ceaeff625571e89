#![cfg(feature = "test-util")]
//! Introspection never logs a token or the client secret (DESIGN: "A token, key or secret is never
//! echoed, logged or printed by `Debug`"): every event at TRACE level is captured while tokens are
//! accepted, refused, found inactive and the endpoint fails, and searched. A binary of its own: the
//! capturing subscriber is this thread's, and no other test runs beside it.

mod common;

use std::time::Duration;

use tower_auth::Authenticator;
use tower_auth::introspection::Introspector;
use tower_auth::jwt::Algorithm;
use tower_auth::testkit::{IntrospectionBehavior, LogCapture, TestIssuer};

use common::{AUD, T0, clock_for, introspector_for};

fn request(authorization: &str) -> http::request::Parts {
    http::Request::builder().uri("/orders").header("authorization", authorization).body(()).unwrap().into_parts().0
}

#[tokio::test]
async fn tokens_and_the_secret_never_appear_in_logs() {
    // Current-thread runtime: the background discovery runs on this thread, under this subscriber.
    let (capture, _guard) = LogCapture::install();

    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let clock = clock_for(&issuer);
    let intro = introspector_for(&issuer, &clock)
        .audience(AUD)
        .timeout(Duration::from_millis(300))
        .failure_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    let auth = Authenticator::builder().introspection(intro.clone()).build().unwrap();
    let good = issuer.issue_opaque_token("orders:read", T0 + 3600);
    let revoked = issuer.issue_opaque_token("orders:read", T0 + 3600);
    issuer.revoke(&revoked);
    let expired = issuer.opaque_token().expires_in(-3600).issue();
    let stringly = issuer.issue_opaque_token("a", T0 + 3600);
    let down = issuer.issue_opaque_token("a", T0 + 3600);
    let mut printed = String::new();
    for (token, ok) in [(&good, true), (&good, true), (&revoked, false), (&expired, false)] {
        match auth.authenticate(&request(&format!("Bearer {token}"))).await {
            Ok(p) if ok => printed.push_str(&format!("{p:?}\n")),
            Err(e) if !ok => printed.push_str(&format!("{e:?} {e}\n")),
            other => panic!("unexpected {other:?}"),
        }
    }
    issuer.set_introspection_behavior(IntrospectionBehavior::ActiveAsString);
    assert!(auth.authenticate(&request(&format!("Bearer {stringly}"))).await.is_err());
    issuer.set_introspection_behavior(IntrospectionBehavior::Normal);
    issuer.set_down(true);
    assert!(auth.authenticate(&request(&format!("Bearer {down}"))).await.is_err());
    let wrong = Introspector::builder()
        .discover(issuer.url())
        .client_credentials("resource-server", "hunter2-wrong-secret")
        .clock(clock.clone())
        .build()
        .unwrap();
    issuer.set_down(false);
    assert!(wrong.introspect(&good).await.is_err());
    printed.push_str(&format!("{intro:?} {auth:?} {wrong:?}"));

    let logs = capture.text();
    for expected in [
        "token introspected",
        "authenticated",
        "inactive_token",
        "expired",
        "introspection failed",
        "client credentials",
    ] {
        assert!(logs.contains(expected), "missing {expected:?} in logs:\n{logs}");
    }
    for (what, text) in [("logs", &logs), ("Debug/Display", &printed)] {
        for token in [&good, &revoked, &expired, &stringly, &down] {
            assert!(!text.contains(token.as_str()), "token in {what}:\n{text}");
        }
        for secret in [TestIssuer::INTROSPECTION_CLIENT_SECRET, "hunter2"] {
            assert!(!text.contains(secret), "client secret in {what}:\n{text}");
        }
    }
}
