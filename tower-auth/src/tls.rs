//! TLS serving with client certificates (feature `tls`; RFC 8705 §2, RFC-CHECKLIST G3 and G5).
//!
//! [`ServerTls`] builds a rustls 0.23 [`ServerConfig`] with the aws-lc-rs provider from PEM: the
//! server's certificate chain and private key and, optionally, the CA (or CAs) client certificates
//! must chain to. The adapters serve with it and hand the client certificate of each connection to
//! the engine as a [`ClientCertificate`]:
//!
//! | framework | serving | where the certificate goes |
//! |---|---|---|
//! | axum | `tower_auth_axum::tls::serve` (its own accept loop over tokio-rustls and hyper) | request extension [`ClientCertificate`] (and [`PeerAddr`](crate::PeerAddr), axum `ConnectInfo`) |
//! | actix-web | `HttpServer::on_connect(tower_auth_actix::tls::on_connect)` and `listen_rustls_0_23` | connection data [`ClientCertificate`] |
//!
//! With a client CA the server asks every client for a certificate during the handshake:
//!
//! | the client | handshake | the request |
//! |---|---|---|
//! | sends no certificate | completes (unless [`require_client_certificate`](ServerTls::require_client_certificate)) | no [`ClientCertificate`]: tokens and API keys work as without TLS; a route that needs a certificate answers 401 |
//! | sends a certificate chaining to a client CA, valid now, not revoked by a configured CRL | completes | carries the end-entity certificate (DER) as [`ClientCertificate`] |
//! | sends any other certificate (another CA, self-signed, expired, revoked) | fails with a TLS alert | — |
//!
//! The certificate is read once per connection, after the handshake, from the verified chain
//! ([`peer_certificate`]); every request of that connection carries it (G5). A resumed TLS session
//! carries the chain verified in its full handshake (rustls keeps it with the session), so a resumed
//! connection does not lose its certificate (RFC 9440 §3.3).
//!
//! Identity from the certificate (certificate *authentication*) relies on this chain check: only
//! certificates issued by the configured CA reach the engine. Tokens bound to a certificate
//! (`cnf.x5t#S256`, RFC 8705 §3) compare its SHA-256 thumbprint, whatever CA issued it.
//!
//! ```
//! use tower_auth::tls::ServerTls;
//! # fn demo(cert_pem: &[u8], key_pem: &[u8], client_ca_pem: &[u8]) -> Result<(), tower_auth::ConfigError> {
//! let config = ServerTls::from_pem(cert_pem, key_pem).client_ca_pem(client_ca_pem).build()?;
//! # let _ = config; Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

pub use rustls;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use crate::{ClientCertificate, ConfigError};

/// A rustls [`ServerConfig`] (aws-lc-rs, TLS 1.2 and 1.3) from PEM, optionally requesting and
/// verifying client certificates. See the [module docs](self).
///
/// PEM problems are kept and reported by [`build`](Self::build), with the part that is wrong
/// and never the key material. `Debug` shows counts only.
#[must_use]
pub struct ServerTls {
    cert_chain: Vec<CertificateDer<'static>>,
    key: Option<PrivateKeyDer<'static>>,
    client_cas: Vec<CertificateDer<'static>>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    require_client_certificate: bool,
    error: Option<ConfigError>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert_chain", &self.cert_chain.len())
            .field("key", &self.key.as_ref().map(|_| "[private key]"))
            .field("client_cas", &self.client_cas.len())
            .field("crls", &self.crls.len())
            .field("require_client_certificate", &self.require_client_certificate)
            .field("error", &self.error)
            .finish()
    }
}

/// Every `CERTIFICATE` block of `pem`, in order; none is an error.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(format!("{what}: not valid PEM ({})", pem_problem(&e))))?;
    if certs.is_empty() {
        return Err(ConfigError::new(format!("{what}: no CERTIFICATE block in the PEM")));
    }
    Ok(certs)
}

/// What is wrong with a PEM file, without echoing its content.
fn pem_problem(error: &pem::Error) -> &'static str {
    match error {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line",
        pem::Error::Base64Decode(_) => "bad base64",
        pem::Error::NoItemsFound => "nothing found",
        _ => "unreadable",
    }
}

impl ServerTls {
    /// The server's certificate chain (end-entity first, then intermediates) and its private key
    /// (PKCS #8, PKCS #1 or SEC1), both PEM. No client certificates are requested until a client
    /// CA is given.
    pub fn from_pem(cert_chain_pem: impl AsRef<[u8]>, private_key_pem: impl AsRef<[u8]>) -> Self {
        let mut tls = Self {
            cert_chain: Vec::new(),
            key: None,
            client_cas: Vec::new(),
            crls: Vec::new(),
            require_client_certificate: false,
            error: None,
        };
        match certificates(cert_chain_pem.as_ref(), "TLS certificate chain") {
            Ok(chain) => tls.cert_chain = chain,
            Err(e) => tls.fail(e),
        }
        match PrivateKeyDer::from_pem_slice(private_key_pem.as_ref()) {
            Ok(key) => tls.key = Some(key),
            Err(pem::Error::NoItemsFound) => tls
                .fail(ConfigError::new("TLS private key: no PRIVATE KEY block in the PEM (PKCS #8, PKCS #1 or SEC1)")),
            Err(e) => tls.fail(ConfigError::new(format!("TLS private key: not valid PEM ({})", pem_problem(&e)))),
        }
        tls
    }

    /// Requests a client certificate in every handshake and verifies it chains to one of the
    /// `CERTIFICATE`s of `pem` (appended to any given before). Clients without a certificate are
    /// still admitted (tokens and API keys keep working) unless
    /// [`require_client_certificate`](Self::require_client_certificate). Defaults to no client CA:
    /// client certificates are not requested.
    pub fn client_ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        match certificates(pem.as_ref(), "TLS client CA") {
            Ok(cas) => self.client_cas.extend(cas),
            Err(e) => self.fail(e),
        }
        self
    }

    /// Certificate revocation lists (every `X509 CRL` block of `pem`) client certificates are
    /// checked against: a revoked certificate fails the handshake, and so does one whose status
    /// these lists cannot tell (each CA of the chain needs its list). Needs a client CA. Defaults
    /// to none: no revocation check.
    pub fn client_crl_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        match CertificateRevocationListDer::pem_slice_iter(pem.as_ref()).collect::<Result<Vec<_>, _>>() {
            Ok(crls) if crls.is_empty() => self.fail(ConfigError::new("TLS client CRL: no X509 CRL block in the PEM")),
            Ok(crls) => self.crls.extend(crls),
            Err(e) => self.fail(ConfigError::new(format!("TLS client CRL: not valid PEM ({})", pem_problem(&e)))),
        }
        self
    }

    /// `true`: a client without a certificate fails the handshake. Needs a client CA. Defaults to
    /// `false` (a certificate is requested, not required).
    pub fn require_client_certificate(mut self, required: bool) -> Self {
        self.require_client_certificate = required;
        self
    }

    fn fail(&mut self, error: ConfigError) {
        self.error.get_or_insert(error);
    }

    /// The rustls configuration: TLS 1.2 and 1.3 with the aws-lc-rs provider, no ALPN (set
    /// `alpn_protocols` on the result when the server speaks HTTP/2).
    ///
    /// Errors: a PEM problem from the setters, a key that does not match the certificate, a CRL
    /// or a required certificate without a client CA, a client CA rustls cannot use.
    pub fn build(self) -> Result<ServerConfig, ConfigError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let key = self.key.ok_or_else(|| ConfigError::new("TLS private key: missing"))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::new(format!("TLS: {e}")))?;
        let builder = if self.client_cas.is_empty() {
            if !self.crls.is_empty() {
                return Err(ConfigError::new("TLS client CRL: needs a client CA"));
            }
            if self.require_client_certificate {
                return Err(ConfigError::new("TLS: a required client certificate needs a client CA"));
            }
            builder.with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            for ca in self.client_cas {
                roots.add(ca).map_err(|e| ConfigError::new(format!("TLS client CA: {e}")))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).with_crls(self.crls);
            if !self.require_client_certificate {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| ConfigError::new(format!("TLS client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        };
        builder
            .with_single_cert(self.cert_chain, key)
            .map_err(|e| ConfigError::new(format!("TLS certificate and private key: {e}")))
    }
}

/// The end-entity certificate a client presented on `connection` (DER), once the handshake is
/// done: the first certificate of the chain the [`ServerConfig`]'s verifier accepted.
pub fn peer_certificate(connection: &ServerConnection) -> Option<ClientCertificate> {
    connection.peer_certificates()?.first().map(|cert| ClientCertificate(Arc::from(cert.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_pki::{ClientCert, IssuedCert, TestCa};
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, ConnectionCommon};

    /// A client certificate of `ca` for the DNS name `client.test`.
    fn client_cert(ca: &TestCa) -> IssuedCert {
        ca.issue(ClientCert::cn("client").dns("client.test"))
    }

    fn client_config(ca: &TestCa, identity: Option<IssuedCert>) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(ca.cert_der().to_vec())).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        match identity {
            None => builder.with_no_client_auth(),
            Some(cert) => builder
                .with_client_auth_cert(
                    certificates(cert.cert_pem.as_bytes(), "cert").unwrap(),
                    PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
        }
    }

    /// Moves every TLS record `from` has to send into `to`, then lets `to` process them.
    fn deliver<A, B>(from: &mut ConnectionCommon<A>, to: &mut ConnectionCommon<B>) -> Result<(), rustls::Error> {
        let mut buf = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut buf).unwrap();
        }
        let mut slice = &buf[..];
        while !slice.is_empty() {
            to.read_tls(&mut slice).unwrap();
        }
        to.process_new_packets().map(drop)
    }

    /// Runs a handshake in memory; the server connection when it completes.
    fn handshake(server: ServerConfig, client: ClientConfig) -> Result<ServerConnection, rustls::Error> {
        let mut server = ServerConnection::new(Arc::new(server)).unwrap();
        let mut client = ClientConnection::new(Arc::new(client), ServerName::try_from("localhost").unwrap()).unwrap();
        for _ in 0..20 {
            deliver(&mut client, &mut server)?;
            deliver(&mut server, &mut client)?;
            if !server.is_handshaking() && !client.is_handshaking() {
                // TLS 1.3: the client's certificate flight may still be in flight to the server.
                deliver(&mut client, &mut server)?;
                return Ok(server);
            }
        }
        panic!("the handshake did not finish");
    }

    fn server(ca: &TestCa) -> ServerTls {
        let cert = ca.server_cert(["localhost"]);
        ServerTls::from_pem(cert.cert_pem, cert.key_pem)
    }

    #[test]
    fn client_certificate_of_the_ca_is_read_per_connection() {
        let ca = TestCa::new("client CA");
        let config = server(&ca).client_ca_pem(ca.cert_pem()).build().unwrap();
        let cert = client_cert(&ca);
        let expected = certificates(cert.cert_pem.as_bytes(), "cert").unwrap().remove(0);
        let connection = handshake(config, client_config(&ca, Some(cert))).unwrap();
        assert_eq!(peer_certificate(&connection).unwrap().0.as_ref(), expected.as_ref());
    }

    #[test]
    fn no_client_certificate_is_admitted_unless_required() {
        let ca = TestCa::new("client CA");
        let optional = server(&ca).client_ca_pem(ca.cert_pem()).build().unwrap();
        let connection = handshake(optional, client_config(&ca, None)).unwrap();
        assert!(peer_certificate(&connection).is_none());

        let required = server(&ca).client_ca_pem(ca.cert_pem()).require_client_certificate(true).build().unwrap();
        assert!(handshake(required, client_config(&ca, None)).is_err());
    }

    #[test]
    fn certificate_of_another_ca_fails_the_handshake() {
        let ca = TestCa::new("client CA");
        let other = TestCa::new("other CA");
        let config = server(&ca).client_ca_pem(ca.cert_pem()).build().unwrap();
        let err = handshake(config, client_config(&ca, Some(client_cert(&other)))).unwrap_err();
        assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err:?}");
    }

    #[test]
    fn revoked_client_certificate_fails_the_handshake() {
        let ca = TestCa::new("client CA");
        let leaf = |serial: &[u8]| ca.issue(ClientCert::cn("client").dns("client.test").serial(serial));
        let crl = ca.crl_pem(&[&[0x0b, 0xad]]);
        let config = || server(&ca).client_ca_pem(ca.cert_pem()).client_crl_pem(&crl).build().unwrap();
        let err = handshake(config(), client_config(&ca, Some(leaf(&[0x0b, 0xad])))).unwrap_err();
        assert!(matches!(err, rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)), "{err:?}");
        let connection = handshake(config(), client_config(&ca, Some(leaf(&[0x60, 0x0d])))).unwrap();
        assert!(peer_certificate(&connection).is_some());
    }

    #[test]
    fn without_client_ca_no_certificate_is_requested() {
        let ca = TestCa::new("CA");
        let config = server(&ca).build().unwrap();
        let connection = handshake(config, client_config(&ca, Some(client_cert(&ca)))).unwrap();
        assert!(peer_certificate(&connection).is_none());
    }

    #[test]
    fn configuration_mistakes_are_reported() {
        let ca = TestCa::new("CA");
        let IssuedCert { cert_pem: cert, key_pem: key, .. } = ca.server_cert(["localhost"]);
        let other_key = ca.server_cert(["localhost"]).key_pem;
        let message = |tls: ServerTls| tls.build().unwrap_err().message().to_owned();
        assert!(message(ServerTls::from_pem("garbage", &key)).contains("certificate chain: no CERTIFICATE"));
        assert!(message(ServerTls::from_pem(&cert, "garbage")).contains("private key: no PRIVATE KEY"));
        assert!(message(ServerTls::from_pem(&key, &key)).contains("no CERTIFICATE"));
        let truncated = &cert[..cert.len() - 30];
        assert!(message(ServerTls::from_pem(truncated, &key)).contains("not valid PEM"));
        let bad_base64 = cert.replacen("MII", "M*I", 1);
        assert!(message(ServerTls::from_pem(bad_base64, &key)).contains("bad base64"));
        assert!(message(ServerTls::from_pem(&cert, &other_key)).contains("certificate and private key"));
        assert!(message(ServerTls::from_pem(&cert, &key).client_ca_pem("")).contains("client CA"));
        assert!(
            message(ServerTls::from_pem(&cert, &key).require_client_certificate(true)).contains("needs a client CA")
        );
        assert!(message(ServerTls::from_pem(&cert, &key).client_crl_pem("nothing")).contains("no X509 CRL"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let ca = TestCa::new("CA");
        let IssuedCert { cert_pem: cert, key_pem: key, .. } = ca.server_cert(["localhost"]);
        let tls = ServerTls::from_pem(cert, &key);
        let shown = format!("{tls:?}");
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!shown.contains(&body[..20]), "{shown}");
        assert!(shown.contains("[private key]"));
    }
}
