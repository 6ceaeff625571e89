//! The PostgreSQL API-key store against the real server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, the development machines' database). These tests
//! fail — they never skip — when the server is unreachable.
//!
//! Each test works in a table of its own (unique per process and test) and drops it afterwards, so
//! runs in parallel and repeated runs do not collide.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::NoTls;
use tower_auth::apikey::{ApiKeyRecord, ApiKeyStore, ApiKeys, NewApiKey, PostgresStore, StoreErrorKind};
use tower_auth::{AuthErrorKind, Clock, ManualClock, Mechanism};

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A direct connection for checks and set-up, as another replica or an operator would have.
async fn sql() -> tokio_postgres::Client {
    let url = database_url();
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at DATABASE_URL ({url}): {e}"));
    tokio::spawn(connection);
    client
}

/// A table name unique to this process and call; dropped when the guard goes.
struct Table(String);

impl Table {
    fn new(test: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        Self(format!("tak_{test}_{}_{nanos}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)))
    }

    fn store(&self) -> PostgresStore {
        PostgresStore::builder(database_url()).table(&self.0).build().expect("store configuration")
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let name = self.0.clone();
        // A runtime of its own: the test's may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(&database_url(), NoTls).await {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&format!("DROP TABLE IF EXISTS \"{name}\"")).await;
                }
            });
        })
        .join();
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

const T0: u64 = 1_800_000_000;

#[tokio::test]
async fn database_is_reachable() {
    // Fails loudly (no skip) when DATABASE_URL does not answer.
    let client = sql().await;
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
}

#[tokio::test]
async fn migration_is_idempotent_and_safe_to_run_concurrently() {
    let table = Table::new("migrate");
    let store = table.store();
    store.migrate().await.expect("first migration");
    store.migrate().await.expect("second migration");
    let stores: Vec<PostgresStore> = (0..4).map(|_| table.store()).collect();
    let results = futures_join_all(stores.iter().map(|s| s.migrate())).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let client = sql().await;
    let columns: Vec<String> = client
        .query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
            &[&table.0],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        columns,
        [
            "id",
            "secret_hash",
            "owner",
            "name",
            "scopes",
            "created_at",
            "expires_at",
            "revoked_at",
            "tier",
            "allowed_networks",
            "max_uses",
            "uses",
            "last_used_at"
        ]
    );
    assert!(store.migration_sql().contains("CREATE TABLE IF NOT EXISTS"));
    // The store migrates on its first connection by default: a fresh table works without migrate().
    let fresh = Table::new("auto");
    assert!(fresh.store().list().await.unwrap().is_empty());
}

async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::with_capacity(handles.len());
    // Polled concurrently on one task: enough to interleave their round trips.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.extend(done.into_iter().map(Option::unwrap));
    out
}

#[tokio::test]
async fn records_round_trip_with_hashes_only() {
    let table = Table::new("roundtrip");
    let store = table.store();
    let keys = ApiKeys::builder().store(store.clone()).clock(ManualClock::at_unix(T0)).build().unwrap();
    let issued = keys
        .create(
            NewApiKey::new("alice")
                .name("deploy")
                .scopes(["orders:read", "admin"])
                .tier("gold")
                .expires_at(at(T0 + 3600))
                .allowed_networks(["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()])
                .max_uses(7),
        )
        .await
        .unwrap();
    let got: ApiKeyRecord = store.get(issued.key.id()).await.unwrap().expect("stored");
    assert_eq!(got, issued.record);
    assert_eq!(store.list().await.unwrap(), vec![issued.record.clone()]);
    assert!(store.get("nosuchkey000").await.unwrap().is_none());
    // A duplicate id is a conflict.
    assert_eq!(store.insert(issued.record.clone()).await.unwrap_err().kind(), StoreErrorKind::Conflict);
    // The plaintext secret is nowhere in the table; the hash is 32 bytes.
    let client = sql().await;
    let row = client
        .query_one(&format!("SELECT t::text, octet_length(secret_hash) FROM \"{}\" t", table.0), &[])
        .await
        .unwrap();
    let text: String = row.get(0);
    let secret = &issued.key.expose_secret()[22..44];
    assert!(!text.contains(secret), "the secret must not be stored");
    assert_eq!(row.get::<_, i32>(1), 32);
}

#[tokio::test]
async fn revocation_in_postgres_is_seen_within_the_cache_ttl() {
    let table = Table::new("revoke");
    let clock = ManualClock::at_unix(T0);
    let keys = ApiKeys::builder()
        .store(table.store())
        .clock(clock.clone())
        .cache_ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    let issued = keys.create(NewApiKey::new("alice").scopes(["orders:read"])).await.unwrap();
    let key = issued.key.expose_secret();
    let p = keys.verify(key, None).await.unwrap();
    assert_eq!((p.subject(), p.mechanism()), ("alice", Mechanism::ApiKey));

    // Revoked by another replica / an operator, straight in SQL.
    let client = sql().await;
    let n = client
        .execute(&format!("UPDATE \"{}\" SET revoked_at = now() WHERE id = $1", table.0), &[&issued.key.id()])
        .await
        .unwrap();
    assert_eq!(n, 1);
    clock.advance(Duration::from_secs(29));
    keys.verify(key, None).await.expect("still cached within the TTL");
    clock.advance(Duration::from_secs(2));
    let err = keys.verify(key, None).await.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::InvalidApiKey);

    // Revoked through ApiKeys: at once, and persisted.
    let second = keys.create(NewApiKey::new("bob")).await.unwrap();
    keys.verify(second.key.expose_secret(), None).await.unwrap();
    assert!(keys.revoke(second.key.id()).await.unwrap());
    assert!(!keys.revoke(second.key.id()).await.unwrap(), "already revoked");
    assert_eq!(keys.verify(second.key.expose_secret(), None).await.unwrap_err().kind(), AuthErrorKind::InvalidApiKey);
    let revoked_at: Option<SystemTime> = client
        .query_one(&format!("SELECT revoked_at FROM \"{}\" WHERE id = $1", table.0), &[&second.key.id()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(revoked_at, Some(clock.now()));

    // A key created by another replica after this one looked its id up: seen after the negative TTL.
    let other = ApiKeys::builder().store(table.store()).clock(clock.clone()).build().unwrap();
    let minted = other.mint(&NewApiKey::new("carol")).unwrap();
    assert_eq!(keys.verify(minted.key.expose_secret(), None).await.unwrap_err().kind(), AuthErrorKind::InvalidApiKey);
    other.store().insert(minted.record.clone()).await.unwrap();
    assert!(keys.verify(minted.key.expose_secret(), None).await.is_err(), "negative cache");
    clock.advance(Duration::from_secs(6));
    assert_eq!(keys.verify(minted.key.expose_secret(), None).await.unwrap().subject(), "carol");
}

#[tokio::test]
async fn usage_limits_are_exact_across_replicas() {
    let table = Table::new("uses");
    let clock = ManualClock::at_unix(T0);
    let replica_a = ApiKeys::builder().store(table.store()).clock(clock.clone()).build().unwrap();
    let replica_b = ApiKeys::builder().store(table.store()).clock(clock.clone()).build().unwrap();
    let issued = replica_a.create(NewApiKey::new("bot").max_uses(10)).await.unwrap();
    let key = issued.key.expose_secret().to_owned();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let keys = if i % 2 == 0 { replica_a.clone() } else { replica_b.clone() };
        let key = key.clone();
        tasks.push(tokio::spawn(async move { keys.verify(&key, None).await }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(e) => assert_eq!(e.kind(), AuthErrorKind::InvalidApiKey),
        }
    }
    assert_eq!(accepted, 10, "exactly max_uses requests pass, whichever replica serves them");
    let client = sql().await;
    let uses: i64 = client
        .query_one(&format!("SELECT uses FROM \"{}\" WHERE id = $1", table.0), &[&issued.key.id()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(uses, 10);
}

#[tokio::test]
async fn networks_expiry_and_last_used() {
    let table = Table::new("misc");
    let clock = ManualClock::at_unix(T0);
    let keys = ApiKeys::builder().store(table.store()).clock(clock.clone()).build().unwrap();
    let fenced = keys
        .create(
            NewApiKey::new("ops")
                .allowed_networks(["192.0.2.0/24".parse().unwrap()])
                .expires_in(Duration::from_secs(300)),
        )
        .await
        .unwrap();
    let inside: IpAddr = "192.0.2.44".parse().unwrap();
    let outside: IpAddr = "198.51.100.1".parse().unwrap();
    keys.verify(fenced.key.expose_secret(), Some(inside)).await.unwrap();
    assert!(keys.verify(fenced.key.expose_secret(), Some(outside)).await.is_err());
    clock.advance(Duration::from_secs(100));
    keys.verify(fenced.key.expose_secret(), Some(inside)).await.unwrap();
    // Last-used: written on flush, in one batch.
    keys.flush_last_used().await.unwrap();
    let client = sql().await;
    let last: Option<SystemTime> = client
        .query_one(&format!("SELECT last_used_at FROM \"{}\" WHERE id = $1", table.0), &[&fenced.key.id()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(last, Some(at(T0 + 100)));
    // An older time never moves it back.
    keys.store().touch(vec![(fenced.key.id().to_owned(), at(T0))]).await.unwrap();
    let again = keys.store().get(fenced.key.id()).await.unwrap().unwrap();
    assert_eq!(again.last_used_at, Some(at(T0 + 100)));
    // Past its expiry.
    clock.advance(Duration::from_secs(200));
    assert!(keys.verify(fenced.key.expose_secret(), Some(inside)).await.is_err());
}

#[tokio::test]
async fn an_unreachable_database_fails_closed() {
    // Port 1 on loopback: connection refused at once.
    let store = PostgresStore::builder("postgres://postgres@127.0.0.1:1/test")
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let keys = ApiKeys::builder().store(store.clone()).build().unwrap();
    let key = keys.format().generate();
    let err = keys.verify(key.expose_secret(), None).await.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::Unavailable);
    assert_eq!(err.status(), 503);
    assert_eq!(store.list().await.unwrap_err().kind(), StoreErrorKind::Unavailable);
    // Debug never shows the URL (it may carry a password).
    let with_password = PostgresStore::builder("postgres://app:hunter2@127.0.0.1/db").build().unwrap();
    assert!(!format!("{with_password:?}").contains("hunter2"));
    // Bad configuration is a start-up error.
    assert!(PostgresStore::builder("postgres://x@127.0.0.1/db").table("bad name").build().is_err());
    assert!(PostgresStore::builder("postgres://x@127.0.0.1/db").table("a.b.c").build().is_err());
    assert!(PostgresStore::builder("postgres://x@127.0.0.1/db").table("auth.keys").build().is_ok());
    assert!(PostgresStore::builder("not a url at all ::").build().is_err());
}

#[tokio::test]
async fn schema_qualified_tables_work() {
    let schema = Table::new("schema");
    let client = sql().await;
    client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", schema.0)).await.unwrap();
    let store = PostgresStore::builder(database_url()).table(format!("{}.keys", schema.0)).build().unwrap();
    let keys = ApiKeys::builder().store(store).build().unwrap();
    let issued = keys.create(NewApiKey::new("alice")).await.unwrap();
    keys.verify(issued.key.expose_secret(), None).await.unwrap();
    client.batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", schema.0)).await.unwrap();
}
