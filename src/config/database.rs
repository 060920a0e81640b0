//! `[database]`: its raw form and checks (the URL, inline or from a file, never shown); the
//! settings type is the database room's own ([`DatabaseSettings`]).

use std::time::Duration;

use serde::Deserialize;

use super::checks::{duration, positive};
use super::error::{invalid, ConfigError};
use crate::database::{DatabaseKind, DatabaseSettings, DatabaseUrl};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    url: String,
    url_file: String,
    pool_size: u32,
    connect_timeout: String,
    migrate: bool,
}

/// Most connections `database.pool_size` may ask for (PostgreSQL's default max_connections
/// is 100 for every replica together).
pub const MAX_POOL_SIZE: u32 = 1000;

impl RawDatabase {
    pub(super) fn validate(self) -> Result<DatabaseSettings, ConfigError> {
        use secrecy::ExposeSecret;
        let inline = self.url.trim();
        let file = self.url_file.trim();
        let (key, url): (&'static str, secrecy::SecretString) = match (inline, file) {
            ("", "") => ("database.url", String::new().into()),
            (_, "") => ("database.url", inline.to_owned().into()),
            ("", path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    invalid(
                        "database.url_file",
                        format!("cannot read {path}: {e} (it must hold the database URL)"),
                    )
                })?;
                let text = secrecy::SecretString::from(text);
                let url = text.expose_secret().trim();
                if url.is_empty() {
                    return Err(invalid(
                        "database.url_file",
                        format!("{path} is empty; it must hold the database URL"),
                    ));
                }
                ("database.url_file", url.to_owned().into())
            }
            _ => {
                return Err(invalid(
                    "database.url",
                    "database.url and database.url_file are both set; set exactly one \
                     (url_file for a URL with a password, e.g. a mounted Secret)",
                ))
            }
        };
        let url = match url.expose_secret() {
            "" => None,
            text => {
                // The scheme alone is named in errors: the rest may hold a password.
                let scheme = text.split_once(':').map_or("", |(s, _)| s);
                let kind = match scheme {
                    "sqlite" => DatabaseKind::Sqlite,
                    "postgres" | "postgresql" => DatabaseKind::Postgres,
                    other => {
                        return Err(invalid(
                            key,
                            format!(
                                "the scheme {other:?} is not supported; use sqlite://PATH \
                                 or postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                            ),
                        ))
                    }
                };
                Some(DatabaseUrl {
                    secret: url,
                    key,
                    kind,
                })
            }
        };
        let pool_size = positive("database.pool_size", self.pool_size)?;
        if pool_size > MAX_POOL_SIZE {
            return Err(invalid(
                "database.pool_size",
                format!("{pool_size} is over the limit of {MAX_POOL_SIZE}"),
            ));
        }
        Ok(DatabaseSettings {
            url,
            pool_size,
            connect_timeout: duration(
                "database.connect_timeout",
                &self.connect_timeout,
                Duration::from_millis(100),
                Duration::from_secs(60),
            )?,
            migrate: self.migrate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_with;

    #[test]
    fn database_url_is_checked_and_never_shown() {
        let s = validate_with("[database]\nurl = \"sqlite://x.db\"").unwrap();
        assert_eq!(s.database.url.unwrap().kind, DatabaseKind::Sqlite);
        let s = validate_with("[database]\nurl = \"postgresql://u:pw@h/db\"").unwrap();
        assert!(!format!("{s:?}").contains("pw@"), "Debug shows the URL");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("url");
        std::fs::write(&path, "postgres://u:hunter2@h/db\n").unwrap();
        let toml = format!("[users]\nstore = \"database\"\n[database]\nurl_file = {path:?}");
        let s = validate_with(&toml).unwrap();
        assert_eq!(s.database.url.unwrap().key, "database.url_file");
        for (toml, key, needle) in [
            (
                "[users]\nstore = \"database\"",
                "database.url",
                "database.url_file",
            ),
            ("[users]\nstore = \"sql\"", "users.store", "file, database"),
            (
                "[database]\nurl = \"mysql://u:hunter2@h/db\"",
                "database.url",
                "\"mysql\"",
            ),
            (
                "[database]\nurl = \"sqlite://a\"\nurl_file = \"/b\"",
                "database.url",
                "exactly one",
            ),
            (
                "[database]\nurl_file = \"/nonexistent/u\"",
                "database.url_file",
                "cannot read",
            ),
            (
                "[database]\npool_size = 0",
                "database.pool_size",
                "at least 1",
            ),
            (
                "[database]\nconnect_timeout = \"1h\"",
                "database.connect_timeout",
                "range",
            ),
        ] {
            let err = validate_with(toml).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{key}: ")), "{err}");
            assert!(err.contains(needle), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
