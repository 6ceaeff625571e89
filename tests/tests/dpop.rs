//! DPoP (RFC 9449, RFC-CHECKLIST.md section E) on both frameworks, over real HTTP on 127.0.0.1.
//!
//! Each check names its checklist item (E1.x = RFC 9449 §4.3 item x) and asserts the exact status
//! and `WWW-Authenticate` value (realm `test`). Proofs come from the test kit and, for
//! `python_proofs.json`, from an independent implementation (PyPI `cryptography`, see
//! `tests/fixtures/dpop/make_fixtures.py`). The servers listen on 127.0.0.1 but are configured with
//! the public origin `https://api.tower-auth.test`, as behind a TLS-terminating proxy: `htu` names
//! that origin, never the address the request reached. Time moves only through a [`ManualClock`].

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tower_auth::dpop::{Dpop, DpopBuilder};
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::testkit::{DpopKey, LocalIssuer, ProofBuilder};
use tower_auth::{Authenticator, Clock, ManualClock};
use tower_auth_tests::{Framework, TestServer, http_client, serve};

const AUD: &str = "https://api.tower-auth.test";
const ORIGIN: &str = "https://api.tower-auth.test";
const T0: u64 = 1_700_000_000;
const ALGS: &str = "ES256 ES384 ES512 PS256 RS256 EdDSA";

fn none_challenge() -> String {
    format!(r#"Bearer realm="test", DPoP realm="test", algs="{ALGS}""#)
}
fn invalid_proof() -> String {
    format!(
        r#"Bearer realm="test", DPoP realm="test", error="invalid_dpop_proof", error_description="Invalid DPoP proof", algs="{ALGS}""#
    )
}
fn key_binding() -> String {
    format!(
        r#"Bearer realm="test", DPoP realm="test", error="invalid_token", error_description="Invalid DPoP key binding", algs="{ALGS}""#
    )
}
fn downgrade() -> String {
    format!(
        r#"Bearer realm="test", error="invalid_token", error_description="Invalid token binding", DPoP realm="test", algs="{ALGS}""#
    )
}
fn ambiguous() -> String {
    format!(
        r#"Bearer realm="test", error="invalid_request", error_description="Multiple methods used to include access token", DPoP realm="test", error="invalid_request", error_description="Multiple methods used to include access token", algs="{ALGS}""#
    )
}
fn use_nonce() -> String {
    format!(
        r#"Bearer realm="test", DPoP realm="test", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="{ALGS}""#
    )
}

// ---------------------------------------------------------------------------------------------
// Set-up

struct Env {
    issuer: LocalIssuer,
    clock: ManualClock,
    auth: Authenticator,
}

fn env_with(configure: impl FnOnce(DpopBuilder) -> DpopBuilder) -> Env {
    let clock = ManualClock::at_unix(T0);
    let issuer = LocalIssuer::new("https://issuer.test");
    issuer.set_clock(clock.clone());
    issuer.set_default_audience(AUD);
    let jwt = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUD)
        .clock(clock.clone())
        .build()
        .expect("validator");
    let dpop = configure(Dpop::builder().public_origin(ORIGIN).clock(clock.clone())).build().expect("dpop");
    let auth = Authenticator::builder().jwt(jwt).dpop(dpop).realm("test").build().expect("authenticator");
    Env { issuer, clock, auth }
}

impl Env {
    fn now(&self) -> i64 {
        i64::try_from(tower_auth::clock::unix_seconds(self.clock.now())).expect("time")
    }

    fn bound_token(&self, key: &DpopKey) -> String {
        self.issuer.token().subject("alice").dpop_bound(key).scope("orders:read").sign()
    }

    /// A valid proof for `GET {ORIGIN}/me` with `token`, created now.
    fn proof(&self, key: &DpopKey, token: &str) -> ProofBuilder {
        key.proof_builder("GET", &format!("{ORIGIN}/me")).iat(self.now()).access_token(token)
    }
}

async fn start(framework: Framework, auth: Authenticator) -> Result<TestServer, String> {
    serve(framework, auth, None).await.map_err(|e| format!("{framework} server did not start: {e}"))
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

    fn one(&self, name: &str) -> Option<&str> {
        match self.all(name)[..] {
            [v] => Some(v),
            _ => None,
        }
    }
}

/// `GET path` with an `Authorization` value and `DPoP` fields (each one a field of its own).
async fn get(
    server: &TestServer,
    path: &str,
    authorization: Option<String>,
    proofs: &[String],
) -> Result<Answer, String> {
    let mut req = http_client().get(server.url(path));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    for p in proofs {
        req = req.header("dpop", p.as_str());
    }
    let res = req.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = res.text().await.map_err(|e| format!("reading the body failed: {e}"))?;
    Ok(Answer { status, headers, body })
}

async fn dpop(server: &TestServer, token: &str, proof: String) -> Result<Answer, String> {
    get(server, "/me", Some(format!("DPoP {token}")), &[proof]).await
}

/// The exact status and challenge; a refusal is a problem document whose CORS exposure lets
/// browsers read the challenge and the nonce; the proof and token are never echoed.
fn expect(id: &str, ans: &Answer, status: u16, challenge: Option<&str>, secrets: &[&str]) -> Result<(), String> {
    let www = ans.all("www-authenticate");
    let ok = ans.status == status
        && match challenge {
            Some(c) => www == [c],
            None => www.is_empty(),
        };
    if !ok {
        return Err(format!("{id}: expected {status} {challenge:?}, got {} {www:?} {}", ans.status, ans.body));
    }
    if status >= 400 {
        if ans.one("content-type") != Some("application/problem+json") {
            return Err(format!("{id}: not a problem document"));
        }
        if challenge.is_some() && ans.one("access-control-expose-headers") != Some("WWW-Authenticate, DPoP-Nonce") {
            return Err(format!(
                "{id}: WWW-Authenticate not exposed to browsers: {:?}",
                ans.all("access-control-expose-headers")
            ));
        }
    }
    for secret in secrets {
        if ans.body.contains(secret) || ans.headers.iter().any(|(_, v)| v.contains(secret)) {
            return Err(format!("{id}: a credential was echoed"));
        }
    }
    Ok(())
}

fn bound_me(id: &str, ans: &Answer, sub: &str) -> Result<(), String> {
    expect(id, ans, 200, None, &[])?;
    let v: Value = serde_json::from_str(&ans.body).map_err(|e| format!("{id}: body is not JSON: {e}"))?;
    if v["sub"] != sub || v["bound"] != "dpop" || v["kind"] != "jwt" {
        return Err(format!("{id}: unexpected /me document {v}"));
    }
    Ok(())
}

async fn on_both<F, Fut>(what: &str, scenario: F)
where
    F: Fn(Framework) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut failures = Vec::new();
    for framework in Framework::ALL {
        match scenario(framework).await {
            Ok(()) => println!("PASS [{framework}] {what}"),
            Err(e) => failures.push(format!("[{framework}] {what}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// One row per check: a valid proof, then a proof failing exactly one check.
async fn every_check(framework: Framework) -> Result<(), String> {
    let env = env_with(|b| b);
    let server = start(framework, env.auth.clone()).await?;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = env.bound_token(&key);
    let now = env.now();
    let mut jwk_with_d = key.public_jwk();
    jwk_with_d["d"] = "ZHVtbXktcHJpdmF0ZS1rZXk".into();
    let oct = serde_json::json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
    let invalid = invalid_proof();

    let valid = env.proof(&key, &token).sign();
    bound_me("E1 valid proof", &dpop(&server, &token, valid.clone()).await?, "alice")?;
    // E3: the same proof again.
    expect("E3 replayed jti", &dpop(&server, &token, valid.clone()).await?, 401, Some(&invalid), &[&token, &valid])?;

    let rows: Vec<(&str, String, u16, String)> = vec![
        ("E1.8 htm POST on a GET", env.proof(&key, &token).claim("htm", "POST").sign(), 401, invalid.clone()),
        (
            "E1.9 htu with another path",
            env.proof(&key, &token).claim("htu", format!("{ORIGIN}/admin")).sign(),
            401,
            invalid.clone(),
        ),
        (
            "E1.9 htu with another host",
            env.proof(&key, &token).claim("htu", "https://evil.example/me").sign(),
            401,
            invalid.clone(),
        ),
        (
            "E1.9 htu with another port",
            env.proof(&key, &token).claim("htu", "https://api.tower-auth.test:8443/me").sign(),
            401,
            invalid.clone(),
        ),
        (
            "E11 htu naming the bound address",
            env.proof(&key, &token).claim("htu", server.url("/me")).sign(),
            401,
            invalid.clone(),
        ),
        ("E1.11 stale iat (301 s)", env.proof(&key, &token).iat(now - 301).sign(), 401, invalid.clone()),
        ("E1.11 future iat (31 s)", env.proof(&key, &token).iat(now + 31).sign(), 401, invalid.clone()),
        ("E1.12 wrong ath", env.proof(&key, &token).access_token("another-token").sign(), 401, invalid.clone()),
        ("E1.12 no ath", env.proof(&key, &token).remove_claim("ath").sign(), 401, invalid.clone()),
        (
            "E1.12 / E5 key not the bound one",
            env.proof(&DpopKey::generate(Algorithm::ES256), &token).sign(),
            401,
            key_binding(),
        ),
        ("E1.5 alg none", env.proof(&key, &token).sign_unsecured(), 401, invalid.clone()),
        ("E1.5 alg HS256", env.proof(&key, &token).sign_hmac(Algorithm::HS256, &[1u8; 32]), 401, invalid.clone()),
        ("E1.7 private key in jwk", env.proof(&key, &token).header("jwk", jwk_with_d).sign(), 401, invalid.clone()),
        (
            "E1.7 oct jwk",
            env.proof(&key, &token).header("jwk", oct).sign_hmac(Algorithm::HS256, &[2u8; 32]),
            401,
            invalid.clone(),
        ),
        ("E1.4 typ JWT", env.proof(&key, &token).header("typ", "JWT").sign(), 401, invalid.clone()),
        ("E1.3 no jti", env.proof(&key, &token).remove_claim("jti").sign(), 401, invalid.clone()),
        (
            "E1.6 signed by another key",
            env.proof(&key, &token).sign_with(&DpopKey::generate(Algorithm::ES256)),
            401,
            invalid.clone(),
        ),
        ("E1.2 not a JWT", "not.a.jwt".to_owned(), 401, invalid.clone()),
        (
            "E1.9 default port, case, fragment",
            env.proof(&key, &token).claim("htu", "HTTPS://API.Tower-Auth.test:443/me#x").sign(),
            200,
            String::new(),
        ),
    ];
    for (id, proof, status, challenge) in rows {
        let ans = dpop(&server, &token, proof.clone()).await?;
        let challenge = (status != 200).then_some(challenge.as_str());
        expect(id, &ans, status, challenge, &[&token, &proof])?;
    }

    // E1.9: query ignored, in the proof's htu and in the request.
    let proof = env.proof(&key, &token).claim("htu", format!("{ORIGIN}/me?page=2")).sign();
    bound_me(
        "E1.9 query ignored",
        &get(&server, "/me?page=3", Some(format!("DPoP {token}")), &[proof]).await?,
        "alice",
    )?;
    // E1.1: two DPoP header fields.
    let two = [env.proof(&key, &token).sign(), env.proof(&key, &token).sign()];
    expect(
        "E1.1 two DPoP headers",
        &get(&server, "/me", Some(format!("DPoP {token}")), &two).await?,
        401,
        Some(&invalid),
        &[&token],
    )?;
    expect(
        "E6 DPoP scheme without a proof",
        &get(&server, "/me", Some(format!("DPoP {token}")), &[]).await?,
        401,
        Some(&invalid),
        &[&token],
    )?;
    // E8 (§7.2): the bound token presented as a bearer token.
    expect(
        "E8 Bearer downgrade",
        &get(&server, "/me", Some(format!("Bearer {token}")), &[]).await?,
        401,
        Some(&downgrade()),
        &[&token],
    )?;
    // E10: the DPoP scheme with an unbound token.
    let unbound = env.issuer.token().sign();
    let ans = dpop(&server, &unbound, env.proof(&key, &unbound).sign()).await?;
    expect("E10 DPoP scheme, unbound token", &ans, 401, Some(&key_binding()), &[&unbound])?;
    // A5: Bearer and a DPoP proof in one request.
    let ans = get(&server, "/me", Some(format!("Bearer {unbound}")), &[env.proof(&key, &unbound).sign()]).await?;
    expect("A5 Bearer with a DPoP header", &ans, 400, Some(&ambiguous()), &[&unbound])?;
    // H1 / E8: no credentials → both schemes, no error; unbound bearer tokens still pass.
    expect("E8 no credentials", &get(&server, "/me", None, &[]).await?, 401, Some(&none_challenge()), &[])?;
    let ans = get(&server, "/me", Some(format!("Bearer {unbound}")), &[]).await?;
    expect("unbound Bearer token", &ans, 200, None, &[])?;
    // A 403 for a DPoP-authenticated caller names the DPoP scheme.
    let ans = get(
        &server,
        "/admin",
        Some(format!("DPoP {token}")),
        &[key.proof_builder("GET", &format!("{ORIGIN}/admin")).iat(now).access_token(&token).sign()],
    )
    .await?;
    let needs_admin = format!(
        r#"Bearer realm="test", DPoP realm="test", error="insufficient_scope", error_description="The access token lacks a required scope", scope="admin", algs="{ALGS}""#
    );
    if ans.status != 403 || ans.all("www-authenticate") != [needs_admin.as_str()] {
        return Err(format!("insufficient_scope on DPoP: got {} {:?}", ans.status, ans.all("www-authenticate")));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_proof_check_on_both_frameworks() {
    on_both("E1 proof checks, E8 schemes", every_check).await;
}

/// E9: §9 nonce flow, a fresh nonce on a 200 past half its lifetime, an old nonce after rotation.
async fn nonce_flow(framework: Framework) -> Result<(), String> {
    let env = env_with(|b| b.require_nonce(true).nonce_lifetime(Duration::from_secs(120)));
    let server = start(framework, env.auth.clone()).await?;
    let key = DpopKey::generate(Algorithm::ES256);
    let token = env.bound_token(&key);
    let challenge = use_nonce();

    let first = dpop(&server, &token, env.proof(&key, &token).sign()).await?;
    expect("E9 first call without a nonce", &first, 401, Some(&challenge), &[&token])?;
    let [nonce] = first.all("dpop-nonce")[..] else {
        return Err(format!("E9 exactly one DPoP-Nonce: {:?}", first.all("dpop-nonce")));
    };
    let nonce = nonce.to_owned();

    let retry = dpop(&server, &token, env.proof(&key, &token).nonce(&nonce).sign()).await?;
    bound_me("E9 retry with the nonce", &retry, "alice")?;
    if !retry.all("dpop-nonce").is_empty() {
        return Err("a young nonce should not be replaced".into());
    }

    env.clock.advance(Duration::from_secs(61));
    let later = dpop(&server, &token, env.proof(&key, &token).nonce(&nonce).sign()).await?;
    bound_me("E9 nonce past half its lifetime", &later, "alice")?;
    let Some(fresh) = later.one("dpop-nonce").map(str::to_owned) else {
        return Err("§8.2: a fresh nonce on the 200".into());
    };
    if fresh == nonce
        || later.one("cache-control") != Some("no-store")
        || later.one("access-control-expose-headers") != Some("DPoP-Nonce")
    {
        return Err(format!("§8.2 response headers: {:?}", later.headers));
    }

    env.clock.advance(Duration::from_secs(60));
    let old = dpop(&server, &token, env.proof(&key, &token).nonce(&nonce).sign()).await?;
    expect("E9 old nonce after rotation", &old, 401, Some(&challenge), &[&token])?;
    if old.all("dpop-nonce").len() != 1 {
        return Err("E9 a refused nonce gets exactly one new DPoP-Nonce".into());
    }
    let forged = dpop(&server, &token, env.proof(&key, &token).nonce(&tamper(&fresh)).sign()).await?;
    expect("E9 forged nonce", &forged, 401, Some(&challenge), &[&token])?;
    bound_me("E9 the fresh nonce", &dpop(&server, &token, env.proof(&key, &token).nonce(&fresh).sign()).await?, "alice")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_flow_on_both_frameworks() {
    on_both("E9 server nonces", nonce_flow).await;
}

/// Proofs, keys and tokens made by PyPI `cryptography` (tests/fixtures/dpop/make_fixtures.py).
async fn python_proofs(framework: Framework) -> Result<(), String> {
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/dpop/python_proofs.json")).map_err(|e| e.to_string())?;
    let iat = fixture["iat"].as_u64().ok_or("iat")?;
    let clock = ManualClock::at_unix(iat + 5);
    let jwt = JwtValidator::builder()
        .issuer(Issuer::with_jwks(fixture["issuer"].as_str().ok_or("issuer")?, fixture["issuer_jwks"].to_string()))
        .audience(fixture["audience"].as_str().ok_or("audience")?)
        .clock(clock.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let dpop_cfg = Dpop::builder().public_origin(ORIGIN).clock(clock).build().map_err(|e| e.to_string())?;
    let auth = Authenticator::builder().jwt(jwt).dpop(dpop_cfg).realm("test").build().map_err(|e| e.to_string())?;
    let server = start(framework, auth).await?;
    for case in fixture["cases"].as_array().ok_or("cases")? {
        let alg = case["alg"].as_str().ok_or("alg")?;
        // F1: our thumbprint and ath agree with the independent ones.
        let ours = tower_auth::dpop::jwk_thumbprint(&case["jwk"]).map_err(|e| e.to_string())?;
        let token = case["access_token"].as_str().ok_or("token")?;
        if ours != case["jkt"] || tower_auth::dpop::access_token_hash(token) != case["ath"] {
            return Err(format!("{alg}: thumbprint or ath differs from Python's"));
        }
        let proof = case["proof"].as_str().ok_or("proof")?.to_owned();
        bound_me(&format!("python {alg} proof"), &dpop(&server, token, proof.clone()).await?, "fixture-user")?;
        expect(
            &format!("python {alg} proof replayed"),
            &dpop(&server, token, proof).await?,
            401,
            Some(&invalid_proof()),
            &[token],
        )?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_python_proofs_on_both_frameworks() {
    on_both("E1 proofs from PyPI cryptography", python_proofs).await;
}

/// DESIGN "State that outgrows one process": two app instances (one per framework) sharing one
/// Redis accept a proof once in total. Fails when Redis is unreachable (set `REDIS_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_accept_a_proof_once() {
    use tower_auth::dpop::RedisReplayStore;
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let store = || async {
        match RedisReplayStore::connect(&url).await {
            Ok(store) => store.prefix("tower-auth-tests:dpop:"),
            Err(e) => panic!("Redis must be reachable at {url} (set REDIS_URL): {e}"),
        }
    };
    let env = env_with(|b| b);
    let replica = |store: RedisReplayStore| {
        let jwt = JwtValidator::builder()
            .issuer(Issuer::with_jwks(env.issuer.issuer(), env.issuer.jwks_json()))
            .audience(AUD)
            .clock(env.clock.clone())
            .build()
            .expect("validator");
        let dpop =
            Dpop::builder().public_origin(ORIGIN).clock(env.clock.clone()).replay_store(store).build().expect("dpop");
        Authenticator::builder().jwt(jwt).dpop(dpop).realm("test").build().expect("authenticator")
    };
    let axum = start(Framework::Axum, replica(store().await)).await.expect("axum");
    let actix = start(Framework::Actix, replica(store().await)).await.expect("actix-web");
    let key = DpopKey::generate(Algorithm::ES256);
    let token = env.bound_token(&key);
    let mut failures = Vec::new();
    for (first, second) in [(&axum, &actix), (&actix, &axum)] {
        let proof = env.proof(&key, &token).sign();
        let a = dpop(first, &token, proof.clone()).await.expect("first");
        let b = dpop(second, &token, proof).await.expect("second");
        let what = format!("{} then {}", first.framework(), second.framework());
        if let Err(e) =
            bound_me(&what, &a, "alice").and_then(|()| expect(&what, &b, 401, Some(&invalid_proof()), &[&token]))
        {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `nonce` with its 20th character changed (it stays base64url).
fn tamper(nonce: &str) -> String {
    nonce.char_indices().map(|(i, c)| if i == 20 { if c == 'A' { 'B' } else { 'A' } } else { c }).collect()
}
