//! API keys end to end, with the real binaries: the quickstart's generated demo key, and keys
//! created with the `tower-auth-keys` CLI that then authenticate against a running quickstart (axum
//! and actix-web) through the file store (`TOWER_AUTH_API_KEYS`) and PostgreSQL
//! (`TOWER_AUTH_DATABASE_URL`, the server at `DATABASE_URL`; this test fails when it is unreachable).
//! A CLI revocation reaches the running server.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Answer, BINARIES, Quickstart, challenge, json};

const CLI: &str = env!("CARGO_BIN_EXE_tower-auth-keys");

/// The quickstart's challenge to a refused key, whatever the reason (it enables DPoP: the DPoP
/// scheme is offered too, RFC 9449 §7.2).
fn invalid_api_key(server: &Quickstart) -> String {
    challenge(&server.origin, Some(("invalid_token", "Invalid API key")), None)
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `GET /me` with `X-API-Key: key`.
fn me(server: &Quickstart, key: &str) -> Answer {
    server.get("/me", &[("X-API-Key", key)])
}

/// Runs the CLI: exit status, standard output, standard error.
fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(CLI).args(args).env_clear().output().expect("run tower-auth-keys");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_file(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("tower-auth-{name}-{}-{nanos}.json", std::process::id()))
}

#[test]
fn the_quickstart_prints_a_demo_key_with_orders_read() {
    for binary in BINARIES {
        let server = Quickstart::start(binary, &[]);
        let key =
            server.printed("API_KEY").unwrap_or_else(|| panic!("{binary}: no API_KEY line in {:?}", server.lines));
        // Printed before LISTENING, after the token lines.
        let names: Vec<&str> = server.lines.iter().filter_map(|l| l.split(' ').next()).collect();
        assert_eq!(names, ["TOKEN", "ADMIN_TOKEN", "API_KEY"], "{binary}");
        let answer = me(&server, &key);
        assert_eq!(answer.status, 200, "{binary}: {}", answer.body);
        let doc = json(&answer.body);
        assert_eq!(doc["kind"], "api_key", "{binary}");
        assert_eq!(doc["scopes"], serde_json::json!(["orders:read"]), "{binary}");
        assert_eq!(doc["bound"], serde_json::Value::Null, "{binary}");
        assert_eq!(server.get("/orders", &[("X-API-Key", &key)]).status, 200, "{binary}");
        let admin = server.get("/admin", &[("X-API-Key", &key)]);
        assert_eq!(admin.status, 403, "{binary}");
        assert!(admin.www_authenticate().unwrap_or_default().contains(r#"scope="admin""#), "{binary}");
        // A mistyped key: the uniform 401.
        let mut typo = key.clone().into_bytes();
        typo[12] = if typo[12] == b'x' { b'y' } else { b'x' };
        let mistyped = me(&server, std::str::from_utf8(&typo).unwrap());
        let expected = invalid_api_key(&server);
        assert_eq!((mistyped.status, mistyped.www_authenticate()), (401, Some(expected.as_str())), "{binary}");
        // Key and token together: 400.
        let token = server.line("TOKEN");
        let both = server.get("/me", &[("X-API-Key", &key), ("Authorization", &format!("Bearer {token}"))]);
        assert_eq!(both.status, 400, "{binary}");
    }
}

#[test]
fn a_key_created_with_the_cli_authenticates_through_the_file_store() {
    let path = temp_file("cli-keys");
    let file = path.to_str().unwrap();
    let (code, key, err) = cli(&[
        "--file",
        file,
        "create",
        "--owner",
        "cli-bot",
        "--name",
        "nightly",
        "--scope",
        "orders:read,orders:write",
        "--expires-in",
        "1h",
        "--tier",
        "gold",
    ]);
    assert_eq!(code, 0, "{err}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("tak_live_") && !key.contains(' '), "the key alone on stdout: {key:?}");
    assert!(err.contains("not shown again"), "{err}");
    let id = &key[9..21];
    // Only the hash is stored.
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(stored.contains(id) && !stored.contains(&key[22..44]), "{stored}");

    let (code, listing, _) = cli(&["--file", file, "list"]);
    assert_eq!(code, 0);
    assert!(listing.contains(id) && listing.contains("active") && listing.contains("cli-bot"), "{listing}");
    let (_, listing, _) = cli(&["--file", file, "list", "--json"]);
    let listing = json(&listing);
    assert_eq!(listing[0]["id"], id);
    assert_eq!(listing[0]["scopes"], serde_json::json!(["orders:read", "orders:write"]));
    assert!(!listing.to_string().contains(&key[22..44]));

    let servers: Vec<Quickstart> =
        BINARIES.iter().map(|b| Quickstart::start(b, &[("TOWER_AUTH_API_KEYS", file)])).collect();
    for server in &servers {
        assert_eq!(server.printed("API_KEY"), None, "no demo key with a key store");
        let answer = me(server, &key);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let doc = json(&answer.body);
        assert_eq!((doc["kind"].as_str(), doc["sub"].as_str()), (Some("api_key"), Some("cli-bot")));
        assert_eq!(server.get("/admin", &[("X-API-Key", &key)]).status, 403);
    }
    // A second key, created while the servers run, is picked up; then the CLI revokes the first.
    let (code, second, err) = cli(&["--file", file, "create", "--owner", "late-bot", "--scope", "admin"]);
    assert_eq!(code, 0, "{err}");
    let second = second.trim().to_owned();
    let (code, _, err) = cli(&["--file", file, "revoke", id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(cli(&["--file", file, "revoke", id]).0, 1, "revoking twice is an error");
    for server in &servers {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let revoked = me(server, &key);
            let admin = server.get("/admin", &[("X-API-Key", &second)]);
            if revoked.status == 401 && admin.status == 200 {
                assert_eq!(revoked.www_authenticate(), Some(invalid_api_key(server).as_str()));
                break;
            }
            assert!(Instant::now() < deadline, "the CLI's changes never reached the server: {revoked:?} {admin:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    drop(servers);
    let (_, listing, _) = cli(&["--file", file, "list"]);
    assert!(listing.lines().any(|l| l.starts_with(id) && l.contains("revoked")), "{listing}");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(format!("{file}.lock"));
}

#[test]
fn a_key_created_with_the_cli_authenticates_through_postgres() {
    let url = database_url();
    for binary in BINARIES {
        let (code, key, err) =
            cli(&["--database-url", &url, "create", "--owner", "pg-bot", "--scope", "orders:read", "--max-uses", "3"]);
        assert_eq!(code, 0, "PostgreSQL at DATABASE_URL ({url}) must be reachable: {err}");
        let key = key.trim().to_owned();
        let id = key[9..21].to_owned();
        let _cleanup = DeleteRow(id.clone());
        let server = Quickstart::start(binary, &[("TOWER_AUTH_DATABASE_URL", &url)]);
        assert_eq!(server.printed("API_KEY"), None, "{binary}");
        for _ in 0..3 {
            let answer = me(&server, &key);
            assert_eq!(answer.status, 200, "{binary}: {}", answer.body);
            assert_eq!(json(&answer.body)["sub"], "pg-bot");
        }
        let spent = me(&server, &key);
        assert_eq!(
            (spent.status, spent.www_authenticate()),
            (401, Some(invalid_api_key(&server).as_str())),
            "{binary}: max uses reached"
        );
        let (code, listing, _) = cli(&["--database-url", &url, "list", "--json"]);
        assert_eq!(code, 0);
        let listing = json(&listing);
        let mine = listing.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).expect("listed");
        assert_eq!((mine["uses"].as_u64(), mine["status"].as_str()), (Some(3), Some("exhausted")), "{binary}");
        assert_eq!(cli(&["--database-url", &url, "revoke", &id]).0, 0);
    }
    // Bad arguments are usage errors.
    assert_eq!(cli(&["--database-url", &url, "create"]).0, 2);
    assert_eq!(cli(&["list"]).0, 2, "no store");
}

/// Deletes this test's key from the quickstart's (shared, default-named) table when dropped.
struct DeleteRow(String);

impl Drop for DeleteRow {
    fn drop(&mut self) {
        let id = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client.execute("DELETE FROM tower_auth_api_keys WHERE id = $1", &[&id]).await;
                }
            });
        })
        .join();
    }
}
