//! argon2id hashing and the bounded pool that verifies passwords off the async workers.
//!
//! A login costs one argon2 verification by design (~20 ms and 19 MiB at the OWASP
//! parameters). Running that on actix's workers would stall every other request, and an
//! unbounded blocking pool lets memory grow with the number of waiting logins. So the pool
//! has a fixed number of threads, each reusing its own argon2 memory, and a bounded queue:
//! when the queue is full a login is turned away at once ([`PoolError::Busy`] → 503).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, Version};
use unicode_normalization::UnicodeNormalization;

/// Hashes whose memory cost is above this are refused when the users file is loaded: one
/// such hash would make every hashing thread hold that much memory for good.
pub const MAX_M_COST_KIB: u32 = 1024 * 1024;

/// Normalise a password to NFC, at hashing time and at login, so that "é" typed as one code
/// point or as "e" + combining accent is the same password.
pub fn normalize(password: &str) -> String {
    password.nfc().collect()
}

/// Hash a password (NFC-normalised) as an argon2id PHC string with a random salt.
pub fn hash_password(
    password: &str,
    params: &Params,
) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    Ok(argon
        .hash_password(normalize(password).as_bytes(), &salt)?
        .to_string())
}

/// A stored argon2 hash, parsed once when the users file is loaded so that a login does no
/// string parsing before the expensive part.
#[derive(Clone)]
pub struct StoredHash {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the hash or salt: they are offline-crackable material.
        f.debug_struct("StoredHash")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Why a PHC string cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Not a PHC string of an argon2 variant, or its parameters are out of range.
    #[error("not a valid argon2 PHC string ({0})")]
    Invalid(String),
    /// Valid, but too expensive to keep in memory on every hashing thread.
    #[error("m={0} KiB is above the limit of {MAX_M_COST_KIB} KiB")]
    TooExpensive(u32),
}

impl StoredHash {
    /// Parse an argon2 PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`, any argon2 variant).
    pub fn parse(phc: &str) -> Result<StoredHash, HashError> {
        let bad = |e: &dyn std::fmt::Display| HashError::Invalid(e.to_string());
        let parsed = PasswordHash::new(phc).map_err(|e| bad(&e))?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| bad(&e))?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|e| bad(&e))?,
            None => Version::V0x10,
        };
        let params = Params::try_from(&parsed).map_err(|e| bad(&e))?;
        if params.m_cost() > MAX_M_COST_KIB {
            return Err(HashError::TooExpensive(params.m_cost()));
        }
        if !params.keyid().is_empty() || !params.data().is_empty() {
            return Err(HashError::Invalid(
                "keyid and data parameters are not supported".into(),
            ));
        }
        let salt = parsed
            .salt
            .ok_or_else(|| HashError::Invalid("no salt".into()))?;
        let mut buf = [0u8; 64];
        let salt = salt.decode_b64(&mut buf).map_err(|e| bad(&e))?.to_vec();
        let hash = parsed
            .hash
            .ok_or_else(|| HashError::Invalid("no hash".into()))?
            .as_bytes()
            .to_vec();
        Ok(StoredHash {
            algorithm,
            version,
            params,
            salt,
            hash,
        })
    }

    /// A hash of a random password with `params`, for unknown and disabled users: checking
    /// against it costs what a real user's check costs, and it never matches.
    pub fn dummy(params: &Params) -> StoredHash {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let pw: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let phc = hash_password(&pw, params).expect("hashing with validated params cannot fail");
        StoredHash::parse(&phc).expect("our own PHC string parses")
    }

    /// argon2 parameters of this hash.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Check `password` (already normalised) using `memory` as argon2's working memory; it is
    /// grown when needed and kept by the caller for the next call.
    pub fn verify_with(&self, password: &[u8], memory: &mut Vec<Block>) -> bool {
        let blocks = self.params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let mut out = [0u8; 64];
        let Some(out) = out.get_mut(..self.hash.len()) else {
            return false;
        };
        let argon = Argon2::new(self.algorithm, self.version, self.params.clone());
        if argon
            .hash_password_into_with_memory(password, &self.salt, out, &mut memory[..blocks])
            .is_err()
        {
            return false;
        }
        aws_lc_rs::constant_time::verify_slices_are_equal(out, &self.hash).is_ok()
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

struct Job {
    password: String,
    hash: Arc<StoredHash>,
    reply: tokio::sync::oneshot::Sender<bool>,
}

/// A fixed set of hashing threads with a bounded queue; cheap to clone.
#[derive(Clone)]
pub struct HashPool {
    tx: SyncSender<Job>,
    queued: Arc<AtomicUsize>,
    sent: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
    workers: usize,
}

impl HashPool {
    /// Start `workers` threads and a queue of `queue` waiting jobs.
    pub fn start(workers: usize, queue: usize) -> std::io::Result<HashPool> {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let queued = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicU64::new(0));
        for i in 0..workers.max(1) {
            let (rx, queued, done) = (Arc::clone(&rx), Arc::clone(&queued), Arc::clone(&done));
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&rx, &queued, &done))?;
        }
        Ok(HashPool {
            tx,
            queued,
            sent: Arc::new(AtomicU64::new(0)),
            done,
            workers: workers.max(1),
        })
    }

    /// Verify `password` (NFC-normalised here) against `hash` on a hashing thread.
    pub async fn verify(&self, password: &str, hash: Arc<StoredHash>) -> Result<bool, PoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            password: normalize(password),
            hash,
            reply,
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
        answer.await.map_err(|_| PoolError::Stopped)
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

    /// Jobs sent to the pool and not finished yet: queued plus being hashed.
    pub fn in_flight(&self) -> u64 {
        let done = self.done.load(Ordering::Relaxed);
        self.sent.load(Ordering::Relaxed).saturating_sub(done)
    }

    /// Number of hashing threads.
    pub fn workers(&self) -> usize {
        self.workers
    }
}

/// Nice value of the hashing threads (Linux): request handling runs at nice 0 and preempts them.
///
/// Why: a login saturates a core for ~20 ms by design, and with as many hashing threads as
/// cores, actix's workers compete with them for CPU on equal terms. The scheduler then lets a
/// `/verify` or `/healthz` request wait behind a hashing slice, and their p99 grows from well
/// under a millisecond to several milliseconds. At nice 10 a hashing thread weighs about a
/// tenth of a request thread, so cheap requests run at once while the hashing threads still
/// take every cycle the request threads leave idle: login throughput stays at the argon2 limit
/// (measured in BENCHMARKS.md). Raising one's own nice value needs no privilege.
#[cfg(target_os = "linux")]
const HASHING_NICE: libc::c_int = 10;

/// Lower the calling thread's priority to [`HASHING_NICE`]; Linux applies nice per thread.
/// Elsewhere (and if the call fails) the thread keeps the normal priority: slower cheap
/// requests under login load, nothing worse.
fn lower_priority() {
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
    }
}

fn worker(rx: &Mutex<Receiver<Job>>, queued: &AtomicUsize, done: &AtomicU64) {
    lower_priority();
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // every sender dropped: the service is shutting down
            }
        };
        queued.fetch_sub(1, Ordering::Relaxed);
        let ok = job.hash.verify_with(job.password.as_bytes(), &mut memory);
        // Counted once the hash is done (not when the reply is read), so `in_progress()` is
        // exact: picked up by a thread and not yet finished.
        done.fetch_add(1, Ordering::Relaxed);
        let _ = job.reply.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(64, 1, 1, None).unwrap()
    }

    #[test]
    fn hash_then_verify() {
        let phc = hash_password("pässword", &cheap()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        let h = StoredHash::parse(&phc).unwrap();
        let mut mem = Vec::new();
        assert!(h.verify_with(normalize("pässword").as_bytes(), &mut mem));
        assert!(!h.verify_with(b"password", &mut mem));
    }

    #[test]
    fn composed_and_decomposed_forms_match() {
        let phc = hash_password("caf\u{e9}", &cheap()).unwrap();
        let h = StoredHash::parse(&phc).unwrap();
        let mut mem = Vec::new();
        assert!(h.verify_with(normalize("cafe\u{301}").as_bytes(), &mut mem));
    }

    #[test]
    fn other_argon2_variants_verify() {
        let salt = SaltString::generate(&mut OsRng);
        let phc = Argon2::new(Algorithm::Argon2i, Version::V0x13, cheap())
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let h = StoredHash::parse(&phc).unwrap();
        assert!(h.verify_with(b"pw", &mut Vec::new()));
    }

    #[test]
    fn malformed_hashes_are_refused() {
        for bad in [
            "",
            "plain",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdA",
            "$bcrypt$xyz",
        ] {
            assert!(StoredHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn full_queue_sheds() {
        let pool = HashPool::start(1, 1).unwrap();
        let slow = Arc::new(StoredHash::dummy(
            &Params::new(64 * 1024, 3, 1, None).unwrap(),
        ));
        let mut pending = Vec::new();
        for _ in 0..4 {
            let (p, h) = (pool.clone(), Arc::clone(&slow));
            pending.push(tokio::spawn(async move { p.verify("x", h).await }));
        }
        let results: Vec<_> = futures_join(pending).await;
        assert!(results.contains(&Err(PoolError::Busy)), "{results:?}");
        assert!(results.contains(&Ok(false)));
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
