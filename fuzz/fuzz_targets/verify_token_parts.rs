//! Structure-aware token fuzzing: the input is `mode || header 0xFF payload 0xFF signature`.
//! Header and payload are base64url-encoded (unpadded) and joined with '.', so mutations land
//! in the JSON parsers behind the base64 layer instead of dying in it.
//!
//! `mode % 4`:
//! * 0: the third part is the raw signature (base64url-encoded);
//! * 1: the third part is used verbatim as the signature segment (base64 errors, padding, …);
//! * 2: signed with the HS256 test secret, so claims parsing and validation are reached;
//! * 3: signed with the Ed25519 test key (RFC 8037 A.1), likewise.
//!
//! In the signed modes a token whose header is exactly right for the key must pass the
//! signature check: `verify_signature_only` may then only refuse for header reasons.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use watchword_verify::VerifyError;
use watchword_fuzz::{ed25519_key_pair, ed25519_verifier, exercise_token, hs256_key, hs256_verifier};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(3, |&b| b == 0xFF);
    let header = parts.next().unwrap_or_default();
    let payload = parts.next().unwrap_or_default();
    let third = parts.next().unwrap_or_default();

    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let token = match mode % 4 {
        0 => format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(third)),
        1 => match std::str::from_utf8(third) {
            Ok(sig) => format!("{signing_input}.{sig}"),
            Err(_) => return,
        },
        2 => {
            let tag = aws_lc_rs::hmac::sign(hs256_key(), signing_input.as_bytes());
            let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
            check_signed(&token, hs256_verifier(), "HS256");
            token
        }
        _ => {
            let sig = ed25519_key_pair().sign(signing_input.as_bytes());
            let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
            check_signed(&token, ed25519_verifier(), "EdDSA");
            token
        }
    };
    exercise_token(&token);
    // Same token through the header parser (size and b64token rules included).
    let _ = hs256_verifier().verify_authorization(format!("Bearer {token}").as_bytes());
});

/// A correctly signed token may be refused for its size, its header or its claims, never
/// with `BadSignature`; and when the signature check passes it returns the exact payload.
fn check_signed(token: &str, verifier: &watchword_verify::Verifier, alg: &str) {
    match verifier.verify_signature_only(token) {
        Ok(payload) => {
            let segment = token.split('.').nth(1).unwrap_or_default();
            assert_eq!(URL_SAFE_NO_PAD.encode(&payload), segment, "payload not returned as signed");
        }
        Err(VerifyError::BadSignature) => panic!("{alg} token signed with the right key refused as BadSignature"),
        Err(_) => {}
    }
}
