//! Decisions and their headers: `RateLimit-Policy` and `RateLimit` as Structured Fields
//! (draft-ietf-httpapi-ratelimit-headers, checklist I2–I4), the legacy `X-RateLimit-*` trio (I6),
//! `Retry-After` (I1).

use std::sync::Arc;
use std::time::Duration;

use super::quota::{QuotaPolicy, ceil_secs};
use crate::error::AuthError;

/// Which rate-limit headers go on the responses of a limited route.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RateLimitHeaders {
    /// `RateLimit-Policy: "default";q=100;w=60` and `RateLimit: "default";r=50;t=30`, the Structured
    /// Fields of the current IETF draft. The default.
    #[default]
    Draft,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds), for clients
    /// that read the older convention (Kong, Envoy, GitHub style).
    Legacy,
    /// Both sets.
    Both,
    /// None (a 429 still carries `Retry-After`).
    Off,
}

impl RateLimitHeaders {
    fn draft(self) -> bool {
        matches!(self, Self::Draft | Self::Both)
    }

    fn legacy(self) -> bool {
        matches!(self, Self::Legacy | Self::Both)
    }
}

/// The outcome of one rate-limit check, with what its response must say.
///
/// The numbers follow the draft's model of a quota of `q` units per window of `w` seconds, with
/// the GCRA's continuous refill:
///
/// | field | meaning |
/// |---|---|
/// | `q` | the quota's burst: the most requests admitted at once |
/// | `w` | the time a fully used quota takes to refill, in whole seconds rounded up |
/// | `r` | the requests still admitted at once after this one (0 on a refusal) |
/// | `t` | the seconds until the whole quota is available again, rounded up |
/// | `Retry-After` (429 only) | the seconds until a request is admitted again, never less than `t` (I4) |
///
/// No partition key (`pk`) is sent: keys name principals and addresses.
#[derive(Debug, Clone)]
pub struct Decision {
    pub(crate) policy: Arc<QuotaPolicy>,
    pub(crate) allowed: bool,
    pub(crate) remaining: u32,
    pub(crate) reset: Duration,
    pub(crate) retry_after: Duration,
    pub(crate) headers: RateLimitHeaders,
}

impl Decision {
    /// Whether the request is admitted.
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// The policy the request counted against.
    pub fn policy(&self) -> &QuotaPolicy {
        &self.policy
    }

    /// Requests still admitted at once after this one (0 on a refusal).
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// The time until the whole quota is available again.
    pub fn reset(&self) -> Duration {
        self.reset
    }

    /// For a refusal, the time until a request is admitted again.
    pub fn retry_after(&self) -> Option<Duration> {
        (!self.allowed).then_some(self.retry_after)
    }

    /// The `Retry-After` seconds of a refusal: rounded up, at least one, and never earlier than the
    /// `t` of the `RateLimit` field (I4).
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after).max(self.reset_secs()).max(1)
    }

    fn reset_secs(&self) -> u64 {
        ceil_secs(self.reset)
    }

    /// The rate-limit headers (lower-case names) for the response, per the configured
    /// [`RateLimitHeaders`]. Adapters append them to every response of a limited route.
    ///
    /// ```
    /// use tower_auth::ratelimit::{Quota, RateLimiter};
    /// use tower_auth::{Mechanism, Principal, PeerAddr};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let limiter = RateLimiter::builder().quota(Quota::per_minute(100)).build().unwrap();
    /// let alice = Principal::builder(Mechanism::Jwt, "alice").build();
    /// let request = http::Request::new(()).into_parts().0;
    /// let decision = limiter.check(Some(&alice), &request).await.unwrap().unwrap();
    /// assert_eq!(
    ///     decision.response_headers(),
    ///     [("ratelimit-policy", r#""default";q=100;w=60"#.to_owned()), ("ratelimit", r#""default";r=99;t=1"#.to_owned())]
    /// );
    /// # }
    /// ```
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(3);
        let quota = self.policy.quota();
        let (q, r, t) = (u64::from(quota.burst_size()), u64::from(self.remaining), self.reset_secs());
        if self.headers.draft() {
            let policy = String::from_utf8_lossy(self.policy.header_value().as_bytes()).into_owned();
            headers.push(("ratelimit-policy", policy));
            headers.push(("ratelimit", self.current_field()));
        }
        if self.headers.legacy() {
            headers.push(("x-ratelimit-limit", q.to_string()));
            headers.push(("x-ratelimit-remaining", r.to_string()));
            headers.push(("x-ratelimit-reset", t.to_string()));
        }
        headers
    }

    /// The `RateLimit` item: `"name";r=…;t=…`.
    fn current_field(&self) -> String {
        let mut current = String::with_capacity(self.policy.name().len() + 24);
        sf_string(&mut current, self.policy.name());
        sf_param(&mut current, "r", u64::from(self.remaining));
        sf_param(&mut current, "t", self.reset_secs());
        current
    }

    /// The `RateLimit` item as a header value, from the policy's pre-written `"name";r=` prefix:
    /// the same bytes as [`current_field`](Self::current_field), in one exact-size allocation.
    fn current_value(&self) -> Option<http::HeaderValue> {
        let prefix = self.policy.current_prefix().as_bytes();
        let (mut r_digits, mut t_digits) = ([0u8; 20], [0u8; 20]);
        let r = sf_integer(u64::from(self.remaining), &mut r_digits);
        let t = sf_integer(self.reset_secs(), &mut t_digits);
        let mut buf = [0u8; 256];
        let len = prefix.len() + r.len() + 3 + t.len();
        let out = buf.get_mut(..len)?;
        let (head, rest) = out.split_at_mut(prefix.len());
        head.copy_from_slice(prefix);
        let (middle, rest) = rest.split_at_mut(r.len());
        middle.copy_from_slice(r);
        let (sep, tail) = rest.split_at_mut(3);
        sep.copy_from_slice(b";t=");
        tail.copy_from_slice(t);
        http::HeaderValue::from_bytes(out).ok()
    }

    /// Appends the rate-limit headers to an `http` 1 header map: the draft's policy field is
    /// written once per policy, so an admitted request costs one small value.
    pub(crate) fn append_to(&self, headers: &mut http::HeaderMap) {
        use http::header::{HeaderName, HeaderValue};
        const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
        const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
        if self.headers == RateLimitHeaders::Draft {
            headers.append(RATELIMIT_POLICY, self.policy.header_value().clone());
            match self.current_value() {
                Some(value) => {
                    headers.append(RATELIMIT, value);
                }
                None => {
                    if let Ok(value) = HeaderValue::try_from(self.current_field()) {
                        headers.append(RATELIMIT, value);
                    }
                }
            }
            return;
        }
        for (name, value) in self.response_headers() {
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
    }

    /// The 429 of a refusal: `Retry-After`, the rate-limit headers, `Cache-Control: no-store` and a
    /// problem document of type `https://iana.org/assignments/http-problem-types#quota-exceeded`
    /// naming the policy in `violated-policies` (I1, I5).
    pub fn to_error(&self) -> AuthError {
        let exceeded = Exceeded { policy: self.policy.name().to_owned(), headers: self.response_headers() };
        AuthError::rate_limited(self.retry_after_secs(), Arc::new(exceeded))
    }
}

/// What a 429 carries besides its status: the policy it names and the rate-limit headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exceeded {
    pub(crate) policy: String,
    pub(crate) headers: Vec<(&'static str, String)>,
}

/// The problem type of a 429 (draft-ietf-httpapi-ratelimit-headers §5, I5).
pub(crate) const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

/// The largest Integer a Structured Field may carry (RFC 9651 §3.3.1: at most 15 digits).
const SF_MAX_INTEGER: u64 = 999_999_999_999_999;

/// Appends an SF String (RFC 9651 §4.1.6): printable ASCII in quotes, `"` and `\` escaped; other
/// characters (never in the validated policy names) are dropped.
pub(crate) fn sf_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {}
        }
    }
    out.push('"');
}

/// Appends `;key=value` with an SF Integer value (RFC 9651 §4.1.4), capped at the largest one.
pub(crate) fn sf_param(out: &mut String, key: &str, value: u64) {
    out.push(';');
    out.push_str(key);
    out.push('=');
    let mut digits = [0u8; 20];
    out.extend(sf_integer(value, &mut digits).iter().map(|&d| char::from(d)));
}

/// The decimal digits of an SF Integer (capped at the largest one), written into `digits`
/// without the formatting machinery: this runs for every admitted request.
fn sf_integer(value: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut n = value.min(SF_MAX_INTEGER);
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Quota;

    /// An independent reader of the fields: an SF List of Items whose value is a String and whose
    /// parameters are Integers (the subset the draft's two fields use).
    fn parse_list(field: &str) -> Vec<(String, Vec<(String, i64)>)> {
        field
            .split(',')
            .map(|member| {
                let mut parts = member.trim().split(';');
                let name = parts.next().unwrap();
                let name = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')).expect("an SF String");
                let params = parts
                    .map(|p| {
                        let (k, v) = p.split_once('=').expect("key=value");
                        assert!(k.bytes().all(|b| b.is_ascii_lowercase()), "{k}");
                        (k.to_owned(), v.parse().expect("an SF Integer"))
                    })
                    .collect();
                (name.replace("\\\"", "\"").replace("\\\\", "\\"), params)
            })
            .collect()
    }

    fn decision(allowed: bool, remaining: u32, reset_ms: u64, retry_ms: u64, headers: RateLimitHeaders) -> Decision {
        Decision {
            policy: Arc::new(QuotaPolicy::new("default", Quota::per_minute(100))),
            allowed,
            remaining,
            reset: Duration::from_millis(reset_ms),
            retry_after: Duration::from_millis(retry_ms),
            headers,
        }
    }

    #[test]
    fn draft_fields_parse_back() {
        // I2, I3: the checklist's example values.
        let d = decision(true, 50, 29_400, 0, RateLimitHeaders::Draft);
        let headers = d.response_headers();
        assert_eq!(headers[0], ("ratelimit-policy", r#""default";q=100;w=60"#.to_owned()));
        assert_eq!(headers[1], ("ratelimit", r#""default";r=50;t=30"#.to_owned()));
        let policy = parse_list(&headers[0].1);
        assert_eq!(policy, [("default".to_owned(), vec![("q".to_owned(), 100), ("w".to_owned(), 60)])]);
        let current = parse_list(&headers[1].1);
        assert_eq!(current, [("default".to_owned(), vec![("r".to_owned(), 50), ("t".to_owned(), 30)])]);
    }

    #[test]
    fn header_map_fields_are_the_string_fields() {
        // The header-map writer and the string writer give the same bytes, names escaped,
        // integers capped, and the same headers in the same order.
        let long = "n".repeat(64);
        for name in
            ["default", "a\"b\\c", long.as_str(), "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\""]
        {
            for (remaining, reset_ms) in [(0, 0), (1, 999), (50, 29_400), (u32::MAX, u64::MAX)] {
                let d = Decision {
                    policy: Arc::new(QuotaPolicy::new(name, Quota::per_minute(100))),
                    allowed: true,
                    remaining,
                    reset: Duration::from_millis(reset_ms),
                    retry_after: Duration::ZERO,
                    headers: RateLimitHeaders::Draft,
                };
                let mut map = http::HeaderMap::new();
                d.append_to(&mut map);
                let written: Vec<(&str, String)> =
                    map.iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap().to_owned())).collect();
                let expected = d.response_headers();
                assert_eq!(written.len(), expected.len());
                for ((wk, wv), (ek, ev)) in written.iter().zip(&expected) {
                    assert_eq!((*wk, wv), (*ek, ev));
                }
                assert_eq!(d.current_value().unwrap().as_bytes(), d.current_field().as_bytes());
            }
        }
    }

    #[test]
    fn names_are_escaped() {
        let mut out = String::new();
        sf_string(&mut out, "a\"b\\c\u{7}é");
        assert_eq!(out, r#""a\"b\\c""#);
        let mut out = String::new();
        sf_param(&mut out, "q", u64::MAX);
        assert_eq!(out, ";q=999999999999999");
    }

    #[test]
    fn modes() {
        assert_eq!(decision(true, 1, 1000, 0, RateLimitHeaders::Off).response_headers(), []);
        let legacy = decision(true, 7, 1500, 0, RateLimitHeaders::Legacy).response_headers();
        assert_eq!(
            legacy,
            [
                ("x-ratelimit-limit", "100".to_owned()),
                ("x-ratelimit-remaining", "7".to_owned()),
                ("x-ratelimit-reset", "2".to_owned())
            ]
        );
        assert_eq!(decision(true, 7, 1500, 0, RateLimitHeaders::Both).response_headers().len(), 5);
    }

    #[test]
    fn refusal_is_a_429_problem() {
        // I1, I4, I5.
        let d = decision(false, 0, 59_700, 300, RateLimitHeaders::Draft);
        assert_eq!(d.retry_after(), Some(Duration::from_millis(300)));
        assert_eq!(d.retry_after_secs(), 60, "never earlier than t");
        let e = d.to_error();
        assert_eq!(e.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.violated_policy(), Some("default"));
        let parts = e.response_parts();
        let header = |name: &str| parts.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        assert_eq!(header("retry-after").as_deref(), Some("60"));
        assert_eq!(header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(header("content-type").as_deref(), Some("application/problem+json"));
        assert_eq!(header("ratelimit").as_deref(), Some(r#""default";r=0;t=60"#));
        assert!(header("www-authenticate").is_none());
        let body: serde_json::Value = serde_json::from_slice(&parts.body).unwrap();
        assert_eq!(body["type"], QUOTA_EXCEEDED);
        assert_eq!(body["status"], 429);
        assert_eq!(body["violated-policies"], serde_json::json!(["default"]));
    }
}
