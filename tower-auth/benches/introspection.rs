//! Introspection cost on the cache-hit path: `Introspector::introspect` with a warm cache, and the
//! whole `AuthLayer` with an opaque token whose answer is cached, next to a no-auth baseline measured
//! in the same run — in process (a Tower service), and over HTTP on 127.0.0.1 (axum, one keep-alive
//! connection, sequential requests), where the baseline is the same server's public route.
//!
//! `cargo bench -p tower-auth --features test-util --bench introspection` runs the criterion groups,
//! then prints a summary table of ratios measured in the same run.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use http::{Request, Response};
use tower::{Service, ServiceBuilder, ServiceExt as _};
use tower_auth::introspection::Introspector;
use tower_auth::jwt::Algorithm;
use tower_auth::testkit::TestIssuer;
use tower_auth::{AuthLayer, Authenticator};

mod common;
use common::{measure, ready};

struct Setup {
    rt: tokio::runtime::Runtime,
    _issuer: TestIssuer,
    introspector: Introspector,
    auth: Authenticator,
    token: String,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (issuer, introspector, token) = rt.block_on(async {
        let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
        let introspector = Introspector::builder()
            .endpoint(issuer.introspection_endpoint())
            .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET)
            // Long enough that no entry expires during the run.
            .cache_ttl(Duration::from_secs(3600))
            .build()
            .expect("introspector");
        let token = issuer.opaque_token().scope("orders:read orders:write").expires_in(24 * 3600).issue();
        introspector.introspect(&token).await.expect("active token");
        (issuer, introspector, token)
    });
    assert_eq!(introspector.upstream_calls(), 1);
    let auth = Authenticator::builder().introspection(introspector.clone()).build().expect("authenticator");
    Setup { rt, _issuer: issuer, introspector, auth, token }
}

/// An axum server with a public `/public` and an introspection-protected `/protected`.
fn http_server(rt: &tokio::runtime::Runtime, auth: Authenticator) -> String {
    rt.block_on(async {
        use axum::routing::get;
        let app = axum::Router::new()
            .route("/protected", get(|| async { "ok" }))
            .layer(AuthLayer::new(auth))
            .merge(axum::Router::new().route("/public", get(|| async { "ok" })));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        format!("http://{addr}")
    })
}

/// Nanoseconds per request of `n` sequential `GET`s of `url` with the token, over one keep-alive
/// connection; median of `rounds`.
fn http_round_trips(rt: &tokio::runtime::Runtime, url: &str, token: &str, n: u32, rounds: usize) -> f64 {
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let header = format!("Bearer {token}");
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let res = client.get(url).header("authorization", &header).send().await.expect("request");
                    assert_eq!(res.status(), 200);
                    black_box(res.bytes().await.expect("body"));
                }
                start.elapsed().as_nanos() as f64 / f64::from(n)
            })
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

fn main() {
    let s = setup();
    let handler = |_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::from("ok"))) };
    let mut baseline = ServiceBuilder::new().service_fn(handler);
    let mut authed = ServiceBuilder::new().layer(AuthLayer::new(s.auth.clone())).service_fn(handler);
    let header = format!("Bearer {}", s.token);
    let request = || {
        Request::builder().uri("/orders").header("authorization", header.as_str()).body(String::new()).expect("request")
    };
    let mut call_baseline = || {
        let response = ready(async { baseline.ready().await.expect("ready").call(request()).await.expect("response") });
        black_box(response);
    };
    let mut call_authed = || {
        let response = ready(async { authed.ready().await.expect("ready").call(request()).await.expect("response") });
        assert_eq!(response.status(), 200);
        black_box(response);
    };
    let introspect = || {
        black_box(ready(s.introspector.introspect(black_box(&s.token))).expect("cached answer"));
    };

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    {
        let mut group = criterion.benchmark_group("introspection");
        group.bench_function("Introspector::introspect (cache hit)", |b| b.iter(introspect));
        group.bench_function("no auth (baseline)", |b| b.iter(&mut call_baseline));
        group.bench_function("AuthLayer, opaque token, warm cache", |b| b.iter(&mut call_authed));
        group.finish();
    }
    criterion.final_summary();

    let hit_ns = measure(50_000, 7, introspect);
    let base_ns = measure(50_000, 7, &mut call_baseline);
    let auth_ns = measure(50_000, 7, &mut call_authed);
    let base_url = http_server(&s.rt, s.auth.clone());
    let (public, protected) = (format!("{base_url}/public"), format!("{base_url}/protected"));
    http_round_trips(&s.rt, &protected, &s.token, 500, 1);
    let http_base_ns = http_round_trips(&s.rt, &public, &s.token, 2_000, 7);
    let http_auth_ns = http_round_trips(&s.rt, &protected, &s.token, 2_000, 7);
    assert_eq!(s.introspector.upstream_calls(), 1, "every measured request was a cache hit");

    println!("\n## Introspection, opaque token, warm cache, same run (median of 7 rounds)\n");
    println!("| what | per request | throughput vs no auth |");
    println!("|---|---:|---:|");
    println!("| Tower service, no auth (baseline) | {:.2} µs | 1.00× |", base_ns / 1e3);
    println!("| Tower service + AuthLayer, cache hit | {:.2} µs | {:.2}× |", auth_ns / 1e3, base_ns / auth_ns);
    println!(
        "| HTTP on 127.0.0.1 (axum, keep-alive), public route (baseline) | {:.1} µs | 1.00× |",
        http_base_ns / 1e3
    );
    println!(
        "| HTTP on 127.0.0.1 (axum, keep-alive), introspected route, cache hit | {:.1} µs | {:.2}× |",
        http_auth_ns / 1e3,
        http_base_ns / http_auth_ns
    );
    println!(
        "\n`Introspector::introspect` on a cache hit: {:.2} µs (SHA-256 of the token, lookup, clock check).",
        hit_ns / 1e3
    );
}
