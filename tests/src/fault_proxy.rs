//! A TCP proxy on 127.0.0.1 for fault injection in front of a shared service (Redis, PostgreSQL):
//! the service itself keeps running for the other tests, while the code under test sees it go
//! away, hang and come back.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a [`FaultProxy`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Bytes pass both ways, on new connections and on those that were forwarding.
    Forward,
    /// A service that stopped answering (a hung process, a network that drops packets): open
    /// connections stay open, new ones are accepted, and not a byte passes either way. A connection
    /// caught in it stays silent for good, even once traffic is restored — as when a firewall or NAT
    /// in between forgot it — until the client closes it or the proxy goes [`Down`](Self::Down):
    /// a client must give it up by itself to recover.
    Hang,
    /// A service that went away: every connection is closed and the port refuses new ones.
    Down,
}

/// A TCP proxy from a free port on 127.0.0.1 to a service, whose traffic a test can cut
/// ([`ProxyMode::Down`]), silence ([`ProxyMode::Hang`]) and restore ([`ProxyMode::Forward`]).
/// Dropping it closes every connection through it.
///
/// ```no_run
/// use tower_auth_tests::{FaultProxy, ProxyMode};
/// # async fn demo() -> std::io::Result<()> {
/// let (proxy, url) = FaultProxy::in_front_of("postgres://postgres@127.0.0.1:5432/test", 5432).await?;
/// // … point the store under test at `url`, send traffic …
/// proxy.set(ProxyMode::Down).await?; // the database is gone
/// proxy.set(ProxyMode::Forward).await?; // and back, on the same port
/// # let _ = url; Ok(()) }
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    target: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl FaultProxy {
    /// Starts forwarding from 127.0.0.1 (a free port) to `target`.
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, watcher) = watch::channel(ProxyMode::Forward);
        let accept = Mutex::new(Some(accept_loop(listener, target, watcher)));
        Ok(Self { addr, target, mode, accept })
    }

    /// Starts a proxy in front of the service of `url` (`scheme://[user[:password]@]host[:port][/…]`,
    /// the port defaulting to `default_port`) and returns it with the URL to use instead: the same
    /// URL with `host:port` replaced by the proxy's address.
    pub async fn in_front_of(url: &str, default_port: u16) -> io::Result<(Self, String)> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidInput, format!("not a scheme://host URL: {url}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((user, hostport)) => (format!("{user}@"), hostport),
            None => (String::new(), authority),
        };
        if hostport.is_empty() {
            return Err(invalid());
        }
        // `host`, `host:port`, `[v6]` or `[v6]:port`.
        let has_port = hostport.rsplit_once(':').is_some_and(|(host, port)| {
            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && (!host.contains(':') || host.ends_with(']'))
        });
        let hostport = if has_port { hostport.to_owned() } else { format!("{hostport}:{default_port}") };
        let target = tokio::net::lookup_host(&hostport)
            .await?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{hostport} has no address")))?;
        let proxy = Self::start(target).await?;
        let proxied = format!("{scheme}://{userinfo}{}{tail}", proxy.addr);
        Ok((proxy, proxied))
    }

    /// The address clients connect to (127.0.0.1, the same port across [`ProxyMode::Down`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The service's address.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The current mode.
    pub fn mode(&self) -> ProxyMode {
        *self.mode.borrow()
    }

    /// Switches the mode. When it returns, no byte passes in a mode other than `Forward` (a write
    /// already under way may finish), and in `Down` the port is closed. Leaving `Down` listens on the
    /// same port again (it fails only if another socket took the port meanwhile).
    pub async fn set(&self, mode: ProxyMode) -> io::Result<()> {
        let previous = self.mode.send_replace(mode);
        if mode == ProxyMode::Down {
            let task = self.accept.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(task) = task {
                task.abort();
                let _ = task.await;
            }
        } else if previous == ProxyMode::Down {
            let listener = TcpListener::bind(self.addr).await?;
            let task = accept_loop(listener, self.target, self.mode.subscribe());
            *self.accept.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        Ok(())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The connections end with the mode sender, which is dropped with `self`.
        if let Some(task) = self.accept.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, mode: watch::Receiver<ProxyMode>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            tokio::spawn(relay(inbound, target, mode.clone()));
        }
    })
}

/// One client connection: forwarded while the mode is `Forward`; once anything else, silent until
/// the client leaves or the proxy goes down.
async fn relay(mut inbound: TcpStream, target: SocketAddr, mut mode: watch::Receiver<ProxyMode>) {
    let _upstream = if *mode.borrow_and_update() == ProxyMode::Forward {
        let Ok(mut upstream) = TcpStream::connect(target).await else { return };
        let (mut client_read, mut client_write) = inbound.split();
        let (mut service_read, mut service_write) = upstream.split();
        let (up, down, changed) = (mode.clone(), mode.clone(), mode.clone());
        tokio::select! {
            () = pump(&mut client_read, &mut service_write, &up) => {}
            () = pump(&mut service_read, &mut client_write, &down) => {}
            _ = wait_until(changed, |m| m != ProxyMode::Forward) => {}
        }
        if *mode.borrow() == ProxyMode::Forward {
            return; // one side closed
        }
        Some(upstream)
    } else {
        None
    };
    // Silent: what the client sends is swallowed, nothing comes back.
    tokio::select! {
        () = swallow(&mut inbound) => {}
        _ = wait_until(mode, |m| m == ProxyMode::Down) => {}
    }
}

/// Copies `from` to `to` until either side closes or the mode leaves `Forward` (checked before every
/// write, so that nothing passes once [`FaultProxy::set`] returned).
async fn pump(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    mode: &watch::Receiver<ProxyMode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if *mode.borrow() != ProxyMode::Forward || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Reads and drops everything until the peer closes.
async fn swallow(from: &mut (impl AsyncRead + Unpin)) {
    let mut buf = vec![0u8; 16 * 1024];
    while matches!(from.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Until the mode satisfies `done`, or the proxy is dropped.
async fn wait_until(mut mode: watch::Receiver<ProxyMode>, done: impl Fn(ProxyMode) -> bool) {
    let _ = mode.wait_for(|m| done(*m)).await;
}
