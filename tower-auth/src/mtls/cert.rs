//! A parsed X.509 client certificate and its RFC 8705 thumbprint.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::IdentityMapping;

/// The longest DER certificate accepted, in bytes. Client certificates are a few kilobytes at most;
/// anything longer is refused before parsing.
pub const MAX_CERTIFICATE_DER: usize = 16 * 1024;

/// The RFC 8705 §3.1 thumbprint of a DER certificate (G2): base64url of its SHA-256 hash, without
/// padding. The value of a certificate-bound token's `cnf.x5t#S256`.
///
/// ```
/// // Any bytes hash; a certificate's DER is what the thumbprint is taken of.
/// assert_eq!(tower_auth::mtls::x5t_s256(b""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
/// ```
pub fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der))
}

/// Why bytes are not a client certificate.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateError {
    /// Not one DER X.509 certificate: truncated, garbage, trailing bytes, or an extension (such as
    /// the subject alternative names) that does not parse.
    Malformed,
    /// Longer than [`MAX_CERTIFICATE_DER`].
    TooLarge,
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "not a DER X.509 certificate",
            Self::TooLarge => "certificate too large",
        })
    }
}

impl std::error::Error for CertificateError {}

/// A client certificate, parsed once: its names, validity, serial number and RFC 8705 thumbprint.
///
/// Certificates are public, so `Debug` shows the names (not the DER bytes). Cheap to clone.
///
/// Parsing checks the structure only; whether to trust the certificate is decided by where it came
/// from (see the [module documentation](crate::mtls)).
#[derive(Clone)]
pub struct Certificate {
    inner: Arc<Inner>,
}

struct Inner {
    der: Arc<[u8]>,
    x5t_s256: String,
    subject: String,
    issuer: String,
    serial: String,
    not_before: i64,
    not_after: i64,
    subject_cn: Option<String>,
    dns_names: Vec<String>,
    uri_sans: Vec<String>,
    emails: Vec<String>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        f.debug_struct("Certificate")
            .field("subject", &i.subject)
            .field("issuer", &i.issuer)
            .field("serial", &i.serial)
            .field("not_before", &i.not_before)
            .field("not_after", &i.not_after)
            .field("dns_names", &i.dns_names)
            .field("uri_sans", &i.uri_sans)
            .field("emails", &i.emails)
            .field("x5t_s256", &i.x5t_s256)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.inner.der == other.inner.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Parses one DER X.509 certificate (no trailing bytes).
    ///
    /// ```
    /// use tower_auth::mtls::{Certificate, CertificateError};
    /// assert_eq!(Certificate::from_der(b"\x30\x03\x02\x01").unwrap_err(), CertificateError::Malformed);
    /// ```
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        if der.len() > MAX_CERTIFICATE_DER {
            return Err(CertificateError::TooLarge);
        }
        let (rest, cert) = X509Certificate::from_der(der).map_err(|_| CertificateError::Malformed)?;
        if !rest.is_empty() {
            return Err(CertificateError::Malformed);
        }
        let mut dns_names = Vec::new();
        let mut uri_sans = Vec::new();
        let mut emails = Vec::new();
        let san = cert.subject_alternative_name().map_err(|_| CertificateError::Malformed)?;
        for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(n) => dns_names.push((*n).to_owned()),
                GeneralName::URI(u) => uri_sans.push((*u).to_owned()),
                GeneralName::RFC822Name(e) => emails.push((*e).to_owned()),
                _ => {}
            }
        }
        // Exactly one common name, as a string: several are ambiguous, so none is used.
        let mut cns = cert.subject().iter_common_name();
        let subject_cn = match (cns.next(), cns.next()) {
            (Some(cn), None) => cn.as_str().ok().map(str::to_owned),
            _ => None,
        };
        let validity = cert.validity();
        Ok(Self {
            inner: Arc::new(Inner {
                der: Arc::from(der),
                x5t_s256: x5t_s256(der),
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                serial: serial_hex(cert.raw_serial()),
                not_before: validity.not_before.timestamp(),
                not_after: validity.not_after.timestamp(),
                subject_cn,
                dns_names,
                uri_sans,
                emails,
            }),
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.inner.der
    }

    /// The RFC 8705 thumbprint, `x5t#S256` (see [`x5t_s256`](fn@super::x5t_s256)).
    pub fn x5t_s256(&self) -> &str {
        &self.inner.x5t_s256
    }

    /// The subject distinguished name, RFC 4514 style (`CN=client, O=Example`).
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// The issuer distinguished name, RFC 4514 style.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The serial number, lower-case hexadecimal without separators or leading zero bytes.
    pub fn serial(&self) -> &str {
        &self.inner.serial
    }

    /// The start of the validity period, in seconds since the Unix epoch.
    pub fn not_before_unix(&self) -> i64 {
        self.inner.not_before
    }

    /// The end of the validity period, in seconds since the Unix epoch.
    pub fn not_after_unix(&self) -> i64 {
        self.inner.not_after
    }

    /// The end of the validity period.
    pub fn not_after(&self) -> SystemTime {
        to_system_time(self.inner.not_after)
    }

    /// Whether `now` lies within the validity period (both ends included, RFC 5280 §4.1.2.5).
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        let now = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        self.inner.not_before <= now && now <= self.inner.not_after
    }

    /// The subject's common name, when the subject has exactly one (as a string).
    pub fn subject_cn(&self) -> Option<&str> {
        self.inner.subject_cn.as_deref()
    }

    /// The DNS names of the subject alternative names, in certificate order.
    pub fn dns_names(&self) -> &[String] {
        &self.inner.dns_names
    }

    /// The URIs of the subject alternative names, in certificate order.
    pub fn uri_sans(&self) -> &[String] {
        &self.inner.uri_sans
    }

    /// The e-mail addresses (`rfc822Name`) of the subject alternative names, in certificate order.
    pub fn emails(&self) -> &[String] {
        &self.inner.emails
    }

    /// The SPIFFE ID of an X.509-SVID: the certificate's one URI SAN, when it has exactly one and it
    /// is a well-formed `spiffe://trust-domain/path` ID (SPIFFE X.509-SVID §2; SPIFFE ID §2).
    pub fn spiffe_id(&self) -> Option<&str> {
        match self.inner.uri_sans.as_slice() {
            [one] if is_spiffe_id(one) => Some(one),
            _ => None,
        }
    }

    /// The candidate identities under `mapping`, in certificate order.
    pub(crate) fn identities(&self, mapping: IdentityMapping) -> Vec<&str> {
        match mapping {
            IdentityMapping::SpiffeId => self.spiffe_id().into_iter().collect(),
            IdentityMapping::DnsSan => self.inner.dns_names.iter().map(String::as_str).collect(),
            IdentityMapping::UriSan => self.inner.uri_sans.iter().map(String::as_str).collect(),
            IdentityMapping::Email => self.inner.emails.iter().map(String::as_str).collect(),
            IdentityMapping::SubjectCn => self.subject_cn().into_iter().collect(),
        }
    }

    /// The claims of a principal authenticated by this certificate as `subject`.
    pub(crate) fn claims(&self, subject: &str) -> Map<String, Value> {
        let i = &*self.inner;
        let mut claims = Map::new();
        claims.insert("sub".into(), subject.into());
        claims.insert("subject_dn".into(), i.subject.clone().into());
        claims.insert("issuer_dn".into(), i.issuer.clone().into());
        claims.insert("serial".into(), i.serial.clone().into());
        claims.insert("not_before".into(), i.not_before.into());
        claims.insert("not_after".into(), i.not_after.into());
        claims.insert("san".into(), json!({ "dns": i.dns_names, "uri": i.uri_sans, "email": i.emails }));
        if let Some(id) = self.spiffe_id() {
            claims.insert("spiffe_id".into(), id.into());
        }
        claims.insert("cnf".into(), json!({ "x5t#S256": i.x5t_s256 }));
        claims
    }
}

fn to_system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs())).unwrap_or(UNIX_EPOCH)
    }
}

fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len().saturating_sub(1));
    raw[start..].iter().map(|b| format!("{b:02x}")).collect()
}

/// `spiffe://` + a trust domain of `[a-z0-9.-_]` + a path of `/`-separated non-empty segments of
/// `[a-zA-Z0-9.-_]`, none `.` or `..`; no query, fragment, port or user info.
fn is_spiffe_id(id: &str) -> bool {
    const MAX: usize = 2048;
    let Some(rest) = id.strip_prefix("spiffe://") else { return false };
    if id.len() > MAX {
        return false;
    }
    let (domain, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let domain_ok = !domain.is_empty()
        && domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'));
    let path_ok = path.is_empty()
        || path[1..].split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        });
    domain_ok && path_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_is_base64url_sha256() {
        // G2: base64url(SHA-256(DER)), no padding. SHA-256("abc") is the FIPS 180-2 example value.
        assert_eq!(x5t_s256(b"abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
        assert_eq!(x5t_s256(b"").len(), 43);
    }

    #[test]
    fn spiffe_ids() {
        for good in ["spiffe://example.org", "spiffe://example.org/ns/prod/sa/web", "spiffe://a-b_c.1/x.y-z_0"] {
            assert!(is_spiffe_id(good), "{good}");
        }
        for bad in [
            "spiffe://",
            "spiffe:///path",
            "spiffe://Example.org/x",
            "spiffe://example.org/",
            "spiffe://example.org//x",
            "spiffe://example.org/./x",
            "spiffe://example.org/../x",
            "spiffe://example.org/x?q=1",
            "spiffe://example.org/x#f",
            "spiffe://user@example.org/x",
            "spiffe://example.org:8443/x",
            "SPIFFE://example.org/x",
            "https://example.org/x",
        ] {
            assert!(!is_spiffe_id(bad), "{bad}");
        }
    }

    #[test]
    fn serial_without_leading_zero_bytes() {
        assert_eq!(serial_hex(&[0x00, 0x8f, 0x01]), "8f01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[]), "");
        assert_eq!(serial_hex(&[0x12]), "12");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        let big = vec![0x30; MAX_CERTIFICATE_DER + 1];
        assert_eq!(Certificate::from_der(&big).unwrap_err(), CertificateError::TooLarge);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            assert!(Certificate::from_der(&bytes).is_err(), "{bytes:?}");
            let mut sequence = vec![0x30, 0x82, (len >> 8) as u8, len as u8];
            sequence.extend_from_slice(&bytes);
            assert!(Certificate::from_der(&sequence).is_err());
        }
    }

    #[test]
    fn validity_bounds_are_inclusive() {
        let c = |nb: i64, na: i64| Certificate {
            inner: Arc::new(Inner {
                der: Arc::from(&b""[..]),
                x5t_s256: String::new(),
                subject: String::new(),
                issuer: String::new(),
                serial: String::new(),
                not_before: nb,
                not_after: na,
                subject_cn: None,
                dns_names: Vec::new(),
                uri_sans: Vec::new(),
                emails: Vec::new(),
            }),
        };
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert!(c(100, 200).is_valid_at(at(100)));
        assert!(c(100, 200).is_valid_at(at(200)));
        assert!(!c(100, 200).is_valid_at(at(99)));
        assert!(!c(100, 200).is_valid_at(at(201)));
        assert!(c(-100, 200).is_valid_at(UNIX_EPOCH));
        assert_eq!(c(0, -5).not_after(), UNIX_EPOCH - Duration::from_secs(5));
    }
}
