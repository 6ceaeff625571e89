//! Which credential does a request carry? Selection is by scheme, never by trial and error.

use crate::error::AuthErrorKind;
use crate::view::{HeaderLookup, RequestView};

/// A credential found in a request, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential<'a> {
    /// `Authorization: Bearer <b64token>` (RFC 6750 §2.1).
    Bearer(&'a str),
    /// `Authorization: DPoP <token68>` (RFC 9449 §7.1); the proof is in the `DPoP` header.
    Dpop(&'a str),
    /// An API key: from the configured header, `Authorization: ApiKey <key>`, or the query parameter.
    ApiKey(&'a str),
}

/// Where credentials may come from. Only the enabled sources are read.
#[derive(Debug, Clone, Default)]
pub(crate) struct CredentialSources {
    /// Recognise `Authorization: DPoP …`.
    pub(crate) dpop: bool,
    /// The API-key header (lower case), e.g. `x-api-key`.
    pub(crate) api_key_header: Option<String>,
    /// Recognise `Authorization: ApiKey …`.
    pub(crate) api_key_scheme: bool,
    /// The API-key query parameter. Off unless explicitly enabled: URLs end up in logs and histories.
    pub(crate) api_key_query: Option<String>,
}

/// Finds the credential of a request.
///
/// - two `Authorization` fields, two API-key fields, or two kinds of credential in one request
///   (say `Authorization` and `X-API-Key`, or with DPoP enabled a `Bearer` token and a `DPoP` proof)
///   → [`AuthErrorKind::MultipleCredentials`] (A2, A5);
/// - `Bearer` (any case, A1) followed by `1*SP b64token` → [`Credential::Bearer`]; a `Bearer` with a
///   missing or ill-formed token, or bytes outside visible ASCII → [`AuthErrorKind::MalformedRequest`];
///   `DPoP` and `ApiKey` likewise when enabled (A4);
/// - any other scheme is not a credential this server accepts: `Ok(None)`, answered like no
///   credentials at all (RFC 6750 §3.1: no error code for an unsupported method).
pub(crate) fn extract<'a, V: RequestView + ?Sized>(
    view: &'a V,
    sources: &CredentialSources,
) -> Result<Option<Credential<'a>>, AuthErrorKind> {
    let from_authorization = match view.header("authorization") {
        HeaderLookup::Missing => None,
        HeaderLookup::Many => return Err(AuthErrorKind::MultipleCredentials),
        HeaderLookup::One(value) => parse_authorization(value, sources)?,
    };
    let from_header = match &sources.api_key_header {
        None => None,
        Some(name) => match view.header(name) {
            HeaderLookup::Missing => None,
            HeaderLookup::Many => return Err(AuthErrorKind::MultipleCredentials),
            HeaderLookup::One(value) => Some(Credential::ApiKey(visible_ascii(value)?)),
        },
    };
    let from_query = match (&sources.api_key_query, view.query()) {
        (Some(name), Some(query)) => query_param(query, name)?.map(Credential::ApiKey),
        _ => None,
    };
    let mut found = [from_authorization, from_header, from_query].into_iter().flatten();
    let credential = match (found.next(), found.next()) {
        (Some(_), Some(_)) => return Err(AuthErrorKind::MultipleCredentials),
        (credential, _) => credential,
    };
    // A5 / RFC 9449 §7.2: a DPoP proof beside a `Bearer` token or an API key is two methods at once.
    if sources.dpop
        && matches!(credential, Some(Credential::Bearer(_) | Credential::ApiKey(_)))
        && !matches!(view.header("dpop"), HeaderLookup::Missing)
    {
        return Err(AuthErrorKind::MultipleCredentials);
    }
    Ok(credential)
}

fn visible_ascii(value: &[u8]) -> Result<&str, AuthErrorKind> {
    if value.is_empty() || !value.iter().all(|b| (0x21..0x7f).contains(b)) {
        return Err(AuthErrorKind::MalformedRequest);
    }
    std::str::from_utf8(value).map_err(|_| AuthErrorKind::MalformedRequest)
}

fn parse_authorization<'a>(
    value: &'a [u8],
    sources: &CredentialSources,
) -> Result<Option<Credential<'a>>, AuthErrorKind> {
    // A fold without an early exit, so the compiler vectorizes it: a bearer token is hundreds of
    // bytes, and this runs on every request.
    if value.iter().fold(false, |bad, &b| bad | !(b == b'\t' || (0x20..0x7f).contains(&b))) {
        return Err(AuthErrorKind::MalformedRequest);
    }
    // Checked ASCII above, so this cannot fail.
    let value = std::str::from_utf8(value).map_err(|_| AuthErrorKind::MalformedRequest)?;
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = match value.find(' ') {
        Some(i) => (&value[..i], value[i..].trim_start_matches(' ')),
        None => (value, ""),
    };
    let make: fn(&'a str) -> Credential<'a> = if scheme.eq_ignore_ascii_case("bearer") {
        Credential::Bearer
    } else if sources.dpop && scheme.eq_ignore_ascii_case("dpop") {
        Credential::Dpop
    } else if sources.api_key_scheme && scheme.eq_ignore_ascii_case("apikey") {
        Credential::ApiKey
    } else {
        return Ok(None);
    };
    if rest.is_empty() || !is_b64token(rest) {
        return Err(AuthErrorKind::MalformedRequest);
    }
    Ok(Some(make(rest)))
}

/// The value of query parameter `name`; two of them → [`AuthErrorKind::MultipleCredentials`].
fn query_param<'a>(query: &'a str, name: &str) -> Result<Option<&'a str>, AuthErrorKind> {
    let mut found = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == name {
            if found.is_some() {
                return Err(AuthErrorKind::MultipleCredentials);
            }
            found = Some(value);
        }
    }
    match found {
        Some(v) if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) => {
            Err(AuthErrorKind::MalformedRequest)
        }
        other => Ok(other),
    }
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1); the same
/// alphabet as `token68` (RFC 9110 §11.2).
pub(crate) fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    // Non-short-circuiting `|` and `&` in a fold: branch-free, so the compiler vectorizes it.
    let b64 = |b: u8| {
        b.is_ascii_alphanumeric() | (b == b'-') | (b == b'.') | (b == b'_') | (b == b'~') | (b == b'+') | (b == b'/')
    };
    !body.is_empty() && body.bytes().fold(true, |ok, b| ok & b64(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(values: &[&[u8]]) -> http::request::Parts {
        parts_with(values, &[], "/x")
    }

    fn parts_with(authorization: &[&[u8]], other: &[(&str, &str)], uri: &str) -> http::request::Parts {
        let mut req = http::Request::builder().uri(uri);
        for v in authorization {
            req = req.header("authorization", http::HeaderValue::from_bytes(v).unwrap());
        }
        for (name, value) in other {
            req = req.header(*name, *value);
        }
        req.body(()).unwrap().into_parts().0
    }

    fn bearer_only() -> CredentialSources {
        CredentialSources::default()
    }

    fn everything() -> CredentialSources {
        CredentialSources {
            dpop: true,
            api_key_header: Some("x-api-key".into()),
            api_key_scheme: true,
            api_key_query: Some("api_key".into()),
        }
    }

    #[test]
    fn bearer_any_case_and_spaces() {
        // A1
        for v in ["Bearer abc", "bearer abc", "BEARER   abc", "Bearer a.b.c", "Bearer abc==", "Bearer a-b_c~d+e/f"] {
            let p = parts(&[v.as_bytes()]);
            let token = v.split_whitespace().last().unwrap();
            assert_eq!(extract(&p, &bearer_only()), Ok(Some(Credential::Bearer(token))), "{v}");
        }
    }

    #[test]
    fn malformed_and_unsupported() {
        for v in ["Bearer", "Bearer ", "Bearer a b", "Bearer a,b", "Bearer =abc", "Bearer a\"b", "Bearer ===="] {
            assert_eq!(extract(&parts(&[v.as_bytes()]), &bearer_only()), Err(AuthErrorKind::MalformedRequest), "{v}");
        }
        assert_eq!(extract(&parts(&[b"Bearer \xff\xfe"]), &bearer_only()), Err(AuthErrorKind::MalformedRequest));
        for v in ["Basic dXNlcjpwYXNz", "garbage", "Digest a=b", "Bearerabc", "DPoP abc", "ApiKey abc"] {
            assert_eq!(extract(&parts(&[v.as_bytes()]), &bearer_only()), Ok(None), "{v}");
        }
    }

    #[test]
    fn two_authorization_headers() {
        // A2
        assert_eq!(
            extract(&parts(&[b"Bearer a", b"Bearer b"]), &bearer_only()),
            Err(AuthErrorKind::MultipleCredentials)
        );
        assert_eq!(extract(&parts(&[]), &bearer_only()), Ok(None));
    }

    #[test]
    fn enabled_schemes_and_sources() {
        // A4
        let all = everything();
        assert_eq!(extract(&parts(&[b"DPoP abc"]), &all), Ok(Some(Credential::Dpop("abc"))));
        assert_eq!(extract(&parts(&[b"apikey k_1"]), &all), Ok(Some(Credential::ApiKey("k_1"))));
        assert_eq!(extract(&parts_with(&[], &[("x-api-key", "k_2")], "/x"), &all), Ok(Some(Credential::ApiKey("k_2"))));
        assert_eq!(extract(&parts_with(&[], &[], "/x?a=1&api_key=k_3"), &all), Ok(Some(Credential::ApiKey("k_3"))));
        assert_eq!(extract(&parts(&[b"DPoP"]), &all), Err(AuthErrorKind::MalformedRequest));
        assert_eq!(
            extract(&parts_with(&[], &[("x-api-key", "a b")], "/x"), &all),
            Err(AuthErrorKind::MalformedRequest)
        );
        // The query source is off unless configured.
        let header_only = CredentialSources { api_key_header: Some("x-api-key".into()), ..Default::default() };
        assert_eq!(extract(&parts_with(&[], &[], "/x?api_key=k_3"), &header_only), Ok(None));
    }

    #[test]
    fn two_kinds_of_credential() {
        // A2 / A5 / DESIGN: two kinds in one request → 400
        let all = everything();
        let both = parts_with(&[b"Bearer abc"], &[("x-api-key", "k")], "/x");
        assert_eq!(extract(&both, &all), Err(AuthErrorKind::MultipleCredentials));
        let both = parts_with(&[b"Bearer abc"], &[], "/x?api_key=k");
        assert_eq!(extract(&both, &all), Err(AuthErrorKind::MultipleCredentials));
        let twice = parts_with(&[], &[("x-api-key", "a"), ("x-api-key", "b")], "/x");
        assert_eq!(extract(&twice, &all), Err(AuthErrorKind::MultipleCredentials));
        let twice = parts_with(&[], &[], "/x?api_key=a&api_key=b");
        assert_eq!(extract(&twice, &all), Err(AuthErrorKind::MultipleCredentials));
        // A header the configuration does not read is not a credential.
        let ignored = parts_with(&[b"Bearer abc"], &[("x-api-key", "k")], "/x");
        assert_eq!(extract(&ignored, &bearer_only()), Ok(Some(Credential::Bearer("abc"))));
    }

    #[test]
    fn bearer_with_a_dpop_proof_is_ambiguous() {
        // A5, E8: `Bearer` plus a `DPoP` header when DPoP is on → 400; ignored when DPoP is off.
        let all = everything();
        let both = parts_with(&[b"Bearer abc"], &[("dpop", "x.y.z")], "/x");
        assert_eq!(extract(&both, &all), Err(AuthErrorKind::MultipleCredentials));
        let key = parts_with(&[], &[("x-api-key", "k"), ("dpop", "x.y.z")], "/x");
        assert_eq!(extract(&key, &all), Err(AuthErrorKind::MultipleCredentials));
        assert_eq!(extract(&both, &bearer_only()), Ok(Some(Credential::Bearer("abc"))));
        let dpop = parts_with(&[b"DPoP abc"], &[("dpop", "x.y.z")], "/x");
        assert_eq!(extract(&dpop, &all), Ok(Some(Credential::Dpop("abc"))));
        // A proof alone is no credential: answered like none.
        assert_eq!(extract(&parts_with(&[], &[("dpop", "x.y.z")], "/x"), &all), Ok(None));
    }
}
