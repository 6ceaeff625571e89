#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod clock;
mod credentials;
mod engine;
pub mod error;
mod json;
pub mod jwt;
mod principal;
pub mod scope;
#[cfg(feature = "test-util")]
pub mod testkit;
mod view;

pub use auth::{AuthContext, AuthLayer, DefaultRejection, Reject};
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Authenticator, AuthenticatorBuilder};
pub use error::{AuthError, AuthErrorKind, ChallengeParams, ConfigError, ResponseParts};
pub use principal::{Binding, Mechanism, Principal, PrincipalBuilder};
pub use scope::{RequireScopesLayer, ScopeRequirement};
pub use view::{ClientCertificate, HeaderLookup, PeerAddr, RequestView};
