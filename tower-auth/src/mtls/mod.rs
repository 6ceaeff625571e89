//! Client certificates (RFC 8705, RFC 9440): certificate-bound tokens and certificate
//! authentication.
//!
//! # Two modes
//!
//! | mode | what it does | configure | chain checked here? |
//! |---|---|---|---|
//! | **(b) proof of possession** (G1, G2) | a `Bearer` token whose `cnf` carries `x5t#S256` (JWT claim, or top-level `cnf` of an introspection answer) is accepted only when the request's certificate has exactly that thumbprint; no certificate, another one, or a certificate header that does not parse → refused | always on; [`ClientCertificates`] says where certificates come from (by default the TLS connection only) | no (G3: possession of the bound key is what counts; a self-signed certificate is fine) |
//! | **(a) certificate authentication** | a request with no other credential but with a client certificate becomes a [`Principal`] with [`Mechanism::ClientCert`], its subject the identity [`IdentityMapping`] takes from the certificate, bound to it (`Binding::Mtls`) | [`AuthenticatorBuilder::certificate_authentication`](crate::AuthenticatorBuilder::certificate_authentication) | TLS: by the handshake; proxy header: yes, to [`ClientCertificates::proxy_ca_pem`] |
//!
//! A token in the request always wins over the certificate: the certificate then only serves the
//! binding check. A DPoP-bound token stays refused on the `Bearer` scheme, and a certificate-bound
//! token on the `DPoP` scheme is refused (`DpopBindingMismatch`).
//!
//! # Where the certificate comes from
//!
//! | source | read when | format |
//! |---|---|---|
//! | the TLS connection ([`RequestView::client_certificate`], the [`ClientCertificate`](crate::ClientCertificate) extension) | the TCP peer is **not** a trusted proxy | DER, as the TLS stack verified it |
//! | [`ProxyHeader::ClientCert`] (RFC 9440, the default) | the TCP peer ([`PeerAddr`](crate::PeerAddr)) is in [`TrustedProxies`] | `Client-Cert: :<base64 DER>:` (one field), optional `Client-Cert-Chain: :<DER>:, :<DER>:` |
//! | [`ProxyHeader::NginxPem`] | the same | URL-escaped PEM (`$ssl_client_escaped_cert`) in the named header |
//! | [`ProxyHeader::Xfcc`] | the same | Envoy `x-forwarded-client-cert`; the last element's `Cert` (and `Chain`) |
//!
//! From any other peer the certificate header is **ignored entirely**: a client that sends
//! `Client-Cert` itself changes nothing, not even the error it gets (G4, RFC 9440 §4). From a
//! trusted proxy the header is the only source: the TLS certificate of that connection, if any, is
//! the proxy's own identity (a mesh sidecar, an mTLS hop) and is never taken for the client's, so a
//! request the proxy forwards without a header has no certificate. List proxies narrowly: clients
//! connecting directly with mutual TLS must not be inside the trusted networks.
//!
//! Only the headers of the configured format are read, and only when the request needs a
//! certificate (a certificate-bound token, or certificate authentication without another
//! credential). The proxy must strip or overwrite copies of the header its clients send
//! (RFC 9440 §2.4); with Envoy use `forward_client_cert_details: SANITIZE_SET`, with which the
//! header holds exactly the element the proxy added (the last element is read in any case: it is
//! the one the nearest, trusted proxy added).
//!
//! # Errors
//!
//! | request | kind | answer |
//! |---|---|---|
//! | certificate header from a trusted proxy that does not decode: bad Structured Field or base64, bad URL escape or PEM, XFCC syntax or `Hash` mismatch, two `Client-Cert` (or two nginx / XFCC) fields, longer than [`MAX_HEADER_BYTES`] | `MalformedRequest` | 400 `invalid_request` |
//! | decoded bytes that are not one DER X.509 certificate (truncated, garbage) | `InvalidClientCertificate` | 401 `invalid_token` |
//! | certificate-bound `Bearer` token, no certificate or another one (G1) | `BindingMismatch` | 401 `invalid_token` |
//! | certificate authentication: expired or not yet valid, a proxied certificate that does not chain to the proxy CA (or no proxy CA configured), no identity of the configured kind, identity not on the allow-list | `InvalidClientCertificate` | 401 `invalid_token` |
//!
//! The precise reason of an `InvalidClientCertificate` is logged at debug level (target
//! `tower_auth`), never in the response.
//!
//! A `Client-Cert-Chain` without `Client-Cert` is no certificate (RFC 9440 §2.3: never accepted
//! alone). A `Client-Cert-Chain` split over several field lines is not read (the request view
//! does not combine them): a certificate that needs its intermediates then does not authenticate.
//!
//! A successful response decided by a forwarded certificate carries `Vary: Client-Cert` (or the
//! nginx / XFCC header name) through [`Authenticated::response_headers`](crate::Authenticated::response_headers),
//! as RFC 9440 §2.4 requires of responses selected by the field.
//!
//! # Example
//!
//! ```
//! use tower_auth::Authenticator;
//! use tower_auth::mtls::{CertificateAuthentication, ClientCertificates, IdentityMapping, ProxyHeader};
//!
//! # fn main() -> Result<(), tower_auth::ConfigError> {
//! let certificates = ClientCertificates::new()
//!     .trusted_proxies("10.0.0.0/8".parse()?)
//!     .proxy_header(ProxyHeader::Xfcc);
//! let auth = Authenticator::builder()
//!     .client_certificates(certificates)
//!     .certificate_authentication(
//!         CertificateAuthentication::new(IdentityMapping::SpiffeId)
//!             .allow(["spiffe://example.org/ns/prod/sa/billing"])
//!             .scopes(["orders:read"]),
//!     )
//!     .build()?;
//! # let _ = auth; Ok(()) }
//! ```

mod cert;
mod proxy;

use std::fmt;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};

pub use cert::{Certificate, CertificateError, MAX_CERTIFICATE_DER, x5t_s256};
pub(crate) use proxy::{Forwarded, parse_client_cert, parse_client_cert_chain, parse_nginx_pem, parse_xfcc};
pub use proxy::{MAX_CHAIN_CERTIFICATES, MAX_HEADER_BYTES, ProxyHeader, TrustedProxies};

use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::{AuthErrorKind, ConfigError};
use crate::principal::{Binding, Mechanism, Principal};
use crate::view::{HeaderLookup, RequestView};

/// Where the client certificate of a request comes from: the TLS connection, and, from trusted
/// proxies only, a header (see the [module documentation](self)).
///
/// Defaults ([`new`](Self::new)): the TLS connection only; no trusted proxy; RFC 9440 `Client-Cert`
/// as the header format once proxies are trusted; no proxy CA (proxied certificates then serve
/// token binding but cannot authenticate).
#[derive(Clone, Default)]
#[must_use]
pub struct ClientCertificates {
    trusted: TrustedProxies,
    header: ProxyHeader,
    proxy_anchors: Arc<Vec<TrustAnchor<'static>>>,
}

impl fmt::Debug for ClientCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificates")
            .field("trusted_proxies", &self.trusted)
            .field("proxy_header", &self.header)
            .field("proxy_ca_certificates", &self.proxy_anchors.len())
            .finish()
    }
}

impl ClientCertificates {
    /// The TLS connection's certificate only.
    pub fn new() -> Self {
        Self::default()
    }

    /// The peers allowed to forward a certificate header. Defaults to none.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted = proxies;
        self
    }

    /// The header format trusted proxies use. Defaults to [`ProxyHeader::ClientCert`] (RFC 9440).
    pub fn proxy_header(mut self, header: ProxyHeader) -> Self {
        self.header = header;
        self
    }

    /// Adds the CA certificate(s) (PEM, one or more `CERTIFICATE` blocks) that certificates forwarded
    /// by a proxy must chain to, for client-auth use, to [authenticate](CertificateAuthentication).
    /// Intermediates come from `Client-Cert-Chain` / the XFCC `Chain`. Not needed for token binding.
    /// Defaults to none: proxied certificates cannot authenticate.
    pub fn proxy_ca_pem(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        let mut anchors = Vec::new();
        for der in CertificateDer::pem_slice_iter(pem) {
            let der = der.map_err(|e| ConfigError::new(format!("proxy CA: invalid PEM: {e}")))?;
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|e| ConfigError::new(format!("proxy CA: not a usable CA certificate: {e}")))?;
            anchors.push(anchor.to_owned());
        }
        if anchors.is_empty() {
            return Err(ConfigError::new("proxy CA: no CERTIFICATE in the PEM"));
        }
        Arc::make_mut(&mut self.proxy_anchors).extend(anchors);
        Ok(self)
    }

    /// The configured trusted proxies.
    pub fn proxies(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// The configured header format.
    pub fn header(&self) -> &ProxyHeader {
        &self.header
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let ProxyHeader::NginxPem(name) = &self.header {
            let valid = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                && http::HeaderName::from_bytes(name.as_bytes()).is_ok();
            if !valid {
                return Err(ConfigError::new("ProxyHeader::NginxPem: not a valid header name"));
            }
        }
        Ok(())
    }

    /// The client certificate of `request`, from the source the request's peer allows (see the
    /// [module documentation](self)). `Ok(None)`: the request has none. `Err`: a header from a
    /// trusted proxy that does not decode (`MalformedRequest`), or bytes that are not a certificate
    /// (`InvalidClientCertificate`).
    pub fn certificate<V: RequestView + ?Sized>(&self, request: &V) -> Result<Option<Certificate>, AuthErrorKind> {
        Ok(self.resolve(request)?.map(|c| c.certificate))
    }

    /// The `Vary` value of a response decided by `cert` (RFC 9440 §2.4): the proxy header it came in,
    /// `None` for the TLS connection's certificate.
    pub(crate) fn vary(&self, cert: &RequestCertificate) -> Option<String> {
        (cert.source == Source::Proxy).then(|| match &self.header {
            ProxyHeader::ClientCert => "Client-Cert".to_owned(),
            other => other.header_name(),
        })
    }

    pub(crate) fn resolve<V: RequestView + ?Sized>(
        &self,
        request: &V,
    ) -> Result<Option<RequestCertificate>, AuthErrorKind> {
        let from_proxy = !self.trusted.is_empty() && request.peer_addr().is_some_and(|p| self.trusted.contains(p.ip()));
        if !from_proxy {
            let Some(der) = request.client_certificate() else { return Ok(None) };
            return parse(der, Vec::new(), Source::Tls).map(Some);
        }
        let forwarded = match &self.header {
            ProxyHeader::ClientCert => match request.header("client-cert") {
                HeaderLookup::Missing => None,
                HeaderLookup::Many => return Err(AuthErrorKind::MalformedRequest),
                HeaderLookup::One(value) => {
                    let der = parse_client_cert(value)?;
                    let chain = match request.header("client-cert-chain") {
                        HeaderLookup::Missing => Vec::new(),
                        // RFC 9440 §2.3 allows the list in several field lines, which the request
                        // view does not combine: the chain is then not read (a chain check that needs
                        // it fails; proof of possession does not need it).
                        HeaderLookup::Many => {
                            tracing::debug!(target: "tower_auth", "Client-Cert-Chain in several field lines: not read");
                            Vec::new()
                        }
                        HeaderLookup::One(value) => parse_client_cert_chain(value)?,
                    };
                    Some(Forwarded { der, chain })
                }
            },
            ProxyHeader::NginxPem(name) => match request.header(&name.to_ascii_lowercase()) {
                HeaderLookup::Missing => None,
                HeaderLookup::Many => return Err(AuthErrorKind::MalformedRequest),
                HeaderLookup::One(value) => parse_nginx_pem(value)?,
            },
            ProxyHeader::Xfcc => match request.header("x-forwarded-client-cert") {
                HeaderLookup::Missing => None,
                HeaderLookup::Many => return Err(AuthErrorKind::MalformedRequest),
                HeaderLookup::One(value) => parse_xfcc(value)?,
            },
        };
        match forwarded {
            None => Ok(None),
            Some(Forwarded { der, chain }) => parse(&der, chain, Source::Proxy).map(Some),
        }
    }

    /// Whether a proxied certificate chains to a proxy CA for client authentication at `now`.
    fn verify_proxied(&self, cert: &RequestCertificate, now: UnixTime) -> Result<(), &'static str> {
        if self.proxy_anchors.is_empty() {
            return Err("proxied certificate and no proxy CA configured");
        }
        let der = CertificateDer::from(cert.certificate.der());
        let end_entity =
            webpki::EndEntityCert::try_from(&der).map_err(|_| "proxied certificate not parsed by webpki")?;
        let intermediates: Vec<CertificateDer<'_>> =
            cert.chain.iter().map(|c| CertificateDer::from(c.as_slice())).collect();
        end_entity
            .verify_for_usage(
                SIGNATURE_ALGORITHMS,
                &self.proxy_anchors,
                &intermediates,
                now,
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .map(drop)
            .map_err(|_| "proxied certificate does not chain to the proxy CA")
    }
}

/// The signature algorithms of certificate chains, all from aws-lc-rs.
static SIGNATURE_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA256,
    webpki::aws_lc_rs::ECDSA_P521_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PKCS1_3072_8192_SHA384,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

fn parse(der: &[u8], chain: Vec<Vec<u8>>, source: Source) -> Result<RequestCertificate, AuthErrorKind> {
    let certificate = Certificate::from_der(der).map_err(|_| AuthErrorKind::InvalidClientCertificate)?;
    Ok(RequestCertificate { certificate, chain, source })
}

/// Where a request's certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The TLS connection: verified by the handshake.
    Tls,
    /// A trusted proxy's header: verified here, against the proxy CA, for authentication.
    Proxy,
}

/// A request's certificate with the intermediates that came with it.
#[derive(Debug, Clone)]
pub(crate) struct RequestCertificate {
    pub(crate) certificate: Certificate,
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) source: Source,
}

/// RFC 8705 §3 (G1): whether the certificate is the one `x5t_s256` names (constant-time comparison).
pub(crate) fn thumbprint_matches(certificate: &Certificate, x5t_s256: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(certificate.x5t_s256().as_bytes(), x5t_s256.as_bytes()).is_ok()
}

/// Which name of the certificate becomes the principal's subject.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityMapping {
    /// The SPIFFE ID of an X.509-SVID: its one URI SAN, `spiffe://…` (see
    /// [`Certificate::spiffe_id`]).
    SpiffeId,
    /// A DNS name of the subject alternative names.
    DnsSan,
    /// A URI of the subject alternative names.
    UriSan,
    /// An e-mail address (`rfc822Name`) of the subject alternative names.
    Email,
    /// The subject's common name (exactly one).
    SubjectCn,
}

impl IdentityMapping {
    /// A stable name: `spiffe_id`, `dns_san`, `uri_san`, `email`, `subject_cn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SpiffeId => "spiffe_id",
            Self::DnsSan => "dns_san",
            Self::UriSan => "uri_san",
            Self::Email => "email",
            Self::SubjectCn => "subject_cn",
        }
    }
}

/// Certificate authentication (mode (a), see the [module documentation](self)): a request with no
/// other credential but with a client certificate becomes a [`Principal`] with
/// [`Mechanism::ClientCert`].
///
/// The principal's subject is the certificate's identity under the [`IdentityMapping`]: with
/// several names of that kind (DNS names, say) the first one in certificate order, or with an
/// allow-list the first one on it. Its binding is `Binding::Mtls` with the certificate's
/// thumbprint (for `/bound`-style requirements and per-certificate rate limits), its scopes those
/// of [`scopes`](Self::scopes), its expiry the certificate's `notAfter`, and its claims an object:
/// `sub`, `subject_dn`, `issuer_dn`, `serial` (hex), `not_before`, `not_after` (Unix seconds),
/// `san` (`dns`, `uri`, `email` arrays), `spiffe_id` (when there is one) and `cnf.x5t#S256`.
///
/// Refused with 401 (`InvalidClientCertificate`): a certificate outside its validity period, one
/// forwarded by a proxy that does not chain to [`ClientCertificates::proxy_ca_pem`] (or with no
/// proxy CA configured), one without an identity of the mapped kind, one whose identity is not on
/// the allow-list.
#[derive(Clone)]
#[must_use]
pub struct CertificateAuthentication {
    mapping: IdentityMapping,
    allow: Option<Vec<String>>,
    scopes: Vec<String>,
    clock: SharedClock,
}

impl fmt::Debug for CertificateAuthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthentication")
            .field("mapping", &self.mapping)
            .field("allow", &self.allow)
            .field("scopes", &self.scopes)
            .field("clock", &self.clock)
            .finish()
    }
}

impl CertificateAuthentication {
    /// Authenticates certificates by the identity `mapping` takes from them. Defaults: any identity
    /// (no allow-list), no scopes, the system clock.
    pub fn new(mapping: IdentityMapping) -> Self {
        Self { mapping, allow: None, scopes: Vec::new(), clock: Arc::new(SystemClock) }
    }

    /// Accepts only these identities (exact, case-sensitive comparison; DNS names compared ASCII
    /// case-insensitively). Calls add to the list. Defaults to any identity.
    pub fn allow<I: IntoIterator<Item = impl Into<String>>>(mut self, ids: I) -> Self {
        self.allow.get_or_insert_with(Vec::new).extend(ids.into_iter().map(Into::into));
        self
    }

    /// The scopes granted to certificate principals (duplicates and empty names ignored). Calls add
    /// to them. Defaults to none.
    pub fn scopes<I: IntoIterator<Item = impl Into<String>>>(mut self, scopes: I) -> Self {
        for s in scopes {
            let s = s.into();
            if !s.is_empty() && !self.scopes.contains(&s) {
                self.scopes.push(s);
            }
        }
        self
    }

    /// The clock for validity checks. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The identity mapping.
    pub fn mapping(&self) -> IdentityMapping {
        self.mapping
    }

    fn allowed(&self, identity: &str) -> bool {
        match &self.allow {
            None => true,
            Some(list) if self.mapping == IdentityMapping::DnsSan => {
                list.iter().any(|a| a.eq_ignore_ascii_case(identity))
            }
            Some(list) => list.iter().any(|a| a == identity),
        }
    }

    /// The principal of a request's certificate; `Err` holds the reason logged at debug level.
    pub(crate) fn authenticate(
        &self,
        cert: &RequestCertificate,
        sources: &ClientCertificates,
    ) -> Result<Principal, &'static str> {
        let now = self.clock.now();
        let c = &cert.certificate;
        if !c.is_valid_at(now) {
            return Err(if c.not_after_unix() < unix(now) {
                "certificate expired"
            } else {
                "certificate not yet valid"
            });
        }
        if cert.source == Source::Proxy {
            let now = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
            sources.verify_proxied(cert, now)?;
        }
        let identities = c.identities(self.mapping);
        if identities.is_empty() {
            return Err("certificate without an identity of the mapped kind");
        }
        let subject = identities.into_iter().find(|id| self.allowed(id)).ok_or("identity not on the allow-list")?;
        let mut builder = Principal::builder(Mechanism::ClientCert, subject)
            .scopes(self.scopes.iter().cloned())
            .binding(Binding::Mtls { x5t_s256: c.x5t_s256().to_owned() })
            .claims(c.claims(subject));
        if let Ok(not_after) = u64::try_from(c.not_after_unix()) {
            builder = builder.expires_at_unix(not_after);
        }
        Ok(builder.build())
    }
}

fn unix(t: std::time::SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests;
