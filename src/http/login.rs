//! `/login`: `User-Name` and `Password` headers in, a signed token out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::api_error::{ApiError, InternalError};
use super::client_address::client_ip;
use super::login_request::extract;
use super::state::AppState;
use crate::login::credentials::{Credentials, Secret};
use crate::login::hash_pool::PoolError;
use crate::login::users::User;
use crate::token::issuer::Scope;
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
    // as a real check, so the answer time does not tell which names exist.
    let loaded = state.loaded();
    let account = if service {
        loaded.users.service(&name)
    } else {
        loaded.users.get(&name)
    };
    let account = account.filter(|u| !u.disabled);
    let hash = account.map_or_else(|| Arc::clone(&state.dummy), |u| Arc::clone(&u.hash));
    let matched = state.pool.verify(secret, hash).await.map_err(|e| {
        fail(match e {
            PoolError::Busy => ApiError::Busy,
            other => ApiError::Internal(InternalError::Pool(other)),
        })
    })?;
    // Membership is checked after the hash, so its answer time says nothing either.
    let user = match account {
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
    Ok((name, token, loaded.issuer.ttl_secs(user)))
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
