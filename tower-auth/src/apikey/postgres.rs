//! Key records in PostgreSQL (feature `postgres`).

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::hash::SecretHash;
use super::network::IpNetwork;
use super::record::ApiKeyRecord;
use super::store::{ApiKeyStore, StoreError, StoreErrorKind, StoreFuture};
use crate::error::ConfigError;

const COLUMNS: &str = "id, secret_hash, owner, name, scopes, created_at, expires_at, revoked_at, tier, \
                       allowed_networks, max_uses, uses, last_used_at";

/// Key records in a PostgreSQL table (feature `postgres`): one row per key, the secret's hash in a
/// `BYTEA`, times as `TIMESTAMPTZ`.
///
/// The connection is opened lazily, on first use, so a service starts while the database is down
/// (requests with API keys answer 503 until it is reachable) and reconnects after a restart. A
/// connection on which a query timed out is given up (a silent peer may never answer again) and the
/// next request opens a new one. While the database is unreachable, a request waits for at most
/// one connection attempt besides its own: requests that queued behind a failed attempt share its
/// failure instead of each trying in turn, so latency stays bounded by the timeouts. On
/// that first connection the [migration](PostgresStore::migration_sql) runs (`CREATE TABLE IF NOT
/// EXISTS …`, idempotent, serialized with an advisory lock) unless disabled with
/// [`PostgresStoreBuilder::migrate`]. Plain TCP only (`NoTls`): meant for a database on the same
/// host or a trusted network.
///
/// Put [`ApiKeys`](super::ApiKeys)' lookup cache in front of it (on by default): a key seen within
/// the cache TTL costs no query. Usage-limited keys cost one `UPDATE … RETURNING` per request (the
/// count must be exact across replicas); last-used times are written in batches, one statement per
/// flush.
///
/// ```no_run
/// use tower_auth::apikey::{ApiKeys, PostgresStore};
/// # fn main() -> Result<(), tower_auth::ConfigError> {
/// let store = PostgresStore::builder("postgres://api@127.0.0.1/app").table("api_keys").build()?;
/// let keys = ApiKeys::builder().store(store).build()?;
/// # let _ = keys; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: tokio_postgres::Config,
    table: String,
    index: String,
    migrate: bool,
    connect_timeout: Duration,
    query_timeout: Duration,
    current: RwLock<Option<Arc<Conn>>>,
    connecting: tokio::sync::Mutex<()>,
    /// Connection attempts finished (successful or not), to tell a caller that waited for the lock
    /// whether an attempt ended meanwhile.
    attempts: AtomicU64,
    migrated: AtomicBool,
}

struct Conn {
    client: Client,
    /// The task driving the connection: ended when the connection is given up, so a socket to a
    /// silent server does not linger.
    driver: tokio::task::AbortHandle,
    get: Statement,
    record_use: Statement,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may carry a password.
        let hosts: Vec<String> = self
            .inner
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        f.debug_struct("PostgresStore")
            .field("hosts", &hosts)
            .field("dbname", &self.inner.config.get_dbname())
            .field("table", &self.inner.table)
            .finish_non_exhaustive()
    }
}

/// Builds a [`PostgresStore`].
#[must_use]
pub struct PostgresStoreBuilder {
    url: String,
    table: String,
    migrate: bool,
    connect_timeout: Duration,
    query_timeout: Duration,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStoreBuilder").field("table", &self.table).finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    /// The table, optionally schema-qualified (`keys` or `auth.keys`): letters, digits and `_`,
    /// each part at most 63 bytes. Defaults to `tower_auth_api_keys`.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Whether the first connection creates the table when missing. Defaults to on. Turn it off
    /// where the service's database role may not run DDL, and apply
    /// [`PostgresStore::migration_sql`] another way.
    pub fn migrate(mut self, on: bool) -> Self {
        self.migrate = on;
        self
    }

    /// How long connecting may take. Defaults to 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one query may take before the request answers 503. Defaults to 5 s.
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Checks the URL and the table name. Does not connect.
    pub fn build(self) -> Result<PostgresStore, ConfigError> {
        let mut config = tokio_postgres::Config::from_str(&self.url)
            .map_err(|_| ConfigError::new("the PostgreSQL URL is not valid (postgres://user@host:port/dbname)"))?;
        config.connect_timeout(self.connect_timeout);
        let parts: Vec<&str> = self.table.split('.').collect();
        let ident_ok = |p: &&str| {
            !p.is_empty()
                && p.len() <= 63
                && !p.as_bytes()[0].is_ascii_digit()
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if parts.len() > 2 || !parts.iter().all(ident_ok) {
            return Err(ConfigError::new(
                "the API key table name must be NAME or SCHEMA.NAME of letters, digits and '_'",
            ));
        }
        if self.connect_timeout.is_zero() || self.query_timeout.is_zero() {
            return Err(ConfigError::new("PostgreSQL timeouts must be positive"));
        }
        let table = parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(".");
        let last = parts[parts.len() - 1];
        let index = format!("\"{}_owner_idx\"", &last[..last.len().min(53)]);
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                config,
                table,
                index,
                migrate: self.migrate,
                connect_timeout: self.connect_timeout,
                query_timeout: self.query_timeout,
                current: RwLock::new(None),
                connecting: tokio::sync::Mutex::new(()),
                attempts: AtomicU64::new(0),
                migrated: AtomicBool::new(false),
            }),
        })
    }
}

fn pg_error(e: &tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::new(StoreErrorKind::Conflict, "an API key with this id exists");
    }
    if e.is_closed() || e.as_db_error().is_none() {
        return StoreError::unavailable(format!("PostgreSQL unavailable: {e}"));
    }
    StoreError::failed(format!("PostgreSQL error: {e}"))
}

impl PostgresStore {
    /// Starts a configuration for the database at `url` (`postgres://user@host:port/dbname`).
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: url.into(),
            table: "tower_auth_api_keys".to_owned(),
            migrate: true,
            connect_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(5),
        }
    }

    /// Builds a store with the defaults and connects now (running the migration), so a wrong URL
    /// or an unreachable server shows at start-up.
    pub async fn connect(url: impl Into<String>) -> Result<Self, StoreError> {
        let store = Self::builder(url).build().map_err(|e| StoreError::invalid(e.message().to_owned()))?;
        store.conn().await?;
        Ok(store)
    }

    /// The quoted table name.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The schema migration: `CREATE TABLE IF NOT EXISTS` and an index on `owner`. Idempotent.
    pub fn migration_sql(&self) -> String {
        let (t, i) = (&self.inner.table, &self.inner.index);
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (
    id               TEXT PRIMARY KEY,
    secret_hash      BYTEA NOT NULL CHECK (octet_length(secret_hash) = 32),
    owner            TEXT NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    scopes           TEXT[] NOT NULL DEFAULT '{{}}',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at       TIMESTAMPTZ,
    revoked_at       TIMESTAMPTZ,
    tier             TEXT,
    allowed_networks TEXT[] NOT NULL DEFAULT '{{}}',
    max_uses         BIGINT CHECK (max_uses IS NULL OR max_uses > 0),
    uses             BIGINT NOT NULL DEFAULT 0,
    last_used_at     TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS {i} ON {t} (owner);"
        )
    }

    /// Runs the migration now, on a connection of its own (in a transaction, under an advisory
    /// lock, so replicas starting together do not trip over each other).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let (client, driver) = self.open().await?;
        let result = self.run_migration(&client).await;
        if result.is_err() {
            driver.abort();
        }
        result
    }

    async fn run_migration(&self, client: &Client) -> Result<(), StoreError> {
        let sql = format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('tower_auth_api_keys_migration')); {} COMMIT;",
            self.migration_sql()
        );
        let result = self.timed(client.batch_execute(&sql)).await;
        if result.is_err() {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result?;
        self.inner.migrated.store(true, Ordering::Release);
        Ok(())
    }

    async fn timed<T>(&self, f: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.inner.query_timeout, f).await {
            Ok(result) => result.map_err(|e| pg_error(&e)),
            Err(_) => Err(StoreError::unavailable("PostgreSQL query timed out")),
        }
    }

    /// A query on the shared connection `conn`, within the query timeout. On a timeout the connection
    /// is given up: the next request opens a new one.
    async fn on<T>(
        &self,
        conn: &Arc<Conn>,
        f: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.inner.query_timeout, f).await {
            Ok(result) => result.map_err(|e| pg_error(&e)),
            Err(_) => {
                self.give_up(conn);
                Err(StoreError::unavailable("PostgreSQL query timed out"))
            }
        }
    }

    /// Forgets `conn` (if it is still the shared one) and ends its driver.
    fn give_up(&self, conn: &Arc<Conn>) {
        let mut current = self.inner.current.write().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *current = None;
        }
        drop(current);
        conn.driver.abort();
        tracing::debug!(target: "tower_auth::apikey", "PostgreSQL connection given up after a timeout");
    }

    /// A new connection, its driver spawned on the current Tokio runtime.
    async fn open(&self) -> Result<(Client, tokio::task::AbortHandle), StoreError> {
        let connect = self.inner.config.connect(NoTls);
        let (client, connection) = match tokio::time::timeout(self.inner.connect_timeout, connect).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(StoreError::unavailable(format!("cannot connect to PostgreSQL: {e}"))),
            Err(_) => return Err(StoreError::unavailable("connecting to PostgreSQL timed out")),
        };
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(target: "tower_auth::apikey", error = %e, "PostgreSQL connection closed");
            }
        });
        Ok((client, driver.abort_handle()))
    }

    fn current(&self) -> Option<Arc<Conn>> {
        let current = self.inner.current.read().unwrap_or_else(|p| p.into_inner());
        current.as_ref().filter(|c| !c.client.is_closed()).cloned()
    }

    /// The shared connection: reused while open; otherwise one caller reconnects (migrating first
    /// if configured and not done yet) while the others wait for it. A caller that waited while an
    /// attempt failed gets that failure rather than trying again itself: the wait is bounded by one
    /// attempt, not by the number of callers queued.
    async fn conn(&self) -> Result<Arc<Conn>, StoreError> {
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let attempts_before = self.inner.attempts.load(Ordering::Acquire);
        let _guard = self.inner.connecting.lock().await;
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        if self.inner.attempts.load(Ordering::Acquire) != attempts_before {
            return Err(StoreError::unavailable("PostgreSQL unavailable: connecting failed"));
        }
        let result = self.connect_now().await;
        self.inner.attempts.fetch_add(1, Ordering::AcqRel);
        let conn = Arc::new(result?);
        *self.inner.current.write().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
        Ok(conn)
    }

    /// Opens a connection, migrates if due, prepares the statements of the request path.
    async fn connect_now(&self) -> Result<Conn, StoreError> {
        let (client, driver) = self.open().await?;
        let prepared = async {
            if self.inner.migrate && !self.inner.migrated.load(Ordering::Acquire) {
                self.run_migration(&client).await?;
            }
            let t = &self.inner.table;
            let get = self.timed(client.prepare(&format!("SELECT {COLUMNS} FROM {t} WHERE id = $1"))).await?;
            let record_use = self
                .timed(client.prepare(&format!(
                    "UPDATE {t} SET uses = uses + 1 \
                     WHERE id = $1 AND revoked_at IS NULL AND (max_uses IS NULL OR uses < max_uses) RETURNING uses"
                )))
                .await?;
            Ok((get, record_use))
        }
        .await;
        match prepared {
            Ok((get, record_use)) => Ok(Conn { client, driver, get, record_use }),
            Err(e) => {
                driver.abort();
                Err(e)
            }
        }
    }

    async fn get_record(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        // One retry on a connection that broke (a database restart): the next connection is fresh.
        // Not after a timeout: that would wait it out twice.
        for attempt in 0..2 {
            let conn = self.conn().await?;
            match tokio::time::timeout(self.inner.query_timeout, conn.client.query_opt(&conn.get, &[&id])).await {
                Ok(Ok(row)) => return row.as_ref().map(row_to_record).transpose(),
                Ok(Err(e)) if attempt == 0 && conn.client.is_closed() => {
                    tracing::debug!(target: "tower_auth::apikey", error = %e, "retrying on a new PostgreSQL connection");
                }
                Ok(Err(e)) => return Err(pg_error(&e)),
                Err(_) => {
                    self.give_up(&conn);
                    return Err(StoreError::unavailable("PostgreSQL query timed out"));
                }
            }
        }
        Err(StoreError::unavailable("PostgreSQL unavailable"))
    }

    async fn insert_record(&self, r: ApiKeyRecord) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let networks: Vec<String> = r.allowed_networks.iter().map(ToString::to_string).collect();
        let max_uses = r.max_uses.map(to_i64);
        let uses = to_i64(r.uses);
        let sql = format!(
            "INSERT INTO {} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            self.inner.table
        );
        let hash: &[u8] = r.secret_hash.as_bytes();
        self.on(
            &conn,
            conn.client.execute(
                &sql,
                &[
                    &r.id,
                    &hash,
                    &r.owner,
                    &r.name,
                    &r.scopes,
                    &r.created_at,
                    &r.expires_at,
                    &r.revoked_at,
                    &r.tier,
                    &networks,
                    &max_uses,
                    &uses,
                    &r.last_used_at,
                ],
            ),
        )
        .await?;
        Ok(())
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn row_to_record(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    let corrupt = |what: &str| StoreError::invalid(format!("corrupt API key row: {what}"));
    let get_err = |e: tokio_postgres::Error| StoreError::invalid(format!("corrupt API key row: {e}"));
    let id: String = row.try_get("id").map_err(get_err)?;
    let hash: Vec<u8> = row.try_get("secret_hash").map_err(get_err)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt("secret_hash is not 32 bytes"))?;
    let networks: Vec<String> = row.try_get("allowed_networks").map_err(get_err)?;
    let allowed_networks = networks
        .iter()
        .map(|n| n.parse::<IpNetwork>().map_err(|e| corrupt(&e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let max_uses: Option<i64> = row.try_get("max_uses").map_err(get_err)?;
    let uses: i64 = row.try_get("uses").map_err(get_err)?;
    Ok(ApiKeyRecord {
        id,
        secret_hash: SecretHash::from_bytes(hash),
        owner: row.try_get("owner").map_err(get_err)?,
        name: row.try_get("name").map_err(get_err)?,
        scopes: row.try_get("scopes").map_err(get_err)?,
        created_at: row.try_get("created_at").map_err(get_err)?,
        expires_at: row.try_get("expires_at").map_err(get_err)?,
        revoked_at: row.try_get("revoked_at").map_err(get_err)?,
        tier: row.try_get("tier").map_err(get_err)?,
        allowed_networks,
        max_uses: max_uses.map(|n| u64::try_from(n).unwrap_or(0)),
        uses: u64::try_from(uses).unwrap_or(0),
        last_used_at: row.try_get("last_used_at").map_err(get_err)?,
    })
}

impl ApiKeyStore for PostgresStore {
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        Box::pin(self.get_record(id))
    }

    fn insert(&self, record: ApiKeyRecord) -> StoreFuture<'_, ()> {
        Box::pin(self.insert_record(record))
    }

    fn revoke<'a>(&'a self, id: &'a str, at: SystemTime) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let sql = format!("UPDATE {} SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", self.inner.table);
            Ok(self.on(&conn, conn.client.execute(&sql, &[&id, &at])).await? > 0)
        })
    }

    fn list(&self) -> StoreFuture<'_, Vec<ApiKeyRecord>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let sql = format!("SELECT {COLUMNS} FROM {} ORDER BY created_at, id", self.inner.table);
            let rows = self.on(&conn, conn.client.query(&sql, &[])).await?;
            rows.iter().map(row_to_record).collect()
        })
    }

    fn record_use<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let conn = self.conn().await?;
            Ok(self.on(&conn, conn.client.query_opt(&conn.record_use, &[&id])).await?.is_some())
        })
    }

    fn touch(&self, last_used: Vec<(String, SystemTime)>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            if last_used.is_empty() {
                return Ok(());
            }
            let conn = self.conn().await?;
            let (ids, times): (Vec<String>, Vec<SystemTime>) = last_used.into_iter().unzip();
            let sql = format!(
                "UPDATE {t} AS k SET last_used_at = GREATEST(k.last_used_at, v.at) \
                 FROM unnest($1::text[], $2::timestamptz[]) AS v(id, at) WHERE k.id = v.id",
                t = self.inner.table
            );
            self.on(&conn, conn.client.execute(&sql, &[&ids, &times])).await?;
            Ok(())
        })
    }
}
