//! What the login path answers ([`Granted`], [`Refused`]) and the account lookups that both
//! kinds of login share: a secret checked in [`attempt`](super::attempt) and a refresh token
//! in [`refresh`](super::refresh). Its own module so that those two import it, and not each
//! other.

use std::borrow::Cow;

use super::api_error::InternalError;
use super::second_factor::Denied;
use super::state::{AppState, Loaded};
use crate::database::QueryError;
use crate::login::users::User;

/// A successful login.
#[derive(Debug)]
pub struct Granted {
    /// The token's `sub`.
    pub name: String,
    /// The signed token.
    pub token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The granted scopes, space-separated, when scopes were asked for.
    pub scope: Option<String>,
    /// The session's refresh token, when `sessions.enabled` and the login starts sessions.
    pub refresh_token: Option<String>,
}

/// Why a login did not earn a token. Each endpoint maps these to its own answers.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Wrong secret, unknown account or disabled account (one answer for the three).
    #[error("bad credentials")]
    BadCredentials,
    /// The OAuth client's own authentication failed (same three cases).
    #[error("bad client credentials")]
    BadClient,
    /// The password was right, the account has TOTP on, and no one-time password came.
    #[error("one-time password required")]
    OtpRequired,
    /// The password was right, but the account's role requires TOTP and it has none.
    #[error("one-time password enrolment required")]
    EnrolmentRequired,
    /// The credentials were right, but a requested scope is not one of the account's
    /// permissions.
    #[error("scope not granted")]
    ScopeNotGranted,
    /// A refresh token that earns nothing (unknown, expired, revoked, replayed, or its account
    /// changed): one answer for all on each endpoint; the reason is for the log.
    #[error("invalid refresh token: {0}")]
    InvalidRefresh(crate::session::Invalid),
    /// Too many recent failures; retry after this many seconds.
    #[error("throttled")]
    Throttled(u64),
    /// The hashing queue is full.
    #[error("hashing queue full")]
    Busy,
    /// The user store (the database) cannot be reached: nothing was hashed or counted. The
    /// text names the error, never the database URL's password.
    #[error("user store unavailable: {0}")]
    StoreUnavailable(String),
    /// Something that should not happen.
    #[error(transparent)]
    Internal(InternalError),
}

impl Refused {
    /// The `outcome` of logs and metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Refused::BadCredentials | Refused::BadClient | Refused::InvalidRefresh(_) => {
                "bad_credentials"
            }
            Refused::ScopeNotGranted => "bad_request",
            Refused::OtpRequired => "otp_required",
            Refused::EnrolmentRequired => "enrolment_required",
            Refused::Throttled(_) => "throttled",
            Refused::Busy => "shed",
            Refused::StoreUnavailable(_) => "store_unavailable",
            Refused::Internal(_) => "internal_error",
        }
    }
}

impl From<Denied> for Refused {
    fn from(denied: Denied) -> Refused {
        match denied {
            Denied::OtpRequired => Refused::OtpRequired,
            Denied::EnrolmentRequired => Refused::EnrolmentRequired,
            Denied::Wrong => Refused::BadCredentials,
            Denied::StoreUnavailable(cause) => Refused::StoreUnavailable(cause),
            Denied::Internal(e) => Refused::Internal(InternalError::Totp(e)),
        }
    }
}

/// A sessions table that cannot be reached is the database being down (503, with the cause
/// for the log); any other error is internal.
pub fn store_error(e: QueryError) -> Refused {
    match e {
        QueryError::Unavailable(cause) => Refused::StoreUnavailable(cause),
        other => Refused::Internal(InternalError::Store(other)),
    }
}

/// 503 at once while the database user store is known to be down (a probe is asking it):
/// no throttle slot, no wait for a pooled connection.
pub fn known_down(state: &AppState, loaded: &Loaded) -> Result<(), Refused> {
    if loaded.users.database().is_some() && state.user_store.is_down() {
        return Err(Refused::StoreUnavailable(
            "the user store is down; asking it again every 250 ms".into(),
        ));
    }
    Ok(())
}

/// The account from the configured store; `watchword_user_store_up` follows the answer, and
/// a database that cannot be reached is marked down until a probe reaches it.
pub async fn lookup<'l>(
    state: &AppState,
    loaded: &'l Loaded,
    service: bool,
    name: &str,
) -> Result<Option<Cow<'l, User>>, Refused> {
    known_down(state, loaded)?;
    match loaded.users.find(service, name).await {
        Ok(found) => {
            state.user_store.answered();
            Ok(found)
        }
        Err(QueryError::Unavailable(cause)) => {
            if let Some(db) = loaded.users.database() {
                state.user_store.unreachable(db.database());
            }
            log::warn!("user store unavailable: {cause}");
            Err(Refused::StoreUnavailable(cause))
        }
        Err(other) => {
            state.user_store.answered();
            Err(Refused::Internal(InternalError::Store(other)))
        }
    }
}

/// A named organisation must be one of the account's; a named unit one of its units.
pub fn member(user: &User, organisation: Option<&str>, unit: Option<&str>) -> bool {
    let org_ok = organisation.is_none_or(|o| user.organisations.iter().any(|x| x == o));
    let unit_ok = unit.is_none_or(|u| user.units.iter().any(|x| x == u));
    org_ok && unit_ok
}
