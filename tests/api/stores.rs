//! The user stores a test server can run on: the users file, SQLite on a real file, and a
//! real PostgreSQL (the server `tests/support/postgres.sh start` gives, named by
//! `WATCHWORD_TEST_POSTGRES_URL`; each test gets a database of its own on it).
//!
//! Without that variable the PostgreSQL cases are skipped with a note, except in CI
//! (`CI=true`), where a missing PostgreSQL fails the test.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// Where a test server keeps its accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The users file (today's default).
    File,
    /// SQLite, a file in the test's directory.
    Sqlite,
    /// A database of its own on the test PostgreSQL server.
    Postgres,
}

/// The store of tests that do not choose one: `WATCHWORD_TEST_STORE` (file, sqlite or
/// postgres; .ci/run runs the login tests once per store), else the file.
pub fn default_store() -> Store {
    match std::env::var("WATCHWORD_TEST_STORE").as_deref() {
        Ok("sqlite") => Store::Sqlite,
        Ok("postgres") => Store::Postgres,
        Ok("file") | Err(_) => Store::File,
        Ok(other) => panic!("WATCHWORD_TEST_STORE={other:?}: expected file, sqlite or postgres"),
    }
}

/// The throttle config of tests that do not choose one, on a database store:
/// `WATCHWORD_TEST_THROTTLE=database` (.ci/run runs the throttle tests once more so) puts its
/// counters in that store's database too; otherwise they stay in memory.
pub fn default_throttle_config(store: Store) -> &'static str {
    match (store, std::env::var("WATCHWORD_TEST_THROTTLE").as_deref()) {
        (Store::File, _) | (_, Ok("memory") | Err(_)) => "",
        (_, Ok("database")) => "[throttle]\nstore = \"database\"\n",
        (_, Ok(other)) => panic!("WATCHWORD_TEST_THROTTLE={other:?}: expected memory or database"),
    }
}

/// The test PostgreSQL server's URL (a superuser), or `None` with a note when there is none
/// here; in CI a missing server fails.
pub fn postgres_url() -> Option<String> {
    match std::env::var("WATCHWORD_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "CI=true and WATCHWORD_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL \
             with tests/support/postgres.sh; the database store tests must run on it"
        ),
        _ => {
            eprintln!(
                "note: WATCHWORD_TEST_POSTGRES_URL is not set, skipping the PostgreSQL case \
                 (eval \"$(bash tests/support/postgres.sh start)\" runs it)"
            );
            None
        }
    }
}

/// The database stores to run a test on: SQLite, and PostgreSQL when there is one.
pub fn database_stores() -> Vec<Store> {
    let mut out = vec![Store::Sqlite];
    if postgres_url().is_some() {
        out.push(Store::Postgres);
    }
    out
}

/// Every store: the file, SQLite, and PostgreSQL when there is one.
pub fn all_stores() -> Vec<Store> {
    let mut out = vec![Store::File];
    out.extend(database_stores());
    out
}

/// A fresh, empty database for one test: its URL for `database.url`.
pub async fn fresh_database(store: Store, dir: &Path) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    match store {
        Store::File => panic!("the file store has no database"),
        Store::Sqlite => format!("sqlite://{}", dir.join("users.db").display()),
        Store::Postgres => {
            let admin = postgres_url().expect("PostgreSQL for this test");
            let name = format!(
                "ww_{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
            );
            let mut conn = sqlx::postgres::PgConnection::connect(&admin).await.unwrap();
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            with_database(&admin, &name)
        }
    }
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// The `[users]` and `[database]` config lines for `store` on `url`.
pub fn store_config(store: Store, url: Option<&str>) -> String {
    match (store, url) {
        (Store::File, _) => String::new(),
        (_, Some(url)) => {
            format!("[users]\nstore = \"database\"\n[database]\nurl = \"{url}\"\nconnect_timeout = \"10s\"\n")
        }
        (_, None) => panic!("a database store needs a URL"),
    }
}
