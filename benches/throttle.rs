//! What the throttle's store adds to one login, printed as `key=value` lines for
//! loadtest/throttle.sh: for the memory store and each database given, the time of
//! `Throttle::begin` plus the settlement, one login at a time (no other load), as the handler
//! runs them around the password check:
//!
//! * `<store>_success_p50_us` / `_p99_us`: the same user logging in with the right password
//!   (check and reserve, then success: the pair's and the address's rows come and go);
//! * `<store>_failure_p50_us` / `_p99_us`: a wrong password for a new name each time (check
//!   and reserve, then failure: the rows stay);
//! * `<store>_refused_p50_us` / `_p99_us`: an attempt refused by a locked pair (a read).
//!
//! `cargo bench --bench throttle -- [--sqlite URL] [--postgres URL] [--n N]`; each database
//! is migrated first.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use watchword::config::{DatabaseKind, DatabaseSettings, DatabaseUrl};
use watchword::database::Database;
use watchword::login::throttle::{Throttle, ThrottleSettings, ThrottleStore};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn open(url: &str, kind: DatabaseKind, settings: &ThrottleSettings) -> Throttle {
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
    let settings = ThrottleSettings {
        store: ThrottleStore::Database,
        ..settings.clone()
    };
    Throttle::with_database(settings, db, true, Ok(()))
}

async fn measure(name: &str, t: &Throttle, n: usize) {
    let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let us = |since: Instant| since.elapsed().as_secs_f64() * 1e6;
    // Warm up: connections opened, statements prepared.
    for _ in 0..50 {
        t.begin_now("warm-up", client)
            .await
            .unwrap()
            .success()
            .await;
    }
    let mut success = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let attempt = t.begin_now("user_test", client).await.unwrap();
        attempt.success().await;
        success.push(us(start));
    }
    let mut failure = Vec::with_capacity(n);
    for i in 0..n {
        // A new name and a new address each time: no lock, new rows.
        let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32));
        let start = Instant::now();
        let attempt = t.begin_now(&format!("name-{i}"), addr).await.unwrap();
        attempt.failure().await;
        failure.push(us(start));
    }
    let locked = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    for _ in 0..t.settings().max_failures_per_user {
        t.begin_now("locked", locked).await.unwrap().failure().await;
    }
    let mut refused = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        assert!(t.begin_now("locked", locked).await.is_err());
        refused.push(us(start));
    }
    for (what, v) in [
        ("success", &mut success),
        ("failure", &mut failure),
        ("refused", &mut refused),
    ] {
        println!("{name}_{what}_p50_us={:.1}", percentile(v, 0.5));
        println!("{name}_{what}_p99_us={:.1}", percentile(v, 0.99));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let n = value("--n").and_then(|v| v.parse().ok()).unwrap_or(2000);
    let settings = ThrottleSettings::default();
    measure("memory", &Throttle::new(settings.clone()), n).await;
    if let Some(url) = value("--sqlite") {
        measure("sqlite", &open(&url, DatabaseKind::Sqlite, &settings), n).await;
    }
    if let Some(url) = value("--postgres") {
        measure(
            "postgres",
            &open(&url, DatabaseKind::Postgres, &settings),
            n,
        )
        .await;
    }
}
