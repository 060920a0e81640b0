//! Signing keys: loading a PKCS#8 PEM (or an HS256 secret), generating keys, and the public
//! JWK that verifiers fetch.
//!
//! A key is checked completely when it is loaded (parsed by the crypto backend and matched
//! against `token.algorithm`), so a wrong file stops the start instead of failing logins.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::EncodingKey;

use super::algorithm::SigningAlgorithm;
use watchword_verify::{check_hs256_secret, WeakSecret};

/// Shortest HS256 secret accepted: 256 bits, the size of the MAC (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = watchword_verify::MIN_HS256_SECRET_BYTES;

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    /// The key file could not be read.
    #[error("keys.signing_key_file: cannot read {path}: {source}")]
    Read {
        /// Path as configured.
        path: String,
        /// I/O error.
        source: std::io::Error,
    },
    /// The file is not a key for the configured algorithm.
    #[error("keys.signing_key_file: {path} is not {expected}")]
    Wrong {
        /// Path as configured.
        path: String,
        /// What was expected, e.g. "a PKCS#8 PEM Ed25519 private key (token.algorithm = EdDSA)".
        expected: String,
    },
    /// An HS256 secret that is long enough but guessable (well known, monotonous, or of too
    /// little estimated entropy): jwt_tool and its wordlists crack such a token in seconds.
    #[error(
        "keys.signing_key_file: {path}: the HS256 secret is refused: {reason}. Make a random \
         one with `watchword keygen --alg HS256 --out FILE`"
    )]
    WeakSecret {
        /// Path as configured.
        path: String,
        /// Why.
        reason: WeakSecret,
    },
    /// A key or secret file that other users of the host may read, write or run.
    #[error(
        "{key}: {path} is open to other users of this host (mode {mode:04o}), so anyone on it \
         could sign tokens. Make it readable by the service only: chmod o-rwx {path} (0600, or \
         0440 with a group), or set keys.allow_world_readable = true to start anyway"
    )]
    ReadableByOthers {
        /// `keys.signing_key_file` or `keys.verify_only_files`.
        key: &'static str,
        /// Path as configured.
        path: String,
        /// The file's permission bits.
        mode: u32,
    },
    /// Key generation failed in the crypto backend.
    #[error("key generation failed")]
    Generate,
    /// Writing a generated key failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Output path.
        path: String,
        /// I/O error.
        source: std::io::Error,
    },
}

/// The key the service signs with, with its public half ready to publish.
#[derive(Clone)]
pub struct SigningKey {
    /// Algorithm of every token this key signs.
    pub algorithm: SigningAlgorithm,
    /// `kid` header value: the RFC 7638 thumbprint of the public key (of the secret for HS256).
    pub kid: String,
    encoding: EncodingKey,
    public: Option<Jwk>,
    secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn expected(alg: SigningAlgorithm) -> String {
    let what = match alg {
        SigningAlgorithm::EdDSA => "a PKCS#8 PEM Ed25519 private key",
        SigningAlgorithm::ES256 => "a PKCS#8 PEM P-256 private key",
        SigningAlgorithm::RS256 => "a PEM RSA private key (PKCS#8 or PKCS#1, at least 2048 bits)",
        SigningAlgorithm::HS256 => "a secret of at least 32 bytes",
    };
    format!(
        "{what} (token.algorithm = {}); `watchword keygen` makes one",
        alg.as_str()
    )
}

impl SigningKey {
    /// Load the key for `alg` from `path`.
    pub fn from_file(path: &Path, alg: SigningAlgorithm) -> Result<SigningKey, SigningKeyError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SigningKeyError::Read {
            path: shown.clone(),
            source,
        })?;
        if alg == SigningAlgorithm::HS256 {
            match check_hs256_secret(hs256_secret(&bytes)) {
                Ok(()) | Err(WeakSecret::TooShort(_)) => {}
                Err(reason) => {
                    return Err(SigningKeyError::WeakSecret {
                        path: shown,
                        reason,
                    })
                }
            }
        }
        SigningKey::from_bytes(&bytes, alg).ok_or_else(|| SigningKeyError::Wrong {
            path: shown,
            expected: expected(alg),
        })
    }

    /// Load a private key of any asymmetric algorithm (for verify-only keys, which may be of
    /// another algorithm than the active one during a migration).
    pub fn from_file_any(path: &Path) -> Result<SigningKey, SigningKeyError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SigningKeyError::Read {
            path: shown.clone(),
            source,
        })?;
        [
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::ES256,
            SigningAlgorithm::RS256,
        ]
        .into_iter()
        .find_map(|alg| SigningKey::from_bytes(&bytes, alg))
        .ok_or_else(|| SigningKeyError::Wrong {
            path: shown,
            expected: "a PKCS#8 PEM private key (Ed25519, P-256 or RSA)".into(),
        })
    }

    /// Parse PEM bytes (or secret bytes for HS256); `None` when they are not a usable key.
    pub fn from_bytes(bytes: &[u8], alg: SigningAlgorithm) -> Option<SigningKey> {
        let (encoding, public, secret) = match alg {
            SigningAlgorithm::HS256 => {
                let secret = hs256_secret(bytes);
                // Length and strength: the one rule of the verifier crate.
                check_hs256_secret(secret).ok()?;
                (
                    EncodingKey::from_secret(secret),
                    None,
                    Some(secret.to_vec()),
                )
            }
            SigningAlgorithm::EdDSA => {
                let key = EncodingKey::from_ed_pem(bytes).ok()?;
                let pair = Ed25519KeyPair::from_pkcs8(key.as_bytes()).ok()?;
                let jwk = Jwk {
                    common: CommonParameters::default(),
                    algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                        key_type: OctetKeyPairType::OctetKeyPair,
                        curve: EllipticCurve::Ed25519,
                        x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
                    }),
                };
                (key, Some(jwk), None)
            }
            SigningAlgorithm::ES256 => {
                let key = EncodingKey::from_ec_pem(bytes).ok()?;
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, key.as_bytes()).ok()?;
                let jwk = Jwk::from_encoding_key(&key, alg.jwt()).ok()?;
                (key, Some(jwk), None)
            }
            SigningAlgorithm::RS256 => {
                let key = EncodingKey::from_rsa_pem(bytes).ok()?;
                let pair = aws_lc_rs::signature::RsaKeyPair::from_der(key.as_bytes()).ok()?;
                if pair.public_modulus_len() < 256 {
                    return None;
                }
                let jwk = Jwk::from_encoding_key(&key, alg.jwt()).ok()?;
                (key, Some(jwk), None)
            }
        };
        // A key that parses but cannot sign (e.g. a mismatched public half) is caught here.
        jsonwebtoken::crypto::sign(b"watchword key check", &encoding, alg.jwt()).ok()?;
        let kid = match &public {
            Some(jwk) => jwk.thumbprint(ThumbprintHash::SHA256).ok()?,
            None => {
                let oct = Jwk::from_encoding_key(&encoding, alg.jwt()).ok()?;
                oct.thumbprint(ThumbprintHash::SHA256).ok()?
            }
        };
        let public = public.map(|mut jwk| {
            jwk.common.key_id = Some(kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            jwk.common.key_algorithm = Some(match alg {
                SigningAlgorithm::EdDSA => KeyAlgorithm::EdDSA,
                SigningAlgorithm::ES256 => KeyAlgorithm::ES256,
                SigningAlgorithm::RS256 => KeyAlgorithm::RS256,
                SigningAlgorithm::HS256 => KeyAlgorithm::HS256,
            });
            jwk
        });
        Some(SigningKey {
            algorithm: alg,
            kid,
            encoding,
            public,
            secret,
        })
    }

    /// A fresh Ed25519 key that lives only in this process.
    pub fn ephemeral() -> Result<SigningKey, SigningKeyError> {
        let pem = generate_pem(SigningAlgorithm::EdDSA)?;
        SigningKey::from_bytes(pem.as_bytes(), SigningAlgorithm::EdDSA)
            .ok_or(SigningKeyError::Generate)
    }

    /// The jsonwebtoken key for signing.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public JWK (with `kid`, `use` and `alg`); `None` for HS256.
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public.as_ref()
    }

    /// The HS256 secret, for building the service's own verifier; `None` for asymmetric keys.
    pub fn secret(&self) -> Option<&[u8]> {
        self.secret.as_deref()
    }

    /// The JWK Set to publish: the public key, or nothing for HS256.
    pub fn jwk_set(&self) -> JwkSet {
        JwkSet {
            keys: self.public.iter().cloned().collect(),
        }
    }
}

/// The secret in an HS256 key file: its bytes without trailing line breaks.
fn hs256_secret(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = bytes {
        bytes = rest;
    }
    bytes
}

/// A new private key for `alg` as PKCS#8 PEM (for HS256: 32 random bytes, base64url, which is
/// itself the secret).
pub fn generate_pem(alg: SigningAlgorithm) -> Result<String, SigningKeyError> {
    let rng = SystemRandom::new();
    let der: Vec<u8> = match alg {
        SigningAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(|_| SigningKeyError::Generate)?
            .as_ref()
            .to_vec(),
        SigningAlgorithm::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| SigningKeyError::Generate)?
                .as_ref()
                .to_vec()
        }
        SigningAlgorithm::RS256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| SigningKeyError::Generate)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> =
                pair.as_der().map_err(|_| SigningKeyError::Generate)?;
            der.as_ref().to_vec()
        }
        SigningAlgorithm::HS256 => {
            let mut secret = [0u8; 32];
            aws_lc_rs::rand::fill(&mut secret).map_err(|_| SigningKeyError::Generate)?;
            return Ok(format!("{}\n", URL_SAFE_NO_PAD.encode(secret)));
        }
    };
    Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", der)))
}

/// Write a new key to `out` with mode 0600, refusing to overwrite an existing file.
pub fn write_new_key(out: &Path, alg: SigningAlgorithm) -> Result<(), SigningKeyError> {
    let pem = generate_pem(alg)?;
    let err = |source| SigningKeyError::Write {
        path: out.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(out).map_err(err)?;
    f.write_all(pem.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_for_their_algorithm_only() {
        for alg in [
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::ES256,
            SigningAlgorithm::RS256,
            SigningAlgorithm::HS256,
        ] {
            let pem = generate_pem(alg).unwrap();
            let key = SigningKey::from_bytes(pem.as_bytes(), alg).expect("own key loads");
            assert_eq!(key.kid.len(), 43, "SHA-256 thumbprint, base64url");
            assert_eq!(key.public_jwk().is_some(), alg != SigningAlgorithm::HS256);
            for other in [
                SigningAlgorithm::EdDSA,
                SigningAlgorithm::ES256,
                SigningAlgorithm::RS256,
            ] {
                if other != alg && alg != SigningAlgorithm::HS256 {
                    assert!(
                        SigningKey::from_bytes(pem.as_bytes(), other).is_none(),
                        "{alg:?} as {other:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_secret_is_refused() {
        assert!(SigningKey::from_bytes(b"short\n", SigningAlgorithm::HS256).is_none());
    }

    #[test]
    fn weak_secret_is_refused_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "12345678901234567890123456789012\n").unwrap();
        let err = SigningKey::from_file(&path, SigningAlgorithm::HS256)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("keys.signing_key_file: "), "{err}");
        assert!(err.contains("watchword keygen --alg HS256"), "{err}");
        assert!(SigningKey::from_bytes(
            b"12345678901234567890123456789012",
            SigningAlgorithm::HS256
        )
        .is_none());
    }
}
