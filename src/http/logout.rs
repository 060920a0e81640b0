//! `POST /logout`: end a session (`Refresh-Token: …`) and/or an access token
//! (`Authorization: Token|Bearer …`). Always 200 once the request is well-formed: a token
//! that is unknown, expired or revoked already has nothing left to end, and the answer does
//! not tell which tokens exist.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use watchword_verify::{token_from_authorization, Envelope, Status};

use super::api_error::{ApiError, InternalError};
use super::refresh_endpoint::optional_refresh_header;
use super::state::AppState;
use crate::database::QueryError;

/// `POST /logout`.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (Some(sessions), Some(revocations)) = (&state.sessions, &state.revocations) else {
        return Err(ApiError::NotFound);
    };
    let refresh = optional_refresh_header(&req)?;
    let mut authorization = req.headers().get_all(header::AUTHORIZATION);
    let access = authorization.next();
    if authorization.next().is_some() {
        return Err(ApiError::RepeatedField("Authorization"));
    }
    if refresh.is_none() && access.is_none() {
        return Err(ApiError::MissingField("Refresh-Token"));
    }
    let failed = |e: QueryError| match e {
        QueryError::Unavailable(cause) => ApiError::StoreUnavailable(cause),
        other => ApiError::Internal(InternalError::Store(other)),
    };
    if let Some(token) = &refresh {
        if sessions
            .logout(token.expose_secret(), "logout")
            .await
            .map_err(failed)?
        {
            state
                .metrics
                .revocations
                .with_label_values(&["session"])
                .inc();
        }
    }
    if let Some(value) = access {
        // Only a token this service signed and that is still valid names a jti worth
        // recording; anything else is answered the same.
        let claims = token_from_authorization(value.as_bytes())
            .and_then(|t| state.loaded().verifier.verify(t));
        if let Ok(claims) = claims {
            if let Some(jti) = &claims.jti {
                revocations
                    .revoke_token(jti, claims.exp)
                    .await
                    .map_err(failed)?;
                state
                    .metrics
                    .revocations
                    .with_label_values(&["token"])
                    .inc();
            }
        }
    }
    let body = Envelope {
        status: Status::Ok,
        code: 200,
        token: None,
        token_type: None,
        expires_in: None,
        refresh_token: None,
        message: None,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type("application/json")
        .body(body.to_json()))
}
