//! Helpers shared by the integration tests (each test binary uses a subset).
#![allow(dead_code)]

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
#[cfg(feature = "test-util")]
use tower_auth::introspection::{Introspector, IntrospectorBuilder};
use tower_auth::jwt::{Issuer, JwtValidator};
#[cfg(feature = "test-util")]
use tower_auth::testkit::TestIssuer;
use tower_auth::{AuthError, AuthErrorKind, ManualClock, Principal};

/// The resource server's identifier in every test.
pub(crate) const AUD: &str = "https://api.tower-auth.test";

/// A fixed, deterministic starting time (2023-11-14T22:13:20Z).
pub(crate) const T0: u64 = 1_700_000_000;

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("test input is base64url")
}

/// The three segments of a compact JWS.
pub(crate) fn segments(token: &str) -> (&str, &str, &str) {
    let mut it = token.split('.');
    let parts = (it.next(), it.next(), it.next(), it.next());
    match parts {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => panic!("not a compact JWS"),
    }
}

/// A clock at [`T0`], shared by the issuer (token `iat` / `exp`) and the validator.
#[cfg(feature = "test-util")]
pub(crate) fn clock_for(issuer: &TestIssuer) -> ManualClock {
    let clock = ManualClock::at_unix(T0);
    issuer.set_clock(clock.clone());
    issuer.set_default_audience(AUD);
    clock
}

/// An introspector of `issuer` (endpoint from its discovery document, the test kit's client
/// credentials) with `clock`.
#[cfg(feature = "test-util")]
pub(crate) fn introspector_for(issuer: &TestIssuer, clock: &ManualClock) -> IntrospectorBuilder {
    Introspector::builder()
        .discover(issuer.url())
        .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET)
        .clock(clock.clone())
}

/// A validator for `issuer` (configured by `configure`) with `clock`.
pub(crate) fn validator_for(issuer: Issuer, clock: &ManualClock) -> JwtValidator {
    JwtValidator::builder().issuer(issuer).audience(AUD).clock(clock.clone()).build().expect("valid configuration")
}

/// Validates and expects a failure of exactly `kind`.
pub(crate) async fn expect_kind(validator: &JwtValidator, token: &str, kind: AuthErrorKind) -> AuthError {
    match validator.validate(token).await {
        Ok(p) => panic!("expected {kind:?}, got a principal for {:?}", p.subject()),
        Err(e) => {
            assert_eq!(e.kind(), kind, "token {token}");
            e
        }
    }
}

/// Validates and expects success.
pub(crate) async fn expect_ok(validator: &JwtValidator, token: &str) -> Principal {
    match validator.validate(token).await {
        Ok(p) => p,
        Err(e) => panic!("expected a principal, got {:?} for {token}", e.kind()),
    }
}

/// Moves `clock` past the default 10 s JWKS cool-down.
pub(crate) fn past_cooldown(clock: &ManualClock) {
    clock.advance(Duration::from_secs(11));
}

/// An ES256 key that signs arbitrary header and payload bytes: for tokens the test kit cannot make
/// (duplicate members, non-UTF-8), and for attacker keys.
pub(crate) struct RawSigner {
    pair: EcdsaKeyPair,
    kid: String,
}

impl RawSigner {
    pub(crate) fn new(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key generation");
        Self { pair, kid: kid.to_owned() }
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        })
    }

    pub(crate) fn jwks_json(&self) -> String {
        json!({ "keys": [self.jwk()] }).to_string()
    }

    /// The PKCS#8 v1 DER of the private key.
    pub(crate) fn pkcs8(&self) -> Vec<u8> {
        self.pair.to_pkcs8v1().expect("PKCS#8").as_ref().to_vec()
    }

    /// `b64(header).b64(payload).b64(sig)` over the exact bytes given.
    pub(crate) fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let sig = self.pair.sign(&SystemRandom::new(), input.as_bytes()).expect("ECDSA signing");
        format!("{input}.{}", b64(sig.as_ref()))
    }

    /// Signs a JSON header and claims.
    pub(crate) fn sign_json(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(header.to_string().as_bytes(), claims.to_string().as_bytes())
    }
}
