//! The SQL database of `[database]`: one connection pool per process, the embedded schema
//! migrations, and the one way to run a query ([`Database::run`]) that every store using the
//! database goes through (the user store now, the throttle counters next).
//!
//! One code path for SQLite and PostgreSQL: sqlx's Any driver, plain query strings with bound
//! parameters (`$1`, `$2`, … on both), values limited to text, integers and booleans.
//!
//! All database I/O runs on a runtime of its own (one thread, `watchword-db`). actix runs a
//! single-threaded tokio runtime per HTTP worker; a pooled connection opened on one of them
//! and later used from another would depend on the first one's I/O driver. Here every
//! connection lives and is used on one runtime, and callers on any runtime (or none: the CLI,
//! the start) await a task's handle.
//!
//! The URL can carry a password: it is never logged, and every error text that leaves this
//! module has the password blanked out, whatever the driver put into it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Connection};

/// `[database]`: the SQL database for the stores that use one (`users.store = "database"`).
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `database.url`, or what `database.url_file` holds; `None` when neither is set.
    pub url: Option<DatabaseUrl>,
    /// `database.pool_size`: connections at most, per process.
    pub pool_size: u32,
    /// `database.connect_timeout`: bounds getting a connection, and so every store call.
    pub connect_timeout: Duration,
    /// `database.migrate`: apply the embedded migrations when `serve` starts.
    pub migrate: bool,
}

/// Which SQL database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// `sqlite://PATH` (a file, created when missing).
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl DatabaseKind {
    /// `"SQLite"` or `"PostgreSQL"`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "SQLite",
            DatabaseKind::Postgres => "PostgreSQL",
        }
    }
}

/// A database URL: secret (it may carry a password), so its `Debug` shows only its kind.
#[derive(Debug, Clone)]
pub struct DatabaseUrl {
    /// The URL itself; never logged.
    pub secret: secrecy::SecretString,
    /// `database.url` or `database.url_file`: the key to name in messages.
    pub key: &'static str,
    /// SQLite or PostgreSQL.
    pub kind: DatabaseKind,
}

/// The schema of each kind, embedded at build time from `migrations/<kind>/NNNN_name.sql`.
/// Both directories hold the same versions; a later feature adds its tables as the next
/// version in both (a change for one kind only, like PostgreSQL's 0003, is a no-op in the other).
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a pooled PostgreSQL connection may sit idle before it is pinged on acquire.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

fn migrator(kind: DatabaseKind) -> &'static Migrator {
    match kind {
        DatabaseKind::Sqlite => &SQLITE_MIGRATIONS,
        DatabaseKind::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// The newest schema version this binary knows for `kind`.
pub fn binary_schema_version(kind: DatabaseKind) -> i64 {
    migrator(kind).iter().map(|m| m.version).max().unwrap_or(0)
}

/// Why the database could not be opened or prepared (at start, or for a CLI command).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// No URL is configured.
    #[error("database.url: not set; set database.url (sqlite://PATH or postgres://…) or database.url_file")]
    NoUrl,
    /// The first connection failed (the message has the password blanked out).
    #[error("{key}: cannot connect to {}: {message}", .kind.name())]
    Connect {
        /// `database.url` or `database.url_file`.
        key: &'static str,
        /// SQLite or PostgreSQL.
        kind: DatabaseKind,
        /// The driver's error.
        message: String,
    },
    /// The database holds a schema from a newer watchword.
    #[error(
        "the {} schema is at version {have}, newer than this binary's {know}: \
         run a watchword release that knows version {have} (or newer)", .kind.name()
    )]
    SchemaNewer {
        /// SQLite or PostgreSQL.
        kind: DatabaseKind,
        /// Applied in the database.
        have: i64,
        /// Known to this binary.
        know: i64,
    },
    /// The schema is older than this binary and migrations are not applied here.
    #[error(
        "the {} schema is at version {have}, older than this binary's {know}: \
         run `watchword migrate` (or set database.migrate = true)", .kind.name()
    )]
    SchemaOlder {
        /// SQLite or PostgreSQL.
        kind: DatabaseKind,
        /// Applied in the database.
        have: i64,
        /// Known to this binary.
        know: i64,
    },
    /// Reading the schema version or applying a migration failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// The database thread could not be started.
    #[error("cannot start the database thread")]
    Thread(#[source] std::io::Error),
}

/// Why one call into the database failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    /// The database cannot be reached or does not answer in time (connection refused or
    /// lost, TLS, timeout, shutting down, busy): try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique key would be duplicated (an account that exists already).
    #[error("{0}")]
    Conflict(String),
    /// The database answered, but not as expected (a malformed row, a missing table).
    #[error("database error: {0}")]
    Failed(String),
}

/// Blanks out a URL's password (as written and percent-decoded) from any text.
#[derive(Clone, Default)]
struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    fn for_url(url: &str) -> Redactor {
        let mut secrets = Vec::new();
        if let Ok(parsed) = url::Url::parse(url) {
            if let Some(password) = parsed.password().filter(|p| !p.is_empty()) {
                secrets.push(password.to_owned());
                if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
                    if decoded != password {
                        secrets.push(decoded.into_owned());
                    }
                }
            }
        }
        // The longest first, so that no part of a longer secret is left behind.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    fn clean(&self, text: impl std::fmt::Display) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

/// The database: cheap to clone, shared by every store that uses it.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    kind: DatabaseKind,
    redactor: Redactor,
    timeout: Duration,
    runtime: tokio::runtime::Handle,
    /// Dropped with the last clone: ends the database thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL.
        f.debug_struct("Database")
            .field("kind", &self.inner.kind)
            .finish_non_exhaustive()
    }
}

/// A single-threaded runtime on a thread of its own, running until `stop` is dropped.
fn start_runtime(
) -> Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>), DatabaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DatabaseError::Thread)?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("watchword-db".into())
        .spawn(move || {
            let _ = runtime.block_on(stopped);
            // Connections still open are dropped with the runtime; the server closes them.
            runtime.shutdown_background();
        })
        .map_err(DatabaseError::Thread)?;
    Ok((handle, stop))
}

/// Wait for `future` on `runtime` from synchronous code (which may itself be inside another
/// runtime, as `Application::build` is in tests): the caller's thread just blocks.
fn wait_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    future: impl Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv()
        .expect("the database thread runs until the Database is dropped")
}

impl Database {
    /// Connect to `settings.url` (a first connection is made now, so a wrong host, database
    /// or password stops the caller with the driver's reason), without touching the schema.
    pub fn open(settings: &DatabaseSettings) -> Result<Database, DatabaseError> {
        Database::open_with(settings, true)
    }

    /// [`Database::open`] without the first connection: for a store that starts without its
    /// database and connects when it answers (the throttle's, with users in the file).
    /// Fails only on what no retry changes (no URL, one that does not parse, no thread).
    pub fn open_lazy(settings: &DatabaseSettings) -> Result<Database, DatabaseError> {
        Database::open_with(settings, false)
    }

    fn open_with(settings: &DatabaseSettings, connect: bool) -> Result<Database, DatabaseError> {
        let url = settings.url.as_ref().ok_or(DatabaseError::NoUrl)?;
        sqlx::any::install_default_drivers();
        let redactor = Redactor::for_url(url.secret.expose_secret());
        let (key, kind) = (url.key, url.kind);
        let connect_error = |message: String| DatabaseError::Connect { key, kind, message };
        let mut text = url.secret.expose_secret().to_owned();
        if kind == DatabaseKind::Sqlite && !text.contains("mode=") {
            // Create the file when it is missing.
            text.push_str(if text.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
        let options = text
            .parse::<AnyConnectOptions>()
            .map_err(|e| connect_error(redactor.clean(e)))?
            // Statements are ours and carry no values; the log has one line per login already.
            .disable_statement_logging();
        let (runtime, stop) = start_runtime()?;
        let timeout = settings.connect_timeout;
        let first = options.clone();
        let checked = wait_on(&runtime, async move {
            if !connect {
                return Ok(());
            }
            match tokio::time::timeout(timeout, sqlx::AnyConnection::connect_with(&first)).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!(
                    "no answer within database.connect_timeout ({})",
                    humantime::format_duration(timeout)
                )),
            }
        });
        checked.map_err(|m| connect_error(redactor.clean(m)))?;
        let pool_options = AnyPoolOptions::new()
            .max_connections(settings.pool_size)
            .min_connections(0)
            .acquire_timeout(timeout)
            // sqlx's own test pings before every acquire: a second round trip for each
            // query, which was most of what the PostgreSQL throttle cost a login
            // (BENCHMARKS.md). A connection that was in use a moment ago is alive; one that sat
            // idle may have been cut by a database restart, so it is pinged first and replaced
            // if it does not answer. A broken connection that slips through fails its one
            // query like an outage would (503 or the throttle's fallback) and is closed by
            // the pool's test on release. A SQLite connection is a file handle that no server
            // restart breaks: never pinged.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if kind == DatabaseKind::Postgres && meta.idle_for >= PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .idle_timeout(Some(Duration::from_secs(300)));
        // The pool spawns its maintenance task on the runtime it is made in.
        let pool = wait_on(
            &runtime,
            async move { pool_options.connect_lazy_with(options) },
        );
        Ok(Database {
            inner: Arc::new(Inner {
                pool,
                kind,
                redactor,
                timeout,
                runtime,
                _stop: stop,
            }),
        })
    }

    /// SQLite or PostgreSQL.
    pub fn kind(&self) -> DatabaseKind {
        self.inner.kind
    }

    /// `database.connect_timeout`.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Run `query` with the pool on the database runtime, bounded by `database.connect_timeout`
    /// (a database that accepts connections and then stops answering does not hold a login
    /// longer); errors are classified and have the URL's password blanked out.
    pub async fn run<T, F, Fut>(&self, query: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: FnOnce(AnyPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    {
        let inner = &self.inner;
        let timeout = inner.timeout;
        let work = query(inner.pool.clone());
        let task = inner
            .runtime
            .spawn(async move { tokio::time::timeout(timeout, work).await });
        match task.await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(classify(&e, &inner.redactor)),
            Ok(Err(_)) => Err(QueryError::Unavailable(format!(
                "no answer within database.connect_timeout ({})",
                humantime::format_duration(timeout)
            ))),
            Err(e) => Err(QueryError::Failed(format!("database task failed: {e}"))),
        }
    }

    /// [`Database::run`] for synchronous callers (the CLI, the start).
    pub fn run_blocking<T, F, Fut>(&self, query: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: FnOnce(AnyPool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    {
        let this = self.clone();
        wait_on(
            &self.inner.runtime.clone(),
            async move { this.run(query).await },
        )
    }

    /// The oldest binary schema version the database's schema still serves
    /// (`schema_compat.oldest_compatible`), `None` before migration 0006.
    fn oldest_compatible(&self) -> Result<Option<i64>, QueryError> {
        let exists = match self.kind() {
            DatabaseKind::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_compat'"
            }
            DatabaseKind::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'schema_compat'"
            }
        };
        self.run_blocking(move |pool| async move {
            let tables: i64 = sqlx::query_scalar(exists).fetch_one(&pool).await?;
            if tables == 0 {
                return Ok(None);
            }
            sqlx::query_scalar("SELECT oldest_compatible FROM schema_compat WHERE id = 1")
                .fetch_optional(&pool)
                .await
        })
    }

    /// The schema version applied in the database (0 for an empty one).
    pub fn schema_version(&self) -> Result<i64, QueryError> {
        Ok(self.applied_versions()?.into_iter().max().unwrap_or(0))
    }

    /// Every migration version applied in the database (none for an empty one).
    pub fn applied_versions(&self) -> Result<Vec<i64>, QueryError> {
        let exists = match self.kind() {
            DatabaseKind::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            DatabaseKind::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        self.run_blocking(move |pool| async move {
            let tables: i64 = sqlx::query_scalar(exists).fetch_one(&pool).await?;
            if tables == 0 {
                return Ok(Vec::new());
            }
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&pool)
                .await
        })
    }

    /// Make the schema this binary's: apply the missing migrations when `migrate` is true,
    /// otherwise require them applied. A schema newer than the binary is used as it is when it
    /// says it still serves this binary (`schema_compat`, written by the migrations: a rolling
    /// upgrade, where a newer replica migrated first), and refused otherwise. Returns the
    /// (old, new) versions.
    pub fn prepare(&self, migrate: bool) -> Result<(i64, i64), DatabaseError> {
        let kind = self.kind();
        let failed = |e: QueryError| DatabaseError::Migrate(e.to_string());
        let applied = self.applied_versions().map_err(failed)?;
        let have = applied.iter().copied().max().unwrap_or(0);
        let know = binary_schema_version(kind);
        if have > know {
            let oldest = self.oldest_compatible().map_err(failed)?;
            if oldest.is_some_and(|oldest| oldest <= know) {
                log::info!(
                    "the {} schema is at version {have}, newer than this binary's {know}, and \
                     still serves it (a rolling upgrade): upgrade this replica soon",
                    kind.name()
                );
                return Ok((have, have));
            }
            return Err(DatabaseError::SchemaNewer { kind, have, know });
        }
        // Every version, not only the newest: branches number their migrations apart (the
        // sessions' 0004 may land after TOTP's 0005 was applied), and a database with the
        // newest but not an earlier one is older than this binary.
        if migrator(kind).iter().all(|m| applied.contains(&m.version)) {
            return Ok((have, know));
        }
        if !migrate {
            return Err(DatabaseError::SchemaOlder { kind, have, know });
        }
        let redactor = self.inner.redactor.clone();
        self.run_blocking(move |pool| async move {
            if kind == DatabaseKind::Sqlite {
                // Readers do not wait for a writer (the CLI, a rehash) in WAL mode. Persistent
                // in the file; it cannot change inside the migrations' transactions.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&pool)
                    .await?;
            }
            // PostgreSQL: the migrator takes an advisory lock, so replicas starting together
            // apply each migration once.
            migrator(kind).run(&pool).await.map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => e,
                other => sqlx::Error::Migrate(Box::new(other)),
            })
        })
        .map_err(|e| DatabaseError::Migrate(redactor.clean(e)))?;
        Ok((have, know))
    }
}

/// Sort a driver error into unavailable (try later), conflict or failed.
fn classify(e: &sqlx::Error, redactor: &Redactor) -> QueryError {
    use sqlx::Error;
    let message = redactor.clean(e);
    match e {
        Error::Database(db) => {
            if db.is_unique_violation() {
                return QueryError::Conflict(message);
            }
            let code = db.code().unwrap_or_default();
            let unavailable = match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                // Connection exceptions, insufficient resources, operator intervention
                // (shutdown, restart), system errors.
                Some(_) => ["08", "53", "57", "58"].iter().any(|c| code.starts_with(c)),
                // SQLite primary result codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
                None => {
                    let primary = code.parse::<i64>().map_or(0, |c| c & 0xff);
                    matches!(primary, 5 | 6 | 10 | 13 | 14)
                }
            };
            if unavailable {
                QueryError::Unavailable(message)
            } else {
                QueryError::Failed(message)
            }
        }
        Error::ColumnDecode { .. }
        | Error::Decode(_)
        | Error::ColumnNotFound(_)
        | Error::ColumnIndexOutOfBounds { .. }
        | Error::TypeNotFound { .. }
        | Error::RowNotFound
        | Error::Encode(_)
        | Error::Migrate(_) => QueryError::Failed(message),
        _ => QueryError::Unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_blanks_the_password_as_written_and_decoded() {
        let r = Redactor::for_url("postgres://u:s3cr%40t@h/db");
        assert_eq!(r.clean("a s3cr%40t b s3cr@t c"), "a *** b *** c");
        let none = Redactor::for_url("sqlite:///tmp/x.db");
        assert_eq!(none.clean("text"), "text");
    }

    #[test]
    fn both_kinds_know_the_same_versions() {
        let versions = |k| migrator(k).iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(
            versions(DatabaseKind::Sqlite),
            versions(DatabaseKind::Postgres)
        );
        assert!(binary_schema_version(DatabaseKind::Sqlite) >= 1);
    }
}
