//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662): a `token` (refresh or access)
//! and the client's credentials, read like `/token`'s, answered in `/token`'s error shape.
//!
//! Who may do what:
//! - `/revoke`: a token issued to a confidential client only by that client, authenticated
//!   (otherwise 401 `invalid_client`, and nothing is revoked); a token issued without one
//!   (`/login`, a public password grant) by presenting it alone. An unknown or invalid token
//!   is 200, as RFC 7009 §2.2 says.
//! - `/introspect`: service accounts only (client authentication; anyone else 401).
//!   `{"active":false}` for anything not active, whatever the reason.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use watchword_verify::Claims;

use super::error::{no_store, OAuthError};
use super::request::{client_auth, content_type, form, optional, required};
use crate::database::QueryError;
use crate::http::api_error::{ApiError, InternalError};
use crate::http::attempt::{authenticate_client, read_body, BodyError, ClientSecret};
use crate::http::state::AppState;
use crate::session::now_ms;

/// Longest `token` read: an access token with many claims, or a refresh token.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A checked `/revoke` or `/introspect` request.
struct TokenQuery {
    token: SecretString,
    client: Option<ClientSecret>,
}

fn parse(headers: &HeaderMap, body: &[u8]) -> Result<TokenQuery, OAuthError> {
    let charset = content_type(headers, body)?;
    let mut params = form(body, charset)?;
    let (client, _public) = client_auth(headers, &mut params)?;
    let token = required(&mut params, "token", MAX_TOKEN_BYTES)?;
    // The hint only orders the lookups (RFC 7009 §2.1); both kinds are tried either way.
    optional(&mut params, "token_type_hint", 64)?;
    Ok(TokenQuery {
        token: token.into(),
        client,
    })
}

/// The body, the request and the client (authenticated when it sent a secret).
async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<(TokenQuery, Option<String>), OAuthError> {
    let ip: IpAddr = req
        .peer_addr()
        .map(|peer| state.client_address.client_ip(peer.ip(), req.headers()))
        .ok_or(OAuthError::Internal(InternalError::NoPeerAddress))?;
    let body = match read_body(payload, &state.login).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(max)) => {
            return Err(OAuthError::invalid_request(format!(
                "The body is larger than {max} bytes."
            )))
        }
        Err(BodyError::Unreadable) => {
            return Err(OAuthError::invalid_request("The body could not be read."))
        }
        Err(BodyError::Timeout) => return Err(OAuthError::BodyTimeout),
    };
    let mut query = parse(req.headers(), &body)?;
    let client = match query.client.take() {
        Some(c) => Some(authenticate_client(state.clone(), ip, c).await?),
        None => None,
    };
    Ok((query, client))
}

fn store(e: QueryError) -> OAuthError {
    match e {
        QueryError::Unavailable(cause) => OAuthError::StoreUnavailable(cause),
        other => OAuthError::Internal(InternalError::Store(other)),
    }
}

/// The confidential client an access token was issued to, if any: the service account of a
/// client credentials token, or an RFC 9068 `client_id` other than `token.client_id`.
fn issued_to(claims: &Claims, default_client: &str) -> Option<String> {
    if claims.extra.get("kind").and_then(Value::as_str) == Some("service") {
        return Some(claims.sub.clone());
    }
    claims
        .extra
        .get("client_id")
        .and_then(Value::as_str)
        .filter(|c| *c != default_client)
        .map(str::to_owned)
}

fn json_answer(body: &Value) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    res.content_type("application/json").body(body.to_string())
}

/// `POST /revoke` (RFC 7009).
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (Some(sessions), Some(revocations)) = (&state.sessions, &state.revocations) else {
        return ApiError::NotFound.error_response();
    };
    let result: Result<(), OAuthError> = async {
        let (query, client) = read(&req, payload, &state).await?;
        let token = query.token.expose_secret();
        if let Some((session, _)) = sessions.session_of(token).await.map_err(store)? {
            if session.confidential && client.as_deref() != session.client_id.as_deref() {
                return Err(OAuthError::InvalidClient);
            }
            if sessions
                .store()
                .revoke(&session.id, "revoke", now_ms())
                .await
                .map_err(store)?
            {
                state
                    .metrics
                    .revocations
                    .with_label_values(&["session"])
                    .inc();
            }
            return Ok(());
        }
        let loaded = state.loaded();
        if let Ok(claims) = loaded.verifier.verify(token) {
            let owner = issued_to(&claims, loaded.issuer.default_client_id());
            if owner.is_some() && client != owner {
                return Err(OAuthError::InvalidClient);
            }
            if let Some(jti) = &claims.jti {
                revocations
                    .revoke_token(jti, claims.exp)
                    .await
                    .map_err(store)?;
                state
                    .metrics
                    .revocations
                    .with_label_values(&["token"])
                    .inc();
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            res.finish()
        }
        Err(e) => e.error_response(),
    }
}

/// `POST /introspect` (RFC 7662), for service accounts.
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (Some(sessions), Some(revocations)) = (&state.sessions, &state.revocations) else {
        return ApiError::NotFound.error_response();
    };
    let result: Result<Value, OAuthError> = async {
        let (query, client) = read(&req, payload, &state).await?;
        if client.is_none() {
            return Err(OAuthError::InvalidClient);
        }
        let token = query.token.expose_secret();
        let loaded = state.loaded();
        let iss = loaded.issuer.issuer_url().to_owned();
        if let Some((s, counter)) = sessions.session_of(token).await.map_err(store)? {
            return Ok(match sessions.live_until(&s) {
                // Only the current step is a usable refresh token.
                Some(until) if counter == s.counter => {
                    let mut v = json!({
                        "active": true,
                        "sub": s.user_name,
                        "exp": until / 1000,
                        "iat": s.rotated_at / 1000,
                        "iss": iss,
                        "token_type": "refresh_token",
                    });
                    if let Some(c) = &s.client_id {
                        v["client_id"] = json!(c);
                    }
                    if let Some(scope) = &s.scope {
                        v["scope"] = json!(scope);
                    }
                    v
                }
                _ => json!({"active": false}),
            });
        }
        let claims = match loaded.verifier.verify(token) {
            Ok(c) if !revocations.current().await.list.is_revoked(&c) => c,
            _ => return Ok(json!({"active": false})),
        };
        let mut v = json!({
            "active": true,
            "sub": claims.sub,
            "exp": claims.exp,
            "iat": claims.iat,
            "iss": claims.iss,
            "jti": claims.jti,
            "token_type": "Bearer",
        });
        if let Some(c) = issued_to(&claims, loaded.issuer.default_client_id()) {
            v["client_id"] = json!(c);
        }
        if let Some(scope) = claims.extra.get("scope") {
            v["scope"] = scope.clone();
        }
        Ok(v)
    }
    .await;
    match result {
        Ok(body) => json_answer(&body),
        Err(e) => e.error_response(),
    }
}
