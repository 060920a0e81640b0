//! Shared fixtures for the fuzz targets: the verifiers (built once) and the test keys.
//!
//! The Ed25519 key is the one of RFC 8037 Appendix A.1, so the public JWKS below is a fixed,
//! published constant; its private half lets `verify_token_parts` sign fuzzer-made tokens.

use std::sync::OnceLock;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use watchword_verify::{Validation, Verifier};

/// RFC 8037 A.1 private key `d` (the 32-byte Ed25519 seed), base64url.
pub const ED25519_SEED_B64: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

/// The `kid` the Ed25519 key is published under in [`ED25519_JWKS`].
pub const ED25519_KID: &str = "fuzz-ed25519";

/// RFC 8037 A.1 public key as a one-key JWK Set.
pub const ED25519_JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"fuzz-ed25519","alg":"EdDSA","use":"sig"}]}"#;

/// The HS256 secret of the second verifier (random bytes: a patterned secret is refused).
pub const HS256_SECRET: [u8; 32] = [
    0x3c, 0x91, 0x5e, 0xd2, 0x07, 0xa8, 0x64, 0xfb, 0x1e, 0xc9, 0x52, 0x8d, 0xb0, 0x37, 0xe6, 0x4a,
    0x9f, 0x13, 0x72, 0xcd, 0x05, 0xba, 0x68, 0xe1, 0x2f, 0x94, 0x5b, 0xd7, 0x80, 0x16, 0xae, 0x43,
];

/// Verifier over [`ED25519_JWKS`].
pub fn ed25519_verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        Verifier::from_jwks_json(ED25519_JWKS, Validation::default()).expect("fixed Ed25519 JWKS loads")
    })
}

/// Verifier over [`HS256_SECRET`].
pub fn hs256_verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        Verifier::from_hs256_secret(&HS256_SECRET, Validation::default()).expect("32-byte HS256 secret loads")
    })
}

/// Both verifiers, for targets that feed the same input to each.
pub fn verifiers() -> [&'static Verifier; 2] {
    [ed25519_verifier(), hs256_verifier()]
}

/// The RFC 8037 A.1 key pair; checked once against the published `x` of [`ED25519_JWKS`].
pub fn ed25519_key_pair() -> &'static Ed25519KeyPair {
    static K: OnceLock<Ed25519KeyPair> = OnceLock::new();
    K.get_or_init(|| {
        let seed = URL_SAFE_NO_PAD.decode(ED25519_SEED_B64).expect("seed is base64url");
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("32-byte Ed25519 seed");
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        assert!(ED25519_JWKS.contains(&format!(r#""x":"{x}""#)), "JWKS x does not match the seed");
        pair
    })
}

/// The HS256 signing key for [`HS256_SECRET`].
pub fn hs256_key() -> &'static hmac::Key {
    static K: OnceLock<hmac::Key> = OnceLock::new();
    K.get_or_init(|| hmac::Key::new(hmac::HMAC_SHA256, &HS256_SECRET))
}

/// Everything on the verifier's public surface for one token string; results are dropped,
/// only panics (and sanitizer findings) matter.
pub fn exercise_token(token: &str) {
    for v in verifiers() {
        let _ = v.verify(token);
        let _ = v.verify_signature_only(token);
    }
}

/// Everything for one raw `Authorization` header value.
pub fn exercise_authorization(value: &[u8]) {
    let parsed = watchword_verify::token_from_authorization(value);
    // Documented contract: the token is a non-empty, ASCII substring of the value.
    if let Ok(token) = parsed {
        assert!(!token.is_empty() && token.is_ascii(), "token_from_authorization returned {token:?}");
    }
    for v in verifiers() {
        let direct = v.verify_authorization(value);
        // verify_authorization must be exactly parse-then-verify.
        match parsed {
            Ok(token) => assert_eq!(direct, v.verify(token), "verify_authorization != verify(token_from_authorization)"),
            Err(ref e) => assert_eq!(direct.as_ref().err(), Some(e), "parse error not passed through"),
        }
    }
}
