//! The one way the Redis-backed stores connect (feature `redis`).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::ConfigError;

/// Connects to `url` (`redis://…` or `rediss://…`) with a 2 s connection timeout, a 500 ms timeout per
/// command and one retry, and checks that the server answers `PING`. Unreachable → `Err`: a
/// misconfigured shared store surfaces at start-up.
pub(crate) async fn connect_checked(url: &str) -> Result<ConnectionManager, ConfigError> {
    let client = redis::Client::open(url).map_err(|_| ConfigError::new("invalid Redis URL"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_millis(500)))
        .set_number_of_retries(1);
    let mut conn = client
        .get_connection_manager_with_config(config)
        .await
        .map_err(|_| ConfigError::new("Redis is unreachable"))?;
    let pong: String =
        redis::cmd("PING").query_async(&mut conn).await.map_err(|_| ConfigError::new("Redis did not answer PING"))?;
    if pong != "PONG" {
        return Err(ConfigError::new("Redis did not answer PING"));
    }
    Ok(conn)
}
