//! `[users]`: which store the accounts are kept in, and the users file.

use std::path::PathBuf;

use serde::Deserialize;

use super::checks::non_empty_path;
use super::error::{invalid, ConfigError};

/// `[users]`: who may log in.
#[derive(Debug, Clone)]
pub struct UserSettings {
    /// `users.store`: where accounts are kept.
    pub store: UserStoreKind,
    /// `users.file`; `None` means the built-in demo users.
    pub file: Option<PathBuf>,
    /// `users.allow_case_variants`: accounts whose names differ only by letter case may
    /// exist side by side (default false: the loaders and `users add`/`import` refuse them).
    pub allow_case_variants: bool,
}

/// `users.store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStoreKind {
    /// The read-only users file (`users.file`), reloaded by SIGHUP.
    File,
    /// The SQL database of `[database]`, read at every login.
    Database,
    /// The LDAP directory of `[ldap]`: searched and bound to at every login.
    Ldap,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUsers {
    store: String,
    file: String,
    allow_case_variants: bool,
}

impl RawUsers {
    pub(super) fn validate(self) -> Result<UserSettings, ConfigError> {
        Ok(UserSettings {
            store: match self.store.as_str() {
                "file" => UserStoreKind::File,
                "database" => UserStoreKind::Database,
                "ldap" => UserStoreKind::Ldap,
                other => {
                    return Err(invalid(
                        "users.store",
                        format!("{other:?} is not one of file, database, ldap"),
                    ))
                }
            },
            file: non_empty_path(&self.file),
            allow_case_variants: self.allow_case_variants,
        })
    }
}
