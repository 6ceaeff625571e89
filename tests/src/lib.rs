//! Cross-framework test harness for tower-auth: the same routes served by axum 0.8 and by
//! actix-web 4 over real HTTP on 127.0.0.1, so one scenario table can run against both.
//!
//! | route | protection | answer |
//! |---|---|---|
//! | `GET /healthz` | public (outside the authentication) | `ok` |
//! | `GET /me` | any valid credential (`Principal` extractor) | JSON: `sub`, `client_id`, `scopes`, `kind`, `bound` |
//! | `GET /orders` | scope `orders:read` (axum `route_layer(require_all(..))`, actix `RequireScopes` on the resource) | JSON: `orders`, `owner` (from `Claims<T>`) |
//! | `POST /orders` | scope `orders:write` (same mechanisms) | 201, JSON: `created` |
//! | `GET /admin` | scope `admin` (the `Scoped<AdminScope>` extractor) | JSON: `admin` |
//! | `GET /whoami` | only with an optional authenticator (`Option<Principal>`) | JSON: like `/me`, or `{"anonymous": true}` |
//! | `GET /.well-known/oauth-protected-resource…` | public; only when `auth` has [resource metadata](tower_auth::metadata) | the RFC 9728 document (adapters' `protected_resource_metadata`) |
//!
//! ```no_run
//! use tower_auth_tests::{Framework, http_client, serve};
//! # async fn demo(auth: tower_auth::Authenticator) -> std::io::Result<()> {
//! for framework in Framework::ALL {
//!     let server = serve(framework, auth.clone(), None).await?;
//!     let res = http_client().get(server.url("/healthz")).send().await.expect("request");
//!     assert_eq!(res.status(), 200);
//! } // each server stops when its handle is dropped
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tower_auth::{Authenticator, ScopeRequirement, ScopeSet};

mod fault_proxy;
pub use fault_proxy::{FaultProxy, ProxyMode};

/// The web framework serving the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framework {
    /// axum 0.8 with `tower_auth_axum` (`auth_layer`, `require_all`, extractors).
    Axum,
    /// actix-web 4 with `tower_auth_actix` (`AuthMiddleware`, `RequireScopes`, extractors).
    Actix,
}

impl Framework {
    /// Both frameworks, in the order the scenario tables run them.
    pub const ALL: [Framework; 2] = [Framework::Axum, Framework::Actix];

    /// A short name for messages: `axum` or `actix-web`.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Axum => "axum",
            Framework::Actix => "actix-web",
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The scope set of `GET /admin`, checked by the `Scoped<AdminScope>` extractor of each adapter.
#[derive(Debug, Clone, Copy)]
pub struct AdminScope;

impl ScopeSet for AdminScope {
    fn requirement() -> ScopeRequirement {
        ScopeRequirement::all_of(["admin"])
    }
}

/// The claims `GET /orders` reads with the adapters' `Claims<T>` extractor.
#[derive(Debug, Deserialize)]
struct OrderClaims {
    sub: String,
}

/// The JSON both frameworks answer `GET /me` (and `GET /whoami` for a principal) with:
/// `sub`, `client_id`, `scopes` (array), `kind` (the mechanism) and `bound` (`"dpop"`, `"mtls"` or
/// `null`).
pub fn principal_json(principal: &tower_auth::Principal) -> Value {
    json!({
        "sub": principal.subject(),
        "client_id": principal.client_id(),
        "scopes": principal.scopes(),
        "kind": principal.mechanism().as_str(),
        "bound": principal.binding().map(|b| b.as_str()),
    })
}

fn anonymous_json() -> Value {
    json!({ "anonymous": true })
}

/// A running server. Dropping it stops the server.
pub struct TestServer {
    framework: Framework,
    addr: SocketAddr,
    base_url: String,
    stop: Stop,
}

enum Stop {
    Axum(tokio::task::JoinHandle<()>),
    Actix(actix_web::dev::ServerHandle),
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("framework", &self.framework)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// The framework serving.
    pub fn framework(&self) -> Framework {
        self.framework
    }

    /// The address listened on (127.0.0.1, an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        match &self.stop {
            Stop::Axum(task) => task.abort(),
            // The stop command is sent when `stop` is called; its completion future is not needed.
            Stop::Actix(handle) => drop(handle.stop(false)),
        }
    }
}

/// An HTTP client for the test servers: no proxy (everything is on 127.0.0.1), short timeouts.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a reqwest client without proxy")
}

/// Starts the routes of this crate on `framework`, listening on 127.0.0.1:0, and waits until the
/// server answers `GET /healthz`.
///
/// `auth` protects `/me`, `/orders` and `/admin`; `optional` (built with
/// `Authenticator::builder().optional(true)`), when given, protects `GET /whoami`, whose handler
/// takes `Option<Principal>`. Must be called inside a Tokio runtime (axum is spawned on it; actix-web
/// gets a dedicated thread with its own `System`).
pub async fn serve(
    framework: Framework,
    auth: Authenticator,
    optional: Option<Authenticator>,
) -> io::Result<TestServer> {
    let server = match framework {
        Framework::Axum => axum_server::start(auth, optional).await?,
        Framework::Actix => actix_server::start(auth, optional).await?,
    };
    wait_until_up(&server).await?;
    Ok(server)
}

/// Serves with actix-web on a thread of its own (actix-web runs on its own single-threaded
/// `System`), listening on 127.0.0.1:0: `run` builds and starts the server on the listener (one
/// worker, signals disabled, like every server here) on that thread. Returns once the server is
/// bound; its base URL is `scheme://127.0.0.1:PORT`, and dropping the [`TestServer`] stops it.
async fn spawn_actix(
    name: &str,
    scheme: &str,
    run: impl FnOnce(std::net::TcpListener) -> io::Result<actix_web::dev::Server> + Send + 'static,
) -> io::Result<TestServer> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<io::Result<actix_web::dev::ServerHandle>>();
    std::thread::Builder::new().name(format!("{name}-{addr}")).spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = match run(listener) {
                Ok(server) => server,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            if tx.send(Ok(server.handle())).is_err() {
                return;
            }
            let _ = server.await;
        });
    })?;
    let handle = rx.await.map_err(|_| io::Error::other("the actix-web thread ended before starting"))??;
    Ok(TestServer {
        framework: Framework::Actix,
        addr,
        base_url: format!("{scheme}://{addr}"),
        stop: Stop::Actix(handle),
    })
}

/// Serves `app` with axum on the current Tokio runtime, listening on 127.0.0.1:0 (peer addresses
/// reach the handlers as `ConnectInfo<SocketAddr>`). Dropping the [`TestServer`] stops it.
async fn spawn_axum(app: axum::Router) -> io::Result<TestServer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    Ok(TestServer { framework: Framework::Axum, addr, base_url: format!("http://{addr}"), stop: Stop::Axum(task) })
}

async fn wait_until_up(server: &TestServer) -> io::Result<()> {
    wait_until_answers(server, &http_client()).await
}

/// Waits until `client` gets a success from `GET /healthz` of `server`.
async fn wait_until_answers(server: &TestServer, client: &reqwest::Client) -> io::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(res) = client.get(server.url("/healthz")).send().await
            && res.status().is_success()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} server did not come up", server.framework),
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

mod axum_server {
    use super::*;
    use axum::Json;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use tower_auth_axum::{Claims, Principal, Scoped, auth_layer, require_all};

    async fn healthz() -> &'static str {
        "ok"
    }

    async fn me(Principal(p): Principal) -> Json<Value> {
        Json(principal_json(&p))
    }

    async fn list_orders(Claims(claims): Claims<OrderClaims>) -> Json<Value> {
        Json(json!({ "orders": [], "owner": claims.sub }))
    }

    async fn create_order(Principal(p): Principal) -> (StatusCode, Json<Value>) {
        (StatusCode::CREATED, Json(json!({ "created": true, "owner": p.subject() })))
    }

    async fn admin(who: Scoped<AdminScope>) -> Json<Value> {
        Json(json!({ "admin": who.subject() }))
    }

    async fn whoami(who: Option<Principal>) -> Json<Value> {
        Json(who.map_or_else(anonymous_json, |Principal(p)| principal_json(&p)))
    }

    pub(super) async fn start(auth: Authenticator, optional: Option<Authenticator>) -> io::Result<TestServer> {
        let metadata = auth
            .resource_metadata()
            .map(|_| tower_auth_axum::protected_resource_metadata(&auth))
            .transpose()
            .map_err(io::Error::other)?;
        let protected = Router::new()
            .route("/me", get(me))
            .route(
                "/orders",
                get(list_orders)
                    .route_layer(require_all(["orders:read"]))
                    .merge(post(create_order).route_layer(require_all(["orders:write"]))),
            )
            .route("/admin", get(admin))
            .layer(auth_layer(auth));
        let mut app = Router::new().route("/healthz", get(healthz)).merge(protected);
        if let Some(metadata) = metadata {
            app = app.merge(metadata);
        }
        if let Some(optional) = optional {
            app = app.merge(Router::new().route("/whoami", get(whoami)).layer(auth_layer(optional)));
        }
        spawn_axum(app).await
    }
}

mod actix_server {
    use super::*;
    use actix_web::{App, HttpResponse, HttpServer, guard, web};
    use tower_auth_actix::{AuthMiddleware, Claims, Principal, RequireScopes, Scoped};

    async fn healthz() -> &'static str {
        "ok"
    }

    async fn me(who: Principal) -> HttpResponse {
        HttpResponse::Ok().json(principal_json(&who))
    }

    async fn list_orders(Claims(claims): Claims<OrderClaims>) -> HttpResponse {
        HttpResponse::Ok().json(json!({ "orders": [], "owner": claims.sub }))
    }

    async fn create_order(who: Principal) -> HttpResponse {
        HttpResponse::Created().json(json!({ "created": true, "owner": who.subject() }))
    }

    async fn admin(who: Scoped<AdminScope>) -> HttpResponse {
        HttpResponse::Ok().json(json!({ "admin": who.subject() }))
    }

    async fn whoami(who: Option<Principal>) -> HttpResponse {
        HttpResponse::Ok().json(who.map_or_else(anonymous_json, |p| principal_json(&p)))
    }

    pub(super) async fn start(auth: Authenticator, optional: Option<Authenticator>) -> io::Result<TestServer> {
        let metadata = auth
            .resource_metadata()
            .map(|_| tower_auth_actix::protected_resource_metadata(&auth))
            .transpose()
            .map_err(io::Error::other)?;
        spawn_actix("actix-test", "http", move |listener| {
            let factory = move || {
                let mut app = App::new().route("/healthz", web::get().to(healthz));
                if let Some(metadata) = &metadata {
                    app = app.service(metadata.clone());
                }
                if let Some(optional) = &optional {
                    app = app.service(
                        web::resource("/whoami")
                            .wrap(AuthMiddleware::new(optional.clone()))
                            .route(web::get().to(whoami)),
                    );
                }
                // Registered last: the empty-prefix scope matches every remaining path.
                app.service(
                    web::scope("")
                        .wrap(AuthMiddleware::new(auth.clone()))
                        .route("/me", web::get().to(me))
                        .service(
                            web::resource("/orders")
                                .guard(guard::Get())
                                .wrap(RequireScopes::all_of(["orders:read"]))
                                .route(web::get().to(list_orders)),
                        )
                        .service(
                            web::resource("/orders")
                                .guard(guard::Post())
                                .wrap(RequireScopes::all_of(["orders:write"]))
                                .route(web::post().to(create_order)),
                        )
                        .route("/admin", web::get().to(admin)),
                )
            };
            Ok(HttpServer::new(factory).workers(1).disable_signals().listen(listener)?.run())
        })
        .await
    }
}

/// The README's code blocks, compiled as doc tests (they are `no_run`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The role of `GET /reports` on the [authorization servers](serve_authorization), checked by the
/// `Authorized<Reporters>` extractor of each adapter on `GET /reports/by-extractor`.
#[derive(Debug, Clone, Copy)]
pub struct Reporters;

impl tower_auth::AccessRule for Reporters {
    fn authorization() -> tower_auth::Authorization {
        tower_auth::Requirement::role("reporter").into()
    }
}

/// The most a token may age on `GET /fresh` of the [authorization servers](serve_authorization).
pub const FRESH_TOKEN_AGE: Duration = Duration::from_secs(300);

/// Starts the authorization routes on `framework` (127.0.0.1:0), all behind `auth`, and waits until
/// the server answers `GET /healthz`. Give `auth` an issuer with
/// [`roles_from`](tower_auth::jwt::Issuer::roles_from) for the role routes.
///
/// | route | requirement | mechanism (axum / actix-web) | answer |
/// |---|---|---|---|
/// | `GET /healthz` | public | — | `ok` |
/// | `GET /reports` | role `reporter` | `route_layer(authorize(..))` / `Authorize` on the resource | JSON: `reports`, `for` |
/// | `GET /reports/by-extractor` | role `reporter` | the `Authorized<Reporters>` extractor | JSON: `reports`, `for` |
/// | `GET /tenant` | claim `org.tenant` equal to `acme` | layer / middleware | `ok` |
/// | `GET /mfa` | claim `amr` containing `mfa` | layer / middleware | `ok` |
/// | `GET /fresh` | `iat` at most [`FRESH_TOKEN_AGE`] ago | layer / middleware | `ok` |
/// | `GET /bound` | a sender-constrained token | layer / middleware | `ok` |
/// | `GET /scoped-reports` | scope `reports:read` and role `reporter` | layer / middleware | `ok` |
/// | `GET /office` | `policy` (after authentication) | layer / middleware | `ok` |
pub async fn serve_authorization(
    framework: Framework,
    auth: Authenticator,
    policy: tower_auth::Policy,
) -> io::Result<TestServer> {
    let server = match framework {
        Framework::Axum => axum_authorization::start(auth, policy).await?,
        Framework::Actix => actix_authorization::start(auth, policy).await?,
    };
    wait_until_up(&server).await?;
    Ok(server)
}

/// The requirements of the authorization routes other than `/reports` and `/office`.
fn authorization_routes() -> [(&'static str, tower_auth::Requirement); 5] {
    use tower_auth::Requirement;
    [
        ("/tenant", Requirement::claim_equals("org.tenant", "acme")),
        ("/mfa", Requirement::claim_contains("amr", "mfa")),
        ("/fresh", Requirement::max_token_age(FRESH_TOKEN_AGE)),
        ("/bound", Requirement::sender_constrained()),
        ("/scoped-reports", Requirement::all_scopes(["reports:read"]).and(Requirement::role("reporter"))),
    ]
}

fn reports_json(principal: &tower_auth::Principal) -> Value {
    json!({ "reports": [], "for": principal.subject() })
}

mod axum_authorization {
    use super::*;
    use axum::Json;
    use axum::Router;
    use axum::routing::get;
    use tower_auth::{Policy, Requirement};
    use tower_auth_axum::{Authorized, Principal, auth_layer, authorize};

    pub(super) async fn start(auth: Authenticator, policy: Policy) -> io::Result<TestServer> {
        let mut protected = Router::new()
            .route(
                "/reports",
                get(|Principal(p): Principal| async move { Json(reports_json(&p)) })
                    .route_layer(authorize(Requirement::role("reporter"))),
            )
            .route("/reports/by-extractor", get(|who: Authorized<Reporters>| async move { Json(reports_json(&who)) }))
            .route("/office", get(|| async { "ok" }).route_layer(authorize(policy)));
        for (path, requirement) in authorization_routes() {
            protected = protected.route(path, get(|| async { "ok" }).route_layer(authorize(requirement)));
        }
        let app = Router::new().route("/healthz", get(|| async { "ok" })).merge(protected.layer(auth_layer(auth)));
        spawn_axum(app).await
    }
}

mod actix_authorization {
    use super::*;
    use actix_web::{App, HttpResponse, HttpServer, web};
    use tower_auth::{Policy, Requirement};
    use tower_auth_actix::{AuthMiddleware, Authorize, Authorized, Principal};

    async fn reports(who: Principal) -> HttpResponse {
        HttpResponse::Ok().json(reports_json(&who))
    }

    async fn reports_by_extractor(who: Authorized<Reporters>) -> HttpResponse {
        HttpResponse::Ok().json(reports_json(&who))
    }

    async fn ok() -> &'static str {
        "ok"
    }

    pub(super) async fn start(auth: Authenticator, policy: Policy) -> io::Result<TestServer> {
        spawn_actix("actix-authz", "http", move |listener| {
            let factory = move || {
                let mut protected = web::scope("")
                    .wrap(AuthMiddleware::new(auth.clone()))
                    .service(
                        web::resource("/reports")
                            .wrap(Authorize::new(Requirement::role("reporter")))
                            .route(web::get().to(reports)),
                    )
                    .route("/reports/by-extractor", web::get().to(reports_by_extractor))
                    .service(web::resource("/office").wrap(Authorize::new(policy.clone())).route(web::get().to(ok)));
                for (path, requirement) in authorization_routes() {
                    protected = protected
                        .service(web::resource(path).wrap(Authorize::new(requirement)).route(web::get().to(ok)));
                }
                // The empty-prefix scope is registered last: it matches every remaining path.
                App::new().route("/healthz", web::get().to(ok)).service(protected)
            };
            Ok(HttpServer::new(factory).workers(1).disable_signals().listen(listener)?.run())
        })
        .await
    }
}

/// Starts the rate-limited routes on `framework` (127.0.0.1:0) and waits until the server answers
/// `GET /healthz`: authentication by `auth` first, then the per-principal `limiter` (axum:
/// `rate_limit_layer` inside `auth_layer`; actix-web: `RateLimitMiddleware` wrapped before
/// `AuthMiddleware`). Build the limiter once and pass clones to several servers to share its
/// counters, or give each server a limiter on one Redis store.
///
/// | route | protection | answer |
/// |---|---|---|
/// | `GET /healthz` | public, not limited | `ok` |
/// | `GET /me` | any valid credential, then the limiter | JSON like [`principal_json`] |
pub async fn serve_rate_limited(
    framework: Framework,
    auth: Authenticator,
    limiter: tower_auth::ratelimit::RateLimiter,
) -> io::Result<TestServer> {
    let server = match framework {
        Framework::Axum => axum_rate_limited::start(auth, limiter).await?,
        Framework::Actix => actix_rate_limited::start(auth, limiter).await?,
    };
    wait_until_up(&server).await?;
    Ok(server)
}

mod axum_rate_limited {
    use super::*;
    use axum::Json;
    use axum::Router;
    use axum::routing::get;
    use tower_auth::ratelimit::RateLimiter;
    use tower_auth_axum::{Principal, auth_layer, rate_limit_layer};

    pub(super) async fn start(auth: Authenticator, limiter: RateLimiter) -> io::Result<TestServer> {
        let protected = Router::new()
            .route("/me", get(|Principal(p): Principal| async move { Json(principal_json(&p)) }))
            .layer(rate_limit_layer(limiter))
            .layer(auth_layer(auth));
        let app = Router::new().route("/healthz", get(|| async { "ok" })).merge(protected);
        spawn_axum(app).await
    }
}

mod actix_rate_limited {
    use super::*;
    use actix_web::{App, HttpResponse, HttpServer, web};
    use tower_auth::ratelimit::RateLimiter;
    use tower_auth_actix::{AuthMiddleware, Principal, RateLimitMiddleware};

    async fn me(who: Principal) -> HttpResponse {
        HttpResponse::Ok().json(principal_json(&who))
    }

    pub(super) async fn start(auth: Authenticator, limiter: RateLimiter) -> io::Result<TestServer> {
        spawn_actix("actix-ratelimit", "http", move |listener| {
            let factory = move || {
                // The last `wrap` runs first: authentication, then the limiter.
                let protected = web::scope("")
                    .wrap(RateLimitMiddleware::new(limiter.clone()))
                    .wrap(AuthMiddleware::new(auth.clone()))
                    .route("/me", web::get().to(me));
                App::new().route("/healthz", web::get().to(|| async { "ok" })).service(protected)
            };
            Ok(HttpServer::new(factory).workers(1).disable_signals().listen(listener)?.run())
        })
        .await
    }
}

/// Starts the certificate routes on `framework` over TLS with `tls` (a configuration from
/// [`ServerTls`](tower_auth::tls::ServerTls); give it a client CA to request client certificates),
/// listening on 127.0.0.1:0, and waits until `client` gets an answer from `GET /healthz`: `client`
/// must trust the server certificate, which must name the IP address 127.0.0.1. The base URL is
/// `https://127.0.0.1:PORT`.
///
/// axum serves with `tower_auth_axum::tls::serve`; actix-web with `listen_rustls_0_23` and
/// `HttpServer::on_connect(tower_auth_actix::tls::on_connect)`.
///
/// | route | protection | answer |
/// |---|---|---|
/// | `GET /healthz` | public | `ok` |
/// | `GET /me` | any valid credential (a client certificate with certificate authentication) | JSON like [`principal_json`] |
/// | `GET /orders` | scope `orders:read` | JSON: `orders`, `for` |
pub async fn serve_tls(
    framework: Framework,
    auth: Authenticator,
    tls: tower_auth::tls::rustls::ServerConfig,
    client: &reqwest::Client,
) -> io::Result<TestServer> {
    let server = match framework {
        Framework::Axum => axum_tls::start(auth, tls).await?,
        Framework::Actix => actix_tls::start(auth, tls).await?,
    };
    wait_until_answers(&server, client).await?;
    Ok(server)
}

fn orders_json(principal: &tower_auth::Principal) -> Value {
    json!({ "orders": [], "for": principal.subject() })
}

mod axum_tls {
    use super::*;
    use axum::Json;
    use axum::Router;
    use axum::routing::get;
    use tower_auth::tls::rustls::ServerConfig;
    use tower_auth_axum::{Principal, auth_layer, require_all};

    pub(super) async fn start(auth: Authenticator, tls: ServerConfig) -> io::Result<TestServer> {
        let protected = Router::new()
            .route("/me", get(|Principal(p): Principal| async move { Json(principal_json(&p)) }))
            .route(
                "/orders",
                get(|Principal(p): Principal| async move { Json(orders_json(&p)) })
                    .route_layer(require_all(["orders:read"])),
            )
            .layer(auth_layer(auth));
        let app = Router::new().route("/healthz", get(|| async { "ok" })).merge(protected);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = tower_auth_axum::tls::serve(listener, tls, app).await;
        });
        Ok(TestServer { framework: Framework::Axum, addr, base_url: format!("https://{addr}"), stop: Stop::Axum(task) })
    }
}

mod actix_tls {
    use super::*;
    use actix_web::{App, HttpResponse, HttpServer, web};
    use tower_auth::tls::rustls::ServerConfig;
    use tower_auth_actix::{AuthMiddleware, Principal, RequireScopes};

    async fn me(who: Principal) -> HttpResponse {
        HttpResponse::Ok().json(principal_json(&who))
    }

    async fn orders(who: Principal) -> HttpResponse {
        HttpResponse::Ok().json(orders_json(&who))
    }

    pub(super) async fn start(auth: Authenticator, tls: ServerConfig) -> io::Result<TestServer> {
        spawn_actix("actix-tls", "https", move |listener| {
            let factory = move || {
                let protected =
                    web::scope("").wrap(AuthMiddleware::new(auth.clone())).route("/me", web::get().to(me)).service(
                        web::resource("/orders")
                            .wrap(RequireScopes::all_of(["orders:read"]))
                            .route(web::get().to(orders)),
                    );
                App::new().route("/healthz", web::get().to(|| async { "ok" })).service(protected)
            };
            let server = HttpServer::new(factory)
                .workers(1)
                .disable_signals()
                .on_connect(tower_auth_actix::tls::on_connect)
                .listen_rustls_0_23(listener, tls)?;
            Ok(server.run())
        })
        .await
    }
}
