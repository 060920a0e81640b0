//! The one login path behind `/login` and `/token`: the throttle, the account, argon2 on the
//! hashing pool (the dummy hash for unknown and disabled accounts), or for people in an LDAP
//! directory a bind as them instead; membership, scopes, and the signed token; then one log
//! line and the metrics.
//!
//! Both endpoints read and check their request (every limit before any hashing), then hand the
//! login to [`attempt_to_the_end`], which runs [`attempt`] and its [`record`] in a task of
//! their own; only the answer's shape differs. A rule made here (how an attempt is counted,
//! what is logged) holds for both endpoints and every login style.
//!
//! Why a task: actix drops a handler whose client has reset the connection. A guess whose
//! client hangs up while it is being hashed must still be counted, settled and logged, or
//! hanging up would make every guess free (its throttle slot was released as if the guess
//! had never been made, although argon2 ran anyway). The task is not dropped with the
//! handler; such an attempt is logged and counted as `outcome=abandoned`.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::web;
use secrecy::SecretString;

use super::api_error::InternalError;
use super::grant::{known_down, lookup, member, store_error};
pub use super::grant::{Granted, Refused};
pub use super::refresh::RefreshRequest;
use super::second_factor::{second_factor, split_suffix, Denied};
use super::state::{AppState, Loaded};
use crate::config::LoginSettings;
use crate::login::credentials::{Credentials, Secret};
use crate::login::hash_pool::{Abandoned, PoolError};
use crate::login::password::StoredHash;
use crate::login::throttle::Refused as Unchecked;
use crate::login::users::database::describe;
use crate::login::users::ldap::Directory;
use crate::login::users::User;
use crate::session::NewSession;
use crate::token::issuer::Context;

/// What the throttle counts logins by authentication code under, with the client address: the
/// code names no account, so its budget is per address. Not a possible account name (names
/// have no control characters), so no person shares this counter.
const CODE_THROTTLE_KEY: &str = "\u{1}authentication code";

/// One login, as checked and read by an endpoint.
pub struct Login {
    /// Who the token is for: a person, a service account, or an authentication code. `None`
    /// for the OAuth client credentials grant, where the token is for the client itself.
    pub owner: Option<Credentials>,
    /// An OAuth client (a service account) authenticating itself: checked before the owner;
    /// without an owner, the token is the client's.
    pub client: Option<ClientSecret>,
    /// The `client_id` of an OAuth client that sent no secret. Refused when it names a service
    /// account (a confidential client must authenticate, RFC 6749 §3.2.1); any other name is a
    /// public client and authenticates nothing. Service identifiers are not secrets, so telling
    /// them apart here gives nothing away.
    pub public_client: Option<String>,
    /// OAuth scopes asked for, each to be one of the account's permissions; `None` when the
    /// request named none (then the token has no `scope` claim). On a refresh, they may only
    /// narrow the session's.
    pub scope: Option<Vec<String>>,
    /// A refresh token instead of an owner's secret (`/token grant_type=refresh_token`,
    /// `/refresh`): the session's account is the owner ([`refresh`](super::refresh)).
    pub refresh: Option<RefreshRequest>,
    /// Start a session (and answer its refresh token) when `sessions.enabled`: the logins of
    /// people and service accounts on `/login` and `/token grant_type=password`, never the
    /// client credentials grant (RFC 6749 §4.4.3).
    pub session: bool,
}

/// A service account's identifier and pass code as an OAuth client sent them.
pub struct ClientSecret {
    /// The `client_id`: a service account identifier.
    pub identifier: String,
    /// The secret; over HTTP Basic also its form-urlencoded decoding when that differs (RFC
    /// 6749 §2.3.1 says clients encode, and many do not), checked in turn, one attempt.
    pub secrets: Vec<SecretString>,
}

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Over the limit (bytes); refused before it was all read.
    TooLarge(usize),
    /// The connection failed while sending it.
    Unreadable,
    /// It did not arrive in full within `login.body_timeout`.
    Timeout,
}

/// The body, up to `login.max_body_bytes`: a larger one is refused before it is all read. It
/// has `login.body_timeout` to arrive in full: actix's head timeout ends with the head, and a
/// client announcing a body and sending it slowly, or never, would otherwise hold its
/// connection (one of `server.max_connections`) for ever.
pub async fn read_body(
    payload: web::Payload,
    limits: &LoginSettings,
) -> Result<web::Bytes, BodyError> {
    let max = limits.max_body_bytes;
    match tokio::time::timeout(limits.body_timeout, payload.to_bytes_limited(max)).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(Ok(body))) => Ok(body),
        Ok(Ok(Err(_))) => Err(BodyError::Unreadable),
        Ok(Err(_)) => Err(BodyError::TooLarge(max)),
    }
}

/// An endpoint's error type, as its log line and metrics name it.
pub trait LoginError: From<Refused> + std::fmt::Display + 'static {
    /// The `outcome` of logs and metrics.
    fn outcome(&self) -> &'static str;
}

/// What the log line of an attempt names, known before the attempt starts.
pub struct Report {
    /// `/login`, or `/token grant_type=…`.
    pub endpoint: String,
    /// When the request arrived (for `latency_ms` and the duration histogram).
    pub started: Instant,
    /// The client address.
    pub client: IpAddr,
    /// The account name as sent, when there is one.
    pub user: Option<String>,
}

/// [`attempt`], then its [`record`], in a task of their own that the caller awaits: when the
/// caller is dropped (actix gave up on a client that reset the connection), the task runs on.
/// The attempt is then marked [`Abandoned`]: a check still queued is skipped by the hashing
/// pool and counts as a failure, one under way is settled by its result, and the log line and
/// metrics say `outcome=abandoned`. Only a login refused as busy before it was queued releases
/// its throttle slot.
pub async fn attempt_to_the_end<E: LoginError>(
    state: web::Data<AppState>,
    login: Login,
    report: Report,
) -> Result<Granted, E> {
    let abandoned = Abandoned::default();
    let guard = MarkAbandonedOnDrop(Some(abandoned.clone()));
    let (endpoint, started, client) = (report.endpoint.clone(), report.started, report.client);
    let task_state = state.clone();
    let task = actix_web::rt::spawn(async move {
        let state = task_state;
        let result = attempt(&state, report.client, login, &abandoned)
            .await
            .map_err(E::from);
        let (outcome, reason, user) = match &result {
            Ok(granted) => ("ok", None, Some(granted.name.as_str())),
            Err(e) => (e.outcome(), Some(e.to_string()), report.user.as_deref()),
        };
        let gone = abandoned.is_set();
        let outcome = Outcome {
            outcome: if gone { "abandoned" } else { outcome },
            result: gone.then_some(outcome),
            reason,
            user,
        };
        record(
            &state,
            &report.endpoint,
            report.started,
            Some(report.client),
            outcome,
        );
        result
    });
    let result = task.await;
    guard.disarm();
    result.unwrap_or_else(|panicked| {
        let e = E::from(Refused::Internal(InternalError::Task(panicked.to_string())));
        let outcome = Outcome {
            outcome: e.outcome(),
            result: None,
            reason: Some(e.to_string()),
            user: None,
        };
        record(&state, &endpoint, started, Some(client), outcome);
        Err(e)
    })
}

/// Sets the attempt's [`Abandoned`] flag when dropped, unless disarmed: dropped with the
/// handler future when actix gives up on a gone client.
struct MarkAbandonedOnDrop(Option<Abandoned>);

impl MarkAbandonedOnDrop {
    /// The handler got its answer: the client was still there.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for MarkAbandonedOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.set();
        }
    }
}

/// Check a login and sign its token: the client (if any), then the owner (if any), each
/// through the throttle and the hashing pool; then the scopes. Once a check is queued, the
/// attempt is settled whatever happens to `abandoned`.
pub async fn attempt(
    state: &AppState,
    ip: IpAddr,
    login: Login,
    abandoned: &Abandoned,
) -> Result<Granted, Refused> {
    let loaded = state.loaded();
    if let Some(identifier) = &login.public_client {
        if lookup(state, &loaded, true, identifier).await?.is_some() {
            return Err(Refused::BadClient);
        }
    }
    let client = match &login.client {
        Some(c) => {
            let secrets: Vec<&SecretString> = c.secrets.iter().collect();
            let who = Who::Service(&c.identifier);
            let client = authenticate(
                state,
                &loaded,
                ip,
                who,
                &secrets,
                (None, None),
                None,
                abandoned,
            )
            .await;
            Some(client.map_err(|e| match e {
                Refused::BadCredentials => Refused::BadClient,
                other => other,
            })?)
        }
        None => None,
    };
    if let Some(refresh) = &login.refresh {
        let client_id = login.client.as_ref().map(|c| c.identifier.as_str());
        let public_client = login.public_client.as_deref();
        let scope = login.scope.as_deref();
        return super::refresh::refresh(
            state,
            &loaded,
            ip,
            refresh,
            client_id,
            public_client,
            scope,
        )
        .await;
    }
    let (account, organisation, unit) = match (&login.owner, client) {
        (Some(creds), _) => {
            let (who, secret) = match &creds.secret {
                Secret::User { name, password } => (Who::User(name), password),
                Secret::Service {
                    identifier,
                    pass_code,
                } => (Who::Service(identifier), pass_code),
                Secret::Code { code } => (Who::Code, code),
            };
            let organisation = creds.organisation.as_deref();
            let unit = creds.unit.as_deref();
            let account = authenticate(
                state,
                &loaded,
                ip,
                who,
                &[secret],
                (organisation, unit),
                creds.otp.as_ref(),
                abandoned,
            )
            .await?;
            (account, creds.organisation.clone(), creds.unit.clone())
        }
        (None, Some(client)) => (client, None, None),
        (None, None) => return Err(Refused::BadCredentials),
    };

    // Scopes are judged only once the secret was right, so their answer says nothing about
    // accounts to someone without it.
    let scope = match &login.scope {
        None => None,
        Some(requested) => {
            let permitted = loaded.issuer.permissions_of(&account.user);
            if !requested.iter().all(|s| permitted.contains(s.as_str())) {
                return Err(Refused::ScopeNotGranted);
            }
            Some(requested.join(" "))
        }
    };
    let context = Context {
        organisation: organisation.clone(),
        unit: unit.clone(),
        scope: scope.clone(),
        client_id: login
            .client
            .as_ref()
            .filter(|_| login.owner.is_some())
            .map(|c| c.identifier.clone()),
        otp: account.otp,
    };
    let token = loaded
        .issuer
        .issue(&account.user, &context)
        .map_err(|e| Refused::Internal(InternalError::Issue(e)))?;
    let expires_in = loaded.issuer.ttl_secs(&account.user);
    let refresh_token = match (&state.sessions, login.session) {
        (Some(sessions), true) => {
            let new = NewSession {
                user_name: account.user.name.clone(),
                service: account.user.service,
                client_id: context
                    .client_id
                    .clone()
                    .or_else(|| login.public_client.clone()),
                confidential: context.client_id.is_some(),
                scope: scope.clone(),
                organisation,
                unit,
                phc: account.user.hash.phc().to_owned(),
                otp: account.otp,
            };
            Some(sessions.start(new).await.map_err(store_error)?)
        }
        _ => None,
    };
    if let Some(secret) = &account.secret {
        rehash_if_outdated(state, &loaded, &account.user, secret);
    }
    Ok(Granted {
        name: account.user.name.clone(),
        token,
        expires_in,
        scope,
        refresh_token,
    })
}

/// A client's own authentication for `/revoke` and `/introspect`: the throttle, the dummy
/// hash and the hashing pool exactly as for a login, in a task of its own so that a client
/// hanging up still has its guess counted. The identifier on success.
pub async fn authenticate_client(
    state: web::Data<AppState>,
    ip: IpAddr,
    client: ClientSecret,
) -> Result<String, Refused> {
    let task = actix_web::rt::spawn(async move {
        let loaded = state.loaded();
        let secrets: Vec<&SecretString> = client.secrets.iter().collect();
        let who = Who::Service(&client.identifier);
        let abandoned = Abandoned::default();
        authenticate(
            &state,
            &loaded,
            ip,
            who,
            &secrets,
            (None, None),
            None,
            &abandoned,
        )
        .await
        .map(|_| client.identifier.clone())
        .map_err(|e| match e {
            Refused::BadCredentials => Refused::BadClient,
            other => other,
        })
    });
    task.await
        .unwrap_or_else(|p| Err(Refused::Internal(InternalError::Task(p.to_string()))))
}

/// An account whose secret proved right, and that secret when it is the account's password or
/// pass code (what a rehash hashes anew); `None` for an authentication code.
struct Proven<'l> {
    user: Cow<'l, User>,
    secret: Option<SecretString>,
    /// A one-time password was accepted too (the token's `amr` is `["pwd", "otp"]`).
    otp: bool,
}

/// Which account a secret is for.
#[derive(Clone, Copy)]
enum Who<'a> {
    User(&'a str),
    Service(&'a str),
    /// The service account whose authentication code this is.
    Code,
}

/// One secret (or its variants, see [`ClientSecret::secrets`]) checked against one account:
/// the throttle first, then argon2 against the account's hash, or the dummy hash for an
/// unknown or disabled account so that the answer time does not tell which names exist; then
/// membership of the named organisation and unit (`place`); then, for a person, the second
/// factor (`otp`, see [`second_factor`]). Settles the throttle either way.
#[allow(clippy::too_many_arguments)]
async fn authenticate<'l>(
    state: &AppState,
    loaded: &'l Loaded,
    ip: IpAddr,
    who: Who<'_>,
    secrets: &[&SecretString],
    place: (Option<&str>, Option<&str>),
    otp: Option<&SecretString>,
    abandoned: &Abandoned,
) -> Result<Proven<'l>, Refused> {
    let (organisation, unit) = place;
    known_down(state, loaded)?;
    // Checked and counted atomically before any argon2 work: a locked pair costs nothing,
    // and concurrent guesses each hold a slot, so they cannot slip past the limit together.
    // Service identifiers count in their own namespace, through the same throttle.
    let key = match who {
        Who::User(name) => name.to_owned(),
        Who::Service(identifier) => format!("service account {identifier}"),
        Who::Code => CODE_THROTTLE_KEY.to_owned(),
    };
    let slot = state
        .throttle
        .begin_now(&key, ip)
        .await
        .map_err(|refused| match refused {
            Unchecked::Locked(locked) => Refused::Throttled(locked.retry_after.as_secs().max(1)),
            // throttle.on_store_error = "deny": no attempt without the shared count.
            Unchecked::Unavailable => Refused::StoreUnavailable(refused.to_string()),
        })?;

    // An unknown name is checked against the dummy of one of the parameter sets in use (the
    // same one every time for a name), a disabled account against its own hash (and refused
    // whatever the result), so neither costs otherwise than an account that exists. A store
    // that cannot answer ends the attempt here: no argon2 work, and the slot is dropped
    // unused, so the throttle counts nothing.
    let mut otp = otp;
    let suffixed: (SecretString, SecretString);
    let only: [&SecretString; 1];
    let mut secrets = secrets;
    let (account, secret) = match (who, loaded.users.directory()) {
        // The directory checks the password itself (a bind as the person): no argon2.
        (Who::User(name), Some(directory)) => (
            in_directory(state, directory, name, secrets)
                .await?
                .map(Cow::Owned),
            None,
        ),
        (Who::User(name) | Who::Service(name), _) => {
            let service = matches!(who, Who::Service(_));
            let found = lookup(state, loaded, service, name).await?;
            // `totp.password_suffix`: `password:123456` from a client with no second field,
            // split only for an account with TOTP on (before argon2, which sees the password).
            let wants_code = found.as_ref().is_some_and(|u| u.totp.is_some());
            if let (true, true, None, [password]) = (
                loaded.totp.settings.password_suffix && !service,
                wants_code,
                otp,
                secrets,
            ) {
                if let Some(split) = split_suffix(password) {
                    suffixed = split;
                    only = [&suffixed.0];
                    otp = Some(&suffixed.1);
                    secrets = &only;
                }
            }
            let hash = found.as_ref().map_or_else(
                || loaded.dummies.for_name(service, name),
                |u| Arc::clone(&u.hash),
            );
            let account = found.filter(|u| !u.disabled);
            let mut matched = None;
            for secret in secrets {
                if check(state, secret, Arc::clone(&hash), abandoned).await? {
                    matched = Some((*secret).clone());
                    break;
                }
            }
            match matched {
                Some(secret) => (account, Some(secret)),
                None => (None, None),
            }
        }
        (Who::Code, _) => (
            code_owner(state, loaded, secrets, abandoned)
                .await?
                .map(Cow::Borrowed),
            None,
        ),
    };
    // Membership is checked after the hash, so its answer time says nothing either; the
    // second factor only for a right password (its database write too).
    match account {
        Some(user) if member(&user, organisation, unit) => {
            match second_factor(state, loaded, &user, otp).await {
                Ok(otp) => {
                    slot.success().await;
                    Ok(Proven { user, secret, otp })
                }
                // Nothing was judged: counted as nothing, like an unreachable lookup.
                Err(e @ Denied::StoreUnavailable(_)) => Err(e.into()),
                Err(e) => {
                    slot.failure().await;
                    Err(e.into())
                }
            }
        }
        _ => {
            slot.failure().await;
            Err(Refused::BadCredentials)
        }
    }
}

/// A person's password checked by the directory: the account when a bind as them succeeds.
/// A refusal (unknown name, name found twice, wrong password) answers no sooner than
/// `ldap.min_refusal_time` after the lookup started: an unknown name costs one search, a
/// known one a search and a bind, and the answer time must not tell them apart. A directory
/// that cannot answer is a 503 (`watchword_user_store_up` 0); the caller's throttle slot is
/// then dropped unused, so nothing is counted.
async fn in_directory(
    state: &AppState,
    directory: &Directory,
    name: &str,
    secrets: &[&SecretString],
) -> Result<Option<User>, Refused> {
    let started = tokio::time::Instant::now();
    for secret in secrets {
        match directory.authenticate(name, secret).await {
            Ok(Some(user)) => {
                state.user_store.answered();
                return Ok(Some(user));
            }
            Ok(None) => state.user_store.answered(),
            Err(e) => {
                state.user_store.directory_unavailable();
                log::warn!("user store unavailable: {e}");
                return Err(Refused::StoreUnavailable(e.to_string()));
            }
        }
    }
    tokio::time::sleep_until(started + directory.min_refusal_time()).await;
    Ok(None)
}

/// After a successful login whose stored hash is weaker than `password.*`, hash the password
/// anew on the hashing pool and store it if the row still holds the old hash (compare and
/// swap: a `users passwd` in between wins). Runs after the token is signed; a full queue skips
/// it (the next login tries again) and a failed write is only logged. The users file is never
/// rewritten.
fn rehash_if_outdated(state: &AppState, loaded: &Loaded, user: &User, secret: &SecretString) {
    let Some(db) = loaded.users.database() else {
        return;
    };
    if !user.hash.is_weaker_than(&state.password_params) {
        return;
    }
    let (db, pool, params) = (
        db.clone(),
        state.pool.clone(),
        state.password_params.clone(),
    );
    let rehashes = state.metrics.rehashes.clone();
    let (service, name, old) = (user.service, user.name.clone(), user.hash.phc().to_owned());
    let secret = secret.clone();
    actix_web::rt::spawn(async move {
        let outcome = match pool.hash(&secret, params).await {
            Err(PoolError::Busy) => "skipped",
            Err(e) => {
                log::warn!("rehash of {}: {e}", describe(service, &name));
                "failed"
            }
            Ok(new) => match db.replace_hash(service, &name, &old, &new).await {
                Ok(true) => {
                    log::info!(
                        "rehash of {}: stored with the current password.* parameters",
                        describe(service, &name)
                    );
                    "stored"
                }
                Ok(false) => {
                    log::info!(
                        "rehash of {}: the account changed meanwhile, left as it is",
                        describe(service, &name)
                    );
                    "changed"
                }
                Err(e) => {
                    log::warn!("rehash of {}: not stored: {e}", describe(service, &name));
                    "failed"
                }
            },
        };
        rehashes.with_label_values(&[outcome]).inc();
    });
}

/// The service account whose authentication code `secrets` is. The code names no account,
/// so it is checked against every account that has one (disabled ones too, and the dummy hash
/// when there is none): the work depends only on how many codes are configured, not on the
/// code sent. A code that matches two accounts matches none.
async fn code_owner<'l>(
    state: &AppState,
    loaded: &'l Loaded,
    secrets: &[&SecretString],
    abandoned: &Abandoned,
) -> Result<Option<&'l User>, Refused> {
    let candidates = loaded.users.with_authentication_code();
    let mut found: Option<&User> = None;
    let mut ambiguous = false;
    for secret in secrets {
        if candidates.is_empty() {
            check(state, secret, Arc::clone(&state.dummy), abandoned).await?;
        }
        for user in &candidates {
            let Some(hash) = &user.authentication_code else {
                continue;
            };
            if check(state, secret, Arc::clone(hash), abandoned).await? && !user.disabled {
                ambiguous |= found.is_some_and(|f| f.name != user.name);
                found = Some(user);
            }
        }
    }
    if ambiguous {
        log::warn!("an authentication code matches more than one service account; refused");
        return Ok(None);
    }
    Ok(found)
}

/// One argon2 check on the hashing pool. A check skipped because its client had gone is a
/// mismatch: hanging up must not make a guess free.
async fn check(
    state: &AppState,
    secret: &SecretString,
    hash: Arc<StoredHash>,
    abandoned: &Abandoned,
) -> Result<bool, Refused> {
    let matched = state
        .pool
        .verify_unless_abandoned(secret, hash, abandoned)
        .await
        .map_err(|e| match e {
            PoolError::Busy => Refused::Busy,
            other => Refused::Internal(InternalError::Pool(other)),
        })?;
    Ok(matched.unwrap_or(false))
}

/// How one request on a login endpoint ended, for [`record`].
pub struct Outcome<'a> {
    /// `ok` or the failure's outcome name (metrics label and log field); `abandoned` when the
    /// client left before the answer.
    pub outcome: &'static str,
    /// For an abandoned attempt, how it ended (`ok`, `bad_credentials`, …).
    pub result: Option<&'static str>,
    /// The failure as its answer describes it (never a secret); `None` on success.
    pub reason: Option<String>,
    /// The account name as sent, when it was read.
    pub user: Option<&'a str>,
}

/// One log line and the metrics for a request on a login endpoint (`/login`, or `/token` with
/// its grant type in `endpoint`), whatever its outcome. Never a secret or a token.
pub fn record(
    state: &AppState,
    endpoint: &str,
    started: Instant,
    client: Option<IpAddr>,
    outcome: Outcome<'_>,
) {
    let client = client.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let secs = started.elapsed().as_secs_f64();
    let ms = secs * 1000.0;
    state.metrics.login_seconds.observe(secs);
    state
        .metrics
        .logins
        .with_label_values(&[outcome.outcome])
        .inc();
    let user = outcome.user.unwrap_or("-");
    let result = outcome
        .result
        .map_or_else(String::new, |r| format!(" result={r}"));
    match &outcome.reason {
        None => log::info!(
            "login outcome={}{result} user={user:?} client={client} latency_ms={ms:.1} endpoint={endpoint}",
            outcome.outcome
        ),
        Some(reason) => log::info!(
            "login outcome={}{result} reason={reason:?} user={user:?} client={client} latency_ms={ms:.1} endpoint={endpoint}",
            outcome.outcome
        ),
    }
}
