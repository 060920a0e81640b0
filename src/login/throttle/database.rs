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
//!
//! This file holds what both kinds share (the reservations, the job queue, the store's
//! health) and hands each call to its kind: `postgres.rs` and `sqlite.rs` hold their SQL,
//! `sql.rs` the counter's key, the limits and the verdict they both work with.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot, Notify};

use super::entries::{self, Outcome};
use super::rules::{whole_seconds, Locked, OnStoreError, ThrottleSettings};
use super::sql::{Core, Key, Limits, Verdict};
use crate::database::{Database, DatabaseKind, QueryError};

pub use super::sql::HOLD;

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

    /// `what` failed with `error`: count it and log it (at most once a minute). Only a
    /// connection-level failure ([`QueryError::Unavailable`]) marks the store down and starts
    /// asking it again: a query the database refused for its input (a NUL that PostgreSQL
    /// will not store, say) is that attempt's error, and one such request must never switch
    /// every other login to the fallback.
    pub fn failed(self: &Arc<Self>, what: &str, error: &QueryError) {
        self.count();
        self.warn(&format!("failed ({what}): {error}"));
        if matches!(error, QueryError::Unavailable(_)) {
            self.mark_down();
        }
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
        // A locked counter with no settled failure in the window is full of reservations
        // alone. (With some settled failures beside reservations this says "not in flight",
        // and the attempt gets its 429 at once: the conservative side.)
        let in_flight =
            (!v.pair_locked || v.pair_oldest.is_none()) && (!v.ip_locked || v.ip_oldest.is_none());
        Locked {
            retry_after,
            in_flight,
        }
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

/// The SQL of both kinds, run on the database runtime: each call goes to its kind
/// ([`super::postgres`], [`super::sqlite`]).
impl Core {
    async fn begin(
        &self,
        pool: &AnyPool,
        key: &Key,
        entry: i64,
        now: i64,
    ) -> sqlx::Result<Verdict> {
        match self.kind {
            DatabaseKind::Postgres => self.postgres_begin(pool, key, entry, now).await,
            DatabaseKind::Sqlite => self.sqlite_begin(pool, key, entry, now).await,
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
        match self.kind {
            DatabaseKind::Postgres => self.postgres_settle(pool, key, entry, outcome, now).await,
            DatabaseKind::Sqlite => self.sqlite_settle(pool, key, entry, outcome, now).await,
        }
    }

    async fn sweep(&self, pool: &AnyPool, now: i64) -> sqlx::Result<u64> {
        match self.kind {
            DatabaseKind::Postgres => self.postgres_sweep(pool, now).await,
            DatabaseKind::Sqlite => self.sqlite_sweep(pool, now).await,
        }
    }
}
