//! Settings: embedded defaults → optional file → `WATCHWORD__SECTION__KEY` environment.
//!
//! Every value is checked here, before anything binds a port, and each error names the key
//! and what it accepts, so an operator can fix a deployment from the message alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Environment, File, FileFormat};
use serde::Deserialize;

// The rooms' own settings types, at the paths they had when they were defined here.
pub use crate::database::{DatabaseKind, DatabaseSettings, DatabaseUrl};
pub use crate::token::algorithm::SigningAlgorithm;
pub use crate::token::settings::{TokenProfile, TokenSettings};

/// The shipped `config/default.toml`, compiled in so the binary starts with no files at all.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

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

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// `server.forwarded_header`: the one header the trusted proxies write with the client's
/// address. Only that one is read: a header the proxy does not write is the client's own
/// claim, passed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, most load balancers).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1; …`.
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

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
    /// `[password]`
    pub password: PasswordSettings,
    /// `[throttle]`
    pub throttle: crate::login::throttle::rules::ThrottleSettings,
    /// `log.format`
    pub log_format: LogFormat,
    /// `[login]`
    pub login: LoginSettings,
    /// `[permissions]`: role → permissions.
    pub permissions: std::collections::BTreeMap<String, Vec<String>>,
    /// `metrics.bind`: the listener `/metrics` is served on, alone; `None`: not served. Never
    /// on `server.bind`, so that the public port does not show login and shedding counts.
    pub metrics_bind: Option<SocketAddr>,
}

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

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[server]`: where to listen.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `server.bind`
    pub bind: SocketAddr,
    /// `server.workers`, resolved (never 0).
    pub workers: usize,
    /// `server.trusted_proxies`
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `server.forwarded_header`
    pub forwarded_header: ForwardedHeader,
    /// `server.max_connections`, per worker.
    pub max_connections: usize,
    /// `server.request_head_timeout`
    pub request_head_timeout: Duration,
    /// `server.keep_alive`
    pub keep_alive: Duration,
    /// `server.shutdown_timeout`
    pub shutdown_timeout: Duration,
}

/// `[keys]`: where the signing key comes from.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// `keys.signing_key_file`; `None` means an ephemeral key.
    pub signing_key_file: Option<PathBuf>,
    /// `keys.verify_only_files`: published and accepted, never used to sign (rotation).
    pub verify_only_files: Vec<PathBuf>,
    /// `keys.allow_world_readable`: start (with a warning) even when a key file grants other
    /// users any access; refused otherwise.
    pub allow_world_readable: bool,
}

/// `[users]`: who may log in.
#[derive(Debug, Clone)]
pub struct UserSettings {
    /// `users.store`: where accounts are kept.
    pub store: UserStoreKind,
    /// `users.file`; `None` means the built-in demo users.
    pub file: Option<PathBuf>,
}

/// `users.store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStoreKind {
    /// The read-only users file (`users.file`), reloaded by SIGHUP.
    File,
    /// The SQL database of `[database]`, read at every login.
    Database,
}

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
    pub scheduling: crate::login::hash_pool::Scheduling,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    server: RawServer,
    token: RawToken,
    keys: RawKeys,
    users: RawUsers,
    database: RawDatabase,
    password: RawPassword,
    throttle: RawThrottle,
    log: RawLog,
    login: RawLogin,
    metrics: RawMetrics,
    #[serde(default)]
    permissions: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogin {
    require_organisation: bool,
    max_body_bytes: usize,
    body_timeout: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    bind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThrottle {
    enabled: bool,
    store: String,
    on_store_error: String,
    window: String,
    max_failures_per_user: u32,
    max_failures_per_ip: u32,
    max_entries: usize,
    ipv6_prefix: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    bind: String,
    workers: usize,
    trusted_proxies: Vec<String>,
    forwarded_header: String,
    max_connections: usize,
    request_head_timeout: String,
    keep_alive: String,
    shutdown_timeout: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    issuer: String,
    audience: Vec<String>,
    algorithm: String,
    ttl: String,
    service_ttl: String,
    profile: String,
    client_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    signing_key_file: String,
    verify_only_files: Vec<String>,
    allow_world_readable: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsers {
    store: String,
    file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPassword {
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    workers: usize,
    queue: usize,
    scheduling: String,
}

/// Longest token lifetime accepted: a day. Longer-lived bearer tokens should be a deliberate
/// design (refresh tokens), not a config typo.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

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
            .try_parsing(true);
        let raw: Raw = builder.add_source(env).build()?.try_deserialize()?;
        raw.validate()
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn duration(
    key: &'static str,
    value: &str,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(value).map_err(|_| {
        invalid(
            key,
            format!("{value:?} is not a duration (e.g. \"30m\", \"2h\", \"90s\")"),
        )
    })?;
    if d < min || d > max {
        return Err(invalid(
            key,
            format!(
                "{value:?} is out of range: between {} and {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(d)
}

fn positive<T: PartialOrd + Default + Copy>(key: &'static str, v: T) -> Result<T, ConfigError> {
    if v > T::default() {
        Ok(v)
    } else {
        Err(invalid(key, "must be at least 1"))
    }
}

/// Most threads `server.workers` and `password.workers` may ask for: far beyond any useful
/// count (one per core), low enough that a typo cannot spawn a thread per user.
pub const MAX_THREADS: usize = 1024;
/// Longest `password.queue`: its slots are allocated when the pool starts (a queue of 10⁸
/// would take 3 GB before the first login), and a login waits at most `queue ÷ workers`
/// argon2 checks, already seconds at this size.
pub const MAX_QUEUE: usize = 65_536;

/// `v`, or the configuration error naming `key` when it is over `max`; `zero` says what 0
/// means for the key.
fn at_most(key: &'static str, v: usize, max: usize, zero: &str) -> Result<usize, ConfigError> {
    if v <= max {
        Ok(v)
    } else {
        Err(invalid(
            key,
            format!("{v} is over the limit of {max} ({zero})"),
        ))
    }
}

/// A thread count: at most [`MAX_THREADS`], 0 meaning one per CPU core.
fn threads(key: &'static str, v: usize) -> Result<usize, ConfigError> {
    Ok(
        match at_most(key, v, MAX_THREADS, "0 = one per CPU core")? {
            0 => cores(),
            n => n,
        },
    )
}

fn non_empty_path(s: &str) -> Option<PathBuf> {
    let s = s.trim();
    (!s.is_empty()).then(|| PathBuf::from(s))
}

impl Raw {
    fn validate(self) -> Result<Settings, ConfigError> {
        let metrics_bind = match self.metrics.bind.trim() {
            "" => None,
            addr => Some(addr.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "metrics.bind",
                    format!(
                        "{addr:?} is not an IP address with a port (e.g. 127.0.0.1:9090), \
                         or \"\" to serve no /metrics"
                    ),
                )
            })?),
        };
        let bind = self.server.bind.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "server.bind",
                format!(
                    "{:?} is not an IP address with a port (e.g. 127.0.0.1:8080)",
                    self.server.bind
                ),
            )
        })?;
        if metrics_bind == Some(bind) && bind.port() != 0 {
            return Err(invalid(
                "metrics.bind",
                format!(
                    "{bind} is server.bind too: /metrics gets a port of its own, never the \
                     public one (e.g. 127.0.0.1:9090), or \"\" for none"
                ),
            ));
        }
        let algorithm = self
            .token
            .algorithm
            .parse::<SigningAlgorithm>()
            .map_err(|m| invalid("token.algorithm", m))?;
        let secs = Duration::from_secs;
        let ttl = duration("token.ttl", &self.token.ttl, secs(1), MAX_TTL)?;
        let trusted_proxies = self
            .server
            .trusted_proxies
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "server.trusted_proxies",
                            format!("{s:?} is not an address or CIDR range (e.g. 10.0.0.0/8)"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let t = &self.throttle;
        use crate::login::throttle::rules::{OnStoreError, ThrottleStore};
        let throttle = crate::login::throttle::rules::ThrottleSettings {
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
        };
        let profile = self
            .token
            .profile
            .trim()
            .parse::<TokenProfile>()
            .map_err(|m| invalid("token.profile", m))?;
        let audience: Vec<String> = self
            .token
            .audience
            .into_iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if profile == TokenProfile::Rfc9068 && audience.is_empty() {
            return Err(invalid(
                "token.audience",
                "must name at least one audience when token.profile = \"rfc9068\" \
                 (RFC 9068 access tokens always carry aud), e.g. audience = [\"my-api\"]",
            ));
        }
        let client_id = self.token.client_id.trim().to_owned();
        if client_id.is_empty() || client_id.chars().any(char::is_control) {
            return Err(invalid(
                "token.client_id",
                format!(
                    "{:?} is not a client id: give a non-empty name without control characters (default \"watchword\")",
                    self.token.client_id
                ),
            ));
        }
        if self.token.issuer.trim().is_empty() {
            return Err(invalid(
                "token.issuer",
                "must not be empty (use the service's public URL)",
            ));
        }
        let p = &self.password;
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
        let settings = Settings {
            server: ServerSettings {
                bind,
                workers: threads("server.workers", self.server.workers)?,
                trusted_proxies,
                forwarded_header: match self
                    .server
                    .forwarded_header
                    .trim()
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "x-forwarded-for" => ForwardedHeader::XForwardedFor,
                    "forwarded" => ForwardedHeader::Forwarded,
                    other => {
                        return Err(invalid(
                            "server.forwarded_header",
                            format!(
                                "{other:?} is not one of \"x-forwarded-for\", \"forwarded\" \
                                 (the header your proxies write with the client address)"
                            ),
                        ))
                    }
                },
                max_connections: positive("server.max_connections", self.server.max_connections)?,
                request_head_timeout: duration(
                    "server.request_head_timeout",
                    &self.server.request_head_timeout,
                    Duration::from_millis(100),
                    secs(300),
                )?,
                keep_alive: duration(
                    "server.keep_alive",
                    &self.server.keep_alive,
                    Duration::ZERO,
                    secs(3600),
                )?,
                shutdown_timeout: duration(
                    "server.shutdown_timeout",
                    &self.server.shutdown_timeout,
                    Duration::ZERO,
                    secs(3600),
                )?,
            },
            token: TokenSettings {
                issuer: self.token.issuer.trim().to_owned(),
                audience,
                algorithm,
                ttl,
                service_ttl: duration(
                    "token.service_ttl",
                    &self.token.service_ttl,
                    secs(1),
                    MAX_TTL,
                )?,
                profile,
                client_id,
            },
            keys: KeySettings {
                signing_key_file: non_empty_path(&self.keys.signing_key_file),
                verify_only_files: self
                    .keys
                    .verify_only_files
                    .iter()
                    .filter_map(|f| non_empty_path(f))
                    .collect(),
                allow_world_readable: self.keys.allow_world_readable,
            },
            users: UserSettings {
                store: match self.users.store.as_str() {
                    "file" => UserStoreKind::File,
                    "database" => UserStoreKind::Database,
                    other => {
                        return Err(invalid(
                            "users.store",
                            format!("{other:?} is not one of file, database"),
                        ))
                    }
                },
                file: non_empty_path(&self.users.file),
            },
            database: self.database.validate()?,
            password: PasswordSettings {
                params,
                workers,
                queue,
                scheduling: crate::login::hash_pool::Scheduling::parse(&p.scheduling).ok_or_else(
                    || {
                        invalid(
                            "password.scheduling",
                            format!("{:?} is not \"idle\" or \"nice\"", p.scheduling),
                        )
                    },
                )?,
            },
            throttle,
            login: LoginSettings {
                require_organisation: self.login.require_organisation,
                max_body_bytes: positive("login.max_body_bytes", self.login.max_body_bytes)?,
                body_timeout: duration(
                    "login.body_timeout",
                    &self.login.body_timeout,
                    Duration::from_millis(100),
                    secs(300),
                )?,
            },
            permissions: self.permissions,
            metrics_bind,
            log_format: match self.log.format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(invalid(
                        "log.format",
                        format!("{other:?} is not one of text, json"),
                    ))
                }
            },
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
        Ok(settings)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
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
    fn validate(self) -> Result<DatabaseSettings, ConfigError> {
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
    }

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
        use crate::login::hash_pool::Scheduling;
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
        use crate::login::throttle::rules::{OnStoreError, ThrottleStore};
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

    #[test]
    fn token_profile_rfc9068_needs_an_audience() {
        assert_eq!(validate_with("").unwrap().token.profile, TokenProfile::Jwt);
        assert_eq!(validate_with("").unwrap().token.client_id, "watchword");
        let err = validate_with("[token]\nprofile = \"rfc9068\"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("token.audience: "), "{err}");
        assert!(err.contains("rfc9068"), "{err}");
        let s = validate_with("[token]\nprofile = \"rfc9068\"\naudience = [\"api\"]").unwrap();
        assert_eq!(s.token.profile, TokenProfile::Rfc9068);
        let err = validate_with("[token]\nprofile = \"RFC9068\"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("token.profile: "), "{err}");
        assert!(err.contains("jwt, rfc9068"), "{err}");
        let err = validate_with("[token]\nclient_id = \" \"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("token.client_id: "), "{err}");
    }

    #[test]
    fn forwarded_header_is_one_of_two() {
        assert_eq!(
            validate_with("").unwrap().server.forwarded_header,
            ForwardedHeader::XForwardedFor
        );
        let s = validate_with("[server]\nforwarded_header = \"Forwarded\"").unwrap();
        assert_eq!(s.server.forwarded_header, ForwardedHeader::Forwarded);
        let err = validate_with("[server]\nforwarded_header = \"x-real-ip\"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.forwarded_header: "), "{err}");
    }
}
