//! The load harness's peer server for `axum-jwt-auth`: `GET /orders` answers `hello {sub}` for a
//! token that `axum_jwt_auth::LocalDecoder` accepts — ES256 with the key of the harness's JWKS,
//! `iss`, `aud` and `exp` checked — and 401 otherwise.
//!
//! ```text
//! peer-axum-jwt-auth --jwks FILE --issuer ISS --audience AUD
//! ```
//!
//! Listens on 127.0.0.1 (a free port) with one thread, prints `LISTENING http://127.0.0.1:PORT`,
//! and exits when its standard input closes (the harness holds it).

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use axum_jwt_auth::{Claims, Decoder, LocalDecoder};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
struct TokenClaims {
    sub: String,
}

async fn hello(user: Claims<TokenClaims>) -> String {
    format!("hello {}", user.claims.sub)
}

fn option(args: &[String], name: &str) -> Result<String, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .ok_or_else(|| format!("{name} is required"))
}

fn decoder(args: &[String]) -> Result<Decoder<TokenClaims>, String> {
    let jwks = std::fs::read_to_string(option(args, "--jwks")?).map_err(|e| e.to_string())?;
    let set: JwkSet = serde_json::from_str(&jwks).map_err(|e| e.to_string())?;
    let keys = set.keys.iter().map(DecodingKey::from_jwk).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[option(args, "--issuer")?]);
    validation.set_audience(&[option(args, "--audience")?]);
    let decoder = LocalDecoder::builder().keys(keys).validation(validation).build().map_err(|e| e.to_string())?;
    Ok(Arc::new(decoder))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let app = Router::new().route("/orders", get(hello)).with_state(decoder(&args)?);
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "LISTENING http://{addr}");
        let _ = out.flush();
        drop(out);
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}
