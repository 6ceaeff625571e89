//! API keys on both frameworks over real HTTP on 127.0.0.1: a valid key authenticates as
//! `kind: "api_key"`; every refusal — malformed, bad checksum, unknown id, wrong secret, expired,
//! revoked, wrong source network, uses exhausted — gets the very same 401 (status,
//! `WWW-Authenticate`, body) on axum and on actix-web; a key next to a bearer token is a 400; per-key
//! scopes feed the same route scope checks as tokens.

use std::time::Duration;

use serde_json::Value;
use tower_auth::apikey::{ApiKeys, KeyFormat, MemoryStore, NewApiKey};
use tower_auth::testkit::api_key_with;
use tower_auth::{Authenticator, ManualClock};
use tower_auth_tests::{Framework, TestServer, http_client, serve};

const INVALID_API_KEY: &str = r#"Bearer realm="test", error="invalid_token", error_description="Invalid API key""#;
const MULTIPLE: &str = r#"Bearer realm="test", error="invalid_request", error_description="Multiple methods used to include access token""#;
const MALFORMED: &str = r#"Bearer realm="test", error="invalid_request", error_description="Malformed credentials""#;
const NEEDS_ADMIN: &str = r#"Bearer realm="test", error="insufficient_scope", error_description="The access token lacks a required scope", scope="admin""#;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    content_type: Option<String>,
    body: String,
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = http_client().get(server.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.expect("request");
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().expect("ASCII header").to_owned());
    let (status, www_authenticate, content_type) =
        (res.status().as_u16(), header("www-authenticate"), header("content-type"));
    Answer { status, www_authenticate, content_type, body: res.text().await.expect("body") }
}

fn json(answer: &Answer) -> Value {
    serde_json::from_str(&answer.body).unwrap_or_else(|e| panic!("JSON body ({e}): {}", answer.body))
}

struct Fixture {
    keys: ApiKeys,
    reader: String,
    admin: String,
    /// A key restricted to 127.0.0.0/8: accepted from the test client.
    local: String,
    /// Each failure case, named, with the key it presents (all refused with the same 401).
    refused: Vec<(&'static str, String)>,
}

async fn fixture() -> Fixture {
    let clock = ManualClock::starting_now();
    let keys = ApiKeys::builder()
        .store(MemoryStore::new())
        .clock(clock.clone())
        .authorization_scheme(true)
        .build()
        .expect("api keys");
    let create = |spec: NewApiKey| {
        let keys = keys.clone();
        async move { keys.create(spec).await.expect("create key") }
    };
    let reader = create(NewApiKey::new("reader-bot").name("reader").scopes(["orders:read"]).tier("gold")).await;
    let admin = create(NewApiKey::new("admin-bot").scopes(["orders:read", "orders:write", "admin"])).await;
    let expiring =
        create(NewApiKey::new("reader-bot").scopes(["orders:read"]).expires_in(Duration::from_secs(60))).await;
    let revoked = create(NewApiKey::new("reader-bot").scopes(["orders:read"])).await;
    keys.revoke(revoked.key.id()).await.expect("revoke");
    let elsewhere = create(NewApiKey::new("reader-bot").allowed_networks(["10.0.0.0/8".parse().unwrap()])).await;
    let local_only = create(NewApiKey::new("local-bot").allowed_networks(["127.0.0.0/8".parse().unwrap()])).await;
    let twice = create(NewApiKey::new("reader-bot").max_uses(2)).await;
    clock.advance(Duration::from_secs(61));

    let reader_key = reader.key.expose_secret().to_owned();
    let other = KeyFormat::default().generate();
    let mut bad_checksum = reader_key.clone().into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'A' { b'B' } else { b'A' };
    let refused = vec![
        ("malformed", "not-an-api-key".to_owned()),
        ("wrong prefix", reader_key.replacen("tak_live_", "tak_test_", 1)),
        ("bad checksum", String::from_utf8(bad_checksum).unwrap()),
        ("unknown id", other.expose_secret().to_owned()),
        ("wrong secret", api_key_with(&KeyFormat::default(), reader.key.id(), &other.expose_secret()[22..44])),
        ("expired", expiring.key.expose_secret().to_owned()),
        ("revoked", revoked.key.expose_secret().to_owned()),
        ("wrong source network", elsewhere.key.expose_secret().to_owned()),
        ("uses exhausted", twice.key.expose_secret().to_owned()),
    ];
    // Spend the usage-limited key's two uses (it would pass otherwise).
    for _ in 0..2 {
        keys.verify(twice.key.expose_secret(), None).await.expect("a use within the limit");
    }
    Fixture {
        keys,
        reader: reader_key,
        admin: admin.key.expose_secret().to_owned(),
        local: local_only.key.expose_secret().to_owned(),
        refused,
    }
}

fn authenticator(keys: &ApiKeys) -> Authenticator {
    Authenticator::builder().api_keys(keys.clone()).realm("test").build().expect("authenticator")
}

#[tokio::test]
async fn valid_keys_authenticate_as_api_key_on_both_frameworks() {
    let f = fixture().await;
    for framework in Framework::ALL {
        let server = serve(framework, authenticator(&f.keys), None).await.expect("server");
        let me = get(&server, "/me", &[("x-api-key", &f.reader)]).await;
        assert_eq!(me.status, 200, "{framework}: {me:?}");
        let doc = json(&me);
        assert_eq!(doc["kind"], "api_key", "{framework}");
        assert_eq!(doc["sub"], "reader-bot", "{framework}");
        assert_eq!(doc["scopes"], serde_json::json!(["orders:read"]), "{framework}");
        assert_eq!(doc["bound"], Value::Null, "{framework}");
        assert!(!me.body.contains(&f.reader));

        // `Authorization: ApiKey …`, enabled here, works the same.
        let scheme = get(&server, "/me", &[("authorization", &format!("ApiKey {}", f.reader))]).await;
        assert_eq!(scheme.status, 200, "{framework}");
        assert_eq!(json(&scheme)["kind"], "api_key");

        // The key restricted to 127.0.0.0/8 passes: the peer address reaches the engine.
        let from_loopback = get(&server, "/me", &[("x-api-key", &f.local)]).await;
        assert_eq!(from_loopback.status, 200, "{framework}: peer address not seen");
        assert_eq!(json(&from_loopback)["sub"], "local-bot");
    }
}

#[tokio::test]
async fn every_refusal_is_the_same_401_on_both_frameworks() {
    let f = fixture().await;
    let mut reference: Option<Answer> = None;
    for framework in Framework::ALL {
        let server = serve(framework, authenticator(&f.keys), None).await.expect("server");
        for (case, key) in &f.refused {
            for path in ["/me", "/orders", "/admin"] {
                let answer = get(&server, path, &[("x-api-key", key)]).await;
                assert_eq!(answer.status, 401, "{framework} {case} {path}: {answer:?}");
                assert_eq!(answer.www_authenticate.as_deref(), Some(INVALID_API_KEY), "{framework} {case}");
                assert_eq!(answer.content_type.as_deref(), Some("application/problem+json"), "{framework} {case}");
                assert!(!answer.body.contains(key.as_str()), "{framework} {case}: the key is echoed");
                match &reference {
                    None => reference = Some(answer),
                    Some(first) => assert_eq!(&answer, first, "{framework} {case} {path} differs"),
                }
            }
        }
    }
    let doc = json(reference.as_ref().unwrap());
    assert_eq!(doc["status"], 401);
    assert_eq!(doc["error"], "invalid_token");
    assert_eq!(doc["detail"], "Invalid API key");
}

#[tokio::test]
async fn a_key_and_a_bearer_token_together_are_a_400() {
    let f = fixture().await;
    for framework in Framework::ALL {
        let server = serve(framework, authenticator(&f.keys), None).await.expect("server");
        let both = get(&server, "/me", &[("x-api-key", &f.reader), ("authorization", "Bearer abc.def.ghi")]).await;
        assert_eq!(both.status, 400, "{framework}: {both:?}");
        assert_eq!(both.www_authenticate.as_deref(), Some(MULTIPLE), "{framework}");
        let both =
            get(&server, "/me", &[("authorization", &format!("ApiKey {}", f.reader)), ("x-api-key", &f.reader)]).await;
        assert_eq!(both.status, 400, "{framework}");
        // A header value with a space is malformed, not a key.
        let spaced = get(&server, "/me", &[("x-api-key", "tak_live_abc def")]).await;
        assert_eq!((spaced.status, spaced.www_authenticate.as_deref()), (400, Some(MALFORMED)), "{framework}");
        // No key at all: the bare challenge.
        let none = get(&server, "/me", &[]).await;
        assert_eq!(
            (none.status, none.www_authenticate.as_deref()),
            (401, Some(r#"Bearer realm="test""#)),
            "{framework}"
        );
    }
}

#[tokio::test]
async fn per_key_scopes_feed_the_route_scope_checks() {
    let f = fixture().await;
    for framework in Framework::ALL {
        let server = serve(framework, authenticator(&f.keys), None).await.expect("server");
        // orders:read: GET /orders passes (the handler reads `sub` from the claims), /admin is 403.
        let orders = get(&server, "/orders", &[("x-api-key", &f.reader)]).await;
        assert_eq!(orders.status, 200, "{framework}: {orders:?}");
        assert_eq!(json(&orders)["owner"], "reader-bot");
        let admin = get(&server, "/admin", &[("x-api-key", &f.reader)]).await;
        assert_eq!(admin.status, 403, "{framework}: {admin:?}");
        assert_eq!(admin.www_authenticate.as_deref(), Some(NEEDS_ADMIN), "{framework}");
        let post = http_client().post(server.url("/orders")).header("x-api-key", &f.reader).send().await.unwrap();
        assert_eq!(post.status(), 403, "{framework}");
        // A key with the scopes passes both.
        let admin = get(&server, "/admin", &[("x-api-key", &f.admin)]).await;
        assert_eq!(admin.status, 200, "{framework}: {admin:?}");
        assert_eq!(json(&admin)["admin"], "admin-bot");
        let post = http_client().post(server.url("/orders")).header("x-api-key", &f.admin).send().await.unwrap();
        assert_eq!(post.status(), 201, "{framework}");
    }
}

#[tokio::test]
async fn revocation_takes_effect_on_the_next_request() {
    let f = fixture().await;
    let issued = f.keys.create(NewApiKey::new("short-lived").scopes(["orders:read"])).await.unwrap();
    let key = issued.key.expose_secret().to_owned();
    let servers = [
        serve(Framework::Axum, authenticator(&f.keys), None).await.expect("axum"),
        serve(Framework::Actix, authenticator(&f.keys), None).await.expect("actix"),
    ];
    for server in &servers {
        assert_eq!(get(server, "/me", &[("x-api-key", &key)]).await.status, 200);
    }
    assert!(f.keys.revoke(issued.key.id()).await.unwrap());
    for server in &servers {
        let answer = get(server, "/me", &[("x-api-key", &key)]).await;
        assert_eq!(
            (answer.status, answer.www_authenticate.as_deref()),
            (401, Some(INVALID_API_KEY)),
            "{}",
            server.framework()
        );
    }
}
