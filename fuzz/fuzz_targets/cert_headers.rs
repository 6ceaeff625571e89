//! Client-certificate headers (RFC 9440, nginx, Envoy XFCC) and the X.509 parser behind them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_auth_fuzz::cert_headers::run(data));
