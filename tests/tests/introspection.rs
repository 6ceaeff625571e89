//! Token introspection (RFC 7662, RFC-CHECKLIST.md D1–D8) on both frameworks, over real HTTP on
//! 127.0.0.1: the test kit's authorization server answers `/introspect`, the routes of the harness
//! answer with exact statuses and `WWW-Authenticate` values (realm `test`). Time moves with a
//! [`ManualClock`]; nothing sleeps to wait for a cache to expire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tower_auth::introspection::{Introspector, IntrospectorBuilder};
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::testkit::{IntrospectionBehavior, LogCapture, TestIssuer};
use tower_auth::{Authenticator, ManualClock};
use tower_auth_tests::{Framework, TestServer, http_client, serve};

const AUD: &str = "https://api.tower-auth.test";
/// 2023-11-14T22:13:20Z: the clock of every test starts here.
const T0: u64 = 1_700_000_000;
/// The introspection timeout of these tests: short, so a slow endpoint is cut off quickly.
const TIMEOUT: Duration = Duration::from_millis(300);

const INVALID_TOKEN: &str = r#"Bearer realm="test", error="invalid_token", error_description="Invalid token""#;
const EXPIRED: &str = r#"Bearer realm="test", error="invalid_token", error_description="The access token expired""#;
const NEEDS_ADMIN: &str = r#"Bearer realm="test", error="insufficient_scope", error_description="The access token lacks a required scope", scope="admin""#;

// ---------------------------------------------------------------------------------------------
// Set-up

/// An authorization server with a clock at [`T0`], tokens for [`AUD`]. Every test starts here, so
/// the process-wide log capture (actix-web serves on its own thread) is installed before anything of
/// this binary logs.
async fn authorization_server() -> (TestIssuer, ManualClock) {
    LogCapture::global();
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let clock = ManualClock::at_unix(T0);
    issuer.set_clock(clock.clone());
    issuer.set_default_audience(AUD);
    (issuer, clock)
}

/// JWTs of `issuer` validated locally, every other token introspected at `issuer` (endpoint from its
/// discovery document), realm `test`; `configure` adjusts the introspector.
fn authenticator(
    issuer: &TestIssuer,
    clock: &ManualClock,
    configure: impl FnOnce(IntrospectorBuilder) -> IntrospectorBuilder,
) -> Authenticator {
    let jwt = JwtValidator::builder()
        .issuer(Issuer::discover(issuer.url()))
        .audience(AUD)
        .clock(clock.clone())
        .build()
        .expect("valid JWT configuration");
    let introspector = configure(
        Introspector::builder()
            .discover(issuer.url())
            .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET)
            .audience(AUD)
            .timeout(TIMEOUT)
            .clock(clock.clone()),
    )
    .build()
    .expect("valid introspection configuration");
    Authenticator::builder().jwt(jwt).introspection(introspector).realm("test").build().expect("valid configuration")
}

struct Answer {
    status: u16,
    www_authenticate: Vec<String>,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: String,
}

/// One client per thread (building one per request costs more than the request; a thread serves one
/// test's runtime, so pooled connections never outlive theirs).
fn client() -> reqwest::Client {
    thread_local! {
        static CLIENT: reqwest::Client = http_client();
    }
    CLIENT.with(Clone::clone)
}

async fn get(server: &TestServer, path: &str, token: &str) -> Answer {
    let res = client()
        .get(server.url(path))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: GET {path}: {e:?}", server.framework()));
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().expect("ASCII header").to_owned());
    let www_authenticate =
        res.headers().get_all("www-authenticate").iter().map(|v| v.to_str().expect("ASCII").to_owned()).collect();
    let (retry_after, content_type) = (header("retry-after"), header("content-type"));
    let status = res.status().as_u16();
    let body = res.text().await.expect("body");
    assert!(!body.contains(token), "{}: the token came back in the body", server.framework());
    Answer { status, www_authenticate, retry_after, content_type, body }
}

/// Exact status and `WWW-Authenticate` (`None`: no challenge at all).
#[track_caller]
fn expect(ans: &Answer, framework: Framework, what: &str, status: u16, challenge: Option<&str>) {
    assert_eq!(ans.status, status, "{framework}: {what}: status (body {})", ans.body);
    let want: Vec<String> = challenge.into_iter().map(str::to_owned).collect();
    assert_eq!(ans.www_authenticate, want, "{framework}: {what}: WWW-Authenticate");
    if status >= 400 {
        assert_eq!(ans.content_type.as_deref(), Some("application/problem+json"), "{framework}: {what}");
    }
}

/// 503, `Retry-After`, no challenge (DESIGN error table: fail closed).
#[track_caller]
fn expect_unavailable(ans: &Answer, framework: Framework, what: &str) {
    expect(ans, framework, what, 503, None);
    let retry: u64 = ans.retry_after.as_deref().unwrap_or_default().parse().unwrap_or_else(|_| {
        panic!("{framework}: {what}: Retry-After {:?}", ans.retry_after);
    });
    assert!(retry >= 1, "{framework}: {what}: Retry-After {retry}");
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[tokio::test]
async fn active_token_is_served_with_its_scopes() {
    // D1 (discovery, client_secret_basic), D2, D6: a principal of kind "introspection"
    for framework in Framework::ALL {
        let (issuer, clock) = authorization_server().await;
        let server = serve(framework, authenticator(&issuer, &clock, |b| b), None).await.expect("server");
        let token = issuer.opaque_token().subject("alice").scope("orders:read").issue();
        let me = get(&server, "/me", &token).await;
        expect(&me, framework, "GET /me", 200, None);
        let doc: Value = serde_json::from_str(&me.body).expect("JSON");
        assert_eq!(
            doc,
            json!({"sub": "alice", "client_id": "test-client", "scopes": ["orders:read"], "kind": "introspection", "bound": null}),
            "{framework}"
        );
        let orders = get(&server, "/orders", &token).await;
        expect(&orders, framework, "GET /orders", 200, None);
        assert_eq!(serde_json::from_str::<Value>(&orders.body).unwrap()["owner"], "alice", "{framework}");
        expect(&get(&server, "/admin", &token).await, framework, "GET /admin", 403, Some(NEEDS_ADMIN));
        assert_eq!(issuer.introspection_calls(), 1, "{framework}: one call, then the cache");
        // A JWT of the configured issuer never reaches the endpoint.
        let jwt = issuer.token().scope("orders:read").sign();
        expect(&get(&server, "/orders", &jwt).await, framework, "JWT", 200, None);
        assert_eq!(issuer.introspection_calls(), 1, "{framework}: JWTs are validated locally");
    }
}

#[tokio::test]
async fn inactive_non_boolean_and_expired_answers_are_401() {
    // D2 (only the JSON boolean true), D5, D7 (exp of an active answer)
    for framework in Framework::ALL {
        let (issuer, clock) = authorization_server().await;
        let server = serve(framework, authenticator(&issuer, &clock, |b| b), None).await.expect("server");
        let unknown = get(&server, "/me", "an-opaque-token-nobody-issued").await;
        expect(&unknown, framework, "inactive", 401, Some(INVALID_TOKEN));

        let expired = issuer.opaque_token().scope("orders:read").expires_in(-3600).issue();
        expect(&get(&server, "/orders", &expired).await, framework, "expired exp", 401, Some(EXPIRED));

        let stringly = issuer.opaque_token().scope("orders:read").issue();
        issuer.set_introspection_behavior(IntrospectionBehavior::ActiveAsString);
        expect(&get(&server, "/orders", &stringly).await, framework, "\"active\": \"true\"", 401, Some(INVALID_TOKEN));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_new_token_make_one_upstream_call() {
    // DESIGN: "concurrent misses for one token make one upstream call"
    for framework in Framework::ALL {
        let (issuer, clock) = authorization_server().await;
        let auth = authenticator(&issuer, &clock, |b| b.timeout(Duration::from_secs(10)));
        let server = Arc::new(serve(framework, auth, None).await.expect("server"));
        // The call stays in flight while the requests arrive.
        issuer.set_introspection_delay(Duration::from_millis(300));
        let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let (server, token) = (server.clone(), token.clone());
            requests.spawn(async move { get(&server, "/orders", &token).await.status });
        }
        let mut statuses = Vec::new();
        while let Some(status) = requests.join_next().await {
            statuses.push(status.expect("request task"));
        }
        assert_eq!(statuses.len(), 200);
        assert!(statuses.iter().all(|s| *s == 200), "{framework}: {statuses:?}");
        assert_eq!(issuer.introspection_calls(), 1, "{framework}: exactly one upstream call");
    }
}

#[tokio::test]
async fn revoked_token_refused_once_its_cache_entry_expires() {
    // D4: the cached answer (30 s by default) is checked against the injected clock on every hit
    for framework in Framework::ALL {
        let (issuer, clock) = authorization_server().await;
        let server = serve(framework, authenticator(&issuer, &clock, |b| b), None).await.expect("server");
        let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
        expect(&get(&server, "/orders", &token).await, framework, "fresh", 200, None);
        issuer.revoke(&token);
        clock.advance(Duration::from_secs(29));
        expect(&get(&server, "/orders", &token).await, framework, "revoked, still cached", 200, None);
        clock.advance(Duration::from_secs(1));
        expect(&get(&server, "/orders", &token).await, framework, "revoked, cache expired", 401, Some(INVALID_TOKEN));
        assert_eq!(issuer.introspection_calls(), 2, "{framework}");
    }
}

/// A named way to break the introspection endpoint.
type Failure = (&'static str, fn(&TestIssuer));

#[tokio::test]
async fn endpoint_failures_are_503_within_the_timeout() {
    // Fail closed: down / slow / 500 / non-JSON → 503 + Retry-After, never 401, never a hang
    for framework in Framework::ALL {
        let (issuer, clock) = authorization_server().await;
        let server = serve(framework, authenticator(&issuer, &clock, |b| b), None).await.expect("server");
        let failures: [Failure; 4] = [
            ("down", |i| i.set_down(true)),
            ("slow (5 s, timeout 300 ms)", |i| i.set_introspection_delay(Duration::from_secs(5))),
            ("500", |i| i.set_introspection_behavior(IntrospectionBehavior::ServerError)),
            ("not JSON", |i| i.set_introspection_behavior(IntrospectionBehavior::NotJson)),
        ];
        for (what, break_it) in failures {
            break_it(&issuer);
            let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
            let started = Instant::now();
            let ans = get(&server, "/orders", &token).await;
            expect_unavailable(&ans, framework, what);
            // Generous bound: the 5 s delay must not be waited out.
            assert!(started.elapsed() < Duration::from_secs(3), "{framework}: {what}: took {:?}", started.elapsed());
            // Mend it, and move past the 1 s pause that follows a failed call.
            issuer.set_down(false);
            issuer.set_introspection_delay(Duration::ZERO);
            issuer.set_introspection_behavior(IntrospectionBehavior::Normal);
            clock.advance(Duration::from_secs(2));
            expect(&get(&server, "/orders", &token).await, framework, &format!("{what}, mended"), 200, None);
        }
    }
}

#[tokio::test]
async fn cached_token_still_served_while_the_endpoint_is_down() {
    for framework in Framework::ALL {
        let (issuer, clock) = authorization_server().await;
        let server = serve(framework, authenticator(&issuer, &clock, |b| b), None).await.expect("server");
        let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
        expect(&get(&server, "/orders", &token).await, framework, "warm up", 200, None);
        issuer.set_down(true);
        clock.advance(Duration::from_secs(20));
        expect(&get(&server, "/orders", &token).await, framework, "cached while down", 200, None);
        let fresh = issuer.issue_opaque_token("orders:read", T0 + 3600);
        expect_unavailable(&get(&server, "/orders", &fresh).await, framework, "new token while down");
        expect(&get(&server, "/orders", &token).await, framework, "cached after a failure", 200, None);
    }
}

#[tokio::test]
async fn our_credentials_rejected_is_503() {
    // D3: the endpoint's 401 is about this server's credentials, not the client's token
    for framework in Framework::ALL {
        let (issuer, clock) = authorization_server().await;
        let auth =
            authenticator(&issuer, &clock, |b| b.client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, "wrong"));
        let server = serve(framework, auth, None).await.expect("server");
        let token = issuer.issue_opaque_token("orders:read", T0 + 3600);
        expect_unavailable(&get(&server, "/orders", &token).await, framework, "credentials refused");
        assert_eq!(issuer.introspection_calls(), 1, "{framework}");
    }
}

#[tokio::test]
async fn tokens_never_appear_in_log_output() {
    let capture = LogCapture::global();
    let mut tokens = Vec::new();
    for framework in Framework::ALL {
        let (issuer, clock) = authorization_server().await;
        let server = serve(framework, authenticator(&issuer, &clock, |b| b.failure_cooldown(Duration::ZERO)), None)
            .await
            .expect("server");
        let good = issuer.opaque_token().subject(&format!("log-user-{framework}")).scope("orders:read").issue();
        let revoked = issuer.issue_opaque_token("orders:read", T0 + 3600);
        issuer.revoke(&revoked);
        let expired = issuer.opaque_token().expires_in(-3600).issue();
        let failing = issuer.issue_opaque_token("orders:read", T0 + 3600);
        expect(&get(&server, "/orders", &good).await, framework, "good", 200, None);
        expect(&get(&server, "/orders", &good).await, framework, "good, cached", 200, None);
        expect(&get(&server, "/orders", &revoked).await, framework, "revoked", 401, Some(INVALID_TOKEN));
        expect(&get(&server, "/orders", &expired).await, framework, "expired", 401, Some(EXPIRED));
        issuer.set_introspection_behavior(IntrospectionBehavior::ServerError);
        expect_unavailable(&get(&server, "/orders", &failing).await, framework, "500");
        tokens.extend([good, revoked, expired, failing]);
    }
    let text = capture.text();
    // The events are there (so the search below searched real output) ...
    for expected in
        ["token introspected", "log-user-axum", "log-user-actix-web", "inactive_token", "introspection failed"]
    {
        assert!(text.contains(expected), "missing {expected:?} in the logs");
    }
    // ... and no token, nor the client secret, is.
    for token in &tokens {
        assert!(!text.contains(token.as_str()), "a token appears in the logs");
    }
    assert!(!text.contains(TestIssuer::INTROSPECTION_CLIENT_SECRET), "the client secret appears in the logs");
}
