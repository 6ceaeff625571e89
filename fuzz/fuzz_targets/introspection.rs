//! RFC 7662 introspection answers, read and judged as the introspector does.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_auth_fuzz::introspection::run(data));
