//! Revoked access tokens (the `revocations` table of migration 0004) and the list this
//! process publishes at `/.well-known/revocations` and checks in `/verify`.
//!
//! Every process reads the table again at most `sessions.revocation_poll` after its last read,
//! so a revocation made on any replica (or by `watchword users logout`) is refused everywhere
//! within that interval; a revocation made here is seen here at once. The decision itself is
//! [`RevocationList::is_revoked`], the same function sibling services run.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::{AnyPool, Row};
use watchword_verify::RevocationList;

use super::clock::now_ms;
use super::store::SessionStore;
use crate::database::{Database, QueryError};
use crate::token::settings::TokenSettings;

/// The list as last read, serialized once: its JSON, its `ETag`.
#[derive(Debug)]
pub struct Published {
    /// What is revoked.
    pub list: Arc<RevocationList>,
    /// `/.well-known/revocations`'s body.
    pub body: String,
    /// A strong `ETag` of the body.
    pub etag: String,
}

impl Published {
    fn of(list: RevocationList) -> Published {
        let body = list.to_json();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
        let hex: String = digest.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Published {
            list: Arc::new(list),
            body,
            etag: format!("\"{hex}\""),
        }
    }
}

/// The revocation list of this process, read from the database.
#[derive(Debug)]
pub struct Revocations {
    db: Database,
    poll: Duration,
    lifetime: Duration,
    current: RwLock<(Arc<Published>, Option<Instant>)>,
    reloading: tokio::sync::Mutex<()>,
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Insert or widen an entry, and drop the entries that can no longer matter.
async fn upsert(
    pool: AnyPool,
    kind: &'static str,
    value: String,
    not_before: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    let now = now_secs();
    sqlx::query(
        "INSERT INTO revocations (kind, value, not_before, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (kind, value) DO UPDATE SET \
         not_before = CASE WHEN excluded.not_before > revocations.not_before \
                      THEN excluded.not_before ELSE revocations.not_before END, \
         expires_at = CASE WHEN excluded.expires_at > revocations.expires_at \
                      THEN excluded.expires_at ELSE revocations.expires_at END",
    )
    .bind(kind)
    .bind(value)
    .bind(not_before)
    .bind(expires_at)
    .execute(&pool)
    .await?;
    sqlx::query("DELETE FROM revocations WHERE expires_at <= $1")
        .bind(now)
        .execute(&pool)
        .await?;
    Ok(())
}

/// How long a subject's revocation must be kept: the longest an access token lives (people's
/// and service accounts'), plus the most leeway a verifier may allow for clock skew.
pub fn subject_lifetime(token: &TokenSettings) -> Duration {
    token.ttl.max(token.service_ttl) + watchword_verify::MAX_LEEWAY
}

/// Revoke every token of `sub` issued up to now, for `lifetime` (the longest an access token
/// lives, plus verifiers' leeway): from the CLI (`users logout`, `passwd`, `disable`,
/// `remove`) and the server alike.
pub async fn revoke_subject(
    db: &Database,
    sub: &str,
    lifetime: Duration,
) -> Result<(), QueryError> {
    let now = now_secs();
    let until = now + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let sub = sub.to_owned();
    db.run(move |pool| upsert(pool, "subject", sub, now, until))
        .await
}

/// [`revoke_subject`] for synchronous callers (the CLI).
pub fn revoke_subject_blocking(
    db: &Database,
    sub: &str,
    lifetime: Duration,
) -> Result<(), QueryError> {
    let now = now_secs();
    let until = now + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let sub = sub.to_owned();
    db.run_blocking(move |pool| upsert(pool, "subject", sub, now, until))
}

/// End everything an account holds, from the CLI (`users logout`, and `passwd`, `disable`,
/// `remove`): its sessions (their refresh tokens are refused from now on) and every access
/// token of its `sub` issued up to this second (refused by `/verify` and polling verifiers
/// within `sessions.revocation_poll`). How many sessions were live.
pub fn end_account_blocking(
    db: &Database,
    service: bool,
    name: &str,
    reason: &str,
    lifetime: Duration,
) -> Result<u64, QueryError> {
    let ended =
        SessionStore::new(db.clone()).revoke_account_blocking(service, name, reason, now_ms())?;
    revoke_subject_blocking(db, name, lifetime)?;
    Ok(ended)
}

impl Revocations {
    /// The list of `db`, read again at most `poll` after the last read; a subject is revoked
    /// for `lifetime` ([`subject_lifetime`]).
    pub fn new(db: Database, poll: Duration, lifetime: Duration) -> Revocations {
        Revocations {
            db,
            poll,
            lifetime,
            current: RwLock::new((Arc::new(Published::of(RevocationList::new())), None)),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// `sessions.revocation_poll`.
    pub fn poll(&self) -> Duration {
        self.poll
    }

    /// The list, read again first when older than the poll interval. One caller reads while
    /// the others go on with the list they have; a database that cannot be read leaves the
    /// last list in place (logged) until the next interval.
    pub async fn current(&self) -> Arc<Published> {
        let (published, read_at) = {
            let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
            (Arc::clone(&guard.0), guard.1)
        };
        if read_at.is_some_and(|t| t.elapsed() < self.poll) {
            return published;
        }
        let Ok(_only_one) = self.reloading.try_lock() else {
            return published;
        };
        if let Err(e) = self.reload().await {
            log::warn!("revocation list: {e}; keeping the last one");
            let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
            guard.1 = Some(Instant::now());
        }
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()).0)
    }

    /// Read the table now.
    pub async fn reload(&self) -> Result<(), QueryError> {
        let now = now_secs();
        let rows = self
            .db
            .run(move |pool| async move {
                let rows = sqlx::query(
                    "SELECT kind, value, not_before, expires_at FROM revocations \
                     WHERE expires_at > $1",
                )
                .bind(now)
                .fetch_all(&pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get::<String, _>(0)?,
                            r.try_get::<String, _>(1)?,
                            r.try_get::<i64, _>(2)?,
                            r.try_get::<i64, _>(3)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
            .await?;
        let mut list = RevocationList::new();
        for (kind, value, not_before, expires_at) in rows {
            match kind.as_str() {
                "token" => list.revoke_token(value, expires_at),
                _ => list.revoke_subject(value, not_before),
            }
        }
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        *guard = (Arc::new(Published::of(list)), Some(Instant::now()));
        Ok(())
    }

    /// Revoke the access token `jti` until its `exp`, and read the list again so that this
    /// process refuses it at once.
    pub async fn revoke_token(&self, jti: &str, exp: i64) -> Result<(), QueryError> {
        let jti = jti.to_owned();
        self.db
            .run(move |pool| upsert(pool, "token", jti, 0, exp))
            .await?;
        self.reload().await
    }

    /// [`revoke_subject`], then read the list again.
    pub async fn revoke_subject(&self, sub: &str) -> Result<(), QueryError> {
        revoke_subject(&self.db, sub, self.lifetime).await?;
        self.reload().await
    }
}
