//! Counters in Redis (feature `redis`): the same GCRA in one atomic Lua script, shared by replicas.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};

use super::limiter::Verdict;
use super::memory::Outcome;
use super::quota::QuotaPolicy;
use crate::error::{AuthError, ConfigError};

/// The GCRA of `governor`, on the Redis server's clock, in microseconds.
///
/// `KEYS[1]`: the partition. `ARGV[1]`: the emission interval `t` (one request's worth of time),
/// `ARGV[2]`: the tolerance `tau = t × (burst − 1)`. The state is the theoretical arrival time
/// (TAT), stored with a `PX` expiry at the moment it equals a fresh state. Returns
/// `{allowed, remaining, reset_us, retry_after_us}`.
const GCRA: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local allow_at = tat - tau
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
local new_tat = tat + t
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
local remaining = math.floor((now + tau + t - new_tat) / t)
return {1, remaining, new_tat - now, 0}
";

/// What a request gets when the Redis store cannot answer (unreachable, timed out, an error).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailureMode {
    /// Admit the request, without rate-limit headers. The default: the limiter protects capacity
    /// and fairness, and authentication has already happened; an outage of Redis should not become
    /// an outage of the API.
    #[default]
    Open,
    /// Refuse the request with 503 and `Retry-After` (fail closed): for quotas that must hold even
    /// when Redis is down (billing, abuse-sensitive endpoints).
    Closed,
}

/// Rate-limit counters in Redis: replicas pointed at the same server and prefix admit at most one
/// quota together.
///
/// Each check is one `EVALSHA` of a Lua script (`EVAL` when the server does not have it cached, as
/// after a restart) running the GCRA atomically on the server's clock — replicas' clock skew does
/// not matter. The state of a partition is one string, its theoretical arrival time, stored with a
/// `PX` expiry: idle partitions vanish from Redis on their own. Keys are
/// `{prefix}{policy}:{SHA-256 of the partition key}`, so no subject, key id or address is stored.
///
/// A check never waits longer than the [`timeout`](Self::timeout) (default 250 ms), connecting
/// included. When Redis cannot answer, the request gets the [`FailureMode`] (default: fail
/// open), a `warn` line is logged (at most one every ten seconds), and Redis is left alone for the
/// [`retry_interval`](Self::retry_interval) (default 1 s) before it is tried again, so an outage
/// adds no latency to every request.
///
/// ```no_run
/// use tower_auth::ratelimit::{FailureMode, Quota, RateLimiter, RedisStore};
/// # async fn demo() -> Result<(), tower_auth::ConfigError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?.on_failure(FailureMode::Closed);
/// let limiter = RateLimiter::builder().quota(Quota::per_minute(300)).redis(store).build()?;
/// # let _ = limiter; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    connecting: tokio::sync::Mutex<()>,
    sha: String,
    settings: Settings,
    epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not tried (after a failure).
    down_until: AtomicU64,
    /// Milliseconds since `epoch` of the last warning (0 = none yet).
    last_warn: AtomicU64,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Settings {
    prefix: String,
    timeout: Duration,
    retry_interval: Duration,
    failure: FailureMode,
}

/// Why a check got no answer from Redis (for the log line).
#[derive(Debug, Clone, Copy)]
enum Trouble {
    Backoff,
    Timeout,
    Connect,
    Command,
}

impl Trouble {
    fn as_str(self) -> &'static str {
        match self {
            Self::Backoff => "recently unreachable",
            Self::Timeout => "timed out",
            Self::Connect => "connection failed",
            Self::Command => "command failed",
        }
    }
}

impl RedisStore {
    /// A store for `url` (`redis://…` or `rediss://…`) that connects on first use. Only the URL is
    /// checked here; use [`connect`](Self::connect) to also check the server answers.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let client = Client::open(url).map_err(|_| ConfigError::new("invalid Redis URL"))?;
        Ok(Self::with_client(client))
    }

    /// A store over an existing client (say, one shared with other Redis-backed stores).
    pub fn with_client(client: Client) -> Self {
        let settings = Settings {
            prefix: "tower-auth:ratelimit:".to_owned(),
            timeout: Duration::from_millis(250),
            retry_interval: Duration::from_secs(1),
            failure: FailureMode::Open,
        };
        Self::build(client, settings)
    }

    fn build(client: Client, settings: Settings) -> Self {
        let sha = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, GCRA.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            inner: Arc::new(Inner {
                client,
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                sha,
                settings,
                epoch: Instant::now(),
                down_until: AtomicU64::new(0),
                last_warn: AtomicU64::new(0),
            }),
        }
    }

    /// [`new`](Self::new), then checks that the server answers `PING` within the timeout:
    /// unreachable → `Err`, so a misconfigured shared store surfaces at start-up.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        let store = Self::new(url)?;
        let inner = store.inner.clone();
        let ping = async move {
            let mut conn = inner.connection().await.map_err(|_| ())?;
            redis::cmd("PING").query_async::<String>(&mut conn).await.map_err(|_| ())
        };
        match tokio::time::timeout(store.inner.settings.timeout.max(Duration::from_secs(2)), ping).await {
            Ok(Ok(pong)) if pong == "PONG" => Ok(store),
            _ => Err(ConfigError::new("Redis did not answer PING")),
        }
    }

    fn map(self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.inner.settings.clone();
        f(&mut settings);
        Self::build(self.inner.client.clone(), settings)
    }

    /// The key prefix. Defaults to `tower-auth:ratelimit:`. Replicas that share quotas must use the
    /// same prefix and the same policies.
    #[must_use]
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.map(|s| s.prefix = prefix)
    }

    /// The longest a check waits for Redis, connecting included. Defaults to 250 ms.
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|s| s.timeout = timeout.max(Duration::from_millis(1)))
    }

    /// How long Redis is left alone after a failure before it is tried again; meanwhile checks get
    /// the [`FailureMode`] at once. Defaults to 1 s.
    #[must_use]
    pub fn retry_interval(self, interval: Duration) -> Self {
        self.map(|s| s.retry_interval = interval)
    }

    /// What a request gets when Redis cannot answer. Defaults to [`FailureMode::Open`].
    #[must_use]
    pub fn on_failure(self, mode: FailureMode) -> Self {
        self.map(|s| s.failure = mode)
    }

    /// The behaviour when Redis cannot answer.
    pub fn failure_mode(&self) -> FailureMode {
        self.inner.settings.failure
    }

    /// Counts one request of `key` under `policy`. `Err` holds the verdict of the failure mode.
    pub(crate) async fn check<K: Hash>(&self, policy: &QuotaPolicy, key: &K) -> Result<Outcome, Verdict> {
        let name = format!("{}{}:{}", self.inner.settings.prefix, policy.name(), stable_hash(key));
        let interval = policy.quota().replenish_interval();
        let t = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX).max(1);
        let tau = t.saturating_mul(u64::from(policy.quota().burst_size().saturating_sub(1)));
        let inner = &*self.inner;
        let result = if inner.now_ms() < inner.down_until.load(Ordering::Relaxed) {
            Err(Trouble::Backoff)
        } else {
            match tokio::time::timeout(inner.settings.timeout, inner.run(&name, t, tau)).await {
                Ok(result) => result,
                Err(_) => {
                    // A command that does not answer in time may be stuck behind a dead peer.
                    inner.drop_connection();
                    Err(Trouble::Timeout)
                }
            }
        };
        result.map_err(|trouble| {
            if !matches!(trouble, Trouble::Backoff) {
                inner.down_until.store(inner.now_ms() + millis(inner.settings.retry_interval), Ordering::Relaxed);
            }
            inner.warn(trouble);
            match inner.settings.failure {
                FailureMode::Open => Ok(None),
                FailureMode::Closed => Err(AuthError::unavailable(inner.settings.retry_interval.as_secs().max(1))),
            }
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Inner {
    fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    fn warn(&self, trouble: Trouble) {
        let now = self.now_ms().max(1);
        let last = self.last_warn.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < 10_000 {
            return;
        }
        if self.last_warn.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let mode = match self.settings.failure {
                FailureMode::Open => "failing open: requests pass unlimited",
                FailureMode::Closed => "failing closed: requests get 503",
            };
            tracing::warn!(target: "tower_auth::ratelimit", problem = trouble.as_str(), "Redis rate-limit store unavailable, {mode}");
        }
    }

    fn drop_connection(&self) {
        if let Ok(mut conn) = self.conn.lock() {
            *conn = None;
        }
    }

    /// The shared connection, connecting when there is none (one attempt at a time).
    async fn connection(&self) -> Result<MultiplexedConnection, Trouble> {
        if let Some(conn) = self.conn.lock().ok().and_then(|c| c.clone()) {
            return Ok(conn);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(conn) = self.conn.lock().ok().and_then(|c| c.clone()) {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.settings.timeout))
            .set_response_timeout(Some(self.settings.timeout));
        let conn =
            self.client.get_multiplexed_async_connection_with_config(&config).await.map_err(|_| Trouble::Connect)?;
        if let Ok(mut slot) = self.conn.lock() {
            *slot = Some(conn.clone());
        }
        Ok(conn)
    }

    async fn run(&self, key: &str, t: u64, tau: u64) -> Result<Outcome, Trouble> {
        let mut conn = self.connection().await?;
        let evalsha = redis::cmd("EVALSHA")
            .arg(&self.sha)
            .arg(1)
            .arg(key)
            .arg(t)
            .arg(tau)
            .query_async::<Vec<i64>>(&mut conn)
            .await;
        let reply = match evalsha {
            Ok(reply) => reply,
            Err(e) if e.code() == Some("NOSCRIPT") => {
                // Not cached on this server (a restart, a fail-over): EVAL sends it, and caches it.
                redis::cmd("EVAL")
                    .arg(GCRA)
                    .arg(1)
                    .arg(key)
                    .arg(t)
                    .arg(tau)
                    .query_async::<Vec<i64>>(&mut conn)
                    .await
                    .map_err(|e| {
                        self.forget_if_broken(&e);
                        Trouble::Command
                    })?
            }
            Err(e) => {
                self.forget_if_broken(&e);
                return Err(Trouble::Command);
            }
        };
        let [allowed, remaining, reset_us, retry_us] = reply[..] else { return Err(Trouble::Command) };
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        Ok(Outcome {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            reset: micros(reset_us),
            retry_after: micros(retry_us),
        })
    }

    fn forget_if_broken(&self, e: &redis::RedisError) {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.is_unrecoverable_error()
        {
            self.drop_connection();
        }
    }
}

/// A platform-independent SHA-256 of a key's `Hash` output, base64url: integers are fed
/// little-endian and `usize` as 64 bits, so replicas on any platform name a partition alike.
pub(crate) fn stable_hash<K: Hash + ?Sized>(key: &K) -> String {
    struct Sha(digest::Context);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            let d = self.0.clone().finish();
            let mut first = [0u8; 8];
            first.copy_from_slice(&d.as_ref()[..8]);
            u64::from_le_bytes(first)
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn write_u16(&mut self, i: u16) {
            self.write(&i.to_le_bytes());
        }
        fn write_u32(&mut self, i: u32) {
            self.write(&i.to_le_bytes());
        }
        fn write_u64(&mut self, i: u64) {
            self.write(&i.to_le_bytes());
        }
        fn write_u128(&mut self, i: u128) {
            self.write(&i.to_le_bytes());
        }
        fn write_usize(&mut self, i: usize) {
            self.write_u64(i as u64);
        }
        fn write_i16(&mut self, i: i16) {
            self.write_u16(i as u16);
        }
        fn write_i32(&mut self, i: i32) {
            self.write_u32(i as u32);
        }
        fn write_i64(&mut self, i: i64) {
            self.write_u64(i as u64);
        }
        fn write_i128(&mut self, i: i128) {
            self.write_u128(i as u128);
        }
        fn write_isize(&mut self, i: isize) {
            self.write_u64(i as u64);
        }
    }
    let mut hasher = Sha(digest::Context::new(&digest::SHA256));
    key.hash(&mut hasher);
    URL_SAFE_NO_PAD.encode(hasher.0.finish().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_names() {
        use crate::ratelimit::RateLimitKey;
        let a = stable_hash(&RateLimitKey::ApiKey("k1".into()));
        assert_eq!(a, stable_hash(&RateLimitKey::ApiKey("k1".into())));
        assert_ne!(a, stable_hash(&RateLimitKey::Certificate("k1".into())));
        assert_eq!(a.len(), 43);
        // A pinned value: a change of the hashing would split the partitions of a rolling deploy.
        assert_eq!(stable_hash(&42u64), "7QSRCLwY8sZDaejQ6kKFC90afR3TQM_ecWMVV5cCp2w");
        assert_eq!(stable_hash("tower-auth").len(), 43);
    }

    #[test]
    fn script_digest() {
        let store = RedisStore::new("redis://127.0.0.1:1").unwrap();
        assert_eq!(store.inner.sha.len(), 40);
        assert!(RedisStore::new("not a url").is_err());
        let tuned = store.clone().prefix("p:").timeout(Duration::from_millis(50)).on_failure(FailureMode::Closed);
        assert_eq!(tuned.inner.settings.prefix, "p:");
        assert_eq!(tuned.failure_mode(), FailureMode::Closed);
        assert_eq!(store.inner.settings.prefix, "tower-auth:ratelimit:");
    }
}
