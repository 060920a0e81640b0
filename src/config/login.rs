//! `[login]`: the other login styles of the seeds, and how much of a login body is read.

use std::time::Duration;

use serde::Deserialize;

use super::checks::{duration, positive};
use super::error::ConfigError;

/// `[login]`: the other login styles of the seeds.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// `login.require_organisation`
    pub require_organisation: bool,
    /// `login.max_body_bytes`
    pub max_body_bytes: usize,
    /// `login.body_timeout`: the whole body must arrive within this, or 408.
    pub body_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogin {
    require_organisation: bool,
    max_body_bytes: usize,
    body_timeout: String,
}

impl RawLogin {
    pub(super) fn validate(self) -> Result<LoginSettings, ConfigError> {
        Ok(LoginSettings {
            require_organisation: self.require_organisation,
            max_body_bytes: positive("login.max_body_bytes", self.max_body_bytes)?,
            body_timeout: duration(
                "login.body_timeout",
                &self.body_timeout,
                Duration::from_millis(100),
                Duration::from_secs(300),
            )?,
        })
    }
}
