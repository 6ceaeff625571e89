//! `authorize` (route_layer) and the `Authorized<R>` extractor, through a real `Router` (in
//! process, no sockets).

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::{Router, routing::get};
use serde_json::json;
use tower::ServiceExt;
use tower_auth::authz::{AccessRule, Authorization, IpRange, Policy, PolicyContext, Requirement};
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::testkit::LocalIssuer;
use tower_auth::{AuthError, AuthErrorKind, Authenticator, ManualClock, RoleClaims};
use tower_auth_axum::{Authorized, auth_layer, authorize};

const AUD: &str = "https://api.test";
/// 2023-11-14T00:00:00Z.
const MIDNIGHT: u64 = 1_699_920_000;

/// The clock of the extractor's policy (an `AccessRule` is named by a type, so its clock is global).
static CLOCK: LazyLock<ManualClock> = LazyLock::new(|| ManualClock::at_unix(MIDNIGHT + 10 * 3600));

fn office_hours_from_loopback() -> Policy {
    let loopback: IpRange = "127.0.0.0/8".parse().expect("range");
    Policy::from_fn(move |ctx: PolicyContext| async move {
        ctx.client_ip().is_some_and(|ip| loopback.contains(ip)) && (9..17).contains(&ctx.utc_hour())
    })
    .with_clock(CLOCK.clone())
}

struct Reporters;
impl AccessRule for Reporters {
    fn authorization() -> Authorization {
        Requirement::role("reporter").into()
    }
}

struct OfficeReporters;
impl AccessRule for OfficeReporters {
    fn authorization() -> Authorization {
        Authorization::new(Requirement::role("reporter")).policy(office_hours_from_loopback())
    }
}

fn setup(optional: bool) -> (LocalIssuer, Authenticator) {
    let issuer = LocalIssuer::new("https://sso.example.com/realms/acme");
    issuer.set_default_audience(AUD);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()).roles_from(RoleClaims::well_known()))
        .audience(AUD)
        .build()
        .unwrap();
    let auth = Authenticator::builder().jwt(validator).optional(optional).realm("test").build().unwrap();
    (issuer, auth)
}

fn app(auth: Authenticator) -> Router {
    Router::new()
        .route("/layer", get(|| async { "ok" }).route_layer(authorize(Requirement::role("reporter"))))
        .route(
            "/scoped-role",
            get(|| async { "ok" })
                .route_layer(authorize(Requirement::all_scopes(["reports:read"]).and(Requirement::role("reporter")))),
        )
        .route(
            "/fresh",
            get(|| async { "ok" }).route_layer(authorize(Requirement::max_token_age(Duration::from_secs(60)))),
        )
        .route("/office", get(|| async { "ok" }).route_layer(authorize(office_hours_from_loopback())))
        .route("/extract", get(|who: Authorized<Reporters>| async move { who.subject().to_owned() }))
        .route("/extract-office", get(|who: Authorized<OfficeReporters>| async move { who.subject().to_owned() }))
        .layer(auth_layer(auth))
}

fn request(path: &str, token: Option<&str>, peer: Option<&str>) -> Request<Body> {
    let mut req = Request::builder().uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(peer) = peer {
        req = req.extension(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    }
    req.body(Body::empty()).unwrap()
}

async fn body(resp: axum::response::Response) -> String {
    String::from_utf8(to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap()
}

fn assert_forbidden(resp: &axum::response::Response, path: &str) {
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    assert!(resp.headers().get("www-authenticate").is_none(), "{path}");
    assert_eq!(resp.headers()["content-type"], "application/problem+json", "{path}");
    assert_eq!(resp.extensions().get::<AuthError>().unwrap().kind(), AuthErrorKind::Forbidden, "{path}");
}

#[tokio::test]
async fn roles_by_layer_and_extractor() {
    let (issuer, auth) = setup(false);
    let app = app(auth);
    let keycloak =
        issuer.token().subject("kc").claim("resource_access", json!({"reports-api": {"roles": ["reporter"]}})).sign();
    let auth0 = issuer.token().subject("a0").claim("permissions", json!(["reporter"])).sign();
    let viewer = issuer.token().subject("v").claim("realm_access", json!({"roles": ["viewer"]})).sign();
    for path in ["/layer", "/extract"] {
        for (token, sub) in [(&keycloak, "kc"), (&auth0, "a0")] {
            let resp = app.clone().oneshot(request(path, Some(token), None)).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            if path == "/extract" {
                assert_eq!(body(resp).await, sub);
            }
        }
        let resp = app.clone().oneshot(request(path, Some(&viewer), None)).await.unwrap();
        assert_forbidden(&resp, path);
        let resp = app.clone().oneshot(request(path, None, None)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(resp.headers()["www-authenticate"], r#"Bearer realm="test""#, "{path}");
    }
}

#[tokio::test]
async fn scopes_keep_insufficient_scope_and_token_age_is_forbidden() {
    let (issuer, auth) = setup(false);
    let app = app(auth);
    let reporter_without_scope = issuer.token().claim("roles", json!(["reporter"])).sign();
    let resp = app.clone().oneshot(request("/scoped-role", Some(&reporter_without_scope), None)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer realm="test", error="insufficient_scope", error_description="The access token lacks a required scope", scope="reports:read""#
    );
    let both = issuer.token().scope("reports:read").claim("roles", json!(["reporter"])).sign();
    assert_eq!(app.clone().oneshot(request("/scoped-role", Some(&both), None)).await.unwrap().status(), StatusCode::OK);

    // `iat` two minutes ago (still valid for an hour): older than the route allows.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let old = issuer.token().claim("iat", now - 120).sign();
    assert_forbidden(&app.clone().oneshot(request("/fresh", Some(&old), None)).await.unwrap(), "/fresh");
    let fresh = issuer.token().sign();
    assert_eq!(app.oneshot(request("/fresh", Some(&fresh), None)).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn policy_by_peer_address_and_clock() {
    let (issuer, auth) = setup(true);
    let app = app(auth);
    let reporter = issuer.token().claim("roles", json!(["reporter"])).sign();
    let viewer = issuer.token().claim("roles", json!(["viewer"])).sign();
    // Never moved by this test file's other tests: 10:00 UTC.
    for path in ["/office", "/extract-office"] {
        let resp = app.clone().oneshot(request(path, Some(&reporter), Some("127.0.0.1:50000"))).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        // The peer is read from axum's ConnectInfo: another network, or none, is refused.
        let resp = app.clone().oneshot(request(path, Some(&reporter), Some("192.0.2.1:50000"))).await.unwrap();
        assert_forbidden(&resp, path);
        let resp = app.clone().oneshot(request(path, Some(&reporter), None)).await.unwrap();
        assert_forbidden(&resp, path);
        // Anonymous (optional authentication): 401 before any policy.
        let resp = app.clone().oneshot(request(path, None, Some("127.0.0.1:50000"))).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // The extractor checks the requirement before the policy.
    let resp = app.clone().oneshot(request("/extract-office", Some(&viewer), Some("127.0.0.1:50000"))).await.unwrap();
    assert_forbidden(&resp, "/extract-office");
    // /office has no role requirement: any authenticated caller from the right place and time.
    let resp = app.clone().oneshot(request("/office", Some(&viewer), Some("127.0.0.1:50000"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn policy_after_hours() {
    // A layer's policy has its own clock (the extractor rules above share the global one, never moved).
    let (issuer, auth) = setup(false);
    let reporter = issuer.token().claim("roles", json!(["reporter"])).sign();
    let policy = Policy::from_fn(|ctx: PolicyContext| async move { (9..17).contains(&ctx.utc_hour()) });
    let clock = ManualClock::at_unix(MIDNIGHT + 20 * 3600);
    let late = Router::new()
        .route("/late", get(|| async { "ok" }).route_layer(authorize(policy.with_clock(clock.clone()))))
        .layer(auth_layer(auth));
    let resp = late.clone().oneshot(request("/late", Some(&reporter), None)).await.unwrap();
    assert_forbidden(&resp, "/late");
    clock.advance(Duration::from_secs(14 * 3600)); // 10:00 the next day
    assert_eq!(late.oneshot(request("/late", Some(&reporter), None)).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn without_the_auth_layer_is_500() {
    let app: Router = Router::new()
        .route("/layer", get(|| async { "ok" }).route_layer(authorize(Requirement::role("reporter"))))
        .route("/extract", get(|who: Authorized<Reporters>| async move { who.subject().to_owned() }));
    for path in ["/layer", "/extract"] {
        let resp = app.clone().oneshot(request(path, None, None)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
    }
}
