//! Certificates forwarded by a TLS-terminating proxy: the trusted peers, the header formats, and one
//! pure parser per format.
//!
//! Every parser takes the raw bytes of one header field and answers with the DER certificate (and
//! the intermediates the field carries) or [`AuthErrorKind::MalformedRequest`]; none of them panics
//! on any input. Whether the DER is an X.509 certificate is checked afterwards by
//! [`Certificate::from_der`](super::Certificate::from_der).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::apikey::IpNetwork;
use crate::error::{AuthErrorKind, ConfigError};

/// The longest certificate header value read, in bytes; a longer one is refused (400) before any
/// decoding. A forwarded certificate with a few intermediates fits in a small fraction of it.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The most intermediate certificates read from one `Client-Cert-Chain` or XFCC `Chain`.
pub const MAX_CHAIN_CERTIFICATES: usize = 8;

/// The peers (TCP addresses) allowed to forward a client certificate in a header: the
/// TLS-terminating proxies in front of this server. Defaults to none.
///
/// Parsed from a comma-separated list of networks in CIDR notation or bare addresses (see
/// [`IpNetwork`]); IPv4 networks also match IPv4-mapped IPv6 peers.
///
/// ```
/// use tower_auth::mtls::TrustedProxies;
/// let proxies: TrustedProxies = "10.0.0.0/8, 127.0.0.1, ::1/128".parse().unwrap();
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(proxies.contains("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
/// assert!("10.0.0.1/8".parse::<TrustedProxies>().is_err()); // host bits set: a likely typo
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNetwork>,
}

impl TrustedProxies {
    /// No trusted proxy: certificate headers are never read.
    pub fn none() -> Self {
        Self::default()
    }

    /// The given networks.
    pub fn new(networks: impl IntoIterator<Item = IpNetwork>) -> Self {
        Self { networks: networks.into_iter().collect() }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// The networks.
    pub fn networks(&self) -> &[IpNetwork] {
        &self.networks
    }
}

impl FromStr for TrustedProxies {
    type Err = ConfigError;

    /// Comma-separated networks; surrounding spaces are ignored, empty entries are refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut networks = Vec::new();
        for entry in s.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(ConfigError::new("trusted proxies: empty entry in the comma-separated list"));
            }
            networks.push(entry.parse::<IpNetwork>().map_err(|e| ConfigError::new(format!("trusted proxies: {e}")))?);
        }
        Ok(Self { networks })
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.networks.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

/// The header a trusted proxy forwards the client certificate in. Defaults to
/// [`ClientCert`](Self::ClientCert).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyHeader {
    /// RFC 9440: `Client-Cert`, a Structured-Field Byte Sequence of the DER certificate
    /// (`:MIIB…:`), exactly one field; optionally `Client-Cert-Chain`, a List of Byte Sequences
    /// (the intermediates, read only beside `Client-Cert`, in one field line).
    #[default]
    ClientCert,
    /// nginx's `$ssl_client_escaped_cert`: the URL-escaped PEM certificate, in the named header
    /// (for example `X-SSL-Client-Cert` after `proxy_set_header X-SSL-Client-Cert
    /// $ssl_client_escaped_cert;`). An empty value means no certificate.
    NginxPem(String),
    /// Envoy's `x-forwarded-client-cert` (XFCC): comma-separated elements of `Key=value` pairs; the
    /// last element, added by the nearest proxy, is read; its `Cert` (URL-encoded PEM) is the
    /// certificate, its `Chain` the intermediates; an element without `Cert` means no certificate.
    Xfcc,
}

impl ProxyHeader {
    /// The (lower-case) name of the header carrying the certificate.
    pub fn header_name(&self) -> String {
        match self {
            Self::ClientCert => "client-cert".to_owned(),
            Self::NginxPem(name) => name.to_ascii_lowercase(),
            Self::Xfcc => "x-forwarded-client-cert".to_owned(),
        }
    }
}

/// A certificate as a proxy forwarded it: the DER end-entity certificate and any intermediates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forwarded {
    pub(crate) der: Vec<u8>,
    pub(crate) chain: Vec<Vec<u8>>,
}

const MALFORMED: AuthErrorKind = AuthErrorKind::MalformedRequest;

fn bounded(value: &[u8]) -> Result<&[u8], AuthErrorKind> {
    if value.len() > MAX_HEADER_BYTES { Err(MALFORMED) } else { Ok(value) }
}

/// RFC 9651 §4.2.7: standard alphabet; padding optional and non-zero pad bits tolerated (the
/// parser "SHOULD NOT fail" on either).
const SF_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A cursor over a Structured Field value (RFC 9651 §4.2).
struct Sf<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Sf<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), AuthErrorKind> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(MALFORMED)
        }
    }

    /// §4.2.7 Byte Sequence: `:` base64 `:`; an empty one is refused (no certificate is empty).
    fn byte_sequence(&mut self) -> Result<Vec<u8>, AuthErrorKind> {
        self.expect(b':')?;
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b':' {
                break;
            }
            if !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')) {
                return Err(MALFORMED);
            }
            self.i += 1;
        }
        let encoded = &self.s[start..self.i];
        self.expect(b':')?;
        let decoded = SF_BASE64.decode(encoded).map_err(|_| MALFORMED)?;
        if decoded.is_empty() { Err(MALFORMED) } else { Ok(decoded) }
    }

    /// §4.2.3.2 Parameters, read and discarded (RFC 9440 defines none).
    fn parameters(&mut self) -> Result<(), AuthErrorKind> {
        while self.peek() == Some(b';') {
            self.i += 1;
            self.skip_sp();
            self.key()?;
            if self.peek() == Some(b'=') {
                self.i += 1;
                self.bare_item()?;
            }
        }
        Ok(())
    }

    /// §4.2.3.3 Key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
    fn key(&mut self) -> Result<(), AuthErrorKind> {
        match self.peek() {
            Some(c) if c.is_ascii_lowercase() || c == b'*' => self.i += 1,
            _ => return Err(MALFORMED),
        }
        while let Some(c) = self.peek() {
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'.' | b'*')) {
                break;
            }
            self.i += 1;
        }
        Ok(())
    }

    /// §4.2.3.1 Bare Item, of any type (parameter values are skipped, not used).
    fn bare_item(&mut self) -> Result<(), AuthErrorKind> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b':') => self.byte_sequence().map(drop),
            Some(b'?') => {
                self.i += 1;
                match self.peek() {
                    Some(b'0' | b'1') => {
                        self.i += 1;
                        Ok(())
                    }
                    _ => Err(MALFORMED),
                }
            }
            Some(b'@') => {
                self.i += 1;
                self.number()
            }
            Some(b'%') => self.display_string(),
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                self.i += 1;
                while let Some(c) = self.peek() {
                    if !(is_tchar(c) || matches!(c, b':' | b'/')) {
                        break;
                    }
                    self.i += 1;
                }
                Ok(())
            }
            _ => Err(MALFORMED),
        }
    }

    /// §4.2.4 Integer or Decimal (at most 15 digits; a decimal has 1 to 3 fractional digits and at
    /// most 12 integer digits).
    fn number(&mut self) -> Result<(), AuthErrorKind> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let start = self.i;
        let mut dot = None;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' => {}
                b'.' if dot.is_none() => dot = Some(self.i - start),
                _ => break,
            }
            self.i += 1;
        }
        let len = self.i - start;
        match dot {
            None if (1..=15).contains(&len) => Ok(()),
            Some(int) if (1..=12).contains(&int) && (1..=3).contains(&(len - int - 1)) => Ok(()),
            _ => Err(MALFORMED),
        }
    }

    /// §4.2.5 String: printable ASCII, `\"` and `\\` escapes only.
    fn string(&mut self) -> Result<(), AuthErrorKind> {
        self.expect(b'"')?;
        loop {
            match self.peek() {
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\') => self.i += 1,
                        _ => return Err(MALFORMED),
                    }
                }
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(0x20..=0x7e) => self.i += 1,
                _ => return Err(MALFORMED),
            }
        }
    }

    /// §4.2.10 Display String: `%"`, printable ASCII with lower-case `%xx` escapes, `"`.
    fn display_string(&mut self) -> Result<(), AuthErrorKind> {
        self.expect(b'%')?;
        self.expect(b'"')?;
        loop {
            match self.peek() {
                Some(b'%') => {
                    for _ in 0..2 {
                        self.i += 1;
                        if !matches!(self.peek(), Some(b'0'..=b'9' | b'a'..=b'f')) {
                            return Err(MALFORMED);
                        }
                    }
                    self.i += 1;
                }
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(0x20..=0x7e) => self.i += 1,
                _ => return Err(MALFORMED),
            }
        }
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// RFC 9440 §2.2 `Client-Cert`: an SF Item (RFC 9651 §4.2.3) whose value is a Byte Sequence; its
/// parameters are ignored.
pub(crate) fn parse_client_cert(value: &[u8]) -> Result<Vec<u8>, AuthErrorKind> {
    let mut sf = Sf { s: bounded(value)?, i: 0 };
    sf.skip_sp();
    let der = sf.byte_sequence()?;
    sf.parameters()?;
    sf.skip_sp();
    if sf.at_end() { Ok(der) } else { Err(MALFORMED) }
}

/// RFC 9440 §2.3 `Client-Cert-Chain`: an SF List (RFC 9651 §4.2.1) of Byte Sequences (no inner
/// lists), at most [`MAX_CHAIN_CERTIFICATES`]. An empty field is an empty list.
pub(crate) fn parse_client_cert_chain(value: &[u8]) -> Result<Vec<Vec<u8>>, AuthErrorKind> {
    let mut sf = Sf { s: bounded(value)?, i: 0 };
    let mut chain = Vec::new();
    sf.skip_sp();
    if sf.at_end() {
        return Ok(chain);
    }
    loop {
        if chain.len() == MAX_CHAIN_CERTIFICATES {
            return Err(MALFORMED);
        }
        chain.push(sf.byte_sequence()?);
        sf.parameters()?;
        sf.skip_ows();
        if sf.at_end() {
            return Ok(chain);
        }
        sf.expect(b',')?;
        sf.skip_ows();
        if sf.at_end() {
            return Err(MALFORMED);
        }
    }
}

/// Percent-decoding (RFC 3986 §2.1) of a header value: every `%` starts a two-hex-digit escape;
/// `+` stays `+` (this is not form encoding: base64 uses `+`). Only visible ASCII, space and tab.
fn percent_decode(value: &[u8]) -> Result<Vec<u8>, AuthErrorKind> {
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let c = value[i];
        if c == b'%' {
            let hi = value.get(i + 1).copied().and_then(hex).ok_or(MALFORMED)?;
            let lo = value.get(i + 2).copied().and_then(hex).ok_or(MALFORMED)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else if (0x20..0x7f).contains(&c) || c == b'\t' {
            out.push(c);
            i += 1;
        } else {
            return Err(MALFORMED);
        }
    }
    Ok(out)
}

/// The `CERTIFICATE` blocks of PEM text (RFC 7468): at least one, at most `max`; a block that does
/// not decode is refused. Text outside the blocks is ignored (RFC 7468 §2).
fn pem_certificates(pem: &[u8], max: usize) -> Result<Vec<Vec<u8>>, AuthErrorKind> {
    let mut out = Vec::new();
    for der in CertificateDer::pem_slice_iter(pem) {
        let der = der.map_err(|_| MALFORMED)?;
        if out.len() == max {
            return Err(MALFORMED);
        }
        out.push(der.as_ref().to_vec());
    }
    if out.is_empty() { Err(MALFORMED) } else { Ok(out) }
}

/// nginx `$ssl_client_escaped_cert`: URL-escaped PEM of exactly one certificate; an empty value (or
/// only spaces) is no certificate.
pub(crate) fn parse_nginx_pem(value: &[u8]) -> Result<Option<Forwarded>, AuthErrorKind> {
    let value = bounded(value)?;
    if value.iter().all(|b| matches!(b, b' ' | b'\t')) {
        return Ok(None);
    }
    let pem = percent_decode(value)?;
    let mut certs = pem_certificates(&pem, 1)?;
    let der = certs.pop().ok_or(MALFORMED)?;
    Ok(Some(Forwarded { der, chain: Vec::new() }))
}

/// One `Key=value` pair of an XFCC element, the value unquoted and unescaped.
type XfccPair = (String, Vec<u8>);

/// Splits an XFCC header (Envoy's `x-forwarded-client-cert`) into elements of key-value pairs.
///
/// Elements are separated by `,`, pairs by `;`, key and value by `=`; a value containing any of those
/// is double-quoted, with `\"` (and `\\`) escapes. Keys are case-insensitive (returned lower case).
fn xfcc_elements(value: &[u8]) -> Result<Vec<Vec<XfccPair>>, AuthErrorKind> {
    if !value.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t') {
        return Err(MALFORMED);
    }
    let mut elements = Vec::new();
    let mut pairs = Vec::new();
    let mut i = 0;
    loop {
        // One pair: key.
        while matches!(value.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let key_start = i;
        while value.get(i).is_some_and(|c| is_tchar(*c)) {
            i += 1;
        }
        if i == key_start || value.get(i) != Some(&b'=') {
            return Err(MALFORMED);
        }
        let key = String::from_utf8_lossy(&value[key_start..i]).to_ascii_lowercase();
        i += 1;
        // Value: quoted or bare.
        let mut val = Vec::new();
        if value.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match value.get(i) {
                    None => return Err(MALFORMED),
                    Some(b'\\') => {
                        let escaped = *value.get(i + 1).ok_or(MALFORMED)?;
                        val.push(escaped);
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        val.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            while let Some(c) = value.get(i) {
                if matches!(c, b',' | b';' | b'"' | b'=') {
                    break;
                }
                val.push(*c);
                i += 1;
            }
            while matches!(val.last(), Some(b' ' | b'\t')) {
                val.pop();
            }
        }
        pairs.push((key, val));
        while matches!(value.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        match value.get(i) {
            None => {
                elements.push(pairs);
                return Ok(elements);
            }
            Some(b';') => i += 1,
            Some(b',') => {
                elements.push(std::mem::take(&mut pairs));
                i += 1;
            }
            Some(_) => return Err(MALFORMED),
        }
    }
}

/// Envoy `x-forwarded-client-cert`: the last element (the one the nearest proxy added) is read. Its
/// `Cert` (URL-encoded PEM of one certificate) is the certificate and its `Chain` (URL-encoded PEM)
/// the intermediates; `Hash`, when present, must be the hex SHA-256 of the certificate's DER. An
/// element without `Cert` is no certificate. `Cert`, `Chain` and `Hash` may each appear once.
pub(crate) fn parse_xfcc(value: &[u8]) -> Result<Option<Forwarded>, AuthErrorKind> {
    let mut elements = xfcc_elements(bounded(value)?)?;
    let nearest = elements.pop().ok_or(MALFORMED)?;
    let one = |name: &str| -> Result<Option<&[u8]>, AuthErrorKind> {
        let mut found = nearest.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_slice());
        match (found.next(), found.next()) {
            (_, Some(_)) => Err(MALFORMED),
            (v, None) => Ok(v),
        }
    };
    let (cert, chain, hash) = (one("cert")?, one("chain")?, one("hash")?);
    let Some(cert) = cert else { return Ok(None) };
    let der = pem_certificates(&percent_decode(cert)?, 1)?.pop().ok_or(MALFORMED)?;
    if let Some(hash) = hash {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if !hash.eq_ignore_ascii_case(hex.as_bytes()) {
            return Err(MALFORMED);
        }
    }
    let chain = match chain {
        None => Vec::new(),
        Some(chain) => pem_certificates(&percent_decode(chain)?, MAX_CHAIN_CERTIFICATES)?,
    };
    Ok(Some(Forwarded { der, chain }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_pki::{certificate_pem as pem, client_cert_field, percent_encode as escape};

    const DER: &[u8] = b"\x30\x82\x01\x0a\x02\x82\x01\x01\x00\xc3";

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn client_cert_byte_sequence() {
        // G4, RFC 9440 §2.1
        let field = client_cert_field(DER);
        assert_eq!(parse_client_cert(field.as_bytes()), Ok(DER.to_vec()));
        assert_eq!(parse_client_cert(format!("  {field}  ").as_bytes()), Ok(DER.to_vec()));
        assert_eq!(
            parse_client_cert(
                format!("{field};a=1;b;c=\"x\\\"y\";d=?1;e=:AA==:;f=tok/x:y;g=-1.5;h=@12;i=%\"%c3%a9\"").as_bytes()
            ),
            Ok(DER.to_vec())
        );
        // Padding optional, pad bits tolerated (RFC 9651 §4.2.7).
        let unpadded = format!(":{}:", b64(DER).trim_end_matches('='));
        assert_eq!(parse_client_cert(unpadded.as_bytes()), Ok(DER.to_vec()));
        for bad in [
            "",
            " ",
            "::",
            ":",
            "MIIB",
            ":abc-_:",
            ":a b:",
            "\"MIIB\"",
            ":AAAA:, :AAAA:",
            ":AAAA: x",
            ":AAAA:;",
            ":AAAA:;A=1",
            ":AAAA:;a=",
            ":AAAA:;a=\"open",
            ":AAAA:;a=1234567890123456",
            ":AAAA:;a=1.2345",
            ":AAAA:;a=?2",
            ":AAAA:;a=\"\\x\"",
            ":AAAA:;a=%\"%C3\"",
            "\t:AAAA:",
            ":A:",
            ":=AAA:",
        ] {
            assert_eq!(parse_client_cert(bad.as_bytes()), Err(MALFORMED), "{bad:?}");
        }
        let huge = format!(":{}:", "A".repeat(MAX_HEADER_BYTES));
        assert_eq!(parse_client_cert(huge.as_bytes()), Err(MALFORMED));
    }

    #[test]
    fn client_cert_chain_list() {
        // RFC 9440 §2.3
        let one = client_cert_field(b"\x01\x02");
        let two = client_cert_field(b"\x03");
        assert_eq!(parse_client_cert_chain(b""), Ok(vec![]));
        assert_eq!(parse_client_cert_chain(one.as_bytes()), Ok(vec![vec![1, 2]]));
        assert_eq!(parse_client_cert_chain(format!("{one} ,\t{two};p=1").as_bytes()), Ok(vec![vec![1, 2], vec![3]]));
        for bad in
            [format!("{one},"), format!("{one},,{two}"), format!("({one})"), format!("{one} {two}"), "\"x\"".into()]
        {
            assert_eq!(parse_client_cert_chain(bad.as_bytes()), Err(MALFORMED), "{bad:?}");
        }
        let many = vec![one.clone(); MAX_CHAIN_CERTIFICATES + 1].join(", ");
        assert_eq!(parse_client_cert_chain(many.as_bytes()), Err(MALFORMED));
        let max = vec![one; MAX_CHAIN_CERTIFICATES].join(", ");
        assert_eq!(parse_client_cert_chain(max.as_bytes()).map(|c| c.len()), Ok(MAX_CHAIN_CERTIFICATES));
    }

    #[test]
    fn nginx_escaped_pem() {
        let escaped = escape(&pem(DER));
        assert_eq!(parse_nginx_pem(escaped.as_bytes()), Ok(Some(Forwarded { der: DER.to_vec(), chain: vec![] })));
        // `+` is a literal plus, not a space.
        let der_with_plus = [0xfb, 0xef, 0xbe];
        assert!(b64(&der_with_plus).contains('+'));
        let raw_plus = pem(&der_with_plus).replace('\n', "%0A");
        assert_eq!(parse_nginx_pem(raw_plus.as_bytes()).unwrap().unwrap().der, der_with_plus);
        assert_eq!(parse_nginx_pem(b""), Ok(None));
        assert_eq!(parse_nginx_pem(b"  "), Ok(None));
        let two = escape(&format!("{}{}", pem(DER), pem(DER)));
        for bad in [
            "%",
            "%4",
            "%zz",
            "-----BEGIN%20CERTIFICATE-----%0A%21%21%0A-----END%20CERTIFICATE-----%0A",
            "-----BEGIN%20CERTIFICATE-----%0AMIIB",
            "no pem here",
            "-----BEGIN%20PRIVATE%20KEY-----%0AAAAA%0A-----END%20PRIVATE%20KEY-----%0A",
            two.as_str(),
        ] {
            assert_eq!(parse_nginx_pem(bad.as_bytes()), Err(MALFORMED), "{bad:?}");
        }
        assert_eq!(parse_nginx_pem(b"-----BEGIN\xff"), Err(MALFORMED));
    }

    #[test]
    fn xfcc_elements_and_quoting() {
        let elements =
            xfcc_elements(br#"By=spiffe://a/b;Hash=00;Subject="CN=x,O=\"q\"";URI=spiffe://c, by=x;DNS=a;DNS=b"#)
                .unwrap();
        assert_eq!(elements.len(), 2);
        assert_eq!(elements[0][2], ("subject".into(), br#"CN=x,O="q""#.to_vec()));
        assert_eq!(
            elements[1],
            vec![("by".into(), b"x".to_vec()), ("dns".into(), b"a".to_vec()), ("dns".into(), b"b".to_vec())]
        );
        for bad in ["", "=x", "By", "By=x,", "By=\"open", "By=x;;Hash=y", "By=\"a\"b", "By=a\"b", "B y=x", "By=x\u{7f}"]
        {
            assert_eq!(xfcc_elements(bad.as_bytes()), Err(MALFORMED), "{bad:?}");
        }
    }

    #[test]
    fn xfcc_uses_the_last_element() {
        let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, DER)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let cert = escape(&pem(DER));
        let chain = escape(&format!("{}{}", pem(b"\x01"), pem(b"\x02")));
        let header = format!(
            "By=spiffe://far;Cert=\"{}\",By=spiffe://near;Hash={hash};Cert=\"{cert}\";Chain=\"{chain}\";Subject=\"CN=a,O=b\";URI=spiffe://x;DNS=a;DNS=b",
            escape(&pem(b"\x09"))
        );
        assert_eq!(
            parse_xfcc(header.as_bytes()),
            Ok(Some(Forwarded { der: DER.to_vec(), chain: vec![vec![1], vec![2]] }))
        );
        // Bare (unquoted) Cert works too: URL encoding leaves no `,;="`.
        assert_eq!(parse_xfcc(format!("Cert={cert}").as_bytes()).unwrap().unwrap().der, DER);
        // No Cert in the nearest element: no certificate, whatever the farther ones carry.
        assert_eq!(parse_xfcc(format!("Cert={cert},By=spiffe://near;Hash={hash}").as_bytes()), Ok(None));
        for bad in [
            format!("Cert={cert};Cert={cert}"),
            format!("Cert={cert};Hash=00"),
            format!("Cert={cert};Hash={hash};Hash={hash}"),
            format!("Cert={cert};Chain=x;Chain=y"),
            "Cert=%ZZ".to_owned(),
            "Cert=".to_owned(),
            format!("Cert={cert};Chain="),
            format!("Cert={}", escape(&format!("{}{}", pem(DER), pem(DER)))),
        ] {
            assert_eq!(parse_xfcc(bad.as_bytes()), Err(MALFORMED), "{bad:?}");
        }
        assert_eq!(
            parse_xfcc(format!("Cert={cert};Hash={}", hash.to_uppercase()).as_bytes()).map(|f| f.is_some()),
            Ok(true)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b":;,=\"\\%-+/ABCabc019 \t()*?@.\x00\xff\x7f\n";
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = parse_client_cert(&bytes);
            let _ = parse_client_cert_chain(&bytes);
            let _ = parse_nginx_pem(&bytes);
            let _ = parse_xfcc(&bytes);
        }
    }

    #[test]
    fn trusted_proxies_parse() {
        let p: TrustedProxies = "10.0.0.0/8, 127.0.0.1/32, ::1/128".parse().unwrap();
        assert_eq!(p.networks().len(), 3);
        assert_eq!(p.to_string(), "10.0.0.0/8, 127.0.0.1/32, ::1/128");
        assert!(p.contains("::1".parse().unwrap()));
        assert!(!p.contains("::2".parse().unwrap()));
        for bad in ["", " ", "10.0.0.0/8,", "10.0.0.0/33", "example.com", "10.0.0.0/8;127.0.0.1"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad:?}");
        }
        assert!(TrustedProxies::none().is_empty());
    }
}
