//! `tower-auth-keys`: create, list and revoke API keys in a key file or in PostgreSQL.
//!
//! ```text
//! tower-auth-keys --file keys.json create --owner build-bot --scope orders:read --expires-in 30d
//! tower-auth-keys --file keys.json list
//! tower-auth-keys --database-url postgres://postgres@127.0.0.1/test revoke 4fZq9LmB2xWc
//! ```
//!
//! `create` prints the new key alone on standard output — the only time it is ever shown: the store
//! keeps a hash — and what was created on standard error. See `--help`.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_auth::apikey::{ApiKeyRecord, ApiKeyStore, ApiKeys, FileStore, IpNetwork, NewApiKey, PostgresStore};

const USAGE: &str = "\
tower-auth-keys: create, list and revoke API keys (only their hashes are stored)

USAGE
    tower-auth-keys [STORE] [OPTIONS] create --owner OWNER [CREATE OPTIONS]
    tower-auth-keys [STORE] [OPTIONS] list [--json]
    tower-auth-keys [STORE] [OPTIONS] revoke KEY_ID

STORE (one of; defaults from the quickstart's variables)
    --file PATH            a JSON key file            [env: TOWER_AUTH_API_KEYS]
    --database-url URL     PostgreSQL (no TLS)        [env: TOWER_AUTH_DATABASE_URL]
    --table NAME           PostgreSQL table, NAME or SCHEMA.NAME (default tower_auth_api_keys)

OPTIONS
    --prefix PREFIX        key prefix (default tak_live; must match the server's)
    --pepper-env VAR       hash with HMAC-SHA-256 keyed with the value of environment variable VAR
                           (must match the server's pepper)

CREATE OPTIONS
    --owner OWNER          who the key belongs to: the principal's subject (required)
    --name NAME            a label
    --scope SCOPE          a scope; repeat, or give several separated by spaces or commas
    --expires-in DURATION  e.g. 15m, 12h, 30d (short-lived keys for one-off jobs)
    --expires-at SECONDS   expiry as seconds since the Unix epoch
    --network CIDR         only usable from this network; repeat or separate by commas
    --max-uses N           refused after N authenticated requests
    --tier TIER            rate-limit tier, passed on in the principal's claims

The key is printed once, alone on standard output; details go to standard error.
Exit status: 0 done, 1 store or key error, 2 usage error.
";

struct Cli {
    file: Option<String>,
    database_url: Option<String>,
    table: Option<String>,
    prefix: Option<String>,
    pepper_env: Option<String>,
    command: Command,
}

enum Command {
    Create(NewApiKey),
    List { json: bool },
    Revoke(String),
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}\n\nRun `tower-auth-keys --help` for usage.");
    ExitCode::from(2)
}

/// Seconds, minutes, hours, days or weeks: `90s`, `15m`, `12h`, `30d`, `2w`.
fn parse_duration(value: &str) -> Result<Duration, String> {
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{value:?} is not a duration (e.g. 15m, 12h, 30d)"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("{value:?} is not a duration (e.g. 15m, 12h, 30d)")),
    };
    n.checked_mul(factor)
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{value:?} is out of range"))
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split([' ', ',']).filter(|s| !s.is_empty())
}

fn parse_args(args: Vec<String>) -> Result<Cli, String> {
    let mut cli = Cli {
        file: None,
        database_url: None,
        table: None,
        prefix: None,
        pepper_env: None,
        command: Command::List { json: false },
    };
    let mut command: Option<String> = None;
    let mut positional: Vec<String> = Vec::new();
    let mut owner: Option<String> = None;
    let mut name: Option<String> = None;
    let mut scopes: Vec<String> = Vec::new();
    let mut expires_in: Option<Duration> = None;
    let mut expires_at: Option<u64> = None;
    let mut networks: Vec<IpNetwork> = Vec::new();
    let mut max_uses: Option<u64> = None;
    let mut tier: Option<String> = None;
    let mut json = false;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--flag=value` and `--flag value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |flag: &str| -> Result<String, String> {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--file" => cli.file = Some(value(&flag)?),
            "--database-url" => cli.database_url = Some(value(&flag)?),
            "--table" => cli.table = Some(value(&flag)?),
            "--prefix" => cli.prefix = Some(value(&flag)?),
            "--pepper-env" => cli.pepper_env = Some(value(&flag)?),
            "--owner" => owner = Some(value(&flag)?),
            "--name" => name = Some(value(&flag)?),
            "--scope" | "--scopes" => scopes.extend(split_list(&value(&flag)?).map(str::to_owned)),
            "--expires-in" => expires_in = Some(parse_duration(&value(&flag)?)?),
            "--expires-at" => {
                let v = value(&flag)?;
                expires_at = Some(v.parse().map_err(|_| format!("--expires-at: {v:?} is not a number of seconds"))?);
            }
            "--network" | "--networks" => {
                for n in split_list(&value(&flag)?) {
                    networks.push(n.parse().map_err(|e| format!("--network: {e}"))?);
                }
            }
            "--max-uses" => {
                let v = value(&flag)?;
                max_uses = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--max-uses: {v:?} is not a positive number"))?,
                );
            }
            "--tier" => tier = Some(value(&flag)?),
            "--json" => json = true,
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            _ if command.is_none() => command = Some(arg),
            _ => positional.push(arg),
        }
    }
    let create_only = owner.is_some()
        || name.is_some()
        || !scopes.is_empty()
        || expires_in.is_some()
        || expires_at.is_some()
        || !networks.is_empty()
        || max_uses.is_some()
        || tier.is_some();
    cli.command = match command.as_deref() {
        Some("create") => {
            if !positional.is_empty() {
                return Err(format!("create takes no arguments besides options (got {:?})", positional[0]));
            }
            let mut spec =
                NewApiKey::new(owner.ok_or("create needs --owner")?).scopes(scopes).allowed_networks(networks);
            if let Some(name) = name {
                spec = spec.name(name);
            }
            spec = match (expires_in, expires_at) {
                (Some(_), Some(_)) => return Err("give --expires-in or --expires-at, not both".into()),
                (Some(d), None) => spec.expires_in(d),
                (None, Some(s)) => spec.expires_at(UNIX_EPOCH + Duration::from_secs(s)),
                (None, None) => spec,
            };
            if let Some(n) = max_uses {
                spec = spec.max_uses(n);
            }
            if let Some(tier) = tier {
                spec = spec.tier(tier);
            }
            Command::Create(spec)
        }
        Some(other) if create_only => return Err(format!("the create options do not apply to {other}")),
        Some("list") if positional.is_empty() => Command::List { json },
        Some("revoke") if positional.len() == 1 => Command::Revoke(positional.remove(0)),
        Some("revoke") => return Err("revoke needs exactly one KEY_ID".into()),
        Some(other) => return Err(format!("unknown command {other:?} (create, list, revoke)")),
        None => return Err("no command (create, list, revoke)".into()),
    };
    if json && !matches!(cli.command, Command::List { .. }) {
        return Err("--json applies to list only".into());
    }
    Ok(cli)
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Which store the arguments (or the quickstart's variables) name.
enum StoreChoice {
    File(String),
    Postgres(String),
}

fn choose_store(cli: &Cli) -> Result<StoreChoice, String> {
    let database_url =
        cli.database_url.clone().or_else(|| if cli.file.is_some() { None } else { env_var("TOWER_AUTH_DATABASE_URL") });
    let file = cli.file.clone().or_else(|| if database_url.is_some() { None } else { env_var("TOWER_AUTH_API_KEYS") });
    match (database_url, file) {
        (Some(_), Some(_)) => Err("give --file or --database-url, not both".into()),
        (Some(url), None) => Ok(StoreChoice::Postgres(url)),
        (None, Some(_)) if cli.table.is_some() => Err("--table applies to --database-url only".into()),
        (None, Some(path)) => Ok(StoreChoice::File(path)),
        (None, None) => Err("no store: give --file PATH or --database-url URL".into()),
    }
}

fn open_store(cli: &Cli, choice: StoreChoice) -> Result<Arc<dyn ApiKeyStore>, String> {
    match choice {
        StoreChoice::Postgres(url) => {
            let mut builder = PostgresStore::builder(url);
            if let Some(table) = &cli.table {
                builder = builder.table(table.clone());
            }
            Ok(Arc::new(builder.build().map_err(|e| e.message().to_owned())?))
        }
        StoreChoice::File(path) => Ok(Arc::new(FileStore::open(path).map_err(|e| e.to_string())?)),
    }
}

fn build_keys(cli: &Cli, store: Arc<dyn ApiKeyStore>) -> Result<ApiKeys, String> {
    let mut builder = ApiKeys::builder().shared_store(store);
    if let Some(prefix) = &cli.prefix {
        builder = builder.prefix(prefix.clone());
    }
    if let Some(var) = &cli.pepper_env {
        let pepper = std::env::var(var).map_err(|_| format!("--pepper-env: environment variable {var} is not set"))?;
        builder = builder.pepper(pepper.as_bytes());
    }
    builder.build().map_err(|e| e.message().to_owned())
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC), from the civil-from-days algorithm (H. Hinnant).
fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn optional_time(t: Option<SystemTime>) -> String {
    t.map_or_else(|| "-".to_owned(), rfc3339)
}

fn record_json(r: &ApiKeyRecord, now: SystemTime) -> serde_json::Value {
    let unix = |t: Option<SystemTime>| t.map(|t| t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    serde_json::json!({
        "id": r.id,
        "owner": r.owner,
        "name": r.name,
        "scopes": r.scopes,
        "status": r.status(now).as_str(),
        "created_at": unix(Some(r.created_at)),
        "expires_at": unix(r.expires_at),
        "revoked_at": unix(r.revoked_at),
        "tier": r.tier,
        "allowed_networks": r.allowed_networks.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "max_uses": r.max_uses,
        "uses": r.uses,
        "last_used_at": unix(r.last_used_at),
    })
}

async fn run(cli: Cli, choice: StoreChoice) -> Result<(), String> {
    let store = open_store(&cli, choice)?;
    let keys = build_keys(&cli, store)?;
    match cli.command {
        Command::Create(spec) => {
            let issued = keys.create(spec).await.map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", issued.key.expose_secret()).map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
            let r = &issued.record;
            eprintln!("created API key {} for {}", r.id, r.owner);
            eprintln!("  scopes:   {}", if r.scopes.is_empty() { "-".to_owned() } else { r.scopes.join(" ") });
            eprintln!("  expires:  {}", optional_time(r.expires_at));
            if !r.allowed_networks.is_empty() {
                eprintln!(
                    "  networks: {}",
                    r.allowed_networks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                );
            }
            if let Some(n) = r.max_uses {
                eprintln!("  max uses: {n}");
            }
            if let Some(tier) = &r.tier {
                eprintln!("  tier:     {tier}");
            }
            eprintln!("Store the key now: it is not shown again (only its hash is kept).");
        }
        Command::List { json } => {
            let records = keys.list().await.map_err(|e| e.to_string())?;
            let now = SystemTime::now();
            let mut out = std::io::stdout().lock();
            if json {
                let all: Vec<_> = records.iter().map(|r| record_json(r, now)).collect();
                writeln!(out, "{}", serde_json::Value::Array(all)).map_err(|e| e.to_string())?;
            } else {
                let header = ["ID", "STATUS", "OWNER", "EXPIRES", "LAST USED", "USES", "TIER"];
                writeln!(
                    out,
                    "{:<12}  {:<9}  {:<16}  {:<20}  {:<20}  {:<9}  {:<9}  SCOPES (NAME)",
                    header[0], header[1], header[2], header[3], header[4], header[5], header[6]
                )
                .map_err(|e| e.to_string())?;
                for r in &records {
                    let uses = match r.max_uses {
                        Some(max) => format!("{}/{max}", r.uses),
                        None => "-".to_owned(),
                    };
                    writeln!(
                        out,
                        "{:<12}  {:<9}  {:<16}  {:<20}  {:<20}  {:<9}  {:<9}  {}{}",
                        r.id,
                        r.status(now).as_str(),
                        r.owner,
                        optional_time(r.expires_at),
                        optional_time(r.last_used_at),
                        uses,
                        r.tier.as_deref().unwrap_or("-"),
                        r.scopes.join(" "),
                        if r.name.is_empty() { String::new() } else { format!(" ({})", r.name) },
                    )
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        Command::Revoke(id) => {
            if keys.revoke(&id).await.map_err(|e| e.to_string())? {
                eprintln!("revoked API key {id}");
            } else {
                return Err(format!("no active API key with id {id:?}"));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "--help" || a == "-h" || a == "help") {
        print!("{USAGE}");
        return if args.is_empty() { ExitCode::from(2) } else { ExitCode::SUCCESS };
    }
    let cli = match parse_args(args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let choice = match choose_store(&cli) {
        Ok(choice) => choice,
        Err(e) => return usage_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, choice)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn durations_and_dates() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        for bad in ["", "15", "0m", "1.5h", "-1d", "1y"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_767_225_599)), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn argument_errors() {
        assert!(parse_args(args("--file k.json create")).is_err(), "owner required");
        assert!(parse_args(args("--file k.json create --owner a --expires-in 1h --expires-at 5")).is_err());
        assert!(parse_args(args("--file k.json list --owner a")).is_err());
        assert!(parse_args(args("--file k.json revoke")).is_err());
        assert!(parse_args(args("--file k.json frobnicate")).is_err());
        assert!(parse_args(args("--file k.json create --owner a --network 10.0.0.1/8")).is_err());
        assert!(parse_args(args("--file k.json create --owner a --max-uses 0")).is_err());
        assert!(parse_args(args("--file k.json create --owner a --bogus")).is_err());
        let cli =
            parse_args(args("create --owner=a --scope a,b --scope c --network 10.0.0.0/8,::1 --file k.json")).unwrap();
        assert_eq!(cli.file.as_deref(), Some("k.json"));
        assert!(matches!(cli.command, Command::Create(_)));
        assert!(
            matches!(parse_args(args("--file k.json revoke abc")).unwrap().command, Command::Revoke(id) if id == "abc")
        );
    }
}
