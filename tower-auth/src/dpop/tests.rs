//! The RFC 9449 example proofs (RFC-CHECKLIST "Public test vectors"), verified with an injected clock.
//! Every test names the checklist item it covers (E1.x = RFC 9449 §4.3 item x).

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::error::AuthErrorKind;
use crate::view::PeerAddr;

/// §4.1 / §5: token request, `POST https://server.example.com/token`, iat 1562262616.
const PROOF_1: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
const IAT_1: u64 = 1_562_262_616;
/// §5: refresh request, same `jti` and `htu` as proof 1, iat 1562265296.
const PROOF_2: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjY1Mjk2fQ.pAqut2IRDm_De6PR93SYmGBPXpwrAk90e8cP2hjiaG5QsGSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA";
const IAT_2: u64 = 1_562_265_296;
/// §7.1: `GET https://resource.example.org/protectedresource` with the access token below.
const PROOF_3: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
const IAT_3: u64 = 1_562_262_618;
const TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
const ATH: &str = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo";

fn request(method: &str, uri: &str, proofs: &[&str]) -> http::request::Parts {
    let mut builder = http::Request::builder().method(method).uri(uri).header("authorization", format!("DPoP {TOKEN}"));
    for proof in proofs {
        builder = builder.header("dpop", *proof);
    }
    builder.body(()).unwrap().into_parts().0
}

fn resource(clock: &ManualClock) -> Dpop {
    Dpop::builder().public_origin("https://resource.example.org").clock(clock.clone()).build().unwrap()
}

fn kind(result: Result<VerifiedProof, AuthError>) -> AuthErrorKind {
    result.expect_err("the proof should be refused").kind()
}

#[tokio::test]
async fn rfc9449_section_7_1_example_verifies() {
    // E1 (all twelve), E5: the §7.1 proof, at its creation time; jkt and ath recomputed.
    let clock = ManualClock::at_unix(IAT_3);
    let dpop = resource(&clock);
    let req = request("GET", "/protectedresource", &[PROOF_3]);
    let proof = dpop.verify(&req, Some(TOKEN)).await.unwrap();
    assert_eq!(proof.jkt(), JKT);
    assert_eq!(proof.algorithm(), Algorithm::ES256);
    assert_eq!(proof.fresh_nonce(), None);
    assert_eq!(access_token_hash(TOKEN), ATH);
    // E3: a second time is a replay, even later within the window.
    clock.advance(Duration::from_secs(100));
    assert_eq!(kind(dpop.verify(&req, Some(TOKEN)).await), AuthErrorKind::InvalidDpopProof);
}

#[tokio::test]
async fn rfc9449_token_request_proofs_and_the_replay_window() {
    // E3: proofs 1 and 2 share `jti` and `htu`; the entry of proof 1 lives for the window only.
    let clock = ManualClock::at_unix(IAT_1);
    let dpop = Dpop::builder().public_origin("https://server.example.com").clock(clock.clone()).build().unwrap();
    let one = request("POST", "/token", &[PROOF_1]);
    assert_eq!(dpop.verify(&one, None).await.unwrap().jkt(), JKT);
    assert_eq!(kind(dpop.verify(&one, None).await), AuthErrorKind::InvalidDpopProof);
    clock.set(std::time::UNIX_EPOCH + Duration::from_secs(IAT_2));
    // E1.11: proof 1 is now far too old …
    assert_eq!(kind(dpop.verify(&one, None).await), AuthErrorKind::InvalidDpopProof);
    // … and proof 2, with the same jti, is fresh: the old entry has expired.
    assert_eq!(dpop.verify(&request("POST", "/token", &[PROOF_2]), None).await.unwrap().jkt(), JKT);
}

#[tokio::test]
async fn each_request_property_is_checked() {
    let at = |secs: u64| ManualClock::at_unix(secs);
    /// What is wrong, the request path, the `DPoP` fields, the token, the server's clock.
    type Case<'a> = (&'a str, &'a str, &'a [&'a str], Option<&'a str>, ManualClock);
    let cases: [Case<'_>; 10] = [
        // E1.8: htm
        ("wrong method", "/protectedresource", &[PROOF_3], Some(TOKEN), at(IAT_3)),
        // E1.9: htu path
        ("wrong path", "/other", &[PROOF_3], Some(TOKEN), at(IAT_3)),
        ("wrong path case", "/ProtectedResource", &[PROOF_3], Some(TOKEN), at(IAT_3)),
        // E1.11: iat window (300 s past, 30 s future)
        ("too old", "/protectedresource", &[PROOF_3], Some(TOKEN), at(IAT_3 + 301)),
        ("too far ahead", "/protectedresource", &[PROOF_3], Some(TOKEN), at(IAT_3 - 31)),
        // E1.12: ath
        ("another token", "/protectedresource", &[PROOF_3], Some("another-token"), at(IAT_3)),
        // E1.1: exactly one DPoP header
        ("two DPoP headers", "/protectedresource", &[PROOF_3, PROOF_3], Some(TOKEN), at(IAT_3)),
        ("no DPoP header", "/protectedresource", &[], Some(TOKEN), at(IAT_3)),
        // E1.2: a single well-formed JWT
        ("not a JWT", "/protectedresource", &["e30.e30"], Some(TOKEN), at(IAT_3)),
        // E1.6: the signature
        ("tampered", "/protectedresource", &[&PROOF_3.replace(".2oW9", ".2oW8")], Some(TOKEN), at(IAT_3)),
    ];
    for (what, path, proofs, token, clock) in cases {
        let method = if what == "wrong method" { "POST" } else { "GET" };
        let dpop = resource(&clock);
        assert_eq!(
            kind(dpop.verify(&request(method, path, proofs), token).await),
            AuthErrorKind::InvalidDpopProof,
            "{what}"
        );
    }
    // The edges of the window are inside it.
    for secs in [IAT_3 + 300, IAT_3 - 30] {
        assert!(
            resource(&at(secs)).verify(&request("GET", "/protectedresource", &[PROOF_3]), Some(TOKEN)).await.is_ok()
        );
    }
}

#[tokio::test]
async fn htu_origin_comes_from_configuration() {
    // E11: the Host header is the client's; the origin comes from configuration.
    let clock = ManualClock::at_unix(IAT_3);
    let elsewhere = Dpop::builder().public_origin("https://api.example.com").clock(clock.clone()).build().unwrap();
    let mut req = request("GET", "/protectedresource", &[PROOF_3]);
    req.headers.insert("host", "resource.example.org".parse().unwrap());
    assert_eq!(kind(elsewhere.verify(&req, Some(TOKEN)).await), AuthErrorKind::InvalidDpopProof);
    // Several origins; normalization of the configured one (E1.9).
    let two = Dpop::builder()
        .public_origin("https://api.example.com")
        .public_origin("HTTPS://Resource.Example.org:443/")
        .clock(clock.clone())
        .build()
        .unwrap();
    assert!(two.verify(&req, Some(TOKEN)).await.is_ok());
    // Opting in to the Host header (local development only).
    let host = Dpop::builder().insecure_origin_from_host("https").clock(clock.clone()).build().unwrap();
    assert!(host.verify(&request_with_host("resource.example.org"), Some(TOKEN)).await.is_ok());
    assert_eq!(
        kind(host.verify(&request_with_host("other.example"), Some(TOKEN)).await),
        AuthErrorKind::InvalidDpopProof
    );
}

fn request_with_host(host: &str) -> http::request::Parts {
    let mut req = request("GET", "/protectedresource", &[PROOF_3]);
    req.headers.insert("host", host.parse().unwrap());
    req
}

#[tokio::test]
async fn forwarded_origin_only_from_trusted_proxies() {
    // E11: X-Forwarded-* count only when the TCP peer is a configured proxy.
    let clock = ManualClock::at_unix(IAT_3);
    let behind_proxy = || {
        Dpop::builder()
            .public_origin("https://internal.example")
            .trusted_proxies(["10.0.0.0/8".parse().unwrap()])
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let forwarded = |peer: &str, host: &str| {
        let mut req = request("GET", "/protectedresource", &[PROOF_3]);
        req.headers.insert("x-forwarded-proto", "https".parse().unwrap());
        req.headers.insert("x-forwarded-host", host.parse().unwrap());
        req.extensions.insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
        req
    };
    assert!(behind_proxy().verify(&forwarded("10.1.2.3:5000", "resource.example.org"), Some(TOKEN)).await.is_ok());
    let refused = [
        forwarded("192.0.2.1:5000", "resource.example.org"), // not a proxy
        forwarded("10.1.2.3:5000", "resource.example.org, evil.example"), // a list
        forwarded("10.1.2.3:5000", "evil.example"),
    ];
    for req in refused {
        assert_eq!(kind(behind_proxy().verify(&req, Some(TOKEN)).await), AuthErrorKind::InvalidDpopProof);
    }
}

#[tokio::test]
async fn nonce_required_and_algorithm_policy() {
    // E9 / E1.10: the RFC proof carries no nonce → use_dpop_nonce with a fresh DPoP-Nonce.
    let clock = ManualClock::at_unix(IAT_3);
    let dpop = Dpop::builder()
        .public_origin("https://resource.example.org")
        .clock(clock.clone())
        .require_nonce(true)
        .build()
        .unwrap();
    let error = dpop.verify(&request("GET", "/protectedresource", &[PROOF_3]), Some(TOKEN)).await.unwrap_err();
    assert_eq!(error.kind(), AuthErrorKind::UseDpopNonce);
    assert_eq!(error.dpop_nonce().map(str::len), Some(44));
    assert!(dpop.requires_nonce() && dpop.new_nonce().is_some());
    // E1.5: an algorithm off the allow-list.
    let es384 = Dpop::builder()
        .public_origin("https://resource.example.org")
        .algorithms([Algorithm::ES384])
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(es384.algs_param(), "ES384");
    assert_eq!(
        kind(es384.verify(&request("GET", "/protectedresource", &[PROOF_3]), Some(TOKEN)).await),
        AuthErrorKind::InvalidDpopProof
    );
}

#[test]
fn builder_refuses_unsafe_configurations() {
    let origin = || Dpop::builder().public_origin("https://api.example.com");
    assert!(Dpop::builder().build().unwrap_err().message().contains("public_origin"));
    assert!(origin().algorithms([Algorithm::HS256]).build().is_err());
    assert!(origin().algorithms([]).build().is_err());
    assert!(Dpop::builder().public_origin("https://api.example.com/v1").build().is_err());
    assert!(Dpop::builder().public_origin("api.example.com").build().is_err());
    assert!(origin().iat_window(Duration::ZERO, Duration::ZERO).build().is_err());
    assert!(origin().iat_window(Duration::from_secs(7200), Duration::ZERO).build().is_err());
    assert!(origin().iat_window(Duration::from_secs(60), Duration::from_secs(600)).build().is_err());
    assert!(origin().require_nonce(true).nonce_secret([1u8; 16]).build().is_err());
    assert!(origin().require_nonce(true).nonce_lifetime(Duration::from_secs(1)).build().is_err());
    assert!(origin().insecure_origin_from_host("ftp").build().is_err());
    assert!(origin().max_proof_bytes(10).build().is_err());
    let dpop = origin().algorithms([Algorithm::EdDSA, Algorithm::ES256, Algorithm::EdDSA]).build().unwrap();
    assert_eq!(dpop.algs_param(), "EdDSA ES256");
    assert_eq!(origin().build().unwrap().algs_param(), "ES256 ES384 ES512 PS256 RS256 EdDSA");
    assert!(!format!("{dpop:?}").is_empty());
}
