//! DPoP on the real quickstart binaries, axum and actix-web (RFC 9449; the quickstart contract's
//! `GET /bound`, `TOWER_AUTH_PUBLIC_URL` and `TOWER_AUTH_DPOP_NONCE`). A test issuer mints
//! DPoP-bound tokens; the quickstart is pointed at it with `TOWER_AUTH_ISSUER`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tower_auth::jwt::Algorithm;
use tower_auth::testkit::{DpopKey, TestIssuer};

const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_quickstart"), env!("CARGO_BIN_EXE_quickstart-actix")];
const AUDIENCE: &str = "https://api.tower-auth.test";
const PUBLIC_URL: &str = "https://api.quickstart.test";
const NO_CREDENTIALS: &str =
    r#"Bearer realm="tower-auth", DPoP realm="tower-auth", algs="ES256 ES384 ES512 PS256 RS256 EdDSA""#;
const INVALID_PROOF: &str = r#"Bearer realm="tower-auth", DPoP realm="tower-auth", error="invalid_dpop_proof", error_description="Invalid DPoP proof", algs="ES256 ES384 ES512 PS256 RS256 EdDSA""#;
const USE_NONCE: &str = r#"Bearer realm="tower-auth", DPoP realm="tower-auth", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256 ES384 ES512 PS256 RS256 EdDSA""#;

/// A running quickstart; killed (it is our child) when dropped.
struct Quickstart {
    child: Child,
    origin: String,
    lines: Vec<String>,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

impl Quickstart {
    fn start(binary: &str, env: &[(&str, &str)]) -> Self {
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
            let line = rx.recv_timeout(Duration::from_secs(60)).expect("a LISTENING line within 60 s");
            if let Some(origin) = line.strip_prefix("LISTENING ") {
                server.origin = origin.to_owned();
                break;
            }
            server.lines.push(line);
        }
        server
    }

    fn printed(&self, name: &str) -> String {
        let prefix = format!("{name} ");
        self.lines.iter().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {name} line")).to_owned()
    }

    /// `GET path` with raw header lines.
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let authority = self.origin.strip_prefix("http://").expect("http origin");
        let mut stream = TcpStream::connect(authority).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
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

fn now() -> i64 {
    i64::try_from(tower_auth::clock::unix_seconds(std::time::SystemTime::now())).expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_route_with_dpop_tokens_and_the_public_url() {
    let issuer = TestIssuer::start().await;
    issuer.set_default_audience(AUDIENCE);
    let key = DpopKey::generate(Algorithm::ES256);
    let bound = issuer.token().subject("alice").dpop_bound(&key).sign();
    let unbound = issuer.token().subject("bob").sign();
    for binary in BINARIES {
        let server =
            Quickstart::start(binary, &[("TOWER_AUTH_ISSUER", issuer.url()), ("TOWER_AUTH_PUBLIC_URL", PUBLIC_URL)]);
        tokio::task::block_in_place(|| {
            let proof = |path: &str| {
                key.proof_builder("GET", &format!("{PUBLIC_URL}{path}")).iat(now()).access_token(&bound).sign()
            };
            let dpop = format!("DPoP {bound}");
            // A DPoP-bound token with its proof: /bound and /me.
            let ok = server.get("/bound", &[("Authorization", &dpop), ("DPoP", &proof("/bound"))]);
            assert_eq!(ok.status, 200, "{binary}: {}", ok.body);
            assert!(ok.body.contains(r#""bound":"dpop""#) && ok.body.contains("alice"), "{binary}: {}", ok.body);
            let me = server.get("/me", &[("Authorization", &dpop), ("DPoP", &proof("/me"))]);
            assert!(
                me.status == 200 && me.body.contains(r#""bound":"dpop""#) && me.body.contains(r#""kind":"jwt""#),
                "{binary}: {}",
                me.body
            );
            // htu must name TOWER_AUTH_PUBLIC_URL, not the address the request reached.
            let local =
                key.proof_builder("GET", &format!("{}/bound", server.origin)).iat(now()).access_token(&bound).sign();
            let refused = server.get("/bound", &[("Authorization", &dpop), ("DPoP", &local)]);
            assert_eq!((refused.status, refused.all("www-authenticate")), (401, vec![INVALID_PROOF]), "{binary}");
            // An unbound bearer token is authenticated but not enough for /bound: 403, no challenge.
            let plain = server.get("/bound", &[("Authorization", &format!("Bearer {unbound}"))]);
            assert_eq!((plain.status, plain.all("www-authenticate").len()), (403, 0), "{binary}: {}", plain.body);
            assert!(plain.body.contains(r#""status":403"#), "{binary}: {}", plain.body);
            assert_eq!(server.get("/me", &[("Authorization", &format!("Bearer {unbound}"))]).status, 200, "{binary}");
            // No credentials: both schemes offered.
            let none = server.get("/bound", &[]);
            assert_eq!((none.status, none.all("www-authenticate")), (401, vec![NO_CREDENTIALS]), "{binary}");
            // The bound token as a bearer token: the downgrade is refused (RFC 9449 §7.2).
            assert_eq!(server.get("/me", &[("Authorization", &format!("Bearer {bound}"))]).status, 401, "{binary}");
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_public_url_and_required_nonces() {
    let issuer = TestIssuer::start().await;
    issuer.set_default_audience(AUDIENCE);
    let key = DpopKey::generate(Algorithm::EdDSA);
    let bound = issuer.token().dpop_bound(&key).sign();
    for binary in BINARIES {
        let server = Quickstart::start(binary, &[("TOWER_AUTH_ISSUER", issuer.url()), ("TOWER_AUTH_DPOP_NONCE", "on")]);
        tokio::task::block_in_place(|| {
            // Without TOWER_AUTH_PUBLIC_URL the origin is the printed LISTENING address.
            let url = format!("{}/bound", server.origin);
            let dpop = format!("DPoP {bound}");
            let first = server
                .get("/bound", &[("Authorization", &dpop), ("DPoP", &key.proof("GET", &url, Some(&bound), None))]);
            assert_eq!((first.status, first.all("www-authenticate")), (401, vec![USE_NONCE]), "{binary}");
            let nonces = first.all("dpop-nonce");
            assert_eq!(nonces.len(), 1, "{binary}");
            let retry = server.get(
                "/bound",
                &[("Authorization", &dpop), ("DPoP", &key.proof("GET", &url, Some(&bound), Some(nonces[0])))],
            );
            assert_eq!(retry.status, 200, "{binary}: {}", retry.body);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_tokens_are_not_sender_constrained() {
    for binary in BINARIES {
        let server = Quickstart::start(binary, &[]);
        tokio::task::block_in_place(|| {
            let token = server.printed("TOKEN");
            let answer = server.get("/bound", &[("Authorization", &format!("Bearer {token}"))]);
            assert_eq!((answer.status, answer.all("www-authenticate").len()), (403, 0), "{binary}");
        });
    }
}

#[test]
fn an_invalid_nonce_setting_stops_the_server() {
    for binary in BINARIES {
        let status = Command::new(binary)
            .env_clear()
            .env("TOWER_AUTH_ADDR", "127.0.0.1:0")
            .env("TOWER_AUTH_DPOP_NONCE", "maybe")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run the quickstart");
        assert_eq!(status.code(), Some(2), "{binary}");
    }
}
