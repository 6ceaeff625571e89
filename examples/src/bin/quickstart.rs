//! The demo server (axum): see the quickstart contract in the README.
//!
//! `cargo run --bin quickstart` prints `TOKEN …`, `ADMIN_TOKEN …`, `API_KEY …` and `LISTENING http://127.0.0.1:3000`
//! (`https://` with `TOWER_AUTH_TLS_CERT` and `TOWER_AUTH_TLS_KEY`).

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use tower_auth::Requirement;
use tower_auth_axum::{Principal, auth_layer, authorize, rate_limit_layer, require_all};
use tower_auth_examples::{Config, Setup, bound_document, bound_requirement, init_tracing, me_document, setup};

async fn me(Principal(p): Principal) -> Json<serde_json::Value> {
    Json(me_document(&p))
}

async fn list_orders(Principal(p): Principal) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "orders": [], "for": p.subject() }))
}

async fn create_order(Principal(p): Principal) -> (StatusCode, Json<serde_json::Value>) {
    (StatusCode::CREATED, Json(serde_json::json!({ "created": true, "by": p.subject() })))
}

async fn admin(Principal(p): Principal) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "admin": true, "sub": p.subject() }))
}

async fn bound(Principal(p): Principal) -> Json<serde_json::Value> {
    Json(bound_document(&p))
}

async fn reports(Principal(p): Principal) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "reports": [], "for": p.subject() }))
}

fn document(doc: Option<serde_json::Value>) -> Response {
    match doc {
        Some(doc) => Json(doc).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn router(setup: &Setup) -> Result<Router, tower_auth::ConfigError> {
    let protected = Router::new()
        .route("/me", get(me))
        .route(
            "/orders",
            get(list_orders)
                .route_layer(require_all(["orders:read"]))
                .merge(axum::routing::post(create_order).route_layer(require_all(["orders:write"]))),
        )
        .route("/admin", get(admin).route_layer(require_all(["admin"])))
        .route("/reports", get(reports).route_layer(authorize(Requirement::role("reporter"))))
        .route("/bound", get(bound).route_layer(authorize(bound_requirement())));
    // Quotas per principal, after authentication (axum runs the last layer first).
    let protected = match &setup.rate_limiter {
        Some(limiter) => protected.layer(rate_limit_layer(limiter.clone())),
        None => protected,
    };
    let protected = protected.layer(auth_layer(setup.authenticator.clone()));
    let discovery = setup.discovery_document();
    let jwks = setup.jwks();
    // RFC 9728: `GET /.well-known/oauth-protected-resource`, public.
    let metadata = tower_auth_axum::protected_resource_metadata(&setup.authenticator)?;
    Ok(Router::new()
        .route("/healthz", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let d = discovery.clone();
                async move { document(d) }
            }),
        )
        .route(
            "/.well-known/jwks.json",
            get(move || {
                let j = jwks.clone();
                async move { document(j) }
            }),
        )
        .merge(metadata)
        .merge(protected))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_tracing();
    let config = Config::from_env();
    let listener = tokio::net::TcpListener::bind(&config.addr).await?;
    let setup = setup(&config, listener.local_addr()?).await?;
    let app = router(&setup)?;
    setup.print_banner();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match setup.tls.clone() {
        // HTTPS: each request carries its connection's client certificate (when one was sent).
        Some(tls) => tower_auth_axum::tls::serve(listener, tls, app).with_graceful_shutdown(shutdown).await?,
        None => {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(shutdown)
                .await?
        }
    }
    Ok(())
}
