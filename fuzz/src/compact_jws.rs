//! The compact JWS parser, the signature layer, and the whole JWT validation with static keys.
use std::sync::OnceLock;

use serde_json::json;
use tower_auth::ManualClock;
use tower_auth::fuzzing;
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator, VerifyingKey};

/// The RFC 9449 example key (ES256) and the RFC 7515 A.1 HMAC key; tokens of issuer `joe` (A.1).
fn keys() -> &'static (VerifyingKey, VerifyingKey) {
    static KEYS: OnceLock<(VerifyingKey, VerifyingKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ec = VerifyingKey::from_jwk(&json!({
            "kty": "EC", "crv": "P-256", "kid": "ec",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"
        }))
        .expect("the RFC 9449 key");
        let k = fuzzing::b64url_decode(
            b"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
        )
        .expect("base64url");
        let hmac = VerifyingKey::hmac(Algorithm::HS256, &k, None).expect("the RFC 7515 key");
        (ec, hmac)
    })
}

fn validator() -> &'static JwtValidator {
    static VALIDATOR: OnceLock<JwtValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let (ec, hmac) = keys().clone();
        JwtValidator::builder()
            .issuer(Issuer::with_keys("joe", [ec, hmac]).algorithms([Algorithm::ES256, Algorithm::HS256]))
            .insecure_disable_audience_check()
            .clock(ManualClock::at_unix(1_300_819_000))
            .cache_capacity(0)
            .build()
            .expect("a valid configuration")
    })
}

/// One input.
pub fn run(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let parsed = fuzzing::compact_jws(token);
    let (ec, hmac) = keys();
    for key in [ec, hmac] {
        if let Ok(payload) = fuzzing::verify_jws(key, token) {
            // Only a signed input verifies; its payload is the decoded middle segment.
            let middle = token.split('.').nth(1).expect("three segments");
            assert_eq!(fuzzing::b64url_decode(middle.as_bytes()).as_deref(), Some(payload.as_slice()));
        }
    }
    let validated = crate::common::run_ready(validator().validate(token));
    if validated.is_ok() {
        assert!(parsed.is_ok(), "a token the parser refuses was validated");
    }
}

/// Whether a key of the target verifies `data` (for the seed check of the replay test).
pub fn accepts(data: &[u8]) -> bool {
    let (ec, hmac) = keys();
    std::str::from_utf8(data).is_ok_and(|t| [ec, hmac].iter().any(|k| fuzzing::verify_jws(k, t).is_ok()))
}
