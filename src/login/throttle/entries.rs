//! One counter of the database store as a list of entries, and what begin and settle make of
//! it. SQLite runs this code; PostgreSQL runs its twin in PL/pgSQL
//! (`migrations/postgres/0002_throttle.sql`), and the store tests run the same cases on both.
//!
//! An entry is one attempt counted against the counter: the time it began (ms since the Unix
//! epoch) shifted left by [`TAG_BITS`], and in the low bits a random nonzero tag while the
//! attempt is in flight (a *reservation*) or 0 once it was settled as a failure. A reservation
//! counts as a failure from the start, so that concurrent attempts see each other; settling
//! it turns it into a failure (same time), removes it (released) or clears the counter's
//! failures (a success on the pair). A reservation that is not settled within the hold time
//! (the process died mid-login) stays counted as a failure, but no longer protects its row
//! from eviction.

/// Low bits of an entry that hold the reservation tag.
pub const TAG_BITS: u32 = 20;
/// Mask of the tag bits.
pub const TAG_MASK: i64 = (1 << TAG_BITS) - 1;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Never checked (shed, cancelled, the user store unreachable): counts nothing.
    Release = 0,
    /// A wrong password or name: counts until it leaves the window.
    Failure = 1,
    /// The right password: clears the pair's failures (on the address counter it is a
    /// release).
    Success = 2,
}

/// The entry of a reservation made at `at_ms` with `tag` (any value; 0 is made 1).
pub fn reservation(at_ms: i64, tag: u32) -> i64 {
    let tag = i64::from(tag) & TAG_MASK;
    (at_ms << TAG_BITS) | tag.max(1)
}

/// When the entry's attempt began, ms since the Unix epoch.
pub fn at(entry: i64) -> i64 {
    entry >> TAG_BITS
}

/// The entry is a reservation still within its hold time.
fn held(entry: i64, now: i64, hold: i64) -> bool {
    entry & TAG_MASK != 0 && at(entry).saturating_add(hold) > now
}

/// The entries that still count at `now`: those newer than `cutoff` (`now - window`), and
/// reservations still held, however old (an attempt counts until it is settled).
pub fn live(entries: &[i64], now: i64, cutoff: i64, hold: i64) -> Vec<i64> {
    entries
        .iter()
        .copied()
        .filter(|&e| at(e) > cutoff || held(e, now, hold))
        .collect()
}

/// The oldest counted failure (settled, or a reservation past its hold), for `Retry-After`.
pub fn oldest_failure(entries: &[i64], now: i64, hold: i64) -> Option<i64> {
    entries
        .iter()
        .copied()
        .filter(|&e| !held(e, now, hold))
        .map(at)
        .min()
}

/// The newest entry's time (0 for none): rows are expired, and evicted, by it.
pub fn newest(entries: &[i64]) -> i64 {
    entries.iter().copied().map(at).max().unwrap_or(0)
}

/// Until when the row's reservations protect it from eviction (0 for none).
pub fn held_until(entries: &[i64], hold: i64) -> i64 {
    entries
        .iter()
        .copied()
        .filter(|e| e & TAG_MASK != 0)
        .map(|e| at(e).saturating_add(hold))
        .max()
        .unwrap_or(0)
}

/// The counter after settling the reservation `entry` with `outcome`: the reservation goes;
/// a failure comes back as a settled entry of the same time (if still in the window); a
/// success drops every failure and keeps the other attempts' reservations. At most `limit`
/// failures are kept, the newest.
pub fn settled(
    entries: &[i64],
    entry: i64,
    outcome: Outcome,
    now: i64,
    cutoff: i64,
    hold: i64,
    limit: u32,
) -> Vec<i64> {
    let mut out = Vec::with_capacity(entries.len() + 1);
    let mut gone = false;
    for &e in entries {
        let keep = at(e) > cutoff || held(e, now, hold);
        if !gone && e == entry {
            gone = true;
        } else if keep && (outcome != Outcome::Success || held(e, now, hold)) {
            out.push(e);
        }
    }
    if outcome == Outcome::Failure && at(entry) > cutoff {
        out.push(at(entry) << TAG_BITS);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let failures = out.iter().filter(|&&e| !held(e, now, hold)).count();
        for _ in limit..failures {
            // The oldest failure goes (this needs a limit lowered between begin and settle).
            let oldest = out
                .iter()
                .enumerate()
                .filter(|(_, &e)| !held(e, now, hold))
                .min_by_key(|(_, &e)| e)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                out.remove(i);
            }
        }
    }
    out
}

/// Entries as stored by SQLite: little-endian i64s.
pub fn encode(entries: &[i64]) -> Vec<u8> {
    entries.iter().flat_map(|e| e.to_le_bytes()).collect()
}

/// The entries of a stored blob (a trailing partial entry is ignored).
pub fn decode(blob: &[u8]) -> Vec<i64> {
    blob.chunks_exact(8)
        .map(|c| {
            let mut b = [0; 8];
            b.copy_from_slice(c);
            i64::from_le_bytes(b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: i64 = 120_000;
    const WINDOW: i64 = 60_000;

    fn failure(at_ms: i64) -> i64 {
        at_ms << TAG_BITS
    }

    #[test]
    fn reservations_count_until_settled_and_failures_until_the_window_ends() {
        let now = 100_000;
        let cutoff = now - WINDOW;
        let old_failure = failure(cutoff);
        let failure_in = failure(cutoff + 1);
        let held_old = reservation(cutoff - 5, 7);
        let stale = reservation(now - HOLD - 1, 9);
        let v = [old_failure, failure_in, held_old, stale];
        // The failure at the cutoff is out; a reservation older than the window but held is
        // in; one past its hold and the window is out.
        assert_eq!(
            live(&v, now, cutoff, HOLD),
            vec![failure_in, reservation(cutoff - 5, 7)]
        );
        assert_eq!(oldest_failure(&v, now, HOLD), Some(now - HOLD - 1));
        assert_eq!(newest(&v), cutoff + 1);
        assert_eq!(held_until(&v, HOLD), cutoff - 5 + HOLD);
        assert_eq!(held_until(&[failure_in], HOLD), 0);
    }

    #[test]
    fn settling_turns_the_reservation_into_its_outcome() {
        let now = 100_000;
        let cutoff = now - WINDOW;
        let mine = reservation(99_000, 1);
        let other = reservation(99_500, 2);
        let f = failure(90_000);
        let v = [f, mine, other];
        let as_failure = settled(&v, mine, Outcome::Failure, now, cutoff, HOLD, 5);
        assert_eq!(as_failure, vec![f, other, failure(99_000)]);
        let released = settled(&v, mine, Outcome::Release, now, cutoff, HOLD, 5);
        assert_eq!(released, vec![f, other]);
        let success = settled(&v, mine, Outcome::Success, now, cutoff, HOLD, 5);
        assert_eq!(
            success,
            vec![other],
            "failures cleared, the other attempt still held"
        );
        // A settled reservation is not settled twice: a second identical entry stays.
        let twins = [mine, mine];
        assert_eq!(
            settled(&twins, mine, Outcome::Release, now, cutoff, HOLD, 5),
            vec![mine]
        );
        // A failure whose time already left the window adds nothing.
        let late = reservation(cutoff - 1, 3);
        assert!(settled(&[late], late, Outcome::Failure, now, cutoff, HOLD, 5).is_empty());
    }

    #[test]
    fn at_most_limit_failures_are_kept() {
        let now = 100_000;
        let cutoff = now - WINDOW;
        let v: Vec<i64> = (0..5).map(|i| failure(90_000 + i)).collect();
        let mine = reservation(95_000, 4);
        let mut all = v.clone();
        all.push(mine);
        let out = settled(&all, mine, Outcome::Failure, now, cutoff, HOLD, 3);
        assert_eq!(out, vec![failure(90_003), failure(90_004), failure(95_000)]);
    }

    #[test]
    fn blobs_round_trip() {
        let v = [reservation(1_700_000_000_000, 0xfffff), failure(1), -1];
        assert_eq!(decode(&encode(&v)), v);
        assert_eq!(decode(&[1, 2, 3]), Vec::<i64>::new());
        assert_eq!(
            reservation(5, 0) & TAG_MASK,
            1,
            "tag 0 would read as settled"
        );
        assert_eq!(at(reservation(1_700_000_000_000, 77)), 1_700_000_000_000);
    }
}
