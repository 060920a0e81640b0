//! The bounded pool that verifies passwords off the async workers.
//!
//! A login costs one argon2 verification by design (~20 ms and 19 MiB at the OWASP
//! parameters). Running that on actix's workers would stall every other request, and an
//! unbounded blocking pool lets memory grow with the number of waiting logins. So the pool
//! has a fixed number of threads, each reusing its own argon2 memory, and a bounded queue:
//! when the queue is full a login is turned away at once ([`PoolError::Busy`] → 503). The
//! threads run below request handling ([`Scheduling`]), so cheap requests keep their latency
//! while logins saturate every core.
//!
//! A check whose client has gone while it waited ([`Abandoned`]) is answered without hashing
//! when a thread picks it up, so clients that send a guess and hang up cannot keep the threads
//! busy for nobody; the caller counts such a check as a failed login.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

use super::password::{hash_password_with, normalize, HashMemory, StoredHash};

/// How the hashing threads give way to request handling (`password.scheduling`). Either way
/// they take every cycle the request threads leave idle, so login throughput stays at the
/// argon2 limit; what differs is how fast a cheap request gets a core back from a hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scheduling {
    /// `SCHED_IDLE` (Linux): any runnable normal thread preempts a hashing thread at once, so
    /// a `/verify` never waits behind a hashing slice. The other side: hashing gets only what
    /// normal threads leave, so a flood that keeps every core busy with cheap requests (or
    /// another busy process on the same cores) halts logins until it stops — they wait in the
    /// bounded queue, and past it are shed with 503. Not the default: on a machine whose
    /// cores are shared (measured in BENCHMARKS.md) it costs logins more than it gives.
    Idle,
    /// nice 10 (the default): a hashing thread weighs about a tenth of a request thread. A
    /// woken request thread may still wait for the scheduler's wake-up granularity
    /// (milliseconds) before it gets the core, but hashing keeps about a tenth of each core
    /// under any load.
    #[default]
    Nice,
}

impl Scheduling {
    /// The configuration spelling: `"idle"` or `"nice"`.
    pub fn parse(s: &str) -> Option<Scheduling> {
        match s {
            "idle" => Some(Scheduling::Idle),
            "nice" => Some(Scheduling::Nice),
            _ => None,
        }
    }

    /// The configuration spelling of this policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduling::Idle => "idle",
            Scheduling::Nice => "nice",
        }
    }
}

/// Why the pool could not check a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// Every thread is busy and the queue is full: shed the login rather than queue it.
    #[error("password hashing queue is full")]
    Busy,
    /// A hashing thread is gone (it panicked); should never happen.
    #[error("password hashing thread stopped")]
    Stopped,
}

/// Set when whoever asked for a check has gone (the client closed its connection): a check
/// not yet picked up by a thread is then skipped. Cheap to clone; every clone is the same flag.
#[derive(Clone, Debug, Default)]
pub struct Abandoned(Arc<AtomicBool>);

impl Abandoned {
    /// Mark the asker as gone.
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once [`Abandoned::set`] was called on any clone.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

struct Job {
    /// Normalised; wiped when the job is dropped.
    password: SecretString,
    work: Work,
}

/// What a hashing thread does with a job's password.
enum Work {
    /// Check it against a stored hash.
    Verify {
        hash: Arc<StoredHash>,
        /// `Some(matched)`, or `None` when the check was skipped because it was abandoned.
        reply: tokio::sync::oneshot::Sender<Option<bool>>,
        abandoned: Option<Abandoned>,
    },
    /// Hash it anew (a rehash after a login whose stored hash is outdated).
    Hash {
        params: argon2::Params,
        reply: tokio::sync::oneshot::Sender<Option<String>>,
    },
}

/// A fixed set of hashing threads with a bounded queue; cheap to clone.
#[derive(Clone)]
pub struct HashPool {
    tx: SyncSender<Job>,
    queued: Arc<AtomicUsize>,
    sent: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
    work: Arc<AtomicU64>,
    workers: usize,
}

impl HashPool {
    /// Start `workers` threads, scheduled as `scheduling` says, and a queue of `queue`
    /// waiting jobs.
    pub fn start(
        workers: usize,
        queue: usize,
        scheduling: Scheduling,
    ) -> std::io::Result<HashPool> {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let queued = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let skipped = Arc::new(AtomicU64::new(0));
        let work = Arc::new(AtomicU64::new(0));
        for i in 0..workers.max(1) {
            let (rx, queued) = (Arc::clone(&rx), Arc::clone(&queued));
            let counters = Counters {
                done: Arc::clone(&done),
                skipped: Arc::clone(&skipped),
                work: Arc::clone(&work),
            };
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&rx, &queued, &counters, scheduling))?;
        }
        Ok(HashPool {
            tx,
            queued,
            sent: Arc::new(AtomicU64::new(0)),
            done,
            skipped,
            work,
            workers: workers.max(1),
        })
    }

    /// Verify `password` (NFC-normalised here) against `hash` on a hashing thread.
    pub async fn verify(
        &self,
        password: &SecretString,
        hash: Arc<StoredHash>,
    ) -> Result<bool, PoolError> {
        // Only checks with an `Abandoned` flag are ever skipped.
        Ok(self.check(password, hash, None).await?.unwrap_or(false))
    }

    /// [`HashPool::verify`] for a client that may go away: `Ok(None)` when `abandoned` was set
    /// before a thread picked the check up, which then did no hashing. The caller must count
    /// that as a failed login, or hanging up would make a guess free.
    pub async fn verify_unless_abandoned(
        &self,
        password: &SecretString,
        hash: Arc<StoredHash>,
        abandoned: &Abandoned,
    ) -> Result<Option<bool>, PoolError> {
        self.check(password, hash, Some(abandoned.clone())).await
    }

    async fn check(
        &self,
        password: &SecretString,
        hash: Arc<StoredHash>,
        abandoned: Option<Abandoned>,
    ) -> Result<Option<bool>, PoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let work = Work::Verify {
            hash,
            reply,
            abandoned,
        };
        self.send(password, work)?;
        answer.await.map_err(|_| PoolError::Stopped)
    }

    /// Hash `password` (NFC-normalised here) with `params` on a hashing thread, through the
    /// same bounded queue as the checks: when it is full this is refused, not queued.
    pub async fn hash(
        &self,
        password: &SecretString,
        params: argon2::Params,
    ) -> Result<String, PoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(password, Work::Hash { params, reply })?;
        answer
            .await
            .map_err(|_| PoolError::Stopped)?
            .ok_or(PoolError::Stopped)
    }

    fn send(&self, password: &SecretString, work: Work) -> Result<(), PoolError> {
        let job = Job {
            password: SecretString::from(normalize(password.expose_secret())),
            work,
        };
        // Counted before sending so a fast worker can never finish a job not yet counted.
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.tx.try_send(job) {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.sent.fetch_sub(1, Ordering::Relaxed);
            return Err(match e {
                TrySendError::Full(_) => PoolError::Busy,
                TrySendError::Disconnected(_) => PoolError::Stopped,
            });
        }
        Ok(())
    }

    /// Logins waiting for a hashing thread right now (for metrics).
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// argon2 verifications completed since start: lets tests and metrics prove that a
    /// refused request cost no hashing.
    pub fn verifications(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Jobs handed to the pool since start (queued, being hashed, done or skipped): lets
    /// tests see that a login has reached the pool.
    pub fn submitted(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Abandoned checks answered without hashing since start.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// argon2 work done since start: `m_cost × t_cost` (KiB × passes) of every check and hash.
    /// Lets tests prove that two logins cost the same work without timing them.
    pub fn work(&self) -> u64 {
        self.work.load(Ordering::Relaxed)
    }

    /// Jobs sent to the pool and not finished yet: queued plus being hashed.
    pub fn in_flight(&self) -> u64 {
        let finished = self.done.load(Ordering::Relaxed) + self.skipped.load(Ordering::Relaxed);
        self.sent.load(Ordering::Relaxed).saturating_sub(finished)
    }

    /// Number of hashing threads.
    pub fn workers(&self) -> usize {
        self.workers
    }
}

/// Nice value of the hashing threads (Linux) under [`Scheduling::Nice`], and their fallback
/// when `SCHED_IDLE` is refused.
///
/// Why lower them at all: a login saturates a core for ~10–20 ms by design, and with as many
/// hashing threads as cores, actix's workers would compete with them for CPU on equal terms;
/// a `/verify` or `/healthz` request then waits behind a hashing slice and its p99 grows from
/// well under a millisecond to several milliseconds (BENCHMARKS.md). Raising one's own nice
/// value, and moving oneself to `SCHED_IDLE`, need no privilege.
#[cfg(target_os = "linux")]
const HASHING_NICE: libc::c_int = 10;

/// Lower the calling thread's priority as `scheduling` says; Linux applies both per thread.
/// Nice 10 first, so that a refused `SCHED_IDLE` (a seccomp profile, say) still leaves the
/// thread below request handling (and under `SCHED_IDLE` nice counts for nothing). Elsewhere,
/// and if both calls fail, the thread keeps the normal priority: slower cheap requests under
/// login load, nothing worse.
fn lower_priority(scheduling: Scheduling) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take plain integers, touch no memory of ours and
        // only change this thread's scheduling priority.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, HASHING_NICE)
        };
        if rc != 0 {
            log::debug!(
                "could not lower the hashing thread's priority: {}",
                std::io::Error::last_os_error()
            );
        }
        if scheduling == Scheduling::Idle {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param that the
            // call only reads. Only this thread's scheduling policy changes.
            if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
                log::warn!(
                    "password.scheduling = \"idle\": SCHED_IDLE refused ({}); this hashing thread runs at nice {HASHING_NICE}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = scheduling;
}

/// What the hashing threads count for [`HashPool::verifications`], [`HashPool::skipped`] and
/// [`HashPool::work`].
struct Counters {
    done: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
    work: Arc<AtomicU64>,
}

impl Counters {
    fn finished(&self, params: &argon2::Params) {
        let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
        self.work.fetch_add(work, Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

fn worker(
    rx: &Mutex<Receiver<Job>>,
    queued: &AtomicUsize,
    counters: &Counters,
    scheduling: Scheduling,
) {
    lower_priority(scheduling);
    let mut memory = HashMemory::new();
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // every sender dropped: the service is shutting down
            }
        };
        queued.fetch_sub(1, Ordering::Relaxed);
        let password = job.password.expose_secret();
        // Counted once the hash is done (not when the reply is read), so `in_progress()` is
        // exact: picked up by a thread and not yet finished.
        match job.work {
            Work::Verify {
                abandoned: Some(abandoned),
                reply,
                ..
            } if abandoned.is_set() => {
                counters.skipped.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(None);
            }
            Work::Verify { hash, reply, .. } => {
                let ok = hash.verify_with(password.as_bytes(), &mut memory);
                counters.finished(hash.params());
                let _ = reply.send(Some(ok));
            }
            Work::Hash { params, reply } => {
                let phc = hash_password_with(password, &params, &mut memory).ok();
                counters.finished(&params);
                let _ = reply.send(phc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::Params;

    #[tokio::test]
    async fn full_queue_sheds() {
        let pool = HashPool::start(1, 1, Scheduling::default()).unwrap();
        let slow = Arc::new(StoredHash::dummy(
            &Params::new(64 * 1024, 3, 1, None).unwrap(),
        ));
        let mut pending = Vec::new();
        for _ in 0..4 {
            let (p, h) = (pool.clone(), Arc::clone(&slow));
            pending.push(tokio::spawn(async move { p.verify(&"x".into(), h).await }));
        }
        let results: Vec<_> = futures_join(pending).await;
        assert!(results.contains(&Err(PoolError::Busy)), "{results:?}");
        assert!(results.contains(&Ok(false)));
    }

    /// Each policy is what the kernel reports for the hashing thread (Linux: /proc).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_with_the_configured_policy() {
        for (scheduling, policy, nice) in
            [(Scheduling::Idle, 5, None), (Scheduling::Nice, 0, Some(10))]
        {
            let pool = HashPool::start(1, 1, scheduling).unwrap();
            // One check, so the thread has certainly set its priority.
            let h = Arc::new(StoredHash::dummy(&Params::new(8, 1, 1, None).unwrap()));
            assert_eq!(pool.verify(&"x".into(), h).await, Ok(false));
            let stats: Vec<Vec<String>> = std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|t| {
                    let dir = t.unwrap().path();
                    let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
                    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                    // Fields after the parenthesised command name; policy is field 41, nice 19.
                    let rest = stat.rsplit_once(") ")?.1;
                    (comm.trim() == "argon2-0")
                        .then(|| rest.split_whitespace().map(str::to_owned).collect())
                })
                .collect();
            // Tests run in parallel: any argon2-0 thread of this process with this policy.
            assert!(
                stats
                    .iter()
                    .any(|f| f[38] == policy.to_string()
                        && nice.is_none_or(|n| f[16] == n.to_string())),
                "{scheduling:?}: no hashing thread with policy {policy}: {stats:?}"
            );
        }
    }

    async fn futures_join(
        handles: Vec<tokio::task::JoinHandle<Result<bool, PoolError>>>,
    ) -> Vec<Result<bool, PoolError>> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}
