//! The load harness: starts the same small axum handler on 127.0.0.1 with each authentication
//! configuration in turn, drives it with keep-alive HTTP/1.1 connections for a fixed time, and prints
//! requests per second as a ratio to the no-auth baseline measured in the same run.
//!
//! ```text
//! cargo run --release --bin loadtest -- [--seconds 5] [--connections 32] [--rounds 3]
//! ```
//!
//! Bounded: each configuration runs for `--seconds` (default 5, at most 60) per round, `--rounds`
//! interleaved rounds (default 3, at most 10), with `--connections` connections (default 32, at most
//! 256), on loopback only. Server and load generator share this process and its cores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tower_auth::Authenticator;
use tower_auth::apikey::{ApiKeys, MemoryStore, NewApiKey};
use tower_auth::introspection::Introspector;
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::testkit::{LocalIssuer, TestIssuer};
use tower_auth_axum::{Principal, auth_layer};

const AUD: &str = "https://api.load.test";

struct Variant {
    name: &'static str,
    router: Router,
    /// The whole `Authorization` header value, or an API key for `X-API-Key` when it has no space.
    authorization: Option<String>,
}

async fn hello() -> &'static str {
    "hello"
}

async fn hello_principal(Principal(p): Principal) -> String {
    format!("hello {}", p.subject())
}

fn jwt_variant(name: &'static str, alg: Algorithm, cache: u64) -> Variant {
    let issuer = LocalIssuer::with_algorithms("https://issuer.load.test", &[alg]);
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUD)
        .cache_capacity(cache)
        .build()
        .expect("validator");
    let auth = Authenticator::builder().jwt(validator).build().expect("authenticator");
    let token = issuer.token().audience(AUD).scope("orders:read").expires_in(3600).sign();
    Variant {
        name,
        router: Router::new().route("/orders", get(hello_principal)).layer(auth_layer(auth)),
        authorization: Some(format!("Bearer {token}")),
    }
}

async fn api_key_variant() -> Variant {
    let keys = ApiKeys::builder().store(MemoryStore::new()).build().expect("api keys");
    let issued = keys.create(NewApiKey::new("load").scopes(["orders:read"])).await.expect("key");
    let auth = Authenticator::builder().api_keys(keys).build().expect("authenticator");
    Variant {
        name: "API key, memory store",
        router: Router::new().route("/orders", get(hello_principal)).layer(auth_layer(auth)),
        authorization: Some(issued.key.expose_secret().to_owned()),
    }
}

/// Opaque tokens through introspection with a warm cache; the issuer must outlive the run.
async fn introspection_variant(issuer: &TestIssuer) -> Variant {
    let introspector = Introspector::builder()
        .endpoint(issuer.introspection_endpoint())
        .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET)
        .cache_ttl(Duration::from_secs(600))
        .build()
        .expect("introspector");
    let auth = Authenticator::builder().introspection(introspector).build().expect("authenticator");
    let exp = tower_auth::clock::unix_seconds(std::time::SystemTime::now()) + 3600;
    let token = issuer.issue_opaque_token("orders:read", exp);
    Variant {
        name: "opaque token, introspection, warm cache",
        router: Router::new().route("/orders", get(hello_principal)).layer(auth_layer(auth)),
        authorization: Some(format!("Bearer {token}")),
    }
}

async fn variants(issuer: &TestIssuer) -> Vec<Variant> {
    vec![
        Variant { name: "no auth (baseline)", router: Router::new().route("/orders", get(hello)), authorization: None },
        jwt_variant("JWT ES256, warm cache", Algorithm::ES256, 10_000),
        jwt_variant("JWT RS256, warm cache", Algorithm::RS256, 10_000),
        jwt_variant("JWT ES256, cache off", Algorithm::ES256, 0),
        jwt_variant("JWT RS256, cache off", Algorithm::RS256, 0),
        api_key_variant().await,
        introspection_variant(issuer).await,
    ]
}

/// One keep-alive connection sending requests until `stop`; returns the number of 200 answers.
async fn connection(
    addr: SocketAddr,
    authorization: Option<Arc<str>>,
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
) -> u64 {
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        errors.fetch_add(1, Ordering::Relaxed);
        return 0;
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
        errors.fetch_add(1, Ordering::Relaxed);
        return 0;
    };
    tokio::spawn(conn);
    let mut ok = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut request = http::Request::builder().uri("/orders").header("host", "127.0.0.1");
        if let Some(value) = &authorization {
            let name = if value.contains(' ') { "authorization" } else { "x-api-key" };
            request = request.header(name, value.as_ref());
        }
        let Ok(request) = request.body(Empty::<Bytes>::new()) else { break };
        if sender.ready().await.is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
        match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                if response.into_body().collect().await.is_err() || status != 200 {
                    errors.fetch_add(1, Ordering::Relaxed);
                } else {
                    ok += 1;
                }
            }
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    ok
}

/// A started server of one configuration.
struct Running {
    name: &'static str,
    addr: SocketAddr,
    authorization: Option<Arc<str>>,
    server: tokio::task::JoinHandle<()>,
}

async fn start(variant: Variant) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, variant.router.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    Running { name: variant.name, addr, authorization: variant.authorization.map(Into::into), server }
}

/// Drives one server for `seconds`; returns requests per second and the errors seen.
async fn drive(running: &Running, seconds: u64, connections: usize) -> (f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection(running.addr, running.authorization.clone(), stop.clone(), errors.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0u64;
    for task in tasks {
        total += task.await.unwrap_or(0);
    }
    (total as f64 / start.elapsed().as_secs_f64(), errors.load(Ordering::Relaxed))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn arg(args: &[String], name: &str, default: u64, max: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .clamp(1, max)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = arg(&args, "--seconds", 5, 60);
    let connections = usize::try_from(arg(&args, "--connections", 32, 256)).unwrap_or(32);
    let rounds = usize::try_from(arg(&args, "--rounds", 3, 10)).unwrap_or(3);
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await;
    let mut servers = Vec::new();
    for variant in variants(&issuer).await {
        servers.push(start(variant).await);
    }
    // Warm-up: every server once, briefly, so caches are in their steady state before measuring.
    for running in &servers {
        drive(running, 1, 4).await;
    }
    // Interleaved rounds: each round measures every configuration, the baseline first; a ratio is
    // taken against the baseline of its own round, and the table shows the median over rounds.
    let mut ratios = vec![Vec::new(); servers.len()];
    let mut rates = vec![Vec::new(); servers.len()];
    let mut errors = vec![0u64; servers.len()];
    for _ in 0..rounds {
        let mut baseline = 0.0;
        for (i, running) in servers.iter().enumerate() {
            let (rps, errs) = drive(running, seconds, connections).await;
            if i == 0 {
                baseline = rps;
            }
            rates[i].push(rps);
            ratios[i].push(rps / baseline);
            errors[i] += errs;
        }
    }
    println!(
        "# load: {connections} keep-alive connections, {seconds} s per configuration, {rounds} interleaved rounds, 127.0.0.1\n"
    );
    println!("| configuration | req/s (median) | vs no auth, same round (median) | errors |");
    println!("|---|---:|---:|---:|");
    for (i, running) in servers.iter().enumerate() {
        println!("| {} | {:.0} | {:.2} | {} |", running.name, median(&mut rates[i]), median(&mut ratios[i]), errors[i]);
    }
    for running in servers {
        running.server.abort();
    }
}
