//! A test PKI made with rcgen (aws-lc-rs keys): certificate authorities, client and server
//! certificates, CRLs, and the proxy header values that carry certificates (RFC 9440 `Client-Cert`,
//! nginx escaped PEM, Envoy XFCC). Re-exported by [`testkit`](crate::testkit) (feature
//! `test-util`); also compiled for this crate's own unit tests.
//!
//! Every call generates fresh P-256 keys; nothing is read from or written to disk. Never use these
//! certificates outside tests.
// Without `test-util`, only the unit tests use this module, and only part of it.
#![cfg_attr(not(feature = "test-util"), allow(dead_code, unreachable_pub))]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};

/// A test certificate authority: a root ([`TestCa::new`]) or an intermediate under another
/// ([`TestCa::intermediate`]), issuing client certificates ([`TestCa::issue`]), server
/// certificates ([`TestCa::server_cert`]) and CRLs ([`TestCa::crl_pem`]).
///
/// CAs are valid from 1975 to 4096, with the key usages `keyCertSign` and `cRLSign`.
///
/// ```
/// use tower_auth::mtls::Certificate;
/// use tower_auth::testkit::{ClientCert, TestCa, client_cert_field};
///
/// let root = TestCa::new("Test Root CA");
/// let ca = root.intermediate("Test Intermediate CA");
/// let id = "spiffe://example.org/ns/prod/sa/billing";
/// let client = ca.issue(ClientCert::cn("billing").spiffe(id).validity((2023, 1, 1), (2024, 1, 1)));
/// let parsed = Certificate::from_der(&client.der).unwrap();
/// assert_eq!(parsed.spiffe_id(), Some(id));
/// assert_eq!(parsed.not_after_unix(), 1_704_067_200);
/// // What a TLS-terminating proxy forwards (RFC 9440): the certificate and the intermediate; the
/// // root is the proxy CA the server is configured with.
/// let client_cert = client_cert_field(&client.der);
/// let client_cert_chain = client_cert_field(ca.cert_der());
/// assert!(client_cert.starts_with(':') && client_cert_chain.ends_with(':'));
/// assert!(root.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// // A server certificate for HTTPS on 127.0.0.1, with its key as PEM.
/// let server = root.server_cert(["127.0.0.1", "localhost"]);
/// assert!(server.key_pem.contains("PRIVATE KEY"));
/// ```
pub struct TestCa {
    common_name: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").field("common_name", &self.common_name).finish_non_exhaustive()
    }
}

impl TestCa {
    /// A self-signed root CA with subject `CN=common_name`.
    pub fn new(common_name: &str) -> Self {
        let issuer = CertifiedIssuer::self_signed(ca_params(common_name), generate_key()).expect("self-signed test CA");
        Self { common_name: common_name.to_owned(), issuer }
    }

    /// An intermediate CA with subject `CN=common_name`, issued by this CA. Its certificate
    /// ([`cert_der`](Self::cert_der)) is the chain a holder of its certificates presents.
    pub fn intermediate(&self, common_name: &str) -> Self {
        let issuer = CertifiedIssuer::signed_by(ca_params(common_name), generate_key(), &self.issuer)
            .expect("intermediate test CA");
        Self { common_name: common_name.to_owned(), issuer }
    }

    /// This CA's certificate, PEM: what a server trusts as client CA or proxy CA.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// This CA's certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        self.issuer.der().as_ref()
    }

    /// A certificate described by `cert`, signed by this CA.
    pub fn issue(&self, cert: ClientCert) -> IssuedCert {
        let key = generate_key();
        let issued = cert.params.signed_by(&key, &self.issuer).expect("test certificate");
        IssuedCert::new(&issued, &key)
    }

    /// A server certificate (extended key usage `serverAuth`) for `names`: each an IP address or
    /// a DNS name, as subject alternative names; the first is also the common name.
    pub fn server_cert<I, S>(&self, names: I) -> IssuedCert
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("server names");
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = generate_key();
        let issued = params.signed_by(&key, &self.issuer).expect("test server certificate");
        IssuedCert::new(&issued, &key)
    }

    /// An HTTPS client (reqwest, rustls) trusting only this CA and presenting `identity` when
    /// given; no proxy (test servers listen on 127.0.0.1), a 20 s timeout.
    pub fn https_client(&self, identity: Option<&IssuedCert>) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.cert_pem().as_bytes()).expect("CA certificate");
        let mut builder =
            reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(20)).tls_certs_only([ca]);
        if let Some(cert) = identity {
            let identity = reqwest::Identity::from_pem(cert.identity_pem().as_bytes()).expect("client identity");
            builder = builder.identity(identity);
        }
        builder.build().expect("HTTPS client")
    }

    /// A rustls server configuration (feature `tls`) serving `server` (see
    /// [`server_cert`](Self::server_cert)) that requests client certificates of this CA.
    #[cfg(feature = "tls")]
    pub fn server_tls(&self, server: &IssuedCert) -> crate::tls::rustls::ServerConfig {
        crate::tls::ServerTls::from_pem(&server.cert_pem, &server.key_pem)
            .client_ca_pem(self.cert_pem())
            .build()
            .expect("server TLS configuration")
    }

    /// A CRL of this CA (PEM) revoking the certificates with the serial numbers `revoked` (see
    /// [`ClientCert::serial`]); issued 2024-01-01, next update 2100-01-01.
    pub fn crl_pem(&self, revoked: &[&[u8]]) -> String {
        let revoked_certs = revoked
            .iter()
            .map(|serial| RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect();
        CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2100, 1, 1),
            crl_number: SerialNumber::from_slice(&[1]),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer)
        .and_then(|crl| crl.pem())
        .expect("test CRL")
    }
}

/// The description of a certificate to issue ([`TestCa::issue`]) or self-sign
/// ([`ClientCert::self_signed`]): subject `CN=…` and optionally `O=…`, subject alternative names,
/// validity, serial number. Client certificates have the extended key usage `clientAuth` unless
/// [`server_auth_only`](Self::server_auth_only); without [`validity`](Self::validity) they are
/// valid from 1975 to 4096.
#[derive(Debug, Clone)]
pub struct ClientCert {
    params: CertificateParams,
}

impl ClientCert {
    /// A certificate with subject `CN=common_name` and no subject alternative name.
    pub fn cn(common_name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        Self { params }
    }

    /// Adds `O=organization` to the subject.
    pub fn organization(mut self, organization: &str) -> Self {
        self.params.distinguished_name.push(DnType::OrganizationName, organization);
        self
    }

    /// Adds a DNS name (subject alternative name).
    pub fn dns(mut self, name: &str) -> Self {
        self.params.subject_alt_names.push(SanType::DnsName(name.try_into().expect("a DNS name")));
        self
    }

    /// Adds a URI (subject alternative name).
    pub fn uri(mut self, uri: &str) -> Self {
        self.params.subject_alt_names.push(SanType::URI(uri.try_into().expect("a URI")));
        self
    }

    /// Adds a SPIFFE ID (`spiffe://…`): a URI subject alternative name.
    pub fn spiffe(self, id: &str) -> Self {
        assert!(id.starts_with("spiffe://"), "not a SPIFFE ID: {id}");
        self.uri(id)
    }

    /// Adds an e-mail address (RFC 822 name, subject alternative name).
    pub fn email(mut self, address: &str) -> Self {
        self.params.subject_alt_names.push(SanType::Rfc822Name(address.try_into().expect("an e-mail address")));
        self
    }

    /// Valid from `not_before` to `not_after`, each `(year, month, day)` at 00:00:00 UTC.
    pub fn validity(mut self, not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Self {
        self.params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        self.params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        self
    }

    /// The serial number (big-endian bytes); random otherwise.
    pub fn serial(mut self, serial: &[u8]) -> Self {
        self.params.serial_number = Some(SerialNumber::from_slice(serial));
        self
    }

    /// The extended key usage `serverAuth` instead of `clientAuth`: a certificate that is no client
    /// certificate.
    pub fn server_auth_only(mut self) -> Self {
        self.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self
    }

    /// The certificate, self-signed (issuer = subject) with its own new key.
    pub fn self_signed(self) -> IssuedCert {
        let key = generate_key();
        let issued = self.params.self_signed(&key).expect("self-signed test certificate");
        IssuedCert::new(&issued, &key)
    }
}

/// A certificate and its private key. `Debug` does not show the key.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS #8 PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert").field("cert_pem", &self.cert_pem).field("key_pem", &"[private key]").finish()
    }
}

impl IssuedCert {
    fn new(cert: &rcgen::Certificate, key: &KeyPair) -> Self {
        Self { der: cert.der().to_vec(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
    }

    /// The certificate then the key, PEM: what `reqwest::Identity::from_pem` takes.
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    /// The RFC 8705 §3.1 thumbprint (`cnf.x5t#S256`) of the certificate.
    pub fn x5t_s256(&self) -> String {
        crate::mtls::x5t_s256(&self.der)
    }

    /// The RFC 9440 `Client-Cert` value of the certificate ([`client_cert_field`]).
    pub fn client_cert_field(&self) -> String {
        client_cert_field(&self.der)
    }

    /// The certificate as nginx's `$ssl_client_escaped_cert` ([`nginx_escaped_pem`]).
    pub fn nginx_escaped_pem(&self) -> String {
        nginx_escaped_pem(&self.der)
    }
}

fn generate_key() -> KeyPair {
    KeyPair::generate().expect("a P-256 key")
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// RFC 9440 §2.1 `Client-Cert`: `der` as a Structured-Field Byte Sequence, `:base64:`.
pub fn client_cert_field(der: &[u8]) -> String {
    format!(":{}:", STANDARD.encode(der))
}

/// RFC 9440 §2.2 `Client-Cert-Chain`: a List of Byte Sequences, `:base64:, :base64:`.
pub fn client_cert_chain_field<D: AsRef<[u8]>>(chain: &[D]) -> String {
    chain.iter().map(|der| client_cert_field(der.as_ref())).collect::<Vec<_>>().join(", ")
}

/// `der` as a PEM `CERTIFICATE` block, 64 characters a line, ending with a line break. The bytes
/// need not be a certificate: tests of PEM parsers wrap anything.
pub fn certificate_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("base64")).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

/// Percent-encodes every byte but the unreserved characters (`A–Z a–z 0–9 - . _ ~`), as nginx
/// escapes `$ssl_client_escaped_cert` and Envoy the `Cert` and `Chain` of XFCC.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// nginx `$ssl_client_escaped_cert`: the PEM of `der`, percent-encoded.
pub fn nginx_escaped_pem(der: &[u8]) -> String {
    percent_encode(&certificate_pem(der))
}

/// One Envoy `x-forwarded-client-cert` element for the certificate `der`:
/// `By=<by>;Hash=<hex SHA-256 of der>;Cert="<escaped PEM>"`, then `;Chain="<escaped PEMs>"` when
/// `chain` is not empty. Elements of several hops are joined with `,`, the nearest proxy's last.
pub fn xfcc_element(by: &str, der: &[u8], chain: &[Vec<u8>]) -> String {
    let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut element = format!("By={by};Hash={hash};Cert=\"{}\"", nginx_escaped_pem(der));
    if !chain.is_empty() {
        let pems: String = chain.iter().map(|c| certificate_pem(c)).collect();
        element.push_str(&format!(";Chain=\"{}\"", percent_encode(&pems)));
    }
    element
}
