//! Time, injectable.
//!
//! Every time-based check (token `exp` / `nbf` / `iat`, cache lifetimes, JWKS ages and cool-downs) reads
//! the [`Clock`] configured on the validator, so tests move time forward instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock. The default everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to: for tests of expiry, cache lifetimes and cool-downs.
///
/// Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use tower_auth::{Clock, ManualClock};
///
/// let clock = ManualClock::at_unix(1_700_000_000);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(tower_auth::clock::unix_seconds(clock.now()), 1_700_000_090);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    unix_millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `time`.
    pub fn new(time: SystemTime) -> Self {
        Self { unix_millis: Arc::new(AtomicU64::new(unix_millis(time))) }
    }

    /// A clock standing at `secs` seconds after the Unix epoch.
    pub fn at_unix(secs: u64) -> Self {
        Self { unix_millis: Arc::new(AtomicU64::new(secs.saturating_mul(1000))) }
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemTime::now())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.unix_millis.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `time`.
    pub fn set(&self, time: SystemTime) {
        self.unix_millis.store(unix_millis(time), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.unix_millis.load(Ordering::SeqCst))
    }
}

/// Whole seconds since the Unix epoch (0 for times before it).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Milliseconds since the Unix epoch (0 for times before it).
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// Seconds since the Unix epoch with a fractional part, for comparisons with JWT NumericDates.
pub(crate) fn unix_seconds_f64(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The shared clock handle the crate passes around.
pub(crate) type SharedClock = Arc<dyn Clock>;
