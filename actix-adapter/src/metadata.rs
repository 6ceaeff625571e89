//! The protected resource metadata route (RFC 9728) for actix-web.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, web};
use tower_auth::metadata::MetadataEndpoint;
use tower_auth::{Authenticator, ConfigError};

/// A service serving the protected resource metadata document of an [`Authenticator`] (RFC 9728
/// §3) at its well-known path ([`MetadataEndpoint::path`], `/.well-known/oauth-protected-resource`
/// plus the resource identifier's path): `GET` (and `HEAD`) answer `200` with the JSON document,
/// `Content-Type: application/json`. Register it with `App::service` outside the
/// [`AuthMiddleware`](crate::AuthMiddleware): the document is public.
///
/// Built once (a missing configuration is reported at start-up) and cloned into each worker's `App`.
///
/// ```
/// use actix_web::{App, test, web};
/// use tower_auth::{Authenticator, ResourceMetadata, jwt::{Issuer, JwtValidator}};
/// use tower_auth_actix::protected_resource_metadata;
///
/// # #[actix_web::main] async fn main() -> Result<(), tower_auth::ConfigError> {
/// let jwt = JwtValidator::builder()
///     .issuer(Issuer::discover("https://login.example.com"))
///     .audience("https://api.example.com")
///     .build()?;
/// let auth = Authenticator::builder()
///     .jwt(jwt)
///     .resource_metadata(ResourceMetadata::new("https://api.example.com").authorization_servers(["https://login.example.com"]))
///     .build()?;
/// let metadata = protected_resource_metadata(&auth)?;
/// // In a server: `HttpServer::new(move || App::new().service(metadata.clone())…)`.
/// let app = test::init_service(App::new().service(metadata.clone())).await;
/// let res = test::call_service(&app, test::TestRequest::get().uri("/.well-known/oauth-protected-resource").to_request()).await;
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.headers().get("content-type").unwrap(), "application/json");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MetadataRoute {
    endpoint: MetadataEndpoint,
}

impl MetadataRoute {
    /// The route of `auth`'s metadata; a [`ConfigError`] when `auth` was built without
    /// [`resource_metadata`](tower_auth::AuthenticatorBuilder::resource_metadata).
    pub fn new(auth: &Authenticator) -> Result<Self, ConfigError> {
        MetadataEndpoint::of(auth).map(|endpoint| Self { endpoint })
    }

    /// The endpoint served.
    pub fn endpoint(&self) -> &MetadataEndpoint {
        &self.endpoint
    }
}

/// The [`MetadataRoute`] of `auth`: a [`ConfigError`] when `auth` was built without
/// [`resource_metadata`](tower_auth::AuthenticatorBuilder::resource_metadata).
pub fn protected_resource_metadata(auth: &Authenticator) -> Result<MetadataRoute, ConfigError> {
    MetadataRoute::new(auth)
}

fn respond(endpoint: &MetadataEndpoint) -> HttpResponse {
    let mut response = HttpResponse::Ok().body(endpoint.body());
    for (name, value) in endpoint.response_headers() {
        response.headers_mut().insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    response
}

impl HttpServiceFactory for MetadataRoute {
    fn register(self, config: &mut AppService) {
        let endpoint = self.endpoint;
        let path = endpoint.path().to_owned();
        let handler = move || {
            let response = respond(&endpoint);
            async move { response }
        };
        web::resource(path).route(web::get().to(handler.clone())).route(web::head().to(handler)).register(config);
    }
}
