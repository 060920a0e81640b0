//! `[throttle]`: its raw form and checks; the settings type is the throttle's own
//! ([`ThrottleSettings`]).

use std::time::Duration;

use serde::Deserialize;

use super::checks::{duration, positive};
use super::error::{invalid, ConfigError};
use crate::login::throttle::rules::{OnStoreError, ThrottleSettings, ThrottleStore};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThrottle {
    enabled: bool,
    store: String,
    on_store_error: String,
    window: String,
    max_failures_per_user: u32,
    max_failures_per_ip: u32,
    max_entries: usize,
    ipv6_prefix: u8,
}

impl RawThrottle {
    pub(super) fn validate(self) -> Result<ThrottleSettings, ConfigError> {
        let t = &self;
        let secs = Duration::from_secs;
        Ok(ThrottleSettings {
            enabled: t.enabled,
            store: match t.store.as_str() {
                "memory" => ThrottleStore::Memory,
                "database" => ThrottleStore::Database,
                other => {
                    return Err(invalid(
                        "throttle.store",
                        format!("{other:?} is not one of memory, database"),
                    ))
                }
            },
            on_store_error: match t.on_store_error.as_str() {
                "local" => OnStoreError::Local,
                "deny" => OnStoreError::Deny,
                other => {
                    return Err(invalid(
                        "throttle.on_store_error",
                        format!("{other:?} is not one of local, deny"),
                    ))
                }
            },
            window: duration("throttle.window", &t.window, secs(1), secs(24 * 3600))?,
            max_failures_per_user: positive(
                "throttle.max_failures_per_user",
                t.max_failures_per_user,
            )?,
            max_failures_per_ip: positive("throttle.max_failures_per_ip", t.max_failures_per_ip)?,
            max_entries: positive("throttle.max_entries", t.max_entries)?,
            ipv6_prefix: match t.ipv6_prefix {
                p @ 32..=128 => p,
                p => {
                    return Err(invalid(
                        "throttle.ipv6_prefix",
                        format!("{p} is not a prefix length from 32 to 128 (64: one subscriber's network, 128: single addresses)"),
                    ))
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_with;

    #[test]
    fn ipv6_prefix_is_a_network_length() {
        assert_eq!(validate_with("").unwrap().throttle.ipv6_prefix, 64);
        for bad in ["0", "31", "129"] {
            let err = validate_with(&format!("[throttle]\nipv6_prefix = {bad}"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("throttle.ipv6_prefix: "), "{err}");
        }
    }

    #[test]
    fn throttle_store_and_its_error_policy() {
        let s = validate_with("").unwrap();
        assert_eq!(s.throttle.store, ThrottleStore::Memory);
        assert_eq!(s.throttle.on_store_error, OnStoreError::Local);
        let s = validate_with(
            "[throttle]\nstore = \"database\"\non_store_error = \"deny\"\n\
             [database]\nurl = \"sqlite://x.db\"",
        )
        .unwrap();
        assert_eq!(s.throttle.store, ThrottleStore::Database);
        assert_eq!(s.throttle.on_store_error, OnStoreError::Deny);
        for (toml, key, needle) in [
            (
                "[throttle]\nstore = \"redis\"",
                "throttle.store",
                "memory, database",
            ),
            (
                "[throttle]\non_store_error = \"open\"",
                "throttle.on_store_error",
                "local, deny",
            ),
            (
                "[throttle]\nstore = \"database\"",
                "database.url",
                "throttle.store",
            ),
        ] {
            let err = validate_with(toml).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{key}: ")), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }
}
