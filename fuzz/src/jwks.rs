//! JWK Set documents and single JWKs, as a remote JWKS delivers them.
use serde_json::Value;
use tower_auth::fuzzing;
use tower_auth::jwt::VerifyingKey;

/// One input.
pub fn run(data: &[u8]) {
    if let Some((keys, skipped)) = fuzzing::jwks(data) {
        // A strict parse implies a lax one: every entry is either a key or counted as skipped.
        let doc: Value = serde_json::from_slice(data).expect("strict JSON is JSON");
        let entries = doc["keys"].as_array().expect("a JWK Set has a keys array").len();
        assert_eq!(keys.len() + skipped, entries);
        for (i, key) in keys.iter().enumerate() {
            assert!(!key.algorithm().is_symmetric(), "a symmetric key from a JWKS");
            if let Some(kid) = key.kid() {
                assert!(keys[..i].iter().all(|k| k.kid() != Some(kid)), "two keys share kid {kid:?}");
            }
        }
    }
    if let Ok(jwk) = serde_json::from_slice::<Value>(data)
        && let Ok(key) = VerifyingKey::from_jwk(&jwk)
    {
        assert!(!key.algorithm().is_symmetric());
    }
}
