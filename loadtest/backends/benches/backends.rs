//! jsonwebtoken `encode` and `decode` (prepared keys) per algorithm, for whichever backend
//! feature this crate was built with. Keys come from `BACKEND_KEYS` (PEM files written by
//! `run.sh` with openssl), so both builds sign and check with the very same keys.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: u64,
    exp: u64,
    jti: String,
    roles: Vec<String>,
}

const BACKEND: &str = if cfg!(feature = "aws_lc_rs") {
    "aws_lc_rs"
} else {
    "rust_crypto"
};

fn keys(alg: Algorithm) -> (EncodingKey, DecodingKey) {
    let dir = PathBuf::from(std::env::var("BACKEND_KEYS").expect("BACKEND_KEYS: run loadtest/backends/run.sh"));
    let read = |name: &str| std::fs::read(dir.join(name)).expect("key file");
    match alg {
        Algorithm::EdDSA => (
            EncodingKey::from_ed_pem(&read("ed25519.pem")).unwrap(),
            DecodingKey::from_ed_pem(&read("ed25519.pub.pem")).unwrap(),
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(&read("p256.pem")).unwrap(),
            DecodingKey::from_ec_pem(&read("p256.pub.pem")).unwrap(),
        ),
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(&read("rsa2048.pem")).unwrap(),
            DecodingKey::from_rsa_pem(&read("rsa2048.pub.pem")).unwrap(),
        ),
        Algorithm::HS256 => {
            let secret = read("hs256.key");
            (EncodingKey::from_secret(&secret), DecodingKey::from_secret(&secret))
        }
        other => unreachable!("{other:?} is not measured"),
    }
}

fn backends(c: &mut Criterion) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = Claims {
        sub: "user_test".into(),
        iss: "watchword".into(),
        aud: "watchword".into(),
        iat: now,
        exp: now + 1800,
        jti: "0b9c6a3e-6c2f-4f2e-9d8e-5f1f0b1f3c2a".into(),
        roles: vec!["user".into()],
    };
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256, Algorithm::HS256] {
        let (enc, dec) = keys(alg);
        let header = Header::new(alg);
        let token = encode(&header, &claims, &enc).expect("sign");
        let mut validation = Validation::new(alg);
        validation.set_audience(&["watchword"]);
        validation.set_issuer(&["watchword"]);
        let mut g = c.benchmark_group(format!("{BACKEND}/{alg:?}"));
        g.bench_function("encode", |b| b.iter(|| encode(&header, black_box(&claims), &enc).unwrap()));
        g.bench_function("decode (prepared key)", |b| {
            b.iter(|| decode::<Claims>(black_box(&token), &dec, &validation).unwrap())
        });
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args()
}

criterion_group! { name = benches; config = config(); targets = backends }
criterion_main!(benches);
