//! Certificates from rcgen: parsing, sources, proxy chains, identity mapping (RFC-CHECKLIST G).

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;

use super::*;
use crate::clock::ManualClock;
use crate::test_pki::{ClientCert, TestCa, certificate_pem, client_cert_field as sf, nginx_escaped_pem};
use crate::view::{ClientCertificate, PeerAddr};

const T0: u64 = 1_700_000_000; // 2023-11-14

/// A certificate with subject `CN=cn`, valid from 2023-01-01 to 2024-01-01 (around `T0`).
fn leaf(cn: &str) -> ClientCert {
    ClientCert::cn(cn).validity((2023, 1, 1), (2024, 1, 1))
}

fn self_signed(cert: ClientCert) -> Vec<u8> {
    cert.self_signed().der
}

fn request(peer: &str, tls: Option<&[u8]>, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut req = http::Request::builder().uri("/x");
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let (mut parts, ()) = req.body(()).unwrap().into_parts();
    parts.extensions.insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
    if let Some(der) = tls {
        parts.extensions.insert(ClientCertificate(Arc::from(der)));
    }
    parts
}

fn proxies() -> TrustedProxies {
    "10.0.0.0/8".parse().unwrap()
}

#[test]
fn parses_names_validity_serial_and_thumbprint() {
    let der = self_signed(
        leaf("client one")
            .dns("a.example")
            .dns("b.example")
            .spiffe("spiffe://example.org/svc")
            .email("ops@example.org")
            .organization("Example")
            .serial(&[0x00, 0x8f, 0x10]),
    );
    let c = Certificate::from_der(&der).unwrap();
    assert_eq!(c.subject_cn(), Some("client one"));
    assert!(c.subject().contains("CN=client one") && c.subject().contains("O=Example"), "{}", c.subject());
    assert_eq!(c.dns_names(), ["a.example", "b.example"]);
    assert_eq!(c.uri_sans(), ["spiffe://example.org/svc"]);
    assert_eq!(c.emails(), ["ops@example.org"]);
    assert_eq!(c.spiffe_id(), Some("spiffe://example.org/svc"));
    assert_eq!(c.serial(), "8f10");
    assert_eq!(c.not_before_unix(), 1_672_531_200);
    assert_eq!(c.not_after_unix(), 1_704_067_200);
    assert_eq!(c.x5t_s256(), x5t_s256(&der));
    assert_eq!(c.der(), der.as_slice());
    // G2: base64url(SHA-256(DER)) without padding, recomputed independently.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    assert_eq!(c.x5t_s256(), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest));
    assert!(!format!("{c:?}").contains(&base64::engine::general_purpose::STANDARD.encode(&der)[..40]));
}

#[test]
fn ambiguous_names_give_no_identity() {
    // Two URI SANs: not an X.509-SVID.
    let c = Certificate::from_der(&self_signed(
        leaf("b").spiffe("spiffe://example.org/a").spiffe("spiffe://example.org/b"),
    ))
    .unwrap();
    assert_eq!(c.spiffe_id(), None);
    assert_eq!(c.uri_sans().len(), 2);
    let one_uri_not_spiffe = Certificate::from_der(&self_signed(leaf("x").uri("https://example.org/a"))).unwrap();
    assert_eq!(one_uri_not_spiffe.spiffe_id(), None);
    let no_sans = Certificate::from_der(&self_signed(leaf("x"))).unwrap();
    assert!(no_sans.dns_names().is_empty() && no_sans.emails().is_empty());
}

#[test]
fn truncated_and_padded_der_are_refused() {
    let der = self_signed(leaf("x").dns("a.example"));
    for cut in [1, 10, der.len() / 2, der.len() - 1] {
        assert_eq!(Certificate::from_der(&der[..cut]).unwrap_err(), CertificateError::Malformed, "{cut}");
    }
    let mut trailing = der.clone();
    trailing.push(0);
    assert_eq!(Certificate::from_der(&trailing).unwrap_err(), CertificateError::Malformed);
    let mut flipped = der.clone();
    flipped[1] ^= 0xff;
    assert!(Certificate::from_der(&flipped).is_err());
}

#[test]
fn direct_tls_from_any_peer_that_is_not_a_proxy() {
    let der = self_signed(leaf("x"));
    let sources = ClientCertificates::new();
    let got = sources.certificate(&request("192.0.2.1:1", Some(&der), &[])).unwrap().unwrap();
    assert_eq!(got.der(), der.as_slice());
    assert_eq!(sources.certificate(&request("192.0.2.1:1", None, &[])).unwrap(), None);
    // G4: without trusted proxies the header is never read, even from 10.x.
    let other = self_signed(leaf("y"));
    let spoofed = request("10.0.0.1:1", None, &[("client-cert", &sf(&other))]);
    assert_eq!(sources.certificate(&spoofed).unwrap(), None);
    // Garbage in the TLS extension is not a certificate: 401, not a panic.
    let garbage = request("192.0.2.1:1", Some(b"\x30\x00"), &[]);
    assert_eq!(sources.certificate(&garbage).unwrap_err(), AuthErrorKind::InvalidClientCertificate);
}

#[test]
fn header_only_from_trusted_peers() {
    let tls = self_signed(leaf("proxy"));
    let client = self_signed(leaf("client"));
    let sources = ClientCertificates::new().trusted_proxies(proxies());
    // Untrusted peer: header ignored entirely, even garbage; its TLS certificate is used.
    for value in [sf(&client), ":!!:".into()] {
        let r = request("192.0.2.1:1", Some(&tls), &[("client-cert", &value)]);
        assert_eq!(sources.certificate(&r).unwrap().unwrap().der(), tls.as_slice());
        let r = request("192.0.2.1:1", None, &[("client-cert", &value)]);
        assert_eq!(sources.certificate(&r).unwrap(), None);
    }
    // Trusted peer: the header; the connection's own certificate (the proxy's) never stands in.
    let r = request("10.1.2.3:1", Some(&tls), &[("client-cert", &sf(&client))]);
    let got = sources.resolve(&r).unwrap().unwrap();
    assert_eq!((got.certificate.der(), got.source), (client.as_slice(), Source::Proxy));
    assert_eq!(sources.certificate(&request("10.1.2.3:1", Some(&tls), &[])).unwrap(), None);
    // IPv4-mapped IPv6 peers match IPv4 networks.
    let r = request("[::ffff:10.1.2.3]:1", None, &[("client-cert", &sf(&client))]);
    assert!(sources.certificate(&r).unwrap().is_some());
}

#[test]
fn client_cert_header_errors() {
    let client = self_signed(leaf("client"));
    let sources = ClientCertificates::new().trusted_proxies(proxies());
    let peer = "10.0.0.9:1";
    let two = {
        let mut r = request(peer, None, &[("client-cert", &sf(&client))]);
        r.headers.append("client-cert", sf(&client).parse().unwrap());
        r
    };
    assert_eq!(sources.certificate(&two).unwrap_err(), AuthErrorKind::MalformedRequest);
    for bad in [":not base64!:", "MIIB", ":=:"] {
        let r = request(peer, None, &[("client-cert", bad)]);
        assert_eq!(sources.certificate(&r).unwrap_err(), AuthErrorKind::MalformedRequest, "{bad}");
    }
    // Decodes, but is not X.509: 401.
    let truncated = request(peer, None, &[("client-cert", &sf(&client[..client.len() - 5]))]);
    assert_eq!(sources.certificate(&truncated).unwrap_err(), AuthErrorKind::InvalidClientCertificate);
    // A chain alone is no certificate.
    let chain_only = request(peer, None, &[("client-cert-chain", &sf(&client))]);
    assert_eq!(sources.certificate(&chain_only).unwrap(), None);
    let bad_chain = request(peer, None, &[("client-cert", &sf(&client)), ("client-cert-chain", "x")]);
    assert_eq!(sources.certificate(&bad_chain).unwrap_err(), AuthErrorKind::MalformedRequest);
}

#[test]
fn nginx_and_xfcc_headers() {
    let client = self_signed(leaf("client"));
    let escaped = nginx_escaped_pem(&client);
    let nginx = ClientCertificates::new()
        .trusted_proxies(proxies())
        .proxy_header(ProxyHeader::NginxPem("X-SSL-Client-Cert".into()));
    let r = request("10.0.0.1:1", None, &[("x-ssl-client-cert", &escaped), ("client-cert", ":!!:")]);
    assert_eq!(nginx.certificate(&r).unwrap().unwrap().der(), client.as_slice());
    let r = request("10.0.0.1:1", None, &[("x-ssl-client-cert", "-----BEGIN%20CERTIFICATE-----%0A%25%0A")]);
    assert_eq!(nginx.certificate(&r).unwrap_err(), AuthErrorKind::MalformedRequest);

    let xfcc = ClientCertificates::new().trusted_proxies(proxies()).proxy_header(ProxyHeader::Xfcc);
    let value = format!("By=spiffe://mesh/ns/a;URI=spiffe://client;Cert=\"{escaped}\";Subject=\"CN=client\"");
    let r = request("10.0.0.1:1", None, &[("x-forwarded-client-cert", &value)]);
    assert_eq!(xfcc.certificate(&r).unwrap().unwrap().der(), client.as_slice());
    let r = request("10.0.0.1:1", None, &[("x-forwarded-client-cert", "By=spiffe://mesh;Hash=abc")]);
    assert_eq!(xfcc.certificate(&r).unwrap(), None);
    let r = request("10.0.0.1:1", None, &[("x-forwarded-client-cert", "By=\"unterminated")]);
    assert_eq!(xfcc.certificate(&r).unwrap_err(), AuthErrorKind::MalformedRequest);
}

#[test]
fn config_validation() {
    assert!(ClientCertificates::new().proxy_ca_pem(b"").is_err());
    assert!(
        ClientCertificates::new()
            .proxy_ca_pem(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
            .is_err()
    );
    assert!(ClientCertificates::new().proxy_ca_pem(certificate_pem(b"\x30\x00").as_bytes()).is_err());
    assert!(ClientCertificates::new().proxy_header(ProxyHeader::NginxPem("bad name".into())).validate().is_err());
    assert!(ClientCertificates::new().proxy_header(ProxyHeader::NginxPem(String::new())).validate().is_err());
    assert!(ClientCertificates::new().proxy_header(ProxyHeader::NginxPem("X-Client-Cert".into())).validate().is_ok());
    let twice = ClientCertificates::new()
        .proxy_ca_pem(TestCa::new("Test Root CA").cert_pem().as_bytes())
        .unwrap()
        .proxy_ca_pem(TestCa::new("Other Root CA").cert_pem().as_bytes())
        .unwrap();
    assert!(format!("{twice:?}").contains("proxy_ca_certificates: 2"));
}

fn auth(mapping: IdentityMapping) -> CertificateAuthentication {
    CertificateAuthentication::new(mapping).clock(ManualClock::at_unix(T0))
}

fn tls_cert(der: &[u8]) -> RequestCertificate {
    RequestCertificate { certificate: Certificate::from_der(der).unwrap(), chain: Vec::new(), source: Source::Tls }
}

#[test]
fn each_identity_mapping() {
    let der = self_signed(
        leaf("cn-name").dns("b.example").dns("a.example").spiffe("spiffe://example.org/ns/x").email("ops@example.org"),
    );
    let sources = ClientCertificates::new();
    for (mapping, subject) in [
        (IdentityMapping::SpiffeId, "spiffe://example.org/ns/x"),
        (IdentityMapping::DnsSan, "b.example"),
        (IdentityMapping::UriSan, "spiffe://example.org/ns/x"),
        (IdentityMapping::Email, "ops@example.org"),
        (IdentityMapping::SubjectCn, "cn-name"),
    ] {
        let p = auth(mapping).scopes(["a", "b", "a", ""]).authenticate(&tls_cert(&der), &sources).unwrap();
        assert_eq!(p.subject(), subject, "{}", mapping.as_str());
        assert_eq!(p.mechanism(), Mechanism::ClientCert);
        assert_eq!(p.scopes(), ["a", "b"]);
        assert_eq!(p.binding(), Some(&Binding::Mtls { x5t_s256: x5t_s256(&der) }));
        assert_eq!(p.claim("sub").and_then(|v| v.as_str()), Some(subject));
        assert_eq!(p.expires_at().map(crate::clock::unix_seconds), Some(1_704_067_200));
    }
    let p = auth(IdentityMapping::SpiffeId).authenticate(&tls_cert(&der), &sources).unwrap();
    let claims = serde_json::Value::Object(p.claims().clone());
    assert_eq!(claims["san"]["dns"], serde_json::json!(["b.example", "a.example"]));
    assert_eq!(claims["spiffe_id"], "spiffe://example.org/ns/x");
    assert_eq!(claims["cnf"]["x5t#S256"], x5t_s256(&der));
    assert_eq!(claims["not_after"], 1_704_067_200);
    assert!(claims["issuer_dn"].as_str().unwrap().contains("CN=cn-name"));
    assert_eq!(p.issuer(), None);
}

#[test]
fn allow_list_and_missing_identity() {
    let der = self_signed(leaf("svc").dns("b.example").dns("A.example"));
    let sources = ClientCertificates::new();
    // With an allow-list the first allowed name is the subject; DNS names compare case-insensitively.
    let p = auth(IdentityMapping::DnsSan).allow(["a.example"]).authenticate(&tls_cert(&der), &sources).unwrap();
    assert_eq!(p.subject(), "A.example");
    assert_eq!(
        auth(IdentityMapping::DnsSan).allow(["c.example"]).authenticate(&tls_cert(&der), &sources).unwrap_err(),
        "identity not on the allow-list"
    );
    assert_eq!(
        auth(IdentityMapping::SubjectCn).allow(["SVC"]).authenticate(&tls_cert(&der), &sources).unwrap_err(),
        "identity not on the allow-list"
    );
    assert!(
        auth(IdentityMapping::SubjectCn).allow(["x"]).allow(["svc"]).authenticate(&tls_cert(&der), &sources).is_ok()
    );
    for mapping in [IdentityMapping::SpiffeId, IdentityMapping::UriSan, IdentityMapping::Email] {
        assert_eq!(
            auth(mapping).authenticate(&tls_cert(&der), &sources).unwrap_err(),
            "certificate without an identity of the mapped kind"
        );
    }
}

#[test]
fn validity_period() {
    let der = self_signed(leaf("svc"));
    let sources = ClientCertificates::new();
    let at = |secs: u64| CertificateAuthentication::new(IdentityMapping::SubjectCn).clock(ManualClock::at_unix(secs));
    assert!(at(1_672_531_200).authenticate(&tls_cert(&der), &sources).is_ok());
    assert!(at(1_704_067_200).authenticate(&tls_cert(&der), &sources).is_ok());
    assert_eq!(at(1_704_067_201).authenticate(&tls_cert(&der), &sources).unwrap_err(), "certificate expired");
    assert_eq!(at(1_672_531_199).authenticate(&tls_cert(&der), &sources).unwrap_err(), "certificate not yet valid");
}

#[test]
fn proxied_certificates_must_chain_to_the_proxy_ca() {
    // G3: authentication needs the chain; the intermediate comes from the header.
    // A root CA and an intermediate under it, which issues the client certificates.
    let root = TestCa::new("Test Root CA");
    let intermediate = root.intermediate("Test Intermediate CA");
    let client = intermediate.issue(leaf("svc")).der;
    let with_ca =
        ClientCertificates::new().trusted_proxies(proxies()).proxy_ca_pem(root.cert_pem().as_bytes()).unwrap();
    let headers = [("client-cert", sf(&client)), ("client-cert-chain", sf(intermediate.cert_der()))];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let r = request("10.0.0.1:1", None, &headers);
    let cert = with_ca.resolve(&r).unwrap().unwrap();
    assert_eq!(cert.chain, vec![intermediate.cert_der().to_vec()]);
    let a = auth(IdentityMapping::SubjectCn);
    assert_eq!(a.authenticate(&cert, &with_ca).unwrap().subject(), "svc");
    // Without the intermediate, without a CA, under another CA: refused.
    let no_chain = with_ca.resolve(&request("10.0.0.1:1", None, &headers[..1])).unwrap().unwrap();
    assert_eq!(a.authenticate(&no_chain, &with_ca).unwrap_err(), "proxied certificate does not chain to the proxy CA");
    let without_ca = ClientCertificates::new().trusted_proxies(proxies());
    assert_eq!(a.authenticate(&cert, &without_ca).unwrap_err(), "proxied certificate and no proxy CA configured");
    let other_ca = ClientCertificates::new()
        .trusted_proxies(proxies())
        .proxy_ca_pem(TestCa::new("Other Root CA").cert_pem().as_bytes())
        .unwrap();
    assert!(a.authenticate(&cert, &other_ca).is_err());
    // A self-signed certificate through the proxy: refused.
    let self_signed = self_signed(leaf("svc"));
    let r = request("10.0.0.1:1", None, &[("client-cert", &sf(&self_signed))]);
    assert!(a.authenticate(&with_ca.resolve(&r).unwrap().unwrap(), &with_ca).is_err());
    // A server-only certificate is not a client certificate.
    let server_only = intermediate.issue(leaf("svc").server_auth_only()).der;
    let r = request(
        "10.0.0.1:1",
        None,
        &[("client-cert", &sf(&server_only)), ("client-cert-chain", &sf(intermediate.cert_der()))],
    );
    assert_eq!(
        a.authenticate(&with_ca.resolve(&r).unwrap().unwrap(), &with_ca).unwrap_err(),
        "proxied certificate does not chain to the proxy CA"
    );
    // The same certificate over TLS needs no chain here: the handshake verified it.
    assert!(a.authenticate(&tls_cert(&self_signed), &without_ca).is_ok());
}
