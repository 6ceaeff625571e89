//! The quickstart binaries as child processes, for the tests of this package that run them
//! (`mod common;` in a test file; each uses a part of it): [`Quickstart`] on top of [`spawn`], which
//! also starts other servers (waiting for a line they print), raw HTTP/1.1 with [`request`], and
//! [`exit_code`] for settings that must stop the server.
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
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

/// The quickstart on axum, then on actix-web: the same contract, so tests run against both.
pub(crate) const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_quickstart"), env!("CARGO_BIN_EXE_quickstart-actix")];

/// How long a process may take to print the line [`spawn`] waits for.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`request`] waits for an answer.
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

/// A child process of the test, killed when dropped. What it writes to standard error is kept, for
/// the message of a failed start.
#[derive(Debug)]
pub(crate) struct Process {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` (standard input closed) and waits up to a minute for a standard-output line
/// starting with `prefix`: returns the process, the lines printed before that one, and the rest of
/// that line, trimmed. Panics, with what the process wrote to standard error, if none comes.
pub(crate) fn spawn(mut command: Command, prefix: &str) -> (Process, Vec<String>, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (pipe, sink) = (child.stderr.take().expect("stderr"), stderr.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut text = sink.lock().expect("stderr buffer");
            text.push_str(&line);
            text.push('\n');
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let process = Process { child, stderr };
    let mut before = Vec::new();
    loop {
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => match line.strip_prefix(prefix) {
                Some(rest) => return (process, before, rest.trim().to_owned()),
                None => before.push(line),
            },
            Err(e) => panic!(
                "{command:?} printed no `{prefix}` line within {START_TIMEOUT:?} ({e}); standard error:\n{}",
                process.stderr.lock().expect("stderr buffer")
            ),
        }
    }
}

/// Runs `binary` to its end with a cleared environment but `TOWER_AUTH_ADDR=127.0.0.1:0` and `env`,
/// its output discarded: its exit code (`None` when a signal ended it).
pub(crate) fn exit_code(binary: &str, env: &[(&str, &str)]) -> Option<i32> {
    let mut command = Command::new(binary);
    command.env_clear().env("TOWER_AUTH_ADDR", "127.0.0.1:0").envs(env.iter().copied());
    command.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("run the quickstart").code()
}

/// `text` as JSON; panics with the text if it is not.
pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A running quickstart, a child process of the test; killed when dropped.
#[derive(Debug)]
pub(crate) struct Quickstart {
    /// The child process: its standard error, and its end when the quickstart is dropped.
    process: Process,
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
    /// The body (the payload of a chunked one).
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

    /// Every `WWW-Authenticate` value, in order.
    pub(crate) fn challenges(&self) -> Vec<String> {
        self.all("www-authenticate").into_iter().map(str::to_owned).collect()
    }

    /// The body as JSON; panics if it is not.
    pub(crate) fn json(&self) -> Value {
        json(&self.body)
    }
}

/// One HTTP/1.1 exchange with the `http://` `url`, header lines sent as written (`Connection:
/// close`; `Content-Length` unless a `GET` without body), so tests can send what a client library
/// would refuse. Plain HTTP only: panics on an `https://` URL.
pub(crate) fn request(url: &str, method: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let rest = url.strip_prefix("http://").expect("an http:// URL (this client has no TLS)");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let mut extra: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    if method != "GET" || !body.is_empty() {
        extra.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {authority}\r\n{extra}Connection: close\r\n\r\n{body}")
        .expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let mut head = head.lines();
    let status = head.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let headers: Vec<(String, String)> = head
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect();
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Answer { status, headers, body }
}

/// The payload of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").expect("chunk end");
    }
    out
}

impl Quickstart {
    /// Starts `binary` with a cleared environment but `TOWER_AUTH_ADDR=127.0.0.1:0`,
    /// `RUST_LOG=off` and `env` (later entries win), and waits up to a minute for its `LISTENING`
    /// line (`http://…`, or `https://…` with TLS). Panics if it does not come up.
    pub(crate) fn start(binary: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary);
        command.env_clear().env("TOWER_AUTH_ADDR", "127.0.0.1:0").env("RUST_LOG", "off").envs(env.iter().copied());
        let (process, lines, origin) = spawn(command, "LISTENING ");
        Self { process, origin, lines }
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

    /// `GET path` with extra header lines, sent as written: [`request`]. Plain HTTP only.
    pub(crate) fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        request(&self.url(path), "GET", headers, "")
    }

    /// `GET path`, with `Authorization: Bearer token` when a token is given.
    pub(crate) fn get_bearer(&self, path: &str, token: Option<&str>) -> Answer {
        let authorization = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = authorization.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.get(path, &headers)
    }
}
