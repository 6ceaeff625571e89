//! JWS algorithms (RFC 7518 §3, RFC 8037) and their verifiers.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature;

/// A JWS signature algorithm this crate can verify.
///
/// `none` is not one: an unsecured JWT never validates. Names are case-sensitive (RFC 7515 §4.1.1).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// EdDSA with Ed25519 (RFC 8037).
    EdDSA,
    /// HMAC with SHA-256. Only with a symmetric key configured locally, never from a remote JWKS.
    HS256,
    /// HMAC with SHA-384. Only with a symmetric key configured locally.
    HS384,
    /// HMAC with SHA-512. Only with a symmetric key configured locally.
    HS512,
}

impl Algorithm {
    /// Every asymmetric algorithm, the default allow-list.
    pub const ASYMMETRIC: [Algorithm; 10] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::ES512,
        Self::EdDSA,
    ];

    /// The registered name, as in the `alg` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// Whether the algorithm is a MAC (symmetric).
    pub fn is_symmetric(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// The aws-lc verification algorithm of an asymmetric algorithm.
    pub(crate) fn verification(self) -> Option<&'static dyn signature::VerificationAlgorithm> {
        Some(match self {
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Self::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
            Self::EdDSA => &signature::ED25519,
            Self::HS256 | Self::HS384 | Self::HS512 => return None,
        })
    }

    pub(crate) fn rsa_parameters(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    pub(crate) fn hmac(self) -> Option<aws_lc_rs::hmac::Algorithm> {
        Some(match self {
            Self::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
            Self::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
            Self::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
            _ => return None,
        })
    }

    /// The fixed signature length in bytes, where the algorithm has one (ECDSA, EdDSA).
    pub(crate) fn fixed_signature_len(self) -> Option<usize> {
        match self {
            Self::ES256 => Some(64),
            Self::ES384 => Some(96),
            Self::ES512 => Some(132),
            Self::EdDSA => Some(64),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `alg` name is not one this crate verifies (this includes `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAlgorithm;

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown or unsupported JWS algorithm")
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Case-sensitive, as RFC 7515 §4.1.1 requires: `none`, `None`, `rs256` are all refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "ES512" => Self::ES512,
            "EdDSA" => Self::EdDSA,
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            _ => return Err(UnknownAlgorithm),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_sensitive_and_none_is_unknown() {
        // B2
        for bad in ["none", "None", "NONE", "nOnE", "rs256", "Rs256", "ES256K", "", "RS256 "] {
            assert!(bad.parse::<Algorithm>().is_err(), "{bad:?}");
        }
        for alg in Algorithm::ASYMMETRIC {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
        }
    }
}
