//! Strict JSON (duplicate members refused at any depth) and strict base64url.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_auth_fuzz::strict_json::run(data));
