//! Fault injection over real HTTP on both frameworks: a back end fails mid-traffic, the request
//! gets the documented answer within a bounded time and nothing panics, and service comes back
//! with the back end.
//!
//! - The PostgreSQL API-key store (DATABASE_URL, default `postgres://postgres@127.0.0.1:5432/test`;
//!   the test fails when it is unreachable) behind a [`FaultProxy`], so the shared server keeps
//!   running: the database goes away (connections closed, port refused) or hangs (connections open
//!   and silent — for good, as behind a firewall that forgot them). Documented (`apikey` module
//!   docs, "Caching" and "Defaults"): a key looked up within the cache TTL is still served; a key not
//!   cached, a cached one past the TTL and a usage-limited key (uses are never cached) get 503 with
//!   `Retry-After: 5`, no challenge; each request ends within the store's timeouts (a 10 s client
//!   timeout guards against a hang), also when many arrive at once; once the database answers
//!   again, every key works (the store reconnects).
//! - The introspection endpoint (RFC 7662, checklist D3 and DESIGN "fail closed"), beyond the 500,
//!   down, slow and HTML answers of `introspection.rs`: an answer that is not HTTP, truncated JSON, a
//!   valid answer larger than the size limit (declared or chunked), a connection accepted and never
//!   answered, a connection dropped before the answer and one dropped in the middle of the body →
//!   503 with `Retry-After`, within the client's timeout, then 200 once the endpoint answers again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_auth::apikey::{ApiKeys, NewApiKey, PostgresStore};
use tower_auth::introspection::Introspector;
use tower_auth::{Authenticator, ManualClock};
use tower_auth_tests::{FaultProxy, Framework, ProxyMode, TestServer, serve};

/// The longest any request may take: far above every timeout configured here, far below a hang.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(CLIENT_TIMEOUT).build().expect("a reqwest client")
}

#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    www_authenticate: Option<String>,
    content_type: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("JSON body ({e}): {}", self.body))
    }
}

/// `GET /me` with one header; panics (naming the case) if the server does not answer within
/// [`CLIENT_TIMEOUT`].
async fn me(server: &TestServer, header: (&str, &str), what: &str) -> Answer {
    let framework = server.framework();
    let res = client()
        .get(server.url("/me"))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{framework}: {what}: no answer within {CLIENT_TIMEOUT:?}: {e}"));
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().expect("ASCII header").to_owned());
    let (retry_after, www_authenticate, content_type) =
        (header("retry-after"), header("www-authenticate"), header("content-type"));
    let status = res.status().as_u16();
    let body = res.text().await.expect("body");
    Answer { status, retry_after, www_authenticate, content_type, body }
}

/// The DESIGN error table's last row: 503, `Retry-After`, a problem document, no challenge.
#[track_caller]
fn expect_unavailable(answer: &Answer, framework: Framework, what: &str, retry_after: Option<&str>) {
    assert_eq!(answer.status, 503, "{framework}: {what}: {answer:?}");
    let value: u64 = answer
        .retry_after
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{framework}: {what}: Retry-After {:?}", answer.retry_after));
    assert!(value >= 1, "{framework}: {what}");
    if let Some(expected) = retry_after {
        assert_eq!(answer.retry_after.as_deref(), Some(expected), "{framework}: {what}");
    }
    assert_eq!(answer.www_authenticate, None, "{framework}: {what}: another credential would not help");
    assert_eq!(answer.content_type.as_deref(), Some("application/problem+json"), "{framework}: {what}");
    assert_eq!(answer.json()["status"], 503, "{framework}: {what}");
}

#[track_caller]
fn expect_ok(answer: &Answer, framework: Framework, what: &str, sub: &str, kind: &str) {
    assert_eq!(answer.status, 200, "{framework}: {what}: {answer:?}");
    let doc = answer.json();
    assert_eq!((doc["sub"].as_str(), doc["kind"].as_str()), (Some(sub), Some(kind)), "{framework}: {what}");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL API-key store

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A table of this test's own, dropped (over a direct connection) at the end.
struct Table(String);

impl Table {
    fn new(what: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        Self(format!("tak_faults_{what}_{}_{nanos}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)))
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let name = self.0.clone();
        // A runtime of its own: the test's may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&format!("DROP TABLE IF EXISTS \"{name}\"")).await;
                }
            });
        })
        .join();
    }
}

/// How the database fails.
#[derive(Debug, Clone, Copy)]
enum DbFault {
    /// Connections closed, the port refused: a stopped or crashed server.
    Gone,
    /// Connections open and silent, new ones accepted and never answered: a hung server or a
    /// network that drops everything.
    Hung,
}

impl DbFault {
    fn mode(self) -> ProxyMode {
        match self {
            Self::Gone => ProxyMode::Down,
            Self::Hung => ProxyMode::Hang,
        }
    }
}

/// The store's connect and query timeouts: short, yet far above what a healthy local database takes.
const STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// Requests sent at once while the database hangs: more than [`CLIENT_TIMEOUT`] divided by
/// [`STORE_TIMEOUT`], so that connection attempts made one after the other would not fit.
const AT_ONCE: usize = 32;

async fn database_stops_mid_traffic(framework: Framework, fault: DbFault) {
    let what = format!("{framework} {fault:?}");
    let table = Table::new(&format!("{fault:?}").to_lowercase());
    let (proxy, url) = FaultProxy::in_front_of(&database_url(), 5432).await.expect("a proxy in front of PostgreSQL");
    let store = PostgresStore::builder(url)
        .table(&table.0)
        .connect_timeout(STORE_TIMEOUT)
        .query_timeout(STORE_TIMEOUT)
        .build()
        .expect("store configuration");
    let clock = ManualClock::starting_now();
    let keys = ApiKeys::builder().store(store).clock(clock.clone()).build().expect("api keys");
    let create = async |spec: NewApiKey| {
        let issued = keys.create(spec).await;
        issued
            .unwrap_or_else(|e| panic!("PostgreSQL at {} must answer: {e}", database_url()))
            .key
            .expose_secret()
            .to_owned()
    };
    let warm = create(NewApiKey::new("warm-bot")).await;
    let cold = create(NewApiKey::new("cold-bot")).await;
    let limited = create(NewApiKey::new("limited-bot").max_uses(1000)).await;
    let auth = Authenticator::builder().api_keys(keys.clone()).realm("test").build().expect("authenticator");
    let server = serve(framework, auth, None).await.expect("server");
    let get = async |key: &str, case: &str| me(&server, ("x-api-key", key), &format!("{what}: {case}")).await;

    // The database answers: the keys authenticate, and their records are now cached.
    expect_ok(&get(&warm, "before").await, framework, &what, "warm-bot", "api_key");
    expect_ok(&get(&limited, "before").await, framework, &what, "limited-bot", "api_key");

    proxy.set(fault.mode()).await.expect("fault");
    // Within the cache TTL (30 s) the cached key is served without the store.
    expect_ok(&get(&warm, "cached, store failing").await, framework, &what, "warm-bot", "api_key");
    // A key not cached: 503, fail closed (several times: each reconnect attempt fails).
    for attempt in 0..3 {
        let answer = get(&cold, &format!("not cached #{attempt}")).await;
        expect_unavailable(&answer, framework, &format!("{what}: not cached #{attempt}"), Some("5"));
    }
    // A usage-limited key is counted in the store on every request: 503 even though its record is cached.
    expect_unavailable(&get(&limited, "usage-limited").await, framework, &format!("{what}: usage-limited"), Some("5"));
    // Many at once: each ends within the timeouts, none waits for the others' attempts in turn.
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..AT_ONCE {
        let (url, cold) = (server.url("/me"), cold.clone());
        burst.spawn(async move {
            let res = client().get(url).header("x-api-key", cold).send().await;
            (i, res.map(|r| (r.status().as_u16(), r.headers().get("retry-after").cloned())))
        });
    }
    while let Some(done) = burst.join_next().await {
        let (i, res) = done.expect("request task");
        let (status, retry_after) = res.unwrap_or_else(|e| panic!("{what}: request {i} of {AT_ONCE} at once: {e}"));
        assert_eq!(status, 503, "{what}: request {i} of {AT_ONCE} at once");
        assert_eq!(retry_after.as_ref().and_then(|v| v.to_str().ok()), Some("5"), "{what}: request {i}");
    }
    // Past the cache TTL the cached key needs the store too.
    clock.advance(Duration::from_secs(31));
    expect_unavailable(&get(&warm, "cache expired").await, framework, &format!("{what}: cache expired"), Some("5"));

    // The database answers again: the store reconnects, every key works.
    proxy.set(ProxyMode::Forward).await.expect("restore");
    expect_ok(&get(&cold, "recovered").await, framework, &what, "cold-bot", "api_key");
    expect_ok(&get(&warm, "recovered").await, framework, &what, "warm-bot", "api_key");
    expect_ok(&get(&limited, "recovered").await, framework, &what, "limited-bot", "api_key");
    drop(server);
    drop(keys);
}

#[tokio::test]
async fn postgres_gone_mid_traffic_fails_closed_then_recovers() {
    for framework in Framework::ALL {
        database_stops_mid_traffic(framework, DbFault::Gone).await;
    }
}

#[tokio::test]
async fn postgres_hung_mid_traffic_fails_closed_within_the_timeouts_then_recovers() {
    for framework in Framework::ALL {
        database_stops_mid_traffic(framework, DbFault::Hung).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Introspection endpoint

/// How the introspection endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// RFC 7662: every token is active, `sub` `svc-user`, scope `orders:read`.
    Answers,
    /// Bytes that are not an HTTP response.
    NotHttp,
    /// `200 application/json` whose body stops in the middle of the JSON.
    TruncatedJson,
    /// A valid active answer of 4 MiB with its `Content-Length` (the limit is 64 KiB).
    HugeDeclared,
    /// The same answer, chunked, no length announced.
    HugeChunked,
    /// The connection is accepted and the request read; no byte of answer ever comes.
    Silent,
    /// The connection is closed once the request is read, without a byte of answer.
    Dropped,
    /// Headers announce 200 bytes of body; 20 come, then the connection closes.
    DroppedMidBody,
}

/// A raw TCP introspection endpoint on 127.0.0.1 that misbehaves on demand.
struct FakeEndpoint {
    addr: SocketAddr,
    mode: Arc<Mutex<Endpoint>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeEndpoint {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mode = Arc::new(Mutex::new(Endpoint::Answers));
        let shared = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mode = *shared.lock().unwrap();
                tokio::spawn(answer(stream, mode));
            }
        });
        Self { addr, mode, task }
    }

    fn url(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    fn set(&self, mode: Endpoint) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// Reads one request (head and `Content-Length` body); `None` if the client went away first.
async fn read_request(stream: &mut TcpStream) -> Option<()> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).await.ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).await.ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
    Some(())
}

fn active_answer(padding: usize) -> String {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600;
    let mut doc = json!({ "active": true, "sub": "svc-user", "client_id": "svc", "scope": "orders:read", "exp": exp });
    if padding > 0 {
        doc["padding"] = Value::String("a".repeat(padding));
    }
    doc.to_string()
}

async fn answer(mut stream: TcpStream, mode: Endpoint) {
    if read_request(&mut stream).await.is_none() {
        return;
    }
    let head = |length: usize| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        )
    };
    // Write errors mean the client gave up, which is what some cases expect.
    let _ = match mode {
        Endpoint::Answers => {
            let body = active_answer(0);
            stream.write_all(format!("{}{body}", head(body.len())).as_bytes()).await
        }
        Endpoint::NotHttp => stream.write_all(b"\x00\xff\xfegarbage, not HTTP\x01\r\n\r\n").await,
        Endpoint::TruncatedJson => {
            let body = &active_answer(0)[..20];
            stream.write_all(format!("{}{body}", head(body.len())).as_bytes()).await
        }
        Endpoint::HugeDeclared => {
            let body = active_answer(4 << 20);
            stream.write_all(format!("{}{body}", head(body.len())).as_bytes()).await
        }
        Endpoint::HugeChunked => {
            let body = active_answer(4 << 20);
            let mut out = String::from(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            );
            for chunk in body.as_bytes().chunks(16 * 1024) {
                out.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), std::str::from_utf8(chunk).expect("ASCII")));
            }
            out.push_str("0\r\n\r\n");
            stream.write_all(out.as_bytes()).await
        }
        Endpoint::Silent => {
            // Until the client gives up.
            let mut buf = [0u8; 1024];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            Ok(())
        }
        Endpoint::Dropped => Ok(()),
        Endpoint::DroppedMidBody => {
            let body = &active_answer(0)[..20];
            stream.write_all(format!("{}{body}", head(200)).as_bytes()).await
        }
    };
}

#[tokio::test]
async fn introspection_endpoint_faults_are_503_then_service_resumes() {
    let endpoint = FakeEndpoint::start().await;
    let faults = [
        Endpoint::NotHttp,
        Endpoint::TruncatedJson,
        Endpoint::HugeDeclared,
        Endpoint::HugeChunked,
        Endpoint::Silent,
        Endpoint::Dropped,
        Endpoint::DroppedMidBody,
    ];
    for framework in Framework::ALL {
        let introspector = Introspector::builder()
            .endpoint(endpoint.url())
            .client_credentials("resource-server", "secret")
            .timeout(Duration::from_secs(1))
            .failure_cooldown(Duration::ZERO)
            .build()
            .expect("introspection configuration");
        let auth = Authenticator::builder().introspection(introspector).realm("test").build().expect("authenticator");
        let server = serve(framework, auth, None).await.expect("server");
        for (i, fault) in faults.into_iter().enumerate() {
            let what = format!("{framework} {fault:?}");
            // A token of its own: an answer, once had, is cached.
            let bearer = format!("Bearer opaque-token-{framework}-{i}");
            endpoint.set(fault);
            let answer = me(&server, ("authorization", &bearer), &what).await;
            expect_unavailable(&answer, framework, &what, None);
            endpoint.set(Endpoint::Answers);
            let answer = me(&server, ("authorization", &bearer), &format!("{what}, mended")).await;
            expect_ok(&answer, framework, &format!("{what}, mended"), "svc-user", "introspection");
        }
    }
}
