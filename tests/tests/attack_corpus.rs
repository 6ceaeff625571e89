//! The attack corpus (issue 10): hostile tokens, headers and key sets, run against axum and
//! actix-web over real HTTP on 127.0.0.1, each case with its exact status and `WWW-Authenticate`.
//!
//! It holds what `scenarios.rs` does not: `kid` injection (path traversal, SQL, SSRF, 6 and 10 KiB,
//! non-ASCII, control characters), token-supplied keys (`jwk`, `jku`, `x5u`, `x5c`), duplicate JSON
//! members in header and claims, non-canonical base64url, the JWS JSON serialization, nested JWTs,
//! ID tokens and DPoP proofs presented as access tokens (default and strict `typ` modes), ECDSA
//! `r` / `s` of zero and out of range, RSA keys under 2048 bits, a ROCA key and `e = 1` in the JWKS,
//! duplicate `kid`s, oversized headers, invalid UTF-8, and CR / LF injection (raw TCP, since an HTTP
//! client refuses to send it, and at the engine through a [`RequestView`] that carries any bytes).
//!
//! Fault injection: a JWKS endpoint that hangs, trickles its body (slowloris), streams without end,
//! declares 1 GiB, drops the connection, answers garbage, 500 or HTML — the request gets 503 with
//! `Retry-After` within a guard around the 1 s JWKS timeout, and the same token passes once the
//! endpoint is healthy and the cool-down has passed on the validator's clock (no sleeping).
//!
//! Checklist items: A (credential syntax), B1–B5, B7, B9, B11, B12, B14, C3, C5, H1 (RFC-CHECKLIST.md).
//! Realm `test`; every error is also checked for an `application/problem+json` body and for never
//! echoing the credential.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator, TokenTypes};
use tower_auth::testkit::{DpopKey, LocalIssuer, TestIssuer, TokenBuilder};
use tower_auth::{AuthErrorKind, Authenticator, HeaderLookup, RequestView};
use tower_auth_tests::{Framework, TestServer, http_client, serve};

const AUD: &str = "https://api.tower-auth.test";
const REALM: &str = "test";

const NO_CREDENTIALS: &str = r#"Bearer realm="test""#;
const INVALID_TOKEN: &str = r#"Bearer realm="test", error="invalid_token", error_description="Invalid token""#;
const MALFORMED: &str = r#"Bearer realm="test", error="invalid_request", error_description="Malformed credentials""#;

/// Generous bound on one exchange: a hang fails the test instead of stalling it.
const NO_HANG: Duration = Duration::from_secs(20);

/// The issuer whose JWKS (served by [`HostileJwks`]) mixes weak, ambiguous and sound keys.
const HOSTILE_ISS: &str = "https://hostile-jwks.example";

// Tokens signed, outside this test, by the private keys of three Wycheproof `json_web_key_test.json`
// vectors (C2SP/wycheproof, Apache-2.0; copies in tower-auth/tests/fixtures/wycheproof): header
// `{"alg":"RS256","kid":…,"typ":"at+jwt"}`, claims `iss` HOSTILE_ISS, `aud` AUD, `sub` user-1,
// `client_id` test-client, `iat` 1700000000, `exp` 4102444800 (2100). Each satisfies s^e mod n = EM
// (EMSA-PKCS1-v1_5, SHA-256) under the public key below it: real signatures by weak keys.
const RSA_1024_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xMDI0IiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJodHRwczovL2hvc3RpbGUtandrcy5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcGkudG93ZXItYXV0aC50ZXN0Iiwic3ViIjoidXNlci0xIiwiY2xpZW50X2lkIjoidGVzdC1jbGllbnQiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMH0.gqZ_tK1udZOkyBPV_lvYmc6YZlvN5qbov2QHgoatSVISDi88KB7a-lrpwdfdYMNeyb3a35Rgyr9nG5rQsZU5-4D5eTz_qJp_aiVri6fxP4ZZbgHZuM8VUULgO6vbxwBXCKIizuL-RKjA5w4ct6ClJnZhew5CEpXiY1RZyKNffG8";
const RSA_1024_N: &str = "rJBIp6T1YK-RtPyvYqFFlcucqewSAA_IReSFchE8qyiQrbARqRlXWkB2DR8j_pJQnIpYELbQWZC5Cd0PTGAU8rMbar2AW6zpmBbi7aQf17lUBdt8XI9M9rq7FPVQ1dDdUXm1SVH_9qqWhvMPR422SbfHBEzCAtzK0ANDRo6qz78";
const RSA_ROCA_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1yb2NhIiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJodHRwczovL2hvc3RpbGUtandrcy5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcGkudG93ZXItYXV0aC50ZXN0Iiwic3ViIjoidXNlci0xIiwiY2xpZW50X2lkIjoidGVzdC1jbGllbnQiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMH0.AYbJrfDDE1gOCTD7P0QWOR0j0ASFXAPuDrARUaDc2JfJ9RjR9E5el-3FuonxSZ-D2_vWorem8gB8CX9_ZfZjlIE5D8ceIVx5Bw9_bSm1fsf1nONCKtSjT6LKyIFMQ0zGwWE__kw64qdo4QXst41C7Q29TOiGXXZNdwRQo7qyeGDCMbkCGA4K8ktdc4JoKSPRsW4nmUe0vQdTqGSDCQo_ywPDdMFYGqJYYp8IurFoxIU08CDuAe5e1GGLY13QjZMFccN9MJ2FtQE1ichC8AOQbL8z6iKalJckb9aASPi0WVpFZjDHIfSlNPuioc7qJgrA-cjpV2i6MWeabLwLIBXjkno";
const RSA_ROCA_N: &str = "AanFpofbj7KjD4Lf-N2hVMKR7yewSyXhhbirIMTGpfYEhZ_lnt5UoK98DnKIgArXGTu3MaW_HhFw16HGaTDUHqPrId7fe4r11CqRw09yBFuW79V8sYIwHdzCaWflUI6auImYbVfoN9_nD5n8N8SY9DwXw7mwZM9wREPXoDPgOoIWl6q_MPsp7n0zs3Z5ZaiQWOOzl1S9OhwAfSiiOwz6efnXEaxuTEtPd7BjSx7NaFka8Dx9U7YqXy2RFj1O9PjyaDGuRh7YXsX3iMUSP_wSyHQg_c_qHRtKUsNSGCT7OZg0hzm2KphtjnayKJvC64vAbROBR4Ubg6Bxg9IQVZ-QYyE";
const RSA_E1_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1lMSIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJodHRwczovL2hvc3RpbGUtandrcy5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcGkudG93ZXItYXV0aC50ZXN0Iiwic3ViIjoidXNlci0xIiwiY2xpZW50X2lkIjoidGVzdC1jbGllbnQiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMH0.AAH_____________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________ADAxMA0GCWCGSAFlAwQCAQUABCA7OFuaffOpUVZcYi26tB0X5exR_-xUaMjBuMv1GH-G0w";
const RSA_E1_N: &str = "u-SfdHPjFtGmzuoH6gheIIZ4nLwUHBQEtFGqOe0N8JuZUc5VOzlI8yl0r8ESilAouttkdftexj4VFJz5R9FH90ypVQDPL0H4mC_RtkcJ1DBB8MriU8dmzqSXP1SBs4s5L-pJWxKKLjXddD6gXJZ7HT_aPl2olvlLh8JkD_52U6sjdeP3OWDKvMu5GsrMlS9XJCVaCx8r9698OEElwK-ZW9PztgTSb-MvyTuyzis5Yc13n_z0wMLahpDilI2fzNsZ3yH6htu4VXPraSEZV6C0Z7epAAAUqiUnxh3WRupEICaewYEnW3MVS2hHwLwtPu_RR0XHoZr1oPSlQMP3Zi2QKw";

/// The order n of P-256.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

fn parts(token: &str) -> (String, String, String) {
    let p: Vec<&str> = token.split('.').collect();
    assert_eq!(p.len(), 3, "a compact JWS");
    (p[0].to_owned(), p[1].to_owned(), p[2].to_owned())
}

// ---------------------------------------------------------------------------------------------
// The context every case is built from

struct Ctx {
    /// The real issuer (discovery): RS256, ES256, EdDSA keys.
    issuer: TestIssuer,
    /// An attacker with keys of its own, serving its own JWKS (for `jku` / `x5u`).
    attacker: TestIssuer,
    /// The signing keys of [`HOSTILE_ISS`]: one sound ES256 key (also listed under duplicate kids).
    hostile: LocalIssuer,
    dpop: DpopKey,
}

impl Ctx {
    fn tok(&self) -> TokenBuilder {
        self.issuer.token()
    }

    fn kid(&self, alg: Algorithm) -> String {
        self.issuer.kid_for(alg).expect("a key for the algorithm")
    }

    /// A token of the attacker, claiming the real issuer.
    fn forged(&self) -> TokenBuilder {
        self.attacker.token().claim("iss", self.issuer.url()).audience(AUD)
    }

    /// A header and claims as JSON text, signed by the real ES256 key exactly as written.
    fn raw_es256(&self, header: &str, claims: &str) -> String {
        self.tok().alg(Algorithm::ES256).sign_raw(header.as_bytes(), claims.as_bytes())
    }

    /// Claims of a valid token as JSON text, without the closing brace (to append members).
    fn claims_prefix(&self) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        format!(
            r#"{{"iss":"{}","aud":"{AUD}","sub":"user-1","client_id":"test-client","iat":{now},"exp":{}"#,
            self.issuer.url(),
            now + 3600
        )
    }

    fn es256_header(&self) -> String {
        format!(r#"{{"alg":"ES256","kid":"{}","typ":"at+jwt""#, self.kid(Algorithm::ES256))
    }

    fn es256_with_signature(&self, signature: &[u8]) -> String {
        let (h, p, _) = parts(&self.tok().alg(Algorithm::ES256).sign());
        format!("{h}.{p}.{}", b64(signature))
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and answers

#[derive(Clone)]
struct Req {
    path: &'static str,
    headers: Vec<(String, Vec<u8>)>,
    /// The credential sent: it must never come back in a header or the body.
    secret: Option<String>,
}

impl Req {
    fn me() -> Self {
        Self { path: "/me", headers: Vec::new(), secret: None }
    }

    fn bearer(token: String) -> Self {
        Self::me().authorization(format!("Bearer {token}").into_bytes(), Some(token))
    }

    fn authorization(mut self, value: Vec<u8>, secret: Option<String>) -> Self {
        self.headers.push(("authorization".to_owned(), value));
        if secret.is_some() {
            self.secret = secret;
        }
        self
    }

    fn header(mut self, name: &str, value: Vec<u8>) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

async fn send(client: &reqwest::Client, base_url: &str, req: &Req) -> Result<Answer, String> {
    let mut builder = client.get(format!("{base_url}{}", req.path));
    for (name, value) in &req.headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).map_err(|e| format!("unsendable header: {e}"))?;
        builder = builder.header(name.as_str(), value);
    }
    let res = tokio::time::timeout(NO_HANG, builder.send())
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e| format!("request failed: {e}"))?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = res.text().await.map_err(|e| format!("reading the body failed: {e}"))?;
    Ok(Answer { status, headers, body })
}

fn verify(ans: &Answer, req: &Req, status: u16, www_authenticate: Option<&str>) -> Result<(), String> {
    let mut errors = Vec::new();
    if ans.status != status {
        errors.push(format!("status {} (expected {status})", ans.status));
    }
    let challenges: Vec<&str> =
        ans.headers.iter().filter(|(n, _)| n == "www-authenticate").map(|(_, v)| v.as_str()).collect();
    match www_authenticate {
        Some(expected) if challenges != [expected] => {
            errors.push(format!("WWW-Authenticate {challenges:?} (expected exactly [{expected:?}])"));
        }
        None if !challenges.is_empty() => errors.push(format!("unexpected WWW-Authenticate {challenges:?}")),
        _ => {}
    }
    if ans.status >= 400 {
        let content_type = ans.headers.iter().find(|(n, _)| n == "content-type").map_or("", |(_, v)| v.as_str());
        let problem = serde_json::from_str::<Value>(&ans.body).ok();
        if !content_type.starts_with("application/problem+json")
            || problem.as_ref().is_none_or(|doc| doc["status"] != json!(ans.status))
        {
            errors.push(format!("not a problem document: {content_type:?} {:?}", ans.body));
        }
    }
    if let Some(secret) = &req.secret {
        let pieces = std::iter::once(secret.as_str()).chain(secret.split('.').filter(|p| p.len() >= 16));
        if pieces.into_iter().any(|p| ans.body.contains(p) || ans.headers.iter().any(|(_, v)| v.contains(p))) {
            errors.push("the response echoes the credential".to_owned());
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

// ---------------------------------------------------------------------------------------------
// The corpus

struct Case {
    name: &'static str,
    request: fn(&Ctx) -> Req,
    status: u16,
    www_authenticate: Option<&'static str>,
}

fn bad(name: &'static str, request: fn(&Ctx) -> Req) -> Case {
    Case { name, request, status: 401, www_authenticate: Some(INVALID_TOKEN) }
}

fn malformed(name: &'static str, request: fn(&Ctx) -> Req) -> Case {
    Case { name, request, status: 400, www_authenticate: Some(MALFORMED) }
}

fn ok(name: &'static str, request: fn(&Ctx) -> Req) -> Case {
    Case { name, request, status: 200, www_authenticate: None }
}

/// The ES256 signature of `token` re-encoded as ASN.1 DER (`SEQUENCE { INTEGER r, INTEGER s }`),
/// the form JOSE does not use (RFC 7518 §3.4).
fn der_signature(token: &str) -> Vec<u8> {
    let sig = unb64(&parts(token).2);
    let int = |half: &[u8]| {
        let skip = half.iter().take_while(|b| **b == 0).count();
        let mut v = half[skip..].to_vec();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        [vec![0x02, v.len() as u8], v].concat()
    };
    let body = [int(&sig[..32]), int(&sig[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

/// Changes unused low bits of the last base64url character of the signature: a lax decoder yields
/// the same bytes (and a valid signature), a strict one refuses (B12).
fn non_canonical_signature(token: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (h, p, s) = parts(token);
    assert_eq!(s.len() % 4, 2, "an ES256 signature has 4 unused bits in its last character");
    let last = s.as_bytes()[s.len() - 1];
    let value = ALPHABET.iter().position(|c| *c == last).expect("base64url");
    let changed = ALPHABET[value ^ 0b0001] as char;
    format!("{h}.{p}.{}{changed}", &s[..s.len() - 1])
}

fn table() -> Vec<Case> {
    vec![
        ok("control: a valid ES256 token -> 200", |c| Req::bearer(c.tok().alg(Algorithm::ES256).sign())),
        ok("control: header and claims signed as raw JSON text -> 200", |c| {
            Req::bearer(c.raw_es256(&format!("{}}}", c.es256_header()), &format!("{}}}", c.claims_prefix())))
        }),
        // --- B2 / B3: alg none casings not in scenarios.rs, null signature
        bad("B2 alg `nOnE` -> 401", |c| Req::bearer(c.tok().header("alg", "nOnE").sign_unsecured())),
        bad("B2 alg `none ` (trailing space) -> 401", |c| Req::bearer(c.tok().header("alg", "none ").sign_unsecured())),
        bad("B3 RS256 token with the signature removed (null signature) -> 401", |c| {
            let (h, p, _) = parts(&c.tok().alg(Algorithm::RS256).sign());
            Req::bearer(format!("{h}.{p}."))
        }),
        // --- B5: kid is an opaque lookup key (RFC 8725 §3.10)
        bad("B5 kid path traversal `../../../../etc/passwd` -> 401", |c| {
            Req::bearer(c.tok().kid(Some("../../../../etc/passwd")).sign())
        }),
        bad("B5 kid SQL injection -> 401", |c| Req::bearer(c.tok().kid(Some("x' OR '1'='1' --")).sign())),
        bad("B5 kid SSRF URL -> 401", |c| {
            Req::bearer(c.tok().kid(Some("http://169.254.169.254/latest/meta-data/")).sign())
        }),
        bad("B5 kid of 6 KiB (token under 8 KiB) -> 401", |c| {
            Req::bearer(c.tok().kid(Some(&"k".repeat(6 * 1024))).sign())
        }),
        bad("B5 kid of 10 KiB (token over 8 KiB) -> 401", |c| {
            Req::bearer(c.tok().kid(Some(&"k".repeat(10 * 1024))).sign())
        }),
        bad("B5 kid non-ASCII `ключ-🔑` -> 401", |c| Req::bearer(c.tok().kid(Some("ключ-🔑")).sign())),
        bad("B5 kid with NUL, CR, LF -> 401", |c| Req::bearer(c.tok().kid(Some("a\u{0}\r\nX-Injected: 1")).sign())),
        bad("B5 kid = the real kid plus a space -> 401", |c| {
            Req::bearer(c.tok().alg(Algorithm::ES256).kid(Some(&format!("{} ", c.kid(Algorithm::ES256)))).sign())
        }),
        bad("B5 kid = the real kid in upper case -> 401", |c| {
            Req::bearer(c.tok().alg(Algorithm::ES256).kid(Some(&c.kid(Algorithm::ES256).to_uppercase())).sign())
        }),
        bad("B5 kid as a number -> 401", |c| Req::bearer(c.tok().header("kid", 1).sign())),
        bad("B5 kid as an object -> 401", |c| Req::bearer(c.tok().header("kid", json!({"$ne": ""})).sign())),
        bad("B1 ES256 signature under the RS256 key's kid -> 401", |c| {
            Req::bearer(c.tok().alg(Algorithm::ES256).kid(Some(&c.kid(Algorithm::RS256))).sign())
        }),
        // --- B5: keys supplied by the token are never used or fetched
        bad("B5 `jwk` header with the attacker's key, no kid -> 401", |c| {
            let jwk = c.attacker.public_jwk(&c.attacker.kid_for(Algorithm::ES256).expect("kid")).expect("jwk");
            Req::bearer(c.forged().alg(Algorithm::ES256).kid(None).header("jwk", jwk).sign())
        }),
        bad("B5 `jwk` header with the attacker's key under the real kid -> 401", |c| {
            let jwk = c.attacker.public_jwk(&c.attacker.kid_for(Algorithm::ES256).expect("kid")).expect("jwk");
            Req::bearer(c.forged().alg(Algorithm::ES256).kid(Some(&c.kid(Algorithm::ES256))).header("jwk", jwk).sign())
        }),
        bad("B5 `jku` naming the attacker's JWKS -> 401 (never fetched)", |c| {
            Req::bearer(c.forged().alg(Algorithm::ES256).header("jku", c.attacker.jwks_url()).sign())
        }),
        bad("B5 `x5u` naming the attacker's server -> 401 (never fetched)", |c| {
            Req::bearer(c.forged().alg(Algorithm::ES256).header("x5u", c.attacker.jwks_url()).sign())
        }),
        bad("B5 `x5c` with a certificate chain -> 401", |c| {
            let chain = json!([STANDARD.encode(b"0\x82\x01\x00 not really a certificate")]);
            Req::bearer(c.forged().alg(Algorithm::ES256).header("x5c", chain).sign())
        }),
        // --- B11: duplicate members (RFC 8725 §2.6), each signed by the real key
        bad("B11 duplicate `alg` in the header (ES256, then none) -> 401", |c| {
            Req::bearer(
                c.raw_es256(&format!(r#"{},"alg":"none"}}"#, c.es256_header()), &format!("{}}}", c.claims_prefix())),
            )
        }),
        bad("B11 duplicate `kid` in the header -> 401", |c| {
            Req::bearer(
                c.raw_es256(&format!(r#"{},"kid":"other"}}"#, c.es256_header()), &format!("{}}}", c.claims_prefix())),
            )
        }),
        bad("B11 duplicate `typ` in the header (at+jwt, then dpop+jwt) -> 401", |c| {
            Req::bearer(
                c.raw_es256(
                    &format!(r#"{},"typ":"dpop+jwt"}}"#, c.es256_header()),
                    &format!("{}}}", c.claims_prefix()),
                ),
            )
        }),
        bad("B11 duplicate `sub` in the claims (user-1, then admin) -> 401", |c| {
            Req::bearer(
                c.raw_es256(&format!("{}}}", c.es256_header()), &format!(r#"{},"sub":"admin"}}"#, c.claims_prefix())),
            )
        }),
        bad("B11 duplicate `aud` in the claims -> 401", |c| {
            Req::bearer(c.raw_es256(
                &format!("{}}}", c.es256_header()),
                &format!(r#"{},"aud":"https://other.example"}}"#, c.claims_prefix()),
            ))
        }),
        bad("B11 duplicate member inside a nested claim (`cnf`) -> 401", |c| {
            Req::bearer(c.raw_es256(
                &format!("{}}}", c.es256_header()),
                &format!(r#"{},"cnf":{{"jkt":"a","jkt":"b"}}}}"#, c.claims_prefix()),
            ))
        }),
        // --- B12: non-canonical base64url
        malformed("B12 `=` padding on the header segment -> 400", |c| {
            let (h, p, s) = parts(&c.tok().alg(Algorithm::ES256).sign());
            Req::bearer(format!("{h}=.{p}.{s}"))
        }),
        bad("B12 `==` padding on the signature segment -> 401", |c| {
            let token = c.tok().alg(Algorithm::ES256).sign();
            Req::bearer(format!("{token}=="))
        }),
        bad("B12 standard alphabet (`+`, `/`) instead of `-`, `_` -> 401", |c| {
            let token = (0..64)
                .map(|_| c.tok().alg(Algorithm::ES256).sign())
                .find(|t| t.contains(['-', '_']))
                .expect("a token with - or _ in 64 tries");
            Req::bearer(token.replace('-', "+").replace('_', "/"))
        }),
        bad("B12 non-canonical trailing bits in the signature -> 401", |c| {
            Req::bearer(non_canonical_signature(&c.tok().alg(Algorithm::ES256).sign()))
        }),
        malformed("B12 a tab inside the token -> 400", |c| {
            let (h, p, s) = parts(&c.tok().sign());
            let token = format!("{h}.\t{p}.{s}");
            Req::me().authorization(format!("Bearer {token}").into_bytes(), Some(token))
        }),
        malformed("B12 a space inside the token -> 400", |c| {
            let (h, p, s) = parts(&c.tok().sign());
            let token = format!("{h}. {p}.{s}");
            Req::me().authorization(format!("Bearer {token}").into_bytes(), Some(token))
        }),
        // --- the JWS JSON serialization is not a compact JWS (RFC 7515 §7.2)
        malformed("JWS JSON serialization (flattened) as the token -> 400", |c| {
            let (h, p, s) = parts(&c.tok().sign());
            let json = json!({"protected": h, "payload": p, "signature": s}).to_string();
            Req::me().authorization(format!("Bearer {json}").into_bytes(), Some(p))
        }),
        bad("JWS JSON serialization (general), base64url-encoded as one segment -> 401", |c| {
            let (h, p, s) = parts(&c.tok().sign());
            let json = json!({"payload": p, "signatures": [{"protected": h, "signature": s}]}).to_string();
            Req::bearer(b64(json.as_bytes()))
        }),
        // --- nested JWTs (RFC 7519 §5.2, §7.2 step 8)
        bad("nested JWT: `cty: JWT`, the payload a valid inner JWT -> 401", |c| {
            let inner = c.tok().alg(Algorithm::ES256).sign();
            let header = format!(r#"{},"cty":"JWT"}}"#, c.es256_header());
            Req::bearer(c.raw_es256(&header, &inner))
        }),
        bad("nested JWT: the payload a valid inner JWT, no `cty` -> 401", |c| {
            let inner = c.tok().alg(Algorithm::ES256).sign();
            Req::bearer(c.raw_es256(&format!("{}}}", c.es256_header()), &inner))
        }),
        bad("nested JWT: `cty: jwt` (lower case) over ordinary claims -> 401", |c| {
            Req::bearer(c.tok().header("cty", "jwt").sign())
        }),
        // --- other kinds of JWT presented as access tokens (B9, RFC 8725 §3.12)
        bad("B9 OIDC ID token (typ JWT, nonce, at_hash, aud = the client) -> 401", |c| {
            Req::bearer(
                c.tok()
                    .header("typ", "JWT")
                    .audience("test-client")
                    .claim("nonce", "n-0S6_WzA2Mj")
                    .claim("at_hash", "77QmUPtjPfzWtF2AnpK9RQ")
                    .claim("auth_time", 1_700_000_000)
                    .sign(),
            )
        }),
        bad("B9 typ `id_token+jwt` -> 401", |c| Req::bearer(c.tok().header("typ", "id_token+jwt").sign())),
        bad("B9 typ `logout+jwt` (OIDC back-channel logout) -> 401", |c| {
            Req::bearer(c.tok().header("typ", "logout+jwt").sign())
        }),
        bad("B9 typ `secevent+jwt` (RFC 8417) -> 401", |c| Req::bearer(c.tok().header("typ", "secevent+jwt").sign())),
        bad("B9 a real DPoP proof presented as a Bearer token -> 401", |c| {
            Req::bearer(c.dpop.proof("GET", "http://127.0.0.1/me", None, None))
        }),
        // --- B3: ECDSA r / s of zero and out of range (Wycheproof), and the DER form
        bad("B3 ES256 r = 0, s = 0 -> 401", |c| Req::bearer(c.es256_with_signature(&[0u8; 64]))),
        bad("B3 ES256 r = 0, s = 1 -> 401", |c| {
            let mut sig = [0u8; 64];
            sig[63] = 1;
            Req::bearer(c.es256_with_signature(&sig))
        }),
        bad("B3 ES256 r = n, s = n (the group order) -> 401", |c| {
            Req::bearer(c.es256_with_signature(&[P256_ORDER, P256_ORDER].concat()))
        }),
        bad("B3 ES256 r = s = 2^256 - 1 (above the order) -> 401", |c| {
            Req::bearer(c.es256_with_signature(&[0xff; 64]))
        }),
        bad("B3 ES256 signature of 65 bytes (r || 0x00 || s) -> 401", |c| {
            let (h, p, s) = parts(&c.tok().alg(Algorithm::ES256).sign());
            let mut sig = unb64(&s);
            sig.insert(32, 0);
            Req::bearer(format!("{h}.{p}.{}", b64(&sig)))
        }),
        bad("B3 ES256 signature in ASN.1 DER instead of r || s -> 401", |c| {
            let token = c.tok().alg(Algorithm::ES256).sign();
            let (h, p, _) = parts(&token);
            Req::bearer(format!("{h}.{p}.{}", b64(&der_signature(&token))))
        }),
        bad("B3 EdDSA signature of all ones (s above the group order) -> 401", |c| {
            let (h, p, _) = parts(&c.tok().alg(Algorithm::EdDSA).sign());
            Req::bearer(format!("{h}.{p}.{}", b64(&[0xff; 64])))
        }),
        // --- B14 / C3: the hostile JWKS: weak RSA keys, duplicate kids, and a sound key beside them
        bad("B14 token of a 1024-bit RSA key in the JWKS -> 401", |_| Req::bearer(RSA_1024_TOKEN.to_owned())),
        bad("B14 token of a ROCA-vulnerable RSA key in the JWKS -> 401", |_| Req::bearer(RSA_ROCA_TOKEN.to_owned())),
        bad("B14 token of an RSA key with e = 1 in the JWKS -> 401", |_| Req::bearer(RSA_E1_TOKEN.to_owned())),
        bad("C3 two different keys under one kid -> 401", |c| Req::bearer(c.hostile.token().kid(Some("dup")).sign())),
        bad("C3 the same key listed twice under one kid -> 401", |c| {
            Req::bearer(c.hostile.token().kid(Some("twin")).sign())
        }),
        ok("C3 the sound key of the same JWKS still works -> 200", |c| Req::bearer(c.hostile.token().sign())),
        // --- oversized and invalid bytes
        bad("oversized token: 16 KiB -> 401", |c| Req::bearer(c.tok().claim("pad", "x".repeat(16 * 1024)).sign())),
        malformed("invalid UTF-8 bytes in Authorization -> 400", |_| {
            Req::me().authorization(b"Bearer \xff\xfe\xfd".to_vec(), None)
        }),
        malformed("obs-text (Latin-1) inside the token -> 400", |c| {
            let mut value = format!("Bearer {}", c.tok().sign()).into_bytes();
            let at = value.len() / 2;
            value.insert(at, 0xe9);
            Req::me().authorization(value, None)
        }),
        bad("B12 claims that are not UTF-8 -> 401", |c| {
            let claims = format!(r#"{},"name":"#, c.claims_prefix()).into_bytes();
            let claims = [claims, b"\"\xff\xfe\"}".to_vec()].concat();
            let header = format!("{}}}", c.es256_header());
            Req::bearer(c.tok().alg(Algorithm::ES256).sign_raw(header.as_bytes(), &claims))
        }),
        bad("B12 an overlong UTF-8 encoding in the claims -> 401", |c| {
            let claims = format!(r#"{},"name":"#, c.claims_prefix()).into_bytes();
            let claims = [claims, b"\"\xc0\xaf\"}".to_vec()].concat();
            let header = format!("{}}}", c.es256_header());
            Req::bearer(c.tok().alg(Algorithm::ES256).sign_raw(header.as_bytes(), &claims))
        }),
        bad("B12 a UTF-8 byte-order mark before the claims -> 401", |c| {
            let claims = [b"\xef\xbb\xbf".to_vec(), format!("{}}}", c.claims_prefix()).into_bytes()].concat();
            let header = format!("{}}}", c.es256_header());
            Req::bearer(c.tok().alg(Algorithm::ES256).sign_raw(header.as_bytes(), &claims))
        }),
        bad("B12 a header that is not UTF-8 -> 401", |c| {
            let header = [format!("{},\"x\":\"", c.es256_header()).into_bytes(), b"\xff\"}".to_vec()].concat();
            Req::bearer(c.tok().alg(Algorithm::ES256).sign_raw(&header, format!("{}}}", c.claims_prefix()).as_bytes()))
        }),
        Case {
            name: "60 unrelated headers of 1 KiB beside no credential -> 401 without error",
            request: |_| (0..60).fold(Req::me(), |req, i| req.header(&format!("x-pad-{i}"), b"x".repeat(1024))),
            status: 401,
            www_authenticate: Some(NO_CREDENTIALS),
        },
    ]
}

/// Tokens valid in the default mode but refused in the strict one (`TokenTypes::Strict`), and the
/// reverse controls. The ID-token case documents the limit of the default mode: an ID token with
/// `typ: JWT` whose `aud` happens to be this API is indistinguishable from an access token there.
/// `(name, request, status in the default mode, status in the strict mode)`.
type TypCase = (&'static str, fn(&Ctx) -> Req, u16, u16);

fn typ_table() -> Vec<TypCase> {
    vec![
        ("typ at+jwt", |c| Req::bearer(c.tok().sign()), 200, 200),
        ("typ application/at+jwt", |c| Req::bearer(c.tok().header("typ", "application/at+jwt").sign()), 200, 200),
        ("typ JWT", |c| Req::bearer(c.tok().header("typ", "JWT").sign()), 200, 401),
        ("no typ", |c| Req::bearer(c.tok().remove_header("typ").sign()), 200, 401),
        (
            "OIDC ID token, typ JWT, aud = this API (nonce, at_hash, auth_time)",
            |c| {
                Req::bearer(
                    c.tok()
                        .header("typ", "JWT")
                        .claim("nonce", "n-0S6_WzA2Mj")
                        .claim("at_hash", "77QmUPtjPfzWtF2AnpK9RQ")
                        .claim("auth_time", 1_700_000_000)
                        .sign(),
                )
            },
            200,
            401,
        ),
        ("typ dpop+jwt", |c| Req::bearer(c.tok().header("typ", "dpop+jwt").sign()), 401, 401),
        ("typ id_token+jwt", |c| Req::bearer(c.tok().header("typ", "id_token+jwt").sign()), 401, 401),
    ]
}

// ---------------------------------------------------------------------------------------------
// Servers

/// Serves the hostile JWKS document and counts its fetches. Stops when dropped.
struct HostileJwks {
    url: String,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HostileJwks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileJwks {
    async fn start(hostile: &LocalIssuer) -> Self {
        let rsa = |kid: &str, n: &str, e: &str| json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": n, "e": e});
        let sound = hostile.jwks()["keys"][0].clone();
        let other = LocalIssuer::new("https://elsewhere.example").jwks()["keys"][0].clone();
        let with_kid = |mut jwk: Value, kid: &str| {
            jwk["kid"] = kid.into();
            jwk
        };
        let doc = json!({"keys": [
            rsa("rsa-1024", RSA_1024_N, "AQAB"),
            rsa("rsa-roca", RSA_ROCA_N, "AQAB"),
            rsa("rsa-e1", RSA_E1_N, "AQ"),
            with_kid(sound.clone(), "dup"),
            with_kid(other, "dup"),
            with_kid(sound.clone(), "twin"),
            with_kid(sound.clone(), "twin"),
            {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": b64(&[7u8; 32])},
            {"kty": "EC", "kid": "garbage", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
            sound,
        ]})
        .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        let router = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = doc.clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, fetches, task }
    }
}

fn authenticator(ctx: &Ctx, hostile_jwks: &str, types: TokenTypes) -> Authenticator {
    let jwt = JwtValidator::builder()
        .issuer(Issuer::discover(ctx.issuer.url()).token_types(types))
        .issuer(Issuer::jwks_url(HOSTILE_ISS, hostile_jwks))
        .audience(AUD)
        .http_client(http_client())
        .build()
        .expect("a valid JWT validator configuration");
    Authenticator::builder().jwt(jwt).realm(REALM).build().expect("a valid authenticator")
}

async fn context() -> Ctx {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA]).await;
    issuer.set_default_audience(AUD);
    let attacker = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let hostile = LocalIssuer::new(HOSTILE_ISS);
    hostile.set_default_audience(AUD);
    Ctx { issuer, attacker, hostile, dpop: DpopKey::generate(Algorithm::ES256) }
}

async fn start(framework: Framework, auth: Authenticator) -> TestServer {
    serve(framework, auth, None).await.unwrap_or_else(|e| panic!("[{framework}] the server did not start: {e}"))
}

fn assert_no_failures(what: &str, failures: &[String]) {
    assert!(failures.is_empty(), "{what}: {} failure(s):\n{}", failures.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_corpus_on_both_frameworks() {
    let ctx = context().await;
    let jwks = HostileJwks::start(&ctx.hostile).await;
    let cases = table();
    let client = http_client();
    let mut failures = Vec::new();
    for framework in Framework::ALL {
        let server = start(framework, authenticator(&ctx, &jwks.url, TokenTypes::AccessTokens)).await;
        for case in &cases {
            let req = (case.request)(&ctx);
            let outcome = match send(&client, server.base_url(), &req).await {
                Ok(ans) => verify(&ans, &req, case.status, case.www_authenticate),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => println!("PASS [{framework}] {}", case.name),
                Err(e) => {
                    println!("FAIL [{framework}] {}: {e}", case.name);
                    failures.push(format!("[{framework}] {}: {e}", case.name));
                }
            }
        }
    }
    // B5: nothing a token named was ever fetched.
    let attacker_fetches = ctx.attacker.jwks_fetches() + ctx.attacker.discovery_fetches();
    if attacker_fetches != 0 {
        failures.push(format!("the attacker's server was fetched {attacker_fetches} times (jku / x5u)"));
    }
    // C2: a few JWKS fetches per framework (the first, then unknown kids within one cool-down).
    let hostile_fetches = jwks.fetches.load(Ordering::SeqCst);
    if !(1..=4).contains(&hostile_fetches) {
        failures.push(format!("the hostile JWKS was fetched {hostile_fetches} times (expected 1 to 4)"));
    }
    println!("{} cases x {} frameworks", cases.len(), Framework::ALL.len());
    assert_no_failures("attack corpus", &failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typ_confusion_default_and_strict_modes_on_both_frameworks() {
    let ctx = context().await;
    let jwks = HostileJwks::start(&ctx.hostile).await;
    let client = http_client();
    let mut failures = Vec::new();
    for framework in Framework::ALL {
        for (mode, types) in [("default", TokenTypes::AccessTokens), ("strict", TokenTypes::Strict)] {
            let server = start(framework, authenticator(&ctx, &jwks.url, types)).await;
            for (name, request, default_status, strict_status) in typ_table() {
                let status = if mode == "strict" { strict_status } else { default_status };
                let www = (status == 401).then_some(INVALID_TOKEN);
                let req = request(&ctx);
                let outcome = match send(&client, server.base_url(), &req).await {
                    Ok(ans) => verify(&ans, &req, status, www),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) => println!("PASS [{framework}] [{mode}] B9 {name} -> {status}"),
                    Err(e) => failures.push(format!("[{framework}] [{mode}] B9 {name}: {e}")),
                }
            }
        }
    }
    assert_no_failures("typ confusion", &failures);
}

/// Sends raw bytes and returns the status code of the answer (`None`: the connection closed without
/// an HTTP status line), within [`NO_HANG`].
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Result<(Option<u16>, String), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        stream.write_all(request).await.map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)).and_then(|s| s.parse().ok());
        Ok((status, text))
    };
    tokio::time::timeout(NO_HANG, exchange).await.map_err(|_| "no answer in time".to_owned())?
}

/// The challenges of a raw HTTP answer.
fn raw_challenges(answer: &str) -> Vec<String> {
    let head = answer.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, value)| value.trim().to_owned())
        .collect()
}

/// One raw exchange: a request head whose `Authorization` field (and what follows it) is given as
/// bytes, with the exact status and challenges expected.
async fn raw_case(
    server: &TestServer,
    name: &str,
    fields: &[u8],
    status: u16,
    challenge: Option<&str>,
) -> Result<(), String> {
    let request =
        [b"GET /me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_vec(), fields.to_vec(), b"\r\n".to_vec()]
            .concat();
    let (got, text) = raw_exchange(server.addr(), &request).await.map_err(|e| format!("{name}: {e}"))?;
    let challenges = raw_challenges(&text);
    let expected: Vec<String> = challenge.map(str::to_owned).into_iter().collect();
    if got != Some(status) || challenges != expected {
        return Err(format!("{name}: {got:?} {challenges:?} (expected {status} {expected:?})"));
    }
    if text.to_ascii_lowercase().contains("x-injected") {
        return Err(format!("{name}: the injected field came back"));
    }
    Ok(())
}

/// CR / LF injection over raw TCP (an HTTP client refuses to send it). The HTTP parsers of both
/// frameworks answer 400 to a bare CR, a CR LF splitting the token, an obs-fold continuation line and
/// a NUL, before any handler; a bare LF is a line end (RFC 9112 §2.2), so a field "injected" after
/// it is just another field: harmless beside a valid token, and a second `Authorization` smuggled
/// that way is two credentials, 400 from the engine. The server keeps serving afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cr_lf_header_injection_over_raw_tcp_on_both_frameworks() {
    const MULTIPLE: &str = r#"Bearer realm="test", error="invalid_request", error_description="Multiple methods used to include access token""#;
    let ctx = context().await;
    let jwks = HostileJwks::start(&ctx.hostile).await;
    let token = ctx.tok().sign();
    let forged = ctx.forged().sign();
    let (a, b) = token.split_at(20);
    let cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        (
            "bare CR after the token",
            format!("Authorization: Bearer {token}\rX-Injected: 1\r\n").into_bytes(),
            400,
            None,
        ),
        ("CR LF splitting the token", format!("Authorization: Bearer {a}\r\n{b}\r\n").into_bytes(), 400, None),
        ("obs-fold continuation line", format!("Authorization: Bearer\r\n {token}\r\n").into_bytes(), 400, None),
        ("NUL inside the token", format!("Authorization: Bearer {a}\0{b}\r\n").into_bytes(), 400, None),
        (
            "bare LF, then a second Authorization",
            format!("Authorization: Bearer {token}\nAuthorization: Bearer {forged}\r\n").into_bytes(),
            400,
            Some(MULTIPLE),
        ),
        ("bare LF, then another field", format!("Authorization: Bearer {token}\nX-Pad: 1\r\n").into_bytes(), 200, None),
    ];
    let mut failures = Vec::new();
    for framework in Framework::ALL {
        let server = start(framework, authenticator(&ctx, &jwks.url, TokenTypes::AccessTokens)).await;
        for (name, fields, status, challenge) in &cases {
            match raw_case(&server, name, fields, *status, *challenge).await {
                Ok(()) => println!("PASS [{framework}] {name} -> {status}"),
                Err(e) => failures.push(format!("[{framework}] {e}")),
            }
        }
        let req = Req::bearer(ctx.tok().sign());
        match send(&http_client(), server.base_url(), &req).await {
            Ok(ans) if ans.status == 200 => {}
            Ok(ans) => failures.push(format!("[{framework}] a valid request afterwards answered {}", ans.status)),
            Err(e) => failures.push(format!("[{framework}] a valid request afterwards: {e}")),
        }
    }
    assert_no_failures("CR/LF injection", &failures);
}

/// A request view that carries any bytes in its headers (an HTTP library would refuse to build one):
/// the engine itself refuses control characters in `Authorization`, whatever adapter feeds it.
struct RawView {
    authorization: Vec<Vec<u8>>,
}

impl RequestView for RawView {
    fn method(&self) -> &str {
        "GET"
    }
    fn path(&self) -> &str {
        "/me"
    }
    fn query(&self) -> Option<&str> {
        None
    }
    fn authority(&self) -> Option<&str> {
        None
    }
    fn header(&self, name: &str) -> HeaderLookup<'_> {
        if name == "authorization" {
            HeaderLookup::from_values(self.authorization.iter().map(Vec::as_slice))
        } else {
            HeaderLookup::Missing
        }
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn client_certificate(&self) -> Option<&[u8]> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_authorization_at_the_engine() {
    let ctx = context().await;
    let jwks = HostileJwks::start(&ctx.hostile).await;
    let auth = authenticator(&ctx, &jwks.url, TokenTypes::AccessTokens);
    let token = ctx.tok().sign();
    assert!(auth.authenticate(&RawView { authorization: vec![format!("Bearer {token}").into_bytes()] }).await.is_ok());
    let (a, b) = token.split_at(20);
    for value in [
        format!("Bearer {token}\r\nX-Injected: 1"),
        format!("Bearer {token}\nX-Injected: 1"),
        format!("Bearer {token}\r"),
        format!("Bearer {a}\r\n {b}"),
        format!("Bearer {a}\0{b}"),
        format!("Bearer {a}\u{7f}{b}"),
        format!("Bearer {a}\u{1b}[2J{b}"),
    ] {
        let view = RawView { authorization: vec![value.clone().into_bytes()] };
        let err = auth.authenticate(&view).await.expect_err("refused");
        assert_eq!(err.kind(), AuthErrorKind::MalformedRequest, "{value:?}");
        assert_eq!(err.status(), 400);
    }
    // Through `http` types too: the bytes `HeaderValue` admits beyond visible ASCII are refused.
    for value in [&b"Bearer \xff"[..], b"Bearer a\tb", b"Bearer \x80abc"] {
        let mut parts = axum::http::Request::get("/me").body(()).expect("request").into_parts().0;
        parts
            .headers
            .insert("authorization", axum::http::HeaderValue::from_bytes(value).expect("a legal header value"));
        let err = auth.authenticate(&parts).await.expect_err("refused");
        assert_eq!(err.kind(), AuthErrorKind::MalformedRequest, "{value:?}");
    }
}

/// Header sizes far beyond any token: 64 KiB reaches the engine (401, token too large); 512 KiB and
/// 200 fields are refused by the HTTP layer of both frameworks (431, no challenge); the server keeps
/// serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_on_both_frameworks() {
    let ctx = context().await;
    let jwks = HostileJwks::start(&ctx.hostile).await;
    let bearer = |size: usize| [b"Authorization: Bearer ".to_vec(), vec![b'a'; size], b"\r\n".to_vec()].concat();
    let many: Vec<u8> = (0..200).flat_map(|i| format!("X-Pad-{i}: x\r\n").into_bytes()).collect();
    let cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        ("Authorization of 64 KiB", bearer(64 * 1024), 401, Some(INVALID_TOKEN)),
        ("Authorization of 512 KiB", bearer(512 * 1024), 431, None),
        ("200 header fields", many, 431, None),
    ];
    let mut failures = Vec::new();
    for framework in Framework::ALL {
        let server = start(framework, authenticator(&ctx, &jwks.url, TokenTypes::AccessTokens)).await;
        for (name, fields, status, challenge) in &cases {
            match raw_case(&server, name, fields, *status, *challenge).await {
                Ok(()) => println!("PASS [{framework}] {name} -> {status}"),
                Err(e) => failures.push(format!("[{framework}] {e}")),
            }
        }
        let req = Req::bearer(ctx.tok().sign());
        match send(&http_client(), server.base_url(), &req).await {
            Ok(ans) if ans.status == 200 => {}
            Ok(ans) => failures.push(format!("[{framework}] a valid request afterwards answered {}", ans.status)),
            Err(e) => failures.push(format!("[{framework}] a valid request afterwards: {e}")),
        }
    }
    assert_no_failures("oversized headers", &failures);
}

// ---------------------------------------------------------------------------------------------
// Fault injection: a JWKS endpoint that misbehaves

/// How the faulty JWKS endpoint answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Reads the request and never answers.
    Hang,
    /// Sends the head, then one byte of body every 50 ms, forever (slowloris).
    Trickle,
    /// Streams a chunked body without end, as fast as it can.
    EndlessBody,
    /// Declares a 1 GiB body.
    HugeDeclared,
    /// Closes the connection without a word.
    Drop,
    /// Answers bytes that are not HTTP.
    Garbage,
    /// 500 Internal Server Error.
    ServerError,
    /// 200 with an HTML body.
    NotJson,
    /// Recovered: the real JWK Set.
    Healthy,
}

const FAULTS: [Fault; 8] = [
    Fault::Hang,
    Fault::Trickle,
    Fault::EndlessBody,
    Fault::HugeDeclared,
    Fault::Drop,
    Fault::Garbage,
    Fault::ServerError,
    Fault::NotJson,
];

/// A raw TCP JWKS endpoint whose behaviour the test switches. Stops when dropped.
struct FaultyJwks {
    url: String,
    fault: Arc<std::sync::Mutex<Fault>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultyJwks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultyJwks {
    async fn start(fault: Fault, jwks: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        let shared = Arc::new(std::sync::Mutex::new(fault));
        let current = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let fault = *current.lock().expect("fault");
                connections.spawn(Self::answer(stream, fault, jwks.clone()));
            }
        });
        Self { url, fault: shared, task }
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().expect("fault") = fault;
    }

    async fn answer(mut stream: tokio::net::TcpStream, fault: Fault, jwks: String) {
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let head = |extra: &str| format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}\r\n");
        let _ = match fault {
            Fault::Hang => std::future::pending().await,
            Fault::Trickle => {
                let _ = stream.write_all(head("transfer-encoding: chunked\r\n").as_bytes()).await;
                loop {
                    if stream.write_all(b"1\r\n \r\n").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Fault::EndlessBody => {
                let _ = stream.write_all(head("transfer-encoding: chunked\r\n").as_bytes()).await;
                let chunk = [b"10000\r\n".to_vec(), vec![b' '; 0x10000], b"\r\n".to_vec()].concat();
                while stream.write_all(&chunk).await.is_ok() {}
                return;
            }
            Fault::HugeDeclared => {
                let _ = stream.write_all(head("content-length: 1073741824\r\n").as_bytes()).await;
                let _ = stream.write_all(b"{\"keys\":[").await;
                std::future::pending().await
            }
            Fault::Drop => return,
            Fault::Garbage => {
                stream.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP at all\r\n\r\n").await
            }
            Fault::ServerError => {
                stream
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await
            }
            Fault::NotJson => {
                let body = "<html>maintenance</html>";
                stream
                    .write_all(format!("{}{body}", head(&format!("content-length: {}\r\n", body.len()))).as_bytes())
                    .await
            }
            Fault::Healthy => {
                let extra = format!("content-length: {}\r\nconnection: close\r\n", jwks.len());
                stream.write_all(format!("{}{jwks}", head(&extra)).as_bytes()).await
            }
        };
        let _ = stream.shutdown().await;
    }
}

const FAULTY_ISS: &str = "https://faulty-jwks.example";

/// One fault on one framework: the request gets 503 with `Retry-After` and no challenge, within the
/// guard (the JWKS timeout is 1 s); once the endpoint is healthy and the cool-down has passed on the
/// validator's clock, the same token is accepted.
async fn jwks_fault(framework: Framework, fault: Fault) -> Result<(), String> {
    let signer = LocalIssuer::new(FAULTY_ISS);
    signer.set_default_audience(AUD);
    let endpoint = FaultyJwks::start(fault, signer.jwks_json()).await;
    let clock = tower_auth::ManualClock::starting_now();
    let settings = tower_auth::jwt::JwksSettings { timeout: Duration::from_secs(1), ..Default::default() };
    let jwt = JwtValidator::builder()
        .issuer(Issuer::jwks_url(FAULTY_ISS, endpoint.url.as_str()).jwks_settings(settings))
        .audience(AUD)
        .clock(clock.clone())
        .http_client(http_client())
        .build()
        .map_err(|e| format!("{fault:?}: start-up failed: {e}"))?;
    let auth = Authenticator::builder().jwt(jwt).realm(REALM).build().expect("authenticator");
    let server = start(framework, auth).await;
    let token = signer.token().sign();
    let req = Req::bearer(token.clone());
    let guard = Duration::from_secs(5);
    let ans = tokio::time::timeout(guard, send(&http_client(), server.base_url(), &req))
        .await
        .map_err(|_| format!("{fault:?}: no answer within {guard:?}"))??;
    verify(&ans, &req, 503, None).map_err(|e| format!("{fault:?}: {e}"))?;
    let retry = ans.headers.iter().find(|(n, _)| n == "retry-after").map(|(_, v)| v.as_str());
    if retry.is_none_or(|v| v.parse::<u64>().is_err()) {
        return Err(format!("{fault:?}: Retry-After {retry:?}"));
    }
    endpoint.set(Fault::Healthy);
    clock.advance(Duration::from_secs(11));
    let ans = tokio::time::timeout(guard, send(&http_client(), server.base_url(), &req))
        .await
        .map_err(|_| format!("{fault:?}: no answer within {guard:?} after recovery"))??;
    verify(&ans, &req, 200, None).map_err(|e| format!("{fault:?}, recovered: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_faults_fail_closed_with_503_then_recover_on_both_frameworks() {
    let mut failures = Vec::new();
    for framework in Framework::ALL {
        let mut runs = tokio::task::JoinSet::new();
        for fault in FAULTS {
            runs.spawn(async move { (fault, jwks_fault(framework, fault).await) });
        }
        while let Some(done) = runs.join_next().await {
            match done.expect("a fault task") {
                (fault, Ok(())) => println!("PASS [{framework}] JWKS {fault:?} -> 503, then 200 once healthy"),
                (_, Err(e)) => failures.push(format!("[{framework}] {e}")),
            }
        }
    }
    assert_no_failures("JWKS fault injection", &failures);
}
