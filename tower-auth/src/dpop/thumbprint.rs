//! JWK SHA-256 thumbprints (RFC 7638; OKP keys per RFC 8037 §2) and the `ath` hash (RFC 9449 §4.2).

use serde_json::{Map, Value};

use super::sha256;
use crate::json::b64url_encode;
use crate::jwt::KeyRejected;

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding: the `jkt` a
/// DPoP-bound token carries in `cnf` (RFC 9449 §6.1).
///
/// Only the required members take part (F2): EC `crv`, `kty`, `x`, `y`; RSA `e`, `kty`, `n`; OKP
/// `crv`, `kty`, `x`. They are serialized in lexicographic order without whitespace and hashed
/// exactly as represented (F1, F3); `kid`, `alg`, `use` and every other member are ignored.
/// Symmetric (`oct`) keys are refused: a DPoP key is never symmetric.
///
/// ```
/// use serde_json::json;
/// // The P-256 key of the RFC 9449 examples and its `jkt` (RFC 9449 §6.1).
/// let jwk = json!({"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
///                  "y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"});
/// assert_eq!(tower_auth::dpop::jwk_thumbprint(&jwk).unwrap(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
/// ```
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, KeyRejected> {
    let Value::Object(jwk) = jwk else { return Err(KeyRejected::new("not a JSON object")) };
    thumbprint_of(jwk)
}

pub(crate) fn thumbprint_of(jwk: &Map<String, Value>) -> Result<String, KeyRejected> {
    let kty = member(jwk, "kty")?;
    // Members in lexicographic order (RFC 7638 §3.3).
    let names: &[&str] = match kty {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        "oct" => return Err(KeyRejected::new("symmetric key")),
        _ => return Err(KeyRejected::new("unsupported kty")),
    };
    let mut canonical = String::with_capacity(160);
    canonical.push('{');
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        // serde_json writes the JSON string form; the names need no escaping.
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":");
        let value = member(jwk, name)?;
        canonical.push_str(&serde_json::to_string(value).map_err(|_| KeyRejected::new("member is not a string"))?);
    }
    canonical.push('}');
    Ok(b64url_encode(&sha256(canonical.as_bytes())))
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, KeyRejected> {
    match jwk.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(KeyRejected::new("member is not a string")),
        None => Err(KeyRejected::new("required member missing")),
    }
}

/// The `ath` of an access token: base64url(SHA-256(ASCII token)) (RFC 9449 §4.2).
///
/// ```
/// // The access token and `ath` of the RFC 9449 §7.1 example.
/// assert_eq!(
///     tower_auth::dpop::access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
///     "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
/// );
/// ```
pub fn access_token_hash(access_token: &str) -> String {
    b64url_encode(&sha256(access_token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7638_section_3_1_rsa_example() {
        // F1, F2, F3: RFC 7638 §3.1 (the RSA key of RFC 7517 Appendix A.1), `alg` and `kid` ignored.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(jwk_thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn rfc8037_appendix_a3_ed25519() {
        // F2: OKP required members {crv, kty, x}; the private `d` of A.1 is not part of it.
        let jwk = json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(jwk_thumbprint(&jwk).unwrap(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn rfc9449_jkt_and_ath() {
        // E5: the `jkt` of RFC 9449 §6.1 / §6.2, member order of the proof header not mattering.
        let jwk = json!({"crv":"P-256","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","kty":"EC","kid":"ignored","use":"sig"});
        assert_eq!(jwk_thumbprint(&jwk).unwrap(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn refuses_incomplete_and_symmetric_keys() {
        for bad in [
            json!({"kty":"EC","crv":"P-256","x":"AA"}),
            json!({"kty":"EC","crv":"P-256","x":"AA","y":1}),
            json!({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ"}),
            json!({"kty":"XYZ"}),
            json!({"n":"AQAB","e":"AQAB"}),
            json!("not an object"),
        ] {
            assert!(jwk_thumbprint(&bad).is_err(), "{bad}");
        }
    }
}
