use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use serde::Deserialize;
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::testkit::LocalIssuer;
use tower_auth::{AuthError, AuthErrorKind, Authenticator, HeaderLookup, RequestView, ScopeRequirement, ScopeSet};

use crate::{
    ActixRequestView, AuthMiddleware, AuthRejection, Claims, Principal, RequireScopes, Scoped, default_rejection,
};

const AUDIENCE: &str = "https://api.test";

fn setup(optional: bool) -> (LocalIssuer, Authenticator) {
    let issuer = LocalIssuer::new("https://issuer.test");
    issuer.set_default_audience(AUDIENCE);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUDIENCE)
        .build()
        .expect("validator");
    let auth = Authenticator::builder().jwt(validator).optional(optional).build().expect("authenticator");
    (issuer, auth)
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn header(res: &ServiceResponse<impl MessageBody>, name: &str) -> String {
    res.headers().get(name).map(|v| v.to_str().expect("ASCII").to_owned()).unwrap_or_default()
}

fn kind(res: &ServiceResponse<impl MessageBody>) -> Option<AuthErrorKind> {
    res.response().extensions().get::<AuthError>().map(AuthError::kind)
}

async fn whoami(who: Principal) -> String {
    who.subject().to_owned()
}

struct OrdersWrite;

impl ScopeSet for OrdersWrite {
    fn requirement() -> ScopeRequirement {
        ScopeRequirement::all_of(["orders:write"])
    }
}

/// The app most tests run against.
fn app(
    auth: Authenticator,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(AuthMiddleware::new(auth))
        .route("/me", web::get().to(whoami))
        .route(
            "/maybe",
            web::get().to(|who: Option<Principal>| async move {
                who.map_or_else(|| "anonymous".to_owned(), |p| p.subject().to_owned())
            }),
        )
        .route("/scoped", web::post().to(|who: Scoped<OrdersWrite>| async move { who.subject().to_owned() }))
        .service(
            web::scope("/orders")
                .wrap(RequireScopes::all_of(["orders:write"]))
                .route("", web::post().to(HttpResponse::Created)),
        )
        .service(
            web::resource("/reports")
                .wrap(RequireScopes::any_of(["reports:read", "admin"]))
                .route(web::get().to(HttpResponse::Ok)),
        )
}

#[actix_web::test]
async fn valid_token_reaches_handler_with_subject() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(app(auth)).await;
    let token = issuer.token().subject("alice").sign();
    let res = test::call_service(&app, TestRequest::get().uri("/me").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(kind(&res), None);
    assert_eq!(test::read_body(res).await, "alice");
}

#[actix_web::test]
async fn no_credentials_is_401_with_bare_challenge() {
    let (_issuer, auth) = setup(false);
    let app = test::init_service(app(auth)).await;
    let res = test::call_service(&app, TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "www-authenticate"), "Bearer");
    assert!(!header(&res, "www-authenticate").contains("error="));
    assert_eq!(header(&res, "content-type"), "application/problem+json");
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(kind(&res), Some(AuthErrorKind::MissingCredentials));
    let body: serde_json::Value = serde_json::from_slice(&test::read_body(res).await).expect("JSON");
    assert_eq!(body["status"], 401);
    assert!(body.get("error").is_none());
}

#[actix_web::test]
async fn unsupported_scheme_is_like_no_credentials() {
    let (_issuer, auth) = setup(false);
    let app = test::init_service(app(auth)).await;
    let req = TestRequest::get().uri("/me").insert_header(("authorization", "Basic dXNlcjpwYXNz")).to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "www-authenticate"), "Bearer");
}

#[actix_web::test]
async fn garbage_bearer_is_400_invalid_request() {
    let (_issuer, auth) = setup(false);
    let app = test::init_service(app(auth)).await;
    let req = TestRequest::get().uri("/me").insert_header(("authorization", "Bearer !!!")).to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(header(&res, "www-authenticate").contains(r#"error="invalid_request""#));
    assert_eq!(kind(&res), Some(AuthErrorKind::MalformedRequest));
}

#[actix_web::test]
async fn two_authorization_headers_are_400() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(app(auth)).await;
    let token = issuer.token().sign();
    let req = TestRequest::get().uri("/me").append_header(bearer(&token)).append_header(bearer(&token)).to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(header(&res, "www-authenticate").contains(r#"error="invalid_request""#));
    assert_eq!(kind(&res), Some(AuthErrorKind::MultipleCredentials));
}

#[actix_web::test]
async fn expired_token_is_401_invalid_token() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(app(auth)).await;
    let token = issuer.token().expires_in(-3600).sign();
    let res = test::call_service(&app, TestRequest::get().uri("/me").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&res, "www-authenticate").contains(r#"error="invalid_token""#));
    assert_eq!(kind(&res), Some(AuthErrorKind::Expired));
}

#[actix_web::test]
async fn bad_credentials_never_reach_the_handler() {
    let (issuer, auth) = setup(false);
    let called = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen = called.clone();
    let app = test::init_service(App::new().wrap(AuthMiddleware::new(auth)).default_service(web::to(move || {
        seen.set(true);
        async { HttpResponse::Ok().finish() }
    })))
    .await;
    let token = issuer.token().audience("https://other.test").sign();
    let res = test::call_service(&app, TestRequest::get().uri("/x").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(kind(&res), Some(AuthErrorKind::InvalidAudience));
    assert!(!called.get());
}

#[actix_web::test]
async fn require_scopes_on_scope_and_resource() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(app(auth)).await;
    let call = |path: &'static str, method: &'static str, scope: &str| {
        let token = issuer.token().scope(scope).sign();
        let req = match method {
            "POST" => TestRequest::post(),
            _ => TestRequest::get(),
        };
        req.uri(path).insert_header(bearer(&token)).to_request()
    };

    let res = test::call_service(&app, call("/orders", "POST", "orders:read")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let www = header(&res, "www-authenticate");
    assert!(www.contains(r#"error="insufficient_scope""#), "{www}");
    assert!(www.contains(r#"scope="orders:write""#), "{www}");
    assert_eq!(kind(&res), Some(AuthErrorKind::InsufficientScope));
    let body: serde_json::Value = serde_json::from_slice(&test::read_body(res).await).expect("JSON");
    assert_eq!(body["scope"], "orders:write");

    let res = test::call_service(&app, call("/orders", "POST", "orders:read orders:write")).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let res = test::call_service(&app, call("/reports", "GET", "admin")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = test::call_service(&app, call("/reports", "GET", "orders:write")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(header(&res, "www-authenticate").contains(r#"scope="reports:read admin""#));
}

#[actix_web::test]
async fn require_scopes_anonymous_is_401_and_without_middleware_500() {
    let (_issuer, auth) = setup(true);
    let app = test::init_service(app(auth)).await;
    let res = test::call_service(&app, TestRequest::post().uri("/orders").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "www-authenticate"), "Bearer");

    let bare = test::init_service(App::new().service(
        web::resource("/orders").wrap(RequireScopes::all_of(["orders:write"])).route(web::post().to(HttpResponse::Ok)),
    ))
    .await;
    let res = test::call_service(&bare, TestRequest::post().uri("/orders").to_request()).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(kind(&res), Some(AuthErrorKind::Misconfigured));
    assert_eq!(header(&res, "www-authenticate"), "");
}

#[actix_web::test]
async fn scoped_extractor_is_403_without_scope() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(app(auth)).await;
    let token = issuer.token().subject("bob").scope("orders:read").sign();
    let res =
        test::call_service(&app, TestRequest::post().uri("/scoped").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let www = header(&res, "www-authenticate");
    assert!(www.contains(r#"error="insufficient_scope""#), "{www}");
    assert!(www.contains(r#"scope="orders:write""#), "{www}");
    assert_eq!(kind(&res), Some(AuthErrorKind::InsufficientScope));

    let token = issuer.token().subject("carol").scope("orders:write").sign();
    let res =
        test::call_service(&app, TestRequest::post().uri("/scoped").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(test::read_body(res).await, "carol");
}

#[actix_web::test]
async fn optional_auth_gives_none_for_anonymous() {
    let (issuer, auth) = setup(true);
    let app = test::init_service(app(auth)).await;
    let res = test::call_service(&app, TestRequest::get().uri("/maybe").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(test::read_body(res).await, "anonymous");

    let token = issuer.token().subject("alice").sign();
    let res =
        test::call_service(&app, TestRequest::get().uri("/maybe").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(test::read_body(res).await, "alice");

    // Bad credentials are still rejected in optional mode.
    let res = test::call_service(
        &app,
        TestRequest::get().uri("/maybe").insert_header(("authorization", "Bearer !!!")).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // A route that needs a principal answers 401 (with the challenge) to an anonymous caller.
    let res = test::call_service(&app, TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "www-authenticate"), "Bearer");
    assert_eq!(kind(&res), Some(AuthErrorKind::MissingCredentials));
}

#[actix_web::test]
async fn principal_without_middleware_is_500() {
    let app = test::init_service(App::new().route("/me", web::get().to(whoami))).await;
    let res = test::call_service(&app, TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(kind(&res), Some(AuthErrorKind::Misconfigured));
    assert_eq!(header(&res, "www-authenticate"), "");
    assert_eq!(header(&res, "content-type"), "application/problem+json");
}

#[actix_web::test]
async fn custom_rejection_is_used_and_carries_the_error() {
    let (issuer, auth) = setup(false);
    let middleware = AuthMiddleware::new(auth).with_rejection(|error: AuthError| {
        HttpResponse::build(StatusCode::IM_A_TEAPOT).insert_header(("x-reason", error.kind().as_str())).body("nope")
    });
    let app = test::init_service(App::new().wrap(middleware).route("/me", web::get().to(whoami)).service(
        web::resource("/orders").wrap(RequireScopes::all_of(["orders:write"])).route(web::post().to(HttpResponse::Ok)),
    ))
    .await;
    let res = test::call_service(&app, TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(header(&res, "x-reason"), "missing_credentials");
    assert_eq!(kind(&res), Some(AuthErrorKind::MissingCredentials));
    assert_eq!(test::read_body(res).await, "nope");

    // RequireScopes behind the middleware answers through the same hook.
    let token = issuer.token().scope("orders:read").sign();
    let res =
        test::call_service(&app, TestRequest::post().uri("/orders").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(header(&res, "x-reason"), "insufficient_scope");
    assert_eq!(kind(&res), Some(AuthErrorKind::InsufficientScope));
}

#[actix_web::test]
async fn default_rejection_renders_response_parts_exactly() {
    let (_issuer, auth) = setup(false);
    let app = test::init_service(app(auth)).await;
    let res = test::call_service(
        &app,
        TestRequest::get().uri("/me").insert_header(("authorization", "Bearer !!!")).to_request(),
    )
    .await;
    let error = res.response().extensions().get::<AuthError>().cloned().expect("error in extensions");
    let parts = error.response_parts();
    assert_eq!(res.status().as_u16(), parts.status.as_u16());
    assert_eq!(res.headers().len(), parts.headers.len());
    for (name, value) in &parts.headers {
        assert_eq!(header(&res, name), value.as_ref(), "{name}");
    }
    assert_eq!(test::read_body(res).await, parts.body);
}

#[actix_web::test]
async fn realm_reaches_extractor_challenges() {
    let issuer = LocalIssuer::new("https://issuer.test");
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUDIENCE)
        .build()
        .expect("validator");
    let auth = Authenticator::builder().jwt(validator).optional(true).realm("api").build().expect("authenticator");
    let app = test::init_service(app(auth)).await;
    let res = test::call_service(&app, TestRequest::post().uri("/scoped").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "www-authenticate"), r#"Bearer realm="api""#);
}

#[derive(Debug, Deserialize)]
struct TenantClaims {
    sub: String,
    tenant: String,
}

#[actix_web::test]
async fn typed_claims() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(
        App::new().wrap(AuthMiddleware::new(auth)).route(
            "/tenant",
            web::get()
                .to(|Claims(claims): Claims<TenantClaims>| async move { format!("{}@{}", claims.sub, claims.tenant) }),
        ),
    )
    .await;
    let token = issuer.token().subject("alice").claim("tenant", "acme").sign();
    let res =
        test::call_service(&app, TestRequest::get().uri("/tenant").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(test::read_body(res).await, "alice@acme");

    let token = issuer.token().sign();
    let res =
        test::call_service(&app, TestRequest::get().uri("/tenant").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&res, "www-authenticate").contains(r#"error="invalid_token""#));
    assert_eq!(kind(&res), Some(AuthErrorKind::MissingClaim));
}

#[actix_web::test]
async fn middleware_on_a_scope_only() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(
        App::new()
            .route("/healthz", web::get().to(HttpResponse::Ok))
            .service(web::scope("/api").wrap(AuthMiddleware::new(auth)).route("/me", web::get().to(whoami))),
    )
    .await;
    let res = test::call_service(&app, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = test::call_service(&app, TestRequest::get().uri("/api/me").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let token = issuer.token().subject("dave").sign();
    let res =
        test::call_service(&app, TestRequest::get().uri("/api/me").insert_header(bearer(&token)).to_request()).await;
    assert_eq!(test::read_body(res).await, "dave");
}

#[actix_web::test]
async fn inner_service_errors_pass_through() {
    let (issuer, auth) = setup(false);
    let app =
        test::init_service(App::new().wrap(AuthMiddleware::new(auth)).route(
            "/fail",
            web::get().to(|| async { Err::<HttpResponse, _>(actix_web::error::ErrorConflict("busy")) }),
        ))
        .await;
    let token = issuer.token().sign();
    let res =
        app.call(TestRequest::get().uri("/fail").insert_header(bearer(&token)).to_request()).await.expect("response");
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(kind(&res), None);
}

#[test]
fn view_reads_the_request() {
    let peer: SocketAddr = "192.0.2.7:4242".parse().expect("addr");
    let req = TestRequest::post()
        .uri("/orders/1?x=1&y=2")
        .insert_header(("host", "api.test:8443"))
        .append_header(("x-dup", "a"))
        .append_header(("x-dup", "b"))
        .insert_header(("authorization", "Bearer abc"))
        .peer_addr(peer)
        .to_srv_request();
    let view = ActixRequestView::from(&req);
    assert_eq!(view.method(), "POST");
    assert_eq!(view.path(), "/orders/1");
    assert_eq!(view.query(), Some("x=1&y=2"));
    assert_eq!(view.authority(), Some("api.test:8443"));
    assert_eq!(view.header("authorization"), HeaderLookup::One(b"Bearer abc"));
    assert_eq!(view.header("x-dup"), HeaderLookup::Many);
    assert_eq!(view.header("x-missing"), HeaderLookup::Missing);
    assert_eq!(view.peer_addr(), Some(peer));
    assert_eq!(view.client_certificate(), None);

    let req = TestRequest::get().uri("/").to_http_request();
    let view = ActixRequestView::new(&req);
    assert_eq!(view.query(), None);
    assert_eq!(view.authority(), None);
    assert_eq!(view.peer_addr(), None);

    let req = TestRequest::get().uri("https://api.example/x?").to_http_request();
    let view = ActixRequestView::new(&req);
    assert_eq!(view.authority(), Some("api.example"));
    assert_eq!(view.query(), None);
}

#[test]
fn rejection_display_and_debug_hold_no_secrets() {
    use actix_web::ResponseError;

    let rejection = AuthRejection(AuthError::new(AuthErrorKind::Expired));
    assert_eq!(rejection.status_code(), StatusCode::UNAUTHORIZED);
    assert_eq!(rejection.to_string(), "The access token expired (expired)");
    assert!(format!("{rejection:?}").contains("Expired"));
    let response = rejection.error_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .headers()
            .get("www-authenticate")
            .expect("header")
            .to_str()
            .expect("ASCII")
            .contains(r#"error="invalid_token""#)
    );
    assert_eq!(response.extensions().get::<AuthError>().map(AuthError::kind), Some(AuthErrorKind::Expired));

    let misconfigured = AuthRejection::from(AuthErrorKind::Misconfigured);
    assert_eq!(misconfigured.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(misconfigured.to_string().contains("AuthMiddleware"));

    let retry = default_rejection(AuthError::unavailable(7));
    assert_eq!(retry.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.headers().get("retry-after").expect("header"), "7");
    assert!(retry.headers().get("www-authenticate").is_none());
}
