//! The API-key format: prefix, id, secret and checksum.
use std::sync::OnceLock;

use tower_auth::apikey::KeyFormat;

fn format() -> &'static KeyFormat {
    static FORMAT: OnceLock<KeyFormat> = OnceLock::new();
    FORMAT.get_or_init(|| KeyFormat::new("tak").expect("a valid prefix"))
}

/// One input.
pub fn run(data: &[u8]) {
    let Ok(key) = std::str::from_utf8(data) else { return };
    if let Ok(parsed) = format().parse(key) {
        assert_eq!(key.len(), format().key_len());
        assert!(key.starts_with("tak_"));
        for part in [parsed.id(), parsed.secret()] {
            assert!(!part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(key.contains(part));
        }
    }
}

/// Whether `data` is a well-formed key (for the seed check of the replay test).
pub fn accepts(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|key| format().parse(key).is_ok())
}
