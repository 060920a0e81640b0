//! The throttle's stores through its API: the same rules on the memory store, SQLite and a real
//! PostgreSQL (every case below runs on each), replicas sharing one database (each a
//! `Throttle` with a pool and a database thread of its own, as a process has), and the bound
//! on the tables. The HTTP tests with two real server processes are in `throttle_shared.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchword::config::{DatabaseKind, DatabaseSettings, DatabaseUrl};
use watchword::database::Database;
use watchword::login::throttle::{Attempt, Refused, Throttle, ThrottleSettings, ThrottleStore};

use crate::stores::*;

const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Where a test's counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Db(Store),
}

/// The memory store, SQLite, and PostgreSQL when there is one (in CI there must be).
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Memory];
    out.extend(database_stores().into_iter().map(Backend::Db));
    out
}

/// The database settings of `url` (a test's own database).
pub fn database_settings(url: &str) -> DatabaseSettings {
    let kind = if url.starts_with("sqlite:") {
        DatabaseKind::Sqlite
    } else {
        DatabaseKind::Postgres
    };
    DatabaseSettings {
        url: Some(DatabaseUrl {
            secret: url.to_owned().into(),
            key: "database.url",
            kind,
        }),
        pool_size: 8,
        connect_timeout: Duration::from_secs(10),
        migrate: true,
    }
}

/// Counters on `backend` with `settings`, in a fresh database; keeps its directory.
pub struct Counters {
    pub throttle: Throttle,
    pub url: Option<String>,
    _dir: tempfile::TempDir,
}

impl Counters {
    pub async fn new(backend: Backend, settings: ThrottleSettings) -> Counters {
        let dir = tempfile::tempdir().unwrap();
        let (throttle, url) = match backend {
            Backend::Memory => (Throttle::new(settings), None),
            Backend::Db(store) => {
                let url = fresh_database(store, dir.path()).await;
                (replica(&url, settings), Some(url))
            }
        };
        Counters {
            throttle,
            url,
            _dir: dir,
        }
    }

    /// Another process's throttle on the same database: a pool of its own.
    pub fn replica(&self) -> Throttle {
        replica(
            self.url.as_deref().expect("a database store"),
            self.throttle.settings().clone(),
        )
    }
}

/// A throttle on the database at `url`, migrated, as `serve` builds it.
pub fn replica(url: &str, settings: ThrottleSettings) -> Throttle {
    let db = Database::open(&database_settings(url)).unwrap();
    db.prepare(true).unwrap();
    let settings = ThrottleSettings {
        store: ThrottleStore::Database,
        ..settings
    };
    Throttle::with_database(settings, db, true, Ok(()))
}

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse().unwrap())
}

async fn begin(t: &Throttle, user: &str, addr: IpAddr, now: Instant) -> Attempt {
    t.begin(user, addr, now)
        .await
        .unwrap_or_else(|e| panic!("{user} refused: {e}"))
}

/// `n` failures on `user`@`addr` at `now`, each of which must have been allowed.
async fn fail(t: &Throttle, user: &str, addr: IpAddr, now: Instant, n: usize) {
    for _ in 0..n {
        begin(t, user, addr, now).await.failure().await;
    }
}

async fn locked(t: &Throttle, user: &str, addr: IpAddr, now: Instant) -> Duration {
    match t.begin(user, addr, now).await {
        Err(Refused::Locked(l)) => l.retry_after,
        Err(other) => panic!("{user}: {other}"),
        Ok(a) => panic!("{user} should be locked, got {a:?}"),
    }
}

async fn is_locked(t: &Throttle, user: &str, addr: IpAddr, now: Instant) -> bool {
    matches!(t.begin(user, addr, now).await, Err(Refused::Locked(_)))
}

/// Rows in the database store, or counters in memory.
async fn sizes(t: &Throttle) -> (u64, u64) {
    match t.stored_rows().await {
        Some(rows) => rows.unwrap(),
        None => {
            let (p, i) = t.len();
            (p as u64, i as u64)
        }
    }
}

fn defaults() -> ThrottleSettings {
    ThrottleSettings::default()
}

#[tokio::test]
async fn pair_locks_after_five_failures_and_only_that_pair() {
    for backend in backends() {
        let c = Counters::new(backend, defaults()).await;
        let t = &c.throttle;
        let start = Instant::now();
        for i in 0..5 {
            fail(t, "alice", ip(1), start + Duration::from_secs(i), 1).await;
        }
        let now = start + Duration::from_secs(5);
        // The oldest failure (at start) leaves the window at start + 15 min.
        assert_eq!(
            locked(t, "alice", ip(1), now).await,
            WINDOW - Duration::from_secs(5),
            "{backend:?}"
        );
        // The right password is refused too, and a second try changes nothing.
        assert!(is_locked(t, "alice", ip(1), now).await);
        // Another account from the same address, the same account from elsewhere, go on.
        begin(t, "bob", ip(1), now).await.success().await;
        begin(t, "alice", ip(2), now).await.success().await;
    }
}

#[tokio::test]
async fn lock_lifts_when_the_window_has_passed_one_failure_at_a_time() {
    for backend in backends() {
        let c = Counters::new(backend, defaults()).await;
        let t = &c.throttle;
        let start = Instant::now();
        fail(t, "alice", ip(1), start, 5).await;
        assert!(is_locked(t, "alice", ip(1), start + WINDOW - Duration::from_millis(1)).await);
        let later = start + WINDOW + Duration::from_secs(1);
        begin(t, "alice", ip(1), later).await.success().await;
        // Nothing is left once the failures expired and the attempt settled (the database
        // keeps an emptied row until the next sweep).
        t.sweep(later).await;
        assert_eq!(sizes(t).await, (0, 0), "{backend:?}");

        // Failures a minute apart: the first ages out, exactly one more guess, then locked
        // until the second does.
        for i in 0..5 {
            fail(t, "bob", ip(3), later + Duration::from_secs(60 * i), 1).await;
        }
        let now = later + WINDOW;
        begin(t, "bob", ip(3), now).await.failure().await;
        assert_eq!(
            locked(t, "bob", ip(3), now).await,
            Duration::from_secs(60),
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn success_clears_the_pair_and_leaves_the_address_counter() {
    for backend in backends() {
        let c = Counters::new(backend, defaults()).await;
        let t = &c.throttle;
        let now = Instant::now();
        fail(t, "alice", ip(1), now, 4).await;
        begin(t, "alice", ip(1), now).await.success().await;
        fail(t, "alice", ip(1), now, 4).await;
        // ...and the fifth after the success is the one that locks.
        fail(t, "alice", ip(1), now, 1).await;
        assert!(is_locked(t, "alice", ip(1), now).await, "{backend:?}");

        // 49 failures from the address (nine of them alice's) over many names, a success, one
        // more failure: the address is locked (the success did not reset it).
        for n in 0..40 {
            fail(t, &format!("user{n}"), ip(1), now, 1).await;
        }
        begin(t, "carol", ip(1), now).await.success().await;
        fail(t, "mallory", ip(1), now, 1).await;
        assert!(is_locked(t, "carol", ip(1), now).await, "{backend:?}");
    }
}

#[tokio::test]
async fn address_locks_after_fifty_failures_over_many_names() {
    for backend in backends() {
        let c = Counters::new(backend, defaults()).await;
        let t = &c.throttle;
        let start = Instant::now();
        for n in 0..50 {
            fail(
                t,
                &format!("user{n}"),
                ip(1),
                start + Duration::from_secs(n),
                1,
            )
            .await;
        }
        let now = start + Duration::from_secs(50);
        assert_eq!(
            locked(t, "yet-another-name", ip(1), now).await,
            WINDOW - Duration::from_secs(50),
            "{backend:?}"
        );
        assert!(is_locked(t, "user0", ip(1), now).await);
        begin(t, "yet-another-name", ip(2), now)
            .await
            .failure()
            .await;
    }
}

#[tokio::test]
async fn names_are_case_folded_and_addresses_counted_per_network() {
    for backend in backends() {
        let c = Counters::new(backend, defaults()).await;
        let t = &c.throttle;
        let now = Instant::now();
        fail(t, "Alice", ip(1), now, 2).await;
        fail(t, "ALICE", ip(1), now, 2).await;
        fail(t, " alice ", ip(1), now, 1).await;
        assert!(is_locked(t, "aLiCe", ip(1), now).await, "{backend:?}");
        fail(t, "ÉMILE", ip(1), now, 4).await;
        fail(t, "émile", ip(1), now, 1).await;
        assert!(is_locked(t, "Émile", ip(1), now).await);
        assert_eq!(sizes(t).await, (2, 1), "{backend:?}");

        // IPv4-mapped IPv6 is the IPv4 address.
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        fail(t, "bob", IpAddr::V4(v4), now, 3).await;
        fail(t, "bob", IpAddr::V6(v4.to_ipv6_mapped()), now, 2).await;
        assert!(is_locked(t, "bob", IpAddr::V4(v4), now).await);

        // One /64, a new address per guess: one client. The next /64 is another.
        for i in 0..5 {
            begin(t, "carol", v6(&format!("2001:db8:1:2::{i:x}")), now)
                .await
                .failure()
                .await;
        }
        assert!(is_locked(t, "carol", v6("2001:db8:1:2:ffff::1"), now).await);
        begin(t, "carol", v6("2001:db8:1:3::1"), now)
            .await
            .failure()
            .await;
        assert_eq!(sizes(t).await, (5, 4), "{backend:?}");
    }
    // 128 counts single addresses.
    for backend in backends() {
        let exact = ThrottleSettings {
            ipv6_prefix: 128,
            ..defaults()
        };
        let c = Counters::new(backend, exact).await;
        let now = Instant::now();
        fail(&c.throttle, "alice", v6("2001:db8::1"), now, 5).await;
        begin(&c.throttle, "alice", v6("2001:db8::2"), now)
            .await
            .success()
            .await;
    }
}

#[tokio::test]
async fn reservations_hold_slots_dropping_releases_them_and_settling_is_once() {
    for backend in backends() {
        let c = Counters::new(backend, defaults()).await;
        let t = &c.throttle;
        let now = Instant::now();
        // Five in flight lock the pair; the lock says "retry in a second".
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(begin(t, "alice", ip(1), now).await);
        }
        assert_eq!(
            locked(t, "alice", ip(1), now).await,
            Duration::from_secs(1),
            "{backend:?}"
        );
        // Dropped unsettled (shed, cancelled): released, nothing counted.
        drop(held);
        t.settled().await;
        t.sweep(now).await;
        assert_eq!(sizes(t).await, (0, 0), "{backend:?}");
        begin(t, "alice", ip(1), now).await.success().await;

        // A settled attempt is not released again when it is dropped: `a`'s drop must not
        // free `b`'s slot.
        fail(t, "bob", ip(1), now, 3).await;
        let a = begin(t, "bob", ip(1), now).await;
        let b = begin(t, "bob", ip(1), now).await;
        a.failure().await;
        t.settled().await;
        assert!(is_locked(t, "bob", ip(1), now).await, "{backend:?}");
        drop(b);
        t.settled().await;
        begin(t, "bob", ip(1), now).await.failure().await;
        assert!(is_locked(t, "bob", ip(1), now).await);
    }
}

#[tokio::test]
async fn out_of_order_settling_keeps_the_window_right() {
    for backend in backends() {
        let c = Counters::new(backend, defaults()).await;
        let t = &c.throttle;
        let start = Instant::now();
        let early = begin(t, "alice", ip(1), start).await;
        let late = begin(t, "alice", ip(1), start + Duration::from_secs(100)).await;
        late.failure().await;
        early.failure().await;
        fail(t, "alice", ip(1), start + Duration::from_secs(200), 3).await;
        // The oldest failure is the early one, dated when it began.
        assert_eq!(
            locked(t, "alice", ip(1), start + Duration::from_secs(200)).await,
            WINDOW - Duration::from_secs(200),
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn retry_after_counts_down_in_whole_seconds() {
    for backend in backends() {
        let c = Counters::new(backend, defaults()).await;
        let t = &c.throttle;
        let start = Instant::now();
        fail(t, "alice", ip(1), start, 5).await;
        for secs in [0, 1, 100, 899] {
            let retry = locked(t, "alice", ip(1), start + Duration::from_secs(secs)).await;
            assert_eq!(retry, WINDOW - Duration::from_secs(secs), "{backend:?}");
        }
        let almost = start + WINDOW - Duration::from_millis(1);
        assert_eq!(
            locked(t, "alice", ip(1), almost).await,
            Duration::from_secs(1)
        );
        let nearly = start + WINDOW - Duration::from_millis(1_500);
        assert_eq!(
            locked(t, "alice", ip(1), nearly).await,
            Duration::from_secs(2)
        );
    }
}

#[tokio::test]
async fn a_zero_limit_turns_that_counter_off() {
    for backend in backends() {
        let s = ThrottleSettings {
            max_failures_per_ip: 0,
            ..defaults()
        };
        let c = Counters::new(backend, s).await;
        let t = &c.throttle;
        let now = Instant::now();
        for n in 0..60 {
            fail(t, &format!("user{n}"), ip(1), now, 1).await;
        }
        assert_eq!(sizes(t).await, (60, 0), "{backend:?}");
        fail(t, "user0", ip(1), now, 4).await;
        assert!(is_locked(t, "user0", ip(1), now).await);
    }
}

#[tokio::test]
async fn hostile_names_are_only_names() {
    for backend in backends() {
        let c = Counters::new(backend, defaults()).await;
        let t = &c.throttle;
        let now = Instant::now();
        for (i, name) in [
            "'; DROP TABLE throttle_pairs; --",
            "a'b\"c\\d",
            "100%_",
            "\u{0}",
            "",
            &"x".repeat(300),
        ]
        .into_iter()
        .enumerate()
        {
            let addr = ip(10 + i as u32);
            fail(t, name, addr, now, 5).await;
            assert!(is_locked(t, name, addr, now).await, "{backend:?} {name:?}");
            // A query the database refuses for its input (PostgreSQL will not store a NUL) is
            // that attempt's error, never "the store is down" for every other login
            // (before: marked down, every login of the replica on the fallback).
            assert!(
                t.store_up(),
                "{backend:?} {name:?}: the store was marked down"
            );
            begin(t, "other", addr, now).await.success().await;
        }
    }
}

/// 50 guesses at once for one name from one address, split over two replicas sharing the
/// database: exactly 5 get a slot (each holds it until all 50 have asked), the rest are
/// refused; then both replicas see the pair locked. The same for 60 names from one address
/// against the address limit of 50.
#[tokio::test]
async fn concurrent_guesses_over_two_replicas_cannot_pass_the_limit() {
    for store in database_stores() {
        let c = Counters::new(Backend::Db(store), defaults()).await;
        let replicas = [c.throttle.clone(), c.replica()];
        for (name, names, expected, addr) in [("alice", 1, 5, ip(7)), ("user", 60, 50, ip(8))] {
            let n = names.max(50);
            let asked = Arc::new(tokio::sync::Barrier::new(n));
            let mut tasks = Vec::new();
            for i in 0..n {
                let t = replicas[i % 2].clone();
                let asked = Arc::clone(&asked);
                let name = if names == 1 {
                    name.to_owned()
                } else {
                    format!("{name}{i}")
                };
                tasks.push(tokio::spawn(async move {
                    let attempt = t.begin(&name, addr, Instant::now()).await;
                    asked.wait().await;
                    match attempt {
                        Ok(a) => {
                            a.failure().await;
                            true
                        }
                        Err(Refused::Locked(_)) => false,
                        Err(e) => panic!("{e}"),
                    }
                }));
            }
            let mut allowed = 0;
            for task in tasks {
                allowed += usize::from(task.await.unwrap());
            }
            assert_eq!(allowed, expected, "{store:?} {name}");
            for t in &replicas {
                assert!(is_locked(t, name, addr, Instant::now()).await, "{store:?}");
            }
        }
    }
}

/// The name and address of failure `i` of the spray: random names, three per IPv6 /64.
fn sprayed(i: u32) -> (String, IpAddr) {
    let mut x = u64::from(i)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 31;
    let net = i / 3;
    let addr = IpAddr::V6(Ipv6Addr::new(
        0x2001,
        0xdb8,
        (net >> 16) as u16,
        net as u16,
        0,
        0,
        0,
        1,
    ));
    (format!("{x:016x}"), addr)
}

/// 200 000 failures for random names from 66 667 IPv6 /64 networks, 1 ms apart (so nothing
/// expires: eviction does the work), from a few tasks at once: neither table ever holds
/// more than `max_entries` rows plus the attempts in flight (checked every 1 000
/// failures), and at the end, with none in flight, at most `max_entries`. The newest
/// counters survived; once the window has passed, a sweep deletes them all.
#[tokio::test]
async fn two_hundred_thousand_failures_leave_at_most_max_entries_rows_per_table() {
    for store in database_stores() {
        let max = 10_000u64;
        let s = ThrottleSettings {
            max_entries: max as usize,
            ..defaults()
        };
        let c = Counters::new(Backend::Db(store), s).await;
        let start = Instant::now();
        let total: u32 = std::env::var("WATCHWORD_TEST_SPRAY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        let workers = 8u64;
        let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let began = Instant::now();
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (t, next) = (c.throttle.clone(), Arc::clone(&next));
                tokio::spawn(async move {
                    let mut peak = (0, 0);
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= total {
                            return peak;
                        }
                        let (name, addr) = sprayed(i);
                        let at = start + Duration::from_millis(u64::from(i));
                        fail(&t, &name, addr, at, 1).await;
                        if i % 1_000 == 999 {
                            let (pairs, ips) = sizes(&t).await;
                            assert!(
                                pairs <= max + workers && ips <= max + workers,
                                "at {i}: {pairs} pairs, {ips} addresses"
                            );
                            peak = (peak.0.max(pairs), peak.1.max(ips));
                        }
                    }
                })
            })
            .collect();
        let mut peak = (0, 0);
        for task in tasks {
            let p = task.await.unwrap();
            peak = (peak.0.max(p.0), peak.1.max(p.1));
        }
        eprintln!(
            "{store:?}: {total} failures through the throttle API in {:?}",
            began.elapsed()
        );
        let t = &c.throttle;
        let (pairs, ips) = sizes(t).await;
        assert!(
            pairs <= max && ips <= max,
            "{store:?}: {pairs} pairs, {ips} addresses"
        );
        if total == 200_000 {
            assert!(
                peak.0 > max - max / 8 && peak.1 > max - max / 8,
                "the tables filled: {peak:?}"
            );
        }
        // The newest counters survived eviction: the last name's failure plus four more lock
        // it.
        let last = start + Duration::from_millis(u64::from(total));
        let (name, addr) = sprayed(total - 1);
        fail(t, &name, addr, last, 4).await;
        assert!(is_locked(t, &name, addr, last).await, "{store:?}");
        t.settled().await;
        let swept = t
            .sweep(last + WINDOW + Duration::from_secs(1))
            .await
            .unwrap()
            .unwrap();
        assert!(swept > 0);
        assert_eq!(
            sizes(t).await,
            (0, 0),
            "{store:?}: everything expired and swept"
        );
    }
}

/// SQLite's throttle takes its two locks (a pooled connection, this process's writer lock) in
/// one order everywhere. Before, begin and settle took the connection first and sweep and
/// make_room the writer lock first: with more logins in flight than `database.pool_size`
/// the process stalled for `connect_timeout` and then marked the store down (hardening round
/// 3, item 3). Here 4 × pool_size tasks fail logins with fresh names (past `max_entries`, so
/// rows are evicted) while sweeps run: every attempt answers within 1 s (the timeout is 5 s),
/// the store stays up, and the address's count is exact: locked after exactly N failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_never_stalls_on_its_two_locks() {
    const POOL: u32 = 2;
    const TASKS: usize = 4 * POOL as usize;
    const EACH: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Store::Sqlite, dir.path()).await;
    let db = Database::open(&DatabaseSettings {
        pool_size: POOL,
        connect_timeout: Duration::from_secs(5),
        ..database_settings(&url)
    })
    .unwrap();
    db.prepare(true).unwrap();
    let settings = ThrottleSettings {
        store: ThrottleStore::Database,
        max_entries: 16,
        max_failures_per_ip: (TASKS * EACH) as u32,
        ..defaults()
    };
    let t = Throttle::with_database(settings, db, true, Ok(()));
    let addr = ip(77);
    let sweeping = {
        let t = t.clone();
        tokio::spawn(async move {
            loop {
                let _ = t.sweep(Instant::now()).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in 0..EACH {
                let started = Instant::now();
                let name = format!("spray-{task}-{i}");
                match t.begin(&name, addr, Instant::now()).await {
                    Ok(a) => a.failure().await,
                    Err(e) => panic!("{name}: {e}"),
                }
                slowest = slowest.max(started.elapsed());
            }
            slowest
        }));
    }
    for task in tasks {
        let slowest = task.await.unwrap();
        assert!(
            slowest < Duration::from_secs(1),
            "an attempt took {slowest:?}"
        );
    }
    sweeping.abort();
    t.settled().await;
    assert!(t.store_up(), "the store was marked down");
    assert!(
        matches!(
            t.begin("one-more", addr, Instant::now()).await,
            Err(Refused::Locked(_))
        ),
        "the address has exactly {} failures",
        TASKS * EACH
    );
}
