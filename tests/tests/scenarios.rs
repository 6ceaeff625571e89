//! One scenario table, run against axum and actix-web over real HTTP on 127.0.0.1.
//!
//! Every scenario names the checklist item it exercises (RFC-CHECKLIST.md: A credential extraction,
//! B JWT validation, C JWKS handling, H error responses; "design" for DESIGN.md decisions). Each row
//! states the exact status and the exact `WWW-Authenticate` value (string equality, realm `test`);
//! every answer is also checked for an `application/problem+json` body on errors and for never
//! echoing the credential it was sent.
//!
//! Stateful scenarios (key rotation, unknown-`kid` flood, issuer down at start-up, optional mode)
//! run on both frameworks too, with a [`ManualClock`] moved past the 10 s JWKS cool-down instead of
//! sleeping.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::testkit::{TestIssuer, TokenBuilder};
use tower_auth::{Authenticator, ManualClock};
use tower_auth_tests::{Framework, TestServer, http_client, serve};

const AUD: &str = "https://api.tower-auth.test";
const REALM: &str = "test";

// The exact challenges of the error table (H1, H2, realm "test").
const NO_CREDENTIALS: &str = r#"Bearer realm="test""#;
const INVALID_TOKEN: &str = r#"Bearer realm="test", error="invalid_token", error_description="Invalid token""#;
const EXPIRED: &str = r#"Bearer realm="test", error="invalid_token", error_description="The access token expired""#;
const BINDING: &str = r#"Bearer realm="test", error="invalid_token", error_description="Invalid token binding""#;
const MALFORMED: &str = r#"Bearer realm="test", error="invalid_request", error_description="Malformed credentials""#;
const MULTIPLE: &str = r#"Bearer realm="test", error="invalid_request", error_description="Multiple methods used to include access token""#;
const NEEDS_ORDERS_READ: &str = r#"Bearer realm="test", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:read""#;
const NEEDS_ORDERS_WRITE: &str = r#"Bearer realm="test", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:write""#;
const NEEDS_ADMIN: &str = r#"Bearer realm="test", error="insufficient_scope", error_description="The access token lacks a required scope", scope="admin""#;

/// The JWKS cool-down (`JwksSettings::default().cooldown`) plus a margin.
const PAST_COOLDOWN: Duration = Duration::from_secs(11);

// ---------------------------------------------------------------------------------------------
// Requests and answers

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

#[derive(Clone)]
struct Req {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    /// The credential sent: it must never come back in a header or the body.
    secret: Option<String>,
}

impl Req {
    fn get(path: &str) -> Self {
        Self { method: Method::Get, path: path.to_owned(), headers: Vec::new(), secret: None }
    }

    fn post(path: &str) -> Self {
        Self { method: Method::Post, ..Self::get(path) }
    }

    /// `Authorization: Bearer <token>`.
    fn bearer(self, token: String) -> Self {
        self.authorization(format!("Bearer {token}"), Some(token))
    }

    /// A raw `Authorization` field (appended: call twice for two fields).
    fn authorization(mut self, value: String, secret: Option<String>) -> Self {
        self.headers.push(("authorization", value));
        if secret.is_some() {
            self.secret = secret;
        }
        self
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }
}

async fn send(client: &reqwest::Client, base_url: &str, req: &Req) -> Result<Answer, String> {
    let url = format!("{base_url}{}", req.path);
    let mut builder = match req.method {
        Method::Get => client.get(&url),
        Method::Post => client.post(&url),
    };
    for (name, value) in &req.headers {
        builder = builder.header(*name, value.as_str());
    }
    let res = builder.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = res.text().await.map_err(|e| format!("reading the body failed: {e}"))?;
    Ok(Answer { status, headers, body })
}

/// What the body must look like.
#[derive(Clone, Copy)]
enum Body {
    /// RFC 9457 problem document (H4) whose `status` is the response status.
    Problem,
    /// A problem document plus `Retry-After: <1..=10>` (the 503 of an unreachable issuer).
    Unavailable,
    /// `application/json` satisfying the predicate.
    Json(fn(&Value) -> bool),
    /// Exactly this text.
    Text(&'static str),
}

fn verify(ans: &Answer, req: &Req, status: u16, www_authenticate: Option<&str>, body: Body) -> Result<(), String> {
    let mut errors = Vec::new();
    if ans.status != status {
        errors.push(format!("status {} (expected {status})", ans.status));
    }
    let challenges = ans.all("www-authenticate");
    match www_authenticate {
        Some(expected) if challenges != [expected] => {
            errors.push(format!("WWW-Authenticate {challenges:?} (expected exactly [{expected:?}])"));
        }
        None if !challenges.is_empty() => errors.push(format!("unexpected WWW-Authenticate {challenges:?}")),
        _ => {}
    }
    let content_type = ans.all("content-type").first().copied().unwrap_or("").to_owned();
    match body {
        Body::Problem | Body::Unavailable => {
            if !content_type.starts_with("application/problem+json") {
                errors.push(format!("content-type {content_type:?} (expected application/problem+json)"));
            }
            match serde_json::from_str::<Value>(&ans.body) {
                Ok(doc) => {
                    if doc["status"] != json!(ans.status) || !doc["title"].is_string() || !doc["detail"].is_string() {
                        errors.push(format!("problem document without matching status/title/detail: {doc}"));
                    }
                }
                Err(_) => errors.push(format!("body is not JSON: {:?}", ans.body)),
            }
            if matches!(body, Body::Unavailable) {
                let retry: Vec<&str> = ans.all("retry-after");
                let ok = matches!(retry.as_slice(), [v] if v.parse::<u64>().is_ok_and(|s| (1..=10).contains(&s)));
                if !ok {
                    errors.push(format!("Retry-After {retry:?} (expected one value in 1..=10 s)"));
                }
            }
        }
        Body::Json(predicate) => {
            if !content_type.starts_with("application/json") {
                errors.push(format!("content-type {content_type:?} (expected application/json)"));
            }
            match serde_json::from_str::<Value>(&ans.body) {
                Ok(doc) if predicate(&doc) => {}
                _ => errors.push(format!("unexpected body {:?}", ans.body)),
            }
        }
        Body::Text(text) => {
            if ans.body != text {
                errors.push(format!("body {:?} (expected {text:?})", ans.body));
            }
        }
    }
    // design: a token, key or secret is never echoed — not whole, not a segment of it.
    if let Some(secret) = &req.secret {
        let pieces = std::iter::once(secret.as_str()).chain(secret.split('.').filter(|p| p.len() >= 16));
        for piece in pieces {
            if ans.body.contains(piece) || ans.headers.iter().any(|(_, v)| v.contains(piece)) {
                errors.push("the response echoes the credential".to_owned());
                break;
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

// ---------------------------------------------------------------------------------------------
// Tokens

fn tok(issuer: &TestIssuer) -> TokenBuilder {
    issuer.token()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

/// Flips one character in the middle of the signature.
fn tamper_signature(token: &str) -> String {
    let dot = token.rfind('.').expect("a compact JWS");
    let mut bytes = token.as_bytes().to_vec();
    let at = dot + 1 + (token.len() - dot - 1) / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

/// Changes `sub` in the payload and keeps the original signature.
fn tamper_payload(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&unb64(parts[1])).expect("claims JSON");
    claims["sub"] = json!("admin");
    format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2])
}

/// A valid RS256 token whose header is rewritten to `alg: none`, keeping `kid` and the signature.
fn none_with_real_signature(issuer: &TestIssuer) -> String {
    let token = tok(issuer).alg(Algorithm::RS256).sign();
    let parts: Vec<&str> = token.split('.').collect();
    let mut header: Value = serde_json::from_slice(&unb64(parts[0])).expect("header JSON");
    header["alg"] = json!("none");
    format!("{}.{}.{}", b64(header.to_string().as_bytes()), parts[1], parts[2])
}

fn rsa_kid(issuer: &TestIssuer) -> String {
    issuer.kid_for(Algorithm::RS256).expect("an RS256 key")
}

fn rsa_components(issuer: &TestIssuer) -> (Vec<u8>, Vec<u8>) {
    let jwk = issuer.public_jwk(&rsa_kid(issuer)).expect("the RS256 JWK");
    (unb64(jwk["n"].as_str().expect("n")), unb64(jwk["e"].as_str().expect("e")))
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if content.len() < 0x80 {
        out.push(content.len() as u8);
    } else {
        let len = content.len().to_be_bytes();
        let skip = len.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (len.len() - skip) as u8);
        out.extend_from_slice(&len[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let mut content = Vec::with_capacity(bytes.len() + 1);
    if bytes.get(skip).is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&bytes[skip..]);
    der(0x02, &content)
}

/// The RS256 public key as DER SubjectPublicKeyInfo (what `openssl rsa -pubout -outform der` gives).
fn rsa_spki_der(issuer: &TestIssuer) -> Vec<u8> {
    let (n, e) = rsa_components(issuer);
    let pkcs1 = der(0x30, &[der_uint(&n), der_uint(&e)].concat());
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    let algorithm =
        der(0x30, &[&[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01][..], &[0x05, 0x00]].concat());
    let mut bit_string = vec![0u8];
    bit_string.extend_from_slice(&pkcs1);
    der(0x30, &[algorithm, der(0x03, &bit_string)].concat())
}

/// The RS256 public key as PEM, the classic RS256→HS256 confusion secret.
fn rsa_pem(issuer: &TestIssuer) -> String {
    let body = STANDARD.encode(rsa_spki_der(issuer));
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// An ES256 token padded to at most `limit` bytes, as close to it as base64 allows.
fn token_near(issuer: &TestIssuer, limit: usize) -> String {
    let base = tok(issuer).alg(Algorithm::ES256).claim("pad", "").sign().len();
    let mut pad = (limit - base) * 3 / 4 + 3;
    loop {
        let token = tok(issuer).alg(Algorithm::ES256).claim("pad", "x".repeat(pad)).sign();
        if token.len() <= limit {
            return token;
        }
        pad -= 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Body predicates

fn is_user1(v: &Value) -> bool {
    v["sub"] == "user-1" && v["client_id"] == "test-client" && v["kind"] == "jwt" && v["bound"].is_null()
}

fn me_orders_read(v: &Value) -> bool {
    is_user1(v) && v["scopes"] == json!(["orders:read"])
}

fn me_no_scopes(v: &Value) -> bool {
    is_user1(v) && v["scopes"] == json!([])
}

fn orders_of_user1(v: &Value) -> bool {
    v["orders"] == json!([]) && v["owner"] == "user-1"
}

fn created_by_user1(v: &Value) -> bool {
    v["created"] == true && v["owner"] == "user-1"
}

fn admin_user1(v: &Value) -> bool {
    v["admin"] == "user-1"
}

fn anonymous(v: &Value) -> bool {
    v == &json!({ "anonymous": true })
}

// ---------------------------------------------------------------------------------------------
// The table

struct Scenario {
    name: &'static str,
    request: fn(&TestIssuer) -> Req,
    status: u16,
    www_authenticate: Option<&'static str>,
    body: Body,
}

fn me_with(token: String) -> Req {
    Req::get("/me").bearer(token)
}

fn table() -> Vec<Scenario> {
    let s = |name, request, status, www_authenticate, body| Scenario { name, request, status, www_authenticate, body };
    vec![
        // --- valid tokens, every algorithm of the issuer (B1: each key pinned to its algorithm)
        s(
            "B1 valid RS256 -> 200",
            |i| me_with(tok(i).alg(Algorithm::RS256).scope("orders:read").sign()),
            200,
            None,
            Body::Json(me_orders_read),
        ),
        s(
            "B1 valid PS256 -> 200",
            |i| me_with(tok(i).alg(Algorithm::PS256).scope("orders:read").sign()),
            200,
            None,
            Body::Json(me_orders_read),
        ),
        s(
            "B1 valid ES256 -> 200",
            |i| me_with(tok(i).alg(Algorithm::ES256).scope("orders:read").sign()),
            200,
            None,
            Body::Json(me_orders_read),
        ),
        s(
            "B1 valid ES384 -> 200",
            |i| me_with(tok(i).alg(Algorithm::ES384).scope("orders:read").sign()),
            200,
            None,
            Body::Json(me_orders_read),
        ),
        s(
            "B1 valid EdDSA -> 200",
            |i| me_with(tok(i).alg(Algorithm::EdDSA).scope("orders:read").sign()),
            200,
            None,
            Body::Json(me_orders_read),
        ),
        s(
            "A1 scheme is case-insensitive: `bearer` -> 200",
            |i| {
                let t = tok(i).sign();
                Req::get("/me").authorization(format!("bearer {t}"), Some(t))
            },
            200,
            None,
            Body::Json(me_no_scopes),
        ),
        s(
            "A1 `BEARER` followed by several spaces -> 200",
            |i| {
                let t = tok(i).sign();
                Req::get("/me").authorization(format!("BEARER   {t}"), Some(t))
            },
            200,
            None,
            Body::Json(me_no_scopes),
        ),
        s(
            "B7 aud array containing ours -> 200",
            |i| me_with(tok(i).claim("aud", json!(["https://other.example", AUD])).sign()),
            200,
            None,
            Body::Json(me_no_scopes),
        ),
        s(
            "B8 exp 30 s ago, within the 60 s leeway -> 200",
            |i| me_with(tok(i).expires_in(-30).sign()),
            200,
            None,
            Body::Json(me_no_scopes),
        ),
        s(
            "B8 nbf in 30 s, within the 60 s leeway -> 200",
            |i| me_with(tok(i).not_before_in(30).sign()),
            200,
            None,
            Body::Json(me_no_scopes),
        ),
        s(
            "B9 typ at+JWT (case-insensitive) -> 200",
            |i| me_with(tok(i).header("typ", "at+JWT").sign()),
            200,
            None,
            Body::Json(me_no_scopes),
        ),
        s(
            "design: token of at most 8 KiB -> 200",
            |i| me_with(token_near(i, 8 * 1024)),
            200,
            None,
            Body::Json(me_no_scopes),
        ),
        // --- bad tokens: 401 invalid_token (B13)
        s(
            "B3 tampered signature -> 401",
            |i| me_with(tamper_signature(&tok(i).sign())),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B3 tampered payload, original signature -> 401",
            |i| me_with(tamper_payload(&tok(i).sign())),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B2 alg none (sign_unsecured) -> 401",
            |i| me_with(tok(i).sign_unsecured()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B2 alg `None` -> 401",
            |i| me_with(tok(i).header("alg", "None").sign_unsecured()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B2 alg `NONE` -> 401",
            |i| me_with(tok(i).header("alg", "NONE").sign_unsecured()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B2 alg none with a real kid and signature -> 401",
            |i| me_with(none_with_real_signature(i)),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B1 HS256 keyed with the RSA modulus n (key confusion) -> 401",
            |i| me_with(tok(i).kid(Some(&rsa_kid(i))).sign_hmac(Algorithm::HS256, &rsa_components(i).0)),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B1 HS256 keyed with the RSA public key DER (key confusion) -> 401",
            |i| me_with(tok(i).kid(Some(&rsa_kid(i))).sign_hmac(Algorithm::HS256, &rsa_spki_der(i))),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B1 HS256 keyed with the RSA public key PEM, no kid (key confusion) -> 401",
            |i| me_with(tok(i).sign_hmac(Algorithm::HS256, rsa_pem(i).as_bytes())),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B6 wrong iss -> 401",
            |i| me_with(tok(i).claim("iss", "https://evil.example").sign()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B7 missing aud -> 401",
            |i| me_with(tok(i).remove_claim("aud").sign()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B7 wrong aud -> 401",
            |i| me_with(tok(i).audience("https://other.example").sign()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B8 expired (1 h ago) -> 401 `The access token expired`",
            |i| me_with(tok(i).expires_in(-3600).sign()),
            401,
            Some(EXPIRED),
            Body::Problem,
        ),
        s(
            "B8 nbf 1 h in the future -> 401",
            |i| me_with(tok(i).not_before_in(3600).sign()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B10 missing exp -> 401",
            |i| me_with(tok(i).remove_claim("exp").sign()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "C2/C3 unknown kid -> 401",
            |i| me_with(tok(i).kid(Some("no-such-kid")).sign()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B4 unknown crit extension -> 401",
            |i| {
                me_with(
                    tok(i).header("crit", json!(["urn:example:unknown"])).header("urn:example:unknown", true).sign(),
                )
            },
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B9 typ dpop+jwt is not an access token -> 401",
            |i| me_with(tok(i).header("typ", "dpop+jwt").sign()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "design: oversized token (> 8 KiB) -> 401",
            |i| me_with(tok(i).claim("pad", "x".repeat(9000)).sign()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "B12 a b64token that is not a JWT -> 401",
            |_| me_with("not-a-jwt".to_owned()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "E10 cnf.jkt (DPoP-bound) token sent as Bearer -> 401",
            |i| me_with(tok(i).claim("cnf", json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})).sign()),
            401,
            Some(BINDING),
            Body::Problem,
        ),
        s(
            "G1 cnf.x5t#S256 (mTLS-bound) token sent as Bearer -> 401",
            |i| me_with(tok(i).claim("cnf", json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})).sign()),
            401,
            Some(BINDING),
            Body::Problem,
        ),
        // --- request syntax (A1, A2, A3, H1)
        s(
            "A1 `Bearer !!!` -> 400 invalid_request",
            |_| Req::get("/me").authorization("Bearer !!!".to_owned(), None),
            400,
            Some(MALFORMED),
            Body::Problem,
        ),
        s(
            "A1 `Bearer` without a token -> 400 invalid_request",
            |_| Req::get("/me").authorization("Bearer".to_owned(), None),
            400,
            Some(MALFORMED),
            Body::Problem,
        ),
        s(
            "H1 `Basic` credentials -> 401 without error code",
            |_| {
                Req::get("/me")
                    .authorization("Basic dXNlcjpwYXNzd29yZA==".to_owned(), Some("dXNlcjpwYXNzd29yZA==".to_owned()))
            },
            401,
            Some(NO_CREDENTIALS),
            Body::Problem,
        ),
        s(
            "A2 two Authorization headers -> 400 invalid_request",
            |i| {
                let (a, b) = (tok(i).sign(), tok(i).sign());
                Req::get("/me")
                    .authorization(format!("Bearer {a}"), Some(a))
                    .authorization(format!("Bearer {b}"), Some(b))
            },
            400,
            Some(MULTIPLE),
            Body::Problem,
        ),
        s(
            "A3 access_token in the query is not a credential -> 401 without error code",
            |i| {
                let t = tok(i).sign();
                let mut req = Req::get(&format!("/me?access_token={t}"));
                req.secret = Some(t);
                req
            },
            401,
            Some(NO_CREDENTIALS),
            Body::Problem,
        ),
        s("H1 no credentials -> 401 `Bearer realm`", |_| Req::get("/me"), 401, Some(NO_CREDENTIALS), Body::Problem),
        // --- scopes per route (H2)
        s(
            "GET /orders with orders:read (route_layer / RequireScopes, Claims<T>) -> 200",
            |i| Req::get("/orders").bearer(tok(i).scope("orders:read").sign()),
            200,
            None,
            Body::Json(orders_of_user1),
        ),
        s(
            "design: scopes from an `scp` array -> GET /orders 200",
            |i| Req::get("/orders").bearer(tok(i).claim("scp", json!(["orders:read"])).sign()),
            200,
            None,
            Body::Json(orders_of_user1),
        ),
        s(
            "H2 GET /orders without orders:read -> 403",
            |i| Req::get("/orders").bearer(tok(i).scope("profile").sign()),
            403,
            Some(NEEDS_ORDERS_READ),
            Body::Problem,
        ),
        s(
            "POST /orders with orders:write -> 201",
            |i| Req::post("/orders").bearer(tok(i).scope("orders:write").sign()),
            201,
            None,
            Body::Json(created_by_user1),
        ),
        s(
            "H2 POST /orders with orders:read only -> 403 naming orders:write",
            |i| Req::post("/orders").bearer(tok(i).scope("orders:read").sign()),
            403,
            Some(NEEDS_ORDERS_WRITE),
            Body::Problem,
        ),
        s(
            "H1 POST /orders without credentials -> 401",
            |_| Req::post("/orders"),
            401,
            Some(NO_CREDENTIALS),
            Body::Problem,
        ),
        s(
            "GET /admin with admin (Scoped<S> extractor) -> 200",
            |i| Req::get("/admin").bearer(tok(i).scope("admin").sign()),
            200,
            None,
            Body::Json(admin_user1),
        ),
        s(
            "H2 GET /admin without admin -> 403 naming admin",
            |i| Req::get("/admin").bearer(tok(i).scope("orders:read orders:write").sign()),
            403,
            Some(NEEDS_ADMIN),
            Body::Problem,
        ),
        s("H1 GET /admin without credentials -> 401", |_| Req::get("/admin"), 401, Some(NO_CREDENTIALS), Body::Problem),
        // --- public route outside the authentication
        s("public /healthz without credentials -> 200", |_| Req::get("/healthz"), 200, None, Body::Text("ok")),
        s(
            "public /healthz ignores a malformed Authorization -> 200",
            |_| Req::get("/healthz").authorization("Bearer !!!".to_owned(), None),
            200,
            None,
            Body::Text("ok"),
        ),
    ]
}

/// The optional-mode table (design: "optional authentication is a mode"), against `/whoami`
/// (`Option<Principal>`, optional authenticator) and `/me` (required authenticator) of one server.
fn optional_table() -> Vec<Scenario> {
    let s = |name, request, status, www_authenticate, body| Scenario { name, request, status, www_authenticate, body };
    vec![
        s("optional: no credentials -> 200 anonymous", |_| Req::get("/whoami"), 200, None, Body::Json(anonymous)),
        s(
            "optional: valid token -> 200 with the principal",
            |i| Req::get("/whoami").bearer(tok(i).scope("orders:read").sign()),
            200,
            None,
            Body::Json(me_orders_read),
        ),
        s(
            "optional: tampered token -> still 401",
            |i| Req::get("/whoami").bearer(tamper_signature(&tok(i).sign())),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "optional: expired token -> still 401",
            |i| Req::get("/whoami").bearer(tok(i).expires_in(-3600).sign()),
            401,
            Some(EXPIRED),
            Body::Problem,
        ),
        s(
            "optional: alg none -> still 401",
            |i| Req::get("/whoami").bearer(tok(i).sign_unsecured()),
            401,
            Some(INVALID_TOKEN),
            Body::Problem,
        ),
        s(
            "optional: `Bearer !!!` -> still 400",
            |_| Req::get("/whoami").authorization("Bearer !!!".to_owned(), None),
            400,
            Some(MALFORMED),
            Body::Problem,
        ),
        s(
            "optional: `Basic` is no credential -> 200 anonymous",
            |_| Req::get("/whoami").authorization("Basic dXNlcjpwYXNz".to_owned(), None),
            200,
            None,
            Body::Json(anonymous),
        ),
        s(
            "optional: a required route beside it still answers 401",
            |_| Req::get("/me"),
            401,
            Some(NO_CREDENTIALS),
            Body::Problem,
        ),
    ]
}

async fn run_table(
    framework: Framework,
    server: &TestServer,
    issuer: &TestIssuer,
    scenarios: &[Scenario],
    failures: &mut Vec<String>,
) {
    let client = http_client();
    for scenario in scenarios {
        let req = (scenario.request)(issuer);
        let outcome = match send(&client, server.base_url(), &req).await {
            Ok(ans) => verify(&ans, &req, scenario.status, scenario.www_authenticate, scenario.body),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => println!("PASS [{framework}] {}", scenario.name),
            Err(e) => {
                println!("FAIL [{framework}] {}: {e}", scenario.name);
                failures.push(format!("[{framework}] {}: {e}", scenario.name));
            }
        }
    }
}

fn assert_no_failures(what: &str, failures: &[String]) {
    assert!(failures.is_empty(), "{what}: {} failure(s):\n{}", failures.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Set-up

fn validator(issuer: &TestIssuer, clock: Option<&ManualClock>) -> JwtValidator {
    let mut builder =
        JwtValidator::builder().issuer(Issuer::discover(issuer.url())).audience(AUD).http_client(http_client());
    if let Some(clock) = clock {
        builder = builder.clock(clock.clone());
    }
    builder.build().expect("a valid JWT validator configuration")
}

fn authenticator(validator: JwtValidator, optional: bool) -> Authenticator {
    Authenticator::builder().jwt(validator).realm(REALM).optional(optional).build().expect("a valid authenticator")
}

async fn issuer_with(algorithms: &[Algorithm]) -> TestIssuer {
    let issuer = TestIssuer::start_with(algorithms).await;
    issuer.set_default_audience(AUD);
    issuer
}

async fn start(framework: Framework, auth: Authenticator, optional: Option<Authenticator>) -> TestServer {
    serve(framework, auth, optional).await.unwrap_or_else(|e| panic!("[{framework}] the server did not start: {e}"))
}

/// One step of a stateful scenario: send, verify, name the failure.
async fn step(
    server: &TestServer,
    name: &str,
    req: Req,
    status: u16,
    www: Option<&str>,
    body: Body,
) -> Result<(), String> {
    let ans = send(&http_client(), server.base_url(), &req).await.map_err(|e| format!("{name}: {e}"))?;
    verify(&ans, &req, status, www, body).map_err(|e| format!("{name}: {e}"))
}

fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_table_on_both_frameworks() {
    let issuer =
        issuer_with(&[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA]).await;
    let scenarios = table();
    let mut failures = Vec::new();
    for framework in Framework::ALL {
        // A fresh validator per framework: no verified-token cache or JWKS state carries over.
        let server = start(framework, authenticator(validator(&issuer, None), false), None).await;
        run_table(framework, &server, &issuer, &scenarios, &mut failures).await;
    }
    assert_no_failures("scenario table", &failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_mode_on_both_frameworks() {
    let issuer = issuer_with(&[Algorithm::ES256]).await;
    let scenarios = optional_table();
    let mut failures = Vec::new();
    for framework in Framework::ALL {
        let jwt = validator(&issuer, None);
        let server = start(framework, authenticator(jwt.clone(), false), Some(authenticator(jwt, true))).await;
        run_table(framework, &server, &issuer, &scenarios, &mut failures).await;
    }
    assert_no_failures("optional mode", &failures);
}

/// C2 / C5: a rotated key is picked up through the unknown-`kid` refetch, once the cool-down allows
/// it; tokens of the removed key stop working (the verified-token cache is dropped with it).
async fn key_rotation(framework: Framework) -> Result<(), String> {
    let issuer = issuer_with(&[Algorithm::RS256]).await;
    let clock = ManualClock::starting_now();
    let server = start(framework, authenticator(validator(&issuer, Some(&clock)), false), None).await;

    let old = tok(&issuer).sign();
    step(&server, "token of the first key", me_with(old.clone()), 200, None, Body::Json(me_no_scopes)).await?;
    let fetches = issuer.jwks_fetches();

    let new_kid = issuer.rotate(Algorithm::RS256);
    let new_token = || tok(&issuer).kid(Some(&new_kid)).sign();
    step(&server, "new kid inside the cool-down", me_with(new_token()), 401, Some(INVALID_TOKEN), Body::Problem)
        .await?;
    ensure(issuer.jwks_fetches() == fetches, || {
        format!("refetched inside the cool-down ({} -> {})", fetches, issuer.jwks_fetches())
    })?;

    clock.advance(PAST_COOLDOWN);
    step(&server, "new kid after the cool-down", me_with(new_token()), 200, None, Body::Json(me_no_scopes)).await?;
    ensure(issuer.jwks_fetches() == fetches + 1, || {
        format!("expected exactly one refetch, saw {}", issuer.jwks_fetches() - fetches)
    })?;
    step(&server, "new kid again (no refetch)", me_with(new_token()), 200, None, Body::Json(me_no_scopes)).await?;
    ensure(issuer.jwks_fetches() == fetches + 1, || "a known kid caused a refetch".to_owned())?;
    step(&server, "cached token of the removed key", me_with(old), 401, Some(INVALID_TOKEN), Body::Problem).await?;
    Ok(())
}

/// Sends `tokens` to `/me`, at most `in_flight` at a time; every answer must be 401 invalid_token.
async fn flood(server: &TestServer, tokens: Vec<String>, in_flight: usize) -> Result<(), String> {
    let tokens = Arc::new(tokens);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let (tokens, next, base_url, client) =
            (tokens.clone(), next.clone(), server.base_url().to_owned(), http_client());
        tasks.spawn(async move {
            let mut errors = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(token) = tokens.get(i) else { break };
                let req = me_with(token.clone());
                let outcome = match send(&client, &base_url, &req).await {
                    Ok(ans) => verify(&ans, &req, 401, Some(INVALID_TOKEN), Body::Problem),
                    Err(e) => Err(e),
                };
                if let Err(e) = outcome {
                    errors.push(format!("request {i}: {e}"));
                }
            }
            errors
        });
    }
    let mut errors = Vec::new();
    while let Some(done) = tasks.join_next().await {
        errors.extend(done.map_err(|e| format!("flood task failed: {e}"))?);
    }
    let count = errors.len();
    errors.truncate(3);
    ensure(count == 0, || format!("{count} of {} answers were not 401 invalid_token, e.g. {errors:?}", tokens.len()))
}

fn random_kid_tokens(issuer: &TestIssuer, n: usize) -> Vec<String> {
    let random = RandomState::new();
    (0..n).map(|i| tok(issuer).kid(Some(&format!("rnd-{:016x}", random.hash_one(i)))).sign()).collect()
}

/// C2 (rate-limited refetch), I7 spirit: 1,000 tokens with random unknown `kid`s, 50 in flight,
/// cause at most one JWKS fetch per cool-down; past the next cool-down, at most one more.
async fn unknown_kid_flood(framework: Framework) -> Result<(), String> {
    let issuer = issuer_with(&[Algorithm::ES256]).await;
    let clock = ManualClock::starting_now();
    let server = start(framework, authenticator(validator(&issuer, Some(&clock)), false), None).await;
    step(&server, "warm-up with a valid token", me_with(tok(&issuer).sign()), 200, None, Body::Json(me_no_scopes))
        .await?;

    for round in 1..=2 {
        let tokens = random_kid_tokens(&issuer, 1000);
        clock.advance(PAST_COOLDOWN);
        let before = issuer.jwks_fetches();
        flood(&server, tokens, 50).await.map_err(|e| format!("round {round}: {e}"))?;
        let fetched = issuer.jwks_fetches() - before;
        ensure(fetched <= 1, || format!("round {round}: {fetched} JWKS fetches for one cool-down (at most 1)"))?;
        ensure(fetched == 1, || format!("round {round}: an unknown kid after the cool-down caused no refetch (C2)"))?;
    }
    step(&server, "a valid token after the floods", me_with(tok(&issuer).sign()), 200, None, Body::Json(me_no_scopes))
        .await?;
    Ok(())
}

/// design (fail closed): the issuer is down when the server starts → 503 with `Retry-After` and no
/// challenge; no refetch storm inside the cool-down; once it is back and the cool-down has passed → 200.
async fn issuer_down_at_startup(framework: Framework) -> Result<(), String> {
    let issuer = issuer_with(&[Algorithm::ES256]).await;
    issuer.set_down(true);
    let clock = ManualClock::starting_now();
    let server = start(framework, authenticator(validator(&issuer, Some(&clock)), false), None).await;
    let token = tok(&issuer).sign();

    step(&server, "issuer down", me_with(token.clone()), 503, None, Body::Unavailable).await?;
    let attempts = issuer.discovery_fetches() + issuer.jwks_fetches();
    ensure(attempts >= 1, || "503 without trying the issuer".to_owned())?;
    step(&server, "issuer down, again", me_with(token.clone()), 503, None, Body::Unavailable).await?;
    issuer.set_down(false);
    step(&server, "issuer back, cool-down not over", me_with(token.clone()), 503, None, Body::Unavailable).await?;
    let now = issuer.discovery_fetches() + issuer.jwks_fetches();
    ensure(now == attempts, || format!("{} more issuer requests inside the cool-down", now - attempts))?;
    step(&server, "public route while the issuer was down", Req::get("/healthz"), 200, None, Body::Text("ok")).await?;

    clock.advance(PAST_COOLDOWN);
    step(&server, "issuer back, after the cool-down", me_with(token), 200, None, Body::Json(me_no_scopes)).await?;
    Ok(())
}

async fn on_both<F, Fut>(what: &str, scenario: F)
where
    F: Fn(Framework) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut failures = Vec::new();
    for framework in Framework::ALL {
        match scenario(framework).await {
            Ok(()) => println!("PASS [{framework}] {what}"),
            Err(e) => {
                println!("FAIL [{framework}] {what}: {e}");
                failures.push(format!("[{framework}] {what}: {e}"));
            }
        }
    }
    assert_no_failures(what, &failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_on_both_frameworks() {
    on_both("C2 key rotation picked up after the cool-down", key_rotation).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_on_both_frameworks() {
    on_both("C2 1,000 unknown kids: at most one JWKS fetch per cool-down", unknown_kid_flood).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_down_at_startup_on_both_frameworks() {
    on_both("design: issuer down at start-up -> 503, then recovery", issuer_down_at_startup).await;
}
