//! Library-level tests of `watchword_verify`, with real keys and published vectors (no mocks).
//!
//! Run: `cargo test -p watchword-verify --all-features`

mod common;

#[cfg(feature = "actix")]
mod actix_extractor;
mod attacks;
mod authorization;
mod jwks;
#[cfg(feature = "remote-jwks")]
mod remote;
mod rfc;
mod round_trip;
mod wycheproof;
