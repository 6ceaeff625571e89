//! DPoP cost: proof verification next to a raw ES256 verify of the same proof, and a DPoP request
//! through the engine next to a plain (warm-cache) JWT request.
//!
//! `cargo bench -p tower-auth --features test-util --bench dpop` runs the criterion groups, then
//! prints a summary table of ratios measured in the same run. Proofs are unique (a proof is accepted
//! once), made before each measurement; signing is never timed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion};
use tower_auth::dpop::Dpop;
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::testkit::{DpopKey, LocalIssuer};
use tower_auth::{Authenticator, Principal};

mod common;
use common::ready;

const AUD: &str = "https://api.bench";
const URL: &str = "https://api.bench/orders";

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

/// Nanoseconds per call of `f` over `iters` calls; `f` gets a running index.
fn time(iters: usize, next: &mut usize, mut f: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f(*next);
        *next += 1;
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The four measurements run interleaved, round after round, so that a change of machine load
/// affects all of them alike; ratios are taken per round, then the median is reported.
fn summary(bench: &Bench) {
    const ITERS: usize = 300;
    const ROUNDS: usize = 9;
    let total = ITERS * (ROUNDS + 1);
    let raws: Vec<Raw> = (0..total).map(|_| Raw::of(&bench.key, &bench.proof())).collect();
    let proofs = bench.dpop_requests(total);
    let requests = bench.dpop_requests(total);
    let (mut i_raw, mut i_verify, mut i_dpop, mut i_jwt) = (0, 0, 0, 0);
    let mut rounds: Vec<[f64; 4]> = Vec::with_capacity(ROUNDS);
    for round in 0..=ROUNDS {
        let raw = time(ITERS, &mut i_raw, |i| raws[i].verify());
        let verify = time(ITERS, &mut i_verify, |i| verify_proof(bench, &proofs[i]));
        let jwt = time(20 * ITERS, &mut i_jwt, |_| {
            black_box(authenticate(bench, &bench.bearer_request));
        });
        let dpop = time(ITERS, &mut i_dpop, |i| {
            black_box(authenticate(bench, &requests[i]));
        });
        if round > 0 {
            // Round 0 warms up.
            rounds.push([raw, verify, jwt, dpop]);
        }
    }
    let col = |k: usize| median(rounds.iter().map(|r| r[k]).collect());
    let ratio = |f: &dyn Fn(&[f64; 4]) -> f64| median(rounds.iter().map(f).collect());
    let (raw, verify, jwt, dpop) = (col(0), col(1), col(2), col(3));
    let verify_raw = ratio(&|r| r[1] / r[0]);
    let dpop_jwt = ratio(&|r| r[3] / r[2]);
    let dpop_both = ratio(&|r| r[3] / (r[2] + r[0]));
    println!("\n## DPoP, ES256, same run ({ROUNDS} interleaved rounds, medians)\n");
    println!("| measurement | per call | ratio |");
    println!("|---|---:|---:|");
    println!("| raw ES256 verify of the proof (aws-lc-rs) | {:.1} µs | 1.00× raw |", raw / 1e3);
    println!("| `Dpop::verify`: all checks + replay store | {:.1} µs | {verify_raw:.2}× raw |", verify / 1e3);
    println!("| plain JWT request (`Bearer`, warm cache) | {:.2} µs | — |", jwt / 1e3);
    println!(
        "| DPoP request (token cached, proof checked) | {:.1} µs | {dpop_jwt:.1}× JWT request, {dpop_both:.2}× (JWT request + raw) |",
        dpop / 1e3
    );
    println!(
        "\nOverhead beyond the one ES256 verify: proof checks {:+.1}% of a raw verify; whole DPoP request {:+.1}% of (JWT request + raw verify). Target ≤ 15%.",
        (verify_raw - 1.0) * 100.0,
        (dpop_both - 1.0) * 100.0
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
