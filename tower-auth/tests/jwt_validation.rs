//! JWT access-token validation (RFC-CHECKLIST section B): signatures, algorithms, headers, claims,
//! token types, strict parsing, the verified-token cache and sender-constrained tokens.
//!
//! Every test asserts the exact [`AuthErrorKind`]; time moves only through a [`ManualClock`].
#![cfg(feature = "test-util")]

mod common;

use std::time::Duration;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator, TokenTypes, VerifyingKey};
use tower_auth::testkit::{LocalIssuer, TestIssuer};
use tower_auth::{AuthErrorKind, Authenticator, Binding, ManualClock, Mechanism};

use common::{AUD, RawSigner, T0, b64, clock_for, expect_kind, expect_ok, segments, unb64, validator_for};

async fn setup() -> (TestIssuer, ManualClock, JwtValidator) {
    let issuer = TestIssuer::start().await;
    let clock = clock_for(&issuer);
    let validator = validator_for(Issuer::discover(issuer.url()), &clock);
    (issuer, clock, validator)
}

/// A validator that never caches, for checks that must run the full verification every time.
fn uncached(issuer: &TestIssuer, clock: &ManualClock) -> JwtValidator {
    JwtValidator::builder()
        .issuer(Issuer::discover(issuer.url()))
        .audience(AUD)
        .clock(clock.clone())
        .cache_capacity(0)
        .build()
        .expect("valid configuration")
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(segments(token).0)).expect("header JSON")
}

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(segments(token).1)).expect("claims JSON")
}

const ALL: [Algorithm; 5] = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];

// ---------------------------------------------------------------------------------------------
// Valid tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn valid_tokens_of_every_algorithm_via_discovery() {
    let (issuer, _clock, validator) = setup().await;
    for alg in ALL {
        let token = issuer.token().alg(alg).scope("orders:read orders:write").sign();
        let header = header_of(&token);
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["kid"], issuer.kid_for(alg).expect("kid").as_str());
        let p = expect_ok(&validator, &token).await;
        assert_eq!(p.subject(), "user-1", "{alg}");
        assert_eq!(p.client_id(), Some("test-client"), "{alg}");
        assert_eq!(p.issuer(), Some(issuer.url()), "{alg}");
        assert_eq!(p.mechanism(), Mechanism::Jwt);
        assert_eq!(p.scopes(), ["orders:read", "orders:write"], "{alg}");
        assert!(p.has_scope("orders:write") && !p.has_scope("orders"));
        assert_eq!(p.binding(), None);
        assert_eq!(p.expires_at(), Some(std::time::UNIX_EPOCH + Duration::from_secs(T0 + 3600)));
        assert_eq!(p.claim("aud"), Some(&json!(AUD)));
    }
    // One discovery and one JWKS request served all five algorithms.
    assert_eq!(validator.jwks_fetch_count(issuer.url()), 1);
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn scopes_from_scope_and_scp() {
    // RFC 9068 §2.2.3 (`scope` string); `scp` as array or string (Azure AD, Okta).
    let (issuer, _clock, validator) = setup().await;
    let p = expect_ok(&validator, &issuer.token().scope("a b").claim("scp", json!(["b", "c"])).sign()).await;
    assert_eq!(p.scopes(), ["a", "b", "c"]);
    let p = expect_ok(&validator, &issuer.token().claim("scp", json!(["x", "y"])).sign()).await;
    assert_eq!(p.scopes(), ["x", "y"]);
    let p = expect_ok(&validator, &issuer.token().claim("scp", "x y").sign()).await;
    assert_eq!(p.scopes(), ["x", "y"]);
    let p = expect_ok(&validator, &issuer.token().scope("a  a b").sign()).await;
    assert_eq!(p.scopes(), ["a", "b"]);
    let p = expect_ok(&validator, &issuer.token().sign()).await;
    assert!(p.scopes().is_empty());
}

#[tokio::test]
async fn client_id_azp_and_subject() {
    let (issuer, _clock, validator) = setup().await;
    // `azp` when there is no `client_id` (OIDC-style access tokens, Keycloak).
    let p = expect_ok(&validator, &issuer.token().remove_claim("client_id").claim("azp", "spa").sign()).await;
    assert_eq!(p.client_id(), Some("spa"));
    assert_eq!(p.subject(), "user-1");
    // `client_id` wins over `azp`.
    let p = expect_ok(&validator, &issuer.token().claim("azp", "other").sign()).await;
    assert_eq!(p.client_id(), Some("test-client"));
    // Client-credentials token without `sub`: the client is the subject.
    let p = expect_ok(&validator, &issuer.token().remove_claim("sub").claim("client_id", "svc").sign()).await;
    assert_eq!(p.subject(), "svc");
    assert_eq!(p.client_id(), Some("svc"));
    // Neither subject nor client: nobody to authenticate.
    let token = issuer.token().remove_claim("sub").remove_claim("client_id").sign();
    expect_kind(&validator, &token, AuthErrorKind::MissingClaim).await;
}

#[tokio::test]
async fn token_from_jsonwebtoken_crate_verifies() {
    // An independent JWS implementation (jsonwebtoken, aws-lc backend) signs; we verify.
    const ISS: &str = "https://independent.example";
    let clock = ManualClock::at_unix(T0);
    let claims = json!({
        "iss": ISS, "sub": "alice", "aud": AUD, "client_id": "cli",
        "iat": T0, "exp": T0 + 600, "jti": "j-1", "scope": "orders:read",
    });

    // ES256, key generated by aws-lc-rs, private key handed over as PKCS#8.
    let es = RawSigner::new("jsonwebtoken-es256");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(es.kid().to_owned());
    header.typ = Some("at+jwt".to_owned());
    let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ec_der(&es.pkcs8()))
        .expect("jsonwebtoken signs");
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(ISS, es.jwks_json()).token_types(TokenTypes::Strict))
        .audience(AUD)
        .clock(clock.clone())
        .build()
        .expect("valid configuration");
    let p = expect_ok(&validator, &token).await;
    assert_eq!(p.subject(), "alice");
    assert_eq!(p.client_id(), Some("cli"));
    assert_eq!(p.scopes(), ["orders:read"]);

    // jsonwebtoken's default header (`typ: JWT`) is an access token in the default mode only.
    let mut plain = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    plain.kid = Some(es.kid().to_owned());
    let jwt_typed = jsonwebtoken::encode(&plain, &claims, &jsonwebtoken::EncodingKey::from_ec_der(&es.pkcs8()))
        .expect("jsonwebtoken signs");
    expect_kind(&validator, &jwt_typed, AuthErrorKind::UnsupportedTokenType).await;
    let lenient = validator_for(Issuer::with_jwks(ISS, es.jwks_json()), &clock);
    expect_ok(&lenient, &jwt_typed).await;

    // EdDSA (RFC 8037).
    let ed = Ed25519KeyPair::generate().expect("Ed25519 key");
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "jsonwebtoken-ed", "x": b64(ed.public_key().as_ref())});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("jsonwebtoken-ed".to_owned());
    let pkcs8 = ed.to_pkcs8v1().expect("PKCS#8");
    let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()))
        .expect("jsonwebtoken signs");
    let validator = validator_for(Issuer::with_jwks(ISS, json!({"keys": [jwk]}).to_string()), &clock);
    assert_eq!(expect_ok(&validator, &token).await.subject(), "alice");
}

// ---------------------------------------------------------------------------------------------
// Signatures (B3)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tampered_signature_is_invalid_signature_b3() {
    let (issuer, _clock, validator) = setup().await;
    for alg in ALL {
        let token = issuer.token().alg(alg).sign();
        let (h, p, s) = segments(&token);
        let sig = unb64(s);
        for flip_at in [0, sig.len() / 2, sig.len() - 1] {
            let mut bad = sig.clone();
            bad[flip_at] ^= 0x01;
            expect_kind(&validator, &format!("{h}.{p}.{}", b64(&bad)), AuthErrorKind::InvalidSignature).await;
        }
        // Truncated, extended, and empty signatures.
        expect_kind(&validator, &format!("{h}.{p}.{}", b64(&sig[..sig.len() - 1])), AuthErrorKind::InvalidSignature)
            .await;
        let mut longer = sig.clone();
        longer.push(0);
        expect_kind(&validator, &format!("{h}.{p}.{}", b64(&longer)), AuthErrorKind::InvalidSignature).await;
        expect_kind(&validator, &format!("{h}.{p}."), AuthErrorKind::InvalidSignature).await;
        // The original still verifies.
        expect_ok(&validator, &token).await;
    }
    // ECDSA: r or s = 0, and s = n (out of range), must not verify (Wycheproof).
    let token = issuer.token().alg(Algorithm::ES256).sign();
    let (h, p, _) = segments(&token);
    let n = unb64("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE"); // P-256 group order
    for sig in [
        [0u8; 64].to_vec(),
        [vec![1u8; 32], vec![0u8; 32]].concat(),
        [vec![1u8; 32], n.clone()].concat(),
        [n, vec![1u8; 32]].concat(),
    ] {
        expect_kind(&validator, &format!("{h}.{p}.{}", b64(&sig)), AuthErrorKind::InvalidSignature).await;
    }
}

#[tokio::test]
async fn tampered_payload_or_header_is_invalid_signature_b3() {
    let (issuer, _clock, validator) = setup().await;
    for alg in ALL {
        let token = issuer.token().alg(alg).scope("orders:read").sign();
        let (h, _, s) = segments(&token);
        let mut claims = claims_of(&token);
        claims["sub"] = "admin".into();
        expect_kind(
            &validator,
            &format!("{h}.{}.{s}", b64(claims.to_string().as_bytes())),
            AuthErrorKind::InvalidSignature,
        )
        .await;
        let mut claims = claims_of(&token);
        claims["scope"] = "orders:read admin".into();
        expect_kind(
            &validator,
            &format!("{h}.{}.{s}", b64(claims.to_string().as_bytes())),
            AuthErrorKind::InvalidSignature,
        )
        .await;
        let mut claims = claims_of(&token);
        claims["exp"] = (T0 + 86_400 * 365).into();
        expect_kind(
            &validator,
            &format!("{h}.{}.{s}", b64(claims.to_string().as_bytes())),
            AuthErrorKind::InvalidSignature,
        )
        .await;
        // The header is signed too: an accepted `typ` swapped in still breaks the signature.
        let (_, p, _) = segments(&token);
        let mut header = header_of(&token);
        header["typ"] = "JWT".into();
        expect_kind(
            &validator,
            &format!("{}.{p}.{s}", b64(header.to_string().as_bytes())),
            AuthErrorKind::InvalidSignature,
        )
        .await;
    }
    // A signature lifted from another valid token.
    let a = issuer.token().subject("a").sign();
    let b = issuer.token().subject("b").sign();
    let (ah, ap, _) = segments(&a);
    let (_, _, bs) = segments(&b);
    expect_kind(&validator, &format!("{ah}.{ap}.{bs}"), AuthErrorKind::InvalidSignature).await;
}

// ---------------------------------------------------------------------------------------------
// Algorithms (B1, B2)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn alg_none_in_every_casing_is_refused_b2() {
    let (issuer, _clock, validator) = setup().await;
    expect_ok(&validator, &issuer.token().sign()).await;
    for none in ["none", "None", "NONE", "nOnE"] {
        // Unsecured JWS (empty signature).
        let token = issuer.token().header("alg", none).sign_unsecured();
        assert!(token.ends_with('.'));
        expect_kind(&validator, &token, AuthErrorKind::UnsupportedAlgorithm).await;
        // A real signature under an `alg: none` header.
        expect_kind(&validator, &issuer.token().header("alg", none).sign(), AuthErrorKind::UnsupportedAlgorithm).await;
    }
    // The default of sign_unsecured, and other case variants of real names (alg is case-sensitive).
    expect_kind(&validator, &issuer.token().sign_unsecured(), AuthErrorKind::UnsupportedAlgorithm).await;
    for alg in ["rs256", "Rs256", "es256", "EDDSA", "RS256 ", ""] {
        expect_kind(&validator, &issuer.token().header("alg", alg).sign(), AuthErrorKind::UnsupportedAlgorithm).await;
    }
    // A supported `alg` with an empty signature is a bad signature, not an unsecured JWS.
    expect_kind(&validator, &issuer.token().header("alg", "RS256").sign_unsecured(), AuthErrorKind::InvalidSignature)
        .await;
    // `alg` must be a string.
    expect_kind(&validator, &issuer.token().header("alg", 1).sign(), AuthErrorKind::MalformedToken).await;
    expect_kind(&validator, &issuer.token().header("alg", Value::Null).sign_unsecured(), AuthErrorKind::MalformedToken)
        .await;
    // RFC 7519 §6.1 unsecured JWT, verbatim.
    let rfc7519 = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.";
    expect_kind(&validator, rfc7519, AuthErrorKind::UnsupportedAlgorithm).await;
}

#[tokio::test]
async fn hs256_signed_with_rsa_public_key_is_refused_b1() {
    // RS→HS key confusion (RFC 8725 §2.1): the attacker uses the public RSA key as an HMAC secret.
    let (issuer, _clock, validator) = setup().await;
    let kid = issuer.kid_for(Algorithm::RS256).expect("RSA kid");
    let jwk = issuer.public_jwk(&kid).expect("RSA JWK");
    let n = unb64(jwk["n"].as_str().expect("n"));
    let secrets: [Vec<u8>; 3] = [jwk.to_string().into_bytes(), n, issuer.jwks_json().into_bytes()];
    for secret in &secrets {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let with_kid = issuer.token().kid(Some(&kid)).sign_hmac(alg, secret);
            assert_eq!(header_of(&with_kid)["kid"], kid.as_str());
            expect_kind(&validator, &with_kid, AuthErrorKind::UnsupportedAlgorithm).await;
            expect_kind(&validator, &issuer.token().sign_hmac(alg, secret), AuthErrorKind::UnsupportedAlgorithm).await;
        }
    }

    // Even with HS256 on the allow-list (static keys), an RSA key is pinned to RS256 and is never
    // used as an HMAC secret.
    const ISS: &str = "https://confusion.example";
    let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
    let spki = pair.public_key().as_der().expect("SPKI").as_ref().to_vec();
    let pem = {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(&spki);
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ASCII")).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    };
    let key = VerifyingKey::from_public_key_pem(Algorithm::RS256, &pem, Some("rsa-1".into())).expect("RSA PEM");
    assert_eq!(key.algorithm(), Algorithm::RS256);
    let clock = ManualClock::at_unix(T0);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_keys(ISS, [key]).algorithms([Algorithm::RS256, Algorithm::HS256]))
        .audience(AUD)
        .clock(clock.clone())
        .build()
        .expect("valid configuration");
    let local = LocalIssuer::new(ISS);
    local.set_clock(clock.clone());
    local.set_default_audience(AUD);
    // The key itself works for RS256 (so the refusals below are about the algorithm).
    let rs256 = {
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"});
        let claims = json!({"iss": ISS, "sub": "u", "aud": AUD, "exp": T0 + 600});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).expect("RSA signing");
        format!("{input}.{}", b64(&sig))
    };
    expect_ok(&validator, &rs256).await;
    for secret in [pem.as_bytes(), spki.as_slice()] {
        let token = local.token().kid(Some("rsa-1")).sign_hmac(Algorithm::HS256, secret);
        expect_kind(&validator, &token, AuthErrorKind::UnsupportedAlgorithm).await;
        expect_kind(
            &validator,
            &local.token().sign_hmac(Algorithm::HS256, secret),
            AuthErrorKind::UnsupportedAlgorithm,
        )
        .await;
    }
}

#[tokio::test]
async fn alg_header_must_equal_the_keys_pinned_algorithm_b1() {
    let (issuer, _clock, validator) = setup().await;
    // PS256 header on a token signed by (and naming) the RS256 key.
    let token = issuer.token().alg(Algorithm::RS256).header("alg", "PS256").sign();
    assert_eq!(header_of(&token)["kid"], issuer.kid_for(Algorithm::RS256).expect("kid").as_str());
    expect_kind(&validator, &token, AuthErrorKind::UnsupportedAlgorithm).await;
    // The other way round, and between curves.
    expect_kind(
        &validator,
        &issuer.token().alg(Algorithm::PS256).header("alg", "RS256").sign(),
        AuthErrorKind::UnsupportedAlgorithm,
    )
    .await;
    expect_kind(
        &validator,
        &issuer.token().alg(Algorithm::ES256).header("alg", "ES384").sign(),
        AuthErrorKind::UnsupportedAlgorithm,
    )
    .await;
    expect_kind(
        &validator,
        &issuer.token().alg(Algorithm::ES384).header("alg", "ES256").sign(),
        AuthErrorKind::UnsupportedAlgorithm,
    )
    .await;
    // A `kid` of a key pinned to another algorithm.
    let rs_kid = issuer.kid_for(Algorithm::RS256).expect("kid");
    expect_kind(
        &validator,
        &issuer.token().alg(Algorithm::ES256).kid(Some(&rs_kid)).sign(),
        AuthErrorKind::UnsupportedAlgorithm,
    )
    .await;
    // Without a `kid`, the PS256 header selects the PS256 key, which did not sign: bad signature.
    expect_kind(
        &validator,
        &issuer.token().alg(Algorithm::RS256).header("alg", "PS256").kid(None).sign(),
        AuthErrorKind::InvalidSignature,
    )
    .await;
    // Without a `kid` and with the right algorithm, the single key of that algorithm is used.
    expect_ok(&validator, &issuer.token().alg(Algorithm::PS256).kid(None).sign()).await;
}

#[tokio::test]
async fn algorithm_allow_list_b1() {
    let issuer = TestIssuer::start().await;
    let clock = clock_for(&issuer);
    let validator = validator_for(Issuer::discover(issuer.url()).algorithms([Algorithm::ES256]), &clock);
    expect_ok(&validator, &issuer.token().alg(Algorithm::ES256).sign()).await;
    for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::ES384, Algorithm::EdDSA] {
        expect_kind(&validator, &issuer.token().alg(alg).sign(), AuthErrorKind::UnsupportedAlgorithm).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Headers: crit (B4), embedded keys (B5)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_crit_is_refused_b4() {
    let (issuer, _clock, validator) = setup().await;
    let cases = [
        issuer.token().header("crit", json!(["https://ext.example/x"])).header("https://ext.example/x", true).sign(),
        issuer.token().header("crit", json!(["b64"])).header("b64", false).sign(),
        issuer.token().header("crit", json!(["exp"])).header("exp", T0 + 10).sign(),
        issuer.token().header("crit", json!([])).sign(),
        issuer.token().alg(Algorithm::ES256).header("crit", "not-an-array").sign(),
    ];
    for token in &cases {
        expect_kind(&validator, token, AuthErrorKind::UnknownCriticalHeader).await;
    }
}

#[tokio::test]
async fn embedded_jwk_of_an_attacker_is_ignored_b5() {
    let (issuer, _clock, validator) = setup().await;
    let attacker = RawSigner::new("attacker-1");
    let claims = json!({"iss": issuer.url(), "sub": "admin", "aud": AUD, "exp": T0 + 600, "client_id": "x"});
    let real_kid = issuer.kid_for(Algorithm::ES256).expect("kid");
    // The real issuer's kid, the attacker's key embedded and used to sign.
    let token =
        attacker.sign_json(&json!({"alg": "ES256", "typ": "at+jwt", "kid": real_kid, "jwk": attacker.jwk()}), &claims);
    expect_kind(&validator, &token, AuthErrorKind::InvalidSignature).await;
    // No kid at all: the issuer's ES256 key is selected, never the embedded one.
    let token = attacker.sign_json(&json!({"alg": "ES256", "typ": "at+jwt", "jwk": attacker.jwk()}), &claims);
    expect_kind(&validator, &token, AuthErrorKind::InvalidSignature).await;
    // The attacker's kid: not one of the issuer's keys.
    let token = attacker
        .sign_json(&json!({"alg": "ES256", "typ": "at+jwt", "kid": attacker.kid(), "jwk": attacker.jwk()}), &claims);
    expect_kind(&validator, &token, AuthErrorKind::UnknownKey).await;
    // An x5c chain is not trusted either.
    let token =
        attacker.sign_json(&json!({"alg": "ES256", "typ": "at+jwt", "kid": real_kid, "x5c": ["MIIBfake"]}), &claims);
    expect_kind(&validator, &token, AuthErrorKind::InvalidSignature).await;
}

#[tokio::test]
async fn keys_belong_to_their_issuer_b6() {
    // Two trusted issuers: a token naming issuer A but signed with B's key never verifies.
    let a = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let clock = clock_for(&a);
    let b = LocalIssuer::new("https://issuer-b.example");
    b.set_clock(clock.clone());
    b.set_default_audience(AUD);
    let validator = JwtValidator::builder()
        .issuer(Issuer::discover(a.url()))
        .issuer(Issuer::with_jwks(b.issuer(), b.jwks_json()))
        .audience(AUD)
        .clock(clock.clone())
        .build()
        .expect("valid configuration");
    assert_eq!(expect_ok(&validator, &a.token().sign()).await.issuer(), Some(a.url()));
    assert_eq!(expect_ok(&validator, &b.token().sign()).await.issuer(), Some("https://issuer-b.example"));
    // B's key, A's name, B's kid. The test kit numbers kids per issuer, so A may have a key with the
    // same kid (then the signature fails) or not (then the key is unknown): never accepted.
    let forged = b.token().claim("iss", a.url()).sign();
    let kid_b = b.kid_for(Algorithm::ES256).expect("kid");
    let expected = if a.kid_for(Algorithm::ES256).as_deref() == Some(kid_b.as_str()) {
        AuthErrorKind::InvalidSignature
    } else {
        AuthErrorKind::UnknownKey
    };
    expect_kind(&validator, &forged, expected).await;
    expect_kind(&validator, &b.token().claim("iss", a.url()).kid(None).sign(), AuthErrorKind::InvalidSignature).await;
    // And A's key under B's name.
    expect_kind(&validator, &a.token().claim("iss", b.issuer()).kid(None).sign(), AuthErrorKind::InvalidSignature)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Claims: iss (B6), aud (B7), exp / nbf / iat (B8), required claims (B10)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn issuer_must_match_exactly_b6() {
    let (issuer, _clock, validator) = setup().await;
    expect_kind(&validator, &issuer.token().claim("iss", "https://evil.example").sign(), AuthErrorKind::InvalidIssuer)
        .await;
    expect_kind(
        &validator,
        &issuer.token().claim("iss", format!("{}/", issuer.url())).sign(),
        AuthErrorKind::InvalidIssuer,
    )
    .await;
    expect_kind(
        &validator,
        &issuer.token().claim("iss", issuer.url().to_uppercase()).sign(),
        AuthErrorKind::InvalidIssuer,
    )
    .await;
    expect_kind(&validator, &issuer.token().claim("iss", 42).sign(), AuthErrorKind::InvalidIssuer).await;
    expect_kind(&validator, &issuer.token().claim("iss", json!([issuer.url()])).sign(), AuthErrorKind::InvalidIssuer)
        .await;
    expect_kind(&validator, &issuer.token().remove_claim("iss").sign(), AuthErrorKind::MissingClaim).await;
}

#[tokio::test]
async fn audience_string_or_array_b7() {
    let (issuer, _clock, validator) = setup().await;
    expect_ok(&validator, &issuer.token().audience(AUD).sign()).await;
    expect_kind(&validator, &issuer.token().remove_claim("aud").sign(), AuthErrorKind::MissingClaim).await;
    expect_kind(&validator, &issuer.token().audience("https://other.example").sign(), AuthErrorKind::InvalidAudience)
        .await;
    expect_kind(&validator, &issuer.token().audience(&AUD.to_uppercase()).sign(), AuthErrorKind::InvalidAudience).await;
    expect_kind(&validator, &issuer.token().audience(&format!("{AUD}/")).sign(), AuthErrorKind::InvalidAudience).await;
    let p = expect_ok(&validator, &issuer.token().claim("aud", json!(["https://other.example", AUD])).sign()).await;
    assert_eq!(p.claim("aud"), Some(&json!(["https://other.example", AUD])));
    expect_ok(&validator, &issuer.token().claim("aud", json!([AUD])).sign()).await;
    expect_kind(
        &validator,
        &issuer.token().claim("aud", json!(["https://other.example"])).sign(),
        AuthErrorKind::InvalidAudience,
    )
    .await;
    expect_kind(&validator, &issuer.token().claim("aud", json!([])).sign(), AuthErrorKind::InvalidAudience).await;
    expect_kind(&validator, &issuer.token().claim("aud", json!([[AUD]])).sign(), AuthErrorKind::InvalidAudience).await;
    expect_kind(&validator, &issuer.token().claim("aud", 7).sign(), AuthErrorKind::InvalidAudience).await;
    expect_kind(&validator, &issuer.token().claim("aud", json!({"aud": AUD})).sign(), AuthErrorKind::InvalidAudience)
        .await;

    // Per-issuer audiences replace the validator's.
    let clock = ManualClock::at_unix(T0);
    let per_issuer = validator_for(Issuer::discover(issuer.url()).audiences(["urn:orders"]), &clock);
    expect_ok(&per_issuer, &issuer.token().audience("urn:orders").sign()).await;
    expect_kind(&per_issuer, &issuer.token().audience(AUD).sign(), AuthErrorKind::InvalidAudience).await;
}

#[tokio::test]
async fn expiry_with_60s_leeway_b8() {
    let issuer = TestIssuer::start().await;
    let clock = clock_for(&issuer);
    let validator = uncached(&issuer, &clock);
    expect_ok(&validator, &issuer.token().expires_in(-59).sign()).await;
    expect_kind(&validator, &issuer.token().expires_in(-60).sign(), AuthErrorKind::Expired).await;
    expect_kind(&validator, &issuer.token().expires_in(-61).sign(), AuthErrorKind::Expired).await;
    expect_kind(&validator, &issuer.token().expires_in(-86_400).sign(), AuthErrorKind::Expired).await;
    // Fractional NumericDate (RFC 7519 §2).
    expect_ok(&validator, &issuer.token().claim("exp", T0 as f64 - 59.5).sign()).await;
    expect_kind(&validator, &issuer.token().claim("exp", T0 as f64 - 60.5).sign(), AuthErrorKind::Expired).await;

    // The same token as the clock moves.
    let token = issuer.token().expires_in(300).sign();
    expect_ok(&validator, &token).await;
    clock.advance(Duration::from_secs(300 + 59));
    expect_ok(&validator, &token).await;
    clock.advance(Duration::from_secs(1));
    expect_kind(&validator, &token, AuthErrorKind::Expired).await;

    // A configured leeway of zero.
    let strict = JwtValidator::builder()
        .issuer(Issuer::discover(issuer.url()))
        .audience(AUD)
        .clock(clock.clone())
        .leeway(Duration::ZERO)
        .build()
        .expect("valid configuration");
    expect_ok(&strict, &issuer.token().expires_in(1).sign()).await;
    expect_kind(&strict, &issuer.token().expires_in(0).sign(), AuthErrorKind::Expired).await;
    expect_kind(&strict, &issuer.token().expires_in(-1).sign(), AuthErrorKind::Expired).await;
}

#[tokio::test]
async fn not_before_and_issued_at_in_the_future_b8() {
    let issuer = TestIssuer::start().await;
    let clock = clock_for(&issuer);
    let validator = uncached(&issuer, &clock);
    expect_kind(&validator, &issuer.token().not_before_in(61).sign(), AuthErrorKind::NotYetValid).await;
    expect_kind(&validator, &issuer.token().not_before_in(3600).sign(), AuthErrorKind::NotYetValid).await;
    expect_ok(&validator, &issuer.token().not_before_in(60).sign()).await;
    expect_ok(&validator, &issuer.token().not_before_in(59).sign()).await;
    expect_ok(&validator, &issuer.token().not_before_in(-10).sign()).await;
    expect_kind(&validator, &issuer.token().claim("iat", T0 + 120).sign(), AuthErrorKind::NotYetValid).await;
    expect_ok(&validator, &issuer.token().claim("iat", T0 + 30).sign()).await;
    // The same token becomes valid as the clock moves.
    let token = issuer.token().not_before_in(300).sign();
    expect_kind(&validator, &token, AuthErrorKind::NotYetValid).await;
    clock.advance(Duration::from_secs(239));
    expect_kind(&validator, &token, AuthErrorKind::NotYetValid).await;
    clock.advance(Duration::from_secs(1));
    expect_ok(&validator, &token).await;
    // Wrong JSON types.
    expect_kind(&validator, &issuer.token().claim("nbf", "0").sign(), AuthErrorKind::MissingClaim).await;
    expect_kind(&validator, &issuer.token().claim("iat", json!(true)).sign(), AuthErrorKind::MissingClaim).await;
}

#[tokio::test]
async fn missing_or_mistyped_exp_b8() {
    let (issuer, _clock, validator) = setup().await;
    expect_kind(&validator, &issuer.token().remove_claim("exp").sign(), AuthErrorKind::MissingClaim).await;
    expect_kind(&validator, &issuer.token().claim("exp", (T0 + 600).to_string()).sign(), AuthErrorKind::MissingClaim)
        .await;
    expect_kind(&validator, &issuer.token().claim("exp", Value::Null).sign(), AuthErrorKind::MissingClaim).await;
    expect_kind(&validator, &issuer.token().claim("exp", json!([T0 + 600])).sign(), AuthErrorKind::MissingClaim).await;
}

#[tokio::test]
async fn required_claims_b10() {
    let issuer = TestIssuer::start().await;
    let clock = clock_for(&issuer);
    let profile = validator_for(
        Issuer::discover(issuer.url()).require_claims(["sub", "client_id", "iat", "jti"]).require_claims(["tenant"]),
        &clock,
    );
    expect_ok(&profile, &issuer.token().claim("tenant", "acme").sign()).await;
    for name in ["sub", "client_id", "iat", "jti", "tenant"] {
        let token = issuer.token().claim("tenant", "acme").remove_claim(name).sign();
        expect_kind(&profile, &token, AuthErrorKind::MissingClaim).await;
        let token = issuer.token().claim("tenant", "acme").claim(name, Value::Null).sign();
        expect_kind(&profile, &token, AuthErrorKind::MissingClaim).await;
    }
    // Without the requirement, the same token passes.
    let plain = validator_for(Issuer::discover(issuer.url()), &clock);
    expect_ok(&plain, &issuer.token().remove_claim("jti").remove_claim("iat").sign()).await;
}

// ---------------------------------------------------------------------------------------------
// Token types (B9)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_types_access_tokens_and_strict_b9() {
    let issuer = TestIssuer::start().await;
    let clock = clock_for(&issuer);
    let default = validator_for(Issuer::discover(issuer.url()), &clock);
    let strict = validator_for(Issuer::discover(issuer.url()).token_types(TokenTypes::Strict), &clock);

    let typed = |typ: Option<&str>| match typ {
        Some(t) => issuer.token().header("typ", t).sign(),
        None => issuer.token().remove_header("typ").sign(),
    };
    for ok in [Some("at+jwt"), Some("at+JWT"), Some("AT+JWT"), Some("application/at+jwt")] {
        expect_ok(&default, &typed(ok)).await;
        expect_ok(&strict, &typed(ok)).await;
    }
    for compat in [Some("JWT"), Some("jwt"), Some("application/jwt"), None] {
        expect_ok(&default, &typed(compat)).await;
        expect_kind(&strict, &typed(compat), AuthErrorKind::UnsupportedTokenType).await;
    }
    for other in [
        Some("dpop+jwt"),
        Some("application/dpop+jwt"),
        Some("logout+jwt"),
        Some("secevent+jwt"),
        Some("JOSE"),
        Some(""),
    ] {
        expect_kind(&default, &typed(other), AuthErrorKind::UnsupportedTokenType).await;
        expect_kind(&strict, &typed(other), AuthErrorKind::UnsupportedTokenType).await;
    }
    // A DPoP proof (RFC 9449 §4.2) signed by the issuer's key with our iss/aud is still not an AT.
    let proof = issuer
        .token()
        .header("typ", "dpop+jwt")
        .header("jwk", issuer.public_jwk(&issuer.kid_for(Algorithm::ES256).expect("kid")).expect("jwk"))
        .alg(Algorithm::ES256)
        .claim("htm", "GET")
        .claim("htu", "https://api.tower-auth.test/orders")
        .sign();
    expect_kind(&default, &proof, AuthErrorKind::UnsupportedTokenType).await;
    // A nested JWT (`cty: JWT`) is not an access token either, and `typ` must be a string.
    expect_kind(&default, &issuer.token().header("cty", "JWT").sign(), AuthErrorKind::UnsupportedTokenType).await;
    expect_kind(&default, &issuer.token().header("typ", 1).sign(), AuthErrorKind::MalformedToken).await;
}

#[tokio::test]
async fn rfc9068_example_access_token_resigned_b9_b10() {
    // RFC 9068 §3: header {"typ":"at+JWT","alg":"RS256","kid":"RjEwOwOA"} and its claims, verbatim,
    // re-signed with a test key published under the example's kid.
    const ISS: &str = "https://authorization-server.example.com/";
    let local = LocalIssuer::with_algorithms(ISS, &[Algorithm::RS256]);
    let mut jwks = local.jwks();
    jwks["keys"][0]["kid"] = "RjEwOwOA".into();
    let clock = ManualClock::at_unix(1_618_354_090 + 60);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(ISS, jwks.to_string()).token_types(TokenTypes::Strict).require_claims([
            "sub",
            "client_id",
            "iat",
            "jti",
        ]))
        .audience("https://rs.example.com/")
        .clock(clock.clone())
        .build()
        .expect("valid configuration");
    let mut builder = local.token().header("typ", "at+JWT").kid(Some("RjEwOwOA"));
    for (name, value) in [
        ("iss", json!(ISS)),
        ("sub", json!("5ba552d67")),
        ("aud", json!("https://rs.example.com/")),
        ("exp", json!(1_639_528_912)),
        ("iat", json!(1_618_354_090)),
        ("jti", json!("dbe39bf3a3ba4238a513f51d6e1691c4")),
        ("client_id", json!("s6BhdRkqt3")),
        ("scope", json!("openid profile reademail")),
    ] {
        builder = builder.claim(name, value);
    }
    let token = builder.sign();
    assert_eq!(header_of(&token), json!({"typ": "at+JWT", "alg": "RS256", "kid": "RjEwOwOA"}));
    let p = expect_ok(&validator, &token).await;
    assert_eq!(p.subject(), "5ba552d67");
    assert_eq!(p.client_id(), Some("s6BhdRkqt3"));
    assert_eq!(p.scopes(), ["openid", "profile", "reademail"]);
    // Its exp, 2021-12-15T00:41:52Z, plus the 60 s leeway.
    clock.set(std::time::UNIX_EPOCH + Duration::from_secs(1_639_528_912 + 59));
    expect_ok(&validator, &token).await;
    clock.advance(Duration::from_secs(1));
    expect_kind(&validator, &token, AuthErrorKind::Expired).await;
}

// ---------------------------------------------------------------------------------------------
// Size and syntax (B11, B12)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn oversized_token_is_refused_before_parsing() {
    let (issuer, _clock, validator) = setup().await;
    assert_eq!(validator.max_token_bytes(), 8 * 1024);
    // Garbage one byte over the limit is "too large", not "malformed": the size check comes first.
    expect_kind(&validator, &"a".repeat(8 * 1024 + 1), AuthErrorKind::TokenTooLarge).await;
    expect_kind(&validator, &"a".repeat(8 * 1024), AuthErrorKind::MalformedToken).await;
    expect_kind(&validator, &".".repeat(1 << 20), AuthErrorKind::TokenTooLarge).await;
    // A correctly signed but oversized token.
    let big = issuer.token().claim("pad", "x".repeat(9000)).sign();
    assert!(big.len() > 8 * 1024);
    expect_kind(&validator, &big, AuthErrorKind::TokenTooLarge).await;
    // A configured limit.
    let clock = ManualClock::at_unix(T0);
    let small = JwtValidator::builder()
        .issuer(Issuer::discover(issuer.url()))
        .audience(AUD)
        .clock(clock)
        .max_token_bytes(1024)
        .build()
        .expect("valid configuration");
    let ok = issuer.token().alg(Algorithm::ES256).sign();
    assert!(ok.len() <= 1024);
    expect_ok(&small, &ok).await;
    expect_kind(
        &small,
        &issuer.token().alg(Algorithm::ES256).claim("pad", "x".repeat(1024)).sign(),
        AuthErrorKind::TokenTooLarge,
    )
    .await;
}

#[tokio::test]
async fn malformed_compact_serialization_b12() {
    let (issuer, _clock, validator) = setup().await;
    let token = issuer.token().alg(Algorithm::ES256).sign();
    let (h, p, s) = segments(&token);
    expect_ok(&validator, &token).await;
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        format!("{h}.{p}"),             // 2 segments
        format!("{h}.{p}.{s}.{s}"),     // 4 segments
        format!("{h}.{p}.{s}.{s}.{s}"), // 5 segments (JWE shape)
        format!(".{p}.{s}"),
        format!("{h}..{s}"),
        format!("{h}=.{p}.{s}"), // padding
        format!("{h}.{p}==.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}.{s}=="),
        format!("{h} .{p}.{s}"), // whitespace
        format!("{h}.{p}\n.{s}"),
        format!("{h}.{p}.{s}\r\n"),
        format!("{h}.{p}.+{}", &s[1..]), // standard alphabet
        format!("{h}.{p}./{}", &s[1..]),
        format!("{}.{p}.{s}", b64(b"[]")), // header not an object
        format!("{h}.{}.{s}", b64(b"\"claims\"")),
        format!("{h}.{}.{s}", b64(b"{\"iss\":")),
        format!(r#"{{"payload":"{p}","signatures":[{{"protected":"{h}","signature":"{s}"}}]}}"#), // JWS JSON
    ];
    for bad in &cases {
        expect_kind(&validator, bad, AuthErrorKind::MalformedToken).await;
    }
}

#[tokio::test]
async fn duplicate_members_and_non_utf8_are_malformed_b11_b12() {
    // Correctly signed tokens built from raw bytes, so only the JSON is at fault.
    const ISS: &str = "https://raw.example";
    let signer = RawSigner::new("raw-1");
    let clock = ManualClock::at_unix(T0);
    let validator = validator_for(Issuer::with_jwks(ISS, signer.jwks_json()), &clock);
    let header = br#"{"alg":"ES256","typ":"at+jwt","kid":"raw-1"}"#;
    let claims = |extra: &str| {
        format!(r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"sub":"alice"{extra}}}"#, T0 + 600).into_bytes()
    };
    // The baseline verifies.
    let p = expect_ok(&validator, &signer.sign_raw(header, &claims(""))).await;
    assert_eq!(p.subject(), "alice");
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        // Duplicate claims (RFC 7519 §4, RFC 8725 §2.6): a later `sub` or `aud` must not win.
        (header.to_vec(), claims(r#","sub":"admin""#)),
        (header.to_vec(), claims(r#","aud":"https://other.example""#)),
        (header.to_vec(), claims(&format!(r#","exp":{}"#, T0 + 999_999))),
        (header.to_vec(), claims(r#","cnf":{"jkt":"a","jkt":"b"}"#)),
        (header.to_vec(), claims(r#","x":[{"a":1,"a":2}]"#)),
        // Duplicate header members.
        (br#"{"alg":"ES256","typ":"at+jwt","kid":"raw-1","alg":"none"}"#.to_vec(), claims("")),
        (br#"{"alg":"ES256","typ":"at+jwt","kid":"raw-1","kid":"raw-1"}"#.to_vec(), claims("")),
        // Not UTF-8 (RFC 8725 §3.7).
        (header.to_vec(), [&claims("")[..claims("").len() - 1], b",\"name\":\"\xff\xfe\"}"].concat()),
        (br#"{"alg":"ES256","typ":"at+jwt","kid":"raw-"#.iter().chain(b"\xc3\x28\"}").copied().collect(), claims("")),
        // Not JSON objects.
        (header.to_vec(), b"[1,2]".to_vec()),
        (header.to_vec(), b"null".to_vec()),
        (header.to_vec(), claims("").into_iter().chain(*b"garbage").collect()),
    ];
    for (h, c) in &cases {
        let token = signer.sign_raw(h, c);
        expect_kind(&validator, &token, AuthErrorKind::MalformedToken).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Sender-constrained tokens presented as bearer
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bound_token_presented_as_bearer_is_binding_mismatch() {
    let (issuer, _clock, validator) = setup().await;
    let auth = Authenticator::builder().jwt(validator.clone()).build().expect("valid configuration");
    let request = |token: &str| {
        http::Request::builder()
            .uri("/orders")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .expect("request")
            .into_parts()
            .0
    };
    let dpop = issuer.token().claim("cnf", json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})).sign();
    let mtls = issuer.token().claim("cnf", json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})).sign();
    // The validator itself reports the binding ...
    assert_eq!(
        expect_ok(&validator, &dpop).await.binding(),
        Some(&Binding::Dpop { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into() })
    );
    assert_eq!(expect_ok(&validator, &mtls).await.binding().map(Binding::as_str), Some("mtls"));
    // ... and the engine refuses it as a bearer token (RFC 9449 §7.2, RFC 8705 §3), also from the cache.
    for token in [&dpop, &mtls] {
        for _ in 0..2 {
            let err = auth.authenticate(&request(token)).await.expect_err("bound token as bearer");
            assert_eq!(err.kind(), AuthErrorKind::BindingMismatch);
            assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
            assert_eq!(
                err.www_authenticate().as_deref(),
                Some(r#"Bearer error="invalid_token", error_description="Invalid token binding""#)
            );
        }
    }
    let plain = issuer.token().sign();
    let p = auth.authenticate(&request(&plain)).await.expect("bearer token").expect("principal");
    assert_eq!(p.subject(), "user-1");
    // A confirmation this server cannot check (RFC 7800 `kid` / `jwk`, both methods at once, not an
    // object) is refused, never read as an unbound token (fail closed).
    for cnf in [
        json!({"kid": "k1"}),
        json!({"jwk": {"kty": "EC", "crv": "P-256"}}),
        json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        json!("x5t"),
        json!({}),
    ] {
        let token = issuer.token().claim("cnf", cnf.clone()).sign();
        let err = validator.validate(&token).await.expect_err("unreadable cnf");
        assert_eq!(err.kind(), AuthErrorKind::BindingMismatch, "{cnf}");
        let err = auth.authenticate(&request(&token)).await.expect_err("unreadable cnf");
        assert_eq!(
            err.www_authenticate().as_deref(),
            Some(r#"Bearer error="invalid_token", error_description="Invalid token binding""#),
            "{cnf}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The verified-token cache
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn second_validation_is_a_cache_hit() {
    let (issuer, _clock, validator) = setup().await;
    let token = issuer.token().scope("a").sign();
    assert_eq!(validator.cached_tokens(), 0);
    let first = expect_ok(&validator, &token).await;
    assert_eq!(validator.cached_tokens(), 1);
    let second = expect_ok(&validator, &token).await;
    assert_eq!(validator.cached_tokens(), 1);
    // A hit hands out the very principal verified the first time (one shared allocation).
    assert!(std::ptr::eq(first.claims(), second.claims()));
    // Without a cache, every validation builds a new principal.
    let clock = ManualClock::at_unix(T0);
    let no_cache = uncached(&issuer, &clock);
    let a = expect_ok(&no_cache, &token).await;
    let b = expect_ok(&no_cache, &token).await;
    assert!(!std::ptr::eq(a.claims(), b.claims()));
    assert_eq!(no_cache.cached_tokens(), 0);
    // The key is the whole token: the cached token with another signature is checked in full.
    let (h, p, s) = segments(&token);
    let mut sig = unb64(s);
    sig[0] ^= 1;
    expect_kind(&validator, &format!("{h}.{p}.{}", b64(&sig)), AuthErrorKind::InvalidSignature).await;
    // Failures are not cached; other tokens are cached on their own.
    assert_eq!(validator.cached_tokens(), 1);
    expect_ok(&validator, &issuer.token().alg(Algorithm::EdDSA).sign()).await;
    assert_eq!(validator.cached_tokens(), 2);
}

#[tokio::test]
async fn cached_token_expires_with_the_clock() {
    let (issuer, clock, validator) = setup().await;
    let token = issuer.token().expires_in(120).sign();
    let first = expect_ok(&validator, &token).await;
    assert_eq!(validator.cached_tokens(), 1);
    clock.advance(Duration::from_secs(120 + 59));
    let hit = expect_ok(&validator, &token).await;
    assert!(std::ptr::eq(first.claims(), hit.claims()), "still served from the cache");
    clock.advance(Duration::from_secs(1)); // now = exp + leeway
    expect_kind(&validator, &token, AuthErrorKind::Expired).await;
    assert_eq!(validator.cached_tokens(), 0);
    expect_kind(&validator, &token, AuthErrorKind::Expired).await;
}
