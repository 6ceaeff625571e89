//! The load harness's peer server for `jwt-authorizer`: `GET /orders` answers `hello {sub}` for a
//! token that its authorization layer accepts — the key of the harness's JWKS (ES256), `iss`, `aud`
//! and `exp` checked — and 401 otherwise.
//!
//! ```text
//! peer-jwt-authorizer --jwks FILE --issuer ISS --audience AUD
//! ```
//!
//! Listens on 127.0.0.1 (a free port) with one thread, prints `LISTENING http://127.0.0.1:PORT`,
//! and exits when its standard input closes (the harness holds it).

use std::io::{Read as _, Write as _};

use axum::Router;
use axum::routing::get;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, RegisteredClaims, Validation};

async fn hello(JwtClaims(claims): JwtClaims<RegisteredClaims>) -> String {
    format!("hello {}", claims.sub.unwrap_or_default())
}

fn option(args: &[String], name: &str) -> Result<String, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .ok_or_else(|| format!("{name} is required"))
}

async fn app(args: &[String]) -> Result<Router, String> {
    let jwks = std::fs::read_to_string(option(args, "--jwks")?).map_err(|e| e.to_string())?;
    // No `algs`: the algorithm of the key (ES256) is the only one accepted.
    let validation = Validation::new().iss(&[option(args, "--issuer")?]).aud(&[option(args, "--audience")?]);
    let authorizer: Authorizer<RegisteredClaims> =
        JwtAuthorizer::from_jwks_text(&jwks).validation(validation).build().await.map_err(|e| e.to_string())?;
    Ok(Router::new().route("/orders", get(hello)).layer(authorizer.into_layer()))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let app = app(&args).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "LISTENING http://{addr}");
        let _ = out.flush();
        drop(out);
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}
