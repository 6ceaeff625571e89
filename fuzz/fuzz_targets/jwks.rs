//! JWK Set documents and single JWKs, as a remote JWKS delivers them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_auth_fuzz::jwks::run(data));
