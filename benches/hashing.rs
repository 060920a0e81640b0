//! argon2id at the production defaults (`config/default.toml`: m=19456 KiB, t=2, p=1), one
//! thread: hashing a new password, the pool's check (memory reused between calls), and the
//! argon2 crate's `verify_password` (fresh memory each call) for comparison.
//!
//! `cargo bench --bench hashing` (≈ 20 s). Results: BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::{Argon2, Params};
use criterion::{criterion_group, criterion_main, Criterion};
use watchword::login::password::{hash_password, normalize, HashMemory, StoredHash};

/// The compiled-in defaults, read the way the service reads them.
fn default_params() -> Params {
    watchword::config::Settings::load(None)
        .expect("built-in defaults load")
        .password
        .params
}

fn argon2_default(c: &mut Criterion) {
    let params = default_params();
    let name = format!(
        "argon2id m={} t={} p={}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    );
    let phc = hash_password("password_test", &params).expect("hash");
    let stored = StoredHash::parse(&phc).expect("own hash parses");
    let password = normalize("password_test");

    let mut g = c.benchmark_group(name);
    g.bench_function("hash_password (new hash)", |b| {
        b.iter(|| hash_password(black_box("password_test"), &params).expect("hash"))
    });
    let mut memory = HashMemory::new();
    g.bench_function("verify_with (reused memory, as the pool)", |b| {
        b.iter(|| assert!(stored.verify_with(black_box(password.as_bytes()), &mut memory)))
    });
    let parsed = PasswordHash::new(&phc).expect("PHC");
    g.bench_function("argon2 verify_password (fresh memory)", |b| {
        b.iter(|| {
            Argon2::default()
                .verify_password(black_box(password.as_bytes()), &parsed)
                .expect("matches")
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(10)
        .configure_from_args()
}

criterion_group! { name = benches; config = config(); targets = argon2_default }
criterion_main!(benches);
