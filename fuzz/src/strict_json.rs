//! Strict JSON (duplicate members refused at any depth) and strict base64url.
use serde_json::Value;
use tower_auth::fuzzing;

fn b64url_encode(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
        }
    }
    out
}

/// One input.
pub fn run(data: &[u8]) {
    if let Some(object) = fuzzing::strict_json_object(data) {
        // Strict is a subset of JSON, and keeps every member.
        let lax: Value = serde_json::from_slice(data).expect("strict JSON is JSON");
        assert_eq!(lax.as_object().map(|o| o.len()), Some(object.len()));
    }
    if let Some(decoded) = fuzzing::b64url_decode(data) {
        // Canonical: one encoding per octet string (no padding, no spare bits, no whitespace).
        assert_eq!(b64url_encode(&decoded), data);
    }
}
