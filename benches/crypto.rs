//! Token costs per algorithm: sign, verify with the library, the bare crypto-backend check of
//! the same token beside it, jsonwebtoken's `decode` with a prepared key for comparison, and
//! the answer envelope.
//!
//! `cargo bench --bench crypto` (≈ 1.5 min). Results and their meaning: BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use watchword::config::SigningAlgorithm;
use watchword_verify::envelope::Envelope;
use watchword_verify::Claims;

mod common;
use common::Case;

fn tokens(c: &mut Criterion) {
    for alg in [
        SigningAlgorithm::EdDSA,
        SigningAlgorithm::ES256,
        SigningAlgorithm::RS256,
        SigningAlgorithm::HS256,
    ] {
        let case = Case::new(alg);
        let (jwt_key, jwt_validation) = case.jsonwebtoken();
        let mut g = c.benchmark_group(alg.as_str());
        g.bench_function("sign (Issuer::sign)", |b| {
            b.iter(|| case.issuer.sign(black_box(&case.claims)).expect("sign"))
        });
        g.bench_function("bare backend check", |b| {
            b.iter(|| {
                assert!(case
                    .bare
                    .verify(black_box(&case.signing_input), black_box(&case.signature)))
            })
        });
        g.bench_function("verify (Verifier::verify)", |b| {
            b.iter(|| case.verifier.verify(black_box(&case.token)).expect("valid"))
        });
        g.bench_function("jsonwebtoken::decode (prepared key)", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Claims>(black_box(&case.token), &jwt_key, &jwt_validation)
                    .expect("valid")
            })
        });
        g.finish();
    }
}

fn envelope(c: &mut Criterion) {
    let case = Case::new(SigningAlgorithm::EdDSA);
    let mut g = c.benchmark_group("envelope");
    g.bench_function("token answer to_json", |b| {
        b.iter(|| Envelope::token(black_box(case.token.clone()), 1800).to_json())
    });
    g.bench_function("error answer to_json", |b| {
        b.iter(|| Envelope::error(401, black_box("Invalid user name or password.")).to_json())
    });
    g.bench_function("issue (claims + sign, EdDSA)", |b| {
        b.iter(|| {
            case.issuer
                .issue(black_box(&case.user), &Default::default())
                .expect("issue")
        })
    });
    g.finish();
}

/// A token whose header holds 600 distinct names (about 7.5 KiB of base64, just within the
/// 8 KiB token limit, so the size check does not stop it first) against a normal token: the
/// first is refused at the header member cap, in time comparable to a normal check (before
/// the cap, the duplicate check over the names was quadratic).
fn hostile_header(c: &mut Criterion) {
    use base64::Engine;
    let case = Case::new(SigningAlgorithm::EdDSA);
    let names: String = (0..600).map(|i| format!(r#","n{i:03}":1"#)).collect();
    let header = format!(r#"{{"alg":"EdDSA","typ":"JWT"{names}}}"#);
    let (_, rest) = case.token.split_once('.').expect("a JWS");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let hostile = format!("{}.{rest}", b64.encode(header));
    assert!(hostile.len() < 8 * 1024, "within the token size limit");
    let mut g = c.benchmark_group("hostile header");
    g.bench_function("verify a normal token", |b| {
        b.iter(|| case.verifier.verify(black_box(&case.token)).expect("valid"))
    });
    g.bench_function("refuse a header of 600 names", |b| {
        b.iter(|| {
            case.verifier
                .verify(black_box(&hostile))
                .expect_err("refused")
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! { name = benches; config = config(); targets = tokens, envelope, hostile_header }
criterion_main!(benches);
