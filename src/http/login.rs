//! `/login`: `User-Name` and `Password` headers in, a signed token out. The login path itself
//! (throttle, hashing pool, token, log line) is [`attempt`](super::attempt), shared with
//! `/token`.

use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::api_error::{ApiError, InternalError};
use super::attempt::{
    attempt_to_the_end, read_body, record, BodyError, Login, LoginError, Outcome, Refused, Report,
};
use super::login_request::extract;
use super::state::AppState;
use crate::login::credentials::Credentials;
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
        .map(|peer| state.client_address.client_ip(peer.ip(), req.headers()));
    // Refusals before the login path are logged here; the login path logs its own attempt,
    // also when the client has gone (see `attempt`).
    let refused = |e: ApiError| {
        let outcome = Outcome {
            outcome: e.outcome(),
            result: None,
            reason: Some(e.to_string()),
            user: None,
        };
        record(&state, "/login", started, client, outcome);
        e
    };
    let Some(ip) = client else {
        return Err(refused(ApiError::Internal(InternalError::NoPeerAddress)));
    };
    let creds = read_credentials(&req, payload, &state)
        .await
        .map_err(refused)?;
    let report = Report {
        endpoint: "/login".into(),
        started,
        client: ip,
        user: Some(creds.name().to_owned()),
    };
    let login = Login {
        owner: Some(creds),
        client: None,
        public_client: None,
        scope: None,
        refresh: None,
        session: true,
    };
    let granted = attempt_to_the_end::<ApiError>(state.clone(), login, report).await?;
    let mut envelope = Envelope::token(granted.token, granted.expires_in);
    envelope.refresh_token = granted.refresh_token;
    let body = envelope.to_json();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type("application/json")
        .body(body))
}

/// Body and credentials, checked: everything before the throttle and the hash.
async fn read_credentials(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Credentials, ApiError> {
    let body = match read_body(payload, &state.login).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(max)) => return Err(ApiError::BodyTooLarge(max)),
        Err(BodyError::Unreadable) => return Err(ApiError::BadBody),
        Err(BodyError::Timeout) => return Err(ApiError::BodyTimeout),
    };
    extract(req.headers(), &body, state.login.require_organisation)
}

impl LoginError for ApiError {
    fn outcome(&self) -> &'static str {
        ApiError::outcome(self)
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> ApiError {
        match refused {
            // /login has no OAuth client and asks for no scopes; were it to, the uniform 401
            // is the answer that says least.
            Refused::BadCredentials | Refused::BadClient | Refused::ScopeNotGranted => {
                ApiError::BadCredentials
            }
            Refused::OtpRequired => ApiError::OtpRequired,
            Refused::EnrolmentRequired => ApiError::EnrolmentRequired,
            Refused::InvalidRefresh(_) => ApiError::InvalidRefreshToken,
            Refused::Throttled(secs) => ApiError::Throttled(secs),
            Refused::Busy => ApiError::Busy,
            Refused::StoreUnavailable(cause) => ApiError::StoreUnavailable(cause),
            Refused::Internal(e) => ApiError::Internal(e),
        }
    }
}
