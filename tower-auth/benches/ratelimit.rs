//! Rate-limit overhead: the in-memory limiter per request next to a no-auth baseline measured in
//! the same run (in process and over HTTP on 127.0.0.1), and the Redis limiter.
//!
//! `cargo bench -p tower-auth --all-features --bench ratelimit` runs the criterion groups, then
//! prints summary tables of ratios measured in the same run. Redis is read from REDIS_URL (default
//! `redis://127.0.0.1:6379`); the bench stops with an error when it is unreachable.

use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use criterion::Criterion;
use http::{Request, Response};
use tower::{Service, ServiceBuilder, ServiceExt as _};
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::ratelimit::{Quota, RateLimitLayer, RateLimiter, RedisStore};
use tower_auth::testkit::LocalIssuer;
use tower_auth::{AuthLayer, Authenticator, Mechanism, PeerAddr, Principal};

mod common;
use common::{measure, ready};

const AUD: &str = "https://api.bench";
/// Far above what the bench sends: every request is admitted, and counted.
const UNLIMITED: Quota = Quota::per_second(1_000_000_000);

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn memory_limiter() -> RateLimiter {
    RateLimiter::builder().quota(UNLIMITED).build().expect("limiter")
}

fn redis_limiter(rt: &tokio::runtime::Runtime) -> RateLimiter {
    let url = redis_url();
    let store = rt
        .block_on(RedisStore::connect(&url))
        .unwrap_or_else(|e| panic!("Redis must be reachable at {url} (set REDIS_URL): {e}"));
    let prefix = format!("tower-auth-bench:{}:", std::process::id());
    let store = store.prefix(prefix).timeout(Duration::from_secs(2));
    RateLimiter::builder().quota(UNLIMITED).redis(store).build().expect("limiter")
}

fn principal_request(principal: &Principal) -> Request<String> {
    let mut req = Request::builder().uri("/orders").body(String::new()).expect("request");
    req.extensions_mut().insert(principal.clone());
    req.extensions_mut().insert(PeerAddr("127.0.0.1:40000".parse().expect("addr")));
    req
}

fn bench_checks(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("ratelimit/check");
    let alice = Principal::builder(Mechanism::Jwt, "alice").issuer("https://issuer.bench").build();
    let parts = principal_request(&alice).into_parts().0;
    let memory = memory_limiter();
    group.bench_function("memory, one hot partition", |b| {
        b.iter(|| black_box(ready(memory.check(Some(&alice), &parts)).expect("admitted")))
    });
    let many: Vec<Principal> =
        (0..10_000).map(|i| Principal::builder(Mechanism::Jwt, format!("user-{i}")).build()).collect();
    let mut i = 0;
    group.bench_function("memory, 10,000 partitions", |b| {
        b.iter(|| {
            i = (i + 1) % many.len();
            black_box(ready(memory.check(Some(&many[i]), &parts)).expect("admitted"))
        })
    });
    let redis = redis_limiter(rt);
    group.bench_function("redis, one partition (round trip)", |b| {
        b.iter(|| black_box(rt.block_on(redis.check(Some(&alice), &parts)).expect("admitted")))
    });
    group.finish();
}

/// Requests per second of `clients` concurrent keep-alive clients sending `per_client` requests.
async fn throughput(url: &str, bearer: Option<&str>, clients: usize, per_client: usize) -> f64 {
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, bearer) = (client.clone(), url.to_owned(), bearer.map(str::to_owned));
        tasks.spawn(async move {
            for _ in 0..per_client {
                let mut req = client.get(&url);
                if let Some(b) = &bearer {
                    req = req.header("authorization", b);
                }
                let res = req.send().await.expect("request");
                assert_eq!(res.status(), 200);
                black_box(res.bytes().await.expect("body"));
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("client task");
    }
    (clients * per_client) as f64 / started.elapsed().as_secs_f64()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    addr
}

fn connect_info(extensions: &http::Extensions) -> Option<SocketAddr> {
    extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0)
}

fn summary(rt: &tokio::runtime::Runtime) {
    // In process: the layer around a trivial service, against the same service alone.
    let alice = Principal::builder(Mechanism::Jwt, "alice").issuer("https://issuer.bench").build();
    // Like a real handler's answer: a response with a header (so its header map exists either way).
    let handler = |_req: Request<String>| async {
        let mut response = Response::new(String::from("ok"));
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
        Ok::<_, Infallible>(response)
    };
    let mut baseline = ServiceBuilder::new().service_fn(handler);
    let mut limited = ServiceBuilder::new().layer(RateLimitLayer::new(memory_limiter())).service_fn(handler);
    let base_ns = measure(50_000, 7, || {
        black_box(ready(ready(baseline.ready()).expect("ready").call(principal_request(&alice))).expect("response"));
    });
    let limited_ns = measure(50_000, 7, || {
        let response = ready(ready(limited.ready()).expect("ready").call(principal_request(&alice))).expect("response");
        assert!(response.headers().contains_key("ratelimit"));
        black_box(response);
    });
    let redis = redis_limiter(rt);
    let mut redis_limited = ServiceBuilder::new().layer(RateLimitLayer::new(redis.clone())).service_fn(handler);
    let redis_ns = measure(2_000, 7, || {
        let response = rt
            .block_on(async { redis_limited.ready().await.expect("ready").call(principal_request(&alice)).await })
            .expect("response");
        assert!(response.headers().contains_key("ratelimit"));
        black_box(response);
    });
    println!("\n## RateLimitLayer in process, one partition, same run (median of 7 rounds)\n");
    println!("| service | per request | added |");
    println!("|---|---:|---:|");
    println!("| no auth, no limit (baseline) | {:.2} µs | — |", base_ns / 1e3);
    println!("| + RateLimitLayer, in memory | {:.2} µs | +{:.2} µs |", limited_ns / 1e3, (limited_ns - base_ns) / 1e3);
    println!("| + RateLimitLayer, Redis | {:.1} µs | +{:.1} µs |", redis_ns / 1e3, (redis_ns - base_ns) / 1e3);

    // Over HTTP on 127.0.0.1: what a client sees, each variant measured in interleaved rounds.
    let issuer = LocalIssuer::new("https://issuer.bench");
    issuer.set_default_audience(AUD);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUD)
        .build()
        .expect("validator");
    let auth = Authenticator::builder().jwt(validator).build().expect("auth");
    let bearer = format!("Bearer {}", issuer.token().subject("alice").sign());
    let ok = || get(|| async { "ok" });
    let urls = rt.block_on(async {
        let base = serve(Router::new().route("/", ok())).await;
        let memory = serve(
            Router::new().route("/", ok()).layer(RateLimitLayer::new(memory_limiter()).peer_addr_from(connect_info)),
        )
        .await;
        let auth_only = serve(Router::new().route("/", ok()).layer(AuthLayer::new(auth.clone()))).await;
        let auth_memory = serve(
            Router::new()
                .route("/", ok())
                .layer(RateLimitLayer::new(memory_limiter()))
                .layer(AuthLayer::new(auth.clone())),
        )
        .await;
        let auth_redis = serve(
            Router::new()
                .route("/", ok())
                .layer(RateLimitLayer::new(redis.clone()))
                .layer(AuthLayer::new(auth.clone())),
        )
        .await;
        [base, memory, auth_only, auth_memory, auth_redis].map(|a| format!("http://{a}/"))
    });
    let bearers = [None, None, Some(bearer.as_str()), Some(bearer.as_str()), Some(bearer.as_str())];
    // Rounds interleave the five servers, and each ratio is taken within a round, so load from
    // elsewhere on the machine weighs on both sides of a ratio alike.
    const ROUNDS: usize = 15;
    let mut samples: [Vec<f64>; 5] = Default::default();
    rt.block_on(async {
        for (url, bearer) in urls.iter().zip(bearers) {
            throughput(url, bearer, 8, 250).await; // warm-up
        }
        for _ in 0..ROUNDS {
            for (i, (url, bearer)) in urls.iter().zip(bearers).enumerate() {
                samples[i].push(throughput(url, bearer, 8, 500).await);
            }
        }
    });
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio = |a: usize, b: usize| median((0..ROUNDS).map(|r| samples[a][r] / samples[b][r]).collect());
    let rps: Vec<f64> = samples.iter().map(|v| median(v.clone())).collect();
    println!(
        "\n## Over HTTP on 127.0.0.1 (axum, 8 keep-alive clients; {ROUNDS} interleaved rounds of 4,000 requests per server; medians)\n"
    );
    println!("| server | requests/s | vs no-auth baseline (median of per-round ratios) |");
    println!("|---|---:|---:|");
    println!("| no auth, no limit (baseline) | {:.0} | 1.00× |", rps[0]);
    println!("| in-memory limiter (by peer address) | {:.0} | {:.2}× |", rps[1], ratio(1, 0));
    println!("| JWT auth (warm cache) | {:.0} | {:.2}× |", rps[2], ratio(2, 0));
    println!(
        "| JWT auth + in-memory limiter | {:.0} | {:.2}× (vs JWT auth alone: {:.2}×) |",
        rps[3],
        ratio(3, 0),
        ratio(3, 2)
    );
    println!(
        "| JWT auth + Redis limiter | {:.0} | {:.2}× (vs JWT auth alone: {:.2}×) |",
        rps[4],
        ratio(4, 0),
        ratio(4, 2)
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_checks(&mut criterion, &rt);
    criterion.final_summary();
    summary(&rt);
}
