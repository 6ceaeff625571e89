//! The Redis rate-limit store against a real server (REDIS_URL, default `redis://127.0.0.1:6379`;
//! these tests fail when it is unreachable): the same GCRA as the in-memory store, the state as one
//! key with a `PX` expiry, `EVAL` when the script is not cached, and the failure modes on a closed
//! port without waiting past the timeout.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tower_auth::ratelimit::{FailureMode, Quota, RateLimiter, RedisStore};
use tower_auth::{AuthErrorKind, Mechanism, Principal};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn store(prefix: &str) -> RedisStore {
    let url = redis_url();
    match RedisStore::connect(&url).await {
        Ok(store) => store.prefix(prefix),
        Err(e) => panic!("Redis must be reachable at {url} (set REDIS_URL): {e}"),
    }
}

fn unique_prefix(what: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("tower-auth-test:{what}:{}:{nanos}:", std::process::id())
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url()).expect("url").get_multiplexed_async_connection().await.expect("Redis reachable")
}

fn request() -> http::request::Parts {
    http::Request::new(()).into_parts().0
}

#[tokio::test]
async fn the_gcra_in_redis() {
    let prefix = unique_prefix("gcra");
    let limiter =
        RateLimiter::builder().quota(Quota::per_minute(3)).redis(store(&prefix).await).build().expect("limiter");
    let alice = Principal::builder(Mechanism::Jwt, "alice").build();
    let bob = Principal::builder(Mechanism::Jwt, "bob").build();
    let parts = request();
    for expected in [2, 1, 0] {
        let decision = limiter.check(Some(&alice), &parts).await.expect("admitted").expect("a decision");
        assert_eq!(decision.remaining(), expected);
        assert_eq!(decision.policy().name(), "default");
        assert!(decision.reset() <= Duration::from_secs(60));
    }
    let refused = limiter.check(Some(&alice), &parts).await.expect_err("over quota");
    assert_eq!(refused.kind(), AuthErrorKind::RateLimited);
    // Retry-After: the whole quota is back after the refill time (I4: never before `t`).
    assert_eq!(refused.retry_after(), Some(60));
    assert_eq!(limiter.check(Some(&bob), &parts).await.expect("own partition").unwrap().remaining(), 2);

    // The state: one key per partition, named by a hash (no subject in Redis), with a PX expiry
    // no longer than the refill time.
    let mut conn = redis().await;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.expect("KEYS");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in &keys {
        assert!(
            key.starts_with(&format!("{prefix}default:")) && !key.contains("alice") && !key.contains("bob"),
            "{key}"
        );
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut conn).await.expect("PTTL");
        assert!(ttl > 0 && ttl <= 60_000, "{key}: PTTL {ttl}");
    }
}

#[tokio::test]
async fn eval_when_the_script_is_not_cached() {
    let prefix = unique_prefix("noscript");
    let limiter =
        RateLimiter::builder().quota(Quota::per_hour(5)).redis(store(&prefix).await).build().expect("limiter");
    let alice = Principal::builder(Mechanism::Jwt, "alice").build();
    let parts = request();
    assert_eq!(limiter.check(Some(&alice), &parts).await.unwrap().unwrap().remaining(), 4);
    // A restarted or failed-over server has no cached scripts: EVALSHA answers NOSCRIPT.
    let mut conn = redis().await;
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut conn).await.expect("SCRIPT FLUSH");
    assert_eq!(limiter.check(Some(&alice), &parts).await.unwrap().unwrap().remaining(), 3);
    assert_eq!(limiter.check(Some(&alice), &parts).await.unwrap().unwrap().remaining(), 2);
}

#[tokio::test]
async fn a_closed_port_gets_the_failure_mode_at_once() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let url = format!("redis://{closed}");
    assert!(RedisStore::connect(&url).await.is_err(), "connect checks the server at start-up");
    let alice = Principal::builder(Mechanism::Jwt, "alice").build();
    let parts = request();
    for mode in [FailureMode::Open, FailureMode::Closed] {
        let store = RedisStore::new(&url).expect("url").timeout(Duration::from_millis(200)).on_failure(mode);
        let limiter = RateLimiter::builder().quota(Quota::per_minute(1)).redis(store).build().expect("limiter");
        for _ in 0..3 {
            let started = Instant::now();
            let verdict = limiter.check(Some(&alice), &parts).await;
            assert!(started.elapsed() < Duration::from_secs(2), "{mode:?}: waited {:?}", started.elapsed());
            match mode {
                FailureMode::Open => assert!(verdict.expect("admitted").is_none(), "no decision, no headers"),
                _ => {
                    let error = verdict.expect_err("refused");
                    assert_eq!(error.kind(), AuthErrorKind::Unavailable);
                    assert_eq!(error.status(), 503);
                    assert!(error.retry_after().is_some());
                }
            }
        }
    }
}
