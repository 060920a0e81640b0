//! watchword: a stateless login service and the verifier its sibling services embed.
//!
//! The library is split so that a service which only checks tokens pulls in no server code:
//! with `default-features = false` only [`claims`] and [`verify`] are compiled (plus the
//! `actix` extractor and `remote-jwks` fetching when those features are chosen).
#![deny(missing_docs)]

pub mod claims;
pub mod envelope;
pub mod verify;

#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod issue;
#[cfg(feature = "server")]
pub mod keys;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod password;
#[cfg(feature = "server")]
pub mod startup;
#[cfg(feature = "server")]
pub mod throttle;
#[cfg(feature = "server")]
pub mod users;

pub use claims::Claims;
