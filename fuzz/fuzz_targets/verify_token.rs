//! Arbitrary bytes as a token (when UTF-8) and as an `Authorization` header value, against an
//! Ed25519 JWKS verifier and an HS256 verifier. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchword_fuzz::{exercise_authorization, exercise_token};

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        exercise_token(token);
    }
    exercise_authorization(data);
});
