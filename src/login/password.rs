//! Passwords: the limits a password must keep, NFC normalisation, argon2id hashing, and the
//! stored hash a login is checked against. The checks run on the threads of
//! [`hash_pool`](super::hash_pool), never on the async workers.
//!
//! Two argon2 crates, each for what it does best. RustCrypto `argon2` parses PHC strings
//! (what the users file holds) and carries the configured parameters; argon2-rust computes
//! every hash and check: it selects AVX-512, AVX2, SSE2 or NEON at run time and is about 2×
//! faster here, bit for bit the same (`tests/argon2_equivalence.rs`, BENCHMARKS.md).

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Params, Version};
use unicode_normalization::UnicodeNormalization;

/// Longest password (or pass code) accepted, in bytes. argon2 would take far more, but nobody
/// types 1 KiB and hashing megabytes per attempt would be a denial of service.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes whose memory cost is above this are refused when the users file is loaded: one
/// such hash would make every hashing thread hold that much memory for good.
pub const MAX_M_COST_KIB: u32 = 1024 * 1024;

/// Normalise a password to NFC, at hashing time and at login, so that "é" typed as one code
/// point or as "e" + combining accent is the same password.
pub fn normalize(password: &str) -> String {
    password.nfc().collect()
}

/// Salt length of new hashes, the PHC recommendation (what RustCrypto's `SaltString` made).
const SALT_BYTES: usize = 16;

/// Hash a password (NFC-normalised) as an argon2id PHC string with a random salt.
///
/// `params` were validated by RustCrypto `argon2` (configuration), which argon2-rust accepts
/// alike; the only failure left is memory that cannot be had, reported as
/// [`argon2::password_hash::Error::Crypto`].
pub fn hash_password(
    password: &str,
    params: &Params,
) -> Result<String, argon2::password_hash::Error> {
    hash_password_with(password, params, &mut HashMemory::new())
}

/// [`hash_password`] with a hashing thread's `memory`, as a rehash on the pool runs it: no
/// allocation when the memory is already large enough.
pub fn hash_password_with(
    password: &str,
    params: &Params,
    memory: &mut HashMemory,
) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; SALT_BYTES];
    OsRng.fill_bytes(&mut salt);
    let tag_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let argon = fast_argon2(Algorithm::Argon2id, Version::V0x13, params, tag_len)
        .map_err(|_| argon2::password_hash::Error::Crypto)?;
    memory.0.set_argon2(argon);
    memory
        .0
        .hash_password(normalize(password).as_bytes(), &salt)
        .map_err(|_| argon2::password_hash::Error::Crypto)
}

/// The argon2-rust configuration for RustCrypto-validated parameters and a tag length.
/// `threads(1)`: lanes are computed one after another on the calling thread (the crate is
/// built without `parallel`, so it could not start threads anyway).
fn fast_argon2(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    tag_len: usize,
) -> Result<argon2_rust::Argon2, argon2_rust::Error> {
    use argon2_rust::params::{Memory, TagLen};
    let algorithm = match algorithm {
        Algorithm::Argon2d => argon2_rust::Algorithm::Argon2d,
        Algorithm::Argon2i => argon2_rust::Algorithm::Argon2i,
        Algorithm::Argon2id => argon2_rust::Algorithm::Argon2id,
    };
    let version = match version {
        Version::V0x10 => argon2_rust::Version::V0x10,
        Version::V0x13 => argon2_rust::Version::V0x13,
    };
    let params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(params.m_cost())))
        .passes(params.t_cost())
        .lanes(params.p_cost())
        .threads(1)
        .tag_len(TagLen::bytes(tag_len as u64))
        .build()?;
    Ok(argon2_rust::Argon2::new(algorithm, version, params))
}

/// A hashing thread's argon2 working memory, kept from one check to the next so that a login
/// allocates nothing: grown to the largest `m_cost` it has seen, kept at that size, wiped
/// after every check (argon2-rust's `zeroize-memory`).
#[derive(Debug)]
pub struct HashMemory(argon2_rust::Hasher);

impl HashMemory {
    /// Empty: the first check allocates.
    pub fn new() -> HashMemory {
        let placeholder = argon2_rust::Argon2::new(
            argon2_rust::Algorithm::Argon2id,
            argon2_rust::Version::V0x13,
            argon2_rust::Params::DEFAULT,
        );
        HashMemory(placeholder.hasher())
    }

    /// KiB held right now (1 KiB per argon2 block).
    pub fn kib(&self) -> usize {
        self.0.reserved_blocks()
    }
}

impl Default for HashMemory {
    fn default() -> HashMemory {
        HashMemory::new()
    }
}

/// A stored argon2 hash, parsed once when the users file is loaded so that a login does no
/// string parsing before the expensive part.
#[derive(Clone)]
pub struct StoredHash {
    /// The PHC string as stored: a rehash replaces the row only if it still holds this.
    phc: String,
    algorithm: Algorithm,
    version: Version,
    params: Params,
    /// The same algorithm, version and parameters for argon2-rust, tag length included.
    fast: argon2_rust::Argon2,
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

/// The cost of checking a password against a [`StoredHash`]: hashes of equal cost take the
/// same argon2 work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// argon2d, argon2i or argon2id.
    pub algorithm: Algorithm,
    /// 0x10 or 0x13.
    pub version: Version,
    /// Memory, KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// Tag length, bytes.
    pub tag_len: usize,
}

impl std::fmt::Display for HashCost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algorithm = match self.algorithm {
            Algorithm::Argon2d => "argon2d",
            Algorithm::Argon2i => "argon2i",
            Algorithm::Argon2id => "argon2id",
        };
        write!(
            f,
            "{algorithm} m={},t={},p={}",
            self.m_cost, self.t_cost, self.p_cost
        )
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
        // RustCrypto's bounds on m, t, p and the tag are argon2-rust's (the reference's), so
        // this does not fail for a string that got here (tests/argon2_equivalence.rs).
        let fast = fast_argon2(algorithm, version, &params, hash.len()).map_err(|e| bad(&e))?;
        Ok(StoredHash {
            phc: phc.to_owned(),
            algorithm,
            version,
            params,
            fast,
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

    /// What a check against this hash costs: its variant, version, parameters and tag length.
    pub fn cost(&self) -> HashCost {
        HashCost {
            algorithm: self.algorithm,
            version: self.version,
            m_cost: self.params.m_cost(),
            t_cost: self.params.t_cost(),
            p_cost: self.params.p_cost(),
            tag_len: self.hash.len(),
        }
    }

    /// A hash that costs exactly what a check against this one costs and never matches (a
    /// random salt and tag of the same lengths), for unknown accounts that must cost what
    /// this account costs.
    pub fn dummy_like(&self) -> StoredHash {
        let mut salt = vec![0u8; self.salt.len()];
        let mut hash = vec![0u8; self.hash.len()];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut hash);
        StoredHash {
            phc: String::new(),
            salt,
            hash,
            ..self.clone()
        }
    }

    /// The PHC string this hash was parsed from.
    pub fn phc(&self) -> &str {
        &self.phc
    }

    /// True when this hash is weaker than new hashes made with `params` would be: another
    /// algorithm than argon2id, a version before 0x13, or a lower m, t, p or output length.
    /// A stronger parameter counts as current (never rehashed down).
    pub fn is_weaker_than(&self, params: &Params) -> bool {
        self.algorithm != Algorithm::Argon2id
            || self.version != Version::V0x13
            || self.params.m_cost() < params.m_cost()
            || self.params.t_cost() < params.t_cost()
            || self.params.p_cost() < params.p_cost()
            || self.hash.len() < params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
    }

    /// Check `password` (already normalised) using `memory` as argon2's working memory; it is
    /// grown when needed and kept by the caller for the next call.
    pub fn verify_with(&self, password: &[u8], memory: &mut HashMemory) -> bool {
        let mut out = [0u8; 64];
        let Some(out) = out.get_mut(..self.hash.len()) else {
            return false;
        };
        memory.0.set_argon2(self.fast);
        if memory.0.hash_into(password, &self.salt, out).is_err() {
            return false;
        }
        aws_lc_rs::constant_time::verify_slices_are_equal(out, &self.hash).is_ok()
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
        let mut mem = HashMemory::new();
        assert!(h.verify_with(normalize("pässword").as_bytes(), &mut mem));
        assert!(!h.verify_with(b"password", &mut mem));
    }

    #[test]
    fn weaker_hashes_are_told_apart() {
        let target = Params::new(128, 2, 1, None).unwrap();
        let at = |m, t, p| {
            StoredHash::parse(&hash_password("pw", &Params::new(m, t, p, None).unwrap()).unwrap())
                .unwrap()
        };
        assert!(!at(128, 2, 1).is_weaker_than(&target));
        assert!(
            !at(256, 3, 2).is_weaker_than(&target),
            "stronger counts as current"
        );
        assert!(at(64, 2, 1).is_weaker_than(&target));
        assert!(at(128, 1, 1).is_weaker_than(&target));
        assert!(at(256, 1, 2).is_weaker_than(&target));
        let phc = hash_password("pw", &target).unwrap();
        assert_eq!(StoredHash::parse(&phc).unwrap().phc(), phc);
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        let argon2i = argon2::Argon2::new(Algorithm::Argon2i, Version::V0x13, target.clone())
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(StoredHash::parse(&argon2i).unwrap().is_weaker_than(&target));
    }

    #[test]
    fn composed_and_decomposed_forms_match() {
        let phc = hash_password("caf\u{e9}", &cheap()).unwrap();
        let h = StoredHash::parse(&phc).unwrap();
        let mut mem = HashMemory::new();
        assert!(h.verify_with(normalize("cafe\u{301}").as_bytes(), &mut mem));
    }

    #[test]
    fn other_argon2_variants_verify() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        let phc = argon2::Argon2::new(Algorithm::Argon2i, Version::V0x13, cheap())
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let h = StoredHash::parse(&phc).unwrap();
        assert!(h.verify_with(b"pw", &mut HashMemory::new()));
    }

    #[test]
    fn new_hashes_verify_with_rustcrypto() {
        use argon2::password_hash::PasswordVerifier;
        let phc = hash_password("pässword", &cheap()).unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert_eq!(parsed.salt.unwrap().as_str().len(), 22, "16 bytes of salt");
        let rc = argon2::Argon2::default();
        assert!(rc
            .verify_password(normalize("pässword").as_bytes(), &parsed)
            .is_ok());
        assert!(rc.verify_password(b"password", &parsed).is_err());
    }

    /// One memory for hashes of different sizes, in any order, as a hashing thread sees them
    /// in a users file: it grows to the largest and stays there.
    #[test]
    fn one_memory_serves_every_size() {
        let small = StoredHash::parse(&hash_password("a", &cheap()).unwrap()).unwrap();
        let large = StoredHash::parse(
            &hash_password("b", &Params::new(1024, 1, 2, None).unwrap()).unwrap(),
        )
        .unwrap();
        let mut mem = HashMemory::new();
        assert_eq!(mem.kib(), 0);
        for _ in 0..2 {
            assert!(small.verify_with(b"a", &mut mem) && !small.verify_with(b"b", &mut mem));
            assert!(large.verify_with(b"b", &mut mem) && !large.verify_with(b"a", &mut mem));
        }
        assert_eq!(mem.kib(), 1024);
        // A rehash on the same thread: the same memory, the hash verifies.
        let phc = hash_password_with("c", &cheap(), &mut mem).unwrap();
        assert!(StoredHash::parse(&phc).unwrap().verify_with(b"c", &mut mem));
        assert_eq!(mem.kib(), 1024);
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
}
