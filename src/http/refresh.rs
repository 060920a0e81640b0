//! Refreshing: a refresh token in, a new access token and the session's next refresh token
//! out. `POST /token grant_type=refresh_token` (RFC 6749 §6) and the header style
//! `POST /refresh` (`Refresh-Token: …`, answering the `/login` envelope,
//! [`refresh_endpoint`](super::refresh_endpoint)) both come here through the login path
//! ([`attempt`](super::attempt)), so a refresh is throttled, run to the end if its client hangs
//! up, logged and counted like a login.
//!
//! Order: the throttle (refresh failures count per client address, like wrong passwords), the
//! token against its session ([`Sessions::check`](crate::session::Sessions::check)), the
//! client the session was issued to, the account read anew (gone, disabled or a changed
//! password ends the session; changed roles give new claims), the scope, and only then the
//! rotation, so that nothing refused ever moves the counter.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

use super::api_error::InternalError;
use super::grant::{known_down, lookup, member, store_error, Granted, Refused};
use super::state::{AppState, Loaded};
use crate::login::throttle::Refused as Unchecked;
use crate::session::{credential_of, Invalid, RefreshError, Step};
use crate::token::issuer::Context;

/// A refresh token presented for a new access token.
pub struct RefreshRequest {
    /// The token; a bearer secret, never logged.
    pub token: SecretString,
    /// `/token` (true: a session issued to a confidential client that is not authenticated
    /// again is `invalid_client`) or `/refresh` (false: one refusal for everything).
    pub oauth: bool,
}

/// What the throttle counts refresh failures under, with the client address: a refresh token
/// names no account that a guesser would know, so its budget is per address. Not a possible
/// account name (names have no control characters).
const REFRESH_THROTTLE_KEY: &str = "\u{1}refresh token";

/// The refresh of a login path's request. `client` is the client identifier that
/// authenticated in this request (its secret already checked), if any; `public_client` a
/// `client_id` sent without a secret; `scope` the scopes asked for.
pub async fn refresh(
    state: &AppState,
    loaded: &Loaded,
    ip: IpAddr,
    request: &RefreshRequest,
    client: Option<&str>,
    public_client: Option<&str>,
    scope: Option<&[String]>,
) -> Result<Granted, Refused> {
    if state.sessions.is_none() {
        return Err(Refused::InvalidRefresh(Invalid::Unknown));
    }
    known_down(state, loaded)?;
    // Checked before anything else, but not held: a reservation would count every refresh
    // in flight against the address's budget, and 20 tabs (or clients behind one NAT)
    // refreshing at once would lock each other out. A refresh costs no argon2 work, so there
    // is nothing for concurrent guesses to slip past; a failure is recorded when it happens.
    let throttled = |refused: Unchecked| match refused {
        Unchecked::Locked(locked) => Refused::Throttled(locked.retry_after.as_secs().max(1)),
        Unchecked::Unavailable => Refused::StoreUnavailable(refused.to_string()),
    };
    let slot = state
        .throttle
        .begin_now(REFRESH_THROTTLE_KEY, ip)
        .await
        .map_err(throttled)?;
    drop(slot);
    let result = checked_refresh(state, loaded, request, client, public_client, scope).await;
    let label = match &result {
        Ok((_, Step::Current)) => "rotated",
        Ok((_, Step::Grace)) => "grace",
        Err(Refused::InvalidRefresh(why)) => why.label(),
        Err(Refused::BadClient) => "bad_client",
        Err(Refused::ScopeNotGranted) => "bad_scope",
        Err(_) => "error",
    };
    state.metrics.refreshes.with_label_values(&[label]).inc();
    match result {
        Ok((granted, _)) => Ok(granted),
        Err(e @ (Refused::InvalidRefresh(_) | Refused::BadClient)) => {
            // Counted like a wrong password. Locked meanwhile: it counts already.
            if let Ok(slot) = state.throttle.begin_now(REFRESH_THROTTLE_KEY, ip).await {
                slot.failure().await;
            }
            Err(e)
        }
        // A store or pool failure says nothing about the token: nothing is counted.
        Err(e) => Err(e),
    }
}

/// Everything after the throttle; the step the token earned, for the metric.
async fn checked_refresh(
    state: &AppState,
    loaded: &Loaded,
    request: &RefreshRequest,
    client: Option<&str>,
    public_client: Option<&str>,
    scope: Option<&[String]>,
) -> Result<(Granted, Step), Refused> {
    let Some(sessions) = &state.sessions else {
        return Err(Refused::InvalidRefresh(Invalid::Unknown));
    };
    let refused = |e: RefreshError| match e {
        RefreshError::Invalid(why) => Refused::InvalidRefresh(why),
        RefreshError::Store(e) => store_error(e),
    };
    let checked = sessions
        .check(request.token.expose_secret())
        .await
        .map_err(refused)?;
    let s = &checked.session;

    // The client the session was issued to, authenticated as it was then. A session of a
    // confidential client refreshed without that client: 401 invalid_client on /token (and
    // nothing changes); on /refresh, which has no client, the one refusal.
    if s.confidential {
        if client.is_none() || client != s.client_id.as_deref() {
            return Err(if request.oauth && client.is_none() {
                Refused::BadClient
            } else {
                Refused::InvalidRefresh(Invalid::Unknown)
            });
        }
    } else if client.is_some() || public_client.is_some_and(|id| Some(id) != s.client_id.as_deref())
    {
        return Err(Refused::InvalidRefresh(Invalid::Unknown));
    }

    // The account as it is now.
    let found = lookup(state, loaded, s.service, &s.user_name).await?;
    let user = match found {
        Some(user)
            if !user.disabled
                && credential_of(user.hash.phc()) == s.credential
                && member(&user, s.organisation.as_deref(), s.unit.as_deref()) =>
        {
            user
        }
        _ => {
            sessions.end_for_account(s).await.map_err(store_error)?;
            return Err(Refused::InvalidRefresh(Invalid::Account));
        }
    };

    // A requested scope may only narrow the session's; the account's current permissions
    // narrow it further (roles changed since the login).
    let session_scopes: Vec<&str> = s
        .scope
        .as_deref()
        .map_or(Vec::new(), |t| t.split(' ').collect());
    let scope = match (scope, &s.scope) {
        (None, None) => None,
        (Some(asked), _) if !asked.iter().all(|a| session_scopes.contains(&a.as_str())) => {
            return Err(Refused::ScopeNotGranted)
        }
        (asked, _) => {
            let permitted = loaded.issuer.permissions_of(&user);
            let wanted: Vec<&str> = match asked {
                Some(asked) => asked.iter().map(String::as_str).collect(),
                None => session_scopes.clone(),
            };
            Some(
                wanted
                    .into_iter()
                    .filter(|w| permitted.contains(*w))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
    };

    let refresh_token = sessions.advance(&checked).await.map_err(refused)?;
    let context = Context {
        organisation: s.organisation.clone(),
        unit: s.unit.clone(),
        scope: scope.clone(),
        client_id: s.client_id.clone().filter(|_| s.confidential),
        // A refresh keeps the `amr` of its login.
        otp: s.otp,
    };
    let token = loaded
        .issuer
        .issue(&user, &context)
        .map_err(|e| Refused::Internal(InternalError::Issue(e)))?;
    let granted = Granted {
        name: user.name.clone(),
        token,
        expires_in: loaded.issuer.ttl_secs(&user),
        scope,
        refresh_token: Some(refresh_token),
    };
    Ok((granted, checked.step))
}
