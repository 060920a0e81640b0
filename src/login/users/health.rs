//! Whether the database user store is known to be down, so that logins fail fast.
//!
//! Without it, every login during an outage waited for a pooled connection until
//! `database.connect_timeout` before its 503 (measured: p50 186 ms, p99 2 s with PostgreSQL
//! stopped), so clients and proxies queued up behind the outage. The first lookup that finds
//! the database unreachable marks it down; until a probe (`SELECT 1` every
//! [`PROBE_EVERY`]) gets an answer, logins answer 503 with `Retry-After` at once, without
//! touching the pool. The probe's first answer brings the store back: nothing to restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::IntGauge;

use crate::database::Database;

/// How often a store found down is asked again: a short outage heals within about this much
/// of the database's return (a probe that hangs is bounded by `database.connect_timeout`).
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Up or down, for the login path; shared by every reload of the users (the process's own).
#[derive(Debug)]
pub struct StoreHealth {
    down: AtomicBool,
    probing: AtomicBool,
    /// `watchword_user_store_up`.
    up: IntGauge,
}

impl StoreHealth {
    /// A store taken to be up, reporting through `up`.
    pub fn new(up: IntGauge) -> StoreHealth {
        StoreHealth {
            down: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            up,
        }
    }

    /// Known down: a probe has not reached it since a lookup failed to.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// The store answered a lookup.
    pub fn answered(&self) {
        self.up.set(1);
    }

    /// The directory could not answer a login: `watchword_user_store_up` 0 until one does.
    /// No probe and no fast 503: each login asks it again, so its return is seen at once,
    /// and an unreachable directory fails fast by itself (connection refused) or within
    /// `ldap.timeout`.
    pub fn directory_unavailable(&self) {
        self.up.set(0);
    }

    /// A lookup could not reach `db`: mark the store down and probe it until it answers.
    pub fn unreachable(self: &Arc<Self>, db: &Database) {
        self.up.set(0);
        self.down.store(true, Ordering::Release);
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let health = Arc::downgrade(self);
        let db = db.clone();
        let spawned = std::thread::Builder::new()
            .name("watchword-users-probe".into())
            .spawn(move || loop {
                std::thread::sleep(PROBE_EVERY);
                // Gone with the process's state: nobody is waiting for the answer.
                let Some(health) = health.upgrade() else {
                    return;
                };
                let answered = db
                    .run_blocking(|pool| async move {
                        sqlx::query("SELECT 1").execute(&pool).await.map(|_| ())
                    })
                    .is_ok();
                if answered {
                    health.probing.store(false, Ordering::Release);
                    health.up.set(1);
                    health.down.store(false, Ordering::Release);
                    log::info!(
                        "user store: the {} database answers again; logins are checked again",
                        db.kind().name()
                    );
                    return;
                }
            });
        if let Err(e) = spawned {
            // No probe: let the next lookup try the database itself.
            self.probing.store(false, Ordering::Release);
            self.down.store(false, Ordering::Release);
            log::error!("user store: cannot start the thread that asks the database again: {e}");
        }
    }
}
