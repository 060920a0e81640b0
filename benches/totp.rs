//! What TOTP adds to one login, printed as `key=value` lines (BENCHMARKS.md, "TOTP"): one login
//! at a time, no other load.
//!
//! * `argon2_p50_us`: one argon2 check at the production defaults (`password.*` of
//!   config/default.toml): what every password login pays, with or without TOTP;
//! * `crypto_p50_us` / `_p99_us`: the TOTP check without its database write (open the sealed
//!   secret with AES-256-GCM, three HMAC-SHA-1 codes, constant-time compares);
//! * `<store>_check_p50_us` / `_p99_us`: `SecondFactor::check` as a login runs it, the
//!   compare-and-set of the step included (each iteration a newer step, so each one writes);
//! * `<store>_bound`: (argon2 + check) ÷ argon2 at the p50s, an upper bound of login-with-TOTP ÷
//!   login-without (a whole login costs more than its argon2 check, so the same addition is a
//!   smaller fraction of it). Acceptance: ≤ 1.05.
//!
//! `cargo bench --bench totp -- [--sqlite URL] [--postgres URL] [--n N]`; each database is
//! migrated first.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use watchword::config::{DatabaseKind, DatabaseSettings, DatabaseUrl, Settings};
use watchword::database::Database;
use watchword::login::password::{hash_password, HashMemory, StoredHash};
use watchword::login::totp::code::{code_at, matching_steps};
use watchword::login::totp::key::{random_bytes, TotpKey};
use watchword::login::totp::store::{TotpDb, TotpState};
use watchword::login::totp::{new_secret, SecondFactor, TotpSettings};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn us(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e6
}

fn open(url: &str, kind: DatabaseKind) -> Database {
    let db = Database::open(&DatabaseSettings {
        url: Some(DatabaseUrl {
            secret: url.to_owned().into(),
            key: "database.url",
            kind,
        }),
        pool_size: 8,
        connect_timeout: Duration::from_secs(10),
        migrate: true,
    })
    .expect("the database opens");
    db.prepare(true).expect("the database migrates");
    db
}

/// `SecondFactor::check` `n` times on `db` for a fresh account: p50 and p99 in µs.
async fn measure_store(db: Database, factor: &SecondFactor, n: usize) -> (f64, f64) {
    let name = format!("bench-{}", std::process::id());
    let hash = hash_password("x", &argon2::Params::new(8, 1, 1, None).unwrap()).unwrap();
    db.run(|pool| {
        let (name, hash) = (name.clone(), hash.clone());
        async move {
            sqlx::query("INSERT INTO users (name, password_hash) VALUES ($1, $2)")
                .bind(name)
                .bind(hash)
                .execute(&pool)
                .await
                .map(|_| ())
        }
    })
    .await
    .expect("the bench account is added");
    let key = factor.key.as_ref().unwrap();
    let secret = new_secret().unwrap();
    let sealed = key.seal_secret(&name, &secret).unwrap();
    let totp = TotpDb::new(db.clone());
    assert!(totp.enable(&name, &sealed, 0).await.unwrap());
    let mut times = Vec::with_capacity(n);
    for step in 1..=(n as u64 + 50) {
        // Each login one step newer than the last: every check writes, as a real one does.
        let state = TotpState {
            sealed: sealed.clone(),
            last_step: step as i64 - 1,
        };
        let code: SecretString =
            code_at(secrecy::ExposeSecret::expose_secret(&secret), step).into();
        let start = Instant::now();
        let verdict = factor
            .check(&totp, &name, &state, &code, step)
            .await
            .unwrap();
        let t = us(start);
        assert_eq!(verdict, watchword::login::totp::Verdict::Accepted);
        if step > 50 {
            times.push(t);
        }
    }
    totp.disable(&name).await.unwrap();
    db.run(move |pool| async move {
        sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&pool)
            .await
            .map(|_| ())
    })
    .await
    .unwrap();
    (percentile(&mut times, 0.5), percentile(&mut times, 0.99))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let n = value("--n").and_then(|v| v.parse().ok()).unwrap_or(1000);

    let settings = Settings::load(None).expect("the defaults load");
    let params = &settings.password.params;
    let stored = StoredHash::parse(&hash_password("password_test", params).unwrap()).unwrap();
    let mut memory = HashMemory::new();
    let mut argon2 = Vec::new();
    for i in 0..60 {
        let start = Instant::now();
        assert!(stored.verify_with(b"password_test", &mut memory));
        if i >= 10 {
            argon2.push(us(start));
        }
    }
    let argon2_p50 = percentile(&mut argon2, 0.5);
    println!(
        "argon2_p50_us={argon2_p50:.0} (m={} t={} p={})",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    );

    let key = TotpKey::from_bytes(&random_bytes(32).unwrap()).unwrap();
    let secret = new_secret().unwrap();
    let sealed = key.seal_secret("alice", &secret).unwrap();
    let mut crypto = Vec::with_capacity(n);
    for step in 0..n as u64 {
        let code = code_at(secrecy::ExposeSecret::expose_secret(&secret), step);
        let start = Instant::now();
        let opened = key.open_secret("alice", &sealed).unwrap();
        let found = matching_steps(&opened, std::hint::black_box(&code), step);
        crypto.push(us(start));
        assert!(found.contains(&step));
    }
    println!(
        "crypto_p50_us={:.1}\ncrypto_p99_us={:.1}",
        percentile(&mut crypto, 0.5),
        percentile(&mut crypto, 0.99)
    );

    let factor = SecondFactor {
        key: Some(std::sync::Arc::new(key)),
        old_keys: Vec::new(),
        settings: TotpSettings::default(),
    };
    for (name, flag, kind) in [
        ("sqlite", "--sqlite", DatabaseKind::Sqlite),
        ("postgres", "--postgres", DatabaseKind::Postgres),
    ] {
        if let Some(url) = value(flag) {
            let (p50, p99) = measure_store(open(&url, kind), &factor, n).await;
            println!("{name}_check_p50_us={p50:.0}\n{name}_check_p99_us={p99:.0}");
            println!("{name}_bound={:.3}", (argon2_p50 + p50) / argon2_p50);
        }
    }
}
