//! Serving an axum [`Router`] over TLS, with client certificates (feature `tls`; RFC 8705,
//! RFC-CHECKLIST G5).
//!
//! [`serve`] is an accept loop over tokio-rustls and hyper (HTTP/1.1). Per connection it runs the
//! TLS handshake (bounded by [`Serve::handshake_timeout`]), reads the client certificate the
//! [`ServerConfig`] verified, and puts into every request of that connection:
//!
//! | extension | read by |
//! |---|---|
//! | [`ClientCertificate`](tower_auth::ClientCertificate) (the DER end-entity certificate), when the client sent one | the engine: certificate authentication, `cnf.x5t#S256`-bound tokens |
//! | [`PeerAddr`] | the engine: trusted proxies, failed-authentication limit; the rate limiter |
//! | axum [`ConnectInfo<SocketAddr>`] | handlers, [`auth_layer`](crate::auth_layer), [`rate_limit_layer`](crate::rate_limit_layer) |
//!
//! A failed or timed-out handshake closes that connection only; the loop keeps accepting. Build
//! the configuration with [`ServerTls`]: with a client CA, client certificates are requested and
//! verified, and clients without one still connect (tokens keep working).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tower_auth::Authenticator;
//! use tower_auth_axum::{Principal, auth_layer, tls::{ServerTls, serve}};
//!
//! # async fn run(auth: Authenticator) -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServerTls::from_pem(std::fs::read("server.pem")?, std::fs::read("server.key")?)
//!     .client_ca_pem(std::fs::read("clients-ca.pem")?)
//!     .build()?;
//! let app = Router::new()
//!     .route("/me", get(|Principal(p): Principal| async move { p.subject().to_owned() }))
//!     .layer(auth_layer(auth));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! serve(listener, config, app)
//!     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
//!     .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::{Future, IntoFuture, Pending};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower_auth::PeerAddr;
use tower_service::Service;

use rustls::ServerConfig;
pub use tower_auth::tls::{ServerTls, peer_certificate, rustls};

/// The default of [`Serve::handshake_timeout`]: 10 seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` over TLS on `listener` with `config` (see the [module docs](self)). Await the
/// result to run the server; it ends with the [graceful shutdown](Serve::with_graceful_shutdown)
/// signal, or never.
pub fn serve(listener: TcpListener, config: impl Into<Arc<ServerConfig>>, router: Router) -> Serve {
    Serve {
        listener,
        acceptor: TlsAcceptor::from(config.into()),
        router,
        handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        signal: std::future::pending(),
    }
}

/// A TLS server, from [`serve`]; runs when awaited.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<F = Pending<()>> {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    handshake_timeout: Duration,
    signal: F,
}

impl<F> fmt::Debug for Serve<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl<F> Serve<F> {
    /// The longest a client may take to complete the TLS handshake before its connection is closed.
    /// Defaults to [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Stops accepting when `signal` completes, lets every open connection finish the request
    /// it is serving, then ends.
    pub fn with_graceful_shutdown<G>(self, signal: G) -> Serve<G>
    where
        G: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            acceptor: self.acceptor,
            router: self.router,
            handshake_timeout: self.handshake_timeout,
            signal,
        }
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<F> IntoFuture for Serve<F>
where
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<F> Serve<F>
where
    F: Future<Output = ()> + Send + 'static,
{
    async fn run(self) -> io::Result<()> {
        let Serve { listener, acceptor, router, handshake_timeout, signal } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut signal = pin!(signal);
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        accept_error(error).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            let connection = Connection {
                acceptor: acceptor.clone(),
                router: router.clone(),
                handshake_timeout,
                stop: stop_rx.clone(),
            };
            tokio::spawn(connection.run(tcp, peer));
        }
        drop(listener);
        drop(stop_rx);
        // Tell the open connections to finish, and wait until every one has.
        let _ = stop_tx.send(true);
        stop_tx.closed().await;
        Ok(())
    }
}

/// An error of `accept` ends nothing: a connection reset before it was accepted is skipped; out
/// of file descriptors (or another resource), the loop pauses a second before trying again.
async fn accept_error(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accepting a TCP connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

struct Connection {
    acceptor: TlsAcceptor,
    router: Router,
    handshake_timeout: Duration,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream, peer: SocketAddr) {
        let tls = match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        // G5: the certificate of this connection, verified in its handshake, for all its requests.
        let certificate = peer_certificate(tls.get_ref().1);
        let router = self.router;
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            let extensions = request.extensions_mut();
            extensions.insert(PeerAddr(peer));
            extensions.insert(ConnectInfo(peer));
            // Set by the server only: a client cannot put an extension into a request.
            if let Some(certificate) = &certificate {
                extensions.insert(certificate.clone());
            }
            router.clone().call(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(tls), service)
            .with_upgrades();
        let mut connection = pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            _ = self.stop.wait_for(|stop| *stop) => {}
        }
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}
