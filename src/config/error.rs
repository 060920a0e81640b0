//! Why the configuration could not be used, and the one way a check names the key at fault.

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One key has a value that cannot work.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted key name, e.g. `token.algorithm`.
        key: &'static str,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// The sources could not be read or did not have the expected shape.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
}

pub(super) fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}
