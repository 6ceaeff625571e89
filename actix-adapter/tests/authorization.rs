//! `Authorize` (middleware on a scope / resource) and the `Authorized<R>` extractor, in process.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use serde_json::json;
use tower_auth::authz::{AccessRule, Authorization, Decision, IpRange, Policy, PolicyContext, Requirement};
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::testkit::LocalIssuer;
use tower_auth::{AuthError, AuthErrorKind, Authenticator, ManualClock, RoleClaims};
use tower_auth_actix::{AuthMiddleware, Authorize, Authorized, Principal};

const AUD: &str = "https://api.test";
/// 2023-11-14T00:00:00Z.
const MIDNIGHT: u64 = 1_699_920_000;

/// The clock of the policies below; only `policy_by_time` moves it, and it runs alone in its app.
static CLOCK: LazyLock<ManualClock> = LazyLock::new(|| ManualClock::at_unix(MIDNIGHT + 10 * 3600));

fn office_policy(clock: &ManualClock) -> Policy {
    let office: IpRange = "192.0.2.0/24".parse().expect("range");
    Policy::from_fn(move |ctx: PolicyContext| async move {
        ctx.client_ip().is_some_and(|ip| office.contains(ip)) && (9..17).contains(&ctx.utc_hour())
    })
    .with_clock(clock.clone())
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
        Authorization::new(Requirement::role("reporter")).policy(office_policy(&CLOCK))
    }
}

fn setup(optional: bool) -> (LocalIssuer, Authenticator) {
    let issuer = LocalIssuer::new("https://acme.okta.com/oauth2/default");
    issuer.set_default_audience(AUD);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()).roles_from(RoleClaims::well_known()))
        .audience(AUD)
        .build()
        .expect("validator");
    let auth = Authenticator::builder().jwt(validator).optional(optional).realm("api").build().expect("authenticator");
    (issuer, auth)
}

fn app(
    auth: Authenticator,
    clock: ManualClock,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().wrap(AuthMiddleware::new(auth)).service(
        web::scope("")
            .service(
                web::scope("/reports")
                    .wrap(Authorize::new(Requirement::role("reporter")))
                    .route("", web::get().to(|who: Principal| async move { who.subject().to_owned() })),
            )
            .service(
                web::resource("/scoped-role")
                    .wrap(Authorize::new(Requirement::all_scopes(["reports:read"]).and(Requirement::role("reporter"))))
                    .route(web::get().to(HttpResponse::Ok)),
            )
            .service(
                web::resource("/tenant")
                    .wrap(Authorize::new(Requirement::claim_equals("org.tenant", "acme")))
                    .route(web::get().to(HttpResponse::Ok)),
            )
            .service(
                web::resource("/bound")
                    .wrap(Authorize::new(Requirement::sender_constrained()))
                    .route(web::get().to(HttpResponse::Ok)),
            )
            .service(
                web::resource("/office")
                    .wrap(Authorize::new(
                        Authorization::new(Requirement::role("reporter")).policy(office_policy(&clock)),
                    ))
                    .route(web::get().to(HttpResponse::Ok)),
            )
            .service(
                web::resource("/busy")
                    .wrap(Authorize::new(Policy::from_fn(|_| async { Decision::unavailable(Duration::from_secs(3)) })))
                    .route(web::get().to(HttpResponse::Ok)),
            )
            .route("/extract", web::get().to(|who: Authorized<Reporters>| async move { who.subject().to_owned() }))
            .route(
                "/extract-office",
                web::get().to(|who: Authorized<OfficeReporters>| async move { who.subject().to_owned() }),
            ),
    )
}

fn get(path: &str, token: Option<&str>, peer: &str) -> TestRequest {
    let mut req = TestRequest::get().uri(path).peer_addr(peer.parse::<SocketAddr>().expect("addr"));
    if let Some(token) = token {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    req
}

fn header(res: &ServiceResponse<impl MessageBody>, name: &str) -> String {
    res.headers().get(name).map(|v| v.to_str().expect("ASCII").to_owned()).unwrap_or_default()
}

fn kind(res: &ServiceResponse<impl MessageBody>) -> Option<AuthErrorKind> {
    res.response().extensions().get::<AuthError>().map(AuthError::kind)
}

fn assert_forbidden(res: &ServiceResponse<impl MessageBody>, path: &str) {
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    assert_eq!(header(res, "www-authenticate"), "", "{path}");
    assert_eq!(header(res, "content-type"), "application/problem+json", "{path}");
    assert_eq!(kind(res), Some(AuthErrorKind::Forbidden), "{path}");
}

const OFFICE: &str = "192.0.2.10:40000";

#[actix_web::test]
async fn roles_by_middleware_and_extractor() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(app(auth, CLOCK.clone())).await;
    let okta = issuer.token().subject("okta-user").claim("groups", json!(["Everyone", "reporter"])).sign();
    let entra = issuer.token().subject("entra-user").claim("roles", json!(["reporter"])).sign();
    let viewer = issuer.token().subject("v").claim("groups", json!(["Everyone"])).sign();
    for path in ["/reports", "/extract"] {
        for (token, sub) in [(&okta, "okta-user"), (&entra, "entra-user")] {
            let res = test::call_service(&app, get(path, Some(token), OFFICE).to_request()).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert_eq!(test::read_body(res).await, sub);
        }
        assert_forbidden(&test::call_service(&app, get(path, Some(&viewer), OFFICE).to_request()).await, path);
    }
}

#[actix_web::test]
async fn anonymous_is_401_and_without_middleware_500() {
    let (_issuer, auth) = setup(true);
    let app = test::init_service(app(auth, CLOCK.clone())).await;
    for path in ["/reports", "/extract", "/office", "/extract-office", "/tenant"] {
        let res = test::call_service(&app, get(path, None, OFFICE).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(header(&res, "www-authenticate"), r#"Bearer realm="api""#, "{path}");
        assert_eq!(kind(&res), Some(AuthErrorKind::MissingCredentials), "{path}");
    }

    let bare = test::init_service(
        App::new()
            .service(
                web::resource("/reports")
                    .wrap(Authorize::new(Requirement::role("reporter")))
                    .route(web::get().to(HttpResponse::Ok)),
            )
            .route("/extract", web::get().to(|who: Authorized<Reporters>| async move { who.subject().to_owned() })),
    )
    .await;
    for path in ["/reports", "/extract"] {
        let res = test::call_service(&bare, get(path, None, OFFICE).to_request()).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(kind(&res), Some(AuthErrorKind::Misconfigured), "{path}");
    }
}

#[actix_web::test]
async fn scopes_claims_and_binding() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(app(auth, CLOCK.clone())).await;
    let reporter = issuer.token().claim("roles", json!(["reporter"])).claim("org", json!({"tenant": "acme"})).sign();
    let res = test::call_service(&app, get("/scoped-role", Some(&reporter), OFFICE).to_request()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        header(&res, "www-authenticate"),
        r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="reports:read""#
    );
    let scoped = issuer.token().scope("reports:read").claim("roles", json!(["reporter"])).sign();
    assert_eq!(
        test::call_service(&app, get("/scoped-role", Some(&scoped), OFFICE).to_request()).await.status(),
        StatusCode::OK
    );

    assert_eq!(
        test::call_service(&app, get("/tenant", Some(&reporter), OFFICE).to_request()).await.status(),
        StatusCode::OK
    );
    assert_forbidden(&test::call_service(&app, get("/tenant", Some(&scoped), OFFICE).to_request()).await, "/tenant");
    // A bearer token is never sender-constrained.
    assert_forbidden(&test::call_service(&app, get("/bound", Some(&reporter), OFFICE).to_request()).await, "/bound");
}

#[actix_web::test]
async fn policy_by_ip() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(app(auth, CLOCK.clone())).await;
    let reporter = issuer.token().subject("r").claim("roles", json!(["reporter"])).sign();
    let viewer = issuer.token().claim("roles", json!(["viewer"])).sign();
    for path in ["/office", "/extract-office"] {
        assert_eq!(
            test::call_service(&app, get(path, Some(&reporter), OFFICE).to_request()).await.status(),
            StatusCode::OK,
            "{path}"
        );
        assert_forbidden(
            &test::call_service(&app, get(path, Some(&reporter), "198.51.100.1:40000").to_request()).await,
            path,
        );
        assert_forbidden(
            &test::call_service(&app, get(path, Some(&reporter), "[::ffff:198.51.100.1]:1").to_request()).await,
            path,
        );
        assert_eq!(
            test::call_service(&app, get(path, Some(&reporter), "[::ffff:192.0.2.3]:1").to_request()).await.status(),
            StatusCode::OK,
            "{path}"
        );
        // The requirement comes first.
        assert_forbidden(&test::call_service(&app, get(path, Some(&viewer), OFFICE).to_request()).await, path);
    }
}

#[actix_web::test]
async fn policy_by_time() {
    let (issuer, auth) = setup(false);
    let clock = ManualClock::at_unix(MIDNIGHT + 8 * 3600);
    let app = test::init_service(app(auth, clock.clone())).await;
    let reporter = issuer.token().claim("roles", json!(["reporter"])).sign();
    assert_forbidden(&test::call_service(&app, get("/office", Some(&reporter), OFFICE).to_request()).await, "/office");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        test::call_service(&app, get("/office", Some(&reporter), OFFICE).to_request()).await.status(),
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(8 * 3600));
    assert_forbidden(&test::call_service(&app, get("/office", Some(&reporter), OFFICE).to_request()).await, "/office");
}

#[actix_web::test]
async fn undecided_policy_is_503_and_custom_rejection_is_used() {
    let (issuer, auth) = setup(false);
    let app = test::init_service(app(auth.clone(), CLOCK.clone())).await;
    let token = issuer.token().sign();
    let res = test::call_service(&app, get("/busy", Some(&token), OFFICE).to_request()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&res, "retry-after"), "3");

    let custom = test::init_service(
        App::new()
            .wrap(AuthMiddleware::new(auth).with_rejection(|error: AuthError| {
                HttpResponse::build(StatusCode::IM_A_TEAPOT).insert_header(("x-reason", error.kind().as_str())).finish()
            }))
            .service(
                web::resource("/reports")
                    .wrap(Authorize::new(Requirement::role("reporter")))
                    .route(web::get().to(HttpResponse::Ok)),
            ),
    )
    .await;
    let res = test::call_service(&custom, get("/reports", Some(&token), OFFICE).to_request()).await;
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(header(&res, "x-reason"), "forbidden");
    assert_eq!(kind(&res), Some(AuthErrorKind::Forbidden));
}
