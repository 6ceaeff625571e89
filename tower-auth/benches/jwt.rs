//! JWT validation cost per algorithm: cold (signature checked), warm (verified-token cache hit),
//! next to a raw `jsonwebtoken::decode` of the same token, and the whole `AuthLayer` next to a
//! no-auth baseline service.
//!
//! `cargo bench -p tower-auth --features test-util --bench jwt` runs the criterion groups, then
//! prints a summary table of ratios measured in the same run.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use http::{Request, Response};
use tower::{Service, ServiceBuilder, ServiceExt as _};
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::testkit::LocalIssuer;
use tower_auth::{AuthLayer, Authenticator};

mod common;
use common::{measure, ready};

const AUD: &str = "https://api.bench";
const ALGS: [Algorithm; 5] = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];

struct Case {
    alg: Algorithm,
    token: String,
    cold: JwtValidator,
    warm: JwtValidator,
    raw_key: jsonwebtoken::DecodingKey,
    raw_validation: jsonwebtoken::Validation,
}

fn validator(issuer: &LocalIssuer, cache: u64) -> JwtValidator {
    JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUD)
        .cache_capacity(cache)
        .build()
        .expect("validator")
}

fn cases() -> Vec<Case> {
    let issuer = LocalIssuer::with_algorithms("https://issuer.bench", &ALGS);
    ALGS.iter()
        .map(|&alg| {
            let token = issuer.token().alg(alg).audience(AUD).scope("orders:read orders:write").sign();
            let kid = issuer.kid_for(alg).expect("kid");
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(issuer.public_jwk(&kid).expect("jwk")).expect("jwk");
            let raw_key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
            let raw_alg: jsonwebtoken::Algorithm = alg.as_str().parse().expect("alg");
            let mut raw_validation = jsonwebtoken::Validation::new(raw_alg);
            raw_validation.set_audience(&[AUD]);
            raw_validation.set_issuer(&[issuer.issuer()]);
            let warm = validator(&issuer, 10_000);
            ready(warm.validate(&token)).expect("valid token");
            Case { alg, token, cold: validator(&issuer, 0), warm, raw_key, raw_validation }
        })
        .collect()
}

fn raw_decode(case: &Case) {
    let data = jsonwebtoken::decode::<serde_json::Value>(&case.token, &case.raw_key, &case.raw_validation);
    black_box(data.expect("raw decode"));
}

fn bench_jwt(c: &mut Criterion, cases: &[Case]) {
    for case in cases {
        let mut group = c.benchmark_group(format!("jwt/{}", case.alg));
        group.bench_function("raw jsonwebtoken::decode", |b| b.iter(|| raw_decode(case)));
        group.bench_function("cold (signature checked)", |b| {
            b.iter(|| black_box(ready(case.cold.validate(black_box(&case.token))).expect("valid")))
        });
        group.bench_function("warm (cache hit)", |b| {
            b.iter(|| black_box(ready(case.warm.validate(black_box(&case.token))).expect("valid")))
        });
        group.finish();
    }
}

fn summary(cases: &[Case]) {
    println!("\n## JWT validation, same run (median of 7 rounds)\n");
    println!("| alg | raw decode | cold | cold / raw | warm (cache hit) | raw / warm |");
    println!("|---|---:|---:|---:|---:|---:|");
    for case in cases {
        let iters =
            if matches!(case.alg, Algorithm::RS256 | Algorithm::PS256 | Algorithm::EdDSA) { 2_000 } else { 500 };
        let raw = measure(iters, 7, || raw_decode(case));
        let cold = measure(iters, 7, || {
            black_box(ready(case.cold.validate(&case.token)).expect("valid"));
        });
        let warm = measure(50_000, 7, || {
            black_box(ready(case.warm.validate(&case.token)).expect("valid"));
        });
        println!(
            "| {} | {:.1} µs | {:.1} µs | {:.2}× | {:.2} µs | {:.0}× |",
            case.alg,
            raw / 1e3,
            cold / 1e3,
            cold / raw,
            warm / 1e3,
            raw / warm
        );
    }

    // The whole layer: request in, response out, against the same service without authentication.
    let issuer = LocalIssuer::new("https://issuer.bench");
    let auth = Authenticator::builder().jwt(validator(&issuer, 10_000)).build().expect("auth");
    let token = format!("Bearer {}", issuer.token().audience(AUD).sign());
    let handler = |_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::from("ok"))) };
    let mut baseline = ServiceBuilder::new().service_fn(handler);
    let mut authed = ServiceBuilder::new().layer(AuthLayer::new(auth)).service_fn(handler);
    let request = || {
        Request::builder().uri("/orders").header("authorization", token.as_str()).body(String::new()).expect("request")
    };
    let base_ns = measure(50_000, 7, || {
        black_box(ready(ready(baseline.ready()).expect("ready").call(request())).expect("response"));
    });
    let auth_ns = measure(50_000, 7, || {
        let response = ready(ready(authed.ready()).expect("ready").call(request())).expect("response");
        assert_eq!(response.status(), 200);
        black_box(response);
    });
    println!("\n## AuthLayer, ES256 token, warm cache, same run\n");
    println!("| service | per request | vs no auth |");
    println!("|---|---:|---:|");
    println!("| no auth (baseline) | {:.2} µs | 1.00 |", base_ns / 1e3);
    println!("| AuthLayer (JWT, warm) | {:.2} µs | +{:.2} µs |", auth_ns / 1e3, (auth_ns - base_ns) / 1e3);
}

fn main() {
    let cases = cases();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_jwt(&mut criterion, &cases);
    criterion.final_summary();
    summary(&cases);
}
