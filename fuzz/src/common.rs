//! A request view over raw bytes and a one-poll executor.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tower_auth::{HeaderLookup, RequestView};

/// A request whose headers hold any bytes (an HTTP library would refuse some of them; the engine
/// must not rely on that).
#[derive(Debug, Default)]
pub struct FuzzView {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl RequestView for FuzzView {
    fn method(&self) -> &str {
        &self.method
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    fn authority(&self) -> Option<&str> {
        None
    }
    fn header(&self, name: &str) -> HeaderLookup<'_> {
        HeaderLookup::from_values(self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_slice()))
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn client_certificate(&self) -> Option<&[u8]> {
        None
    }
}

/// Polls a future that must not wait on anything (no I/O: static keys only) to completion.
pub fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future waited although nothing it needs does I/O"),
    }
}
