//! A JSON file of key records (hashed secrets only): the quickstart's `TOWER_AUTH_API_KEYS`.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::hash::SecretHash;
use super::network::IpNetwork;
use super::record::ApiKeyRecord;
use super::store::{ApiKeyStore, StoreError, StoreErrorKind, StoreFuture, ops, ready};

const FORMAT: &str = "tower-auth-api-keys/1";

/// Key records in a JSON file, for development servers, small deployments and the quickstart.
///
/// ```json
/// {
///   "format": "tower-auth-api-keys/1",
///   "keys": [
///     { "id": "4fZq9LmB2xWc", "secret_hash": "9f86d0…(64 hex digits)", "owner": "build-bot",
///       "name": "nightly", "scopes": ["orders:read"], "created_at": 1767225600,
///       "expires_at": null, "revoked_at": null, "tier": null, "allowed_networks": ["10.0.0.0/8"],
///       "max_uses": null, "uses": 0, "last_used_at": null }
///   ]
/// }
/// ```
///
/// Times are seconds since the Unix epoch. The file holds hashes, never secrets; it is still
/// written with mode `0600` on Unix. Lookups are answered from memory; the file is re-read when it
/// changes on disk (checked at most once per [reload interval](FileStore::reload_interval), 1 s by
/// default), so keys created or revoked with the `tower-auth-keys` CLI reach a running server within
/// about a second. Every write (create, revoke, a use of a usage-limited key, a batch of last-used
/// times) re-reads the file under an exclusive lock on `PATH.lock`, applies the change and replaces
/// the file atomically (write to a temporary file, then rename), so the CLI and a server can share
/// one file without losing each other's changes.
///
/// Writes are blocking file I/O: fine for a file of keys, not meant for thousands of
/// usage-limited requests per second (use `PostgresStore` (feature `postgres`) for that).
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    lock_path: PathBuf,
    reload_interval: Duration,
    state: Mutex<State>,
}

struct State {
    records: HashMap<String, ApiKeyRecord>,
    stamp: Option<Stamp>,
    checked: Instant,
    /// Bumped whenever `records` changes (a reload or a write).
    revision: u64,
}

/// What tells that the file changed: modification time and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.inner.path)
            .field("reload_interval", &self.inner.reload_interval)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens the store at `path`, reading the file if it exists (an absent file is an empty store,
    /// created on the first write). A file that exists but is not a valid key file is an error.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::open_with_reload_interval(path, Duration::from_secs(1))
    }

    /// Like [`FileStore::open`], checking the file for changes at most once per `interval`
    /// (`Duration::ZERO`: on every lookup).
    pub fn open_with_reload_interval(path: impl Into<PathBuf>, interval: Duration) -> Result<Self, StoreError> {
        let path = path.into();
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        let (records, stamp) = read_file(&path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                lock_path: lock_path.into(),
                reload_interval: interval,
                state: Mutex::new(State { records, stamp, checked: Instant::now(), revision: 0 }),
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How often lookups check the file for changes.
    pub fn reload_interval(&self) -> Duration {
        self.inner.reload_interval
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The in-memory records, re-read first when the file changed and the interval has passed.
    fn fresh(&self) -> MutexGuard<'_, State> {
        let mut state = self.state();
        if state.checked.elapsed() >= self.inner.reload_interval {
            state.checked = Instant::now();
            let current = stamp_of(&self.inner.path);
            if current != state.stamp {
                match read_file(&self.inner.path) {
                    Ok((records, stamp)) => {
                        state.records = records;
                        state.stamp = stamp;
                        state.revision += 1;
                    }
                    // Keep serving the last good records; a half-edited file must not lock everyone out.
                    Err(e) => {
                        tracing::warn!(target: "tower_auth::apikey", path = %self.inner.path.display(), error = %e, "API key file not reloaded")
                    }
                }
            }
        }
        state
    }

    /// Re-reads the file under the exclusive lock, applies `change`, and writes the file back when
    /// `change` reports a modification.
    fn mutate<T>(
        &self,
        change: impl FnOnce(&mut HashMap<String, ApiKeyRecord>) -> Result<(bool, T), StoreError>,
    ) -> Result<T, StoreError> {
        let io_err =
            |what: &str, e: io::Error| StoreError::failed(format!("{what} {}: {e}", self.inner.path.display()));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.inner.lock_path)
            .map_err(|e| io_err("cannot open the lock file of", e))?;
        lock.lock().map_err(|e| io_err("cannot lock", e))?;
        let mut state = self.state();
        let (mut records, stamp) = read_file(&self.inner.path)?;
        let (changed, out) = change(&mut records)?;
        let stamp = if changed {
            write_file(&self.inner.path, &records).map_err(|e| io_err("cannot write", e))?
        } else {
            stamp
        };
        state.records = records;
        state.stamp = stamp;
        state.checked = Instant::now();
        state.revision += 1;
        drop(state);
        drop(lock); // closing the file releases the lock
        Ok(out)
    }
}

impl ApiKeyStore for FileStore {
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ApiKeyRecord>> {
        ready(Ok(self.fresh().records.get(id).cloned()))
    }

    fn insert(&self, record: ApiKeyRecord) -> StoreFuture<'_, ()> {
        ready(self.mutate(|records| {
            if records.contains_key(&record.id) {
                return Err(StoreError::new(StoreErrorKind::Conflict, "an API key with this id exists"));
            }
            records.insert(record.id.clone(), record);
            Ok((true, ()))
        }))
    }

    fn revoke<'a>(&'a self, id: &'a str, at: SystemTime) -> StoreFuture<'a, bool> {
        ready(self.mutate(|records| {
            let done = ops::revoke(records, id, at);
            Ok((done, done))
        }))
    }

    fn list(&self) -> StoreFuture<'_, Vec<ApiKeyRecord>> {
        ready(Ok(ops::list(&self.fresh().records)))
    }

    fn record_use<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        ready(self.mutate(|records| {
            let counted = ops::record_use(records, id);
            Ok((counted, counted))
        }))
    }

    fn touch(&self, last_used: Vec<(String, SystemTime)>) -> StoreFuture<'_, ()> {
        ready(self.mutate(|records| Ok((ops::touch(records, &last_used), ()))))
    }

    fn cache_lookups(&self) -> bool {
        false
    }

    /// Changes when the file is re-read or written.
    fn revision(&self) -> Option<u64> {
        Some(self.fresh().revision)
    }
}

#[derive(Serialize, Deserialize)]
struct Document {
    format: String,
    keys: Vec<FileRecord>,
}

#[derive(Serialize, Deserialize)]
struct FileRecord {
    id: String,
    secret_hash: String,
    owner: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    created_at: u64,
    #[serde(default)]
    expires_at: Option<u64>,
    #[serde(default)]
    revoked_at: Option<u64>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    allowed_networks: Vec<String>,
    #[serde(default)]
    max_uses: Option<u64>,
    #[serde(default)]
    uses: u64,
    #[serde(default)]
    last_used_at: Option<u64>,
}

fn secs(t: SystemTime) -> u64 {
    crate::clock::unix_seconds(t)
}

fn time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

impl FileRecord {
    fn from_record(r: &ApiKeyRecord) -> Self {
        Self {
            id: r.id.clone(),
            secret_hash: r.secret_hash.to_hex(),
            owner: r.owner.clone(),
            name: r.name.clone(),
            scopes: r.scopes.clone(),
            created_at: secs(r.created_at),
            expires_at: r.expires_at.map(secs),
            revoked_at: r.revoked_at.map(secs),
            tier: r.tier.clone(),
            allowed_networks: r.allowed_networks.iter().map(ToString::to_string).collect(),
            max_uses: r.max_uses,
            uses: r.uses,
            last_used_at: r.last_used_at.map(secs),
        }
    }

    fn into_record(self, index: usize) -> Result<ApiKeyRecord, String> {
        let secret_hash = SecretHash::from_hex(&self.secret_hash)
            .ok_or_else(|| format!("key #{index} ({}): secret_hash is not 64 hexadecimal digits", self.id))?;
        let allowed_networks = self
            .allowed_networks
            .iter()
            .map(|n| n.parse::<IpNetwork>().map_err(|e| format!("key #{index} ({}): {e}", self.id)))
            .collect::<Result<Vec<_>, _>>()?;
        if self.id.is_empty() || self.owner.is_empty() {
            return Err(format!("key #{index}: id and owner must not be empty"));
        }
        Ok(ApiKeyRecord {
            id: self.id,
            secret_hash,
            owner: self.owner,
            name: self.name,
            scopes: self.scopes,
            created_at: time(self.created_at),
            expires_at: self.expires_at.map(time),
            revoked_at: self.revoked_at.map(time),
            tier: self.tier,
            allowed_networks,
            max_uses: self.max_uses,
            uses: self.uses,
            last_used_at: self.last_used_at.map(time),
        })
    }
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    fs::metadata(path).ok().map(|m| Stamp { modified: m.modified().ok(), len: m.len() })
}

type Loaded = (HashMap<String, ApiKeyRecord>, Option<Stamp>);

fn read_file(path: &Path) -> Result<Loaded, StoreError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((HashMap::new(), None)),
        Err(e) => return Err(StoreError::failed(format!("cannot read {}: {e}", path.display()))),
    };
    let stamp = stamp_of(path);
    if text.trim().is_empty() {
        return Ok((HashMap::new(), stamp));
    }
    let invalid = |why: String| StoreError::invalid(format!("{} is not an API key file: {why}", path.display()));
    let doc: Document = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if doc.format != FORMAT {
        return Err(invalid(format!("unknown format {:?} (expected {FORMAT:?})", doc.format)));
    }
    let mut records = HashMap::with_capacity(doc.keys.len());
    for (index, record) in doc.keys.into_iter().enumerate() {
        let record = record.into_record(index).map_err(invalid)?;
        if records.contains_key(&record.id) {
            return Err(invalid(format!("key id {} appears twice", record.id)));
        }
        records.insert(record.id.clone(), record);
    }
    Ok((records, stamp))
}

fn write_file(path: &Path, records: &HashMap<String, ApiKeyRecord>) -> io::Result<Option<Stamp>> {
    let doc =
        Document { format: FORMAT.to_owned(), keys: ops::list(records).iter().map(FileRecord::from_record).collect() };
    let mut json = serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?;
    json.push(b'\n');
    let mut tmp = path.to_path_buf().into_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| stamp_of(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikey::hash::Hasher;

    fn temp_path(name: &str) -> PathBuf {
        let unique = format!("tower-auth-{name}-{}-{:?}", std::process::id(), std::time::SystemTime::now());
        std::env::temp_dir().join(unique.replace([':', ' ', '.'], "_")).with_extension("json")
    }

    fn record(id: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: id.to_owned(),
            secret_hash: Hasher::Sha256.hash(id, "the-secret"),
            owner: "alice".into(),
            name: "test".into(),
            scopes: vec!["orders:read".into()],
            created_at: time(1_700_000_000),
            expires_at: Some(time(1_800_000_000)),
            revoked_at: None,
            tier: Some("gold".into()),
            allowed_networks: vec!["10.0.0.0/8".parse().unwrap()],
            max_uses: Some(2),
            uses: 0,
            last_used_at: None,
        }
    }

    fn block<T>(f: StoreFuture<'_, T>) -> Result<T, StoreError> {
        let mut f = f;
        match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("file store futures are ready at once"),
        }
    }

    #[test]
    fn round_trip_and_sharing_between_two_handles() {
        let path = temp_path("file-store");
        let server = FileStore::open_with_reload_interval(&path, Duration::ZERO).unwrap();
        let cli = FileStore::open(&path).unwrap();
        block(cli.insert(record("aaaaaaaaaaaa"))).unwrap();
        // The other handle sees it on its next lookup.
        let got = block(server.get("aaaaaaaaaaaa")).unwrap().unwrap();
        assert_eq!(got, record("aaaaaaaaaaaa"));
        // Writes through one handle do not lose the other's.
        block(server.insert(record("bbbbbbbbbbbb"))).unwrap();
        block(cli.insert(record("cccccccccccc"))).unwrap();
        assert_eq!(block(server.list()).unwrap().len(), 3);
        assert_eq!(block(cli.insert(record("aaaaaaaaaaaa"))).unwrap_err().kind(), StoreErrorKind::Conflict);
        // Uses are counted in the file, up to max_uses.
        assert!(block(server.record_use("aaaaaaaaaaaa")).unwrap());
        assert!(block(cli.record_use("aaaaaaaaaaaa")).unwrap());
        assert!(!block(server.record_use("aaaaaaaaaaaa")).unwrap());
        // Revocation, then last-used times only move forward.
        assert!(block(cli.revoke("bbbbbbbbbbbb", time(1_750_000_000))).unwrap());
        assert!(!block(cli.revoke("bbbbbbbbbbbb", time(1_750_000_001))).unwrap());
        block(server.touch(vec![("cccccccccccc".into(), time(1_760_000_000)), ("nope".into(), time(1))])).unwrap();
        block(server.touch(vec![("cccccccccccc".into(), time(1_700_000_000))])).unwrap();
        let reopened = FileStore::open(&path).unwrap();
        let all = block(reopened.list()).unwrap();
        let by_id = |id: &str| all.iter().find(|r| r.id == id).unwrap().clone();
        assert_eq!(by_id("aaaaaaaaaaaa").uses, 2);
        assert_eq!(by_id("bbbbbbbbbbbb").revoked_at, Some(time(1_750_000_000)));
        assert_eq!(by_id("cccccccccccc").last_used_at, Some(time(1_760_000_000)));
        // Hashes only: the file never contains a secret.
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("the-secret"));
        assert!(text.contains(&record("aaaaaaaaaaaa").secret_hash.to_hex()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let _ = fs::remove_file(&path);
        let _ = fs::remove_file(&reopened.inner.lock_path);
    }

    #[test]
    fn invalid_files_are_refused_at_open_and_kept_on_reload() {
        let path = temp_path("file-store-bad");
        fs::write(&path, "{ not json").unwrap();
        assert_eq!(FileStore::open(&path).unwrap_err().kind(), StoreErrorKind::Invalid);
        fs::write(&path, r#"{"format": "other/1", "keys": []}"#).unwrap();
        assert!(FileStore::open(&path).is_err());
        fs::write(&path, r#"{"format": "tower-auth-api-keys/1", "keys": [{"id": "a", "secret_hash": "00", "owner": "o", "created_at": 0}]}"#).unwrap();
        assert!(FileStore::open(&path).unwrap_err().message().contains("secret_hash"));
        // A good file, then a broken edit: the last good records keep being served.
        fs::remove_file(&path).unwrap();
        let store = FileStore::open_with_reload_interval(&path, Duration::ZERO).unwrap();
        block(store.insert(record("aaaaaaaaaaaa"))).unwrap();
        fs::write(&path, "{ half-edited").unwrap();
        assert!(block(store.get("aaaaaaaaaaaa")).unwrap().is_some());
        let _ = fs::remove_file(&path);
        let _ = fs::remove_file(&store.inner.lock_path);
    }
}
