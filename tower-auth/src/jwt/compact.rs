//! Strict parsing of a compact JWS (RFC 7515 §7.1): three base64url segments, UTF-8 JSON objects
//! without duplicate members.

use serde_json::{Map, Value};

use crate::error::AuthErrorKind;
use crate::json::{b64url_decode, parse_object};

/// A compact JWS whose structure is sound; nothing about it is trusted yet.
#[derive(Debug)]
pub(crate) struct Compact<'a> {
    /// The protected header.
    pub(crate) header: Map<String, Value>,
    /// The payload, a JSON object.
    pub(crate) claims: Map<String, Value>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, exactly as received.
    pub(crate) signing_input: &'a [u8],
    /// The decoded signature (empty for an unsecured JWS, which no algorithm accepts).
    pub(crate) signature: Vec<u8>,
}

impl Compact<'_> {
    /// The `alg` header, which must be a string.
    pub(crate) fn alg(&self) -> Result<&str, AuthErrorKind> {
        match self.header.get("alg") {
            Some(Value::String(s)) => Ok(s),
            _ => Err(AuthErrorKind::MalformedToken),
        }
    }

    /// The `typ` header: absent, or a string.
    pub(crate) fn typ(&self) -> Result<Option<&str>, AuthErrorKind> {
        optional_str(&self.header, "typ")
    }

    /// The `kid` header: absent, or a string.
    pub(crate) fn kid(&self) -> Result<Option<&str>, AuthErrorKind> {
        optional_str(&self.header, "kid")
    }
}

fn optional_str<'a>(map: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, AuthErrorKind> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthErrorKind::MalformedToken),
    }
}

/// A compact JWS whose payload is any octets: the signature layer alone (RFC 7515 §7.1), before the
/// payload is read as JWT claims.
#[derive(Debug)]
pub(crate) struct RawCompact<'a> {
    /// The protected header.
    pub(crate) header: Map<String, Value>,
    /// The decoded payload (possibly empty).
    pub(crate) payload: Vec<u8>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, exactly as received.
    pub(crate) signing_input: &'a [u8],
    /// The decoded signature.
    pub(crate) signature: Vec<u8>,
}

/// Splits and decodes a compact JWS whose payload may be any octets. Anything but exactly three
/// segments, bad base64url in any of them, or a header that is not a strict JSON object →
/// [`AuthErrorKind::MalformedToken`].
pub(crate) fn parse_raw(token: &str) -> Result<RawCompact<'_>, AuthErrorKind> {
    let bytes = token.as_bytes();
    let mut dots = bytes.iter().enumerate().filter(|(_, b)| **b == b'.').map(|(i, _)| i);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(AuthErrorKind::MalformedToken);
    };
    let header_b64 = &bytes[..first];
    let payload_b64 = &bytes[first + 1..second];
    let signature_b64 = &bytes[second + 1..];
    if header_b64.is_empty() {
        return Err(AuthErrorKind::MalformedToken);
    }
    let header = b64url_decode(header_b64).and_then(|h| parse_object(&h)).ok_or(AuthErrorKind::MalformedToken)?;
    let payload = b64url_decode(payload_b64).ok_or(AuthErrorKind::MalformedToken)?;
    let signature = b64url_decode(signature_b64).ok_or(AuthErrorKind::MalformedToken)?;
    Ok(RawCompact { header, payload, signing_input: &bytes[..second], signature })
}

/// Splits and decodes a compact JWS whose payload is a JWT Claims Set. A JWE (five segments), a JWS
/// JSON serialization, bad base64url, non-UTF-8 or non-object JSON, or duplicate members →
/// [`AuthErrorKind::MalformedToken`].
pub(crate) fn parse(token: &str) -> Result<Compact<'_>, AuthErrorKind> {
    let RawCompact { header, payload, signing_input, signature } = parse_raw(token)?;
    let claims = parse_object(&payload).ok_or(AuthErrorKind::MalformedToken)?;
    Ok(Compact { header, claims, signing_input, signature })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7515 Appendix A.1 (HS256); its header and payload contain CRLF.
    const RFC7515_A1: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn parses_rfc7515_a1() {
        let c = parse(RFC7515_A1).unwrap();
        assert_eq!(c.alg().unwrap(), "HS256");
        assert_eq!(c.typ().unwrap(), Some("JWT"));
        assert_eq!(c.claims["iss"], "joe");
        assert_eq!(c.signature.len(), 32);
        assert_eq!(c.signing_input, RFC7515_A1.rsplit_once('.').unwrap().0.as_bytes());
    }

    #[test]
    fn refuses_bad_structure() {
        for bad in [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "a.b.c.d.e",
            "eyJhbGciOiJIUzI1NiJ9..sig",
            "eyJhbGciOiJIUzI1NiJ9=.eyJhIjoxfQ.",
            "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.a b",
            "W10.eyJhIjoxfQ.",                          // header is []
            "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxLCJhIjoyfQ.", // {"a":1,"a":2}
            r#"{"payload":"eyJhIjoxfQ","signatures":[]}"#,
        ] {
            assert_eq!(parse(bad).err(), Some(AuthErrorKind::MalformedToken), "{bad:?}");
        }
    }

    #[test]
    fn raw_payload_is_any_octets() {
        // {"alg":"HS256"} . "foo" / "" (the signature layer; the JWT layer refuses both payloads)
        let foo = parse_raw("eyJhbGciOiJIUzI1NiJ9.Zm9v.").unwrap();
        assert_eq!(foo.payload, b"foo");
        assert_eq!(foo.signing_input, b"eyJhbGciOiJIUzI1NiJ9.Zm9v");
        assert!(parse_raw("eyJhbGciOiJIUzI1NiJ9..").unwrap().payload.is_empty());
        assert_eq!(parse("eyJhbGciOiJIUzI1NiJ9.Zm9v.").err(), Some(AuthErrorKind::MalformedToken));
        assert_eq!(parse("eyJhbGciOiJIUzI1NiJ9..").err(), Some(AuthErrorKind::MalformedToken));
        for bad in [
            ".Zm9v.",
            "Zm9v.Zm9v.",
            "eyJhbGciOiJIUzI1NiJ9.Zm9v",
            "eyJhbGciOiJIUzI1NiJ9.Zm9v..",
            "eyJhbGciOiJIUzI1NiJ9.Zm9=.",
            "eyJhbGciOiJIUzI1NiJ9.Zm9v.A",
        ] {
            assert_eq!(parse_raw(bad).err(), Some(AuthErrorKind::MalformedToken), "{bad:?}");
        }
    }

    #[test]
    fn header_members_must_be_strings() {
        let c = parse("eyJhbGciOjF9.eyJhIjoxfQ.").unwrap(); // {"alg":1}
        assert_eq!(c.alg().err(), Some(AuthErrorKind::MalformedToken));
    }
}
