//! The database store of the throttle (`throttle.store = "database"`): the counters of
//! [`super::memory`] in the SQL database of `[database]`, so every process that shares the
//! database counts each failure once.
//!
//! Two tables, one row per counter: `throttle_pairs` (case-folded name, client network) and
//! `throttle_ips` (client network), each row a list of entries ([`super::entries`]) plus the
//! newest entry's time and until when its reservations hold it. A third table,
//! `throttle_sizes`, holds both tables' row counts, kept exact by the same transactions.
//!
//! **Check and reserve in one atomic step.** PostgreSQL: one statement,
//! `SELECT … FROM throttle_begin(…)`, whose PL/pgSQL reads both counters without locks (a
//! counter at its limit in a committed snapshot is a moment the attempt may be refused at, and
//! a refusal writes nothing), and otherwise locks the pair row and then the address row
//! (`SELECT … FOR UPDATE`, or an insert), counts again and appends the reservation to both.
//! Two replicas asking at once for one counter queue on its row lock, so the second sees the
//! first's reservation: no read-then-write race. SQLite: the processes on one host share
//! the file, and SQLite lets one writer in at a time; the check and the reservation are one
//! `BEGIN IMMEDIATE` transaction (two calls to the connection: begin and read, then write
//! and commit), and one writer per process takes its turn at a time, so contention is
//! between processes only. Refusals read without the write lock on both.
//!
//! **Time** is each process's wall clock in ms, so replicas must keep their clocks in step
//! (NTP): a clock that is `s` ahead sees every failure `s` older. The window is exact
//! otherwise, as in memory: every counted attempt is kept with its time, up to the limit.
//!
//! **Bounded.** Past `max_entries` rows in a table, the transaction that added a row (or,
//! on SQLite, the next one in its process) deletes expired rows and then the stalest ones
//! down to 7/8 of it, as the memory store does; rows of attempts in flight are never evicted,
//! so a table holds at most `max_entries` rows plus one per attempt in flight. Expired rows are
//! also swept once a minute (or once a window, if shorter); a counter that a settlement leaves
//! empty keeps its row until then (the next login of the same name and address updates it
//! instead of inserting a new one), as an expired row, the first to go when a table is full.
//!
//! Every call runs on the database runtime ([`Database::run`]) and is bounded by
//! `database.connect_timeout`; the work itself is a task of its own there, so it finishes
//! even when its caller is gone, and a reservation nobody is waiting for any more is released.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Row};
use tokio::sync::{mpsc, oneshot, Notify};

use super::entries::{self, Outcome};
use super::rules::{
    network, normalize_name, whole_seconds, Locked, OnStoreError, ThrottleSettings,
};
use crate::database::{Database, DatabaseKind, QueryError};

/// How long a reservation counts as an attempt in flight: it protects its row from eviction
/// and makes a lock read "retry in 1 s". A few times the longest login (the database and
/// hashing timeouts); an attempt whose process died before settling stays counted as a
/// failure after it, until it leaves the window.
pub const HOLD: Duration = Duration::from_secs(120);

/// At most this many expired rows per table and sweep call.
const SWEEP_BATCH: i32 = 1000;

/// The limits in the units the SQL takes.
#[derive(Debug, Clone, Copy)]
struct Limits {
    window_ms: i64,
    hold_ms: i64,
    pair_limit: i32,
    ip_limit: i32,
    max_entries: i64,
    ipv6_prefix: u8,
}

impl Limits {
    fn new(s: &ThrottleSettings) -> Limits {
        let ms = |d: Duration| {
            i64::try_from(d.as_millis())
                .unwrap_or(i64::MAX)
                .min(1 << 40)
        };
        let limit = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        Limits {
            window_ms: ms(s.window),
            hold_ms: ms(HOLD),
            pair_limit: limit(s.max_failures_per_user),
            ip_limit: limit(s.max_failures_per_ip),
            max_entries: i64::try_from(s.max_entries.max(1)).unwrap_or(i64::MAX),
            ipv6_prefix: s.ipv6_prefix,
        }
    }

    fn cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.window_ms)
    }

    fn target(&self) -> i64 {
        self.max_entries - (self.max_entries / 8).max(1)
    }
}

/// A counter's key as stored: the case-folded name and the client network.
#[derive(Clone, PartialEq, Eq)]
struct Key {
    name: String,
    net: String,
}

impl Key {
    fn new(user: &str, ip: IpAddr, limits: &Limits) -> Key {
        Key {
            name: normalize_name(user).into(),
            net: network(ip, limits.ipv6_prefix).to_string(),
        }
    }
}

/// What the database said about both counters of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    allowed: bool,
    pair_locked: bool,
    pair_oldest: Option<i64>,
    ip_locked: bool,
    ip_oldest: Option<i64>,
    /// Rows with failures still in the window that were evicted to stay within max_entries.
    evicted: i64,
}

/// Whether the store answers, shared by every attempt: counts and logs its errors and, while
/// it is down, has a thread ask it every second (and migrate its schema, when the start could
/// not) until it answers again.
pub struct Health {
    db: Database,
    down: AtomicBool,
    probing: AtomicBool,
    errors: IntCounter,
    up: IntGauge,
    last_warning: Mutex<Option<Instant>>,
    on_error: OnStoreError,
    migrate: bool,
}

/// Store errors are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// A store found down is asked again this often.
const PROBE_EVERY: Duration = Duration::from_secs(1);

impl Health {
    /// The store failed its last call and has not answered since.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// What attempts do while the store is down, for the log.
    fn fallback(&self) -> &'static str {
        match self.on_error {
            OnStoreError::Local => {
                "logins are checked and counted in this process's memory until it answers \
                 (throttle.on_store_error = \"local\")"
            }
            OnStoreError::Deny => {
                "logins are refused with 503 until it answers (throttle.on_store_error = \"deny\")"
            }
        }
    }

    /// One attempt decided, or one settlement left, without the store.
    pub fn count(&self) {
        self.errors.inc();
    }

    /// `what` failed with `error`: count it, log it (at most once a minute), mark the store
    /// down and start asking it again.
    pub fn failed(self: &Arc<Self>, what: &str, error: &dyn fmt::Display) {
        self.count();
        self.warn(&format!("failed ({what}): {error}"));
        self.mark_down();
    }

    /// The store could not be reached at start.
    pub fn unreachable_at_start(self: &Arc<Self>, error: &dyn fmt::Display) {
        self.warn(&format!("cannot be reached at start: {error}"));
        self.mark_down();
    }

    fn warn(&self, what: &str) {
        let now = Instant::now();
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
            *last = Some(now);
            log::warn!(
                "login throttle: the {} store (throttle.store = \"database\") {what}; {}",
                self.db.kind().name(),
                self.fallback()
            );
        }
    }

    fn mark_down(self: &Arc<Self>) {
        self.down.store(true, Ordering::Release);
        self.up.set(0);
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let health = Arc::downgrade(self);
        let (db, migrate) = (self.db.clone(), self.migrate);
        let spawned = std::thread::Builder::new()
            .name("watchword-throttle-probe".into())
            .spawn(move || loop {
                std::thread::sleep(PROBE_EVERY);
                // Gone with the throttle: nobody is waiting for the answer.
                let Some(health) = health.upgrade() else {
                    return;
                };
                // The schema too: a start without the database could not migrate it.
                if db.prepare(migrate).is_ok() {
                    health.probing.store(false, Ordering::Release);
                    health.up.set(1);
                    if health.down.swap(false, Ordering::AcqRel) {
                        log::info!(
                            "login throttle: the {} store answers again; counting is shared again",
                            db.kind().name()
                        );
                    }
                    return;
                }
            });
        if let Err(e) = spawned {
            self.probing.store(false, Ordering::Release);
            log::error!("login throttle: cannot start the thread that asks the store again: {e}");
        }
    }
}

/// Settlements that could not be made in the caller's call (a reservation dropped unsettled,
/// or a settle that failed), done by a task on the database runtime, retried every second
/// until they succeed or their reservation's hold time is over.
struct Job {
    key: Key,
    entry: i64,
    outcome: Outcome,
    give_up: Instant,
}

/// How many jobs are queued or running, so tests can wait for none.
#[derive(Default)]
struct Pending {
    count: AtomicUsize,
    idle: Notify,
}

/// The sending side of the job queue.
#[derive(Clone)]
struct Jobs {
    tx: mpsc::UnboundedSender<Job>,
    pending: Arc<Pending>,
}

impl Jobs {
    fn send(&self, key: Key, entry: i64, outcome: Outcome) {
        self.pending.count.fetch_add(1, Ordering::AcqRel);
        let job = Job {
            key,
            entry,
            outcome,
            give_up: Instant::now() + HOLD,
        };
        if self.tx.send(job).is_err() {
            self.done();
        }
    }

    fn done(&self) {
        if self.pending.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.pending.idle.notify_waiters();
        }
    }
}

/// An attempt's reservation in the database. Dropped unsettled, it is released by the job
/// queue: a login that was never checked counts nothing.
pub struct Reservation {
    key: Key,
    entry: i64,
    jobs: Jobs,
    armed: bool,
}

impl Reservation {
    /// When the attempt began (ms since the Unix epoch).
    pub fn at_ms(&self) -> i64 {
        entries::at(self.entry)
    }

    fn defuse(mut self) {
        self.armed = false;
    }

    /// Settle later, through the job queue.
    fn retry(mut self, outcome: Outcome) {
        self.armed = false;
        self.jobs.send(self.key.clone(), self.entry, outcome);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            self.jobs
                .send(self.key.clone(), self.entry, Outcome::Release);
        }
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No name: people type passwords into the name field, and Debug ends up in logs.
        f.debug_struct("Reservation")
            .field("net", &self.key.net)
            .field("at_ms", &self.at_ms())
            .finish()
    }
}

/// The database store: cheap to clone, shared by every worker.
#[derive(Clone)]
pub struct DatabaseThrottle {
    db: Database,
    core: Arc<Core>,
    jobs: Jobs,
    health: Arc<Health>,
}

impl fmt::Debug for DatabaseThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseThrottle")
            .field("kind", &self.core.kind)
            .field("down", &self.health.is_down())
            .finish_non_exhaustive()
    }
}

impl DatabaseThrottle {
    /// The store on `db` with `settings`' limits; `errors` counts the attempts decided without
    /// it. Starts the job queue's task on the database runtime.
    pub fn new(
        db: Database,
        settings: &ThrottleSettings,
        migrate: bool,
        errors: IntCounter,
        up: IntGauge,
    ) -> DatabaseThrottle {
        let limits = Limits::new(settings);
        let core = Arc::new(Core {
            kind: db.kind(),
            limits,
            writer: tokio::sync::Mutex::new(()),
        });
        let health = Arc::new(Health {
            db: db.clone(),
            down: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            errors,
            up,
            last_warning: Mutex::new(None),
            on_error: settings.on_store_error,
            migrate,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let jobs = Jobs {
            tx,
            pending: Arc::new(Pending::default()),
        };
        let sweep_every = settings
            .window
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        let worker = JobWorker {
            db: db.clone(),
            core: Arc::clone(&core),
            health: Arc::clone(&health),
            jobs: jobs.clone(),
        };
        // Spawned from a task on the database runtime, so it runs there. It ends when the
        // last sender (the store and its reservations) is gone.
        let started = db.run_blocking(move |_pool| async move {
            tokio::spawn(worker.run(rx, sweep_every));
            Ok(())
        });
        if let Err(e) = started {
            log::error!("login throttle: the job queue did not start: {e}");
        }
        DatabaseThrottle {
            db,
            core,
            jobs,
            health,
        }
    }

    /// Whether the store answers, and what to do when it does not.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Check both counters of `user` at `ip` and, if neither is at its limit, reserve a slot in
    /// both: one atomic step in the database. `now_ms` is the attempt's time.
    pub async fn begin(
        &self,
        user: &str,
        ip: IpAddr,
        now_ms: i64,
    ) -> Result<Result<Reservation, Locked>, QueryError> {
        let key = Key::new(user, ip, &self.core.limits);
        let entry = entries::reservation(now_ms, random_tag());
        let core = Arc::clone(&self.core);
        let jobs = self.jobs.clone();
        let answer = self
            .db
            .run(move |pool| async move {
                let (tx, rx) = oneshot::channel();
                // A task of its own: it finishes even when this call gives up (timeout, the
                // request gone), and a reservation nobody takes is dropped, so released.
                tokio::spawn(async move {
                    let verdict = core.begin(&pool, &key, entry, now_ms).await;
                    let answer = verdict.map(|v| {
                        let reservation = v.allowed.then(|| Reservation {
                            key,
                            entry,
                            jobs,
                            armed: true,
                        });
                        (v, reservation)
                    });
                    let _ = tx.send(answer);
                });
                rx.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
            })
            .await?;
        let (verdict, reservation) = answer;
        self.log_evicted(verdict.evicted);
        match reservation {
            Some(r) => Ok(Ok(r)),
            None => Ok(Err(self.locked(&verdict, now_ms))),
        }
    }

    /// Settle `reservation` with `outcome` at `now_ms`. On an error it is settled later by the
    /// job queue (until then it counts as a failure), and the error is returned.
    pub async fn settle(
        &self,
        reservation: Reservation,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<(), QueryError> {
        let (core, key, entry) = (
            Arc::clone(&self.core),
            reservation.key.clone(),
            reservation.entry,
        );
        let done = self
            .db
            .run(move |pool| async move {
                let (tx, rx) = oneshot::channel();
                tokio::spawn(async move {
                    let _ = tx.send(core.settle(&pool, &key, entry, outcome, now_ms).await);
                });
                rx.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
            })
            .await;
        match done {
            Ok(evicted) => {
                reservation.defuse();
                self.log_evicted(evicted);
                Ok(())
            }
            Err(e) => {
                reservation.retry(outcome);
                Err(e)
            }
        }
    }

    /// Rows in (pairs, addresses), for tests of the bound and for operators.
    pub async fn rows(&self) -> Result<(u64, u64), QueryError> {
        self.db
            .run(|pool| async move {
                let pairs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM throttle_pairs")
                    .fetch_one(&pool)
                    .await?;
                let ips: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM throttle_ips")
                    .fetch_one(&pool)
                    .await?;
                Ok((
                    u64::try_from(pairs).unwrap_or(0),
                    u64::try_from(ips).unwrap_or(0),
                ))
            })
            .await
    }

    /// Delete expired rows now (the job queue does it once a minute); returns how many.
    pub async fn sweep(&self, now_ms: i64) -> Result<u64, QueryError> {
        let core = Arc::clone(&self.core);
        self.db
            .run(move |pool| async move { core.sweep(&pool, now_ms).await })
            .await
    }

    /// Wait until the job queue has nothing queued or running.
    pub async fn settled(&self) {
        let pending = &self.jobs.pending;
        loop {
            let idle = pending.idle.notified();
            if pending.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    fn locked(&self, v: &Verdict, now: i64) -> Locked {
        let window = self.core.limits.window_ms;
        let retry = |locked: bool, oldest: Option<i64>| {
            locked.then(|| {
                let left = oldest.map_or(0, |o| window.saturating_sub(now.saturating_sub(o)));
                whole_seconds(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
            })
        };
        let retry_after = retry(v.pair_locked, v.pair_oldest)
            .max(retry(v.ip_locked, v.ip_oldest))
            .unwrap_or(Duration::from_secs(1));
        Locked { retry_after }
    }

    fn log_evicted(&self, evicted: i64) {
        if evicted > 0 {
            log::warn!(
                "login throttle: a table of {} counters was full; forgot {evicted} with recent failures",
                self.core.limits.max_entries
            );
        }
    }
}

/// A random nonzero reservation tag (two attempts of one counter in the same millisecond
/// almost never share one; if they do, their entries are equal and either settles one).
fn random_tag() -> u32 {
    let bits = uuid::Uuid::new_v4().as_u64_pair().0;
    u32::try_from(bits & 0xf_ffff).unwrap_or(1)
}

/// The job queue's task.
struct JobWorker {
    db: Database,
    core: Arc<Core>,
    health: Arc<Health>,
    jobs: Jobs,
}

impl JobWorker {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Job>, sweep_every: Duration) {
        let this = Arc::new(self);
        let mut sweep = tokio::time::interval(sweep_every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.tick().await;
        loop {
            tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => {
                        tokio::spawn(Arc::clone(&this).settle(job));
                    }
                    None => return,
                },
                _ = sweep.tick() => {
                    if !this.health.is_down() {
                        tokio::spawn(Arc::clone(&this).sweep());
                    }
                }
            }
        }
    }

    async fn settle(self: Arc<Self>, job: Job) {
        loop {
            let (core, key, entry, outcome) = (
                Arc::clone(&self.core),
                job.key.clone(),
                job.entry,
                job.outcome,
            );
            let done = self
                .db
                .run(move |pool| async move {
                    core.settle(&pool, &key, entry, outcome, unix_ms_now())
                        .await
                })
                .await;
            match done {
                Ok(_) => break,
                Err(e) => {
                    self.health.failed("settling later", &e);
                    if Instant::now() >= job.give_up {
                        // It stays counted as a failure until it leaves the window.
                        log::warn!("login throttle: gave up settling an attempt: {e}");
                        break;
                    }
                    tokio::time::sleep(PROBE_EVERY).await;
                }
            }
        }
        self.jobs.done();
    }

    async fn sweep(self: Arc<Self>) {
        let core = Arc::clone(&self.core);
        let swept = self
            .db
            .run(move |pool| async move { core.sweep(&pool, unix_ms_now()).await })
            .await;
        if let Err(e) = swept {
            self.health.failed("sweeping expired counters", &e);
        }
    }
}

/// Now, in ms since the Unix epoch.
pub fn unix_ms_now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The SQL of both kinds, run on the database runtime.
struct Core {
    kind: DatabaseKind,
    limits: Limits,
    /// SQLite: one writer of this process at a time (SQLite's busy handler sleeps, so
    /// letting every connection of every process compete would only add waiting).
    writer: tokio::sync::Mutex<()>,
}

/// SQLite: both counters of a key, NULL where a row is missing.
const SQLITE_READ: &str =
    "SELECT (SELECT entries FROM throttle_pairs WHERE name = $1 AND net = $2), \
                                  (SELECT entries FROM throttle_ips WHERE net = $2)";
/// SQLite: the same, as the first statement of a write transaction. Counters are not worth
/// an fsync per commit (SQLite's default, FULL, costs milliseconds on many disks and would
/// serialise logins behind it): in WAL mode NORMAL loses at most the last commits on a power
/// loss, never the file. The setting belongs to the connection, which the user store shares,
/// so it goes back to FULL with the commit or rollback.
const SQLITE_BEGIN_READ: &str = "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE; \
    SELECT (SELECT entries FROM throttle_pairs WHERE name = $1 AND net = $2), \
           (SELECT entries FROM throttle_ips WHERE net = $2)";
/// SQLite: the end of a write transaction, the connection as it was before.
const SQLITE_COMMIT: &str = "COMMIT; PRAGMA synchronous = FULL;";
const SQLITE_ROLLBACK: &str = "ROLLBACK; PRAGMA synchronous = FULL;";
const PAIR_UPSERT: &str = "INSERT INTO throttle_pairs (name, net, entries, newest, held_until) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name, net) DO UPDATE SET entries = excluded.entries, \
    newest = excluded.newest, held_until = excluded.held_until;";
const PAIR_GREW: &str = "UPDATE throttle_sizes SET n = n + 1 WHERE tbl = 'pairs' RETURNING n;";
const IP_UPSERT: &str = "INSERT INTO throttle_ips (net, entries, newest, held_until) \
    VALUES ($2, $6, $7, $8) ON CONFLICT (net) DO UPDATE SET entries = excluded.entries, \
    newest = excluded.newest, held_until = excluded.held_until;";
const IP_GREW: &str = "UPDATE throttle_sizes SET n = n + 1 WHERE tbl = 'ips' RETURNING n;";

/// A counter as read (`None`: its table is off), what it becomes, and whether its row is new.
type Side = Option<(Vec<i64>, bool)>;

/// The two tables by name, as the SQL of the size rows names them.
const TABLES: [(&str, &str); 2] = [("pairs", "throttle_pairs"), ("ips", "throttle_ips")];

impl Core {
    async fn begin(
        &self,
        pool: &AnyPool,
        key: &Key,
        entry: i64,
        now: i64,
    ) -> sqlx::Result<Verdict> {
        let l = &self.limits;
        match self.kind {
            DatabaseKind::Postgres => {
                let row = sqlx::query(
                    "SELECT allowed, pair_locked, pair_oldest, ip_locked, ip_oldest, evicted \
                     FROM throttle_begin($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&key.name)
                .bind(&key.net)
                .bind(entry)
                .bind(now)
                .bind(l.cutoff(now))
                .bind(l.hold_ms)
                .bind(l.pair_limit)
                .bind(l.ip_limit)
                .bind(l.max_entries)
                .fetch_one(pool)
                .await?;
                Ok(Verdict {
                    allowed: row.try_get(0)?,
                    pair_locked: row.try_get(1)?,
                    pair_oldest: row.try_get(2)?,
                    ip_locked: row.try_get(3)?,
                    ip_oldest: row.try_get(4)?,
                    evicted: row.try_get(5)?,
                })
            }
            DatabaseKind::Sqlite => {
                // A refusal needs no write lock: a counter at its limit in a snapshot is a
                // moment the attempt may be refused at.
                let mut conn = pool.acquire().await?;
                let row = sqlx::query(SQLITE_READ)
                    .bind(&key.name)
                    .bind(&key.net)
                    .fetch_one(&mut *conn)
                    .await?;
                let (verdict, _, _) = self.sqlite_verdict(&row, now)?;
                if !verdict.allowed {
                    return Ok(verdict);
                }
                let add = |side: Side| {
                    side.map(|(mut e, new)| {
                        e.push(entry);
                        (e, new)
                    })
                };
                // The same connection writes: one fewer trip to the pool.
                let (verdict, over) = self
                    .sqlite_write(conn, key, |row| {
                        let (v, pair, ip) = self.sqlite_verdict(row, now)?;
                        Ok(if v.allowed {
                            (v, Some((add(pair), add(ip))))
                        } else {
                            (v, None)
                        })
                    })
                    .await?;
                let evicted = self.sqlite_make_room(pool, over, now).await?;
                Ok(Verdict { evicted, ..verdict })
            }
        }
    }

    async fn settle(
        &self,
        pool: &AnyPool,
        key: &Key,
        entry: i64,
        outcome: Outcome,
        now: i64,
    ) -> sqlx::Result<i64> {
        let l = &self.limits;
        match self.kind {
            DatabaseKind::Postgres => {
                sqlx::query_scalar(
                    "SELECT throttle_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&key.name)
                .bind(&key.net)
                .bind(entry)
                .bind(outcome as i32)
                .bind(now)
                .bind(l.cutoff(now))
                .bind(l.hold_ms)
                .bind(l.pair_limit)
                .bind(l.ip_limit)
                .bind(l.max_entries)
                .fetch_one(pool)
                .await
            }
            DatabaseKind::Sqlite => {
                let cutoff = l.cutoff(now);
                let side =
                    |row: &AnyRow, i: usize, limit: i32, outcome: Outcome| -> sqlx::Result<Side> {
                        if limit <= 0 {
                            return Ok(None);
                        }
                        let stored: Option<Vec<u8>> = row.try_get(i)?;
                        // A failure is never lost, even when its row went meanwhile.
                        if stored.is_none() && outcome != Outcome::Failure {
                            return Ok(None);
                        }
                        let new = stored.is_none();
                        let e = entries::settled(
                            &entries::decode(&stored.unwrap_or_default()),
                            entry,
                            outcome,
                            now,
                            cutoff,
                            l.hold_ms,
                            limit.unsigned_abs(),
                        );
                        Ok(Some((e, new)))
                    };
                let ip_outcome = match outcome {
                    Outcome::Success => Outcome::Release,
                    other => other,
                };
                let (_, over) = self
                    .sqlite_write(pool.acquire().await?, key, |row| {
                        let pair = side(row, 0, l.pair_limit, outcome)?;
                        let ip = side(row, 1, l.ip_limit, ip_outcome)?;
                        Ok((ALLOWED, Some((pair, ip))))
                    })
                    .await?;
                self.sqlite_make_room(pool, over, now).await
            }
        }
    }

    async fn sweep(&self, pool: &AnyPool, now: i64) -> sqlx::Result<u64> {
        let cutoff = self.limits.cutoff(now);
        match self.kind {
            DatabaseKind::Postgres => {
                let mut total = 0;
                loop {
                    let n: i64 = sqlx::query_scalar("SELECT throttle_sweep($1, $2, $3)")
                        .bind(now)
                        .bind(cutoff)
                        .bind(SWEEP_BATCH)
                        .fetch_one(pool)
                        .await?;
                    total += u64::try_from(n).unwrap_or(0);
                    if n < i64::from(SWEEP_BATCH) {
                        return Ok(total);
                    }
                }
            }
            DatabaseKind::Sqlite => {
                let mut total = 0;
                for (tbl, table) in TABLES {
                    let _writer = self.writer.lock().await;
                    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                    let delete =
                        format!("DELETE FROM {table} WHERE newest <= $1 AND held_until <= $2");
                    let gone = sqlx::query(&delete)
                        .bind(cutoff)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    sqlx::query("UPDATE throttle_sizes SET n = n - $1 WHERE tbl = $2")
                        .bind(i64::try_from(gone).unwrap_or(i64::MAX))
                        .bind(tbl)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    total += gone;
                }
                Ok(total)
            }
        }
    }

    /// SQLite: the verdict on both counters as `row` holds them, and the live entries.
    fn sqlite_verdict(&self, row: &AnyRow, now: i64) -> sqlx::Result<(Verdict, Side, Side)> {
        let l = &self.limits;
        let cutoff = l.cutoff(now);
        let side = |i: usize, limit: i32| -> sqlx::Result<(Side, bool, Option<i64>)> {
            if limit <= 0 {
                return Ok((None, false, None));
            }
            let stored: Option<Vec<u8>> = row.try_get(i)?;
            let new = stored.is_none();
            let e = entries::live(
                &entries::decode(&stored.unwrap_or_default()),
                now,
                cutoff,
                l.hold_ms,
            );
            let locked = e.len() >= limit.unsigned_abs() as usize;
            let oldest = if locked {
                entries::oldest_failure(&e, now, l.hold_ms)
            } else {
                None
            };
            Ok((Some((e, new)), locked, oldest))
        };
        let (pair, pair_locked, pair_oldest) = side(0, l.pair_limit)?;
        let (ip, ip_locked, ip_oldest) = side(1, l.ip_limit)?;
        let verdict = Verdict {
            allowed: !(pair_locked || ip_locked),
            pair_locked,
            pair_oldest,
            ip_locked,
            ip_oldest,
            evicted: 0,
        };
        Ok((verdict, pair, ip))
    }

    /// SQLite, under this process's writer lock and SQLite's (`BEGIN IMMEDIATE`): read both
    /// counters, let `decide` say what they become (`None`: nothing), write that and commit
    /// in one more call to the connection. Returns the verdict and which tables grew past
    /// `max_entries`.
    async fn sqlite_write<F>(
        &self,
        mut conn: PoolConnection<Any>,
        key: &Key,
        decide: F,
    ) -> sqlx::Result<(Verdict, [bool; 2])>
    where
        F: FnOnce(&AnyRow) -> sqlx::Result<(Verdict, Option<(Side, Side)>)>,
    {
        let l = &self.limits;
        let _writer = self.writer.lock().await;
        // fetch_all: the Any driver's fetch_one would look at BEGIN's (empty) result only.
        let begun = sqlx::query(SQLITE_BEGIN_READ)
            .bind(&key.name)
            .bind(&key.net)
            .fetch_all(&mut *conn)
            .await;
        let done = async {
            let row = begun?.into_iter().next().ok_or(sqlx::Error::RowNotFound)?;
            let (verdict, plan) = decide(&row)?;
            let Some((pair, ip)) = plan else {
                sqlx::query(SQLITE_ROLLBACK).execute(&mut *conn).await?;
                return Ok((verdict, [false; 2]));
            };
            let mut sql = String::new();
            let mut grows = Vec::new();
            let mut binds: Vec<(Vec<u8>, i64, i64)> = Vec::new();
            for (t, (side, upsert, grew)) in
                [(&pair, PAIR_UPSERT, PAIR_GREW), (&ip, IP_UPSERT, IP_GREW)]
                    .into_iter()
                    .enumerate()
            {
                // A counter left empty keeps its row (newest 0: expired, the first to go when
                // the table is full, deleted by the next sweep), so the next login of the same
                // name and address updates it instead of inserting and deleting a row again.
                match side {
                    Some((e, new)) if !(e.is_empty() && *new) => {
                        sql.push_str(upsert);
                        if *new {
                            sql.push_str(grew);
                            grows.push(t);
                        }
                        binds.push((
                            entries::encode(e),
                            entries::newest(e),
                            entries::held_until(e, l.hold_ms),
                        ));
                    }
                    _ => binds.push((Vec::new(), 0, 0)),
                }
            }
            sql.push_str(SQLITE_COMMIT);
            let [(pe, pn, ph), (ie, inn, ih)]: [(Vec<u8>, i64, i64); 2] = binds
                .try_into()
                .map_err(|_| sqlx::Error::Protocol("two tables".into()))?;
            let rows = sqlx::query(&sql)
                .bind(&key.name)
                .bind(&key.net)
                .bind(pe)
                .bind(pn)
                .bind(ph)
                .bind(ie)
                .bind(inn)
                .bind(ih)
                .fetch_all(&mut *conn)
                .await?;
            let mut over = [false; 2];
            for (row, t) in rows.iter().zip(grows) {
                let n: i64 = row.try_get(0)?;
                over[t] = n > l.max_entries;
            }
            Ok((verdict, over))
        }
        .await;
        if done.is_err()
            && sqlx::query(SQLITE_ROLLBACK)
                .execute(&mut *conn)
                .await
                .is_err()
        {
            // The connection's state is unknown: it does not go back to the pool.
            let _ = conn.detach();
        }
        done
    }

    /// SQLite, after a commit that took a table past `max_entries`: drop its expired rows,
    /// then the stalest unheld ones down to 7/8 of it. Returns how many rows with failures
    /// still in the window went.
    async fn sqlite_make_room(
        &self,
        pool: &AnyPool,
        over: [bool; 2],
        now: i64,
    ) -> sqlx::Result<i64> {
        let l = &self.limits;
        let cutoff = l.cutoff(now);
        let mut evicted = 0;
        for ((tbl, table), over) in TABLES.into_iter().zip(over) {
            if !over {
                continue;
            }
            let _writer = self.writer.lock().await;
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let n: i64 = sqlx::query_scalar("SELECT n FROM throttle_sizes WHERE tbl = $1")
                .bind(tbl)
                .fetch_one(&mut *tx)
                .await?;
            // Another commit of this process may have made room already.
            if n > l.max_entries {
                let expired =
                    format!("DELETE FROM {table} WHERE newest <= $1 AND held_until <= $2");
                sqlx::query(&expired)
                    .bind(cutoff)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let count = format!("SELECT COUNT(*) FROM {table}");
                let n: i64 = sqlx::query_scalar(&count).fetch_one(&mut *tx).await?;
                let mut gone = 0;
                if n > l.target() {
                    let stalest = format!(
                        "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} \
                         WHERE held_until <= $1 ORDER BY newest LIMIT $2)"
                    );
                    gone = sqlx::query(&stalest)
                        .bind(now)
                        .bind(n - l.target())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                let gone = i64::try_from(gone).unwrap_or(i64::MAX);
                sqlx::query("UPDATE throttle_sizes SET n = $1 WHERE tbl = $2")
                    .bind(n - gone)
                    .bind(tbl)
                    .execute(&mut *tx)
                    .await?;
                evicted += gone;
            }
            tx.commit().await?;
        }
        Ok(evicted)
    }
}

/// The verdict of a settlement, which is never refused.
const ALLOWED: Verdict = Verdict {
    allowed: true,
    pair_locked: false,
    pair_oldest: None,
    ip_locked: false,
    ip_oldest: None,
    evicted: 0,
};
