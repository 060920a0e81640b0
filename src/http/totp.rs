//! Self-service TOTP enrolment: `POST /totp/enroll` with a valid access token gives a new
//! secret, its `otpauth://` URI and a sealed ticket (10 minutes; the server keeps nothing);
//! `POST /totp/confirm` with the same token and `{"ticket", "otp"}` turns TOTP on once the
//! code is right, and records that code's step as used, so it cannot be the first login's.
//!
//! The ticket is AES-256-GCM under `keys.totp_key_file` with the account name as associated
//! data: it opens for the account it was made for only, and nobody can make one without the key.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::api_error::{ApiError, InternalError};
use super::attempt::{read_body, BodyError};
use super::state::{AppState, Loaded};
use crate::database::QueryError;
use crate::login::totp::code::base32;
use crate::login::totp::key::TotpKey;
use crate::login::totp::store::TotpDb;
use crate::login::totp::{confirming_step, new_secret, MAX_OTP_BYTES};
use crate::login::users::database::UserDb;
use watchword_verify::{token_from_authorization_headers, VerifyError};

/// How long an enrolment ticket may be confirmed.
pub const TICKET_SECONDS: u64 = 600;

/// The person the request's access token is for, with the TOTP key and their store: the
/// account must exist, be enabled and be a person.
fn who<'l>(
    req: &HttpRequest,
    loaded: &'l Loaded,
) -> Result<(String, &'l TotpKey, &'l UserDb), ApiError> {
    let values = req.headers().get_all(header::AUTHORIZATION);
    let claims = token_from_authorization_headers(values.map(|v| v.as_bytes()))
        .and_then(|token| loaded.verifier.verify(token))
        .map_err(|e| match e {
            VerifyError::MissingToken => ApiError::MissingToken,
            e @ VerifyError::RepeatedAuthorization => ApiError::InvalidRequest(e),
            e => ApiError::InvalidToken(e),
        })?;
    let (Some(key), Some(db)) = (loaded.totp.key.as_deref(), loaded.users.database()) else {
        return Err(ApiError::TotpNotConfigured);
    };
    if claims.extra.get("kind").and_then(|k| k.as_str()) == Some("service") {
        return Err(ApiError::TotpForPeople);
    }
    Ok((claims.sub, key, db))
}

/// The account's TOTP state, read now: `Err` when it is gone, disabled or a service.
async fn account_totp_on(db: &UserDb, name: &str) -> Result<bool, ApiError> {
    match db.find(false, name).await {
        Ok(Some(user)) if !user.disabled => Ok(user.totp.is_some()),
        Ok(_) => Err(ApiError::BadCredentials),
        Err(QueryError::Unavailable(cause)) => Err(ApiError::StoreUnavailable(cause)),
        Err(e) => Err(ApiError::Internal(InternalError::Store(e))),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn json(value: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type("application/json")
        .body(value.to_string())
}

/// `POST /totp/enroll`.
pub async fn enroll(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let loaded = state.loaded();
    let (name, key, db) = who(&req, &loaded)?;
    if account_totp_on(db, &name).await? {
        return Err(ApiError::TotpOnAlready);
    }
    let internal =
        |e: crate::login::totp::key::TotpKeyError| ApiError::Internal(InternalError::TotpKey(e));
    let secret = new_secret().map_err(internal)?;
    let ticket = key
        .seal_ticket(&name, &secret, now() + TICKET_SECONDS)
        .map_err(internal)?;
    let uri = loaded.totp.otpauth_uri(&name, &secret);
    Ok(json(serde_json::json!({
        "status": "ok",
        "code": 200,
        "secret": base32(secret.expose_secret()),
        "otpauth_uri": uri,
        "ticket": ticket,
        "expires_in": TICKET_SECONDS,
    })))
}

#[derive(Deserialize)]
struct Confirm {
    ticket: String,
    otp: String,
}

/// `POST /totp/confirm`.
pub async fn confirm(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let loaded = state.loaded();
    let (name, key, db) = who(&req, &loaded)?;
    let body = match read_body(payload, &state.login).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(max)) => return Err(ApiError::BodyTooLarge(max)),
        Err(BodyError::Unreadable) => return Err(ApiError::BadBody),
        Err(BodyError::Timeout) => return Err(ApiError::BodyTimeout),
    };
    let body: Confirm = serde_json::from_slice(&body).map_err(|_| ApiError::BadBody)?;
    if body.otp.len() > MAX_OTP_BYTES {
        return Err(ApiError::FieldTooLong("otp", MAX_OTP_BYTES));
    }
    let (secret, expires) = key
        .open_ticket(&name, &body.ticket)
        .map_err(|_| ApiError::BadTicket)?;
    if expires < now() {
        return Err(ApiError::BadTicket);
    }
    let count = |result: &str| state.metrics.totp.with_label_values(&[result]).inc();
    let Some(step) = confirming_step(&secret, &body.otp) else {
        count("enrolment_refused");
        return Err(ApiError::WrongOtp);
    };
    let sealed = key
        .seal_secret(&name, &secret)
        .map_err(|e| ApiError::Internal(InternalError::TotpKey(e)))?;
    // The account may have gone or been disabled since the token was issued.
    account_totp_on(db, &name).await?;
    let totp = TotpDb::new(db.database().clone());
    match totp.enable(&name, &sealed, step).await {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::TotpOnAlready),
        Err(QueryError::Unavailable(cause)) => return Err(ApiError::StoreUnavailable(cause)),
        Err(e) => return Err(ApiError::Internal(InternalError::Store(e))),
    }
    count("enrolled");
    log::info!("totp outcome=enrolled user={:?}", name.as_str());
    Ok(json(serde_json::json!({
        "status": "ok",
        "code": 200,
        "message": "TOTP is on.",
    })))
}
