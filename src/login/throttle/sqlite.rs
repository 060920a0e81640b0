//! The SQLite kind of the database store: the check and the reservation in one
//! `BEGIN IMMEDIATE` transaction under this process's writer lock, the entries decoded and
//! counted here ([`super::entries`]), and the room made when a table grows past its bound.
//!
//! Every path takes its two locks in one order: a pooled connection, then this process's
//! writer lock. (Taking them the other way round in some paths stalled the process for
//! `database.connect_timeout` once more logins were in flight than `database.pool_size`.)

use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Row};

use super::entries::{self, Outcome};
use super::sql::{Core, Key, Verdict};

/// SQLite: both counters of a key, NULL where a row is missing.
const SQLITE_READ: &str =
    "SELECT (SELECT entries FROM throttle_pairs WHERE name = $1 AND net = $2), \
                                  (SELECT entries FROM throttle_ips WHERE net = $2)";
/// SQLite: the same, as the first statement of a write transaction. Counters are not worth
/// an fsync per commit (SQLite's default, FULL, costs milliseconds on many disks and would
/// serialise logins behind it): in WAL mode NORMAL loses at most the last commits on a power
/// loss, never the file. The setting belongs to the connection, which the user store shares,
/// so it goes back to FULL with the commit or rollback.
const SQLITE_BEGIN_READ: &str = "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE; \
    SELECT (SELECT entries FROM throttle_pairs WHERE name = $1 AND net = $2), \
           (SELECT entries FROM throttle_ips WHERE net = $2)";
/// SQLite: the end of a write transaction, the connection as it was before.
const SQLITE_COMMIT: &str = "COMMIT; PRAGMA synchronous = FULL;";
const SQLITE_ROLLBACK: &str = "ROLLBACK; PRAGMA synchronous = FULL;";
const PAIR_UPSERT: &str = "INSERT INTO throttle_pairs (name, net, entries, newest, held_until) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name, net) DO UPDATE SET entries = excluded.entries, \
    newest = excluded.newest, held_until = excluded.held_until;";
const PAIR_GREW: &str = "UPDATE throttle_sizes SET n = n + 1 WHERE tbl = 'pairs' RETURNING n;";
const IP_UPSERT: &str = "INSERT INTO throttle_ips (net, entries, newest, held_until) \
    VALUES ($2, $6, $7, $8) ON CONFLICT (net) DO UPDATE SET entries = excluded.entries, \
    newest = excluded.newest, held_until = excluded.held_until;";
const IP_GREW: &str = "UPDATE throttle_sizes SET n = n + 1 WHERE tbl = 'ips' RETURNING n;";

/// A counter as read (`None`: its table is off), what it becomes, and whether its row is new.
type Side = Option<(Vec<i64>, bool)>;

/// The two tables by name, as the SQL of the size rows names them.
const TABLES: [(&str, &str); 2] = [("pairs", "throttle_pairs"), ("ips", "throttle_ips")];

impl Core {
    /// SQLite: [`Core::begin`], read first and written only when allowed.
    pub(super) async fn sqlite_begin(
        &self,
        pool: &AnyPool,
        key: &Key,
        entry: i64,
        now: i64,
    ) -> sqlx::Result<Verdict> {
        // A refusal needs no write lock: a counter at its limit in a snapshot is a
        // moment the attempt may be refused at.
        let mut conn = pool.acquire().await?;
        let row = sqlx::query(SQLITE_READ)
            .bind(&key.name)
            .bind(&key.net)
            .fetch_one(&mut *conn)
            .await?;
        let (verdict, _, _) = self.sqlite_verdict(&row, now)?;
        if !verdict.allowed {
            return Ok(verdict);
        }
        let add = |side: Side| {
            side.map(|(mut e, new)| {
                e.push(entry);
                (e, new)
            })
        };
        // The same connection writes: one fewer trip to the pool.
        let (verdict, over) = self
            .sqlite_write(conn, key, |row| {
                let (v, pair, ip) = self.sqlite_verdict(row, now)?;
                Ok(if v.allowed {
                    (v, Some((add(pair), add(ip))))
                } else {
                    (v, None)
                })
            })
            .await?;
        let evicted = self.make_room_after_commit(pool, over, now).await;
        Ok(Verdict { evicted, ..verdict })
    }

    /// SQLite: [`Core::settle`].
    pub(super) async fn sqlite_settle(
        &self,
        pool: &AnyPool,
        key: &Key,
        entry: i64,
        outcome: Outcome,
        now: i64,
    ) -> sqlx::Result<i64> {
        let l = &self.limits;
        let cutoff = l.cutoff(now);
        let side = |row: &AnyRow, i: usize, limit: i32, outcome: Outcome| -> sqlx::Result<Side> {
            if limit <= 0 {
                return Ok(None);
            }
            let stored: Option<Vec<u8>> = row.try_get(i)?;
            // A failure is never lost, even when its row went meanwhile.
            if stored.is_none() && outcome != Outcome::Failure {
                return Ok(None);
            }
            let new = stored.is_none();
            let e = entries::settled(
                &entries::decode(&stored.unwrap_or_default()),
                entry,
                outcome,
                now,
                cutoff,
                l.hold_ms,
                limit.unsigned_abs(),
            );
            Ok(Some((e, new)))
        };
        let ip_outcome = match outcome {
            Outcome::Success => Outcome::Release,
            other => other,
        };
        let (_, over) = self
            .sqlite_write(pool.acquire().await?, key, |row| {
                let pair = side(row, 0, l.pair_limit, outcome)?;
                let ip = side(row, 1, l.ip_limit, ip_outcome)?;
                Ok((ALLOWED, Some((pair, ip))))
            })
            .await?;
        Ok(self.make_room_after_commit(pool, over, now).await)
    }

    /// [`Core::sqlite_make_room`] after a reservation or settlement was committed: an error
    /// is logged, never returned, since the caller would take the committed write as lost
    /// (a reservation nobody settles, a failure settled twice). The next commit that finds
    /// the table over `max_entries` makes room instead.
    async fn make_room_after_commit(&self, pool: &AnyPool, over: [bool; 2], now: i64) -> i64 {
        match self.sqlite_make_room(pool, over, now).await {
            Ok(evicted) => evicted,
            Err(e) => {
                log::warn!("login throttle: making room in a full SQLite table failed: {e}");
                0
            }
        }
    }

    /// SQLite: [`Core::sweep`], a transaction per table.
    pub(super) async fn sqlite_sweep(&self, pool: &AnyPool, now: i64) -> sqlx::Result<u64> {
        let cutoff = self.limits.cutoff(now);
        let mut total = 0;
        for (tbl, table) in TABLES {
            // The lock order of every SQLite path: a pooled connection, then the writer lock
            // (see `sqlite_make_room`).
            let mut conn = pool.acquire().await?;
            let _writer = self.writer.lock().await;
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
            let delete = format!("DELETE FROM {table} WHERE newest <= $1 AND held_until <= $2");
            let gone = sqlx::query(&delete)
                .bind(cutoff)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE throttle_sizes SET n = n - $1 WHERE tbl = $2")
                .bind(i64::try_from(gone).unwrap_or(i64::MAX))
                .bind(tbl)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            total += gone;
        }
        Ok(total)
    }

    /// SQLite: the verdict on both counters as `row` holds them, and the live entries.
    fn sqlite_verdict(&self, row: &AnyRow, now: i64) -> sqlx::Result<(Verdict, Side, Side)> {
        let l = &self.limits;
        let cutoff = l.cutoff(now);
        let side = |i: usize, limit: i32| -> sqlx::Result<(Side, bool, Option<i64>)> {
            if limit <= 0 {
                return Ok((None, false, None));
            }
            let stored: Option<Vec<u8>> = row.try_get(i)?;
            let new = stored.is_none();
            let e = entries::live(
                &entries::decode(&stored.unwrap_or_default()),
                now,
                cutoff,
                l.hold_ms,
            );
            let locked = e.len() >= limit.unsigned_abs() as usize;
            let oldest = if locked {
                entries::oldest_failure(&e, now, l.hold_ms)
            } else {
                None
            };
            Ok((Some((e, new)), locked, oldest))
        };
        let (pair, pair_locked, pair_oldest) = side(0, l.pair_limit)?;
        let (ip, ip_locked, ip_oldest) = side(1, l.ip_limit)?;
        let verdict = Verdict {
            allowed: !(pair_locked || ip_locked),
            pair_locked,
            pair_oldest,
            ip_locked,
            ip_oldest,
            evicted: 0,
        };
        Ok((verdict, pair, ip))
    }

    /// SQLite, under this process's writer lock and SQLite's (`BEGIN IMMEDIATE`): read both
    /// counters, let `decide` say what they become (`None`: nothing), write that and commit
    /// in one more call to the connection. Returns the verdict and which tables grew past
    /// `max_entries`.
    async fn sqlite_write<F>(
        &self,
        mut conn: PoolConnection<Any>,
        key: &Key,
        decide: F,
    ) -> sqlx::Result<(Verdict, [bool; 2])>
    where
        F: FnOnce(&AnyRow) -> sqlx::Result<(Verdict, Option<(Side, Side)>)>,
    {
        let l = &self.limits;
        let _writer = self.writer.lock().await;
        // fetch_all: the Any driver's fetch_one would look at BEGIN's (empty) result only.
        let begun = sqlx::query(SQLITE_BEGIN_READ)
            .bind(&key.name)
            .bind(&key.net)
            .fetch_all(&mut *conn)
            .await;
        let done = async {
            let row = begun?.into_iter().next().ok_or(sqlx::Error::RowNotFound)?;
            let (verdict, plan) = decide(&row)?;
            let Some((pair, ip)) = plan else {
                sqlx::query(SQLITE_ROLLBACK).execute(&mut *conn).await?;
                return Ok((verdict, [false; 2]));
            };
            let mut sql = String::new();
            let mut grows = Vec::new();
            let mut binds: Vec<(Vec<u8>, i64, i64)> = Vec::new();
            for (t, (side, upsert, grew)) in
                [(&pair, PAIR_UPSERT, PAIR_GREW), (&ip, IP_UPSERT, IP_GREW)]
                    .into_iter()
                    .enumerate()
            {
                // A counter left empty keeps its row (newest 0: expired, the first to go when
                // the table is full, deleted by the next sweep), so the next login of the same
                // name and address updates it instead of inserting and deleting a row again.
                match side {
                    Some((e, new)) if !(e.is_empty() && *new) => {
                        sql.push_str(upsert);
                        if *new {
                            sql.push_str(grew);
                            grows.push(t);
                        }
                        binds.push((
                            entries::encode(e),
                            entries::newest(e),
                            entries::held_until(e, l.hold_ms),
                        ));
                    }
                    _ => binds.push((Vec::new(), 0, 0)),
                }
            }
            sql.push_str(SQLITE_COMMIT);
            let [(pe, pn, ph), (ie, inn, ih)]: [(Vec<u8>, i64, i64); 2] = binds
                .try_into()
                .map_err(|_| sqlx::Error::Protocol("two tables".into()))?;
            let rows = sqlx::query(&sql)
                .bind(&key.name)
                .bind(&key.net)
                .bind(pe)
                .bind(pn)
                .bind(ph)
                .bind(ie)
                .bind(inn)
                .bind(ih)
                .fetch_all(&mut *conn)
                .await?;
            let mut over = [false; 2];
            for (row, t) in rows.iter().zip(grows) {
                let n: i64 = row.try_get(0)?;
                over[t] = n > l.max_entries;
            }
            Ok((verdict, over))
        }
        .await;
        if done.is_err()
            && sqlx::query(SQLITE_ROLLBACK)
                .execute(&mut *conn)
                .await
                .is_err()
        {
            // The connection's state is unknown: it does not go back to the pool.
            let _ = conn.detach();
        }
        done
    }

    /// SQLite, after a commit that took a table past `max_entries`: drop its expired rows,
    /// then the stalest unheld ones down to 7/8 of it. Returns how many rows with failures
    /// still in the window went.
    async fn sqlite_make_room(
        &self,
        pool: &AnyPool,
        over: [bool; 2],
        now: i64,
    ) -> sqlx::Result<i64> {
        let l = &self.limits;
        let cutoff = l.cutoff(now);
        let mut evicted = 0;
        for ((tbl, table), over) in TABLES.into_iter().zip(over) {
            if !over {
                continue;
            }
            // A connection first, then the writer lock, as every SQLite path takes them: the
            // other order (the writer lock, then waiting for a connection held by a login
            // that waits for the writer lock) stalled the process for connect_timeout once
            // more logins were in flight than database.pool_size.
            let mut conn = pool.acquire().await?;
            let _writer = self.writer.lock().await;
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
            let n: i64 = sqlx::query_scalar("SELECT n FROM throttle_sizes WHERE tbl = $1")
                .bind(tbl)
                .fetch_one(&mut *tx)
                .await?;
            // Another commit of this process may have made room already.
            if n > l.max_entries {
                let expired =
                    format!("DELETE FROM {table} WHERE newest <= $1 AND held_until <= $2");
                sqlx::query(&expired)
                    .bind(cutoff)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let count = format!("SELECT COUNT(*) FROM {table}");
                let n: i64 = sqlx::query_scalar(&count).fetch_one(&mut *tx).await?;
                let mut gone = 0;
                if n > l.target() {
                    let stalest = format!(
                        "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} \
                         WHERE held_until <= $1 ORDER BY newest LIMIT $2)"
                    );
                    gone = sqlx::query(&stalest)
                        .bind(now)
                        .bind(n - l.target())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                let gone = i64::try_from(gone).unwrap_or(i64::MAX);
                sqlx::query("UPDATE throttle_sizes SET n = $1 WHERE tbl = $2")
                    .bind(n - gone)
                    .bind(tbl)
                    .execute(&mut *tx)
                    .await?;
                evicted += gone;
            }
            tx.commit().await?;
        }
        Ok(evicted)
    }
}

/// The verdict of a settlement, which is never refused.
const ALLOWED: Verdict = Verdict {
    allowed: true,
    pair_locked: false,
    pair_oldest: None,
    ip_locked: false,
    ip_oldest: None,
    evicted: 0,
};
