//! The quickstart binaries (axum and actix-web) pointed at a real OpenID Provider: `oidc-provider`
//! from `interop/oidc-provider/server.js` on 127.0.0.1, through the contract variables
//! `TOWER_AUTH_ISSUER`, `TOWER_AUTH_AUDIENCE` and `TOWER_AUTH_INTROSPECTION_CLIENT_ID` / `…_SECRET`.
//! An RFC 9068 JWT and an opaque token, both obtained from the provider with the client credentials
//! grant, open `GET /me`; the RFC 9728 document names the provider.
//!
//! Needs Node.js (`node` on `PATH`) and `npm ci --prefix interop/oidc-provider` (run by `.ci/run`);
//! without them the test fails with that message.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{BINARIES, Process, Quickstart, request, spawn};
use serde_json::json;

const AUDIENCE: &str = "https://api.tower-auth.test";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/oidc-provider")
}

/// `oidc-provider` on a free port: the process and its issuer identifier.
fn provider() -> (Process, String) {
    let dir = fixture_dir();
    assert!(
        dir.join("node_modules/oidc-provider/package.json").is_file(),
        "the interop fixture's npm packages are missing: run `npm ci --prefix interop/oidc-provider` from the \
         repository root (.ci/run does)"
    );
    let path = std::env::var_os("PATH").unwrap_or_default();
    let node = std::env::split_paths(&path).map(|d| d.join("node")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("`node` (Node.js 20 or later) is not on PATH: the interop tests run oidc-provider with it")
    });
    let mut command = Command::new(node);
    command.arg("server.js").args(["--port", "0"]).current_dir(dir);
    let (process, _, issuer) = spawn(command, "READY ");
    (process, issuer)
}

/// A client credentials grant at the provider for the quickstart's audience.
fn access_token(issuer: &str, client: &str, secret: &str, scope: &str) -> String {
    let form = format!(
        "grant_type=client_credentials&scope={}&resource={}",
        scope.replace(' ', "+"),
        AUDIENCE.replace(':', "%3A").replace('/', "%2F")
    );
    let basic = format!("Basic {}", STANDARD.encode(format!("{client}:{secret}")));
    let answer = request(
        &format!("{issuer}/token"),
        "POST",
        &[("Authorization", &basic), ("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    );
    assert_eq!(answer.status, 200, "token endpoint: {}", answer.body);
    answer.json()["access_token"].as_str().expect("access_token").to_owned()
}

#[test]
fn quickstart_with_a_real_openid_provider() {
    let (_provider, issuer) = provider();
    for binary in BINARIES {
        let server = Quickstart::start(
            binary,
            &[
                ("TOWER_AUTH_ISSUER", &issuer),
                ("TOWER_AUTH_AUDIENCE", AUDIENCE),
                ("TOWER_AUTH_INTROSPECTION_CLIENT_ID", "interop-rs"),
                ("TOWER_AUTH_INTROSPECTION_CLIENT_SECRET", "interop-rs-secret"),
            ],
        );
        let origin = &server.origin;

        // An RFC 9068 JWT, validated with the keys of the provider's discovery document.
        let jwt = access_token(&issuer, "interop-jwt", "interop-jwt-secret", "orders:read");
        let me = server.get_bearer("/me", Some(&jwt));
        assert_eq!(me.status, 200, "{binary}: {}", me.body);
        assert_eq!(
            me.json(),
            json!({"sub": "interop-jwt", "client_id": "interop-jwt", "scopes": ["orders:read"], "kind": "jwt", "bound": null}),
            "{binary}"
        );
        assert_eq!(server.get_bearer("/orders", Some(&jwt)).status, 200, "{binary}");
        assert_eq!(server.get_bearer("/admin", Some(&jwt)).status, 403, "{binary}");

        // An opaque token, introspected at the provider with the quickstart's client credentials.
        let opaque = access_token(&issuer, "interop-opaque", "interop-opaque-secret", "orders:read admin");
        let me = server.get_bearer("/me", Some(&opaque));
        assert_eq!(me.status, 200, "{binary}: {}", me.body);
        assert_eq!(
            me.json(),
            json!({"sub": "interop-opaque", "client_id": "interop-opaque", "scopes": ["orders:read", "admin"], "kind": "introspection", "bound": null}),
            "{binary}"
        );
        assert_eq!(server.get_bearer("/admin", Some(&opaque)).status, 200, "{binary}");

        // RFC 9728: the challenge points at the document, which names the provider.
        let metadata_url = format!("{origin}/.well-known/oauth-protected-resource");
        let refused = server.get_bearer("/me", None);
        assert_eq!(refused.status, 401, "{binary}");
        let challenge = refused.all("www-authenticate");
        assert_eq!(challenge.len(), 1, "{binary}");
        assert!(
            challenge[0]
                .starts_with(&format!(r#"Bearer realm="tower-auth", resource_metadata="{metadata_url}", DPoP "#)),
            "{binary}: {}",
            challenge[0]
        );
        let doc = server.get_bearer("/.well-known/oauth-protected-resource", None);
        assert_eq!(doc.status, 200, "{binary}");
        assert_eq!(doc.all("content-type"), ["application/json"], "{binary}");
        let doc = doc.json();
        assert_eq!(doc["resource"], origin.as_str(), "{binary}");
        assert_eq!(doc["authorization_servers"], json!([issuer]), "{binary}");
        assert_eq!(doc["scopes_supported"], json!(["orders:read", "orders:write", "admin"]), "{binary}");
    }
}
