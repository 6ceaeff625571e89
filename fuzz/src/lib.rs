//! The bodies of the fuzz targets in `fuzz_targets/`, one function per parser of untrusted input in
//! tower-auth, each asserting properties of the result beyond "no panic".
//!
//! The libFuzzer binaries call these (`cargo +nightly fuzz run <target>`); `tests/replay.rs` runs
//! them on stable over the seeds in `seeds/<target>/` and deterministic mutations of them, so CI
//! keeps them compiling and their properties true.
#![forbid(unsafe_code)]

pub mod api_key;
pub mod authorization;
pub mod cert_headers;
mod common;
pub mod compact_jws;
pub mod dpop_proof;
pub mod introspection;
pub mod jwks;
pub mod quota;
pub mod strict_json;

pub use common::{FuzzView, run_ready};

/// A target's body: one input.
pub type Target = fn(&[u8]);

/// Every target, by name, for the replay test.
pub const TARGETS: [(&str, Target); 9] = [
    ("compact_jws", compact_jws::run),
    ("authorization", authorization::run),
    ("jwks", jwks::run),
    ("dpop_proof", dpop_proof::run),
    ("introspection", introspection::run),
    ("api_key", api_key::run),
    ("strict_json", strict_json::run),
    ("quota", quota::run),
    ("cert_headers", cert_headers::run),
];
