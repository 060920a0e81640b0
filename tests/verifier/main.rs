//! Library-level tests of `watchword::verify`, with real keys and published vectors (no mocks).
//!
//! Run: `cargo test --no-default-features --features actix,remote-jwks --test verifier -- --nocapture`

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
