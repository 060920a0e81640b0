//! The `sessions` table (migrations/*/0004_sessions.sql): one row per login that earned a
//! refresh token. Never a token: the row holds what a token is checked against (its counter)
//! and what a refresh issues (user, client, scope, organisation, unit).
//!
//! Rotation is one compare-and-set on the counter (`UPDATE … WHERE id = $1 AND counter = $2`),
//! no `SELECT … FOR UPDATE`: the same on SQLite and PostgreSQL, and across processes, exactly
//! one of any number of concurrent refreshes with the same token moves the counter.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::database::{Database, QueryError};

/// One session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// 128 random bits, base64url.
    pub id: String,
    /// The account's name (a person, or a service account when `service`).
    pub user_name: String,
    /// Whether `user_name` is a service account.
    pub service: bool,
    /// The OAuth client the session was issued to, when there was one.
    pub client_id: Option<String>,
    /// The client authenticated with a secret at issue: a refresh must do so again.
    pub confidential: bool,
    /// The granted scopes, space-separated, when scopes were asked for.
    pub scope: Option<String>,
    /// The organisation named at login.
    pub organisation: Option<String>,
    /// The unit named at login.
    pub unit: Option<String>,
    /// An HMAC of the account's password hash at login (a changed password ends the session).
    pub credential: String,
    /// The current step: only the token of this step rotates.
    pub counter: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Last refresh (or the login), ms.
    pub last_used_at: i64,
    /// Last rotation (or the login), ms.
    pub rotated_at: i64,
    /// When it was revoked, ms; `None` while live.
    pub revoked_at: Option<i64>,
    /// Why: `reuse`, `logout`, `account`, `expired`, `admin`.
    pub revoked_reason: Option<String>,
    /// The login passed a one-time password too (its refreshes keep `amr` `["pwd", "otp"]`).
    pub otp: bool,
}

const COLUMNS: &str = "id, user_name, service, client_id, confidential, scope, organisation, \
                       unit, credential, counter, created_at, last_used_at, rotated_at, \
                       revoked_at, revoked_reason, otp";

const REVOKE_ACCOUNT: &str = "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
                              WHERE service = $1 AND user_name = $2 AND revoked_at IS NULL";

fn row(r: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: r.try_get(0)?,
        user_name: r.try_get(1)?,
        service: r.try_get::<i64, _>(2)? != 0,
        client_id: r.try_get(3)?,
        confidential: r.try_get::<i64, _>(4)? != 0,
        scope: r.try_get(5)?,
        organisation: r.try_get(6)?,
        unit: r.try_get(7)?,
        credential: r.try_get(8)?,
        counter: r.try_get(9)?,
        created_at: r.try_get(10)?,
        last_used_at: r.try_get(11)?,
        rotated_at: r.try_get(12)?,
        revoked_at: r.try_get(13)?,
        revoked_reason: r.try_get(14)?,
        otp: r.try_get::<i64, _>(15)? != 0,
    })
}

/// The sessions table of the `[database]` database; cheap to clone.
#[derive(Clone, Debug)]
pub struct SessionStore {
    db: Database,
}

impl SessionStore {
    /// The store on `db` (whose schema is prepared).
    pub fn new(db: Database) -> SessionStore {
        SessionStore { db }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Insert a new session.
    pub async fn create(&self, s: &Session) -> Result<(), QueryError> {
        let s = s.clone();
        self.db
            .run(move |pool| async move {
                sqlx::query(
                    "INSERT INTO sessions (id, user_name, service, client_id, confidential, \
                     scope, organisation, unit, credential, counter, created_at, last_used_at, \
                     rotated_at, otp) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(s.id)
                .bind(s.user_name)
                .bind(i64::from(s.service))
                .bind(s.client_id)
                .bind(i64::from(s.confidential))
                .bind(s.scope)
                .bind(s.organisation)
                .bind(s.unit)
                .bind(s.credential)
                .bind(s.counter)
                .bind(s.created_at)
                .bind(s.last_used_at)
                .bind(s.rotated_at)
                .bind(i64::from(s.otp))
                .execute(&pool)
                .await
                .map(|_| ())
            })
            .await
    }

    /// The session `id`, revoked or not.
    pub async fn find(&self, id: &str) -> Result<Option<Session>, QueryError> {
        let id = id.to_owned();
        self.db
            .run(move |pool| async move {
                sqlx::query(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&pool)
                    .await?
                    .map(|r| row(&r))
                    .transpose()
            })
            .await
    }

    /// Move a live session from step `from` to `from + 1` at `now` (ms), if it is still at
    /// `from`: the one compare-and-set of a rotation. True for the one caller that moved it.
    pub async fn rotate(&self, id: &str, from: i64, now: i64) -> Result<bool, QueryError> {
        let id = id.to_owned();
        self.db
            .run(move |pool| async move {
                let done = sqlx::query(
                    "UPDATE sessions SET counter = counter + 1, rotated_at = $3, \
                     last_used_at = $3 WHERE id = $1 AND counter = $2 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(from)
                .bind(now)
                .execute(&pool)
                .await?;
                Ok(done.rows_affected() == 1)
            })
            .await
    }

    /// Revoke the session `id` (if live) for `reason`; true when this call revoked it.
    pub async fn revoke(&self, id: &str, reason: &str, now: i64) -> Result<bool, QueryError> {
        let (id, reason) = (id.to_owned(), reason.to_owned());
        self.db
            .run(move |pool| async move {
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
                     WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .bind(reason)
                .execute(&pool)
                .await?;
                Ok(done.rows_affected() == 1)
            })
            .await
    }

    /// [`SessionStore::revoke_account`] for synchronous callers (the CLI).
    pub fn revoke_account_blocking(
        &self,
        service: bool,
        name: &str,
        reason: &str,
        now: i64,
    ) -> Result<u64, QueryError> {
        let (name, reason) = (name.to_owned(), reason.to_owned());
        self.db.run_blocking(move |pool| async move {
            let done = sqlx::query(REVOKE_ACCOUNT)
                .bind(i64::from(service))
                .bind(name)
                .bind(now)
                .bind(reason)
                .execute(&pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Revoke every live session of an account; how many were revoked.
    pub async fn revoke_account(
        &self,
        service: bool,
        name: &str,
        reason: &str,
        now: i64,
    ) -> Result<u64, QueryError> {
        let (name, reason) = (name.to_owned(), reason.to_owned());
        self.db
            .run(move |pool| async move {
                let done = sqlx::query(REVOKE_ACCOUNT)
                    .bind(i64::from(service))
                    .bind(name)
                    .bind(now)
                    .bind(reason)
                    .execute(&pool)
                    .await?;
                Ok(done.rows_affected())
            })
            .await
    }
}
