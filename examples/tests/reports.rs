//! `GET /reports` (role `reporter`, from the well-known role claims) on the real quickstart
//! binaries, axum and actix-web: embedded mode (the printed `ADMIN_TOKEN` holds the role, `TOKEN`
//! does not) and pointed at an external issuer (Keycloak-, Auth0-, Okta- and Entra-shaped tokens).

mod common;

use common::{Answer, BINARIES, Quickstart, challenge};
use serde_json::json;
use tower_auth::testkit::TestIssuer;

const AUDIENCE: &str = "https://api.tower-auth.test";

fn assert_forbidden(binary: &str, what: &str, answer: Answer) {
    assert_eq!(answer.status, 403, "{binary} {what}: {}", answer.body);
    assert_eq!(answer.www_authenticate(), None, "{binary} {what}");
    assert!(answer.body.contains(r#""status":403"#), "{binary} {what}: {}", answer.body);
}

#[test]
fn embedded_mode_admin_token_holds_the_reporter_role() {
    for binary in BINARIES {
        let server = Quickstart::start(binary, &[]);
        let (token, admin) = (server.line("TOKEN"), server.line("ADMIN_TOKEN"));
        let reports = server.get_bearer("/reports", Some(&admin));
        let body = &reports.body;
        assert_eq!((reports.status, reports.www_authenticate()), (200, None), "{binary}: {body}");
        assert!(body.contains(r#""reports":[]"#) && body.contains("demo-admin"), "{binary}: {body}");
        assert_forbidden(binary, "TOKEN", server.get_bearer("/reports", Some(&token)));
        let anonymous = server.get_bearer("/reports", None);
        // The quickstart enables DPoP: both schemes are offered, without error (RFC 9449 §7.2).
        let expected = challenge(&server.origin, None, None);
        assert_eq!((anonymous.status, anonymous.www_authenticate()), (401, Some(expected.as_str())), "{binary}");
        // The other routes are unchanged.
        assert_eq!(server.get_bearer("/orders", Some(&token)).status, 200, "{binary}");
        assert_eq!(server.get_bearer("/admin", Some(&token)).status, 403, "{binary}");
        assert_eq!(server.get_bearer("/healthz", None).status, 200, "{binary}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_issuer_role_claims_of_keycloak_auth0_okta_and_entra() {
    let issuer = TestIssuer::start().await;
    issuer.set_default_audience(AUDIENCE);
    let holders = [
        (
            "keycloak realm role",
            issuer.token().claim("realm_access", json!({"roles": ["offline_access", "reporter"]})).sign(),
        ),
        (
            "keycloak client role",
            issuer.token().claim("resource_access", json!({"quickstart": {"roles": ["reporter"]}})).sign(),
        ),
        ("auth0 permissions", issuer.token().claim("permissions", json!(["reporter"])).sign()),
        ("okta groups", issuer.token().claim("groups", json!(["Everyone", "reporter"])).sign()),
        ("entra roles", issuer.token().claim("roles", json!(["reporter"])).sign()),
    ];
    let others = [
        ("no roles", issuer.token().scope("orders:read").sign()),
        ("keycloak other roles", issuer.token().claim("realm_access", json!({"roles": ["viewer"]})).sign()),
        ("okta other groups", issuer.token().claim("groups", json!(["Everyone"])).sign()),
    ];
    for binary in BINARIES {
        let server = Quickstart::start(binary, &[("TOWER_AUTH_ISSUER", issuer.url())]);
        let blocking = tokio::task::block_in_place(|| {
            for (name, token) in &holders {
                let answer = server.get_bearer("/reports", Some(token));
                assert_eq!(answer.status, 200, "{binary} {name}: {}", answer.body);
            }
            for (name, token) in &others {
                assert_forbidden(binary, name, server.get_bearer("/reports", Some(token)));
            }
            server.get_bearer("/reports", None).status
        });
        assert_eq!(blocking, 401, "{binary}");
    }
}
