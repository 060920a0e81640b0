//! Settings: embedded defaults → optional file → `WATCHWORD__SECTION__KEY` environment.
//!
//! Every value is checked here, before anything binds a port, and each error names the key
//! and what it accepts, so an operator can fix a deployment from the message alone.
//!
//! One file per section (`server.rs`, `token.rs`, `keys.rs`, `users.rs`, `database.rs`, `ldap.rs`,
//! `password.rs`, `throttle.rs`, `totp.rs`, `login.rs`, `metrics.rs`, `log.rs`, `sessions.rs`), each with its raw form
//! (what the sources hold) and its checks; this one layers the sources and assembles
//! [`Settings`]. A section that a room runs with (the token, the database, the throttle, the
//! hashing pool) takes its settings type from that room, so imports run one way: from here
//! into the rooms, never back.

mod checks;
mod database;
mod error;
mod keys;
mod ldap;
mod log;
mod login;
mod metrics;
mod password;
mod server;
mod sessions;
mod throttle;
mod token;
mod totp;
mod users;

use std::net::SocketAddr;
use std::path::Path;

use config::{Environment, File, FileFormat};
use serde::Deserialize;

pub use self::log::LogFormat;
pub use checks::MAX_THREADS;
pub use database::MAX_POOL_SIZE;
pub use error::ConfigError;
pub use keys::KeySettings;
pub use ldap::MAX_LDAP_CONNECTIONS;
pub use login::LoginSettings;
pub use password::{PasswordSettings, MAX_QUEUE};
pub use server::{ForwardedHeader, ServerSettings};
pub use totp::TotpSettings;
pub use users::{UserSettings, UserStoreKind};

// The rooms' own settings types, at the paths they had when they were defined here.
pub use crate::database::{DatabaseKind, DatabaseSettings, DatabaseUrl};
pub use crate::session::settings::SessionSettings;
pub use crate::token::algorithm::SigningAlgorithm;
pub use crate::token::settings::{TokenProfile, TokenSettings};

use crate::login::throttle::rules::ThrottleStore;
use error::invalid;

/// The shipped `config/default.toml`, compiled in so the binary starts with no files at all.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The validated settings the service runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[token]`
    pub token: TokenSettings,
    /// `[keys]`
    pub keys: KeySettings,
    /// `[users]`
    pub users: UserSettings,
    /// `[database]`: the SQL database shared by the stores that use one.
    pub database: DatabaseSettings,
    /// `[ldap]`: the directory, checked and set only with `users.store = "ldap"`.
    pub ldap: Option<crate::login::users::ldap::LdapSettings>,
    /// `[password]`
    pub password: PasswordSettings,
    /// `[throttle]`
    pub throttle: crate::login::throttle::rules::ThrottleSettings,
    /// `log.format`
    pub log_format: LogFormat,
    /// `[login]`
    pub login: LoginSettings,
    /// `[totp]` (the key is `keys.totp_key_file`).
    pub totp: TotpSettings,
    /// `[sessions]`: refresh tokens and logout.
    pub sessions: SessionSettings,
    /// `[permissions]`: role → permissions.
    pub permissions: std::collections::BTreeMap<String, Vec<String>>,
    /// `metrics.bind`: the listener `/metrics` is served on, alone; `None`: not served. Never
    /// on `server.bind`, so that the public port does not show login and shedding counts.
    pub metrics_bind: Option<SocketAddr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    server: server::RawServer,
    token: token::RawToken,
    keys: keys::RawKeys,
    users: users::RawUsers,
    database: database::RawDatabase,
    ldap: ldap::RawLdap,
    password: password::RawPassword,
    throttle: throttle::RawThrottle,
    log: self::log::RawLog,
    login: login::RawLogin,
    metrics: metrics::RawMetrics,
    totp: totp::RawTotp,
    sessions: sessions::RawSessions,
    #[serde(default)]
    permissions: std::collections::BTreeMap<String, Vec<String>>,
}

impl Settings {
    /// Load defaults, then `file` (when given), then the environment, and validate.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut builder =
            config::Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(invalid(
                    "--config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        let env = Environment::with_prefix("WATCHWORD")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("token.audience")
            .with_list_parse_key("server.trusted_proxies")
            .with_list_parse_key("keys.verify_only_files")
            .with_list_parse_key("totp.required_roles")
            .with_list_parse_key("keys.totp_old_key_files")
            .with_list_parse_key("sessions.refresh_verify_only_files")
            .try_parsing(true);
        let raw: Raw = builder.add_source(env).build()?.try_deserialize()?;
        raw.validate()
    }
}

impl Raw {
    /// Each section checked in turn (the first error found is the one reported), then the
    /// checks that span sections.
    fn validate(self) -> Result<Settings, ConfigError> {
        let server = self.server.validate()?;
        let users = self.users.validate()?;
        let settings = Settings {
            token: self.token.validate()?,
            keys: self.keys.validate(),
            ldap: match users.store {
                UserStoreKind::Ldap => Some(self.ldap.validate()?),
                _ => None,
            },
            users,
            database: self.database.validate()?,
            password: self.password.validate()?,
            throttle: self.throttle.validate()?,
            login: self.login.validate()?,
            totp: self.totp.validate()?,
            metrics_bind: self.metrics.validate(server.bind)?,
            log_format: self.log.validate()?,
            sessions: self.sessions.validate()?,
            permissions: self.permissions,
            server,
        };
        if settings.throttle.store == ThrottleStore::Database && settings.database.url.is_none() {
            return Err(invalid(
                "database.url",
                "throttle.store = \"database\" needs database.url (sqlite://PATH or \
                 postgres://USER@HOST/DB) or database.url_file (a file holding it)",
            ));
        }
        if settings.users.store == UserStoreKind::Database && settings.database.url.is_none() {
            return Err(invalid(
                "database.url",
                "users.store = \"database\" needs database.url (sqlite://PATH or \
                 postgres://USER@HOST/DB) or database.url_file (a file holding it)",
            ));
        }
        check_totp(&settings)?;
        if settings.sessions.enabled && settings.database.url.is_none() {
            return Err(invalid(
                "sessions.enabled",
                "true needs [database] (sessions are kept in its \"sessions\" table): set \
                 database.url (sqlite://PATH or postgres://USER@HOST/DB) or database.url_file, \
                 or set sessions.enabled = false",
            ));
        }
        Ok(settings)
    }
}

/// TOTP is kept in the database store's tables and needs its key: with the users file, or
/// with options but no key, the start stops naming the key.
fn check_totp(settings: &Settings) -> Result<(), ConfigError> {
    let key = settings.keys.totp_key_file.is_some();
    let options: Option<&'static str> = if !settings.keys.totp_old_key_files.is_empty() {
        Some("keys.totp_old_key_files")
    } else if settings.totp.password_suffix {
        Some("totp.password_suffix")
    } else if !settings.totp.required_roles.is_empty() {
        Some("totp.required_roles")
    } else {
        None
    };
    if settings.users.store != UserStoreKind::Database {
        if let Some(name) = key.then_some("keys.totp_key_file").or(options) {
            return Err(invalid(
                name,
                "TOTP needs users.store = \"database\" (neither the users file nor an LDAP \
                 directory has a place for watchword's secrets and used codes); set \
                 users.store = \"database\" or remove the TOTP settings",
            ));
        }
    }
    if let (Some(name), false) = (options, key) {
        return Err(invalid(
            name,
            "needs keys.totp_key_file (make one with `watchword keygen --kind totp --out FILE`)",
        ));
    }
    Ok(())
}

/// The defaults with `toml` laid over them, validated: for the sections' tests.
#[cfg(test)]
fn validate_with(toml: &str) -> Result<Settings, ConfigError> {
    let raw: Raw = config::Config::builder()
        .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
        .add_source(File::from_str(toml, FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap();
    raw.validate()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn defaults_are_valid() {
        let raw: Raw = config::Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        let s = raw.validate().unwrap();
        assert_eq!(s.token.algorithm, SigningAlgorithm::EdDSA);
        assert_eq!(s.token.ttl, Duration::from_secs(1800));
        assert_eq!(s.password.params.m_cost(), 19456);
        assert_eq!(s.server.bind.to_string(), "127.0.0.1:8080");
        assert!(s.keys.totp_key_file.is_none());
    }

    #[test]
    fn totp_needs_the_database_store_and_its_key() {
        let err = validate_with("[keys]\ntotp_key_file = \"/k\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("keys.totp_key_file: TOTP needs users.store"),
            "{err}"
        );
        let err = validate_with("[totp]\nrequired_roles = [\"admin\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("totp.required_roles: TOTP needs users.store"),
            "{err}"
        );
        let db = "[users]\nstore = \"database\"\n[database]\nurl = \"sqlite:///tmp/x.db\"\n";
        let err = validate_with(&format!("{db}[totp]\npassword_suffix = true\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("totp.password_suffix: needs keys.totp_key_file"),
            "{err}"
        );
        let ok = validate_with(&format!("{db}[keys]\ntotp_key_file = \"/k\"\n")).unwrap();
        assert_eq!(ok.totp.issuer, "watchword");
        let err = validate_with("[totp]\nissuer = \"a:b\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("totp.issuer:"), "{err}");
    }
}
