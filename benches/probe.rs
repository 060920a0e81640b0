//! Single-thread cost figures for loadtest/load.sh, printed as `key=value` lines:
//!
//! * `t_argon2_ms`: one argon2 check of the demo user's hash (production defaults,
//!   m=19456 KiB, t=2, p=1) with reused memory, exactly as a hashing thread does it (median),
//!   and `argon2_impl`: the implementation and SIMD backend that check ran on;
//! * `argon2_parallel_per_s`: checks per second with one such thread per core at once;
//! * `t_verify_us`: the bare aws-lc-rs signature check of a token (median), and
//!   `t_library_us`: `Verifier::verify` of the same token; `t_verify_parallel_us`: the bare
//!   check's per-call time on each core while every core runs it.
//!
//! `cargo bench --bench probe -- [--token TOKEN --jwks JWKS_FILE] [--only argon2|verify|scaling]`: with
//! a token and the JWKS of the server that issued it, that very token is measured; otherwise a
//! fresh EdDSA token. `--only` prints just `t_argon2_ms` or `t_verify_us`, in about half a
//! second: loadtest/load.sh calls it before every measured round, so that each ratio divides two
//! figures taken seconds apart and a slow moment of the (shared, virtual) machine cannot fall
//! on one side of the ratio only.
//!
//! `--only scaling` (about a minute) prints a Markdown table instead: how one thread's argon2
//! check slows down beside arithmetic on the other cores and beside the same check on them,
//! for arenas of 2 to 64 MiB. It is the measurement behind BENCHMARKS.md's account of why
//! logins ÷ (cores ÷ t_argon2) moves with the host (issue 19).

use std::hint::black_box;
use std::time::Instant;

use argon2::Params;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use watchword::config::SigningAlgorithm;
use watchword::login::password::{hash_password, normalize, HashMemory, StoredHash};
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

/// The mean of `measure` run on `cores` threads at once, started together: what one core
/// sees while every core does the same work.
fn mean_on_every_core(cores: usize, measure: impl Fn() -> f64 + Sync) -> f64 {
    let barrier = std::sync::Barrier::new(cores);
    let times: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    measure()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    times.iter().sum::<f64>() / times.len() as f64
}

/// Per-check seconds of `hash` over `checks` checks in a row on one thread, memory reused
/// as in the pool (one untimed check first).
fn per_check_s(hash: &StoredHash, password: &[u8], checks: usize) -> f64 {
    let mut memory = HashMemory::new();
    assert!(hash.verify_with(password, &mut memory));
    let start = Instant::now();
    for _ in 0..checks {
        assert!(hash.verify_with(black_box(password), &mut memory));
    }
    start.elapsed().as_secs_f64() / checks as f64
}

/// `--only scaling`: why one core's t_argon2 does not multiply by the cores on this machine.
/// For arenas of 2, 8, 19 and 64 MiB (t=2, p=1), each round measures the same check three
/// ways, back to back: one thread alone; one thread while every other core runs integer
/// arithmetic that touches no memory (what sharing the clock and the host costs); and one
/// thread per core at once (sharing caches and memory bandwidth as well). The ratios of the
/// first to the other two are what is printed, as a Markdown table (median and range over
/// the rounds), because absolute times on a shared VM move from one minute to the next.
fn argon2_scaling(cores: usize, rounds: usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let password = normalize("password_test");
    let password = password.as_bytes();
    let range = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        format!("{:.3} ({:.2}–{:.2})", v[v.len() / 2], v[0], v[v.len() - 1])
    };
    println!("| m (KiB) | arenas on all {cores} cores | t alone (median) | alone ÷ beside arithmetic | alone ÷ all cores hashing |");
    println!("|---|---|---|---|---|");
    for m_kib in [2048u32, 8192, 19456, 65536] {
        let params = Params::new(m_kib, 2, 1, None).expect("valid parameters");
        let phc = hash_password("password_test", &params).expect("hash");
        let hash = StoredHash::parse(&phc).expect("own PHC string parses");
        // About 0.4 s per measurement at this machine's speed.
        let checks = (400_000 / m_kib as usize).clamp(4, 200);
        let (mut alone, mut beside, mut all) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t_alone = per_check_s(&hash, password, checks);
            let stop = AtomicBool::new(false);
            let t_beside = std::thread::scope(|s| {
                for _ in 1..cores {
                    s.spawn(|| {
                        let mut x = 1u64;
                        while !stop.load(Ordering::Relaxed) {
                            for _ in 0..10_000 {
                                x = black_box(
                                    x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1),
                                );
                            }
                        }
                    });
                }
                let t = per_check_s(&hash, password, checks);
                stop.store(true, Ordering::Relaxed);
                t
            });
            let t_all = mean_on_every_core(cores, || per_check_s(&hash, password, checks));
            alone.push(t_alone * 1e3);
            beside.push(t_alone / t_beside);
            all.push(t_alone / t_all);
        }
        println!(
            "| {m_kib} | {:.0} MiB | {} ms | {} | {} |",
            f64::from(m_kib) * cores as f64 / 1024.0,
            range(alone),
            range(beside),
            range(all)
        );
    }
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
            only == "argon2" || only == "verify" || only == "scaling",
            "--only takes argon2, verify or scaling, not {only}"
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    if only.as_deref() == Some("scaling") {
        argon2_scaling(cores, 9);
        return;
    }
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
    let t_verify_parallel = mean_on_every_core(cores, || {
        per_call_us(15, 2000, || {
            assert!(bare.verify(black_box(&input), black_box(&signature)));
        })
    });
    println!("t_verify_us={t_verify:.3}");
    println!("t_verify_parallel_us={t_verify_parallel:.3}");
    println!("t_library_us={t_library:.3}");
}
