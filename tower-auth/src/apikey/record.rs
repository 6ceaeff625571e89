//! What a store keeps about a key, and what a caller asks for when creating one.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::format::PlaintextKey;
use super::hash::SecretHash;
use super::network::IpNetwork;
use super::store::StoreError;

/// Everything a store keeps about one key. The secret itself is never part of it: only its
/// [`SecretHash`]. `Debug` shows neither the hash nor anything derived from it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public key id (the part after the prefix), unique in the store.
    pub id: String,
    /// The hash of the secret.
    pub secret_hash: SecretHash,
    /// Who the key belongs to: the [`Principal`](crate::Principal)'s subject.
    pub owner: String,
    /// A human label ("CI deploy key").
    pub name: String,
    /// The scopes the key grants, checked by the same route requirements as a token's.
    pub scopes: Vec<String>,
    /// When the key was created.
    pub created_at: SystemTime,
    /// When the key stops working, if ever.
    pub expires_at: Option<SystemTime>,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<SystemTime>,
    /// A rate-limit tier name, passed on in the principal's claims (`tier`).
    pub tier: Option<String>,
    /// Source networks the key may be used from; empty = anywhere.
    pub allowed_networks: Vec<IpNetwork>,
    /// How many requests the key may authenticate in all; `None` = unlimited.
    pub max_uses: Option<u64>,
    /// How many requests it has authenticated (counted only for usage-limited keys).
    pub uses: u64,
    /// When it was last used (updated in the background, in batches: may lag by the flush interval).
    pub last_used_at: Option<SystemTime>,
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("tier", &self.tier)
            .field("allowed_networks", &self.allowed_networks)
            .field("max_uses", &self.max_uses)
            .field("uses", &self.uses)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// Where a key stands at a given time.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// All of its uses are spent.
    Exhausted,
}

impl KeyStatus {
    /// `active`, `expired`, `revoked` or `exhausted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Exhausted => "exhausted",
        }
    }
}

impl ApiKeyRecord {
    /// Where the key stands at `now` (revocation first, then expiry, then uses).
    pub fn status(&self, now: SystemTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|exp| now >= exp) {
            KeyStatus::Expired
        } else if self.max_uses.is_some_and(|max| self.uses >= max) {
            KeyStatus::Exhausted
        } else {
            KeyStatus::Active
        }
    }

    /// Whether a request from `peer` may use the key. A key restricted to networks is refused
    /// when the peer address is unknown.
    pub fn allows_peer(&self, peer: Option<IpAddr>) -> bool {
        self.allowed_networks.is_empty() || peer.is_some_and(|ip| self.allowed_networks.iter().any(|n| n.contains(ip)))
    }
}

/// The request for a new key: owner, label, scopes and limits. The id and secret are generated.
///
/// ```
/// use std::time::Duration;
/// use tower_auth::apikey::NewApiKey;
/// let spec = NewApiKey::new("build-bot")
///     .name("nightly deploy")
///     .scopes(["deploy:write"])
///     .expires_in(Duration::from_secs(15 * 60)) // a short-lived key for one job
///     .allowed_networks(["10.20.0.0/16".parse().unwrap()])
///     .max_uses(3)
///     .tier("internal");
/// # let _ = spec;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct NewApiKey {
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expiry: Option<Expiry>,
    pub(crate) allowed_networks: Vec<IpNetwork>,
    pub(crate) max_uses: Option<u64>,
    pub(crate) tier: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Expiry {
    At(SystemTime),
    In(Duration),
}

impl NewApiKey {
    /// A key for `owner`, which becomes the principal's subject. No scopes, no expiry, no limits.
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            name: String::new(),
            scopes: Vec::new(),
            expiry: None,
            allowed_networks: Vec::new(),
            max_uses: None,
            tier: None,
        }
    }

    /// A label. Defaults to none.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds scopes (duplicates ignored).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for scope in scopes {
            let scope = scope.into();
            if !self.scopes.contains(&scope) {
                self.scopes.push(scope);
            }
        }
        self
    }

    /// Expires `ttl` after creation (a short-lived key for one-off automation). Defaults to never.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.expiry = Some(Expiry::In(ttl));
        self
    }

    /// Expires at `time`. Defaults to never.
    pub fn expires_at(mut self, time: SystemTime) -> Self {
        self.expiry = Some(Expiry::At(time));
        self
    }

    /// Only usable from these networks. Defaults to anywhere.
    pub fn allowed_networks(mut self, networks: impl IntoIterator<Item = IpNetwork>) -> Self {
        self.allowed_networks.extend(networks);
        self
    }

    /// Refused after `uses` authenticated requests. Defaults to unlimited.
    pub fn max_uses(mut self, uses: u64) -> Self {
        self.max_uses = Some(uses);
        self
    }

    /// A rate-limit tier, passed on in the principal's claims. Defaults to none.
    pub fn tier(mut self, tier: impl Into<String>) -> Self {
        self.tier = Some(tier.into());
        self
    }

    pub(crate) fn validate(&self, now: SystemTime) -> Result<(), StoreError> {
        let printable = |s: &str| !s.chars().any(char::is_control);
        if self.owner.is_empty() || self.owner.len() > 256 || !printable(&self.owner) {
            return Err(StoreError::invalid("the owner must be 1 to 256 characters without control characters"));
        }
        if self.name.len() > 256 || !printable(&self.name) {
            return Err(StoreError::invalid("the name must be at most 256 characters without control characters"));
        }
        if let Some(tier) = &self.tier
            && (tier.is_empty() || tier.len() > 64 || !printable(tier))
        {
            return Err(StoreError::invalid("the tier must be 1 to 64 characters without control characters"));
        }
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let scope_ok = |s: &str| {
            !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        };
        if let Some(bad) = self.scopes.iter().find(|s| !scope_ok(s)) {
            return Err(StoreError::invalid(format!("invalid scope {:?} (RFC 6749 §3.3 scope-token)", bad)));
        }
        if self.max_uses == Some(0) {
            return Err(StoreError::invalid("max uses must be at least 1"));
        }
        if let Some(expiry) = self.expiry_from(now)
            && expiry <= now
        {
            return Err(StoreError::invalid("the expiry must lie in the future"));
        }
        Ok(())
    }

    pub(crate) fn expiry_from(&self, now: SystemTime) -> Option<SystemTime> {
        self.expiry.map(|e| match e {
            Expiry::At(t) => t,
            Expiry::In(d) => now.checked_add(d).unwrap_or(now),
        })
    }
}

/// A key just created: the plaintext to hand over once, and the record the store now holds.
#[derive(Debug)]
pub struct IssuedKey {
    /// The key in clear. Show it once; it cannot be recovered from the store.
    pub key: PlaintextKey,
    /// The stored record (hash only).
    pub record: ApiKeyRecord,
}
