//! RFC 7662 introspection answers, read and judged as the introspector does.
use serde_json::Value;
use tower_auth::fuzzing;
use tower_auth::{AuthErrorKind, Principal};

fn judge(data: &[u8]) -> Result<Result<Principal, AuthErrorKind>, ()> {
    // The RFC 7662 §2.2 example's issuer and audience, at a time between its `iat` and `exp`.
    fuzzing::introspection_answer(
        data,
        "https://server.example.com/",
        "https://protected.example.net/resource",
        1_419_350_300.0,
    )
}

/// Whether `data` is an acceptable active answer (for the seed check of the replay test).
pub fn accepts(data: &[u8]) -> bool {
    matches!(judge(data), Ok(Ok(_)))
}

/// One input.
pub fn run(data: &[u8]) {
    if let Ok(Ok(principal)) = judge(data) {
        // D2: only the JSON boolean `true` is active.
        let doc: Value = serde_json::from_slice(data).expect("an accepted answer is JSON");
        assert_eq!(doc["active"], Value::Bool(true));
        assert!(!principal.subject().is_empty());
    }
}
