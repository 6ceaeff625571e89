//! The server side of the harness: `loadtest serve <mode> …` starts one configuration of the small
//! `GET /orders` handler on 127.0.0.1, prints `LISTENING http://127.0.0.1:PORT` and serves until it
//! is killed or its standard input closes (so a server never outlives the harness that started it).
//!
//! Every server runs on one thread (a current-thread Tokio runtime for axum, one actix-web worker),
//! the same as the peer servers under `bench/peers/`, so a row measures one core's worth of work.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_auth::Authenticator;
use tower_auth::apikey::{ApiKeyStore as _, ApiKeys, FileStore, MemoryStore};
use tower_auth::dpop::{Dpop, MemoryReplayStore};
use tower_auth::introspection::Introspector;
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::ratelimit::{Quota, RateLimiter};
use tower_auth::testkit::TestIssuer;
use tower_auth_axum::{Principal, auth_layer, rate_limit_layer};

use crate::Mode;

/// What a server needs besides its mode: the files and addresses the harness prepared.
#[derive(Debug, Default)]
pub(crate) struct ServeArgs {
    /// The issuer's JWKS (public keys only).
    pub(crate) jwks: Option<PathBuf>,
    /// The issuer (`iss`) tokens must name.
    pub(crate) issuer: Option<String>,
    /// The audience (`aud`) tokens must name.
    pub(crate) audience: Option<String>,
    /// The RFC 7662 endpoint of the harness's test issuer.
    pub(crate) introspection: Option<String>,
    /// A key-records file (hashed secrets) holding the API key of the run.
    pub(crate) api_keys: Option<PathBuf>,
    /// Capacity of the DPoP replay store: at least the number of proofs the run sends.
    pub(crate) replay_capacity: Option<usize>,
}

impl ServeArgs {
    /// Reads `--name value` pairs.
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let mut out = Self::default();
        let mut it = args.iter();
        while let Some(name) = it.next() {
            let value = it.next().ok_or_else(|| format!("{name} needs a value"))?.clone();
            match name.as_str() {
                "--jwks" => out.jwks = Some(value.into()),
                "--issuer" => out.issuer = Some(value),
                "--audience" => out.audience = Some(value),
                "--introspection" => out.introspection = Some(value),
                "--api-keys" => out.api_keys = Some(value.into()),
                "--replay-capacity" => {
                    out.replay_capacity = Some(value.parse().map_err(|_| format!("--replay-capacity {value:?}"))?);
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(out)
    }

    fn required<'a, T>(value: &'a Option<T>, name: &str) -> Result<&'a T, String> {
        value.as_ref().ok_or_else(|| format!("this mode needs {name}"))
    }

    fn validator(&self, cache_capacity: u64) -> Result<JwtValidator, String> {
        let jwks = std::fs::read_to_string(Self::required(&self.jwks, "--jwks")?).map_err(|e| e.to_string())?;
        let issuer = Self::required(&self.issuer, "--issuer")?;
        JwtValidator::builder()
            .issuer(Issuer::with_jwks(issuer.clone(), jwks))
            .audience(Self::required(&self.audience, "--audience")?.clone())
            .cache_capacity(cache_capacity)
            .build()
            .map_err(|e| e.to_string())
    }
}

async fn hello() -> &'static str {
    "hello"
}

async fn hello_principal(Principal(p): Principal) -> String {
    format!("hello {}", p.subject())
}

async fn hello_actix() -> &'static str {
    "hello"
}

async fn hello_principal_actix(p: tower_auth_actix::Principal) -> String {
    format!("hello {}", p.subject())
}

/// `jsonwebtoken::decode` (aws-lc-rs backend) of the bearer token in the handler, with the same
/// checks as the JWT rows (ES256 only, `iss`, `aud`, `exp`): the reference cost of one verification.
struct RawDecoder {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

async fn raw_decode(State(decoder): State<Arc<RawDecoder>>, headers: HeaderMap) -> Response {
    let token =
        headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else { return StatusCode::UNAUTHORIZED.into_response() };
    match jsonwebtoken::decode::<serde_json::Value>(token, &decoder.key, &decoder.validation) {
        Ok(data) => format!("hello {}", data.claims["sub"].as_str().unwrap_or_default()).into_response(),
        Err(_) => StatusCode::UNAUTHORIZED.into_response(),
    }
}

fn raw_decoder(args: &ServeArgs) -> Result<RawDecoder, String> {
    let jwks = std::fs::read_to_string(ServeArgs::required(&args.jwks, "--jwks")?).map_err(|e| e.to_string())?;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks).map_err(|e| e.to_string())?;
    let jwk = set.keys.first().ok_or("the JWKS has no key")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ServeArgs::required(&args.issuer, "--issuer")?]);
    validation.set_audience(&[ServeArgs::required(&args.audience, "--audience")?]);
    Ok(RawDecoder { key, validation })
}

/// The API keys of the run: the records of the harness's key file, served from memory.
async fn api_keys(args: &ServeArgs) -> Result<ApiKeys, String> {
    let file =
        FileStore::open(ServeArgs::required(&args.api_keys, "--api-keys")?.clone()).map_err(|e| e.to_string())?;
    let memory = MemoryStore::new();
    for record in file.list().await.map_err(|e| e.to_string())? {
        memory.insert_record(record).map_err(|e| e.to_string())?;
    }
    ApiKeys::builder().store(memory).build().map_err(|e| e.to_string())
}

/// The axum application of `mode`, for a server reachable at `origin`.
async fn axum_router(mode: Mode, args: &ServeArgs, origin: &str) -> Result<Router, String> {
    let protected = |auth: Authenticator| Router::new().route("/orders", get(hello_principal)).layer(auth_layer(auth));
    let built = |b: tower_auth::AuthenticatorBuilder| b.build().map_err(|e| e.to_string());
    Ok(match mode {
        // The control row sends a bearer token this server never reads: the cost of carrying it.
        Mode::NoAuth | Mode::NoAuthHeader => Router::new().route("/orders", get(hello)),
        Mode::JwtWarm => protected(built(Authenticator::builder().jwt(args.validator(10_000)?))?),
        Mode::JwtCold => protected(built(Authenticator::builder().jwt(args.validator(0)?))?),
        Mode::RawDecode => Router::new().route("/orders", get(raw_decode)).with_state(Arc::new(raw_decoder(args)?)),
        Mode::Introspection => {
            let introspector = Introspector::builder()
                .endpoint(ServeArgs::required(&args.introspection, "--introspection")?.clone())
                .client_credentials(TestIssuer::INTROSPECTION_CLIENT_ID, TestIssuer::INTROSPECTION_CLIENT_SECRET)
                .cache_ttl(Duration::from_secs(600))
                .build()
                .map_err(|e| e.to_string())?;
            protected(built(Authenticator::builder().introspection(introspector))?)
        }
        Mode::ApiKey => protected(built(Authenticator::builder().api_keys(api_keys(args).await?))?),
        Mode::Dpop => {
            let capacity = args.replay_capacity.unwrap_or(MemoryReplayStore::DEFAULT_CAPACITY);
            let dpop = Dpop::builder()
                .public_origin(origin)
                .replay_store(MemoryReplayStore::new(capacity))
                .build()
                .map_err(|e| e.to_string())?;
            protected(built(Authenticator::builder().jwt(args.validator(10_000)?).dpop(dpop))?)
        }
        Mode::RateLimit => {
            // Far above what one core can serve: the limiter is consulted on every request and
            // never refuses. Anonymous requests are partitioned by client address.
            let quota = Quota::per_second(10_000_000).burst(10_000_000);
            let limiter = RateLimiter::builder().quota(quota).build().map_err(|e| e.to_string())?;
            Router::new().route("/orders", get(hello)).layer(rate_limit_layer(limiter))
        }
        Mode::ActixNoAuth | Mode::ActixJwtWarm | Mode::PeerAxumJwtAuth | Mode::PeerJwtAuthorizer => {
            return Err(format!("{} is not an axum mode of this binary", mode.key()));
        }
    })
}

/// Ends the process when standard input reaches its end: the harness holds the other end.
fn exit_with_parent() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "LISTENING http://{addr}");
    let _ = out.flush();
}

/// Runs the server of `mode` until killed; returns an error message if it cannot start.
pub(crate) fn serve(mode: Mode, args: &ServeArgs) -> Result<(), String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    exit_with_parent();
    match mode {
        Mode::ActixNoAuth | Mode::ActixJwtWarm => serve_actix(mode, args, listener, addr),
        _ => {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let router = axum_router(mode, args, &format!("http://{addr}")).await?;
                listener.set_nonblocking(true).map_err(|e| e.to_string())?;
                let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
                announce(addr);
                axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                    .await
                    .map_err(|e| e.to_string())
            })
        }
    }
}

fn serve_actix(mode: Mode, args: &ServeArgs, listener: std::net::TcpListener, addr: SocketAddr) -> Result<(), String> {
    use actix_web::{App, HttpServer, web};
    let auth = match mode {
        Mode::ActixJwtWarm => {
            Some(Authenticator::builder().jwt(args.validator(10_000)?).build().map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    actix_web::rt::System::new().block_on(async move {
        let server = match auth {
            Some(auth) => HttpServer::new(move || {
                App::new()
                    .wrap(tower_auth_actix::AuthMiddleware::new(auth.clone()))
                    .route("/orders", web::get().to(hello_principal_actix))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .map_err(|e| e.to_string())?
            .run(),
            None => HttpServer::new(|| App::new().route("/orders", web::get().to(hello_actix)))
                .workers(1)
                .disable_signals()
                .listen(listener)
                .map_err(|e| e.to_string())?
                .run(),
        };
        announce(addr);
        server.await.map_err(|e| e.to_string())
    })
}
