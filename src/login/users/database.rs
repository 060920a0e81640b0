//! The users and service accounts in the SQL database (`users.store = "database"`): read at
//! every login, written by `watchword users …` and by the rehash after a login.
//!
//! Tables `users` and `service_accounts` (migrations/*/0001_accounts.sql) hold what the users
//! file holds; roles, organisations and units are JSON arrays, claims a JSON object, as text.
//! Every query is a constant string with bound parameters: no name is ever part of SQL text.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::account::{check_name, User, Users};
use crate::database::{Database, QueryError};
use crate::login::password::StoredHash;
use crate::login::totp::store::TotpState;

/// SQL for people (`service = false`) or service accounts.
struct Sql {
    find: &'static str,
    list: &'static str,
    insert: &'static str,
    upsert: &'static str,
    update: &'static str,
    set_hash: &'static str,
    replace_hash: &'static str,
    set_disabled: &'static str,
    remove: &'static str,
}

// `update` writes only the columns whose flag ($9 roles, $10 claims, $11 disabled, $12 id,
// $13 organisations, $14 units) is true: an update that read the row before a concurrent
// `users disable` must not write the old flag back.
// Parameters of insert, upsert and update: $1 name, $2 hash, $3 roles, $4 claims,
// $5 disabled, $6 id, $7 organisations, $8 units (a service account binds all eight and
// ignores $6 and $8, so one binding code serves both tables).
const PEOPLE: Sql = Sql {
    // With the account's TOTP state (one query per login, whatever the account).
    find: "SELECT users.name, password_hash, roles, claims, \
           CASE WHEN disabled THEN 1 ELSE 0 END, id, organisations, units, totp.secret, \
           totp.last_step FROM users LEFT JOIN totp ON totp.name = users.name \
           WHERE users.name = $1",
    list: "SELECT name, password_hash, roles, claims, CASE WHEN disabled THEN 1 ELSE 0 END, \
           id, organisations, units FROM users ORDER BY name",
    insert: "INSERT INTO users (name, password_hash, roles, claims, disabled, id, \
             organisations, units) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    upsert: "INSERT INTO users (name, password_hash, roles, claims, disabled, id, \
             organisations, units) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, \
             roles = excluded.roles, claims = excluded.claims, disabled = excluded.disabled, \
             id = excluded.id, organisations = excluded.organisations, units = excluded.units, \
             updated_at = CURRENT_TIMESTAMP",
    update: "UPDATE users SET roles = CASE WHEN $9 THEN $3 ELSE roles END, \
             claims = CASE WHEN $10 THEN $4 ELSE claims END, \
             disabled = CASE WHEN $11 THEN $5 ELSE disabled END, \
             id = CASE WHEN $12 THEN $6 ELSE id END, \
             organisations = CASE WHEN $13 THEN $7 ELSE organisations END, \
             units = CASE WHEN $14 THEN $8 ELSE units END, updated_at = CURRENT_TIMESTAMP \
             WHERE name = $1 AND password_hash = $2",
    set_hash: "UPDATE users SET password_hash = $2, updated_at = CURRENT_TIMESTAMP \
               WHERE name = $1",
    replace_hash: "UPDATE users SET password_hash = $2, updated_at = CURRENT_TIMESTAMP \
                   WHERE name = $1 AND password_hash = $3",
    set_disabled: "UPDATE users SET disabled = $2, updated_at = CURRENT_TIMESTAMP \
                   WHERE name = $1",
    remove: "DELETE FROM users WHERE name = $1",
};

const SERVICES: Sql = Sql {
    find: "SELECT identifier, pass_code_hash, roles, claims, \
           CASE WHEN disabled THEN 1 ELSE 0 END, NULL, organisations, '[]', NULL, \
           CAST(NULL AS BIGINT) FROM service_accounts WHERE identifier = $1",
    list: "SELECT identifier, pass_code_hash, roles, claims, \
           CASE WHEN disabled THEN 1 ELSE 0 END, NULL, organisations, '[]' \
           FROM service_accounts ORDER BY identifier",
    insert: "INSERT INTO service_accounts (identifier, pass_code_hash, roles, claims, disabled, \
             organisations) VALUES ($1, $2, $3, $4, $5, $7)",
    upsert: "INSERT INTO service_accounts (identifier, pass_code_hash, roles, claims, disabled, \
             organisations) VALUES ($1, $2, $3, $4, $5, $7) \
             ON CONFLICT (identifier) DO UPDATE SET pass_code_hash = excluded.pass_code_hash, \
             roles = excluded.roles, claims = excluded.claims, disabled = excluded.disabled, \
             organisations = excluded.organisations, updated_at = CURRENT_TIMESTAMP",
    update: "UPDATE service_accounts SET roles = CASE WHEN $9 THEN $3 ELSE roles END, \
             claims = CASE WHEN $10 THEN $4 ELSE claims END, \
             disabled = CASE WHEN $11 THEN $5 ELSE disabled END, \
             organisations = CASE WHEN $13 THEN $7 ELSE organisations END, \
             updated_at = CURRENT_TIMESTAMP \
             WHERE identifier = $1 AND pass_code_hash = $2",
    set_hash: "UPDATE service_accounts SET pass_code_hash = $2, \
               updated_at = CURRENT_TIMESTAMP WHERE identifier = $1",
    replace_hash: "UPDATE service_accounts SET pass_code_hash = $2, \
                   updated_at = CURRENT_TIMESTAMP WHERE identifier = $1 AND pass_code_hash = $3",
    set_disabled: "UPDATE service_accounts SET disabled = $2, updated_at = CURRENT_TIMESTAMP \
                   WHERE identifier = $1",
    remove: "DELETE FROM service_accounts WHERE identifier = $1",
};

fn sql(service: bool) -> &'static Sql {
    if service {
        &SERVICES
    } else {
        &PEOPLE
    }
}

/// "user NAME" or "service account NAME", for messages.
pub fn describe(service: bool, name: &str) -> String {
    if service {
        format!("service account {name:?}")
    } else {
        format!("user {name:?}")
    }
}

/// Why an import did not happen (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An account of the file exists already and `--replace` was not given.
    #[error(
        "{0} exists already; nothing was imported (use --replace to overwrite existing accounts)"
    )]
    Exists(String),
    /// The file holds authentication codes, which this store has no column for yet:
    /// importing would drop them silently.
    #[error(
        "{0} has an authentication_code_hash, which the database store cannot hold yet; \
         nothing was imported (keep users.store = \"file\" for authentication codes)"
    )]
    AuthenticationCode(String),
    /// The database failed.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// The SQL user store; cheap to clone.
#[derive(Clone, Debug)]
pub struct UserDb {
    db: Database,
}

/// The columns an update changes; the others keep what the row holds when it is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Columns {
    /// `roles`.
    pub roles: bool,
    /// `claims`.
    pub claims: bool,
    /// `disabled`.
    pub disabled: bool,
    /// `id` (people only).
    pub id: bool,
    /// `organisations`.
    pub organisations: bool,
    /// `units` (people only).
    pub units: bool,
}

/// One row as a checked account (the same checks as the users file, so a row written by
/// hand that the file would refuse is refused here too, naming the account).
fn account(row: &AnyRow, service: bool) -> Result<User, sqlx::Error> {
    let text = |i: usize| row.try_get::<String, _>(i);
    let name = text(0)?;
    let bad =
        |what: String| sqlx::Error::Decode(format!("{}: {what}", describe(service, &name)).into());
    let json_list = |i: usize, column: &str| -> Result<Vec<String>, sqlx::Error> {
        serde_json::from_str(&text(i)?)
            .map_err(|e| bad(format!("{column} is not a JSON array of strings ({e})")))
    };
    let hash_column = if service {
        "pass_code_hash"
    } else {
        "password_hash"
    };
    let hash = StoredHash::parse(&text(1)?).map_err(|e| bad(format!("{hash_column} is {e}")))?;
    let claims = serde_json::from_str(&text(3)?)
        .map_err(|e| bad(format!("claims is not a JSON object ({e})")))?;
    check_name(&name).map_err(|e| bad(e.to_owned()))?;
    Ok(User {
        hash: std::sync::Arc::new(hash),
        roles: json_list(2, "roles")?,
        claims,
        disabled: row.try_get::<i64, _>(4)? != 0,
        id: row.try_get::<Option<String>, _>(5)?,
        organisations: json_list(6, "organisations")?,
        units: json_list(7, "units")?,
        service,
        name,
        // Not kept in the database yet: authentication codes come from the users file only.
        authentication_code: None,
        // `find` reads it (the column is absent from listings).
        totp: match row.columns().len() > 8 {
            false => None,
            true => match (
                row.try_get::<Option<String>, _>(8)?,
                row.try_get::<Option<i64>, _>(9)?,
            ) {
                (Some(sealed), Some(last_step)) => Some(TotpState { sealed, last_step }),
                _ => None,
            },
        },
    })
}

/// Bind the eight parameters of insert, upsert and update.
fn bind_all<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    user: &User,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let json = |v: &Vec<String>| serde_json::Value::from(v.clone()).to_string();
    query
        .bind(user.name.clone())
        .bind(user.hash.phc().to_owned())
        .bind(json(&user.roles))
        .bind(serde_json::Value::Object(user.claims.clone()).to_string())
        .bind(user.disabled)
        .bind(user.id.clone())
        .bind(json(&user.organisations))
        .bind(json(&user.units))
}

async fn find(pool: &AnyPool, service: bool, name: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(sql(service).find)
        .bind(name.to_owned())
        .fetch_optional(pool)
        .await?
        .map(|row| account(&row, service))
        .transpose()
}

impl UserDb {
    /// The user store of `db` (whose schema is prepared).
    pub fn new(db: Database) -> UserDb {
        UserDb { db }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The account called `name` (exact match), read now: what a login checks.
    pub async fn find(&self, service: bool, name: &str) -> Result<Option<User>, QueryError> {
        let name = name.to_owned();
        self.db
            .run(move |pool| async move { find(&pool, service, &name).await })
            .await
    }

    /// Store `new` as the account's hash only if the row still holds `old` (compare and swap,
    /// so a rehash racing `users passwd` never brings back the old password). True when
    /// stored.
    pub async fn replace_hash(
        &self,
        service: bool,
        name: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, QueryError> {
        let (name, old, new) = (name.to_owned(), old.to_owned(), new.to_owned());
        self.db
            .run(move |pool| async move {
                let done = sqlx::query(sql(service).replace_hash)
                    .bind(name)
                    .bind(new)
                    .bind(old)
                    .execute(&pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            })
            .await
    }

    /// The account, for the CLI.
    pub fn get(&self, service: bool, name: &str) -> Result<Option<User>, QueryError> {
        let name = name.to_owned();
        self.db
            .run_blocking(move |pool| async move { find(&pool, service, &name).await })
    }

    /// Add a new account; [`QueryError::Conflict`] when the name (or id) exists.
    pub fn add(&self, user: &User) -> Result<(), QueryError> {
        let user = user.clone();
        self.db.run_blocking(move |pool| async move {
            bind_all(sqlx::query(sql(user.service).insert), &user)
                .execute(&pool)
                .await
                .map(|_| ())
        })
    }

    /// Write the `changed` columns of `user` (roles, claims, disabled flag, id, organisations,
    /// units), if the row still has the hash `user` was read with (a concurrent `passwd`
    /// makes this false, and the caller reads again). The other columns are left as the row
    /// has them, so a `users disable` between the caller's read and this write stands. False
    /// also when the account is gone.
    pub fn update(&self, user: &User, changed: Columns) -> Result<bool, QueryError> {
        let user = user.clone();
        self.db.run_blocking(move |pool| async move {
            let done = bind_all(sqlx::query(sql(user.service).update), &user)
                .bind(changed.roles)
                .bind(changed.claims)
                .bind(changed.disabled)
                .bind(changed.id)
                .bind(changed.organisations)
                .bind(changed.units)
                .execute(&pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Set a new hash (`users passwd`); false when there is no such account.
    pub fn set_hash(&self, service: bool, name: &str, phc: &str) -> Result<bool, QueryError> {
        let (name, phc) = (name.to_owned(), phc.to_owned());
        self.db.run_blocking(move |pool| async move {
            let done = sqlx::query(sql(service).set_hash)
                .bind(name)
                .bind(phc)
                .execute(&pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Disable or enable; false when there is no such account.
    pub fn set_disabled(
        &self,
        service: bool,
        name: &str,
        disabled: bool,
    ) -> Result<bool, QueryError> {
        let name = name.to_owned();
        self.db.run_blocking(move |pool| async move {
            let done = sqlx::query(sql(service).set_disabled)
                .bind(name)
                .bind(disabled)
                .execute(&pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Delete; false when there is no such account. A person's TOTP goes in the same
    /// transaction (explicitly, not only by the foreign key's cascade, which a SQLite
    /// connection without `foreign_keys` would skip): a new account of the same name must
    /// not inherit it.
    pub fn remove(&self, service: bool, name: &str) -> Result<bool, QueryError> {
        let name = name.to_owned();
        self.db.run_blocking(move |pool| async move {
            let mut tx = pool.begin().await?;
            if !service {
                for query in [
                    "DELETE FROM totp_recovery_codes WHERE name = $1",
                    "DELETE FROM totp WHERE name = $1",
                ] {
                    sqlx::query(query)
                        .bind(name.clone())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let done = sqlx::query(sql(service).remove)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Every account, people first, each sorted by name.
    pub fn list(&self) -> Result<Vec<User>, QueryError> {
        self.db.run_blocking(move |pool| async move {
            let mut out = Vec::new();
            for service in [false, true] {
                for row in sqlx::query(sql(service).list).fetch_all(&pool).await? {
                    out.push(account(&row, service)?);
                }
            }
            Ok(out)
        })
    }

    /// Write every account of `users` in one transaction. Without `replace`, an account that
    /// exists already fails the whole import and nothing is written; with it, existing
    /// accounts are overwritten. Returns the number of accounts written.
    pub fn import(&self, users: &Users, replace: bool) -> Result<usize, ImportError> {
        if let Some(coded) = users.with_authentication_code().first() {
            return Err(ImportError::AuthenticationCode(describe(true, &coded.name)));
        }
        let accounts: Vec<User> = users.accounts().into_iter().cloned().collect();
        let count = accounts.len();
        let outcome = self.db.run_blocking(move |pool| async move {
            let mut tx = pool.begin().await?;
            for user in &accounts {
                let query = if replace {
                    sql(user.service).upsert
                } else {
                    sql(user.service).insert
                };
                if let Err(e) = bind_all(sqlx::query(query), user).execute(&mut *tx).await {
                    let duplicate = e
                        .as_database_error()
                        .is_some_and(|d| d.is_unique_violation());
                    // The transaction is rolled back when dropped.
                    return if duplicate {
                        Ok(Err(describe(user.service, &user.name)))
                    } else {
                        Err(e)
                    };
                }
            }
            tx.commit().await?;
            Ok(Ok(()))
        })?;
        outcome.map_err(ImportError::Exists)?;
        Ok(count)
    }
}
