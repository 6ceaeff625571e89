//! Rate-limit quota settings (`<n>/<s|m|h>[,burst=<n>]`, `off`): what parses prints back the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_auth_fuzz::quota::run(data));
