//! TOTP (RFC 6238) as a second factor for people of the database store: the codes
//! ([`code`]), the key that seals secrets, tickets and recovery codes ([`key`]), the tables
//! ([`store`]), and here the one check every login style goes through after argon2 said yes.
//!
//! Order (the login path keeps it): throttle → argon2 → code → compare-and-set of the last
//! step. Nothing here runs for a wrong password, so an enrolled account with a wrong password
//! costs what any account costs, and the database write is made only for a right password.

pub mod code;
pub mod key;
pub mod store;

use std::sync::Arc;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::database::QueryError;
use key::{OpenError, TotpKey};
use store::{TotpDb, TotpState};

/// Longest one-time password or recovery code read from a request (bytes).
pub const MAX_OTP_BYTES: usize = 64;

/// `[totp]`.
#[derive(Debug, Clone)]
pub struct TotpSettings {
    /// `totp.password_suffix`: accept `password:123456` in the password field, for Basic and
    /// other clients that have no second field (only for accounts with TOTP on).
    pub password_suffix: bool,
    /// `totp.required_roles`: accounts with one of these roles must have TOTP on to log in.
    pub required_roles: Vec<String>,
    /// `totp.issuer`: the name authenticator apps show for the account.
    pub issuer: String,
}

impl Default for TotpSettings {
    fn default() -> Self {
        TotpSettings {
            password_suffix: false,
            required_roles: Vec::new(),
            issuer: "watchword".into(),
        }
    }
}

/// TOTP as loaded with the keys: the key (`None` when `keys.totp_key_file` is not set) and
/// the settings.
#[derive(Debug, Clone, Default)]
pub struct SecondFactor {
    /// The key of `keys.totp_key_file`: seals everything new.
    pub key: Option<Arc<TotpKey>>,
    /// The keys of `keys.totp_old_key_files` (rotation): they open secrets and match recovery
    /// codes sealed before; a login that opens a secret with one seals it anew with [`key`],
    /// in the same write that records its step.
    ///
    /// [`key`]: SecondFactor::key
    pub old_keys: Vec<Arc<TotpKey>>,
    /// `[totp]`.
    pub settings: TotpSettings,
}

/// What a one-time password sent with a right password turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A code of a newer step than the last accepted one; it is now the last.
    Accepted,
    /// An unused recovery code; it is now used up.
    Recovery,
    /// A code of the window, but of a step accepted before (or taken by a concurrent login).
    Replayed,
    /// Neither a code of the window nor an unused recovery code.
    Wrong,
}

impl Verdict {
    /// The `result` label of `watchword_totp_total`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Recovery => "recovery_code",
            Verdict::Replayed => "replayed",
            Verdict::Wrong => "wrong",
        }
    }
}

/// Why a one-time password could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// An account has TOTP on, but no `keys.totp_key_file` is configured: refused (never let
    /// in on the password alone).
    #[error(
        "user {0:?} has TOTP on, but keys.totp_key_file is not set: its logins are refused \
         until the key is configured"
    )]
    NoKey(String),
    /// The stored secret did not open with the key.
    #[error("the TOTP secret of user {name:?} cannot be opened")]
    Open {
        /// The account.
        name: String,
        /// Why.
        #[source]
        source: OpenError,
    },
    /// A secret opened with an old key could not be sealed with the current one.
    #[error("the TOTP secret of user {0:?} cannot be sealed anew")]
    Seal(String, #[source] key::TotpKeyError),
    /// The database failed.
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl SecondFactor {
    /// True when an account with `roles` must have TOTP on (`totp.required_roles`).
    pub fn required_for(&self, roles: &[String]) -> bool {
        roles
            .iter()
            .any(|r| self.settings.required_roles.iter().any(|x| x == r))
    }

    /// Judge `otp` for the account `name` (TOTP on, as `state`), at time step `now`, and
    /// record its use: a code of the window is accepted only if its step is newer than the
    /// last accepted one, written with compare-and-set (one winner across replicas); a
    /// recovery code is deleted by exactly one login.
    pub async fn check(
        &self,
        db: &TotpDb,
        name: &str,
        state: &TotpState,
        otp: &SecretString,
        now: u64,
    ) -> Result<Verdict, CheckError> {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| CheckError::NoKey(name.to_owned()))?;
        let otp = otp.expose_secret();
        if !code::is_code_shaped(otp) {
            if otp.len() > MAX_OTP_BYTES {
                return Ok(Verdict::Wrong);
            }
            // Codes made before a rotation were hashed under the key of their day.
            for k in std::iter::once(key).chain(&self.old_keys) {
                if db
                    .use_recovery_code(name, &k.recovery_hash(name, otp))
                    .await?
                {
                    return Ok(Verdict::Recovery);
                }
            }
            return Ok(Verdict::Wrong);
        }
        let (secret, resealed) = self.open(key, name, &state.sealed)?;
        // Every matching step of the window, the newest taken: a code that matches a used
        // step and a newer one (a collision) is judged by the newer one.
        let Some(step) = code::matching_steps(&secret, otp, now).into_iter().max() else {
            return Ok(Verdict::Wrong);
        };
        if i64::try_from(step).map_or(true, |s| s <= state.last_step) {
            return Ok(Verdict::Replayed);
        }
        Ok(if db.advance(name, step, resealed).await? {
            Verdict::Accepted
        } else {
            Verdict::Replayed
        })
    }

    /// The secret of `sealed`, opened with the key whose id it names; when that is an old
    /// key, also the secret sealed anew with the current one.
    fn open(
        &self,
        key: &TotpKey,
        name: &str,
        sealed: &str,
    ) -> Result<(SecretSlice<u8>, Option<String>), CheckError> {
        let failed = |source| CheckError::Open {
            name: name.to_owned(),
            source,
        };
        match key.open_secret(name, sealed) {
            Ok(secret) => Ok((secret, None)),
            Err(OpenError::OtherKey(kid)) => {
                let old = self
                    .old_keys
                    .iter()
                    .find(|k| k.kid() == kid)
                    .ok_or_else(|| failed(OpenError::OtherKey(kid)))?;
                let secret = old.open_secret(name, sealed).map_err(failed)?;
                let resealed = key
                    .seal_secret(name, &secret)
                    .map_err(|e| CheckError::Seal(name.to_owned(), e))?;
                Ok((secret, Some(resealed)))
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// The `otpauth://` URI of `secret` for `name` (Key Uri Format: issuer label and
    /// parameter, SHA1, 6 digits, 30 s), what authenticator apps scan.
    pub fn otpauth_uri(&self, name: &str, secret: &SecretSlice<u8>) -> String {
        let issuer = utf8_percent_encode(&self.settings.issuer, NON_ALPHANUMERIC).to_string();
        let account = utf8_percent_encode(name, NON_ALPHANUMERIC).to_string();
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={}&period={}",
            code::base32(secret.expose_secret()),
            code::DIGITS,
            code::STEP_SECONDS
        )
    }
}

/// A new random secret.
pub fn new_secret() -> Result<SecretSlice<u8>, key::TotpKeyError> {
    Ok(key::random_bytes(code::SECRET_BYTES)?.into())
}

/// The step of the window around now whose code `otp` is (the newest when several), for an
/// enrolment's confirmation: `None` when it is none of them.
pub fn confirming_step(secret: &SecretSlice<u8>, otp: &str) -> Option<u64> {
    code::matching_steps(secret, otp.trim(), code::current_step())
        .into_iter()
        .max()
}
