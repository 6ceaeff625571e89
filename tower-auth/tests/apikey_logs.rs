//! An API key is never logged: every event emitted at TRACE level while keys are created, accepted
//! and refused for each reason is captured and searched for the keys, their secrets and hashes.
//! The precise refusal reasons are there, at debug level.
#![cfg(feature = "test-util")]

use std::time::Duration;

use tower_auth::apikey::{ApiKeys, MemoryStore, NewApiKey};
use tower_auth::testkit::LogCapture;
use tower_auth::{AuthErrorKind, Authenticator, ManualClock};

fn request(key: &str) -> http::request::Parts {
    http::Request::builder().uri("/orders").header("x-api-key", key).body(()).expect("request").into_parts().0
}

#[tokio::test]
async fn keys_never_appear_in_log_output() {
    let (capture, _guard) = LogCapture::install();

    let clock = ManualClock::at_unix(1_800_000_000);
    let keys = ApiKeys::builder().store(MemoryStore::new()).clock(clock.clone()).build().unwrap();
    let good = keys.create(NewApiKey::new("alice")).await.unwrap();
    let expiring = keys.create(NewApiKey::new("alice").expires_in(Duration::from_secs(1))).await.unwrap();
    let revoked = keys.create(NewApiKey::new("alice")).await.unwrap();
    keys.revoke(revoked.key.id()).await.unwrap();
    let fenced = keys.create(NewApiKey::new("alice").allowed_networks(["10.0.0.0/8".parse().unwrap()])).await.unwrap();
    clock.advance(Duration::from_secs(2));
    let auth = Authenticator::builder().api_keys(keys.clone()).build().unwrap();

    let good_key = good.key.expose_secret().to_owned();
    let mut wrong_secret = good_key.clone().into_bytes();
    wrong_secret[30] = if wrong_secret[30] == b'q' { b'r' } else { b'q' };
    let wrong_secret = String::from_utf8(wrong_secret).unwrap(); // fails the checksum
    let unknown = keys.format().generate();
    let presented = [
        good_key.clone(),
        wrong_secret,
        unknown.expose_secret().to_owned(),
        expiring.key.expose_secret().to_owned(),
        revoked.key.expose_secret().to_owned(),
        fenced.key.expose_secret().to_owned(),
        format!("{good_key}x"),
    ];
    for key in &presented {
        let _ = auth.authenticate(&request(key)).await;
    }
    assert_eq!(auth.authenticate(&request(&presented[3])).await.unwrap_err().kind(), AuthErrorKind::InvalidApiKey);
    keys.flush_last_used().await.unwrap();

    let logs = capture.text();
    for reason in ["bad_checksum", "unknown_key", "expired", "revoked", "network_not_allowed", "malformed"] {
        assert!(logs.contains(reason), "reason {reason} logged at debug level:\n{logs}");
    }
    assert!(logs.contains("authenticated"));
    let mut secrets: Vec<String> = presented.iter().map(|k| k[22..44.min(k.len())].to_owned()).collect();
    secrets.push(unknown.expose_secret()[22..44].to_owned());
    for record in [&good.record, &expiring.record, &revoked.record, &fenced.record] {
        secrets.push(record.secret_hash.to_hex()[..16].to_owned());
    }
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a key, secret or hash leaked into the logs: {secret}\n{logs}");
    }
}
