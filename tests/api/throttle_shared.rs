//! `throttle.store = "database"` with two real server processes (the `watchword` binary) on
//! one real database, SQLite (a file both open) and PostgreSQL: failures add up across
//! them, 50 concurrent guesses split over both reach argon2 five times, the address limit
//! holds across both; and with PostgreSQL stopped, `on_store_error = "local"` counts in
//! memory while `"deny"` answers 503, until PostgreSQL is back and counting is shared again
//! (also when it was not there at the start).

use std::path::Path;

use crate::cli::Running;
use crate::database::{eventually, OwnPostgres};
use crate::helpers::*;

/// A server process on port 0 with the users file of the other tests, throttle counters in
/// the database at `url` and `extra` config.
fn server(dir: &Path, tag: &str, url: &str, extra: &str) -> Running {
    let users = dir.join("users.toml");
    if !users.exists() {
        std::fs::write(&users, users_toml()).unwrap();
    }
    let config = dir.join(format!("{tag}.toml"));
    let text = format!(
        "[server]\nworkers = 1\n[users]\nfile = \"{}\"\n[password]\nworkers = 2\n\
         [metrics]\nbind = \"127.0.0.1:0\"\n\
         [database]\nurl = \"{url}\"\nconnect_timeout = \"2s\"\n\
         [throttle]\nstore = \"database\"\n{extra}",
        users.display()
    );
    std::fs::write(&config, text).unwrap();
    Running::start(&[("WATCHWORD_CONFIG", config.display().to_string())])
}

async fn login(
    client: &reqwest::Client,
    server: &Running,
    user: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{}/login", server.base))
        .headers(creds(user, password))
        .send()
        .await
        .unwrap()
}

async fn status(client: &reqwest::Client, server: &Running, user: &str, password: &str) -> u16 {
    login(client, server, user, password)
        .await
        .status()
        .as_u16()
}

/// A metric's value on `server`'s `metrics.bind` listener (0 when it has no sample).
async fn metric(client: &reqwest::Client, server: &Running, name: &str) -> f64 {
    let text = client
        .get(server.metrics_url().await)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A fresh database for both servers of a test.
async fn shared_database(store: Store, dir: &Path) -> String {
    fresh_database(store, dir).await
}

/// 3 wrong passwords on server A and 2 on server B lock the pair on both: the right
/// password answers 429 with Retry-After on either; once the window has passed it logs in.
#[tokio::test]
async fn failures_on_two_servers_add_up_and_lift_after_the_window() {
    for store in database_stores() {
        let dir = tempfile::tempdir().unwrap();
        let url = shared_database(store, dir.path()).await;
        let config = "window = \"3s\"\nmax_failures_per_user = 5\n";
        let a = server(dir.path(), "a", &url, config);
        let b = server(dir.path(), "b", &url, config);
        let client = reqwest::Client::new();
        for (server, n) in [(&a, 3), (&b, 2)] {
            for _ in 0..n {
                assert_eq!(
                    status(&client, server, "user_test", "wrong").await,
                    401,
                    "{store:?}"
                );
            }
        }
        for server in [&a, &b] {
            let res = login(&client, server, "user_test", PASSWORD).await;
            assert_eq!(
                res.status(),
                429,
                "{store:?}: the right password is refused too"
            );
            let retry: u64 = res.headers()["Retry-After"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=3).contains(&retry), "Retry-After {retry}");
        }
        eventually("the window to pass", || async {
            status(&client, &a, "user_test", PASSWORD).await == 200
        })
        .await;
        assert_eq!(
            status(&client, &b, "user_test", PASSWORD).await,
            200,
            "{store:?}"
        );
    }
}

/// 50 concurrent wrong guesses for one name from one address, split over both servers: five
/// reach argon2 (five answers 401, counted as bad_credentials by the two servers together),
/// the other 45 are refused with 429 before any hashing.
#[tokio::test]
async fn fifty_concurrent_guesses_over_two_servers_reach_argon2_five_times() {
    for store in database_stores() {
        let dir = tempfile::tempdir().unwrap();
        let url = shared_database(store, dir.path()).await;
        let a = server(dir.path(), "a", &url, "");
        let b = server(dir.path(), "b", &url, "");
        let client = reqwest::Client::new();
        // All sent at once, each on a connection of its own.
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let base = if i % 2 == 0 {
                    a.base.clone()
                } else {
                    b.base.clone()
                };
                let client = client.clone();
                tokio::spawn(async move {
                    client
                        .post(format!("{base}/login"))
                        .headers(creds("user_test", &format!("guess-{i}")))
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        let count = |code: u16| answers.iter().filter(|&&s| s == code).count();
        assert_eq!(count(401), 5, "{store:?}: {answers:?}");
        assert_eq!(count(429), 45, "{store:?}: {answers:?}");
        let hashed = metric(
            &client,
            &a,
            "watchword_logins_total{outcome=\"bad_credentials\"}",
        )
        .await
            + metric(
                &client,
                &b,
                "watchword_logins_total{outcome=\"bad_credentials\"}",
            )
            .await;
        assert_eq!(hashed, 5.0, "{store:?}");
    }
}

/// `max_failures_per_ip` wrong guesses over many names, split over both servers, lock that
/// address on both, for any name.
#[tokio::test]
async fn the_address_limit_holds_across_both_servers() {
    for store in database_stores() {
        let dir = tempfile::tempdir().unwrap();
        let url = shared_database(store, dir.path()).await;
        let config = "max_failures_per_ip = 8\n";
        let a = server(dir.path(), "a", &url, config);
        let b = server(dir.path(), "b", &url, config);
        let client = reqwest::Client::new();
        for i in 0..8 {
            let server = if i % 2 == 0 { &a } else { &b };
            assert_eq!(
                status(&client, server, &format!("name-{i}"), "wrong").await,
                401,
                "{store:?}"
            );
        }
        for server in [&a, &b] {
            assert_eq!(
                status(&client, server, "a-new-name", "wrong").await,
                429,
                "{store:?}"
            );
            assert_eq!(
                status(&client, server, "user_test", PASSWORD).await,
                429,
                "{store:?}"
            );
        }
    }
}

fn log_of(server: &Running) -> String {
    server.log.lock().unwrap().clone()
}

/// 3 wrong on A, 2 wrong on B, then the right password is refused on both: counting is
/// shared.
async fn assert_shared(
    client: &reqwest::Client,
    a: &Running,
    b: &Running,
    user: &str,
    password: &str,
) {
    for (server, n) in [(a, 3), (b, 2)] {
        for _ in 0..n {
            assert_eq!(status(client, server, user, "wrong").await, 401);
        }
    }
    assert_eq!(status(client, a, user, password).await, 429);
    assert_eq!(status(client, b, user, password).await, 429);
}

/// PostgreSQL stopped under two running servers: A (`on_store_error = "local"`) checks and
/// counts in its memory — five failures lock the pair there, the right password too — and
/// B (`"deny"`) answers 503 with Retry-After; both count the errors and say so in the log,
/// once. PostgreSQL back: both share the counting again, and A still holds its lock.
#[tokio::test]
async fn with_postgres_stopped_local_counts_in_memory_and_deny_answers_503() {
    if postgres_url().is_none() {
        return;
    }
    let pg = OwnPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let a = server(dir.path(), "a", &pg.url, "on_store_error = \"local\"\n");
    let b = server(dir.path(), "b", &pg.url, "on_store_error = \"deny\"\n");
    let client = reqwest::Client::new();
    assert_eq!(status(&client, &a, "user_test", "wrong").await, 401);
    assert_eq!(status(&client, &b, "user_test", PASSWORD).await, 200);

    pg.script("pause");
    for i in 0..5 {
        assert_eq!(
            status(&client, &a, "spacey", "wrong").await,
            401,
            "local failure {i}"
        );
    }
    assert_eq!(
        status(&client, &a, "spacey", SPACED).await,
        429,
        "locked in memory"
    );
    for _ in 0..3 {
        let res = login(&client, &b, "spacey", SPACED).await;
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["Retry-After"], "5");
    }
    for server in [&a, &b] {
        assert!(metric(&client, server, "watchword_throttle_store_errors_total").await >= 3.0);
        assert_eq!(
            metric(&client, server, "watchword_throttle_store_up").await,
            0.0
        );
    }
    assert_eq!(
        log_of(&a)
            .matches("throttle.on_store_error = \"local\"")
            .count(),
        1,
        "{}",
        log_of(&a)
    );
    assert_eq!(
        log_of(&b)
            .matches("throttle.on_store_error = \"deny\"")
            .count(),
        1,
        "{}",
        log_of(&b)
    );

    pg.script("resume");
    for server in [&a, &b] {
        eventually("the store to answer again", || async {
            metric(&client, server, "watchword_throttle_store_up").await == 1.0
        })
        .await;
    }
    // A's failures from the outage keep their lock.
    assert_eq!(status(&client, &a, "spacey", SPACED).await, 429);
    assert_eq!(
        status(&client, &b, "spacey", SPACED).await,
        200,
        "not counted on B"
    );
    assert_shared(&client, &a, &b, "ünicode", UNICODE_NFC).await;
    assert!(
        log_of(&a).contains("counting is shared again"),
        "{}",
        log_of(&a)
    );
}

/// A start whose PostgreSQL is not there follows `throttle.on_store_error` and says so;
/// when PostgreSQL comes, its schema is migrated and counting is shared.
#[tokio::test]
async fn a_start_without_postgres_follows_on_store_error_until_it_comes() {
    if postgres_url().is_none() {
        return;
    }
    let pg = OwnPostgres::start();
    pg.script("pause");
    let dir = tempfile::tempdir().unwrap();
    let a = server(dir.path(), "a", &pg.url, "on_store_error = \"local\"\n");
    let b = server(dir.path(), "b", &pg.url, "on_store_error = \"deny\"\n");
    let client = reqwest::Client::new();
    for (server, fallback) in [(&a, "local"), (&b, "deny")] {
        let log = log_of(server);
        assert!(log.contains("cannot be reached at start"), "{log}");
        assert!(
            log.contains(&format!("throttle.on_store_error = \"{fallback}\"")),
            "{log}"
        );
    }
    for _ in 0..5 {
        assert_eq!(status(&client, &a, "user_test", "wrong").await, 401);
    }
    assert_eq!(status(&client, &a, "user_test", PASSWORD).await, 429);
    assert_eq!(status(&client, &b, "user_test", PASSWORD).await, 503);

    pg.script("resume");
    for server in [&a, &b] {
        eventually("the store to answer", || async {
            metric(&client, server, "watchword_throttle_store_up").await == 1.0
        })
        .await;
    }
    assert_shared(&client, &a, &b, "spacey", SPACED).await;
}
