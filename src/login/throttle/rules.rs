//! What both throttle stores count and how: the settings, the keys (case-folded names,
//! client networks) and the answer to a locked attempt. Shared by [`super::memory`] and
//! [`super::database`], so the two cannot drift apart.

use std::net::IpAddr;
use std::time::Duration;

/// The address a client is counted under: IPv4 as is (also when it arrives IPv4-mapped),
/// IPv6 cut to its first `prefix` bits.
pub fn network(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u32::from(prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        v4 => v4,
    }
}

/// Names longer than this are truncated for keying: callers already refuse longer names, and a
/// stored key must not be as large as whatever a client sends.
const MAX_KEY_BYTES: usize = 256;

/// The key a user name is counted under: trimmed, Unicode-lowercased, at most 256 bytes.
pub fn normalize_name(user: &str) -> Box<str> {
    let mut name = user.trim().to_lowercase();
    if name.len() > MAX_KEY_BYTES {
        let mut end = MAX_KEY_BYTES;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name.into_boxed_str()
}

/// Where the counters live: `throttle.store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThrottleStore {
    /// In this process's memory: each replica counts on its own.
    #[default]
    Memory,
    /// In the SQL database of `[database]`, shared by every process that uses it.
    Database,
}

/// What the database throttle does while its database cannot be reached:
/// `throttle.on_store_error`. Either way no attempt goes unchecked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreError {
    /// Check and count in this process's memory instead (as `throttle.store = "memory"`
    /// would), until the database answers again.
    #[default]
    Local,
    /// Refuse logins (503 with `Retry-After`) until the database answers again.
    Deny,
}

/// Limits for [`super::Throttle`], mapped from the configuration by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Off switch for deployments that throttle elsewhere (a proxy, a WAF); when false,
    /// [`super::Throttle::begin`] always allows and nothing is stored.
    pub enabled: bool,
    /// How long a failure counts against its pair and its IP; also shared by both counters so
    /// there is one number to reason about. Zero means failures are forgotten at once.
    pub window: Duration,
    /// Failures one account may see from one address within `window` before that pair is
    /// locked; small, because a real user rarely mistypes more than a few times. Zero turns
    /// the per-pair counter off.
    pub max_failures_per_user: u32,
    /// Failures one address may cause within `window`, over all names, before it is locked;
    /// larger than the per-user limit because many users can share an address (NAT, proxies).
    /// Zero turns the per-IP counter off.
    pub max_failures_per_ip: u32,
    /// Most counters each table (pairs, IPs) keeps, so a spray of random names or addresses
    /// cannot grow memory without bound. Values below 1 are treated as 1.
    pub max_entries: usize,
    /// IPv6 clients are counted per network of this prefix length, not per address: one
    /// subscriber usually holds a whole /64 (or more) and can pick a fresh address for every
    /// guess. 128 counts single addresses; values above 128 are treated as 128.
    pub ipv6_prefix: u8,
    /// Where the counters live; the database store needs `[database]`.
    pub store: ThrottleStore,
    /// What the database store does while its database cannot be reached.
    pub on_store_error: OnStoreError,
}

impl Default for ThrottleSettings {
    /// Authelia-like defaults: 5 failures per account and address, 50 per address, in 15 min.
    fn default() -> Self {
        ThrottleSettings {
            enabled: true,
            window: Duration::from_secs(15 * 60),
            max_failures_per_user: 5,
            max_failures_per_ip: 50,
            max_entries: 100_000,
            ipv6_prefix: 64,
            store: ThrottleStore::Memory,
            on_store_error: OnStoreError::Local,
        }
    }
}

/// A login refused before any password work, so the caller can answer 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins; retry after {} s", retry_after.as_secs())]
pub struct Locked {
    /// Whole seconds (rounded up, at least 1) until the oldest counted failure leaves the
    /// window, for the `Retry-After` header; when several counters are locked, the longest.
    /// When the limit is reached only by attempts still in flight, 1 s: they settle within
    /// milliseconds and a retry will see how they ended.
    pub retry_after: Duration,
    /// Only attempts still in flight fill the budget: once they settle (as successes, say:
    /// ten workers of a batch job logging in at once behind one address) there may be room.
    /// [`super::Throttle::begin`] waits a moment for them instead of answering 429.
    pub in_flight: bool,
}

impl Locked {
    /// The lock of two counters (pair and address), either of which may be open (`None`):
    /// the longer wait, in flight only if every lock is.
    pub fn either(a: Option<Locked>, b: Option<Locked>) -> Option<Locked> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Locked {
                retry_after: a.retry_after.max(b.retry_after),
                in_flight: a.in_flight && b.in_flight,
            }),
            (a, b) => a.or(b),
        }
    }
}

/// `left` in whole seconds, rounded up and at least 1: the `Retry-After` of a lock.
pub fn whole_seconds(left: Duration) -> Duration {
    let secs = left
        .as_secs()
        .saturating_add(u64::from(left.subsec_nanos() > 0));
    Duration::from_secs(secs.max(1))
}
