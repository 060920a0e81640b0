//! `[log]`: how log lines are written.

use serde::Deserialize;

use super::error::{invalid, ConfigError};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    format: String,
}

impl RawLog {
    pub(super) fn validate(self) -> Result<LogFormat, ConfigError> {
        match self.format.as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(invalid(
                "log.format",
                format!("{other:?} is not one of text, json"),
            )),
        }
    }
}
