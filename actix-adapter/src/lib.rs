//! actix-web 4 middleware, extractors and errors for [`tower_auth`].
//!
//! The authentication itself is the framework-neutral core: an [`Authenticator`] reads the request
//! through [`ActixRequestView`] (actix-web 4 is built on `http` 0.2; nothing is converted to `http`
//! 1 types) and answers with a [`tower_auth::Principal`] or an [`AuthError`]. This crate only
//! translates, so an actix-web service answers exactly like an axum one.
//!
//! | item | kind | what it does |
//! |---|---|---|
//! | [`AuthMiddleware`] | `Transform` (`App::wrap`, `Scope::wrap`, …) | authenticates every request; puts the principal into the request extensions; rejects with the [error table](tower_auth#errors-are-responses) or a custom hook |
//! | [`RequireScopes`] | `Transform` on a `web::scope` / `web::resource` | 403 `insufficient_scope` unless the principal has all of / any of the scopes |
//! | [`Authorize`] | `Transform` on a `web::scope` / `web::resource` | enforces a [`Requirement`] (roles, claims, mechanism, binding, token age, scopes) and / or a [`Policy`](tower_auth::Policy): 403 for a caller who does not pass, 401 when anonymous |
//! | [`Principal`] | extractor | the verified identity (401 when anonymous, 500 when no middleware ran); `Option<Principal>` for optional authentication |
//! | [`Claims<T>`] | extractor | the token's claims as any `T: Deserialize` (401 `invalid_token` when they do not fit) |
//! | [`Scoped<S>`] | extractor | the identity, holding the scopes of the [`ScopeSet`] `S` (403 otherwise) |
//! | [`Authorized<R>`] | extractor | the identity, passing the [`Authorization`](tower_auth::Authorization) of the [`AccessRule`](tower_auth::AccessRule) `R` (403 otherwise) |
//! | [`AuthRejection`] | `ResponseError` | the extractors' error: status, `WWW-Authenticate`, problem+json body |
//! | [`default_rejection`] | function | the error table as an `HttpResponse` |
//! | [`RateLimitMiddleware`] | `Transform`, wrapped before (inside) the `AuthMiddleware` | per-principal quotas of a [`RateLimiter`](tower_auth::ratelimit::RateLimiter): 429 with `Retry-After` and `RateLimit` headers, the headers on every admitted response |
//! | `tls::on_connect` (feature `tls`) | `HttpServer::on_connect` | each TLS connection's client certificate for the engine, with `bind_rustls_0_23` |
//! | [`ActixRequestView`] | `RequestView` | the engine's view of an actix request (method, target, headers, peer, client certificate) |
//! | [`protected_resource_metadata`] / [`MetadataRoute`] | `HttpServiceFactory` (`App::service`) | serves the RFC 9728 metadata document at `/.well-known/oauth-protected-resource…` |
//!
//! Scope, role and policy checks are middleware or extractors, never an actix `Guard`: a failing
//! guard answers 404.
//! Every rejection carries its [`AuthError`] in the response extensions, for outer middleware,
//! logging and tests. The peer address comes from the connection; a client certificate from the
//! connection data [`ClientCertificate`](tower_auth::ClientCertificate), which a TLS acceptor sets
//! with `HttpServer::on_connect`.
//!
//! # Example
//!
//! ```
//! use actix_web::{App, HttpResponse, test, web};
//! use tower_auth::{Authenticator, jwt::{Issuer, JwtValidator}, testkit::LocalIssuer};
//! use tower_auth_actix::{AuthMiddleware, Principal, RequireScopes};
//!
//! async fn me(who: Principal) -> String {
//!     who.subject().to_owned()
//! }
//!
//! # #[actix_web::main] async fn main() {
//! // In production: `Issuer::discover("https://login.example.com")`.
//! let issuer = LocalIssuer::new("https://issuer.test");
//! let validator = JwtValidator::builder()
//!     .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
//!     .audience("https://api.test")
//!     .build()
//!     .unwrap();
//! let auth = Authenticator::builder().jwt(validator).build().unwrap();
//!
//! // With `HttpServer::new(move || App::new().wrap(AuthMiddleware::new(auth.clone()))…)` in a server.
//! let app = test::init_service(
//!     App::new()
//!         .wrap(AuthMiddleware::new(auth))
//!         .route("/me", web::get().to(me))
//!         .service(
//!             web::scope("/admin")
//!                 .wrap(RequireScopes::all_of(["admin"]))
//!                 .route("", web::get().to(HttpResponse::Ok)),
//!         ),
//! )
//! .await;
//!
//! // A valid token: 200, and the handler sees its subject.
//! let token = issuer.token().audience("https://api.test").subject("alice").sign();
//! let res = test::call_service(
//!     &app,
//!     test::TestRequest::get().uri("/me").insert_header(("authorization", format!("Bearer {token}"))).to_request(),
//! )
//! .await;
//! assert_eq!(res.status(), 200);
//! assert_eq!(test::read_body(res).await, "alice");
//!
//! // No credentials: 401 with a bare challenge (RFC 6750 §3.1: no error code).
//! let res = test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
//! assert_eq!(res.status(), 401);
//! assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
//! assert_eq!(res.headers().get("content-type").unwrap(), "application/problem+json");
//!
//! // A valid token without the scope: 403 naming it.
//! let res = test::call_service(
//!     &app,
//!     test::TestRequest::get().uri("/admin").insert_header(("authorization", format!("Bearer {token}"))).to_request(),
//! )
//! .await;
//! assert_eq!(res.status(), 403);
//! assert!(res.headers().get("www-authenticate").unwrap().to_str().unwrap().contains(r#"scope="admin""#));
//! # }
//! ```

mod authorize;
mod error;
mod extract;
mod metadata;
mod middleware;
mod ratelimit;
mod scope;
#[cfg(feature = "tls")]
pub mod tls;
mod view;

#[cfg(test)]
mod tests;

pub use authorize::{Authorize, Authorized, CheckAuthorization};
pub use error::{AuthRejection, default_rejection};
pub use extract::{Claims, Principal, Scoped};
pub use metadata::{MetadataRoute, protected_resource_metadata};
pub use middleware::{Auth, AuthMiddleware};
pub use ratelimit::{RateLimit, RateLimitMiddleware};
pub use scope::{CheckScopes, RequireScopes};
pub use view::ActixRequestView;

#[doc(no_inline)]
pub use tower_auth::{AuthError, AuthErrorKind, Authenticator, Requirement, ScopeRequirement, ScopeSet};
