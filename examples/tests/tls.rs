//! HTTPS and client certificates on the real quickstart binaries, axum and actix-web (the
//! quickstart contract's `TOWER_AUTH_TLS_CERT`, `…_KEY`, `…_CLIENT_CA` and
//! `TOWER_AUTH_TRUSTED_PROXIES`; RFC 8705, RFC 9440). The test kit's `TestCa` makes a test CA, the
//! server certificate (127.0.0.1) and client certificates, written as PEM files to a temporary
//! directory; reqwest presents the client certificates.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Answer, BINARIES, Quickstart, challenge, exit_code};
use serde_json::json;
use tower_auth::testkit::{ClientCert, IssuedCert, TestCa, TestIssuer, xfcc_element};

const AUDIENCE: &str = "https://api.tower-auth.test";
const SPIFFE_ID: &str = "spiffe://tower-auth.test/ns/shop/sa/orders";
const DNS_NAME: &str = "reports.tower-auth.test";
const BINDING: Option<(&str, &str)> = Some(("invalid_token", "Invalid token binding"));
const BAD_CERTIFICATE: Option<(&str, &str)> = Some(("invalid_token", "Invalid client certificate"));

/// The quickstart's `WWW-Authenticate` fields for a refusal with `error` (code, description), or for
/// a request without credentials (`None`): exactly one, its `Bearer` and `DPoP` challenge.
fn challenges(origin: &str, error: Option<(&str, &str)>) -> Vec<String> {
    vec![challenge(origin, error, None)]
}

// ---------------------------------------------------------------------------------------------
// The test PKI, as PEM files

struct Pki {
    dir: PathBuf,
    ca: TestCa,
    /// The paths of `ca.pem`, `server.pem` and `server.key`.
    ca_file: String,
    cert_file: String,
    key_file: String,
    spiffe: IssuedCert,
    dns: IssuedCert,
    foreign: IssuedCert,
}

impl Pki {
    /// A CA, the server's certificate for 127.0.0.1 (files `ca.pem`, `server.pem`, `server.key`),
    /// and client certificates: SPIFFE ID, DNS name only, and a SPIFFE ID from another CA.
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tower-auth-quickstart-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let ca = TestCa::new("quickstart test CA");
        let server = ca.server_cert(["127.0.0.1", "localhost"]);
        let spiffe = |ca: &TestCa| ca.issue(ClientCert::cn("orders").spiffe(SPIFFE_ID));
        let (spiffe, dns, foreign) =
            (spiffe(&ca), ca.issue(ClientCert::cn("reports").dns(DNS_NAME)), spiffe(&TestCa::new("another CA")));
        let path = |file: &str| dir.join(file).to_str().expect("UTF-8 path").to_owned();
        let (ca_file, cert_file, key_file) = (path("ca.pem"), path("server.pem"), path("server.key"));
        let pki = Self { dir, ca, ca_file, cert_file, key_file, spiffe, dns, foreign };
        std::fs::write(&pki.ca_file, pki.ca.cert_pem()).expect("write");
        std::fs::write(&pki.cert_file, &server.cert_pem).expect("write");
        std::fs::write(&pki.key_file, &server.key_pem).expect("write");
        let other_key = pki.ca.server_cert(["127.0.0.1"]).key_pem;
        std::fs::write(pki.path("other.key"), other_key).expect("write");
        pki
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().expect("UTF-8 path").to_owned()
    }

    /// `TOWER_AUTH_TLS_CERT`, `…_KEY` and `…_CLIENT_CA`.
    fn tls_env(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("TOWER_AUTH_TLS_CERT", &self.cert_file),
            ("TOWER_AUTH_TLS_KEY", &self.key_file),
            ("TOWER_AUTH_TLS_CLIENT_CA", &self.ca_file),
        ]
    }

    /// An HTTPS client trusting only the test CA, presenting `identity` when given.
    fn client(&self, identity: Option<&IssuedCert>) -> reqwest::Client {
        self.ca.https_client(identity)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    Ok(Answer { status, headers, body: response.text().await? })
}

async fn answer(request: reqwest::RequestBuilder, what: &str) -> Answer {
    send(request).await.unwrap_or_else(|e| panic!("{what}: request failed: {e}"))
}

/// `/me` (or `/bound`) of a certificate principal with subject `sub`.
#[track_caller]
fn assert_certificate_principal(ans: &Answer, sub: &str, what: &str) {
    assert_eq!(ans.status, 200, "{what}: {ans:?}");
    let doc = ans.json();
    assert_eq!(doc["sub"], sub, "{what}: {doc}");
    assert_eq!(doc["bound"], "mtls", "{what}: {doc}");
    if doc.get("kind").is_some() {
        assert_eq!(
            (doc["kind"].clone(), doc["scopes"].clone()),
            (json!("client_cert"), json!(["orders:read"])),
            "{what}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Embedded mode over HTTPS with a client CA: the printed lines, `/healthz`, certificate
/// authentication (SPIFFE ID, scope `orders:read`), tokens and API keys without a certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_over_https_with_client_certificates() {
    let pki = Pki::new();
    let (anonymous, spiffe, dns, foreign) =
        (pki.client(None), pki.client(Some(&pki.spiffe)), pki.client(Some(&pki.dns)), pki.client(Some(&pki.foreign)));
    for binary in BINARIES {
        let server = Quickstart::start(binary, &pki.tls_env());
        assert!(server.origin.starts_with("https://127.0.0.1:"), "{binary}: LISTENING {}", server.origin);
        let what = |case: &str| format!("{binary}: {case}");
        let (token, api_key) = (server.line("TOKEN"), server.line("API_KEY"));
        let _ = server.line("ADMIN_TOKEN");

        let health = answer(anonymous.get(server.url("/healthz")), &what("/healthz")).await;
        assert_eq!(health.status, 200, "{}", what("/healthz over https"));

        // A client certificate of the CA with a SPIFFE ID: kind client_cert, bound mtls.
        let me = answer(spiffe.get(server.url("/me")), &what("/me")).await;
        assert_certificate_principal(&me, SPIFFE_ID, &what("/me with a certificate"));
        assert_eq!(answer(spiffe.get(server.url("/orders")), &what("/orders")).await.status, 200, "{binary}");
        assert_eq!(answer(spiffe.post(server.url("/orders")), &what("POST /orders")).await.status, 403, "{binary}");
        assert_eq!(answer(spiffe.get(server.url("/admin")), &what("/admin")).await.status, 403, "{binary}");
        let bound = answer(spiffe.get(server.url("/bound")), &what("/bound")).await;
        assert_certificate_principal(&bound, SPIFFE_ID, &what("/bound with a certificate"));

        // No certificate and no credential: the quickstart's usual 401.
        let none = answer(anonymous.get(server.url("/me")), &what("/me")).await;
        assert_eq!((none.status, none.challenges()), (401, challenges(&server.origin, None)), "{binary}");
        // A certificate of the CA without a SPIFFE ID does not authenticate.
        let no_id = answer(dns.get(server.url("/me")), &what("/me")).await;
        assert_eq!((no_id.status, no_id.challenges()), (401, challenges(&server.origin, BAD_CERTIFICATE)), "{binary}");
        // A certificate of another CA fails the handshake.
        assert!(send(foreign.get(server.url("/healthz"))).await.is_err(), "{}", what("foreign CA accepted"));

        // The printed token and API key work over HTTPS without a certificate.
        let me = answer(anonymous.get(server.url("/me")).bearer_auth(&token), &what("/me")).await;
        assert_eq!((me.status, me.json()["kind"].clone()), (200, json!("jwt")), "{}", what("TOKEN"));
        let me = answer(anonymous.get(server.url("/me")).header("x-api-key", &api_key), &what("/me")).await;
        assert_eq!((me.status, me.json()["kind"].clone()), (200, json!("api_key")), "{}", what("API_KEY"));
    }
}

/// `TOWER_AUTH_CLIENT_CERT_IDENTITY=dns_san`: the DNS name is the subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_mapping_is_configurable() {
    let pki = Pki::new();
    let dns = pki.client(Some(&pki.dns));
    let spiffe = pki.client(Some(&pki.spiffe));
    let mut env = pki.tls_env();
    env.push(("TOWER_AUTH_CLIENT_CERT_IDENTITY", "dns_san"));
    for binary in BINARIES {
        let server = Quickstart::start(binary, &env);
        let me = answer(dns.get(server.url("/me")), binary).await;
        assert_certificate_principal(&me, DNS_NAME, &format!("{binary}: DNS name mapping"));
        let no_dns = answer(spiffe.get(server.url("/me")), binary).await;
        assert_eq!(
            (no_dns.status, no_dns.challenges()),
            (401, challenges(&server.origin, BAD_CERTIFICATE)),
            "{binary}"
        );
    }
}

/// Certificate-bound tokens of a real issuer (`cnf.x5t#S256`, RFC 8705 §3): accepted on `/me` and
/// `/bound` over their certificate only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_bound_tokens_over_https() {
    let pki = Pki::new();
    let issuer = TestIssuer::start().await;
    issuer.set_default_audience(AUDIENCE);
    let thumbprint = tower_auth::mtls::x5t_s256(&pki.spiffe.der);
    let bound = issuer.token().subject("alice").claim("cnf", json!({ "x5t#S256": thumbprint })).sign();
    let unbound = issuer.token().subject("bob").sign();
    let (anonymous, spiffe, dns) = (pki.client(None), pki.client(Some(&pki.spiffe)), pki.client(Some(&pki.dns)));
    let mut env = pki.tls_env();
    env.push(("TOWER_AUTH_ISSUER", issuer.url()));
    for binary in BINARIES {
        let server = Quickstart::start(binary, &env);
        let what = |case: &str| format!("{binary}: {case}");
        for path in ["/me", "/bound"] {
            let ok = answer(spiffe.get(server.url(path)).bearer_auth(&bound), &what(path)).await;
            assert_eq!(ok.status, 200, "{}: {ok:?}", what(path));
            assert_eq!((ok.json()["sub"].clone(), ok.json()["bound"].clone()), (json!("alice"), json!("mtls")));
            let other = answer(dns.get(server.url(path)).bearer_auth(&bound), &what(path)).await;
            assert_eq!(
                (other.status, other.challenges()),
                (401, challenges(&server.origin, BINDING)),
                "{}",
                what(path)
            );
            let none = answer(anonymous.get(server.url(path)).bearer_auth(&bound), &what(path)).await;
            assert_eq!((none.status, none.challenges()), (401, challenges(&server.origin, BINDING)), "{}", what(path));
        }
        let me = answer(spiffe.get(server.url("/me")).bearer_auth(&bound), &what("/me")).await;
        assert_eq!(me.json()["kind"], "jwt", "{}", what("a token wins over the certificate"));
        // An unbound token is no sender-constrained token: 403 on /bound.
        let plain = answer(spiffe.get(server.url("/bound")).bearer_auth(&unbound), &what("/bound")).await;
        assert_eq!((plain.status, plain.challenges().len()), (403, 0), "{}", what("unbound token on /bound"));
    }
}

/// `TOWER_AUTH_TRUSTED_PROXIES` on plain HTTP: the `Client-Cert` header of a trusted peer (here
/// 127.0.0.1) authenticates; from any other peer it is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cert_header_behind_a_trusted_proxy() {
    let pki = Pki::new();
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().expect("client");
    let field = pki.spiffe.client_cert_field();
    let foreign = pki.foreign.client_cert_field();
    for (proxies, trusted) in [("127.0.0.1/32", true), ("10.0.0.0/8", false)] {
        let env = [("TOWER_AUTH_TRUSTED_PROXIES", proxies), ("TOWER_AUTH_TLS_CLIENT_CA", &pki.ca_file)];
        for binary in BINARIES {
            let server = Quickstart::start(binary, &env);
            assert!(server.origin.starts_with("http://"), "{binary}: LISTENING {}", server.origin);
            let what = format!("{binary}, trusted proxies {proxies}");
            let me = answer(client.get(server.url("/me")).header("client-cert", &field), &what).await;
            if trusted {
                assert_certificate_principal(&me, SPIFFE_ID, &what);
                // Forwarded certificates must chain to TOWER_AUTH_TLS_CLIENT_CA.
                let other = answer(client.get(server.url("/me")).header("client-cert", &foreign), &what).await;
                assert_eq!(
                    (other.status, other.challenges()),
                    (401, challenges(&server.origin, BAD_CERTIFICATE)),
                    "{what}"
                );
                let twice = client.get(server.url("/me")).header("client-cert", &field).header("client-cert", &field);
                assert_eq!(answer(twice, &what).await.status, 400, "{what}: two Client-Cert fields");
            } else {
                assert_eq!((me.status, me.challenges()), (401, challenges(&server.origin, None)), "{what}");
            }
        }
    }
}

/// `TOWER_AUTH_CLIENT_CERT_HEADER=xfcc`: Envoy's header from a trusted proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xfcc_header_behind_a_trusted_proxy() {
    let pki = Pki::new();
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().expect("client");
    let xfcc = xfcc_element("spiffe://tower-auth.test/api", &pki.spiffe.der, &[]);
    let env = [
        ("TOWER_AUTH_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("TOWER_AUTH_TLS_CLIENT_CA", &pki.ca_file),
        ("TOWER_AUTH_CLIENT_CERT_HEADER", "xfcc"),
    ];
    for binary in BINARIES {
        let server = Quickstart::start(binary, &env);
        let me = answer(client.get(server.url("/me")).header("x-forwarded-client-cert", &xfcc), binary).await;
        assert_certificate_principal(&me, SPIFFE_ID, binary);
        // The RFC 9440 header is not read in this configuration.
        let field = pki.spiffe.client_cert_field();
        let other = answer(client.get(server.url("/me")).header("client-cert", &field), binary).await;
        assert_eq!((other.status, other.challenges()), (401, challenges(&server.origin, None)), "{binary}");
    }
}

/// Configuration mistakes stop the server at start-up with status 2.
#[test]
fn invalid_tls_settings_stop_the_server() {
    let pki = Pki::new();
    let (cert, key, missing, other) = (&pki.cert_file, &pki.key_file, pki.path("missing.pem"), pki.path("other.key"));
    let cases: [(&str, Vec<(&str, &str)>); 7] = [
        ("certificate without key", vec![("TOWER_AUTH_TLS_CERT", cert)]),
        ("key without certificate", vec![("TOWER_AUTH_TLS_KEY", key)]),
        ("unreadable certificate", vec![("TOWER_AUTH_TLS_CERT", &missing), ("TOWER_AUTH_TLS_KEY", key)]),
        ("key of another certificate", vec![("TOWER_AUTH_TLS_CERT", cert), ("TOWER_AUTH_TLS_KEY", &other)]),
        (
            "a key as the client CA",
            vec![("TOWER_AUTH_TLS_CERT", cert), ("TOWER_AUTH_TLS_KEY", key), ("TOWER_AUTH_TLS_CLIENT_CA", key)],
        ),
        ("bad trusted proxies", vec![("TOWER_AUTH_TRUSTED_PROXIES", "127.0.0.1/33")]),
        ("bad header format", vec![("TOWER_AUTH_CLIENT_CERT_HEADER", "forwarded")]),
    ];
    for binary in BINARIES {
        for (case, env) in &cases {
            assert_eq!(exit_code(binary, env), Some(2), "{binary}: {case}");
        }
    }
}
