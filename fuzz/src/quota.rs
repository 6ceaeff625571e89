//! Rate-limit quota settings (`<n>/<s|m|h>[,burst=<n>]`, `off`): what parses prints back the same.
use tower_auth::ratelimit::parse_quota;

/// One input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(Some(quota)) = parse_quota(text) {
        assert_eq!(parse_quota(&quota.to_string()).ok(), Some(Some(quota)), "{text:?}");
    }
}
