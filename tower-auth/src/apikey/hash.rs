//! The stored form of a secret: SHA-256 (or HMAC-SHA-256 with a server pepper), compared in
//! constant time.

use std::fmt;

use aws_lc_rs::{constant_time, digest, hmac};

/// Domain separation: these hashes are of API-key secrets of this crate's format, version 1.
const DOMAIN: &[u8] = b"tower-auth/api-key/v1\0";

/// The 32-byte hash of a key's secret, as stored. `Debug` never shows it, and `==` compares in
/// constant time.
#[derive(Clone, Copy)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// A hash from its bytes (as read from a store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes, for a store to write.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hexadecimal, for text formats.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        out
    }

    /// Parses 64 hexadecimal digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
            *slot = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(Self(out))
    }

    /// Constant-time comparison (`aws_lc_rs::constant_time::verify_slices_are_equal`).
    pub fn matches(&self, other: &SecretHash) -> bool {
        #[cfg(test)]
        COMPARISONS.with(|c| c.set(c.get() + 1));
        constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for SecretHash {}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

#[cfg(test)]
thread_local! {
    /// Comparisons made on this thread, for the test that every well-formed key costs exactly one.
    pub(crate) static COMPARISONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How secrets are hashed: SHA-256, or HMAC-SHA-256 keyed with a server-side pepper.
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha256,
    Hmac(Box<hmac::Key>),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha256 => "Sha256",
            Self::Hmac(_) => "HmacSha256(<pepper>)",
        })
    }
}

impl Hasher {
    pub(crate) fn pepper(pepper: &[u8]) -> Self {
        Self::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, pepper)))
    }

    /// The hash of `secret` for key `id`: the id is part of the input, so a stored hash cannot be
    /// moved to another key id.
    pub(crate) fn hash(&self, id: &str, secret: &str) -> SecretHash {
        let mut out = [0u8; 32];
        match self {
            Self::Sha256 => {
                let mut ctx = digest::Context::new(&digest::SHA256);
                ctx.update(DOMAIN);
                ctx.update(id.as_bytes());
                ctx.update(b"\0");
                ctx.update(secret.as_bytes());
                out.copy_from_slice(ctx.finish().as_ref());
            }
            Self::Hmac(key) => {
                let mut ctx = hmac::Context::with_key(key);
                ctx.update(DOMAIN);
                ctx.update(id.as_bytes());
                ctx.update(b"\0");
                ctx.update(secret.as_bytes());
                out.copy_from_slice(ctx.sign().as_ref());
            }
        }
        SecretHash(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_redacted_debug() {
        let h = Hasher::Sha256.hash("abc", "secret");
        assert_eq!(SecretHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(h.to_hex().len(), 64);
        assert!(SecretHash::from_hex("zz").is_none());
        assert!(SecretHash::from_hex(&"g".repeat(64)).is_none());
        let shown = format!("{h:?}");
        assert!(!shown.contains(&h.to_hex()) && !shown.contains(&h.to_hex()[..8]));
    }

    #[test]
    fn id_and_pepper_change_the_hash() {
        let plain = Hasher::Sha256;
        assert!(plain.hash("id1", "s").matches(&plain.hash("id1", "s")));
        assert!(!plain.hash("id1", "s").matches(&plain.hash("id2", "s")));
        assert!(!plain.hash("id1", "s").matches(&plain.hash("id1", "t")));
        // No ambiguity between id and secret boundaries.
        assert!(!plain.hash("ab", "c").matches(&plain.hash("a", "bc")));
        let peppered = Hasher::pepper(b"0123456789abcdef0123456789abcdef");
        assert!(!plain.hash("id1", "s").matches(&peppered.hash("id1", "s")));
        assert_eq!(format!("{peppered:?}"), "HmacSha256(<pepper>)");
    }
}
