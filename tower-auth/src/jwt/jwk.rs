//! Verification keys: JWK (RFC 7517 / 7518 §6 / 8037) and PEM, each pinned to exactly one algorithm
//! (RFC 8725 §3.1).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents};
use serde_json::{Map, Value};

use super::alg::Algorithm;
use crate::error::ConfigError;
use crate::json::b64url_decode;

/// A key that verifies signatures of exactly one algorithm.
///
/// `Debug` shows the `kid` and the algorithm, never key material.
#[derive(Clone)]
pub struct VerifyingKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    kid: Option<String>,
    alg: Algorithm,
    material: Material,
}

enum Material {
    Public(ParsedPublicKey),
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey").field("kid", &self.inner.kid).field("alg", &self.inner.alg).finish()
    }
}

/// Why a JWK was not accepted. The message names the rule, never key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRejected(&'static str);

impl KeyRejected {
    pub(crate) fn new(reason: &'static str) -> Self {
        Self(reason)
    }

    /// The rule the key broke.
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for KeyRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key rejected: {}", self.0)
    }
}

impl std::error::Error for KeyRejected {}

/// How JWKs without an `alg` member, and symmetric keys, are treated.
#[derive(Debug, Clone)]
pub(crate) struct JwkPolicy {
    /// Algorithms a key may be pinned to.
    pub(crate) allowed: Vec<Algorithm>,
    /// The algorithm an RSA key without `alg` is pinned to.
    pub(crate) rsa_default: Algorithm,
    /// Whether `oct` keys are acceptable (local configuration only, never a remote JWKS).
    pub(crate) allow_symmetric: bool,
}

impl Default for JwkPolicy {
    fn default() -> Self {
        Self { allowed: Algorithm::ASYMMETRIC.to_vec(), rsa_default: Algorithm::RS256, allow_symmetric: false }
    }
}

fn b64_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyRejected> {
    match jwk.get(name) {
        Some(Value::String(s)) => b64url_decode(s.as_bytes()).ok_or(KeyRejected("member is not base64url")),
        Some(_) => Err(KeyRejected("member is not a string")),
        None => Err(KeyRejected("required member missing")),
    }
}

fn str_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, KeyRejected> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KeyRejected("member is not a string")),
    }
}

impl VerifyingKey {
    /// Parses one JWK (a JSON object) and pins its algorithm: the JWK's `alg` when present, else the
    /// curve's algorithm for EC / OKP keys, else `RS256` for RSA keys. Asymmetric keys only.
    ///
    /// ```
    /// let jwk = serde_json::json!({
    ///     "kty": "EC", "crv": "P-256", "kid": "k1",
    ///     "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    ///     "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"
    /// });
    /// let key = tower_auth::jwt::VerifyingKey::from_jwk(&jwk).unwrap();
    /// assert_eq!(key.algorithm(), tower_auth::jwt::Algorithm::ES256);
    /// ```
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyRejected> {
        Self::from_jwk_with(jwk, &JwkPolicy::default())
    }

    pub(crate) fn from_jwk_with(jwk: &Value, policy: &JwkPolicy) -> Result<Self, KeyRejected> {
        let Value::Object(jwk) = jwk else { return Err(KeyRejected("not a JSON object")) };
        let kty = str_member(jwk, "kty")?.ok_or(KeyRejected("kty missing"))?;
        // A published private key authenticates nothing: anyone who read the set can sign with it
        // (Wycheproof MixedKeySet). `oct` keys are secret by nature and handled below.
        if kty != "oct" && PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(KeyRejected("private key material in a verification key"));
        }
        if let Some(u) = str_member(jwk, "use")?
            && u != "sig"
        {
            return Err(KeyRejected("use is not sig"));
        }
        if let Some(ops) = jwk.get("key_ops") {
            let Value::Array(ops) = ops else { return Err(KeyRejected("key_ops is not an array")) };
            if !ops.iter().any(|o| o == "verify") {
                return Err(KeyRejected("key_ops lacks verify"));
            }
        }
        let kid = str_member(jwk, "kid")?.map(str::to_owned);
        let declared = match str_member(jwk, "alg")? {
            Some(name) => Some(name.parse::<Algorithm>().map_err(|_| KeyRejected("unsupported alg"))?),
            None => None,
        };
        let (alg, material) = match kty {
            "RSA" => {
                let alg = declared.unwrap_or(policy.rsa_default);
                let params = alg.rsa_parameters().ok_or(KeyRejected("alg does not fit an RSA key"))?;
                let n = b64_member(jwk, "n")?;
                let e = b64_member(jwk, "e")?;
                let n = strip_leading_zeros(&n);
                let e = strip_leading_zeros(&e);
                if bit_len(n) < 2048 {
                    return Err(KeyRejected("RSA modulus shorter than 2048 bits"));
                }
                if bit_len(n) > 8192 {
                    return Err(KeyRejected("RSA modulus longer than 8192 bits"));
                }
                if has_roca_fingerprint(n) {
                    return Err(KeyRejected("RSA modulus has the ROCA fingerprint (CVE-2017-15361)"));
                }
                // e must be odd and at least 3 (an exponent of 1 makes every signature trivial).
                if e.is_empty() || e.len() > 8 || e[e.len() - 1] & 1 == 0 || (e.len() == 1 && e[0] < 3) {
                    return Err(KeyRejected("bad RSA exponent"));
                }
                let key = RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .map_err(|_| KeyRejected("invalid RSA key"))?;
                (alg, Material::Public(key))
            }
            "EC" => {
                let crv = str_member(jwk, "crv")?.ok_or(KeyRejected("crv missing"))?;
                let (alg, len) = match crv {
                    "P-256" => (Algorithm::ES256, 32),
                    "P-384" => (Algorithm::ES384, 48),
                    "P-521" => (Algorithm::ES512, 66),
                    _ => return Err(KeyRejected("unsupported curve")),
                };
                if declared.is_some_and(|d| d != alg) {
                    return Err(KeyRejected("alg does not fit the curve"));
                }
                let x = b64_member(jwk, "x")?;
                let y = b64_member(jwk, "y")?;
                // RFC 7518 §6.2.1.2: full coordinate length, no shorter encodings.
                if x.len() != len || y.len() != len {
                    return Err(KeyRejected("EC coordinate has the wrong length"));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let verification = alg.verification().ok_or(KeyRejected("unsupported alg"))?;
                let key =
                    ParsedPublicKey::new(verification, &point).map_err(|_| KeyRejected("EC point not on the curve"))?;
                (alg, Material::Public(key))
            }
            "OKP" => {
                let crv = str_member(jwk, "crv")?.ok_or(KeyRejected("crv missing"))?;
                if crv != "Ed25519" {
                    return Err(KeyRejected("unsupported curve"));
                }
                if declared.is_some_and(|d| d != Algorithm::EdDSA) {
                    return Err(KeyRejected("alg does not fit the curve"));
                }
                let x = b64_member(jwk, "x")?;
                if x.len() != 32 {
                    return Err(KeyRejected("Ed25519 key has the wrong length"));
                }
                let key = ParsedPublicKey::new(&aws_lc_rs::signature::ED25519, &x)
                    .map_err(|_| KeyRejected("invalid Ed25519 key"))?;
                (Algorithm::EdDSA, Material::Public(key))
            }
            "oct" => {
                if !policy.allow_symmetric {
                    return Err(KeyRejected("symmetric key not allowed here"));
                }
                let alg = declared.ok_or(KeyRejected("symmetric key without alg"))?;
                let k = b64_member(jwk, "k")?;
                return Self::hmac(alg, &k, kid).map_err(|_| KeyRejected("HMAC key too short or alg not HMAC"));
            }
            _ => return Err(KeyRejected("unsupported kty")),
        };
        if !policy.allowed.contains(&alg) {
            return Err(KeyRejected("alg not on the allow-list"));
        }
        Ok(Self { inner: Arc::new(KeyInner { kid, alg, material }) })
    }

    /// An HMAC key (`HS256` / `HS384` / `HS512`), configured locally. The secret must be at least as long
    /// as the hash output (RFC 7518 §3.2).
    pub fn hmac(alg: Algorithm, secret: &[u8], kid: Option<String>) -> Result<Self, ConfigError> {
        let hmac = alg.hmac().ok_or_else(|| ConfigError::new("hmac() needs HS256, HS384 or HS512"))?;
        let min = hmac.digest_algorithm().output_len();
        if secret.len() < min {
            return Err(ConfigError::new(format!("an {alg} secret must be at least {min} bytes")));
        }
        let key = aws_lc_rs::hmac::Key::new(hmac, secret);
        Ok(Self { inner: Arc::new(KeyInner { kid, alg, material: Material::Hmac(Box::new(key)) }) })
    }

    /// A public key from PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo), pinned to `alg`.
    pub fn from_public_key_pem(alg: Algorithm, pem: &str, kid: Option<String>) -> Result<Self, ConfigError> {
        let der = pem_decode(pem, "PUBLIC KEY").ok_or_else(|| ConfigError::new("expected a PEM PUBLIC KEY block"))?;
        Self::from_spki_der(alg, &der, kid)
    }

    /// A public key from DER SubjectPublicKeyInfo, pinned to `alg`.
    pub fn from_spki_der(alg: Algorithm, der: &[u8], kid: Option<String>) -> Result<Self, ConfigError> {
        let verification = alg.verification().ok_or_else(|| ConfigError::new("use VerifyingKey::hmac for HS* keys"))?;
        let key = ParsedPublicKey::new(verification, der)
            .map_err(|_| ConfigError::new(format!("the public key does not fit {alg}")))?;
        if alg.rsa_parameters().is_some() && key.as_ref().len() < 256 {
            return Err(ConfigError::new("RSA keys must be at least 2048 bits"));
        }
        Ok(Self { inner: Arc::new(KeyInner { kid, alg, material: Material::Public(key) }) })
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.alg
    }

    /// Whether `other` is the same key: same `kid`, algorithm and public key material. HMAC keys are
    /// never reported equal (their secrets are not compared).
    pub(crate) fn same_key(&self, other: &Self) -> bool {
        if Arc::ptr_eq(&self.inner, &other.inner) {
            return true;
        }
        self.inner.kid == other.inner.kid
            && self.inner.alg == other.inner.alg
            && match (&self.inner.material, &other.inner.material) {
                (Material::Public(a), Material::Public(b)) => a.as_ref() == b.as_ref(),
                _ => false,
            }
    }

    /// Verifies `signature` over `message` with the pinned algorithm.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        if let Some(len) = self.inner.alg.fixed_signature_len()
            && signature.len() != len
        {
            return false;
        }
        match &self.inner.material {
            Material::Public(key) => key.verify_sig(message, signature).is_ok(),
            Material::Hmac(key) => aws_lc_rs::hmac::verify(key, message, signature).is_ok(),
        }
    }
}

/// JWK members only a private key has (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// Whether the big-endian modulus `n` has the fingerprint of the RSA keys of the Infineon library
/// broken by ROCA (CVE-2017-15361): for every small prime `p`, `n mod p` lies in the subgroup
/// generated by 65537. A sound modulus passes all 38 tests with negligible probability
/// (the detector of Nemec et al., CCS 2017).
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107,
        109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = n.iter().fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        let generator = 65537 % p;
        let mut x = 1u32;
        loop {
            if x == residue {
                return true;
            }
            x = x * generator % p;
            if x == 1 {
                return false;
            }
        }
    })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(first) => (be.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// Decodes the first PEM block with the given label.
pub(crate) fn pem_decode(pem: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// A parsed JWK Set: the usable keys, and how many were skipped.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeySet {
    pub(crate) keys: Vec<VerifyingKey>,
}

/// The result of looking a token's key up.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    Found(&'a VerifyingKey),
    /// Keys carry that `kid`, but none for the header's algorithm (or several match).
    WrongAlgorithm,
    Ambiguous,
    NotFound,
}

impl KeySet {
    /// Parses `{"keys":[…]}`. A bad key is skipped (logged by reason and `kid`), never fatal for the
    /// others; keys sharing a `kid` are dropped together (C3: ambiguous).
    pub(crate) fn from_jwks(json: &[u8], policy: &JwkPolicy) -> Option<(Self, usize)> {
        let doc = crate::json::parse_object(json)?;
        let Some(Value::Array(entries)) = doc.get("keys") else { return None };
        let mut keys = Vec::with_capacity(entries.len());
        let mut skipped = 0usize;
        for entry in entries {
            match VerifyingKey::from_jwk_with(entry, policy) {
                Ok(key) => keys.push(key),
                Err(e) => {
                    skipped += 1;
                    let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("");
                    tracing::warn!(target: "tower_auth::jwks", kid = %kid.escape_debug(), reason = e.reason(), "JWKS key skipped");
                }
            }
        }
        let mut duplicated: Vec<String> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(kid) = k.kid()
                && keys[..i].iter().any(|o| o.kid() == Some(kid))
                && !duplicated.iter().any(|d| d == kid)
            {
                duplicated.push(kid.to_owned());
            }
        }
        if !duplicated.is_empty() {
            let before = keys.len();
            keys.retain(|k| k.kid().is_none_or(|kid| !duplicated.iter().any(|d| d == kid)));
            skipped += before - keys.len();
            tracing::warn!(target: "tower_auth::jwks", count = duplicated.len(), "JWKS keys with a duplicate kid skipped");
        }
        Some((Self { keys }, skipped))
    }

    /// Selects exactly one key for a token: by `kid` when the token has one, and by algorithm.
    pub(crate) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        let mut by_kid = 0usize;
        let mut found: Option<&VerifyingKey> = None;
        let mut matches = 0usize;
        for key in &self.keys {
            if let Some(kid) = kid
                && key.kid() != Some(kid)
            {
                continue;
            }
            by_kid += 1;
            if key.algorithm() == alg {
                matches += 1;
                found = Some(key);
            }
        }
        match (matches, found) {
            (1, Some(key)) => Lookup::Found(key),
            (0, _) if by_kid > 0 => Lookup::WrongAlgorithm,
            (0, _) => Lookup::NotFound,
            _ => Lookup::Ambiguous,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RFC9449_X: &str = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs";
    const RFC9449_Y: &str = "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA";

    #[test]
    fn ec_key_pins_curve_algorithm() {
        let key = VerifyingKey::from_jwk(&json!({"kty":"EC","crv":"P-256","x":RFC9449_X,"y":RFC9449_Y})).unwrap();
        assert_eq!(key.algorithm(), Algorithm::ES256);
        let err = VerifyingKey::from_jwk(&json!({"kty":"EC","crv":"P-256","alg":"ES384","x":RFC9449_X,"y":RFC9449_Y}));
        assert!(err.is_err());
    }

    #[test]
    fn rejects_bad_keys() {
        let cases = [
            json!({"kty":"EC","crv":"P-256","x":RFC9449_X,"y":RFC9449_Y,"use":"enc"}),
            json!({"kty":"EC","crv":"P-256","x":RFC9449_X,"y":RFC9449_Y,"key_ops":["sign"]}),
            json!({"kty":"EC","crv":"P-256","x":RFC9449_X,"y":RFC9449_X}), // not on the curve
            json!({"kty":"EC","crv":"P-256","x":&RFC9449_X[1..],"y":RFC9449_Y}),
            json!({"kty":"EC","crv":"secp256k1","x":RFC9449_X,"y":RFC9449_Y}),
            json!({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow","alg":"HS256"}),
            json!({"kty":"RSA","n":"AQAB","e":"AQAB"}),
            json!({"kty":"OKP","crv":"Ed448","x":"AAAA"}),
            json!({"kty":"EC","crv":"P-256","x":RFC9449_X,"y":RFC9449_Y,"alg":"none"}),
            json!({"kty":"XYZ"}),
            json!([]),
        ];
        for c in cases {
            assert!(VerifyingKey::from_jwk(&c).is_err(), "{c}");
        }
    }

    #[test]
    fn hmac_needs_full_length_secret() {
        // B14
        assert!(VerifyingKey::hmac(Algorithm::HS256, &[7u8; 31], None).is_err());
        assert!(VerifyingKey::hmac(Algorithm::HS256, &[7u8; 32], None).is_ok());
        assert!(VerifyingKey::hmac(Algorithm::RS256, &[7u8; 64], None).is_err());
    }

    #[test]
    fn rfc7515_a1_hmac_verifies() {
        let k =
            b64url_decode(b"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
                .unwrap();
        let key = VerifyingKey::hmac(Algorithm::HS256, &k, None).unwrap();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let (input, sig) = token.rsplit_once('.').unwrap();
        assert!(key.verify(input.as_bytes(), &b64url_decode(sig.as_bytes()).unwrap()));
        assert!(!key.verify(b"x", &b64url_decode(sig.as_bytes()).unwrap()));
    }

    #[test]
    fn rfc9449_proof_signature_verifies_with_header_key() {
        // The RFC 9449 §7.1 example proof, signed by the key in its header.
        let proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
        let key = VerifyingKey::from_jwk(&json!({"kty":"EC","crv":"P-256","x":RFC9449_X,"y":RFC9449_Y})).unwrap();
        let (input, sig) = proof.rsplit_once('.').unwrap();
        let sig = b64url_decode(sig.as_bytes()).unwrap();
        assert!(key.verify(input.as_bytes(), &sig));
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert!(!key.verify(input.as_bytes(), &bad));
        assert!(!key.verify(input.as_bytes(), &sig[..63]));
    }

    #[test]
    fn duplicate_kids_are_dropped_and_lookup_is_exact() {
        let ec = json!({"kty":"EC","crv":"P-256","x":RFC9449_X,"y":RFC9449_Y,"kid":"a"});
        let ec2 = json!({"kty":"EC","crv":"P-256","x":RFC9449_X,"y":RFC9449_Y,"kid":"b"});
        let doc = json!({"keys":[ec, ec.clone(), ec2, {"kty":"bad"}]}).to_string();
        let (set, skipped) = KeySet::from_jwks(doc.as_bytes(), &JwkPolicy::default()).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(skipped, 3);
        assert!(matches!(set.lookup(Some("a"), Algorithm::ES256), Lookup::NotFound));
        assert!(matches!(set.lookup(Some("b"), Algorithm::ES256), Lookup::Found(_)));
        assert!(matches!(set.lookup(Some("b"), Algorithm::RS256), Lookup::WrongAlgorithm));
        assert!(matches!(set.lookup(None, Algorithm::ES256), Lookup::Found(_)));
    }

    // Wycheproof json_web_key_test.json: the RS256 key of `rs256` and the key of `jws_rsa_roca_key`.
    const WYCHEPROOF_RSA_N: &str = "kqGboBfAWttWPCA-0cGRgsY6SaYoIARt0B_PkaEcIq9HPYNdu9n6UuWHuuTHrjF_ZoQW97r5HaAorNvrMEGTGdxCHZdEtkHvNVVmrtxTBLiQCbCozXhFoIrVcr3qUBrdGnNn_M3jJi7Wg7p_-x62nS5gNG875oyheRkutHsQXikFZwsN3q_TsPNOVlCiHy8mxzaFTUQGm-X8UYexFyAivlDSjgDJLAZSWfxd7k9Gxuwa3AUfQqQcVcegmgKGCaErQ3qQbh1x7WB6iopE3_-GZ8HMAVtR9AmrVscqYsnjhaCehfAI0iKKs8zXr8tISc0ORbaalrkk03H1ZrsEnDKEWQ";
    const WYCHEPROOF_ROCA_N: &str = "AanFpofbj7KjD4Lf-N2hVMKR7yewSyXhhbirIMTGpfYEhZ_lnt5UoK98DnKIgArXGTu3MaW_HhFw16HGaTDUHqPrId7fe4r11CqRw09yBFuW79V8sYIwHdzCaWflUI6auImYbVfoN9_nD5n8N8SY9DwXw7mwZM9wREPXoDPgOoIWl6q_MPsp7n0zs3Z5ZaiQWOOzl1S9OhwAfSiiOwz6efnXEaxuTEtPd7BjSx7NaFka8Dx9U7YqXy2RFj1O9PjyaDGuRh7YXsX3iMUSP_wSyHQg_c_qHRtKUsNSGCT7OZg0hzm2KphtjnayKJvC64vAbROBR4Ubg6Bxg9IQVZ-QYyE";

    #[test]
    fn roca_moduli_are_refused_b14() {
        let sound = json!({"kty":"RSA","n":WYCHEPROOF_RSA_N,"e":"AQAB"});
        assert_eq!(VerifyingKey::from_jwk(&sound).unwrap().algorithm(), Algorithm::RS256);
        let roca = json!({"kty":"RSA","n":WYCHEPROOF_ROCA_N,"e":"AQAB"});
        assert_eq!(
            VerifyingKey::from_jwk(&roca).unwrap_err().reason(),
            "RSA modulus has the ROCA fingerprint (CVE-2017-15361)"
        );
        assert!(!has_roca_fingerprint(&[0xff; 256]));
        assert!(!has_roca_fingerprint(&[]));
    }

    #[test]
    fn keys_carrying_private_members_are_refused() {
        for member in PRIVATE_MEMBERS {
            let mut jwk = json!({"kty":"EC","crv":"P-256","x":RFC9449_X,"y":RFC9449_Y});
            jwk[member] = json!("AAAA");
            assert_eq!(
                VerifyingKey::from_jwk(&jwk).unwrap_err().reason(),
                "private key material in a verification key",
                "{member}"
            );
        }
        let mut rsa = json!({"kty":"RSA","n":WYCHEPROOF_RSA_N,"e":"AQAB"});
        rsa["d"] = json!("AQAB");
        assert!(VerifyingKey::from_jwk(&rsa).is_err());
    }

    #[test]
    fn pem_decoding() {
        let pem = "-----BEGIN PUBLIC KEY-----\nZm9v\nYmFy\n-----END PUBLIC KEY-----\n";
        assert_eq!(pem_decode(pem, "PUBLIC KEY").unwrap(), b"foobar");
        assert!(pem_decode(pem, "CERTIFICATE").is_none());
    }
}
