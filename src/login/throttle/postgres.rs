//! The PostgreSQL kind of the database store: each call one statement, a PL/pgSQL function
//! of the migrations (`throttle_begin`, `throttle_settle`, `throttle_sweep`) that locks and
//! counts in the database.

use sqlx::{AnyPool, Row};

use super::entries::Outcome;
use super::sql::{Core, Key, Verdict};

/// At most this many expired rows per table and sweep call.
const SWEEP_BATCH: i32 = 1000;

impl Core {
    /// PostgreSQL: [`Core::begin`], in `throttle_begin`.
    pub(super) async fn postgres_begin(
        &self,
        pool: &AnyPool,
        key: &Key,
        entry: i64,
        now: i64,
    ) -> sqlx::Result<Verdict> {
        let l = &self.limits;
        let row = sqlx::query(
            "SELECT allowed, pair_locked, pair_oldest, ip_locked, ip_oldest, evicted \
             FROM throttle_begin($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&key.name)
        .bind(&key.net)
        .bind(entry)
        .bind(now)
        .bind(l.cutoff(now))
        .bind(l.hold_ms)
        .bind(l.pair_limit)
        .bind(l.ip_limit)
        .bind(l.max_entries)
        .fetch_one(pool)
        .await?;
        Ok(Verdict {
            allowed: row.try_get(0)?,
            pair_locked: row.try_get(1)?,
            pair_oldest: row.try_get(2)?,
            ip_locked: row.try_get(3)?,
            ip_oldest: row.try_get(4)?,
            evicted: row.try_get(5)?,
        })
    }

    /// PostgreSQL: [`Core::settle`], in `throttle_settle`.
    pub(super) async fn postgres_settle(
        &self,
        pool: &AnyPool,
        key: &Key,
        entry: i64,
        outcome: Outcome,
        now: i64,
    ) -> sqlx::Result<i64> {
        let l = &self.limits;
        sqlx::query_scalar("SELECT throttle_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(&key.name)
            .bind(&key.net)
            .bind(entry)
            .bind(outcome as i32)
            .bind(now)
            .bind(l.cutoff(now))
            .bind(l.hold_ms)
            .bind(l.pair_limit)
            .bind(l.ip_limit)
            .bind(l.max_entries)
            .fetch_one(pool)
            .await
    }

    /// PostgreSQL: [`Core::sweep`], in batches of `throttle_sweep`.
    pub(super) async fn postgres_sweep(&self, pool: &AnyPool, now: i64) -> sqlx::Result<u64> {
        let cutoff = self.limits.cutoff(now);
        let mut total = 0;
        loop {
            let n: i64 = sqlx::query_scalar("SELECT throttle_sweep($1, $2, $3)")
                .bind(now)
                .bind(cutoff)
                .bind(SWEEP_BATCH)
                .fetch_one(pool)
                .await?;
            total += u64::try_from(n).unwrap_or(0);
            if n < i64::from(SWEEP_BATCH) {
                return Ok(total);
            }
        }
    }
}
