//! The axum extractors and guards, through a real `Router` (in process, no sockets).

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use axum::{Router, routing::get};
use serde::Deserialize;
use tower::ServiceExt;
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::testkit::LocalIssuer;
use tower_auth::{AuthErrorKind, Authenticator, ScopeRequirement, ScopeSet};
use tower_auth_axum::{Claims, Principal, Scoped, auth_layer, require_any};

const AUD: &str = "https://api.test";

fn setup(optional: bool) -> (LocalIssuer, Authenticator) {
    let issuer = LocalIssuer::new("https://issuer.test");
    issuer.set_default_audience(AUD);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUD)
        .build()
        .unwrap();
    let auth = Authenticator::builder().jwt(validator).optional(optional).realm("test").build().unwrap();
    (issuer, auth)
}

fn request(path: &str, token: Option<&str>) -> Request<Body> {
    let mut req = Request::builder().uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.body(Body::empty()).unwrap()
}

async fn body(resp: axum::response::Response) -> String {
    String::from_utf8(to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap()
}

struct OrdersWrite;
impl ScopeSet for OrdersWrite {
    fn requirement() -> ScopeRequirement {
        ScopeRequirement::all_of(["orders:write"])
    }
}

#[derive(Deserialize)]
struct TenantClaims {
    tenant: String,
}

fn app(auth: Authenticator) -> Router {
    Router::new()
        .route("/me", get(|Principal(p): Principal| async move { p.subject().to_owned() }))
        .route(
            "/maybe",
            get(|p: Option<Principal>| async move { p.map_or("anonymous".to_owned(), |p| p.subject().to_owned()) }),
        )
        .route("/tenant", get(|Claims(c): Claims<TenantClaims>| async move { c.tenant }))
        .route("/write", get(|who: Scoped<OrdersWrite>| async move { who.subject().to_owned() }))
        .route("/any", get(|| async { "ok" }).route_layer(require_any(["a", "b"])))
        .layer(auth_layer(auth))
}

#[tokio::test]
async fn principal_claims_and_scopes() {
    let (issuer, auth) = setup(false);
    let app = app(auth);
    let token = issuer.token().subject("alice").claim("tenant", "acme").scope("orders:write b").sign();
    let resp = app.clone().oneshot(request("/me", Some(&token))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body(resp).await, "alice");
    assert_eq!(body(app.clone().oneshot(request("/tenant", Some(&token))).await.unwrap()).await, "acme");
    assert_eq!(app.clone().oneshot(request("/write", Some(&token))).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.clone().oneshot(request("/any", Some(&token))).await.unwrap().status(), StatusCode::OK);

    let reader = issuer.token().scope("orders:read").sign();
    let resp = app.clone().oneshot(request("/write", Some(&reader))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer realm="test", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:write""#
    );
    let resp = app.clone().oneshot(request("/any", Some(&reader))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers()["www-authenticate"].to_str().unwrap().ends_with(r#"scope="a b""#));

    // Claims that do not fit the type: 401 invalid_token.
    let resp = app.oneshot(request("/tenant", Some(&reader))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers()["www-authenticate"].to_str().unwrap().contains(r#"error="invalid_token""#));
    assert_eq!(resp.extensions().get::<tower_auth::AuthError>().unwrap().kind(), AuthErrorKind::MissingClaim);
}

#[tokio::test]
async fn optional_authentication() {
    let (issuer, auth) = setup(true);
    let app = app(auth);
    assert_eq!(body(app.clone().oneshot(request("/maybe", None)).await.unwrap()).await, "anonymous");
    let token = issuer.token().subject("bob").sign();
    assert_eq!(body(app.clone().oneshot(request("/maybe", Some(&token))).await.unwrap()).await, "bob");
    // Bad credentials are still refused.
    let resp = app.clone().oneshot(request("/maybe", Some("not-a-jwt"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // A handler that needs a principal answers 401 with the layer's challenge.
    let resp = app.clone().oneshot(request("/me", None)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], r#"Bearer realm="test""#);
    let resp = app.oneshot(request("/write", None)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn extractor_without_layer_is_a_server_error() {
    let app: Router = Router::new()
        .route("/me", get(|Principal(p): Principal| async move { p.subject().to_owned() }))
        .route("/maybe", get(|p: Option<Principal>| async move { format!("{}", p.is_some()) }));
    for path in ["/me", "/maybe"] {
        let resp = app.clone().oneshot(request(path, None)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert!(body(resp).await.contains("AuthLayer"), "{path}");
    }
}

#[tokio::test]
async fn rejection_is_problem_json_without_the_token() {
    let (issuer, auth) = setup(false);
    let token = issuer.token().expires_in(-3600).sign();
    let resp = app(auth).oneshot(request("/me", Some(&token))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let text = body(resp).await;
    assert!(text.contains("expired"), "{text}");
    assert!(!text.contains(&token[..20]));
}
