//! The load generators: `wrk` (when it is on `PATH`) or the built-in client — keep-alive HTTP/1.1
//! connections at a fixed concurrency for a bounded time, latencies in an HDR histogram. Either one
//! runs pinned to the client core while the server runs on its own.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// The path every server serves.
pub(crate) const PATH: &str = "/orders";

/// What one measurement gives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// Successful (200) responses per second.
    pub(crate) rps: f64,
    /// Median latency, microseconds.
    pub(crate) p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub(crate) p99_us: f64,
    /// Responses other than 200, and connection failures.
    pub(crate) errors: u64,
    /// Every response received, whatever its status.
    pub(crate) responses: u64,
    /// The server's CPU time (user and system, all threads) per response, microseconds: unlike
    /// req/s, barely moved by other work on the machine taking the server's core away.
    pub(crate) cpu_us: Option<f64>,
    /// The share of the run's wall time the server spent on a CPU: near 1 when the server's core
    /// is the bottleneck, lower when the load generator (or other work on the machine) is.
    pub(crate) busy: Option<f64>,
    /// The share of the run's wall time the server was runnable but waited for its core (taken by
    /// other work): busy + queued near 1 means the server's core set the pace.
    pub(crate) queued: Option<f64>,
}

/// Fresh DPoP proofs, each sent once: a proof cannot be reused (its `jti` is single-use).
#[derive(Debug)]
pub(crate) struct ProofPool {
    proofs: Vec<HeaderValue>,
    next: AtomicUsize,
}

impl ProofPool {
    pub(crate) fn new(proofs: Vec<String>) -> Result<Self, String> {
        let proofs = proofs
            .into_iter()
            .map(|p| HeaderValue::try_from(p).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { proofs, next: AtomicUsize::new(0) })
    }

    fn take(&self) -> Option<&HeaderValue> {
        self.proofs.get(self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn write_lines(&self, path: &Path) -> Result<(), String> {
        let mut text = String::with_capacity(self.proofs.len() * 700);
        for proof in &self.proofs {
            text.push_str(proof.to_str().map_err(|e| e.to_string())?);
            text.push('\n');
        }
        std::fs::write(path, text).map_err(|e| e.to_string())
    }
}

/// The credentials every request of a row carries.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// None (the baselines).
    None,
    /// The same header fields on every request.
    Headers(Vec<(HeaderName, HeaderValue)>),
    /// `Authorization: DPoP …` and a fresh `DPoP` proof per request.
    Dpop { authorization: HeaderValue, proofs: Arc<ProofPool> },
}

impl Credentials {
    /// One request's header fields; `None` once the proofs are used up.
    fn headers(&self) -> Option<Vec<(HeaderName, HeaderValue)>> {
        match self {
            Self::None => Some(Vec::new()),
            Self::Headers(headers) => Some(headers.clone()),
            Self::Dpop { authorization, proofs } => Some(vec![
                (http::header::AUTHORIZATION, authorization.clone()),
                (HeaderName::from_static("dpop"), proofs.take()?.clone()),
            ]),
        }
    }
}

/// Which load generator drives the servers.
#[derive(Debug, Clone)]
pub(crate) enum Generator {
    /// The built-in client, in this process.
    Builtin,
    /// `wrk` (one thread), with a Lua script written to `dir`.
    Wrk { dir: PathBuf },
}

/// How a generator runs: where, how hard, how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) connections: usize,
    pub(crate) duration: Duration,
    /// The core `wrk` is pinned to (`None`: not pinned).
    pub(crate) client_core: Option<usize>,
}

impl Generator {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Builtin => "built-in client (hyper, one thread)",
            Self::Wrk { .. } => "wrk (one thread)",
        }
    }

    /// Drives `addr` with `credentials` under `load`.
    pub(crate) async fn run(&self, addr: SocketAddr, credentials: &Credentials, load: Load) -> Result<Sample, String> {
        match self {
            Self::Builtin => Ok(builtin(addr, credentials, load).await),
            Self::Wrk { dir } => {
                let (dir, credentials) = (dir.clone(), credentials.clone());
                tokio::task::spawn_blocking(move || wrk(&dir, addr, &credentials, load))
                    .await
                    .map_err(|e| e.to_string())?
            }
        }
    }
}

/// Sends one request; returns its status and `WWW-Authenticate` (to explain a refusal).
pub(crate) async fn probe(addr: SocketAddr, credentials: &Credentials) -> Result<(u16, Option<String>), String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = request(credentials).ok_or("no DPoP proof left for the probe")?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok((status, challenge))
}

fn request(credentials: &Credentials) -> Option<http::Request<Empty<Bytes>>> {
    let mut request = http::Request::builder().uri(PATH).header(http::header::HOST, "127.0.0.1");
    for (name, value) in credentials.headers()? {
        request = request.header(name, value);
    }
    request.body(Empty::new()).ok()
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s, three significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// One keep-alive connection sending requests until `stop`: its 200 answers, every response, and
/// the latencies of the 200 answers.
async fn connection(
    addr: SocketAddr,
    credentials: Credentials,
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
) -> (u64, u64, Histogram<u64>) {
    let mut latencies = histogram();
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        errors.fetch_add(1, Ordering::Relaxed);
        return (0, 0, latencies);
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
        errors.fetch_add(1, Ordering::Relaxed);
        return (0, 0, latencies);
    };
    tokio::spawn(conn);
    let (mut ok, mut responses) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let Some(request) = request(&credentials) else {
            // The proofs ran out: the row's error count says so.
            errors.fetch_add(1, Ordering::Relaxed);
            break;
        };
        if sender.ready().await.is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
        let sent = Instant::now();
        match sender.send_request(request).await {
            Ok(response) => {
                responses += 1;
                let status = response.status();
                if response.into_body().collect().await.is_err() || status != 200 {
                    errors.fetch_add(1, Ordering::Relaxed);
                } else {
                    ok += 1;
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    latencies.saturating_record(micros.max(1));
                }
            }
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    (ok, responses, latencies)
}

async fn builtin(addr: SocketAddr, credentials: &Credentials, load: Load) -> Sample {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..load.connections)
        .map(|_| tokio::spawn(connection(addr, credentials.clone(), stop.clone(), errors.clone())))
        .collect();
    tokio::time::sleep(load.duration).await;
    stop.store(true, Ordering::Relaxed);
    let (mut total, mut responses) = (0u64, 0u64);
    let mut latencies = histogram();
    for task in tasks {
        if let Ok((ok, answered, h)) = task.await {
            total += ok;
            responses += answered;
            let _ = latencies.add(&h);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    Sample {
        rps: total as f64 / elapsed,
        p50_us: latencies.value_at_quantile(0.5) as f64,
        p99_us: latencies.value_at_quantile(0.99) as f64,
        errors: errors.load(Ordering::Relaxed),
        responses,
        cpu_us: None,
        busy: None,
        queued: None,
    }
}

/// A Lua string literal of a header value (tokens, keys and proofs are base64url, dots and
/// a few ASCII letters; anything else is refused rather than escaped).
fn lua_string(value: &str) -> Result<String, String> {
    if value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~+/= ".contains(&b)) {
        Ok(format!("\"{value}\""))
    } else {
        Err("a header value with characters the wrk script does not quote".to_owned())
    }
}

/// The `done` hook prints one machine-readable line: requests, duration (µs), p50 and p99 (µs),
/// non-2xx responses, socket errors.
const WRK_DONE: &str = r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %d %d %.0f %.0f %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"#;

fn wrk_script(dir: &Path, credentials: &Credentials) -> Result<PathBuf, String> {
    let mut script = String::from("wrk.method = \"GET\"\n");
    match credentials {
        Credentials::None => {}
        Credentials::Headers(headers) => {
            for (name, value) in headers {
                let value = value.to_str().map_err(|e| e.to_string())?;
                let _ = writeln!(script, "wrk.headers[{}] = {}", lua_string(name.as_str())?, lua_string(value)?);
            }
        }
        Credentials::Dpop { authorization, proofs } => {
            // One wrk thread: each proof is sent once, in order. Past the end the script starts
            // over, and the server answers the replays 401: they show as errors.
            let file = dir.join("proofs.txt");
            proofs.write_lines(&file)?;
            let authorization = lua_string(authorization.to_str().map_err(|e| e.to_string())?)?;
            let file = lua_string(file.to_str().ok_or("temporary path is not UTF-8")?)?;
            let _ = write!(
                script,
                r#"
local proofs, n, i = {{}}, 0, 0
function init(args)
  for line in io.lines({file}) do
    n = n + 1
    proofs[n] = line
  end
end
function request()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format(nil, nil, {{ ["Authorization"] = {authorization}, ["DPoP"] = proofs[i] }})
end
"#
            );
        }
    }
    script.push_str(WRK_DONE);
    let path = dir.join("load.lua");
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    Ok(path)
}

fn wrk(dir: &Path, addr: SocketAddr, credentials: &Credentials, load: Load) -> Result<Sample, String> {
    let script = wrk_script(dir, credentials)?;
    let mut command = match load.client_core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string(), "wrk"]);
            c
        }
        None => Command::new("wrk"),
    };
    // wrk takes whole seconds.
    let seconds = load.duration.as_secs().max(1);
    command
        .args(["-t", "1", "-c", &load.connections.to_string(), "-d", &format!("{seconds}s"), "--timeout", "10s", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}{PATH}"));
    let output = command.output().map_err(|e| format!("cannot run wrk: {e}"))?;
    parse_wrk_output(&String::from_utf8_lossy(&output.stdout))
        .map_err(|e| format!("{e} (wrk {}: {})", output.status, String::from_utf8_lossy(&output.stderr).trim()))
}

/// Reads the `WRK_RESULT` line of the script's `done` hook.
pub(crate) fn parse_wrk_output(stdout: &str) -> Result<Sample, String> {
    let line = stdout.lines().find_map(|l| l.strip_prefix("WRK_RESULT ")).ok_or("wrk printed no result")?;
    let fields = line.split_whitespace().map(str::parse::<u64>).collect::<Result<Vec<_>, _>>();
    let Ok([requests, duration_us, p50_us, p99_us, status_errors, socket_errors]) = fields.as_deref() else {
        return Err(format!("unexpected wrk result line: {line:?}"));
    };
    if *duration_us == 0 || status_errors > requests {
        return Err(format!("inconsistent wrk result line: {line:?}"));
    }
    Ok(Sample {
        rps: (requests - status_errors) as f64 / (*duration_us as f64 / 1e6),
        p50_us: *p50_us as f64,
        p99_us: *p99_us as f64,
        errors: status_errors.saturating_add(*socket_errors),
        responses: *requests,
        cpu_us: None,
        busy: None,
        queued: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_result_line() {
        let out = "Running 3s test @ http://127.0.0.1:1/orders\n  1 threads and 32 connections\n\
                   WRK_RESULT 300000 3000000 210 900 0 0\nRequests/sec: 100000.00\n";
        let sample = parse_wrk_output(out).unwrap();
        assert_eq!(sample.rps, 100_000.0);
        assert_eq!((sample.p50_us, sample.p99_us, sample.errors, sample.responses), (210.0, 900.0, 0, 300_000));
        // Non-2xx answers are errors, and not counted as served requests per second.
        let sample = parse_wrk_output("WRK_RESULT 1000 1000000 5 9 250 3").unwrap();
        assert_eq!((sample.rps, sample.errors, sample.responses), (750.0, 253, 1000));
    }

    #[test]
    fn wrk_garbage_is_refused() {
        for garbage in [
            "",
            "Requests/sec: 1.0",
            "WRK_RESULT",
            "WRK_RESULT 1 2 3 4 5",
            "WRK_RESULT 1 2 3 4 5 6 7",
            "WRK_RESULT 1 2 3 4 x 6",
            "WRK_RESULT -1 2 3 4 5 6",
            "WRK_RESULT 1.5 2 3 4 5 6",
            "WRK_RESULT 10 0 3 4 0 0",
            "WRK_RESULT 10 5 3 4 11 0",
            "WRK_RESULT 99999999999999999999999 1 1 1 1 1",
            "wrk_result 1 2 3 4 5 6",
        ] {
            assert!(parse_wrk_output(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn lua_strings_are_quoted_or_refused() {
        assert_eq!(lua_string("Bearer eyJ.a-b_c~d+e/f==").unwrap(), "\"Bearer eyJ.a-b_c~d+e/f==\"");
        for bad in ["a\"b", "a\\b", "a\nb", "a]]b", "a'b", "é", "a\tb", "a\0b"] {
            assert!(lua_string(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wrk_script_carries_the_credentials() {
        let dir = std::env::temp_dir().join(format!("tower-auth-loadtest-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let headers =
            Credentials::Headers(vec![(http::header::AUTHORIZATION, HeaderValue::from_static("Bearer abc.def"))]);
        let script = std::fs::read_to_string(wrk_script(&dir, &headers).unwrap()).unwrap();
        assert!(script.contains("wrk.headers[\"authorization\"] = \"Bearer abc.def\""), "{script}");
        assert!(script.contains("function done("), "{script}");
        let proofs = Arc::new(ProofPool::new(vec!["p1.a.b".into(), "p2.a.b".into()]).unwrap());
        let dpop = Credentials::Dpop { authorization: HeaderValue::from_static("DPoP tok"), proofs };
        let script = std::fs::read_to_string(wrk_script(&dir, &dpop).unwrap()).unwrap();
        assert!(script.contains("function request()") && script.contains("\"DPoP tok\""), "{script}");
        assert_eq!(std::fs::read_to_string(dir.join("proofs.txt")).unwrap(), "p1.a.b\np2.a.b\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_proof_is_handed_out_once() {
        let pool = Arc::new(ProofPool::new(vec!["a".into(), "b".into()]).unwrap());
        let credentials = Credentials::Dpop { authorization: HeaderValue::from_static("DPoP t"), proofs: pool };
        let first = credentials.headers().unwrap();
        let second = credentials.headers().unwrap();
        assert_eq!(first[1].1, "a");
        assert_eq!(second[1].1, "b");
        assert!(credentials.headers().is_none(), "a used-up pool gives no more proofs");
        assert!(ProofPool::new(vec!["bad\nproof".into()]).is_err());
    }
}
