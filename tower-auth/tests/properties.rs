//! Property-based tests (issue #10) over the parsers of untrusted input, run on stable by
//! `cargo test` with bounded case counts (a few seconds in all). The same parsers have fuzz targets
//! in `fuzz/`; these add generated *valid* inputs, so that properties beyond "no panic" hold:
//!
//! | parser | properties |
//! |---|---|
//! | compact JWS / JWT validation (B1, B3, B12) | no panic on any bytes; signed tokens round-trip (subject, scopes); any single-byte change of a signed token is refused |
//! | strict JSON (B11) | no panic; agrees with serde_json; objects round-trip; a duplicate member at any depth is refused |
//! | strict base64url (B12) | no panic; round-trips; only the canonical encoding decodes |
//! | `Authorization` and the other credential sources (A1, A2, A4) | no panic on any header bytes; `Bearer` + `b64token` round-trips, scheme case-insensitive; two fields are `invalid_request` |
//! | JWKS documents (C3, C4) | no panic on any bytes or mutated documents; published keys round-trip; symmetric keys skipped |
//! | introspection answers (D2, D5) | no panic; active answers round-trip (subject, client, scopes); `active` other than JSON `true` is never active |
//! | API-key format | no panic; keys round-trip (id, secret); any single-byte change is refused |
//! | DPoP proofs (E1) | no panic on any header bytes; valid proofs pass; any single-byte change is refused |
//! | quota settings, CIDR networks | no panic; values round-trip through their text form |

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tower_auth::apikey::{IpNetwork, KeyFormat, KeyFormatError};
use tower_auth::dpop::Dpop;
use tower_auth::fuzzing::{self, FoundCredential};
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator, VerifyingKey};
use tower_auth::ratelimit::parse_quota;
use tower_auth::testkit::{DpopKey, LocalIssuer, api_key_with};
use tower_auth::{AuthErrorKind, ManualClock};

/// A fixed time for every clock here (2023-11-14T22:13:20Z).
const T0: u64 = 1_700_000_000;
const ISS: &str = "https://issuer.properties.test";
const AUD: &str = "https://api.properties.test";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"))
}

/// A request as the adapters hand it to the engine (`http::request::Parts`); `None` when a header
/// value holds bytes HTTP itself refuses (such a request never reaches the engine; the fuzz targets
/// cover those bytes too).
fn request(method: &str, path_and_query: &str, headers: &[(&str, &[u8])]) -> Option<http::request::Parts> {
    let mut builder = http::Request::builder().method(method).uri(path_and_query);
    for (name, value) in headers {
        builder = builder.header(*name, http::HeaderValue::from_bytes(value).ok()?);
    }
    Some(builder.body(()).expect("a valid request").into_parts().0)
}

/// Bytes of a header value as HTTP allows them (visible ASCII, space, tab, obs-text): anything else
/// is refused before the engine sees the request.
fn field_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..max)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// `(position, replacement)` for a single-byte change of a string of `len` bytes: an ASCII byte
/// other than the one there (a non-ASCII byte would not even be UTF-8).
fn mutation(original: &[u8], pos: usize, byte: u8) -> Vec<u8> {
    let mut out = original.to_vec();
    let i = pos % out.len();
    let b = byte & 0x7f;
    out[i] = if b == out[i] { (b + 1) & 0x7f } else { b };
    out
}

// ---------------------------------------------------------------------------------------------
// Compact JWS and JWT validation

/// An issuer with an ES256, an EdDSA and an RS256 key, at [`T0`].
fn issuer() -> &'static LocalIssuer {
    static ISSUER: OnceLock<LocalIssuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let issuer = LocalIssuer::with_algorithms(ISS, &[Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256]);
        issuer.set_default_audience(AUD);
        issuer.set_clock(ManualClock::at_unix(T0));
        issuer
    })
}

fn validator() -> &'static JwtValidator {
    static VALIDATOR: OnceLock<JwtValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        JwtValidator::builder()
            .issuer(Issuer::with_jwks(ISS, issuer().jwks_json()))
            .audience(AUD)
            .clock(ManualClock::at_unix(T0))
            .cache_capacity(0)
            .build()
            .expect("a valid configuration")
    })
}

fn issuer_keys() -> &'static Vec<VerifyingKey> {
    static KEYS: OnceLock<Vec<VerifyingKey>> = OnceLock::new();
    KEYS.get_or_init(|| fuzzing::jwks(issuer().jwks_json().as_bytes()).expect("the issuer's JWKS").0)
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![Just(Algorithm::ES256), Just(Algorithm::EdDSA), Just(Algorithm::RS256)]
}

fn scope_token() -> impl Strategy<Value = String> {
    // RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E.
    "[!#-\\[\\]-~]{1,12}"
}

/// Scopes as a set: a principal's scopes are the distinct ones (RFC 6749 §3.3: order does not matter).
fn scope_set(scopes: &[String]) -> std::collections::BTreeSet<&str> {
    scopes.iter().map(String::as_str).collect()
}

fn signed(alg: Algorithm, sub: &str, scopes: &[String]) -> String {
    let mut token = issuer().token().alg(alg).subject(sub);
    if !scopes.is_empty() {
        token = token.scope(&scopes.join(" "));
    }
    token.sign()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compact_jws_never_panics_on_any_input(input in bytes(600)) {
        let text = String::from_utf8_lossy(&input);
        let _ = fuzzing::compact_jws(&text);
        for key in issuer_keys() {
            prop_assert!(fuzzing::verify_jws(key, &text).is_err(), "random input verified");
        }
        prop_assert!(runtime().block_on(validator().validate(&text)).is_err());
    }

    #[test]
    fn three_segment_garbage_is_refused(token in "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,120}\\.[A-Za-z0-9_-]{0,90}") {
        let _ = fuzzing::compact_jws(&token);
        prop_assert!(runtime().block_on(validator().validate(&token)).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn signed_tokens_round_trip(
        alg in algorithm(),
        sub in "[^\u{0}-\u{1f}]{1,40}",
        scopes in prop::collection::vec(scope_token(), 0..5),
    ) {
        let token = signed(alg, &sub, &scopes);
        let claims = fuzzing::compact_jws(&token).expect("a compact JWS");
        prop_assert!(claims >= 7, "iss, sub, aud, exp, iat, jti, client_id at least: {claims}");
        let principal = runtime().block_on(validator().validate(&token)).expect("a valid token");
        prop_assert_eq!(principal.subject(), sub.as_str());
        prop_assert_eq!(scope_set(principal.scopes()), scope_set(&scopes));
        let payload = token.split('.').nth(1).expect("three segments");
        let verified: Vec<_> = issuer_keys().iter().filter_map(|k| fuzzing::verify_jws(k, &token).ok()).collect();
        prop_assert_eq!(verified, vec![URL_SAFE_NO_PAD.decode(payload).expect("base64url")], "one key verifies it");
    }

    #[test]
    fn any_single_byte_change_of_a_signed_token_is_refused(
        alg in algorithm(),
        sub in "[a-z]{1,12}",
        pos in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let token = signed(alg, &sub, &["orders:read".to_owned()]);
        prop_assert!(runtime().block_on(validator().validate(&token)).is_ok());
        let changed = String::from_utf8(mutation(token.as_bytes(), pos, byte)).expect("ASCII");
        prop_assert!(runtime().block_on(validator().validate(&changed)).is_err(), "{changed}");
        for key in issuer_keys() {
            prop_assert!(fuzzing::verify_jws(key, &changed).is_err(), "{changed}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Strict JSON and base64url

/// JSON values without floats (their text form is not this test's concern), strings of any
/// Unicode, nested up to three levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(".{0,8}", json_value(), 1..6).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn strict_json_never_panics_and_is_a_subset_of_json(input in bytes(300)) {
        if let Some(object) = fuzzing::strict_json_object(&input) {
            let lax: Value = serde_json::from_slice(&input).expect("strict JSON is JSON");
            prop_assert_eq!(lax.as_object().map(Map::len), Some(object.len()));
        }
    }

    #[test]
    fn strict_json_objects_round_trip(object in json_object()) {
        let text = Value::Object(object.clone()).to_string();
        prop_assert_eq!(fuzzing::strict_json_object(text.as_bytes()), Some(object.clone()));
        let pretty = serde_json::to_string_pretty(&Value::Object(object.clone())).expect("JSON");
        prop_assert_eq!(fuzzing::strict_json_object(pretty.as_bytes()), Some(object));
    }

    #[test]
    fn a_duplicate_member_at_any_depth_is_refused(object in json_object(), pick in any::<usize>(), nest in 0usize..3) {
        let members: Vec<String> =
            object.iter().map(|(k, v)| format!("{}:{v}", Value::String(k.clone()))).collect();
        let twice = &members[pick % members.len()];
        let mut text = format!("{{{},{twice}}}", members.join(","));
        for level in 0..nest {
            text = format!("{{\"level{level}\":[{text}]}}");
        }
        prop_assert!(serde_json::from_str::<Value>(&text).is_ok(), "still JSON: {text}");
        prop_assert_eq!(fuzzing::strict_json_object(text.as_bytes()), None, "{}", text);
    }

    #[test]
    fn base64url_round_trips_and_only_the_canonical_form_decodes(data in bytes(200), noise in bytes(80)) {
        let encoded = URL_SAFE_NO_PAD.encode(&data);
        prop_assert_eq!(fuzzing::b64url_decode(encoded.as_bytes()), Some(data.clone()));
        if let Some(decoded) = fuzzing::b64url_decode(&noise) {
            prop_assert_eq!(URL_SAFE_NO_PAD.encode(decoded).into_bytes(), noise);
        }
        let padded = base64::engine::general_purpose::URL_SAFE.encode(&data);
        if padded.ends_with('=') {
            prop_assert_eq!(fuzzing::b64url_decode(padded.as_bytes()), None, "padding refused");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization header and the other credential sources

/// RFC 6750 §2.1 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn b64token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~+/-]{1,80}={0,2}"
}

/// "Bearer" in any letter case.
fn bearer_scheme() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), 6).prop_map(|upper| {
        "bearer".chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c }).collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn credential_selection_never_panics_on_any_header_bytes(
        authorization in prop::collection::vec(field_bytes(120), 0..3),
        api_key in prop::option::of(field_bytes(80)),
        dpop in prop::option::of(field_bytes(120)),
        query in "(\\?[A-Za-z0-9=&_.%-]{0,40})?",
        every_source in any::<bool>(),
    ) {
        let mut headers: Vec<(&str, &[u8])> = authorization.iter().map(|v| ("authorization", v.as_slice())).collect();
        headers.extend(api_key.as_deref().map(|k| ("x-api-key", k)));
        headers.extend(dpop.as_deref().map(|p| ("dpop", p)));
        let view = request("GET", &format!("/{query}"), &headers).expect("valid field bytes");
        let found = fuzzing::credentials(&view, every_source);
        if authorization.len() >= 2 {
            prop_assert_eq!(found, Err(AuthErrorKind::MultipleCredentials));
        }
        if let Ok(Some(FoundCredential::Bearer(token) | FoundCredential::Dpop(token))) = found {
            prop_assert!(fuzzing::is_b64token(token), "{token:?}");
        }
    }

    #[test]
    fn bearer_b64tokens_round_trip(scheme in bearer_scheme(), token in b64token()) {
        prop_assert!(fuzzing::is_b64token(&token));
        let view = request("GET", "/", &[("authorization", format!("{scheme} {token}").as_bytes())]).expect("valid");
        prop_assert_eq!(fuzzing::credentials(&view, false), Ok(Some(FoundCredential::Bearer(token.as_str()))));
        prop_assert_eq!(fuzzing::credentials(&view, true), Ok(Some(FoundCredential::Bearer(token.as_str()))));
    }

    #[test]
    fn a_token_with_a_character_outside_b64token_is_not_one(
        token in "[A-Za-z0-9._~+/-]{2,80}",
        pos in any::<usize>(),
        bad in prop::sample::select(vec![' ', '"', ',', ';', '\\', '\t', '@', '(', '{', 'é']),
    ) {
        // Inside the token: white space around it is the field's, not the token's.
        let mut chars: Vec<char> = token.chars().collect();
        let at = 1 + pos % (chars.len() - 1);
        chars.insert(at, bad);
        let broken: String = chars.into_iter().collect();
        prop_assert!(!fuzzing::is_b64token(&broken), "{broken:?}");
        // A tab, `é` in UTF-8: still a valid field value, so the engine sees it.
        let view = request("GET", "/", &[("authorization", format!("Bearer {broken}").as_bytes())]).expect("valid");
        prop_assert!(!matches!(fuzzing::credentials(&view, false), Ok(Some(_))), "{broken:?} accepted");
    }

    #[test]
    fn two_authorization_fields_are_invalid_request(a in b64token(), b in b64token(), every_source in any::<bool>()) {
        let (a, b) = (format!("Bearer {a}"), format!("Bearer {b}"));
        let view = request("GET", "/", &[("authorization", a.as_bytes()), ("authorization", b.as_bytes())]).expect("valid");
        prop_assert_eq!(fuzzing::credentials(&view, every_source), Err(AuthErrorKind::MultipleCredentials));
    }
}

// ---------------------------------------------------------------------------------------------
// JWKS documents

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn jwks_never_panics_on_any_bytes_or_mutated_documents(input in bytes(400), pos in any::<usize>(), byte in any::<u8>()) {
        let _ = fuzzing::jwks(&input);
        let document = issuer().jwks_json();
        let changed = mutation(document.as_bytes(), pos, byte);
        if let Some((keys, skipped)) = fuzzing::jwks(&changed) {
            prop_assert!(keys.len() + skipped <= 3, "{} keys and {skipped} skipped", keys.len());
        }
    }

    #[test]
    fn published_keys_round_trip_in_any_order_with_extra_members(
        order in Just((0..3).collect::<Vec<usize>>()).prop_shuffle(),
        extra in prop::collection::btree_map("x-[a-z]{1,8}", json_value(), 0..3),
        with_oct in any::<bool>(),
    ) {
        let published = issuer().jwks();
        let entries = published["keys"].as_array().expect("keys");
        let mut keys: Vec<Value> = order.iter().map(|&i| {
            let mut jwk = entries[i].clone();
            for (name, value) in &extra {
                jwk[name] = value.clone();
            }
            jwk
        }).collect();
        if with_oct {
            keys.push(json!({ "kty": "oct", "kid": "hmac", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode([7u8; 32]) }));
        }
        let document = json!({ "keys": keys }).to_string();
        let (parsed, skipped) = fuzzing::jwks(document.as_bytes()).expect("a JWK Set");
        prop_assert_eq!(skipped, usize::from(with_oct), "a symmetric key is skipped (C4)");
        let kids: Vec<Option<&str>> = parsed.iter().map(VerifyingKey::kid).collect();
        let expected: Vec<Option<&str>> = order.iter().map(|&i| entries[i]["kid"].as_str()).collect();
        prop_assert_eq!(kids, expected);
        prop_assert!(parsed.iter().all(|k| !k.algorithm().is_symmetric()));
    }
}

// ---------------------------------------------------------------------------------------------
// Introspection answers

fn introspect(body: &[u8]) -> Result<Result<tower_auth::Principal, AuthErrorKind>, ()> {
    fuzzing::introspection_answer(body, ISS, AUD, T0 as f64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn introspection_answers_never_panic(input in bytes(400)) {
        let _ = introspect(&input);
    }

    #[test]
    fn active_answers_round_trip(
        sub in "[^\u{0}-\u{1f}\"\\\\]{1,30}",
        client in "[a-zA-Z0-9_-]{1,20}",
        scopes in prop::collection::vec(scope_token(), 0..5),
        ttl in 1u64..100_000,
        extra in prop::collection::btree_map("x_[a-z]{1,8}", json_value(), 0..3),
    ) {
        let mut answer = json!({
            "active": true, "sub": sub, "client_id": client, "iss": ISS, "aud": AUD,
            "iat": T0 - 10, "exp": T0 + ttl,
        });
        if !scopes.is_empty() {
            answer["scope"] = Value::String(scopes.join(" "));
        }
        for (name, value) in extra {
            answer[name] = value;
        }
        let principal = introspect(answer.to_string().as_bytes()).expect("a usable answer").expect("active");
        prop_assert_eq!(principal.subject(), sub.as_str());
        prop_assert_eq!(principal.client_id(), Some(client.as_str()));
        prop_assert_eq!(scope_set(principal.scopes()), scope_set(&scopes));
    }

    #[test]
    fn only_the_json_boolean_true_is_active(active in json_value().prop_filter("not true", |v| *v != Value::Bool(true))) {
        let answer = json!({ "active": active, "sub": "alice", "scope": "admin", "exp": T0 + 60 });
        prop_assert!(!matches!(introspect(answer.to_string().as_bytes()), Ok(Ok(_))), "{answer}");
        let missing = json!({ "sub": "alice", "scope": "admin", "exp": T0 + 60 });
        prop_assert!(!matches!(introspect(missing.to_string().as_bytes()), Ok(Ok(_))));
    }
}

// ---------------------------------------------------------------------------------------------
// API-key format

fn key_prefix() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9]{0,5}(_[a-z0-9]{1,5})?)?"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn api_key_parsing_never_panics(input in ".{0,80}", prefix in key_prefix()) {
        let format = KeyFormat::new(prefix).expect("a valid prefix");
        if let Ok(parsed) = format.parse(&input) {
            prop_assert_eq!(input.len(), format.key_len());
            prop_assert!(input.contains(parsed.id()) && input.contains(parsed.secret()));
        }
    }

    #[test]
    fn api_keys_round_trip(prefix in key_prefix(), id in "[0-9A-Za-z]{12}", secret in "[0-9A-Za-z]{22}") {
        let format = KeyFormat::new(prefix.clone()).expect("a valid prefix");
        let key = api_key_with(&format, &id, &secret);
        let parsed = format.parse(&key).expect("a well-formed key");
        prop_assert_eq!((parsed.id(), parsed.secret()), (id.as_str(), secret.as_str()));
        let generated = format.generate();
        prop_assert!(format.parse(generated.expose_secret()).is_ok_and(|p| p.id() == generated.id()));
    }

    #[test]
    fn any_single_byte_change_of_an_api_key_is_refused(
        id in "[0-9A-Za-z]{12}",
        secret in "[0-9A-Za-z]{22}",
        pos in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let format = KeyFormat::default();
        let key = api_key_with(&format, &id, &secret);
        let changed = String::from_utf8(mutation(key.as_bytes(), pos, byte)).expect("ASCII");
        let refused = format.parse(&changed).map(|_| ()).unwrap_err();
        prop_assert!(matches!(refused, KeyFormatError::Malformed | KeyFormatError::BadChecksum));
    }
}

// ---------------------------------------------------------------------------------------------
// DPoP proofs

const ORIGIN: &str = "https://resource.properties.test";

fn dpop() -> &'static Dpop {
    static DPOP: OnceLock<Dpop> = OnceLock::new();
    DPOP.get_or_init(|| {
        Dpop::builder().public_origin(ORIGIN).clock(ManualClock::at_unix(T0)).build().expect("a DPoP configuration")
    })
}

fn dpop_key(alg: Algorithm) -> &'static DpopKey {
    static KEYS: OnceLock<Vec<DpopKey>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| [Algorithm::ES256, Algorithm::EdDSA].map(DpopKey::generate).into());
    keys.iter().find(|k| k.algorithm() == alg).expect("a key of that algorithm")
}

/// A request with a `DPoP` header; `None` when the proof holds bytes HTTP refuses.
fn proof_request(method: &str, path: &str, proof: &[u8]) -> Option<http::request::Parts> {
    request(method, path, &[("dpop", proof)])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dpop_proof_checks_never_panic_on_any_header_bytes(input in field_bytes(600), token in prop::option::of(b64token())) {
        let request = proof_request("GET", "/orders", &input).expect("valid field bytes");
        prop_assert!(fuzzing::dpop_check(dpop(), &request, token.as_deref()).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn valid_proofs_pass_and_any_single_byte_change_is_refused(
        alg in prop_oneof![Just(Algorithm::ES256), Just(Algorithm::EdDSA)],
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
        path in "(/[a-z0-9]{1,8}){1,3}",
        jti in "[A-Za-z0-9_-]{16,40}",
        token in b64token(),
        skew in -299i64..=29,
        stale in prop_oneof![-3600i64..=-301, 31i64..=3600],
        pos in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let key = dpop_key(alg);
        let iat = T0 as i64 + skew;
        let proof = key
            .proof_builder(method, &format!("{ORIGIN}{path}"))
            .iat(iat)
            .jti(&jti)
            .access_token(&token)
            .sign();
        let check = |method: &str, path: &str, proof: &[u8], token: &str| {
            let request = proof_request(method, path, proof)?;
            Some(fuzzing::dpop_check(dpop(), &request, Some(token)).map_err(|e| e.kind()))
        };
        prop_assert_eq!(check(method, &path, proof.as_bytes(), &token), Some(Ok(key.thumbprint())));
        // Bound to the request: another token, another method or path, a stale `iat` (E1.8, 9, 11, 12).
        prop_assert!(check(method, &path, proof.as_bytes(), "another-token").is_some_and(|r| r.is_err()));
        let other_method = if method == "GET" { "POST" } else { "GET" };
        prop_assert!(check(other_method, &path, proof.as_bytes(), &token).is_some_and(|r| r.is_err()));
        let other_path = format!("{path}/x");
        prop_assert!(check(method, &other_path, proof.as_bytes(), &token).is_some_and(|r| r.is_err()));
        let url = format!("{ORIGIN}{path}");
        let old = key.proof_builder(method, &url).iat(T0 as i64 + stale).jti(&jti).access_token(&token).sign();
        prop_assert!(check(method, &path, old.as_bytes(), &token).is_some_and(|r| r.is_err()));
        // A changed byte HTTP lets through is refused by the checks (the others never reach them).
        let changed = mutation(proof.as_bytes(), pos, byte);
        let outcome = check(method, &path, &changed, &token);
        prop_assert!(outcome.is_none_or(|r| r.is_err()), "{}", String::from_utf8_lossy(&changed));
    }
}

// ---------------------------------------------------------------------------------------------
// Quota settings and CIDR networks

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn quota_parsing_never_panics(input in ".{0,40}") {
        if let Ok(Some(quota)) = parse_quota(&input) {
            prop_assert_eq!(parse_quota(&quota.to_string()).ok(), Some(Some(quota)), "{:?}", input);
        }
    }

    #[test]
    fn quotas_round_trip_through_their_text(
        count in 1u32..=1_000_000,
        unit in prop::sample::select(vec!["s", "m", "h"]),
        burst in prop::option::of(1u32..=1_000_000),
        spaces in prop::collection::vec(" {0,2}", 4),
    ) {
        let text = match burst {
            Some(b) => format!("{}{count}{}/{unit},{}burst={b}{}", spaces[0], spaces[1], spaces[2], spaces[3]),
            None => format!("{}{count}/{unit}{}", spaces[0], spaces[3]),
        };
        match parse_quota(&text) {
            Ok(Some(quota)) => {
                prop_assert_eq!(quota.count(), count);
                prop_assert_eq!(quota.burst_size(), burst.unwrap_or(count));
                prop_assert_eq!(parse_quota(&quota.to_string()).ok(), Some(Some(quota)));
            }
            // Refused only for a refill time over ten years.
            other => {
                let secs = match unit { "s" => 1u64, "m" => 60, _ => 3600 };
                let refill = u128::from(burst.unwrap_or(count)) * u128::from(secs) * 1_000_000_000 / u128::from(count);
                prop_assert!(refill > 10 * 365 * 24 * 3600 * 1_000_000_000, "{text:?} refused: {other:?}");
            }
        }
    }

    #[test]
    fn networks_round_trip_and_contain_their_addresses(
        v6 in any::<bool>(),
        bits in any::<u128>(),
        len in any::<u8>(),
        host in any::<u128>(),
        garbage in ".{0,48}",
    ) {
        let _ = garbage.parse::<IpNetwork>();
        let width: u8 = if v6 { 128 } else { 32 };
        let len = len % (width + 1);
        let keep = |x: u128, n: u8| if n == 0 { 0 } else { x >> (u32::from(width - n)) << (u32::from(width - n)) };
        let addr = |x: u128| if v6 { IpAddr::V6(Ipv6Addr::from(x)) } else { IpAddr::V4(Ipv4Addr::from(x as u32)) };
        let all = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        let network = IpNetwork::new(addr(keep(bits & all, len)), len).expect("host bits are zero");
        prop_assert_eq!(network.to_string().parse::<IpNetwork>(), Ok(network));
        let inside = keep(bits & all, len) | (host & all & !keep(all, len));
        prop_assert!(network.contains(addr(inside)), "{network} contains {}", addr(inside));
    }
}
