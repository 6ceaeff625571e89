//! `GET /reports` (role `reporter`, from the well-known role claims) on the real quickstart
//! binaries, axum and actix-web: embedded mode (the printed `ADMIN_TOKEN` holds the role, `TOKEN`
//! does not) and pointed at an external issuer (Keycloak-, Auth0-, Okta- and Entra-shaped tokens).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use tower_auth::testkit::TestIssuer;

const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_quickstart"), env!("CARGO_BIN_EXE_quickstart-actix")];
const AUDIENCE: &str = "https://api.tower-auth.test";

/// A running quickstart; killed (it is our child) when dropped.
struct Quickstart {
    child: Child,
    origin: String,
    lines: Vec<String>,
}

impl Quickstart {
    /// Starts `binary` on 127.0.0.1:0 with only `env` set, and waits for its `LISTENING` line.
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
        let mut lines = Vec::new();
        let mut server = Self { child, origin: String::new(), lines: Vec::new() };
        loop {
            let line = rx.recv_timeout(Duration::from_secs(60)).expect("a LISTENING line within 60 s");
            if let Some(origin) = line.strip_prefix("LISTENING ") {
                server.origin = origin.to_owned();
                break;
            }
            lines.push(line);
        }
        server.lines = lines;
        server
    }

    /// The value of a printed `NAME value` line.
    fn printed(&self, name: &str) -> String {
        let prefix = format!("{name} ");
        self.lines.iter().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {name} line")).to_owned()
    }

    /// `GET path`, with a bearer token: the status and the `WWW-Authenticate` value.
    fn get(&self, path: &str, token: Option<&str>) -> (u16, Option<String>, String) {
        let authority = self.origin.strip_prefix("http://").expect("http origin");
        let mut stream = TcpStream::connect(authority).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\n{auth}Connection: close\r\n\r\n").expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
        let mut head = head.lines();
        let status = head.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
        let www = head.find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("www-authenticate").then(|| value.trim().to_owned())
        });
        (status, www, body.to_owned())
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_forbidden(binary: &str, what: &str, (status, www, body): (u16, Option<String>, String)) {
    assert_eq!(status, 403, "{binary} {what}: {body}");
    assert_eq!(www, None, "{binary} {what}");
    assert!(body.contains(r#""status":403"#), "{binary} {what}: {body}");
}

#[test]
fn embedded_mode_admin_token_holds_the_reporter_role() {
    for binary in BINARIES {
        let server = Quickstart::start(binary, &[]);
        let (token, admin) = (server.printed("TOKEN"), server.printed("ADMIN_TOKEN"));
        let (status, www, body) = server.get("/reports", Some(&admin));
        assert_eq!((status, www), (200, None), "{binary}: {body}");
        assert!(body.contains(r#""reports":[]"#) && body.contains("demo-admin"), "{binary}: {body}");
        assert_forbidden(binary, "TOKEN", server.get("/reports", Some(&token)));
        let (status, www, _) = server.get("/reports", None);
        // The quickstart enables DPoP: both schemes are offered, without error (RFC 9449 §7.2).
        let challenge =
            r#"Bearer realm="tower-auth", DPoP realm="tower-auth", algs="ES256 ES384 ES512 PS256 RS256 EdDSA""#;
        assert_eq!((status, www.as_deref()), (401, Some(challenge)), "{binary}");
        // The other routes are unchanged.
        assert_eq!(server.get("/orders", Some(&token)).0, 200, "{binary}");
        assert_eq!(server.get("/admin", Some(&token)).0, 403, "{binary}");
        assert_eq!(server.get("/healthz", None).0, 200, "{binary}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_issuer_role_claims_of_keycloak_auth0_okta_and_entra() {
    let issuer = TestIssuer::start().await;
    issuer.set_default_audience(AUDIENCE);
    let holders = [
        (
            "keycloak realm role",
            issuer.token().claim("realm_access", json!({"roles": ["offline_access", "reporter"]})).sign(),
        ),
        (
            "keycloak client role",
            issuer.token().claim("resource_access", json!({"quickstart": {"roles": ["reporter"]}})).sign(),
        ),
        ("auth0 permissions", issuer.token().claim("permissions", json!(["reporter"])).sign()),
        ("okta groups", issuer.token().claim("groups", json!(["Everyone", "reporter"])).sign()),
        ("entra roles", issuer.token().claim("roles", json!(["reporter"])).sign()),
    ];
    let others = [
        ("no roles", issuer.token().scope("orders:read").sign()),
        ("keycloak other roles", issuer.token().claim("realm_access", json!({"roles": ["viewer"]})).sign()),
        ("okta other groups", issuer.token().claim("groups", json!(["Everyone"])).sign()),
    ];
    for binary in BINARIES {
        let server = Quickstart::start(binary, &[("TOWER_AUTH_ISSUER", issuer.url())]);
        let blocking = tokio::task::block_in_place(|| {
            for (name, token) in &holders {
                let (status, _, body) = server.get("/reports", Some(token));
                assert_eq!(status, 200, "{binary} {name}: {body}");
            }
            for (name, token) in &others {
                assert_forbidden(binary, name, server.get("/reports", Some(token)));
            }
            server.get("/reports", None).0
        });
        assert_eq!(blocking, 401, "{binary}");
    }
}
