//! The `totp` and `totp_recovery_codes` tables (migrations/*/0005_totp.sql). Every write that
//! a login makes is a compare-and-set in one statement, so two replicas (or twenty concurrent
//! requests) sending one code cannot both win: the step only moves forward, and a recovery
//! code's row is deleted by exactly one of them.

use crate::database::{Database, DatabaseKind, QueryError};

/// The TOTP state of an account, as a login reads it with the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpState {
    /// The secret, sealed (see [`super::key::TotpKey::seal_secret`]).
    pub sealed: String,
    /// The last accepted time step.
    pub last_step: i64,
}

/// The TOTP tables of the database store; cheap to clone.
#[derive(Clone, Debug)]
pub struct TotpDb {
    db: Database,
}

impl TotpDb {
    /// The tables of `db` (whose schema is prepared).
    pub fn new(db: Database) -> TotpDb {
        TotpDb { db }
    }

    /// Accept time step `step` for `name` if it is newer than the last accepted one: true for
    /// exactly one of any number of concurrent callers with the same step.
    ///
    /// On SQLite the write is committed with `synchronous = NORMAL` (as the throttle's are):
    /// no fsync per login, which was most of its cost (BENCHMARKS.md, "TOTP"). A power loss
    /// can forget the last moments' steps, never the file; a code so forgotten is valid for
    /// at most a minute more, less than a host takes to come back. Recovery codes keep
    /// `FULL`: forgetting one's use would make it good again.
    ///
    /// `resealed`, when given, replaces the sealed secret in the same statement (a secret
    /// opened with an old key, sealed anew with the current one).
    pub async fn advance(
        &self,
        name: &str,
        step: u64,
        resealed: Option<String>,
    ) -> Result<bool, QueryError> {
        let (name, step) = (name.to_owned(), step as i64);
        let sqlite = self.db.kind() == DatabaseKind::Sqlite;
        self.db
            .run(move |pool| async move {
                let mut conn = pool.acquire().await?;
                if sqlite {
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                }
                let done = sqlx::query(
                    "UPDATE totp SET last_step = $2, secret = COALESCE($3, secret) \
                     WHERE name = $1 AND last_step < $2",
                )
                .bind(name)
                .bind(step)
                .bind(resealed)
                .execute(&mut *conn)
                .await;
                if sqlite {
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(done?.rows_affected() == 1)
            })
            .await
    }

    /// Use up the recovery code hashed `hash`: true for exactly one caller.
    pub async fn use_recovery_code(&self, name: &str, hash: &str) -> Result<bool, QueryError> {
        let (name, hash) = (name.to_owned(), hash.to_owned());
        self.db
            .run(move |pool| async move {
                let done = sqlx::query(
                    "DELETE FROM totp_recovery_codes WHERE name = $1 AND code_hash = $2",
                )
                .bind(name)
                .bind(hash)
                .execute(&pool)
                .await?;
                Ok(done.rows_affected() == 1)
            })
            .await
    }

    /// Turn TOTP on for `name` with `sealed`, the step of the confirming code taken as used
    /// (so that code cannot log in). False when TOTP is on already (the first enrolment
    /// stands); an unknown account is a [`QueryError`] (the foreign key).
    pub async fn enable(&self, name: &str, sealed: &str, step: u64) -> Result<bool, QueryError> {
        let (name, sealed) = (name.to_owned(), sealed.to_owned());
        self.db
            .run(move |pool| async move { enable(&pool, name, sealed, step).await })
            .await
    }

    /// Turn TOTP off for `name` (its recovery codes go too); false when it was off.
    pub async fn disable(&self, name: &str) -> Result<bool, QueryError> {
        let name = name.to_owned();
        self.db
            .run(move |pool| async move {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM totp_recovery_codes WHERE name = $1")
                    .bind(name.clone())
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM totp WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            })
            .await
    }

    /// Replace the recovery codes of `name` by `hashes`; false when TOTP is off for it.
    pub async fn replace_recovery_codes(
        &self,
        name: &str,
        hashes: Vec<String>,
    ) -> Result<bool, QueryError> {
        let name = name.to_owned();
        self.db
            .run(move |pool| async move {
                let mut tx = pool.begin().await?;
                let on: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM totp WHERE name = $1")
                    .bind(name.clone())
                    .fetch_one(&mut *tx)
                    .await?;
                if on == 0 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM totp_recovery_codes WHERE name = $1")
                    .bind(name.clone())
                    .execute(&mut *tx)
                    .await?;
                for hash in hashes {
                    sqlx::query(
                        "INSERT INTO totp_recovery_codes (name, code_hash) VALUES ($1, $2)",
                    )
                    .bind(name.clone())
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            })
            .await
    }

    /// The TOTP state of `name`, if it is on.
    pub async fn get(&self, name: &str) -> Result<Option<TotpState>, QueryError> {
        let name = name.to_owned();
        self.db
            .run(move |pool| async move {
                let row: Option<(String, i64)> =
                    sqlx::query_as("SELECT secret, last_step FROM totp WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&pool)
                        .await?;
                Ok(row.map(|(sealed, last_step)| TotpState { sealed, last_step }))
            })
            .await
    }

    /// [`TotpDb::enable`] for the CLI.
    pub fn enable_blocking(&self, name: &str, sealed: &str, step: u64) -> Result<bool, QueryError> {
        let (name, sealed) = (name.to_owned(), sealed.to_owned());
        self.db
            .run_blocking(move |pool| async move { enable(&pool, name, sealed, step).await })
    }
}

/// The insert of [`TotpDb::enable`]: false on a duplicate name.
async fn enable(
    pool: &sqlx::AnyPool,
    name: String,
    sealed: String,
    step: u64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query("INSERT INTO totp (name, secret, last_step) VALUES ($1, $2, $3)")
        .bind(name)
        .bind(sealed)
        .bind(step as i64)
        .execute(pool)
        .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
