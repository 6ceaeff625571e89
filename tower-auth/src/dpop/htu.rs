//! `htu` comparison (RFC 9449 §4.3 item 9): absolute `http(s)` URIs reduced to an origin and a path
//! with the syntax-based and scheme-based normalization of RFC 3986 §6.2.2 and §6.2.3; query and
//! fragment are dropped.

/// A URI reduced to what `htu` compares: `scheme://host[:port]` and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Lower-case scheme and host, the port only when it is not the scheme's default.
    pub(crate) origin: String,
    /// The path: percent-encodings of unreserved characters decoded, the others upper-case, dot
    /// segments removed, `/` when empty.
    pub(crate) path: String,
}

/// Parses and normalizes an absolute `http` / `https` URI. `None` for anything else: another scheme,
/// a relative reference, user information, a bad port, bad percent-encoding, bytes outside visible ASCII.
pub(crate) fn parse(uri: &str) -> Option<Target> {
    if !uri.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return None;
    }
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    let path = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let origin = origin(&scheme, authority, default_port)?;
    Some(Target { origin, path: normalize_path(path)? })
}

/// Normalizes a configured origin (`https://api.example.com`, optionally with a port and a trailing
/// `/`). `None` when it is not a bare `http(s)` origin.
pub(crate) fn parse_origin(origin: &str) -> Option<String> {
    let origin = origin.trim();
    if origin.contains(['?', '#']) {
        return None;
    }
    let target = parse(origin)?;
    (target.path == "/").then_some(target.origin)
}

/// `scheme://host[:port]` from an authority (or a `Host` / `X-Forwarded-Host` value).
pub(crate) fn origin(scheme: &str, authority: &str, default_port: u16) -> Option<String> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']')?;
        let after = &v6[close + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        let literal = &v6[..close];
        if literal.is_empty() || !literal.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return None;
        }
        (format!("[{}]", literal.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)) {
            return None;
        }
        (normalize_percent(host, true)?, port)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = p.parse().ok()?;
            let n = u16::try_from(n).ok()?;
            (n != default_port).then_some(n)
        }
        Some(_) => return None,
    };
    let mut out = String::with_capacity(scheme.len() + 3 + host.len() + 6);
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(&host);
    if let Some(port) = port {
        out.push(':');
        out.push_str(&port.to_string());
    }
    Some(out)
}

/// The path of a request target or of an `htu`, normalized. `None` for bad percent-encoding, a
/// path that does not start with `/` (other than the empty path), or bytes outside visible ASCII.
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("/".to_owned());
    }
    if !path.starts_with('/') || !path.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return None;
    }
    let decoded = normalize_percent(path, false)?;
    let out = remove_dot_segments(&decoded);
    Some(if out.is_empty() { "/".to_owned() } else { out })
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §6.2.2.1 / §6.2.2.2: `%XX` of an unreserved character is decoded, every other `%XX`
/// gets upper-case hex digits. With `lower`, everything else is lower-cased (a host).
fn normalize_percent(s: &str, lower: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            if is_unreserved(value) {
                out.push(char::from(if lower { value.to_ascii_lowercase() } else { value }));
            } else {
                out.push('%');
                out.push(char::from(hex[0].to_ascii_uppercase()));
                out.push(char::from(hex[1].to_ascii_uppercase()));
            }
            i += 3;
        } else {
            out.push(char::from(if lower { b.to_ascii_lowercase() } else { b }));
            i += 1;
        }
    }
    Some(out)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    let pop = |output: &mut String| match output.rfind('/') {
        Some(i) => output.truncate(i),
        None => output.clear(),
    };
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = &input[3..];
            pop(&mut output);
        } else if input == "/.." {
            input = "/";
            pop(&mut output);
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uri: &str) -> (String, String) {
        let t = parse(uri).unwrap_or_else(|| panic!("{uri} should parse"));
        (t.origin, t.path)
    }

    #[test]
    fn scheme_based_normalization() {
        // E1.9, RFC 3986 §6.2.3: default ports, empty path, case of scheme and host.
        let expected = ("https://api.example.com".to_owned(), "/".to_owned());
        for uri in [
            "https://api.example.com",
            "https://api.example.com/",
            "HTTPS://API.Example.COM:443/",
            "https://api.example.com:/",
            "https://api.example.com:0443",
        ] {
            assert_eq!(target(uri), expected, "{uri}");
        }
        assert_eq!(target("http://api.example.com:80/x").0, "http://api.example.com");
        assert_eq!(target("http://api.example.com:443/x").0, "http://api.example.com:443");
        assert_eq!(target("https://api.example.com:8443/x").0, "https://api.example.com:8443");
        assert_eq!(target("http://[::1]:8080/x").0, "http://[::1]:8080");
        assert_eq!(target("http://[2001:DB8::1]/x").0, "http://[2001:db8::1]");
        assert_eq!(target("http://127.0.0.1:3000/me").0, "http://127.0.0.1:3000");
    }

    #[test]
    fn syntax_based_normalization() {
        // E1.9, RFC 3986 §6.2.2: percent-encoding case, unreserved characters decoded, dot segments.
        let cases = [
            ("https://a.test/a%2fb", "/a%2Fb"),
            ("https://a.test/%7Euser/%41%62c", "/~user/Abc"),
            ("https://a.test/a/./b/../c", "/a/c"),
            ("https://a.test/a/b/%2E%2E/c", "/a/c"),
            ("https://a.test/../../x", "/x"),
            ("https://a.test/a/..", "/"),
            ("https://a.test/a/.", "/a/"),
            ("https://a.test/a//b", "/a//b"),
            ("https://a.test/A", "/A"),
        ];
        for (uri, path) in cases {
            assert_eq!(target(uri).1, path, "{uri}");
        }
        assert_eq!(target("https://%41pi.test/x").0, "https://api.test");
    }

    #[test]
    fn query_and_fragment_are_ignored() {
        // E1.9: "ignoring any query and fragment parts"
        assert_eq!(target("https://a.test/me?x=1#frag"), target("https://a.test/me"));
        assert_eq!(target("https://a.test?x=1").1, "/");
        assert_eq!(target("https://a.test#f").1, "/");
    }

    #[test]
    fn refuses_what_is_not_an_http_uri() {
        for bad in [
            "",
            "/me",
            "api.example.com/me",
            "ftp://a.test/x",
            "https://",
            "https:///x",
            "https://user@a.test/x",
            "https://a.test:99999/x",
            "https://a.test:8o/x",
            "https://a.test/%zz",
            "https://a.test/%4",
            "https://a.test/%+1",
            "https://a.test/a b",
            "https://a test/x",
            "https://[::1/x",
            "https://[]/x",
            "https://a.test/\u{e9}",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn configured_origins() {
        assert_eq!(parse_origin("https://API.example.com:443/").as_deref(), Some("https://api.example.com"));
        assert_eq!(parse_origin(" http://127.0.0.1:3000 ").as_deref(), Some("http://127.0.0.1:3000"));
        for bad in [
            "https://api.example.com/v1",
            "https://api.example.com?x",
            "https://api.example.com/#",
            "api.example.com",
            "wss://a.test",
        ] {
            assert!(parse_origin(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn request_paths() {
        assert_eq!(normalize_path("").as_deref(), Some("/"));
        assert_eq!(normalize_path("/orders/%2e%2E/me").as_deref(), Some("/me"));
        assert_eq!(normalize_path("me"), None);
        assert_eq!(normalize_path("/a%"), None);
    }
}
