//! The DPoP proof checks of RFC 9449 §4.3 (all but the replay store), on the `DPoP` header bytes.
//! Seeded with the RFC's own proof, which passes every check at its `iat`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_auth_fuzz::dpop_proof::run(data));
