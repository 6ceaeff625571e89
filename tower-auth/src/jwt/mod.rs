//! JWT access-token validation (RFC 7519, RFC 8725, RFC 9068).
//!
//! Keys come from OIDC discovery, a JWKS URL, or local configuration (PEM / JWK); several issuers can
//! be trusted at once, each token choosing its issuer by `iss`. Every key is pinned to one algorithm
//! (the JWK's `alg`, else its curve, else `RS256` for RSA) and the token's `alg` must be that one: the
//! header never chooses the algorithm, `none` is never accepted, and a public key is never used as an
//! HMAC secret. `jku`, `x5u`, `jwk` and `x5c` headers are ignored; an unknown `crit` is refused.
//!
//! ```
//! use tower_auth::jwt::{Issuer, JwtValidator};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let validator = JwtValidator::builder()
//!     .issuer(Issuer::discover("https://login.example.com"))
//!     .audience("https://api.example.com")
//!     .build()
//!     .expect("valid configuration");
//! # let _ = validator; }
//! ```
//!
//! | default | value |
//! |---|---|
//! | algorithms | every asymmetric one: RS*, PS*, ES256/384/512, EdDSA |
//! | `typ` | `at+jwt`, `JWT` or absent ([`TokenTypes::AccessTokens`]) |
//! | required claims | `iss`, `exp`, `aud` (plus what [`Issuer::require_claims`] adds) |
//! | leeway | 60 s |
//! | token size limit | 8 KiB |
//! | verified-token cache | 10,000 tokens, never past `exp`, at most 1 hour |
//! | JWKS | 5 s timeout, refresh after 5 min, stale keys for at most 24 h, one refetch per 10 s |

mod alg;
pub(crate) mod compact;
mod jwk;
mod jwks;
mod validator;

pub use alg::{Algorithm, UnknownAlgorithm};
pub(crate) use jwk::JwkPolicy;
#[cfg(feature = "fuzzing")]
pub(crate) use jwk::KeySet;
pub use jwk::{KeyRejected, VerifyingKey};
pub use jwks::JwksSettings;
pub use validator::{Issuer, JwtValidator, JwtValidatorBuilder, TokenTypes};
