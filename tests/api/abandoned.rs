//! Clients that send a guess and reset the connection while it is being checked: the guess
//! is counted, settled and logged as if they had waited for the answer.

use std::time::Duration;

use crate::cli::{metric_value, Running};
use crate::helpers::*;

/// A hash that keeps a hashing thread busy for a noticeable while (≈ 6 × the default cost), so
/// that a reset sent once the guess is in the pool lands while it is being hashed.
fn slow_hash(password: &str) -> String {
    let params = argon2::Params::new(19456, 12, 1, None).unwrap();
    watchword::login::password::hash_password(password, &params).unwrap()
}

/// Twenty guesses on one name, each reset once the server has it in the hashing pool (or has
/// answered it): the right password is then refused with 429, and the log has one line for
/// every attempt, the reset ones as `outcome=abandoned`. Before the fix the reset guesses
/// released their throttle slots uncounted and unlogged, and the right password got 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_guesses_are_counted_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[users]]\nname = \"victim\"\npassword_hash = \"{}\"\n",
            slow_hash(PASSWORD)
        ),
    )
    .unwrap();
    let server = Running::start(&[
        ("WATCHWORD__USERS__FILE", users.display().to_string()),
        ("WATCHWORD__METRICS__BIND", "127.0.0.1:0".into()),
    ]);
    let metrics_url = server.metrics_url().await;
    let in_flight = || metric_value(&metrics_url, "watchword_argon2_in_flight");
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();

    for i in 0..20 {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while in_flight().await != 0 {
            assert!(std::time::Instant::now() < deadline, "pool never drained");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut stream = send_raw(addr, &raw_login("victim", &format!("Guess-{i}"), "")).await;
        // A throttled guess is answered at once; a checked one is reset while it hashes.
        loop {
            if answered(&mut stream).await || in_flight().await > 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "guess {i} never reached the pool"
            );
        }
        reset(stream);
    }
    let res = reqwest::Client::new()
        .post(format!("{}/login", server.base))
        .headers(creds("victim", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        429,
        "the abandoned guesses were not counted: {}",
        server.log.lock().unwrap()
    );

    // The last line is written by the task of the last abandoned guess at the latest when the
    // pool is empty again; the 429 was logged before it was sent.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while in_flight().await != 0 {
        assert!(std::time::Instant::now() < deadline, "pool never drained");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let lines = || -> Vec<String> {
        server
            .log
            .lock()
            .unwrap()
            .lines()
            .filter(|l| l.contains("login outcome=") && l.contains("user=\"victim\""))
            .map(str::to_owned)
            .collect()
    };
    wait_until(
        "a log line for every attempt",
        Duration::from_secs(30),
        || lines().len() >= 21,
    )
    .await;
    let log = server.stop();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("login outcome=") && l.contains("user=\"victim\""))
        .collect();
    assert_eq!(lines.len(), 21, "one line per attempt:\n{log}");
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    // Five guesses were checked (the limit), fifteen refused at once, and the right password.
    assert_eq!(
        count("outcome=bad_credentials") + count("outcome=abandoned result=bad_credentials"),
        5,
        "{log}"
    );
    assert_eq!(count("outcome=throttled"), 16, "{log}");
    assert!(
        count("outcome=abandoned") >= 1,
        "no guess was reset while it was being hashed:\n{log}"
    );
    assert!(!log.contains("Guess-"), "a password in the log:\n{log}");
}

/// Sixteen clients on one address send guesses at once and reset them: the address is locked
/// after `max_failures_per_ip` like an address whose clients wait, a client elsewhere still
/// logs in, and the guesses still queued when their clients left are settled without hashing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_abandoning_clients_is_locked_out_per_address() {
    // The flood's unknown names cost what the accounts cost: slow, so that the guesses queue.
    let app = spawn_with(Spec {
        users: format!(
            "[[users]]\nname = \"user_test\"\npassword_hash = \"{}\"\n",
            slow_hash(PASSWORD)
        ),
        config: "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
                 [throttle]\nmax_failures_per_ip = 10\n\
                 [password]\nworkers = 1\nqueue = 64\n"
            .into(),
        ..Spec::default()
    })
    .await;
    let pool = &app.state.pool;
    let (submitted, hashed) = (pool.submitted(), pool.verifications());
    let flood = "X-Forwarded-For: 203.0.113.66\r\n";
    let mut streams = Vec::new();
    for i in 0..16 {
        streams.push(send_raw(app.addr, &raw_login(&format!("flood-{i}"), "guess", flood)).await);
    }
    // Exactly the per-address limit is let through to the pool; the rest are refused at once.
    wait_until("ten guesses in the pool", Duration::from_secs(60), || {
        pool.submitted() - submitted >= 10
    })
    .await;
    for stream in streams {
        reset(stream);
    }
    wait_until("the pool to settle", Duration::from_secs(120), || {
        pool.in_flight() == 0
    })
    .await;
    assert_eq!(pool.submitted() - submitted, 10);
    let (checked, skipped) = (pool.verifications() - hashed, pool.skipped());
    assert_eq!(checked + skipped, 10);
    assert!(
        skipped >= 1,
        "the guesses queued behind the first were hashed for nobody ({checked} hashed)"
    );

    // Attempts still being settled hold their slots, so the lock is there at once.
    let mut from_flood = creds("user_test", PASSWORD);
    from_flood.insert("X-Forwarded-For", "203.0.113.66".parse().unwrap());
    assert_eq!(
        app.login_with(&Method::Post, from_flood).await.status(),
        429,
        "the flood's address is not locked"
    );
    let mut elsewhere = creds("user_test", PASSWORD);
    elsewhere.insert("X-Forwarded-For", "198.51.100.1".parse().unwrap());
    assert_eq!(app.login_with(&Method::Post, elsewhere).await.status(), 200);
}
