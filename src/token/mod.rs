//! Tokens this service issues: the signing keys and their published JWKs ([`signing_key`]),
//! who may read their files ([`key_file`]), and the claims and signature of a successful
//! login ([`issuer`]). Checking tokens is the
//! job of the `watchword-verify` crate, which `/verify` uses too.

pub mod issuer;
pub mod key_file;
pub mod signing_key;
