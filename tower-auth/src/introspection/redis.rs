//! A shared answer cache in Redis (feature `redis`), behind the in-process cache: replicas behind one
//! load balancer ask the endpoint once per token between them.

use std::fmt;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::error::ConfigError;

/// Introspection answers shared between replicas through Redis.
///
/// Entries are keyed by `{prefix}{hex SHA-256 of the token}` (never the token), hold the raw answer
/// and the time (of the introspector's clock) until which it may be used, and expire in Redis after
/// the same TTL (`SET … PX`). Every replica re-checks a shared answer with its own configuration.
/// Redis errors and timeouts count as misses: the endpoint is asked, and a warning is logged.
///
/// ```no_run
/// use tower_auth::introspection::{Introspector, RedisCache};
/// # async fn demo() -> Result<(), tower_auth::ConfigError> {
/// let shared = RedisCache::connect("redis://127.0.0.1:6379").await?;
/// let introspector = Introspector::builder()
///     .discover("https://login.example.com")
///     .client_credentials("my-api", "secret")
///     .shared_cache(shared)
///     .build()?;
/// # let _ = introspector; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Connects to `url` (`redis://…` or `rediss://…`) and checks the server answers `PING`.
    /// Unreachable → `Err`: a misconfigured shared cache surfaces at start-up. Each command has a
    /// 500 ms timeout.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        let conn = crate::redis_conn::connect_checked(url).await?;
        Ok(Self { conn, prefix: "tower-auth:introspection:".to_owned() })
    }

    /// The key prefix. Defaults to `tower-auth:introspection:`. Replicas that share answers must use
    /// the same prefix and the same endpoint; use different prefixes for different authorization
    /// servers.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, hash: &[u8; 32]) -> String {
        use std::fmt::Write as _;
        let mut key = String::with_capacity(self.prefix.len() + 64);
        key.push_str(&self.prefix);
        for b in hash {
            let _ = write!(key, "{b:02x}");
        }
        key
    }

    /// The shared answer body and its validity (clock millis), if present and valid at `now_ms`.
    pub(crate) async fn get(&self, hash: &[u8; 32], now_ms: u64) -> Option<(Vec<u8>, u64)> {
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = match redis::cmd("GET").arg(self.key(hash)).query_async(&mut conn).await {
            Ok(v) => v,
            Err(_) => {
                tracing::warn!(target: "tower_auth::introspection", "shared introspection cache unavailable (GET)");
                return None;
            }
        };
        let value = value?;
        let (head, body) = value.split_at_checked(8)?;
        let valid_until_ms = u64::from_be_bytes(head.try_into().ok()?);
        (now_ms < valid_until_ms).then(|| (body.to_vec(), valid_until_ms))
    }

    /// Shares an answer body for `ttl` from `now_ms`.
    pub(crate) async fn put(&self, hash: &[u8; 32], body: &[u8], now_ms: u64, ttl: Duration) {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut value = Vec::with_capacity(8 + body.len());
        value.extend_from_slice(&now_ms.saturating_add(ttl_ms).to_be_bytes());
        value.extend_from_slice(body);
        let mut conn = self.conn.clone();
        let set: redis::RedisResult<()> =
            redis::cmd("SET").arg(self.key(hash)).arg(value).arg("PX").arg(ttl_ms).query_async(&mut conn).await;
        if set.is_err() {
            tracing::warn!(target: "tower_auth::introspection", "shared introspection cache unavailable (SET)");
        }
    }
}
