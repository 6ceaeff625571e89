//! The DPoP proof checks of RFC 9449 §4.3 (all but the replay store), on the `DPoP` header bytes.
//! Seeded with the RFC's own proof, which passes every check at its `iat`.
use std::sync::OnceLock;

use tower_auth::ManualClock;
use tower_auth::dpop::Dpop;
use tower_auth::fuzzing;

use crate::common::FuzzView;

/// The access token of RFC 9449 §7.1, whose hash the example proof carries in `ath`.
const TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";

fn dpop() -> &'static Dpop {
    static DPOP: OnceLock<Dpop> = OnceLock::new();
    DPOP.get_or_init(|| {
        Dpop::builder()
            .public_origin("https://resource.example.org")
            .clock(ManualClock::at_unix(1_562_262_618))
            .build()
            .expect("a valid DPoP configuration")
    })
}

/// One input.
pub fn run(data: &[u8]) {
    let view = FuzzView {
        method: "GET".into(),
        path: "/protectedresource".into(),
        headers: vec![("dpop".into(), data.to_vec())],
        ..FuzzView::default()
    };
    for token in [Some(TOKEN), None] {
        if let Ok(jkt) = fuzzing::dpop_check(dpop(), &view, token) {
            assert_eq!(jkt.len(), 43, "a SHA-256 thumbprint in base64url");
        }
    }
}

/// Whether `data` passes every proof check with the target's access token (for the seed check of
/// the replay test).
pub fn accepts(data: &[u8]) -> bool {
    let view = FuzzView {
        method: "GET".into(),
        path: "/protectedresource".into(),
        headers: vec![("dpop".into(), data.to_vec())],
        ..FuzzView::default()
    };
    fuzzing::dpop_check(dpop(), &view, Some(TOKEN)).is_ok()
}
