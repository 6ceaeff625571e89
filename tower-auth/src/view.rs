//! The framework-neutral view of a request.
//!
//! actix-web 4 is built on `http` 0.2 and axum / tower on `http` 1, so the engine reads requests only
//! through [`RequestView`]: implemented here for [`http::request::Parts`] and in `tower-auth-actix` for
//! actix's `ServiceRequest`.

use std::net::SocketAddr;
use std::sync::Arc;

/// The result of looking a header up: absent, present once, or repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderLookup<'a> {
    /// No such header.
    Missing,
    /// Exactly one field with this value.
    One(&'a [u8]),
    /// More than one field.
    Many,
}

impl<'a> HeaderLookup<'a> {
    /// Builds a lookup from an iterator over the values of one header name.
    pub fn from_values<I: IntoIterator<Item = &'a [u8]>>(values: I) -> Self {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => Self::Missing,
            (Some(v), None) => Self::One(v),
            (Some(_), Some(_)) => Self::Many,
        }
    }
}

/// What the engine needs to know about a request.
pub trait RequestView {
    /// The method, e.g. `GET`.
    fn method(&self) -> &str;
    /// The path of the request target.
    fn path(&self) -> &str;
    /// The query of the request target, if any.
    fn query(&self) -> Option<&str>;
    /// The authority from the request target or the `Host` header (client-controlled: never trust it
    /// for security decisions without a configured public origin).
    fn authority(&self) -> Option<&str>;
    /// One header by lower-case name.
    fn header(&self, name: &str) -> HeaderLookup<'_>;
    /// The TCP peer, when the server makes it known.
    fn peer_addr(&self) -> Option<SocketAddr>;
    /// The DER client certificate of a TLS connection, when the server makes it known.
    fn client_certificate(&self) -> Option<&[u8]>;
}

/// The TCP peer of a request, as a request extension the core layer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The DER end-entity client certificate of a TLS connection, as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub Arc<[u8]>);

impl RequestView for http::request::Parts {
    fn method(&self) -> &str {
        self.method.as_str()
    }
    fn path(&self) -> &str {
        self.uri.path()
    }
    fn query(&self) -> Option<&str> {
        self.uri.query()
    }
    fn authority(&self) -> Option<&str> {
        self.uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| self.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()))
    }
    fn header(&self, name: &str) -> HeaderLookup<'_> {
        HeaderLookup::from_values(self.headers.get_all(name).iter().map(|v| v.as_bytes()))
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.extensions.get::<PeerAddr>().map(|p| p.0)
    }
    fn client_certificate(&self) -> Option<&[u8]> {
        self.extensions.get::<ClientCertificate>().map(|c| &*c.0)
    }
}
