//! Brute-force login throttling (like Authelia's "regulation"), in one of two stores.
//!
//! The rules are the same in both: failures are counted in a sliding window
//! (`throttle.window`) per (case-folded user name, client address) and per client address
//! (IPv6 per `throttle.ipv6_prefix` network); when either count reaches its limit the next
//! attempt is refused — even with the right password — until enough failures have aged out.
//! A success clears the pair's count (not the address's). [`Throttle::begin`] checks and
//! reserves a slot in both counters in one atomic step before any argon2 work, and the
//! reservation counts as a failure until it is settled ([`Attempt::success`],
//! [`Attempt::failure`]), so concurrent guesses cannot slip past the limit; an attempt dropped
//! unsettled (shed, cancelled, the user store unreachable) counts nothing.
//!
//! - [`memory`] (`throttle.store = "memory"`, the default): in this process, so each replica
//!   counts on its own.
//! - [`database`] (`throttle.store = "database"`): in the SQL database of `[database]`, so
//!   every process sharing it counts each failure once. While that database cannot be
//!   reached, `throttle.on_store_error` decides: `local` checks and counts in this process's
//!   memory, `deny` refuses with 503. No attempt ever skips the check, and failures counted
//!   in memory during an outage keep their lock after it. What both of its kinds share
//!   (reservations, the job queue, the store's health) is there; the SQL of each kind is in
//!   `postgres.rs` and `sqlite.rs`, over the key, limits and verdict of `sql.rs`.

pub mod database;
pub mod entries;
pub mod memory;
mod postgres;
pub mod rules;
mod sql;
mod sqlite;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};

pub use rules::{Locked, OnStoreError, ThrottleSettings, ThrottleStore};

use crate::database::{Database, QueryError};
use database::DatabaseThrottle;
use entries::Outcome;

/// Why [`Throttle::begin`] refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many failures: 429 with `Retry-After`.
    Locked(Locked),
    /// The database store cannot be reached and `throttle.on_store_error = "deny"`: 503.
    Unavailable,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Locked(locked) => locked.fmt(f),
            Refused::Unavailable => f.write_str("the throttle's database cannot be reached"),
        }
    }
}

impl std::error::Error for Refused {}

/// The failure counters of the configured store; cheap to clone (an `Arc` inside), so every
/// actix worker and every [`Attempt`] can hold it.
#[derive(Clone)]
pub struct Throttle {
    inner: Arc<Inner>,
}

/// How long [`Throttle::begin_now`] waits at most for attempts in flight to settle: a few
/// rounds of the hashing queue at production argon2 parameters (a login takes ~20-30 ms of
/// one core), short enough that a client is never held long.
pub const IN_FLIGHT_WAIT: Duration = Duration::from_secs(2);

/// How often a waiting attempt asks again when nothing of this process settled.
const RECHECK_EVERY: Duration = Duration::from_millis(50);

struct Inner {
    settings: ThrottleSettings,
    /// Woken whenever an attempt of this process settles (attempts waiting in
    /// [`Throttle::begin_now`] look again).
    settled: tokio::sync::Notify,
    /// The memory store: the store itself, or the database store's fallback.
    local: memory::Throttle,
    shared: Option<DatabaseThrottle>,
    /// `watchword_throttle_store_errors_total`.
    store_errors: IntCounter,
    /// `watchword_throttle_store_up`.
    store_up: IntGauge,
    clock: Clock,
}

/// Maps the `Instant`s callers pass to wall-clock ms, the time the database store keeps.
#[derive(Clone, Copy)]
struct Clock {
    instant: Instant,
    unix_ms: i64,
}

impl Clock {
    fn now() -> Clock {
        Clock {
            instant: Instant::now(),
            unix_ms: database::unix_ms_now(),
        }
    }

    fn ms(&self, at: Instant) -> i64 {
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        match at.checked_duration_since(self.instant) {
            Some(after) => self.unix_ms.saturating_add(ms(after)),
            None => self
                .unix_ms
                .saturating_sub(ms(self.instant.saturating_duration_since(at))),
        }
    }
}

fn store_metrics() -> (IntCounter, IntGauge) {
    let errors = IntCounter::new(
        "watchword_throttle_store_errors_total",
        "Login attempts (and settlements) the throttle's database could not take, decided in memory or refused.",
    )
    .expect("valid metric");
    let up = IntGauge::new(
        "watchword_throttle_store_up",
        "1 while the throttle's store answers (always with the memory store), 0 while its database cannot be reached.",
    )
    .expect("valid metric");
    up.set(1);
    (errors, up)
}

impl Throttle {
    /// The memory store: one per process, shared by all workers, so that limits hold across
    /// them. (`settings.store` is not looked at: [`Throttle::with_database`] makes the other.)
    pub fn new(settings: ThrottleSettings) -> Throttle {
        let (store_errors, store_up) = store_metrics();
        Throttle {
            inner: Arc::new(Inner {
                local: memory::Throttle::new(settings.clone()),
                settings,
                shared: None,
                store_errors,
                store_up,
                clock: Clock::now(),
                settled: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The database store on `db` (its schema applied, or to be applied when it answers if
    /// `migrate`). `reachable` is what the start found: an error makes the store start as
    /// down, following `settings.on_store_error` until it answers, and says so in the log.
    pub fn with_database(
        settings: ThrottleSettings,
        db: Database,
        migrate: bool,
        reachable: Result<(), String>,
    ) -> Throttle {
        let (store_errors, store_up) = store_metrics();
        let shared = DatabaseThrottle::new(
            db,
            &settings,
            migrate,
            store_errors.clone(),
            store_up.clone(),
        );
        if let Err(e) = reachable {
            shared.health().unreachable_at_start(&e);
        }
        Throttle {
            inner: Arc::new(Inner {
                local: memory::Throttle::new(settings.clone()),
                settings,
                shared: Some(shared),
                store_errors,
                store_up,
                clock: Clock::now(),
                settled: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The settings in force, for logging them at startup and for metrics.
    pub fn settings(&self) -> &ThrottleSettings {
        &self.inner.settings
    }

    /// `watchword_throttle_store_errors_total` and `watchword_throttle_store_up`, for the
    /// metrics registry.
    pub fn store_metrics(&self) -> (IntCounter, IntGauge) {
        (self.inner.store_errors.clone(), self.inner.store_up.clone())
    }

    /// Decide whether a login may go on to the password check, before any argon2 work.
    ///
    /// On `Ok`, a slot is reserved in the pair and IP counters until the returned [`Attempt`]
    /// is settled or dropped. `user` is keyed trimmed and Unicode-lowercased, so "Alice" and
    /// "ALICE" cannot each get their own five guesses; unknown names are counted like known
    /// ones. IPv4-mapped IPv6 addresses count as the IPv4 address they carry, other IPv6
    /// addresses as their `ipv6_prefix` network. `now` is passed in so that tests need no
    /// sleeping; see [`Throttle::begin_now`].
    pub async fn begin(&self, user: &str, ip: IpAddr, now: Instant) -> Result<Attempt, Refused> {
        let inner = &self.inner;
        if !inner.settings.enabled {
            return Ok(Attempt::off());
        }
        let local = || {
            inner
                .local
                .begin(user, ip, now)
                .map(|a| Attempt {
                    kind: Kind::Local(a),
                    owner: Some(self.clone()),
                })
                .map_err(Refused::Locked)
        };
        let Some(shared) = &inner.shared else {
            return local();
        };
        // Failures this process counted while the database was unreachable keep their lock.
        if let Some(locked) = inner.local.locked(user, ip, now) {
            return Err(Refused::Locked(locked));
        }
        let health = shared.health();
        if health.is_down() {
            health.count();
        } else {
            match shared.begin(user, ip, inner.clock.ms(now)).await {
                Ok(Ok(reservation)) => {
                    return Ok(Attempt {
                        owner: Some(self.clone()),
                        kind: Kind::Shared {
                            reservation,
                            throttle: self.clone(),
                            user: user.into(),
                            ip,
                            now,
                        },
                    })
                }
                Ok(Err(locked)) => return Err(Refused::Locked(locked)),
                Err(e) => health.failed("checking an attempt", &e),
            }
        }
        match inner.settings.on_store_error {
            OnStoreError::Local => local(),
            OnStoreError::Deny => Err(Refused::Unavailable),
        }
    }

    /// [`Throttle::begin`] at the current time, for the request handler; an attempt refused
    /// only by attempts still in flight ([`Locked::in_flight`]) waits for one of them to
    /// settle, up to [`IN_FLIGHT_WAIT`], and is refused only when settled failures fill the
    /// budget (or the wait ends). Ten correct logins of one account arriving together from
    /// one address (a batch job's workers behind one NAT) were five 200s and five 429s
    /// "Too many failed attempts." without a single failure. Guesses still reach argon2 at
    /// most the budget's number of times: a waiting attempt holds no slot.
    pub async fn begin_now(&self, user: &str, ip: IpAddr) -> Result<Attempt, Refused> {
        let deadline = Instant::now() + IN_FLIGHT_WAIT;
        loop {
            // Registered before the check, so a settlement in between is not missed.
            let settled = self.inner.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            let now = Instant::now();
            match self.begin(user, ip, now).await {
                Err(Refused::Locked(locked)) if locked.in_flight && now < deadline => {
                    // Settlements of this process wake it; those of other replicas (the
                    // database store) are seen by asking again.
                    let recheck = RECHECK_EVERY.min(deadline - now);
                    tokio::select! {
                        () = &mut settled => {}
                        () = tokio::time::sleep(recheck) => {}
                    }
                }
                other => return other,
            }
        }
    }

    /// Number of (pair, IP) counters held in this process's memory (the memory store, or the
    /// database store's fallback), for metrics and for tests of the memory bound.
    pub fn len(&self) -> (usize, usize) {
        self.inner.local.len()
    }

    /// True when no counter is held in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// Rows of (pairs, addresses) in the database store; `None` for the memory store.
    pub async fn stored_rows(&self) -> Option<Result<(u64, u64), QueryError>> {
        match &self.inner.shared {
            Some(shared) => Some(shared.rows().await),
            None => None,
        }
    }

    /// Delete the database store's expired counters now (it also does so once a minute);
    /// `None` for the memory store.
    pub async fn sweep(&self, now: Instant) -> Option<Result<u64, QueryError>> {
        match &self.inner.shared {
            Some(shared) => Some(shared.sweep(self.inner.clock.ms(now)).await),
            None => None,
        }
    }

    /// Wait until the database store has settled every attempt that was dropped unsettled
    /// (it releases them in the background); at once for the memory store.
    pub async fn settled(&self) {
        if let Some(shared) = &self.inner.shared {
            shared.settled().await;
        }
    }

    /// False while the database store is known to be unreachable (always true in memory).
    pub fn store_up(&self) -> bool {
        self.inner
            .shared
            .as_ref()
            .is_none_or(|s| !s.health().is_down())
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("settings", &self.inner.settings)
            .field("shared", &self.inner.shared)
            .finish_non_exhaustive()
    }
}

/// A login allowed to proceed to the password check; holds its reserved slot until settled.
///
/// Dropping it without [`Attempt::success`] or [`Attempt::failure`] releases the slot without
/// counting a failure: a cancelled or shed login told the attacker nothing.
#[must_use = "settle the attempt with success() or failure(); dropping it releases the slot"]
pub struct Attempt {
    kind: Kind,
    /// Told when this attempt settles, for the attempts waiting in [`Throttle::begin_now`].
    owner: Option<Throttle>,
}

enum Kind {
    /// Throttling is off.
    Off,
    /// Counted in this process's memory.
    Local(memory::Attempt),
    /// Counted in the database.
    Shared {
        reservation: database::Reservation,
        throttle: Throttle,
        /// For counting a failure in memory when the database cannot take it.
        user: Box<str>,
        ip: IpAddr,
        now: Instant,
    },
}

impl Attempt {
    fn off() -> Attempt {
        Attempt {
            kind: Kind::Off,
            owner: None,
        }
    }

    /// The password was right: release the slot and forget the pair's failures, so a user
    /// who mistyped a few times starts afresh. The IP's failures stay: one success must not
    /// let an address that sprays many accounts (with one valid login of its own) reset its
    /// count.
    pub async fn success(self) {
        self.finish(Outcome::Success).await;
    }

    /// The password (or the name) was wrong: the reserved slot becomes a recorded failure in
    /// both the pair and the IP counters, dated when the attempt began.
    pub async fn failure(self) {
        self.finish(Outcome::Failure).await;
    }

    async fn finish(self, outcome: Outcome) {
        let owner = self.owner;
        self.kind.finish(outcome).await;
        if let Some(throttle) = owner {
            throttle.inner.settled.notify_waiters();
        }
    }
}

impl Kind {
    async fn finish(self, outcome: Outcome) {
        match self {
            Kind::Off => {}
            Kind::Local(attempt) => match outcome {
                Outcome::Success => attempt.success(),
                Outcome::Failure => attempt.failure(),
                Outcome::Release => drop(attempt),
            },
            Kind::Shared {
                reservation,
                throttle,
                user,
                ip,
                now,
            } => {
                let inner = &throttle.inner;
                let Some(shared) = &inner.shared else {
                    return;
                };
                let at = reservation.at_ms();
                if let Err(e) = shared
                    .settle(reservation, outcome, inner.clock.ms(Instant::now()).max(at))
                    .await
                {
                    // Settled later (until then the reservation counts as a failure); a
                    // failure is also counted here, so this process locks the pair even if
                    // the database never takes it.
                    shared.health().failed("settling an attempt", &e);
                    if outcome == Outcome::Failure {
                        if let Ok(local) = inner.local.begin(&user, ip, now) {
                            local.failure();
                        }
                    }
                }
            }
        }
    }
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No user name: people type passwords into the name field, and Debug ends up in logs.
        match &self.kind {
            Kind::Off => f.write_str("Attempt(off)"),
            Kind::Local(a) => a.fmt(f),
            Kind::Shared { reservation, .. } => reservation.fmt(f),
        }
    }
}
