//! DPoP on the real quickstart binaries, axum and actix-web (RFC 9449; the quickstart contract's
//! `GET /bound`, `TOWER_AUTH_PUBLIC_URL` and `TOWER_AUTH_DPOP_NONCE`). A test issuer mints
//! DPoP-bound tokens; the quickstart is pointed at it with `TOWER_AUTH_ISSUER`.

mod common;

use common::{BINARIES, Quickstart, challenge, exit_code};
use tower_auth::jwt::Algorithm;
use tower_auth::testkit::{DpopKey, TestIssuer};

const AUDIENCE: &str = "https://api.tower-auth.test";
const PUBLIC_URL: &str = "https://api.quickstart.test";
const INVALID_PROOF: Option<(&str, &str)> = Some(("invalid_dpop_proof", "Invalid DPoP proof"));
const USE_NONCE: Option<(&str, &str)> = Some(("use_dpop_nonce", "Resource server requires nonce in DPoP proof"));

fn now() -> i64 {
    i64::try_from(tower_auth::clock::unix_seconds(std::time::SystemTime::now())).expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_route_with_dpop_tokens_and_the_public_url() {
    let issuer = TestIssuer::start().await;
    issuer.set_default_audience(AUDIENCE);
    let key = DpopKey::generate(Algorithm::ES256);
    let bound = issuer.token().subject("alice").dpop_bound(&key).sign();
    let unbound = issuer.token().subject("bob").sign();
    for binary in BINARIES {
        let server =
            Quickstart::start(binary, &[("TOWER_AUTH_ISSUER", issuer.url()), ("TOWER_AUTH_PUBLIC_URL", PUBLIC_URL)]);
        tokio::task::block_in_place(|| {
            let proof = |path: &str| {
                key.proof_builder("GET", &format!("{PUBLIC_URL}{path}")).iat(now()).access_token(&bound).sign()
            };
            let dpop = format!("DPoP {bound}");
            // A DPoP-bound token with its proof: /bound and /me.
            let ok = server.get("/bound", &[("Authorization", &dpop), ("DPoP", &proof("/bound"))]);
            assert_eq!(ok.status, 200, "{binary}: {}", ok.body);
            assert!(ok.body.contains(r#""bound":"dpop""#) && ok.body.contains("alice"), "{binary}: {}", ok.body);
            let me = server.get("/me", &[("Authorization", &dpop), ("DPoP", &proof("/me"))]);
            assert!(
                me.status == 200 && me.body.contains(r#""bound":"dpop""#) && me.body.contains(r#""kind":"jwt""#),
                "{binary}: {}",
                me.body
            );
            // htu must name TOWER_AUTH_PUBLIC_URL, not the address the request reached.
            let local =
                key.proof_builder("GET", &format!("{}/bound", server.origin)).iat(now()).access_token(&bound).sign();
            let refused = server.get("/bound", &[("Authorization", &dpop), ("DPoP", &local)]);
            let expected = challenge(PUBLIC_URL, None, INVALID_PROOF);
            assert_eq!((refused.status, refused.all("www-authenticate")), (401, vec![expected.as_str()]), "{binary}");
            // An unbound bearer token is authenticated but not enough for /bound: 403, no challenge.
            let plain = server.get("/bound", &[("Authorization", &format!("Bearer {unbound}"))]);
            assert_eq!((plain.status, plain.all("www-authenticate").len()), (403, 0), "{binary}: {}", plain.body);
            assert!(plain.body.contains(r#""status":403"#), "{binary}: {}", plain.body);
            assert_eq!(server.get("/me", &[("Authorization", &format!("Bearer {unbound}"))]).status, 200, "{binary}");
            // No credentials: both schemes offered.
            let none = server.get("/bound", &[]);
            let expected = challenge(PUBLIC_URL, None, None);
            assert_eq!((none.status, none.all("www-authenticate")), (401, vec![expected.as_str()]), "{binary}");
            // The bound token as a bearer token: the downgrade is refused (RFC 9449 §7.2).
            assert_eq!(server.get("/me", &[("Authorization", &format!("Bearer {bound}"))]).status, 401, "{binary}");
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_public_url_and_required_nonces() {
    let issuer = TestIssuer::start().await;
    issuer.set_default_audience(AUDIENCE);
    let key = DpopKey::generate(Algorithm::EdDSA);
    let bound = issuer.token().dpop_bound(&key).sign();
    for binary in BINARIES {
        let server = Quickstart::start(binary, &[("TOWER_AUTH_ISSUER", issuer.url()), ("TOWER_AUTH_DPOP_NONCE", "on")]);
        tokio::task::block_in_place(|| {
            // Without TOWER_AUTH_PUBLIC_URL the origin is the printed LISTENING address.
            let url = format!("{}/bound", server.origin);
            let dpop = format!("DPoP {bound}");
            let first = server
                .get("/bound", &[("Authorization", &dpop), ("DPoP", &key.proof("GET", &url, Some(&bound), None))]);
            let expected = challenge(&server.origin, None, USE_NONCE);
            assert_eq!((first.status, first.all("www-authenticate")), (401, vec![expected.as_str()]), "{binary}");
            let nonces = first.all("dpop-nonce");
            assert_eq!(nonces.len(), 1, "{binary}");
            let retry = server.get(
                "/bound",
                &[("Authorization", &dpop), ("DPoP", &key.proof("GET", &url, Some(&bound), Some(nonces[0])))],
            );
            assert_eq!(retry.status, 200, "{binary}: {}", retry.body);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_tokens_are_not_sender_constrained() {
    for binary in BINARIES {
        let server = Quickstart::start(binary, &[]);
        tokio::task::block_in_place(|| {
            let token = server.line("TOKEN");
            let answer = server.get("/bound", &[("Authorization", &format!("Bearer {token}"))]);
            assert_eq!((answer.status, answer.all("www-authenticate").len()), (403, 0), "{binary}");
        });
    }
}

#[test]
fn an_invalid_nonce_setting_stops_the_server() {
    for binary in BINARIES {
        assert_eq!(exit_code(binary, &[("TOWER_AUTH_DPOP_NONCE", "maybe")]), Some(2), "{binary}");
    }
}
