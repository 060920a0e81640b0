//! Cost of `Verifier::verify` against the bare aws-lc signature check it wraps (target: within
//! 10 % for the public-key algorithms). Timing-based, so ignored by default; run in release:
//! `cargo test --release --no-default-features --features actix,remote-jwks --test verifier perf -- --ignored --nocapture`

use std::time::{Duration, Instant};

use aws_lc_rs::signature::{
    ParsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256,
};
use serde_json::json;

use crate::common::*;

fn time(iterations: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

fn spki_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).unwrap()
}

#[test]
#[ignore = "timing; run in release with --ignored"]
fn verify_overhead_over_bare_signature_check() {
    let v = verifier();
    let mut c = claims();
    c["jti"] = json!("6f1c2d1e-8d4b-4b8e-9a55-0c1b8f1f0a77");
    c["roles"] = json!(["demo", "admin"]);
    c["dept"] = json!("ops");
    let mut worst: f64 = 0.0;
    for (key, alg) in [
        (
            ed(),
            &ED25519 as &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
        ),
        (ec(), &ECDSA_P256_SHA256_FIXED),
        (rsa(), &RSA_PKCS1_2048_8192_SHA256),
    ] {
        let token = key.token(&c);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = b64_decode(sig);
        let bare_key = ParsedPublicKey::new(alg, spki_der(key.pem()))
            .or_else(|_| ParsedPublicKey::new(alg, &spki_der(key.pem())[12..]))
            .unwrap();
        assert!(bare_key.verify_sig(input.as_bytes(), &sig).is_ok());
        assert!(v.verify(&token).is_ok());
        let n = 2000;
        // Interleave to even out frequency scaling and noise; keep the best of each.
        let mut bare = Duration::MAX;
        let mut full = Duration::MAX;
        for _ in 0..7 {
            bare = bare.min(time(n, || {
                assert!(bare_key.verify_sig(input.as_bytes(), &sig).is_ok())
            }));
            full = full.min(time(n, || assert!(v.verify(&token).is_ok())));
        }
        let ratio = full.as_secs_f64() / bare.as_secs_f64();
        worst = worst.max(ratio);
        println!(
            "perf {}: bare {bare:?}, verify {full:?}, ratio {ratio:.3}",
            key.alg_name()
        );
    }
    if !cfg!(debug_assertions) {
        assert!(
            worst < 1.10,
            "verify costs {worst:.3}x the bare signature check"
        );
    }
}
