//! Errors as actix-web responses.

use std::fmt;
use std::rc::Rc;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use tower_auth::{AuthError, AuthErrorKind};

/// The response of the [error table](tower_auth#errors-are-responses) for `error`: its status, every
/// header of [`AuthError::response_parts`] (`WWW-Authenticate`, `Retry-After`, `Content-Type:
/// application/problem+json`, `Cache-Control: no-store`) and its RFC 9457 body.
///
/// The rejection of [`AuthMiddleware`](crate::AuthMiddleware) unless replaced; call it from a
/// custom rejection to decorate the default answer.
///
/// ```
/// use tower_auth::{AuthError, AuthErrorKind};
/// use tower_auth_actix::default_rejection;
///
/// let response = default_rejection(AuthError::new(AuthErrorKind::Expired));
/// assert_eq!(response.status(), 401);
/// assert!(response.headers().get("www-authenticate").unwrap().to_str().unwrap().contains(r#"error="invalid_token""#));
/// ```
pub fn default_rejection(error: AuthError) -> HttpResponse {
    render(&error)
}

fn render(error: &AuthError) -> HttpResponse {
    let parts = error.response_parts();
    let status = StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::with_body(status, parts.body).map_into_boxed_body();
    let headers = response.headers_mut();
    for (name, value) in parts.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            headers.append(name, value);
        }
    }
    response
}

/// The replaceable rejection of the middleware, shared (through the request extensions) with
/// [`RequireScopes`](crate::RequireScopes) behind the same [`AuthMiddleware`](crate::AuthMiddleware).
#[derive(Clone)]
pub(crate) struct Rejection(Option<Rc<dyn Fn(AuthError) -> HttpResponse>>);

impl Rejection {
    pub(crate) const DEFAULT: Self = Self(None);

    pub(crate) fn custom<F>(reject: F) -> Self
    where
        F: Fn(AuthError) -> HttpResponse + 'static,
    {
        Self(Some(Rc::new(reject)))
    }

    pub(crate) fn is_custom(&self) -> bool {
        self.0.is_some()
    }

    /// The response for `error`, with the error in its extensions.
    pub(crate) fn respond(&self, error: AuthError) -> HttpResponse {
        let mut response = match &self.0 {
            Some(reject) => reject(error.clone()),
            None => render(&error),
        };
        response.extensions_mut().insert(error);
        response
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_custom() { "Rejection::Custom" } else { "Rejection::Default" })
    }
}

/// An [`AuthError`] as an actix-web error: the rejection of the extractors.
///
/// Its [`ResponseError`] implementation answers exactly like [`default_rejection`] (status,
/// `WWW-Authenticate` challenge, problem+json body) and puts the [`AuthError`] into the response
/// extensions, so outer middleware and tests can read its [kind](AuthError::kind). `Display` and
/// `Debug` show the kind and a generic description, never a credential.
///
/// ```
/// use actix_web::ResponseError;
/// use tower_auth::{AuthError, AuthErrorKind};
/// use tower_auth_actix::AuthRejection;
///
/// let rejection = AuthRejection(AuthError::insufficient_scope("orders:write"));
/// assert_eq!(rejection.status_code(), 403);
/// let response = rejection.error_response();
/// assert_eq!(response.extensions().get::<AuthError>().unwrap().kind(), AuthErrorKind::InsufficientScope);
/// ```
#[derive(Debug, Clone)]
pub struct AuthRejection(pub AuthError);

impl AuthRejection {
    /// The error.
    pub fn error(&self) -> &AuthError {
        &self.0
    }

    /// Consumes `self`, returning the error.
    pub fn into_inner(self) -> AuthError {
        self.0
    }
}

impl From<AuthError> for AuthRejection {
    fn from(error: AuthError) -> Self {
        Self(error)
    }
}

impl From<AuthErrorKind> for AuthRejection {
    fn from(kind: AuthErrorKind) -> Self {
        Self(AuthError::new(kind))
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)?;
        if self.0.kind() == AuthErrorKind::Misconfigured {
            // For the server's logs: the response body stays generic.
            f.write_str(
                ": no tower_auth_actix::AuthMiddleware ran before this route; wrap the App, scope or resource with it",
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for AuthRejection {}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = render(&self.0);
        response.extensions_mut().insert(self.0.clone());
        response
    }
}
