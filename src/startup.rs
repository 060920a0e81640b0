//! Building the application from settings: everything is loaded and checked before the port
//! is bound, so a broken deployment never accepts a connection.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::config::{ConfigError, Settings, UserStoreKind};
use crate::database::{Database, DatabaseError};
use crate::http::client_address::ClientAddress;
use crate::http::{self, AppState, Loaded};
use crate::login::dummy::{differing, DummyHashes};
use crate::login::hash_pool::HashPool;
use crate::login::password::StoredHash;
use crate::login::throttle::{Throttle, ThrottleStore};
use crate::login::totp::key::TotpKey;
use crate::login::totp::SecondFactor;
use crate::login::users::database::UserDb;
use crate::login::users::ldap::Directory;
use crate::login::users::{User, UserStore, Users, UsersError};
use crate::session::revocations::{subject_lifetime, Revocations};
use crate::session::Sessions;
use crate::token::issuer::Issuer;
use crate::token::key_file::check_key_file;
use crate::token::signing_key::{generate_pem, SigningKey, SigningKeyError};
use watchword_verify::{Validation, Verifier};

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A configuration value is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The users file is wrong.
    #[error(transparent)]
    Users(#[from] UsersError),
    /// The signing key is wrong.
    #[error(transparent)]
    Key(#[from] SigningKeyError),
    /// The TOTP key is wrong.
    #[error(transparent)]
    TotpKey(#[from] crate::login::totp::key::TotpKeyError),
    /// The database of `[database]` cannot be used (the message never shows its password).
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// `sessions.refresh_key_file` (or a verify-only one) cannot be used.
    #[error(transparent)]
    RefreshKey(#[from] crate::session::refresh_token::RefreshKeyError),
    /// SIGHUP found `users.store = "database"` in a process started with the file.
    #[error(
        "users.store: switching to \"database\" needs a restart (the database connects at start)"
    )]
    StoreNeedsRestart,
    /// `users.store = "ldap"` without checked `[ldap]` settings (a bug: they are checked
    /// whenever that store is chosen).
    #[error("users.store = \"ldap\": the [ldap] settings were not checked")]
    LdapUnchecked,
    /// The service's own verifier could not take its keys (a bug, not an operator error).
    #[error("building the verifier for /verify failed")]
    Verifier(#[source] watchword_verify::KeyError),
    /// The JWK Set to publish could not be serialized (a bug, not an operator error).
    #[error("serializing the published JWK Set failed")]
    Jwks(#[source] serde_json::Error),
    /// The address could not be bound.
    #[error("{key}: cannot listen on {addr}: {source}")]
    Bind {
        /// `server.bind` or `metrics.bind`.
        key: &'static str,
        /// Configured address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// Threads could not be started.
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
}

/// A built, bound, not yet running service.
pub struct Application {
    addr: SocketAddr,
    server: Server,
    /// The `metrics.bind` listener, when configured.
    metrics: Option<(SocketAddr, Server)>,
    state: web::Data<AppState>,
    config: Option<PathBuf>,
}

/// Load the users and every key named by `settings`: what starts the service and what
/// SIGHUP reloads. With `users.store = "database"` the accounts stay in `database` (opened at
/// start) and are read at every login; nothing of them is loaded here. `previous` is what a
/// reload replaces: its ephemeral key (no `keys.signing_key_file`) is kept when the algorithm
/// is unchanged, so reloading a demo's users file does not invalidate every token.
pub fn load(
    settings: &Settings,
    database: Option<&Database>,
    previous: Option<&Loaded>,
) -> Result<Loaded, StartError> {
    let alg = settings.token.algorithm;
    let open_to_others = settings.keys.allow_world_readable;
    let key = match &settings.keys.signing_key_file {
        Some(path) => {
            check_key_file(path, "keys.signing_key_file", open_to_others)?;
            SigningKey::from_file(path, alg)?
        }
        None => match previous.filter(|p| p.ephemeral_key && p.issuer.key().algorithm == alg) {
            Some(previous) => previous.issuer.key().clone(),
            None => {
                let pem = generate_pem(alg)?;
                let key =
                    SigningKey::from_bytes(pem.as_bytes(), alg).ok_or(SigningKeyError::Generate)?;
                log::warn!(
                    "keys.signing_key_file is not set: signing with an ephemeral {} key (kid {}). \
                 Its tokens die with this process and are not accepted by other replicas; \
                 make a key with `watchword keygen` for anything but a demo",
                    alg.as_str(),
                    key.kid
                );
                key
            }
        },
    };
    let mut published = key.jwk_set();
    for path in &settings.keys.verify_only_files {
        check_key_file(path, "keys.verify_only_files", open_to_others)?;
        let other = SigningKey::from_file_any(path)?;
        if key.secret().is_some() || other.secret().is_some() {
            return Err(SigningKeyError::Wrong {
                path: path.display().to_string(),
                expected: "an asymmetric key: verify-only keys are published in the JWKS, which HS256 secrets never are".into(),
            }
            .into());
        }
        if published
            .keys
            .iter()
            .all(|k| k.common.key_id.as_deref() != Some(other.kid.as_str()))
        {
            published.keys.extend(other.jwk_set().keys);
        }
    }
    let users = match (settings.users.store, &settings.users.file) {
        (UserStoreKind::Database, _) => UserStore::Database(UserDb::new(
            database.ok_or(StartError::StoreNeedsRestart)?.clone(),
        )),
        (UserStoreKind::Ldap, _) => UserStore::Directory(Directory::new(
            settings.ldap.clone().ok_or(StartError::LdapUnchecked)?,
        )),
        (UserStoreKind::File, Some(path)) => {
            let users = Users::load(path)?;
            users.check_look_alikes(
                settings.users.allow_case_variants,
                &path.display().to_string(),
            )?;
            UserStore::File(users)
        }
        (UserStoreKind::File, None) => {
            log::warn!(
                "users.file is not set: serving the built-in DEMO users (user_test / password_test). \
                 Never deploy this"
            );
            UserStore::File(Users::demo())
        }
    };
    let validation = Validation {
        issuer: Some(settings.token.issuer.clone()),
        audience: settings.token.audience.clone(),
        ..Validation::default()
    };
    let jwks = serde_json::to_string(&published).map_err(StartError::Jwks)?;
    let verifier = match key.secret() {
        Some(secret) => Verifier::from_hs256_secret_with_kid(secret, &key.kid, validation),
        None => Verifier::from_jwk_set(
            &serde_json::to_value(&published).map_err(StartError::Jwks)?,
            validation,
        ),
    }
    .map_err(StartError::Verifier)?;
    let issuer = Issuer::new(key, &settings.token).with_permissions(settings.permissions.clone());
    let discovery = http::well_known::discovery_document(
        &settings.token.issuer,
        alg.as_str(),
        issuer.all_permissions(),
        settings.sessions.enabled,
    );
    log::info!(
        "{}; signing with {} key {}; {} keys published",
        users.describe(),
        alg.as_str(),
        issuer.key().kid,
        published.keys.len()
    );
    let dummies = dummy_hashes(&users, settings, issuer.key());
    let totp = match &settings.keys.totp_key_file {
        Some(path) => {
            check_key_file(path, "keys.totp_key_file", open_to_others)?;
            let key = TotpKey::from_file(path)?;
            log::info!("TOTP on: secrets sealed with TOTP key {}", key.kid());
            Some(Arc::new(key))
        }
        None => None,
    };
    let mut old_keys = Vec::new();
    for path in &settings.keys.totp_old_key_files {
        check_key_file(path, "keys.totp_old_key_files", open_to_others)?;
        let old = TotpKey::from_file(path)?;
        log::info!(
            "TOTP: secrets sealed with old TOTP key {} still open",
            old.kid()
        );
        old_keys.push(Arc::new(old));
    }
    Ok(Loaded {
        totp: SecondFactor {
            key: totp,
            old_keys,
            settings: settings.totp.clone(),
        },
        ephemeral_key: settings.keys.signing_key_file.is_none(),
        users,
        issuer,
        verifier,
        jwks,
        discovery,
        dummies,
    })
}

/// One dummy hash per argon2 parameter set of the accounts, so that an unknown name costs what
/// an existing one costs (`login::dummy`), keyed by the signing key so that replicas agree; and
/// the start log's word on accounts hashed otherwise than `password.*`. The database store is
/// listed once here (an outage leaves `password.*` alone, with a warning).
fn dummy_hashes(users: &UserStore, settings: &Settings, key: &SigningKey) -> DummyHashes {
    let listed: Vec<User>;
    let accounts: Vec<&User> = match users {
        UserStore::File(users) => users.accounts(),
        // No argon2 for directory accounts: refusals are padded in time instead.
        UserStore::Directory(_) => Vec::new(),
        UserStore::Database(db) => match db.list() {
            Ok(all) => {
                listed = all;
                listed.iter().collect()
            }
            Err(e) => {
                log::warn!(
                    "the user store could not be listed ({e}): unknown names are checked \
                     against password.* alone until the next reload"
                );
                Vec::new()
            }
        },
    };
    let params = &settings.password.params;
    let dummies = DummyHashes::new(&accounts, params, key.encoding_key().as_bytes());
    let differ = differing(&accounts, params);
    if differ > 0 {
        let sets: Vec<String> = dummies
            .costs()
            .iter()
            .map(|(cost, n)| format!("{n} × {cost}"))
            .collect();
        log::warn!(
            "{differ} of {} account hashes use other argon2 parameters than password.* \
             (m={},t={},p={}); in use: {}. Unknown names are checked against one dummy per \
             parameter set, chosen as often as accounts use it, but a set few accounts use still \
             stands out: rehash those accounts (watchword hash-password) after changing password.*",
            accounts.len(),
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
            sets.join(", ")
        );
    }
    dummies
}

/// Load keys, users and the hashing pool: the state shared by all HTTP workers.
pub fn build_state(settings: &Settings) -> Result<AppState, StartError> {
    // Sessions live in the same database as the database user store.
    let database = match (settings.users.store, settings.sessions.enabled) {
        (UserStoreKind::File | UserStoreKind::Ldap, false) => None,
        _ => Some(open_database(settings)?),
    };
    let sessions = match &database {
        Some(db) if settings.sessions.enabled => Some(std::sync::Arc::new(Sessions::open(
            &settings.sessions,
            db.clone(),
            settings.keys.allow_world_readable,
        )?)),
        _ => None,
    };
    let loaded = load(settings, database.as_ref(), None)?;
    let pool = HashPool::start(
        settings.password.workers,
        settings.password.queue,
        settings.password.scheduling,
    )?;
    let dummy = Arc::new(StoredHash::dummy(&settings.password.params));
    log::info!(
        "{} hashing threads, queue {}",
        pool.workers(),
        settings.password.queue
    );
    let throttle = build_throttle(settings, database.as_ref())?;
    let mut state = AppState::new(
        loaded,
        dummy,
        pool,
        throttle,
        ClientAddress::new(
            settings.server.trusted_proxies.clone(),
            settings.server.forwarded_header,
        ),
        settings.login.clone(),
    );
    state.password_params = settings.password.params.clone();
    state.database = database;
    if sessions.is_some() {
        log::info!(
            "sessions: refresh tokens issued (idle {}, at most {}, reuse interval {})",
            humantime::format_duration(settings.sessions.idle_timeout),
            humantime::format_duration(settings.sessions.max_lifetime),
            humantime::format_duration(settings.sessions.reuse_interval)
        );
    }
    state.revocations = sessions.as_ref().map(|s| {
        Arc::new(Revocations::new(
            s.store().database().clone(),
            settings.sessions.revocation_poll,
            subject_lifetime(&settings.token),
        ))
    });
    state.sessions = sessions;
    state.metrics.user_store_up.set(1);
    count_outdated(&state, settings);
    Ok(state)
}

/// Connect to `[database]` and make its schema this binary's (migrating when
/// `database.migrate` is true): the start stops here, naming the key, when it cannot.
pub fn open_database(settings: &Settings) -> Result<Database, StartError> {
    let db = Database::open(&settings.database)?;
    let (was, now) = db.prepare(settings.database.migrate)?;
    if was != now {
        log::info!(
            "{} schema migrated from version {was} to {now}",
            db.kind().name()
        );
    }
    Ok(db)
}

/// The throttle of `throttle.store`. The database store shares the user store's database
/// when there is one; with the users in the file it opens `[database]` for the counters alone,
/// and a start that cannot reach it follows `throttle.on_store_error` (and says so) instead
/// of stopping. A schema newer or older than the binary (without `database.migrate`) stops
/// the start all the same.
fn build_throttle(
    settings: &Settings,
    users_db: Option<&Database>,
) -> Result<Throttle, StartError> {
    let t = settings.throttle.clone();
    if t.store == ThrottleStore::Memory || !t.enabled {
        return Ok(Throttle::new(t));
    }
    let migrate = settings.database.migrate;
    let (db, reachable) = match users_db {
        Some(db) => (db.clone(), Ok(())),
        None => match Database::open(&settings.database) {
            Ok(db) => match db.prepare(migrate) {
                Ok((was, now)) => {
                    if was != now {
                        log::info!(
                            "{} schema migrated from version {was} to {now}",
                            db.kind().name()
                        );
                    }
                    (db, Ok(()))
                }
                Err(
                    e @ (DatabaseError::SchemaNewer { .. } | DatabaseError::SchemaOlder { .. }),
                ) => return Err(e.into()),
                Err(e) => (db, Err(e.to_string())),
            },
            Err(e @ DatabaseError::Connect { .. }) => {
                (Database::open_lazy(&settings.database)?, Err(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        },
    };
    log::info!(
        "login throttle: counters in {} (throttle.store = \"database\"), shared by every process that uses it",
        db.kind().name()
    );
    Ok(Throttle::with_database(t, db, migrate, reachable))
}

/// `watchword_password_hashes_outdated`: accounts of the users file whose hash is weaker than
/// `password.*` (the file is never rewritten; the database store rehashes at login instead).
fn count_outdated(state: &AppState, settings: &Settings) {
    let outdated = match &state.loaded().users {
        UserStore::File(users) => users
            .accounts()
            .iter()
            .filter(|u| u.hash.is_weaker_than(&settings.password.params))
            .count(),
        UserStore::Database(_) | UserStore::Directory(_) => 0,
    };
    state
        .metrics
        .password_hashes_outdated
        .set(i64::try_from(outdated).unwrap_or(i64::MAX));
}

/// Re-read the configuration file and environment, then the users file and keys, and swap
/// them in; on any error keep serving with what is loaded and log why. Settings that shape
/// the running server (bind address, workers, hashing pool, throttle) need a restart.
pub fn reload(state: &AppState, config: Option<&Path>) {
    match Settings::load(config)
        .map_err(StartError::from)
        .and_then(|s| {
            load(&s, state.database.as_ref(), Some(&state.loaded())).map(|loaded| (s, loaded))
        }) {
        Ok((settings, loaded)) => {
            state.replace(loaded);
            count_outdated(state, &settings);
            log::info!("reload: users and keys replaced");
        }
        Err(e) => log::error!("reload failed, keeping the previous users and keys: {e}"),
    }
}

impl Application {
    /// Load everything, then bind `server.bind` (port 0 picks a free port). `config` is the
    /// file the settings came from, read again on SIGHUP.
    pub fn build_with_config(
        settings: &Settings,
        config: Option<&Path>,
    ) -> Result<Application, StartError> {
        let mut app = Application::build(settings)?;
        app.config = config.map(Path::to_path_buf);
        Ok(app)
    }

    /// Load everything, then bind `server.bind` and, when set, `metrics.bind` (port 0 picks a
    /// free port).
    pub fn build(settings: &Settings) -> Result<Application, StartError> {
        let state = web::Data::new(build_state(settings)?);
        // Every address is bound before anything serves, so a taken port stops the start
        // cleanly, naming its key.
        let bind = |key: &'static str, addr: SocketAddr| {
            TcpListener::bind(addr).map_err(|source| StartError::Bind { key, addr, source })
        };
        let listener = bind("server.bind", settings.server.bind)?;
        let metrics_listener = settings
            .metrics_bind
            .map(|addr| bind("metrics.bind", addr))
            .transpose()?;
        let addr = listener.local_addr()?;
        let shared = state.clone();
        // /metrics is never on this port: its login, throttle and shedding counts would show
        // anyone how a guessing run or a flood is going (metrics.bind).
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .wrap(http::default_headers())
                .wrap(actix_web::middleware::from_fn(
                    http::unread_body::close_unread_bodies,
                ))
                .configure(http::routes)
        })
        .workers(settings.server.workers)
        .max_connections(settings.server.max_connections)
        .client_request_timeout(settings.server.request_head_timeout)
        .keep_alive(settings.server.keep_alive)
        .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
        .listen(listener)?
        .run();
        log::info!("listening on http://{addr}");
        let metrics = match metrics_listener {
            None => {
                log::info!(
                    "metrics.bind is not set: /metrics is not served (set it to a port of its \
                     own, e.g. 127.0.0.1:9090)"
                );
                None
            }
            Some(listener) => {
                let metrics_addr = listener.local_addr()?;
                let shared = state.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .wrap(http::default_headers())
                        .configure(http::metrics_only)
                })
                // Scrapes are rare and cheap: one thread, and no more connections than a few
                // scrapers need.
                .workers(1)
                // Stopped with the service, below. Left to react to SIGTERM itself, this idle
                // listener finished first and stopped the whole actix System, cutting logins
                // that the service was still draining.
                .disable_signals()
                .max_connections(64)
                .client_request_timeout(settings.server.request_head_timeout)
                .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
                .listen(listener)?
                .run();
                log::info!("metrics on http://{metrics_addr}/metrics");
                Some((metrics_addr, server))
            }
        };
        Ok(Application {
            addr,
            server,
            metrics,
            state,
            config: None,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound `metrics.bind` address, when `/metrics` has its own listener.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _)| *addr)
    }

    /// The state the handlers share (tests read counters from it).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serve until stopped by SIGTERM or SIGINT (in-flight requests are drained, bounded by
    /// `server.shutdown_timeout`); SIGHUP reloads users and keys.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut hangups = signal(SignalKind::hangup())?;
            let (state, config) = (self.state.clone(), self.config.clone());
            // tokio::spawn, not actix's spawn_local: this also runs under a plain tokio runtime.
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    log::info!("SIGHUP: reloading users and keys");
                    let (state, config) = (state.clone(), config.clone());
                    // File reads and key parsing are blocking work: off the async worker.
                    let _ = tokio::task::spawn_blocking(move || reload(&state, config.as_deref()))
                        .await;
                }
            });
        }
        match self.metrics {
            None => self.server.await,
            Some((_, metrics)) => {
                // Both listeners stop on SIGTERM; when the service stops for another reason
                // (its handle), the metrics listener goes with it.
                let metrics_handle = metrics.handle();
                let service = async {
                    let result = self.server.await;
                    metrics_handle.stop(true).await;
                    result
                };
                let (result, _) = tokio::join!(service, metrics);
                result
            }
        }
    }
}
