//! Refresh tokens: a session id and its counter under HMAC-SHA256 with the refresh key.
//!
//! `<kid>.<session id>.<counter>.<mac>`, every part base64url or decimal. The database holds
//! the session id and the counter but never the key (`sessions.refresh_key_file`), so a dump
//! of the sessions table, even with old tokens beside it, cannot make a token: the MAC of a
//! new counter needs the key. The string is a pure function of (key, session, counter), so
//! the grace answer to a token one step behind is the current step's token itself, with no
//! token kept anywhere.
//!
//! `kid` names the key (a digest of it) so that the key can rotate: tokens of the keys in
//! `sessions.refresh_verify_only_files` are still accepted, and new ones are signed with the
//! active key only.

use std::path::{Path, PathBuf};

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::token::key_file::check_key_file;
use crate::token::signing_key::SigningKeyError;

/// What every MAC input starts with: a token of this kind and version, never another HMAC use
/// of the same secret.
const DOMAIN: &[u8] = b"watchword refresh token v1\0";

/// Longest refresh token read: far more than one this module makes (about 90 bytes).
pub const MAX_REFRESH_TOKEN_BYTES: usize = 256;

/// Why a refresh key file cannot be used; the start stops naming the key.
#[derive(Debug, thiserror::Error)]
pub enum RefreshKeyError {
    /// The file could not be read.
    #[error("{key}: cannot read {path}: {source}")]
    Read {
        /// `sessions.refresh_key_file` or `sessions.refresh_verify_only_files`.
        key: &'static str,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The secret is too short or guessable.
    #[error(
        "{key}: {path}: the secret is refused: {reason}. Make a random one with \
         `watchword keygen --alg HS256 --out FILE`"
    )]
    Weak {
        /// Which key.
        key: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: watchword_verify::WeakSecret,
    },
    /// The file's permissions let other users read it.
    #[error(transparent)]
    Permissions(#[from] SigningKeyError),
}

/// One refresh key: its id and the HMAC key (whose `Debug` shows no secret).
struct RefreshKey {
    kid: String,
    key: hmac::Key,
}

impl RefreshKey {
    fn from_secret(secret: &[u8]) -> RefreshKey {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"watchword refresh key id\0");
        ctx.update(secret);
        let id = ctx.finish();
        RefreshKey {
            // 48 bits of the digest: enough to tell a handful of keys apart, and says nothing
            // about the secret.
            kid: URL_SAFE_NO_PAD.encode(&id.as_ref()[..6]),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn load(path: &Path, key: &'static str, allow: bool) -> Result<RefreshKey, RefreshKeyError> {
        check_key_file(path, key, allow)?;
        let path_text = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| RefreshKeyError::Read {
            key,
            path: path_text.clone(),
            source,
        })?;
        // Wiped when dropped; the HMAC key keeps its own copy.
        let bytes: secrecy::SecretSlice<u8> = bytes.into();
        let mut secret: &[u8] = secrecy::ExposeSecret::expose_secret(&bytes);
        while let [rest @ .., b'\n' | b'\r'] = secret {
            secret = rest;
        }
        watchword_verify::check_hs256_secret(secret).map_err(|reason| RefreshKeyError::Weak {
            key,
            path: path_text,
            reason,
        })?;
        Ok(RefreshKey::from_secret(secret))
    }

    fn mac(&self, session: &str, counter: i64) -> hmac::Tag {
        hmac::sign(&self.key, &message(&self.kid, session, counter))
    }
}

fn message(kid: &str, session: &str, counter: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 64);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(format!("{kid}.{session}.{counter}").as_bytes());
    m
}

/// The refresh keys: the active one (signs) and the verify-only ones (accepted).
pub struct RefreshKeys {
    active: RefreshKey,
    older: Vec<RefreshKey>,
}

impl std::fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshKeys")
            .field("active", &self.active.kid)
            .finish_non_exhaustive()
    }
}

/// A refresh token that verified: which session, which step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The session id.
    pub session: String,
    /// The counter the token was made for.
    pub counter: i64,
}

impl RefreshKeys {
    /// Load `sessions.refresh_key_file` and `sessions.refresh_verify_only_files`
    /// (`allow_world_readable` is `keys.allow_world_readable`).
    pub fn load(
        active: &Path,
        older: &[PathBuf],
        allow_world_readable: bool,
    ) -> Result<RefreshKeys, RefreshKeyError> {
        Ok(RefreshKeys {
            active: RefreshKey::load(active, "sessions.refresh_key_file", allow_world_readable)?,
            older: older
                .iter()
                .map(|p| {
                    RefreshKey::load(
                        p,
                        "sessions.refresh_verify_only_files",
                        allow_world_readable,
                    )
                })
                .collect::<Result<_, _>>()?,
        })
    }

    /// Keys from secrets in memory (tests, benchmarks).
    pub fn from_secrets(active: &[u8], older: &[&[u8]]) -> RefreshKeys {
        RefreshKeys {
            active: RefreshKey::from_secret(active),
            older: older.iter().map(|s| RefreshKey::from_secret(s)).collect(),
        }
    }

    /// The token for step `counter` of `session`, under the active key. Deterministic: the
    /// same inputs give the same string.
    pub fn mint(&self, session: &str, counter: i64) -> String {
        let key = &self.active;
        let tag = key.mac(session, counter);
        format!(
            "{}.{session}.{counter}.{}",
            key.kid,
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The session and step of `token` when its MAC verifies under one of the keys; `None` for
    /// anything else (malformed, unknown key, wrong MAC), one answer for all.
    pub fn open(&self, token: &str) -> Option<Presented> {
        if token.len() > MAX_REFRESH_TOKEN_BYTES {
            return None;
        }
        let mut parts = token.split('.');
        let (kid, session, counter, mac) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !is_id(session) {
            return None;
        }
        // Decimal digits only, no sign or leading zero: one string per step.
        if counter.is_empty()
            || !counter.bytes().all(|b| b.is_ascii_digit())
            || (counter.len() > 1 && counter.starts_with('0'))
        {
            return None;
        }
        let counter: i64 = counter.parse().ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let key = std::iter::once(&self.active)
            .chain(&self.older)
            .find(|k| k.kid == kid)?;
        hmac::verify(&key.key, &message(kid, session, counter), &mac).ok()?;
        Some(Presented {
            session: session.to_owned(),
            counter,
        })
    }
}

/// A new session id: 128 random bits, base64url.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    // The system generator failing is the machine failing; aws-lc aborts rather than
    // returning weak bytes.
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What a session id looks like: 22 base64url characters.
fn is_id(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"Zk3b0mT1u7cQ9xYp2WvR4sLn8eJh6dGa";
    const B: &[u8] = b"Qw8rT2yU6iO0pA4sD9fG3hJ7kL1zX5cV";

    #[test]
    fn tokens_open_under_their_key_and_are_deterministic() {
        let keys = RefreshKeys::from_secrets(A, &[]);
        let id = new_session_id();
        let t = keys.mint(&id, 7);
        assert_eq!(t, keys.mint(&id, 7));
        assert_ne!(t, keys.mint(&id, 8));
        assert_eq!(
            keys.open(&t),
            Some(Presented {
                session: id.clone(),
                counter: 7
            })
        );
        // Rotation: B active, A verify-only, still opens A's tokens; without A it does not.
        let rotated = RefreshKeys::from_secrets(B, &[A]);
        assert!(rotated.open(&t).is_some());
        assert!(RefreshKeys::from_secrets(B, &[]).open(&t).is_none());
    }

    #[test]
    fn altered_tokens_are_refused() {
        let keys = RefreshKeys::from_secrets(A, &[]);
        let id = new_session_id();
        let t = keys.mint(&id, 3);
        let parts: Vec<&str> = t.split('.').collect();
        for bad in [
            String::new(),
            format!("{}.{}.4.{}", parts[0], parts[1], parts[3]),
            format!("{}.{}.03.{}", parts[0], parts[1], parts[3]),
            format!("{}.{}.+3.{}", parts[0], parts[1], parts[3]),
            format!("{}.{}.3.{}x", parts[0], parts[1], parts[3]),
            format!("{}.{}.3.{}.", parts[0], parts[1], parts[3]),
            format!("x{}", t),
            t.replace(parts[1], &new_session_id()),
            "a".repeat(MAX_REFRESH_TOKEN_BYTES + 1),
        ] {
            assert!(keys.open(&bad).is_none(), "{bad}");
        }
    }
}
