//! Client certificates on the engine (RFC-CHECKLIST section G): certificate-bound tokens (G1, G2),
//! certificate authentication, and the certificate sources — the TLS connection and, from trusted
//! proxies only, RFC 9440 `Client-Cert`, nginx escaped PEM and Envoy XFCC headers (G4).
//!
//! Requests are `http::request::Parts` with the `PeerAddr` and `ClientCertificate` extensions a
//! server adapter sets; certificates come from the test kit's `TestCa`, tokens from its `LocalIssuer`. Every
//! test asserts the exact error kind, and the wire signal (status, challenge) where it matters.
#![cfg(feature = "test-util")]

mod common;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tower_auth::dpop::Dpop;
use tower_auth::jwt::{Algorithm, Issuer, JwtValidator};
use tower_auth::mtls::{
    Certificate, CertificateAuthentication, ClientCertificates, IdentityMapping, ProxyHeader, TrustedProxies, x5t_s256,
};
use tower_auth::testkit::{
    ClientCert, DpopKey, LocalIssuer, TestCa, TestIssuer, certificate_pem as pem, client_cert_chain_field,
    client_cert_field, nginx_escaped_pem, xfcc_element,
};
use tower_auth::{
    AuthError, AuthErrorKind, Authenticator, AuthenticatorBuilder, Binding, ClientCertificate, ManualClock, Mechanism,
    PeerAddr, Principal,
};

use common::{AUD, T0, introspector_for};

const CLIENT: &str = "198.51.100.7:50000";
const PROXY: &str = "10.0.0.2:40000";

// ---------------------------------------------------------------------------------------------
// Certificates: valid from 2023-01-01 to 2024-01-01, around T0 (2023-11-14)

/// A certificate with subject `CN=cn`, valid from 2023-01-01 to 2024-01-01.
fn cert(cn: &str) -> ClientCert {
    ClientCert::cn(cn).validity((2023, 1, 1), (2024, 1, 1))
}

/// A self-signed client certificate (DER): fine for proof of possession (G3), and over TLS.
fn self_signed(cert: ClientCert) -> Vec<u8> {
    cert.self_signed().der
}

fn svc() -> Vec<u8> {
    self_signed(cert("svc").dns("svc.example").spiffe("spiffe://example.org/ns/prod/sa/svc").email("svc@example.org"))
}

/// A root CA and an intermediate, issuing client certificates.
struct Pki {
    root: TestCa,
    intermediate: TestCa,
}

impl Pki {
    fn new() -> Self {
        let root = TestCa::new("Root CA");
        let intermediate = root.intermediate("Intermediate CA");
        Self { root, intermediate }
    }

    /// A client certificate `CN=cn` with the DNS name `dns`, from the intermediate.
    fn client(&self, cn: &str, dns: &str) -> Vec<u8> {
        self.intermediate.issue(cert(cn).dns(dns)).der
    }

    /// The intermediate: the chain a proxy forwards with the client's certificate.
    fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.intermediate.cert_der().to_vec()]
    }
}

/// Header names and values.
type Headers = Vec<(String, String)>;

/// The header(s) carrying `der` (and `chain`) in `format`.
fn forwarded(format: &ProxyHeader, der: &[u8], chain: &[Vec<u8>]) -> Headers {
    match format {
        ProxyHeader::ClientCert => {
            let mut h = vec![("client-cert".to_owned(), client_cert_field(der))];
            if !chain.is_empty() {
                h.push(("client-cert-chain".to_owned(), client_cert_chain_field(chain)));
            }
            h
        }
        ProxyHeader::NginxPem(name) => vec![(name.clone(), nginx_escaped_pem(der))],
        ProxyHeader::Xfcc => {
            let element = xfcc_element("spiffe://mesh.example/ns/edge", der, chain);
            // An element from a farther hop comes first; the nearest proxy's element is the last.
            let value = format!("By=spiffe://far;URI=spiffe://other,{element};Subject=\"CN=x,O=y\"");
            vec![("x-forwarded-client-cert".to_owned(), value)]
        }
        _ => unreachable!("the three formats"),
    }
}

fn formats() -> [ProxyHeader; 3] {
    [ProxyHeader::ClientCert, ProxyHeader::NginxPem("X-SSL-Client-Cert".into()), ProxyHeader::Xfcc]
}

// ---------------------------------------------------------------------------------------------
// Requests and engines

#[derive(Default)]
struct Req {
    peer: Option<&'static str>,
    tls: Option<Vec<u8>>,
    authorization: Option<String>,
    headers: Vec<(String, String)>,
}

impl Req {
    fn from(peer: &'static str) -> Self {
        Self { peer: Some(peer), ..Self::default() }
    }
    fn tls(mut self, der: &[u8]) -> Self {
        self.tls = Some(der.to_vec());
        self
    }
    fn bearer(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }
    fn headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers.extend(headers);
        self
    }
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    fn parts(&self) -> http::request::Parts {
        let mut req = http::Request::get("/orders");
        if let Some(a) = &self.authorization {
            req = req.header("authorization", a.as_str());
        }
        for (n, v) in &self.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        if let Some(peer) = self.peer {
            parts.extensions.insert(PeerAddr(peer.parse().unwrap()));
        }
        if let Some(der) = &self.tls {
            parts.extensions.insert(ClientCertificate(Arc::from(der.as_slice())));
        }
        parts
    }
}

struct Setup {
    issuer: LocalIssuer,
    clock: ManualClock,
}

impl Setup {
    fn new() -> Self {
        let clock = ManualClock::at_unix(T0);
        let issuer = LocalIssuer::new("https://issuer.test");
        issuer.set_clock(clock.clone());
        issuer.set_default_audience(AUD);
        Self { issuer, clock }
    }

    fn jwt(&self) -> JwtValidator {
        JwtValidator::builder()
            .issuer(Issuer::with_jwks(self.issuer.issuer(), self.issuer.jwks_json()))
            .audience(AUD)
            .clock(self.clock.clone())
            .build()
            .unwrap()
    }

    fn builder(&self) -> AuthenticatorBuilder {
        Authenticator::builder().jwt(self.jwt()).realm("api")
    }

    fn cert_auth(&self, mapping: IdentityMapping) -> CertificateAuthentication {
        CertificateAuthentication::new(mapping).clock(self.clock.clone()).scopes(["orders:read"])
    }

    /// Tokens, and certificate authentication (`mapping`) of the certificates from `sources`.
    fn authn(&self, sources: ClientCertificates, mapping: IdentityMapping) -> Authenticator {
        self.builder().client_certificates(sources).certificate_authentication(self.cert_auth(mapping)).build().unwrap()
    }

    fn bound_token(&self, der: &[u8]) -> String {
        self.issuer.token().certificate_bound(&x5t_s256(der)).scope("orders:read").sign()
    }
}

async fn ok(auth: &Authenticator, req: &Req) -> Principal {
    match auth.authenticate(&req.parts()).await {
        Ok(Some(p)) => p,
        other => panic!("expected a principal, got {other:?}"),
    }
}

async fn err(auth: &Authenticator, req: &Req) -> AuthError {
    match auth.authenticate(&req.parts()).await {
        Err(e) => e,
        Ok(p) => panic!("expected an error, got {p:?}"),
    }
}

/// Kind, status and challenge: what a client sees.
fn signal(e: &AuthError) -> (AuthErrorKind, u16, Option<String>) {
    (e.kind(), e.status().as_u16(), e.www_authenticate())
}

const INVALID_TOKEN_BINDING: &str =
    r#"Bearer realm="api", error="invalid_token", error_description="Invalid token binding""#;
const INVALID_CERTIFICATE: &str =
    r#"Bearer realm="api", error="invalid_token", error_description="Invalid client certificate""#;
const INVALID_REQUEST: &str =
    r#"Bearer realm="api", error="invalid_request", error_description="Malformed credentials""#;

// ---------------------------------------------------------------------------------------------
// RFC vectors

/// RFC 9440 Appendix A: the client certificate, its intermediate and the root, as the RFC's
/// `Client-Cert` and `Client-Cert-Chain` example fields carry them (line breaks removed).
const RFC9440_CLIENT_CERT: &str = ":MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6MRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQTAeFw0yMDAxMTQyMjU1MzNaFw0yMTAxMjMyMjU1MzNaMA0xCzAJBgNVBAMMAkJDMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8YnXXfaUgmnMtOXU/IncWalRhebrXmckC8vdgJ1p5Be5F/3YC8OthxM4+k1M6aEAEFcGzkJiNy6J84y7uzo9M6NyMHAwCQYDVR0TBAIwADAfBgNVHSMEGDAWgBRm3WjLa38lbEYCuiCPct0ZaSED2DAOBgNVHQ8BAf8EBAMCBsAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0RAQH/BBMwEYEPYmRjQGV4YW1wbGUuY29tMAoGCCqGSM49BAMCA0gAMEUCIBHda/r1vaL6G3VliL4/Di6YK0Q6bMjeSkC3dFCOOB8TAiEAx/kHSB4urmiZ0NX5r5XarmPk0wmuydBVoU4hBVZ1yhk=:";
const RFC9440_CLIENT_CERT_CHAIN: &str = ":MIIB5jCCAYugAwIBAgIBFjAKBggqhkjOPQQDAjBWMQswCQYDVQQGEwJVUzEbMBkGA1UECgwSTGV0J3MgQXV0aGVudGljYXRlMSowKAYDVQQDDCFMZXQncyBBdXRoZW50aWNhdGUgUm9vdCBBdXRob3JpdHkwHhcNMjAwMTE0MjEzMjMwWhcNMzAwMTExMjEzMjMwWjA6MRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJf+aA54RC5pyLAR5yfXVYmNpgd+CGUTDp2KOGhc0gK91zxhHesEYkdXkpS2UN8Kati+yHtWCV3kkhCngGyv7RqjZjBkMB0GA1UdDgQWBBRm3WjLa38lbEYCuiCPct0ZaSED2DAfBgNVHSMEGDAWgBTEA2Q6eecKu9g9yb5glbkhhVINGDASBgNVHRMBAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBhjAKBggqhkjOPQQDAgNJADBGAiEA5pLvaFwRRkxomIAtDIwg9D7gC1xzxBl4r28EzmSO1pcCIQCJUShpSXO9HDIQMUgH69fNDEMHXD3RRX5gP7kuu2KGMg==:, :MIICBjCCAaygAwIBAgIJAKS0yiqKtlhoMAoGCCqGSM49BAMCMFYxCzAJBgNVBAYTAlVTMRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxKjAoBgNVBAMMIUxldCdzIEF1dGhlbnRpY2F0ZSBSb290IEF1dGhvcml0eTAeFw0yMDAxMTQyMTI1NDVaFw00MDAxMDkyMTI1NDVaMFYxCzAJBgNVBAYTAlVTMRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxKjAoBgNVBAMMIUxldCdzIEF1dGhlbnRpY2F0ZSBSb290IEF1dGhvcml0eTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFoaHU+Z5bPKmGzlYXtCf+E6HYj62fORaHDOrt+yyh3H/rTcs7ynFfGn+gyFsrSP3Ez88rajv+U2NfD0o0uZ4PmjYzBhMB0GA1UdDgQWBBTEA2Q6eecKu9g9yb5glbkhhVINGDAfBgNVHSMEGDAWgBTEA2Q6eecKu9g9yb5glbkhhVINGDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBhjAKBggqhkjOPQQDAgNIADBFAiEAmAeg1ycKHriqHnaD4M/UDBpQRpkmdcRFYGMg1Qyrkx4CIB4ivz3wQcQkGhcsUZ1SOImd/lq1Q0FLf09rGfLQPWDc:";

fn rfc9440_der(field: &str) -> Vec<u8> {
    STANDARD.decode(field.trim_matches(':')).unwrap()
}

#[test]
fn rfc8705_thumbprint_of_the_rfc9440_certificate() {
    // G2: x5t#S256 = base64url(SHA-256(DER)), no padding. The expected values were computed
    // independently: `openssl x509 -outform DER | openssl dgst -sha256 -binary | basenc --base64url`.
    let leaf = rfc9440_der(RFC9440_CLIENT_CERT);
    assert_eq!(x5t_s256(&leaf), "v68ffgcPn6jdYpBfFY2nP4ShE2Yk-6_Mk5PI9yh6aes");
    let root = rfc9440_der(RFC9440_CLIENT_CERT_CHAIN.split(", ").nth(1).unwrap());
    assert_eq!(x5t_s256(&root), "QjrpXcQc0m2pAhrU5jibqnfghYYHY1qwhekeXR2Ue4M");
    let cert = Certificate::from_der(&leaf).unwrap();
    assert_eq!(cert.x5t_s256(), "v68ffgcPn6jdYpBfFY2nP4ShE2Yk-6_Mk5PI9yh6aes");
    assert_eq!(cert.subject_cn(), Some("BC"));
    assert_eq!(cert.emails(), ["bdc@example.com"]);
    assert_eq!(cert.serial(), "07");
    assert_eq!(cert.not_after_unix(), 1_611_442_533); // Jan 23 22:55:33 2021 GMT
    assert!(cert.issuer().contains("CN=LA Intermediate CA"), "{}", cert.issuer());
}

#[tokio::test]
async fn rfc9440_example_fields_authenticate_through_a_trusted_proxy() {
    // G4 with the RFC's own fields: the chain leads to the RFC's root, configured as the proxy CA.
    let s = Setup::new();
    let root = rfc9440_der(RFC9440_CLIENT_CERT_CHAIN.split(", ").nth(1).unwrap());
    let sources = ClientCertificates::new()
        .trusted_proxies("10.0.0.0/8".parse().unwrap())
        .proxy_ca_pem(pem(&root).as_bytes())
        .unwrap();
    let in_2020 = ManualClock::at_unix(1_600_000_000);
    let auth = |clock: &ManualClock| {
        s.builder()
            .client_certificates(sources.clone())
            .certificate_authentication(CertificateAuthentication::new(IdentityMapping::Email).clock(clock.clone()))
            .build()
            .unwrap()
    };
    let req = Req::from(PROXY)
        .header("client-cert", RFC9440_CLIENT_CERT)
        .header("client-cert-chain", RFC9440_CLIENT_CERT_CHAIN);
    let p = ok(&auth(&in_2020), &req).await;
    assert_eq!(p.subject(), "bdc@example.com");
    assert_eq!(p.mechanism(), Mechanism::ClientCert);
    assert_eq!(p.binding(), Some(&Binding::Mtls { x5t_s256: "v68ffgcPn6jdYpBfFY2nP4ShE2Yk-6_Mk5PI9yh6aes".into() }));
    // The same fields in 2023: the client certificate has expired.
    let e = err(&auth(&s.clock), &req).await;
    assert_eq!(signal(&e), (AuthErrorKind::InvalidClientCertificate, 401, Some(INVALID_CERTIFICATE.into())));
    // Without the chain, the leaf does not lead to the root.
    let e = err(&auth(&in_2020), &Req::from(PROXY).header("client-cert", RFC9440_CLIENT_CERT)).await;
    assert_eq!(e.kind(), AuthErrorKind::InvalidClientCertificate);
}

// ---------------------------------------------------------------------------------------------
// Mode (a): certificate authentication over TLS

#[tokio::test]
async fn certificate_principal_for_each_mapping() {
    let s = Setup::new();
    let der = svc();
    for (mapping, subject) in [
        (IdentityMapping::SpiffeId, "spiffe://example.org/ns/prod/sa/svc"),
        (IdentityMapping::DnsSan, "svc.example"),
        (IdentityMapping::UriSan, "spiffe://example.org/ns/prod/sa/svc"),
        (IdentityMapping::Email, "svc@example.org"),
        (IdentityMapping::SubjectCn, "svc"),
    ] {
        let auth = s.builder().certificate_authentication(s.cert_auth(mapping)).build().unwrap();
        let p = ok(&auth, &Req::from(CLIENT).tls(&der)).await;
        assert_eq!(p.subject(), subject, "{mapping:?}");
        // What the quickstart's `/me` shows: kind "client_cert", bound "mtls".
        assert_eq!(p.mechanism().as_str(), "client_cert");
        assert_eq!(p.binding().map(Binding::as_str), Some("mtls"));
        assert_eq!(p.binding(), Some(&Binding::Mtls { x5t_s256: x5t_s256(&der) }));
        assert_eq!(p.scopes(), ["orders:read"]);
        assert_eq!(p.claim("serial").and_then(|v| v.as_str()), Some(Certificate::from_der(&der).unwrap().serial()));
        assert_eq!(p.claim("not_after"), Some(&json!(1_704_067_200)));
        assert_eq!(p.claim("san").unwrap()["dns"], json!(["svc.example"]));
    }
}

#[tokio::test]
async fn certificate_authentication_alone_is_a_configuration() {
    let s = Setup::new();
    let auth =
        Authenticator::builder().certificate_authentication(s.cert_auth(IdentityMapping::SubjectCn)).build().unwrap();
    assert_eq!(ok(&auth, &Req::from(CLIENT).tls(&svc())).await.subject(), "svc");
    let e = err(&auth, &Req::from(CLIENT)).await;
    assert_eq!(signal(&e), (AuthErrorKind::MissingCredentials, 401, Some("Bearer".into())));
    assert!(Authenticator::builder().build().is_err());
}

#[tokio::test]
async fn allow_list() {
    let s = Setup::new();
    let allowed = self_signed(cert("a").spiffe("spiffe://example.org/ns/prod/sa/billing"));
    let other = self_signed(cert("b").spiffe("spiffe://example.org/ns/prod/sa/other"));
    let auth = s
        .builder()
        .certificate_authentication(
            s.cert_auth(IdentityMapping::SpiffeId).allow(["spiffe://example.org/ns/prod/sa/billing"]),
        )
        .build()
        .unwrap();
    assert_eq!(ok(&auth, &Req::from(CLIENT).tls(&allowed)).await.subject(), "spiffe://example.org/ns/prod/sa/billing");
    let e = err(&auth, &Req::from(CLIENT).tls(&other)).await;
    assert_eq!(signal(&e), (AuthErrorKind::InvalidClientCertificate, 401, Some(INVALID_CERTIFICATE.into())));
    // No identity of the mapped kind at all: refused the same way.
    let e = err(&auth, &Req::from(CLIENT).tls(&self_signed(cert("c").dns("c.example")))).await;
    assert_eq!(signal(&e), (AuthErrorKind::InvalidClientCertificate, 401, Some(INVALID_CERTIFICATE.into())));
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates() {
    let s = Setup::new();
    let auth = s.builder().certificate_authentication(s.cert_auth(IdentityMapping::SubjectCn)).build().unwrap();
    let expired = ClientCert::cn("old").validity((2021, 1, 1), (2022, 1, 1));
    let future = ClientCert::cn("new").validity((2025, 1, 1), (2026, 1, 1));
    for der in [self_signed(expired), self_signed(future)] {
        let e = err(&auth, &Req::from(CLIENT).tls(&der)).await;
        assert_eq!(signal(&e), (AuthErrorKind::InvalidClientCertificate, 401, Some(INVALID_CERTIFICATE.into())));
    }
}

#[tokio::test]
async fn a_token_wins_over_the_certificate() {
    let s = Setup::new();
    let auth = s.builder().certificate_authentication(s.cert_auth(IdentityMapping::SubjectCn)).build().unwrap();
    let token = s.issuer.token().subject("alice").sign();
    let p = ok(&auth, &Req::from(CLIENT).tls(&svc()).bearer(&token)).await;
    assert_eq!((p.subject(), p.mechanism(), p.binding()), ("alice", Mechanism::Jwt, None));
    // A bad token is not rescued by a good certificate.
    let e = err(&auth, &Req::from(CLIENT).tls(&svc()).bearer("not-a-token")).await;
    assert_eq!(e.status().as_u16(), 401);
    assert_ne!(e.kind(), AuthErrorKind::InvalidClientCertificate);
}

#[tokio::test]
async fn without_certificate_authentication_a_certificate_is_no_credential() {
    let s = Setup::new();
    let auth = s.builder().build().unwrap();
    let e = err(&auth, &Req::from(CLIENT).tls(&svc())).await;
    assert_eq!(signal(&e), (AuthErrorKind::MissingCredentials, 401, Some(r#"Bearer realm="api""#.into())));
    let optional =
        s.builder().certificate_authentication(s.cert_auth(IdentityMapping::SubjectCn)).optional(true).build().unwrap();
    assert!(optional.authenticate(&Req::from(CLIENT).parts()).await.unwrap().is_none());
    assert_eq!(ok(&optional, &Req::from(CLIENT).tls(&svc())).await.subject(), "svc");
}

// ---------------------------------------------------------------------------------------------
// Mode (b): certificate-bound tokens (G1)

#[tokio::test]
async fn bound_token_needs_its_certificate() {
    let s = Setup::new();
    let auth = s.builder().build().unwrap();
    let der = svc();
    let token = s.bound_token(&der);
    let p = ok(&auth, &Req::from(CLIENT).tls(&der).bearer(&token)).await;
    assert_eq!(p.mechanism(), Mechanism::Jwt);
    assert_eq!(p.binding(), Some(&Binding::Mtls { x5t_s256: x5t_s256(&der) }));
    assert!(p.has_scope("orders:read"));
    for req in
        [Req::from(CLIENT).tls(&svc()).bearer(&token), Req::from(CLIENT).bearer(&token), Req::default().bearer(&token)]
    {
        let e = err(&auth, &req).await;
        assert_eq!(signal(&e), (AuthErrorKind::BindingMismatch, 401, Some(INVALID_TOKEN_BINDING.into())));
    }
    // With certificate authentication on, the token still decides; a mismatch is not rescued.
    let auth = s.builder().certificate_authentication(s.cert_auth(IdentityMapping::SubjectCn)).build().unwrap();
    assert_eq!(err(&auth, &Req::from(CLIENT).tls(&svc()).bearer(&token)).await.kind(), AuthErrorKind::BindingMismatch);
    assert_eq!(ok(&auth, &Req::from(CLIENT).tls(&der).bearer(&token)).await.mechanism(), Mechanism::Jwt);
}

#[tokio::test]
async fn dpop_bindings_stay_on_their_scheme() {
    let s = Setup::new();
    let dpop = Dpop::builder().public_origin("https://api.tower-auth.test").clock(s.clock.clone()).build().unwrap();
    let auth = s.builder().dpop(dpop).build().unwrap();
    let der = svc();
    // A DPoP-bound token sent as Bearer, even with a client certificate: refused.
    let key = DpopKey::generate(Algorithm::ES256);
    let dpop_token = s.issuer.token().dpop_bound(&key).sign();
    let e = err(&auth, &Req::from(CLIENT).tls(&der).bearer(&dpop_token)).await;
    assert_eq!(e.kind(), AuthErrorKind::BindingMismatch);
    // A certificate-bound token on the DPoP scheme with a valid proof: refused.
    let cert_token = s.bound_token(&der);
    let proof =
        key.proof_builder("GET", "https://api.tower-auth.test/orders").iat(T0 as i64).access_token(&cert_token).sign();
    let mut req = Req::from(CLIENT).tls(&der).header("dpop", &proof);
    req.authorization = Some(format!("DPoP {cert_token}"));
    assert_eq!(err(&auth, &req).await.kind(), AuthErrorKind::DpopBindingMismatch);
    // The same certificate-bound token as Bearer over its certificate: accepted.
    assert!(ok(&auth, &Req::from(CLIENT).tls(&der).bearer(&cert_token)).await.binding().is_some());
}

#[tokio::test]
async fn introspected_tokens_are_bound_by_the_top_level_cnf() {
    // G2: `cnf.x5t#S256` at the top level of the introspection answer (RFC 8705 §3.2).
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::at_unix(T0);
    issuer.set_clock(clock.clone());
    let introspector = introspector_for(&issuer, &clock).build().unwrap();
    let auth = Authenticator::builder().introspection(introspector).build().unwrap();
    let der = svc();
    let token = issuer.opaque_token().claim("cnf", json!({ "x5t#S256": x5t_s256(&der) })).issue();
    let p = ok(&auth, &Req::from(CLIENT).tls(&der).bearer(&token)).await;
    assert_eq!(p.mechanism(), Mechanism::Introspection);
    assert_eq!(p.binding(), Some(&Binding::Mtls { x5t_s256: x5t_s256(&der) }));
    assert_eq!(err(&auth, &Req::from(CLIENT).tls(&svc()).bearer(&token)).await.kind(), AuthErrorKind::BindingMismatch);
    assert_eq!(err(&auth, &Req::from(CLIENT).bearer(&token)).await.kind(), AuthErrorKind::BindingMismatch);
}

// ---------------------------------------------------------------------------------------------
// Trusted proxies (G3, G4)

fn proxied(format: ProxyHeader, pki: Option<&Pki>) -> ClientCertificates {
    let sources = ClientCertificates::new().trusted_proxies("10.0.0.0/8, ::1".parse().unwrap()).proxy_header(format);
    match pki {
        Some(pki) => sources.proxy_ca_pem(pki.root.cert_pem().as_bytes()).unwrap(),
        None => sources,
    }
}

/// A client certificate (`svc`, DNS name `svc.example`) of a new [`Pki`], its chain, and a token
/// bound to it.
struct Proxied {
    pki: Pki,
    der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    token: String,
}

impl Proxied {
    fn new(s: &Setup) -> Self {
        let pki = Pki::new();
        let der = pki.client("svc", "svc.example");
        let token = s.bound_token(&der);
        Self { chain: pki.chain(), pki, der, token }
    }
}

#[tokio::test]
async fn each_header_format_from_a_trusted_proxy() {
    let s = Setup::new();
    let Proxied { pki, der, chain, token } = Proxied::new(&s);
    for format in formats() {
        let sources = proxied(format.clone(), Some(&pki));
        // Proof of possession over the forwarded certificate; the proxy's own TLS certificate is
        // not the client's.
        let pop = s.builder().client_certificates(sources.clone()).build().unwrap();
        let req = Req::from(PROXY).tls(&svc()).bearer(&token).headers(forwarded(&format, &der, &chain));
        assert_eq!(ok(&pop, &req).await.binding(), Some(&Binding::Mtls { x5t_s256: x5t_s256(&der) }), "{format:?}");
        let no_header = Req::from(PROXY).tls(&der).bearer(&token);
        assert_eq!(err(&pop, &no_header).await.kind(), AuthErrorKind::BindingMismatch, "{format:?}");
        // Authentication: the chain (intermediate from the header, root configured) is verified,
        // except for nginx, whose header carries no intermediates: its chain is not complete.
        let authn = s.authn(sources, IdentityMapping::DnsSan);
        let req = Req::from(PROXY).headers(forwarded(&format, &der, &chain));
        match format {
            ProxyHeader::NginxPem(_) => {
                assert_eq!(err(&authn, &req).await.kind(), AuthErrorKind::InvalidClientCertificate);
            }
            _ => assert_eq!(ok(&authn, &req).await.subject(), "svc.example", "{format:?}"),
        }
    }
}

#[tokio::test]
async fn responses_decided_by_a_forwarded_certificate_vary_on_its_header() {
    // RFC 9440 §2.4: a response selected by `Client-Cert` is `Vary: Client-Cert` (or uncacheable).
    let s = Setup::new();
    let Proxied { pki, der, chain, token } = Proxied::new(&s);
    for (format, vary) in formats().into_iter().zip(["Client-Cert", "x-ssl-client-cert", "x-forwarded-client-cert"]) {
        let auth = s.authn(proxied(format.clone(), Some(&pki)), IdentityMapping::DnsSan);
        let mut requests = vec![Req::from(PROXY).bearer(&token).headers(forwarded(&format, &der, &chain))];
        // nginx forwards no intermediates: its certificates from this PKI bind but do not authenticate.
        if !matches!(format, ProxyHeader::NginxPem(_)) {
            requests.push(Req::from(PROXY).headers(forwarded(&format, &der, &chain)));
        }
        for req in requests {
            let done = auth.authenticate_request(&req.parts()).await.unwrap();
            assert_eq!(done.response_headers(), [("vary", vary.to_owned())], "{format:?}");
        }
        // The TLS connection's certificate, or a token alone: nothing to vary on.
        let done = auth.authenticate_request(&Req::from(CLIENT).tls(&der).bearer(&token).parts()).await.unwrap();
        assert!(done.response_headers().is_empty());
        let done = auth.authenticate_request(&Req::from(CLIENT).tls(&der).parts()).await.unwrap();
        assert!(done.response_headers().is_empty());
        let plain = s.issuer.token().sign();
        let done = auth
            .authenticate_request(&Req::from(PROXY).bearer(&plain).headers(forwarded(&format, &der, &chain)).parts())
            .await
            .unwrap();
        assert!(done.response_headers().is_empty());
    }
}

#[tokio::test]
async fn a_chain_split_over_several_field_lines_is_not_read() {
    // RFC 9440 §2.3 lets a proxy split the list; the request view does not combine field lines,
    // so the intermediates are unknown: binding works, authentication needing them does not.
    let s = Setup::new();
    let pki = Pki::new();
    let der = pki.client("svc", "svc.example");
    let sources = proxied(ProxyHeader::ClientCert, Some(&pki));
    let split = forwarded(&ProxyHeader::ClientCert, &der, &[])
        .into_iter()
        .chain(
            forwarded(&ProxyHeader::ClientCert, pki.intermediate.cert_der(), &[])
                .into_iter()
                .map(|(_, v)| ("client-cert-chain".to_owned(), v)),
        )
        .chain([("client-cert-chain".to_owned(), client_cert_field(b"\x01"))])
        .collect::<Headers>();
    let pop = s.builder().client_certificates(sources.clone()).build().unwrap();
    assert!(ok(&pop, &Req::from(PROXY).bearer(&s.bound_token(&der)).headers(split.clone())).await.binding().is_some());
    let authn = s.authn(sources, IdentityMapping::DnsSan);
    let e = err(&authn, &Req::from(PROXY).headers(split)).await;
    assert_eq!(signal(&e), (AuthErrorKind::InvalidClientCertificate, 401, Some(INVALID_CERTIFICATE.into())));
}

#[tokio::test]
async fn nginx_certificates_chaining_directly_to_the_proxy_ca_authenticate() {
    // nginx forwards the end-entity certificate only: it authenticates when the proxy CA issued it.
    let s = Setup::new();
    let ca = TestCa::new("Issuing CA");
    let der = ca.issue(cert("svc")).der;
    let format = ProxyHeader::NginxPem("X-SSL-Client-Cert".into());
    let sources = proxied(format.clone(), None).proxy_ca_pem(ca.cert_pem().as_bytes()).unwrap();
    let auth = s.authn(sources, IdentityMapping::SubjectCn);
    assert_eq!(ok(&auth, &Req::from(PROXY).headers(forwarded(&format, &der, &[]))).await.subject(), "svc");
}

#[tokio::test]
async fn spoofed_headers_from_untrusted_peers_change_nothing() {
    // G4, RFC 9440 §4: the same answer with and without the header, whatever it holds.
    let s = Setup::new();
    let Proxied { pki, der, chain, token } = Proxied::new(&s);
    for format in formats() {
        let sources = proxied(format.clone(), Some(&pki));
        let pop = s.builder().client_certificates(sources.clone()).build().unwrap();
        let authn = s.authn(sources, IdentityMapping::DnsSan);
        let garbage: Vec<(String, String)> =
            forwarded(&format, &der, &chain).into_iter().map(|(n, _)| (n, ":not base64!: %zz \"".to_owned())).collect();
        for headers in [forwarded(&format, &der, &chain), garbage] {
            for peer in [Some(CLIENT), Some("[2001:db8::1]:1"), None] {
                let base = Req { peer, ..Req::default() };
                let spoofed = Req { peer, headers: headers.clone(), ..Req::default() };
                // Certificate authentication: no certificate → 401 without an error code.
                let (a, b) = (err(&authn, &base).await, err(&authn, &spoofed).await);
                assert_eq!(signal(&a), signal(&b), "{format:?} {peer:?}");
                assert_eq!(b.kind(), AuthErrorKind::MissingCredentials);
                // A bound token: still no certificate → binding mismatch.
                let (a, b) = (err(&pop, &base.bearer(&token)).await, err(&pop, &spoofed.bearer(&token)).await);
                assert_eq!(signal(&a), signal(&b), "{format:?} {peer:?}");
                assert_eq!(b.kind(), AuthErrorKind::BindingMismatch);
            }
            // An untrusted peer's own TLS certificate is what counts, header or not.
            let other = svc();
            let with_tls = Req::from(CLIENT).tls(&other).headers(headers.clone());
            assert_eq!(ok(&authn, &with_tls).await.subject(), "svc.example");
            assert_eq!(err(&pop, &with_tls.bearer(&token)).await.kind(), AuthErrorKind::BindingMismatch);
        }
    }
}

#[tokio::test]
async fn proxied_certificates_outside_the_proxy_ca_bind_but_do_not_authenticate() {
    // G3: a self-signed certificate, or one from another CA, through a trusted proxy.
    let s = Setup::new();
    let pki = Pki::new();
    let other_pki = Pki::new();
    let foreign = other_pki.client("svc", "svc.example");
    let self_signed = svc();
    for format in formats() {
        for (der, chain) in [(&foreign, other_pki.chain()), (&self_signed, vec![])] {
            let headers = forwarded(&format, der, &chain);
            for ca in [Some(&pki), None] {
                let sources = proxied(format.clone(), ca);
                let authn = s.authn(sources.clone(), IdentityMapping::DnsSan);
                let e = err(&authn, &Req::from(PROXY).headers(headers.clone())).await;
                assert_eq!(
                    signal(&e),
                    (AuthErrorKind::InvalidClientCertificate, 401, Some(INVALID_CERTIFICATE.into()))
                );
                // Proof of possession needs no chain.
                let pop = s.builder().client_certificates(sources).build().unwrap();
                let req = Req::from(PROXY).bearer(&s.bound_token(der)).headers(headers.clone());
                assert_eq!(ok(&pop, &req).await.binding(), Some(&Binding::Mtls { x5t_s256: x5t_s256(der) }));
            }
        }
    }
}

#[tokio::test]
async fn malformed_headers_from_a_trusted_proxy() {
    // Undecodable header → 400 invalid_request; decodes but is not X.509 → 401 invalid_token.
    let s = Setup::new();
    let der = svc();
    let token = s.bound_token(&der);
    let truncated = &der[..der.len() - 7];
    let client_cert = ProxyHeader::ClientCert;
    let nginx = ProxyHeader::NginxPem("X-SSL-Client-Cert".into());
    let xfcc = ProxyHeader::Xfcc;
    let h = |n: &str, v: &str| vec![(n.to_owned(), v.to_owned())];
    let cases: Vec<(&ProxyHeader, Headers, AuthErrorKind, &str)> = vec![
        (&client_cert, h("client-cert", ":not base64!:"), AuthErrorKind::MalformedRequest, "bad base64"),
        (&client_cert, h("client-cert", "MIIB"), AuthErrorKind::MalformedRequest, "not a byte sequence"),
        (
            &client_cert,
            [forwarded(&client_cert, &der, &[]), forwarded(&client_cert, &der, &[])].concat(),
            AuthErrorKind::MalformedRequest,
            "two Client-Cert fields",
        ),
        (
            &client_cert,
            [forwarded(&client_cert, &der, &[]), h("client-cert-chain", "(:AAAA:)")].concat(),
            AuthErrorKind::MalformedRequest,
            "chain with an inner list",
        ),
        (
            &client_cert,
            forwarded(&client_cert, truncated, &[]),
            AuthErrorKind::InvalidClientCertificate,
            "truncated DER",
        ),
        (&client_cert, h("client-cert", ":AAAA:"), AuthErrorKind::InvalidClientCertificate, "not X.509"),
        (
            &client_cert,
            h("client-cert", &format!(":{}:", "A".repeat(70_000))),
            AuthErrorKind::MalformedRequest,
            "oversized",
        ),
        (
            &nginx,
            h("x-ssl-client-cert", "-----BEGIN%20CERTIFICATE-----%0A%21%21%21%0A-----END%20CERTIFICATE-----%0A"),
            AuthErrorKind::MalformedRequest,
            "bad PEM",
        ),
        (&nginx, h("x-ssl-client-cert", "%E0%A4%A"), AuthErrorKind::MalformedRequest, "bad URL escape"),
        (&nginx, forwarded(&nginx, truncated, &[]), AuthErrorKind::InvalidClientCertificate, "nginx truncated DER"),
        (&xfcc, h("x-forwarded-client-cert", "By=\"open"), AuthErrorKind::MalformedRequest, "XFCC syntax"),
        (
            &xfcc,
            h("x-forwarded-client-cert", &format!("Hash=00;Cert=\"{}\"", nginx_escaped_pem(&der))),
            AuthErrorKind::MalformedRequest,
            "XFCC Hash mismatch",
        ),
        (&xfcc, forwarded(&xfcc, truncated, &[]), AuthErrorKind::InvalidClientCertificate, "XFCC truncated DER"),
    ];
    for (format, headers, kind, what) in cases {
        let sources = proxied(format.clone(), None);
        let expected = match kind {
            AuthErrorKind::MalformedRequest => (kind, 400, Some(INVALID_REQUEST.to_owned())),
            _ => (kind, 401, Some(INVALID_CERTIFICATE.to_owned())),
        };
        // The same answer for a bound token and for certificate authentication.
        let pop = s.builder().client_certificates(sources.clone()).build().unwrap();
        let e = err(&pop, &Req::from(PROXY).bearer(&token).headers(headers.clone())).await;
        assert_eq!(signal(&e), expected, "{what} (bound token)");
        let authn = s.authn(sources, IdentityMapping::SubjectCn);
        let e = err(&authn, &Req::from(PROXY).headers(headers)).await;
        assert_eq!(signal(&e), expected, "{what} (certificate authentication)");
    }
}

#[tokio::test]
async fn a_malformed_tls_certificate_is_refused() {
    // The server adapter hands over whatever the TLS stack gave it; bytes that are not X.509 → 401.
    let s = Setup::new();
    let auth = s.builder().certificate_authentication(s.cert_auth(IdentityMapping::SubjectCn)).build().unwrap();
    let e = err(&auth, &Req::from(CLIENT).tls(b"\x30\x03\x02\x01\x01")).await;
    assert_eq!(signal(&e), (AuthErrorKind::InvalidClientCertificate, 401, Some(INVALID_CERTIFICATE.into())));
}

#[test]
fn configuration_errors() {
    let s = Setup::new();
    let bad_header = ClientCertificates::new().proxy_header(ProxyHeader::NginxPem("x ssl cert".into()));
    assert!(s.builder().client_certificates(bad_header).build().is_err());
    assert!(ClientCertificates::new().proxy_ca_pem(b"no certificate here").is_err());
    assert!("10.0.0.0/8, nonsense".parse::<TrustedProxies>().is_err());
    let e = "10.0.0.0/8,".parse::<TrustedProxies>().unwrap_err();
    assert!(e.message().contains("empty entry"), "{e}");
}
