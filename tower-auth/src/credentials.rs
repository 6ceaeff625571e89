//! Which credential does a request carry? Selection is by scheme, never by trial and error.

use crate::error::AuthErrorKind;
use crate::view::{HeaderLookup, RequestView};

/// A credential found in a request, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential<'a> {
    /// `Authorization: Bearer <b64token>` (RFC 6750 §2.1).
    Bearer(&'a str),
}

/// Finds the credential of a request.
///
/// - two `Authorization` fields → [`AuthErrorKind::MultipleCredentials`] (A2);
/// - `Bearer` (any case, A1) followed by `1*SP b64token` → [`Credential::Bearer`]; a `Bearer` with a
///   missing or ill-formed token, or bytes outside visible ASCII → [`AuthErrorKind::MalformedRequest`];
/// - any other scheme is not a credential this server accepts: `Ok(None)`, answered like no
///   credentials at all (RFC 6750 §3.1: no error code for an unsupported method).
pub(crate) fn extract<V: RequestView + ?Sized>(view: &V) -> Result<Option<Credential<'_>>, AuthErrorKind> {
    let value = match view.header("authorization") {
        HeaderLookup::Missing => return Ok(None),
        HeaderLookup::Many => return Err(AuthErrorKind::MultipleCredentials),
        HeaderLookup::One(value) => value,
    };
    if !value.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t') {
        return Err(AuthErrorKind::MalformedRequest);
    }
    // Checked ASCII above, so this cannot fail.
    let value = std::str::from_utf8(value).map_err(|_| AuthErrorKind::MalformedRequest)?;
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = match value.find(' ') {
        Some(i) => (&value[..i], value[i..].trim_start_matches(' ')),
        None => (value, ""),
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || !is_b64token(rest) {
            return Err(AuthErrorKind::MalformedRequest);
        }
        return Ok(Some(Credential::Bearer(rest)));
    }
    Ok(None)
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
pub(crate) fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(values: &[&[u8]]) -> http::request::Parts {
        let mut req = http::Request::builder().uri("/x");
        for v in values {
            req = req.header("authorization", http::HeaderValue::from_bytes(v).unwrap());
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_any_case_and_spaces() {
        // A1
        for v in ["Bearer abc", "bearer abc", "BEARER   abc", "Bearer a.b.c", "Bearer abc==", "Bearer a-b_c~d+e/f"] {
            let p = parts(&[v.as_bytes()]);
            let token = v.split_whitespace().last().unwrap();
            assert_eq!(extract(&p), Ok(Some(Credential::Bearer(token))), "{v}");
        }
    }

    #[test]
    fn malformed_and_unsupported() {
        for v in ["Bearer", "Bearer ", "Bearer a b", "Bearer a,b", "Bearer =abc", "Bearer a\"b", "Bearer ===="] {
            assert_eq!(extract(&parts(&[v.as_bytes()])), Err(AuthErrorKind::MalformedRequest), "{v}");
        }
        assert_eq!(extract(&parts(&[b"Bearer \xff\xfe"])), Err(AuthErrorKind::MalformedRequest));
        for v in ["Basic dXNlcjpwYXNz", "garbage", "Digest a=b", "Bearerabc"] {
            assert_eq!(extract(&parts(&[v.as_bytes()])), Ok(None), "{v}");
        }
    }

    #[test]
    fn two_authorization_headers() {
        // A2
        assert_eq!(extract(&parts(&[b"Bearer a", b"Bearer b"])), Err(AuthErrorKind::MultipleCredentials));
        assert_eq!(extract(&parts(&[])), Ok(None));
    }
}
