//! The API-key format: prefix, id, secret and checksum.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_auth_fuzz::api_key::run(data));
