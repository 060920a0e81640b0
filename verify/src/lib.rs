//! Verify watchword tokens in a sibling service: check a token locally, with public keys
//! only, and get its [`Claims`] or the precise reason it was refused.
//!
//! A service needs no call to the login service per request: a [`Verifier`] holds the parsed
//! keys (from a JWKS, a public key PEM, an HS256 secret, or fetched from a URL and refreshed in
//! the background with the `remote-jwks` feature). With the `actix` feature,
//! `actix::Authenticated` does the whole `Authorization` → claims step as an extractor and
//! answers failures in the login service's own [`Envelope`].
//!
//! This crate has no default features and never depends on the login service, so a sibling
//! service cannot drag the server (argon2, configuration, the HTTP server) in by accident.
//!
//! What is enforced, whatever the token says:
//!
//! * size first ([`Validation::max_token_size`]), then exactly three segments of unpadded
//!   base64url, and a header that is a JSON object without duplicate names;
//! * the configured key decides the algorithm: each key has exactly one (Ed25519 → `EdDSA`,
//!   P-256 → `ES256`, RSA → `RS256`, secret → `HS256`) and the header's `alg` must equal it.
//!   `none`, HS256 signed with a public key and any other mismatch are refused;
//! * `kid` only selects from the configured keys (a token without `kid` uses the only key,
//!   if there is only one). `jku`, `x5u`, `x5c` and `jwk` headers are never fetched or trusted;
//!   `crit` is refused; `typ`, when present, must be `JWT` or `at+jwt` (RFC 9068), either
//!   with or without `application/`, in any case;
//! * the signature is checked before any claim is looked at;
//! * `exp` and `sub` are required; `exp`, `nbf` and `iat` are checked with
//!   [`Validation::leeway`] (at most 5 minutes); then the issuer and audience, when configured.
#![deny(missing_docs)]

#[cfg(feature = "actix")]
pub mod actix;
mod authorization;
pub mod claims;
pub mod envelope;
mod error;
mod jws;
mod key_set;
#[cfg(feature = "remote-jwks")]
mod remote;
#[cfg(feature = "remote-jwks")]
mod revocation_poller;
pub mod revocations;
mod secret_strength;
mod validation;
mod verifier;

pub use authorization::{token_from_authorization, token_from_authorization_headers};
pub use claims::{is_reserved_claim, Claims, RESERVED_CLAIMS};
pub use envelope::{Envelope, Status};
pub use error::{KeyError, VerifyError};
#[cfg(feature = "remote-jwks")]
pub use remote::RemoteOptions;
pub use revocations::RevocationList;
pub use secret_strength::{
    check_hs256_secret, estimated_bits, WeakSecret, MIN_DISTINCT_BYTES, MIN_ESTIMATED_BITS,
    MIN_HS256_SECRET_BYTES,
};
pub use validation::{Validation, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, MAX_LEEWAY};
pub use verifier::Verifier;
