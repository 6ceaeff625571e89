//! The compact JWS parser, the signature layer, and the whole JWT validation with static keys.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_auth_fuzz::compact_jws::run(data));
