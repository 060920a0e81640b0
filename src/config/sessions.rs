//! `[sessions]`: its raw form and checks; the settings type is the session room's own
//! ([`SessionSettings`]). Whether the key files hold usable secrets is checked when they are
//! loaded (`session::refresh_token`), like `[keys]`.

use std::time::Duration;

use serde::Deserialize;

use super::checks::{duration, non_empty_path};
use super::error::{invalid, ConfigError};
use crate::session::settings::SessionSettings;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSessions {
    enabled: bool,
    idle_timeout: String,
    max_lifetime: String,
    reuse_interval: String,
    refresh_key_file: String,
    refresh_verify_only_files: Vec<String>,
    revocation_poll: String,
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

impl RawSessions {
    /// The values alone; that `enabled` has a database is checked with `[database]` in
    /// `config::mod`.
    pub(super) fn validate(self) -> Result<SessionSettings, ConfigError> {
        let idle_timeout = duration(
            "sessions.idle_timeout",
            &self.idle_timeout,
            MINUTE,
            365 * DAY,
        )?;
        let max_lifetime = duration(
            "sessions.max_lifetime",
            &self.max_lifetime,
            MINUTE,
            3 * 365 * DAY,
        )?;
        if idle_timeout > max_lifetime {
            return Err(invalid(
                "sessions.idle_timeout",
                format!(
                    "{:?} is longer than sessions.max_lifetime ({:?}); make it shorter",
                    self.idle_timeout, self.max_lifetime
                ),
            ));
        }
        // 0 is allowed: no grace at all, every replayed token revokes its session.
        let reuse_interval = duration(
            "sessions.reuse_interval",
            &self.reuse_interval,
            Duration::ZERO,
            5 * MINUTE,
        )?;
        let revocation_poll = duration(
            "sessions.revocation_poll",
            &self.revocation_poll,
            Duration::from_millis(100),
            10 * MINUTE,
        )?;
        let refresh_key_file = non_empty_path(&self.refresh_key_file);
        if self.enabled && refresh_key_file.is_none() {
            return Err(invalid(
                "sessions.refresh_key_file",
                "must be set when sessions.enabled = true: the secret refresh tokens are \
                 signed with, kept outside the database (make one with \
                 `watchword keygen --alg HS256 --out FILE`)",
            ));
        }
        Ok(SessionSettings {
            enabled: self.enabled,
            idle_timeout,
            max_lifetime,
            reuse_interval,
            refresh_key_file,
            refresh_verify_only_files: self
                .refresh_verify_only_files
                .iter()
                .filter_map(|f| non_empty_path(f))
                .collect(),
            revocation_poll,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_with;

    #[test]
    fn sessions_are_off_by_default_and_checked_when_on() {
        let s = validate_with("").unwrap();
        assert!(!s.sessions.enabled);
        assert_eq!(s.sessions.idle_timeout, 14 * DAY);
        assert_eq!(s.sessions.max_lifetime, 90 * DAY);
        assert_eq!(s.sessions.reuse_interval, Duration::from_secs(10));
        assert_eq!(s.sessions.revocation_poll, Duration::from_secs(5));
        let on = "[sessions]\nenabled = true\nrefresh_key_file = \"/k\"\n";
        let s = validate_with(&format!("{on}[database]\nurl = \"sqlite://x.db\"")).unwrap();
        assert!(s.sessions.enabled);
        let s = validate_with("[sessions]\nidle_timeout = \"336h\"").unwrap();
        assert_eq!(s.sessions.idle_timeout, 14 * DAY);
        for (toml, key, needle) in [
            (on.to_owned(), "sessions.enabled", "[database]"),
            (
                "[sessions]\nenabled = true\n[database]\nurl = \"sqlite://x.db\"".to_owned(),
                "sessions.refresh_key_file",
                "keygen --alg HS256",
            ),
            (
                "[sessions]\nidle_timeout = \"100d\"".to_owned(),
                "sessions.idle_timeout",
                "max_lifetime",
            ),
            (
                "[sessions]\nreuse_interval = \"1h\"".to_owned(),
                "sessions.reuse_interval",
                "range",
            ),
            (
                "[sessions]\nrevocation_poll = \"soon\"".to_owned(),
                "sessions.revocation_poll",
                "not a duration",
            ),
        ] {
            let err = validate_with(&toml).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{key}: ")), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }
}
