//! Credential selection: `Authorization` (Bearer, DPoP, ApiKey schemes), the API-key header and
//! query parameter, the `DPoP` header — over header bytes no HTTP library would have let through.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_auth_fuzz::authorization::run(data));
