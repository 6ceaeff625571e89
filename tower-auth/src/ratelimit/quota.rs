//! Quotas, their text syntax and named quota policies.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;

/// The longest time a full quota may take to refill (`burst` × the interval of one request): ten
/// years, far beyond any sensible quota, and well inside the limiter's nanosecond arithmetic.
const MAX_REFILL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The unit of a quota's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Unit {
    Second,
    Minute,
    Hour,
}

impl Unit {
    fn secs(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3600,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Second => "s",
            Self::Minute => "m",
            Self::Hour => "h",
        }
    }
}

/// A rate limit: `count` requests per second, minute or hour, with bursts of up to `burst` requests
/// (defaults to `count`).
///
/// The limiter is a GCRA (the algorithm of the `governor` crate): one request's worth of quota
/// returns every `period / count`, and at most `burst` requests are allowed at once. `100/m` admits
/// 100 requests at once, then one every 0.6 s; `100/s,burst=200` admits 200 at once, then one every
/// 10 ms.
///
/// The text syntax, shared with the quickstart's `TOWER_AUTH_RATE_LIMIT`, is
/// `<n>/<s|m|h>[,burst=<n>]` ([`FromStr`]), or `off` for no limit ([`parse_quota`]):
///
/// ```
/// use std::time::Duration;
/// use tower_auth::ratelimit::{Quota, parse_quota};
///
/// let quota: Quota = "100/s,burst=200".parse().unwrap();
/// assert_eq!(quota, Quota::per_second(100).burst(200));
/// assert_eq!(quota.replenish_interval(), Duration::from_millis(10));
/// assert_eq!(quota.to_string(), "100/s,burst=200");
/// assert_eq!(parse_quota("off").unwrap(), None);
/// assert!(parse_quota("100 per minute").is_err());
/// ```
///
/// Zero counts and bursts are refused by [`FromStr`] and by the builders that take a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    count: u32,
    unit: Unit,
    burst: u32,
}

impl Quota {
    /// `count` requests per second; bursts of `count`.
    pub const fn per_second(count: u32) -> Self {
        Self { count, unit: Unit::Second, burst: count }
    }

    /// `count` requests per minute; bursts of `count`.
    pub const fn per_minute(count: u32) -> Self {
        Self { count, unit: Unit::Minute, burst: count }
    }

    /// `count` requests per hour; bursts of `count`.
    pub const fn per_hour(count: u32) -> Self {
        Self { count, unit: Unit::Hour, burst: count }
    }

    /// Allows bursts of up to `burst` requests at once. Defaults to the count.
    #[must_use]
    pub const fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// The number of requests per [`period`](Self::period).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period of the rate: one second, minute or hour.
    pub fn period(&self) -> Duration {
        Duration::from_secs(self.unit.secs())
    }

    /// The most requests admitted at once.
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    /// The time after which one request's worth of quota returns: `period / count`.
    pub fn replenish_interval(&self) -> Duration {
        self.period() / self.count.max(1)
    }

    /// The time an exhausted quota takes to refill completely: `burst` × the replenish interval.
    pub fn refill_time(&self) -> Duration {
        self.replenish_interval().saturating_mul(self.burst)
    }

    /// Checks the quota is usable: a count and a burst of at least one, a replenish interval of at
    /// least a nanosecond and a refill time of at most ten years.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.count == 0 {
            return Err(ConfigError::new(
                "a quota must allow at least one request per period (use `off` for no limit)",
            ));
        }
        if self.burst == 0 {
            return Err(ConfigError::new("a quota's burst must be at least 1"));
        }
        if self.replenish_interval().is_zero() {
            return Err(ConfigError::new("a quota may allow at most 1,000,000,000 requests per second"));
        }
        if self.refill_time() > MAX_REFILL {
            return Err(ConfigError::new("a quota's burst takes too long to refill (more than ten years)"));
        }
        Ok(())
    }

    /// The `governor` quota of a [validated](Self::validate) quota.
    pub(crate) fn to_governor(self) -> Result<governor::Quota, ConfigError> {
        self.validate()?;
        let burst =
            NonZeroU32::new(self.burst).ok_or_else(|| ConfigError::new("a quota's burst must be at least 1"))?;
        governor::Quota::with_period(self.replenish_interval())
            .map(|q| q.allow_burst(burst))
            .ok_or_else(|| ConfigError::new("a quota's replenish interval must be positive"))
    }

    /// The `w` of a `RateLimit-Policy` item: the refill time in whole seconds, rounded up, at least
    /// one (draft-ietf-httpapi-ratelimit-headers §3: an Integer greater than zero).
    pub(crate) fn window_secs(&self) -> u64 {
        ceil_secs(self.refill_time()).max(1)
    }
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.unit.suffix())?;
        if self.burst != self.count {
            write!(f, ",burst={}", self.burst)?;
        }
        Ok(())
    }
}

impl FromStr for Quota {
    type Err = ConfigError;

    /// Parses `<n>/<s|m|h>[,burst=<n>]`: `n` and the burst are decimal integers from 1 to
    /// 4294967295, without sign; spaces around the parts are ignored. `off` is not a quota (see
    /// [`parse_quota`]).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            let shown: String = text.chars().take(40).collect();
            ConfigError::new(format!(
                "{shown:?} is not a quota: use `off` or <n>/<s|m|h>[,burst=<n>], e.g. 100/s,burst=200"
            ))
        };
        let (rate, burst) = match text.split_once(',') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text, None),
        };
        let (count, unit) = rate.trim().split_once('/').ok_or_else(invalid)?;
        let count = positive(count.trim()).ok_or_else(invalid)?;
        let unit = match unit.trim() {
            "s" => Unit::Second,
            "m" => Unit::Minute,
            "h" => Unit::Hour,
            _ => return Err(invalid()),
        };
        let mut quota = Self { count, unit, burst: count };
        if let Some(burst) = burst {
            let (name, value) = burst.split_once('=').ok_or_else(invalid)?;
            if name.trim() != "burst" {
                return Err(invalid());
            }
            quota.burst = positive(value.trim()).ok_or_else(invalid)?;
        }
        quota.validate().map_err(|e| {
            let shown: String = text.chars().take(40).collect();
            ConfigError::new(format!("{shown:?}: {}", e.message()))
        })?;
        Ok(quota)
    }
}

/// A decimal integer of 1 to 4294967295, digits only.
fn positive(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// Parses a quota setting: `off` (any case) → `None`, else a [`Quota`] (`<n>/<s|m|h>[,burst=<n>]`).
///
/// ```
/// use tower_auth::ratelimit::{Quota, parse_quota};
/// assert_eq!(parse_quota("30/m").unwrap(), Some(Quota::per_minute(30)));
/// assert_eq!(parse_quota(" OFF ").unwrap(), None);
/// assert!(parse_quota("0/s").is_err());
/// ```
pub fn parse_quota(text: &str) -> Result<Option<Quota>, ConfigError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse().map(Some)
}

/// A named quota: the name is what the `RateLimit-Policy` and `RateLimit` headers carry (an SF
/// String) and what a 429's `violated-policies` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaPolicy {
    name: Arc<str>,
    quota: Quota,
    /// Its `RateLimit-Policy` item, written once: `"name";q=…;w=…`.
    field: http::HeaderValue,
    /// The start of its `RateLimit` items, written once: `"name";r=`.
    current_prefix: Arc<str>,
}

impl QuotaPolicy {
    /// A policy named `name`. The name must be 1 to 64 printable ASCII characters (checked by the
    /// builders that take policies).
    pub fn new(name: impl Into<Arc<str>>, quota: Quota) -> Self {
        let name = name.into();
        let mut field = String::with_capacity(name.len() + 24);
        super::headers::sf_string(&mut field, &name);
        super::headers::sf_param(&mut field, "q", u64::from(quota.burst_size()));
        super::headers::sf_param(&mut field, "w", quota.window_secs());
        // Printable ASCII only (the SF String writer drops anything else): always a valid value.
        let field = http::HeaderValue::try_from(field).unwrap_or(http::HeaderValue::from_static("\"\""));
        let mut current_prefix = String::with_capacity(name.len() + 5);
        super::headers::sf_string(&mut current_prefix, &name);
        current_prefix.push_str(";r=");
        Self { name, quota, field, current_prefix: current_prefix.into() }
    }

    /// The start of this policy's `RateLimit` items: `"name";r=`.
    pub(crate) fn current_prefix(&self) -> &str {
        &self.current_prefix
    }

    /// The `RateLimit-Policy` item of this policy (RFC 9651 / draft-ietf-httpapi-ratelimit-headers
    /// §3): `"name";q=<burst>;w=<refill seconds>`.
    pub fn header_value(&self) -> &http::HeaderValue {
        &self.field
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() || self.name.len() > 64 || !self.name.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(ConfigError::new("a quota policy name must be 1 to 64 printable ASCII characters"));
        }
        self.quota.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_syntax() {
        assert_eq!("100/s".parse::<Quota>().unwrap(), Quota::per_second(100));
        assert_eq!("100/m".parse::<Quota>().unwrap(), Quota::per_minute(100));
        assert_eq!("1000/h".parse::<Quota>().unwrap(), Quota::per_hour(1000));
        assert_eq!("100/s,burst=200".parse::<Quota>().unwrap(), Quota::per_second(100).burst(200));
        assert_eq!(" 30 / m , burst = 30 ".parse::<Quota>().unwrap(), Quota::per_minute(30));
        assert_eq!("4294967295/h".parse::<Quota>().unwrap().count(), u32::MAX);
        assert_eq!(parse_quota("Off").unwrap(), None);
        assert_eq!(parse_quota("5/s,burst=1").unwrap(), Some(Quota::per_second(5).burst(1)));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            " ",
            "off",
            "100",
            "100/",
            "/s",
            "100/d",
            "100/S",
            "100/sec",
            "100/ms",
            "0/s",
            "-1/s",
            "+5/s",
            "1.5/s",
            "1e3/s",
            "0x10/s",
            "100/s,",
            "100/s,burst",
            "100/s,burst=",
            "100/s,burst=0",
            "100/s,burst=-3",
            "100/s,burst=2,burst=3",
            "100/s;burst=2",
            "100/s,bursts=2",
            "4294967296/s",
            "99999999999/s",
            "100/s,burst=99999999999",
            "１００/s",
            "100/s\u{0}",
            "100//s",
            "100/s/m",
            "2000000000/s",
            "1/h,burst=4294967295",
            "ten/m",
            "100 per minute",
        ] {
            assert!(bad.parse::<Quota>().is_err(), "{bad:?} parsed");
            if !bad.trim().eq_ignore_ascii_case("off") {
                assert!(parse_quota(bad).is_err(), "{bad:?} parsed as a setting");
            }
        }
        // Long garbage is cut in the message, and control characters are escaped.
        let e = format!("{}\u{7}/s", "9".repeat(500)).parse::<Quota>().unwrap_err();
        assert!(e.message().len() < 200, "{}", e.message());
        assert!(!e.message().contains('\u{7}'));
    }

    #[test]
    fn display_round_trips() {
        for q in [Quota::per_second(100).burst(200), Quota::per_minute(30), Quota::per_hour(7).burst(1)] {
            assert_eq!(q.to_string().parse::<Quota>().unwrap(), q);
        }
    }

    #[test]
    fn windows_and_intervals() {
        let q = Quota::per_minute(100);
        assert_eq!(q.replenish_interval(), Duration::from_millis(600));
        assert_eq!(q.window_secs(), 60);
        assert_eq!(Quota::per_second(100).burst(200).window_secs(), 2);
        // A refill shorter than a second still says w=1 (an Integer > 0).
        assert_eq!(Quota::per_second(100).burst(50).window_secs(), 1);
        assert_eq!(Quota::per_hour(3).replenish_interval(), Duration::from_secs(1200));
        assert!(Quota::per_second(0).validate().is_err());
        assert!(Quota::per_second(3).burst(0).validate().is_err());
        assert!(Quota::per_second(3).to_governor().is_ok());
    }

    #[test]
    fn policy_names() {
        assert!(QuotaPolicy::new("default", Quota::per_second(1)).validate().is_ok());
        assert!(QuotaPolicy::new("gold tier", Quota::per_second(1)).validate().is_ok());
        for bad in ["", "é", "a\"\n", &"x".repeat(65)] {
            assert!(QuotaPolicy::new(bad, Quota::per_second(1)).validate().is_err(), "{bad:?}");
        }
    }
}
