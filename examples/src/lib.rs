//! Shared set-up of the demo servers: the quickstart contract (environment variables, embedded
//! issuer, printed lines, `/me` document), used by the axum `quickstart` and its actix-web twin.

use std::io::Write as _;
use std::net::SocketAddr;

use serde_json::{Value, json};
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::testkit::LocalIssuer;
use tower_auth::{Authenticator, Principal};

/// The default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// The default required audience.
pub const DEFAULT_AUDIENCE: &str = "https://api.tower-auth.test";
/// The realm of challenges.
pub const REALM: &str = "tower-auth";

/// Contract variables whose mechanisms this build does not implement yet: a set one is reported
/// on standard error at start-up rather than silently ignored.
const NOT_YET_SUPPORTED: &[&str] = &[
    "TOWER_AUTH_INTROSPECTION_CLIENT_ID",
    "TOWER_AUTH_INTROSPECTION_CLIENT_SECRET",
    "TOWER_AUTH_INTROSPECTION_CACHE_TTL",
    "TOWER_AUTH_API_KEYS",
    "TOWER_AUTH_RATE_LIMIT",
    "TOWER_AUTH_FAILED_AUTH_LIMIT",
    "TOWER_AUTH_DPOP_NONCE",
    "TOWER_AUTH_PUBLIC_URL",
    "TOWER_AUTH_TRUSTED_PROXIES",
    "TOWER_AUTH_REDIS_URL",
    "TOWER_AUTH_DATABASE_URL",
    "TOWER_AUTH_TLS_CERT",
    "TOWER_AUTH_TLS_KEY",
    "TOWER_AUTH_TLS_CLIENT_CA",
];

/// The quickstart's configuration, from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TOWER_AUTH_ADDR`.
    pub addr: String,
    /// `TOWER_AUTH_ISSUER`; `None` = the embedded issuer.
    pub issuer: Option<String>,
    /// `TOWER_AUTH_AUDIENCE`.
    pub audience: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Self {
        for name in NOT_YET_SUPPORTED {
            if var(name).is_some() {
                eprintln!("warning: {name} is set but this build does not support it yet; ignoring it");
            }
        }
        Self {
            addr: var("TOWER_AUTH_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
            issuer: var("TOWER_AUTH_ISSUER").map(|i| i.trim().to_owned()),
            audience: var("TOWER_AUTH_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned()),
        }
    }
}

/// What the server needs once its listener is bound.
#[derive(Debug)]
pub struct Setup {
    /// The authentication engine.
    pub authenticator: Authenticator,
    /// The embedded issuer, when no `TOWER_AUTH_ISSUER` is set.
    pub embedded: Option<LocalIssuer>,
    /// The origin the server is reachable at, `http://HOST:PORT`.
    pub origin: String,
}

/// Builds the engine for a server bound at `bound`.
pub fn setup(config: &Config, bound: SocketAddr) -> Result<Setup, tower_auth::ConfigError> {
    let origin = format!("http://{bound}");
    let (issuer, embedded) = match &config.issuer {
        Some(url) => (Issuer::discover(url.clone()), None),
        None => {
            let local = LocalIssuer::new(origin.clone());
            local.set_default_audience(config.audience.clone());
            (Issuer::with_jwks(local.issuer(), local.jwks_json()), Some(local))
        }
    };
    let validator = JwtValidator::builder().issuer(issuer).audience(config.audience.clone()).build()?;
    let authenticator = Authenticator::builder().jwt(validator).realm(REALM).build()?;
    Ok(Setup { authenticator, embedded, origin })
}

impl Setup {
    /// Prints the contract lines: `TOKEN …` and `ADMIN_TOKEN …` (embedded mode), then `LISTENING …`.
    pub fn print_banner(&self) {
        let mut out = std::io::stdout().lock();
        if let Some(local) = &self.embedded {
            let token = local
                .token()
                .subject("demo-user")
                .claim("client_id", "quickstart")
                .scope("orders:read")
                .expires_in(12 * 3600)
                .sign();
            let admin = local
                .token()
                .subject("demo-admin")
                .claim("client_id", "quickstart")
                .scope("orders:read orders:write admin")
                .expires_in(12 * 3600)
                .sign();
            let _ = writeln!(out, "TOKEN {token}");
            let _ = writeln!(out, "ADMIN_TOKEN {admin}");
        }
        let _ = writeln!(out, "LISTENING {}", self.origin);
        let _ = out.flush();
    }

    /// The embedded issuer's discovery document, when there is one.
    pub fn discovery_document(&self) -> Option<Value> {
        self.embedded.as_ref().map(|local| {
            json!({
                "issuer": local.issuer(),
                "jwks_uri": format!("{}/.well-known/jwks.json", self.origin),
                "id_token_signing_alg_values_supported": ["ES256"],
            })
        })
    }

    /// The embedded issuer's JWKS, when there is one.
    pub fn jwks(&self) -> Option<Value> {
        self.embedded.as_ref().map(LocalIssuer::jwks)
    }
}

/// The `/me` document: `sub`, `client_id`, `scopes`, `kind`, `bound`.
pub fn me_document(principal: &Principal) -> Value {
    json!({
        "sub": principal.subject(),
        "client_id": principal.client_id(),
        "scopes": principal.scopes(),
        "kind": principal.mechanism().as_str(),
        "bound": principal.binding().map(|b| b.as_str()),
    })
}

/// Logs to standard error, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}
