//! A replay store in Redis (feature `redis`): replicas behind one load balancer accept a proof once
//! in total.

use std::fmt;
use std::time::{Duration, SystemTime};

use redis::aio::ConnectionManager;

use super::replay::{ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError};
use crate::error::ConfigError;

/// A [`ReplayStore`] in Redis: one `SET {prefix}{hex key} 1 NX PX {ttl}` per accepted proof, atomic
/// across every replica pointed at the same server. Keys are hashes of `jti` and `htu`, never the
/// proof. Entries expire in Redis with the `iat` window.
///
/// Redis errors and timeouts fail closed: the request is answered 503 with `Retry-After`, since a
/// proof that cannot be recorded cannot be known to be fresh.
///
/// ```no_run
/// use tower_auth::dpop::{Dpop, RedisReplayStore};
/// # async fn demo() -> Result<(), tower_auth::ConfigError> {
/// let store = RedisReplayStore::connect("redis://127.0.0.1:6379").await?;
/// let dpop = Dpop::builder().public_origin("https://api.example.com").replay_store(store).build()?;
/// # let _ = dpop; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisReplayStore {
    conn: ConnectionManager,
    prefix: String,
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisReplayStore {
    /// Connects to `url` (`redis://…`) and checks that the server answers `PING`. Unreachable →
    /// `Err`: a misconfigured shared store surfaces at start-up. Each command has a 500 ms timeout.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        let conn = crate::redis_conn::connect_checked(url).await?;
        Ok(Self { conn, prefix: "tower-auth:dpop:jti:".to_owned() })
    }

    /// The key prefix. Defaults to `tower-auth:dpop:jti:`. Replicas of one API must share it.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

impl ReplayStore for RedisReplayStore {
    fn first_use(&self, key: &ReplayKey, _now: SystemTime, ttl: Duration) -> ReplayFuture<'_> {
        let name = format!("{}{}", self.prefix, key.to_hex());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        Box::pin(async move {
            let set: redis::RedisResult<Option<String>> =
                redis::cmd("SET").arg(name).arg(1).arg("NX").arg("PX").arg(ttl_ms).query_async(&mut conn).await;
            match set {
                Ok(Some(_)) => Ok(true),
                Ok(None) => Ok(false),
                Err(_) => Err(ReplayStoreError::new("Redis did not answer")),
            }
        })
    }
}
