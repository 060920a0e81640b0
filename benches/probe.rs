//! Single-thread cost figures for bench/load.sh, printed as `key=value` lines:
//!
//! * `t_argon2_ms`: one argon2 check of the demo user's hash (production defaults,
//!   m=19456 KiB, t=2, p=1) with reused memory, exactly as a hashing thread does it (median),
//!   and `argon2_impl`: the implementation and SIMD backend that check ran on;
//! * `argon2_parallel_per_s`: checks per second with one such thread per core at once;
//! * `t_verify_us`: the bare aws-lc-rs signature check of a token (median), and
//!   `t_library_us`: `Verifier::verify` of the same token; `t_verify_parallel_us`: the bare
//!   check's per-call time on each core while every core runs it.
//!
//! `cargo bench --bench probe -- [--token TOKEN --jwks JWKS_FILE] [--only argon2|verify]`: with
//! a token and the JWKS of the server that issued it, that very token is measured; otherwise a
//! fresh EdDSA token. `--only` prints just `t_argon2_ms` or `t_verify_us`, in about half a
//! second: bench/load.sh calls it before every measured round, so that each ratio divides two
//! figures taken seconds apart and a slow moment of the (shared, virtual) machine cannot fall
//! on one side of the ratio only.

use std::hint::black_box;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use watchword::config::SigningAlgorithm;
use watchword::login::password::{normalize, HashMemory};
use watchword_verify::{Validation, Verifier};

mod common;
use common::{Bare, Case};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median per-call time in microseconds of `f`, over `batches` batches of `per_batch` calls
/// (after one untimed batch to warm up).
fn per_call_us(batches: usize, per_batch: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..per_batch {
        f();
    }
    let times = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / per_batch as f64
        })
        .collect();
    median(times)
}

fn b64(v: &serde_json::Value, name: &str) -> Vec<u8> {
    let s = v[name]
        .as_str()
        .unwrap_or_else(|| panic!("JWK has no {name}"));
    URL_SAFE_NO_PAD.decode(s).expect("base64url JWK member")
}

/// The bare check and the library verifier for the first key of a server's JWKS.
fn from_server(jwks: &str) -> (Bare, Verifier) {
    let doc: serde_json::Value = serde_json::from_str(jwks).expect("JWKS is JSON");
    let jwk = &doc["keys"][0];
    let bare = match jwk["kty"].as_str() {
        Some("OKP") => Bare::public(SigningAlgorithm::EdDSA, &b64(jwk, "x")),
        Some("EC") => {
            let mut point = vec![4u8];
            point.extend(b64(jwk, "x"));
            point.extend(b64(jwk, "y"));
            Bare::public(SigningAlgorithm::ES256, &point)
        }
        other => panic!("probe supports OKP and EC keys, not {other:?}"),
    };
    let verifier = Verifier::from_jwks_json(jwks, Validation::default()).expect("JWKS loads");
    (bare, verifier)
}

/// Per-check milliseconds (median, min) of the demo user's argon2 check with reused memory,
/// as a hashing thread does it, over `runs` checks.
fn argon2_single(runs: usize) -> (f64, f64) {
    let user = common::demo_user();
    let password = normalize("password_test");
    let mut memory = HashMemory::new();
    for _ in 0..3 {
        assert!(user.hash.verify_with(password.as_bytes(), &mut memory));
    }
    let times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            assert!(user
                .hash
                .verify_with(black_box(password.as_bytes()), &mut memory));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    (median(times), min)
}

/// The same check on every core at once: what the hardware gives when all hashing threads
/// run (shared caches and memory bandwidth), without any HTTP. Diagnostic only.
fn argon2_parallel_per_s(cores: usize) -> f64 {
    let user = common::demo_user();
    let password = normalize("password_test");
    let barrier = std::sync::Barrier::new(cores);
    let per_thread = 20;
    let wall = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    let mut memory = HashMemory::new();
                    assert!(user.hash.verify_with(password.as_bytes(), &mut memory));
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..per_thread {
                        assert!(user
                            .hash
                            .verify_with(black_box(password.as_bytes()), &mut memory));
                    }
                    start.elapsed().as_secs_f64()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .fold(0.0, f64::max)
    });
    (cores * per_thread) as f64 / wall
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let only = arg("--only");
    if let Some(only) = &only {
        assert!(
            only == "argon2" || only == "verify",
            "--only takes argon2 or verify, not {only}"
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    if only.as_deref() == Some("argon2") {
        println!("t_argon2_ms={:.3}", argon2_single(25).0);
        return;
    }
    if only.is_none() {
        let user = common::demo_user();
        let params = user.hash.params();
        println!(
            "argon2_params=m={},t={},p={}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        );
        println!(
            "argon2_impl=argon2-rust/{}",
            argon2_rust::detected_backend()
        );
        let (t_argon2, min) = argon2_single(40);
        println!("t_argon2_ms={t_argon2:.3}");
        println!("t_argon2_min_ms={min:.3}");
        println!("argon2_parallel_threads={cores}");
        println!("argon2_parallel_per_s={:.1}", argon2_parallel_per_s(cores));
    }

    // Signature check of one token.
    let (token, bare, verifier) = match (arg("--token"), arg("--jwks")) {
        (Some(token), Some(path)) => {
            let jwks = std::fs::read_to_string(&path).expect("JWKS file");
            let (bare, verifier) = from_server(&jwks);
            (token, bare, verifier)
        }
        _ => {
            let case = Case::new(SigningAlgorithm::EdDSA);
            (case.token, case.bare, case.verifier)
        }
    };
    let (input, signature) = common::signing_parts(&token);
    assert!(
        bare.verify(&input, &signature),
        "bare check accepts the token"
    );
    assert!(verifier.verify(&token).is_ok(), "library accepts the token");
    if only.as_deref() == Some("verify") {
        let t_verify = per_call_us(10, 1000, || {
            assert!(bare.verify(black_box(&input), black_box(&signature)));
        });
        println!("t_verify_us={t_verify:.3}");
        return;
    }
    // Batches of the bare check and of the library alternate, so a noisy moment on the machine
    // hits both alike and their ratio stays honest.
    let mut bare_batches = Vec::new();
    let mut library_batches = Vec::new();
    for _ in 0..30 {
        bare_batches.push(per_call_us(1, 1000, || {
            assert!(bare.verify(black_box(&input), black_box(&signature)));
        }));
        library_batches.push(per_call_us(1, 1000, || {
            assert!(verifier.verify(black_box(&token)).is_ok());
        }));
    }
    let (t_verify, t_library) = (median(bare_batches), median(library_batches));
    // The bare check on every core at once (diagnostic, like argon2_parallel_per_s): the
    // per-call time each core sees when all of them verify.
    let barrier = std::sync::Barrier::new(cores);
    let t_verify_parallel = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    per_call_us(15, 2000, || {
                        assert!(bare.verify(black_box(&input), black_box(&signature)));
                    })
                })
            })
            .collect();
        let times: Vec<f64> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        times.iter().sum::<f64>() / times.len() as f64
    });
    println!("t_verify_us={t_verify:.3}");
    println!("t_verify_parallel_us={t_verify_parallel:.3}");
    println!("t_library_us={t_library:.3}");
}
