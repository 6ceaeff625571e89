//! The key format: `PREFIX_ID_SECRETCHECKSUM`, base62, with a CRC32 checksum (GitHub-token style).

use std::fmt;

use crate::error::ConfigError;

/// Characters of the public key id: 12 base62 characters (71 random bits; unique, not secret).
pub(crate) const ID_LEN: usize = 12;
/// Characters of the secret: 22 base62 characters, 22 × log2(62) ≈ 131 random bits.
pub(crate) const SECRET_LEN: usize = 22;
/// Characters of the checksum: a CRC32 as 6 base62 digits (62⁶ > 2³²).
pub(crate) const CHECKSUM_LEN: usize = 6;
const MAX_PREFIX_LEN: usize = 32;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The shape of the keys one deployment issues and accepts: `PREFIX_ID_SECRETCHECKSUM`.
///
/// ```text
/// tak_live_4fZq9LmB2xWc_Vb7TqJm0Rk3Yd9Nw2Xs8Ppa1Hc0Z7
/// └──┬───┘ └────┬─────┘ └─────────┬────────────┘└─┬─┘
///  prefix   key id (12)     secret (22)       checksum (6)
/// ```
///
/// - **prefix**: configurable (`tak_live` by default), lower-case letters, digits and `_`; says
///   whose key this is and for which environment, and lets secret scanners find leaked keys
///   ([`KeyFormat::pattern`]).
/// - **key id**: 12 random base62 characters, stored in clear and used for the lookup. Random, so
///   ids reveal nothing about how many keys exist.
/// - **secret**: 22 random base62 characters from the operating system's CSPRNG (`aws_lc_rs::rand`),
///   ≈ 131 bits. Only its hash is stored.
/// - **checksum**: CRC32 (IEEE) of everything before it, as 6 base62 digits. A mistyped, truncated or
///   made-up key fails here, before any store lookup. It is not a security feature (anyone can
///   compute a CRC); the secret is.
///
/// **Why base62** rather than base64url: it has no `-` or `_`, so `_` separates the parts without
/// ambiguity (the prefix may itself contain `_`), a double-click selects the whole key in a terminal
/// or browser (a `-` would stop the selection), and the key needs no escaping in a URL, a header, a
/// shell or JSON — it is a valid RFC 6750 `b64token`. The cost is 5.95 instead of 6 bits per
/// character: 22 characters still carry more than 128 bits.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyFormat {
    prefix: String,
}

impl fmt::Debug for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFormat").field("prefix", &self.prefix).finish()
    }
}

impl Default for KeyFormat {
    fn default() -> Self {
        Self { prefix: Self::DEFAULT_PREFIX.to_owned() }
    }
}

/// Why a string is not a key of a [`KeyFormat`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormatError {
    /// Wrong length, wrong prefix, misplaced separators or characters outside base62.
    Malformed,
    /// Well-formed, but the checksum does not match: a mistyped or made-up key.
    BadChecksum,
}

impl fmt::Display for KeyFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "not an API key of this format",
            Self::BadChecksum => "API key checksum mismatch",
        })
    }
}

impl std::error::Error for KeyFormatError {}

/// A key split into its parts, borrowed from the presented string. `Debug` hides the secret.
#[derive(Clone, Copy)]
pub struct ParsedKey<'a> {
    id: &'a str,
    secret: &'a str,
}

impl<'a> ParsedKey<'a> {
    /// The public key id.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The secret part. Hash it; never log or store it.
    pub fn secret(&self) -> &'a str {
        self.secret
    }
}

impl fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl PartialEq for ParsedKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && aws_lc_rs::constant_time::verify_slices_are_equal(self.secret.as_bytes(), other.secret.as_bytes())
                .is_ok()
    }
}

impl Eq for ParsedKey<'_> {}

impl KeyFormat {
    /// The default prefix, `tak_live` ("tower-auth key, live").
    pub const DEFAULT_PREFIX: &'static str = "tak_live";

    /// A format with `prefix`: 1 to 32 characters of `a-z`, `0-9` and `_`, starting with a letter,
    /// not ending with `_`, without `__`.
    pub fn new(prefix: impl Into<String>) -> Result<Self, ConfigError> {
        let prefix = prefix.into();
        let ok = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && prefix.as_bytes()[0].is_ascii_lowercase()
            && !prefix.ends_with('_')
            && !prefix.contains("__");
        if !ok {
            return Err(ConfigError::new(
                "an API key prefix is 1 to 32 characters of a-z, 0-9 and '_', starts with a letter, and has no trailing or double '_'",
            ));
        }
        Ok(Self { prefix })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The length of every key of this format.
    pub fn key_len(&self) -> usize {
        self.prefix.len() + 1 + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN
    }

    /// A regular expression matching keys of this format, for secret scanners (GitHub secret
    /// scanning custom patterns, gitleaks, trufflehog): `\btak_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{28}\b`.
    pub fn pattern(&self) -> String {
        format!(r"\b{}_[0-9A-Za-z]{{{ID_LEN}}}_[0-9A-Za-z]{{{}}}\b", self.prefix, SECRET_LEN + CHECKSUM_LEN)
    }

    /// A new key: random id and secret from the operating system's CSPRNG, and its checksum.
    pub fn generate(&self) -> PlaintextKey {
        let mut key = String::with_capacity(self.key_len());
        key.push_str(&self.prefix);
        key.push('_');
        push_random_base62(&mut key, ID_LEN);
        key.push('_');
        push_random_base62(&mut key, SECRET_LEN);
        push_checksum(&mut key);
        PlaintextKey { key, id_start: self.prefix.len() + 1 }
    }

    /// Splits `key` into id and secret, checking the length, the prefix, the separators, the
    /// alphabet and the checksum. Nothing is looked up.
    pub fn parse<'a>(&self, key: &'a str) -> Result<ParsedKey<'a>, KeyFormatError> {
        if key.len() != self.key_len() {
            return Err(KeyFormatError::Malformed);
        }
        let rest = key
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('_'))
            .ok_or(KeyFormatError::Malformed)?;
        // Length checked above: `rest` is ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN bytes if ASCII.
        let bytes = rest.as_bytes();
        if bytes.len() != ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN || bytes[ID_LEN] != b'_' {
            return Err(KeyFormatError::Malformed);
        }
        let (id, tail) = (&bytes[..ID_LEN], &bytes[ID_LEN + 1..]);
        if !id.iter().chain(tail).all(u8::is_ascii_alphanumeric) {
            return Err(KeyFormatError::Malformed);
        }
        // All ASCII from here on, so these byte offsets are character boundaries.
        let body_len = key.len() - CHECKSUM_LEN;
        let expected = checksum_digits(crc32(&key.as_bytes()[..body_len]));
        if key.as_bytes()[body_len..] != expected {
            return Err(KeyFormatError::BadChecksum);
        }
        Ok(ParsedKey { id: &rest[..ID_LEN], secret: &rest[ID_LEN + 1..ID_LEN + 1 + SECRET_LEN] })
    }
}

/// A freshly generated key in clear: show it to its owner once, then drop it.
///
/// `Debug` shows only the key id; there is no `Display`, so it cannot end up in a log line by
/// accident. The memory is overwritten when it is dropped.
pub struct PlaintextKey {
    key: String,
    id_start: usize,
}

impl PlaintextKey {
    /// The public key id.
    pub fn id(&self) -> &str {
        &self.key[self.id_start..self.id_start + ID_LEN]
    }

    /// The whole key, to hand to its owner.
    pub fn expose_secret(&self) -> &str {
        &self.key
    }

    pub(crate) fn secret(&self) -> &str {
        let start = self.id_start + ID_LEN + 1;
        &self.key[start..start + SECRET_LEN]
    }
}

impl fmt::Debug for PlaintextKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaintextKey").field("id", &self.id()).finish_non_exhaustive()
    }
}

impl Drop for PlaintextKey {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.key).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// Appends `n` uniformly random base62 characters: random bytes below 248 (= 4 × 62) taken modulo
/// 62, the others rejected, so every character has the same probability.
fn push_random_base62(out: &mut String, n: usize) {
    let mut pushed = 0;
    let mut buf = [0u8; 64];
    while pushed < n {
        // The operating system's CSPRNG does not fail on supported platforms; if it ever did, there
        // would be no safe key to return.
        aws_lc_rs::rand::fill(&mut buf).expect("the system random number generator failed");
        for &b in &buf {
            if pushed == n {
                break;
            }
            if b < 248 {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
                pushed += 1;
            }
        }
        buf.fill(0);
    }
}

fn push_checksum(key: &mut String) {
    let digits = checksum_digits(crc32(key.as_bytes()));
    key.extend(digits.iter().map(|&b| char::from(b)));
}

/// A CRC32 as 6 base62 digits, most significant first.
fn checksum_digits(mut crc: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(crc % 62) as usize];
        crc /= 62;
    }
    out
}

/// The CRC32 of each nibble: 16 × 4 bytes, one 64-byte cache line, so the table lookups indexed by
/// secret characters do not reveal them through which cache line they touch.
#[repr(align(64))]
struct NibbleTable([u32; 16]);

const CRC_TABLE: NibbleTable = {
    let mut table = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 4 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    NibbleTable(table)
};

/// CRC-32/ISO-HDLC (the zlib / PNG / GitHub-token CRC), four bits at a time from a table that fits
/// in one cache line.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let table = &CRC_TABLE.0;
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        crc = (crc >> 4) ^ table[(crc & 15) as usize];
        crc = (crc >> 4) ^ table[(crc & 15) as usize];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic PRNG (SplitMix64) for the property-style loops.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // Same as the bit-by-bit definition on arbitrary input.
        let bitwise = |data: &[u8]| {
            let mut crc = !0u32;
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
                }
            }
            !crc
        };
        let mut rng = Rng(99);
        for len in 0..100 {
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            assert_eq!(crc32(&data), bitwise(&data));
        }
    }

    #[test]
    fn generated_keys_parse_and_have_the_documented_shape() {
        let format = KeyFormat::default();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..200 {
            let key = format.generate();
            let s = key.expose_secret();
            assert_eq!(s.len(), format.key_len());
            assert!(s.starts_with("tak_live_"));
            let parsed = format.parse(s).expect("a generated key parses");
            assert_eq!(parsed.id(), key.id());
            assert_eq!(parsed.secret(), key.secret());
            assert_eq!(parsed.secret().len(), SECRET_LEN);
            assert!(ids.insert(key.id().to_owned()), "ids are random");
            assert!(crate::credentials::is_b64token(s));
        }
        // ≥ 128 bits of secret.
        assert!(SECRET_LEN as f64 * 62f64.log2() >= 128.0);
    }

    #[test]
    fn every_character_is_used_uniformly_enough() {
        let mut counts = [0u32; 62];
        let mut s = String::new();
        push_random_base62(&mut s, 62 * 400);
        for b in s.bytes() {
            counts[ALPHABET.iter().position(|&a| a == b).unwrap()] += 1;
        }
        // Expected 400 each; a biased generator (e.g. plain `% 62`) would still pass this, but a
        // missing or stuck character would not.
        assert!(counts.iter().all(|&c| (250..=550).contains(&c)), "{counts:?}");
    }

    #[test]
    fn prefixes() {
        for ok in ["tak_live", "tak", "a", "acme_test_2", "x1"] {
            assert!(KeyFormat::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Tak", "tak-live", "tak_", "_tak", "tak__live", "1tak", "täk", &"a".repeat(33)] {
            assert!(KeyFormat::new(bad).is_err(), "{bad}");
        }
        let format = KeyFormat::new("acme_test").unwrap();
        let key = format.generate();
        assert!(key.expose_secret().starts_with("acme_test_"));
        assert!(format.parse(key.expose_secret()).is_ok());
        // Another deployment's keys are not keys here.
        assert_eq!(KeyFormat::default().parse(key.expose_secret()).unwrap_err(), KeyFormatError::Malformed);
        assert_eq!(format.pattern(), r"\bacme_test_[0-9A-Za-z]{12}_[0-9A-Za-z]{28}\b");
    }

    #[test]
    fn malformed_inputs() {
        let format = KeyFormat::default();
        let good = format.generate();
        let good = good.expose_secret();
        let n = good.len();
        let cases = [
            String::new(),
            "tak_live_".to_owned(),
            good[..n - 1].to_owned(),
            format!("{good}A"),
            good.replacen("tak_live_", "tak_test_", 1),
            good.replacen("tak_live_", "TAK_LIVE_", 1),
            format!("{}-{}", &good[..21], &good[22..]),
            format!("{}é{}", &good[..30], &good[32..]),
            format!(" {}", &good[1..]),
            good.replace('_', "-"),
        ];
        for case in cases {
            assert_eq!(format.parse(&case).unwrap_err(), KeyFormatError::Malformed, "{case:?}");
        }
    }

    #[test]
    fn random_mutations_of_valid_keys_are_refused() {
        // Property: no single-character substitution, swap of two different neighbours, deletion
        // or insertion turns a valid key into another valid key (CRC32 detects all of them), and
        // the parser never panics.
        let format = KeyFormat::default();
        let mut rng = Rng(0x5EED);
        for round in 0..2_000 {
            let key = format.generate();
            let original = key.expose_secret().as_bytes().to_vec();
            let mut bytes = original.clone();
            match round % 4 {
                0 => {
                    let i = rng.below(bytes.len());
                    let mut c = ALPHABET[rng.below(62)];
                    while c == bytes[i] {
                        c = ALPHABET[rng.below(62)];
                    }
                    bytes[i] = c;
                }
                1 => {
                    let i = rng.below(bytes.len() - 1);
                    if bytes[i] == bytes[i + 1] {
                        continue;
                    }
                    bytes.swap(i, i + 1);
                }
                2 => {
                    bytes.remove(rng.below(bytes.len()));
                }
                _ => bytes.insert(rng.below(bytes.len() + 1), ALPHABET[rng.below(62)]),
            }
            let mutated = String::from_utf8(bytes).unwrap();
            assert!(format.parse(&mutated).is_err(), "mutation {round} accepted: {mutated}");
        }
        // Arbitrary bytes of the right length never panic and essentially never pass.
        let mut accepted = 0;
        for _ in 0..5_000 {
            let s: String = (0..format.key_len()).map(|_| char::from(32 + rng.below(95) as u8)).collect();
            accepted += usize::from(format.parse(&s).is_ok());
        }
        assert_eq!(accepted, 0);
    }

    #[test]
    fn made_up_keys_fail_the_checksum() {
        // Right shape, random content: refused by the checksum, before any lookup.
        let format = KeyFormat::default();
        let mut rng = Rng(7);
        let mut bad_checksum = 0;
        for _ in 0..1_000 {
            let mut s = String::from("tak_live_");
            s.extend((0..ID_LEN).map(|_| char::from(ALPHABET[rng.below(62)])));
            s.push('_');
            s.extend((0..SECRET_LEN + CHECKSUM_LEN).map(|_| char::from(ALPHABET[rng.below(62)])));
            if format.parse(&s) == Err(KeyFormatError::BadChecksum) {
                bad_checksum += 1;
            }
        }
        assert_eq!(bad_checksum, 1_000);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let format = KeyFormat::default();
        let key = format.generate();
        let parsed = format.parse(key.expose_secret()).unwrap();
        for shown in [format!("{key:?}"), format!("{parsed:?}"), format!("{key:#?}")] {
            assert!(shown.contains(key.id()));
            assert!(!shown.contains(key.secret()), "{shown}");
        }
    }
}
