//! `[totp]`: the second factor's options (the key is `keys.totp_key_file`).

use serde::Deserialize;

use super::error::{invalid, ConfigError};
pub use crate::login::totp::TotpSettings;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTotp {
    password_suffix: bool,
    required_roles: Vec<String>,
    issuer: String,
}

impl RawTotp {
    pub(super) fn validate(self) -> Result<TotpSettings, ConfigError> {
        let issuer = self.issuer.trim().to_owned();
        // The issuer is shown before the account name, separated by a colon (Key Uri Format).
        if issuer.is_empty() || issuer.contains(':') || issuer.chars().any(char::is_control) {
            return Err(invalid(
                "totp.issuer",
                format!(
                    "{:?}: give a non-empty name without a colon, e.g. \"Example Corp\"",
                    self.issuer
                ),
            ));
        }
        Ok(TotpSettings {
            password_suffix: self.password_suffix,
            required_roles: self.required_roles,
            issuer,
        })
    }
}
