//! Project Wycheproof's JOSE vectors (`tests/fixtures/wycheproof/`, Apache-2.0, see its README).
//!
//! - `json_web_key_test.json` (C3, C4, B14): every key set is served as a JWKS — by a local HTTP
//!   server (`Issuer::jwks_url`) and as a static set (`Issuer::with_jwks`) — and a JWT with the
//!   vector's JWS header (`alg`, `kid`), signed by the vector's private key, must be refused unless the
//!   vector says `valid`; a token signed by a symmetric key of a JWKS is refused whatever the vector
//!   says (C4). Every set is also served beside a sound key whose tokens must keep validating: a bad
//!   key never takes the good keys of its set down, nor stops start-up.
//! - `json_web_signature_test.json` (B1, B2, B3, B12): every JWS through the signature layer
//!   (`tower_auth::fuzzing::verify_jws`: the validator's splitting, strict base64url, `alg` pinning and
//!   signature check) with the group's key from `VerifyingKey::from_jwk`, and for HMAC keys also
//!   configured locally (`VerifyingKey::hmac`).
//!
//! The tests print their counts. A vector whose outcome differs from its `result` fails the test
//! unless it is listed in a `KNOWN_DIFFERENCES` table with its reason (and a listed one that stops
//! differing fails too, so the table stays true).
#![cfg(feature = "fuzzing")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsBigEndian as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use tower_auth::AuthErrorKind;
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator, VerifyingKey};

const ISS: &str = "https://wycheproof.issuer.test";
const AUD: &str = "https://api.tower-auth.test";

/// JWK members only a private key has; stripped to get the public half of a `private` key.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

fn load(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/wycheproof/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap_or_else(|_| panic!("vector member {s:?} is not base64url"))
}

fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or_else(|| panic!("missing string {name} in {v}"))
}

/// The protected header of a vector's compact JWS.
fn jws_header(jws: &str) -> Map<String, Value> {
    let first = jws.split('.').next().expect("a segment");
    serde_json::from_slice(&unb64(first)).expect("the vector's JWS header is JSON")
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

fn claims() -> Value {
    let now = now();
    json!({"iss": ISS, "aud": AUD, "sub": "wycheproof", "exp": now + 600, "iat": now})
}

#[derive(Default)]
struct Tally {
    vectors: usize,
    valid: usize,
    invalid: usize,
    accepted: usize,
    refused: usize,
    as_expected: usize,
    known: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Records one outcome. `expected_accept` is what this crate must do (the vector's `result`,
    /// except where a rule of this crate is stricter on purpose); `known` is a listed difference.
    fn record(&mut self, what: &str, result: &str, accepted: bool, expected_accept: bool, known: Option<&str>) {
        self.vectors += 1;
        match result {
            "valid" => self.valid += 1,
            _ => self.invalid += 1,
        }
        if accepted {
            self.accepted += 1;
        } else {
            self.refused += 1;
        }
        match (accepted == expected_accept, known) {
            (true, None) => self.as_expected += 1,
            (false, Some(reason)) => {
                self.known += 1;
                println!("KNOWN {what}: {} although `{result}` ({reason})", verdict(accepted));
            }
            (true, Some(reason)) => {
                self.failures.push(format!("{what}: listed as a known difference ({reason}) but no longer differs"))
            }
            (false, None) => self.failures.push(format!(
                "{what}: {} although the expectation is {}",
                verdict(accepted),
                verdict(expected_accept)
            )),
        }
    }

    fn report(&self, name: &str) {
        println!(
            "{name}: {} vectors ({} valid, {} invalid): accepted {}, refused {}; as expected {}, known differences {}, failures {}",
            self.vectors,
            self.valid,
            self.invalid,
            self.accepted,
            self.refused,
            self.as_expected,
            self.known,
            self.failures.len()
        );
    }
}

fn verdict(accepted: bool) -> &'static str {
    if accepted { "accepted" } else { "refused" }
}

// ---------------------------------------------------------------------------------------------
// Signing with the vectors' private keys

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
    if bytes.get(skip).is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&bytes[skip..]);
    der(0x02, &content)
}

/// Square-and-multiply over little-endian `u32` limbs, for RSA keys aws-lc will not load (1024-bit
/// moduli, `e = 1`). Slow, and only for these test vectors.
mod tiny_rsa {
    fn from_be(bytes: &[u8], limbs: usize) -> Vec<u32> {
        let mut out = vec![0u32; limbs];
        for (i, b) in bytes.iter().rev().enumerate() {
            out[i / 4] |= u32::from(*b) << (8 * (i % 4));
        }
        out
    }

    fn geq(a: &[u32], b: &[u32]) -> bool {
        for i in (0..a.len()).rev() {
            if a[i] != b[i] {
                return a[i] > b[i];
            }
        }
        true
    }

    fn sub_in_place(a: &mut [u32], b: &[u32]) {
        let mut borrow = 0i64;
        for i in 0..a.len() {
            let d = i64::from(a[i]) - i64::from(b[i]) - borrow;
            borrow = i64::from(d < 0);
            a[i] = (d + (borrow << 32)) as u32;
        }
    }

    fn add_in_place(a: &mut [u32], b: &[u32]) {
        let mut carry = 0u64;
        for i in 0..a.len() {
            let s = u64::from(a[i]) + u64::from(b[i]) + carry;
            a[i] = s as u32;
            carry = s >> 32;
        }
    }

    /// `a * b mod n`, with `a, b < n`; every vector has one spare limb for the carries.
    fn mul_mod(a: &[u32], b: &[u32], n: &[u32]) -> Vec<u32> {
        let mut r = vec![0u32; n.len()];
        for i in (0..b.len() * 32).rev() {
            // r = 2r mod n
            let mut carry = 0u32;
            for limb in r.iter_mut() {
                let next = *limb >> 31;
                *limb = (*limb << 1) | carry;
                carry = next;
            }
            if geq(&r, n) {
                sub_in_place(&mut r, n);
            }
            if (b[i / 32] >> (i % 32)) & 1 == 1 {
                add_in_place(&mut r, a);
                if geq(&r, n) {
                    sub_in_place(&mut r, n);
                }
            }
        }
        r
    }

    /// `m^d mod n`, big-endian in and out (`m < n`).
    pub(super) fn pow_mod(m: &[u8], d: &[u8], n: &[u8]) -> Vec<u8> {
        let limbs = n.len().div_ceil(4) + 1;
        let (m, d, n_l) = (from_be(m, limbs), from_be(d, limbs), from_be(n, limbs));
        let mut one = vec![0u32; limbs];
        one[0] = 1;
        let mut result = one;
        for i in (0..limbs * 32).rev() {
            result = mul_mod(&result, &result, &n_l);
            if (d[i / 32] >> (i % 32)) & 1 == 1 {
                result = mul_mod(&result, &m, &n_l);
            }
        }
        let mut out = vec![0u8; n.len()];
        for (i, byte) in out.iter_mut().rev().enumerate() {
            *byte = (result[i / 4] >> (8 * (i % 4))) as u8;
        }
        out
    }
}

/// EMSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §9.2), `k` bytes long.
fn pkcs1_sha256(message: &[u8], k: usize) -> Vec<u8> {
    const DIGEST_INFO: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
        0x20,
    ];
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
    let t = [&DIGEST_INFO[..], hash.as_ref()].concat();
    let mut em = vec![0x00, 0x01];
    em.resize(k - t.len() - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(&t);
    em
}

/// Signs `input` for the algorithm named `alg` with the private JWK `key` of a vector.
fn sign_with(key: &Value, alg: &str, input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match (str_of(key, "kty"), alg) {
        (_, "HS256" | "HS384" | "HS512") => {
            let hmac = match alg {
                "HS256" => aws_lc_rs::hmac::HMAC_SHA256,
                "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
                _ => aws_lc_rs::hmac::HMAC_SHA512,
            };
            let k = unb64(str_of(key, "k"));
            aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(hmac, &k), input).as_ref().to_vec()
        }
        (_, "ES256" | "ES384" | "ES512") => {
            // RFC 5915 ECPrivateKey with the curve of `alg`; aws-lc derives the public point from `d`,
            // so a vector whose published point was modified still gets the genuine signature.
            let (signing, oid, len): (_, &[u8], usize) = match alg {
                "ES256" => {
                    (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], 32)
                }
                "ES384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &[0x2b, 0x81, 0x04, 0x00, 0x22], 48),
                _ => (&signature::ECDSA_P521_SHA512_FIXED_SIGNING, &[0x2b, 0x81, 0x04, 0x00, 0x23], 66),
            };
            let d = unb64(str_of(key, "d"));
            let mut scalar = vec![0u8; len.saturating_sub(d.len())];
            scalar.extend_from_slice(&d);
            let body = [der(0x02, &[1]), der(0x04, &scalar), der(0xa0, &der(0x06, oid))].concat();
            let pair =
                EcdsaKeyPair::from_private_key_der(signing, &der(0x30, &body)).expect("the vector's EC private key");
            pair.sign(&rng, input).expect("ECDSA signing").as_ref().to_vec()
        }
        ("RSA", "RS256") => {
            let member = |name: &str| unb64(str_of(key, name));
            let body: Vec<u8> = [
                der_uint(&[0]),
                der_uint(&member("n")),
                der_uint(&member("e")),
                der_uint(&member("d")),
                der_uint(&member("p")),
                der_uint(&member("q")),
                der_uint(&member("dp")),
                der_uint(&member("dq")),
                der_uint(&member("qi")),
            ]
            .concat();
            match RsaKeyPair::from_der(&der(0x30, &body)) {
                Ok(pair) => {
                    let mut sig = vec![0u8; pair.public_modulus_len()];
                    pair.sign(&signature::RSA_PKCS1_SHA256, &rng, input, &mut sig).expect("RSA signing");
                    sig
                }
                // Refused by aws-lc (too short, e = 1): sign by hand with n and d.
                Err(_) => {
                    let n = member("n");
                    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
                    tiny_rsa::pow_mod(&pkcs1_sha256(input, n.len()), &member("d"), n)
                }
            }
        }
        (kty, alg) => panic!("no signer for a {kty} key and {alg}"),
    }
}

/// A compact JWS of `header` and `payload`, signed with `key` for the header's `alg`.
fn sign_token(key: &Value, header: &Map<String, Value>, payload: &Value) -> String {
    let alg = header["alg"].as_str().expect("alg").to_owned();
    let input = format!("{}.{}", b64(&serde_json::to_vec(header).expect("JSON")), b64(payload.to_string().as_bytes()));
    format!("{input}.{}", b64(&sign_with(key, &alg, input.as_bytes())))
}

/// A sound ES256 key served beside each vector's set.
struct SoundKey {
    jwk: Value,
    private: Value,
}

impl SoundKey {
    fn generate() -> Self {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key");
        let point = pair.public_key().as_ref().to_vec();
        let d = pair.private_key().as_be_bytes().expect("private scalar");
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": "sound-es256", "alg": "ES256", "use": "sig",
            "x": b64(&point[1..33]), "y": b64(&point[33..]),
        });
        let mut private = jwk.clone();
        private["d"] = b64(d.as_ref()).into();
        Self { jwk, private }
    }

    fn token(&self) -> String {
        let header = json!({"alg": "ES256", "kid": "sound-es256", "typ": "at+jwt"});
        sign_token(&self.private, header.as_object().expect("object"), &claims())
    }
}

// ---------------------------------------------------------------------------------------------
// A JWKS server whose document the test replaces

struct JwksServer {
    url: String,
    doc: Arc<RwLock<String>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        let doc = Arc::new(RwLock::new(String::new()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let router = axum::Router::new().route(
            "/jwks",
            axum::routing::get({
                let (doc, fetches) = (doc.clone(), fetches.clone());
                move || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let body = doc.read().expect("doc").clone();
                    async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, doc, fetches, task }
    }

    fn serve(&self, doc: String) {
        *self.doc.write().expect("doc") = doc;
    }
}

fn validator(issuer: Issuer) -> Result<JwtValidator, tower_auth::ConfigError> {
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    JwtValidator::builder().issuer(issuer).audience(AUD).cache_capacity(0).http_client(http).build()
}

async fn outcome(validator: &JwtValidator, token: &str) -> Result<(), AuthErrorKind> {
    validator.validate(token).await.map(drop).map_err(|e| e.kind())
}

/// The private key that signs a vector's JWS: the one with its `kid` (else the only one), completed
/// with `d` from any other vector holding the same EC point when the set publishes the public half only.
fn signing_key(private_keys: &[Value], kid: Option<&str>, every_private: &[Value]) -> Value {
    let mut key = private_keys
        .iter()
        .find(|k| kid.is_some() && k["kid"].as_str() == kid)
        .or(private_keys.first())
        .cloned()
        .expect("a private key");
    if key["kty"] == "EC" && key.get("d").is_none() {
        let twin = every_private
            .iter()
            .find(|k| k.get("d").is_some() && k["x"] == key["x"] && k["y"] == key["y"])
            .expect("the private half of the EC key");
        key["d"] = twin["d"].clone();
    }
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_web_key_sets_served_as_a_jwks() {
    let file = load("json_web_key_test.json");
    let groups = file["testGroups"].as_array().expect("testGroups");
    let every_private: Vec<Value> =
        groups.iter().flat_map(|g| g["private"]["keys"].as_array().cloned().unwrap_or_default()).collect();
    let server = JwksServer::start().await;
    let sound = SoundKey::generate();
    let sound_token = sound.token();
    let (mut remote, mut fixed) = (Tally::default(), Tally::default());
    let mut failures = Vec::new();
    let mut refused_at_start = 0usize;

    // C4: an HS* algorithm is never allowed for keys from a JWKS, remote or static.
    for issuer in [Issuer::jwks_url(ISS, server.url.as_str()), Issuer::with_jwks(ISS, r#"{"keys":[]}"#)] {
        let hs = validator(issuer.algorithms([Algorithm::HS256]));
        assert!(hs.is_err(), "HS256 allowed for a JWKS issuer");
    }

    for group in groups {
        let served: Vec<Value> =
            group["public"]["keys"].as_array().or(group["private"]["keys"].as_array()).cloned().expect("a key set");
        let private: Vec<Value> = group["private"]["keys"].as_array().cloned().expect("private keys");
        for test in group["tests"].as_array().expect("tests") {
            let id = test["tcId"].as_u64().expect("tcId");
            let what = format!("tcId {id} {} / {}", str_of(group, "comment"), str_of(test, "comment"));
            let result = str_of(test, "result");
            let vector_header = jws_header(str_of(test, "jws"));
            let kid = vector_header.get("kid").and_then(Value::as_str);
            let key = signing_key(&private, kid, &every_private);
            let mut header = vector_header.clone();
            header.insert("typ".into(), "at+jwt".into());
            let token = sign_token(&key, &header, &claims());
            let symmetric = key["kty"] == "oct";
            // C4 (design): a symmetric key from a JWKS is refused whatever the vector says.
            let expect_accept = result == "valid" && !symmetric;
            let doc = json!({ "keys": served }).to_string();
            let usable = tower_auth::fuzzing::jwks(doc.as_bytes()).expect("a JWK Set").0.len();

            // 1. Remote JWKS: start-up never fails; the token is judged by the fetched set.
            server.serve(doc.clone());
            let v = validator(Issuer::jwks_url(ISS, server.url.as_str())).expect("a remote JWKS issuer always starts");
            let got = outcome(&v, &token).await;
            println!("[remote] {what}: {got:?} ({usable} usable of {} keys)", served.len());
            remote.record(&what, result, got.is_ok(), expect_accept, None);

            // 2. Static JWKS: a set without any usable key is a configuration error, reported at start-up.
            match validator(Issuer::with_jwks(ISS, doc.clone())) {
                Ok(v) => {
                    let got = outcome(&v, &token).await;
                    fixed.record(&what, result, got.is_ok(), expect_accept, None);
                }
                Err(e) => {
                    refused_at_start += 1;
                    if usable > 0 {
                        failures.push(format!("{what}: static set with {usable} usable keys refused at start-up: {e}"));
                    }
                    fixed.record(&what, result, false, expect_accept, None);
                }
            }

            // 3. The same keys beside a sound one: the sound key keeps working, the vector's token is
            //    judged as before, and start-up succeeds both ways.
            let mut with_sound = served.clone();
            with_sound.push(sound.jwk.clone());
            let doc = json!({ "keys": with_sound }).to_string();
            server.serve(doc.clone());
            let fetches = server.fetches.load(Ordering::SeqCst);
            let v = validator(Issuer::jwks_url(ISS, server.url.as_str())).expect("remote start-up");
            if let Err(kind) = outcome(&v, &sound_token).await {
                failures.push(format!("{what}: the sound key beside this set was refused ({kind:?}) [remote]"));
            }
            if outcome(&v, &token).await.is_ok() != expect_accept {
                failures.push(format!("{what}: judged differently beside a sound key [remote]"));
            }
            if server.fetches.load(Ordering::SeqCst) <= fetches {
                failures.push(format!("{what}: the remote set was never fetched"));
            }
            match validator(Issuer::with_jwks(ISS, doc)) {
                Ok(v) => {
                    if let Err(kind) = outcome(&v, &sound_token).await {
                        failures.push(format!("{what}: the sound key beside this set was refused ({kind:?}) [static]"));
                    }
                    if outcome(&v, &token).await.is_ok() != expect_accept {
                        failures.push(format!("{what}: judged differently beside a sound key [static]"));
                    }
                }
                Err(e) => failures.push(format!("{what}: a set with a sound key did not start: {e}")),
            }
        }
    }
    remote.report("json_web_key_test.json via a remote JWKS (Issuer::jwks_url)");
    fixed.report("json_web_key_test.json via a static JWKS (Issuer::with_jwks)");
    println!("static sets without any usable key, refused at start-up: {refused_at_start}");
    failures.extend(remote.failures);
    failures.extend(fixed.failures);
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The signature layer

/// Vectors whose outcome here differs from their `result`, by tcId, with the reason.
const KNOWN_DIFFERENCES: [(u64, &str); 8] = [
    (
        346,
        "the JWK pins PS256 while the JWS says PS384 (RFC 7520 Figure 20): a key verifies its one algorithm (RFC 8725 §3.1)",
    ),
    (
        350,
        "the JWK pins PS256 while the JWS says PS384 (RFC 7520 Figure 20): a key verifies its one algorithm (RFC 8725 §3.1)",
    ),
    (347, "the JWK's alg is \"ES521\", not a registered algorithm (RFC 7518 §3.1), so the key is refused"),
    (351, "the JWK's alg is \"ES521\", not a registered algorithm (RFC 7518 §3.1), so the key is refused"),
    (372, "a '?' inside the base64url header: strict base64url refuses it (RFC 7515 §2, B12)"),
    (373, "a '?' inside the base64url payload: strict base64url refuses it (RFC 7515 §2, B12)"),
    (
        367,
        "the vector's JWS is byte-identical to a valid one of its group: the padding its name refers to is not in the file",
    ),
    (
        370,
        "the vector's JWS is byte-identical to a valid one of its group: the padding its name refers to is not in the file",
    ),
];

/// The public half of a vector's key.
fn public_half(key: &Value) -> Value {
    let mut key = key.clone();
    if key["kty"] != "oct"
        && let Some(map) = key.as_object_mut()
    {
        for member in PRIVATE_MEMBERS {
            map.remove(member);
        }
    }
    key
}

#[test]
fn json_web_signatures_at_the_signature_layer() {
    let file = load("json_web_signature_test.json");
    let (mut from_jwk, mut local_hmac) = (Tally::default(), Tally::default());
    for group in file["testGroups"].as_array().expect("testGroups") {
        let key_jwk = public_half(if group["public"].is_object() { &group["public"] } else { &group["private"] });
        let tests = group["tests"].as_array().expect("tests");
        // Keys as a JWKS would deliver them; HMAC keys only as local configuration (C4).
        let jwk_key = VerifyingKey::from_jwk(&key_jwk);
        let symmetric = key_jwk["kty"] == "oct";
        let hmac_key = symmetric.then(|| {
            let alg: Algorithm = str_of(&key_jwk, "alg").parse().expect("an HS* alg");
            VerifyingKey::hmac(alg, &unb64(str_of(&key_jwk, "k")), key_jwk["kid"].as_str().map(str::to_owned))
        });
        if symmetric {
            assert!(jwk_key.is_err(), "{}: a symmetric JWK was accepted by from_jwk", str_of(group, "comment"));
        }
        for test in tests {
            let id = test["tcId"].as_u64().expect("tcId");
            let jws = str_of(test, "jws");
            let result = str_of(test, "result");
            let what = format!("tcId {id} {} / {}", str_of(group, "comment"), str_of(test, "comment"));
            let known = KNOWN_DIFFERENCES.iter().find(|(k, _)| *k == id).map(|(_, reason)| *reason);
            if matches!(id, 367 | 370) {
                // Keep the claim of the table true: identical to a valid vector of the same group.
                assert!(
                    tests.iter().any(|t| t["result"] == "valid" && t["jws"].as_str() == Some(jws)),
                    "{what} is no longer a copy of a valid vector"
                );
            }
            let accepted = jwk_key.as_ref().is_ok_and(|key| tower_auth::fuzzing::verify_jws(key, jws).is_ok());
            let valid = result == "valid";
            if symmetric {
                from_jwk.record(&what, result, accepted, false, None);
                let local = hmac_key
                    .as_ref()
                    .is_some_and(|k| k.as_ref().is_ok_and(|key| tower_auth::fuzzing::verify_jws(key, jws).is_ok()));
                local_hmac.record(&what, result, local, valid, known);
            } else {
                from_jwk.record(&what, result, accepted, valid, known);
            }
        }
    }
    from_jwk.report("json_web_signature_test.json, keys from VerifyingKey::from_jwk (oct keys refused: C4)");
    local_hmac.report("json_web_signature_test.json, HMAC keys configured locally (VerifyingKey::hmac)");
    let failures: Vec<String> = from_jwk.failures.into_iter().chain(local_hmac.failures).collect();
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}
