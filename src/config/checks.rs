//! The value checks several sections share (durations, counts, thread counts, paths), each
//! naming the key it checks in its error.

use std::path::PathBuf;
use std::time::Duration;

use super::error::{invalid, ConfigError};

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub(super) fn duration(
    key: &'static str,
    value: &str,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(value).map_err(|_| {
        invalid(
            key,
            format!("{value:?} is not a duration (e.g. \"30m\", \"2h\", \"90s\")"),
        )
    })?;
    if d < min || d > max {
        return Err(invalid(
            key,
            format!(
                "{value:?} is out of range: between {} and {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(d)
}

pub(super) fn positive<T: PartialOrd + Default + Copy>(
    key: &'static str,
    v: T,
) -> Result<T, ConfigError> {
    if v > T::default() {
        Ok(v)
    } else {
        Err(invalid(key, "must be at least 1"))
    }
}

/// Most threads `server.workers` and `password.workers` may ask for: far beyond any useful
/// count (one per core), low enough that a typo cannot spawn a thread per user.
pub const MAX_THREADS: usize = 1024;

/// `v`, or the configuration error naming `key` when it is over `max`; `zero` says what 0
/// means for the key.
pub(super) fn at_most(
    key: &'static str,
    v: usize,
    max: usize,
    zero: &str,
) -> Result<usize, ConfigError> {
    if v <= max {
        Ok(v)
    } else {
        Err(invalid(
            key,
            format!("{v} is over the limit of {max} ({zero})"),
        ))
    }
}

/// A thread count: at most [`MAX_THREADS`], 0 meaning one per CPU core.
pub(super) fn threads(key: &'static str, v: usize) -> Result<usize, ConfigError> {
    Ok(
        match at_most(key, v, MAX_THREADS, "0 = one per CPU core")? {
            0 => cores(),
            n => n,
        },
    )
}

pub(super) fn non_empty_path(s: &str) -> Option<PathBuf> {
    let s = s.trim();
    (!s.is_empty()).then(|| PathBuf::from(s))
}
