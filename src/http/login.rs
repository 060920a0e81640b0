//! `/login`: `User-Name` and `Password` headers in, a signed token out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::AppState;
use crate::envelope::Envelope;
use crate::users::MAX_NAME_BYTES;

/// Longest password accepted (bytes). argon2 would take far more, but nobody types 1 KiB and
/// hashing megabytes per attempt would be a denial of service.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Header names of the seed's login API.
pub const USER_NAME: &str = "User-Name";
/// See [`USER_NAME`].
pub const PASSWORD: &str = "Password";

/// One header's value as UTF-8, with the seed's missing/empty answers and our limits, all
/// checked before any hashing. Bytes are read directly: `HeaderValue::to_str` would refuse
/// every non-ASCII password.
fn field<'a>(req: &'a HttpRequest, name: &'static str, max: usize) -> Result<&'a str, ApiError> {
    read_field(req.headers().get_all(name).map(|v| v.as_bytes()), name, max)
}

/// The checks of one credential field over all the values a request carried for it: exactly
/// one, non-empty, at most `max` bytes, UTF-8. Separate from actix types so it can be fuzzed.
pub fn read_field<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
    name: &'static str,
    max: usize,
) -> Result<&'a str, ApiError> {
    let bytes = values.next().ok_or(ApiError::MissingField(name))?;
    if values.next().is_some() {
        return Err(ApiError::RepeatedField(name));
    }
    if bytes.is_empty() {
        return Err(ApiError::EmptyField(name));
    }
    if bytes.len() > max {
        return Err(ApiError::FieldTooLong(name, max));
    }
    std::str::from_utf8(bytes).map_err(|_| ApiError::FieldNotUtf8(name))
}

/// `GET|POST /login`.
pub async fn login(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let client = req
        .peer_addr()
        .map(|peer| super::client::client_ip(peer.ip(), req.headers(), &state.trusted_proxies));
    let result = match client {
        Some(ip) => attempt(&req, &state, ip).await,
        None => Err((None, ApiError::Internal("no peer address".into()))),
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
type Outcome = Result<(String, String, u64), (Option<String>, ApiError)>;

async fn attempt(req: &HttpRequest, state: &AppState, client: IpAddr) -> Outcome {
    let name = field(req, USER_NAME, MAX_NAME_BYTES).map_err(|e| (None, e))?;
    let fail = |e| (Some(name.to_owned()), e);
    let password = field(req, PASSWORD, MAX_PASSWORD_BYTES).map_err(fail)?;

    // Checked and counted atomically before any argon2 work: a locked pair costs nothing,
    // and concurrent guesses each hold a slot, so they cannot slip past the limit together.
    let slot = state
        .throttle
        .begin_now(name, client)
        .map_err(|locked| fail(ApiError::Throttled(locked.retry_after.as_secs().max(1))))?;

    // Unknown and disabled users are checked against the dummy hash: the same argon2 work
    // as a real check, so the answer time does not tell which names exist.
    let loaded = state.loaded();
    let user = loaded.users.get(name).filter(|u| !u.disabled);
    let hash = user.map_or_else(|| Arc::clone(&state.dummy), |u| Arc::clone(&u.hash));
    let matched = state.pool.verify(password, hash).await.map_err(|e| {
        fail(match e {
            crate::password::PoolError::Busy => ApiError::Busy,
            other => ApiError::Internal(other.to_string()),
        })
    })?;
    let user = match (user, matched) {
        (Some(user), true) => user,
        _ => {
            slot.failure();
            return Err(fail(ApiError::BadCredentials));
        }
    };
    slot.success();
    let token = loaded.issuer.issue(user).map_err(|e| fail(ApiError::Internal(e.to_string())))?;
    Ok((name.to_owned(), token, loaded.issuer.ttl_secs()))
}
