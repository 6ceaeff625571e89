//! Interop with a real OpenID Provider: `oidc-provider` (a certified OpenID Connect implementation,
//! npm) started from `interop/oidc-provider/server.js` on 127.0.0.1, and an independent DPoP client
//! (npm `oauth4webapi`, `interop/oidc-provider/dpop-client.js`). Every token here is obtained from
//! the provider with a real client request; nothing is minted by tower-auth's own test kit.
//!
//! | flow | checklist |
//! |---|---|
//! | RFC 9068 `at+jwt` access tokens, keys from OIDC discovery, scopes enforced | B, C1, H1, H2 |
//! | opaque tokens introspected with `client_secret_basic` | D1, D2, D7 |
//! | a token revoked at the provider (RFC 7009) refused once the cache TTL has passed | D4 |
//! | DPoP-bound tokens (JWT and opaque) with proofs by `oauth4webapi`; downgrade and replay refused | E1, E5, E7, D6 |
//! | the provider rotates its signing key; the new key is fetched, the retired one dropped | C2, C5 |
//! | RFC 9728 metadata leads a client from a 401 to the provider and back | J |
//! | certificate-bound JWT and opaque tokens (RFC 8705 §3) of `tls_client_auth` clients, over TLS with client certificates and through a trusted proxy's `Client-Cert` | G1, G2, G4, G5, D6 |
//!
//! The client certificates come from the test kit's `TestCa`; the provider, plain HTTP behind a
//! modelled TLS terminator, reads them from `Client-Cert` (see `server.js`).
//!
//! Needs Node.js (`node` on `PATH`) and the fixture's packages (`npm ci --prefix
//! interop/oidc-provider`, run by `.ci/run`); without them the tests fail with that message.
//! Time only moves through a [`ManualClock`]; nothing sleeps for a cache or a cool-down to pass.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tower_auth::dpop::Dpop;
use tower_auth::introspection::Introspector;
use tower_auth::jwt::{Issuer, JwtValidator, TokenTypes};
use tower_auth::mtls::{ClientCertificates, x5t_s256};
use tower_auth::testkit::{ClientCert, IssuedCert, TestCa};
use tower_auth::{Authenticator, ManualClock, ResourceMetadata};
use tower_auth_tests::{Framework, TestServer, http_client, serve, serve_tls};

/// The audience (RFC 8707 resource) the provider issues the tokens of these tests for.
const AUD: &str = "https://api.tower-auth.test";
/// Another resource the provider knows: tokens for it are refused here.
const OTHER_AUD: &str = "https://interop.tower-auth.test";
/// The public origin of the servers, as behind a TLS-terminating proxy: DPoP `htu` names it.
const ORIGIN: &str = "https://api.tower-auth.test";
const ALGS: &str = "ES256 ES384 ES512 PS256 RS256 EdDSA";

/// `(client_id, client_secret)`: the provider issues RFC 9068 JWTs to this client.
const JWT_CLIENT: (&str, &str) = ("interop-jwt", "interop-jwt-secret");
/// The provider issues opaque tokens to this client.
const OPAQUE_CLIENT: (&str, &str) = ("interop-opaque", "interop-opaque-secret");
/// The resource server's credentials at the introspection endpoint.
const RS_CLIENT: (&str, &str) = ("interop-rs", "interop-rs-secret");
/// `tls_client_auth` clients (RFC 8705 §2.1), registered with the subject DN `CN=<client id>`; the
/// provider binds their tokens to their certificate (§3), RFC 9068 JWTs to the first, opaque
/// tokens to the second.
const MTLS_JWT_CLIENT: &str = "interop-mtls-jwt";
const MTLS_OPAQUE_CLIENT: &str = "interop-mtls-opaque";

const NO_CREDENTIALS: &str = r#"Bearer realm="interop""#;
const INVALID_TOKEN: &str = r#"Bearer realm="interop", error="invalid_token", error_description="Invalid token""#;
const NEEDS_WRITE: &str = r#"Bearer realm="interop", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:write""#;
const NEEDS_ADMIN: &str = r#"Bearer realm="interop", error="insufficient_scope", error_description="The access token lacks a required scope", scope="admin""#;
const BINDING: &str = r#"Bearer realm="interop", error="invalid_token", error_description="Invalid token binding""#;

fn dpop_invalid_proof() -> String {
    format!(
        r#"Bearer realm="interop", DPoP realm="interop", error="invalid_dpop_proof", error_description="Invalid DPoP proof", algs="{ALGS}""#
    )
}
fn dpop_downgrade() -> String {
    format!(
        r#"Bearer realm="interop", error="invalid_token", error_description="Invalid token binding", DPoP realm="interop", algs="{ALGS}""#
    )
}

// ---------------------------------------------------------------------------------------------
// The provider

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/oidc-provider")
}

/// `node` from `PATH`; a missing runtime or missing packages fail the test with what to do.
fn node() -> PathBuf {
    let dir = fixture_dir();
    for package in ["oidc-provider", "oauth4webapi"] {
        assert!(
            dir.join("node_modules").join(package).join("package.json").is_file(),
            "the interop fixture's npm packages are missing ({package}): run `npm ci --prefix interop/oidc-provider` \
             from the repository root (.ci/run does)"
        );
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("node")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("`node` (Node.js 20 or later) is not on PATH: the interop tests run oidc-provider with it")
    })
}

/// A running `oidc-provider`, killed when dropped.
struct Provider {
    issuer: String,
    stderr: Arc<Mutex<String>>,
    _child: tokio::process::Child,
}

/// What the independent DPoP client printed: a DPoP-bound token and one request per target.
struct DpopGrant {
    token: String,
    requests: Vec<DpopRequest>,
}

struct DpopRequest {
    authorization: String,
    proof: String,
}

impl Provider {
    /// Starts the provider on a free port and waits (at most 60 s) for its `READY` line.
    async fn start() -> Self {
        Self::launch(None).await
    }

    /// [`start`](Self::start), the provider accepting client certificates issued by `pki`'s CA (as
    /// the TLS terminator in front of it would, see server.js).
    async fn with_client_ca(pki: &Pki) -> Self {
        let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "interop-client-ca-{}-{}.pem",
            std::process::id(),
            x5t_s256(pki.ca.cert_der())
        ));
        std::fs::write(&file, pki.ca.cert_pem()).expect("write the client CA for the provider");
        let provider = Self::launch(Some(&file)).await;
        // Read at start-up; no longer needed once the provider is ready.
        std::fs::remove_file(&file).expect("remove the client CA file");
        provider
    }

    async fn launch(client_ca: Option<&Path>) -> Self {
        let mut command = tokio::process::Command::new(node());
        command.arg("server.js").args(["--port", "0"]);
        if let Some(file) = client_ca {
            command.arg("--client-ca").arg(file);
        }
        let mut child = command
            .current_dir(fixture_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start node interop/oidc-provider/server.js");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr pipe");
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = sink.lock().expect("stderr buffer");
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout pipe")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("READY ") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await;
        let Ok(Some(issuer)) = ready else {
            panic!(
                "oidc-provider printed no READY line within 60 s; its standard error:\n{}",
                stderr.lock().expect("stderr buffer")
            );
        };
        // The provider writes nothing more to standard output; the pipe is drained anyway.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { issuer, stderr, _child: child }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    fn diagnostics(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// A client credentials grant (RFC 6749 §4.4) for `resource` (RFC 8707) at `token_endpoint`.
    async fn grant_at(&self, token_endpoint: &str, (id, secret): (&str, &str), scope: &str, resource: &str) -> String {
        let res = http_client()
            .post(token_endpoint)
            .basic_auth(id, Some(secret))
            .header("content-type", FORM)
            .body(form(&[("grant_type", "client_credentials"), ("scope", scope), ("resource", resource)]))
            .send()
            .await
            .expect("token request");
        let status = res.status().as_u16();
        let body: Value = serde_json::from_str(&res.text().await.expect("body")).expect("token response JSON");
        assert_eq!(status, 200, "token endpoint: {body}\n{}", self.diagnostics());
        assert_eq!(body["token_type"], "Bearer", "{body}");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    async fn access_token(&self, client: (&str, &str), scope: &str, resource: &str) -> String {
        self.grant_at(&self.url("/token"), client, scope, resource).await
    }

    /// A client credentials grant for [`AUD`] by a `tls_client_auth` client (RFC 8705 §2.1):
    /// `client_id` in the form, `certificate` in `Client-Cert` as the provider's TLS terminator
    /// forwards it (none: no field). The status and the JSON answer.
    async fn mtls_grant(&self, client_id: &str, certificate: Option<&IssuedCert>, scope: &str) -> (u16, Value) {
        let mut req = http_client().post(self.url("/token")).header("content-type", FORM).body(form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", scope),
            ("resource", AUD),
        ]));
        if let Some(leaf) = certificate {
            req = req.header("client-cert", leaf.client_cert_field());
        }
        let res = req.send().await.expect("token request");
        let status = res.status().as_u16();
        (status, serde_json::from_str(&res.text().await.expect("body")).expect("token response JSON"))
    }

    /// A token bound to `leaf` (RFC 8705 §3), issued to the `tls_client_auth` client `client_id`.
    async fn bound_token(&self, client_id: &str, leaf: &IssuedCert, scope: &str) -> String {
        let (status, body) = self.mtls_grant(client_id, Some(leaf), scope).await;
        assert_eq!(status, 200, "token endpoint: {body}\n{}", self.diagnostics());
        // RFC 8705 §3: a certificate-bound token stays a `Bearer` token.
        assert_eq!(body["token_type"], "Bearer", "{body}");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// The provider's introspection answer (RFC 7662) for `token`, asked as the resource server.
    async fn introspect(&self, token: &str) -> Value {
        let res = http_client()
            .post(self.url("/token/introspection"))
            .basic_auth(RS_CLIENT.0, Some(RS_CLIENT.1))
            .header("content-type", FORM)
            .body(form(&[("token", token)]))
            .send()
            .await
            .expect("introspection request");
        assert_eq!(res.status(), 200, "introspection\n{}", self.diagnostics());
        serde_json::from_str(&res.text().await.expect("body")).expect("introspection JSON")
    }

    /// Revokes `token` at the provider (RFC 7009), as the client it was issued to.
    async fn revoke(&self, (id, secret): (&str, &str), token: &str) {
        let res = http_client()
            .post(self.url("/token/revocation"))
            .basic_auth(id, Some(secret))
            .header("content-type", FORM)
            .body(form(&[("token", token), ("token_type_hint", "access_token")]))
            .send()
            .await
            .expect("revocation request");
        assert_eq!(res.status(), 200, "revocation\n{}", self.diagnostics());
    }

    /// `rotate` or `retire` (see server.js): the published key ids afterwards, the signing key first.
    async fn keys(&self, action: &str) -> Vec<String> {
        let res = http_client().post(self.url(&format!("/fixture/keys/{action}"))).send().await.expect("key change");
        assert_eq!(res.status(), 200, "key {action}\n{}", self.diagnostics());
        let body: Value = serde_json::from_str(&res.text().await.expect("body")).expect("JSON");
        body["kids"].as_array().expect("kids").iter().map(|k| k.as_str().expect("kid").to_owned()).collect()
    }

    /// Runs the independent DPoP client: a DPoP-bound token for `client` and one request (proof and
    /// `Authorization`) per `(method, url)` target.
    async fn dpop_grant(&self, (id, secret): (&str, &str), scope: &str, targets: &[(&str, &str)]) -> DpopGrant {
        let mut command = tokio::process::Command::new(node());
        command.arg("dpop-client.js").current_dir(fixture_dir()).kill_on_drop(true);
        command.args(["--issuer", &self.issuer, "--client-id", id, "--client-secret", secret]);
        command.args(["--resource", AUD, "--scope", scope]);
        for (method, url) in targets {
            command.arg("--request").arg(format!("{method} {url}"));
        }
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("the DPoP client finished within 60 s")
            .expect("run node interop/oidc-provider/dpop-client.js");
        assert!(
            output.status.success(),
            "dpop-client.js failed: {}\nprovider: {}",
            String::from_utf8_lossy(&output.stderr),
            self.diagnostics()
        );
        let printed: Value = serde_json::from_slice(&output.stdout).expect("the DPoP client's JSON line");
        assert_eq!(printed["token_type"], "DPoP", "{printed}");
        let requests = printed["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .map(|r| DpopRequest {
                authorization: r["authorization"].as_str().expect("authorization").to_owned(),
                proof: r["dpop"].as_str().expect("dpop").to_owned(),
            })
            .collect::<Vec<_>>();
        assert_eq!(requests.len(), targets.len());
        DpopGrant { token: printed["access_token"].as_str().expect("access_token").to_owned(), requests }
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

/// An `application/x-www-form-urlencoded` body: every byte but the unreserved ones percent-encoded.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// The decoded JOSE header of a compact JWS.
fn jose_header(token: &str) -> Value {
    jws_part(token, 0)
}

/// The decoded claims of a compact JWS.
fn jws_claims(token: &str) -> Value {
    jws_part(token, 1)
}

fn jws_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("JWS part");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url"))
        .expect("JWS part JSON")
}

// ---------------------------------------------------------------------------------------------
// Client certificates

/// A test PKI: a CA, the certificate of the HTTPS servers (127.0.0.1) and client certificates. The
/// provider and the servers trust the same CA.
struct Pki {
    ca: TestCa,
    server: IssuedCert,
}

impl Pki {
    fn new() -> Self {
        let ca = TestCa::new("tower-auth interop CA");
        Self { server: ca.server_cert(["127.0.0.1"]), ca }
    }

    /// A client certificate with subject `CN=common_name` (the subject DN `tls_client_auth` matches).
    fn client(&self, common_name: &str) -> IssuedCert {
        self.ca.issue(ClientCert::cn(common_name))
    }

    /// The servers' TLS configuration, requesting client certificates of the CA.
    fn server_tls(&self) -> tower_auth::tls::rustls::ServerConfig {
        self.ca.server_tls(&self.server)
    }

    /// An HTTPS client trusting only the CA, presenting `identity` when given.
    fn https_client(&self, identity: Option<&IssuedCert>) -> reqwest::Client {
        self.ca.https_client(identity)
    }
}

// ---------------------------------------------------------------------------------------------
// The resource servers

/// JWTs of `issuer` (keys from its discovery document), RFC 9068 profile: `typ` `at+jwt` only and
/// `sub`, `client_id`, `iat`, `jti` required.
fn jwt(issuer: &str, clock: Option<&ManualClock>) -> JwtValidator {
    let issuer =
        Issuer::discover(issuer).token_types(TokenTypes::Strict).require_claims(["sub", "client_id", "iat", "jti"]);
    let mut builder = JwtValidator::builder().issuer(issuer).audience(AUD);
    if let Some(clock) = clock {
        builder = builder.clock(clock.clone());
    }
    builder.build().expect("JWT configuration")
}

/// Introspection at the endpoint of `issuer`'s discovery document with the resource server's
/// credentials (`client_secret_basic`).
fn introspection(issuer: &str, secret: &str, ttl: Duration, clock: Option<&ManualClock>) -> Introspector {
    let mut builder = Introspector::builder()
        .discover(issuer)
        .client_credentials(RS_CLIENT.0, secret)
        .issuer(issuer)
        .audience(AUD)
        .cache_ttl(ttl);
    if let Some(clock) = clock {
        builder = builder.clock(clock.clone());
    }
    builder.build().expect("introspection configuration")
}

fn dpop() -> Dpop {
    Dpop::builder().public_origin(ORIGIN).build().expect("DPoP configuration")
}

async fn start(framework: Framework, auth: Authenticator) -> TestServer {
    serve(framework, auth, None).await.unwrap_or_else(|e| panic!("{framework} server: {e}"))
}

struct Answer {
    status: u16,
    www_authenticate: Vec<String>,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let www_authenticate =
        headers.get_all("www-authenticate").iter().map(|v| v.to_str().expect("ASCII").to_owned()).collect();
    Answer { status, www_authenticate, headers, body: res.text().await.expect("body") }
}

/// `method path` with `Authorization: Bearer token` (none when `token` is `None`).
async fn bearer(server: &TestServer, method: &str, path: &str, token: Option<&str>) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = http_client().request(method, server.url(path));
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    send(req).await
}

/// `GET path` with the `Authorization` and `DPoP` fields the independent client produced.
async fn with_proof(server: &TestServer, path: &str, request: &DpopRequest) -> Answer {
    send(
        http_client()
            .get(server.url(path))
            .header("authorization", &request.authorization)
            .header("dpop", &request.proof),
    )
    .await
}

#[track_caller]
fn expect(answer: &Answer, framework: Framework, what: &str, status: u16, challenge: Option<&str>) {
    assert_eq!(answer.status, status, "{framework}: {what}: status (body {})", answer.body);
    let want: Vec<String> = challenge.into_iter().map(str::to_owned).collect();
    assert_eq!(answer.www_authenticate, want, "{framework}: {what}: WWW-Authenticate");
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9068_jwt_access_tokens_with_scopes() {
    // B (RFC 9068 profile, strict `typ`), C1 (keys from discovery), H1, H2.
    let provider = Provider::start().await;
    let auth = Authenticator::builder().jwt(jwt(&provider.issuer, None)).realm("interop").build().expect("auth");
    let read = provider.access_token(JWT_CLIENT, "orders:read", AUD).await;
    let all = provider.access_token(JWT_CLIENT, "orders:read orders:write admin", AUD).await;
    let foreign = provider.access_token(JWT_CLIENT, "orders:read", OTHER_AUD).await;
    assert_eq!(jose_header(&read)["typ"], "at+jwt", "the provider issues RFC 9068 tokens");
    for framework in Framework::ALL {
        let server = start(framework, auth.clone()).await;
        let me = bearer(&server, "GET", "/me", Some(&read)).await;
        expect(&me, framework, "GET /me", 200, None);
        assert_eq!(
            me.json(),
            json!({"sub": "interop-jwt", "client_id": "interop-jwt", "scopes": ["orders:read"], "kind": "jwt", "bound": null}),
            "{framework}"
        );
        expect(&bearer(&server, "GET", "/orders", Some(&read)).await, framework, "GET /orders", 200, None);
        let write = bearer(&server, "POST", "/orders", Some(&read)).await;
        expect(&write, framework, "POST /orders without orders:write", 403, Some(NEEDS_WRITE));
        expect(&bearer(&server, "GET", "/admin", Some(&read)).await, framework, "GET /admin", 403, Some(NEEDS_ADMIN));
        expect(&bearer(&server, "POST", "/orders", Some(&all)).await, framework, "POST /orders", 201, None);
        expect(&bearer(&server, "GET", "/admin", Some(&all)).await, framework, "GET /admin", 200, None);
        let other = bearer(&server, "GET", "/me", Some(&foreign)).await;
        expect(&other, framework, "a token for another resource", 401, Some(INVALID_TOKEN));
        expect(&bearer(&server, "GET", "/me", None).await, framework, "no token", 401, Some(NO_CREDENTIALS));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_tokens_are_introspected() {
    // D1 (endpoint from discovery, client_secret_basic), D2, D7 (aud of the answer), D3.
    let provider = Provider::start().await;
    let auth = Authenticator::builder()
        .jwt(jwt(&provider.issuer, None))
        .introspection(introspection(&provider.issuer, RS_CLIENT.1, Duration::from_secs(30), None))
        .realm("interop")
        .build()
        .expect("auth");
    let wrong_secret = Authenticator::builder()
        .introspection(introspection(&provider.issuer, "not-the-secret", Duration::from_secs(30), None))
        .realm("interop")
        .build()
        .expect("auth");
    let opaque = provider.access_token(OPAQUE_CLIENT, "orders:read orders:write", AUD).await;
    assert_eq!(opaque.split('.').count(), 1, "an opaque token, not a JWS");
    let foreign = provider.access_token(OPAQUE_CLIENT, "orders:read", OTHER_AUD).await;
    let jwt_token = provider.access_token(JWT_CLIENT, "orders:read", AUD).await;
    for framework in Framework::ALL {
        let server = start(framework, auth.clone()).await;
        let me = bearer(&server, "GET", "/me", Some(&opaque)).await;
        expect(&me, framework, "GET /me", 200, None);
        assert_eq!(
            me.json(),
            json!({"sub": "interop-opaque", "client_id": "interop-opaque", "scopes": ["orders:read", "orders:write"], "kind": "introspection", "bound": null}),
            "{framework}: the subject of a client credentials token is its client"
        );
        // (`GET /orders` of the harness reads a `sub` claim, which the provider's introspection
        // answers for client credentials tokens leave out.)
        let write = bearer(&server, "POST", "/orders", Some(&opaque)).await;
        expect(&write, framework, "POST /orders", 201, None);
        expect(&bearer(&server, "GET", "/admin", Some(&opaque)).await, framework, "GET /admin", 403, Some(NEEDS_ADMIN));
        let other = bearer(&server, "GET", "/me", Some(&foreign)).await;
        expect(&other, framework, "an opaque token for another resource", 401, Some(INVALID_TOKEN));
        let unknown = bearer(&server, "GET", "/me", Some("an-opaque-token-the-provider-never-issued")).await;
        expect(&unknown, framework, "an unknown token", 401, Some(INVALID_TOKEN));
        // The JWTs of the same provider are still validated locally.
        assert_eq!(bearer(&server, "GET", "/me", Some(&jwt_token)).await.json()["kind"], "jwt", "{framework}");

        // D3: the provider refuses our credentials: not the client's fault, 503 and no challenge.
        let refused = start(framework, wrong_secret.clone()).await;
        let answer = bearer(&refused, "GET", "/me", Some(&opaque)).await;
        expect(&answer, framework, "introspection with a wrong client secret", 503, None);
        assert!(answer.headers.contains_key("retry-after"), "{framework}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_once_the_cache_ttl_has_passed() {
    // D4: an active answer is reused for at most the cache TTL; a revocation at the provider shows
    // after it (and at once without a cache).
    let provider = Provider::start().await;
    for framework in Framework::ALL {
        let clock = ManualClock::starting_now();
        let cached = Authenticator::builder()
            .introspection(introspection(&provider.issuer, RS_CLIENT.1, Duration::from_secs(30), Some(&clock)))
            .realm("interop")
            .build()
            .expect("auth");
        let uncached = Authenticator::builder()
            .introspection(introspection(&provider.issuer, RS_CLIENT.1, Duration::ZERO, Some(&clock)))
            .realm("interop")
            .build()
            .expect("auth");
        let server = start(framework, cached).await;
        let strict = start(framework, uncached).await;
        let token = provider.access_token(OPAQUE_CLIENT, "orders:read", AUD).await;
        expect(&bearer(&server, "GET", "/me", Some(&token)).await, framework, "before revocation", 200, None);
        expect(&bearer(&strict, "GET", "/me", Some(&token)).await, framework, "before revocation, no cache", 200, None);

        provider.revoke(OPAQUE_CLIENT, &token).await;
        let stale = bearer(&server, "GET", "/me", Some(&token)).await;
        expect(&stale, framework, "revoked, within the cache TTL", 200, None);
        let fresh = bearer(&strict, "GET", "/me", Some(&token)).await;
        expect(&fresh, framework, "revoked, no cache", 401, Some(INVALID_TOKEN));

        clock.advance(Duration::from_secs(31));
        let refused = bearer(&server, "GET", "/me", Some(&token)).await;
        expect(&refused, framework, "revoked, after the cache TTL", 401, Some(INVALID_TOKEN));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_bound_tokens_with_proofs_of_an_independent_client() {
    // E1 (proof checks on proofs made by oauth4webapi), E5 (cnf.jkt binding, JWT and
    // introspection, D6), E7 (downgrade to Bearer refused), replay of one proof refused.
    let provider = Provider::start().await;
    let auth = Authenticator::builder()
        .jwt(jwt(&provider.issuer, None))
        .introspection(introspection(&provider.issuer, RS_CLIENT.1, Duration::from_secs(30), None))
        .dpop(dpop())
        .realm("interop")
        .build()
        .expect("auth");
    let me_url = format!("{ORIGIN}/me");
    let orders_url = format!("{ORIGIN}/orders");
    for framework in Framework::ALL {
        let server = start(framework, auth.clone()).await;
        let grant = provider.dpop_grant(JWT_CLIENT, "orders:read", &[("GET", &me_url), ("GET", &orders_url)]).await;
        assert_eq!(jose_header(&grant.token)["typ"], "at+jwt");

        let me = with_proof(&server, "/me", &grant.requests[0]).await;
        expect(&me, framework, "DPoP-bound JWT", 200, None);
        assert_eq!(
            me.json(),
            json!({"sub": "interop-jwt", "client_id": "interop-jwt", "scopes": ["orders:read"], "kind": "jwt", "bound": "dpop"}),
            "{framework}"
        );
        assert!(me.headers.get("dpop-nonce").is_none(), "{framework}: no nonce unless required");
        let replay = with_proof(&server, "/me", &grant.requests[0]).await;
        expect(&replay, framework, "the same proof again", 401, Some(&dpop_invalid_proof()));
        let downgrade = bearer(&server, "GET", "/me", Some(&grant.token)).await;
        expect(&downgrade, framework, "the bound token as Bearer", 401, Some(&dpop_downgrade()));
        let orders = with_proof(&server, "/orders", &grant.requests[1]).await;
        expect(&orders, framework, "GET /orders with its own proof", 200, None);

        // An opaque DPoP-bound token: the binding comes from the introspection answer.
        let opaque = provider.dpop_grant(OPAQUE_CLIENT, "orders:read", &[("GET", &me_url), ("GET", &me_url)]).await;
        assert_eq!(opaque.token.split('.').count(), 1, "an opaque token");
        let me = with_proof(&server, "/me", &opaque.requests[0]).await;
        expect(&me, framework, "DPoP-bound opaque token", 200, None);
        assert_eq!((me.json()["kind"].clone(), me.json()["bound"].clone()), (json!("introspection"), json!("dpop")));
        // A proof for /me does not open /orders (htu).
        let elsewhere = with_proof(&server, "/orders", &opaque.requests[1]).await;
        expect(&elsewhere, framework, "a proof for another URL", 401, Some(&dpop_invalid_proof()));
        let downgrade = bearer(&server, "GET", "/me", Some(&opaque.token)).await;
        expect(&downgrade, framework, "the bound opaque token as Bearer", 401, Some(&dpop_downgrade()));
    }
}

/// The certificate-bound tokens of the `tls_client_auth` clients, each with its own certificate,
/// and checks of what the provider issued (G2; D6 for the opaque one).
struct BoundTokens {
    pki: Pki,
    provider: Provider,
    jwt_cert: IssuedCert,
    jwt: String,
    opaque_cert: IssuedCert,
    opaque: String,
    /// Another client certificate of the same CA.
    other_cert: IssuedCert,
}

impl BoundTokens {
    async fn issue() -> Self {
        let pki = Pki::new();
        let provider = Provider::with_client_ca(&pki).await;
        let discovery = send(http_client().get(provider.url("/.well-known/openid-configuration"))).await.json();
        assert_eq!(discovery["tls_client_certificate_bound_access_tokens"], true, "{discovery}");
        let jwt_cert = pki.client(MTLS_JWT_CLIENT);
        let opaque_cert = pki.client(MTLS_OPAQUE_CLIENT);
        let other_cert = pki.client("interop-other-workload");

        // The provider authenticates the clients by their certificate: none, the other client's,
        // or one with the right subject from another CA is no authentication.
        let foreign = Pki::new().client(MTLS_JWT_CLIENT);
        for (case, certificate) in
            [("no certificate", None), ("another subject", Some(&opaque_cert)), ("another CA", Some(&foreign))]
        {
            let (status, body) = provider.mtls_grant(MTLS_JWT_CLIENT, certificate, "orders:read").await;
            assert_eq!((status, &body["error"]), (401, &json!("invalid_client")), "provider, {case}: {body}");
        }

        // G2: `cnf.x5t#S256` is the SHA-256 of the certificate's DER, base64url, in the JWT's
        // claims and at the top level of the introspection answer (RFC 8705 §3.1, §3.2).
        let jwt = provider.bound_token(MTLS_JWT_CLIENT, &jwt_cert, "orders:read").await;
        assert_eq!(jose_header(&jwt)["typ"], "at+jwt");
        assert_eq!(jws_claims(&jwt)["cnf"], json!({ "x5t#S256": x5t_s256(&jwt_cert.der) }));
        let opaque = provider.bound_token(MTLS_OPAQUE_CLIENT, &opaque_cert, "orders:read").await;
        assert_eq!(opaque.split('.').count(), 1, "an opaque token, not a JWS");
        let introspected = provider.introspect(&opaque).await;
        assert_eq!(introspected["active"], true, "{introspected}");
        assert_eq!(introspected["cnf"], json!({ "x5t#S256": x5t_s256(&opaque_cert.der) }), "{introspected}");
        Self { pki, provider, jwt_cert, jwt, opaque_cert, opaque, other_cert }
    }

    /// JWTs and introspection of the provider, client certificates from `certificates`.
    fn authenticator(&self, certificates: ClientCertificates) -> Authenticator {
        Authenticator::builder()
            .jwt(jwt(&self.provider.issuer, None))
            .introspection(introspection(&self.provider.issuer, RS_CLIENT.1, Duration::from_secs(30), None))
            .client_certificates(certificates)
            .realm("interop")
            .build()
            .expect("auth")
    }

    /// `(token, its certificate, client id, mechanism)`, the JWT first.
    fn cases(&self) -> [(&str, &IssuedCert, &str, &str); 2] {
        [
            (&self.jwt, &self.jwt_cert, MTLS_JWT_CLIENT, "jwt"),
            (&self.opaque, &self.opaque_cert, MTLS_OPAQUE_CLIENT, "introspection"),
        ]
    }
}

#[track_caller]
fn assert_bound_principal(answer: &Answer, framework: Framework, what: &str, client_id: &str, kind: &str) {
    expect(answer, framework, what, 200, None);
    assert_eq!(
        answer.json(),
        json!({"sub": client_id, "client_id": client_id, "scopes": ["orders:read"], "kind": kind, "bound": "mtls"}),
        "{framework}: {what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_bound_tokens_over_mutual_tls() {
    // G1 (the token only over its certificate, RFC 8705 §3), G2, D6 (`cnf` of the introspection
    // answer), G5 (the certificate of the TLS connection), on servers terminating TLS themselves.
    let tokens = BoundTokens::issue().await;
    let pki = &tokens.pki;
    let auth = tokens.authenticator(ClientCertificates::new());
    let anonymous = pki.https_client(None);
    let other = pki.https_client(Some(&tokens.other_cert));
    let unbound = tokens.provider.access_token(JWT_CLIENT, "orders:read", AUD).await;
    for framework in Framework::ALL {
        let server = serve_tls(framework, auth.clone(), pki.server_tls(), &anonymous)
            .await
            .unwrap_or_else(|e| panic!("{framework} TLS server: {e}"));
        for (token, cert, client_id, kind) in tokens.cases() {
            let what = |case: &str| format!("{kind} token, {case}");
            let own = pki.https_client(Some(cert));
            let me = send(own.get(server.url("/me")).bearer_auth(token)).await;
            assert_bound_principal(&me, framework, &what("its certificate"), client_id, kind);
            let orders = send(own.get(server.url("/orders")).bearer_auth(token)).await;
            expect(&orders, framework, &what("its certificate, GET /orders"), 200, None);
            assert_eq!(orders.json()["for"], client_id, "{framework}");

            let elsewhere = send(other.get(server.url("/me")).bearer_auth(token)).await;
            expect(&elsewhere, framework, &what("another certificate of the CA"), 401, Some(BINDING));
            let without = send(anonymous.get(server.url("/me")).bearer_auth(token)).await;
            expect(&without, framework, &what("no certificate"), 401, Some(BINDING));
            // `Client-Cert` from a peer that is no trusted proxy is ignored (G4).
            let forwarded =
                anonymous.get(server.url("/me")).bearer_auth(token).header("client-cert", cert.client_cert_field());
            expect(&send(forwarded).await, framework, &what("Client-Cert, no trusted proxy"), 401, Some(BINDING));
        }
        // A token of the provider without `cnf` is not bound, certificate or not.
        let me = send(other.get(server.url("/me")).bearer_auth(&unbound)).await;
        expect(&me, framework, "unbound token over a certificate", 200, None);
        assert_eq!((me.json()["kind"].clone(), me.json()["bound"].clone()), (json!("jwt"), Value::Null));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_bound_tokens_through_a_trusted_proxy() {
    // G4: TLS terminated by a proxy at 127.0.0.1 that forwards the client certificate in
    // `Client-Cert` (RFC 9440); G1 and D6 as over direct TLS.
    let tokens = BoundTokens::issue().await;
    let behind_proxy = tokens
        .authenticator(ClientCertificates::new().trusted_proxies("127.0.0.1/32".parse().expect("trusted proxies")));
    let other = tokens.other_cert.client_cert_field();
    for framework in Framework::ALL {
        let server = start(framework, behind_proxy.clone()).await;
        for (token, cert, client_id, kind) in tokens.cases() {
            let what = |case: &str| format!("{kind} token, {case}");
            let own = cert.client_cert_field();
            let me = send(http_client().get(server.url("/me")).bearer_auth(token).header("client-cert", &own)).await;
            assert_bound_principal(&me, framework, &what("its certificate forwarded"), client_id, kind);
            // RFC 9440 §2.4: the answer depends on the field.
            let vary = me.headers.get_all("vary").iter().flat_map(|v| v.to_str().expect("ASCII").split(','));
            assert!(vary.map(str::trim).any(|v| v.eq_ignore_ascii_case("client-cert")), "{framework}: Vary");

            let elsewhere =
                send(http_client().get(server.url("/me")).bearer_auth(token).header("client-cert", &other)).await;
            expect(&elsewhere, framework, &what("another certificate forwarded"), 401, Some(BINDING));
            let without = bearer(&server, "GET", "/me", Some(token)).await;
            expect(&without, framework, &what("nothing forwarded"), 401, Some(BINDING));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_key_rotation_is_picked_up() {
    // C2 (unknown kid → one refetch per cool-down), C5 (a retired key leaves with the next refresh).
    let provider = Provider::start().await;
    let clock = ManualClock::starting_now();
    let auth =
        Authenticator::builder().jwt(jwt(&provider.issuer, Some(&clock))).realm("interop").build().expect("auth");
    let servers = [start(Framework::Axum, auth.clone()).await, start(Framework::Actix, auth.clone()).await];

    let old = provider.access_token(JWT_CLIENT, "orders:read", AUD).await;
    for server in &servers {
        expect(&bearer(server, "GET", "/me", Some(&old)).await, server.framework(), "first key", 200, None);
    }

    // A new key signs from now on; the old one stays published.
    let kids = provider.keys("rotate").await;
    assert_eq!(kids.len(), 2);
    let new = provider.access_token(JWT_CLIENT, "orders:read", AUD).await;
    assert_eq!(jose_header(&new)["kid"], kids[0].as_str(), "the new key signs");
    assert_eq!(jose_header(&old)["kid"], kids[1].as_str());
    clock.advance(Duration::from_secs(11)); // past the unknown-kid cool-down
    for server in &servers {
        let framework = server.framework();
        expect(&bearer(server, "GET", "/me", Some(&new)).await, framework, "token of the new key", 200, None);
        expect(&bearer(server, "GET", "/me", Some(&old)).await, framework, "token of the old key", 200, None);
    }

    // The old key is retired; the next refresh (due after 5 minutes, started by the next token that
    // is not in the verified-token cache) drops it, and the cache with it.
    assert_eq!(provider.keys("retire").await, kids[..1].to_vec());
    clock.advance(Duration::from_secs(301));
    let fresh = provider.access_token(JWT_CLIENT, "orders:read", AUD).await;
    expect(&bearer(&servers[0], "GET", "/me", Some(&fresh)).await, Framework::Axum, "a fresh token", 200, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        // The refresh runs in the background; until it lands, the old token is still served.
        let answer = bearer(&servers[0], "GET", "/me", Some(&old)).await;
        if answer.status == 401 {
            break;
        }
        assert_eq!(answer.status, 200, "before the refresh lands: {}", answer.body);
        assert!(tokio::time::Instant::now() < deadline, "the retired key was not dropped within 20 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for server in &servers {
        let framework = server.framework();
        let refused = bearer(server, "GET", "/me", Some(&old)).await;
        expect(&refused, framework, "token of the retired key", 401, Some(INVALID_TOKEN));
        expect(&bearer(server, "GET", "/me", Some(&new)).await, framework, "token of the signing key", 200, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata_leads_a_client_to_the_provider() {
    // J: RFC 9728 §3.1 (path insertion), §3.2 (200, application/json), §3.3 (resource identical),
    // §5.1 (`resource_metadata` in every challenge, Bearer and DPoP); H1 syntax preserved.
    let provider = Provider::start().await;
    let resource = "https://api.tower-auth.test/v1";
    let metadata_url = "https://api.tower-auth.test/.well-known/oauth-protected-resource/v1";
    let jwt = JwtValidator::builder()
        .issuer(Issuer::discover(&provider.issuer).token_types(TokenTypes::Strict))
        .audience(resource)
        .build()
        .expect("JWT configuration");
    let auth = Authenticator::builder()
        .jwt(jwt)
        .dpop(dpop())
        .realm("interop")
        .resource_metadata(
            ResourceMetadata::new(resource)
                .authorization_servers([provider.issuer.as_str()])
                .scopes_supported(["orders:read", "orders:write", "admin"])
                .resource_name("tower-auth interop"),
        )
        .build()
        .expect("auth");
    let challenge = format!(
        r#"Bearer realm="interop", resource_metadata="{metadata_url}", DPoP realm="interop", algs="{ALGS}", resource_metadata="{metadata_url}""#
    );
    let scope_challenge = format!(
        r#"Bearer realm="interop", error="insufficient_scope", error_description="The access token lacks a required scope", scope="admin", resource_metadata="{metadata_url}", DPoP realm="interop", algs="{ALGS}", resource_metadata="{metadata_url}""#
    );
    for framework in Framework::ALL {
        let server = start(framework, auth.clone()).await;
        // 1. A client without a token learns where the metadata is.
        let refused = bearer(&server, "GET", "/me", None).await;
        expect(&refused, framework, "no token", 401, Some(&challenge));
        let expose = refused.headers.get("access-control-expose-headers").map(|v| v.to_str().unwrap_or_default());
        assert_eq!(expose, Some("WWW-Authenticate, DPoP-Nonce"), "{framework}");

        // 2. It fetches the document (here from the server's own address: the resource's host is
        // the public name of the servers).
        let path = metadata_url.strip_prefix("https://api.tower-auth.test").expect("same origin");
        let doc = send(http_client().get(server.url(path))).await;
        assert_eq!(doc.status, 200, "{framework}: {}", doc.body);
        assert_eq!(doc.headers.get("content-type").map(|v| v.to_str().unwrap_or_default()), Some("application/json"));
        let doc = doc.json();
        assert_eq!(
            doc,
            json!({
                "resource": resource,
                "authorization_servers": [provider.issuer],
                "scopes_supported": ["orders:read", "orders:write", "admin"],
                "bearer_methods_supported": ["header"],
                "resource_name": "tower-auth interop",
                "dpop_signing_alg_values_supported": ALGS.split(' ').collect::<Vec<_>>(),
            }),
            "{framework}"
        );
        assert_eq!(doc["resource"], resource, "§3.3: identical to the identifier the URL was made from");

        // 3. It discovers the authorization server and asks it for a token for the resource.
        let issuer = doc["authorization_servers"][0].as_str().expect("issuer");
        let discovery = send(http_client().get(format!("{issuer}/.well-known/openid-configuration"))).await.json();
        let token_endpoint = discovery["token_endpoint"].as_str().expect("token_endpoint");
        let token = provider.grant_at(token_endpoint, JWT_CLIENT, "orders:read", resource).await;

        // 4. The token opens the resource; a missing scope is answered with the metadata too.
        expect(&bearer(&server, "GET", "/me", Some(&token)).await, framework, "GET /me", 200, None);
        let admin = bearer(&server, "GET", "/admin", Some(&token)).await;
        expect(&admin, framework, "GET /admin", 403, Some(&scope_challenge));
    }
}
