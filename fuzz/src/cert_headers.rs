//! Client-certificate headers from a trusted proxy: RFC 9440 `Client-Cert` and `Client-Cert-Chain`,
//! nginx's URL-escaped PEM, Envoy's `x-forwarded-client-cert` — and the X.509 parser behind them.
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tower_auth::fuzzing::{self, ForwardedCertificate};
use tower_auth::mtls::{Certificate, MAX_CERTIFICATE_DER, MAX_CHAIN_CERTIFICATES, MAX_HEADER_BYTES, x5t_s256};

// Input: one selector byte (its value modulo 5: `Client-Cert`, `Client-Cert-Chain`, nginx, XFCC,
// raw DER), then the field value (or the DER bytes).
fn parse(data: &[u8]) -> Option<(u8, Vec<Vec<u8>>)> {
    let (&selector, value) = data.split_first()?;
    let selector = selector % 5;
    let found = match selector {
        0 => fuzzing::client_cert_header(value).ok().map(|der| vec![der]),
        1 => fuzzing::client_cert_chain_header(value).ok(),
        2 => fuzzing::nginx_cert_header(value).ok().flatten().map(|f| all(f)),
        3 => fuzzing::xfcc_header(value).ok().flatten().map(|f| all(f)),
        _ => Certificate::from_der(value).ok().map(|c| vec![c.der().to_vec()]),
    };
    found.map(|certs| (selector, certs))
}

fn all(f: ForwardedCertificate) -> Vec<Vec<u8>> {
    let mut out = vec![f.der];
    out.extend(f.chain);
    out
}

/// Whether `data` yields a certificate that parses as X.509 (for the seed check of the replay test).
pub fn accepts(data: &[u8]) -> bool {
    parse(data).is_some_and(|(_, certs)| certs.first().is_some_and(|der| Certificate::from_der(der).is_ok()))
}

/// One input.
pub fn run(data: &[u8]) {
    let Some((selector, certs)) = parse(data) else { return };
    let value = &data[1..];
    // Only bounded fields are read; every certificate decoded from one is non-empty.
    assert!(value.len() <= MAX_HEADER_BYTES || selector == 4);
    assert!(certs.len() <= MAX_CHAIN_CERTIFICATES + 1);
    for der in &certs {
        assert!(!der.is_empty());
        if let Ok(cert) = Certificate::from_der(der) {
            // What parses is the exact input, and its thumbprint is that of these bytes.
            assert_eq!(cert.der(), der.as_slice());
            assert!(der.len() <= MAX_CERTIFICATE_DER);
            assert_eq!(cert.x5t_s256(), x5t_s256(der));
            assert_eq!(cert.x5t_s256().len(), 43);
            if let Some(id) = cert.spiffe_id() {
                assert!(id.starts_with("spiffe://") && cert.uri_sans().len() == 1);
            }
        }
    }
    if selector == 0 {
        // A byte sequence decodes to bytes that re-encode to a field that decodes the same.
        let field = format!(":{}:", STANDARD.encode(&certs[0]));
        assert_eq!(fuzzing::client_cert_header(field.as_bytes()).as_ref(), Ok(&certs[0]));
    }
}
