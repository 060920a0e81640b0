//! What a revocation list costs `Verifier::verify`: an EdDSA token checked with an empty list
//! and with 10 000 entries (5 000 revoked tokens, 5 000 revoked subjects, none of them this
//! token's), interleaved in one group. `cargo bench --bench revocations`; BENCHMARKS.md
//! ("Sessions") has the figures.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use watchword::config::SigningAlgorithm;
use watchword_verify::RevocationList;

mod common;
use common::Case;

fn revocations(c: &mut Criterion) {
    let none = Case::new(SigningAlgorithm::EdDSA);
    let many = Case::new(SigningAlgorithm::EdDSA);
    let mut list = RevocationList::new();
    for i in 0..5_000 {
        list.revoke_token(format!("{:032x}", i * 7919), 4_000_000_000);
        list.revoke_subject(format!("user-{i}"), 1_700_000_000);
    }
    assert_eq!(list.len(), 10_000);
    many.verifier.set_revocations(list);
    let mut g = c.benchmark_group("revocations");
    g.bench_function("Verifier::verify, no revoked entries", |b| {
        b.iter(|| none.verifier.verify(black_box(&none.token)).expect("valid"))
    });
    g.bench_function("Verifier::verify, 10000 revoked entries", |b| {
        b.iter(|| many.verifier.verify(black_box(&many.token)).expect("valid"))
    });
    g.finish();
}

criterion_group!(benches, revocations);
criterion_main!(benches);
