//! `POST /token`: the OAuth 2.0 token endpoint (RFC 6749 §3.2), so that standard client
//! libraries get watchword tokens with no custom code.
//!
//! Grants: `password` (§4.3), a person's user name and password; `client_credentials`
//! (§4.4), a service account authenticating as the client with its identifier and pass code;
//! and with `sessions.enabled`, `refresh_token` (§6, [`refresh`](super::refresh)).
//! Both go through the same login path as `/login` ([`attempt`](super::attempt)): limits
//! before hashing, the throttle (the same counters as `/login`'s), the dummy hash, the
//! hashing pool, the same token. Only the answers differ: RFC 6749's JSON ([`error`]).

pub mod error;
pub mod request;
pub mod token_query;

use std::net::IpAddr;
use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use super::api_error::InternalError;
use super::attempt::{
    attempt_to_the_end, read_body, record, BodyError, Granted, Login, LoginError, Outcome,
    RefreshRequest, Report,
};
use super::state::AppState;
use crate::login::credentials::{Credentials, Secret};
use error::{no_store, OAuthError};
use request::{parse, Grant};

/// The success answer (§5.1); a refresh token with `sessions.enabled`, for the password
/// and refresh grants only (never client credentials, §4.4.3).
#[derive(Serialize)]
struct TokenAnswer<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// `POST /token`.
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let client = req
        .peer_addr()
        .map(|peer| state.client_address.client_ip(peer.ip(), req.headers()));
    let result = match client {
        Some(ip) => handle(&req, payload, &state, ip, started).await,
        None => Err((
            Some(Read::default()),
            OAuthError::Internal(InternalError::NoPeerAddress),
        )),
    };
    // Refusals before the login path are logged here; the login path logs its own attempt,
    // also when the client has gone (see `attempt`).
    let result = result.map_err(|(read, e)| {
        let Some(read) = read else { return e };
        let outcome = Outcome {
            outcome: e.outcome(),
            result: None,
            reason: Some(e.to_string()),
            user: read.name.as_deref(),
        };
        let endpoint = format!("/token grant_type={}", read.grant.unwrap_or("-"));
        record(&state, &endpoint, started, client, outcome);
        e
    });
    match result {
        Ok(granted) => {
            let answer = TokenAnswer {
                access_token: &granted.token,
                token_type: "Bearer",
                expires_in: granted.expires_in,
                refresh_token: granted.refresh_token.as_deref(),
                scope: granted.scope.as_deref(),
            };
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            // Strings and a number: serializing cannot fail.
            res.content_type("application/json")
                .body(serde_json::to_string(&answer).unwrap_or_default())
        }
        Err(e) => e.error_response(),
    }
}

/// Any other method on `/token`: 405 with `Allow: POST`, in the endpoint's own error shape.
pub async fn method_not_allowed() -> HttpResponse {
    OAuthError::MethodNotAllowed.error_response()
}

/// What was read of a request before it ended, for the log line.
#[derive(Default)]
struct Read {
    grant: Option<&'static str>,
    name: Option<String>,
}

/// Read and check the request (every limit before any hashing), then the shared login path,
/// which logs the attempt itself. A refusal before it comes back with what was read, to be
/// logged by the caller; a refusal by the login path without (`None`: logged already).
async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
    ip: IpAddr,
    started: Instant,
) -> Result<Granted, (Option<Read>, OAuthError)> {
    let mut read = Read::default();
    let body = match read_body(payload, &state.login).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(max)) => {
            let e = OAuthError::invalid_request(format!("The body is larger than {max} bytes."));
            return Err((Some(read), e));
        }
        Err(BodyError::Unreadable) => {
            return Err((
                Some(read),
                OAuthError::invalid_request("The body could not be read."),
            ))
        }
        Err(BodyError::Timeout) => return Err((Some(read), OAuthError::BodyTimeout)),
    };
    let request = match parse(req.headers(), &body, state.login.require_organisation) {
        Ok(request) => request,
        Err(e) => return Err((Some(read), e)),
    };
    read.grant = Some(request.grant.name());
    let mut refresh = None;
    let owner = match request.grant {
        Grant::Password {
            username,
            password,
            organisation,
            unit,
            otp,
        } => {
            read.name = Some(username.clone());
            Some(Credentials {
                secret: Secret::User {
                    name: username,
                    password,
                },
                organisation,
                unit,
                otp,
            })
        }
        Grant::ClientCredentials => {
            read.name = request.client.as_ref().map(|c| c.identifier.clone());
            None
        }
        Grant::RefreshToken { refresh_token } => {
            if state.sessions.is_none() {
                return Err((Some(read), OAuthError::UnsupportedGrantType));
            }
            refresh = Some(RefreshRequest {
                token: refresh_token,
                oauth: true,
            });
            None
        }
    };
    let login = Login {
        session: owner.is_some(),
        owner,
        client: request.client,
        public_client: request.public_client,
        scope: request.scope,
        refresh,
    };
    let report = Report {
        endpoint: format!("/token grant_type={}", read.grant.unwrap_or("-")),
        started,
        client: ip,
        user: read.name,
    };
    attempt_to_the_end::<OAuthError>(state.clone(), login, report)
        .await
        .map_err(|e| (None, e))
}

impl LoginError for OAuthError {
    fn outcome(&self) -> &'static str {
        OAuthError::outcome(self)
    }
}
