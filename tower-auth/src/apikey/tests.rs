//! Unit tests of the mechanism: every refusal, the single answer they share, the cache with an
//! injected clock, usage limits, networks, last-used batching, redaction and configuration.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use super::keys::{Failure, Refusal};
use super::*;
use crate::clock::{Clock, ManualClock};
use crate::{AuthErrorKind, Authenticator, Mechanism};

/// A store that counts the calls reaching it and can be switched off (unreachable).
#[derive(Debug, Clone, Default)]
struct Counting {
    memory: MemoryStore,
    gets: Arc<AtomicUsize>,
    touches: Arc<AtomicUsize>,
    touched_keys: Arc<AtomicUsize>,
    down: Arc<std::sync::atomic::AtomicBool>,
    /// Forward the memory store's revision (exact caching) instead of acting remote (TTL caching).
    exact: bool,
}

impl Counting {
    fn check_up(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) { Err(StoreError::unavailable("down")) } else { Ok(()) }
    }
}

impl ApiKeyStore for Counting {
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.check_up() {
            return Box::pin(std::future::ready(Err(e)));
        }
        self.memory.get(id)
    }
    fn insert(&self, record: ApiKeyRecord) -> StoreFuture<'_, ()> {
        self.memory.insert(record)
    }
    fn revoke<'a>(&'a self, id: &'a str, at: SystemTime) -> StoreFuture<'a, bool> {
        self.memory.revoke(id, at)
    }
    fn list(&self) -> StoreFuture<'_, Vec<ApiKeyRecord>> {
        self.memory.list()
    }
    fn record_use<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        if let Err(e) = self.check_up() {
            return Box::pin(std::future::ready(Err(e)));
        }
        self.memory.record_use(id)
    }
    fn touch(&self, last_used: Vec<(String, SystemTime)>) -> StoreFuture<'_, ()> {
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.touched_keys.fetch_add(last_used.len(), Ordering::SeqCst);
        self.memory.touch(last_used)
    }
    fn revision(&self) -> Option<u64> {
        if self.exact { self.memory.revision() } else { None }
    }
}

const T0: u64 = 1_700_000_000;

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

fn keys_with(store: Counting, clock: &ManualClock) -> ApiKeys {
    ApiKeys::builder().store(store).clock(clock.clone()).build().unwrap()
}

async fn refusal(keys: &ApiKeys, key: &str, peer: Option<IpAddr>) -> Refusal {
    match keys.check(key, peer).await {
        Err(Failure::Refused(r)) => r,
        Err(Failure::Store(e)) => panic!("store error {e}"),
        Ok(p) => panic!("accepted: {p:?}"),
    }
}

#[tokio::test]
async fn valid_key_gives_the_owner_scopes_expiry_and_claims() {
    let clock = ManualClock::at_unix(T0);
    let keys = keys_with(Counting::default(), &clock);
    let issued = keys
        .create(
            NewApiKey::new("alice")
                .name("ci")
                .scopes(["orders:read", "orders:write", "orders:read"])
                .tier("gold")
                .expires_in(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    let p = keys.verify(issued.key.expose_secret(), ip("203.0.113.5")).await.unwrap();
    assert_eq!(p.subject(), "alice");
    assert_eq!(p.mechanism(), Mechanism::ApiKey);
    assert_eq!(p.scopes(), ["orders:read", "orders:write"]);
    assert_eq!(p.expires_at().map(crate::clock::unix_seconds), Some(T0 + 600));
    assert_eq!(p.claim("key_id").and_then(|v| v.as_str()), Some(issued.key.id()));
    assert_eq!(p.claim("tier").and_then(|v| v.as_str()), Some("gold"));
    assert_eq!(p.claim("sub").and_then(|v| v.as_str()), Some("alice"));
    assert_eq!(p.client_id(), None);
    // No tier: the claim is null, still present for rate limiters to read.
    let plain = keys.create(NewApiKey::new("bob")).await.unwrap();
    let p = keys.verify(plain.key.expose_secret(), None).await.unwrap();
    assert_eq!(p.claim("tier"), Some(&serde_json::Value::Null));
    assert!(p.expires_at().is_none());
}

/// Every refusal, by its precise reason, and then the one answer they all share.
#[tokio::test]
async fn every_failure_has_its_reason_and_the_same_response() {
    let clock = ManualClock::at_unix(T0);
    let store = Counting::default();
    let keys = keys_with(store.clone(), &clock);
    let good = keys.create(NewApiKey::new("alice").scopes(["orders:read"])).await.unwrap();
    let good = good.key.expose_secret().to_owned();
    let expiring = keys.create(NewApiKey::new("alice").expires_in(Duration::from_secs(60))).await.unwrap();
    let revoked = keys.create(NewApiKey::new("alice")).await.unwrap();
    keys.revoke(revoked.key.id()).await.unwrap();
    let fenced = keys.create(NewApiKey::new("alice").allowed_networks(["10.0.0.0/8".parse().unwrap()])).await.unwrap();
    let once = keys.create(NewApiKey::new("alice").max_uses(1)).await.unwrap();
    keys.verify(once.key.expose_secret(), None).await.unwrap();
    clock.advance(Duration::from_secs(61));

    // A well-formed key with the right checksum but a different secret for a real id.
    let format = keys.format().clone();
    let other = format.generate();
    let wrong_secret = reseal(&format, &format!("tak_live_{}_{}", &good[9..21], other.secret()));
    let unknown_id = reseal(&format, &format!("tak_live_{}_{}", other.id(), other.secret()));
    let mut bad_checksum = good.clone().into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'0' { b'1' } else { b'0' };
    let bad_checksum = String::from_utf8(bad_checksum).unwrap();

    let gets_before = store.gets.load(Ordering::SeqCst);
    assert_eq!(refusal(&keys, "not-a-key", None).await, Refusal::Malformed);
    assert_eq!(refusal(&keys, &good[..good.len() - 1], None).await, Refusal::Malformed);
    assert_eq!(refusal(&keys, &bad_checksum, None).await, Refusal::BadChecksum);
    assert_eq!(store.gets.load(Ordering::SeqCst), gets_before, "no lookup before the checksum passes");
    assert_eq!(refusal(&keys, &unknown_id, None).await, Refusal::UnknownKey);
    assert_eq!(refusal(&keys, &wrong_secret, None).await, Refusal::WrongSecret);
    assert_eq!(refusal(&keys, expiring.key.expose_secret(), None).await, Refusal::Expired);
    assert_eq!(refusal(&keys, revoked.key.expose_secret(), None).await, Refusal::Revoked);
    assert_eq!(refusal(&keys, fenced.key.expose_secret(), ip("192.0.2.1")).await, Refusal::NetworkNotAllowed);
    assert_eq!(refusal(&keys, fenced.key.expose_secret(), None).await, Refusal::NetworkNotAllowed);
    assert_eq!(refusal(&keys, once.key.expose_secret(), None).await, Refusal::UsesExhausted);
    keys.verify(fenced.key.expose_secret(), ip("10.9.8.7")).await.unwrap();
    keys.verify(fenced.key.expose_secret(), ip("::ffff:10.9.8.7")).await.unwrap();

    // Through the engine: one status, one challenge, one body for all of them.
    let auth = Authenticator::builder().api_keys(keys.clone()).realm("test").build().unwrap();
    let failing = [
        "not-a-key".to_owned(),
        bad_checksum,
        unknown_id,
        wrong_secret,
        expiring.key.expose_secret().to_owned(),
        revoked.key.expose_secret().to_owned(),
        fenced.key.expose_secret().to_owned(),
        once.key.expose_secret().to_owned(),
    ];
    let mut answers = Vec::new();
    for key in &failing {
        let req = http::Request::builder().header("x-api-key", key.as_str()).body(()).unwrap().into_parts().0;
        let err = auth.authenticate(&req).await.unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::InvalidApiKey, "{key}");
        let parts = err.response_parts();
        assert!(!String::from_utf8_lossy(&parts.body).contains(key.as_str()));
        answers.push((parts.status, parts.headers, parts.body));
    }
    let first = &answers[0];
    assert_eq!(first.0, http::StatusCode::UNAUTHORIZED);
    assert!(first.1.contains(&(
        "www-authenticate",
        r#"Bearer realm="test", error="invalid_token", error_description="Invalid API key""#.into()
    )));
    for answer in &answers {
        assert_eq!(answer, first);
    }
    // And a valid key through the engine.
    let req = http::Request::builder().header("x-api-key", good.as_str()).body(()).unwrap().into_parts().0;
    let p = auth.authenticate(&req).await.unwrap().unwrap();
    assert_eq!(p.mechanism(), Mechanism::ApiKey);
}

/// Replaces the checksum of `body` (prefix, id, secret) by the right one.
fn reseal(format: &KeyFormat, body: &str) -> String {
    // Generate candidates until the checksum fits: build it the same way the format does.
    let crc = super::format::crc32(body.as_bytes());
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut digits = [b'0'; 6];
    let mut n = crc;
    for slot in digits.iter_mut().rev() {
        *slot = alphabet[(n % 62) as usize];
        n /= 62;
    }
    let key = format!("{body}{}", std::str::from_utf8(&digits).unwrap());
    assert!(format.parse(&key).is_ok());
    key
}

#[tokio::test]
async fn one_constant_time_comparison_whether_the_id_exists_or_not() {
    let clock = ManualClock::at_unix(T0);
    let keys = keys_with(Counting::default(), &clock);
    let issued = keys.create(NewApiKey::new("alice")).await.unwrap();
    let format = keys.format().clone();
    let other = format.generate();
    let unknown = other.expose_secret().to_owned();
    let wrong = reseal(&format, &format!("tak_live_{}_{}", issued.key.id(), other.secret()));
    for (key, expected) in [
        (issued.key.expose_secret(), None),
        (&unknown, Some(Refusal::UnknownKey)),
        (&wrong, Some(Refusal::WrongSecret)),
    ] {
        super::hash::COMPARISONS.with(|c| c.set(0));
        let outcome = keys.check(key, None).await;
        assert_eq!(super::hash::COMPARISONS.with(std::cell::Cell::get), 1, "{expected:?}");
        match (outcome, expected) {
            (Ok(_), None) => {}
            (Err(Failure::Refused(r)), Some(e)) => assert_eq!(r, e),
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
    // Malformed keys never reach the comparison (no secret to compare).
    super::hash::COMPARISONS.with(|c| c.set(0));
    let _ = keys.check("tak_live_x", None).await;
    assert_eq!(super::hash::COMPARISONS.with(std::cell::Cell::get), 0);
}

#[tokio::test]
async fn cache_hides_store_changes_only_within_the_ttl() {
    let clock = ManualClock::at_unix(T0);
    let store = Counting::default();
    let keys = ApiKeys::builder()
        .store(store.clone())
        .clock(clock.clone())
        .cache_ttl(Duration::from_secs(30))
        .negative_cache_ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    let issued = keys.create(NewApiKey::new("alice")).await.unwrap();
    let key = issued.key.expose_secret();
    for _ in 0..5 {
        keys.verify(key, None).await.unwrap();
    }
    assert_eq!(store.gets.load(Ordering::SeqCst), 1, "one lookup, then cache hits");

    // Revoked behind the cache's back (another replica, SQL): still accepted within the TTL…
    store.memory.revoke(issued.key.id(), clock.now()).await.unwrap();
    clock.advance(Duration::from_secs(29));
    keys.verify(key, None).await.unwrap();
    // …and refused once it has passed.
    clock.advance(Duration::from_secs(2));
    assert_eq!(refusal(&keys, key, None).await, Refusal::Revoked);
    assert_eq!(store.gets.load(Ordering::SeqCst), 2);

    // Negative caching: an unknown id is looked up once per negative TTL.
    let ghost = keys.format().generate();
    let gets = store.gets.load(Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(refusal(&keys, ghost.expose_secret(), None).await, Refusal::UnknownKey);
    }
    assert_eq!(store.gets.load(Ordering::SeqCst), gets + 1);
    // The key appears in the store (created elsewhere): seen after the negative TTL.
    let mut record = keys.mint(&NewApiKey::new("carol")).unwrap().record;
    record.id = ghost.id().to_owned();
    record.secret_hash = super::hash::Hasher::Sha256.hash(ghost.id(), ghost.secret());
    store.memory.insert_record(record).unwrap();
    assert_eq!(refusal(&keys, ghost.expose_secret(), None).await, Refusal::UnknownKey);
    clock.advance(Duration::from_secs(6));
    assert_eq!(keys.verify(ghost.expose_secret(), None).await.unwrap().subject(), "carol");

    // Revocation through ApiKeys: at once.
    keys.revoke(ghost.id()).await.unwrap();
    assert_eq!(refusal(&keys, ghost.expose_secret(), None).await, Refusal::Revoked);
}

#[tokio::test]
async fn expiry_is_checked_against_the_clock_even_on_cache_hits() {
    let clock = ManualClock::at_unix(T0);
    let keys = keys_with(Counting::default(), &clock);
    let issued = keys.create(NewApiKey::new("bot").expires_in(Duration::from_secs(120))).await.unwrap();
    keys.verify(issued.key.expose_secret(), None).await.unwrap();
    clock.advance(Duration::from_secs(119));
    keys.verify(issued.key.expose_secret(), None).await.unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(refusal(&keys, issued.key.expose_secret(), None).await, Refusal::Expired);
}

#[tokio::test]
async fn store_down_fails_closed_unless_cached() {
    let clock = ManualClock::at_unix(T0);
    let store = Counting::default();
    let keys = keys_with(store.clone(), &clock);
    let cached = keys.create(NewApiKey::new("alice")).await.unwrap();
    let fresh = keys.create(NewApiKey::new("bob")).await.unwrap();
    keys.verify(cached.key.expose_secret(), None).await.unwrap();
    store.down.store(true, Ordering::SeqCst);
    keys.verify(cached.key.expose_secret(), None).await.unwrap();
    let err = keys.verify(fresh.key.expose_secret(), None).await.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::Unavailable);
    assert_eq!(err.retry_after(), Some(5));
    // Usage-limited keys need the store on every request.
    store.down.store(false, Ordering::SeqCst);
    let limited = keys.create(NewApiKey::new("carol").max_uses(5)).await.unwrap();
    keys.verify(limited.key.expose_secret(), None).await.unwrap();
    store.down.store(true, Ordering::SeqCst);
    assert_eq!(keys.verify(limited.key.expose_secret(), None).await.unwrap_err().kind(), AuthErrorKind::Unavailable);
}

#[tokio::test]
async fn usage_limits_count_in_the_store_and_refusals_spend_nothing() {
    let clock = ManualClock::at_unix(T0);
    let store = Counting::default();
    let keys = keys_with(store.clone(), &clock);
    let issued = keys
        .create(NewApiKey::new("bot").max_uses(3).allowed_networks(["192.0.2.0/24".parse().unwrap()]))
        .await
        .unwrap();
    let key = issued.key.expose_secret();
    // Refused from the wrong network: no use spent.
    assert_eq!(refusal(&keys, key, ip("198.51.100.1")).await, Refusal::NetworkNotAllowed);
    for _ in 0..3 {
        keys.verify(key, ip("192.0.2.10")).await.unwrap();
    }
    assert_eq!(refusal(&keys, key, ip("192.0.2.10")).await, Refusal::UsesExhausted);
    let stored = store.memory.get(issued.key.id()).await.unwrap().unwrap();
    assert_eq!(stored.uses, 3);
    assert_eq!(stored.status(clock.now()), KeyStatus::Exhausted);
}

#[tokio::test]
async fn last_used_is_written_in_batches_not_per_request() {
    let clock = ManualClock::at_unix(T0);
    let store = Counting::default();
    let keys = ApiKeys::builder()
        .store(store.clone())
        .clock(clock.clone())
        .last_used_flush_interval(Duration::from_secs(3600))
        .last_used_capacity(2)
        .build()
        .unwrap();
    let a = keys.create(NewApiKey::new("a")).await.unwrap();
    let b = keys.create(NewApiKey::new("b")).await.unwrap();
    let c = keys.create(NewApiKey::new("c")).await.unwrap();
    for i in 0..50 {
        clock.advance(Duration::from_secs(1));
        keys.verify(a.key.expose_secret(), None).await.unwrap();
        if i % 10 == 0 {
            keys.verify(b.key.expose_secret(), None).await.unwrap();
        }
    }
    // The queue is bounded: a third key is skipped until the next flush.
    keys.verify(c.key.expose_secret(), None).await.unwrap();
    assert_eq!(store.touches.load(Ordering::SeqCst), 0, "no write per request");
    keys.flush_last_used().await.unwrap();
    assert_eq!(store.touches.load(Ordering::SeqCst), 1);
    assert_eq!(store.touched_keys.load(Ordering::SeqCst), 2);
    let a_rec = store.memory.get(a.key.id()).await.unwrap().unwrap();
    assert_eq!(a_rec.last_used_at, Some(clock.now()));
    let b_rec = store.memory.get(b.key.id()).await.unwrap().unwrap();
    assert_eq!(b_rec.last_used_at.map(crate::clock::unix_seconds), Some(T0 + 41));
    assert!(store.memory.get(c.key.id()).await.unwrap().unwrap().last_used_at.is_none());
    // Nothing queued: no store call.
    keys.flush_last_used().await.unwrap();
    assert_eq!(store.touches.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn last_used_flushes_in_the_background() {
    let clock = ManualClock::at_unix(T0);
    let store = Counting::default();
    let keys = ApiKeys::builder()
        .store(store.clone())
        .clock(clock.clone())
        .last_used_flush_interval(Duration::from_secs(30))
        .build()
        .unwrap();
    let a = keys.create(NewApiKey::new("a")).await.unwrap();
    keys.verify(a.key.expose_secret(), None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(store.touches.load(Ordering::SeqCst), 1);
    assert!(store.memory.get(a.key.id()).await.unwrap().unwrap().last_used_at.is_some());
}

#[tokio::test]
async fn debug_output_never_shows_secrets_or_hashes() {
    let keys = ApiKeys::builder().store(MemoryStore::new()).pepper([7u8; 32]).build().unwrap();
    let issued = keys.create(NewApiKey::new("alice").scopes(["a"])).await.unwrap();
    let secret = issued.key.expose_secret().to_owned();
    let secret_part = &secret[22..44];
    let hash_hex = issued.record.secret_hash.to_hex();
    let auth = Authenticator::builder().api_keys(keys.clone()).build().unwrap();
    let p = keys.verify(&secret, None).await.unwrap();
    let shown = [
        format!("{issued:?}"),
        format!("{:?}", issued.record),
        format!("{:#?}", issued.record),
        format!("{:?}", issued.key),
        format!("{:?}", keys.format().parse(&secret).unwrap()),
        format!("{keys:?}"),
        format!("{auth:?}"),
        format!("{p:?}"),
        format!("{:?}", issued.record.secret_hash),
        format!("{:?}", ApiKeys::builder().pepper([7u8; 32])),
    ];
    for s in shown {
        assert!(!s.contains(secret_part), "{s}");
        assert!(!s.contains(&hash_hex[..16]), "{s}");
        assert!(!s.contains("[7, 7"), "{s}");
    }
    // The id is public and helps operators.
    assert!(format!("{:?}", issued.record).contains(issued.key.id()));
}

#[tokio::test]
async fn pepper_must_match() {
    let store = MemoryStore::new();
    let peppered = ApiKeys::builder().store(store.clone()).pepper(b"a-server-side-pepper-of-32-bytes").build().unwrap();
    let plain = ApiKeys::builder().store(store.clone()).build().unwrap();
    let issued = peppered.create(NewApiKey::new("alice")).await.unwrap();
    peppered.verify(issued.key.expose_secret(), None).await.unwrap();
    assert_eq!(refusal(&plain, issued.key.expose_secret(), None).await, Refusal::WrongSecret);
}

#[tokio::test]
async fn transports_follow_the_configuration() {
    let store = MemoryStore::new();
    let keys = ApiKeys::builder()
        .store(store.clone())
        .header("X-Service-Key")
        .authorization_scheme(true)
        .insecure_query_parameter("api_key")
        .build()
        .unwrap();
    let issued = keys.create(NewApiKey::new("alice")).await.unwrap();
    let key = issued.key.expose_secret();
    let auth = Authenticator::builder().api_keys(keys).build().unwrap();
    let ok = |req: http::request::Parts| {
        let auth = auth.clone();
        async move { auth.authenticate(&req).await }
    };
    let parts = |b: http::request::Builder| b.body(()).unwrap().into_parts().0;
    assert!(ok(parts(http::Request::builder().header("x-service-key", key))).await.unwrap().is_some());
    assert!(
        ok(parts(http::Request::builder().header("authorization", format!("ApiKey {key}")))).await.unwrap().is_some()
    );
    assert!(ok(parts(http::Request::builder().uri(format!("/x?api_key={key}")))).await.unwrap().is_some());
    // The default header is not read when another is configured.
    let none = ok(parts(http::Request::builder().header("x-api-key", key))).await.unwrap_err();
    assert_eq!(none.kind(), AuthErrorKind::MissingCredentials);
    // A key and a token together: 400.
    let both =
        ok(parts(http::Request::builder().header("x-service-key", key).header("authorization", "Bearer abc"))).await;
    assert_eq!(both.unwrap_err().kind(), AuthErrorKind::MultipleCredentials);

    // Defaults: header only; no query parameter, no ApiKey scheme.
    let keys = ApiKeys::builder().store(store).build().unwrap();
    let auth = Authenticator::builder().api_keys(keys).build().unwrap();
    let req = parts(http::Request::builder().uri(format!("/x?api_key={key}")));
    assert_eq!(auth.authenticate(&req).await.unwrap_err().kind(), AuthErrorKind::MissingCredentials);
    let req = parts(http::Request::builder().header("authorization", format!("ApiKey {key}")));
    assert_eq!(auth.authenticate(&req).await.unwrap_err().kind(), AuthErrorKind::MissingCredentials);
    let req = parts(http::Request::builder().header("x-api-key", key));
    assert!(auth.authenticate(&req).await.unwrap().is_some());
    // Only API keys configured: a bearer token is not a credential this server can check.
    let req = parts(http::Request::builder().header("authorization", "Bearer abc.def.ghi"));
    assert_eq!(auth.authenticate(&req).await.unwrap_err().kind(), AuthErrorKind::UnrecognizedToken);
}

#[test]
fn configuration_errors() {
    let store = || MemoryStore::new();
    assert!(ApiKeys::builder().build().unwrap_err().message().contains("store"));
    assert!(ApiKeys::builder().store(store()).prefix("Bad-Prefix").build().is_err());
    assert!(ApiKeys::builder().store(store()).pepper(b"short").build().is_err());
    assert!(ApiKeys::builder().store(store()).header("authorization").build().is_err());
    assert!(ApiKeys::builder().store(store()).header("x api key").build().is_err());
    assert!(ApiKeys::builder().store(store()).insecure_query_parameter("a&b").build().is_err());
    assert!(ApiKeys::builder().store(store()).without_header().build().is_err());
    assert!(ApiKeys::builder().store(store()).without_header().authorization_scheme(true).build().is_ok());
    assert!(ApiKeys::builder().store(store()).cache_ttl(Duration::from_secs(7200)).build().is_err());
    assert!(ApiKeys::builder().store(store()).cache_ttl(Duration::from_secs(1)).build().is_err());
    assert!(ApiKeys::builder().store(store()).last_used_flush_interval(Duration::ZERO).build().is_err());
    // An Authenticator with API keys only is valid; with no mechanism it is not.
    let keys = ApiKeys::builder().store(store()).build().unwrap();
    assert!(Authenticator::builder().api_keys(keys).build().is_ok());
    assert!(Authenticator::builder().build().unwrap_err().message().contains("api_keys"));
}

#[tokio::test]
async fn invalid_specs_are_refused() {
    let clock = ManualClock::at_unix(T0);
    let keys = keys_with(Counting::default(), &clock);
    for spec in [
        NewApiKey::new(""),
        NewApiKey::new("a\nb"),
        NewApiKey::new("a").scopes(["has space"]),
        NewApiKey::new("a").scopes([""]),
        NewApiKey::new("a").max_uses(0),
        NewApiKey::new("a").expires_at(SystemTime::UNIX_EPOCH),
        NewApiKey::new("a").tier(""),
    ] {
        assert_eq!(keys.create(spec.clone()).await.unwrap_err().kind(), StoreErrorKind::Invalid, "{spec:?}");
    }
    assert!(keys.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn local_stores_are_cached_exactly_by_revision() {
    let clock = ManualClock::at_unix(T0);
    let store = Counting { exact: true, ..Counting::default() };
    let keys = keys_with(store.clone(), &clock);
    let issued = keys.create(NewApiKey::new("alice")).await.unwrap();
    let key = issued.key.expose_secret();
    for _ in 0..5 {
        keys.verify(key, None).await.unwrap();
    }
    assert_eq!(store.gets.load(Ordering::SeqCst), 1, "parsed once, reused while nothing changed");
    // Revoked behind ApiKeys' back, straight in the store: refused on the very next request.
    store.memory.revoke(issued.key.id(), clock.now()).await.unwrap();
    assert_eq!(refusal(&keys, key, None).await, Refusal::Revoked);
    // An unknown id stays unknown only until something is inserted.
    let ghost = keys.format().generate();
    assert_eq!(refusal(&keys, ghost.expose_secret(), None).await, Refusal::UnknownKey);
    let gets = store.gets.load(Ordering::SeqCst);
    assert_eq!(refusal(&keys, ghost.expose_secret(), None).await, Refusal::UnknownKey);
    assert_eq!(store.gets.load(Ordering::SeqCst), gets, "negative entry reused");
    let mut record = keys.mint(&NewApiKey::new("carol")).unwrap().record;
    record.id = ghost.id().to_owned();
    record.secret_hash = super::hash::Hasher::Sha256.hash(ghost.id(), ghost.secret());
    store.memory.insert_record(record).unwrap();
    assert_eq!(keys.verify(ghost.expose_secret(), None).await.unwrap().subject(), "carol");
    // No clock involved: a day later, still one lookup per change.
    clock.advance(Duration::from_secs(86_400));
    let gets = store.gets.load(Ordering::SeqCst);
    keys.verify(ghost.expose_secret(), None).await.unwrap();
    assert_eq!(store.gets.load(Ordering::SeqCst), gets);
}

#[tokio::test]
async fn a_file_store_revocation_from_another_process_is_seen_at_once() {
    let path = std::env::temp_dir().join(format!(
        "tower-auth-exact-{}-{:?}.json",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    let server_store = FileStore::open_with_reload_interval(&path, Duration::ZERO).unwrap();
    let cli_store = FileStore::open(&path).unwrap();
    let server = ApiKeys::builder().store(server_store).build().unwrap();
    let cli = ApiKeys::builder().store(cli_store).build().unwrap();
    let issued = cli.create(NewApiKey::new("alice")).await.unwrap();
    server.verify(issued.key.expose_secret(), None).await.unwrap();
    server.verify(issued.key.expose_secret(), None).await.unwrap();
    cli.revoke(issued.key.id()).await.unwrap();
    assert_eq!(refusal(&server, issued.key.expose_secret(), None).await, Refusal::Revoked);
    let _ = std::fs::remove_file(&path);
    let mut lock = path.into_os_string();
    lock.push(".lock");
    let _ = std::fs::remove_file(lock);
}
