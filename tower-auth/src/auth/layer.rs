use std::net::SocketAddr;

use tower_layer::Layer;

use super::{Auth, DefaultRejection};
use crate::engine::Authenticator;

/// Applies [`Auth`] to a service. See the [module docs](crate::auth).
#[derive(Debug, Clone)]
#[must_use]
pub struct AuthLayer<R = DefaultRejection> {
    pub(crate) auth: Authenticator,
    pub(crate) reject: R,
    pub(crate) peer_addr: fn(&http::Extensions) -> Option<SocketAddr>,
}

fn no_peer(_: &http::Extensions) -> Option<SocketAddr> {
    None
}

impl AuthLayer {
    /// A layer authenticating with `auth`, rejecting with [`DefaultRejection`].
    pub fn new(auth: Authenticator) -> Self {
        Self { auth, reject: DefaultRejection, peer_addr: no_peer }
    }
}

impl<R> AuthLayer<R> {
    /// Replaces the rejection: one hook for every mechanism.
    pub fn with_rejection<R2>(self, reject: R2) -> AuthLayer<R2> {
        AuthLayer { auth: self.auth, reject, peer_addr: self.peer_addr }
    }

    /// How to read the TCP peer from the request extensions when no
    /// [`PeerAddr`](crate::PeerAddr) extension is there (axum's `ConnectInfo`, for one; the axum
    /// adapter sets this).
    pub fn peer_addr_from(mut self, read: fn(&http::Extensions) -> Option<SocketAddr>) -> Self {
        self.peer_addr = read;
        self
    }
}

impl<S, R: Clone> Layer<S> for AuthLayer<R> {
    type Service = Auth<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth { inner, auth: self.auth.clone(), reject: self.reject.clone(), peer_addr: self.peer_addr }
    }
}
