//! API keys: prefixed keys with a checksum, hashed storage, scopes, expiry, revocation, source
//! networks and usage limits, in memory, in a file or in PostgreSQL.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_auth::apikey::{ApiKeys, MemoryStore, NewApiKey};
//! use tower_auth::{AuthLayer, Authenticator, Principal};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let keys = ApiKeys::builder().store(MemoryStore::new()).build().unwrap();
//! let issued = keys.create(NewApiKey::new("build-bot").name("CI").scopes(["orders:read"])).await.unwrap();
//! let key = issued.key.expose_secret().to_owned(); // shown once: the store keeps only a hash
//!
//! let auth = Authenticator::builder().api_keys(keys.clone()).realm("api").build().unwrap();
//! let svc = ServiceBuilder::new().layer(AuthLayer::new(auth)).service_fn(|req: Request<String>| async move {
//!     let who = req.extensions().get::<Principal>().unwrap();
//!     Ok::<_, Infallible>(Response::new(format!("{} {}", who.subject(), who.mechanism())))
//! });
//! let with_key = |k: &str| Request::builder().header("x-api-key", k).body(String::new()).unwrap();
//!
//! let ok = svc.clone().oneshot(with_key(&key)).await.unwrap();
//! assert_eq!(ok.status(), StatusCode::OK);
//! assert_eq!(ok.body(), "build-bot api_key");
//!
//! // A mistyped key, an unknown one, a revoked one: the same 401, the same body.
//! let mut mistyped = key.clone().into_bytes();
//! mistyped[20] = if mistyped[20] == b'x' { b'y' } else { b'x' };
//! let mistyped = String::from_utf8(mistyped).unwrap();
//! let denied = svc.clone().oneshot(with_key(&mistyped)).await.unwrap();
//! assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     denied.headers()["www-authenticate"],
//!     r#"Bearer realm="api", error="invalid_token", error_description="Invalid API key""#
//! );
//! keys.revoke(issued.key.id()).await.unwrap();
//! let revoked = svc.oneshot(with_key(&key)).await.unwrap();
//! assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(revoked.headers()["www-authenticate"], denied.headers()["www-authenticate"]);
//! # }
//! ```
//!
//! # The key
//!
//! `tak_live_4fZq9LmB2xWc_Vb7TqJm0Rk3Yd9Nw2Xs8Ppa1Hc0Z7`: a configurable prefix, a public key id
//! (12 base62 characters), a secret (22 base62 characters, ≈ 131 bits from the operating system's
//! CSPRNG) and a CRC32 checksum (6 base62 characters), GitHub-token style. See [`KeyFormat`] for
//! the layout and why base62. The checksum lets a server refuse a mistyped, truncated or made-up key
//! without touching the store, and lets secret scanners tell real leaked keys from look-alikes
//! ([`KeyFormat::pattern`]).
//!
//! # What is stored
//!
//! Only a hash of the secret ([`SecretHash`]): SHA-256 over a domain tag, the key id and the secret.
//! A fast hash is the right tool here, unlike for passwords: slow password hashes (Argon2, bcrypt)
//! exist to stretch *low-entropy* secrets against guessing, but a 131-bit random secret cannot be
//! guessed offline whatever the hash speed, and a slow hash on every request would only hand
//! attackers a cheap way to burn the server's CPU. Binding the key id into the hash means a stored
//! hash cannot be copied onto another id. For defence in depth against someone who can *write* to
//! the store, configure a server-side [pepper](ApiKeysBuilder::pepper) (HMAC-SHA-256). The stored
//! and presented hashes are compared with `aws_lc_rs::constant_time::verify_slices_are_equal`.
//!
//! # Verification order
//!
//! 1. format and checksum (no lookup for a mistyped or random key);
//! 2. hash the secret (always: a known and an unknown id cost the same work);
//! 3. look the id up: [lookup cache](#caching), then the store (unreachable and not cached → 503);
//! 4. compare the hashes in constant time (against a dummy hash when the id is unknown);
//! 5. revoked? expired? uses already spent?
//! 6. source network, when the key is restricted to networks (peer address from the connection);
//! 7. usage limit: one use counted atomically in the store (only for usage-limited keys);
//! 8. queue the last-used time; the [`Principal`](crate::Principal).
//!
//! Every refusal, whatever the step, is the same [`AuthErrorKind::InvalidApiKey`](crate::AuthErrorKind::InvalidApiKey):
//! 401, `WWW-Authenticate: Bearer error="invalid_token", error_description="Invalid API key"`, the
//! same problem document. A caller cannot tell an unknown id from a wrong secret, a revoked or an
//! expired key. The precise reason is logged at debug level (target `tower_auth::apikey`, with the
//! key id once the checksum passed — never the key or its secret) and counted in
//! `tower_auth_api_key_refusals_total{reason}`.
//!
//! # The principal
//!
//! Subject: the key's owner. Scopes: the key's scopes, checked by the same route requirements
//! ([`ScopeRequirement`](crate::ScopeRequirement), the adapters' guards) as a token's. Mechanism:
//! [`Mechanism::ApiKey`](crate::Mechanism::ApiKey). Expiry: the key's. Claims:
//! `{"sub": owner, "key_id": "…", "tier": "…" | null}`, for rate limits per key or per tier.
//!
//! # Stores
//!
//! | store | for | lookups cached |
//! |---|---|---|
//! | [`MemoryStore`] | tests, fixed keys loaded at start-up, the quickstart's demo key | until a record is inserted or revoked ([revision](ApiKeyStore::revision)) |
//! | [`FileStore`] | development and small deployments: a JSON file of records, shared with the `tower-auth-keys` CLI | until the file changes (checked at most once a second) |
//! | `PostgresStore` (feature `postgres`) | several replicas | for the TTL |
//! | your own [`ApiKeyStore`] | anything else | as its `cache_lookups` / `revision` say |
//!
//! # Caching
//!
//! Local stores tell when they change ([`ApiKeyStore::revision`]): their parsed records are reused
//! exactly until then, so a revocation there takes effect on the next request. In front of remote
//! stores, a bounded cache remembers lookups by key id: a found record for
//! [30 s](ApiKeysBuilder::cache_ttl), "no such key" for [5 s](ApiKeysBuilder::negative_cache_ttl),
//! at most [10,000](ApiKeysBuilder::cache_capacity) ids. So **a revocation made elsewhere is seen
//! within 30 s** (the TTL), and at once when made through [`ApiKeys::revoke`] in the same process.
//! The secret is still hashed and compared on every request; expiry is checked against the
//! [clock](ApiKeysBuilder::clock) on every request. Usage counts are never cached.
//!
//! # Smarter keys
//!
//! - **Source networks**: a key created with [`NewApiKey::allowed_networks`] only works from those
//!   CIDR ranges ([`IpNetwork`]), judged by the TCP peer address. Behind a reverse proxy that
//!   address is the proxy's: restrict to the proxy's clients there instead.
//! - **Usage limits**: [`NewApiKey::max_uses`]: refused after N authenticated requests, counted in
//!   the store (atomically, across replicas).
//! - **Short-lived keys**: [`NewApiKey::expires_in`] minutes away, for one-off automation.
//! - **Last used**: each record's `last_used_at` is written in the background, in batches (one store
//!   call per [flush interval](ApiKeysBuilder::last_used_flush_interval), from a bounded queue),
//!   never once per request.
//!
//! # Transport
//!
//! The `X-API-Key` header by default ([configurable](ApiKeysBuilder::header));
//! `Authorization: ApiKey <key>` when [enabled](ApiKeysBuilder::authorization_scheme); a query
//! parameter only when [explicitly enabled](ApiKeysBuilder::insecure_query_parameter) — it is off
//! by default because URLs are written to access logs, proxy logs, browser history and `Referer`
//! headers, where a key would leak. A request carrying a key and a token (say `X-API-Key` and
//! `Authorization: Bearer`) is refused with 400 `invalid_request`.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | prefix | `tak_live` |
//! | hash | SHA-256 (id-bound, domain-separated); HMAC-SHA-256 with a pepper when configured |
//! | transport | `X-API-Key` header |
//! | lookup cache | 10,000 ids; remote stores: 30 s found, 5 s not found; local stores: until they change |
//! | last-used | flushed every 30 s, at most 10,000 keys queued |
//! | store unreachable | 503 with `Retry-After: 5` |

mod file;
mod format;
mod hash;
mod keys;
mod network;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
mod store;
#[cfg(test)]
mod tests;

pub use file::FileStore;
pub use format::{KeyFormat, KeyFormatError, ParsedKey, PlaintextKey};
pub use hash::SecretHash;
pub use keys::{ApiKeys, ApiKeysBuilder};
pub use network::{InvalidNetwork, IpNetwork};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresStore, PostgresStoreBuilder};
pub use record::{ApiKeyRecord, IssuedKey, KeyStatus, NewApiKey};
pub use store::{ApiKeyStore, MemoryStore, StoreError, StoreErrorKind, StoreFuture};
