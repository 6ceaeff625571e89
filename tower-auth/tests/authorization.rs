//! Roles mapped by the JWT validator, and `AuthorizeLayer` (requirements and policies) behind
//! `AuthLayer`, in process.
#![cfg(feature = "test-util")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};
use tower_auth::authz::{IpRange, PolicyContext};
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::testkit::LocalIssuer;
use tower_auth::{
    AuthError, AuthErrorKind, AuthLayer, Authenticator, Authorization, AuthorizeLayer, ManualClock, Mechanism,
    PeerAddr, Policy, Requirement, RoleClaims,
};

const AUD: &str = "https://api.test";
/// 2023-11-14T00:00:00Z.
const MIDNIGHT: u64 = 1_699_920_000;

fn issuer(name: &str) -> LocalIssuer {
    let issuer = LocalIssuer::new(name);
    issuer.set_default_audience(AUD);
    issuer
}

fn authenticator(issuers: &[(&LocalIssuer, RoleClaims)], optional: bool) -> Authenticator {
    let mut builder = JwtValidator::builder().audience(AUD);
    for (issuer, roles) in issuers {
        builder = builder.issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()).roles_from(roles.clone()));
    }
    Authenticator::builder().jwt(builder.build().unwrap()).optional(optional).realm("api").build().unwrap()
}

async fn roles_of(auth: &Authenticator, token: &str) -> Vec<String> {
    auth.jwt().unwrap().validate(token).await.unwrap().roles().to_vec()
}

#[tokio::test]
async fn keycloak_auth0_okta_entra_tokens_map_to_roles() {
    let keycloak = issuer("https://sso.example.com/realms/acme");
    let auth0 = issuer("https://acme.eu.auth0.com/");
    let okta = issuer("https://acme.okta.com/oauth2/default");
    let entra = issuer("https://login.microsoftonline.com/72f9/v2.0");
    let auth = authenticator(
        &[
            (&keycloak, RoleClaims::keycloak_client("orders-api")),
            (&auth0, RoleClaims::auth0().claim("https://example.com/roles")),
            (&okta, RoleClaims::okta()),
            (&entra, RoleClaims::entra_id()),
        ],
        false,
    );

    let token = keycloak
        .token()
        .claim("azp", "orders-web")
        .claim("realm_access", json!({"roles": ["offline_access", "reporter"]}))
        .claim(
            "resource_access",
            json!({"orders-api": {"roles": ["orders-admin"]}, "account": {"roles": ["manage-account"]}}),
        )
        .sign();
    assert_eq!(roles_of(&auth, &token).await, ["offline_access", "reporter", "orders-admin"]);

    let token = auth0
        .token()
        .subject("auth0|64a1")
        .scope("openid read:reports")
        .claim("permissions", json!(["read:reports"]))
        .claim("https://example.com/roles", json!(["reporter"]))
        .sign();
    assert_eq!(roles_of(&auth, &token).await, ["read:reports", "reporter"]);

    let token = okta
        .token()
        .claim("cid", "0oa1")
        .claim("scp", json!(["openid"]))
        .claim("groups", json!(["Everyone", "reporter"]))
        .sign();
    assert_eq!(roles_of(&auth, &token).await, ["Everyone", "reporter"]);

    let token = entra.token().claim("roles", json!(["Reports.Read"])).claim("groups", json!(["0b5f"])).sign();
    assert_eq!(roles_of(&auth, &token).await, ["Reports.Read"]);

    // Roles are per issuer: Okta's mapping does not read `roles`.
    let token = okta.token().claim("roles", json!(["reporter"])).sign();
    assert!(roles_of(&auth, &token).await.is_empty());
}

#[tokio::test]
async fn roles_are_off_until_configured_and_bad_paths_fail_at_start() {
    let local = issuer("https://issuer.test");
    let auth = authenticator(&[(&local, RoleClaims::none())], false);
    let token = local.token().claim("roles", json!(["reporter"])).sign();
    assert!(roles_of(&auth, &token).await.is_empty());

    let bad = JwtValidator::builder()
        .audience(AUD)
        .issuer(Issuer::with_jwks(local.issuer(), local.jwks_json()).roles_from(RoleClaims::none().path("a..b")))
        .build();
    assert!(bad.unwrap_err().message().contains("a..b"));
}

type Svc = tower::util::BoxCloneService<Request<String>, Response<String>, Infallible>;

fn guarded(auth: Authenticator, authorization: impl Into<Authorization>) -> Svc {
    ServiceBuilder::new()
        .boxed_clone()
        .layer(AuthLayer::new(auth))
        .layer(AuthorizeLayer::new(authorization))
        .service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new("ok".to_owned())) })
}

async fn call(svc: &Svc, token: Option<&str>, peer: Option<&str>) -> Response<String> {
    let mut req = Request::builder().uri("/reports");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    if let Some(peer) = peer {
        req = req.extension(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
    }
    svc.clone().oneshot(req.body(String::new()).unwrap()).await.unwrap()
}

fn kind(res: &Response<String>) -> Option<AuthErrorKind> {
    res.extensions().get::<AuthError>().map(AuthError::kind)
}

fn assert_forbidden(res: &Response<String>) {
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("www-authenticate").is_none());
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(kind(res), Some(AuthErrorKind::Forbidden));
    let body: serde_json::Value = serde_json::from_str(res.body()).unwrap();
    assert_eq!(body["status"], 403);
    assert!(body.get("error").is_none());
}

#[tokio::test]
async fn each_requirement_kind_through_the_layer() {
    let local = issuer("https://issuer.test");
    let auth = authenticator(&[(&local, RoleClaims::well_known())], false);
    let clock = ManualClock::starting_now();
    local.set_clock(clock.clone());
    let reporter = local
        .token()
        .scope("reports:read")
        .claim("realm_access", json!({"roles": ["reporter"]}))
        .claim("tenant", "acme")
        .claim("amr", json!(["pwd", "mfa"]))
        .sign();
    let viewer = local.token().scope("orders:read").claim("groups", json!(["viewer"])).claim("tenant", "other").sign();

    // (requirement, whether the reporter passes, whether the viewer passes)
    let cases: Vec<(Requirement, bool, bool)> = vec![
        (Requirement::role("reporter"), true, false),
        (Requirement::any_role(["viewer", "reporter"]), true, true),
        (Requirement::all_roles(["reporter", "viewer"]), false, false),
        (Requirement::claim_equals("tenant", "acme"), true, false),
        (Requirement::claim_contains("amr", "mfa"), true, false),
        (Requirement::claim_contains("amr", "hwk"), false, false),
        (Requirement::mechanism(Mechanism::Jwt), true, true),
        (Requirement::mechanism(Mechanism::ApiKey), false, false),
        (Requirement::sender_constrained(), false, false),
        (Requirement::max_token_age(Duration::from_secs(300)).with_clock(clock.clone()), true, true),
        (Requirement::role("reporter").and(Requirement::claim_equals("tenant", "acme")), true, false),
        (Requirement::role("viewer").or(Requirement::claim_equals("tenant", "acme")), true, true),
    ];
    for (requirement, reporter_passes, viewer_passes) in cases {
        let svc = guarded(auth.clone(), requirement.clone());
        for (token, passes) in [(&reporter, reporter_passes), (&viewer, viewer_passes)] {
            let res = call(&svc, Some(token), None).await;
            if passes {
                assert_eq!(res.status(), StatusCode::OK, "{requirement:?}");
                assert_eq!(res.body(), "ok");
            } else {
                assert_forbidden(&res);
            }
        }
        // No credentials: 401 with the bare challenge, whatever the requirement.
        let res = call(&svc, None, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="api""#);
    }

    // Token age moves with the clock (the verified-token cache keeps the principal, not the decision).
    let fresh = guarded(auth.clone(), Requirement::max_token_age(Duration::from_secs(300)).with_clock(clock.clone()));
    assert_eq!(call(&fresh, Some(&reporter), None).await.status(), StatusCode::OK);
    clock.advance(Duration::from_secs(301));
    assert_forbidden(&call(&fresh, Some(&reporter), None).await);

    // Scope failures keep RFC 6750's answer.
    let scoped = guarded(auth.clone(), Requirement::all_scopes(["reports:read"]).and(Requirement::role("reporter")));
    assert_eq!(call(&scoped, Some(&reporter), None).await.status(), StatusCode::OK);
    let res = call(&scoped, Some(&viewer), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(kind(&res), Some(AuthErrorKind::Forbidden)); // the role fails too: scopes alone would not do
    let scoped = guarded(auth, Requirement::all_scopes(["reports:read"]));
    let res = call(&scoped, Some(&viewer), None).await;
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="reports:read""#
    );
}

fn office_policy(clock: &ManualClock) -> Policy {
    let office: IpRange = "192.0.2.0/24".parse().unwrap();
    Policy::from_fn(move |ctx: PolicyContext| async move {
        ctx.client_ip().is_some_and(|ip| office.contains(ip)) && (9..17).contains(&ctx.utc_hour())
    })
    .with_clock(clock.clone())
}

#[tokio::test]
async fn policy_by_ip_and_hours_through_the_layer() {
    let local = issuer("https://issuer.test");
    let auth = authenticator(&[(&local, RoleClaims::well_known())], true);
    let clock = ManualClock::at_unix(MIDNIGHT + 10 * 3600);
    let svc = guarded(auth, Authorization::new(Requirement::role("reporter")).policy(office_policy(&clock)));
    let reporter = local.token().claim("roles", json!(["reporter"])).sign();
    let viewer = local.token().claim("roles", json!(["viewer"])).sign();

    assert_eq!(call(&svc, Some(&reporter), Some("192.0.2.10:40000")).await.status(), StatusCode::OK);
    // Wrong network, or no known peer: 403.
    assert_forbidden(&call(&svc, Some(&reporter), Some("198.51.100.1:40000")).await);
    assert_forbidden(&call(&svc, Some(&reporter), None).await);
    // After hours: 403.
    clock.advance(Duration::from_secs(7 * 3600));
    assert_forbidden(&call(&svc, Some(&reporter), Some("192.0.2.10:40000")).await);
    clock.advance(Duration::from_secs(16 * 3600));
    assert_eq!(call(&svc, Some(&reporter), Some("192.0.2.10:40000")).await.status(), StatusCode::OK);
    // The requirement is checked first.
    assert_forbidden(&call(&svc, Some(&viewer), Some("192.0.2.10:40000")).await);
    // Anonymous (optional authentication): 401, the policy never runs.
    let res = call(&svc, None, Some("192.0.2.10:40000")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="api""#);
}

#[tokio::test]
async fn a_policy_that_cannot_decide_fails_closed() {
    let local = issuer("https://issuer.test");
    let auth = authenticator(&[(&local, RoleClaims::none())], false);
    let svc = guarded(
        auth,
        Policy::from_fn(|_ctx| async { tower_auth::authz::Decision::unavailable(Duration::from_secs(5)) }),
    );
    let res = call(&svc, Some(&local.token().sign()), None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(kind(&res), Some(AuthErrorKind::Unavailable));
}

#[tokio::test]
async fn without_authentication_in_front_is_500() {
    let svc = ServiceBuilder::new()
        .layer(AuthorizeLayer::new(Requirement::role("reporter")))
        .service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) });
    let res = svc.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(kind(&res), Some(AuthErrorKind::Misconfigured));
}
