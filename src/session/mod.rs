//! Sessions: what a login with `sessions.enabled` starts, and what its refresh token renews.
//!
//! A login stores a session row ([`store`]) and answers its first refresh token
//! ([`refresh_token`]): the session id and a counter under the refresh key's HMAC. A refresh
//! presents the token of one step; the step decides ([`Sessions::check`]):
//!
//! - the current step rotates: one compare-and-set moves the counter, and the caller gets the
//!   next step's token (RFC 9700 §4.14.2);
//! - the step one behind, within `sessions.reuse_interval` of the rotation (a lost response,
//!   two tabs): the current step's token again, the same string, never a second branch;
//! - any other step is a replayed token: the whole session is revoked.
//!
//! The HTTP side (`http::refresh`) checks the client and re-reads the account between
//! [`Sessions::check`] and [`Sessions::advance`], so a disabled account never rotates.

mod clock;
pub mod refresh_token;
pub mod revocations;
pub mod settings;
pub mod store;

use std::time::Duration;

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::database::{Database, QueryError};
pub use clock::now_ms;
use refresh_token::{new_session_id, Presented, RefreshKeyError, RefreshKeys};
use settings::SessionSettings;
use store::{Session, SessionStore};

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What the sessions table keeps of an account's password hash: a digest, so that a changed
/// password is seen at the next refresh, without a copy of the hash (the digest of a salted
/// argon2 hash tells nothing about the password).
pub fn credential_of(phc: &str) -> String {
    let d = digest::digest(&digest::SHA256, phc.as_bytes());
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
}

/// Why a refresh token earns nothing. One answer for all of them on each endpoint; the
/// variant is for the log and the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not a token of ours (malformed, unknown key, wrong MAC) or of no known session.
    #[error("not a valid refresh token")]
    Unknown,
    /// The session was revoked (logout, reuse, account change).
    #[error("the session is revoked")]
    Revoked,
    /// Idle longer than `sessions.idle_timeout`, or older than `sessions.max_lifetime`.
    #[error("the session has expired")]
    Expired,
    /// An old token replayed: the session is now revoked.
    #[error("an old refresh token was reused; the session is revoked")]
    Reused,
    /// The account is gone, disabled, or its password changed: the session is now revoked.
    #[error("the account changed since the login; the session is revoked")]
    Account,
}

impl Invalid {
    /// The `result` label of `watchword_refresh_total`.
    pub fn label(self) -> &'static str {
        match self {
            Invalid::Unknown => "invalid",
            Invalid::Revoked => "revoked",
            Invalid::Expired => "expired",
            Invalid::Reused => "reuse_detected",
            Invalid::Account => "account_changed",
        }
    }
}

/// Why a refresh failed: the token, or the database.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The token earns nothing.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The sessions table could not be read or written.
    #[error(transparent)]
    Store(#[from] QueryError),
}

/// A presented token's step, once checked against its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The current step: rotates.
    Current,
    /// One step behind, within the grace interval: gets the current step's token.
    Grace,
}

/// A refresh token that passed [`Sessions::check`], with its session as read.
#[derive(Debug)]
pub struct Checked {
    /// The session row.
    pub session: Session,
    /// The step the token was made for.
    pub presented: i64,
    /// What it earns.
    pub step: Step,
}

/// What a new login's session is made of.
pub struct NewSession {
    /// The account.
    pub user_name: String,
    /// A service account.
    pub service: bool,
    /// The OAuth client, when one was named.
    pub client_id: Option<String>,
    /// It authenticated with a secret.
    pub confidential: bool,
    /// Granted scopes, space-separated.
    pub scope: Option<String>,
    /// Organisation named at login.
    pub organisation: Option<String>,
    /// Unit named at login.
    pub unit: Option<String>,
    /// The account's password (or pass code) hash, PHC string.
    pub phc: String,
    /// The login passed a one-time password too.
    pub otp: bool,
}

/// `[sessions]` at work: its settings, keys and table.
#[derive(Debug)]
pub struct Sessions {
    settings: SessionSettings,
    keys: RefreshKeys,
    store: SessionStore,
}

impl Sessions {
    /// Sessions on `db`, with the keys of `settings` (`allow_world_readable` is
    /// `keys.allow_world_readable`).
    pub fn open(
        settings: &SessionSettings,
        db: Database,
        allow_world_readable: bool,
    ) -> Result<Sessions, RefreshKeyError> {
        // Validation guarantees a key file when sessions are on.
        let path = settings.refresh_key_file.clone().unwrap_or_default();
        let keys = RefreshKeys::load(
            &path,
            &settings.refresh_verify_only_files,
            allow_world_readable,
        )?;
        Ok(Sessions::with_keys(settings, db, keys))
    }

    /// Sessions with keys already loaded.
    pub fn with_keys(settings: &SessionSettings, db: Database, keys: RefreshKeys) -> Sessions {
        Sessions {
            settings: settings.clone(),
            keys,
            store: SessionStore::new(db),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// The table.
    pub fn store(&self) -> &SessionStore {
        &self.store
    }

    /// Store a new session; its first refresh token.
    pub async fn start(&self, new: NewSession) -> Result<String, QueryError> {
        let now = now_ms();
        let session = Session {
            id: new_session_id(),
            user_name: new.user_name,
            service: new.service,
            client_id: new.client_id,
            confidential: new.confidential,
            scope: new.scope,
            organisation: new.organisation,
            unit: new.unit,
            credential: credential_of(&new.phc),
            counter: 0,
            created_at: now,
            last_used_at: now,
            rotated_at: now,
            revoked_at: None,
            revoked_reason: None,
            otp: new.otp,
        };
        self.store.create(&session).await?;
        Ok(self.keys.mint(&session.id, 0))
    }

    /// Check `token` against its session, without changing anything but what a bad token
    /// ends: a replayed token revokes its session, an expired one is marked so.
    pub async fn check(&self, token: &str) -> Result<Checked, RefreshError> {
        let Presented { session, counter } = self.keys.open(token).ok_or(Invalid::Unknown)?;
        let session = self.store.find(&session).await?.ok_or(Invalid::Unknown)?;
        if session.revoked_at.is_some() {
            return Err(Invalid::Revoked.into());
        }
        let now = now_ms();
        if now.saturating_sub(session.last_used_at) > ms(self.settings.idle_timeout)
            || now.saturating_sub(session.created_at) > ms(self.settings.max_lifetime)
        {
            self.store.revoke(&session.id, "expired", now).await?;
            return Err(Invalid::Expired.into());
        }
        let step = if counter == session.counter {
            Step::Current
        } else if counter + 1 == session.counter && self.within_grace(&session, now) {
            Step::Grace
        } else {
            self.store.revoke(&session.id, "reuse", now).await?;
            return Err(Invalid::Reused.into());
        };
        Ok(Checked {
            session,
            presented: counter,
            step,
        })
    }

    fn within_grace(&self, session: &Session, now: i64) -> bool {
        now.saturating_sub(session.rotated_at) <= ms(self.settings.reuse_interval)
    }

    /// The token a checked refresh earns: for the current step, the next step's after the
    /// one compare-and-set (a refresh that loses the race to a concurrent one with the same
    /// token gets what the winner got, within the grace interval); for a grace step, the
    /// current step's.
    pub async fn advance(&self, checked: &Checked) -> Result<String, RefreshError> {
        let s = &checked.session;
        match checked.step {
            Step::Grace => Ok(self.keys.mint(&s.id, s.counter)),
            Step::Current => {
                let now = now_ms();
                if self.store.rotate(&s.id, checked.presented, now).await? {
                    return Ok(self.keys.mint(&s.id, checked.presented + 1));
                }
                // Lost the race: the winner has rotated (or the session was revoked).
                let now_row = self.store.find(&s.id).await?.ok_or(Invalid::Unknown)?;
                if now_row.revoked_at.is_some() {
                    return Err(Invalid::Revoked.into());
                }
                if now_row.counter == checked.presented + 1 && self.within_grace(&now_row, now) {
                    return Ok(self.keys.mint(&s.id, now_row.counter));
                }
                self.store.revoke(&s.id, "reuse", now).await?;
                Err(Invalid::Reused.into())
            }
        }
    }

    /// Revoke the session of `token` (`/logout`, `/revoke`): any step of it, as long as the
    /// MAC is right. False for a token that is not ours or a session already over.
    pub async fn logout(&self, token: &str, reason: &str) -> Result<bool, QueryError> {
        match self.keys.open(token) {
            Some(p) => self.store.revoke(&p.session, reason, now_ms()).await,
            None => Ok(false),
        }
    }

    /// The session of a refresh token whose MAC is right, revoked or not, and the step the
    /// token is for (`/revoke`, `/introspect`).
    pub async fn session_of(&self, token: &str) -> Result<Option<(Session, i64)>, QueryError> {
        match self.keys.open(token) {
            Some(p) => Ok(self.store.find(&p.session).await?.map(|s| (s, p.counter))),
            None => Ok(None),
        }
    }

    /// Whether a session is live now (not revoked, not idle too long, not too old), and when
    /// it ends at the latest (ms).
    pub fn live_until(&self, s: &Session) -> Option<i64> {
        let now = now_ms();
        let until = (s
            .last_used_at
            .saturating_add(ms(self.settings.idle_timeout)))
        .min(s.created_at.saturating_add(ms(self.settings.max_lifetime)));
        (s.revoked_at.is_none() && until > now).then_some(until)
    }

    /// Revoke a checked session because its account changed (gone, disabled, new password).
    pub async fn end_for_account(&self, session: &Session) -> Result<(), QueryError> {
        self.store
            .revoke(&session.id, "account", now_ms())
            .await
            .map(|_| ())
    }
}
