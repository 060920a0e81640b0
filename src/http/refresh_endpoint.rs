//! `POST /refresh`: the header style of a refresh, for the clients of `/login`. The refresh
//! itself is [`refresh`](super::refresh), through the login path.

use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;

use super::api_error::{ApiError, InternalError};
use super::attempt::{attempt_to_the_end, read_body, record, BodyError, Login, Outcome, Report};
use super::refresh::RefreshRequest;
use super::state::AppState;
use crate::session::refresh_token::MAX_REFRESH_TOKEN_BYTES;
use watchword_verify::Envelope;

/// `POST /refresh`: the `Refresh-Token` header in, the `/login` envelope (with the next
/// `refresh_token`) out; every refusal is the same 401 envelope.
pub async fn refresh_endpoint(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let client = req
        .peer_addr()
        .map(|peer| state.client_address.client_ip(peer.ip(), req.headers()));
    let refused = |e: ApiError| {
        let outcome = Outcome {
            outcome: e.outcome(),
            result: None,
            reason: Some(e.to_string()),
            user: None,
        };
        record(&state, "/refresh", started, client, outcome);
        e
    };
    let Some(ip) = client else {
        return Err(refused(ApiError::Internal(InternalError::NoPeerAddress)));
    };
    // The body is not used; it is read (within the limits) so the connection stays usable.
    match read_body(payload, &state.login).await {
        Ok(_) => {}
        Err(BodyError::TooLarge(max)) => return Err(refused(ApiError::BodyTooLarge(max))),
        Err(BodyError::Unreadable) => return Err(refused(ApiError::BadBody)),
        Err(BodyError::Timeout) => return Err(refused(ApiError::BodyTimeout)),
    }
    let token = refresh_header(&req).map_err(refused)?;
    let login = Login {
        owner: None,
        client: None,
        public_client: None,
        scope: None,
        refresh: Some(RefreshRequest {
            token,
            oauth: false,
        }),
        session: false,
    };
    let report = Report {
        endpoint: "/refresh".into(),
        started,
        client: ip,
        user: None,
    };
    let granted = attempt_to_the_end::<ApiError>(state.clone(), login, report).await?;
    let mut envelope = Envelope::token(granted.token, granted.expires_in);
    envelope.refresh_token = granted.refresh_token;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type("application/json")
        .body(envelope.to_json()))
}

/// The one `Refresh-Token` header, checked like the login headers.
fn refresh_header(req: &HttpRequest) -> Result<SecretString, ApiError> {
    optional_refresh_header(req)?.ok_or(ApiError::MissingField("Refresh-Token"))
}

/// The `Refresh-Token` header when there is one (`/logout` takes it or an access token).
pub fn optional_refresh_header(req: &HttpRequest) -> Result<Option<SecretString>, ApiError> {
    const FIELD: &str = "Refresh-Token";
    let mut values = req.headers().get_all(FIELD);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::RepeatedField(FIELD));
    }
    if value.len() > MAX_REFRESH_TOKEN_BYTES {
        return Err(ApiError::FieldTooLong(FIELD, MAX_REFRESH_TOKEN_BYTES));
    }
    let text = value
        .to_str()
        .map_err(|_| ApiError::FieldNotUtf8(FIELD))?
        .trim();
    if text.is_empty() {
        return Err(ApiError::EmptyField(FIELD));
    }
    Ok(Some(SecretString::from(text.to_owned())))
}
