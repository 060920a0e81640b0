//! What both kinds of the database store ([`super::postgres`], [`super::sqlite`]) share:
//! a counter's key as stored, the limits in the units the SQL takes, the verdict on an
//! attempt, and the state every call runs with ([`Core`]).

use std::net::IpAddr;
use std::time::Duration;

use super::rules::{network, normalize_name, ThrottleSettings};
use crate::database::DatabaseKind;

/// How long a reservation counts as an attempt in flight: it protects its row from eviction
/// and makes a lock read "retry in 1 s". A few times the longest login (the database and
/// hashing timeouts); an attempt whose process died before settling stays counted as a
/// failure after it, until it leaves the window.
pub const HOLD: Duration = Duration::from_secs(120);

/// The limits in the units the SQL takes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) window_ms: i64,
    pub(super) hold_ms: i64,
    pub(super) pair_limit: i32,
    pub(super) ip_limit: i32,
    pub(super) max_entries: i64,
    ipv6_prefix: u8,
}

impl Limits {
    pub(super) fn new(s: &ThrottleSettings) -> Limits {
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

    pub(super) fn cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.window_ms)
    }

    pub(super) fn target(&self) -> i64 {
        self.max_entries - (self.max_entries / 8).max(1)
    }
}

/// A counter's key as stored: the case-folded name and the client network.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) name: String,
    pub(super) net: String,
}

impl Key {
    pub(super) fn new(user: &str, ip: IpAddr, limits: &Limits) -> Key {
        Key {
            name: normalize_name(user).into(),
            net: network(ip, limits.ipv6_prefix).to_string(),
        }
    }
}

/// What the database said about both counters of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    pub(super) allowed: bool,
    pub(super) pair_locked: bool,
    pub(super) pair_oldest: Option<i64>,
    pub(super) ip_locked: bool,
    pub(super) ip_oldest: Option<i64>,
    /// Rows with failures still in the window that were evicted to stay within max_entries.
    pub(super) evicted: i64,
}

/// The SQL of both kinds, run on the database runtime.
pub(super) struct Core {
    pub(super) kind: DatabaseKind,
    pub(super) limits: Limits,
    /// SQLite: one writer of this process at a time (SQLite's busy handler sleeps, so
    /// letting every connection of every process compete would only add waiting).
    pub(super) writer: tokio::sync::Mutex<()>,
}
