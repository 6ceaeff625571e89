//! Client certificates end to end (RFC 8705, RFC 9440; RFC-CHECKLIST G1–G5), on axum and
//! actix-web over real TLS and HTTP on 127.0.0.1.
//!
//! A test PKI from the test kit (`TestCa`): one CA issuing the server certificate (127.0.0.1, localhost) and two
//! client certificates (one with a SPIFFE ID, one with a DNS name only), and a second CA issuing a
//! SPIFFE certificate the servers do not trust. reqwest presents the client certificates.
//!
//! | part | server | checks |
//! |---|---|---|
//! | direct TLS (G1, G3, G5) | `serve_tls`, client CA = the test CA | certificate authentication (SPIFFE ID → `sub`), no certificate → bare 401, certificate without the mapped identity → 401, certificate of another CA → handshake refused (and the server keeps serving), `cnf.x5t#S256` tokens accepted over their certificate only |
//! | trusted proxy (G4) | plain HTTP, `127.0.0.1/32` trusted, proxy CA = the test CA | `Client-Cert` authenticates and binds; nginx and XFCC formats; a certificate of another CA does not authenticate |
//! | untrusted peer (G4) | plain HTTP, only `10.0.0.0/8` trusted | the header changes nothing: the same answer as without it |
//! | malformed headers | trusted proxy | bad base64, bad PEM, bad escapes, XFCC syntax, two fields → 400 `invalid_request`; truncated or garbage DER → 401 `invalid_token`; never a 500 |
//!
//! Every answer is checked for its exact status and exact `WWW-Authenticate` (realm `test`).

use serde_json::{Value, json};
use tower_auth::Authenticator;
use tower_auth::jwt::{Issuer, JwtValidator};
use tower_auth::mtls::{CertificateAuthentication, ClientCertificates, IdentityMapping, ProxyHeader, TrustedProxies};
use tower_auth::testkit::{ClientCert, IssuedCert, LocalIssuer, TestCa, client_cert_field, nginx_escaped_pem};
use tower_auth_tests::{Framework, TestServer, http_client, serve, serve_tls};

const AUD: &str = "https://api.tower-auth.test";
const SPIFFE_ID: &str = "spiffe://tower-auth.test/ns/payments/sa/billing";

// The exact challenges (H1, realm "test").
const NO_CREDENTIALS: &str = r#"Bearer realm="test""#;
const BINDING: &str = r#"Bearer realm="test", error="invalid_token", error_description="Invalid token binding""#;
const BAD_CERTIFICATE: &str =
    r#"Bearer realm="test", error="invalid_token", error_description="Invalid client certificate""#;
const MALFORMED: &str = r#"Bearer realm="test", error="invalid_request", error_description="Malformed credentials""#;

// ---------------------------------------------------------------------------------------------
// The test PKI

struct Pki {
    ca: TestCa,
    server: IssuedCert,
    /// SPIFFE ID `SPIFFE_ID`, from the trusted CA.
    spiffe: IssuedCert,
    /// Only a DNS name, from the trusted CA: no identity under the SPIFFE mapping.
    dns: IssuedCert,
    /// The same SPIFFE ID, from a CA the servers do not trust.
    foreign: IssuedCert,
}

impl Pki {
    fn new() -> Self {
        let ca = TestCa::new("tower-auth test CA");
        let spiffe = |ca: &TestCa| ca.issue(ClientCert::cn("billing").spiffe(SPIFFE_ID));
        Self {
            server: ca.server_cert(["127.0.0.1", "localhost"]),
            spiffe: spiffe(&ca),
            dns: ca.issue(ClientCert::cn("reports").dns("reports.tower-auth.test")),
            foreign: spiffe(&TestCa::new("another CA")),
            ca,
        }
    }

    /// The server's TLS configuration, requesting client certificates of the test CA.
    fn server_tls(&self) -> tower_auth::tls::rustls::ServerConfig {
        self.ca.server_tls(&self.server)
    }

    /// An HTTPS client trusting only the test CA, presenting `identity` when given.
    fn client(&self, identity: Option<&IssuedCert>) -> reqwest::Client {
        self.ca.https_client(identity)
    }
}

// ---------------------------------------------------------------------------------------------
// Engines

fn issuer() -> LocalIssuer {
    LocalIssuer::new("https://issuer.tower-auth.test")
}

/// JWT validation plus `certificates`; with `authenticate`, certificate authentication by SPIFFE ID
/// granting `orders:read`.
fn engine(issuer: &LocalIssuer, certificates: ClientCertificates, authenticate: bool) -> Authenticator {
    let validator = JwtValidator::builder()
        .issuer(Issuer::with_jwks(issuer.issuer(), issuer.jwks_json()))
        .audience(AUD)
        .build()
        .expect("validator");
    let mut builder = Authenticator::builder().jwt(validator).realm("test").client_certificates(certificates);
    if authenticate {
        builder = builder.certificate_authentication(
            CertificateAuthentication::new(IdentityMapping::SpiffeId).scopes(["orders:read"]),
        );
    }
    builder.build().expect("authenticator")
}

/// A token bound to `leaf` (`cnf.x5t#S256`, RFC 8705 §3.1).
fn bound_token(issuer: &LocalIssuer, leaf: &IssuedCert) -> String {
    issuer
        .token()
        .audience(AUD)
        .subject("alice")
        .scope("orders:read")
        .claim("cnf", json!({ "x5t#S256": leaf.x5t_s256() }))
        .sign()
}

fn proxies(list: &str) -> TrustedProxies {
    list.parse().expect("trusted proxies")
}

/// Certificates from trusted proxies at 127.0.0.1 in `header`, chained to the test CA.
fn trusted(pki: &Pki, header: ProxyHeader) -> ClientCertificates {
    ClientCertificates::new()
        .trusted_proxies(proxies("127.0.0.1/32"))
        .proxy_header(header)
        .proxy_ca_pem(pki.ca.cert_pem().as_bytes())
        .expect("proxy CA")
}

// ---------------------------------------------------------------------------------------------
// Requests and answers

#[derive(Debug)]
struct Answer {
    status: u16,
    challenges: Vec<String>,
    content_type: String,
    /// Every `Vary` field value, lower-cased.
    vary: Vec<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

async fn get(
    client: &reqwest::Client,
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, reqwest::Error> {
    let mut request = client.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let challenges = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let vary = response
        .headers()
        .get_all("vary")
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes()).split(',').map(|n| n.trim().to_ascii_lowercase()).collect::<Vec<_>>()
        })
        .collect();
    let body = response.text().await?;
    Ok(Answer { status, challenges, content_type, vary, body })
}

/// The answer, which must come.
async fn answer(client: &reqwest::Client, server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Answer {
    get(client, server, path, headers)
        .await
        .unwrap_or_else(|e| panic!("{}: GET {path} failed: {e}", server.framework()))
}

/// A refusal: exactly `status` and `challenge`, with a problem document.
#[track_caller]
fn assert_refused(ans: &Answer, status: u16, challenge: &str, what: &str) {
    assert_eq!(ans.status, status, "{what}: {ans:?}");
    assert_eq!(ans.challenges, [challenge], "{what}: {ans:?}");
    assert!(ans.content_type.starts_with("application/problem+json"), "{what}: {ans:?}");
}

/// `/me` of a certificate principal authenticated by `SPIFFE_ID`.
#[track_caller]
fn assert_certificate_principal(ans: &Answer, what: &str) {
    assert_eq!(ans.status, 200, "{what}: {ans:?}");
    let me = ans.json();
    assert_eq!(me["sub"], SPIFFE_ID, "{what}");
    assert_eq!(me["kind"], "client_cert", "{what}");
    assert_eq!(me["bound"], "mtls", "{what}");
    assert_eq!(me["scopes"], json!(["orders:read"]), "{what}");
}

/// `/me` of the `alice` token bound to a certificate.
#[track_caller]
fn assert_bound_token_principal(ans: &Answer, what: &str) {
    assert_eq!(ans.status, 200, "{what}: {ans:?}");
    let me = ans.json();
    assert_eq!(me["sub"], "alice", "{what}");
    assert_eq!(me["kind"], "jwt", "{what}");
    assert_eq!(me["bound"], "mtls", "{what}");
}

// ---------------------------------------------------------------------------------------------
// Direct TLS

/// G1, G3, G5 over a TLS connection the server terminates, on both frameworks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_over_tls() {
    let pki = Pki::new();
    let issuer = issuer();
    let anonymous = pki.client(None);
    let spiffe = pki.client(Some(&pki.spiffe));
    let dns = pki.client(Some(&pki.dns));
    let foreign = pki.client(Some(&pki.foreign));
    let bound = bound_token(&issuer, &pki.spiffe);
    let bearer = |token: &str| format!("Bearer {token}");
    for framework in Framework::ALL {
        let auth = engine(&issuer, ClientCertificates::new(), true);
        let server = serve_tls(framework, auth, pki.server_tls(), &anonymous).await.expect("TLS server");
        let what = |case: &str| format!("{framework}: {case}");

        // Certificate authentication: the SPIFFE ID is the subject, the configured scopes apply.
        let me = answer(&spiffe, &server, "/me", &[]).await;
        assert_certificate_principal(&me, &what("SPIFFE certificate on /me"));
        let orders = answer(&spiffe, &server, "/orders", &[]).await;
        assert_eq!((orders.status, orders.json()["for"].clone()), (200, json!(SPIFFE_ID)), "{}", what("/orders"));

        // No certificate (the handshake admits the client) and no other credential: a bare 401.
        let none = answer(&anonymous, &server, "/me", &[]).await;
        assert_refused(&none, 401, NO_CREDENTIALS, &what("no certificate"));

        // A certificate of the trusted CA without a SPIFFE ID has no identity under the mapping.
        let no_identity = answer(&dns, &server, "/me", &[]).await;
        assert_refused(&no_identity, 401, BAD_CERTIFICATE, &what("certificate without a SPIFFE ID"));

        // A certificate of another CA fails the handshake; the server keeps accepting.
        assert!(get(&foreign, &server, "/healthz", &[]).await.is_err(), "{}", what("foreign CA accepted"));
        assert_certificate_principal(&answer(&spiffe, &server, "/me", &[]).await, &what("after a refused handshake"));

        // G1: a token bound to the SPIFFE certificate, over that certificate: the token wins.
        let ok = answer(&spiffe, &server, "/me", &[("authorization", &bearer(&bound))]).await;
        assert_bound_token_principal(&ok, &what("bound token, its certificate"));
        // ... over another certificate of the same CA, or none: 401 invalid_token.
        let other = answer(&dns, &server, "/me", &[("authorization", &bearer(&bound))]).await;
        assert_refused(&other, 401, BINDING, &what("bound token, another certificate"));
        let without = answer(&anonymous, &server, "/me", &[("authorization", &bearer(&bound))]).await;
        assert_refused(&without, 401, BINDING, &what("bound token, no certificate"));

        // An unbound token over a connection without a certificate works as without TLS.
        let plain = issuer.token().audience(AUD).subject("bob").sign();
        let me = answer(&anonymous, &server, "/me", &[("authorization", &bearer(&plain))]).await;
        assert_eq!(me.status, 200, "{}", what("unbound token"));
        assert_eq!((me.json()["sub"].clone(), me.json()["bound"].clone()), (json!("bob"), Value::Null));
    }
}

/// G3: proof of possession does not need certificate authentication; the TLS connection still
/// provides the certificate a token is bound to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_tokens_without_certificate_authentication() {
    let pki = Pki::new();
    let issuer = issuer();
    let anonymous = pki.client(None);
    let spiffe = pki.client(Some(&pki.spiffe));
    let dns = pki.client(Some(&pki.dns));
    let bound = format!("Bearer {}", bound_token(&issuer, &pki.dns));
    for framework in Framework::ALL {
        let auth = engine(&issuer, ClientCertificates::new(), false);
        let server = serve_tls(framework, auth, pki.server_tls(), &anonymous).await.expect("TLS server");
        let what = |case: &str| format!("{framework}: {case}");
        // A certificate alone is no credential here.
        assert_refused(&answer(&spiffe, &server, "/me", &[]).await, 401, NO_CREDENTIALS, &what("certificate alone"));
        let ok = answer(&dns, &server, "/me", &[("authorization", &bound)]).await;
        assert_bound_token_principal(&ok, &what("bound token, its certificate"));
        let other = answer(&spiffe, &server, "/me", &[("authorization", &bound)]).await;
        assert_refused(&other, 401, BINDING, &what("bound token, another certificate"));
    }
}

// ---------------------------------------------------------------------------------------------
// Trusted and untrusted proxies (plain HTTP from 127.0.0.1)

/// G4: `Client-Cert` (RFC 9440) from a trusted proxy authenticates and binds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cert_header_from_a_trusted_proxy() {
    let pki = Pki::new();
    let issuer = issuer();
    let client = http_client();
    let spiffe = client_cert_field(&pki.spiffe.der);
    let dns = client_cert_field(&pki.dns.der);
    let foreign = client_cert_field(&pki.foreign.der);
    let bound = format!("Bearer {}", bound_token(&issuer, &pki.spiffe));
    for framework in Framework::ALL {
        let auth = engine(&issuer, trusted(&pki, ProxyHeader::ClientCert), true);
        let server = serve(framework, auth, None).await.expect("server");
        let what = |case: &str| format!("{framework}: {case}");

        let me = answer(&client, &server, "/me", &[("client-cert", &spiffe)]).await;
        assert_certificate_principal(&me, &what("Client-Cert"));
        // RFC 9440 §2.4: a response selected by the field says so.
        assert!(me.vary.iter().any(|v| v == "client-cert"), "{}: Vary {:?}", what("Client-Cert"), me.vary);
        // With its intermediates (none here: an empty chain is a valid List).
        let me = answer(&client, &server, "/me", &[("client-cert", &spiffe), ("client-cert-chain", "")]).await;
        assert_certificate_principal(&me, &what("Client-Cert with an empty Client-Cert-Chain"));

        // A forwarded certificate must chain to the proxy CA to authenticate.
        let refused = answer(&client, &server, "/me", &[("client-cert", &foreign)]).await;
        assert_refused(&refused, 401, BAD_CERTIFICATE, &what("Client-Cert of another CA"));

        // G1 with the forwarded certificate.
        let ok = answer(&client, &server, "/me", &[("authorization", &bound), ("client-cert", &spiffe)]).await;
        assert_bound_token_principal(&ok, &what("bound token, its certificate forwarded"));
        let other = answer(&client, &server, "/me", &[("authorization", &bound), ("client-cert", &dns)]).await;
        assert_refused(&other, 401, BINDING, &what("bound token, another certificate forwarded"));
        let without = answer(&client, &server, "/me", &[("authorization", &bound)]).await;
        assert_refused(&without, 401, BINDING, &what("bound token, nothing forwarded"));

        // RFC 9440 §2.3: a chain without the certificate is no certificate.
        let chain_only = answer(&client, &server, "/me", &[("client-cert-chain", &spiffe)]).await;
        assert_refused(&chain_only, 401, NO_CREDENTIALS, &what("Client-Cert-Chain alone"));
    }
}

/// G4: the non-standard formats behind configuration, nginx escaped PEM and Envoy XFCC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_and_xfcc_headers_from_a_trusted_proxy() {
    let pki = Pki::new();
    let issuer = issuer();
    let client = http_client();
    let escaped = nginx_escaped_pem(&pki.spiffe.der);
    let xfcc = format!("By=spiffe://tower-auth.test/api;Cert=\"{escaped}\";URI={SPIFFE_ID}");
    for framework in Framework::ALL {
        let what = |case: &str| format!("{framework}: {case}");
        let nginx = ProxyHeader::NginxPem("X-SSL-Client-Cert".to_owned());
        let server = serve(framework, engine(&issuer, trusted(&pki, nginx), true), None).await.expect("server");
        let me = answer(&client, &server, "/me", &[("x-ssl-client-cert", &escaped)]).await;
        assert_certificate_principal(&me, &what("nginx escaped PEM"));
        assert!(me.vary.iter().any(|v| v == "x-ssl-client-cert"), "{}: Vary {:?}", what("nginx"), me.vary);
        // nginx sends an empty value when the client had no certificate.
        let empty = answer(&client, &server, "/me", &[("x-ssl-client-cert", "")]).await;
        assert_refused(&empty, 401, NO_CREDENTIALS, &what("nginx: empty value"));
        for (case, value) in [
            ("bad escape", "%zz".to_owned()),
            ("bad PEM", "-----BEGIN%20CERTIFICATE-----%0A%21%21%0A-----END%20CERTIFICATE-----%0A".to_owned()),
            ("truncated PEM", escaped[..escaped.len() / 2].to_owned()),
            ("no PEM", "hello".to_owned()),
        ] {
            let ans = answer(&client, &server, "/me", &[("x-ssl-client-cert", &value)]).await;
            assert_refused(&ans, 400, MALFORMED, &what(&format!("nginx: {case}")));
        }
        drop(server);

        let server =
            serve(framework, engine(&issuer, trusted(&pki, ProxyHeader::Xfcc), true), None).await.expect("server");
        let me = answer(&client, &server, "/me", &[("x-forwarded-client-cert", &xfcc)]).await;
        assert_certificate_principal(&me, &what("XFCC"));
        for (case, value) in [
            ("unterminated quote", format!("By=x;Cert=\"{escaped}")),
            ("empty pair", "By=x;;Cert=\"\"".to_owned()),
            ("no value", "By".to_owned()),
        ] {
            let ans = answer(&client, &server, "/me", &[("x-forwarded-client-cert", &value)]).await;
            assert_refused(&ans, 400, MALFORMED, &what(&format!("XFCC: {case}")));
        }
    }
}

/// G4, RFC 9440 §4: from a peer outside the trusted proxies the header is ignored entirely; the
/// answer is the one the request gets without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cert_header_from_an_untrusted_peer_is_ignored() {
    let pki = Pki::new();
    let issuer = issuer();
    let client = http_client();
    let spiffe = client_cert_field(&pki.spiffe.der);
    let bound = format!("Bearer {}", bound_token(&issuer, &pki.spiffe));
    let untrusted = || {
        ClientCertificates::new()
            .trusted_proxies(proxies("10.0.0.0/8, 192.168.0.0/16"))
            .proxy_ca_pem(pki.ca.cert_pem().as_bytes())
            .expect("proxy CA")
    };
    for framework in Framework::ALL {
        let server = serve(framework, engine(&issuer, untrusted(), true), None).await.expect("server");
        let what = |case: &str| format!("{framework}: {case}");
        for (case, headers, status, challenge) in [
            ("certificate alone", vec![], 401, NO_CREDENTIALS),
            ("bound token", vec![("authorization", bound.as_str())], 401, BINDING),
        ] {
            let without = answer(&client, &server, "/me", &headers).await;
            assert_refused(&without, status, challenge, &what(&format!("{case}, no header")));
            for value in [spiffe.as_str(), ":!!!:", "MIIB"] {
                let mut with = headers.clone();
                with.push(("client-cert", value));
                let ans = answer(&client, &server, "/me", &with).await;
                assert_eq!(
                    (ans.status, &ans.challenges, &ans.body),
                    (without.status, &without.challenges, &without.body),
                    "{}",
                    what(&format!("{case}, Client-Cert {value:.12}… from an untrusted peer"))
                );
            }
        }
    }
}

/// Garbage in the certificate header of a trusted proxy: 400 for what does not decode, 401 for
/// decoded bytes that are no certificate; never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_client_cert_headers() {
    let pki = Pki::new();
    let issuer = issuer();
    let client = http_client();
    let der = &pki.spiffe.der;
    let spiffe = client_cert_field(der);
    let truncated = client_cert_field(&der[..der.len() / 2]);
    let one_byte_short = client_cert_field(&der[..der.len() - 1]);
    let garbage = client_cert_field(b"this is not a certificate");
    let trailing = client_cert_field(&[der.as_slice(), &[0u8]].concat());
    let malformed: [(&str, Vec<&str>); 9] = [
        ("bad base64", vec![":!!!:"]),
        ("base64url alphabet", vec![":abc-_:"]),
        ("not a Byte Sequence", vec!["MIIB"]),
        ("a string", vec!["\"MIIB\""]),
        ("a list", vec![":AAAA:, :AAAA:"]),
        ("unterminated", vec![":AAAA"]),
        ("empty", vec![""]),
        ("two Client-Cert fields", vec![spiffe.as_str(), spiffe.as_str()]),
        ("two fields, one garbage", vec![spiffe.as_str(), ":!!!:"]),
    ];
    let not_certificates = [
        ("truncated DER", &truncated),
        ("one byte short", &one_byte_short),
        ("garbage DER", &garbage),
        ("trailing byte", &trailing),
    ];
    for framework in Framework::ALL {
        let server = serve(framework, engine(&issuer, trusted(&pki, ProxyHeader::ClientCert), true), None)
            .await
            .expect("server");
        let what = |case: &str| format!("{framework}: {case}");
        for (case, values) in &malformed {
            let headers: Vec<(&str, &str)> = values.iter().map(|v| ("client-cert", *v)).collect();
            let ans = answer(&client, &server, "/me", &headers).await;
            assert_refused(&ans, 400, MALFORMED, &what(case));
        }
        for (case, value) in not_certificates {
            let ans = answer(&client, &server, "/me", &[("client-cert", value)]).await;
            assert_refused(&ans, 401, BAD_CERTIFICATE, &what(case));
        }
        // RFC 9440 §2.3 allows the chain list over several field lines, which is not read: this
        // certificate needs no intermediate and still authenticates.
        let chain =
            [("client-cert", spiffe.as_str()), ("client-cert-chain", ":AAAA:"), ("client-cert-chain", ":AAAA:")];
        assert_certificate_principal(&answer(&client, &server, "/me", &chain).await, &what("chain in two lines"));
        // A chain field that does not decode is malformed.
        let ans = answer(&client, &server, "/me", &[("client-cert", &spiffe), ("client-cert-chain", ":AAAA:,")]).await;
        assert_refused(&ans, 400, MALFORMED, &what("bad Client-Cert-Chain"));
        // The server is fine afterwards.
        assert_certificate_principal(
            &answer(&client, &server, "/me", &[("client-cert", &spiffe)]).await,
            &what("after"),
        );
    }
}
