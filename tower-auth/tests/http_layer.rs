//! The Tower layers over `http` 1 (RFC-CHECKLIST sections A and H): status, `WWW-Authenticate`,
//! `application/problem+json` bodies, the `AuthError` in the rejection's extensions, scopes,
//! optional authentication and CORS preflights.
#![cfg(feature = "test-util")]

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::testkit::{LocalIssuer, TestIssuer};
use tower_auth::{
    AuthContext, AuthError, AuthErrorKind, AuthLayer, Authenticator, ManualClock, Principal, RequireScopesLayer,
    ScopeRequirement,
};

use common::{AUD, T0, b64, segments, unb64};

const ISS: &str = "https://issuer.tower-auth.test";
const REALM: &str = "api";

struct Env {
    issuer: LocalIssuer,
    auth: Authenticator,
    calls: Arc<AtomicUsize>,
}

fn env_with(configure: impl FnOnce(tower_auth::AuthenticatorBuilder) -> tower_auth::AuthenticatorBuilder) -> Env {
    let clock = ManualClock::at_unix(T0);
    let issuer = LocalIssuer::with_algorithms(ISS, &[Algorithm::ES256, Algorithm::EdDSA]);
    issuer.set_clock(clock.clone());
    issuer.set_default_audience(AUD);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(ISS, issuer.jwks_json()))
        .audience(AUD)
        .clock(clock)
        .build()
        .expect("valid configuration");
    let auth = configure(Authenticator::builder().jwt(validator).realm(REALM)).build().expect("valid configuration");
    Env { issuer, auth, calls: Arc::new(AtomicUsize::new(0)) }
}

fn env() -> Env {
    env_with(|b| b)
}

/// The protected handler: answers `sub|scope scope…`, or `anonymous`, and counts its calls.
fn handler(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<String>, Response = Response<Bytes>, Error = Infallible, Future: Send> + Clone + Send {
    tower::service_fn(move |req: Request<String>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            assert!(req.extensions().get::<AuthContext>().is_some(), "the layer leaves an AuthContext");
            let body = match req.extensions().get::<Principal>() {
                Some(p) => format!("{}|{}", p.subject(), p.scopes().join(" ")),
                None => "anonymous".to_owned(),
            };
            Ok::<_, Infallible>(Response::new(Bytes::from(body)))
        }
    })
}

fn get(authorization: &[&str]) -> Request<String> {
    let mut builder = Request::builder().uri("/orders");
    for value in authorization {
        builder = builder.header("authorization", *value);
    }
    builder.body(String::new()).expect("request")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn call<S>(svc: &S, req: Request<String>) -> Response<Bytes>
where
    S: Service<Request<String>, Response = Response<Bytes>, Error = Infallible> + Clone,
{
    svc.clone().oneshot(req).await.expect("infallible")
}

fn www(res: &Response<Bytes>) -> Option<&str> {
    let mut values = res.headers().get_all("www-authenticate").iter();
    let first = values.next().map(|v| v.to_str().expect("ASCII challenge"));
    assert!(values.next().is_none(), "one challenge header");
    first
}

fn auth_error(res: &Response<Bytes>) -> &AuthError {
    res.extensions().get::<AuthError>().expect("the AuthError rides in the rejection's extensions")
}

/// Checks an RFC 9457 problem document (H4) and returns it.
fn problem(res: &Response<Bytes>) -> Value {
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let doc: Value = serde_json::from_slice(res.body()).expect("problem+json body");
    assert_eq!(doc["type"], "about:blank");
    assert_eq!(doc["status"], res.status().as_u16());
    assert_eq!(doc["title"], res.status().canonical_reason().expect("reason"));
    assert!(doc["detail"].is_string());
    doc
}

#[tokio::test]
async fn authenticated_request_reaches_the_handler_with_its_principal() {
    let Env { issuer, auth, calls } = env();
    let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service(handler(calls.clone()));
    let token = issuer.token().subject("alice").scope("orders:read orders:write").sign();
    let res = call(&svc, get(&[&bearer(&token)])).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice|orders:read orders:write");
    assert!(res.extensions().get::<AuthError>().is_none());
    assert!(res.headers().get("www-authenticate").is_none());
    // The scheme name is case-insensitive (A1).
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let res = call(&svc, get(&[&format!("{scheme} {token}")])).await;
        assert_eq!(res.status(), StatusCode::OK, "{scheme}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn no_credentials_is_401_with_realm_and_no_error_code_a6_h1() {
    let Env { auth, calls, .. } = env();
    let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service(handler(calls.clone()));
    // No Authorization, and a scheme we do not support (RFC 6750 §3.1: no error code either way).
    for req in [get(&[]), get(&["Basic dXNlcjpwYXNz"]), get(&["Digest username=\"x\""])] {
        let res = call(&svc, req).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(www(&res), Some(r#"Bearer realm="api""#));
        assert_eq!(auth_error(&res).kind(), AuthErrorKind::MissingCredentials);
        let doc = problem(&res);
        assert_eq!(doc["detail"], "Authentication required");
        assert!(doc.get("error").is_none(), "no error code without credentials: {doc}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler never ran");
}

#[tokio::test]
async fn bad_tokens_are_401_invalid_token_b13() {
    let Env { issuer, auth, calls } = env();
    let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service(handler(calls.clone()));
    let good = issuer.token().sign();
    let (h, p, s) = segments(&good);
    let mut sig = unb64(s);
    sig[3] ^= 0x80;
    let cases = [
        (format!("{h}.{p}.{}", b64(&sig)), AuthErrorKind::InvalidSignature),
        (issuer.token().header("alg", "none").sign_unsecured(), AuthErrorKind::UnsupportedAlgorithm),
        (issuer.token().audience("https://other.example").sign(), AuthErrorKind::InvalidAudience),
        (issuer.token().claim("iss", "https://evil.example").sign(), AuthErrorKind::InvalidIssuer),
        (issuer.token().header("typ", "dpop+jwt").sign(), AuthErrorKind::UnsupportedTokenType),
        (issuer.token().kid(Some("unknown")).sign(), AuthErrorKind::UnknownKey),
        (issuer.token().claim("pad", "x".repeat(9000)).sign(), AuthErrorKind::TokenTooLarge),
        ("not-a-jwt".to_owned(), AuthErrorKind::MalformedToken),
    ];
    for (token, kind) in &cases {
        let res = call(&svc, get(&[&bearer(token)])).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{kind:?}");
        assert_eq!(
            www(&res),
            Some(r#"Bearer realm="api", error="invalid_token", error_description="Invalid token""#),
            "{kind:?}"
        );
        assert_eq!(auth_error(&res).kind(), *kind);
        let doc = problem(&res);
        assert_eq!(doc["error"], "invalid_token");
        let body = std::str::from_utf8(res.body()).expect("UTF-8");
        assert!(!body.contains(token.as_str()), "the token is never echoed");
    }
    // The expired token gets the RFC 6750 §3 example description.
    let res = call(&svc, get(&[&bearer(&issuer.token().expires_in(-3600).sign())])).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="api", error="invalid_token", error_description="The access token expired""#)
    );
    assert_eq!(auth_error(&res).kind(), AuthErrorKind::Expired);
    // A DPoP-bound token presented as a bearer token.
    let bound = issuer.token().claim("cnf", json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})).sign();
    let res = call(&svc, get(&[&bearer(&bound)])).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="api", error="invalid_token", error_description="Invalid token binding""#)
    );
    assert_eq!(auth_error(&res).kind(), AuthErrorKind::BindingMismatch);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn malformed_or_repeated_authorization_is_400_invalid_request_a2() {
    let Env { issuer, auth, calls } = env();
    let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service(handler(calls.clone()));
    let token = issuer.token().sign();
    // Two Authorization headers, even with the same valid token in both.
    let res = call(&svc, get(&[&bearer(&token), &bearer(&token)])).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        www(&res),
        Some(
            r#"Bearer realm="api", error="invalid_request", error_description="Multiple methods used to include access token""#
        )
    );
    assert_eq!(auth_error(&res).kind(), AuthErrorKind::MultipleCredentials);
    assert_eq!(problem(&res)["error"], "invalid_request");
    let res = call(&svc, get(&[&bearer(&token), "Basic dXNlcjpwYXNz"])).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(auth_error(&res).kind(), AuthErrorKind::MultipleCredentials);
    // An ill-formed Bearer credential.
    for bad in ["Bearer", "Bearer a b", "Bearer a,b"] {
        let res = call(&svc, get(&[bad])).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            www(&res),
            Some(r#"Bearer realm="api", error="invalid_request", error_description="Malformed credentials""#)
        );
        assert_eq!(auth_error(&res).kind(), AuthErrorKind::MalformedRequest);
    }
    let mut req = get(&[]);
    req.headers_mut().insert("authorization", HeaderValue::from_bytes(b"Bearer \xff").expect("opaque header bytes"));
    let res = call(&svc, req).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(auth_error(&res).kind(), AuthErrorKind::MalformedRequest);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn missing_scope_is_403_insufficient_scope_naming_the_scope_h2() {
    let Env { issuer, auth, calls } = env();
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::new(auth.clone()))
        .layer(RequireScopesLayer::new(ScopeRequirement::all_of(["orders:write"])))
        .service(handler(calls.clone()));
    let res = call(&svc, get(&[&bearer(&issuer.token().scope("orders:read").sign())])).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        www(&res),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:write""#
        )
    );
    let err = auth_error(&res);
    assert_eq!(err.kind(), AuthErrorKind::InsufficientScope);
    assert_eq!(err.required_scope(), Some("orders:write"));
    let doc = problem(&res);
    assert_eq!(doc["error"], "insufficient_scope");
    assert_eq!(doc["scope"], "orders:write");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let res = call(&svc, get(&[&bearer(&issuer.token().scope("orders:read orders:write").sign())])).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Scopes from `scp` count too.
    let res = call(&svc, get(&[&bearer(&issuer.token().claim("scp", json!(["orders:write"])).sign())])).await;
    assert_eq!(res.status(), StatusCode::OK);
    // No credentials: the authentication layer answers first.
    let res = call(&svc, get(&[])).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www(&res), Some(r#"Bearer realm="api""#));

    // Several required scopes are named space-separated; any-of passes with one of them.
    let all = ServiceBuilder::new()
        .layer(AuthLayer::new(auth.clone()))
        .layer(RequireScopesLayer::new(ScopeRequirement::all_of(["orders:read", "admin"])))
        .service(handler(calls.clone()));
    let res = call(&all, get(&[&bearer(&issuer.token().scope("orders:read").sign())])).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(www(&res).expect("challenge").ends_with(r#", scope="orders:read admin""#));
    let any = ServiceBuilder::new()
        .layer(AuthLayer::new(auth))
        .layer(RequireScopesLayer::new(ScopeRequirement::any_of(["orders:read", "admin"])))
        .service(handler(calls.clone()));
    assert_eq!(call(&any, get(&[&bearer(&issuer.token().scope("admin").sign())])).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn optional_mode_passes_anonymous_but_rejects_bad_tokens() {
    let Env { issuer, auth, calls } = env_with(|b| b.optional(true));
    assert!(auth.is_optional());
    let svc = ServiceBuilder::new().layer(AuthLayer::new(auth.clone())).service(handler(calls.clone()));
    let res = call(&svc, get(&[])).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "anonymous");
    // An unsupported scheme is no credential at all.
    let res = call(&svc, get(&["Basic dXNlcjpwYXNz"])).await;
    assert_eq!(res.body(), "anonymous");
    // A bad token is still refused.
    let res = call(&svc, get(&[&bearer(&issuer.token().expires_in(-3600).sign())])).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(auth_error(&res).kind(), AuthErrorKind::Expired);
    assert!(www(&res).expect("challenge").contains(r#"error="invalid_token""#));
    let res = call(&svc, get(&[&bearer(&issuer.token().sign()), &bearer(&issuer.token().sign())])).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A good one yields a principal.
    let res = call(&svc, get(&[&bearer(&issuer.token().subject("bob").sign())])).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "bob|");
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // A scope guard behind optional authentication answers an anonymous request with 401.
    let guarded = ServiceBuilder::new()
        .layer(AuthLayer::new(auth))
        .layer(RequireScopesLayer::new(ScopeRequirement::all_of(["orders:read"])))
        .service(handler(calls.clone()));
    let res = call(&guarded, get(&[])).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www(&res), Some(r#"Bearer realm="api""#));
    assert_eq!(auth_error(&res).kind(), AuthErrorKind::MissingCredentials);
}

#[tokio::test]
async fn cors_preflight_passes_without_credentials() {
    let Env { issuer, auth, calls } = env();
    let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service(handler(calls.clone()));
    let preflight = || {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/orders")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
    };
    let res = call(&svc, preflight().body(String::new()).expect("request")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "anonymous");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Not a preflight: OPTIONS without Access-Control-Request-Method, or GET with it.
    let plain_options = Request::builder().method(Method::OPTIONS).uri("/orders").body(String::new()).expect("request");
    assert_eq!(call(&svc, plain_options).await.status(), StatusCode::UNAUTHORIZED);
    let get_with_acrm = Request::builder()
        .uri("/orders")
        .header("access-control-request-method", "POST")
        .body(String::new())
        .expect("request");
    assert_eq!(call(&svc, get_with_acrm).await.status(), StatusCode::UNAUTHORIZED);
    // A preflight carrying a bad token is authenticated like any request.
    let with_bad_token = preflight().header("authorization", "Bearer a.b.c").body(String::new()).expect("request");
    let res = call(&svc, with_bad_token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(auth_error(&res).kind(), AuthErrorKind::MalformedToken);
    let with_good_token =
        preflight().header("authorization", bearer(&issuer.token().sign())).body(String::new()).expect("request");
    assert_eq!(call(&svc, with_good_token).await.body(), "user-1|");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // The pass-through can be turned off.
    let Env { auth, calls, .. } = env_with(|b| b.cors_preflight_passthrough(false));
    let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service(handler(calls.clone()));
    let res = call(&svc, preflight().body(String::new()).expect("request")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn issuer_unreachable_is_503_with_retry_after_and_no_challenge() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let clock = common::clock_for(&issuer);
    issuer.set_down(true);
    let validator = common::validator_for(Issuer::discover(issuer.url()), &clock);
    let auth = Authenticator::builder().jwt(validator).realm(REALM).build().expect("valid configuration");
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service(handler(calls.clone()));
    let res = call(&svc, get(&[&bearer(&issuer.token().sign())])).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "10");
    assert!(res.headers().get("www-authenticate").is_none());
    let err = auth_error(&res);
    assert_eq!(err.kind(), AuthErrorKind::Unavailable);
    assert_eq!(err.retry_after(), Some(10));
    let doc = problem(&res);
    assert!(doc.get("error").is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // Recovery after the cool-down.
    issuer.set_down(false);
    common::past_cooldown(&clock);
    assert_eq!(call(&svc, get(&[&bearer(&issuer.token().sign())])).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn custom_rejection_still_carries_the_auth_error() {
    let Env { issuer, auth, calls } = env();
    let teapot = |e: AuthError| {
        let mut res = Response::new(Bytes::from(format!("no: {}", e.kind())));
        *res.status_mut() = StatusCode::IM_A_TEAPOT;
        res
    };
    let svc = ServiceBuilder::new().layer(AuthLayer::new(auth).with_rejection(teapot)).service(handler(calls.clone()));
    let res = call(&svc, get(&[&bearer(&issuer.token().audience("x").sign())])).await;
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(res.body(), "no: invalid_audience");
    assert_eq!(auth_error(&res).kind(), AuthErrorKind::InvalidAudience);
    assert_eq!(call(&svc, get(&[&bearer(&issuer.token().sign())])).await.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
