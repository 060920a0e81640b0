//! `/login`: `User-Name` and `Password` headers in, a signed token out. The login path itself
//! (throttle, hashing pool, token) is [`attempt`], shared with `/token`.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::api_error::{ApiError, InternalError};
use super::attempt::{attempt, read_body, record, BodyError, Granted, Login, Outcome, Refused};
use super::client_address::client_ip;
use super::login_request::extract;
use super::state::AppState;
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
    let (user, result) = match client {
        Some(ip) => handle(&req, payload, &state, ip).await,
        None => (None, Err(ApiError::Internal(InternalError::NoPeerAddress))),
    };
    let outcome = match &result {
        Ok(granted) => Outcome {
            outcome: "ok",
            reason: None,
            user: Some(&granted.name),
        },
        Err(e) => Outcome {
            outcome: e.outcome(),
            reason: Some(e.to_string()),
            user: user.as_deref(),
        },
    };
    record(&state, "/login", started, client, outcome);
    let granted = result?;
    let body = Envelope::token(granted.token, granted.expires_in).to_json();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type("application/json")
        .body(body))
}

/// Read and check the request, then the shared login path; the name as sent, if it was read.
async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    client: IpAddr,
) -> (Option<String>, Result<Granted, ApiError>) {
    let body = match read_body(payload, state.login.max_body_bytes).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(max)) => return (None, Err(ApiError::BodyTooLarge(max))),
        Err(BodyError::Unreadable) => return (None, Err(ApiError::BadBody)),
    };
    let creds = match extract(req.headers(), &body, state.login.require_organisation) {
        Ok(creds) => creds,
        Err(e) => return (None, Err(e)),
    };
    let name = creds.name().to_owned();
    let login = Login {
        owner: Some(creds),
        client: None,
        scope: None,
    };
    let result = attempt(state, client, login).await.map_err(ApiError::from);
    (Some(name), result)
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> ApiError {
        match refused {
            // /login has no OAuth client and asks for no scopes; were it to, the uniform 401
            // is the answer that says least.
            Refused::BadCredentials | Refused::BadClient | Refused::ScopeNotGranted => {
                ApiError::BadCredentials
            }
            Refused::Throttled(secs) => ApiError::Throttled(secs),
            Refused::Busy => ApiError::Busy,
            Refused::StoreUnavailable(cause) => ApiError::StoreUnavailable(cause),
            Refused::Internal(e) => ApiError::Internal(e),
        }
    }
}
