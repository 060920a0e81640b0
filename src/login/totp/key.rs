//! The TOTP key (`keys.totp_key_file`, made by `watchword keygen --kind totp`): 32 random
//! bytes that seal every account's TOTP secret with AES-256-GCM (the account name as
//! associated data), seal self-service enrolment tickets, and key the hash of recovery codes.
//! A database dump without this file gives none of them.
//!
//! Its key id (the first 8 bytes of SHA-256 of the key, hex) is written before every sealed
//! value, so a secret sealed under another key is named as such rather than taken for a forgery,
//! and a rotation can tell old values from new.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{digest, hmac, rand};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use secrecy::{ExposeSecret, SecretSlice};

/// Bytes of the key (AES-256).
const KEY_BYTES: usize = 32;
/// What the key file starts with, so a signing key given by mistake is named as such.
const HEADER: &str = "watchword-totp-key-v1 ";

/// Associated data of a stored secret: its purpose and the account, so a row copied to another
/// account does not open.
fn secret_aad(name: &str) -> Vec<u8> {
    [b"watchword totp secret\0".as_slice(), name.as_bytes()].concat()
}

/// Associated data of an enrolment ticket: only the account it was made for may confirm it.
fn ticket_aad(name: &str) -> Vec<u8> {
    [b"watchword totp ticket\0".as_slice(), name.as_bytes()].concat()
}

/// Why the key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TotpKeyError {
    /// It could not be read.
    #[error("keys.totp_key_file: cannot read {path}")]
    Read {
        /// Path as configured.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// It does not hold a TOTP key.
    #[error(
        "keys.totp_key_file: {path} is not a TOTP key (one line \"{}BASE64\" of 32 bytes); \
         make one with `watchword keygen --kind totp --out FILE`", HEADER.trim_end()
    )]
    Wrong {
        /// Path as configured.
        path: String,
    },
    /// Writing a new key failed.
    #[error("cannot write {path}")]
    Write {
        /// Output path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The system random source failed.
    #[error("the random source failed")]
    Random,
}

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed under another key (an old one, or another deployment's).
    #[error("sealed under TOTP key {0}, not the key of keys.totp_key_file")]
    OtherKey(String),
    /// Not a sealed value, or altered, or sealed for another account.
    #[error("not a value sealed for this account (altered or copied)")]
    Forged,
}

/// The loaded key; never printed.
pub struct TotpKey {
    kid: String,
    aead: LessSafeKey,
    recovery: hmac::Key,
}

impl std::fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TotpKey({})", self.kid)
    }
}

/// Random bytes from the system source.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, TotpKeyError> {
    let mut out = vec![0u8; n];
    rand::fill(&mut out).map_err(|_| TotpKeyError::Random)?;
    Ok(out)
}

/// Write a new key file (mode 0600, refused if it exists).
pub fn write_new_key(out: &Path) -> Result<(), TotpKeyError> {
    let bytes = secrecy::zeroize::Zeroizing::new(random_bytes(KEY_BYTES)?);
    let text = secrecy::zeroize::Zeroizing::new(format!("{HEADER}{}\n", STANDARD.encode(&*bytes)));
    let err = |source| TotpKeyError::Write {
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
    f.write_all(text.as_bytes()).map_err(err)?;
    Ok(())
}

impl TotpKey {
    /// Read `keys.totp_key_file` (the start checks its permissions first, as it does the
    /// signing key's).
    pub fn from_file(path: &Path) -> Result<TotpKey, TotpKeyError> {
        let shown = path.display().to_string();
        let text =
            secrecy::zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                TotpKeyError::Read {
                    path: shown.clone(),
                    source,
                }
            })?);
        let wrong = || TotpKeyError::Wrong {
            path: shown.clone(),
        };
        let encoded = text.trim().strip_prefix(HEADER).ok_or_else(wrong)?;
        let bytes =
            secrecy::zeroize::Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|_| wrong())?);
        TotpKey::from_bytes(&bytes).ok_or_else(wrong)
    }

    /// A key of exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<TotpKey> {
        if bytes.len() != KEY_BYTES {
            return None;
        }
        let kid = hex(&digest::digest(&digest::SHA256, bytes).as_ref()[..8]);
        let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).ok()?);
        // The recovery-code key is derived, never the AES key itself.
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, bytes),
            b"watchword totp recovery codes",
        );
        let recovery = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        Some(TotpKey {
            kid,
            aead,
            recovery,
        })
    }

    /// The key id written before every sealed value.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, TotpKeyError> {
        let nonce_bytes = random_bytes(NONCE_LEN)?;
        let nonce =
            Nonce::try_assume_unique_for_key(&nonce_bytes).map_err(|_| TotpKeyError::Random)?;
        let mut buffer = plaintext.to_vec();
        self.aead
            .seal_in_place_append_tag(nonce, Aad::from(aad), &mut buffer)
            .map_err(|_| TotpKeyError::Random)?;
        let mut out = nonce_bytes;
        out.extend_from_slice(&buffer);
        Ok(format!("{}:{}", self.kid, URL_SAFE_NO_PAD.encode(out)))
    }

    fn open(&self, sealed: &str, aad: &[u8]) -> Result<SecretSlice<u8>, OpenError> {
        let (kid, body) = sealed.split_once(':').ok_or(OpenError::Forged)?;
        if kid != self.kid {
            return Err(OpenError::OtherKey(kid.to_owned()));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Forged)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError::Forged);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Forged)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .map_err(|_| OpenError::Forged)?;
        Ok(plain.to_vec().into())
    }

    /// `secret` sealed for the account `name`: what the `totp.secret` column holds.
    pub fn seal_secret(
        &self,
        name: &str,
        secret: &SecretSlice<u8>,
    ) -> Result<String, TotpKeyError> {
        self.seal(secret.expose_secret(), &secret_aad(name))
    }

    /// The secret of the `totp.secret` column of `name`.
    pub fn open_secret(&self, name: &str, sealed: &str) -> Result<SecretSlice<u8>, OpenError> {
        self.open(sealed, &secret_aad(name))
    }

    /// An enrolment ticket for `name`: the new secret and when the ticket expires (Unix
    /// seconds), sealed, so the server keeps nothing between enrol and confirm.
    pub fn seal_ticket(
        &self,
        name: &str,
        secret: &SecretSlice<u8>,
        expires: u64,
    ) -> Result<String, TotpKeyError> {
        let plain = secrecy::zeroize::Zeroizing::new(
            [expires.to_be_bytes().as_slice(), secret.expose_secret()].concat(),
        );
        self.seal(&plain, &ticket_aad(name))
    }

    /// The secret and expiry of a ticket made for `name`.
    pub fn open_ticket(
        &self,
        name: &str,
        ticket: &str,
    ) -> Result<(SecretSlice<u8>, u64), OpenError> {
        let plain = self.open(ticket, &ticket_aad(name))?;
        let plain = plain.expose_secret();
        if plain.len() <= 8 {
            return Err(OpenError::Forged);
        }
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&plain[..8]);
        Ok((plain[8..].to_vec().into(), u64::from_be_bytes(expires)))
    }

    /// The stored form of recovery code `code` of `name`: keyed, so a dump cannot be searched
    /// for codes offline.
    pub fn recovery_hash(&self, name: &str, code: &str) -> String {
        let normalized: String = code
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let mut ctx = hmac::Context::with_key(&self.recovery);
        ctx.update(name.as_bytes());
        ctx.update(b"\0");
        ctx.update(normalized.as_bytes());
        hex(ctx.sign().as_ref())
    }
}

/// Ten new recovery codes: 12 characters of lower-case base32 each (60 bits), shown as
/// `xxxx-xxxx-xxxx`.
pub fn new_recovery_codes() -> Result<Vec<String>, TotpKeyError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut codes = Vec::with_capacity(10);
    for _ in 0..10 {
        let bytes = random_bytes(12)?;
        let chars: Vec<char> = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
            .collect();
        let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
        codes.push(groups.join("-"));
    }
    Ok(codes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TotpKey {
        TotpKey::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn a_secret_opens_only_for_its_account_and_key() {
        let k = key();
        let secret: SecretSlice<u8> = b"12345678901234567890".to_vec().into();
        let sealed = k.seal_secret("alice", &secret).unwrap();
        assert!(!sealed.contains("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"), "{sealed}");
        assert_eq!(
            k.open_secret("alice", &sealed).unwrap().expose_secret(),
            b"12345678901234567890"
        );
        assert_eq!(
            k.open_secret("mallory", &sealed).unwrap_err(),
            OpenError::Forged
        );
        let other = TotpKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(matches!(
            other.open_secret("alice", &sealed),
            Err(OpenError::OtherKey(_))
        ));
        // Two seals of one secret differ (a fresh nonce each time).
        assert_ne!(sealed, k.seal_secret("alice", &secret).unwrap());
        // A flipped bit is refused.
        let mut forged = sealed.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            k.open_secret("alice", &forged).unwrap_err(),
            OpenError::Forged
        );
    }

    #[test]
    fn a_ticket_is_not_a_secret_and_keeps_its_expiry() {
        let k = key();
        let secret: SecretSlice<u8> = vec![1u8; 20].into();
        let ticket = k.seal_ticket("alice", &secret, 1234).unwrap();
        let (opened, expires) = k.open_ticket("alice", &ticket).unwrap();
        assert_eq!(opened.expose_secret(), &[1u8; 20][..]);
        assert_eq!(expires, 1234);
        assert!(k.open_ticket("bob", &ticket).is_err());
        assert!(k.open_secret("alice", &ticket).is_err());
    }

    #[test]
    fn recovery_codes_are_random_and_hashed_without_their_dashes() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 14), "{codes:?}");
        let k = key();
        let c = &codes[0];
        assert_eq!(
            k.recovery_hash("alice", c),
            k.recovery_hash("alice", &c.replace('-', "").to_uppercase())
        );
        assert_ne!(k.recovery_hash("alice", c), k.recovery_hash("bob", c));
    }

    #[test]
    fn a_written_key_reads_back_and_a_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("totp.key");
        write_new_key(&path).unwrap();
        let k = TotpKey::from_file(&path).unwrap();
        assert_eq!(k.kid().len(), 16);
        assert!(write_new_key(&path).is_err(), "never overwrites");
        let pem = dir.path().join("signing.pem");
        std::fs::write(&pem, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let err = TotpKey::from_file(&pem).unwrap_err().to_string();
        assert!(
            err.contains("keys.totp_key_file") && err.contains("keygen --kind totp"),
            "{err}"
        );
    }
}
