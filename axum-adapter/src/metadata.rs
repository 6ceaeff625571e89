//! The protected resource metadata route (RFC 9728) for axum.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use tower_auth::metadata::MetadataEndpoint;
use tower_auth::{Authenticator, ConfigError};

/// A `Router` serving the protected resource metadata document of `auth` (RFC 9728 §3) at its
/// well-known path ([`MetadataEndpoint::path`], `/.well-known/oauth-protected-resource` plus the
/// resource identifier's path): `GET` (and `HEAD`) answer `200` with the JSON document,
/// `Content-Type: application/json`. Merge it outside the [`auth_layer`](crate::auth_layer): the
/// document is public.
///
/// A [`ConfigError`] when `auth` was built without
/// [`resource_metadata`](tower_auth::AuthenticatorBuilder::resource_metadata).
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_auth::{Authenticator, ResourceMetadata, jwt::{Issuer, JwtValidator}};
/// use tower_auth_axum::{auth_layer, protected_resource_metadata};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_auth::ConfigError> {
/// let jwt = JwtValidator::builder()
///     .issuer(Issuer::discover("https://login.example.com"))
///     .audience("https://api.example.com")
///     .build()?;
/// let auth = Authenticator::builder()
///     .jwt(jwt)
///     .resource_metadata(ResourceMetadata::new("https://api.example.com").authorization_servers(["https://login.example.com"]))
///     .build()?;
/// let app: Router = Router::new()
///     .route("/me", get(|| async { "me" }))
///     .layer(auth_layer(auth.clone()))
///     .merge(protected_resource_metadata(&auth)?); // GET /.well-known/oauth-protected-resource
/// # let _ = app; Ok(()) }
/// ```
pub fn protected_resource_metadata<S>(auth: &Authenticator) -> Result<Router<S>, ConfigError>
where
    S: Clone + Send + Sync + 'static,
{
    let endpoint = MetadataEndpoint::of(auth)?;
    let path = endpoint.path().to_owned();
    Ok(Router::new().route(
        &path,
        get(move || {
            let endpoint = endpoint.clone();
            async move { endpoint.response::<Body>() }
        }),
    ))
}
