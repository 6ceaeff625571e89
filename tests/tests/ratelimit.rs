//! Rate limiting on both frameworks over real HTTP on 127.0.0.1 (checklist section I):
//!
//! - burst + 1 requests from one principal: the last is a 429 with `Retry-After`, the
//!   `quota-exceeded` problem and `Cache-Control: no-store` (I1, I4, I5); another principal is not
//!   affected; `RateLimit-Policy` / `RateLimit` parse as Structured Fields and count down (I2, I3);
//!   moving the injected clock restores the quota; the legacy and off header modes (I6);
//! - quotas by kind and tier (API key, API-key tier, client, user) over HTTP;
//! - the failed-authentication limit per address (I7): repeated bad tokens trip it, after which
//!   even a good token is refused without any introspection call or JWKS fetch, until time passes;
//! - Redis (REDIS_URL, default `redis://127.0.0.1:6379`; these tests fail when it is unreachable):
//!   two app instances sharing Redis admit at most one quota together under concurrent load; an
//!   unreachable Redis (a closed port) and a Redis whose traffic stops mid-test (a proxy that
//!   blackholes) get the configured failure mode, and no request waits much past the timeout.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tower_auth::apikey::{ApiKeys, MemoryStore, NewApiKey};
use tower_auth::introspection::Introspector;
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::ratelimit::{FailedAuthLimit, FailureMode, Quota, RateLimitHeaders, RateLimiter, RedisStore};
use tower_auth::testkit::{LocalIssuer, TestIssuer};
use tower_auth::{Authenticator, ManualClock};
use tower_auth_tests::{FaultProxy, Framework, ProxyMode, TestServer, http_client, serve, serve_rate_limited};

const AUD: &str = "https://api.test";
const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

// ---------------------------------------------------------------------------------------------
// A reader of Structured Fields (RFC 9651 §4.2), independent of the crate's writer: Lists of Items
// with String, Token, Integer or Boolean values and parameters.

#[derive(Debug, Clone, PartialEq)]
enum Bare {
    String(String),
    Token(String),
    Integer(i64),
    Boolean(bool),
}

#[derive(Debug, Clone, PartialEq)]
struct Item {
    value: Bare,
    params: Vec<(String, Bare)>,
}

impl Item {
    fn name(&self) -> &str {
        match &self.value {
            Bare::String(s) => s,
            other => panic!("the item value must be an SF String (I2, I3), not {other:?}"),
        }
    }

    fn int(&self, key: &str) -> i64 {
        match self.params.iter().find(|(k, _)| k == key) {
            Some((_, Bare::Integer(n))) => *n,
            other => panic!("parameter {key} must be an SF Integer, found {other:?}"),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.params.iter().any(|(k, _)| k == key)
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip(&mut self, set: &[u8]) {
        while self.peek().is_some_and(|c| set.contains(&c)) {
            self.pos += 1;
        }
    }

    fn list(mut self) -> Result<Vec<Item>, String> {
        let mut items = Vec::new();
        self.skip(b" ");
        if self.peek().is_none() {
            return Ok(items);
        }
        loop {
            items.push(self.item()?);
            self.skip(b" \t");
            match self.peek() {
                None => return Ok(items),
                Some(b',') => self.pos += 1,
                Some(c) => return Err(format!("expected ',' at {}, found {:?}", self.pos, c as char)),
            }
            self.skip(b" \t");
            if self.peek().is_none() {
                return Err("trailing comma".into());
            }
        }
    }

    fn item(&mut self) -> Result<Item, String> {
        let value = self.bare()?;
        let mut params = Vec::new();
        while self.peek() == Some(b';') {
            self.pos += 1;
            self.skip(b" ");
            let key = self.key()?;
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.bare()?
            } else {
                Bare::Boolean(true)
            };
            params.push((key, value));
        }
        Ok(Item { value, params })
    }

    fn key(&mut self) -> Result<String, String> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_lowercase() || c == b'*' => self.pos += 1,
            _ => return Err(format!("bad key at {start}")),
        }
        while self.peek().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c)) {
            self.pos += 1;
        }
        Ok(String::from_utf8_lossy(&self.input[start..self.pos]).into_owned())
    }

    fn bare(&mut self) -> Result<Bare, String> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                let mut out = String::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated string".into()),
                        Some(b'\\') => {
                            self.pos += 1;
                            match self.peek() {
                                Some(c @ (b'"' | b'\\')) => out.push(c as char),
                                _ => return Err("bad escape".into()),
                            }
                            self.pos += 1;
                        }
                        Some(b'"') => {
                            self.pos += 1;
                            return Ok(Bare::String(out));
                        }
                        Some(c) if (0x20..=0x7e).contains(&c) => {
                            out.push(c as char);
                            self.pos += 1;
                        }
                        Some(c) => return Err(format!("byte {c:#x} in a string")),
                    }
                }
            }
            Some(b'?') => {
                self.pos += 1;
                let v = match self.peek() {
                    Some(b'1') => true,
                    Some(b'0') => false,
                    _ => return Err("bad boolean".into()),
                };
                self.pos += 1;
                Ok(Bare::Boolean(v))
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.input[start..self.pos]).unwrap();
                if text.trim_start_matches('-').len() > 15 || self.peek() == Some(b'.') {
                    return Err(format!("not an SF Integer: {text}"));
                }
                text.parse().map(Bare::Integer).map_err(|e| e.to_string())
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c)) {
                    self.pos += 1;
                }
                Ok(Bare::Token(String::from_utf8_lossy(&self.input[start..self.pos]).into_owned()))
            }
            other => Err(format!("unexpected {other:?} at {}", self.pos)),
        }
    }
}

fn sf_list(field: &str) -> Vec<Item> {
    Parser { input: field.as_bytes(), pos: 0 }.list().unwrap_or_else(|e| panic!("{field:?} is not an SF List: {e}"))
}

#[test]
fn the_reader_reads_the_drafts_examples() {
    let policy = sf_list(r#""burst";q=100;w=60,"daily";q=1000;w=86400"#);
    assert_eq!(policy.len(), 2);
    assert_eq!((policy[1].name(), policy[1].int("q"), policy[1].int("w")), ("daily", 1000, 86400));
    let current = sf_list(r#""default";r=50;t=30"#);
    assert_eq!((current[0].int("r"), current[0].int("t")), (50, 30));
    assert!(Parser { input: b"\"a\";q=1,", pos: 0 }.list().is_err());
    assert!(Parser { input: b"\"a\";q=1.5", pos: 0 }.list().is_err());
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body: String,
    elapsed: Duration,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| {
            assert_eq!(v.len(), 1, "one {name} field");
            v[0].as_str()
        })
    }

    /// The one item of the `RateLimit-Policy` and `RateLimit` fields.
    fn rate_limit(&self) -> (Item, Item) {
        let policy = sf_list(self.header("ratelimit-policy").expect("a RateLimit-Policy field"));
        let current = sf_list(self.header("ratelimit").expect("a RateLimit field"));
        assert_eq!(policy.len(), 1, "{policy:?}");
        assert_eq!(current.len(), 1, "{current:?}");
        let (policy, current) = (policy[0].clone(), current[0].clone());
        // I2: q REQUIRED, w > 0, no partition key; I3: r REQUIRED, the same policy name.
        assert!(policy.int("q") >= 0 && policy.int("w") > 0, "{policy:?}");
        assert!(current.int("r") >= 0 && current.int("t") >= 0, "{current:?}");
        assert!(!policy.has("pk") && !current.has("pk"), "no partition key is sent (I4)");
        assert_eq!(policy.name(), current.name());
        (policy, current)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("JSON body ({e}): {}", self.body))
    }
}

async fn send(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = http_client().get(server.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let started = Instant::now();
    let res = req.send().await.expect("request");
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in res.headers() {
        map.entry(name.as_str().to_owned()).or_default().push(value.to_str().expect("ASCII header").to_owned());
    }
    let status = res.status().as_u16();
    let body = res.text().await.expect("body");
    Answer { status, headers: map, body, elapsed: started.elapsed() }
}

async fn get(server: &TestServer, token: &str) -> Answer {
    let bearer = format!("Bearer {token}");
    send(server, "/me", &[("authorization", &bearer)]).await
}

/// I1, I4, I5: a 429 with an integer `Retry-After` not earlier than `t`, not stored by caches, a
/// `quota-exceeded` problem naming the policy, and no challenge. Returns `Retry-After`.
fn expect_429(answer: &Answer, framework: Framework, policy: &str) -> u64 {
    assert_eq!(answer.status, 429, "{framework}: {answer:?}");
    let retry_after: u64 = answer.header("retry-after").expect("Retry-After").parse().expect("delay-seconds (I1)");
    assert!(retry_after >= 1);
    assert_eq!(answer.header("cache-control"), Some("no-store"), "{framework}: I1, caches must not store a 429");
    assert_eq!(answer.header("content-type"), Some("application/problem+json"), "{framework}");
    assert!(answer.header("www-authenticate").is_none(), "{framework}: another credential would not help");
    let (_, current) = answer.rate_limit();
    assert_eq!(current.int("r"), 0, "{framework}");
    assert!(retry_after >= current.int("t") as u64, "{framework}: I4, Retry-After ≥ t");
    let body = answer.json();
    assert_eq!(body["type"], QUOTA_EXCEEDED, "{framework}: I5");
    assert_eq!(body["status"], 429);
    assert_eq!(body["violated-policies"], serde_json::json!([policy]), "{framework}");
    retry_after
}

/// An in-memory issuer and a validator of its tokens for [`AUD`].
fn local_validator() -> (LocalIssuer, JwtValidator) {
    let issuer = LocalIssuer::new("https://issuer.test");
    issuer.set_default_audience(AUD);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUD)
        .build()
        .expect("validator");
    (issuer, validator)
}

fn local_auth() -> (LocalIssuer, Authenticator) {
    let (issuer, validator) = local_validator();
    let auth = Authenticator::builder().jwt(validator).realm("test").build().expect("authenticator");
    (issuer, auth)
}

// ---------------------------------------------------------------------------------------------
// Per-principal quotas, in memory

#[tokio::test]
async fn burst_plus_one_is_refused_and_time_restores_the_quota() {
    for framework in Framework::ALL {
        let (issuer, auth) = local_auth();
        let clock = ManualClock::starting_now();
        let limiter = RateLimiter::builder().quota(Quota::per_minute(5)).clock(clock.clone()).build().expect("limiter");
        let server = serve_rate_limited(framework, auth, limiter).await.expect("server");
        let alice = issuer.token().subject("alice").sign();
        let bob = issuer.token().subject("bob").sign();

        // The burst: every response carries the fields, and `r` counts down (I2, I3).
        for expected_r in (0..5).rev() {
            let ok = get(&server, &alice).await;
            assert_eq!(ok.status, 200, "{framework}: {ok:?}");
            let (policy, current) = ok.rate_limit();
            assert_eq!((policy.name(), policy.int("q"), policy.int("w")), ("default", 5, 60), "{framework}");
            assert_eq!(current.int("r"), expected_r, "{framework}");
            assert!(current.int("t") >= 12 && current.int("t") <= 60, "{framework}: {current:?}");
        }
        // Burst + 1.
        let refused = get(&server, &alice).await;
        let retry_after = expect_429(&refused, framework, "default");
        assert_eq!(retry_after, 60, "{framework}: the whole quota is back after one refill time");

        // Another principal is not affected; a public route carries no rate-limit fields.
        let other = get(&server, &bob).await;
        assert_eq!(other.status, 200, "{framework}");
        assert_eq!(other.rate_limit().1.int("r"), 4, "{framework}");
        let health = send(&server, "/healthz", &[]).await;
        assert!(health.header("ratelimit").is_none() && health.header("ratelimit-policy").is_none(), "{framework}");
        // Authentication runs first: a bad token is a 401, not a quota answer.
        assert_eq!(get(&server, "not-a-token").await.status, 401, "{framework}");

        // Not quite one interval later: still refused. After `Retry-After`: the whole quota again.
        clock.advance(Duration::from_secs(11));
        expect_429(&get(&server, &alice).await, framework, "default");
        clock.advance(Duration::from_secs(retry_after));
        let back = get(&server, &alice).await;
        assert_eq!(back.status, 200, "{framework}");
        assert_eq!(back.rate_limit().1.int("r"), 4, "{framework}");
    }
}

#[tokio::test]
async fn legacy_and_off_header_modes() {
    for framework in Framework::ALL {
        let (issuer, auth) = local_auth();
        let legacy = RateLimiter::builder()
            .quota(Quota::per_minute(2))
            .headers(RateLimitHeaders::Legacy)
            .build()
            .expect("limiter");
        let server = serve_rate_limited(framework, auth.clone(), legacy).await.expect("server");
        let token = issuer.token().subject("carol").sign();
        let ok = get(&server, &token).await;
        assert_eq!(ok.status, 200);
        // I6: the older trio, and not the draft's fields.
        assert_eq!(ok.header("x-ratelimit-limit"), Some("2"), "{framework}");
        assert_eq!(ok.header("x-ratelimit-remaining"), Some("1"), "{framework}");
        assert_eq!(ok.header("x-ratelimit-reset"), Some("30"), "{framework}");
        assert!(ok.header("ratelimit").is_none(), "{framework}");

        let off =
            RateLimiter::builder().quota(Quota::per_minute(1)).headers(RateLimitHeaders::Off).build().expect("limiter");
        let server = serve_rate_limited(framework, auth, off).await.expect("server");
        let ok = get(&server, &token).await;
        assert_eq!(ok.status, 200);
        assert!(ok.headers.keys().all(|k| !k.contains("ratelimit")), "{framework}: {:?}", ok.headers);
        let refused = get(&server, &token).await;
        assert_eq!(refused.status, 429, "{framework}");
        assert_eq!(refused.header("retry-after"), Some("60"), "{framework}: I1, Retry-After stays");
        assert!(refused.headers.keys().all(|k| !k.contains("ratelimit")), "{framework}");
    }
}

#[tokio::test]
async fn quotas_by_kind_and_tier() {
    for framework in Framework::ALL {
        let (issuer, validator) = local_validator();
        let store = MemoryStore::new();
        let keys = ApiKeys::builder().store(store.clone()).build().expect("api keys");
        let gold = keys.mint(&NewApiKey::new("partner").tier("gold")).expect("mint");
        let plain = keys.mint(&NewApiKey::new("partner")).expect("mint");
        store.insert_record(gold.record).expect("insert");
        store.insert_record(plain.record).expect("insert");
        let auth = Authenticator::builder().jwt(validator).api_keys(keys).build().expect("authenticator");
        let limiter = RateLimiter::builder()
            .quota(Quota::per_minute(10))
            .api_key_quota(Quota::per_minute(100))
            .client_quota(Quota::per_minute(1000))
            .user_quota(Quota::per_minute(300))
            .tier("gold", Quota::per_minute(5000))
            .build()
            .expect("limiter");
        let server = serve_rate_limited(framework, auth, limiter).await.expect("server");

        let policy_of = |answer: &Answer| {
            assert_eq!(answer.status, 200, "{framework}: {answer:?}");
            let (policy, _) = answer.rate_limit();
            (policy.name().to_owned(), policy.int("q"))
        };
        let user = issuer.token().subject("alice").claim("client_id", "web-app").sign();
        let client = issuer.token().subject("billing").claim("client_id", "billing").sign();
        assert_eq!(policy_of(&get(&server, &user).await), ("user".into(), 300), "{framework}");
        assert_eq!(policy_of(&get(&server, &client).await), ("client".into(), 1000), "{framework}");
        let plain_answer = send(&server, "/me", &[("x-api-key", plain.key.expose_secret())]).await;
        assert_eq!(policy_of(&plain_answer), ("api_key".into(), 100), "{framework}");
        let gold_answer = send(&server, "/me", &[("x-api-key", gold.key.expose_secret())]).await;
        assert_eq!(policy_of(&gold_answer), ("gold".into(), 5000), "{framework}");
    }
}

// ---------------------------------------------------------------------------------------------
// Failed authentications per address (I7)

#[tokio::test]
async fn failed_authentications_trip_the_address_limit_before_any_work() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    issuer.set_default_audience(AUD);
    for framework in Framework::ALL {
        let clock = ManualClock::starting_now();
        issuer.set_clock(clock.clone());
        let jwt = JwtValidator::builder()
            .issuer(Issuer::discover(issuer.url()))
            .audience(AUD)
            .clock(clock.clone())
            .build()
            .expect("validator");
        let introspector = Introspector::builder()
            .discover(issuer.url())
            .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET)
            .audience(AUD)
            .clock(clock.clone())
            .build()
            .expect("introspector");
        let auth = Authenticator::builder()
            .jwt(jwt)
            .introspection(introspector)
            .failed_auth_limit(FailedAuthLimit::new(Quota::per_minute(3)).clock(clock.clone()))
            .build()
            .expect("authenticator");
        let server = serve(framework, auth, None).await.expect("server");
        let good = issuer.local().token().subject("alice").sign();
        assert_eq!(get(&server, &good).await.status, 200, "{framework}: a success costs nothing");

        // Three guesses: each one asks the introspection endpoint and fails.
        let calls = issuer.introspection_calls();
        for i in 0..3 {
            let guess = get(&server, &format!("guessed-opaque-token-{framework}-{i}")).await;
            assert_eq!(guess.status, 401, "{framework}: {guess:?}");
        }
        assert_eq!(issuer.introspection_calls(), calls + 3, "{framework}");

        // The address is over its quota: 429 at once, with no introspection call and no JWKS
        // refetch for an unknown key — and even a good token waits.
        let (calls, fetches) = (issuer.introspection_calls(), issuer.jwks_fetches());
        let guess = get(&server, &format!("guessed-opaque-token-{framework}-4")).await;
        let retry_after = expect_429(&guess, framework, "failed_auth");
        let unknown_kid = issuer.local().token().kid(Some("no-such-key")).sign();
        expect_429(&get(&server, &unknown_kid).await, framework, "failed_auth");
        expect_429(&get(&server, &good).await, framework, "failed_auth");
        assert_eq!(issuer.introspection_calls(), calls, "{framework}: no introspection call");
        assert_eq!(issuer.jwks_fetches(), fetches, "{framework}: no JWKS refetch");
        assert_eq!(send(&server, "/healthz", &[]).await.status, 200, "{framework}");

        // Time passes: the address may try again.
        clock.advance(Duration::from_secs(retry_after));
        assert_eq!(get(&server, &good).await.status, 200, "{framework}");
    }
}

// ---------------------------------------------------------------------------------------------
// Redis

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A store on `url` for a test, after checking Redis answers: these tests fail, never skip, when it
/// does not.
async fn reachable_redis() -> String {
    let url = redis_url();
    if let Err(e) = RedisStore::connect(&url).await {
        panic!("Redis must be reachable at {url} (set REDIS_URL): {e}");
    }
    url
}

fn unique_prefix(what: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("tower-auth-test:{what}:{}:{nanos}:", std::process::id())
}

#[tokio::test]
async fn two_instances_sharing_redis_admit_one_quota_together() {
    let url = reachable_redis().await;
    let (issuer, auth) = local_auth();
    let prefix = unique_prefix("shared");
    const QUOTA: u32 = 20;
    // One store (one connection) per instance, as two replicas would have; fail closed so that a
    // Redis error could never pass for an admission.
    let limiter = || {
        let store = RedisStore::new(&url)
            .expect("url")
            .prefix(prefix.clone())
            .timeout(Duration::from_secs(2))
            .on_failure(FailureMode::Closed);
        RateLimiter::builder().quota(Quota::per_hour(QUOTA)).redis(store).build().expect("limiter")
    };
    let a = serve_rate_limited(Framework::Axum, auth.clone(), limiter()).await.expect("axum");
    let b = serve_rate_limited(Framework::Actix, auth, limiter()).await.expect("actix");
    let token = issuer.token().subject("shared-alice").sign();

    let client = http_client();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..100 {
        let url = if i % 2 == 0 { a.url("/me") } else { b.url("/me") };
        let token = token.clone();
        let client = client.clone();
        requests.spawn(async move {
            let res = client.get(url).bearer_auth(token).send().await.expect("request");
            let ratelimit = res.headers().get("ratelimit").map(|v| v.to_str().unwrap().to_owned());
            (res.status().as_u16(), ratelimit)
        });
    }
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut remaining = Vec::new();
    while let Some(done) = requests.join_next().await {
        let (status, ratelimit) = done.expect("task");
        *statuses.entry(status).or_default() += 1;
        if status == 200 {
            remaining.push(sf_list(&ratelimit.expect("RateLimit on an admitted response"))[0].int("r"));
        }
    }
    let admitted = statuses.get(&200).copied().unwrap_or(0);
    assert!(admitted <= QUOTA as usize, "two instances admitted {admitted} > {QUOTA}: {statuses:?}");
    assert_eq!(admitted, QUOTA as usize, "{statuses:?}");
    assert_eq!(statuses.get(&429).copied().unwrap_or(0), 100 - QUOTA as usize, "{statuses:?}");
    // Every admission saw a distinct remaining count: one shared counter.
    remaining.sort_unstable();
    assert_eq!(remaining, (0..i64::from(QUOTA)).collect::<Vec<_>>());
    // Another principal has its own partition in Redis.
    let other = issuer.token().subject("shared-bob").sign();
    assert_eq!(get(&b, &other).await.status, 200);
}

/// The longest a request may take when Redis cannot answer: the store's timeout plus a wide
/// margin for a loaded machine. A hang would take the client's 20 s.
const HANG: Duration = Duration::from_millis(200 + 2500);

#[tokio::test]
async fn unreachable_redis_gets_the_configured_behaviour_without_hanging() {
    // A closed port on 127.0.0.1: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let url = format!("redis://{closed}");
    for framework in Framework::ALL {
        let (issuer, auth) = local_auth();
        let token = issuer.token().subject("dave").sign();
        for mode in [FailureMode::Open, FailureMode::Closed] {
            let store = RedisStore::new(&url).expect("url").timeout(Duration::from_millis(200)).on_failure(mode);
            let limiter = RateLimiter::builder().quota(Quota::per_minute(1)).redis(store).build().expect("limiter");
            let server = serve_rate_limited(framework, auth.clone(), limiter).await.expect("server");
            // More than the quota: nothing is counted while Redis is away.
            for _ in 0..3 {
                let answer = get(&server, &token).await;
                assert!(answer.elapsed < HANG, "{framework} {mode:?}: {:?}", answer.elapsed);
                expect_failure_mode(&answer, framework, mode);
            }
        }
    }
}

fn expect_failure_mode(answer: &Answer, framework: Framework, mode: FailureMode) {
    match mode {
        FailureMode::Open => {
            assert_eq!(answer.status, 200, "{framework}: fail open admits: {answer:?}");
            assert!(answer.header("ratelimit").is_none(), "{framework}: no counter, no fields");
        }
        _ => {
            assert_eq!(answer.status, 503, "{framework}: fail closed refuses: {answer:?}");
            assert!(answer.header("retry-after").is_some(), "{framework}");
            assert_eq!(answer.header("content-type"), Some("application/problem+json"));
        }
    }
}

#[tokio::test]
async fn redis_stopped_mid_test_gets_the_configured_behaviour_then_recovers() {
    let url = reachable_redis().await;
    for framework in Framework::ALL {
        for mode in [FailureMode::Open, FailureMode::Closed] {
            let (issuer, auth) = local_auth();
            let (proxy, proxied) = FaultProxy::in_front_of(&url, 6379).await.expect("a proxy in front of Redis");
            let store = RedisStore::new(&proxied)
                .expect("url")
                .prefix(unique_prefix("stopped"))
                .timeout(Duration::from_millis(200))
                .retry_interval(Duration::ZERO)
                .on_failure(mode);
            let limiter = RateLimiter::builder().quota(Quota::per_hour(10)).redis(store).build().expect("limiter");
            let server = serve_rate_limited(framework, auth, limiter).await.expect("server");
            let token = issuer.token().subject("erin").sign();

            // Redis answers: counted.
            for expected_r in [9, 8] {
                let ok = get(&server, &token).await;
                assert_eq!(ok.status, 200, "{framework} {mode:?}: {ok:?}");
                assert_eq!(ok.rate_limit().1.int("r"), expected_r, "{framework} {mode:?}");
            }
            // Traffic stops: open connections drop, new ones get no answer.
            proxy.set(ProxyMode::Down).await.expect("cut");
            proxy.set(ProxyMode::Hang).await.expect("hang");
            for _ in 0..3 {
                let answer = get(&server, &token).await;
                assert!(answer.elapsed < HANG, "{framework} {mode:?}: a request hung for {:?}", answer.elapsed);
                expect_failure_mode(&answer, framework, mode);
            }
            // Traffic resumes (the silent connections are closed): the store reconnects, and the
            // count went on where it was.
            proxy.set(ProxyMode::Down).await.expect("cut");
            proxy.set(ProxyMode::Forward).await.expect("restore");
            let back = get(&server, &token).await;
            assert_eq!(back.status, 200, "{framework} {mode:?}: {back:?}");
            assert_eq!(back.rate_limit().1.int("r"), 7, "{framework} {mode:?}");
        }
    }
}
