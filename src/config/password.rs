//! `[password]`: the argon2 cost of new hashes and the hashing pool that checks them.

use serde::Deserialize;

use super::checks::{at_most, threads};
use super::error::{invalid, ConfigError};
use crate::login::hash_pool::Scheduling;

/// `[password]`: argon2 cost and the hashing pool.
#[derive(Debug, Clone)]
pub struct PasswordSettings {
    /// argon2 parameters for new hashes and the dummy hash.
    pub params: argon2::Params,
    /// Hashing threads, resolved (never 0).
    pub workers: usize,
    /// Bounded queue length, resolved (never 0).
    pub queue: usize,
    /// How the hashing threads give way to request handling (`password.scheduling`).
    pub scheduling: Scheduling,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPassword {
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    workers: usize,
    queue: usize,
    scheduling: String,
}

/// Longest `password.queue`: its slots are allocated when the pool starts (a queue of 10⁸
/// would take 3 GB before the first login), and a login waits at most `queue ÷ workers`
/// argon2 checks, already seconds at this size.
pub const MAX_QUEUE: usize = 65_536;

impl RawPassword {
    pub(super) fn validate(self) -> Result<PasswordSettings, ConfigError> {
        let p = &self;
        let params = argon2::Params::new(p.m_cost, p.t_cost, p.p_cost, None).map_err(|e| {
            let key = match e {
                argon2::Error::MemoryTooLittle | argon2::Error::MemoryTooMuch => "password.m_cost",
                argon2::Error::TimeTooSmall => "password.t_cost",
                argon2::Error::ThreadsTooFew | argon2::Error::ThreadsTooMany => "password.p_cost",
                _ => "password",
            };
            invalid(
                key,
                format!("{e} (m_cost ≥ 8 × p_cost KiB, t_cost ≥ 1, 1 ≤ p_cost ≤ 16777215)"),
            )
        })?;
        let workers = threads("password.workers", p.workers)?;
        let queue = match at_most(
            "password.queue",
            p.queue,
            MAX_QUEUE,
            "0 = 4 × password.workers",
        )? {
            0 => (4 * workers).min(MAX_QUEUE),
            n => n,
        };
        Ok(PasswordSettings {
            params,
            workers,
            queue,
            scheduling: Scheduling::parse(&p.scheduling).ok_or_else(|| {
                invalid(
                    "password.scheduling",
                    format!("{:?} is not \"idle\" or \"nice\"", p.scheduling),
                )
            })?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_with;

    #[test]
    fn thread_and_queue_counts_are_bounded() {
        let s =
            validate_with("[password]\nworkers = 1024\nqueue = 65536\n[server]\nworkers = 1024")
                .unwrap();
        assert_eq!(
            (s.password.workers, s.password.queue, s.server.workers),
            (1024, 65536, 1024)
        );
        let s = validate_with("[password]\nworkers = 3").unwrap();
        assert_eq!((s.password.workers, s.password.queue), (3, 12));
        for (toml, key) in [
            ("[password]\nworkers = 1025", "password.workers"),
            ("[password]\nqueue = 100000000", "password.queue"),
            ("[server]\nworkers = 5000", "server.workers"),
        ] {
            let err = validate_with(toml).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{key}: ")), "{err}");
            assert!(err.contains("over the limit"), "{err}");
        }
    }

    #[test]
    fn scheduling_is_idle_or_nice() {
        assert_eq!(
            validate_with("").unwrap().password.scheduling,
            Scheduling::Nice
        );
        let s = validate_with("[password]\nscheduling = \"idle\"").unwrap();
        assert_eq!(s.password.scheduling, Scheduling::Idle);
        let err = validate_with("[password]\nscheduling = \"batch\"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("password.scheduling: "), "{err}");
    }
}
