//! Two argon2 implementations checking the same PHC string, in one run: RustCrypto `argon2`
//! 0.5.3 the way the service called it before (`hash_password_into_with_memory`, block buffer
//! reused), and argon2-rust 1.1 (SIMD, dispatched at run time) the way a hashing thread calls
//! it now (`StoredHash::verify_with`, a `HashMemory` reused). Production parameters (`config/default.toml`:
//! argon2id m=19456 KiB, t=2) at p=1, and at p=2 and p=4 with the same memory; lanes run one
//! after another on the calling thread in both, as on a hashing thread.
//!
//! Two measurements, both printed:
//!
//! 1. **Interleaved pairs** (first): `PAIRS` (default 40) pairs per p, the two checks back to
//!    back in alternating order, so a slow moment of this shared machine lands on both. The
//!    per-pair ratio's median is the figure the switch was decided on (≥ 1.15 required).
//! 2. **criterion** groups `argon2id m=19456 t=2 p=N`, one function per implementation, run
//!    next to each other (criterion cannot interleave samples).
//!
//! `cargo bench --bench argon2_impls` (≈ 1.5 min). `PAIRS=0` skips the pairs; a criterion
//! filter (`-- p=1`) narrows the groups. Results: BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use criterion::Criterion;
use watchword::login::password::{HashMemory, StoredHash};

const PASSWORD: &str = "password_test";

/// The compiled-in defaults, read the way the service reads them.
fn default_params() -> argon2::Params {
    watchword::config::Settings::load(None)
        .expect("built-in defaults load")
        .password
        .params
}

/// A PHC string and everything each implementation needs to check a password against it,
/// prepared once as the service prepares a users file.
struct Target {
    phc: String,
    rustcrypto: (argon2::Argon2<'static>, Vec<u8>, Vec<u8>, usize),
    stored: StoredHash,
}

impl Target {
    fn new(p: u32) -> Target {
        let d = default_params();
        let params = argon2::Params::new(d.m_cost(), d.t_cost(), p, None).expect("params");
        let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").expect("salt");
        let phc = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(PASSWORD.as_bytes(), &salt)
            .expect("hash")
            .to_string();

        // Parsed as StoredHash::parse does.
        let parsed = PasswordHash::new(&phc).expect("PHC");
        let params = argon2::Params::try_from(&parsed).expect("params");
        let mut buf = [0u8; 64];
        let salt = parsed.salt.unwrap().decode_b64(&mut buf).unwrap().to_vec();
        let tag = parsed.hash.unwrap().as_bytes().to_vec();
        let blocks = params.block_count();
        let rc = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params.clone(),
        );
        let stored = StoredHash::parse(&phc).expect("PHC");
        Target {
            phc,
            rustcrypto: (rc, salt, tag, blocks),
            stored,
        }
    }

    /// RustCrypto, as `StoredHash::verify_with` called it before the switch.
    fn rustcrypto(&self, password: &[u8], memory: &mut Vec<argon2::Block>) -> bool {
        let (argon, salt, tag, blocks) = &self.rustcrypto;
        if memory.len() < *blocks {
            memory.resize(*blocks, argon2::Block::default());
        }
        let mut out = [0u8; 64];
        let out = &mut out[..tag.len()];
        argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..*blocks])
            .is_ok()
            && aws_lc_rs::constant_time::verify_slices_are_equal(out, tag).is_ok()
    }

    /// argon2-rust, exactly as a hashing thread runs it.
    fn candidate(&self, password: &[u8], memory: &mut HashMemory) -> bool {
        self.stored.verify_with(password, memory)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn interleaved(pairs: usize) {
    println!(
        "argon2-rust backend on this CPU: {} (BLAKE2b: {})",
        argon2_rust::detected_backend(),
        argon2_rust::detected_blake2b_backend()
    );
    println!("interleaved pairs, {pairs} per row, one thread, ms per check (median):");
    println!(
        "| params | RustCrypto argon2 0.5.3 | argon2-rust 1.1 | ratio per pair: median (min–max) |"
    );
    println!("|---|---|---|---|");
    let password = watchword::login::password::normalize(PASSWORD);
    let pw = password.as_bytes();
    let mut memory = Vec::new();
    let mut hasher = HashMemory::new();
    for p in [1, 2, 4] {
        let t = Target::new(p);
        // Warm: buffers grown, pages touched.
        assert!(t.rustcrypto(pw, &mut memory) && t.candidate(pw, &mut hasher));
        let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..pairs {
            let mut time = |rust_crypto: bool| {
                let start = Instant::now();
                let ok = if rust_crypto {
                    t.rustcrypto(black_box(pw), &mut memory)
                } else {
                    t.candidate(black_box(pw), &mut hasher)
                };
                assert!(ok, "the right password verifies");
                start.elapsed().as_secs_f64() * 1e3
            };
            let (ta, tb) = if i % 2 == 0 {
                let ta = time(true);
                (ta, time(false))
            } else {
                let tb = time(false);
                (time(true), tb)
            };
            a.push(ta);
            b.push(tb);
            ratio.push(ta / tb);
        }
        let (lo, hi) = ratio
            .iter()
            .fold((f64::INFINITY, 0f64), |(l, h), &r| (l.min(r), h.max(r)));
        let prefix = t.phc.split('$').take(4).collect::<Vec<_>>().join("$");
        println!(
            "| `{prefix}` | {:.2} | {:.2} | **{:.3}** ({lo:.2}–{hi:.2}) |",
            median(a),
            median(b),
            median(ratio)
        );
    }
    println!();
}

fn groups(c: &mut Criterion) {
    let password = watchword::login::password::normalize(PASSWORD);
    let pw = password.as_bytes();
    for p in [1, 2, 4] {
        let t = Target::new(p);
        let d = default_params();
        let mut g = c.benchmark_group(format!("argon2id m={} t={} p={p}", d.m_cost(), d.t_cost()));
        let mut memory = Vec::new();
        g.bench_function("RustCrypto argon2 0.5.3 (reused memory)", |b| {
            b.iter(|| assert!(t.rustcrypto(black_box(pw), &mut memory)))
        });
        let mut hasher = HashMemory::new();
        g.bench_function(
            "argon2-rust 1.1 (StoredHash::verify_with, as the pool)",
            |b| b.iter(|| assert!(t.candidate(black_box(pw), &mut hasher))),
        );
        g.finish();
    }
}

fn main() {
    let pairs = std::env::var("PAIRS")
        .ok()
        .map_or(40, |v| v.parse().expect("PAIRS is a number"));
    // `cargo test --benches` runs this binary with --test-ish flags: no pairs then.
    let testing = std::env::args().any(|a| a == "--test" || a == "--list");
    if pairs > 0 && !testing {
        interleaved(pairs);
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(7))
        .sample_size(20)
        .configure_from_args();
    groups(&mut c);
    c.final_summary();
}
