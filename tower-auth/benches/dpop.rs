//! DPoP cost: proof verification next to a raw ES256 verify of the same proof, and a DPoP request
//! through the engine next to a plain (warm-cache) JWT request.
//!
//! `cargo bench -p tower-auth --features test-util --bench dpop` runs the criterion groups, then
//! prints a summary table of ratios measured in the same run. Proofs are unique (a proof is accepted
//! once), made before each measurement; signing is never timed.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion};
use tower_auth::dpop::Dpop;
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::testkit::{DpopKey, LocalIssuer};
use tower_auth::{Authenticator, Principal};

const AUD: &str = "https://api.bench";
const URL: &str = "https://api.bench/orders";

/// Polls a future that completes without waiting (static keys, in-memory store) to its output.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the benchmarked future waited on I/O"),
    }
}

struct Bench {
    key: DpopKey,
    bound: String,
    dpop: Dpop,
    auth: Authenticator,
    bearer_request: http::request::Parts,
}

impl Bench {
    fn new() -> Self {
        let issuer = LocalIssuer::new("https://issuer.bench");
        issuer.set_default_audience(AUD);
        let key = DpopKey::generate(Algorithm::ES256);
        let bound = issuer.token().dpop_bound(&key).scope("orders:read").sign();
        let plain = issuer.token().scope("orders:read").sign();
        let jwt = JwtValidator::builder()
            .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
            .audience(AUD)
            .build()
            .expect("validator");
        let dpop = Dpop::builder().public_origin("https://api.bench").build().expect("dpop");
        let auth = Authenticator::builder().jwt(jwt).dpop(dpop.clone()).build().expect("engine");
        let bearer_request = request(&format!("Bearer {plain}"), None);
        // Warm the verified-token cache for both tokens.
        ready(auth.authenticate(&bearer_request)).expect("bearer");
        let bench = Self { key, bound, dpop, auth, bearer_request };
        ready(bench.auth.authenticate(&bench.dpop_request())).expect("dpop");
        bench
    }

    fn proof(&self) -> String {
        self.key.proof("GET", URL, Some(&self.bound), None)
    }

    fn dpop_request(&self) -> http::request::Parts {
        request(&format!("DPoP {}", self.bound), Some(&self.proof()))
    }

    fn dpop_requests(&self, n: usize) -> Vec<http::request::Parts> {
        (0..n).map(|_| self.dpop_request()).collect()
    }
}

fn request(authorization: &str, proof: Option<&str>) -> http::request::Parts {
    let mut req = http::Request::get("/orders").header("authorization", authorization);
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    req.body(()).expect("request").into_parts().0
}

/// What a raw verify needs: the P-256 point of the proof's `jwk`, the signing input, the signature.
struct Raw {
    point: Vec<u8>,
    input: Vec<u8>,
    signature: Vec<u8>,
}

impl Raw {
    fn of(key: &DpopKey, proof: &str) -> Self {
        let jwk = key.public_jwk();
        let coordinate =
            |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().expect("coordinate")).expect("base64url");
        let mut point = vec![4u8];
        point.extend(coordinate("x"));
        point.extend(coordinate("y"));
        let (input, signature) = proof.rsplit_once('.').expect("JWS");
        Self {
            point,
            input: input.as_bytes().to_vec(),
            signature: URL_SAFE_NO_PAD.decode(signature).expect("signature"),
        }
    }

    fn verify(&self) {
        let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.point);
        key.verify(&self.input, &self.signature).expect("raw verify");
    }
}

fn verify_proof(bench: &Bench, parts: &http::request::Parts) {
    black_box(ready(bench.dpop.verify(parts, Some(&bench.bound))).expect("valid proof"));
}

fn authenticate(bench: &Bench, parts: &http::request::Parts) -> Principal {
    ready(bench.auth.authenticate(parts)).expect("authenticated").expect("principal")
}

fn bench_dpop(c: &mut Criterion, bench: &Bench) {
    let raw = Raw::of(&bench.key, &bench.proof());
    let mut group = c.benchmark_group("dpop/ES256");
    group.bench_function("raw ES256 verify of a proof", |b| b.iter(|| raw.verify()));
    group.bench_function("Dpop::verify (all checks, replay store)", |b| {
        b.iter_batched(|| bench.dpop_request(), |parts| verify_proof(bench, &parts), BatchSize::SmallInput)
    });
    group.bench_function("JWT request, warm cache", |b| {
        b.iter(|| black_box(authenticate(bench, &bench.bearer_request)))
    });
    group.bench_function("DPoP request, warm token cache", |b| {
        b.iter_batched(|| bench.dpop_request(), |parts| black_box(authenticate(bench, &parts)), BatchSize::SmallInput)
    });
    group.finish();
}

/// Median nanoseconds per call over `rounds` rounds of `iters` calls; `f` gets the call's index.
fn measure(iters: usize, rounds: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut n = 0;
    for _ in 0..iters / 4 {
        f(n);
        n += 1;
    }
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f(n);
                n += 1;
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

fn summary(bench: &Bench) {
    const ITERS: usize = 400;
    const ROUNDS: usize = 7;
    let total = ITERS / 4 + ITERS * ROUNDS;
    let raws: Vec<Raw> = (0..total).map(|_| Raw::of(&bench.key, &bench.proof())).collect();
    let raw = measure(ITERS, ROUNDS, |i| raws[i].verify());
    let proofs = bench.dpop_requests(total);
    let verify = measure(ITERS, ROUNDS, |i| verify_proof(bench, &proofs[i]));
    let jwt = measure(20 * ITERS, ROUNDS, |_| {
        black_box(authenticate(bench, &bench.bearer_request));
    });
    let requests = bench.dpop_requests(total);
    let dpop = measure(ITERS, ROUNDS, |i| {
        black_box(authenticate(bench, &requests[i]));
    });
    println!("\n## DPoP, ES256, same run (median of {ROUNDS} rounds)\n");
    println!("| measurement | per call | ratio |");
    println!("|---|---:|---:|");
    println!("| raw ES256 verify of the proof (aws-lc-rs) | {:.1} µs | 1.00× raw |", raw / 1e3);
    println!("| `Dpop::verify`: all checks + replay store | {:.1} µs | {:.2}× raw |", verify / 1e3, verify / raw);
    println!("| plain JWT request (`Bearer`, warm cache) | {:.2} µs | — |", jwt / 1e3);
    println!(
        "| DPoP request (token cached, proof checked) | {:.1} µs | {:.1}× JWT request, {:.2}× (JWT request + raw) |",
        dpop / 1e3,
        dpop / jwt,
        dpop / (jwt + raw)
    );
    println!(
        "\nOverhead beyond the one ES256 verify: proof checks {:+.1}% of a raw verify; whole DPoP request {:+.1}% of (JWT request + raw verify). Target ≤ 15%.",
        (verify / raw - 1.0) * 100.0,
        (dpop / (jwt + raw) - 1.0) * 100.0
    );
}

fn main() {
    let bench = Bench::new();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_dpop(&mut criterion, &bench);
    criterion.final_summary();
    summary(&bench);
}
