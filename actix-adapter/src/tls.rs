//! Serving actix-web over TLS, with client certificates (feature `tls`; RFC 8705, RFC-CHECKLIST
//! G5).
//!
//! actix-web runs the TLS handshake itself (`HttpServer::listen_rustls_0_23` /
//! `bind_rustls_0_23`, feature `rustls-0_23`, which this feature turns on; the handshake is bounded
//! by `HttpServer::tls_handshake_timeout`, 3 s by default). [`on_connect`], given to
//! `HttpServer::on_connect`, reads the client certificate the [`ServerConfig`](rustls::ServerConfig)
//! verified, once per connection, into the connection data
//! [`ClientCertificate`](tower_auth::ClientCertificate), where [`ActixRequestView`](crate::ActixRequestView)
//! finds it for every request of that connection. The peer address comes from the connection as
//! always.
//!
//! Build the configuration with [`ServerTls`]: with a client CA, client certificates are
//! requested and verified, and clients without one still connect (tokens keep working).
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use tower_auth::Authenticator;
//! use tower_auth_actix::{AuthMiddleware, Principal, tls::{ServerTls, on_connect}};
//!
//! # async fn run(auth: Authenticator) -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServerTls::from_pem(std::fs::read("server.pem")?, std::fs::read("server.key")?)
//!     .client_ca_pem(std::fs::read("clients-ca.pem")?)
//!     .build()?;
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(AuthMiddleware::new(auth.clone()))
//!         .route("/me", web::get().to(|p: Principal| async move { p.subject().to_owned() }))
//! })
//! .on_connect(on_connect)
//! .bind_rustls_0_23("127.0.0.1:8443", config)?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```

use std::any::Any;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;

pub use tower_auth::tls::{ServerTls, peer_certificate, rustls};

/// For `HttpServer::on_connect`: on a TLS connection (`listen_rustls_0_23` / `bind_rustls_0_23`)
/// whose client sent a certificate, puts the end-entity certificate into the connection data as a
/// [`ClientCertificate`](tower_auth::ClientCertificate). Any other connection gets nothing.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    if let Some(tls) = connection.downcast_ref::<TlsStream<TcpStream>>()
        && let Some(certificate) = peer_certificate(tls.get_ref().1)
    {
        data.insert(certificate);
    }
}
