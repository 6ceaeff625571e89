//! RFC 7662 introspection answers, read and judged as the introspector does.
use serde_json::Value;
use tower_auth::fuzzing;

/// One input.
pub fn run(data: &[u8]) {
    let answer = fuzzing::introspection_answer(
        data,
        "https://server.example.com/",
        "https://protected.example.net/resource",
        1_419_350_300.0,
    );
    if let Ok(Ok(principal)) = answer {
        // D2: only the JSON boolean `true` is active.
        let doc: Value = serde_json::from_slice(data).expect("an accepted answer is JSON");
        assert_eq!(doc["active"], Value::Bool(true));
        assert!(!principal.subject().is_empty());
    }
}
