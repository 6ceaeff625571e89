//! The load harness: starts the same small handler (`GET /orders`) on 127.0.0.1 once per
//! configuration — no auth (also with the JWT sent and ignored), JWT (warm cache, cache off),
//! `jsonwebtoken::decode` in the handler, introspection, API key, DPoP, rate limiting, the actix-web
//! twin, and with `--peers` the crates `axum-jwt-auth` and `jwt-authorizer` (`bench/peers/`) — one
//! server at a time, each in a process of its own pinned to one core, and drives it from another
//! core with `wrk` (when on `PATH`) or the built-in client. See `bench/README.md`.
//!
//! ```text
//! cargo run --release --bin loadtest -- [--seconds 3] [--rounds 3] [--connections 32] [--warmup 1]
//!     [--client auto|wrk|builtin] [--peers] [--only jwt-warm,dpop,…] [--server-core 0] [--client-core 1]
//!     [--no-pin] [--server-prefix 'COMMAND …']
//! ```
//!
//! Rounds are interleaved: each round measures every configuration, baselines first, and a ratio is
//! taken against the baseline of the same framework in the same round; the table shows medians over
//! rounds. Bounded: `--seconds` (default 3, at most 60) per configuration and round after
//! `--warmup` seconds (default 1, at most 10), `--rounds` (default 3, at most 10), `--connections`
//! (default 32, at most 256), loopback only; every server process ends with the harness.
//!
//! Besides req/s, p50 and p99, each row shows the server's CPU time per response and the share of
//! the run it spent on its core and waiting for it (from `/proc/<pid>/task/*/schedstat`): on a
//! machine shared with other work, req/s ratios move with that work; CPU-time ratios much less.
//!
//! `--server-prefix` runs every server under a profiler, e.g. `--server-prefix 'valgrind
//! --tool=callgrind --callgrind-out-file=/tmp/cg.%p'` (instruction counts: the progress lines give
//! the responses each server sent) or `'perf record -g -o /tmp/perf.data --'`; servers are stopped
//! by closing their standard input, so the profiler writes its output. (The CPU columns then
//! measure the process started, i.e. the profiler's when it runs the server as a child.)
//!
//! `loadtest serve <mode> …` is the server side, started by the harness itself.

#[path = "loadtest/client.rs"]
mod client;
#[path = "loadtest/serve.rs"]
mod serve;

use std::collections::HashMap;
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{Credentials, Generator, Load, ProofPool, Sample};
use http::{HeaderName, HeaderValue};
use tower_auth::apikey::{ApiKeys, FileStore, NewApiKey};
use tower_auth::jwt::Algorithm;
use tower_auth::testkit::{DpopKey, LocalIssuer, TestIssuer};

const ISSUER: &str = "https://issuer.load.test";
const AUDIENCE: &str = "https://api.load.test";

/// One row of the table: a server configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    NoAuth,
    NoAuthHeader,
    JwtWarm,
    JwtCold,
    RawDecode,
    Introspection,
    ApiKey,
    Dpop,
    RateLimit,
    ActixNoAuth,
    ActixJwtWarm,
    PeerAxumJwtAuth,
    PeerJwtAuthorizer,
}

impl Mode {
    /// Every mode, in table order: each framework's baseline before its other rows, and the
    /// cold JWT row before DPoP (its rate sizes the pool of proofs).
    const ALL: [Self; 13] = [
        Self::NoAuth,
        Self::NoAuthHeader,
        Self::JwtWarm,
        Self::JwtCold,
        Self::RawDecode,
        Self::Introspection,
        Self::ApiKey,
        Self::Dpop,
        Self::RateLimit,
        Self::ActixNoAuth,
        Self::ActixJwtWarm,
        Self::PeerAxumJwtAuth,
        Self::PeerJwtAuthorizer,
    ];

    /// The name on the command line.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::NoAuth => "no-auth",
            Self::NoAuthHeader => "no-auth-header",
            Self::JwtWarm => "jwt-warm",
            Self::JwtCold => "jwt-cold",
            Self::RawDecode => "raw-decode",
            Self::Introspection => "introspection",
            Self::ApiKey => "api-key",
            Self::Dpop => "dpop",
            Self::RateLimit => "rate-limit",
            Self::ActixNoAuth => "actix-no-auth",
            Self::ActixJwtWarm => "actix-jwt-warm",
            Self::PeerAxumJwtAuth => "axum-jwt-auth",
            Self::PeerJwtAuthorizer => "jwt-authorizer",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.key() == key)
    }

    /// The row's label in the table.
    fn label(self) -> &'static str {
        match self {
            Self::NoAuth => "axum, no auth (baseline)",
            Self::NoAuthHeader => "axum, no auth, the JWT sent anyway and ignored (control)",
            Self::JwtWarm => "axum, JWT ES256, warm cache",
            Self::JwtCold => "axum, JWT ES256, cache off",
            Self::RawDecode => "axum, `jsonwebtoken::decode` ES256 in the handler (reference)",
            Self::Introspection => "axum, opaque token, introspection, warm cache",
            Self::ApiKey => "axum, API key, memory store",
            Self::Dpop => "axum, DPoP ES256 (token cached, fresh proof per request)",
            Self::RateLimit => "axum, rate limit only (per client IP, never refuses)",
            Self::ActixNoAuth => "actix-web, no auth (baseline)",
            Self::ActixJwtWarm => "actix-web, JWT ES256, warm cache",
            Self::PeerAxumJwtAuth => "peer: axum-jwt-auth 0.7 (axum 0.8), ES256",
            Self::PeerJwtAuthorizer => "peer: jwt-authorizer 0.15 (axum 0.7), ES256",
        }
    }

    /// The baseline of the same framework.
    fn baseline(self) -> Self {
        match self {
            Self::ActixNoAuth | Self::ActixJwtWarm => Self::ActixNoAuth,
            _ => Self::NoAuth,
        }
    }

    /// A peer's package under `bench/peers/` and its binary.
    fn peer(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::PeerAxumJwtAuth => Some(("axum-jwt-auth", "peer-axum-jwt-auth")),
            Self::PeerJwtAuthorizer => Some(("jwt-authorizer", "peer-jwt-authorizer")),
            _ => None,
        }
    }
}

const USAGE: &str = "usage: loadtest [--seconds N] [--rounds N] [--connections N] [--warmup N] \
[--client auto|wrk|builtin] [--peers] [--only MODE,…] [--server-core N] [--client-core N] [--no-pin]
[--server-prefix 'COMMAND …']
modes: no-auth no-auth-header jwt-warm jwt-cold raw-decode introspection api-key dpop rate-limit actix-no-auth \
actix-jwt-warm axum-jwt-auth jwt-authorizer";

/// The harness's options.
#[derive(Debug)]
struct Options {
    seconds: u64,
    rounds: usize,
    connections: usize,
    warmup: u64,
    client: String,
    modes: Vec<Mode>,
    server_core: usize,
    client_core: usize,
    pin: bool,
    /// The cores this process may use, counted before it pins itself.
    cores: usize,
    /// A command (and its arguments) every server runs under, e.g. a profiler.
    server_prefix: Vec<String>,
}

fn number(value: Option<&String>, name: &str, min: u64, max: u64) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{name} needs a value"))?;
    let n: u64 = value.parse().map_err(|_| format!("{name} {value:?} is not a number"))?;
    if (min..=max).contains(&n) { Ok(n) } else { Err(format!("{name} must be between {min} and {max}")) }
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Self {
            seconds: 3,
            rounds: 3,
            connections: 32,
            warmup: 1,
            client: "auto".to_owned(),
            modes: Vec::new(),
            server_core: 0,
            client_core: 1,
            pin: true,
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            server_prefix: Vec::new(),
        };
        let mut peers = false;
        let mut only: Option<Vec<Mode>> = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--seconds" => o.seconds = number(it.next(), arg, 1, 60)?,
                "--rounds" => o.rounds = number(it.next(), arg, 1, 10)? as usize,
                "--connections" => o.connections = number(it.next(), arg, 1, 256)? as usize,
                "--warmup" => o.warmup = number(it.next(), arg, 0, 10)?,
                "--server-core" => o.server_core = number(it.next(), arg, 0, 1023)? as usize,
                "--client-core" => o.client_core = number(it.next(), arg, 0, 1023)? as usize,
                "--client" => {
                    o.client = it.next().ok_or("--client needs a value")?.clone();
                    if !matches!(o.client.as_str(), "auto" | "wrk" | "builtin") {
                        return Err("--client is auto, wrk or builtin".to_owned());
                    }
                }
                "--server-prefix" => {
                    let prefix = it.next().ok_or("--server-prefix needs a command")?;
                    o.server_prefix = prefix.split_whitespace().map(str::to_owned).collect();
                }
                "--peers" => peers = true,
                "--no-pin" => o.pin = false,
                "--only" => {
                    let list = it.next().ok_or("--only needs a list of modes")?;
                    let modes = list
                        .split(',')
                        .map(|k| Mode::from_key(k.trim()).ok_or_else(|| format!("unknown mode {k:?}")))
                        .collect::<Result<Vec<_>, _>>()?;
                    only = Some(modes);
                }
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown option {other}")),
            }
        }
        o.modes = Mode::ALL
            .into_iter()
            .filter(|m| match &only {
                // The baselines of the chosen rows come along: every ratio needs one.
                Some(only) => only.contains(m) || only.iter().any(|c| c.baseline() == *m),
                None => m.peer().is_none() || peers,
            })
            .collect();
        if o.pin && o.server_core == o.client_core {
            return Err("--server-core and --client-core must differ".to_owned());
        }
        Ok(o)
    }
}

/// A directory for the run's key files and `wrk` scripts, removed at the end.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("tower-auth-loadtest-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The credentials and key material of a run, shared by every server (and the peers).
struct Fixtures {
    jwks: PathBuf,
    api_keys: PathBuf,
    bearer: HeaderValue,
    opaque: HeaderValue,
    api_key: HeaderValue,
    dpop_key: DpopKey,
    dpop_token: String,
    /// Answers the introspection server's first call (then its cache does); lives for the run.
    introspection: TestIssuer,
}

impl std::fmt::Debug for Fixtures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixtures").field("jwks", &self.jwks).finish_non_exhaustive()
    }
}

fn header(value: String) -> Result<HeaderValue, String> {
    HeaderValue::try_from(value).map_err(|e| e.to_string())
}

impl Fixtures {
    async fn new(dir: &Path) -> Result<Self, String> {
        let issuer = LocalIssuer::with_algorithms(ISSUER, &[Algorithm::ES256]);
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, issuer.jwks_json()).map_err(|e| e.to_string())?;
        let token = issuer.token().audience(AUDIENCE).scope("orders:read").expires_in(3600).sign();
        let dpop_key = DpopKey::generate(Algorithm::ES256);
        let dpop_token = issuer.token().audience(AUDIENCE).scope("orders:read").dpop_bound(&dpop_key).sign();
        let introspection = TestIssuer::start_with(&[Algorithm::ES256]).await;
        let exp = tower_auth::clock::unix_seconds(std::time::SystemTime::now()) + 3600;
        let opaque = introspection.issue_opaque_token("orders:read", exp);
        // The key file holds the hash only; each API-key server loads it into a memory store.
        let api_keys = dir.join("api-keys.json");
        let store = FileStore::open(api_keys.clone()).map_err(|e| e.to_string())?;
        let keys = ApiKeys::builder().store(store).build().map_err(|e| e.to_string())?;
        let issued = keys.create(NewApiKey::new("load").scopes(["orders:read"])).await.map_err(|e| e.to_string())?;
        Ok(Self {
            jwks,
            api_keys,
            bearer: header(format!("Bearer {token}"))?,
            opaque: header(format!("Bearer {opaque}"))?,
            api_key: header(issued.key.expose_secret().to_owned())?,
            dpop_key,
            dpop_token,
            introspection,
        })
    }

    fn credentials(&self, mode: Mode) -> Credentials {
        let one = |name: HeaderName, value: &HeaderValue| Credentials::Headers(vec![(name, value.clone())]);
        match mode {
            Mode::NoAuth | Mode::ActixNoAuth | Mode::RateLimit => Credentials::None,
            Mode::Introspection => one(http::header::AUTHORIZATION, &self.opaque),
            Mode::ApiKey => one(HeaderName::from_static("x-api-key"), &self.api_key),
            Mode::Dpop => unreachable!("DPoP credentials are made per server (fresh proofs)"),
            _ => one(http::header::AUTHORIZATION, &self.bearer),
        }
    }

    /// `count` fresh proofs for `GET http://{addr}/orders`, each bound to the DPoP token.
    fn dpop(&self, addr: SocketAddr, count: usize) -> Result<Credentials, String> {
        let url = format!("http://{addr}{}", client::PATH);
        let proofs = (0..count).map(|_| self.dpop_key.proof("GET", &url, Some(&self.dpop_token), None)).collect();
        Ok(Credentials::Dpop {
            authorization: header(format!("DPoP {}", self.dpop_token))?,
            proofs: Arc::new(ProofPool::new(proofs)?),
        })
    }

    fn serve_args(&self) -> Vec<String> {
        vec![
            "--jwks".into(),
            self.jwks.display().to_string(),
            "--issuer".into(),
            ISSUER.into(),
            "--audience".into(),
            AUDIENCE.into(),
        ]
    }
}

/// The time a process has run on a CPU and the time its threads waited, runnable, for one,
/// nanoseconds: the sums over its threads of the first two fields of
/// `/proc/<pid>/task/<tid>/schedstat`. `None` where the kernel does not provide them.
fn cpu_ns(pid: u32) -> Option<(u64, u64)> {
    let (mut run, mut wait) = (0u64, 0u64);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        let mut fields = stat.split_whitespace().map(str::parse::<u64>);
        run += fields.next()?.ok()?;
        wait += fields.next()?.ok()?;
    }
    Some((run, wait))
}

/// A running server process. Dropping it closes its standard input, which ends it (and lets a
/// profiler it runs under write its output); one that is still running after 30 s is killed.
#[derive(Debug)]
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Runs `generator` against this server; the sample gets the server's CPU time per response.
    async fn drive(&self, generator: &Generator, credentials: &Credentials, load: Load) -> Result<Sample, String> {
        let (before, started) = (cpu_ns(self.child.id()), Instant::now());
        let mut sample = generator.run(self.addr, credentials, load).await?;
        let wall_ns = started.elapsed().as_nanos() as f64;
        if let (Some(before), Some(after)) = (before, cpu_ns(self.child.id()))
            && sample.responses > 0
        {
            let cpu = after.0.saturating_sub(before.0) as f64;
            sample.cpu_us = Some(cpu / 1000.0 / sample.responses as f64);
            sample.busy = Some(cpu / wall_ns);
            sample.queued = Some(after.1.saturating_sub(before.1) as f64 / wall_ns);
        }
        Ok(sample)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the binaries come from and where they run.
#[derive(Debug)]
struct Launcher {
    exe: PathBuf,
    peers: HashMap<Mode, PathBuf>,
    /// The server core, when pinning.
    core: Option<usize>,
    /// See [`Options::server_prefix`].
    prefix: Vec<String>,
}

impl Launcher {
    fn start(&self, mode: Mode, fixtures: &Fixtures, replay_capacity: Option<usize>) -> Result<Server, String> {
        let (program, mut args) = match self.peers.get(&mode) {
            Some(binary) => (binary.clone(), Vec::new()),
            None => (self.exe.clone(), vec!["serve".to_owned(), mode.key().to_owned()]),
        };
        args.extend(fixtures.serve_args());
        match mode {
            Mode::Introspection => {
                args.extend(["--introspection".into(), fixtures.introspection.introspection_endpoint()])
            }
            Mode::ApiKey => args.extend(["--api-keys".into(), fixtures.api_keys.display().to_string()]),
            _ => {}
        }
        if let Some(capacity) = replay_capacity {
            args.extend(["--replay-capacity".into(), capacity.to_string()]);
        }
        let mut line: Vec<std::ffi::OsString> = Vec::new();
        if let Some(core) = self.core {
            line.extend(["taskset".into(), "-c".into(), core.to_string().into()]);
        }
        line.extend(self.prefix.iter().map(Into::into));
        line.push(program.clone().into());
        line.extend(args.into_iter().map(Into::into));
        let mut command = Command::new(&line[0]);
        command.args(&line[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        let read = std::io::BufReader::new(stdout).read_line(&mut line);
        let server_addr = line.trim().strip_prefix("LISTENING http://").and_then(|a| a.parse().ok());
        let server = match (read, server_addr) {
            (Ok(_), Some(addr)) => Server { child, addr },
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} did not start (it printed {:?})", mode.key(), line.trim()));
            }
        };
        Ok(server)
    }
}

/// The repository root (this package's parent).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Builds a peer server with its own lock file into `target/peers`; returns the binary.
fn build_peer(dir: &str, binary: &str) -> Result<PathBuf, String> {
    let root = repo_root();
    let manifest = root.join("bench/peers").join(dir).join("Cargo.toml");
    let target = root.join("target/peers");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building {} (release, --locked) into {}", manifest.display(), target.display());
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building {} failed ({status})", manifest.display()));
    }
    Ok(target.join("release").join(binary))
}

fn on_path(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Pins this process (every thread) to `core`.
fn pin_self(core: usize) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string(), &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() { Ok(()) } else { Err(format!("taskset failed ({status})")) }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// The share of wall time the server ran, and waited runnable, e.g. `62 % / 30 %`.
fn occupancy(busy: Option<f64>, queued: Option<f64>) -> String {
    match (busy, queued) {
        (Some(b), Some(q)) => format!("{:.0} % / {:.0} %", b * 100.0, q * 100.0),
        _ => "–".to_owned(),
    }
}

fn micros(us: f64) -> String {
    if us >= 10_000.0 { format!("{:.1} ms", us / 1000.0) } else { format!("{us:.0} µs") }
}

/// Everything measured: per round, the sample of each mode.
#[derive(Debug, Default)]
struct Results {
    rounds: Vec<HashMap<Mode, Sample>>,
}

/// A per-round comparison of two samples, `None` where a round lacks one of them.
type Compare = fn(&Sample, &Sample) -> Option<f64>;

/// Throughput of the first relative to the second.
fn rate_ratio(a: &Sample, b: &Sample) -> Option<f64> {
    (b.rps > 0.0).then(|| a.rps / b.rps)
}

/// The same from server CPU time per response: the throughput the first would have relative to
/// the second on a core of its own, `cpu(b) / cpu(a)`.
fn cpu_ratio(a: &Sample, b: &Sample) -> Option<f64> {
    Some(b.cpu_us? / a.cpu_us?)
}

impl Results {
    /// The median over rounds of `compare(a, b)`.
    fn median(&self, a: Mode, b: Mode, compare: Compare) -> Option<f64> {
        median(self.rounds.iter().filter_map(|r| compare(r.get(&a)?, r.get(&b)?)).collect())
    }

    fn of(&self, mode: Mode, field: fn(&Sample) -> Option<f64>) -> Option<f64> {
        median(self.rounds.iter().filter_map(|r| field(r.get(&mode)?)).collect())
    }

    fn print(&self, modes: &[Mode]) {
        println!(
            "| mode | req/s (median) | p50 | p99 | vs baseline, same round (median) | server CPU per request | \
             vs baseline by CPU time | server on its core / waiting for it | errors |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let two = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"));
        for &mode in modes {
            let Some(rps) = self.of(mode, |s| Some(s.rps)) else { continue };
            let errors: u64 = self.rounds.iter().filter_map(|r| r.get(&mode)).map(|s| s.errors).sum();
            println!(
                "| {} | {rps:.0} | {} | {} | {} | {} | {} | {} | {errors} |",
                mode.label(),
                micros(self.of(mode, |s| Some(s.p50_us)).unwrap_or_default()),
                micros(self.of(mode, |s| Some(s.p99_us)).unwrap_or_default()),
                two(self.median(mode, mode.baseline(), rate_ratio)),
                self.of(mode, |s| s.cpu_us).map_or_else(|| "–".to_owned(), |us| format!("{us:.2} µs")),
                two(self.median(mode, mode.baseline(), cpu_ratio)),
                occupancy(self.of(mode, |s| s.busy), self.of(mode, |s| s.queued)),
            );
        }
    }

    fn print_targets(&self) {
        // (target, a, b, "at least" (else "at most"), bound): the measure is rps(a) / rps(b), and
        // from CPU time cpu(b) / cpu(a); for a cost bound, a is the reference and b the row.
        let rows: [(&str, Mode, Mode, bool, f64); 8] = [
            ("JWT warm ≥ 0.92× no auth", Mode::JwtWarm, Mode::NoAuth, true, 0.92),
            ("API key ≥ 0.90× no auth", Mode::ApiKey, Mode::NoAuth, true, 0.90),
            ("introspection warm ≥ 0.90× no auth", Mode::Introspection, Mode::NoAuth, true, 0.90),
            ("rate limit ≥ 0.95× no auth", Mode::RateLimit, Mode::NoAuth, true, 0.95),
            ("JWT cold ≤ 1.10× the cost of raw `jsonwebtoken::decode`", Mode::RawDecode, Mode::JwtCold, false, 1.10),
            ("DPoP ≤ 1.10× the cost of raw `jsonwebtoken::decode`", Mode::RawDecode, Mode::Dpop, false, 1.10),
            ("JWT warm ≥ 7× jwt-authorizer (same token)", Mode::JwtWarm, Mode::PeerJwtAuthorizer, true, 7.0),
            ("JWT warm ≥ 25× axum-jwt-auth (same token)", Mode::JwtWarm, Mode::PeerAxumJwtAuth, true, 25.0),
        ];
        println!("\n| target | measured, req/s (median of per-round ratios) | met | by server CPU time | met |");
        println!("|---|---:|---|---:|---|");
        let verdict = |value: f64, at_least: bool, bound: f64| {
            if (at_least && value >= bound) || (!at_least && value <= bound) { "yes" } else { "**no**" }
        };
        for (target, a, b, at_least, bound) in rows {
            let Some(by_rate) = self.median(a, b, rate_ratio) else { continue };
            let by_cpu = self.median(a, b, cpu_ratio);
            println!(
                "| {target} | {by_rate:.2}× | {} | {} | {} |",
                verdict(by_rate, at_least, bound),
                by_cpu.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}×")),
                by_cpu.map_or("–", |v| verdict(v, at_least, bound)),
            );
        }
    }
}

/// The expected rate of DPoP requests, to size the proof pool: DPoP costs at least one signature
/// check per request, as a cold JWT does, so the cold row of this round (else DPoP's last round)
/// bounds it.
fn dpop_rate_estimate(results: &Results) -> f64 {
    let this_round = results.rounds.last().and_then(|r| r.get(&Mode::JwtCold));
    let last_dpop = results.rounds.iter().rev().find_map(|r| r.get(&Mode::Dpop));
    this_round.or(last_dpop).map_or(20_000.0, |s| s.rps)
}

/// The most proofs made for one run of the generator (about 0.7 KB each).
const MAX_PROOFS: usize = 2_000_000;

fn proofs_for(rate: f64, seconds: u64) -> usize {
    ((rate * 1.5 * seconds as f64) as usize + 1_000).min(MAX_PROOFS)
}

/// Measures one mode once: start, probe, warm up, measure, stop. Returns the measurement and the
/// number of responses the server sent in all.
async fn measure_once(
    mode: Mode,
    options: &Options,
    fixtures: &Fixtures,
    launcher: &Launcher,
    generator: &Generator,
    results: &Results,
) -> Result<(Sample, u64), String> {
    let load = Load {
        connections: options.connections,
        duration: Duration::from_secs(options.seconds),
        client_core: options.pin.then_some(options.client_core),
    };
    let warm = Load { duration: Duration::from_secs(options.warmup), ..load };
    if mode != Mode::Dpop {
        let server = launcher.start(mode, fixtures, None)?;
        let credentials = fixtures.credentials(mode);
        check(mode, server.addr, &credentials).await?;
        let mut served = 1;
        if options.warmup > 0 {
            served += server.drive(generator, &credentials, warm).await?.responses;
        }
        let sample = server.drive(generator, &credentials, load).await?;
        return Ok((sample, served + sample.responses));
    }
    // DPoP: a pool of fresh proofs per run, made before it starts (signing is the client's work,
    // not the server's); the replay store holds every proof of the server's life.
    let rate = dpop_rate_estimate(results);
    let (warm_count, count) = (proofs_for(rate, options.warmup), proofs_for(rate, options.seconds));
    let server = launcher.start(mode, fixtures, Some(warm_count + count + 16))?;
    let mut served = 1;
    if options.warmup > 0 {
        let credentials = fixtures.dpop(server.addr, warm_count)?;
        check(mode, server.addr, &credentials).await?;
        served += server.drive(generator, &credentials, warm).await?.responses;
    }
    let credentials = fixtures.dpop(server.addr, count)?;
    if options.warmup == 0 {
        check(mode, server.addr, &credentials).await?;
    }
    let sample = server.drive(generator, &credentials, load).await?;
    Ok((sample, served + sample.responses))
}

/// One request must be answered 200 before a row is measured: a misconfigured row fails the run.
async fn check(mode: Mode, addr: SocketAddr, credentials: &Credentials) -> Result<(), String> {
    match client::probe(addr, credentials).await? {
        (200, _) => Ok(()),
        (status, challenge) => Err(format!(
            "{}: the first request was answered {status} (WWW-Authenticate: {})",
            mode.key(),
            challenge.as_deref().unwrap_or("none")
        )),
    }
}

async fn run(options: Options, launcher: Launcher, generator: Generator, dir: &TempDir) -> Result<(), String> {
    let fixtures = Fixtures::new(&dir.0).await?;
    let started = Instant::now();
    let load_before = load_average();
    let mut results = Results::default();
    for round in 1..=options.rounds {
        results.rounds.push(HashMap::new());
        for &mode in &options.modes {
            let (sample, served) = measure_once(mode, &options, &fixtures, &launcher, &generator, &results).await?;
            results.rounds.last_mut().expect("a round").insert(mode, sample);
            eprintln!(
                "round {round}/{}: {:<16} {:>8.0} req/s  p50 {:>8}  p99 {:>8}  CPU/request {:>9}  on/waiting \
                 for the core {:>11}  errors {}  (served {served} responses)",
                options.rounds,
                mode.key(),
                sample.rps,
                micros(sample.p50_us),
                micros(sample.p99_us),
                sample.cpu_us.map_or_else(|| "–".to_owned(), |us| format!("{us:.2} µs")),
                occupancy(sample.busy, sample.queued),
                sample.errors
            );
        }
    }
    let cores = options.cores;
    println!(
        "\n# loadtest: {} s per mode and round after {} s warm-up, {} interleaved rounds, {} keep-alive connections, {}",
        options.seconds,
        options.warmup,
        options.rounds,
        options.connections,
        generator.name()
    );
    match launcher.core {
        Some(core) => println!(
            "# {cores} cores: servers pinned to core {core} (one thread each), load generator to core {}",
            options.client_core
        ),
        None => println!("# {cores} cores: not pinned (servers and load generator share the cores)"),
    }
    println!(
        "# load average before {load_before}, after {}; {:.0} s in all\n",
        load_average(),
        started.elapsed().as_secs_f64()
    );
    results.print(&options.modes);
    results.print_targets();
    Ok(())
}

fn harness(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    // Peers first, on every core, before this process pins itself.
    let mut peers = HashMap::new();
    for mode in &options.modes {
        if let Some((dir, binary)) = mode.peer() {
            peers.insert(*mode, build_peer(dir, binary)?);
        }
    }
    let pin = options.pin && options.cores >= 2 && on_path("taskset");
    if options.pin && !pin {
        eprintln!("warning: not pinning (needs 2 cores and taskset); servers and load generator share the cores");
    }
    if pin {
        pin_self(options.client_core)?;
    }
    let options = Options { pin, ..options };
    let dir = TempDir::new()?;
    let generator = match (options.client.as_str(), on_path("wrk")) {
        ("wrk", false) => return Err("--client wrk: wrk is not on PATH (Debian package `wrk`)".to_owned()),
        ("wrk" | "auto", true) => Generator::Wrk { dir: dir.0.clone() },
        _ => Generator::Builtin,
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let launcher =
        Launcher { exe, peers, core: pin.then_some(options.server_core), prefix: options.server_prefix.clone() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(run(options, launcher, generator, &dir))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => match args.get(1).and_then(|k| Mode::from_key(k)) {
            Some(mode) if mode.peer().is_none() => {
                serve::ServeArgs::parse(&args[2..]).and_then(|serve_args| serve::serve(mode, &serve_args))
            }
            _ => Err("serve needs a mode of this binary".to_owned()),
        },
        _ => harness(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn defaults_and_rows() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.seconds, o.rounds, o.connections, o.warmup), (3, 3, 32, 1));
        assert_eq!(o.modes.len(), 11, "every row but the peers");
        assert_eq!(o.modes[0], Mode::NoAuth, "the baseline comes first");
        assert!(o.modes.iter().all(|m| m.peer().is_none()));
        assert_eq!(parse(&["--peers"]).unwrap().modes.len(), 13);
        // A chosen row brings its own framework's baseline, and only that one.
        assert_eq!(parse(&["--only", "actix-jwt-warm"]).unwrap().modes, [Mode::ActixNoAuth, Mode::ActixJwtWarm]);
        assert_eq!(parse(&["--only", "dpop,jwt-cold"]).unwrap().modes, [Mode::NoAuth, Mode::JwtCold, Mode::Dpop]);
        assert_eq!(parse(&["--only", "jwt-authorizer"]).unwrap().modes, [Mode::NoAuth, Mode::PeerJwtAuthorizer]);
        for mode in Mode::ALL {
            assert_eq!(Mode::from_key(mode.key()), Some(mode));
            assert!(Mode::ALL.iter().position(|m| *m == mode.baseline()) <= Mode::ALL.iter().position(|m| *m == mode));
        }
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            &["--seconds", "0"][..],
            &["--seconds", "61"],
            &["--seconds"],
            &["--rounds", "11"],
            &["--connections", "0"],
            &["--connections", "257"],
            &["--warmup", "-1"],
            &["--client", "ab"],
            &["--only", "jwt-warm,nope"],
            &["--server-core", "1", "--client-core", "1"],
            &["--frobnicate"],
        ] {
            assert!(parse(bad).is_err_and(|e| !e.is_empty()), "{bad:?}");
        }
        assert_eq!(parse(&["--help"]).unwrap_err(), "", "help is not an error");
        assert!(parse(&["--no-pin", "--server-core", "1", "--client-core", "1"]).is_ok());
    }

    #[test]
    fn serve_options() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let parsed = serve::ServeArgs::parse(&args(&["--issuer", "i", "--replay-capacity", "10"])).unwrap();
        assert_eq!((parsed.issuer.as_deref(), parsed.replay_capacity), (Some("i"), Some(10)));
        for bad in [&["--issuer"][..], &["--replay-capacity", "ten"], &["--port", "1"]] {
            assert!(serve::ServeArgs::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    fn sample(rps: f64, cpu_us: f64) -> Sample {
        Sample {
            rps,
            p50_us: 1.0,
            p99_us: 2.0,
            errors: 0,
            responses: 1,
            cpu_us: Some(cpu_us),
            busy: Some(1.0),
            queued: Some(0.0),
        }
    }

    #[test]
    fn ratios_are_per_round_medians_in_the_right_direction() {
        let round = |base: f64, warm: f64| {
            HashMap::from([(Mode::NoAuth, sample(base, 1e6 / base)), (Mode::JwtWarm, sample(warm, 1e6 / warm))])
        };
        let results = Results { rounds: vec![round(100.0, 90.0), round(50.0, 40.0), round(200.0, 190.0)] };
        // Per round 0.9, 0.8, 0.95: the median is 0.9, whatever the medians of the rates are.
        let by_rate = results.median(Mode::JwtWarm, Mode::NoAuth, rate_ratio).unwrap();
        let by_cpu = results.median(Mode::JwtWarm, Mode::NoAuth, cpu_ratio).unwrap();
        assert!((by_rate - 0.9).abs() < 1e-9 && (by_cpu - 0.9).abs() < 1e-9, "{by_rate} {by_cpu}");
        assert_eq!(results.median(Mode::JwtWarm, Mode::Dpop, rate_ratio), None, "no DPoP row");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(Vec::new()), None);
    }
}
