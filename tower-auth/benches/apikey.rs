//! API-key cost: the pieces (parse + checksum, SHA-256, constant-time compare, a whole `verify`),
//! the `AuthLayer` next to a no-auth baseline service, and HTTP throughput over loopback (axum, keep-
//! alive connections) next to the same server without authentication — in memory and, with
//! `--features postgres` and a reachable `DATABASE_URL`, PostgreSQL behind the warm lookup cache.
//!
//! `cargo bench -p tower-auth --features postgres --bench apikey` runs the criterion groups, then
//! prints summary tables of ratios measured in the same run.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use http::{Request, Response};
use tower::{Service, ServiceBuilder, ServiceExt as _};
use tower_auth::apikey::{ApiKeyStore, ApiKeys, KeyFormat, MemoryStore, NewApiKey, SecretHash};
use tower_auth::{AuthLayer, Authenticator};

mod common;
use common::{measure, ready};

fn sha256_like_the_store(id: &str, secret: &str) -> SecretHash {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"tower-auth/api-key/v1\0");
    ctx.update(id.as_bytes());
    ctx.update(b"\0");
    ctx.update(secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    SecretHash::from_bytes(out)
}

struct Case {
    keys: ApiKeys,
    key: String,
    format: KeyFormat,
}

fn memory_case() -> Case {
    let keys = ApiKeys::builder().store(MemoryStore::new()).build().expect("api keys");
    let issued = ready(keys.create(NewApiKey::new("bench").scopes(["orders:read"]))).expect("create");
    Case { keys, key: issued.key.expose_secret().to_owned(), format: KeyFormat::default() }
}

fn bench_pieces(c: &mut Criterion, case: &Case) {
    let parsed = case.format.parse(&case.key).expect("parse");
    let stored = sha256_like_the_store(parsed.id(), parsed.secret());
    let mut group = c.benchmark_group("apikey");
    group.bench_function("parse + checksum", |b| {
        b.iter(|| black_box(case.format.parse(black_box(&case.key)).expect("parse")))
    });
    group.bench_function("SHA-256 of id + secret", |b| {
        b.iter(|| black_box(sha256_like_the_store(black_box(parsed.id()), black_box(parsed.secret()))))
    });
    group.bench_function("constant-time compare", |b| {
        b.iter(|| black_box(black_box(&stored).matches(black_box(&stored))))
    });
    group.bench_function("verify (memory store)", |b| {
        b.iter(|| black_box(ready(case.keys.verify(black_box(&case.key), None)).expect("valid")))
    });
    group.finish();
}

fn layer_summary(case: &Case) {
    let parsed = case.format.parse(&case.key).expect("parse");
    let stored = sha256_like_the_store(parsed.id(), parsed.secret());
    let parse = measure(200_000, 7, || {
        black_box(case.format.parse(black_box(&case.key)).expect("parse"));
    });
    let hash = measure(200_000, 7, || {
        black_box(sha256_like_the_store(black_box(parsed.id()), black_box(parsed.secret())));
    });
    let compare = measure(200_000, 7, || {
        black_box(black_box(&stored).matches(black_box(&stored)));
    });
    let verify = measure(100_000, 7, || {
        black_box(ready(case.keys.verify(&case.key, None)).expect("valid"));
    });

    let auth = Authenticator::builder().api_keys(case.keys.clone()).build().expect("auth");
    let handler = |_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::from("ok"))) };
    let mut baseline = ServiceBuilder::new().service_fn(handler);
    let mut authed = ServiceBuilder::new().layer(AuthLayer::new(auth)).service_fn(handler);
    let request = || {
        Request::builder().uri("/orders").header("x-api-key", case.key.as_str()).body(String::new()).expect("request")
    };
    let base_ns = measure(50_000, 7, || {
        black_box(ready(ready(baseline.ready()).expect("ready").call(request())).expect("response"));
    });
    let auth_ns = measure(50_000, 7, || {
        let response = ready(ready(authed.ready()).expect("ready").call(request())).expect("response");
        assert_eq!(response.status(), 200);
        black_box(response);
    });
    println!("\n## API key verification, same run (median of 7 rounds)\n");
    println!("| step | per call |");
    println!("|---|---:|");
    println!("| parse + CRC32 checksum | {:.0} ns |", parse);
    println!("| SHA-256 (domain, id, secret) | {:.0} ns |", hash);
    println!("| constant-time compare (32 bytes) | {:.0} ns |", compare);
    println!("| `ApiKeys::verify`, memory store (all of it + lookup + principal) | {:.0} ns |", verify);
    println!("\n## AuthLayer with an API key (memory store), same run\n");
    println!("| service | per request | vs no auth |");
    println!("|---|---:|---:|");
    println!("| no auth (baseline) | {:.2} µs | 1.00 |", base_ns / 1e3);
    println!("| AuthLayer (API key) | {:.2} µs | +{:.2} µs |", auth_ns / 1e3, (auth_ns - base_ns) / 1e3);
}

// ---------------------------------------------------------------------------------------------
// HTTP throughput over loopback.

async fn serve(auth: Option<Authenticator>) -> String {
    use axum::Router;
    use axum::routing::get;
    let mut app = Router::new().route("/orders", get(|| async { "ok" }));
    if let Some(auth) = auth {
        app = app.layer(AuthLayer::new(auth));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/orders")
}

/// Requests per second: `concurrency` keep-alive clients sending `total` requests in all.
async fn throughput(url: &str, key: Option<&str>, total: usize, concurrency: usize) -> f64 {
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(concurrency).build().expect("client");
    let per_task = total / concurrency;
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, key) = (client.clone(), url.to_owned(), key.map(str::to_owned));
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let mut req = client.get(&url);
                    if let Some(key) = &key {
                        req = req.header("x-api-key", key);
                    }
                    let res = req.send().await.expect("request");
                    assert_eq!(res.status(), 200);
                    black_box(res.bytes().await.expect("body"));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
    (per_task * concurrency) as f64 / start.elapsed().as_secs_f64()
}

#[cfg(feature = "postgres")]
async fn postgres_keys() -> Option<(ApiKeys, String, String)> {
    use tower_auth::apikey::PostgresStore;
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let table = format!("tak_bench_{}", std::process::id());
    let store = PostgresStore::builder(url).table(table.clone()).build().ok()?;
    let keys = ApiKeys::builder().store(store).build().ok()?;
    match keys.create(NewApiKey::new("bench").scopes(["orders:read"])).await {
        Ok(issued) => Some((keys, issued.key.expose_secret().to_owned(), table)),
        Err(e) => {
            println!("\n(PostgreSQL skipped: {e})");
            None
        }
    }
}

#[cfg(not(feature = "postgres"))]
async fn postgres_keys() -> Option<(ApiKeys, String, String)> {
    println!("\n(PostgreSQL skipped: build with --features postgres)");
    None
}

#[cfg(feature = "postgres")]
async fn drop_table(table: &str) {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if let Ok((client, connection)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        tokio::spawn(connection);
        let _ = client.batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\"")).await;
    }
}

#[cfg(not(feature = "postgres"))]
async fn drop_table(_table: &str) {}

fn http_summary(case: &Case) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let baseline = serve(None).await;
        let memory_auth = Authenticator::builder().api_keys(case.keys.clone()).build().expect("auth");
        let memory = serve(Some(memory_auth)).await;
        // Control: the same layer with nothing to verify (optional mode, no credential sent).
        let optional_auth = Authenticator::builder().api_keys(case.keys.clone()).optional(true).build().expect("auth");
        let layer_only = serve(Some(optional_auth)).await;
        let pg = postgres_keys().await;
        let pg_url = match &pg {
            Some((keys, key, _)) => {
                let url = serve(Some(Authenticator::builder().api_keys(keys.clone()).build().expect("auth"))).await;
                // Warm the lookup cache (30 s TTL: longer than each round).
                assert!(throughput(&url, Some(key), 8, 1).await > 0.0);
                Some(url)
            }
            None => None,
        };
        let (total, concurrency, rounds) = (6_000, 8, 5);
        // Warm-up, then interleaved rounds so drift hits every configuration alike.
        throughput(&baseline, None, 2_000, concurrency).await;
        throughput(&memory, Some(&case.key), 2_000, concurrency).await;
        let mut base_rps = Vec::new();
        let mut mem_rps = Vec::new();
        let mut layer_rps = Vec::new();
        let mut pg_rps = Vec::new();
        for _ in 0..rounds {
            base_rps.push(throughput(&baseline, None, total, concurrency).await);
            layer_rps.push(throughput(&layer_only, None, total, concurrency).await);
            mem_rps.push(throughput(&memory, Some(&case.key), total, concurrency).await);
            if let (Some(url), Some((keys, key, _))) = (&pg_url, &pg) {
                keys.clear_cache();
                throughput(url, Some(key), 8, 1).await; // one miss re-fills the cache
                pg_rps.push(throughput(url, Some(key), total, concurrency).await);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let base = median(&mut base_rps);
        let mem = median(&mut mem_rps);
        println!(
            "\n## HTTP throughput over loopback (axum, {concurrency} keep-alive clients, median of {rounds} rounds)\n"
        );
        println!("| server | requests/s | vs no auth |");
        println!("|---|---:|---:|");
        println!("| no auth (baseline) | {base:.0} | 1.00× |");
        let layer = median(&mut layer_rps);
        println!("| AuthLayer, no credential (optional mode): the layer alone | {layer:.0} | {:.2}× |", layer / base);
        println!("| API key, memory store | {mem:.0} | {:.2}× |", mem / base);
        if !pg_rps.is_empty() {
            let pgv = median(&mut pg_rps);
            println!("| API key, PostgreSQL + warm cache | {pgv:.0} | {:.2}× |", pgv / base);
        }
        if let Some((_, _, table)) = &pg {
            drop_table(table).await;
        }
    });
}

fn main() {
    let case = memory_case();
    // Keep the store type reachable for readers: any `ApiKeyStore` works the same here.
    let _: &Arc<dyn ApiKeyStore> = case.keys.store();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_pieces(&mut criterion, &case);
    criterion.final_summary();
    layer_summary(&case);
    http_summary(&case);
}
