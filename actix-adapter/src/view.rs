//! The engine's view of an actix-web request.

use std::net::SocketAddr;

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use tower_auth::{ClientCertificate, HeaderLookup, RequestView};

/// An actix-web request as the core engine reads it: a [`RequestView`] over an [`HttpRequest`].
///
/// actix-web 4 is built on `http` 0.2, so its requests are never converted to `http` 1 types; the
/// engine reads them through this view instead. ([`RequestView`] cannot be implemented for actix's
/// `ServiceRequest` itself outside either crate, hence the wrapper.) [`AuthMiddleware`] builds one
/// per request; build one yourself to call
/// [`Authenticator::authenticate`](tower_auth::Authenticator::authenticate) from your own middleware.
///
/// | view | read from |
/// |---|---|
/// | method, path | the request line |
/// | query | the request target; `None` when empty |
/// | authority | the request target, else the `Host` header (client-controlled) |
/// | header | every field of that name ([`HeaderLookup::Many`] when repeated) |
/// | peer address | [`HttpRequest::peer_addr`] |
/// | client certificate | the connection data [`ClientCertificate`], set with `HttpServer::on_connect` |
///
/// [`AuthMiddleware`]: crate::AuthMiddleware
///
/// ```
/// use actix_web::test::TestRequest;
/// use tower_auth::{HeaderLookup, RequestView};
/// use tower_auth_actix::ActixRequestView;
///
/// let req = TestRequest::get().uri("/orders?page=2").insert_header(("host", "api.test")).to_srv_request();
/// let view = ActixRequestView::from(&req);
/// assert_eq!(view.path(), "/orders");
/// assert_eq!(view.query(), Some("page=2"));
/// assert_eq!(view.authority(), Some("api.test"));
/// assert_eq!(view.header("authorization"), HeaderLookup::Missing);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ActixRequestView<'a> {
    request: &'a HttpRequest,
}

impl<'a> ActixRequestView<'a> {
    /// A view of `request`.
    pub fn new(request: &'a HttpRequest) -> Self {
        Self { request }
    }

    /// The request viewed.
    pub fn request(&self) -> &'a HttpRequest {
        self.request
    }
}

impl<'a> From<&'a HttpRequest> for ActixRequestView<'a> {
    fn from(request: &'a HttpRequest) -> Self {
        Self::new(request)
    }
}

impl<'a> From<&'a ServiceRequest> for ActixRequestView<'a> {
    fn from(request: &'a ServiceRequest) -> Self {
        Self::new(request.request())
    }
}

impl RequestView for ActixRequestView<'_> {
    fn method(&self) -> &str {
        self.request.method().as_str()
    }

    fn path(&self) -> &str {
        self.request.path()
    }

    fn query(&self) -> Option<&str> {
        let query = self.request.query_string();
        (!query.is_empty()).then_some(query)
    }

    fn authority(&self) -> Option<&str> {
        self.request
            .uri()
            .authority()
            .map(|a| a.as_str())
            .or_else(|| self.request.headers().get(header::HOST).and_then(|h| h.to_str().ok()))
    }

    fn header(&self, name: &str) -> HeaderLookup<'_> {
        HeaderLookup::from_values(self.request.headers().get_all(name).map(|v| v.as_bytes()))
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.request.peer_addr()
    }

    fn client_certificate(&self) -> Option<&[u8]> {
        self.request.conn_data::<ClientCertificate>().map(|c| &*c.0)
    }
}
