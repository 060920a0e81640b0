//! Tokens this service issues: the signing keys and their published JWKs ([`signing_key`]),
//! the algorithms they sign with ([`algorithm`]), who may read their files ([`key_file`]),
//! the claims and signature of a successful login ([`issuer`]) and the `[token]` settings it
//! issues with ([`settings`]). Checking tokens is the job of the `watchword-verify` crate,
//! which `/verify` uses too.

pub mod algorithm;
pub mod issuer;
pub mod key_file;
pub mod settings;
pub mod signing_key;
