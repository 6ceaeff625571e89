//! Authorization beyond scopes (issue 11), run against axum and actix-web over real HTTP on
//! 127.0.0.1: roles mapped from Keycloak-, Auth0-, Okta- and Entra-shaped tokens, each requirement
//! kind passing and failing, and the policy hook allowing and denying by IP and by time (with a
//! [`ManualClock`]). Every refusal is checked for its exact status and `WWW-Authenticate` (absent
//! for a plain 403); an authenticated caller is never answered 401, an anonymous one always is.

use std::time::Duration;

use serde_json::{Value, json};
use tower_auth::authz::{IpRange, PolicyContext};
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::testkit::{LocalIssuer, TokenBuilder};
use tower_auth::{Authenticator, ManualClock, Policy, RoleClaims};
use tower_auth_tests::{FRESH_TOKEN_AGE, Framework, TestServer, http_client, serve_authorization};

const AUD: &str = "https://api.tower-auth.test";
const NO_CREDENTIALS: &str = r#"Bearer realm="test""#;
const NEEDS_REPORTS_READ: &str = r#"Bearer realm="test", error="insufficient_scope", error_description="The access token lacks a required scope", scope="reports:read""#;
/// 2023-11-14T00:00:00Z.
const MIDNIGHT: u64 = 1_699_920_000;

fn issuer() -> LocalIssuer {
    let issuer = LocalIssuer::new("https://sso.example.com/realms/acme");
    issuer.set_default_audience(AUD);
    issuer
}

fn authenticator(issuer: &LocalIssuer, optional: bool) -> Authenticator {
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()).roles_from(RoleClaims::well_known()))
        .audience(AUD)
        .build()
        .expect("validator");
    Authenticator::builder().jwt(validator).optional(optional).realm("test").build().expect("authenticator")
}

/// Office hours (09:00–17:00 UTC by `clock`) from `network`.
fn office_policy(network: &str, clock: &ManualClock) -> Policy {
    let network: IpRange = network.parse().expect("range");
    Policy::from_fn(move |ctx: PolicyContext| async move {
        ctx.client_ip().is_some_and(|ip| network.contains(ip)) && (9..17).contains(&ctx.utc_hour())
    })
    .with_clock(clock.clone())
}

struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    content_type: Option<String>,
    body: String,
}

async fn get(server: &TestServer, path: &str, token: Option<&str>) -> Answer {
    let mut req = http_client().get(server.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.expect("request");
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().expect("ASCII").to_owned());
    let (www_authenticate, content_type) = (header("www-authenticate"), header("content-type"));
    let status = res.status().as_u16();
    let body = res.text().await.expect("body");
    if let Some(token) = token {
        assert!(!body.contains(token), "{path}: the token came back");
    }
    Answer { status, www_authenticate, content_type, body }
}

/// 200, and the handler ran.
fn assert_ok(framework: Framework, path: &str, answer: &Answer) {
    assert_eq!(answer.status, 200, "{framework} {path}: {}", answer.body);
    assert_eq!(answer.www_authenticate, None, "{framework} {path}");
}

/// A plain 403: problem+json, no challenge, no OAuth error code.
fn assert_forbidden(framework: Framework, path: &str, answer: &Answer) {
    assert_eq!(answer.status, 403, "{framework} {path}: {}", answer.body);
    assert_eq!(answer.www_authenticate, None, "{framework} {path}");
    assert_eq!(answer.content_type.as_deref(), Some("application/problem+json"), "{framework} {path}");
    let body: Value = serde_json::from_str(&answer.body).expect("problem JSON");
    assert_eq!(body["status"], 403, "{framework} {path}");
    assert!(body.get("error").is_none(), "{framework} {path}: {body}");
}

fn assert_unauthorized(framework: Framework, path: &str, answer: &Answer) {
    assert_eq!(answer.status, 401, "{framework} {path}: {}", answer.body);
    assert_eq!(answer.www_authenticate.as_deref(), Some(NO_CREDENTIALS), "{framework} {path}");
}

fn sign(token: TokenBuilder) -> String {
    token.sign()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_role_from_every_issuer_shape() {
    let issuer = issuer();
    let clock = ManualClock::at_unix(MIDNIGHT + 10 * 3600);
    // Tokens as each issuer documents them, each carrying `reporter` where that issuer puts roles.
    let holders = [
        (
            "keycloak realm role",
            sign(
                issuer
                    .token()
                    .claim("azp", "web")
                    .claim("realm_access", json!({"roles": ["offline_access", "reporter"]})),
            ),
        ),
        (
            "keycloak client role",
            sign(issuer.token().claim(
                "resource_access",
                json!({"reports-api": {"roles": ["reporter"]}, "account": {"roles": ["view-profile"]}}),
            )),
        ),
        (
            "auth0 permission",
            sign(issuer.token().scope("openid read:reports").claim("permissions", json!(["read:reports", "reporter"]))),
        ),
        (
            "okta group",
            sign(
                issuer
                    .token()
                    .claim("cid", "0oa1")
                    .claim("scp", json!(["openid"]))
                    .claim("groups", json!(["Everyone", "reporter"])),
            ),
        ),
        ("entra app role", sign(issuer.token().claim("roles", json!(["reporter"])))),
    ];
    let others = [
        (
            "keycloak, other roles",
            sign(
                issuer
                    .token()
                    .claim("realm_access", json!({"roles": ["viewer"]}))
                    .claim("resource_access", json!({"account": {"roles": ["manage-account"]}})),
            ),
        ),
        ("auth0, other permission", sign(issuer.token().claim("permissions", json!(["read:orders"])))),
        ("okta, other groups", sign(issuer.token().claim("groups", json!(["Everyone"])))),
        // A scope is not a role.
        ("scope named reporter", sign(issuer.token().scope("reporter"))),
        // Roles are case-sensitive.
        ("Reporter", sign(issuer.token().claim("roles", json!(["Reporter"])))),
    ];
    for framework in Framework::ALL {
        let server =
            serve_authorization(framework, authenticator(&issuer, false), office_policy("127.0.0.0/8", &clock))
                .await
                .expect("server");
        for path in ["/reports", "/reports/by-extractor"] {
            for (name, token) in &holders {
                let answer = get(&server, path, Some(token)).await;
                assert_ok(framework, &format!("{path} ({name})"), &answer);
                let body: Value = serde_json::from_str(&answer.body).expect("JSON");
                assert_eq!(body, json!({"reports": [], "for": "user-1"}), "{framework} {path} {name}");
            }
            for (name, token) in &others {
                assert_forbidden(framework, &format!("{path} ({name})"), &get(&server, path, Some(token)).await);
            }
            assert_unauthorized(framework, path, &get(&server, path, None).await);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_requirement_kind_passes_and_fails() {
    let issuer = issuer();
    let clock = ManualClock::at_unix(MIDNIGHT + 10 * 3600);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    let stale_iat = now - FRESH_TOKEN_AGE.as_secs() - 60;
    // (path, a token that passes, a token that does not, the refusal's challenge if not a plain 403)
    let cases: Vec<(&str, Option<String>, String, Option<&str>)> = vec![
        (
            "/tenant",
            Some(sign(issuer.token().claim("org", json!({"tenant": "acme"})))),
            sign(issuer.token().claim("org", json!({"tenant": "other"}))),
            None,
        ),
        ("/tenant", None, sign(issuer.token().claim("tenant", "acme")), None),
        (
            "/mfa",
            Some(sign(issuer.token().claim("amr", json!(["pwd", "mfa"])))),
            sign(issuer.token().claim("amr", json!(["pwd"]))),
            None,
        ),
        ("/mfa", None, sign(issuer.token().claim("amr", "pwd mfa-ish")), None),
        ("/fresh", Some(sign(issuer.token())), sign(issuer.token().claim("iat", stale_iat)), None),
        ("/fresh", None, sign(issuer.token().remove_claim("iat")), None),
        // A bearer token is never sender-constrained (a bound one presented as Bearer is a 401
        // `invalid_token` at authentication already).
        ("/bound", None, sign(issuer.token()), None),
        // Scope and role: the missing scope is named when scopes would do …
        (
            "/scoped-reports",
            Some(sign(issuer.token().scope("reports:read").claim("roles", json!(["reporter"])))),
            sign(issuer.token().claim("roles", json!(["reporter"]))),
            Some(NEEDS_REPORTS_READ),
        ),
        // … and not when the role is missing too.
        ("/scoped-reports", None, sign(issuer.token().scope("orders:read")), None),
        ("/scoped-reports", None, sign(issuer.token().scope("reports:read")), None),
    ];
    for framework in Framework::ALL {
        let server =
            serve_authorization(framework, authenticator(&issuer, false), office_policy("127.0.0.0/8", &clock))
                .await
                .expect("server");
        for (path, passing, failing, challenge) in &cases {
            if let Some(token) = passing {
                let answer = get(&server, path, Some(token)).await;
                assert_ok(framework, path, &answer);
                assert_eq!(answer.body, "ok");
            }
            let answer = get(&server, path, Some(failing)).await;
            match challenge {
                None => assert_forbidden(framework, path, &answer),
                Some(challenge) => {
                    assert_eq!(answer.status, 403, "{framework} {path}");
                    assert_eq!(answer.www_authenticate.as_deref(), Some(*challenge), "{framework} {path}");
                    let body: Value = serde_json::from_str(&answer.body).expect("problem JSON");
                    assert_eq!(body["error"], "insufficient_scope", "{framework} {path}");
                }
            }
            assert_unauthorized(framework, path, &get(&server, path, None).await);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_allows_and_denies_by_ip() {
    let issuer = issuer();
    let token = issuer.token().sign();
    let clock = ManualClock::at_unix(MIDNIGHT + 10 * 3600);
    for framework in Framework::ALL {
        // The tests connect from 127.0.0.1.
        let loopback =
            serve_authorization(framework, authenticator(&issuer, false), office_policy("127.0.0.0/8", &clock))
                .await
                .expect("server");
        assert_ok(framework, "/office", &get(&loopback, "/office", Some(&token)).await);
        assert_unauthorized(framework, "/office", &get(&loopback, "/office", None).await);

        let elsewhere =
            serve_authorization(framework, authenticator(&issuer, false), office_policy("10.0.0.0/8", &clock))
                .await
                .expect("server");
        assert_forbidden(framework, "/office", &get(&elsewhere, "/office", Some(&token)).await);
        assert_unauthorized(framework, "/office", &get(&elsewhere, "/office", None).await);
        // Routes without the policy are unaffected.
        assert_ok(framework, "/fresh", &get(&elsewhere, "/fresh", Some(&token)).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_allows_and_denies_by_time() {
    let issuer = issuer();
    let token = issuer.token().sign();
    for framework in Framework::ALL {
        let clock = ManualClock::at_unix(MIDNIGHT + 8 * 3600 + 59 * 60); // 08:59 UTC
        let server =
            serve_authorization(framework, authenticator(&issuer, false), office_policy("127.0.0.0/8", &clock))
                .await
                .expect("server");
        assert_forbidden(framework, "/office 08:59", &get(&server, "/office", Some(&token)).await);
        clock.advance(Duration::from_secs(60)); // 09:00
        assert_ok(framework, "/office 09:00", &get(&server, "/office", Some(&token)).await);
        clock.advance(Duration::from_secs(8 * 3600 - 1)); // 16:59:59
        assert_ok(framework, "/office 16:59:59", &get(&server, "/office", Some(&token)).await);
        clock.advance(Duration::from_secs(1)); // 17:00
        assert_forbidden(framework, "/office 17:00", &get(&server, "/office", Some(&token)).await);
        // Refused by policy, never 401 for an authenticated caller; 401 for an anonymous one.
        assert_unauthorized(framework, "/office", &get(&server, "/office", None).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_authentication_anonymous_is_401_on_every_guarded_route() {
    let issuer = issuer();
    let clock = ManualClock::at_unix(MIDNIGHT + 10 * 3600);
    let reporter = issuer.token().claim("roles", json!(["reporter"])).sign();
    for framework in Framework::ALL {
        let server = serve_authorization(framework, authenticator(&issuer, true), office_policy("127.0.0.0/8", &clock))
            .await
            .expect("server");
        for path in
            ["/reports", "/reports/by-extractor", "/tenant", "/mfa", "/fresh", "/bound", "/scoped-reports", "/office"]
        {
            assert_unauthorized(framework, path, &get(&server, path, None).await);
        }
        assert_ok(framework, "/reports", &get(&server, "/reports", Some(&reporter)).await);
        let answer = get(&server, "/healthz", None).await;
        assert_eq!(answer.status, 200, "{framework}");
    }
}
