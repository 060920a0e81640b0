//! `/login`: `User-Name` and `Password` headers in, a signed token out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::api_error::{ApiError, InternalError};
use super::client_address::client_ip;
use super::login_request::extract;
use super::state::{AppState, Loaded};
use crate::database::QueryError;
use crate::login::credentials::{Credentials, Secret};
use crate::login::hash_pool::PoolError;
use crate::login::users::database::describe;
use crate::login::users::User;
use crate::token::issuer::Scope;
use secrecy::SecretString;
use std::borrow::Cow;
use watchword_verify::Envelope;

/// `GET|POST /login`.
pub async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let client = req
        .peer_addr()
        .map(|peer| client_ip(peer.ip(), req.headers(), &state.trusted_proxies));
    let result = match client {
        Some(ip) => attempt(&req, payload, &state, ip).await,
        None => Err((None, ApiError::Internal(InternalError::NoPeerAddress))),
    };
    let client = client.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let secs = started.elapsed().as_secs_f64();
    let ms = secs * 1000.0;
    state.metrics.login_seconds.observe(secs);
    let outcome = match &result {
        Ok(_) => "ok",
        Err((_, e)) => e.outcome(),
    };
    state.metrics.logins.with_label_values(&[outcome]).inc();
    match &result {
        Ok((user, ..)) => {
            log::info!("login outcome=ok user={user:?} client={client} latency_ms={ms:.1}")
        }
        Err((user, e)) => log::info!(
            "login outcome={} reason={:?} user={:?} client={client} latency_ms={ms:.1}",
            e.outcome(),
            e.to_string(),
            user.as_deref().unwrap_or("-"),
        ),
    }
    let (_, token, ttl) = result.map_err(|(_, e)| e)?;
    let body = Envelope::token(token, ttl).to_json();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type("application/json")
        .body(body))
}

/// (user name, token, its lifetime in seconds), or the name if it was read and the error.
type AttemptResult = Result<(String, String, u64), (Option<String>, ApiError)>;

/// The body, up to `max` bytes: a larger one is refused before it is all read.
async fn read_body(payload: web::Payload, max: usize) -> Result<web::Bytes, ApiError> {
    match payload.to_bytes_limited(max).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(ApiError::BadBody),
        Err(_) => Err(ApiError::BodyTooLarge(max)),
    }
}

async fn attempt(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    client: IpAddr,
) -> AttemptResult {
    let body = read_body(payload, state.login.max_body_bytes)
        .await
        .map_err(|e| (None, e))?;
    let creds =
        extract(req.headers(), &body, state.login.require_organisation).map_err(|e| (None, e))?;
    let name = creds.name().to_owned();
    let fail = |e| (Some(name.clone()), e);
    let (service, secret) = match &creds.secret {
        Secret::User { password, .. } => (false, password),
        Secret::Service { pass_code, .. } => (true, pass_code),
    };

    // Checked and counted atomically before any argon2 work: a locked pair costs nothing,
    // and concurrent guesses each hold a slot, so they cannot slip past the limit together.
    // Service identifiers count in their own namespace, through the same throttle.
    let throttle_key = if service {
        format!("service account {name}")
    } else {
        name.clone()
    };
    let slot = state
        .throttle
        .begin_now(&throttle_key, client)
        .map_err(|locked| fail(ApiError::Throttled(locked.retry_after.as_secs().max(1))))?;

    // Unknown and disabled accounts are checked against the dummy hash: the same argon2 work
    // as a real check, so the answer time does not tell which names exist. A store that
    // cannot answer ends the attempt here: no argon2 work, and the slot is dropped unused,
    // so the throttle counts nothing.
    let loaded = state.loaded();
    let account = lookup(state, &loaded, service, &name).await.map_err(fail)?;
    let account = account.filter(|u| !u.disabled);
    let hash = account
        .as_ref()
        .map_or_else(|| Arc::clone(&state.dummy), |u| Arc::clone(&u.hash));
    let matched = state.pool.verify(secret, hash).await.map_err(|e| {
        fail(match e {
            PoolError::Busy => ApiError::Busy,
            other => ApiError::Internal(InternalError::Pool(other)),
        })
    })?;
    // Membership is checked after the hash, so its answer time says nothing either.
    let user = match account.as_deref() {
        Some(user) if matched && in_scope(user, &creds) => user,
        _ => {
            slot.failure();
            return Err(fail(ApiError::BadCredentials));
        }
    };
    slot.success();
    let scope = Scope {
        organisation: creds.organisation.clone(),
        unit: creds.unit.clone(),
    };
    let token = loaded
        .issuer
        .issue(user, &scope)
        .map_err(|e| fail(ApiError::Internal(InternalError::Issue(e))))?;
    let ttl = loaded.issuer.ttl_secs(user);
    rehash_if_outdated(state, &loaded, user, secret);
    Ok((name, token, ttl))
}

/// The account from the configured store; `watchword_user_store_up` follows the answer.
async fn lookup<'a>(
    state: &AppState,
    loaded: &'a Loaded,
    service: bool,
    name: &str,
) -> Result<Option<Cow<'a, User>>, ApiError> {
    match loaded.users.find(service, name).await {
        Ok(found) => {
            state.metrics.user_store_up.set(1);
            Ok(found)
        }
        Err(QueryError::Unavailable(cause)) => {
            state.metrics.user_store_up.set(0);
            log::warn!("user store unavailable: {cause}");
            Err(ApiError::StoreUnavailable(cause))
        }
        Err(other) => {
            state.metrics.user_store_up.set(1);
            Err(ApiError::Internal(InternalError::Store(other)))
        }
    }
}

/// After a successful login whose stored hash is weaker than `password.*`, hash the password
/// anew on the hashing pool and store it if the row still holds the old hash (compare and
/// swap: a `users passwd` in between wins). Runs after the answer is on its way; a full
/// queue skips it (the next login tries again) and a failed write is only logged. The users
/// file is never rewritten.
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

/// A named organisation must be one of the account's; a named unit one of its units.
fn in_scope(user: &User, creds: &Credentials) -> bool {
    let org_ok = creds
        .organisation
        .as_ref()
        .is_none_or(|o| user.organisations.contains(o));
    let unit_ok = creds.unit.as_ref().is_none_or(|u| user.units.contains(u));
    org_ok && unit_ok
}
