//! The TLS accept loop of `tower_auth_axum::tls::serve`: a client that never completes its handshake
//! is dropped without stopping the loop, and the graceful shutdown ends the server. Requests with
//! client certificates are tested end to end in `tests/tests/mtls.rs`.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use rcgen::{CertificateParams, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_auth_axum::tls::{ServerTls, rustls::ServerConfig, serve};

fn server_config() -> ServerConfig {
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()]).expect("params").self_signed(&key).expect("cert");
    ServerTls::from_pem(cert.pem(), key.serialize_pem()).build().expect("TLS configuration")
}

/// Reads until the server closes the connection (end of stream or a reset).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn stalled_and_failed_handshakes_do_not_stop_the_loop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route("/", get(|| async { "ok" }));
    let server = serve(listener, server_config(), app).handshake_timeout(Duration::from_millis(200));
    let task = tokio::spawn(server.into_future());

    // A client that says nothing is dropped once the handshake time is over.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    assert!(closed_by_server(&mut silent).await);

    // A client that sends garbage instead of a ClientHello fails its handshake.
    let mut garbage = TcpStream::connect(addr).await.expect("connect");
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    assert!(closed_by_server(&mut garbage).await);

    // The loop still accepts, and still runs handshakes (this one fails as garbage again).
    let mut again = TcpStream::connect(addr).await.expect("the loop still accepts");
    again.write_all(&[0x16, 0x03, 0x01, 0x00, 0x01, 0x00]).await.expect("write");
    assert!(closed_by_server(&mut again).await);
    assert!(!task.is_finished());
    task.abort();
}

#[tokio::test]
async fn graceful_shutdown_ends_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = Router::new().route("/", get(|| async { "ok" }));
    let server = serve(listener, server_config(), app).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    assert_eq!(server.local_addr().expect("local address"), addr);
    let task = tokio::spawn(server.into_future());
    TcpStream::connect(addr).await.expect("accepting before the signal");
    stop.send(()).expect("signal");
    task.await.expect("server task").expect("a clean end");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting after the shutdown");
}
