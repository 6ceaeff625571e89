//! The demo server on actix-web: the same contract as `quickstart` (see the README).
//!
//! `cargo run --bin quickstart-actix` prints `TOKEN …`, `ADMIN_TOKEN …`, `API_KEY …` and `LISTENING http://127.0.0.1:3000`
//! (`https://` with `TOWER_AUTH_TLS_CERT` and `TOWER_AUTH_TLS_KEY`).

use actix_web::middleware::Condition;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tower_auth::ratelimit::{Quota, RateLimiter};
use tower_auth::{Requirement, ScopeRequirement, ScopeSet};
use tower_auth_actix::{AuthMiddleware, Authorize, Principal, RateLimitMiddleware, Scoped};
use tower_auth_examples::{Config, bound_document, bound_requirement, init_tracing, me_document, setup};

struct OrdersRead;
impl ScopeSet for OrdersRead {
    fn requirement() -> ScopeRequirement {
        ScopeRequirement::all_of(["orders:read"])
    }
}

struct OrdersWrite;
impl ScopeSet for OrdersWrite {
    fn requirement() -> ScopeRequirement {
        ScopeRequirement::all_of(["orders:write"])
    }
}

struct Admin;
impl ScopeSet for Admin {
    fn requirement() -> ScopeRequirement {
        ScopeRequirement::all_of(["admin"])
    }
}

/// The embedded issuer's documents (absent with a real issuer).
struct Documents {
    discovery: Option<Value>,
    jwks: Option<Value>,
}

fn document(doc: &Option<Value>) -> HttpResponse {
    match doc {
        Some(doc) => HttpResponse::Ok().json(doc),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn me(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(me_document(&p))
}

async fn list_orders(p: Scoped<OrdersRead>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "orders": [], "for": p.0.subject() }))
}

async fn create_order(p: Scoped<OrdersWrite>) -> HttpResponse {
    HttpResponse::Created().json(json!({ "created": true, "by": p.0.subject() }))
}

async fn admin(p: Scoped<Admin>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "admin": true, "sub": p.0.subject() }))
}

async fn bound(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(bound_document(&p))
}

async fn reports(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "reports": [], "for": p.subject() }))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_tracing();
    let config = Config::from_env();
    let listener = std::net::TcpListener::bind(&config.addr)?;
    let setup = setup(&config, listener.local_addr()?).await?;
    let documents = web::Data::new(Documents { discovery: setup.discovery_document(), jwks: setup.jwks() });
    let auth = setup.authenticator.clone();
    // RFC 9728: `GET /.well-known/oauth-protected-resource`, public.
    let metadata = tower_auth_actix::protected_resource_metadata(&auth)?;
    // Quotas per principal (shared by every worker), unless TOWER_AUTH_RATE_LIMIT=off.
    let limited = setup.rate_limiter.is_some();
    let limiter = match setup.rate_limiter.clone() {
        Some(limiter) => limiter,
        None => RateLimiter::builder().quota(Quota::per_second(1)).build()?, // never consulted
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(documents.clone())
            .service(metadata.clone())
            .route("/healthz", web::get().to(|| async { HttpResponse::Ok().json(json!({ "status": "ok" })) }))
            .route(
                "/.well-known/openid-configuration",
                web::get().to(|d: web::Data<Documents>| async move { document(&d.discovery) }),
            )
            .route("/.well-known/jwks.json", web::get().to(|d: web::Data<Documents>| async move { document(&d.jwks) }))
            .service(
                web::scope("")
                    // The last `wrap` runs first: authentication, then the quota.
                    .wrap(Condition::new(limited, RateLimitMiddleware::new(limiter.clone())))
                    .wrap(AuthMiddleware::new(auth.clone()))
                    .route("/me", web::get().to(me))
                    .route("/orders", web::get().to(list_orders))
                    .route("/orders", web::post().to(create_order))
                    .route("/admin", web::get().to(admin))
                    .service(
                        web::resource("/reports")
                            .wrap(Authorize::new(Requirement::role("reporter")))
                            .route(web::get().to(reports)),
                    )
                    .service(
                        web::resource("/bound").wrap(Authorize::new(bound_requirement())).route(web::get().to(bound)),
                    ),
            )
    })
    // HTTPS: each request reads its connection's client certificate (when one was sent).
    .on_connect(tower_auth_actix::tls::on_connect);
    let server = match setup.tls.clone() {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    }
    .run();
    setup.print_banner();
    server.await?;
    Ok(())
}
