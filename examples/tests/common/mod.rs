//! The quickstart binaries as child processes, for the tests of this package that run them
//! (`mod common;` in a test file; each uses a part of it).
//!
//! ```ignore
//! mod common;
//! use common::{BINARIES, Quickstart};
//!
//! for binary in BINARIES {
//!     // 127.0.0.1:0, a cleared environment, `RUST_LOG=off`, plus these variables.
//!     let server = Quickstart::start(binary, &[("TOWER_AUTH_RATE_LIMIT", "off")]);
//!     let token = server.line("TOKEN"); // a printed `TOKEN …` line
//!     let me = server.get("/me", &[("Authorization", &format!("Bearer {token}"))]);
//!     assert_eq!(me.status, 200, "{binary}: {}", me.body);
//! } // each server is killed when dropped
//! ```
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The quickstart on axum, then on actix-web: the same contract, so tests run against both.
pub(crate) const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_quickstart"), env!("CARGO_BIN_EXE_quickstart-actix")];

/// How long a quickstart may take to print its `LISTENING` line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`Quickstart::get`] waits for an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The DPoP proof algorithms the quickstart offers (`algs` of its `DPoP` challenge).
pub(crate) const DPOP_ALGS: &str = "ES256 ES384 ES512 PS256 RS256 EdDSA";

/// The quickstart's exact `WWW-Authenticate` value: a `Bearer` and a `DPoP` challenge (it enables
/// DPoP, RFC 9449 §7.2), each naming the RFC 9728 metadata document of `origin` (the public origin:
/// `TOWER_AUTH_PUBLIC_URL`, else the `LISTENING` one). An error (code, description) goes into the
/// challenge of the scheme it concerns; without credentials there is none.
pub(crate) fn challenge(origin: &str, bearer_error: Option<(&str, &str)>, dpop_error: Option<(&str, &str)>) -> String {
    let metadata = format!(r#"resource_metadata="{origin}/.well-known/oauth-protected-resource""#);
    let error = |e: Option<(&str, &str)>| {
        e.map(|(code, description)| format!(r#", error="{code}", error_description="{description}""#))
            .unwrap_or_default()
    };
    let (bearer, dpop) = (error(bearer_error), error(dpop_error));
    format!(
        r#"Bearer realm="tower-auth"{bearer}, {metadata}, DPoP realm="tower-auth"{dpop}, algs="{DPOP_ALGS}", {metadata}"#
    )
}

/// A running quickstart, a child process of the test; killed when dropped.
#[derive(Debug)]
pub(crate) struct Quickstart {
    child: Child,
    /// The origin of its `LISTENING` line: `http://127.0.0.1:PORT` (`https://…` with TLS).
    pub(crate) origin: String,
    /// The lines it printed before `LISTENING` (`TOKEN …`, `ADMIN_TOKEN …`, `API_KEY …` in
    /// embedded mode).
    pub(crate) lines: Vec<String>,
}

/// An HTTP answer as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The status code.
    pub(crate) status: u16,
    /// Every header field in order, names in lower case, values trimmed.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, as sent (the quickstart answers with `Content-Length`, never chunked, to these
    /// `Connection: close` requests).
    pub(crate) body: String,
}

impl Answer {
    /// The values of every field named `name` (any case), in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// The value of the first field named `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }

    /// The first `WWW-Authenticate` value.
    pub(crate) fn www_authenticate(&self) -> Option<&str> {
        self.header("www-authenticate")
    }
}

impl Quickstart {
    /// Starts `binary` with a cleared environment but `TOWER_AUTH_ADDR=127.0.0.1:0`,
    /// `RUST_LOG=off` and `env` (later entries win), and waits up to a minute for its `LISTENING`
    /// line. Its standard error is discarded; panics if it does not come up.
    pub(crate) fn start(binary: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary);
        command.env_clear().env("TOWER_AUTH_ADDR", "127.0.0.1:0").env("RUST_LOG", "off");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start the quickstart");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self { child, origin: String::new(), lines: Vec::new() };
        loop {
            let line = rx
                .recv_timeout(START_TIMEOUT)
                .unwrap_or_else(|e| panic!("{binary}: no LISTENING line within {START_TIMEOUT:?} ({e})"));
            if let Some(origin) = line.strip_prefix("LISTENING ") {
                server.origin = origin.to_owned();
                return server;
            }
            server.lines.push(line);
        }
    }

    /// The absolute URL of `path` (which starts with `/`) on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The value of a printed `NAME value` line, if there is one.
    pub(crate) fn printed(&self, name: &str) -> Option<String> {
        let prefix = format!("{name} ");
        self.lines.iter().find_map(|l| l.strip_prefix(&prefix)).map(str::to_owned)
    }

    /// The value of a printed `NAME value` line; panics if there is none.
    pub(crate) fn line(&self, name: &str) -> String {
        self.printed(name).unwrap_or_else(|| panic!("no {name} line in {:?}", self.lines))
    }

    /// `GET path` with extra header lines, sent as written (one request per connection,
    /// `Connection: close`), so tests can send what a client library would refuse. Plain HTTP only:
    /// panics on an `https://` origin.
    pub(crate) fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let authority = self.origin.strip_prefix("http://").expect("an http:// origin (this client has no TLS)");
        let mut stream = TcpStream::connect(authority).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        let extra: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\n{extra}Connection: close\r\n\r\n").expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
        let mut head = head.lines();
        let status = head.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
        let headers = head
            .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())))
            .collect();
        Answer { status, headers, body: body.to_owned() }
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
