//! argon2-rust against the reference before it may check a single login: the known-answer
//! vectors of the reference implementation (whose version-19 rows are RFC 9106 §5), every
//! vector of the reference test program, and RustCrypto `argon2` — the implementation the
//! service used before, and still its PHC parser — on random inputs, including invalid ones,
//! which both must refuse alike.
//!
//! The service's own path is checked too: `StoredHash` (RustCrypto parses the PHC string,
//! argon2-rust checks the password) verifies every string RustCrypto verifies, refuses the
//! strings it refuses, and `hash_password` writes strings RustCrypto verifies.
//!
//! The vectors are data files under `tests/vectors/argon2/` (their README names the source).

use std::cell::RefCell;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use proptest::prelude::*;
use watchword::login::password::{hash_password, normalize, HashMemory, StoredHash};

/// RustCrypto's own check of a PHC string: parse, then `verify_password`.
fn rustcrypto_verifies(phc: &str, password: &[u8]) -> bool {
    PasswordHash::new(phc)
        .and_then(|h| argon2::Argon2::default().verify_password(password, &h))
        .is_ok()
}

/// One argon2 computation, everything that feeds the tag.
#[derive(Clone, Debug)]
struct Case {
    algorithm: &'static str,
    version: u32,
    m_kib: u32,
    t: u32,
    p: u32,
    password: Vec<u8>,
    salt: Vec<u8>,
    secret: Vec<u8>,
    ad: Vec<u8>,
    out_len: usize,
}

fn algorithm(name: &str) -> &'static str {
    match name {
        "argon2d" => "argon2d",
        "argon2i" => "argon2i",
        "argon2id" => "argon2id",
        other => panic!("unknown algorithm {other}"),
    }
}

/// RustCrypto `argon2` 0.5, the way the service called it: `hash_password_into_with_memory`
/// over a block buffer kept from one call to the next.
fn rustcrypto(c: &Case, memory: &mut Vec<argon2::Block>) -> Result<Vec<u8>, String> {
    let alg = match c.algorithm {
        "argon2d" => argon2::Algorithm::Argon2d,
        "argon2i" => argon2::Algorithm::Argon2i,
        _ => argon2::Algorithm::Argon2id,
    };
    let version = argon2::Version::try_from(c.version).map_err(|e| e.to_string())?;
    let mut b = argon2::ParamsBuilder::new();
    b.m_cost(c.m_kib)
        .t_cost(c.t)
        .p_cost(c.p)
        .output_len(c.out_len);
    if !c.ad.is_empty() {
        b.data(argon2::AssociatedData::new(&c.ad).map_err(|e| e.to_string())?);
    }
    let params = b.build().map_err(|e| e.to_string())?;
    let blocks = params.block_count();
    let argon = if c.secret.is_empty() {
        argon2::Argon2::new(alg, version, params)
    } else {
        argon2::Argon2::new_with_secret(&c.secret, alg, version, params)
            .map_err(|e| e.to_string())?
    };
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; c.out_len];
    argon
        .hash_password_into_with_memory(&c.password, &c.salt, &mut out, &mut memory[..blocks])
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn candidate_argon2(c: &Case) -> Result<argon2_rust::Argon2, String> {
    use argon2_rust::params::{Memory, TagLen};
    let alg = match c.algorithm {
        "argon2d" => argon2_rust::Algorithm::Argon2d,
        "argon2i" => argon2_rust::Algorithm::Argon2i,
        _ => argon2_rust::Algorithm::Argon2id,
    };
    let version = argon2_rust::Version::from_u32(c.version).ok_or("unknown version")?;
    let params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(c.m_kib)))
        .passes(c.t)
        .lanes(c.p)
        .threads(1)
        .tag_len(TagLen::bytes(c.out_len as u64))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(argon2_rust::Argon2::new(alg, version, params))
}

/// argon2-rust through a `Hasher` whose arena is kept from one call to the next, as a
/// hashing thread keeps it (grown for a larger m, kept for a smaller one).
fn candidate(c: &Case, hasher: &mut argon2_rust::Hasher) -> Result<Vec<u8>, String> {
    hasher.set_argon2(candidate_argon2(c)?);
    let mut out = vec![0u8; c.out_len];
    hasher
        .hash_into_with_ad(&c.password, &c.salt, &c.secret, &c.ad, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// argon2-rust, one call with memory of its own.
fn candidate_one_shot(c: &Case) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; c.out_len];
    candidate_argon2(c)?
        .hash_into_with_ad(&c.password, &c.salt, &c.secret, &c.ad, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn new_hasher() -> argon2_rust::Hasher {
    argon2_rust::Argon2::new(
        argon2_rust::Algorithm::Argon2id,
        argon2_rust::Version::V0x13,
        argon2_rust::Params::default(),
    )
    .hasher()
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The data lines of a vector file, split on whitespace.
fn rows(file: &str) -> Vec<Vec<String>> {
    let path = format!("{}/tests/vectors/argon2/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// Reference `kats/`: argon2d/i/id × versions 16 and 19, with secret and associated data; the
/// version-19 rows are RFC 9106 §5.1–5.3.
#[test]
fn known_answer_and_rfc9106_vectors() {
    let rows = rows("kat.txt");
    assert_eq!(rows.len(), 6);
    let mut memory = Vec::new();
    let mut hasher = new_hasher();
    for r in rows {
        let c = Case {
            algorithm: algorithm(&r[0]),
            version: r[1].parse().unwrap(),
            m_kib: r[2].parse().unwrap(),
            t: r[3].parse().unwrap(),
            p: r[4].parse().unwrap(),
            password: hex(&r[5]),
            salt: hex(&r[6]),
            secret: hex(&r[7]),
            ad: hex(&r[8]),
            out_len: r[9].len() / 2,
        };
        let tag = hex(&r[9]);
        assert_eq!(
            rustcrypto(&c, &mut memory).unwrap(),
            tag,
            "RustCrypto {r:?}"
        );
        assert_eq!(
            candidate(&c, &mut hasher).unwrap(),
            tag,
            "argon2-rust {r:?}"
        );
        assert_eq!(
            candidate_one_shot(&c).unwrap(),
            tag,
            "argon2-rust one-shot {r:?}"
        );
    }
}

/// Reference `src/test.c`: raw tags of argon2i (v16, v19) and argon2id (v19) from 256 KiB to
/// 256 MiB, and the PHC strings that carry them.
#[test]
fn reference_test_program_vectors() {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use base64::Engine;
    let rows = rows("test_c.txt");
    assert_eq!(rows.len(), 24);
    let mut memory = Vec::new();
    let mut hasher = new_hasher();
    let mut service_memory = HashMemory::new();
    for r in rows {
        let c = Case {
            algorithm: algorithm(&r[0]),
            version: r[1].parse().unwrap(),
            t: r[2].parse().unwrap(),
            m_kib: 1 << r[3].parse::<u32>().unwrap(),
            p: r[4].parse().unwrap(),
            password: r[5].as_bytes().to_vec(),
            salt: r[6].as_bytes().to_vec(),
            secret: Vec::new(),
            ad: Vec::new(),
            out_len: r[7].len() / 2,
        };
        let tag = hex(&r[7]);
        let phc = &r[8];
        let encoded = phc.rsplit('$').next().unwrap();
        assert_eq!(STANDARD_NO_PAD.decode(encoded).unwrap(), tag, "{phc}");
        assert_eq!(
            rustcrypto(&c, &mut memory).unwrap(),
            tag,
            "RustCrypto {phc}"
        );
        assert_eq!(
            candidate(&c, &mut hasher).unwrap(),
            tag,
            "argon2-rust {phc}"
        );
        // The service's path: the string as a users file would hold it.
        let stored = StoredHash::parse(phc).unwrap_or_else(|e| panic!("{phc}: {e}"));
        assert!(
            stored.verify_with(&c.password, &mut service_memory),
            "{phc}"
        );
        if c.m_kib <= 65536 {
            assert!(
                !stored.verify_with(b"passwore", &mut service_memory),
                "{phc}"
            );
        }
        // RustCrypto's own `verify_password` reads a string without `v=` as version 19 (its
        // default) where the reference reads version 16; `StoredHash` follows the reference,
        // as it did before argon2-rust. So only strings that name their version are asked.
        if phc.contains("$v=") {
            assert!(rustcrypto_verifies(phc, &c.password), "{phc}");
        }
    }
}

/// The reference's error-state strings: malformed ones refused when the users file is read,
/// the wrong-password one parsed and not matched; RustCrypto agrees on each.
#[test]
fn reference_error_strings_are_refused() {
    let rows = rows("test_c_refused.txt");
    assert_eq!(rows.len(), 8);
    let mut memory = HashMemory::new();
    for r in rows {
        let (expected, phc) = (r[0].as_str(), r[1].as_str());
        assert!(!rustcrypto_verifies(phc, b"password"), "{phc}");
        match (expected, StoredHash::parse(phc)) {
            ("refused", Err(_)) => {}
            ("mismatch", Ok(stored)) => {
                assert!(!stored.verify_with(b"password", &mut memory), "{phc}")
            }
            (expected, got) => panic!("{phc}: expected {expected}, got {got:?}"),
        }
    }
}

/// Random passwords, salts, secrets, associated data and small parameter sets, both variants
/// of every algorithm, output lengths on both sides of BLAKE2b's 64 bytes.
fn valid_case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["argon2d", "argon2i", "argon2id"]),
        prop::sample::select(vec![0x10u32, 0x13]),
        1u32..=8,
        0u32..=256,
        1u32..=4,
        prop::collection::vec(any::<u8>(), 0..=128),
        prop::collection::vec(any::<u8>(), 8..=64),
        prop::collection::vec(any::<u8>(), 0..=32),
        prop::collection::vec(any::<u8>(), 0..=32),
        4usize..=160,
    )
        .prop_map(
            |(algorithm, version, p, extra, t, password, salt, secret, ad, out_len)| Case {
                algorithm,
                version,
                m_kib: 8 * p + extra,
                t,
                p,
                password,
                salt,
                secret,
                ad,
                out_len,
            },
        )
}

/// Like [`valid_case`], but reaching past every lower bound: m below 8 × p, t = 0, salts
/// under 8 bytes, tags under 4 bytes.
fn any_case() -> impl Strategy<Value = Case> {
    (valid_case(), 0u32..=40, 0u32..=3, 0usize..=12, 0usize..=8).prop_map(
        |(mut c, m, t, salt_len, out_len)| {
            c.m_kib = m;
            c.t = t;
            c.salt.truncate(salt_len);
            c.out_len = out_len;
            c
        },
    )
}

thread_local! {
    /// One arena per test thread for all cases, as one hashing thread keeps one.
    static MEMORY: RefCell<(Vec<argon2::Block>, argon2_rust::Hasher)> =
        RefCell::new((Vec::new(), new_hasher()));
}

proptest! {
    // Fixed case counts (PROPTEST_CASES does not lower them): each case costs well under a
    // millisecond with both crates at opt-level 3 in the test profile.
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The same tag as RustCrypto for every valid input.
    #[test]
    fn tags_match_rustcrypto(c in valid_case()) {
        MEMORY.with(|m| {
            let (memory, hasher) = &mut *m.borrow_mut();
            let reference = rustcrypto(&c, memory).expect("valid input");
            prop_assert_eq!(&candidate(&c, hasher).expect("valid input"), &reference);
            Ok(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Invalid inputs refused by both, valid ones hashed alike: neither accepts anything the
    /// other refuses.
    #[test]
    fn both_refuse_the_same_inputs(c in any_case()) {
        MEMORY.with(|m| {
            let (memory, hasher) = &mut *m.borrow_mut();
            let reference = rustcrypto(&c, memory);
            let ours = candidate(&c, hasher);
            prop_assert_eq!(reference.is_ok(), ours.is_ok(), "RustCrypto {:?}, argon2-rust {:?}", reference, ours);
            if let (Ok(a), Ok(b)) = (reference, ours) {
                prop_assert_eq!(a, b);
            }
            Ok(())
        })?;
    }
}

/// A PHC string as RustCrypto writes one: any algorithm and version, small parameters, a
/// random salt and tag length, for a random password.
fn phc_case() -> impl Strategy<Value = (String, String)> {
    (
        "\\PC{0,40}",
        prop::sample::select(vec![
            argon2::Algorithm::Argon2d,
            argon2::Algorithm::Argon2i,
            argon2::Algorithm::Argon2id,
        ]),
        prop::sample::select(vec![argon2::Version::V0x10, argon2::Version::V0x13]),
        1u32..=4,
        0u32..=64,
        1u32..=3,
        10usize..=64,
        prop::collection::vec(any::<u8>(), 8..=32),
    )
        .prop_map(|(password, alg, version, p, extra, t, out_len, salt)| {
            let params = argon2::Params::new(8 * p + extra, t, p, Some(out_len)).unwrap();
            let salt = SaltString::encode_b64(&salt).unwrap();
            let phc = argon2::Argon2::new(alg, version, params)
                .hash_password(password.as_bytes(), &salt)
                .unwrap()
                .to_string();
            (phc, password)
        })
}

thread_local! {
    static SERVICE_MEMORY: RefCell<HashMemory> = RefCell::new(HashMemory::new());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every string RustCrypto writes (and verifies), the service verifies for the same
    /// password and for no other; and the service's own new hashes verify with RustCrypto.
    #[test]
    fn the_service_verifies_what_rustcrypto_verifies((phc, password) in phc_case()) {
        prop_assert!(rustcrypto_verifies(&phc, password.as_bytes()));
        let stored = StoredHash::parse(&phc).unwrap();
        SERVICE_MEMORY.with(|m| {
            let memory = &mut *m.borrow_mut();
            prop_assert!(stored.verify_with(password.as_bytes(), memory), "{}", phc);
            let other = format!("{password}x");
            prop_assert!(!stored.verify_with(other.as_bytes(), memory), "{}", phc);
            Ok(())
        })?;
        let cheap = argon2::Params::new(8, 1, 1, None).unwrap();
        let ours = hash_password(&password, &cheap).unwrap();
        prop_assert!(rustcrypto_verifies(&ours, normalize(&password).as_bytes()), "{}", ours);
    }
}
