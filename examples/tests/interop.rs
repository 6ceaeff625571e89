//! The quickstart binaries (axum and actix-web) pointed at a real OpenID Provider: `oidc-provider`
//! from `interop/oidc-provider/server.js` on 127.0.0.1, through the contract variables
//! `TOWER_AUTH_ISSUER`, `TOWER_AUTH_AUDIENCE` and `TOWER_AUTH_INTROSPECTION_CLIENT_ID` / `…_SECRET`.
//! An RFC 9068 JWT and an opaque token, both obtained from the provider with the client credentials
//! grant, open `GET /me`; the RFC 9728 document names the provider.
//!
//! Needs Node.js (`node` on `PATH`) and `npm ci --prefix interop/oidc-provider` (run by `.ci/run`);
//! without them the test fails with that message.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_quickstart"), env!("CARGO_BIN_EXE_quickstart-actix")];
const AUDIENCE: &str = "https://api.tower-auth.test";

/// A child process killed when dropped, with the lines it printed before the awaited one.
struct Process {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` and waits (at most 60 s) for a standard-output line starting with `prefix`;
/// returns the process and the rest of that line.
fn spawn(mut command: Command, prefix: &str) -> (Process, String) {
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
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return (process, rest.trim().to_owned());
                }
            }
            Err(_) => panic!(
                "{command:?} printed no `{prefix}` line within 60 s; standard error:\n{}",
                process.stderr.lock().expect("stderr buffer")
            ),
        }
    }
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/oidc-provider")
}

/// `oidc-provider` on a free port: the process and its issuer identifier.
fn provider() -> (Process, String) {
    let dir = fixture_dir();
    assert!(
        dir.join("node_modules/oidc-provider/package.json").is_file(),
        "the interop fixture's npm packages are missing: run `npm ci --prefix interop/oidc-provider` from the \
         repository root (.ci/run does)"
    );
    let path = std::env::var_os("PATH").unwrap_or_default();
    let node = std::env::split_paths(&path).map(|d| d.join("node")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("`node` (Node.js 20 or later) is not on PATH: the interop tests run oidc-provider with it")
    });
    let mut command = Command::new(node);
    command.arg("server.js").args(["--port", "0"]).current_dir(dir);
    spawn(command, "READY ")
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 exchange with `http://authority`, `Connection: close`.
fn exchange(url: &str, method: &str, headers: &[(&str, String)], body: &str) -> Answer {
    let rest = url.strip_prefix("http://").expect("an http URL on 127.0.0.1");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let extra: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let headers: Vec<(String, String)> = lines
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

/// Standard base64 with padding (RFC 4648 §4), for HTTP Basic credentials.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[usize::try_from((n >> (18 - 6 * i)) & 63).expect("index")]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A client credentials grant at the provider for the quickstart's audience.
fn access_token(issuer: &str, client: &str, secret: &str, scope: &str) -> String {
    let form = format!(
        "grant_type=client_credentials&scope={}&resource={}",
        scope.replace(' ', "+"),
        AUDIENCE.replace(':', "%3A").replace('/', "%2F")
    );
    let answer = exchange(
        &format!("{issuer}/token"),
        "POST",
        &[
            ("Authorization", format!("Basic {}", base64(format!("{client}:{secret}").as_bytes()))),
            ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
        ],
        &form,
    );
    assert_eq!(answer.status, 200, "token endpoint: {}", answer.body);
    answer.json()["access_token"].as_str().expect("access_token").to_owned()
}

fn get(origin: &str, path: &str, token: Option<&str>) -> Answer {
    let headers: Vec<(&str, String)> = token.map(|t| ("Authorization", format!("Bearer {t}"))).into_iter().collect();
    exchange(&format!("{origin}{path}"), "GET", &headers, "")
}

#[test]
fn base64_of_rfc4648_test_vectors() {
    for (input, output) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(input.as_bytes()), output);
    }
}

#[test]
fn quickstart_with_a_real_openid_provider() {
    let (_provider, issuer) = provider();
    for binary in BINARIES {
        let mut command = Command::new(binary);
        command.env_clear().env("TOWER_AUTH_ADDR", "127.0.0.1:0").env("RUST_LOG", "off");
        command.env("TOWER_AUTH_ISSUER", &issuer).env("TOWER_AUTH_AUDIENCE", AUDIENCE);
        command.env("TOWER_AUTH_INTROSPECTION_CLIENT_ID", "interop-rs");
        command.env("TOWER_AUTH_INTROSPECTION_CLIENT_SECRET", "interop-rs-secret");
        let (_server, origin) = spawn(command, "LISTENING ");

        // An RFC 9068 JWT, validated with the keys of the provider's discovery document.
        let jwt = access_token(&issuer, "interop-jwt", "interop-jwt-secret", "orders:read");
        let me = get(&origin, "/me", Some(&jwt));
        assert_eq!(me.status, 200, "{binary}: {}", me.body);
        assert_eq!(
            me.json(),
            json!({"sub": "interop-jwt", "client_id": "interop-jwt", "scopes": ["orders:read"], "kind": "jwt", "bound": null}),
            "{binary}"
        );
        assert_eq!(get(&origin, "/orders", Some(&jwt)).status, 200, "{binary}");
        assert_eq!(get(&origin, "/admin", Some(&jwt)).status, 403, "{binary}");

        // An opaque token, introspected at the provider with the quickstart's client credentials.
        let opaque = access_token(&issuer, "interop-opaque", "interop-opaque-secret", "orders:read admin");
        let me = get(&origin, "/me", Some(&opaque));
        assert_eq!(me.status, 200, "{binary}: {}", me.body);
        assert_eq!(
            me.json(),
            json!({"sub": "interop-opaque", "client_id": "interop-opaque", "scopes": ["orders:read", "admin"], "kind": "introspection", "bound": null}),
            "{binary}"
        );
        assert_eq!(get(&origin, "/admin", Some(&opaque)).status, 200, "{binary}");

        // RFC 9728: the challenge points at the document, which names the provider.
        let metadata_url = format!("{origin}/.well-known/oauth-protected-resource");
        let refused = get(&origin, "/me", None);
        assert_eq!(refused.status, 401, "{binary}");
        let challenge = refused.header("www-authenticate");
        assert_eq!(challenge.len(), 1, "{binary}");
        assert!(
            challenge[0]
                .starts_with(&format!(r#"Bearer realm="tower-auth", resource_metadata="{metadata_url}", DPoP "#)),
            "{binary}: {}",
            challenge[0]
        );
        let doc = get(&origin, "/.well-known/oauth-protected-resource", None);
        assert_eq!(doc.status, 200, "{binary}");
        assert_eq!(doc.header("content-type"), ["application/json"], "{binary}");
        let doc = doc.json();
        assert_eq!(doc["resource"], origin.as_str(), "{binary}");
        assert_eq!(doc["authorization_servers"], json!([issuer]), "{binary}");
        assert_eq!(doc["scopes_supported"], json!(["orders:read", "orders:write", "admin"]), "{binary}");
    }
}
