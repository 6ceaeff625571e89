//! Server-provided DPoP nonces (RFC 9449 §8, §9): stateless, MAC'd with a rotating secret.
//!
//! A nonce is `base64url(version ‖ issued-at ‖ 8 random bytes ‖ HMAC-SHA256 tag truncated to 16
//! bytes)`: 44 characters of the base64url alphabet, so `1*NQCHAR` (§8.1). The tag covers the
//! first 17 bytes under the key of the issue time's generation (`issued_at / lifetime`); the
//! current and the previous generation's keys are kept, so a nonce is usable for one lifetime and
//! then refused however often it is presented. Without a configured secret each generation's key
//! is random per process; with one ([`DpopBuilder::nonce_secret`](super::DpopBuilder::nonce_secret))
//! it is derived from it, so every replica accepts the others' nonces.

use std::sync::{Mutex, PoisonError};

use aws_lc_rs::hmac;

use crate::clock::{SharedClock, unix_seconds};
use crate::json::{b64url_decode, b64url_encode};

const VERSION: u8 = 1;
const BODY: usize = 1 + 8 + 8;
const TAG: usize = 16;
/// Issue times this far ahead of the clock are tolerated (replicas sharing a secret).
const FUTURE_SKEW: u64 = 5;

pub(crate) struct Nonces {
    lifetime: u64,
    master: Option<hmac::Key>,
    keys: Mutex<Generations>,
    clock: SharedClock,
}

#[derive(Default)]
struct Generations {
    current: Option<(u64, hmac::Key)>,
    previous: Option<(u64, hmac::Key)>,
}

/// What a presented nonce is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Issued by us and not older than its lifetime; `refresh` once past half of it.
    Valid { refresh: bool },
    /// Forged, malformed, from another server, or expired.
    Invalid,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("lifetime", &self.lifetime)
            .field("shared_secret", &self.master.is_some())
            .finish()
    }
}

impl Nonces {
    pub(crate) fn new(lifetime_secs: u64, secret: Option<&[u8]>, clock: SharedClock) -> Self {
        Self {
            lifetime: lifetime_secs.max(1),
            master: secret.map(|s| hmac::Key::new(hmac::HMAC_SHA256, s)),
            keys: Mutex::new(Generations::default()),
            clock,
        }
    }

    fn key_for(&self, generation: u64, create: bool) -> Option<hmac::Key> {
        if let Some(master) = &self.master {
            let mut input = b"tower-auth dpop nonce key v1".to_vec();
            input.extend_from_slice(&generation.to_be_bytes());
            return Some(hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(master, &input).as_ref()));
        }
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let current_generation = keys.current.as_ref().map(|(g, _)| *g);
        if create && current_generation.is_none_or(|g| g < generation) {
            let mut secret = [0u8; 32];
            aws_lc_rs::rand::fill(&mut secret).ok()?;
            let fresh = (generation, hmac::Key::new(hmac::HMAC_SHA256, &secret));
            // Keep the old current key only when it is the generation right before.
            keys.previous = keys.current.take().filter(|(g, _)| g + 1 == generation);
            keys.current = Some(fresh);
        }
        [&keys.current, &keys.previous].into_iter().flatten().find(|(g, _)| *g == generation).map(|(_, k)| k.clone())
    }

    /// A fresh nonce.
    pub(crate) fn issue(&self) -> String {
        let now = unix_seconds(self.clock.now());
        let mut bytes = Vec::with_capacity(BODY + TAG);
        bytes.push(VERSION);
        bytes.extend_from_slice(&now.to_be_bytes());
        let mut random = [0u8; 8];
        // A failing system RNG leaves zeros here; the tag still makes the nonce unforgeable.
        let _ = aws_lc_rs::rand::fill(&mut random);
        bytes.extend_from_slice(&random);
        let Some(key) = self.key_for(now / self.lifetime, true) else {
            // No randomness for a key at all: hand out a nonce nothing will accept.
            return b64url_encode(&[0u8; BODY + TAG]);
        };
        let tag = hmac::sign(&key, &bytes);
        bytes.extend_from_slice(&tag.as_ref()[..TAG]);
        b64url_encode(&bytes)
    }

    /// Checks a nonce presented in a proof.
    pub(crate) fn check(&self, nonce: &str) -> Check {
        if nonce.len() > 64 {
            return Check::Invalid;
        }
        let Some(bytes) = b64url_decode(nonce.as_bytes()) else { return Check::Invalid };
        if bytes.len() != BODY + TAG || bytes[0] != VERSION {
            return Check::Invalid;
        }
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&bytes[1..9]);
        let issued = u64::from_be_bytes(issued);
        let now = unix_seconds(self.clock.now());
        if issued > now.saturating_add(FUTURE_SKEW) || now.saturating_sub(issued) >= self.lifetime {
            return Check::Invalid;
        }
        let Some(key) = self.key_for(issued / self.lifetime, false) else { return Check::Invalid };
        let tag = hmac::sign(&key, &bytes[..BODY]);
        if aws_lc_rs::constant_time::verify_slices_are_equal(&tag.as_ref()[..TAG], &bytes[BODY..]).is_err() {
            return Check::Invalid;
        }
        Check::Valid { refresh: now.saturating_sub(issued) * 2 >= self.lifetime }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    fn nonces(clock: &ManualClock, secret: Option<&[u8]>) -> Nonces {
        Nonces::new(300, secret, Arc::new(clock.clone()))
    }

    #[test]
    fn nonce_syntax_is_nqchar_and_unpredictable() {
        // E9: `1*NQCHAR`, unpredictable (§8)
        let clock = ManualClock::at_unix(1_700_000_000);
        let n = nonces(&clock, None);
        let (a, b) = (n.issue(), n.issue());
        assert_ne!(a, b);
        assert_eq!(a.len(), 44);
        assert!(a.bytes().all(|c| c == 0x21 || (0x23..=0x5b).contains(&c) || (0x5d..=0x7e).contains(&c)));
        assert_eq!(n.check(&a), Check::Valid { refresh: false });
    }

    #[test]
    fn lifetime_rotation_and_forgery() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let n = nonces(&clock, None);
        let nonce = n.issue();
        clock.advance(Duration::from_secs(150));
        assert_eq!(n.check(&nonce), Check::Valid { refresh: true });
        let newer = n.issue();
        clock.advance(Duration::from_secs(150));
        assert_eq!(n.check(&nonce), Check::Invalid, "one lifetime old");
        assert!(matches!(n.check(&newer), Check::Valid { .. }));
        // A flipped bit, another server's nonce, garbage.
        let mut bytes = b64url_decode(newer.as_bytes()).unwrap();
        bytes[20] ^= 1;
        assert_eq!(n.check(&b64url_encode(&bytes)), Check::Invalid);
        assert_eq!(n.check(&nonces(&clock, None).issue()), Check::Invalid);
        for bad in ["", "eyJ7S_zG.eyJH0-Z.HX4w-7v", "AAAA", &"A".repeat(100)] {
            assert_eq!(n.check(bad), Check::Invalid, "{bad}");
        }
        // Two generations later, the key itself is gone.
        clock.advance(Duration::from_secs(600));
        let _ = n.issue();
        assert_eq!(n.check(&newer), Check::Invalid);
    }

    #[test]
    fn replicas_with_a_shared_secret_accept_each_other() {
        let clock = ManualClock::at_unix(1_700_000_000);
        let secret = [7u8; 32];
        let (a, b) = (nonces(&clock, Some(&secret)), nonces(&clock, Some(&secret)));
        assert!(matches!(b.check(&a.issue()), Check::Valid { .. }));
        assert_eq!(nonces(&clock, Some(&[8u8; 32])).check(&a.issue()), Check::Invalid);
    }
}
