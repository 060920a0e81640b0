//! Real keys (generated once per test binary), token builders and vector loading.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use watchword_verify::{Validation, Verifier};

pub const ISS: &str = "https://login.test";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh, valid claim set for `ISS`.
pub fn claims() -> Value {
    let now = now();
    json!({"sub": "alice", "exp": now + 600, "iat": now, "nbf": now, "iss": ISS, "roles": ["user"]})
}

pub fn validation() -> Validation {
    Validation::default().with_issuer(ISS)
}

enum Signer {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
    Hmac(Vec<u8>),
}

/// A signing key with everything a test needs about its public half.
pub struct TestKey {
    pub alg: Algorithm,
    pub kid: String,
    pub encoding: EncodingKey,
    /// Public JWK with `kid`, `use: sig` and `alg` (None for HS256).
    pub jwk: Option<Jwk>,
    /// SPKI PEM of the public key (None for HS256).
    pub public_pem: Option<String>,
    /// The HS256 secret (None otherwise).
    pub secret: Option<Vec<u8>>,
    signer: Signer,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn public_jwk(encoding: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(encoding, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(match alg {
        Algorithm::EdDSA => KeyAlgorithm::EdDSA,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        Algorithm::RS256 => KeyAlgorithm::RS256,
        _ => unreachable!(),
    });
    jwk
}

impl TestKey {
    pub fn ed25519(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let spki: PublicKeyX509Der = pair.public_key().as_der().unwrap();
        let encoding = EncodingKey::from_ed_der(pkcs8.as_ref());
        TestKey {
            alg: Algorithm::EdDSA,
            kid: kid.to_owned(),
            jwk: Some(public_jwk(&encoding, Algorithm::EdDSA, kid)),
            public_pem: Some(pem("PUBLIC KEY", spki.as_ref())),
            secret: None,
            encoding,
            signer: Signer::Ed(pair),
        }
    }

    pub fn p256(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let spki: PublicKeyX509Der = pair.public_key().as_der().unwrap();
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        TestKey {
            alg: Algorithm::ES256,
            kid: kid.to_owned(),
            jwk: Some(public_jwk(&encoding, Algorithm::ES256, kid)),
            public_pem: Some(pem("PUBLIC KEY", spki.as_ref())),
            secret: None,
            encoding,
            signer: Signer::Ec(pair),
        }
    }

    pub fn rsa(kid: &str) -> TestKey {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8: Pkcs8V1Der = pair.as_der().unwrap();
        let spki: PublicKeyX509Der = pair.public_key().as_der().unwrap();
        let encoding =
            EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).unwrap();
        TestKey {
            alg: Algorithm::RS256,
            kid: kid.to_owned(),
            jwk: Some(public_jwk(&encoding, Algorithm::RS256, kid)),
            public_pem: Some(pem("PUBLIC KEY", spki.as_ref())),
            secret: None,
            encoding,
            signer: Signer::Rsa(pair),
        }
    }

    pub fn hs256(kid: &str) -> TestKey {
        let mut secret = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).unwrap();
        TestKey {
            alg: Algorithm::HS256,
            kid: kid.to_owned(),
            encoding: EncodingKey::from_secret(&secret),
            jwk: None,
            public_pem: None,
            secret: Some(secret.clone()),
            signer: Signer::Hmac(secret),
        }
    }

    pub fn jwk(&self) -> &Jwk {
        self.jwk.as_ref().expect("asymmetric key")
    }

    pub fn pem(&self) -> &[u8] {
        self.public_pem
            .as_deref()
            .expect("asymmetric key")
            .as_bytes()
    }

    /// The JOSE `alg` name.
    pub fn alg_name(&self) -> &'static str {
        match self.alg {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
            Algorithm::HS256 => "HS256",
            _ => unreachable!(),
        }
    }

    /// Sign with jsonwebtoken, header `typ: JWT`, `alg`, `kid`: what a real issuer produces.
    pub fn token(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// The standard header of this key, as JSON text.
    pub fn header(&self) -> String {
        json!({"alg": self.alg_name(), "typ": "JWT", "kid": self.kid}).to_string()
    }

    /// Raw signature over `input` with this key's algorithm.
    pub fn sign_raw(&self, input: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::Ed(pair) => pair.sign(input).as_ref().to_vec(),
            Signer::Ec(pair) => pair
                .sign(&SystemRandom::new(), input)
                .unwrap()
                .as_ref()
                .to_vec(),
            Signer::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut sig)
                    .unwrap();
                sig
            }
            Signer::Hmac(secret) => hmac(secret, input),
        }
    }

    /// Hand-assembled token: any header text, any payload bytes, signed for real.
    pub fn sign_parts(&self, header: &str, payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let sig = self.sign_raw(input.as_bytes());
        format!("{input}.{}", b64(sig))
    }
}

pub fn hmac(secret: &[u8], input: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
}

macro_rules! cached_key {
    ($name:ident, $ctor:ident, $kid:expr) => {
        pub fn $name() -> &'static TestKey {
            static KEY: OnceLock<TestKey> = OnceLock::new();
            KEY.get_or_init(|| TestKey::$ctor($kid))
        }
    };
}

cached_key!(ed, ed25519, "ed-1");
cached_key!(ec, p256, "ec-1");
cached_key!(rsa, rsa, "rsa-1");
cached_key!(hs, hs256, "hs-1");
// Someone else's key: never in any verifier's key set.
cached_key!(attacker_ed, ed25519, "attacker");

/// The three asymmetric test keys as one JWK Set (what a login service publishes).
pub fn jwk_set() -> Value {
    serde_json::to_value(JwkSet {
        keys: vec![ed().jwk().clone(), ec().jwk().clone(), rsa().jwk().clone()],
    })
    .unwrap()
}

/// A verifier trusting `jwk_set()`, requiring `iss = ISS`.
pub fn verifier() -> Verifier {
    Verifier::from_jwk_set(&jwk_set(), validation()).unwrap()
}

/// Test vectors live in the repository (`verify/tests/vectors`, see its README); a missing
/// file is a failure, never a skip.
pub fn vectors_file(relative: &str) -> Value {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors")).join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "test vectors missing: cannot read {} ({e}); this test never passes without them.",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

pub fn b64_decode(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}
