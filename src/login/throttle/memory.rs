//! The memory store of the throttle: per instance (like Authelia's "regulation").
//!
//! Kept in one piece: the store is its first 440 lines, the rest are the unit tests that pin
//! its window, limits and eviction, kept beside it as every module here keeps its own.
//!
//! Each login costs one argon2 verification, so an attacker guessing passwords is already
//! slowed down; this module stops the guessing altogether after a few failures. Failures are
//! counted in a sliding window twice: per (user name, client IP) pair, which stops guessing at
//! one account, and per client IP, which stops one address spraying many accounts. When either
//! count reaches its limit the next attempt is refused — even with the right password — until
//! enough failures have aged out of the window.
//!
//! The API is check-then-report so that a refused login costs no argon2 work:
//! [`Throttle::begin`] either refuses ([`Locked`]) or hands out an [`Attempt`], which the caller
//! settles with [`Attempt::success`] or [`Attempt::failure`] once the password was checked.
//! `begin` reserves a slot in both counters under one lock, and the reservation counts as a
//! failure until it is settled, so concurrent guesses cannot slip past the limit (with a limit
//! of 5, 50 simultaneous guesses get exactly 5 attempts). An `Attempt` dropped without a report
//! (login shed because the hashing queue was full) releases its slot: a login that was never
//! checked is not a failed guess. A guess whose client hangs up is not such a login: `/login`
//! runs each attempt in a task of its own, so it is settled whatever the client does.
//!
//! Memory is bounded: each counter stores at most `limit` timestamps, and each table holds at
//! most [`ThrottleSettings::max_entries`] counters. When a table is full, counters whose
//! failures have all expired are dropped first; if that frees too little, the counters whose
//! newest failure is oldest are evicted in a batch, so the O(n) sweep happens at most once per
//! batch of insertions. Eviction forgets failures, which is a security trade-off: an attacker
//! who records more than `max_entries` failures within one window can push an account's pair
//! counter out. The per-IP counter still limits each of the attacker's addresses, so flooding
//! takes `max_entries / max_failures_per_ip` addresses (2 000 with the defaults) and one argon2
//! verification per failure — with the defaults, longer than the window itself on a small host.
//! Counters held by an in-flight [`Attempt`] are never evicted (that would undo the reservation),
//! so a table can exceed `max_entries` by at most the number of live attempts.
//!
//! The state is per process: several instances behind a load balancer each count on their own
//! (`throttle.store = "memory"`). It is also the database store's fallback while its database
//! cannot be reached (`throttle.on_store_error = "local"`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::rules::{network, normalize_name, whole_seconds, Locked, ThrottleSettings};

/// The shared failure counters; cheap to clone (an `Arc` inside) so every actix worker and
/// every [`Attempt`] can hold it without lifetimes.
#[derive(Clone)]
pub struct Throttle {
    inner: Arc<Shared>,
}

struct Shared {
    settings: ThrottleSettings,
    /// One mutex for both tables: the pair check and the IP check of one attempt must be
    /// atomic together, and it is held for microseconds against ~20 ms of argon2 per login.
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    pairs: HashMap<PairKey, Counter>,
    ips: HashMap<IpAddr, Counter>,
}

/// Normalised user name and client address.
type PairKey = (Box<str>, IpAddr);

/// Failures of one key within the window, plus attempts reserved but not yet settled.
#[derive(Default)]
struct Counter {
    /// Times of recorded failures, oldest first; never more than the limit.
    failures: VecDeque<Instant>,
    /// Attempts begun and not yet settled; each counts as a failure until it is.
    pending: u32,
}

impl Counter {
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(&oldest) = self.failures.front() {
            if now.saturating_duration_since(oldest) >= window {
                self.failures.pop_front();
            } else {
                break;
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.failures.is_empty() && self.pending == 0
    }

    fn counted(&self) -> usize {
        self.failures.len().saturating_add(self.pending as usize)
    }

    fn retry_after(&self, now: Instant, window: Duration) -> Duration {
        whole_seconds(match self.failures.front() {
            Some(&oldest) => window.saturating_sub(now.saturating_duration_since(oldest)),
            None => Duration::ZERO,
        })
    }

    /// Record a failure at `at`, keeping the queue sorted (attempts may settle out of order)
    /// and no longer than `limit`.
    fn record(&mut self, at: Instant, limit: usize) {
        let pos = self.failures.partition_point(|&t| t <= at);
        self.failures.insert(pos, at);
        while self.failures.len() > limit {
            self.failures.pop_front();
        }
    }
}

/// How an attempt ends: [`Attempt::finish`] does the table work for all three.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Settlement {
    Success,
    Failure,
    Released,
}

impl Throttle {
    /// One throttle per process, shared by all workers, so that limits hold across them.
    pub fn new(settings: ThrottleSettings) -> Throttle {
        Throttle {
            inner: Arc::new(Shared {
                settings,
                tables: Mutex::new(Tables::default()),
            }),
        }
    }

    /// The settings in force, for logging them at startup and for metrics.
    pub fn settings(&self) -> &ThrottleSettings {
        &self.inner.settings
    }

    /// Decide whether a login may go on to the password check, before any argon2 work.
    ///
    /// On `Ok`, a slot is reserved in the pair and IP counters until the returned [`Attempt`]
    /// is settled or dropped. `user` is keyed trimmed and Unicode-lowercased
    /// (`str::to_lowercase`), so "Alice" and "ALICE" cannot each get their own five guesses;
    /// unknown names are counted like known ones (this module does not know the users).
    /// IPv4-mapped IPv6 addresses are counted as the IPv4 address they carry, other IPv6
    /// addresses as their `ipv6_prefix` network. `now` is passed in so that tests need no
    /// sleeping; see [`Throttle::begin_now`].
    pub fn begin(&self, user: &str, ip: IpAddr, now: Instant) -> Result<Attempt, Locked> {
        let s = &self.inner.settings;
        if !s.enabled {
            return Ok(Attempt { reservation: None });
        }
        let ip = network(ip, s.ipv6_prefix);
        let key: PairKey = (normalize_name(user), ip);
        let (pair_limit, ip_limit) = (s.max_failures_per_user, s.max_failures_per_ip);
        let mut guard = self.inner.lock();
        let tables = &mut *guard;

        let pair_lock = check(&mut tables.pairs, &key, pair_limit, now, s.window);
        let ip_lock = check(&mut tables.ips, &ip, ip_limit, now, s.window);
        if let Some(locked) = Locked::either(pair_lock, ip_lock) {
            return Err(locked);
        }

        if pair_limit > 0 {
            slot(&mut tables.pairs, &key, now, s).pending += 1;
        }
        if ip_limit > 0 {
            slot(&mut tables.ips, &ip, now, s).pending += 1;
        }
        Ok(Attempt {
            reservation: Some(Reservation {
                throttle: Arc::clone(&self.inner),
                key,
                at: now,
            }),
        })
    }

    /// [`Throttle::begin`] at the current time.
    pub fn begin_now(&self, user: &str, ip: IpAddr) -> Result<Attempt, Locked> {
        self.begin(user, ip, Instant::now())
    }

    /// Whether [`Throttle::begin`] would refuse `user` at `ip` now, without reserving
    /// anything: the database store asks this of its fallback, whose counters from an outage
    /// keep their lock after it.
    pub fn locked(&self, user: &str, ip: IpAddr, now: Instant) -> Option<Locked> {
        let s = &self.inner.settings;
        if !s.enabled {
            return None;
        }
        let mut guard = self.inner.lock();
        let tables = &mut *guard;
        if tables.pairs.is_empty() && tables.ips.is_empty() {
            return None;
        }
        let ip = network(ip, s.ipv6_prefix);
        let key: PairKey = (normalize_name(user), ip);
        let pair_lock = check(
            &mut tables.pairs,
            &key,
            s.max_failures_per_user,
            now,
            s.window,
        );
        let ip_lock = check(&mut tables.ips, &ip, s.max_failures_per_ip, now, s.window);
        Locked::either(pair_lock, ip_lock)
    }

    /// Number of (pair, IP) counters held, for metrics and for tests of the memory bound.
    pub fn len(&self) -> (usize, usize) {
        let tables = self.inner.lock();
        (tables.pairs.len(), tables.ips.len())
    }

    /// True when no counter is held, i.e. no failure in memory and no attempt in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        // Nothing panics while the lock is held; if something ever did, the counters are
        // still usable, and refusing every login afterwards would be worse.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `Some(lock)` when `key`'s counter is at `limit`; drops the counter when it has
/// nothing left in it.
fn check<K: Hash + Eq>(
    map: &mut HashMap<K, Counter>,
    key: &K,
    limit: u32,
    now: Instant,
    window: Duration,
) -> Option<Locked> {
    if limit == 0 {
        return None;
    }
    let counter = map.get_mut(key)?;
    counter.prune(now, window);
    if counter.is_idle() {
        map.remove(key);
        return None;
    }
    (counter.counted() >= limit as usize).then(|| Locked {
        retry_after: counter.retry_after(now, window),
        in_flight: counter.failures.len() < limit as usize,
    })
}

/// The counter for `key`, created (after making room) when absent.
fn slot<'m, K: Hash + Eq + Clone>(
    map: &'m mut HashMap<K, Counter>,
    key: &K,
    now: Instant,
    s: &ThrottleSettings,
) -> &'m mut Counter {
    if !map.contains_key(key) {
        make_room(map, now, s.window, s.max_entries.max(1));
    }
    map.entry(key.clone()).or_default()
}

/// Keep a table below `max` before inserting a key: drop expired counters, then, if still
/// too full, evict those whose newest failure is oldest, down to `max - max / 8` so that the
/// next O(n) pass is at least that many insertions away.
fn make_room<K: Hash + Eq>(
    map: &mut HashMap<K, Counter>,
    now: Instant,
    window: Duration,
    max: usize,
) {
    if map.len() < max {
        return;
    }
    // One pass drops what has expired and notes the newest failure of every evictable
    // counter: counters of in-flight attempts are never evicted, all others hold a failure.
    let mut newest: Vec<Instant> = Vec::with_capacity(map.len());
    map.retain(|_, c| {
        c.prune(now, window);
        if c.pending == 0 {
            newest.extend(c.failures.back().copied());
        }
        !c.is_idle()
    });
    let target = max - (max / 8).max(1);
    if map.len() <= target {
        return;
    }
    let excess = map.len() - target;
    let evict_all = newest.len() <= excess;
    let threshold = if evict_all {
        None
    } else {
        Some(*newest.select_nth_unstable(excess - 1).1)
    };
    let mut evicted = 0;
    map.retain(|_, c| {
        if evicted == excess || c.pending > 0 {
            return true;
        }
        let old_enough = match (threshold, c.failures.back()) {
            (Some(threshold), Some(&last)) => last <= threshold,
            _ => true,
        };
        if old_enough {
            evicted += 1;
        }
        !old_enough
    });
    if evicted > 0 {
        log::warn!(
            "login throttle: table of {max} counters full; forgot {evicted} with recent failures"
        );
    }
}

/// A login allowed to proceed to the password check; holds its reserved slot until settled.
///
/// Dropping it without [`Attempt::success`] or [`Attempt::failure`] releases the slot without
/// counting a failure: a login shed before any hashing told the attacker nothing. Callers must
/// not let a client's disconnect drop it once the password is being checked.
#[must_use = "settle the attempt with success() or failure(); dropping it releases the slot"]
pub struct Attempt {
    /// `None` when throttling is disabled or the attempt is already settled.
    reservation: Option<Reservation>,
}

struct Reservation {
    throttle: Arc<Shared>,
    key: PairKey,
    /// When the attempt began: its failure is dated then, so the window matches what `begin`
    /// saw.
    at: Instant,
}

impl Attempt {
    /// The password was right: release the slot and forget the pair's failures, so a user who
    /// mistyped a few times starts afresh. The IP's failures stay: one success must not let an
    /// address that sprays many accounts (with one valid login of its own) reset its count.
    pub fn success(mut self) {
        self.finish(Settlement::Success);
    }

    /// The password (or the name) was wrong: the reserved slot becomes a recorded failure in
    /// both the pair and the IP counters, dated when the attempt began.
    pub fn failure(mut self) {
        self.finish(Settlement::Failure);
    }

    fn finish(&mut self, outcome: Settlement) {
        let Some(r) = self.reservation.take() else {
            return;
        };
        let s = &r.throttle.settings;
        let mut guard = r.throttle.lock();
        let tables = &mut *guard;
        if s.max_failures_per_user > 0 {
            settle(
                &mut tables.pairs,
                &r.key,
                outcome,
                s.max_failures_per_user,
                r.at,
                s,
            );
        }
        if s.max_failures_per_ip > 0 {
            // A success clears only the pair: for the IP it is just a released slot.
            let outcome = match outcome {
                Settlement::Success => Settlement::Released,
                other => other,
            };
            settle(
                &mut tables.ips,
                &r.key.1,
                outcome,
                s.max_failures_per_ip,
                r.at,
                s,
            );
        }
    }
}

/// Turn one reservation in `key`'s counter into `outcome`.
fn settle<K: Hash + Eq + Clone>(
    map: &mut HashMap<K, Counter>,
    key: &K,
    outcome: Settlement,
    limit: u32,
    at: Instant,
    s: &ThrottleSettings,
) {
    if outcome == Settlement::Failure {
        // The counter exists (reserved counters are never evicted); `slot` recreates it anyway
        // should that ever change, since a lost failure is worse than a full table.
        let counter = slot(map, key, at, s);
        counter.pending = counter.pending.saturating_sub(1);
        counter.record(at, limit as usize);
        return;
    }
    if let Some(counter) = map.get_mut(key) {
        counter.pending = counter.pending.saturating_sub(1);
        if outcome == Settlement::Success {
            counter.failures.clear();
        }
        if counter.is_idle() {
            map.remove(key);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.finish(Settlement::Released);
    }
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No user name: people type passwords into the name field, and Debug ends up in logs.
        let mut d = f.debug_struct("Attempt");
        match &self.reservation {
            Some(r) => d.field("ip", &r.key.1).field("at", &r.at),
            None => d.field("reserved", &false),
        };
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::throttle::rules::{network, normalize_name};
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Barrier;

    const WINDOW: Duration = Duration::from_secs(15 * 60);

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    fn throttle() -> Throttle {
        Throttle::new(ThrottleSettings::default())
    }

    /// `n` failures on `user`@`addr` at `now`, each of which must have been allowed.
    fn fail(t: &Throttle, user: &str, addr: IpAddr, now: Instant, n: usize) {
        for i in 0..n {
            let attempt = t
                .begin(user, addr, now)
                .unwrap_or_else(|e| panic!("failure {i} of {user} refused: {e}"));
            attempt.failure();
        }
    }

    fn locked(t: &Throttle, user: &str, addr: IpAddr, now: Instant) -> Duration {
        t.begin(user, addr, now)
            .expect_err("should be locked")
            .retry_after
    }

    #[test]
    fn pair_locks_after_five_failures_and_only_that_pair() {
        let t = throttle();
        let start = Instant::now();
        for i in 0..5 {
            fail(&t, "alice", ip(1), start + Duration::from_secs(i), 1);
        }
        let now = start + Duration::from_secs(5);
        let retry = locked(&t, "alice", ip(1), now);
        // The oldest failure (at start) leaves the window at start + 15 min.
        assert_eq!(retry, WINDOW - Duration::from_secs(5));
        // The right password is refused too: there is no attempt to call success() on, and a
        // second try changes nothing.
        assert!(t.begin("alice", ip(1), now).is_err());
        // Another account from the same address, and the same account from elsewhere, go on.
        t.begin("bob", ip(1), now).unwrap().success();
        t.begin("alice", ip(2), now).unwrap().success();
    }

    #[test]
    fn lock_lifts_when_the_window_has_passed() {
        let t = throttle();
        let start = Instant::now();
        fail(&t, "alice", ip(1), start, 5);
        assert!(t
            .begin("alice", ip(1), start + WINDOW - Duration::from_millis(1))
            .is_err());
        let later = start + WINDOW + Duration::from_secs(1);
        t.begin("alice", ip(1), later).unwrap().success();
        // Nothing is left in memory once the failures expired and the attempt settled.
        assert!(t.is_empty());
    }

    #[test]
    fn lock_lifts_one_failure_at_a_time() {
        let t = throttle();
        let start = Instant::now();
        for i in 0..5 {
            fail(&t, "alice", ip(1), start + Duration::from_secs(60 * i), 1);
        }
        // The first failure ages out: exactly one more guess, then locked until the second.
        let now = start + WINDOW;
        t.begin("alice", ip(1), now).unwrap().failure();
        assert_eq!(locked(&t, "alice", ip(1), now), Duration::from_secs(60));
    }

    #[test]
    fn success_clears_the_pair() {
        let t = throttle();
        let now = Instant::now();
        fail(&t, "alice", ip(1), now, 4);
        t.begin("alice", ip(1), now).unwrap().success();
        fail(&t, "alice", ip(1), now, 4);
        // ...and the fifth after the success is the one that locks.
        fail(&t, "alice", ip(1), now, 1);
        assert!(t.begin("alice", ip(1), now).is_err());
    }

    #[test]
    fn success_leaves_the_ip_counter_alone() {
        let t = throttle();
        let now = Instant::now();
        for n in 0..49 {
            fail(&t, &format!("user{n}"), ip(1), now, 1);
        }
        t.begin("alice", ip(1), now).unwrap().success();
        fail(&t, "mallory", ip(1), now, 1);
        assert!(t.begin("alice", ip(1), now).is_err());
    }

    #[test]
    fn ip_locks_after_fifty_failures_over_many_names() {
        let t = throttle();
        let start = Instant::now();
        for n in 0..50 {
            fail(
                &t,
                &format!("user{n}"),
                ip(1),
                start + Duration::from_secs(n),
                1,
            );
        }
        let now = start + Duration::from_secs(50);
        assert_eq!(
            locked(&t, "yet-another-name", ip(1), now),
            WINDOW - Duration::from_secs(50)
        );
        // Names that failed once are not locked as pairs, but the address is.
        assert!(t.begin("user0", ip(1), now).is_err());
        // Other addresses are unaffected.
        t.begin("yet-another-name", ip(2), now).unwrap().failure();
    }

    #[test]
    fn case_variants_share_a_counter() {
        let t = throttle();
        let now = Instant::now();
        fail(&t, "Alice", ip(1), now, 2);
        fail(&t, "ALICE", ip(1), now, 2);
        fail(&t, " alice ", ip(1), now, 1);
        assert!(t.begin("alice", ip(1), now).is_err());
        assert!(t.begin("aLiCe", ip(1), now).is_err());
        // Unicode, not only ASCII.
        fail(&t, "ÉMILE", ip(1), now, 4);
        fail(&t, "émile", ip(1), now, 1);
        assert!(t.begin("Émile", ip(1), now).is_err());
        assert_eq!(t.len(), (2, 1));
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_ipv4() {
        let t = throttle();
        let now = Instant::now();
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        fail(&t, "alice", IpAddr::V4(v4), now, 3);
        fail(&t, "alice", IpAddr::V6(v4.to_ipv6_mapped()), now, 2);
        assert!(t.begin("alice", IpAddr::V4(v4), now).is_err());
        assert_eq!(t.len(), (1, 1));
    }

    #[test]
    fn ipv6_counts_per_network() {
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        // One /64, a new address per guess: the pair and the address counters both see one
        // client.
        let t = throttle();
        let now = Instant::now();
        for i in 0..5 {
            t.begin("alice", v6(&format!("2001:db8:1:2::{i:x}")), now)
                .unwrap()
                .failure();
        }
        assert!(t.begin("alice", v6("2001:db8:1:2:ffff::1"), now).is_err());
        assert_eq!(t.len(), (1, 1));
        // The next /64 is another client.
        assert!(t.begin("alice", v6("2001:db8:1:3::1"), now).is_ok());

        // 128 restores single addresses; 0 makes all IPv6 one client; IPv4 never changes.
        let exact = Throttle::new(ThrottleSettings {
            ipv6_prefix: 128,
            ..ThrottleSettings::default()
        });
        fail(&exact, "alice", v6("2001:db8::1"), now, 5);
        assert!(exact.begin("alice", v6("2001:db8::2"), now).is_ok());
        assert_eq!(network(v6("2001:db8::1"), 0), v6("::"));
        assert_eq!(
            network(v6("2001:db8:aaaa:bbbb:1::1"), 48),
            v6("2001:db8:aaaa::")
        );
        assert_eq!(network(ip(7), 0), ip(7));
        assert_eq!(
            network(v6("::ffff:10.0.0.7"), 64),
            ip(7),
            "IPv4-mapped stays IPv4"
        );
    }

    #[test]
    fn concurrent_guesses_cannot_pass_the_limit() {
        let t = throttle();
        let now = Instant::now();
        let begun = Barrier::new(50);
        let settle = Barrier::new(50);
        let results: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..50)
                .map(|_| {
                    scope.spawn(|| {
                        begun.wait();
                        let attempt = t.begin("alice", ip(1), now);
                        settle.wait();
                        match attempt {
                            Ok(attempt) => {
                                attempt.failure();
                                true
                            }
                            Err(locked) => {
                                assert!(locked.retry_after >= Duration::from_secs(1));
                                false
                            }
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|&&ok| ok).count(), 5);
        assert_eq!(results.iter().filter(|&&ok| !ok).count(), 45);
        // The five became failures: locked for the whole window now.
        assert_eq!(locked(&t, "alice", ip(1), now), WINDOW);
    }

    #[test]
    fn locked_tells_without_reserving() {
        let t = throttle();
        let now = Instant::now();
        assert_eq!(t.locked("alice", ip(1), now), None);
        fail(&t, "alice", ip(1), now, 4);
        for _ in 0..3 {
            assert_eq!(
                t.locked("alice", ip(1), now),
                None,
                "asking reserves nothing"
            );
        }
        fail(&t, "alice", ip(1), now, 1);
        assert_eq!(
            t.locked("ALICE", ip(1), now).map(|l| l.retry_after),
            Some(WINDOW)
        );
        assert_eq!(t.locked("alice", ip(1), now + WINDOW), None);
    }

    #[test]
    fn in_flight_attempts_hold_the_slots_and_dropping_releases_them() {
        let t = throttle();
        let now = Instant::now();
        let begun = Barrier::new(50);
        let settle = Barrier::new(50);
        let allowed = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..50)
                .map(|_| {
                    scope.spawn(|| {
                        begun.wait();
                        let attempt = t.begin("alice", ip(1), now);
                        settle.wait();
                        // Dropped unreported: cancelled or shed.
                        attempt.is_ok()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|&ok| ok)
                .count()
        });
        assert_eq!(allowed, 5);
        assert!(t.is_empty(), "released reservations leave nothing behind");
        t.begin("alice", ip(1), now).unwrap().failure();
    }

    #[test]
    fn locked_by_in_flight_attempts_alone_says_retry_in_a_second() {
        let t = throttle();
        let now = Instant::now();
        let held: Vec<Attempt> = (0..5)
            .map(|_| t.begin("alice", ip(1), now).unwrap())
            .collect();
        assert_eq!(locked(&t, "alice", ip(1), now), Duration::from_secs(1));
        drop(held);
        t.begin("alice", ip(1), now).unwrap().success();
    }

    #[test]
    fn settled_attempts_are_not_released_twice() {
        let t = throttle();
        let now = Instant::now();
        fail(&t, "alice", ip(1), now, 3);
        let a = t.begin("alice", ip(1), now).unwrap();
        let b = t.begin("alice", ip(1), now).unwrap();
        // `a` settles (and is then dropped): if its drop released a slot again it would free
        // `b`'s reservation and let a sixth guess in.
        a.failure();
        assert!(t.begin("alice", ip(1), now).is_err());
        drop(b);
        t.begin("alice", ip(1), now).unwrap().failure();
        assert!(t.begin("alice", ip(1), now).is_err());
    }

    #[test]
    fn out_of_order_settling_keeps_the_window_right() {
        let t = throttle();
        let start = Instant::now();
        let early = t.begin("alice", ip(1), start).unwrap();
        let late = t
            .begin("alice", ip(1), start + Duration::from_secs(100))
            .unwrap();
        late.failure();
        early.failure();
        fail(&t, "alice", ip(1), start + Duration::from_secs(200), 3);
        // The oldest failure is the early one, dated when it began.
        assert_eq!(
            locked(&t, "alice", ip(1), start + Duration::from_secs(200)),
            WINDOW - Duration::from_secs(200)
        );
    }

    #[test]
    fn table_sizes_stay_within_max_entries_under_a_spray() {
        let t = throttle();
        let max = t.settings().max_entries;
        let start = Instant::now();
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut peak = (0, 0);
        for i in 0..200_000u32 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let name = format!("{rng:016x}");
            // 1 ms apart: 200 s in all, so nothing expires and eviction must do the work.
            let now = start + Duration::from_millis(u64::from(i));
            fail(&t, &name, ip(i % 5_000), now, 1);
            let (pairs, ips) = t.len();
            assert!(pairs <= max && ips <= max, "{pairs} pairs, {ips} ips");
            peak = (peak.0.max(pairs), peak.1.max(ips));
        }
        assert!(peak.0 > max - max / 8, "the table was used, peak {peak:?}");
        assert_eq!(peak.1, 5_000);
    }

    #[test]
    fn full_table_drops_expired_counters_before_evicting() {
        let t = Throttle::new(ThrottleSettings {
            max_entries: 10,
            ..ThrottleSettings::default()
        });
        let start = Instant::now();
        for n in 0..9 {
            fail(&t, &format!("old{n}"), ip(1), start, 1);
        }
        // The victim's failures are recent; the nine others expire first.
        let recent = start + WINDOW / 2;
        fail(&t, "victim", ip(1), recent, 5);
        assert_eq!(t.len().0, 10);
        let later = start + WINDOW + Duration::from_secs(1);
        fail(&t, "newcomer", ip(2), later, 1);
        assert_eq!(t.len().0, 2);
        assert!(t.begin("victim", ip(1), later).is_err());
    }

    #[test]
    fn full_table_evicts_the_stalest_counters_but_never_reserved_ones() {
        let t = Throttle::new(ThrottleSettings {
            max_entries: 16,
            ..ThrottleSettings::default()
        });
        let start = Instant::now();
        // The stalest counter is a locked pair: eviction forgets it (the documented cost).
        fail(&t, "stale", ip(1), start, 5);
        // An attempt in flight holds the next-stalest counter.
        let held = t.begin("held", ip(1), start).unwrap();
        for n in 0..14 {
            fail(
                &t,
                &format!("filler{n}"),
                ip(2),
                start + Duration::from_secs(1 + n),
                1,
            );
        }
        assert_eq!(t.len().0, 16);
        let now = start + Duration::from_secs(60);
        fail(&t, "newcomer", ip(3), now, 1);
        assert!(t.len().0 <= 16);
        // "stale" was evicted, so it may guess again; "held" kept its reservation.
        t.begin("stale", ip(1), now).unwrap().failure();
        held.failure();
        fail(&t, "held", ip(1), now, 4);
        assert!(t.begin("held", ip(1), now).is_err());
    }

    #[test]
    fn disabled_never_locks_and_stores_nothing() {
        let t = Throttle::new(ThrottleSettings {
            enabled: false,
            ..ThrottleSettings::default()
        });
        let now = Instant::now();
        fail(&t, "alice", ip(1), now, 1_000);
        assert!(t.is_empty());
        t.begin("alice", ip(1), now).unwrap().success();
    }

    #[test]
    fn zero_limit_turns_that_counter_off() {
        let t = Throttle::new(ThrottleSettings {
            max_failures_per_ip: 0,
            ..ThrottleSettings::default()
        });
        let now = Instant::now();
        for n in 0..100 {
            fail(&t, &format!("user{n}"), ip(1), now, 4);
        }
        assert_eq!(t.len(), (100, 0));
        fail(&t, "user0", ip(1), now, 1);
        assert!(t.begin("user0", ip(1), now).is_err());
    }

    #[test]
    fn retry_after_is_at_least_a_second_and_counts_down() {
        let t = throttle();
        let start = Instant::now();
        fail(&t, "alice", ip(1), start, 5);
        let mut previous = Duration::MAX;
        for secs in [0, 1, 100, 450, 899] {
            let retry = locked(&t, "alice", ip(1), start + Duration::from_secs(secs));
            assert_eq!(retry, WINDOW - Duration::from_secs(secs));
            assert!(retry < previous);
            previous = retry;
        }
        // Rounded up to whole seconds, never zero.
        let almost = start + WINDOW - Duration::from_millis(1);
        assert_eq!(locked(&t, "alice", ip(1), almost), Duration::from_secs(1));
        let nearly = start + WINDOW - Duration::from_millis(1_500);
        assert_eq!(locked(&t, "alice", ip(1), nearly), Duration::from_secs(2));
        assert_eq!(
            retry_message(&t, start),
            "too many failed logins; retry after 900 s"
        );
    }

    fn retry_message(t: &Throttle, now: Instant) -> String {
        t.begin("alice", ip(1), now).unwrap_err().to_string()
    }

    #[test]
    fn odd_names_do_not_panic_and_long_ones_are_capped() {
        let t = throttle();
        let now = Instant::now();
        for name in ["", " ", "\u{0}", "İSTANBUL", "ß", "\u{10FFFF}"] {
            t.begin(name, ip(1), now).unwrap().failure();
        }
        // Longer than the cap, with a multi-byte character across the cut.
        let long = format!("{}é{}", "a".repeat(255), "b".repeat(1 << 20));
        fail(&t, &long, ip(2), now, 3);
        // Names equal in their first 256 bytes share a counter.
        fail(&t, &format!("{}é{}", "A".repeat(255), "c"), ip(2), now, 2);
        assert!(t.begin(&long, ip(2), now).is_err());
        assert_eq!(normalize_name(&long).len(), 255);
        // Empty and whitespace-only names are one (counted) name.
        assert!(t.begin(" ", ip(1), now).is_ok());
    }

    #[test]
    fn extreme_settings_do_not_panic() {
        let t = Throttle::new(ThrottleSettings {
            enabled: true,
            window: Duration::MAX,
            max_failures_per_user: u32::MAX,
            max_failures_per_ip: 1,
            max_entries: 0,
            ipv6_prefix: u8::MAX,
            ..ThrottleSettings::default()
        });
        let now = Instant::now();
        t.begin("alice", ip(1), now).unwrap().failure();
        assert_eq!(
            locked(&t, "bob", ip(1), now).as_secs(),
            Duration::MAX.as_secs()
        );
        t.begin("carol", ip(2), now).unwrap().failure();
        assert_eq!(t.len().1, 1, "max_entries 0 acts as 1");

        let zero = Throttle::new(ThrottleSettings {
            window: Duration::ZERO,
            ..ThrottleSettings::default()
        });
        fail(&zero, "alice", ip(1), now, 100);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        fail(&zero, "alice", v6, now, 100);
    }

    #[test]
    fn shared_across_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        fn send<T: Send + 'static>() {}
        send_sync::<Throttle>();
        send_sync::<Locked>();
        send::<Attempt>();
    }
}
